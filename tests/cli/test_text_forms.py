"""Issue 27 acceptance: one text in NFC, NFD, with a BOM, with CRLF line ends has one character count, one
chars/token and one bits-per-char in every command that counts characters (`lep tokenizer stats`, `lep eval`,
`lep bench adaptation`, `lep eval suite`) and in the app's Tokenizers tab; what reading changed is reported."""

from __future__ import annotations

import json
import unicodedata

import pytest

from lep_core.cli.main import main

FORMS = ("nfc", "nfd", "bom", "crlf")


def _decomposable(text: str) -> int:
    return sum(1 for ch in text if unicodedata.decomposition(ch) and not unicodedata.decomposition(ch).startswith("<"))


@pytest.fixture(scope="module")
def texts(tmp_path_factory, heldout_ru) -> dict[str, object]:
    """The first lines of the held-out Russian text (NFC, LF) written in four forms, and what each should report."""
    lines = heldout_ru.read_text(encoding="utf-8").split("\n")[:6]
    text = "\n".join(lines) + "\n"
    assert unicodedata.is_normalized("NFC", text) and "\r" not in text
    folder = tmp_path_factory.mktemp("forms")
    data = {"nfc": text.encode(), "nfd": unicodedata.normalize("NFD", text).encode(),
            "bom": b"\xef\xbb\xbf" + text.encode(), "crlf": text.replace("\n", "\r\n").encode()}
    files = {}
    for name, raw in data.items():
        files[name] = folder / f"{name}.txt"
        files[name].write_bytes(raw)
        (folder / name).mkdir()
        (folder / name / "text.txt").write_bytes(raw)  # a suite's bpc file lies in the suite's own folder
        (folder / name / "bpc.jsonl").write_text(json.dumps({"kind": "bpc", "file": "text.txt"}) + "\n",
                                                 encoding="utf-8")
    prompts = folder / "prompts.txt"
    prompts.write_text("Привет!\n", encoding="utf-8")
    changes = {"nfc": {"nfc": 0, "line_ends": 0, "bom": 0},
               "nfd": {"nfc": _decomposable(text), "line_ends": 0, "bom": 0},
               "bom": {"nfc": 0, "line_ends": 0, "bom": 1},
               "crlf": {"nfc": 0, "line_ends": text.count("\n"), "bom": 0}}
    assert changes["nfd"]["nfc"] > 5
    return {"text": text, "chars": len(text), "files": files, "folder": folder, "prompts": prompts,
            "changes": changes}


def run(capsys, *args) -> tuple[dict, list[str]]:
    """`lep ARGS --json` in this process: the JSON object and the stderr lines that are not progress bars."""
    capsys.readouterr()
    rc = main([str(a) for a in args] + ["--json"])
    out, err = capsys.readouterr()
    assert rc == 0, err
    notes = [line for line in err.splitlines() if line.startswith("lep:")]
    return json.loads(out), notes


def check_note(notes: list[str], form: str) -> None:
    """One note line when something was rewritten, naming the count; none for NFC text."""
    if form == "nfc":
        assert notes == []
    else:
        assert len(notes) == 1 and notes[0].startswith("lep: note: text normalised: "), notes
        assert {"nfd": "composed to NFC", "bom": "byte order mark", "crlf": "line ends read as LF"}[form] in notes[0]


def test_stats_and_eval_count_one_text_alike(capsys, texts, tiny_llama):
    stats, evals = {}, {}
    for form in FORMS:
        stats[form], notes = run(capsys, "tokenizer", "stats", "--tokenizer", tiny_llama, "--text", texts["files"][form])
        check_note(notes, form)
        evals[form], notes = run(capsys, "eval", "--model", tiny_llama, "--text", texts["files"][form])
        check_note(notes, form)
    for form in FORMS:
        assert stats[form]["chars"] == evals[form]["chars"] == texts["chars"], form
        assert stats[form]["normalised"] == evals[form]["normalised"] == texts["changes"][form], form
        assert stats[form]["tokens"] == evals[form]["tokens"] == stats["nfc"]["tokens"], form
        assert stats[form]["chars_per_token"] == evals[form]["chars_per_token"], form  # one figure, two commands
        assert evals[form]["bits_per_char"] == pytest.approx(evals["nfc"]["bits_per_char"], rel=1e-9), form
        assert stats[form]["words"] == stats["nfc"]["words"], form  # NFD no longer splits words at й


