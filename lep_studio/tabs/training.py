"""Training tab (design §6.3): embedding-only training as a background job, drawn from its files.

Start writes a job spec and launches `lep train` as a child process; every view is re-read from the
run folder (status.json, metrics.jsonl, train.log) on a gr.Timer tick while the job runs and on page load, so a reload
or a second browser tab re-attaches to a running job and closing the browser never pauses it.
"""

from __future__ import annotations

import time
from pathlib import Path

import gradio as gr
import pandas as pd
import plotly.graph_objects as go
from gradio.context import Context

from lep_core.errors import LepInputError
from lep_core.training import job
from lep_core.training.options import (
    OPTIMIZERS,
    PRECISIONS,
    TRAIN_ROWS,
    TrainOptions,
)
from lep_core.workspace.store import KINDS, inside
from lep_studio.context import AppContext
from lep_studio.i18n import L, t
from lep_studio.job_controls import (
    command_line,
    job_buttons,
    poll_timer,
    refuse_second,
    wire_job_controls,
)
from lep_studio.memory_view import memory_markdown, memory_warning
from lep_studio.widgets import (
    check_model,
    corpus_choices,
    guarded,
    neutral_layout,
    number,
    output_dir,
    save_uploads,
    text_files,
)

MAX_POINTS = 2000


def _runs_root(ctx: AppContext) -> Path:
    return ctx.workspace / KINDS["run"]


def _thin(rows: list[dict]) -> list[dict]:
    """At most MAX_POINTS points to draw, always keeping the last one."""
    if len(rows) <= MAX_POINTS:
        return rows
    step = len(rows) // MAX_POINTS + 1
    return rows[::step] + ([rows[-1]] if (len(rows) - 1) % step else [])


def _ema(values: list[float], alpha: float = 0.1) -> list[float]:
    out, acc = [], None
    for v in values:
        acc = v if acc is None else (1 - alpha) * acc + alpha * v
        out.append(acc)
    return out


def _figure(title: str, ytitle: str, traces: list[dict]) -> go.Figure:
    """One chart against the step, built in one go (see widgets.neutral_layout: this is drawn on every poll)."""
    layout = neutral_layout(title=title, height=260, margin=dict(l=50, r=10, t=40, b=40),
                            xaxis={"title": t("chart.step")}, yaxis={"title": ytitle},
                            legend=dict(orientation="h", y=1.15, x=1, xanchor="right"))
    return go.Figure(data=[{"type": "scatter", **trace} for trace in traces], layout=layout)


def charts(rows: list[dict]) -> tuple[go.Figure, go.Figure, go.Figure]:
    """Loss (raw, smoothed, validation), learning rate and tokens/s against the step."""
    rows = _thin(rows)
    steps = [r["step"] for r in rows]
    losses = [r["loss"] for r in rows]
    loss_lines = [{"x": steps, "y": losses, "name": t("chart.train"), "mode": "lines", "opacity": 0.35},
                  {"x": steps, "y": _ema(losses), "name": t("chart.train_smoothed"), "mode": "lines"}]
    val = [r for r in rows if "val_loss" in r]
    if val:
        loss_lines.append({"x": [r["step"] for r in val], "y": [r["val_loss"] for r in val], "name": t("chart.validation"),
                           "mode": "lines+markers"})
    return (_figure(t("chart.loss"), "loss", loss_lines),
            _figure(t("chart.learning_rate"), "lr", [{"x": steps, "y": [r["lr"] for r in rows], "mode": "lines",
                                                      "name": "lr"}]),
            _figure(t("chart.throughput"), t("chart.tokens_per_s"),
                    [{"x": steps, "y": [r["tokens_per_s"] for r in rows], "mode": "lines", "name": "tokens/s"}]))


def _clock(seconds: float | None) -> str:
    if seconds is None:
        return "–"
    seconds = int(seconds)
    return f"{seconds // 3600}:{seconds % 3600 // 60:02d}:{seconds % 60:02d}" if seconds >= 3600 else f"{seconds // 60}:{seconds % 60:02d}"


