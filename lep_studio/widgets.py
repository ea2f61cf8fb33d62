"""Helpers shared by the tabs: workspace choices, a tokenizer cache, uploads, names and readable errors."""

from __future__ import annotations

import functools
import math
import re
import shutil
from pathlib import Path
from typing import Any, Callable

import gradio as gr

from lep_core.errors import LepInputError
from lep_core.sources.loading import Source, first_line, load_tokenizer, resolve
from lep_core.workspace.fields import MAX_CHARS, NAME, control_at
from lep_core.workspace.store import KINDS, atomic_file, inside
from lep_studio.context import AppContext
from lep_studio.i18n import t

ASSETS = Path(__file__).resolve().parent.parent / "assets"


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
        with atomic_file(dest) as tmp:  # whole or absent; a file that appeared meanwhile is refused, not replaced
            shutil.copyfile(src, tmp)
        saved.append(str(dest))
    return saved


NEUTRAL_AXIS = {"gridcolor": "rgba(128,128,128,0.25)", "zerolinecolor": "rgba(128,128,128,0.4)"}


def neutral_layout(**layout: Any) -> dict[str, Any]:
    """A plotly layout legible in the light and the dark theme (no white card, grey text and grid), as one dict:
    plotly validates each update_layout call anew, and a figure built in one go costs 6 ms instead of 50."""
    out = {"paper_bgcolor": "rgba(0,0,0,0)", "plot_bgcolor": "rgba(0,0,0,0)", "font_color": "#8a8f98", **layout}
    for axis in ("xaxis", "yaxis"):
        out[axis] = {**NEUTRAL_AXIS, **out.get(axis, {})}
    return out


def neutral(fig: Any) -> Any:
    """neutral_layout() applied to a figure already built (its axes all get the grey grid)."""
    fig.update_layout(paper_bgcolor="rgba(0,0,0,0)", plot_bgcolor="rgba(0,0,0,0)", font_color="#8a8f98")
    fig.update_xaxes(**NEUTRAL_AXIS)
    fig.update_yaxes(**NEUTRAL_AXIS)
    return fig


def number(value: Any, label: str, minimum: float | None = None, maximum: float | None = None,
           whole: bool = True) -> Any:
    """A form number as int/float, or one readable line naming the field (a cleared field arrives as None)."""
    if value is None or (isinstance(value, str) and not value.strip()):
        raise LepInputError(t("widgets.msg.is_empty_enter_a", label=label))
    try:
        parsed = float(value)
    except (TypeError, ValueError):
        raise LepInputError(t("widgets.msg.must_be_a_number", label=label, value=value)) from None
    if not math.isfinite(parsed):
        raise LepInputError(t("widgets.msg.must_be_a_finite", label=label, value=value))
    if whole and parsed != int(parsed):
        raise LepInputError(t("widgets.msg.must_be_a_whole", label=label, value=value))
    if minimum is not None and parsed < minimum:
        raise LepInputError(t("widgets.msg.must_be_at_least", label=label, minimum=minimum, parsed=parsed))
    if maximum is not None and parsed > maximum:
        raise LepInputError(t("widgets.msg.must_be_at_most", label=label, maximum=maximum, parsed=parsed))
    return int(parsed) if whole else parsed


def field(value: Any, label: str) -> str:
    """The value of a path or name field of any tab, stripped: the one check every tab's fields go through
    (lep_core.workspace.fields, in the page's language). Raises LepInputError for a control character (a NUL byte, a
    line break) or a value longer than any path; '' for an empty field (the caller says what to pick)."""
    text = "" if value is None else str(value).strip()
    found = control_at(text)
    if found is not None:
        pos, ch = found
        what = t("widgets.msg.nul_byte") if ch == "\x00" else t("widgets.msg.control_char", ch=repr(ch))
        raise LepInputError(t("widgets.msg.field_has_control", label=label, value=repr(text), what=what, pos=pos))
    if len(text) > MAX_CHARS:
        raise LepInputError(t("widgets.msg.field_too_long", label=label, n=len(text), most=MAX_CHARS))
    return text


