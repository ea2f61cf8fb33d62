"""The reading rule for plain text, on the three tokenizer families: special-token strings are text, and
a sequence starts as the tokenizer starts one (BOS for LLaMA/Mistral style, nothing for SmolLM2)."""

import pytest

from lep_core.sources.loading import load_tokenizer
from lep_core.tokenizer.plain_text import (
    count_special_strings,
    encode_plain,
    sequence_start_ids,
    special_strings,
    with_sequence_start,
)

FAMILIES = ["byte_bpe_tokenizer", "metaspace_bpe_tokenizer", "unigram_tokenizer"]
LINE = "<|im_start|>user Привет<|im_end|> … <|endoftext|> </s> <s>"


@pytest.mark.parametrize("fixture", FAMILIES)
def test_special_token_strings_are_encoded_as_text(request, fixture):
    tok = load_tokenizer(request.getfixturevalue(fixture))
    specials = {tok.convert_tokens_to_ids(s) for s in special_strings(tok)}
    parsed = tok(LINE, add_special_tokens=False)["input_ids"]
    assert set(parsed) & specials, "the tokenizer itself parses them out of text"
    ids = encode_plain(tok, [LINE])[0]
    assert not set(ids) & (specials - {tok.unk_token_id})  # the T5-style one spells "|" as <unk>, as always
    if tok.unk_token_id not in ids:
        assert tok.decode(ids) == LINE
    assert count_special_strings(tok, LINE) == sum(LINE.count(s) for s in special_strings(tok)) > 0
    # the tokenizer's own setting is left as it was: chat templates still get their markers
    assert tok("<|im_start|>", add_special_tokens=False)["input_ids"] == [tok.convert_tokens_to_ids("<|im_start|>")]
    assert tok.backend_tokenizer.encode("<|im_end|>", add_special_tokens=False).ids == [tok.convert_tokens_to_ids("<|im_end|>")]


@pytest.mark.parametrize("fixture,expected", [("byte_bpe_tokenizer", []), ("metaspace_bpe_tokenizer", ["<s>"]),
                                              ("unigram_tokenizer", [])])
def test_sequence_start_is_what_the_tokenizer_adds_by_default(request, fixture, expected):
    tok = load_tokenizer(request.getfixturevalue(fixture))
    start = sequence_start_ids(tok)
    assert tok.convert_ids_to_tokens(start) == expected
    assert tok("Привет")["input_ids"][:len(start)] == start
    body = tok("Привет", add_special_tokens=False)["input_ids"]
    assert with_sequence_start(tok, body) == start + body
    assert with_sequence_start(tok, start + body) == start + body  # a template that wrote the BOS keeps one