def status_text(run: Path, status: dict | None, stopped: str | None = None) -> str:
    """The run's status line; `stopped` replaces what a stopped run's Resume does (calibration's answers)."""
    if not status:
        return t("training.status.no_status", name=run.name)
    state, step, total = status.get("state", "?"), status.get("step") or 0, status.get("total") or 0
    pct = min(99, int(100 * step / total)) if total and state != "finished" else 100 if state == "finished" else 0
    parts = [t("training.status.head", name=run.name, state=state, step=step, total=total, pct=pct)]
    if status.get("loss") is not None:
        parts.append(t("training.status.loss", value=f"{status['loss']:.4f}"))
    if status.get("val_loss") is not None:
        parts.append(t("training.status.val", value=f"{status['val_loss']:.4f}"))
    reading, data = status.get("reading"), status.get("data") or {}
    if reading and reading.get("total"):
        parts.append(t("training.status.reading", done=f"{reading['done'] / 2**20:,.0f}",
                       total=f"{reading['total'] / 2**20:,.0f}"))
    parts.append(t("training.status.elapsed", clock=_clock(status.get('elapsed_s'))))
    if state in job.ACTIVE:
        parts.append(t("training.status.eta", clock=_clock(status.get('eta_s'))))
    text = " · ".join(parts)
    if data.get("token_cache"):
        size = {"mb": f"{data['corpus_bytes'] / 2**20:,.1f}", "tokens": f"{data['corpus_tokens']:,}"}
        text += "\n\n" + (t("training.status.cache_reused", **size) if data["token_cache"]["reused"]
                            else t("training.status.cache_built", **size))
    if state == "failed":
        code = t("status.exit_code", code=status["exit_code"]) if status.get("exit_code") else ""
        text += f"\n\n⚠ {status.get('error') or t('status.failed')}{code}"
    if state == "stopped":
        text += "\n\n" + (stopped or t("training.status.stopped"))
    if state == "finished" and status.get("final"):
        text += "\n\n" + t("training.status.final", final=status["final"])
    return text


def runs_table(ctx: AppContext) -> pd.DataFrame:
    rows = job.list_runs(_runs_root(ctx))
    frame = pd.DataFrame([{"run": r["run"], "state": r["state"], "step": f"{r['step'] or 0}/{r['total'] or '?'}",
                           "loss": r["loss"]} for r in rows])
    return frame if not frame.empty else pd.DataFrame(columns=["run", "state", "step", "loss"])


def run_choices(ctx: AppContext) -> list[tuple[str, str]]:
    return [(r["run"], r["path"]) for r in job.list_runs(_runs_root(ctx))]


def active_run(ctx: AppContext) -> str | None:
    return job.active_run(_runs_root(ctx))


