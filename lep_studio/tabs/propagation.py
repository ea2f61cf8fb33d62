"""Propagation tab (design §6.4): base + instruct model(s) + adapted base -> adapted instruct model(s).

Lays out the inputs, checks them at once (lep_core.propagation.propagate.preflight), then runs the propagation
as a background job: a one-step recipe (lep_core/recipes/job.py), so it shows its progress, can be stopped,
survives a reload and leaves a recipe that replays it. When it finishes, the report comes back as a table and
a chart of held-out error per mode, and the result path is ready for the Compare tab.
"""

from __future__ import annotations

from pathlib import Path

import gradio as gr
import pandas as pd
import plotly.graph_objects as go

from lep_core.errors import LepInputError
from lep_core.propagation.modes import DEFAULT_MODE, Mode, parse_mode
from lep_core.propagation.options import PropagateOptions
from lep_core.propagation.propagate import preflight, read_result
from lep_core.recipes import job as recipe_job
from lep_core.recipes.lineage import recipe_path
from lep_core.recipes.spec import Recipe, Step, load_recipe
from lep_core.workspace.jobs import ACTIVE
from lep_studio.context import AppContext
from lep_studio.i18n import L, t
from lep_studio.job_controls import poll_timer, start_recipe_job, wire_recipe_job
from lep_studio.recipe_view import steps_html
from lep_studio.widgets import corpus_choices, guarded, neutral, number, output_dir, text_files

COLUMNS = {"target": "instruct", "mode": "mode", "side": "side", "fit_rows": "fit rows", "fit_residual": "fit residual",
           "heldout_rel_error": "held-out error", "heldout_cosine": "held-out cosine", "seconds": "seconds"}


def report_rows(result: dict) -> list[dict]:
    """Table rows for one or several targets: the mode comparison when asked for, else the fitted sides."""
    reports = result.get("reports") or [result]
    rows = []
    for rep in reports:
        if rep.get("mode_comparison"):
            rows += [{"target": rep["instruct"], **r} for r in rep["mode_comparison"]]
        else:
            rows += [{"target": rep["instruct"], "mode": rep["mode"], "side": side, **vals}
                     for side, vals in rep["sides"].items()]
    return rows


def report_frame(rows: list[dict]) -> pd.DataFrame:
    frame = pd.DataFrame(rows).reindex(columns=list(COLUMNS)).rename(columns=COLUMNS)
    return frame.round({"fit residual": 6, "held-out error": 6, "held-out cosine": 6, "seconds": 2})


def chart(rows: list[dict]) -> go.Figure:
    """Held-out relative error per mode (lower is better), one bar group per side."""
    fig = go.Figure()
    for side in dict.fromkeys(r["side"] for r in rows):
        part = [r for r in rows if r["side"] == side]
        fig.add_bar(name=side, x=[f"{r['mode']}<br>{r['target']}" if len({p['target'] for p in rows}) > 1 else r["mode"]
                                  for r in part],
                    y=[r["heldout_rel_error"] for r in part],
                    text=[f"{r['heldout_rel_error']:.3g}" if r["heldout_rel_error"] is not None else "–" for r in part],
                    textposition="auto")
    fig.update_layout(title=t("chart.heldout_error"), barmode="group", height=320,
                      margin=dict(l=50, r=10, t=40, b=60), yaxis_title=t("chart.heldout_axis"))
    return neutral(fig)


ORIGIN = "propagation"  # recipe runs this tab starts (recipe_job.recipe_runs tells them from the Start tab's)


def job_recipe(opts: PropagateOptions, out_rel: str, workspace: Path) -> Recipe:
    """The propagation as a one-step recipe: what the job runs, and a file that replays it (`lep run`).
    Models inside the workspace are written relative to it, as in an exported recipe."""
    root = workspace.resolve()

    def rel(src: str) -> str:  # a hub id or a relative path stays as given
        path = Path(src).expanduser()
        return recipe_path(path.resolve(), root) if path.is_absolute() else src

    args = {"base": rel(opts.base), "instruct": [rel(i) for i in opts.instruct], "adapted": rel(opts.adapted), "out": out_rel,
            "mode": Mode(opts.mode).value, "ridge": opts.ridge}
    if opts.compare_modes:
        args["compare_modes"] = True
    if opts.corpus:
        args["corpus"] = list(opts.corpus)
    return Recipe(f"propagate-{Path(out_rel).name}", [Step("propagate", args)])


