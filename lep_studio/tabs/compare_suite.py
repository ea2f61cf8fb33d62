"""Compare tab, *Evaluate* section: the evaluation suite on the picked models as a background job.

`lep eval suite` runs in a child process (lep_core.evaluation.suite.job); this page only starts it, stops it
and reads its status and results files, so a reload or a second tab shows the same run. Results: one table
and one chart per task kind, side by side, read from workspace/evals/<name>/results.json.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import gradio as gr
import pandas as pd

from lep_core.errors import LepInputError
from lep_core.evaluation.suite import job
from lep_core.evaluation.suite.items import DEFAULT_SUITES, HIGHER_IS_BETTER, Kind, builtin_suites
from lep_core.evaluation.suite.report import kind_table
from lep_core.evaluation.suite.run import model_label, read_results
from lep_core.workspace.jobs import ACTIVE, files_stamp
from lep_studio.context import AppContext
from lep_studio.i18n import L, t
from lep_studio.job_controls import live_poll, poll_timer
from lep_studio.recipe_view import _bar, _clock
from lep_studio.widgets import guarded, neutral, text_files

TITLES = {Kind.MINIMAL_PAIRS: "Minimal pairs: accuracy, per phenomenon",
          Kind.MULTIPLE_CHOICE: "Multiple choice: accuracy (log-prob per character)",
          Kind.COPY: "Copy: exact match, similarity, chars per generated token",
          Kind.BPC: "Bits per character (lower is better)"}
NOT_CHARTED = ("seconds", "accuracy_by_total_logprob", "chars_per_generated_token", "chars_per_token")


def suite_specs(ctx: AppContext, picked: list[str] | None) -> list[str]:
    """Built-in names as they are; anything else must be a file or folder in the workspace or assets."""
    picked = [p for p in picked or [] if p and str(p).strip()]
    if not picked:
        raise LepInputError(t("compare_suite.msg.no_suite_picked_choose"))
    known = set(builtin_suites())
    return [p if p in known else text_files(ctx, p, "suite")[0] for p in picked]


def result_choices(ctx: AppContext) -> list[tuple[str, str]]:
    return [(p.name, str(p)) for p in job.result_folders(ctx.workspace)]


def frame(results: dict[str, Any] | None, kind: Kind) -> pd.DataFrame:
    if not results:
        return pd.DataFrame(columns=["task", "figure"])
    headers, rows = kind_table(results, kind.value)
    return pd.DataFrame(rows, columns=headers)


def chart(results: dict[str, Any] | None, kind: Kind):
    """Grouped bars: one group per task figure (and phenomenon), one bar per model."""
    import plotly.graph_objects as go

    table = frame(results, kind)
    if table.empty:
        return None
    table = table[~table["figure"].isin(NOT_CHARTED)]
    labels = [f"{t.split('/')[0]} · {f}" if len(set(table["task"])) > 1 else f for t, f in zip(table["task"], table["figure"])]
    fig = go.Figure([go.Bar(name=name, x=labels, y=table[name]) for name in table.columns[2:]])
    fig.update_layout(barmode="group", height=300, margin=dict(l=20, r=20, t=30, b=20),
                      title=dict(text=t("chart.higher_better") if HIGHER_IS_BETTER[kind] else t("chart.lower_better"), font=dict(size=12)), legend=dict(orientation="h"))
    return neutral(fig)


def status_text(folder: Path | None, status: dict[str, Any] | None) -> tuple[str, str]:
    """(a Markdown line, a progress bar) for a suite job."""
    if not folder or not status:
        return "No evaluation has run in this workspace yet: pick the models above and press **Run the suite**.", ""
    state, out = status.get("state"), Path(status.get("out") or folder.name).name
    done, total = status.get("done") or 0, status.get("total")
    started, finished = status.get("started"), status.get("finished")
    elapsed = ((finished or time.time()) - started) if started else None
    fraction = done / total if total else 0.0
    bar = _bar({"state": "running" if state in ACTIVE else "done" if state == "finished" else state,
                "progress": fraction})
    if state in ACTIVE:
        where = t("compare_suite.status.items", done=done, total=total) if total else ""
        return t("compare_suite.status.running", out=out, where=where, note=status.get("note") or t("status.starting"),
                 clock=_clock(elapsed)), bar
    if state == "finished":
        return t("compare_suite.status.finished", clock=_clock(elapsed), out=out), bar
    if state == "stopped":
        return t("compare_suite.status.stopped"), bar
    return t("compare_suite.status.failed", error=status.get("error") or t("status.see_the_log")), bar


def build(ctx: AppContext, original: gr.Dropdown, adapted: gr.Dropdown) -> None:
    """The section, under the Compare tab's other sections; original/adapted are that tab's model pickers."""
    with gr.Accordion(L("compare_suite.evaluate_the_russian_suite"),
                      open=False, elem_id="compare-suite"):
        gr.Markdown(L("compare_suite.intro"))
        with gr.Row():
            extra = gr.Dropdown(ctx.model_choices(), value=[], multiselect=True, label=L("compare_suite.more_models_optional"),
                                info=L("compare_suite.evaluated_with_the_original"), scale=3,
                                elem_id="compare-suite-extra")
            suites = gr.Dropdown(builtin_suites(), value=list(DEFAULT_SUITES), multiselect=True, allow_custom_value=True,
                                 label=L("compare_suite.suites"), info=L("compare_suite.ru_en_or_the"),
                                 scale=2, elem_id="compare-suite-suites")
        with gr.Row():
            run = gr.Button(L("compare_suite.run_the_suite"), variant="primary", elem_id="compare-suite-run")
            stop = gr.Button(L("compare_suite.stop"), variant="stop", elem_id="compare-suite-stop")
        status = gr.Markdown(elem_id="compare-suite-status")
        progress = gr.HTML("", elem_id="compare-suite-progress")
        shown = gr.Dropdown(result_choices(ctx), value=None, label=L("compare_suite.results_shown_workspace_evals"),
                            elem_id="compare-suite-shown")
        rows, tables, plots = [], [], []
        for kind in Kind:  # a row per kind, shown when the results have a task of that kind
            with gr.Row(visible=False) as row:
                rows.append(row)
                tables.append(gr.Dataframe(frame(None, kind), label=TITLES[kind], interactive=False, scale=1,
                                           elem_id=f"compare-suite-table-{kind.value}", elem_classes="lep-table"))
                plots.append(gr.Plot(elem_id=f"compare-suite-plot-{kind.value}", scale=1))
    current = gr.State(None)  # the job folder this page follows
    announced = gr.State(None)  # the finished job whose results were put on screen once (a later pick stays)
    timer = poll_timer()

    def results_view(path: str | None) -> tuple:
        results = read_results(path) if path else None
        kinds = {t["kind"] for t in (results or {}).get("tasks", [])}
        return (*[gr.Row(visible=k.value in kinds) for k in Kind], *[frame(results, k) for k in Kind],
                *[chart(results, k) for k in Kind])

    def view(folder: str | None, shown_once: str | None) -> tuple:
        """Job state and progress (a job started in another tab is followed); a job that has just finished
        puts its results on screen, once."""
        running = job.active_job(ctx.workspace)
        folder = str(running) if running else folder
        st = job.read_status(Path(folder)) if folder else None
        text, bar = status_text(Path(folder) if folder else None, st)
        picker = gr.skip()
        if st and st.get("state") == "finished" and folder != shown_once and read_results(st.get("out") or ""):
            picker, shown_once = gr.Dropdown(choices=result_choices(ctx), value=st["out"]), folder
        return folder, shown_once, text, bar, picker

    @guarded
    def on_run(orig: str | None, adapt: str | None, more: list[str] | None, picked: list[str] | None, shown_once):
        models = list(dict.fromkeys(m for m in [orig, adapt, *(more or [])] if m))
        if not models:
            raise LepInputError(t("compare_suite.msg.no_model_picked_choose"))
        folder = job.start(ctx.workspace, models, suite_specs(ctx, picked))
        gr.Info(t("compare_suite.msg.evaluating_in_the_background", join=', '.join((model_label(m) for m in models))))
        return view(str(folder), shown_once)

    @guarded
    def on_stop(folder: str | None, shown_once):
        if not folder or not job.stop(Path(folder)):
            raise LepInputError(t("compare_suite.msg.no_evaluation_is_running"))
        gr.Info(t("compare_suite.msg.stopping_the_unfinished_results"))
        return view(folder, shown_once)

    def on_load():
        """A fresh page: the running job or the newest one, and the newest results."""
        found = job.suite_jobs(ctx.workspace)
        folder = str(found[0][0]) if found else None
        done_before = folder if found and found[0][1].get("state") not in ACTIVE else None  # not re-announced
        newest = job.result_folders(ctx.workspace)
        picker = gr.Dropdown(choices=result_choices(ctx), value=str(newest[0]) if newest else None)
        return (*view(folder, done_before)[:4], picker)

    def stamp(folder: str | None, shown_once: str | None) -> tuple:
        st = job.read_status(Path(folder)) if folder else None
        clock = int(time.time() // 4) if (st or {}).get("state") in ACTIVE else None  # the elapsed time moves
        return clock, folder, shown_once, files_stamp(folder, job.jobs_root(ctx.workspace))

    def live(folder: str | None, shown_once: str | None) -> bool:
        return job.active_job(ctx.workspace) is not None

    outputs = [current, announced, status, progress, shown]
    watch = live_poll(timer, view, [current, announced], outputs, stamp, live, ctx.page_load)
    watch(run.click(on_run, [original, adapted, extra, suites, announced], outputs))
    watch(stop.click(on_stop, [current, announced], outputs))
    watch(ctx.page_load.add(on_load, None, outputs))
    shown.change(results_view, shown, [*rows, *tables, *plots], show_progress="hidden")
