"""Batched continuation log-probabilities equal the sum of per-token log-probabilities computed one by one."""

from __future__ import annotations

import pytest
import torch

from lep_core.evaluation.bpc import score_text
from lep_core.evaluation.logprob import batches, continuation_logprobs, encode_request

REQUESTS = [("", "Кошка спит на диване."), ("Снег зимой обычно", " белый"),
            ("Question: what do bees make?\nAnswer:", " honey, slowly and patiently"), ("", "Мы пили чай."),
            ("Хлеб режут", " ножом, а суп едят ложкой.")]


@pytest.fixture(scope="module", params=["tiny_llama", "tiny_mistral"])
def pair64(request):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    path = request.getfixturevalue(request.param)
    return AutoModelForCausalLM.from_pretrained(path, dtype=torch.float64).eval(), AutoTokenizer.from_pretrained(path)


def by_hand(model, tok, context: str, continuation: str) -> float:
    """Each continuation token scored alone from its own prefix (no batch, no padding)."""
    ids, first = encode_request(tok, context, continuation, 10**6)
    total = 0.0
    with torch.no_grad():
        for t in range(first, len(ids)):
            logits = model(input_ids=torch.tensor([ids[:t]])).logits[0, -1]
            total += float(torch.log_softmax(logits, -1)[ids[t]])
    return total


def test_batched_scores_equal_hand_sums_whatever_the_batching(pair64):
    model, tok = pair64
    hand = [by_hand(model, tok, c, x) for c, x in REQUESTS]
    for budget in (1, 64, 100_000):  # one row per batch, a few, all in one padded batch
        got = continuation_logprobs(model, tok, REQUESTS, batch_tokens=budget)
        assert [g[0] for g in got] == pytest.approx(hand, abs=1e-6)
        assert all(n >= 1 for _, n in got)


def test_context_tokens_are_not_scored_and_the_continuation_is(pair64):
    model, tok = pair64
    ids, first = encode_request(tok, "Снег зимой обычно", " белый", 10**6)
    from lep_core.tokenizer.plain_text import sequence_start_ids

    whole = tok("Снег зимой обычно белый", add_special_tokens=False)["input_ids"]
    assert ids == sequence_start_ids(tok) + whole and 1 < first < len(ids)
    assert tok.decode(ids[first:]).strip().endswith("белый")


def test_a_whole_sentence_scores_as_minus_the_bits_per_char_numerator(pair64):
    model, tok = pair64
    text = REQUESTS[0][1]
    [(logp, n)] = continuation_logprobs(model, tok, [("", text)])
    score = score_text(model, tok, text, measure_speed=False)
    assert logp == pytest.approx(-score.nll_nats, abs=1e-6) and n == score.scored_tokens


def test_batches_respect_the_padded_token_budget():
    lengths = [5, 30, 7, 30, 12, 3, 3]
    groups = batches(lengths, 60)
    assert sorted(i for g in groups for i in g) == list(range(len(lengths)))
    assert all(len(g) * max(lengths[i] for i in g) <= 60 or len(g) == 1 for g in groups)
