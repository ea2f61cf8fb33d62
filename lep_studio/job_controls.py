"""Start / Stop / Resume / live view of a background job, shared by the Training and Calibration tabs.

Each tab supplies how to build its options and how to show a run; the wiring, the one-job-at-a-time rule
and the re-attach on page load live here once.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

import gradio as gr
from gradio.context import Context

from lep_core.errors import LepInputError
from lep_core.training import job
from lep_studio.widgets import guarded


def command_line(started: dict[str, Any]) -> str:
    """The `lep ...` command a started job runs (shown so users can repeat it in a terminal)."""
    return " ".join(["lep", *started["command"][3:]])


def refuse_second(active: str | None) -> None:
    """One job at a time: two on the same cores would each run at a fraction of the speed."""
    if active:
        raise LepInputError(f"a job is already running (runs/{Path(active).name}): stop it first")


def job_buttons(prefix: str) -> tuple[gr.Button, gr.Button, gr.Button, gr.Textbox]:
    """Start / Stop / Resume in one row, and the terminal command under them (elem ids `<prefix>-start`, ...)."""
    with gr.Row():
        start = gr.Button("Start", variant="primary", elem_id=f"{prefix}-start")
        stop = gr.Button("Stop", variant="stop", elem_id=f"{prefix}-stop")
        resume = gr.Button("Resume", elem_id=f"{prefix}-resume")
    command = gr.Textbox(label="Command (the same run from a terminal)", interactive=False, lines=2,
                         elem_id=f"{prefix}-command", buttons=["copy"])
    return start, stop, resume, command


def wire_job_controls(
    *,
    current: gr.Dropdown,
    command: gr.Textbox,
    outputs: list,
    buttons: tuple[gr.Button, gr.Button, gr.Button],
    timer: gr.Timer,
    inputs: list,
    on_start: Callable,
    on_resume: Callable,
    on_load: Callable,
    view: Callable[[str | None], tuple],
    stopping_note: str,
) -> None:
    """Connect start/stop/resume, the run picker, the poll timer and the page-load re-attach."""
    start, stop, resume = buttons

    @guarded
    def on_stop(run_path):
        if not run_path or not job.stop_job(Path(run_path)):
            raise LepInputError("no running job in the run shown: pick a running one in 'run shown'")
        gr.Info(stopping_note)
        return view(run_path)

    start.click(on_start, inputs, [current, command, *outputs])
    stop.click(on_stop, current, outputs)
    resume.click(on_resume, current, [command, *outputs])
    current.input(view, current, outputs, show_progress="hidden")
    timer.tick(view, current, outputs, show_progress="hidden")
    Context.root_block.load(on_load, None, [current, *outputs])
