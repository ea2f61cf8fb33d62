"""Vocabulary extension keeps every old id and every non-target text, and really compresses Russian."""

import json
import re

import pytest

from lep_core.corpus.reading import read_corpus
from lep_core.errors import LepInputError
from lep_core.sources.loading import load_tokenizer
from lep_core.tokenizer.analysis import encode_lines, text_stats
from lep_core.tokenizer.extend import build_extended_tokenizer, extend_tokenizer, learn_extension

CYRILLIC_TOKEN = re.compile(r"^ ?[\u0400-\u04FF]+$")


@pytest.fixture(scope="module")
def corpus_text(ru_corpus):
    return read_corpus(ru_corpus)


@pytest.mark.parametrize("fixture,add", [("byte_bpe_tokenizer", 400), ("metaspace_bpe_tokenizer", 300), ("unigram_tokenizer", 300)])
def test_extension_guarantees(request, fixture, add, corpus_text, heldout_ru, heldout_en):
    base = load_tokenizer(request.getfixturevalue(fixture))
    ext = learn_extension(base, corpus_text, add)
    new = build_extended_tokenizer(base, ext)
    assert len(new) == len(base) + add
    # every old id decodes as before
    old_vocab = base.get_vocab()
    new_vocab = new.get_vocab()
    assert all(new_vocab[t] == i for t, i in old_vocab.items())
    ids = list(range(len(base)))
    assert new.convert_ids_to_tokens(ids) == base.convert_ids_to_tokens(ids)
    # new tokens are Cyrillic words or word pieces, with real ids after the old ones
    assert all(CYRILLIC_TOKEN.match(row["text"]) for row in ext.table())
    assert min(new_vocab[t] for t in ext.new_tokens) == max(old_vocab.values()) + 1
    # English text: exactly the same ids
    english = heldout_en.read_text(encoding="utf-8").splitlines()
    assert encode_lines(new, english) == encode_lines(base, english)
    # Russian text not in the corpus: fewer tokens, exact round trip
    russian = heldout_ru.read_text(encoding="utf-8")
    before, after = text_stats(base, russian), text_stats(new, russian)
    assert after.tokens < before.tokens
    assert after.roundtrip_errors <= before.roundtrip_errors  # Unigram: new letters replace <unk>
    if fixture != "unigram_tokenizer":
        assert after.roundtrip_errors == 0
    # the new tokens are used
    used = {i for line in encode_lines(new, russian.splitlines()) for i in line}
    assert any(i >= len(base) for i in used)


def test_alphabet_any_allows_other_scripts_but_no_ascii_token(byte_bpe_tokenizer, corpus_text):
    base = load_tokenizer(byte_bpe_tokenizer)
    ext = learn_extension(base, corpus_text + "\n" + "zqxw zqxw ωμέγα zqxw ωμέγα " * 400, 200, alphabet="any")
    assert len(ext.new_tokens) == 200
    assert any("ω" in t for t in ext.learned.texts)  # other scripts: yes
    assert not any("zq" in t for t in ext.learned.texts)  # ASCII: never (English ids would change)


def test_too_small_corpus_says_how_many(byte_bpe_tokenizer):
    base = load_tokenizer(byte_bpe_tokenizer)
    with pytest.raises(LepInputError, match=r"yields only \d+ new cyrillic tokens .* use --add \d+"):
        learn_extension(base, "Мама мыла раму. Мама мыла раму. Папа читал газету.", 500)


def test_extend_writes_folder_with_manifest(tmp_path, byte_bpe_tokenizer, ru_corpus):
    out = tmp_path / "ext"
    result = extend_tokenizer(byte_bpe_tokenizer, ru_corpus[:2], 200, out)
    assert result["added"] == 200 and result["vocab_size_after"] == 49152 + 200
    manifest = json.loads((out / "lep.json").read_text())
    assert manifest["kind"] == "tokenizer" and manifest["params"]["add"] == 200
    assert manifest["inputs"]["corpus"][0]["hash"].startswith("sha256:")
    tok = load_tokenizer(out)
    assert tok.chat_template and "<|im_start|>" in tok.chat_template
    assert len(json.loads((out / "new_tokens.json").read_text())) == 200
    with pytest.raises(LepInputError, match="already exists"):
        extend_tokenizer(byte_bpe_tokenizer, ru_corpus[:2], 200, out)
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")], "no temporary folder left behind"
