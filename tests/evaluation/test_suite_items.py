"""Suite files: the built-in suite's size and balance, and every kind of bad line named by file and line number."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest

from lep_core.errors import LepInputError
from lep_core.evaluation.suite.items import Kind, load_suites, read_task, resolve_suite

PHENOMENA = {"agreement_gender", "agreement_number", "agreement_case", "agreement_numeral", "verb_aspect",
             "verb_government", "prepositions", "word_order"}


def by_name(tasks):
    return {t.name: t for t in tasks}


def test_builtin_russian_suite_has_the_promised_sizes_and_phenomena():
    tasks = by_name(load_suites(["ru", "en"]))
    pairs = tasks["ru/minimal_pairs"]
    assert pairs.kind == Kind.MINIMAL_PAIRS and len(pairs.items) >= 300
    counts = Counter(it["phenomenon"] for it in pairs.items)
    assert set(counts) == PHENOMENA and min(counts.values()) >= 35
    assert len({it["sentence_good"] for it in pairs.items}) == len(pairs.items)  # no sentence twice
    assert len(tasks["ru/multiple_choice"].items) >= 100
    assert len(tasks["ru/copy"].items) >= 20
    assert tasks["ru/bpc"].kind == Kind.BPC and tasks["ru/bpc"].items[0]["file"].endswith("heldout_ru.txt")
    assert {"en/minimal_pairs", "en/multiple_choice", "en/copy", "en/bpc"} <= set(tasks)


def test_a_bad_sentence_differs_from_its_good_one_by_one_word_or_by_order_alone():
    for item in by_name(load_suites(["ru"]))["ru/minimal_pairs"].items:
        good, bad = item["sentence_good"].split(), item["sentence_bad"].split()
        if item["phenomenon"] == "word_order":
            assert sorted(w.strip(",.?").lower() for w in good) == sorted(w.strip(",.?").lower() for w in bad)
        elif len(good) == len(bad):
            assert sum(a != b for a, b in zip(good, bad)) == 1, item
        else:  # a dropped preposition
            assert len(good) == len(bad) + 1 and any(good[:k] + good[k + 1:] == bad for k in range(len(good))), item


def test_multiple_choice_answers_are_not_given_away_by_position_or_length():
    """Picking the shortest, the longest or the first choice stays near chance (1/4): length is no clue."""
    for suite in ("ru", "en"):
        items = by_name(load_suites([suite]))[f"{suite}/multiple_choice"].items
        n = len(items)
        shortest = sum(min(range(len(i["choices"])), key=lambda j: len(i["choices"][j])) == i["answer"] for i in items)
        longest = sum(max(range(len(i["choices"])), key=lambda j: len(i["choices"][j])) == i["answer"] for i in items)
        first = sum(i["answer"] == 0 for i in items)
        assert shortest / n < 0.32 and longest / n < 0.32 and first / n < 0.32, (suite, shortest, longest, first)


def write(path: Path, *lines: str) -> Path:
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


GOOD = json.dumps({"sentence_good": "Кот спит.", "sentence_bad": "Кот спят.", "phenomenon": "agreement_number"})


@pytest.mark.parametrize("line, says", [
    ("{not json", "not valid JSON"),
    ('{"sentence_good": "Кот спит."}', '"sentence_bad" must be a non-empty string'),
    ('{"sentence_good": "Кот спит.", "sentence_bad": "Кот спит."}', "the same sentence"),
    ('{"question": "2+2?", "choices": ["4", "5"], "answer": 2}', "a multiple_choice item in a minimal_pairs file"),
    ('{"kind": "essay", "text": "x"}', "unknown kind 'essay'"),
    ('{"text": "просто текст"}', "cannot tell the task kind"),
    ("[1, 2]", "must be a JSON object"),
])
def test_a_malformed_line_is_named_by_its_line_number(tmp_path, line, says):
    path = write(tmp_path / "pairs.jsonl", GOOD, "", line, GOOD)
    with pytest.raises(LepInputError) as err:
        read_task(path, "mine")
    message = str(err.value)
    assert "pairs.jsonl:3: " in message and says in message and "\n" not in message


def test_multiple_choice_fields_are_checked(tmp_path):
    for line, says in [('{"question": "Q", "choices": ["a"], "answer": 0}', "at least two"),
                       ('{"question": "Q", "choices": ["a", "a"], "answer": 0}', 'two "choices" are the same'),
                       ('{"question": "Q", "choices": ["a", "b"], "answer": true}', '"answer" must be the index'),
                       ('{"question": "", "choices": ["a", "b"], "answer": 0}', '"question" must be')]:
        with pytest.raises(LepInputError, match=says):
            read_task(write(tmp_path / "mc.jsonl", line), "x")


def test_every_bad_line_is_counted_and_the_first_named(tmp_path):
    with pytest.raises(LepInputError, match=r"mc.jsonl:2: .*\(and 1 more line\(s\)\)"):
        read_task(write(tmp_path / "mc.jsonl", GOOD, "{oops", "{oops"), "x")


def test_empty_suites_and_unknown_names_are_refused(tmp_path):
    with pytest.raises(LepInputError, match="has no items"):
        read_task(write(tmp_path / "empty.jsonl", "", "  "), "x")
    (tmp_path / "nothing").mkdir()
    with pytest.raises(LepInputError, match="no .jsonl files"):
        resolve_suite(str(tmp_path / "nothing"))
    with pytest.raises(LepInputError, match=r"no suite 'klingon'.*built-in suite \(en, ru\)"):
        resolve_suite("klingon")


def test_bpc_items_read_a_file_beside_the_suite(tmp_path):
    (tmp_path / "held.txt").write_text("Немного текста.", encoding="utf-8")
    task = read_task(write(tmp_path / "b.jsonl", '{"kind": "bpc", "file": "held.txt"}'), "")
    assert task.name == "b" and task.items[0]["text"] == "Немного текста."
    with pytest.raises(LepInputError, match=r"b2.jsonl:1: cannot read \"file\""):
        read_task(write(tmp_path / "b2.jsonl", '{"kind": "bpc", "file": "missing.txt"}'), "")


@pytest.mark.parametrize("name", ["/etc/hostname", "../../../../../../../../etc/hostname", "link.txt"])
def test_fault_8_a_bpc_file_outside_the_suite_folder_is_refused(tmp_path, name):
    """Issue 26: "file" was read wherever it pointed (an absolute path, `..`, a symlink out of the folder)."""
    suite = tmp_path / "suite"
    suite.mkdir()
    (suite / "link.txt").symlink_to("/etc/hostname")
    line = json.dumps({"kind": "bpc", "file": name})
    with pytest.raises(LepInputError, match=r"b.jsonl:1: \"file\" .* is outside the suite's folder"):
        read_task(write(suite / "b.jsonl", line), "")
