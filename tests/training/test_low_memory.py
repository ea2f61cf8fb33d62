"""The memory-saving paths for real, on the CPU: NF4 body, 8-bit AdamW, bf16 autocast (the same code as on CUDA)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from safetensors import safe_open

from lep_core.sources.loading import resolve
from lep_core.training import job
from lep_core.training.trainer import train
from tests.training.conftest import metrics, small_options, wait_for

LOW = {"load_in_4bit": True, "optimizer": "adamw8bit", "precision": "bf16"}
EMBEDDINGS = {"model.embed_tokens.weight", "lm_head.weight"}


def _raw(folder: Path) -> dict[str, tuple[str, bytes]]:
    """Every tensor of a folder's safetensors as (dtype, raw bytes)."""
    out = {}
    for shard in sorted(folder.glob("*.safetensors")):
        with safe_open(str(shard), framework="pt") as f:
            for key in f.keys():
                t = f.get_tensor(key)
                out[key] = (str(t.dtype), t.contiguous().view(torch.uint8).numpy().tobytes())
    return out


def test_4bit_body_passes_the_gradient_to_the_embeddings_after_a_validation(tiny_mistral):
    """The NF4 body back-propagates like the same weights de-quantized, also after an eval-mode pass
    (bitsandbytes would otherwise repack the weights for a CPU kernel that has no backward)."""
    import bitsandbytes as bnb
    from bitsandbytes.functional import dequantize_4bit
    from transformers import AutoModelForCausalLM

    from lep_core.training.freeze import freeze_body
    from lep_core.training.loss import EmbeddingLM
    from lep_core.training.runtime import load_for_training

    quantized = load_for_training(resolve(str(tiny_mistral), "model"), "fp32", "cpu", True)
    reference = AutoModelForCausalLM.from_pretrained(tiny_mistral)
    layers = {n: m for n, m in quantized.named_modules() if isinstance(m, bnb.nn.Linear4bit)}
    assert len(layers) == 2 * 7  # every projection of both layers is NF4
    with torch.no_grad():
        for name, m in layers.items():
            reference.get_submodule(name).weight.copy_(dequantize_4bit(m.weight.data, m.weight.quant_state).float())
        for name in ("model.embed_tokens.weight", "lm_head.weight"):
            quantized.get_parameter(name).data = reference.get_parameter(name).data.clone()
    ids = torch.randint(0, reference.config.vocab_size, (2, 24), generator=torch.Generator().manual_seed(0))
    grads = []
    for model in (quantized, reference):
        trainable = freeze_body(model)
        lm = EmbeddingLM(model)
        lm.eval()
        with torch.no_grad():
            lm(ids)  # a validation pass first
        lm.train()
        lm(ids).backward()
        grads.append(trainable.embed.grad.flatten())
    cosine = torch.nn.functional.cosine_similarity(grads[0], grads[1], dim=0).item()
    print(f"embedding gradient, NF4 body (bf16 compute) vs de-quantized fp32 body: cosine {cosine:.5f}")
    assert cosine > 0.99


def test_4bit_body_8bit_adamw_bf16_lowers_the_loss_and_never_writes_the_body(tiny_mistral, small_corpus, tmp_path):
    run = tmp_path / "run"
    result = train(small_options(tiny_mistral, small_corpus, run, steps=20, **LOW))
    assert result["state"] == "finished" and result["precision"] == "bf16" and result["device"] == "cpu"
    losses = [m["loss"] for m in metrics(run)]
    assert sum(losses[-5:]) / 5 < sum(losses[:5]) / 5 - 1.0
    before, after = _raw(tiny_mistral), _raw(run / "final")
    assert before.keys() == after.keys()  # no quantization tensors (absmax, quant_map...) in final/
    assert {k for k in before if before[k] != after[k]} == EMBEDDINGS  # every body tensor byte-identical
    assert "quantization_config" not in json.loads((run / "final" / "config.json").read_text())
    assert "save memory, not time" in (run / "train.log").read_text()
    # the checkpoint holds bitsandbytes' 8-bit state: uint8 moments with their block scales
    state = torch.load(run / "checkpoints" / "step-000020" / "state.pt", weights_only=True)["optimizer"]["state"]
    assert len(state) == 2
    for entry in state.values():
        packed = entry["__bnb_optimizer_quant_state__"]
        assert packed["state1"].dtype == packed["state2"].dtype == torch.uint8
        assert packed["absmax1"].dtype == torch.float32
    from transformers import AutoModelForCausalLM

    AutoModelForCausalLM.from_pretrained(run / "final")


def test_stop_and_resume_with_4bit_body_and_8bit_adamw_ends_where_a_straight_run_ends(tiny_mistral, small_corpus,
                                                                                      tmp_path):
    opts = dict(steps=30, save_every=0, eval_every=10, lr=5e-3, warmup=3, **LOW)
    straight = tmp_path / "straight"
    train(small_options(tiny_mistral, small_corpus, straight, **opts))

    run = tmp_path / "stopped"
    options = small_options(tiny_mistral, small_corpus, run, **opts)
    job.start_job(options)
    wait_for(run, lambda s: (s.get("step") or 0) >= 8 or s.get("state") in ("failed", "finished"))
    assert job.stop_job(run)
    stopped = wait_for(run, lambda s: s.get("state") not in job.ACTIVE)
    assert stopped["state"] == "stopped", job.log_tail(run)
    k = stopped["step"]
    assert 8 <= k < 30 and (run / "checkpoints" / f"step-{k:06d}" / "state.pt").is_file()
    job.start_job(options, resume=True)
    done = wait_for(run, lambda s: s.get("state") not in job.ACTIVE)
    assert done["state"] == "finished", job.log_tail(run)
    a, b = metrics(straight), metrics(run)
    assert [m["step"] for m in b] == list(range(1, 31))
    print(f"stop at step {k}: straight {a[-1]['loss']:.6f} vs resumed {b[-1]['loss']:.6f}")
    assert a[-1]["loss"] == pytest.approx(b[-1]["loss"], rel=1e-4)
    assert a[-1]["val_loss"] == pytest.approx(b[-1]["val_loss"], rel=1e-4)
    trained_a, trained_b = _raw(straight / "final"), _raw(run / "final")
    assert all(trained_a[k] == trained_b[k] for k in EMBEDDINGS)  # the same rows, bit for bit
