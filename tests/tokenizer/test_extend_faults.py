"""Faults from public bug reports, as the smallest inputs: every alphabet keeps its promise, every new token
can be emitted, one long line without spaces costs little, control strings in a corpus are text."""

from __future__ import annotations

import json
import re
import time

import pytest

from lep_core.cli.main import main
from lep_core.corpus.reading import read_corpus
from lep_core.sources.loading import load_tokenizer
from lep_core.tokenizer import extend as ext_mod
from lep_core.tokenizer.analysis import WIDE_SAMPLE, encode_in_context, encode_lines, text_stats
from lep_core.tokenizer.extend import (
    Extension,
    build_extended_tokenizer,
    drop_unproducible,
    extend_tokenizer,
    learn_extension,
    verify_extension,
)
from lep_core.tokenizer.learn import LearnedMerges, chunk_long_words, learn_merges
from lep_core.tokenizer.plain_text import special_strings
from lep_core.tokenizer.vocab import UNIGRAM, TokenizerShape, piece_bytes, tokenizer_state

FAMILIES = ["byte_bpe_tokenizer", "metaspace_bpe_tokenizer", "unigram_tokenizer"]
LETTERS = re.compile(r"^[^\W\d_]+$")


def _ascii_lines(heldout_en) -> list[str]:
    return heldout_en.read_text(encoding="utf-8").splitlines() + [s for s in WIDE_SAMPLE if s.isascii()]


@pytest.mark.parametrize("fixture", FAMILIES)
@pytest.mark.parametrize("line", ["Bác Hồ", "Καλημέρα κόσμε"])
def test_alphabet_any_on_other_scripts_keeps_ascii_ids(request, tmp_path, fixture, line, heldout_en):
    corpus = tmp_path / "corpus.txt"
    corpus.write_text(f"{line}\n" * 3, encoding="utf-8")
    out = tmp_path / "out"
    code = main(["tokenizer", "extend", "--base", str(request.getfixturevalue(fixture)), "--corpus", str(corpus),
                 "--add", "1", "--alphabet", "any", "--out", str(out), "--json"])
    assert code == 0
    base, new = load_tokenizer(request.getfixturevalue(fixture)), load_tokenizer(out)
    assert len(new) == len(base) + 1
    added = json.loads((out / "new_tokens.json").read_text(encoding="utf-8"))
    assert not added[0]["text"].isascii() and added[0]["text"].strip() in line
    english = _ascii_lines(heldout_en)
    assert encode_lines(new, english) == encode_lines(base, english)
    assert len(base) in encode_lines(new, [line])[0]  # the new token is used on the line


@pytest.mark.parametrize("fixture,add", [("byte_bpe_tokenizer", 450), ("metaspace_bpe_tokenizer", 150),
                                         ("unigram_tokenizer", 150)])
def test_alphabet_any_on_the_demo_corpus_keeps_english_ids(request, fixture, add, ru_corpus, heldout_en):
    base = load_tokenizer(request.getfixturevalue(fixture))
    corpus = read_corpus(ru_corpus)
    ext = learn_extension(base, corpus, add, alphabet="any")
    assert all(not text.isascii() for text in ext.learned.texts)  # never ' 1': it would change English ids
    assert any(not re.search(r"[\u0400-\u04FF]", text) for text in ext.learned.texts), "any admits '»,' and the like"
    new = build_extended_tokenizer(base, ext)
    verify_extension(base, new, ext, corpus, alphabet="any")
    english = _ascii_lines(heldout_en)
    assert encode_lines(new, english) == encode_lines(base, english)