def test_bench_and_suite_count_one_text_alike(capsys, texts, tiny_llama, tmp_path):
    for form in FORMS:
        bench, notes = run(capsys, "bench", "adaptation", "--original", tiny_llama, "--adapted", tiny_llama,
                           "--text", texts["files"][form], "--prompts", texts["prompts"], "--max-new-tokens", 2)
        check_note(notes, form)
        (entry,) = bench["adaptation"]["texts"]
        assert entry["chars"] == texts["chars"] and entry["normalised"] == texts["changes"][form], form
        figures = bench["adaptation"]["original"]["texts"][0]
        if form == "nfc":
            reference = figures
        assert figures["bits_per_char"] == pytest.approx(reference["bits_per_char"], rel=1e-9), form
        assert figures["chars_per_token"] == reference["chars_per_token"], form
        suite, notes = run(capsys, "eval", "suite", "--model", tiny_llama, "--suite", texts["folder"] / form / "bpc.jsonl",
                           "--out", tmp_path / f"suite-{form}", "--device", "cpu")
        check_note(notes, form)
        (task,) = suite["tasks"]
        assert task["normalised"] == texts["changes"][form], form
        (scores,) = suite["models"][0]["tasks"].values()
        assert scores["chars"] == texts["chars"], form
        assert scores["chars_per_token"] == reference["chars_per_token"], form


def test_the_tokenizers_tab_counts_one_text_alike(texts, tiny_llama, tmp_path):
    from lep_studio.context import AppContext
    from lep_studio.tabs.tokenizers import analyse

    ctx = AppContext.create(str(tmp_path / "ws"))
    for form in FORMS:
        typed = texts["files"][form].read_bytes().decode("utf-8")  # as pasted: BOM, CRLF and NFD kept
        status, table, _chart, *_ = analyse(ctx, [str(tiny_llama)], typed, False, False)
        assert table["chars"].iloc[0] == texts["chars"], form
        expected = {"nfc": None, "nfd": f"{texts['changes']['nfd']['nfc']:,} characters in decomposed form (NFD)",
                    "bom": "byte order mark dropped", "crlf": f"{texts['changes']['crlf']['line_ends']:,} CRLF/CR"}[form]
        if expected is None:
            assert "normalised" not in status
        else:
            assert status.count("Text normalised:") == 1 and expected in status, status


def test_suite_items_are_read_in_nfc_but_file_names_as_written(tmp_path):
    """Every string of a suite item is composed (and counted); a bpc item's file name is not: on disk it may be
    NFD (macOS), and composing it would name another file."""
    from lep_core.evaluation.suite.items import read_task

    nfd_name = unicodedata.normalize("NFD", "ёлка.txt")
    (tmp_path / nfd_name).write_text(unicodedata.normalize("NFD", "Йод и ёж.\n"), encoding="utf-8")
    pairs = tmp_path / "pairs.jsonl"
    pairs.write_text(json.dumps({"sentence_good": unicodedata.normalize("NFD", "Я пойду."),
                                 "sentence_bad": unicodedata.normalize("NFD", "Я пойдёт.")}) + "\n", encoding="utf-8")
    task = read_task(pairs, "")
    assert task.items[0]["sentence_good"] == "Я пойду." and task.items[0]["sentence_bad"] == "Я пойдёт."
    assert task.normalised.nfc == 3
    bpc = tmp_path / "bpc.jsonl"
    bpc.write_text(json.dumps({"kind": "bpc", "file": nfd_name}) + "\n", encoding="utf-8")
    task = read_task(bpc, "")
    assert task.items[0]["text"] == "Йод и ёж.\n" and task.normalised.nfc == 2
