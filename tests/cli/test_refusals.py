"""Issue 27: every refusal of user input is one line on stderr naming the problem and what to do (exit 2), and
no error of any kind reaches the user as a traceback (exit 1, one line, LEP_DEBUG=1 for the traceback)."""

from __future__ import annotations

import json
import re
import shutil

import pytest

from lep_core.cli import main as cli_main
from lep_core.cli.main import main

TRACE = re.compile(r"Traceback|^\s+File \"|^\w*(Error|Exception): ", re.MULTILINE)


@pytest.fixture(scope="module")
def bad(tmp_path_factory, byte_bpe_tokenizer, tiny_llama) -> dict:
    """Inputs as users have them: binary, Latin-1, empty, wrong kinds of artefact, broken model folders."""
    d = tmp_path_factory.mktemp("bad_inputs")
    (d / "ok.txt").write_text("Привет, мир. Это текст.\n", encoding="utf-8")
    (d / "binary.txt").write_bytes(b"\x7fELF\x02\x01\x00\x00" * 50)
    (d / "latin1.txt").write_bytes("café, naïve\n".encode("latin-1"))
    (d / "empty.txt").write_bytes(b"")
    (d / "blank.txt").write_text("  \n\n", encoding="utf-8")
    (d / "bad.jsonl").write_text('{"text": "ok"}\nnot json\n', encoding="utf-8")
    (d / "notext.jsonl").write_text('{"body": "no text field"}\n', encoding="utf-8")
    (d / "fake.parquet").write_bytes(b"not a parquet file at all")
    (d / "fake.gguf").write_bytes(b"GGUF" + b"\x00" * 40)
    (d / "nothing").mkdir()
    (d / "bad.yaml").write_text("steps: [unclosed\n", encoding="utf-8")
    (d / "list.yaml").write_text("- just\n- a list\n", encoding="utf-8")
    broken = {}
    for name, config, weights in (("cfg-not-json", "{not json", b"x"),
                                  ("unknown-arch", json.dumps({"model_type": "no_such_arch"}), b"x"),
                                  ("bad-weights", None, b"junk, not safetensors")):
        folder = d / name
        shutil.copytree(tiny_llama, folder)
        if config is not None:
            (folder / "config.json").write_text(config, encoding="utf-8")
        for f in folder.glob("*.safetensors"):
            f.write_bytes(weights)
        broken[name] = folder
    return {"dir": d, "tok": byte_bpe_tokenizer, "model": tiny_llama, **broken}


def refused(capsys, *args: object) -> str:
    """Run `lep ARGS`; it must exit 2 with exactly one stderr line (no traceback): that line. Argument errors
    exit through argparse (SystemExit 2), the others return 2."""
    capsys.readouterr()
    try:
        rc = main([str(a) for a in args])
    except SystemExit as exc:
        rc = exc.code
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.strip() and "Loading weights" not in line]
    assert rc == 2, (args, err)
    assert len(lines) == 1 and lines[0].startswith("lep"), (args, err)
    assert not TRACE.search(err), (args, err)
    return lines[0]


