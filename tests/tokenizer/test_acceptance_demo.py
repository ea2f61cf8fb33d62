"""Issue acceptance on the real demo model: 3,000 Cyrillic tokens from the demo corpus compress unseen Russian >= 1.6x."""

import pytest

from lep_core.corpus.reading import read_corpus
from lep_core.sources.loading import load_tokenizer
from lep_core.tokenizer.analysis import encode_lines, text_stats
from lep_core.tokenizer.extend import build_extended_tokenizer, learn_extension, verify_extension


@pytest.mark.slow
def test_demo_extension_3000(demo_model, ru_corpus, heldout_ru, heldout_en):
    base = load_tokenizer(demo_model)
    corpus = read_corpus(ru_corpus)
    assert len(corpus) >= 100_000, "the demo corpus must have at least 100,000 characters"
    held_out = heldout_ru.read_text(encoding="utf-8")
    assert not any(line in corpus for line in held_out.splitlines() if len(line) > 40), "held-out text is not in the corpus"
    ext = learn_extension(base, corpus, 3000, alphabet="cyrillic")
    new = build_extended_tokenizer(base, ext)
    verify_extension(base, new, ext, corpus)
    before, after = text_stats(base, held_out), text_stats(new, held_out)
    ratio = after.chars_per_token / before.chars_per_token
    print(f"held-out Russian chars/token: {before.chars_per_token:.3f} -> {after.chars_per_token:.3f} ({ratio:.2f}x)")
    assert ratio >= 1.6
    assert after.roundtrip_errors == 0
    english = heldout_en.read_text(encoding="utf-8").splitlines()
    assert encode_lines(new, english) == encode_lines(base, english)
    ids = list(range(len(base)))
    assert new.convert_ids_to_tokens(ids) == base.convert_ids_to_tokens(ids)
    assert [new.decode([i]) for i in ids[::97]] == [base.decode([i]) for i in ids[::97]]