def result_message(result: dict, seconds: float | None) -> str:
    head = result.get("reports", [result])[0]
    count = len(result.get("outputs") or {}) or 1
    err = head.get("heldout_rel_error")
    took = t("propagation.status.took", seconds=f"{seconds:.1f}") if seconds is not None else ""
    name = Path(result["out"]).name
    msg = (t("propagation.status.wrote", name=name, count=count, mode=head["mode"], tokens=f"{head['new_vocab_size']:,}",
             took=took, error=f"{err:.4g}") if err is not None else t("propagation.status.wrote_short", name=name, took=took))
    return msg + t("propagation.status.next")


def _demo_default(choices: list[tuple[str, str]]) -> str | None:
    """The demo model (base and instruct at once, as the design's demo does), else nothing pre-selected."""
    return next((p for label, p in choices if "smollm2" in label), None)


def build(ctx: AppContext) -> None:
    models = ctx.model_choices()
    default = _demo_default(models)
    gr.Markdown(L("propagation.intro"))
    with gr.Row():
        with gr.Column(scale=2):
            base = gr.Dropdown(models, value=default, label=L("propagation.base_model"), allow_custom_value=True, elem_id="prop-base",
                               info=L("propagation.the_model_the_adapted"))
            instruct = gr.Dropdown(models, value=[default] if default else [], multiselect=True, allow_custom_value=True,
                                   label=L("propagation.instruct_model_s"), elem_id="prop-instruct",
                                   info=L("propagation.chat_models_fine_tuned"))
            adapted = gr.Dropdown(models, value=None, label=L("propagation.adapted_base_new_tokenizer"),
                                  info=L("propagation.the_final_model_of"),
                                  allow_custom_value=True, elem_id="prop-adapted")
            with gr.Row():
                mode = gr.Dropdown([m.value for m in Mode], value=DEFAULT_MODE.value, label=L("propagation.mode"), elem_id="prop-mode", info=L("propagation.conversion_is_the_paper"))
                compare = gr.Checkbox(label=L("propagation.compare_all_modes"), value=False, elem_id="prop-compare",
                                      info=L("propagation.also_fit_every_other"))
            mode_help = gr.Markdown(DEFAULT_MODE.help, elem_id="prop-mode-help")
            with gr.Accordion(L("propagation.more_options"), open=False):
                ridge = gr.Number(0.0, label=L("propagation.ridge"), minimum=0,
                                  info=L("propagation.0_plain_least_squares"))
                corpus = gr.Dropdown(corpus_choices(ctx), multiselect=True, label=L("propagation.corpus_occ_conversion_only"),
                                     info=L("propagation.text_whose_token_counts"))
            with gr.Row():
                name = gr.Textbox(label=L("propagation.output_name_workspace_adapted"), value="", elem_id="prop-name", scale=3)
                overwrite = gr.Checkbox(label=L("propagation.overwrite"), value=False, scale=1, min_width=100,
                                        info=L("propagation.replace_a_folder_of"))
            with gr.Row():
                run = gr.Button(L("propagation.propagate"), variant="primary", elem_id="prop-run", scale=3)
                stop = gr.Button(L("propagation.stop"), variant="stop", elem_id="prop-stop", scale=1)
            refresh = gr.Button(L("propagation.refresh_lists"), size="sm")
        with gr.Column(scale=3):
            status = gr.Markdown(elem_id="prop-status", elem_classes="lep-status")
            steps = gr.HTML("", elem_id="prop-steps")
            result_path = gr.Textbox(label=L("propagation.result_open_it_in"), interactive=False, elem_id="prop-result")
            table = gr.Dataframe(pd.DataFrame(columns=list(COLUMNS.values())), label=L("propagation.report"), interactive=False, elem_id="prop-report", elem_classes="lep-table")
            plot = gr.Plot(label=L("propagation.held_out_error_per"), elem_id="prop-chart")
    shown = gr.State(None)  # the propagation job this page shows (its recipe name)
    timer = poll_timer()

    def suggest(adapted_v: str | None, instruct_v: list[str] | None) -> str:
        """The output name the picks suggest, used when the name box is left empty."""
        if not adapted_v:
            return ""
        first = Path(instruct_v[0]).name if instruct_v else "instruct"
        return f"{first}-lep-{Path(adapted_v).name}"

    def show_suggestion(adapted_v: str | None, instruct_v: list[str] | None) -> gr.Textbox:
        """The suggestion goes in the placeholder, never in the value: a pick's answer that arrives late (on a
        busy machine) can then never replace a name the user typed meanwhile."""
        return gr.Textbox(placeholder=suggest(adapted_v, instruct_v))

    def status_of(job: str | None) -> dict | None:
        return recipe_job.read_status(ctx.workspace, job) if job else None

    def view(job: str | None):
        """The job's state, its progress bar and, once it has finished, the report."""
        st = status_of(job)
        if not st:
            return "", "", gr.skip(), gr.skip(), gr.skip()
        spec = recipe_job.job_dir(ctx.workspace, job) / recipe_job.SPEC
        try:
            recipe = load_recipe(spec) if spec.is_file() else None
        except LepInputError:
            recipe = None
        step = (st.get("steps") or [{}])[0]
        out, state = step.get("out") or "", st.get("state")
        bar = steps_html(st, recipe, "prop")
        if state == "finished":
            result = read_result(out)
            if result:
                rows = report_rows(result)
                paths = list((result.get("outputs") or {}).values()) or [result["out"]]
                return result_message(result, step.get("seconds")), bar, "\n".join(paths), report_frame(rows), chart(rows)
            return (t("propagation.status.gone", name=Path(out).name), bar, "",
                    report_frame([]), None)
        if state == "failed":
            text = t("propagation.status.failed", error=st.get("error") or t("status.see_the_log"))
        elif state == "stopped":
            text = "Stopped: nothing was written (an unfinished output is removed). Press **Propagate** to start again."
        elif state in ACTIVE:
            text = t("propagation.status.running", name=Path(out).name,
                     message=step.get("message") or t("status.starting"))
        else:
            text = t("propagation.status.other", job=job, state=state)
        return text, bar, "", report_frame([]), None

    outputs = [status, steps, result_path, table, plot]

    @guarded
    def start(base_v, instruct_v, adapted_v, mode_v, compare_v, ridge_v, corpus_v, name_v, overwrite_v):
        problems = [what for what, v in ((t("propagation.msg.a_base_model"), base_v),
                                         (t("propagation.msg.an_instruct_model"), instruct_v),
                                         (t("propagation.msg.the_adapted_base"), adapted_v)) if not v]
        if problems:
            raise LepInputError(t("propagation.msg.pick_first", what=", ".join(problems)))
        mode_p = parse_mode(mode_v)
        ridge_n = number(ridge_v if ridge_v is not None else 0.0, "ridge", minimum=0, whole=False)
        corpus_p = text_files(ctx, corpus_v) if corpus_v or mode_p.needs_corpus else []
        out = output_dir(ctx, "adapted", name_v or suggest(adapted_v, instruct_v), overwrite_v)
        opts = PropagateOptions(base=base_v, instruct=list(instruct_v), adapted=adapted_v, out=str(out), mode=mode_p,
                                ridge=ridge_n, corpus=corpus_p, compare_modes=bool(compare_v),
                                overwrite=bool(overwrite_v))
        preflight(opts)  # a wrong pick is a message now, not a failed job
        recipe = job_recipe(opts, f"{out.parent.name}/{out.name}", ctx.workspace)
        job = start_recipe_job(ctx.workspace, recipe, bool(overwrite_v), ORIGIN,
                               t("propagation.msg.adapted_is_already_being", name=out.name))
        return (job, *view(job))

    def lists():
        m = ctx.model_choices()
        return gr.Dropdown(choices=m), gr.Dropdown(choices=m), gr.Dropdown(choices=m)

    gr.on([adapted.input, instruct.input], show_suggestion, [adapted, instruct], name, show_progress="hidden")
    mode.change(lambda m: Mode(m).help, mode, mode_help, show_progress="hidden")
    wire_recipe_job(ctx.page_load, ctx.workspace, ORIGIN, timer, view, shown, outputs,
                    (run, start, [base, instruct, adapted, mode, compare, ridge, corpus, name, overwrite]), stop,
                    lambda: t("propagation.msg.what"), lambda: t("propagation.msg.stop_note"))
    refresh.click(lists, None, [base, instruct, adapted])
