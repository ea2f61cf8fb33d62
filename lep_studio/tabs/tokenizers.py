"""Tokenizers tab: how one or more tokenizers split a text — coloured pieces, a stats table and a chart."""

from __future__ import annotations

import threading
from pathlib import Path

import gradio as gr
import pandas as pd
import plotly.graph_objects as go

from lep_core.corpus.reading import read_file
from lep_core.corpus.text import TextChanges, prepared
from lep_core.tokenizer.analysis import compare, pieces
from lep_studio.context import AppContext
from lep_studio.i18n import L, t
from lep_studio.widgets import (
    ASSETS,
    cached_tokenizer,
    corpus_choices,
    label_of,
    message,
    neutral_layout,
    normalised_line,
    tokenizer_choices,
)

MAX_SHOWN = 4  # tokenizers shown as coloured pieces (the table and chart take any number)
MAX_PIECE_CHARS = 4000  # longer texts: pieces of the beginning only, stats of the whole text
MAX_TEXT_CHARS = 50_000  # a picked file is loaded up to this many characters
PASTED = "(typed or pasted text)"
SAMPLES = {"held-out Russian sample": ASSETS / "heldout_ru.txt", "held-out English sample": ASSETS / "heldout_en.txt"}
COLORS = {"a": "#bfdbfe", "b": "#fde68a", "special": "#fca5a5"}
STAT_COLUMNS = {
    "tokenizer": "tokenizer", "vocab_size": "vocab", "chars": "chars", "tokens": "tokens", "words": "words",
    "chars_per_token": "chars/token", "tokens_per_word": "tokens/word", "relative_compression": "× first",
    "roundtrip_errors": "round-trip errors", "unknown_tokens": "unknown",
}


def default_text() -> str:
    path = SAMPLES["held-out Russian sample"]
    return path.read_text(encoding="utf-8")[:2000] if path.is_file() else "Привет! Как дела? Это пример русского текста."


def default_pick(ctx: AppContext) -> list[str]:
    """The first model (the original) and the first tokenizer made from it: "× first" compares to the original."""
    models, toks = ctx.model_choices(), ctx.choices("tokenizer")
    return [c[1] for c in models[:1] + toks[:1]]


def highlighted(tokenizer, text: str, show_ids: bool, show_space: bool) -> list[tuple[str, str]]:
    """(segment, label) pairs; neighbours alternate labels a/b so they never merge, specials get 'special'."""
    out = []
    for i, piece in enumerate(pieces(tokenizer, text)):
        shown = piece.text.replace(" ", "·").replace("\n", "↵\n") if show_space else piece.text
        if show_ids:
            label = " ".join(map(str, piece.ids))
        else:
            label = "special" if piece.special else "ab"[i % 2]
        out.append((shown, label))
    return out


def id_colors(segments: list[tuple[str, str]]) -> dict[str, str]:
    """With ids as labels: alternate the two colours by position (first occurrence of each label wins)."""
    colors: dict[str, str] = {}
    for i, (_, label) in enumerate(segments):
        colors.setdefault(label, COLORS["ab"[i % 2]])
    return colors


def chart(rows: list[dict]) -> go.Figure:
    """Chars/token per tokenizer, built in one go (widgets.neutral_layout): it is drawn on every page load."""
    bar = {"type": "bar", "x": [r["tokenizer"] for r in rows], "y": [r["chars_per_token"] for r in rows],
           "text": [f"{r['chars_per_token']:.2f}" for r in rows], "textposition": "auto", "marker": {"color": "#6366f1"}}
    return go.Figure(data=[bar], layout=neutral_layout(title=t("chart.fewer_tokens"), height=260,
                                                       margin=dict(l=40, r=10, t=40, b=40),
                                                       yaxis={"title": t("chart.chars_per_token")}))


def stats_frame(rows: list[dict]) -> pd.DataFrame:
    frame = pd.DataFrame(rows).rename(columns=STAT_COLUMNS)[list(STAT_COLUMNS.values())]
    return frame.round({"chars/token": 3, "tokens/word": 3, "× first": 3})


