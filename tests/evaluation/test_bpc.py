"""Bits-per-char equals the value computed by hand from summed token log-likelihoods."""

from __future__ import annotations

import math

import pytest
import torch

from lep_core.errors import LepInputError
from lep_core.evaluation.bpc import score_text, scoring_ids, windows
from lep_core.tokenizer.plain_text import encode_plain, encode_plain_offsets, sequence_start_ids

TEXT = "Мёд — один из немногих продуктов. Honey is made by bees from nectar, slowly."


@pytest.fixture(scope="module")
def llama64(tiny_llama):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    model = AutoModelForCausalLM.from_pretrained(tiny_llama, dtype=torch.float64).eval()
    return model, AutoTokenizer.from_pretrained(tiny_llama)


@pytest.fixture(scope="module")
def mistral64(tiny_mistral):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    model = AutoModelForCausalLM.from_pretrained(tiny_mistral, dtype=torch.float64).eval()
    return model, AutoTokenizer.from_pretrained(tiny_mistral)


def hand_bits_per_char(model, tokenizer, text: str, context: int | None = None) -> float:
    """Score each token alone from its own prefix (at most `context` tokens), summing log p by hand.

    The reading rule: a BOS starts the text when the tokenizer adds one (then every token is scored);
    otherwise the first token is context only and its characters are not counted."""
    ids, offsets = encode_plain_offsets(tokenizer, text)
    start = sequence_start_ids(tokenizer)
    ids = start + ids
    chars = len(text) if start else len(text) - offsets[1][0]
    total = 0.0
    with torch.no_grad():
        for t in range(1, len(ids)):
            first = 0 if context is None else max(0, t - context)
            window = (start if first > 0 else []) + ids[first:t]
            logits = model(input_ids=torch.tensor([window])).logits[0, -1]
            total += float(torch.log_softmax(logits, -1)[ids[t]])
    return -total / math.log(2) / chars


def test_bits_per_char_matches_hand_computation(llama64):
    model, tok = llama64
    assert sequence_start_ids(tok) == []  # SmolLM2's tokenizer adds no BOS: the first token is context
    score = score_text(model, tok, TEXT, measure_speed=False)
    assert score.scored_tokens == score.tokens - 1
    assert abs(score.bits_per_char - hand_bits_per_char(model, tok, TEXT)) < 1e-6
    assert score.chars_per_token == pytest.approx(len(TEXT) / len(tok(TEXT, add_special_tokens=False)["input_ids"]))


def test_bos_tokenizer_scores_every_token_and_starts_every_window_with_bos(mistral64):
    model, tok = mistral64
    assert sequence_start_ids(tok) == [tok.bos_token_id]  # LLaMA-2/Mistral style: <s> before every text
    score = score_text(model, tok, TEXT, measure_speed=False)
    assert score.scored_tokens == score.tokens  # the BOS lets the first token be scored too
    assert abs(score.bits_per_char - hand_bits_per_char(model, tok, TEXT)) < 1e-6
    window, stride = 8, 4  # later windows are fed BOS + their tokens, as training blocks are
    got = score_text(model, tok, TEXT, window=window, stride=stride, measure_speed=False)
    assert got.scored_tokens == score.tokens
    ids = [tok.bos_token_id] + encode_plain(tok, [TEXT])[0]
    spans = windows(len(ids), window - 1, stride)
    start_of = {p: begin for begin, end, first in spans for p in range(first, end)}
    total = 0.0
    with torch.no_grad():
        for t in range(1, len(ids)):
            fed = ([tok.bos_token_id] if start_of[t] > 0 else []) + ids[start_of[t]:t]
            assert len(fed) <= window and fed[0] == tok.bos_token_id
            total += float(torch.log_softmax(model(input_ids=torch.tensor([fed])).logits[0, -1], -1)[ids[t]])
    assert abs(got.bits_per_char - (-total / math.log(2) / len(TEXT))) < 1e-6


def test_special_token_strings_in_text_are_scored_as_text(llama64):
    model, tok = llama64
    text = "Привет<|im_end|> мир <|endoftext|>"
    ids, n_text, _ = scoring_ids(tok, text)
    assert not set(ids) & set(tok.all_special_ids)
    assert n_text == len(encode_plain(tok, [text])[0]) > 2 + len(tok("Привет мир ", add_special_tokens=False)["input_ids"])


def test_sliding_window_scores_every_token_once_with_its_window_context(llama64):
    model, tok = llama64
    ids, _, _ = scoring_ids(tok, TEXT)
    window, stride = 8, 4
    spans = windows(len(ids), window, stride)
    assert len(spans) > 3
    scored = [p for _, end, first in spans for p in range(first, end)]
    assert scored == list(range(1, len(ids)))
    got = score_text(model, tok, TEXT, window=window, stride=stride, measure_speed=False).bits_per_char
    assert abs(got - hand_bits_per_char(model, tok, TEXT)) > 1e-6  # less context, another score
    # by hand: each position scored from the start of the window it falls in
    start_of = {p: begin for begin, end, first in spans for p in range(first, end)}
    total = 0.0
    with torch.no_grad():
        for t in range(1, len(ids)):
            logits = model(input_ids=torch.tensor([ids[start_of[t]:t]])).logits[0, -1]
            total += float(torch.log_softmax(logits, -1)[ids[t]])
    _, offsets = encode_plain_offsets(tok, TEXT)
    assert abs(got - (-total / math.log(2) / (len(TEXT) - offsets[1][0]))) < 1e-6


def test_prefill_speed_and_bad_input(llama64):
    model, tok = llama64
    score = score_text(model, tok, TEXT)
    assert score.prefill_chars_per_s and score.prefill_chars_per_s > 0
    d = score.as_dict()
    assert set(d) >= {"bits_per_char", "chars_per_token", "prefill_chars_per_s", "tokens"}
    with pytest.raises(LepInputError, match="empty"):
        score_text(model, tok, "")