def test_a_broken_promise_is_one_line_exit_2_and_nothing_written(tmp_path, byte_bpe_tokenizer, monkeypatch, capsys):
    """The safety net behind the learner: a merge of ASCII symbols (built by hand) would change English ids."""
    base = load_tokenizer(byte_bpe_tokenizer)
    vocab = base.get_vocab()
    p, q = "Ġz", "q"  # both in the vocabulary; "Ġzq" is not, and " zq" encodes as these two
    assert p + q not in vocab
    assert encode_in_context(base, [" zq"]) == [[vocab[p], vocab[q]]]
    forged = LearnedMerges(tokens=[p + q], merges=[(p, q)], counts=[9], texts=[" zq"])
    monkeypatch.setattr(ext_mod, "learn_merges", lambda *a, **k: forged)
    corpus = tmp_path / "c.txt"
    corpus.write_text("zqxw zqxw zqxw\n", encoding="utf-8")
    out = tmp_path / "out"
    code = main(["tokenizer", "extend", "--base", str(byte_bpe_tokenizer), "--corpus", str(corpus), "--add", "1",
                 "--out", str(out)])
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1
    assert "promises to keep" in err and "zqxw" in err and "Traceback" not in err
    assert not out.exists() and not [p for p in tmp_path.iterdir() if p.name.startswith(".")]


# -- every added token can be emitted --------------------------------------------------------------------

def _shadowed_pair(base) -> tuple[str, str]:
    """Two vocabulary tokens p, q (letters only, q not a word start) whose joined text the base tokenizer
    spells some other way: a merge (p, q) appended after the old ones can never fire."""
    state = tokenizer_state(base)
    family = TokenizerShape.of(state).family
    vocab = base.get_vocab()
    text = {}
    for piece in sorted(vocab):
        try:
            t = piece_bytes(piece, family).decode("utf-8")
        except UnicodeDecodeError:
            continue
        if LETTERS.match(t.lstrip(" ")) and t.strip() == t.lstrip(" ") and piece not in base.added_tokens_encoder:
            text[piece] = t
    starts = [p for p in text if text[p].startswith(" ") and len(text[p]) > 2]
    inner = [q for q in text if not text[q].startswith(" ") and len(text[q]) > 1]
    for p in starts[:400]:
        candidates = [q for q in inner[:400] if p + q not in vocab]
        spelled = encode_in_context(base, [text[p] + text[q] for q in candidates])
        for q, ids in zip(candidates, spelled):
            if ids != [vocab[p], vocab[q]]:
                return p, q
    raise AssertionError("no shadowed pair found")


@pytest.mark.parametrize("fixture", FAMILIES)
def test_a_shadowed_merge_is_dropped_with_the_merges_built_on_it(request, fixture, ru_corpus):
    base = load_tokenizer(request.getfixturevalue(fixture))
    state = tokenizer_state(base)
    shape = TokenizerShape.of(state)
    good = learn_merges(base.backend_tokenizer, read_corpus(ru_corpus[:1]), shape.family, set(base.get_vocab()), 5)
    p, q = _shadowed_pair(base)
    family = shape.family
    text = piece_bytes(p + q, family).decode("utf-8")
    learned = LearnedMerges(tokens=good.tokens + [p + q, p + q + good.tokens[0]],
                            merges=good.merges + [(p, q), (p + q, good.tokens[0])],
                            counts=good.counts + [5, 4], texts=good.texts + [text, text + good.texts[0]])
    extension = Extension(state, shape, learned, len(base))
    if family == UNIGRAM:  # a piece outscored by the old spelling of its text can never win the Viterbi search
        extension.scores = ext_mod._unigram_scores(extension)
        extension.scores[5] = extension.scores[6] = -1e4
    kept = drop_unproducible(extension)
    assert kept.new_tokens == good.tokens
    assert kept.unproducible == [text, text + good.texts[0]]
    new = build_extended_tokenizer(base, kept)
    assert encode_in_context(new, kept.learned.texts) == [[len(base) + i] for i in range(5)]