def text_files(ctx: AppContext, paths: list[str] | str | None, label: str = "corpus") -> list[str]:
    """Text the app may read: files in the workspace or the bundled assets; anything else is refused."""
    given = [paths] if isinstance(paths, str) else paths or []
    chosen = [p for p in (field(p, label) for p in given) if p]
    if not chosen:
        raise LepInputError(t("widgets.msg.no_picked_choose_demo", label=label))
    out = []
    for p in chosen:
        try:
            path = inside(p, ctx.workspace, ASSETS)
        except LepInputError:
            raise LepInputError(t("widgets.msg.is_outside_the_workspace", label=label, p=p)) from None
        if not path.exists():
            raise LepInputError(t("widgets.msg.does_not_exist_pick", label=label, p=p))
        out.append(str(path))
    return out


def check_model(src: str | None, what: str | None = None) -> str:
    """A model source worth starting a job on: a hub id, a .gguf file, or a folder with config.json.
    what: the field's name in the page's language (default: "model")."""
    what = what or t("widgets.what.model")
    if not src or not str(src).strip():
        raise LepInputError(t("widgets.msg.pick_a_first", what=what))
    source = resolve(src, what)
    if not source.is_hub and not source.gguf_file and not (Path(source.location) / "config.json").is_file():
        raise LepInputError(t("widgets.msg.is_not_a_folder", src=src, what=what))
    return str(src)


def output_dir(ctx: AppContext, kind: str, name: str, overwrite: bool) -> Path:
    """workspace/<kind folder>/<name>, refusing bad names and (without `overwrite`) existing folders."""
    name = field(name, t("widgets.output_name"))
    if not NAME.match(name):
        raise LepInputError(t("widgets.msg.output_name_is_not", name=name))
    out = inside(ctx.workspace / KINDS[kind] / name, ctx.workspace)
    if out.exists() and not overwrite:
        raise LepInputError(t("widgets.msg.already_exists_in_the", kind=KINDS[kind], name=name))
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


def normalised_line(changes: Any) -> str:
    """One translated line saying what reading rewrote into the one text form (lep_core.corpus.text), from a
    TextChanges or its as_dict(); '' when nothing was."""
    counts = changes if isinstance(changes, dict) else changes.as_dict()
    parts = ([t("text.nfc", n=counts["nfc"])] if counts.get("nfc") else []) + \
        ([t("text.line_ends", n=counts["line_ends"])] if counts.get("line_ends") else []) + \
        ([t("text.bom", n=counts["bom"])] if counts.get("bom") else [])
    return t("text.normalised", parts="; ".join(parts)) if parts else ""


def message(exc: BaseException) -> str:
    """One readable line for any error: ours verbatim, others with their type."""
    if isinstance(exc, LepInputError):
        return str(exc)
    return f"{type(exc).__name__}: {first_line(exc)}"


def _nul_anywhere(values: Any) -> bool:
    """Does any string among the handler's arguments (or in a list of them) hold a NUL byte?"""
    return any(isinstance(v, str) and "\x00" in v or isinstance(v, (list, tuple)) and _nul_anywhere(v) for v in values)


def guarded(fn: Callable) -> Callable:
    """Run an event handler; errors reach the user as a readable toast, never as a stack trace.

    Fields are checked one by one, with their labels, where they are read (`field`, lep_core.workspace.fields); a NUL
    byte in a field that is not (the file system rejects one with "ValueError: embedded null byte") is still
    one line: any other error of a handler given a NUL byte is reported as that."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except gr.Error:
            raise
        except Exception as exc:  # noqa: BLE001 - every error becomes one readable line
            if not isinstance(exc, LepInputError) and (_nul_anywhere(args) or _nul_anywhere(kwargs.values())):
                exc = LepInputError(t("widgets.msg.nul_in_a_field"))
            raise gr.Error(message(exc), print_exception=not isinstance(exc, LepInputError)) from exc

    return wrapper
