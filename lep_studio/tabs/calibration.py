"""Calibration tab: after propagation, teach the adapted model the original model's answers (or a chat dataset).

Start launches `lep calibrate` as a child process in workspace/runs/<name>; like the Training tab, every
view is read back from the run folder (status.json, metrics.jsonl, train.log) on a timer tick and on page
load, with the Training tab's charts. The final model is a run, so the Compare tab lists it.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import gradio as gr

from lep_core.calibration.options import CalibrateOptions
from lep_core.calibration.prompts import load_prompts
from lep_core.calibration.run import SPEC
from lep_core.errors import LepInputError
from lep_core.training import job
from lep_core.training.chat import read_conversations
from lep_core.training.options import TRAIN_PARAMS
from lep_core.workspace.store import KINDS, inside, read_manifest
from lep_studio.context import AppContext
from lep_studio.i18n import L, t
from lep_studio.job_controls import (
    command_line,
    job_buttons,
    poll_timer,
    refuse_second,
    wire_job_controls,
)
from lep_studio.tabs.training import active_run, charts, status_text
from lep_studio.widgets import (
    check_model,
    guarded,
    number,
    output_dir,
    save_uploads,
    text_files,
)

MODES = ("self-calibration", "continued tuning")


def is_calibration(run: Path) -> bool:
    """calibration.json, or (just started, before the child wrote it) a job spec with calibration fields."""
    if (run / SPEC).is_file():
        return True
    try:
        spec = json.loads((run / job.CONFIG).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return bool(spec.get("original") or spec.get("chat"))


def calibration_runs(ctx: AppContext) -> list[tuple[str, str]]:
    """(label, path) of the runs made by `lep calibrate`, newest first."""
    return [(r["run"], r["path"]) for r in job.list_runs(ctx.workspace / KINDS["run"]) if is_calibration(Path(r["path"]))]


def chat_choices(ctx: AppContext) -> list[tuple[str, str]]:
    """Chat datasets in the workspace: answer sets in data/ and uploaded .jsonl files."""
    data = sorted((ctx.workspace / KINDS["data"]).glob("*/conversations.jsonl"))
    uploads = sorted((ctx.workspace / KINDS["corpus"]).glob("*.jsonl"))
    return [(f"data · {p.parent.name}", str(p)) for p in data] + [(f"workspace · {p.name}", str(p)) for p in uploads]


def _losses(status: dict) -> str:
    before, after = status.get("loss_before") or {}, status.get("loss_after") or {}
    if not before.get("train"):
        return ""
    text = t("calibration.status.loss_before", value=f"{before['train']:.4f}")
    if after.get("train") is not None:
        text += t("calibration.status.after", value=f"{after['train']:.4f}")
    if before.get("val") is not None:
        change = f"{before['val']:.4f}" + (f" → {after['val']:.4f}" if after.get("val") is not None else "")
        text += t("calibration.status.held_out", change=change)
    return text


def calibration_status(run: Path, status: dict | None) -> str:
    if status and status.get("phase") == "answers" and status.get("state") in job.ACTIVE:
        return t("calibration.status.answering", name=run.name, state=status["state"],
                 answered=status.get("answered", 0), prompts=status.get("prompts", "?"))
    answering = bool(status and status.get("phase") == "answers")
    text = status_text(run, {**status, "final": None} if status else status,
                       t("calibration.status.stopped_answering") if answering else None)
    extra = [line for line in (_losses(status or {}), _skips(status or {})) if line]
    if status and status.get("state") == "finished" and status.get("final"):
        extra.append(bpc_text(run) or t("calibration.status.scoring"))
        extra.append(t("calibration.status.final", final=status["final"], name=run.name))
    return "\n\n".join([text, *extra])


def bpc_text(run: Path) -> str:
    """Bits per character of the original's answers under the model before and after (lower is better), from the
    run's manifest once the job has scored them."""
    metrics = (read_manifest(run) or {}).get("metrics") or {}
    lines = []
    for key, what in (("answer_bpc", t("calibration.status.trained_answers")),
                      ("answer_bpc_heldout", t("calibration.status.heldout_answers"))):
        got = metrics.get(key) or {}
        if not got.get("before") or not got.get("after"):
            continue
        text = t("calibration.status.bpc", what=what, before=f"{got['before']['bits_per_char']:.3f}",
                 after=f"{got['after']['bits_per_char']:.3f}")
        if got.get("original"):
            text += t("calibration.status.bpc_original", value=f"{got['original']['bits_per_char']:.3f}")
        lines.append(text)
    return "\n\n".join(lines)


def _upload_path(upload: Any) -> str:
    return str(getattr(upload, "name", upload))


