"""Compare tab, Evaluate section: did the adaptation work? (`lep bench adaptation` as a table and a chart)."""

from __future__ import annotations

from typing import Any

import gradio as gr

from lep_core.bench.adaptation import tables
from lep_core.errors import LepInputError
from lep_core.evaluation.adaptation import bench_adaptation, read_prompts
from lep_core.evaluation.models import ModelCache
from lep_studio.i18n import L, t
from lep_studio.widgets import neutral, number

HEADERS = ["figure", "original", "adapted"]
# what each figure means, shown beside it, so a newcomer can read the table
MEANING = {
    "bits_per_char_ru": "held-out Russian, lower is better",
    "bits_per_char_en": "held-out English, lower is better",
    "new_vocab_share": "share of written tokens from the new vocabulary",
    "chars_per_generated_token": "higher = fewer generation steps",
    "generated_chars_per_s": "raw speed of the greedy answers",
    "generated_tokens": "tokens written in all answers",
    "russian_answers": "answers mostly in Cyrillic",
    "original_tokens_over_emitted": "generation steps saved on its own Russian answers",
    "emitted_over_canonical": "1.0 = writes as its tokenizer spells",
    "copy_copy_recall": "copy task: share of the line's characters written in order (LCS / length)",
    "copy_exact_copies": "copy task: lines written verbatim",
    "copy_generated_tokens": "copy task: tokens written = generation steps",
    "copy_new_vocab_share": "copy task: share of written tokens from the new vocabulary",
    "copy_original_tokens_over_emitted": "copy task: steps saved (original tokenizer's tokens ÷ tokens written)",
    "copy_emitted_over_canonical": "copy task: 1.0 = writes as its tokenizer spells",
    "copy_generated_chars_per_s": "copy task: generated chars/s",
    "continue_copy_recall": "continue task: share of the given half repeated in order",
    "continue_exact_copies": "continue task: given halves repeated verbatim",
    "continue_generated_tokens": "continue task: tokens written",
    "continue_new_vocab_share": "continue task: share of written tokens from the new vocabulary",
    "continue_original_tokens_over_emitted": "continue task: steps saved",
    "continue_emitted_over_canonical": "continue task: 1.0 = writes as its tokenizer spells",
    "continue_generated_chars_per_s": "continue task: generated chars/s",
}
LINES = 16  # held-out lines per task in the app: about a minute per model and task on a 2-core CPU


def rows_of(result: dict[str, Any]) -> list[list[Any]]:
    def cell(v):
        return round(v, 3) if isinstance(v, float) else ("–" if v is None else v)

    return [[f"{r['figure']} ({MEANING.get(r['figure'], '')})", cell(r["original"]), cell(r["adapted"])]
            for r in tables(result)["adaptation"]]


def chart(result: dict[str, Any]):
    """Adapted over original for the figures where the ratio reads at a glance (1.0 = no change)."""
    import plotly.graph_objects as go

    o, a = result["original"], result["adapted"]
    bars = {f"bits/char {lang}": a["bits_per_char"][lang] / o["bits_per_char"][lang]
            for lang in a["bits_per_char"] if o["bits_per_char"].get(lang)}
    if o["chars_per_generated_token"]:
        bars["chars per generated token"] = a["chars_per_generated_token"] / o["chars_per_generated_token"]
    if a.get("original_tokens_over_emitted"):
        bars["generation steps saved"] = a["original_tokens_over_emitted"]
    for task in result.get("tasks", []):
        if a[task].get("original_tokens_over_emitted"):
            bars[f"{task}: steps saved"] = a[task]["original_tokens_over_emitted"]
        if o[task]["copy_recall"]:
            bars[f"{task}: recall"] = a[task]["copy_recall"] / o[task]["copy_recall"]
    fig = go.Figure(go.Bar(x=list(bars), y=list(bars.values()), text=[f"×{v:.2f}" for v in bars.values()]))
    fig.add_hline(y=1.0, line_dash="dot")
    fig.update_layout(height=300, margin=dict(l=20, r=20, t=30, b=20),
                      title=t("chart.adapted_over_original"))
    return neutral(fig)


def build(original: gr.Dropdown, adapted: gr.Dropdown, cache: ModelCache) -> None:
    """The section's widgets and handler; `original` and `adapted` are the tab's model pickers."""
    gr.Markdown(L("compare_adaptation.did_the_adaptation_work"))
    with gr.Row():
        max_new = gr.Number(64, precision=0, minimum=8, maximum=512, label=L("compare_adaptation.max_new_tokens_per"),
                            elem_id="compare-adapt-max-new")
        lines = gr.Number(LINES, precision=0, minimum=1, maximum=200, label=L("compare_adaptation.lines"),
                          info=L("compare_adaptation.lines_info"), elem_id="compare-adapt-lines")
        canonical = gr.Checkbox(False, label=L("compare.canonical"), info=L("compare.canonical_info"),
                                elem_id="compare-adapt-canonical")
        run = gr.Button(L("compare_adaptation.measure_the_adaptation"), elem_id="compare-adapt-run")
    table = gr.Dataframe(headers=HEADERS, interactive=False, elem_id="compare-adapt-table", wrap=True)
    plot = gr.Plot(elem_id="compare-adapt-plot")
    answers = gr.JSON(label=L("compare_adaptation.first_answers_of_each"), elem_id="compare-adapt-answers")

    def on_run(orig_src, adapted_src, n_new, n_lines, is_canonical, progress=gr.Progress()):
        try:
            if not orig_src or not adapted_src:
                raise LepInputError(t("compare_adaptation.msg.pick_an_original_and"))
            progress(0.0, desc="loading the models")
            n_new, n_lines = number(n_new, "max new tokens", 1), number(n_lines, "held-out lines", 1)
            pair_o, pair_a = cache.get(orig_src), cache.get(adapted_src)
            result = bench_adaptation(pair_o, pair_a, prompts=read_prompts(None), max_new_tokens=n_new,
                                      progress=lambda f, m: progress(f, desc=m), lines=n_lines,
                                      canonical=bool(is_canonical))
        except LepInputError as exc:
            gr.Warning(str(exc))
            return gr.skip(), gr.skip(), gr.skip()
        samples = {role: {"chat": result[role]["sample_answers"],
                          **{task: result[role][task]["samples"] for task in result["tasks"]}}
                   for role in ("original", "adapted")}
        return rows_of(result), chart(result), samples

    run.click(on_run, [original, adapted, max_new, lines, canonical], [table, plot, answers])
