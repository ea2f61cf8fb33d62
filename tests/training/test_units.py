"""Small pieces of the trainer: data order, schedule, option checks, CPU paths, new-row masks, OOM detection."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from lep_core.errors import LepInputError
from lep_core.training import data
from lep_core.training.freeze import new_row_mask
from lep_core.training.options import TrainOptions
from lep_core.training.runtime import check_cuda_options, cpu_note, is_out_of_memory, lr_at, resolve_precision


def test_batch_order_is_a_function_of_seed_and_step():
    blocks = data.pack(np.arange(1000, dtype=np.int32), 10, 0.1, seed=3)
    assert len(blocks.val) == 10 and len(blocks.train) == 90
    assert not set(map(tuple, blocks.val.tolist())) & set(map(tuple, blocks.train.tolist()))
    a = [data.micro_batch(blocks, 7, s, 0, 1, 4) for s in range(60)]
    b = [data.micro_batch(blocks, 7, s, 0, 1, 4) for s in range(30, 60)]  # as a resumed run would read them
    assert all(torch.equal(x, y) for x, y in zip(a[30:], b))
    first_epoch = torch.cat(a[:22]).view(-1, 10)[:88]
    assert len({tuple(r) for r in first_epoch.tolist()}) == 88  # no block repeats within an epoch
    # two processes read disjoint shares of the same global batch
    r0 = data.micro_batch(blocks, 7, 5, 0, 1, 4, rank=0, world=2)
    r1 = data.micro_batch(blocks, 7, 5, 0, 1, 4, rank=1, world=2)
    assert not torch.equal(r0, r1)


def test_corpus_smaller_than_one_block_message():
    with pytest.raises(LepInputError, match="5 tokens, fewer than one block of --seq-len 8"):
        data.pack(np.arange(5, dtype=np.int32), 8, 0.0, 0)


def test_warmup_then_cosine():
    o = TrainOptions(lr=1.0, warmup=10, steps=110, min_lr_ratio=0.1)
    assert lr_at(0, o) == pytest.approx(0.1) and lr_at(9, o) == pytest.approx(1.0)
    assert lr_at(60, o) == pytest.approx(0.55) and lr_at(110, o) == pytest.approx(0.1)
    assert all(lr_at(s, o) >= lr_at(s + 1, o) for s in range(10, 110))


def test_all_option_problems_reported_at_once():
    problems = TrainOptions(model="m", corpus=["c"], out="o", steps=0, lr=-1, val_fraction=0.9).problems()
    assert len(problems) == 3 and any("--steps" in p for p in problems) and any("--lr" in p for p in problems)


def test_memory_saving_options_run_on_cpu_with_one_note():
    o = TrainOptions(load_in_4bit=True, optimizer="adamw8bit")
    assert check_cuda_options(o, "cpu") == []  # bitsandbytes is installed: nothing stops them on a CPU
    note = cpu_note(o, "cpu", "bf16")
    assert "--load-in-4bit, --optimizer adamw8bit, --precision bf16 save memory, not time" in note
    assert cpu_note(o, "cuda", "bf16") is None and cpu_note(TrainOptions(), "cpu", "fp32") is None
    assert resolve_precision("auto", "cpu") == "fp32"
    with pytest.raises(LepInputError, match="fp16 needs CUDA"):
        resolve_precision("fp16", "cpu")
    if not torch.cuda.is_available():
        from lep_core.sources.device import resolve_device

        with pytest.raises(LepInputError, match="no CUDA GPU"):
            resolve_device("cuda")


def test_new_rows_from_init_manifest(tmp_path):
    (tmp_path / "lep.json").write_text(json.dumps(
        {"kind": "model", "params": {"operation": "init"}, "metrics": {"old_rows": 100, "new_row_ranges": [[100, 120], [130, 140]]}}))
    mask = new_row_mask(tmp_path, 192, None)
    assert mask.sum() == 30 and mask[100:120].all() and not mask[120:130].any() and not mask[:100].any()
    assert new_row_mask(tmp_path, 192, 150).sum() == 42  # --old-rows wins
    with pytest.raises(LepInputError, match="nothing new"):
        new_row_mask(tmp_path, 100, 100)


def test_real_allocation_failure_is_recognised_as_out_of_memory():
    with pytest.raises(RuntimeError) as info:
        torch.empty(2**50, dtype=torch.uint8)
    assert is_out_of_memory(info.value)
    assert not is_out_of_memory(RuntimeError("shape mismatch"))