CASES = {  # name: (args with {placeholders}, words the line must hold)
    "missing file": (["tokenizer", "stats", "--tokenizer", "{tok}", "--text", "{dir}/nope.txt"], "not found"),
    "folder without text files": (["tokenizer", "stats", "--tokenizer", "{tok}", "--text", "{dir}/nothing"],
                                  "no .txt/.jsonl/.parquet files"),
    "binary file": (["tokenizer", "stats", "--tokenizer", "{tok}", "--text", "{dir}/binary.txt"], "looks binary"),
    "Latin-1 file": (["tokenizer", "stats", "--tokenizer", "{tok}", "--text", "{dir}/latin1.txt"], "not UTF-8"),
    "empty file": (["tokenizer", "stats", "--tokenizer", "{tok}", "--text", "{dir}/empty.txt"], "empty"),
    "blank file": (["eval", "--model", "{model}", "--text", "{dir}/blank.txt"], "empty"),
    "bad .jsonl line": (["tokenizer", "stats", "--tokenizer", "{tok}", "--text", "{dir}/bad.jsonl"], "line 2"),
    ".jsonl without text": (["tokenizer", "stats", "--tokenizer", "{tok}", "--text", "{dir}/notext.jsonl"],
                            "no string field \"text\""),
    "file named .parquet that is not": (["tokenizer", "stats", "--tokenizer", "{tok}", "--text", "{dir}/fake.parquet"],
                                        "not a readable .parquet"),
    "line break in a path": (["tokenizer", "stats", "--tokenizer", "{tok}", "--text", "{dir}/ok.txt\nmore"],
                             "control character"),
    "tokenizer missing": (["tokenizer", "stats", "--tokenizer", "{dir}/nope", "--text", "{dir}/ok.txt"], "not found"),
    "text file as tokenizer": (["tokenizer", "stats", "--tokenizer", "{dir}/ok.txt", "--text", "{dir}/ok.txt"],
                               "is a file"),
    "folder without tokenizer": (["tokenizer", "stats", "--tokenizer", "{dir}/nothing", "--text", "{dir}/ok.txt"],
                                 "no tokenizer.json"),
    "broken .gguf": (["tokenizer", "stats", "--tokenizer", "{dir}/fake.gguf", "--text", "{dir}/ok.txt"],
                     "cannot load a tokenizer"),
    "config.json not JSON": (["eval", "--model", "{cfg-not-json}", "--text", "{dir}/ok.txt"], "not a valid JSON"),
    "unknown architecture": (["eval", "--model", "{unknown-arch}", "--text", "{dir}/ok.txt"], "cannot load a model"),
    "corrupt safetensors": (["eval", "--model", "{bad-weights}", "--text", "{dir}/ok.txt"], "deserializing header"),
    "tokenizer folder as model": (["eval", "--model", "{tok_only}", "--text", "{dir}/ok.txt"], "no model weights"),
    "eval window 1": (["eval", "--model", "{model}", "--text", "{dir}/ok.txt", "--window", "1"], "window"),
    "recipe with a YAML error": (["run", "{dir}/bad.yaml"], "bad.yaml"),
    "recipe that is a list": (["run", "{dir}/list.yaml"], "list.yaml"),
    "binary recipe": (["run", "{dir}/binary.txt"], "binary.txt"),
    "plan on a broken config": (["plan", "--model", "{cfg-not-json}"], "config.json"),
    "binary prompts file": (["bench", "adaptation", "--original", "{model}", "--adapted", "{model}", "--prompts",
                             "{dir}/binary.txt"], "binary"),
    "streamed file named .parquet that is not": (["tokenizer", "extend", "--base", "{tok}", "--corpus",
                                                  "{dir}/fake.parquet", "--add", "5", "--out", "{dir}/never"],
                                                 "not a readable .parquet"),
    "app port out of range": (["app", "--port", "99999"], "from 1 to 65535"),
    "Latin-1 calibration prompts": (["calibrate", "--model", "{model}", "--original", "{model}", "--prompts",
                                     "{dir}/latin1.txt", "--out", "{dir}/never"], "not UTF-8"),
    "Latin-1 prompts file": (["bench", "adaptation", "--original", "{model}", "--adapted", "{model}", "--prompts",
                              "{dir}/latin1.txt"], "not UTF-8"),
}


@pytest.mark.parametrize("name", list(CASES))
def test_bad_input_is_one_line(capsys, bad, tmp_path, name):
    args, words = CASES[name]
    tok_only = tmp_path / "tok-only"
    tok_only.mkdir()
    for f in bad["tok"].glob("tokenizer*"):
        shutil.copy(f, tok_only / f.name)
    values = {**{k: str(v) for k, v in bad.items()}, "tok_only": str(tok_only)}
    line = refused(capsys, *[a.format(**values) for a in args])
    assert words in line, line


def test_a_bug_is_one_line_and_a_file_the_system_refuses_is_bad_input(capsys, monkeypatch, bad):
    """Errors nobody anticipated: one line, exit 1, and how to see the traceback; OSErrors about a named file:
    exit 2 naming it. LEP_DEBUG=1 lets the traceback through."""
    calls = iter([RuntimeError("something\nunexpected"), PermissionError(13, "Permission denied", "/root/x.txt")])

    def explode(args):
        raise next(calls)

    monkeypatch.setattr("lep_core.cli.tokenizer.stats", explode)  # `lep tokenizer stats` runs `explode`
    monkeypatch.delenv(cli_main.DEBUG_ENV, raising=False)
    args = ["tokenizer", "stats", "--tokenizer", str(bad["tok"]), "--text", str(bad["dir"] / "ok.txt")]
    capsys.readouterr()
    assert main(args) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ["lep: internal error: RuntimeError: something / unexpected (a bug: run again with LEP_DEBUG=1 "
                   "for the traceback and report it)"]
    assert main(args) == 2
    assert capsys.readouterr().err.strip().splitlines() == [
        "lep: error: cannot use /root/x.txt: Permission denied: check the path and its permissions"]
    monkeypatch.setenv(cli_main.DEBUG_ENV, "1")
    calls = iter([RuntimeError("shown in full")])
    with pytest.raises(RuntimeError, match="shown in full"):
        main(args)


def test_a_suite_file_with_a_bom_is_read(capsys, bad, tmp_path):
    """Before: a suite .jsonl saved by Notepad (UTF-8 with BOM) was 'not valid JSON' on its first line."""
    suite = tmp_path / "pairs.jsonl"
    suite.write_bytes(b"\xef\xbb\xbf" + json.dumps({"sentence_good": "Я иду.", "sentence_bad": "Я идёт."},
                                                    ensure_ascii=False).encode() + b"\r\n")
    capsys.readouterr()
    rc = main(["eval", "suite", "--model", str(bad["model"]), "--suite", str(suite), "--out", str(tmp_path / "o"),
               "--device", "cpu", "--json"])
    captured = capsys.readouterr()
    assert rc == 0, captured.err
    assert json.loads(captured.out)["tasks"][0]["normalised"] == {"nfc": 0, "line_ends": 0, "bom": 1}