def analyse(ctx: AppContext, selected: list[str] | None, text: str, show_ids: bool, show_space: bool):
    """Everything the tab shows for the selected tokenizers and text; problems go to the status line.

    The text is put in the one form every command reads (lep_core.corpus.text: NFC, LF line ends), so the
    table gives the figures `lep tokenizer stats` gives for the same text; the status line says what changed."""
    selected = [s for s in (selected or []) if s and s.strip()]
    empty = [gr.HighlightedText(visible=False, value=None)] * MAX_SHOWN
    if not selected:
        return [t("tokenizers.pick_one"), None, None, *empty]
    choices = tokenizer_choices(ctx)
    loaded, problems = {}, []
    for src in selected:
        try:
            loaded[label_of(src, choices)] = cached_tokenizer(src)
        except Exception as exc:  # noqa: BLE001 - one bad entry must not hide the others
            problems.append(f"**{label_of(src, choices)}**: {message(exc)}")
    if not loaded or not text:
        return ["\n\n".join(problems) or t("tokenizers.type_text"), None, None, *empty]
    text, changes = prepared(text or "")
    rows = compare(loaded, text)
    shown_text = text[:MAX_PIECE_CHARS]
    boxes = []
    for name, tok in list(loaded.items())[:MAX_SHOWN]:
        segments = highlighted(tok, shown_text, show_ids, show_space)
        colors = id_colors(segments) if show_ids else COLORS
        boxes.append(gr.HighlightedText(value=segments, color_map=colors, label=t("tokenizers.pieces", name=name, n=len(segments)),
                                        visible=True, show_inline_category=show_ids))
    boxes += empty[len(boxes):]
    notes = problems[:] + [line for line in [normalised_line(changes)] if line]
    if len(text) > MAX_PIECE_CHARS:
        notes.append(t("tokenizers.first_chars", shown=MAX_PIECE_CHARS, total=len(text)))
    if len(loaded) > MAX_SHOWN:
        notes.append(t("tokenizers.first_tokenizers", n=MAX_SHOWN))
    return ["\n\n".join(notes), stats_frame(rows), chart(rows), *boxes]


def load_text(source: str) -> str | gr.Textbox:
    """Text of a picked sample or corpus file (the first MAX_TEXT_CHARS characters)."""
    if not source or source == PASTED:
        return gr.Textbox()
    try:
        changes = TextChanges()
        text = read_file(Path(SAMPLES.get(source, source)), changes)[:MAX_TEXT_CHARS]
    except Exception as exc:  # noqa: BLE001 - shown as a toast
        gr.Warning(message(exc))
        return gr.Textbox()
    if changes:  # the box gets the normalised text: say once what reading changed
        gr.Info(normalised_line(changes))
    return text


def _warm(sources: list[str]) -> None:
    """Load the default tokenizers in the background, so the first paint is quick."""
    for src in sources:
        try:
            cached_tokenizer(src)
        except Exception:  # noqa: BLE001 - the tab reports it when the user gets there
            pass


def build(ctx: AppContext) -> None:
    choices = tokenizer_choices(ctx)
    text_sources = [(PASTED, PASTED), *((k, k) for k in SAMPLES), *corpus_choices(ctx)]
    gr.Markdown(L("tokenizers.how_does_each_tokenizer"))
    with gr.Row():
        with gr.Column(scale=2, min_width=360):
            picked = gr.Dropdown(choices, value=default_pick(ctx), multiselect=True, allow_custom_value=True,
                                 label=L("tokenizers.tokenizers_workspace_or_type"), elem_id="tok-picked")
            ctx.ui["tokenizers.picked"] = picked  # the Workspace tab's "Open" pre-selects a tokenizer here
            source = gr.Dropdown(text_sources, value=PASTED, label=L("tokenizers.text_from"), elem_id="tok-source")
            text = gr.Textbox(default_text(), lines=8, max_lines=12, label=L("tokenizers.text"), elem_id="tok-text")
            with gr.Row():
                show_ids = gr.Checkbox(label=L("tokenizers.show_ids"), value=False, min_width=90, container=False)
                show_space = gr.Checkbox(label=L("tokenizers.show_spaces"), value=False, min_width=90, container=False)
                refresh = gr.Button(L("tokenizers.list"), size="sm", min_width=60, scale=0)
        with gr.Column(scale=3):
            status = gr.Markdown(elem_classes="lep-status")
            boxes = [gr.HighlightedText(visible=False, show_legend=False, combine_adjacent=False,
                                        elem_classes="lep-pieces", elem_id=f"tok-pieces-{i}") for i in range(MAX_SHOWN)]
    with gr.Row():
        table = gr.Dataframe(label=L("tokenizers.stats_special_tokens_not"),
                             interactive=False, wrap=True, scale=4, elem_id="tok-stats", elem_classes="lep-table",
                             column_widths=["15%", "8%", "7%", "8%", "7%", "12%", "12%", "7%", "12%", "10%"])
        plot = gr.Plot(label=L("tokenizers.chars_token"), scale=1, min_width=240)

    outputs = [status, table, plot, *boxes]
    inputs = [picked, text, show_ids, show_space]
    run = lambda sel, txt, ids, sp: analyse(ctx, sel, txt, ids, sp)  # noqa: E731
    gr.on([c.change for c in inputs], run, inputs, outputs, trigger_mode="always_last", show_progress="hidden")
    ctx.page_load.add(run, inputs, outputs)
    source.change(load_text, source, text)
    relist = lambda: gr.Dropdown(choices=tokenizer_choices(ctx))  # noqa: E731
    gr.on([refresh.click, picked.focus], relist, None, picked, show_progress="hidden")  # new tokenizers show up
    threading.Thread(target=_warm, args=(picked.value or [],), daemon=True).start()
