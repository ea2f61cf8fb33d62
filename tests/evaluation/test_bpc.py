"""Bits-per-char equals the value computed by hand from summed token log-likelihoods."""

from __future__ import annotations

import math

import pytest
import torch

from lep_core.errors import LepInputError
from lep_core.evaluation.bpc import score_text, scoring_ids, windows

TEXT = "Мёд — один из немногих продуктов. Honey is made by bees from nectar, slowly."


@pytest.fixture(scope="module")
def llama64(tiny_llama):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    model = AutoModelForCausalLM.from_pretrained(tiny_llama, dtype=torch.float64).eval()
    return model, AutoTokenizer.from_pretrained(tiny_llama)


def hand_bits_per_char(model, tokenizer, text: str, context: int | None = None) -> float:
    """Score each token alone from its own prefix (at most `context` tokens), summing log p by hand."""
    ids = [tokenizer.bos_token_id] + tokenizer(text, add_special_tokens=False)["input_ids"]
    total = 0.0
    with torch.no_grad():
        for t in range(1, len(ids)):
            start = 0 if context is None else max(0, t - context)
            logits = model(input_ids=torch.tensor([ids[start:t]])).logits[0, -1]
            total += float(torch.log_softmax(logits, -1)[ids[t]])
    return -total / math.log(2) / len(text)


def test_bits_per_char_matches_hand_computation(llama64):
    model, tok = llama64
    score = score_text(model, tok, TEXT, measure_speed=False)
    assert score.scored_tokens == score.tokens  # the BOS lets the first token be scored too
    assert abs(score.bits_per_char - hand_bits_per_char(model, tok, TEXT)) < 1e-6
    assert score.chars_per_token == pytest.approx(len(TEXT) / len(tok(TEXT, add_special_tokens=False)["input_ids"]))


def test_sliding_window_scores_every_token_once_with_its_window_context(llama64):
    model, tok = llama64
    ids, _ = scoring_ids(tok, TEXT)
    window, stride = 8, 4
    spans = windows(len(ids), window, stride)
    assert len(spans) > 3
    scored = [p for _, end, first in spans for p in range(first, end)]
    assert scored == list(range(1, len(ids)))
    # by hand: each position scored from the start of the window it falls in
    start_of = {p: begin for begin, end, first in spans for p in range(first, end)}
    total = 0.0
    with torch.no_grad():
        for t in range(1, len(ids)):
            logits = model(input_ids=torch.tensor([ids[start_of[t]:t]])).logits[0, -1]
            total += float(torch.log_softmax(logits, -1)[ids[t]])
    hand = -total / math.log(2) / len(TEXT)
    got = score_text(model, tok, TEXT, window=window, stride=stride, measure_speed=False).bits_per_char
    assert abs(got - hand) < 1e-6
    # a short window sees less context, so the score differs from the full-context one
    assert abs(got - hand_bits_per_char(model, tok, TEXT)) > 1e-6


def test_prefill_speed_and_bad_input(llama64):
    model, tok = llama64
    score = score_text(model, tok, TEXT)
    assert score.prefill_chars_per_s and score.prefill_chars_per_s > 0
    d = score.as_dict()
    assert set(d) >= {"bits_per_char", "chars_per_token", "prefill_chars_per_s", "tokens"}
    with pytest.raises(LepInputError, match="empty"):
        score_text(model, tok, "")