def test_extend_reports_dropped_tokens_in_output_and_manifest(tmp_path, metaspace_bpe_tokenizer, ru_corpus, monkeypatch):
    base = load_tokenizer(metaspace_bpe_tokenizer)
    p, q = _shadowed_pair(base)
    real = learn_merges

    def with_a_shadowed_merge(*args, **kwargs):
        learned = real(*args, **kwargs)
        learned.tokens[-1], learned.merges[-1] = p + q, (p, q)  # the last learned merge, swapped for a shadowed one
        learned.texts[-1] = (p + q).replace("▁", " ")
        return learned

    monkeypatch.setattr(ext_mod, "learn_merges", with_a_shadowed_merge)
    result = extend_tokenizer(metaspace_bpe_tokenizer, ru_corpus[:2], 50, tmp_path / "out")
    assert result["added"] == 49 and result["unproducible_dropped"] == 1
    assert result["unproducible_examples"] == [(p + q).replace("▁", " ")]
    manifest = json.loads((tmp_path / "out" / "lep.json").read_text(encoding="utf-8"))
    assert manifest["metrics"]["unproducible_dropped"] == 1
    assert len(load_tokenizer(tmp_path / "out")) == len(base) + 49


@pytest.mark.parametrize("fixture", FAMILIES)
def test_learned_tokens_are_all_producible(request, fixture, ru_corpus):
    base = load_tokenizer(request.getfixturevalue(fixture))
    ext = learn_extension(base, read_corpus(ru_corpus), 200)
    new = build_extended_tokenizer(base, ext)
    assert encode_in_context(new, ext.learned.texts) == [[len(base) + i] for i in range(len(ext.new_tokens))]


# -- one long line without spaces ------------------------------------------------------------------------

def test_long_words_are_learned_from_in_chunks():
    counts, chunked = chunk_long_words(__import__("collections").Counter({"a" * 300: 2, "short": 5}), limit=128)
    assert chunked == 1
    assert counts == {"a" * 128: 4, "a" * 44: 2, "short": 5}


@pytest.mark.parametrize("fixture", FAMILIES)
def test_a_long_line_without_spaces_costs_little(request, tmp_path, fixture, ru_corpus):
    base = load_tokenizer(request.getfixturevalue(fixture))
    corpus = read_corpus(ru_corpus[:3])
    long_line = "".join(re.findall(r"[\u0400-\u04FF]+", read_corpus(ru_corpus)))[:50_000]
    assert len(long_line) == 50_000

    def cpu_seconds(text: str) -> float:
        start = time.process_time()  # this process only: steadier than wall time on a shared machine
        learn_extension(base, text, 300)
        return time.process_time() - start

    plain = min(cpu_seconds(corpus) for _ in range(2))
    with_line = cpu_seconds(corpus + "\n" + long_line)
    ext = learn_extension(base, corpus + "\n" + long_line, 300)
    assert ext.learned.chunked_words == 1
    assert with_line < 3 * plain + 0.5, f"{with_line:.2f} s with the line, {plain:.2f} s without"
    path = tmp_path / "long.txt"
    path.write_text(corpus + "\n" + long_line, encoding="utf-8")
    result = extend_tokenizer(base.name_or_path, [path], 300, tmp_path / "out")
    assert result["long_words_chunked"] == 1
    assert result["roundtrip_errors"] <= text_stats(base, corpus + "\n" + long_line).roundtrip_errors  # Unigram: <unk>


# -- control-token strings in a plain corpus --------------------------------------------------------------

@pytest.mark.parametrize("fixture", FAMILIES)
def test_control_strings_in_the_corpus_are_counted(request, tmp_path, fixture, ru_corpus):
    base = load_tokenizer(request.getfixturevalue(fixture))
    line = "<|im_start|>user Привет<|im_end|> … <|endoftext|>\n"
    path = tmp_path / "c.txt"
    path.write_text(read_corpus(ru_corpus[:1]) + "\n" + line * 4, encoding="utf-8")
    result = extend_tokenizer(request.getfixturevalue(fixture), [path], 40, tmp_path / "out")
    specials = [s for s in ("<|im_start|>", "<|im_end|>", "<|endoftext|>") if s in special_strings(base)]
    assert result["special_strings_as_text"] == 4 * len(specials) > 0
