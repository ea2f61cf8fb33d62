"""The copy task's figures (issue 25): known outputs give known recall and step counts, on tiny models of two
families (LLaMA with byte-level BPE extended by whole words, Mistral with SentencePiece-style BPE extended by
pieces); the reply pieces the Compare tab shades; the task's items and budget."""

import random

import pytest

from lep_core.evaluation.copy_task import first_half, heldout_lines, spread, task_figures, task_prompt, token_budget
from lep_core.evaluation.figures import Written, copy_recall, exact_copy, lcs_length, new_vocabulary
from lep_core.sources.loading import load_tokenizer
from lep_core.tokenizer.analysis import id_pieces

LINE = "Сегодня утром над рекой стоял густой туман, и рыбаки ждали солнца."


def _lcs_table(a: str, b: str) -> int:
    """The textbook O(len(a) * len(b)) dynamic programme: the reference for the bit-parallel version."""
    prev = [0] * (len(b) + 1)
    for x in a:
        row = [0]
        for j, y in enumerate(b):
            row.append(prev[j] + 1 if x == y else max(prev[j + 1], row[j]))
        prev = row
    return prev[-1]


def test_lcs_matches_the_dynamic_programme():
    rng = random.Random(7)
    for _ in range(500):
        a = "".join(rng.choice("аб вгд.") for _ in range(rng.randint(0, 40)))
        b = "".join(rng.choice("аб вге,") for _ in range(rng.randint(0, 40)))
        assert lcs_length(a, b) == _lcs_table(a, b), (a, b)
    assert lcs_length("x" * 300, "x" * 299 + "y") == 299  # wider than one machine word


def test_recall_and_exact_copy_of_known_replies():
    assert copy_recall(LINE, LINE) == 1.0 and exact_copy(LINE, LINE)
    # a preamble and quotes cost nothing; the line is still there verbatim
    assert copy_recall(LINE, f"Конечно: «{LINE}»") == 1.0 and exact_copy(LINE, f"Вот текст: {LINE}")
    # one word dropped: its characters and one space are lost, nothing else
    dropped = LINE.replace(" густой", "")
    assert copy_recall(LINE, dropped) == pytest.approx((len(LINE) - len(" густой")) / len(LINE))
    assert not exact_copy(LINE, dropped)
    # one letter changed: one character lost
    assert copy_recall(LINE, LINE.replace("туман", "тумен")) == pytest.approx((len(LINE) - 1) / len(LINE))
    assert copy_recall(LINE, "") == 0.0 and copy_recall(LINE, "Hello") == 0.0
    assert copy_recall(LINE, "Hello world") == pytest.approx(1 / len(LINE))  # the space is a shared character


@pytest.fixture(scope="module")
def families(adapted_families):
    """(original tokenizer, adapted tokenizer) of the two families."""
    return {name: (load_tokenizer(o), load_tokenizer(a)) for name, (o, a) in adapted_families.items()}


@pytest.mark.parametrize("family", ["llama", "mistral"])
def test_known_ids_give_known_steps(families, family):
    """A reply written as the adapted tokenizer spells it, and the same text in the original's pieces."""
    old, new = families[family]
    fresh = new_vocabulary(new, old)
    canonical = new(LINE, add_special_tokens=False)["input_ids"]
    spelled = old(LINE, add_special_tokens=False)["input_ids"]  # an extension keeps the old ids' meaning
    assert new.decode(spelled) == new.decode(canonical) == old.decode(spelled)
    n_new = sum(i in fresh for i in canonical)
    assert n_new > 0 and len(canonical) < len(spelled)

    as_spelled = task_figures("copy", [LINE], Written([LINE], [canonical], 2.0), new, old, fresh)
    assert as_spelled["copy_recall"] == 1.0 and as_spelled["exact_copies"] == 1
    assert as_spelled["generated_tokens"] == len(canonical)
    assert as_spelled["new_vocab_share"] == pytest.approx(n_new / len(canonical))
    assert as_spelled["original_tokens_over_emitted"] == pytest.approx(len(spelled) / len(canonical))
    assert as_spelled["emitted_over_canonical"] == pytest.approx(1.0)
    assert as_spelled["generated_chars_per_s"] == pytest.approx(len(LINE) / 2.0)

    in_old_pieces = task_figures("copy", [LINE], Written([LINE], [spelled], 1.0), new, old, fresh)
    assert in_old_pieces["copy_recall"] == 1.0 and in_old_pieces["new_vocab_share"] == 0.0
    assert in_old_pieces["original_tokens_over_emitted"] == pytest.approx(1.0)
    assert in_old_pieces["emitted_over_canonical"] == pytest.approx(len(spelled) / len(canonical))

    half = LINE[: len(LINE) // 2]  # a copy cut in the middle: recall is the share of characters written
    cut = task_figures("copy", [LINE], Written([half], [new(half, add_special_tokens=False)["input_ids"]], 1.0),
                       new, old, fresh)
    assert cut["copy_recall"] == pytest.approx(len(half.strip()) / len(LINE)) and cut["exact_copies"] == 0


@pytest.mark.parametrize("family", ["llama", "mistral"])
def test_reply_pieces_are_whole_characters(families, family):
    """The Compare tab's pieces of emitted ids: byte tokens of one letter form one piece; the pieces read as the
    decoded reply."""
    old, new = families[family]
    text = "Ёжик 🙂 съел щётку."
    ids = new(text, add_special_tokens=False)["input_ids"]
    pieces = id_pieces(new, ids)
    assert "".join(p.text for p in pieces) == new.decode(ids)
    assert [i for p in pieces for i in p.ids] == ids
    assert all("\ufffd" not in p.text for p in pieces)
    # a character the tokenizer spells in byte tokens (Ё in SmolLM2's BPE, 🙂 by byte fallback) is one piece
    assert any(len(p.text.strip()) == 1 and len(p.ids) > 1 for p in pieces)


def test_lines_budget_and_halves(byte_bpe_tokenizer, heldout_ru):
    text = "Короткая.\nПервое предложение этого абзаца достаточно длинное, чтобы попасть в задачу! Второе тоже " \
           "вполне длинное и попадает в список строк? Да."
    assert heldout_lines(text) == ["Первое предложение этого абзаца достаточно длинное, чтобы попасть в задачу!",
                                   "Второе тоже вполне длинное и попадает в список строк?"]
    lines = heldout_lines(heldout_ru.read_text(encoding="utf-8"))
    assert lines and all(40 <= len(line) <= 200 for line in lines)
    assert spread(list(range(10)), 3) == [0, 3, 6] and spread([1, 2], 5) == [1, 2]
    assert first_half("раз два три четыре") == "раз два" and first_half("слово") == "слово"
    tok = load_tokenizer(byte_bpe_tokenizer)
    n = len(tok(lines[0], add_special_tokens=False)["input_ids"])
    message = len(tok(task_prompt("copy", lines[0]), add_special_tokens=False)["input_ids"])
    assert token_budget(tok, "copy", lines[:1]) == [message + n + 16] and message > n  # room to echo the message