def _skips(status: dict) -> str:
    data = status.get("data") or {}
    parts = [f"{data[k]} {label}" for k, label in (("skipped_too_long", t("calibration.status.too_long")),
                                                  ("skipped_no_answer", t("calibration.status.no_answer")))
             if data.get(k)]
    return t("calibration.status.skipped", parts=", ".join(parts)) if parts else ""


def build(ctx: AppContext) -> None:
    models = ctx.model_choices()
    adapted_default = next((p for label, p in models if label.startswith("adapted")), models[0][1] if models else None)
    original_default = next((p for label, p in models if "smollm2" in label), None)
    d = CalibrateOptions()
    gr.Markdown(L("calibration.intro"))
    with gr.Row():
        with gr.Column(scale=2):
            mode = gr.Radio(list(MODES), value=MODES[0], label=L("calibration.what_to_train_on"), elem_id="calib-mode")
            model = gr.Dropdown(models, value=adapted_default, label=L("calibration.adapted_model_to_calibrate"),
                                allow_custom_value=True, elem_id="calib-model")
            original = gr.Dropdown(models, value=original_default, label=L("calibration.original_instruct_model_writes"),
                                   allow_custom_value=True, elem_id="calib-original")
            prompts = gr.File(label=L("calibration.prompt_file_txt_json"),
                              file_types=[".txt", ".json", ".jsonl"], height=120, elem_id="calib-prompts")
            chat = gr.Dropdown(chat_choices(ctx), value=None, multiselect=True, label=L("calibration.chat_data_continued_tuning"),
                               elem_id="calib-chat", visible=False)
            chat_upload = gr.File(label=L("calibration.or_upload_chat_jsonl"), file_count="multiple",
                                  file_types=[".jsonl"], height=120, visible=False)
            name = gr.Textbox(label=L("calibration.run_name_workspace_runs"), value="", elem_id="calib-name",
                              placeholder=L("calibration.empty_calib_model_time"))
            with gr.Row():
                steps = gr.Number(d.steps, label=L("calibration.steps"), precision=0, minimum=1, elem_id="calib-steps")
                lr = gr.Number(d.lr, label=L("calibration.learning_rate"), elem_id="calib-lr")
                batch = gr.Number(d.batch_size, label=L("calibration.batch_size"), precision=0, minimum=1, elem_id="calib-batch")
                seq = gr.Number(d.seq_len, label=L("calibration.longest_conversation_tokens"), precision=0, minimum=2,
                                elem_id="calib-seq")
            with gr.Row():
                params = gr.Dropdown(list(TRAIN_PARAMS), value="embeddings", label=L("calibration.train"),
                                     info=L("calibration.lora_adapters_on_attention"),
                                     elem_id="calib-params")
                rank = gr.Number(d.lora_rank, label=L("calibration.lora_rank"), precision=0, minimum=1)
                max_new = gr.Number(d.max_new_tokens, label=L("calibration.max_answer_tokens"), precision=0, minimum=1,
                                    elem_id="calib-max-new")
                device = gr.Dropdown(["auto", "cpu", "cuda"], value="auto", label=L("calibration.device"))
            with gr.Accordion(L("calibration.more_options"), open=False, elem_id="calib-more"):
                heldout = gr.File(label=L("calibration.held_out_prompts_answered"),
                                  file_types=[".txt", ".json", ".jsonl"], height=120, elem_id="calib-heldout")
                with gr.Row():
                    alpha = gr.Number(d.lora_alpha, label=L("calibration.lora_alpha"), minimum=0, elem_id="calib-alpha",
                                      info=L("calibration.the_update_is_scaled"))
                    mlp = gr.Checkbox(d.lora_mlp, label=L("calibration.lora_on_the_mlp"), elem_id="calib-mlp",
                                      info=L("calibration.adapters_on_gate_up"))
            start, stop, resume, command = job_buttons("calib")
        with gr.Column(scale=3):
            current = gr.Dropdown(calibration_runs(ctx), value=None, label=L("calibration.run_shown"), elem_id="calib-run")
            status = gr.Markdown(L("calibration.no_calibration_yet_press"), elem_id="calib-status", elem_classes="lep-status")
            loss_plot = gr.Plot(label=L("calibration.loss"), elem_id="calib-loss")
            with gr.Row():
                lr_plot = gr.Plot(label=L("calibration.learning_rate"), elem_id="calib-lr-plot")
                tps_plot = gr.Plot(label=L("calibration.tokens_s"), elem_id="calib-tps-plot")
            log = gr.Textbox(label=L("calibration.log_last_lines"), lines=8, max_lines=8, interactive=False, elem_id="calib-log",
                             autoscroll=True)
    ctx.ui["calibration.current"] = current  # Workspace "Open" shows a calibration run here
    timer = poll_timer()

    def view(run_path: str | None):
        if not run_path or not Path(run_path).is_dir():
            return t("calibration.status.no_run"), *charts([]), ""
        run = Path(run_path)
        return calibration_status(run, job.read_status(run)), *charts(job.read_metrics(run)), job.log_tail(run, 40)

    outputs = [status, loss_plot, lr_plot, tps_plot, log]

    def on_mode(mode_v):
        self_mode = mode_v == MODES[0]
        return (gr.update(visible=self_mode), gr.update(visible=self_mode), gr.update(visible=not self_mode),
                gr.update(visible=not self_mode), gr.update(visible=self_mode))

    def options_of(mode_v, model_v, original_v, prompts_v, chat_v, upload_v, name_v, steps_v, lr_v, batch_v, seq_v,
                   params_v, rank_v, max_new_v, device_v, heldout_v, alpha_v, mlp_v) -> dict:
        """Every field checked, uploads read, and only then the uploads copied into the workspace."""
        check_model(model_v, t("calibration.what.adapted_model"))
        run_name = (name_v or "").strip() or f"calib-{Path(model_v).name}-{time.strftime('%Y%m%d-%H%M%S')}"
        out = output_dir(ctx, "run", run_name, overwrite=False)
        opts = CalibrateOptions(model=model_v, out=str(out), steps=number(steps_v, "steps", 1),
                                lr=number(lr_v, "learning rate", whole=False), batch_size=number(batch_v, "batch size", 1),
                                seq_len=number(seq_v, "longest conversation", 2), train_params=params_v,
                                lora_rank=number(rank_v, "LoRA rank", 1), max_new_tokens=number(max_new_v, "max answer tokens", 1),
                                lora_alpha=number(alpha_v, "LoRA alpha", whole=False), lora_mlp=bool(mlp_v),
                                device=device_v)
        uploads: list[tuple[str, Any]] = []  # (option, uploaded file) copied in once everything is valid
        if mode_v == MODES[0]:
            opts.original = check_model(original_v, t("calibration.what.original_model"))
            for field_name, upload in (("prompts", prompts_v), ("heldout_prompts", heldout_v)):
                if upload:
                    load_prompts(_upload_path(upload))  # no usable prompts: one line now, not a failed job
                    uploads.append((field_name, upload))
            opts.answers = str(ctx.workspace / KINDS["data"] / f"{run_name}-answers")
        else:
            picked = text_files(ctx, chat_v, "chat data") if chat_v else []
            if not picked and not upload_v:
                raise LepInputError(t("calibration.msg.no_chat_data_picked"))
            opts.chat = [*picked, *(_upload_path(u) for u in upload_v or [])]  # the uploads where they are, for now
            read_conversations(opts.chat)  # a malformed line: its file and number, now
        opts.validate()
        for field_name, upload in uploads:
            setattr(opts, field_name, save_uploads(ctx, [upload])[0])
        if mode_v != MODES[0] and upload_v:
            opts.chat = [*picked, *save_uploads(ctx, upload_v)]
        return {k: v for k, v in opts.to_dict().items() if k not in ("corpus", "data")}

    @guarded
    def on_start(*values):
        refuse_second(active_run(ctx))
        opts = options_of(*values)
        started = job.start_job(opts, command="calibrate")
        return gr.Dropdown(choices=calibration_runs(ctx), value=opts["out"]), command_line(started), *view(opts["out"])

    @guarded
    def on_resume(run_path):
        if not run_path:
            raise LepInputError(t("calibration.msg.pick_a_stopped_calibration"))
        refuse_second(active_run(ctx))
        run = inside(run_path, ctx.workspace / KINDS["run"])  # a typed path elsewhere is refused, as in Training
        if not (run / SPEC).is_file():
            raise LepInputError(t("calibration.msg.is_not_a_calibration_run", run_path=run_path))
        if (job.read_status(run) or {}).get("state") == "finished":
            raise LepInputError(t("calibration.msg.has_finished_to_train", name=run.name))
        spec = json.loads((run / SPEC).read_text(encoding="utf-8"))
        started = job.start_job({"model": spec["model"], "out": str(run)}, resume=True, command="calibrate")
        return command_line(started), *view(run_path)

    def on_load():
        choices = calibration_runs(ctx)
        busy = active_run(ctx)
        pick = busy if busy in [p for _, p in choices] else (choices[0][1] if choices else None)
        return gr.Dropdown(choices=choices, value=pick), *view(pick)

    inputs = [mode, model, original, prompts, chat, chat_upload, name, steps, lr, batch, seq, params, rank, max_new, device,
              heldout, alpha, mlp]
    mode.change(on_mode, mode, [original, prompts, chat, chat_upload, heldout])
    wire_job_controls(current=current, command=command, outputs=outputs, buttons=(start, stop, resume), timer=timer,
                      inputs=inputs, on_start=on_start, on_resume=on_resume, on_load=on_load, view=view, page_load=ctx.page_load,
                      stopping_note=lambda: t("calibration.msg.stopping"))