def build(ctx: AppContext) -> None:
    models = ctx.model_choices()
    default_model = next((p for label, p in models if "smollm2" in label), models[0][1] if models else None)
    corpora = corpus_choices(ctx)
    d = TrainOptions()
    gr.Markdown(L("training.intro"))
    with gr.Row():
        with gr.Column(scale=2):
            model = gr.Dropdown(models, value=default_model, label=L("training.model"), allow_custom_value=True, elem_id="train-model",
                                info=L("training.usually_the_model_initialised"))
            corpus = gr.Dropdown(corpora, value=[p for _, p in corpora if "/assets/" in p][:6], multiselect=True,
                                 label=L("training.corpus"), elem_id="train-corpus",
                                 info=L("training.russian_text_to_train"))
            upload = gr.File(label=L("training.or_upload_text_files"), file_count="multiple",
                             file_types=[".txt", ".jsonl", ".parquet", ".md"], height=120)
            name = gr.Textbox(label=L("training.run_name_workspace_runs"), value="", elem_id="train-name",
                              placeholder=L("training.empty_model_time"))
            with gr.Row():
                steps = gr.Number(30, label=L("training.steps"), precision=0, minimum=1, info=L("opt.steps"), elem_id="train-steps")
                batch = gr.Number(2, label=L("training.batch_size"), precision=0, minimum=1, info=L("opt.batch_size"), elem_id="train-batch")
                seq = gr.Number(128, label=L("training.sequence_length"), precision=0, minimum=2, info=L("opt.seq_len"), elem_id="train-seq")
                lr = gr.Number(d.lr, label=L("training.learning_rate"), info=L("opt.lr"), elem_id="train-lr")
            with gr.Row():
                device = gr.Dropdown(["auto", "cpu", "cuda"], value="auto", label=L("training.device"), info=L("opt.device"))
                precision = gr.Dropdown(list(PRECISIONS), value="auto", label=L("training.precision"), info=L("opt.precision"))
                optimizer = gr.Dropdown(list(OPTIMIZERS), value="adamw", label=L("training.optimizer"), info=L("opt.optimizer"))
            with gr.Accordion(L("training.more_options"), open=False):
                with gr.Row():
                    rows = gr.Dropdown(list(TRAIN_ROWS), value="all", label=L("training.rows_to_train"), info=L("opt.train_rows"))
                    four_bit = gr.Checkbox(label=L("training.4_bit_body"), value=False, info=L("opt.load_in_4bit"))
                    ckpt = gr.Checkbox(label=L("training.gradient_checkpointing"), value=False, info=L("opt.gradient_checkpointing"))
                with gr.Row():
                    warmup = gr.Number(5, label=L("training.warm_up_steps"), precision=0, minimum=0, info=L("opt.warmup"))
                    accum = gr.Number(1, label=L("training.gradient_accumulation"), precision=0, minimum=1,
                                      info=L("opt.grad_accum"))
                    eval_every = gr.Number(10, label=L("training.validate_every"), precision=0, minimum=0, info=L("opt.eval_every"), elem_id="train-eval-every")
                    save_every = gr.Number(10, label=L("training.checkpoint_every"), precision=0, minimum=0, info=L("opt.save_every"))
                    seed = gr.Number(0, label=L("training.seed"), precision=0, info=L("opt.seed"))
                with gr.Row():
                    head_lr = gr.Textbox("", label=L("training.head_learning_rate"), info=L("opt.head_lr"),
                                         placeholder=L("training.same_as_the_learning"), elem_id="train-head-lr")
                    fit_head = gr.Checkbox(label=L("training.fit_the_head_when"), value=False,
                                           info=L("opt.fit_head"), elem_id="train-fit-head")
            memory = gr.Markdown(elem_id="train-memory")
            start, stop, resume, command = job_buttons("train")
        with gr.Column(scale=3):
            current = gr.Dropdown(run_choices(ctx), value=None, label=L("training.run_shown"), allow_custom_value=False, elem_id="train-run")
            status = gr.Markdown(L("training.no_run_yet_press"), elem_id="train-status", elem_classes="lep-status")
            loss_plot = gr.Plot(label=L("training.loss"), elem_id="train-loss")
            with gr.Row():
                lr_plot = gr.Plot(label=L("training.learning_rate"), elem_id="train-lr-plot")
                tps_plot = gr.Plot(label=L("training.tokens_s"), elem_id="train-tps-plot")
            log = gr.Textbox(label=L("training.log_last_lines"), lines=8, max_lines=8, interactive=False, elem_id="train-log",
                             autoscroll=True)
            runs = gr.Dataframe(runs_table(ctx), label=L("training.runs_in_this_workspace"), interactive=False, elem_id="train-runs")
    timer = poll_timer()
    ctx.ui.update({"training.model": model, "training.current": current, "training.corpus": corpus})  # Workspace "Open"

    def view(run_path: str | None):
        """Everything shown about one run, read back from its files."""
        if not run_path or not Path(run_path).is_dir():
            empty = charts([])
            return t("training.status.no_run"), *empty, "", runs_table(ctx)
        run = Path(run_path)
        st = job.read_status(run)
        return status_text(run, st), *charts(job.read_metrics(run)), job.log_tail(run, 40), runs_table(ctx)

    outputs = [status, loss_plot, lr_plot, tps_plot, log, runs]

    def options_of(model_v, corpus_v, upload_v, name_v, steps_v, batch_v, seq_v, lr_v, device_v, precision_v,
                   optimizer_v, rows_v, four_bit_v, ckpt_v, warmup_v, accum_v, eval_v, save_v, seed_v,
                   head_lr_v="", fit_head_v=False) -> dict:
        picked = text_files(ctx, corpus_v) if corpus_v else []
        if not model_v or not (picked or upload_v):
            raise LepInputError(t("training.msg.pick_a_model_and_corpus") if not model_v and not (picked or upload_v)
                                else t("training.msg.pick_a_model_first") if not model_v
                                else t("training.msg.pick_a_corpus_first"))
        check_model(model_v)
        run_name = (name_v or "").strip() or f"{Path(model_v).name}-{time.strftime('%Y%m%d-%H%M%S')}"
        out = output_dir(ctx, "run", run_name, overwrite=False)
        lr = number(lr_v, "learning rate", whole=False)
        if not lr > 0:
            raise LepInputError(t("training.msg.learning_rate_must_be", lr=lr))
        opts = TrainOptions(model=model_v, corpus=picked or ["(uploads)"], out=str(out),
                            steps=number(steps_v, "steps", 1), batch_size=number(batch_v, "batch size", 1),
                            seq_len=number(seq_v, "sequence length", 2),
                            lr=lr, device=device_v, precision=precision_v,
                            optimizer=optimizer_v, train_rows=rows_v, load_in_4bit=bool(four_bit_v),
                            gradient_checkpointing=bool(ckpt_v), warmup=number(warmup_v, "warm-up steps", 0),
                            grad_accum=number(accum_v, "gradient accumulation", 1),
                            eval_every=number(eval_v, "validate every", 0), save_every=number(save_v, "checkpoint every", 0),
                            seed=number(seed_v, "seed"),
                            head_lr=number(head_lr_v, "head learning rate", whole=False) if str(head_lr_v).strip() else None,
                            fit_head=bool(fit_head_v))
        opts.validate()
        opts.corpus = picked + save_uploads(ctx, upload_v)  # copied into the workspace only once the rest is right
        return opts.to_dict()

    plan_inputs = [model, batch, seq, accum, device, precision, optimizer, four_bit, ckpt]

    def on_plan(model_v, batch_v, seq_v, accum_v, device_v, precision_v, optimizer_v, four_bit_v, ckpt_v) -> str:
        try:
            opts = TrainOptions(model=model_v or "", batch_size=number(batch_v, "batch size", 1),
                                seq_len=number(seq_v, "sequence length", 2), grad_accum=number(accum_v, "gradient accumulation", 1),
                                device=device_v, precision=precision_v, optimizer=optimizer_v,
                                load_in_4bit=bool(four_bit_v), gradient_checkpointing=bool(ckpt_v))
        except LepInputError as exc:
            return t("memory.unavailable", error=exc)
        return memory_markdown(opts)

    for box in plan_inputs:
        box.change(on_plan, plan_inputs, memory, show_progress="hidden")
    ctx.page_load.add(on_plan, plan_inputs, memory, show_progress="hidden")

    @guarded
    def on_start(*values):
        refuse_second(active_run(ctx))
        opts = options_of(*values)
        if warning := memory_warning(TrainOptions.from_dict(opts)):
            gr.Warning(warning)  # started anyway: the estimate can be pessimistic
        started = job.start_job(opts)
        return gr.Dropdown(choices=run_choices(ctx), value=opts["out"]), command_line(started), *view(opts["out"])

    @guarded
    def on_resume(run_path):
        if not run_path:
            raise LepInputError(t("training.msg.pick_a_stopped_run"))
        refuse_second(active_run(ctx))
        run = inside(run_path, _runs_root(ctx))
        if not (run / job.CONFIG).is_file():
            raise LepInputError(t("training.msg.is_not_a_run", run_path=run_path))
        st = job.read_status(run) or {}
        if st.get("state") == "finished":
            raise LepInputError(t("training.msg.has_finished_to_train", name=run.name))
        import json

        opts = json.loads((run / job.CONFIG).read_text(encoding="utf-8"))
        opts = {k: v for k, v in opts.items() if k in TrainOptions.__dataclass_fields__}
        started = job.start_job(opts, resume=True)
        return command_line(started), *view(run_path)

    def on_load():
        """A fresh page: show the running job if any, else the newest run."""
        choices = run_choices(ctx)
        pick = active_run(ctx) or (choices[0][1] if choices else None)
        return gr.Dropdown(choices=choices, value=pick), *view(pick)

    inputs = [model, corpus, upload, name, steps, batch, seq, lr, device, precision, optimizer, rows, four_bit, ckpt,
              warmup, accum, eval_every, save_every, seed, head_lr, fit_head]
    watch = wire_job_controls(current=current, command=command, outputs=outputs, buttons=(start, stop, resume), timer=timer,
                      inputs=inputs, on_start=on_start, on_resume=on_resume, on_load=on_load, view=view, page_load=ctx.page_load,
                      stopping_note=lambda: t("training.msg.stopping"),
                      runs_root=_runs_root(ctx))

    def on_select(run_path):
        """Opening the tab shows a job that started meanwhile (e.g. the Start tab's recipe), else the run shown."""
        pick = active_run(ctx) or run_path
        return gr.Dropdown(choices=run_choices(ctx), value=pick), *view(pick)

    watch(Context.block.select(on_select, current, [current, *outputs], show_progress="hidden"))
