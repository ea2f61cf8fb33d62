"""Helpers shared by the tabs: workspace choices, a tokenizer cache, uploads, names and readable errors."""

from __future__ import annotations

import functools
import re
import shutil
from pathlib import Path
from typing import Any, Callable

import gradio as gr

from lep_core.errors import LepInputError
from lep_core.sources import Source, first_line, load_tokenizer, resolve
from lep_core.workspace import KINDS, inside
from lep_studio.context import AppContext

ASSETS = Path(__file__).resolve().parent.parent / "assets"
_NAME = re.compile(r"^[A-Za-z0-9][\w.\-]{0,99}$")


def tokenizer_choices(ctx: AppContext) -> list[tuple[str, str]]:
    """Everything in the workspace that holds a tokenizer: tokenizers first, then models."""
    return [(f"tokenizer · {n}", p) for n, p in ctx.choices("tokenizer")] + ctx.model_choices()


def corpus_choices(ctx: AppContext) -> list[tuple[str, str]]:
    """The demo corpus (assets/corpus) and the files uploaded into workspace/corpora."""
    demo = [(f"demo · {p.name}", str(p)) for p in sorted((ASSETS / "corpus").glob("*.txt"))]
    folder = ctx.workspace / KINDS["corpus"]
    uploaded = sorted(p for p in folder.iterdir() if p.is_file() and not p.name.startswith(".")) if folder.is_dir() else []
    return demo + [(f"workspace · {p.name}", str(p)) for p in uploaded]


def label_of(value: str, choices: list[tuple[str, str]]) -> str:
    """The dropdown label of a path, or a short name for a typed path / hub id."""
    for label, path in choices:
        if path == value:
            return label.split(" · ", 1)[-1]
    return Path(value).name or value


def save_uploads(ctx: AppContext, files: list[Any] | None) -> list[str]:
    """Copy uploaded files into workspace/corpora (never over an existing file); return their paths."""
    folder = ctx.workspace / KINDS["corpus"]
    folder.mkdir(parents=True, exist_ok=True)
    saved = []
    for f in files or []:
        src = Path(getattr(f, "name", f))
        name = re.sub(r"[^\w.\-]", "_", src.name) or "corpus.txt"
        dest, n = folder / name, 1
        while dest.exists():
            dest, n = folder / f"{Path(name).stem}-{n}{Path(name).suffix}", n + 1
        shutil.copyfile(src, dest)
        saved.append(str(dest))
    return saved


def output_dir(ctx: AppContext, kind: str, name: str, overwrite: bool) -> Path:
    """workspace/<kind folder>/<name>, refusing bad names and (without `overwrite`) existing folders."""
    name = (name or "").strip()
    if not _NAME.match(name):
        raise LepInputError(f"output name {name!r} is not a plain folder name: use letters, digits, '-', '_' or '.'")
    out = inside(ctx.workspace / KINDS[kind] / name, ctx.workspace)
    if out.exists() and not overwrite:
        raise LepInputError(f"{KINDS[kind]}/{name} already exists in the workspace: pick another name or tick 'overwrite'")
    return out


@functools.lru_cache(maxsize=16)
def _cached(location: str, gguf_file: str | None, stamp: float):
    return load_tokenizer(Source(location, gguf_file=gguf_file, is_hub=stamp < 0))


def cached_tokenizer(src: str):
    """Load once, reuse on every keystroke; a folder rewritten since (overwrite) is loaded again."""
    source = resolve(src, "tokenizer")
    if source.is_hub:
        return _cached(source.location, None, -1.0)
    folder = Path(source.location)
    stamp = max((p.stat().st_mtime for p in folder.glob("tokenizer*")), default=0.0)
    return _cached(source.location, source.gguf_file, stamp)


def message(exc: BaseException) -> str:
    """One readable line for any error: ours verbatim, others with their type."""
    if isinstance(exc, LepInputError):
        return str(exc)
    return f"{type(exc).__name__}: {first_line(exc)}"


def guarded(fn: Callable) -> Callable:
    """Run an event handler; errors reach the user as a readable toast, never as a stack trace."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except gr.Error:
            raise
        except Exception as exc:  # noqa: BLE001 - every error becomes one readable line
            raise gr.Error(message(exc), print_exception=not isinstance(exc, LepInputError)) from exc

    return wrapper
