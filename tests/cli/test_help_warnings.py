"""What the help says before a user picks an option that changes generation or a guarantee."""

import pytest

from lep_core.cli.main import main


def _help(capsys, *argv: str) -> str:
    with pytest.raises(SystemExit):
        main([*argv, "--help"])
    return " ".join(capsys.readouterr().out.split())


def test_random_init_says_what_it_does_to_generation(capsys):
    text = _help(capsys, "model", "init")
    assert "random (noise rows: before training the model emits new tokens even in English replies" in text


def test_each_alphabet_states_its_promise(capsys):
    text = _help(capsys, "tokenizer", "extend")
    assert "text without Cyrillic letters keeps its ids" in text and "ASCII text (English, code) keeps its ids" in text
