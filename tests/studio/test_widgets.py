"""Shared UI helpers: output names, uploads, the tokenizer cache, and that the whole app builds."""

from __future__ import annotations

import os
import shutil

import gradio as gr
import pytest

from lep_core.errors import LepInputError
from lep_studio.context import AppContext
from lep_studio.widgets import cached_tokenizer, guarded, output_dir, save_uploads


@pytest.fixture
def ctx(tmp_path) -> AppContext:
    return AppContext.create(str(tmp_path / "ws"))


def test_output_dir_refuses_bad_names_and_existing_folders(ctx):
    assert output_dir(ctx, "tokenizer", "ru-3000", False) == ctx.workspace / "tokenizers" / "ru-3000"
    for bad in ("", "../escape", "a/b", ".hidden"):
        with pytest.raises(LepInputError, match="not a plain folder name"):
            output_dir(ctx, "tokenizer", bad, False)
    (ctx.workspace / "tokenizers" / "taken").mkdir()
    with pytest.raises(LepInputError, match="already exists.*overwrite"):
        output_dir(ctx, "tokenizer", "taken", False)
    assert output_dir(ctx, "tokenizer", "taken", True).name == "taken"


def test_uploads_are_copied_never_over_an_existing_file(ctx, tmp_path):
    src = tmp_path / "мой корпус.txt"
    src.write_text("Привет", encoding="utf-8")
    first, second = save_uploads(ctx, [str(src)]), save_uploads(ctx, [str(src)])
    assert first != second
    for path in first + second:
        assert path.startswith(str(ctx.workspace / "corpora"))
        assert open(path, encoding="utf-8").read() == "Привет"


def test_cache_reloads_a_rewritten_tokenizer(ctx, metaspace_bpe_tokenizer, tmp_path):
    folder = tmp_path / "tok"
    shutil.copytree(metaspace_bpe_tokenizer, folder)
    first = cached_tokenizer(str(folder))
    assert cached_tokenizer(str(folder)) is first
    (folder / "tokenizer.json").touch()
    os.utime(folder / "tokenizer.json", (1e9 + 5e8, 2e9))
    assert cached_tokenizer(str(folder)) is not first


def test_guarded_turns_errors_into_one_line():
    def bad():
        raise LepInputError("corpus file not found: x.txt")

    with pytest.raises(gr.Error, match="corpus file not found"):
        guarded(bad)()


def test_app_builds_every_tab(ctx):
    from lep_studio.app import build_app
    from lep_studio.locales import EN
    from lep_studio.tabs import TABS

    demo = build_app(ctx)
    keys = {getattr(b.label, "key", b.label) for b in demo.blocks.values() if isinstance(b, gr.Tab)}
    assert {f"tab.{name}" for name, _ in TABS} <= keys  # translated in the browser (lep_studio/i18n.py)
    assert all(EN[f"tab.{name}"] == label for name, label in TABS)


def test_lep_app_defaults_to_localhost():
    from lep_core.cli.main import build_parser

    args = build_parser().parse_args(["app"])
    assert (args.host, args.port, args.workspace) == ("127.0.0.1", 7860, None)
    args = build_parser().parse_args(["app", "--port", "8000", "--workspace", "w", "--host", "0.0.0.0"])
    assert (args.host, args.port, args.workspace) == ("0.0.0.0", 8000, "w")
