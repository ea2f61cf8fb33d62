"""Bad input to calibration: prompt files, the CLI contract (exit 2, one line), nothing lost on a stop."""

from __future__ import annotations

import json

import pytest

from lep_core.calibration.answers import CONVERSATIONS, PARTIAL, answer_prompts
from lep_core.calibration.prompts import load_prompts
from lep_core.cli.main import main
from lep_core.errors import LepInputError
from tests.calibration.conftest import MAX_NEW, PROMPTS, conversations


def test_prompt_formats_and_no_usable_prompts(tmp_path):
    assert len(load_prompts()) == 24  # the demo prompts
    (tmp_path / "p.jsonl").write_text('{"prompt": "a"}\n\n{"messages": [{"role": "system", "content": "s"}, '
                                      '{"role": "user", "content": "b"}]}\n{"prompt": "a"}\n', encoding="utf-8")
    assert [p[-1]["content"] for p in load_prompts(tmp_path / "p.jsonl")] == ["a", "b"]  # repeats dropped
    (tmp_path / "blank.txt").write_text("\n   \n\n", encoding="utf-8")
    with pytest.raises(LepInputError, match="no usable prompts"):
        load_prompts(tmp_path / "blank.txt")
    (tmp_path / "bad.jsonl").write_text('{"prompt": "a"}\n{"prompt": 3}\n', encoding="utf-8")
    with pytest.raises(LepInputError, match="bad.jsonl line 2"):
        load_prompts(tmp_path / "bad.jsonl")
    (tmp_path / "ends.jsonl").write_text('{"messages": [{"role": "assistant", "content": "x"}]}\n', encoding="utf-8")
    with pytest.raises(LepInputError, match="must end with the user"):
        load_prompts(tmp_path / "ends.jsonl")


def _cli(args, capsys) -> tuple[int, str]:
    code = main(args)
    err = capsys.readouterr().err.strip()
    return code, err


def test_cli_bad_input_is_exit_2_with_one_line(tiny_mistral, tmp_path, capsys):
    out = str(tmp_path / "run")
    code, err = _cli(["calibrate", "--model", str(tiny_mistral), "--out", out], capsys)
    assert code == 2 and len(err.splitlines()) == 1 and "--original" in err
    code, err = _cli(["calibrate", "--model", str(tiny_mistral), "--chat", "x.jsonl", "--heldout-prompts", "p.txt",
                      "--out", out], capsys)
    assert code == 2 and len(err.splitlines()) == 1 and "--heldout-prompts needs --original" in err
    bad = tmp_path / "chat.jsonl"
    bad.write_text('{"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "yo"}]}\n{oops\n')
    code, err = _cli(["calibrate", "--model", str(tiny_mistral), "--chat", str(bad), "--out", out, "--device", "cpu"], capsys)
    assert code == 2 and len(err.splitlines()) == 1 and "chat.jsonl line 2: not valid JSON" in err
    blank = tmp_path / "blank.txt"
    blank.write_text("\n\n")
    code, err = _cli(["calibrate", "--model", str(tiny_mistral), "--original", str(tiny_mistral), "--prompts", str(blank),
                      "--out", str(tmp_path / "run2"), "--answers", str(tmp_path / "ans")], capsys)
    assert code == 2 and "no usable prompts" in err
    assert json.loads((tmp_path / "run2" / "status.json").read_text())["state"] == "failed"


def test_stopped_answering_keeps_answers_and_resumes(demo_model, prompt_file, answers, tmp_path):
    folder = tmp_path / "data" / "partial"
    prompts = load_prompts(prompt_file)
    calls = []
    result = answer_prompts(str(demo_model), prompts, folder, MAX_NEW, should_stop=lambda: len(calls) >= 2,
                            progress=lambda done, total: calls.append(done))
    assert result["state"] == "stopped" and result["answered"] == 2
    assert not (folder / CONVERSATIONS).exists() and not (folder / "lep.json").exists()  # nothing looks whole
    assert len((folder / PARTIAL).read_text().splitlines()) == 2
    # a crash mid-write leaves a cut line: it is answered again, the others are kept
    with open(folder / PARTIAL, "a") as f:
        f.write('{"key": "cut')
    log = []
    result = answer_prompts(str(demo_model), prompts, folder, MAX_NEW, log=log.append)
    assert result["state"] == "finished" and result["conversations"] == len(PROMPTS)
    assert any(f"2 of {len(PROMPTS)} prompts already answered" in line for line in log)
    assert sum(line.startswith("answered") for line in log) == len(PROMPTS) - 2
    assert conversations(folder) == conversations(answers)  # same as the straight run, in prompt order
    with pytest.raises(LepInputError, match="another model or prompt set"):
        answer_prompts(str(demo_model), prompts[:2], folder, MAX_NEW)


def test_too_long_conversations_are_counted_in_status_and_manifest(tiny_mistral, answers, tmp_path):
    from lep_core.calibration.run import calibrate
    from tests.calibration.conftest import calib_options

    chat = tmp_path / "chat.jsonl"
    lines = (answers / CONVERSATIONS).read_text(encoding="utf-8").splitlines()
    long = {"messages": [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "word " * 400}]}
    chat.write_text("\n".join([*lines, json.dumps(long)]) + "\n", encoding="utf-8")
    run = tmp_path / "run"
    result = calibrate(calib_options(tiny_mistral, run, chat=[str(chat)], steps=2, seq_len=200), score=False)
    assert result["data"]["skipped_too_long"] == 1 and result["data"]["conversations"] == len(lines)
    assert json.loads((run / "status.json").read_text())["data"]["skipped_too_long"] == 1
    assert json.loads((run / "final" / "lep.json").read_text())["metrics"]["data"]["skipped_too_long"] == 1
    assert chat.read_text(encoding="utf-8").count("\n") == len(lines) + 1  # the user's file is untouched
