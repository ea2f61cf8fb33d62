"""Acceptance: after calibration the adapted model reads the original model's answers better, and only
the chosen tensors changed (embeddings, or the LoRA-merged projections)."""

from __future__ import annotations

import json
from pathlib import Path

import torch
from safetensors.torch import load_file

from lep_core.calibration.answers import CONVERSATIONS
from lep_core.calibration.run import calibrate
from lep_core.calibration.score import answer_bpc
from tests.calibration.conftest import MAX_NEW, calib_options, conversations


def _tensors(folder: Path) -> dict[str, torch.Tensor]:
    out = {}
    for shard in sorted(folder.glob("*.safetensors")):
        out.update(load_file(str(shard)))
    return out


def _changed(before: dict, after: dict) -> set[str]:
    assert before.keys() == after.keys()
    return {k for k in before if not torch.equal(before[k], after[k])}


def test_self_calibration_lowers_answer_loss_and_changes_only_embeddings(tiny_mistral, demo_model, prompt_file,
                                                                          answers, tmp_path):
    run = tmp_path / "runs" / "calib"
    result = calibrate(calib_options(tiny_mistral, run, original=str(demo_model), prompts=str(prompt_file),
                                     answers=str(answers), max_new_tokens=MAX_NEW), score=False)
    assert result["state"] == "finished"
    corpus = [answers / CONVERSATIONS]
    before, after = answer_bpc(str(tiny_mistral), corpus), answer_bpc(result["final"], corpus)
    print(f"answer bits/char before {before['bits_per_char']:.3f} after {after['bits_per_char']:.3f}")
    assert after["bits_per_char"] < before["bits_per_char"] - 0.5
    assert result["answer_loss_after"]["train"] < result["answer_loss_before"]["train"]
    # only the input embeddings and the (untied) head changed; the body is bit-identical
    assert _changed(_tensors(tiny_mistral), _tensors(run / "final")) == {"model.embed_tokens.weight", "lm_head.weight"}
    # the answers were reused, not generated again; the manifests say what the run was
    assert result["answers"]["conversations"] == len(conversations(answers))
    manifest = json.loads((run / "final" / "lep.json").read_text())
    assert manifest["params"]["operation"] == "calibrate" and manifest["params"]["mode"] == "self"
    assert manifest["inputs"]["original"]["path"] == str(demo_model)
    assert manifest["metrics"]["answer_loss_before"]["train"] > manifest["metrics"]["answer_loss_after"]["train"]
    assert json.loads((run / "lep.json").read_text())["params"]["operation"] == "calibrate"
    from transformers import AutoModelForCausalLM, AutoTokenizer

    AutoModelForCausalLM.from_pretrained(run / "final")
    assert AutoTokenizer.from_pretrained(run / "final").chat_template


def _peft_deltas(model_dir: Path, adapter: Path) -> dict[str, torch.Tensor]:
    """(alpha / r) * B @ A per projection, from an adapter folder loaded by peft itself."""
    from peft import PeftModel
    from peft.tuners.lora import LoraLayer
    from transformers import AutoModelForCausalLM

    peft_model = PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(model_dir), adapter)
    inner = peft_model.get_base_model()
    return {n: m.get_delta_weight("default").detach() for n, m in inner.named_modules() if isinstance(m, LoraLayer)}


def test_lora_changes_only_the_projections_by_the_merged_delta(tiny_mistral, answers, tmp_path):
    run = tmp_path / "lora"
    result = calibrate(calib_options(tiny_mistral, run, chat=[str(answers / CONVERSATIONS)], train_params="lora",
                                     lora_rank=4, lora_alpha=8.0, lr=2e-2), score=False)
    assert result["state"] == "finished"
    before, after = _tensors(tiny_mistral), _tensors(run / "final")
    changed = _changed(before, after)
    assert changed and all(k.split(".")[-2] in ("q_proj", "k_proj", "v_proj", "o_proj") for k in changed)
    assert len(changed) == 2 * 4  # two layers, four projections each
    assert torch.equal(before["model.embed_tokens.weight"], after["model.embed_tokens.weight"])
    assert torch.equal(before["lm_head.weight"], after["lm_head.weight"])
    # each change is exactly (alpha / r) * B @ A of the last checkpoint's adapters, kept in peft's own format
    last = max((run / "checkpoints").iterdir())
    deltas = _peft_deltas(tiny_mistral, last / "adapter")
    assert set(deltas) == {k[: -len(".weight")] for k in changed}
    for key in changed:
        assert torch.allclose(after[key] - before[key], deltas[key[: -len(".weight")]], atol=1e-6), key
    assert result["answer_loss_after"]["train"] < result["answer_loss_before"]["train"]
    manifest = json.loads((run / "final" / "lep.json").read_text())
    assert manifest["params"]["train_params"] == "lora" and manifest["params"]["mode"] == "chat"


def test_qlora_on_a_4bit_body_merges_into_a_plain_full_precision_folder(tiny_mistral, answers, tmp_path):
    """LoRA on an NF4 body, bf16 compute, 8-bit AdamW, on the CPU: final/ is the source plus the merged deltas."""
    run = tmp_path / "qlora"
    result = calibrate(calib_options(tiny_mistral, run, chat=[str(answers / CONVERSATIONS)], train_params="lora",
                                     lora_rank=4, lora_alpha=8.0, lr=2e-2, load_in_4bit=True, precision="bf16",
                                     optimizer="adamw8bit"), score=False)
    assert result["state"] == "finished" and result["precision"] == "bf16"
    assert result["answer_loss_after"]["train"] < result["answer_loss_before"]["train"]
    before, after = _tensors(tiny_mistral), _tensors(run / "final")
    assert {k: v.dtype for k, v in after.items()} == {k: v.dtype for k, v in before.items()}  # float32, no 4-bit tensors
    changed = _changed(before, after)
    assert len(changed) == 2 * 4 and all(k.split(".")[-2] in ("q_proj", "k_proj", "v_proj", "o_proj") for k in changed)
    deltas = _peft_deltas(tiny_mistral, max((run / "checkpoints").iterdir()) / "adapter")
    for key in changed:  # merged into the source's full-precision weights, not into the dequantized NF4 ones
        assert torch.allclose(after[key] - before[key], deltas[key[: -len(".weight")]], atol=1e-6), key
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(run / "final")
    assert type(model.model.layers[0].self_attn.q_proj) is torch.nn.Linear
    assert model.model.layers[0].self_attn.q_proj.weight.dtype == torch.float32
