"""`lep eval suite`: one JSON object and a complete results folder; bad input exits 2 with one line, nothing written."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

LEP = [sys.executable, "-m", "lep_core.cli.main", "eval", "suite"]
PAIR = {"sentence_good": "Кошка спит на диване.", "sentence_bad": "Кошка спят на диване.", "phenomenon": "agreement_number"}
QUESTION = {"question": "Снег зимой обычно", "choices": ["белый", "зелёный", "горячий"], "answer": 0}


def lep(*args):
    return subprocess.run(LEP + [str(a) for a in args], capture_output=True, text=True)


def jsonl(path: Path, *items) -> Path:
    path.write_text("".join((i if isinstance(i, str) else json.dumps(i, ensure_ascii=False)) + "\n" for i in items),
                    encoding="utf-8")
    return path


@pytest.fixture()
def suite(tmp_path) -> Path:
    folder = tmp_path / "mine"
    folder.mkdir()
    jsonl(folder / "pairs.jsonl", PAIR, {**PAIR, "sentence_good": "Мы пили чай.", "sentence_bad": "Мы пил чай."})
    jsonl(folder / "choice.jsonl", QUESTION)
    jsonl(folder / "copy.jsonl", {"kind": "copy", "text": "Утром шёл дождь."})
    jsonl(folder / "held.jsonl", {"kind": "bpc", "text": "Утром шёл дождь, а к обеду выглянуло солнце."})
    return folder


def test_results_folder_and_json(tmp_path, suite, tiny_llama, tiny_mistral):
    out = tmp_path / "evals" / "first"
    proc = lep("--model", tiny_llama, "--model", tiny_mistral, "--suite", suite, "--out", out, "--json")
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    assert data["schema"] == "lep-eval-suite/1" and data["out"] == str(out)
    assert [t["name"] for t in data["tasks"]] == ["mine/choice", "mine/copy", "mine/held", "mine/pairs"]
    for model in data["models"]:
        tasks = model["tasks"]
        assert tasks["mine/pairs"]["kind"] == "minimal_pairs" and tasks["mine/pairs"]["n"] == 2
        assert set(tasks["mine/pairs"]["per_phenomenon"]) == {"agreement_number"}
        assert 0 <= tasks["mine/choice"]["score"] <= 1 and tasks["mine/copy"]["chars_per_generated_token"] >= 0
        assert tasks["mine/held"]["score"] > 0 and all(t["seconds"] >= 0 for t in tasks.values())
    stored = json.loads((out / "results.json").read_text(encoding="utf-8"))
    assert stored["models"] == data["models"]
    items = [json.loads(line) for line in (out / "items.jsonl").read_text(encoding="utf-8").splitlines()]
    assert len(items) == 2 * (2 + 1 + 1 + 1)
    manifest = json.loads((out / "lep.json").read_text(encoding="utf-8"))
    assert manifest["kind"] == "eval" and f"{Path(tiny_llama).name} mine/pairs" in manifest["metrics"]
    again = lep("--model", tiny_llama, "--suite", suite, "--out", out)  # never over an existing result
    assert again.returncode == 2 and "already exists" in again.stderr
    table = lep("--model", tiny_llama, "--suite", suite / "pairs.jsonl", "--out", tmp_path / "evals" / "second")
    assert table.returncode == 0 and "| accuracy |" in table.stdout and "agreement_number (n=2)" in table.stdout


def test_bad_input_exits_2_with_one_line_and_writes_nothing(tmp_path, suite, tiny_llama):
    no_tokenizer = tmp_path / "no-tokenizer"
    no_tokenizer.mkdir()
    for name in ("config.json", "model.safetensors"):
        shutil.copy(Path(tiny_llama) / name, no_tokenizer / name)
    broken = jsonl(tmp_path / "broken.jsonl", PAIR, "", '{"sentence_good": "Кот спит."', PAIR)
    empty = jsonl(tmp_path / "empty.jsonl", "")
    cases = {
        "malformed line": (["--model", tiny_llama, "--suite", broken], "broken.jsonl:3: not valid JSON"),
        "empty suite": (["--model", tiny_llama, "--suite", empty], "has no items"),
        "no tokenizer": (["--model", no_tokenizer, "--suite", suite], "no tokenizer.json in"),
        "unknown suite": (["--model", tiny_llama, "--suite", "nope"], "no suite 'nope'"),
        "model twice": (["--model", tiny_llama, "--model", tiny_llama, "--suite", suite], "the same model is given twice"),
    }
    out = tmp_path / "evals" / "bad"
    for name, (args, says) in cases.items():
        proc = lep(*args, "--out", out)
        lines = proc.stderr.strip().splitlines()
        assert proc.returncode == 2 and len(lines) == 1 and says in lines[0], (name, proc.stderr)
        assert not out.parent.exists(), name
