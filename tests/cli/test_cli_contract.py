"""The `lep` contract: --json prints one object; bad input exits 2 with one line and leaves nothing behind."""

import json
import subprocess
import sys

LEP = [sys.executable, "-m", "lep_core.cli.main"]


def lep(*args, cwd=None):
    return subprocess.run(LEP + [str(a) for a in args], capture_output=True, text=True, cwd=cwd)


def test_stats_json(byte_bpe_tokenizer, heldout_ru):
    proc = lep("tokenizer", "stats", "--tokenizer", byte_bpe_tokenizer, "--text", heldout_ru, "--json")
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    assert set(data) == {"chars", "tokens", "words", "chars_per_token", "tokens_per_word", "roundtrip_errors", "unknown_tokens",
                         "normalised"}
    assert data["normalised"] == {"nfc": 0, "line_ends": 0, "bom": 0}  # the held-out text is NFC with LF ends
    assert data["roundtrip_errors"] == 0 and data["chars_per_token"] > 1


def _bad_inputs(tmp_path, tok, corpus):
    empty = tmp_path / "empty.txt"
    empty.write_text("", encoding="utf-8")
    binary = tmp_path / "blob.txt"
    binary.write_bytes(b"\x00\x01\x02" * 100)
    latin = tmp_path / "latin1.txt"
    latin.write_bytes("Привет".encode("cp1251"))
    existing = tmp_path / "exists"
    existing.mkdir()
    out = tmp_path / "out"
    return {
        "missing path": ["--base", tok, "--corpus", tmp_path / "nope.txt", "--add", 10, "--out", out],
        "empty corpus": ["--base", tok, "--corpus", empty, "--add", 10, "--out", out],
        "binary corpus": ["--base", tok, "--corpus", binary, "--add", 10, "--out", out],
        "non-utf8 corpus": ["--base", tok, "--corpus", latin, "--add", 10, "--out", out],
        "add 0": ["--base", tok, "--corpus", corpus, "--add", 0, "--out", out],
        "existing out": ["--base", tok, "--corpus", corpus, "--add", 10, "--out", existing],
        "missing tokenizer": ["--base", tmp_path / "no-model", "--corpus", corpus, "--add", 10, "--out", out],
    }


def test_bad_input_exits_2_with_one_line(tmp_path, byte_bpe_tokenizer, ru_corpus):
    expectations = {
        "missing path": "not found", "empty corpus": "empty", "binary corpus": "binary",
        "non-utf8 corpus": "not UTF-8", "add 0": "at least 1", "existing out": "already exists",
        "missing tokenizer": "not found",
    }
    for name, args in _bad_inputs(tmp_path, byte_bpe_tokenizer, ru_corpus[0]).items():
        proc = lep("tokenizer", "extend", *args)
        assert proc.returncode == 2, (name, proc.stderr)
        lines = proc.stderr.strip().splitlines()
        assert len(lines) == 1, (name, proc.stderr)
        assert expectations[name] in lines[0], (name, lines[0])
        assert not (tmp_path / "out").exists(), name
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]


def test_small_corpus_says_how_many_could_be_learned(tmp_path, byte_bpe_tokenizer):
    small = tmp_path / "small.txt"
    small.write_text("Мама мыла раму. Мама мыла раму. Папа читал газету. Папа читал газету.", encoding="utf-8")
    proc = lep("tokenizer", "extend", "--base", byte_bpe_tokenizer, "--corpus", small, "--add", 3000, "--out", tmp_path / "o")
    assert proc.returncode == 2
    assert "yields only" in proc.stderr and "--add" in proc.stderr
    assert not (tmp_path / "o").exists()


def test_extend_then_init_json(tmp_path, tiny_llama, ru_corpus):
    proc = lep("tokenizer", "extend", "--base", tiny_llama, "--corpus", *ru_corpus[:2], "--add", 100,
               "--out", tmp_path / "tok", "--json")
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["added"] == 100
    proc = lep("model", "init", "--model", tiny_llama, "--tokenizer", tmp_path / "tok", "--out", tmp_path / "m", "--json")
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout)
    assert result["initialised_rows"] == 100 and (tmp_path / "m" / "model.safetensors").is_file()
