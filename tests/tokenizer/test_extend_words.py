"""`--tokens words`: whole corpus words as new tokens, read as one token before any merge (issue 14)."""

import json
from collections import Counter

import pytest

from lep_core.corpus.reading import read_corpus
from lep_core.errors import LepInputError
from lep_core.sources.loading import load_tokenizer
from lep_core.tokenizer.analysis import encode_in_context, encode_lines, text_stats
from lep_core.tokenizer.extend import build_extended_tokenizer, extend_tokenizer, learn_extension
from lep_core.tokenizer.learn import split_words
from lep_core.tokenizer.vocab import TokenizerShape, tokenizer_state


@pytest.fixture(scope="module")
def corpus_text(ru_corpus):
    return read_corpus(ru_corpus)


@pytest.mark.parametrize("fixture,add", [("byte_bpe_tokenizer", 300), ("unigram_tokenizer", 200)])
def test_whole_words_are_one_token_and_other_text_keeps_its_ids(request, fixture, add, corpus_text, heldout_ru,
                                                                 heldout_en):
    base = load_tokenizer(request.getfixturevalue(fixture))
    ext = learn_extension(base, corpus_text, add, unit="words")
    new = build_extended_tokenizer(base, ext)
    assert len(new) == len(base) + add and not ext.unproducible
    # each new token is a whole word of the corpus (a pre-token), seen at least twice, with no merge behind it
    family = TokenizerShape.of(tokenizer_state(base)).family
    words = split_words(base.backend_tokenizer, corpus_text, family)
    assert all(words[tok] >= 2 for tok in ext.new_tokens) and set(ext.learned.merges) == {None}
    # ... and is read as that one token mid-text, where the old tokenizer needed several
    texts = ext.learned.texts
    assert encode_in_context(new, texts) == [[len(base) + i] for i in range(add)]
    assert all(len(ids) > 1 for ids in encode_in_context(base, texts))
    # most tokens saved first: occurrences x (old pieces - 1) never increases down the list
    saved = [c * (len(ext.learned.pieces[tok]) - 1) for tok, c in zip(ext.new_tokens, ext.learned.counts)]
    assert saved == sorted(saved, reverse=True)
    # English keeps its ids; held-out Russian gets fewer tokens and decodes exactly as before
    english = heldout_en.read_text(encoding="utf-8").splitlines()
    assert encode_lines(new, english) == encode_lines(base, english)
    russian = heldout_ru.read_text(encoding="utf-8")
    before, after = text_stats(base, russian), text_stats(new, russian)
    assert after.tokens < before.tokens and after.roundtrip_errors <= before.roundtrip_errors  # Unigram: fewer <unk>
    if fixture == "unigram_tokenizer":
        return  # a Unigram piece may also serve as the start of a longer word, by its score
    # a word not in the list keeps its old spelling: no sub-word piece was added
    unlisted = [w for w in Counter(words) if w not in set(ext.new_tokens)][:50]
    readable = [base.convert_tokens_to_string([w]) for w in unlisted]
    assert encode_in_context(new, readable) == encode_in_context(base, readable)


def test_sentencepiece_bpe_that_merges_across_spaces_is_refused(metaspace_bpe_tokenizer, corpus_text):
    base = load_tokenizer(metaspace_bpe_tokenizer)
    with pytest.raises(LepInputError, match="merges across spaces: use --tokens subwords"):
        learn_extension(base, corpus_text, 100, unit="words")


def test_unknown_unit_names_the_choices(byte_bpe_tokenizer, corpus_text):
    with pytest.raises(LepInputError, match="unknown token unit 'letters': choose one of subwords, words"):
        learn_extension(load_tokenizer(byte_bpe_tokenizer), corpus_text, 10, unit="letters")


def test_asking_more_words_than_the_corpus_has_says_how_many(byte_bpe_tokenizer, corpus_text):
    with pytest.raises(LepInputError, match=r"yields only \d+ new cyrillic whole words seen at least 2 times"):
        learn_extension(load_tokenizer(byte_bpe_tokenizer), corpus_text, 100_000, unit="words")


def test_an_old_entry_its_merges_never_reach_blocks_the_extension(tmp_path, byte_bpe_tokenizer, ru_corpus):
    """Looking whole words up first would make an old entry that BPE never produced appear in English text: the
    extension checks every old entry's text and writes nothing."""
    base = load_tokenizer(byte_bpe_tokenizer)
    state = tokenizer_state(base)
    state["model"]["vocab"]["Ġzqxvb"] = max(base.get_vocab().values()) + 1  # no merge chain leads to it
    folder = tmp_path / "base"
    base.save_pretrained(folder)
    (folder / "tokenizer.json").write_text(json.dumps(state, ensure_ascii=False), encoding="utf-8")
    out = tmp_path / "out"
    with pytest.raises(LepInputError, match="would change the ids of 1 lines"):
        extend_tokenizer(folder, ru_corpus, 50, out, unit="words")
    assert not out.exists()


def test_extend_words_writes_the_unit_into_the_manifest(tmp_path, byte_bpe_tokenizer, ru_corpus):
    out = tmp_path / "words"
    r = extend_tokenizer(byte_bpe_tokenizer, ru_corpus, 100, out, unit="words")
    manifest = json.loads((out / "lep.json").read_text(encoding="utf-8"))
    assert manifest["params"]["tokens"] == "words" and r["added"] == 100
    assert json.loads((out / "tokenizer.json").read_text(encoding="utf-8"))["model"]["ignore_merges"] is True
    assert r["corpus_chars_per_token_after"] > r["corpus_chars_per_token_before"]
