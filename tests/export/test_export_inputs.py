"""`lep export gguf` bad input: exit 2, one line, nothing left behind; the recipe step checked up front and skipped
when done; the Ollama Modelfile reproduces the chat template."""

from __future__ import annotations

import shutil

import pytest

from lep_core.cli.main import main
from lep_core.errors import LepInputError
from lep_core.export.modelfile import modelfile_text, template_parts
from lep_core.recipes.run import run_recipe
from lep_core.recipes.spec import parse_recipe
from lep_core.sources.loading import load_tokenizer

CONVERSATIONS = [
    [{"role": "user", "content": "Привет!"}],
    [{"role": "system", "content": "Отвечай кратко."}, {"role": "user", "content": "Как дела?"},
     {"role": "assistant", "content": "Хорошо."}, {"role": "user", "content": "А погода?"}],
    [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello!"}, {"role": "user", "content": "Bye"}],
]


def _lep(args) -> int:
    try:
        return main(args)
    except SystemExit as exc:  # argparse's own refusals (an unknown --type) exit from inside main
        return int(exc.code)


def _listing(folder):
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*"))


def test_bad_input_exits_2_with_one_line_and_leaves_nothing(tmp_path, tiny_llama, capsys):
    no_tokenizer = tmp_path / "no-tokenizer"
    shutil.copytree(tiny_llama, no_tokenizer, ignore=shutil.ignore_patterns("tokenizer*", "chat_template*"))
    existing = tmp_path / "exists.gguf"
    existing.write_bytes(b"mine")
    cases = {
        "no tokenizer": (["--model", no_tokenizer, "--out", tmp_path / "a.gguf"], "no tokenizer in"),
        "unknown type": (["--model", tiny_llama, "--out", tmp_path / "b.gguf", "--type", "q3_xx"], "invalid choice"),
        "existing output": (["--model", tiny_llama, "--out", existing], "already exists"),
        "not .gguf": (["--model", tiny_llama, "--out", tmp_path / "c.bin"], "must end in .gguf"),
    }
    before = _listing(tmp_path)
    for name, (args, expected) in cases.items():
        code = _lep(["export", "gguf", *map(str, args)])
        err = capsys.readouterr().err.strip()
        assert code == 2, name
        assert len(err.splitlines()) == 1 and expected in err, (name, err)
    assert _listing(tmp_path) == before
    assert existing.read_bytes() == b"mine"


@pytest.mark.parametrize("family", ["tiny_llama", "tiny_mistral", "demo_model"])
def test_modelfile_template_writes_what_the_chat_template_writes(family, request, tmp_path):
    folder = request.getfixturevalue(family)
    tok = load_tokenizer(folder)
    parts = template_parts(tok)
    for messages in CONVERSATIONS:
        assert parts.render(messages) == tok.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
    text = modelfile_text(folder, "model.gguf")
    assert "FROM ./model.gguf" in text and 'PARAMETER stop "<|im_end|>"' in text
    assert text.count('{{ if eq .Role "') == 3 and "ollama create" in text
    if family == "demo_model":  # SmolLM2 adds its own system prompt when none is given
        assert 'SYSTEM """You are a helpful AI assistant named SmolLM' in text


def test_model_without_chat_template_is_refused(tmp_path, tiny_llama):
    tok = load_tokenizer(tiny_llama)
    tok.chat_template = None
    with pytest.raises(LepInputError, match="no chat template"):
        template_parts(tok)


def test_recipe_export_step_checked_up_front_and_skipped_when_done(adapted_family, export_ws):
    folder = adapted_family("tiny_llama")
    bad = parse_recipe(f"steps:\n  - export: {{model: {folder}, out: exports/x.bin, type: q2}}\n")
    with pytest.raises(LepInputError) as err:
        run_recipe(bad, export_ws, log=lambda _: None)
    assert "unknown type 'q2'" in str(err.value) and "out must end in .gguf" in str(err.value)
    recipe = parse_recipe(f"steps:\n  - export: {{model: {folder}, out: exports/step.gguf, type: q8_0}}\n")
    first = run_recipe(recipe, export_ws, log=lambda _: None)
    assert first[0]["state"] == "done" and (export_ws / "exports" / "step.gguf").is_file()
    assert (export_ws / "exports" / "step.Modelfile").is_file()
    again = run_recipe(recipe, export_ws, log=lambda _: None)
    assert again[0]["state"] == "skipped"
    other = parse_recipe(f"steps:\n  - export: {{model: {folder}, out: exports/step.gguf, type: f16}}\n")
    with pytest.raises(LepInputError, match="made with other settings"):
        run_recipe(other, export_ws, log=lambda _: None)


def test_card_is_written_by_propagation_and_refreshed_by_export(exported_family):
    folder, gguf = exported_family("tiny_llama")
    card = (folder / "README.md").read_text(encoding="utf-8")
    assert card.startswith("---\n") and "## LEP report" in card and "## Tokenizer (extend)" in card
    assert "```yaml" in card and "- propagate:" in card  # the recipe that replays it
    assert gguf.name in card and "ollama create" in card


def test_a_stopped_export_leaves_nothing(tmp_path, tiny_llama):
    """SIGTERM while the converter runs: the child is stopped, its temporary files removed, no output appears."""
    import signal
    import subprocess
    import sys
    import time

    out_dir = tmp_path / "out"
    out_dir.mkdir()
    proc = subprocess.Popen([sys.executable, "-m", "lep_core.cli.main", "export", "gguf", "--model", str(tiny_llama),
                             "--out", str(out_dir / "m.gguf")], stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    while not any(out_dir.iterdir()) and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.05)  # the job spec appears just before the converter starts
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err
    assert list(out_dir.iterdir()) == []
