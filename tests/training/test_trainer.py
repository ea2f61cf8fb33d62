"""The trainer in-process: what changes, what must not, the loss, the final folder, bad input."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from lep_core.errors import LepInputError, LepJobError
from lep_core.training.trainer import train
from tests.training.conftest import metrics, small_options, status


def _tensors(folder: Path) -> dict[str, torch.Tensor]:
    out = {}
    for shard in sorted(folder.glob("*.safetensors")):
        out.update(load_file(str(shard)))
    return out


def test_only_embeddings_and_head_change_and_loss_falls(tiny_mistral, small_corpus, tmp_path):
    run = tmp_path / "run"
    result = train(small_options(tiny_mistral, small_corpus, run, steps=20))
    assert result["state"] == "finished"
    before, after = _tensors(tiny_mistral), _tensors(run / "final")
    assert before.keys() == after.keys()
    changed = {k for k in before if not torch.equal(before[k], after[k])}
    assert changed == {"model.embed_tokens.weight", "lm_head.weight"}  # untied: both trained, the body bit-identical
    losses = [m["loss"] for m in metrics(run)]
    assert [m["step"] for m in metrics(run)] == list(range(1, 21))
    assert sum(losses[-5:]) / 5 < sum(losses[:5]) / 5 - 1.0
    assert any("val_loss" in m for m in metrics(run))
    # final/ is a plain HF folder with the tokenizer and a manifest
    from transformers import AutoModelForCausalLM, AutoTokenizer

    AutoModelForCausalLM.from_pretrained(run / "final")
    assert AutoTokenizer.from_pretrained(run / "final").get_vocab() == AutoTokenizer.from_pretrained(tiny_mistral).get_vocab()
    manifest = json.loads((run / "final" / "lep.json").read_text())
    assert manifest["params"]["operation"] == "train" and manifest["metrics"]["steps"] == 20
    assert status(run)["state"] == "finished"


def test_train_rows_new_keeps_old_rows_bit_identical(tiny_llama, small_corpus, tmp_path):
    run = tmp_path / "run"
    old_rows = 40000  # pretend rows >= 40000 were added by an extension (the corpus uses both kinds of ids)
    train(small_options(tiny_llama, small_corpus, run, steps=8, train_rows="new", old_rows=old_rows, weight_decay=0.1))
    before, after = _tensors(tiny_llama), _tensors(run / "final")
    key = "model.embed_tokens.weight"  # tied: the head is the same tensor
    assert torch.equal(before[key][:old_rows], after[key][:old_rows])
    assert not torch.equal(before[key][old_rows:], after[key][old_rows:])
    assert all(torch.equal(before[k], after[k]) for k in before if k != key)


def test_train_rows_new_without_manifest_is_a_clear_error(tiny_llama, small_corpus, tmp_path):
    with pytest.raises(LepInputError, match="--old-rows"):
        train(small_options(tiny_llama, small_corpus, tmp_path / "run", train_rows="new"))


def test_fused_loss_matches_transformers(tiny_llama):
    from transformers import AutoModelForCausalLM

    from lep_core.training.freeze import freeze_body
    from lep_core.training.loss import EmbeddingLM

    model = AutoModelForCausalLM.from_pretrained(tiny_llama)
    trainable = freeze_body(model)
    ids = torch.randint(0, 49000, (2, 24), generator=torch.Generator().manual_seed(1))
    fused = EmbeddingLM(model, chunk_tokens=7)(ids)
    fused.backward()
    g_fused = trainable.embed.grad.clone()
    model.zero_grad()
    plain = model(input_ids=ids, labels=ids).loss
    plain.backward()
    assert abs(fused.item() - plain.item()) < 1e-5
    assert torch.allclose(g_fused, trainable.embed.grad, atol=1e-6)
    assert not any(p.grad is not None for n, p in model.named_parameters() if "embed" not in n)


def test_corpus_smaller_than_one_block(tiny_llama, tmp_path):
    corpus = tmp_path / "tiny.txt"
    corpus.write_text("Привет, мир.", encoding="utf-8")
    with pytest.raises(LepInputError, match="fewer than one block"):
        train(small_options(tiny_llama, corpus, tmp_path / "run", seq_len=64))
    assert not (tmp_path / "run").exists()


def test_existing_run_needs_resume_or_overwrite(tiny_llama, small_corpus, tmp_path):
    run = tmp_path / "run"
    train(small_options(tiny_llama, small_corpus, run, steps=2))
    with pytest.raises(LepInputError, match="--resume"):
        train(small_options(tiny_llama, small_corpus, run, steps=2))
    with pytest.raises(LepInputError, match="cannot change on --resume"):
        train({"out": str(run), "seq_len": 16}, resume=True)


def test_nan_loss_stops_and_keeps_last_good_checkpoint(tiny_llama, small_corpus, tmp_path):
    run = tmp_path / "run"
    train(small_options(tiny_llama, small_corpus, run, steps=6, save_every=3))
    ckpt = run / "checkpoints" / "step-000006" / "trainable.safetensors"
    digest = hashlib.sha256(ckpt.read_bytes()).hexdigest()
    # resume with an absurd learning rate: the weights explode and the loss turns inf/nan
    with pytest.raises(LepJobError, match=r"became (nan|inf).*step-000006 is kept.*Lower --lr"):
        train({"out": str(run), "steps": 30, "lr": 1e38, "warmup": 0, "max_grad_norm": 0.0}, resume=True)
    assert hashlib.sha256(ckpt.read_bytes()).hexdigest() == digest
    state = status(run)
    assert state["state"] == "failed" and "became" in state["error"]
    assert all(m["loss"] == m["loss"] for m in metrics(run))  # no NaN logged


def test_head_lr_zero_keeps_the_head_and_fit_head_refits_the_new_rows(tiny_mistral, small_corpus, tmp_path):
    """Issue 14: input rows learn while the head stays as initialised; --fit-head then fits only the new head rows."""
    old_rows = 400  # pretend rows >= 400 were added by an extension (the small corpus uses ids on both sides)
    frozen = tmp_path / "frozen"
    train(small_options(tiny_mistral, small_corpus, frozen, steps=6, train_rows="new", old_rows=old_rows, head_lr=0.0))
    before, after = _tensors(tiny_mistral), _tensors(frozen / "final")
    assert torch.equal(before["lm_head.weight"], after["lm_head.weight"])
    assert not torch.equal(before["model.embed_tokens.weight"][old_rows:], after["model.embed_tokens.weight"][old_rows:])
    fitted = tmp_path / "fitted"
    result = train(small_options(tiny_mistral, small_corpus, fitted, steps=6, train_rows="new", old_rows=old_rows,
                                 head_lr=0.0, fit_head=True))
    head = _tensors(fitted / "final")["lm_head.weight"]
    assert torch.equal(head[:old_rows], before["lm_head.weight"][:old_rows])
    assert not torch.equal(head[old_rows:], before["lm_head.weight"][old_rows:])
    fit = json.loads((fitted / "final" / "lep.json").read_text())["metrics"]["head_fit"]
    assert fit["heldout_loss_after"] < fit["heldout_loss_before"]
    assert result["state"] == "finished"


def test_head_lr_and_fit_head_need_an_untied_head(tiny_llama, small_corpus, tmp_path):
    with pytest.raises(LepInputError, match="untied head"):
        train(small_options(tiny_llama, small_corpus, tmp_path / "run", train_rows="new", old_rows=40000, fit_head=True))
    with pytest.raises(LepInputError, match="--fit-head"):
        train(small_options(tiny_llama, small_corpus, tmp_path / "run2", fit_head=True))
