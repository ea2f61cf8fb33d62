"""The suite measures what it claims: a checks that cannot pass by accident.

A tiny model trained a few hundred steps on the acceptable sentences of some minimal pairs must prefer
them, and a copy of it trained on the unacceptable ones must prefer those: a scorer that ignored the
text (always the first sentence, the shorter one, a random pick) fails one of the two. And a multiple
choice whose options differ only in length is decided by log-probability per character, not by shortness.
"""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest
import torch

from lep_core.evaluation.suite.items import load_suites, read_task
from lep_core.evaluation.suite.run import run_suite
from tests import builders

PAIRS_PER_PHENOMENON = 12
STEPS = 200


def sample_pairs() -> list[dict]:
    items = {t.name: t for t in load_suites(["ru"])}["ru/minimal_pairs"].items
    picked, seen = [], {}
    for item in items:
        if seen.get(item["phenomenon"], 0) < PAIRS_PER_PHENOMENON:
            seen[item["phenomenon"]] = seen.get(item["phenomenon"], 0) + 1
            picked.append(item)
    return picked


def train_on(tokenizer_dir: Path, out: Path, sentences: list[str]) -> Path:
    """A 2-layer random model trained on `sentences` (all weights, AdamW), saved as a plain HF folder."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    folder = builders.tiny_model(tokenizer_dir, out, "mistral", tied=False)
    tok = AutoTokenizer.from_pretrained(folder)
    model = AutoModelForCausalLM.from_pretrained(folder)
    start = tok.bos_token_id if tok.bos_token_id is not None else tok.eos_token_id
    rows = [[start] + tok(s, add_special_tokens=False)["input_ids"] for s in sentences]
    torch.manual_seed(0)
    rng = random.Random(0)
    opt = torch.optim.AdamW(model.parameters(), lr=5e-3)
    model.train()
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # a model this small: one thread is faster, and spinning threads stall a busy CPU
    try:
        for _ in range(STEPS):
            step(model, opt, rng.sample(rows, 32))
    finally:
        torch.set_num_threads(threads)
    model.save_pretrained(folder)
    return folder


def step(model, opt, batch: list[list[int]]) -> None:
    """One AdamW step of next-token loss on right-padded rows (padding masked out of the loss)."""
    width = max(map(len, batch))
    ids = torch.tensor([r + [0] * (width - len(r)) for r in batch])
    mask = torch.tensor([[1] * len(r) + [0] * (width - len(r)) for r in batch])
    loss = model(input_ids=ids, attention_mask=mask, labels=ids.masked_fill(mask == 0, -100)).loss
    loss.backward()
    opt.step()
    opt.zero_grad()


@pytest.fixture(scope="module")
def trained(tmp_path_factory, metaspace_bpe_tokenizer):
    pairs = sample_pairs()
    root = tmp_path_factory.mktemp("suite_sanity")
    suite = root / "pairs.jsonl"
    suite.write_text("".join(json.dumps(p, ensure_ascii=False) + "\n" for p in pairs), encoding="utf-8")
    good = train_on(metaspace_bpe_tokenizer, root / "on_good", [p["sentence_good"] for p in pairs])
    bad = train_on(metaspace_bpe_tokenizer, root / "on_bad", [p["sentence_bad"] for p in pairs])
    return suite, good, bad


def test_minimal_pairs_follow_what_each_model_was_trained_on(trained):
    suite, good, bad = trained
    results, records = run_suite([str(good), str(bad)], [read_task(suite, "")], device="cpu")
    on_good, on_bad = (m["tasks"]["pairs"] for m in results["models"])
    print(f"suite sanity: trained on the acceptable sentences {on_good['score']:.3f}, on the unacceptable ones "
          f"{on_bad['score']:.3f} ({on_good['n']} pairs)")
    assert on_good["n"] == 8 * PAIRS_PER_PHENOMENON
    assert on_good["score"] > 0.85, on_good  # chance is 0.5
    assert on_bad["score"] < 0.15, on_bad
    for phenomenon, figures in on_good["per_phenomenon"].items():
        assert figures["accuracy"] > on_bad["per_phenomenon"][phenomenon]["accuracy"], phenomenon
    assert len(records) == 2 * on_good["n"] and all("logprob_good" in r for r in records)


def test_a_choice_is_not_won_by_being_shorter(trained, tmp_path):
    """Options that differ only in length: a strict prefix always has the higher *total* log-probability,
    so total scoring picks it whatever the model knows; per character, the model's knowledge decides."""
    suite, good, _ = trained
    sentence = json.loads(suite.read_text(encoding="utf-8").splitlines()[0])["sentence_good"]  # seen in training
    head, tail = sentence.split(" ", 1)
    items = [
        {"question": head, "choices": [tail.split(" ")[0], tail], "answer": 1},  # the whole trained sentence is right
        {"question": head, "choices": [tail, tail[:-1] + " " + tail], "answer": 0},  # the longer one is a garble
    ]
    path = tmp_path / "length.jsonl"
    path.write_text("".join(json.dumps(i, ensure_ascii=False) + "\n" for i in items), encoding="utf-8")
    results, records = run_suite([str(good)], [read_task(path, "")], device="cpu")
    assert [r["picked"] for r in records] == [1, 0]  # per character: the longer option once, the shorter once
    assert not records[0]["correct_by_total"]  # total log-prob falls for the shorter prefix
    assert results["models"][0]["tasks"]["length"]["score"] == 1.0
