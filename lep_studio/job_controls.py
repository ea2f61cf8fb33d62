"""Start / Stop / Resume / live view of a background job: training runs (Training, Calibration tabs) and a tab's
one-step recipe jobs (Propagation, Export tabs).

Each tab supplies how to build its options and how to show a run; the wiring, the one-job-at-a-time rule
and the re-attach on page load live here once.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

import gradio as gr

from lep_core.errors import LepInputError
from lep_core.recipes.spec import Recipe
from lep_core.training import job
from lep_core.workspace.jobs import files_stamp, pid_alive
from lep_studio.i18n import L, t
from lep_studio.page_load import LiveView, PageLoad
from lep_studio.widgets import guarded


def command_line(started: dict[str, Any]) -> str:
    """The `lep ...` command a started job runs (shown so users can repeat it in a terminal)."""
    return " ".join(["lep", *started["command"][3:]])


def refuse_second(active: str | None) -> None:
    """One job at a time: two on the same cores would each run at a fraction of the speed."""
    if active:
        raise LepInputError(t("job_controls.msg.a_job_is_already", path=Path(active).name))


def stop_recipe_job(workspace: Path, job: str | None, what: str, note: str) -> None:
    """Stop a tab's one-step recipe job (SIGTERM), or say there is none; `note` tells what a stop leaves."""
    from lep_core.recipes import job as recipe_job

    if not job or not recipe_job.stop(workspace, job):
        raise LepInputError(t("job_controls.msg.no_is_running_here", what=what))
    gr.Info(t("job_controls.msg.stopping", note=note))


def run_is_active(run_path: str | None) -> bool:
    """The run's job is running, or its process is still finishing after it recorded its final state (calibration
    scores the answers after training has finished): its live view keeps following it until the process ends."""
    if not run_path:
        return False
    status = job.read_status(Path(run_path)) or {}
    return status.get("state") in job.ACTIVE or (status.get("state") == "finished" and pid_alive(status.get("pid")))


LIVE_TICK_S = 2.0  # while a job runs: the chart follows it
IDLE_TICK_S = 10.0  # otherwise one timer per page (watch_jobs) only notices a job started elsewhere


def poll_timer(live_s: float = LIVE_TICK_S) -> gr.Timer:
    """A live view's timer: stopped until a job runs (live_poll starts it, watch_jobs wakes it)."""
    return gr.Timer(live_s, active=False)


def job_buttons(prefix: str) -> tuple[gr.Button, gr.Button, gr.Button, gr.Textbox]:
    """Start / Stop / Resume in one row, and the terminal command under them (elem ids `<prefix>-start`, ...)."""
    with gr.Row():
        start = gr.Button(L("job_controls.start"), variant="primary", elem_id=f"{prefix}-start")
        stop = gr.Button(L("job_controls.stop"), variant="stop", elem_id=f"{prefix}-stop")
        resume = gr.Button(L("job_controls.resume"), elem_id=f"{prefix}-resume")
    command = gr.Textbox(label=L("job_controls.command_the_same_run"), interactive=False, lines=2,
                         elem_id=f"{prefix}-command", buttons=["copy"])
    return start, stop, resume, command


def live_poll(timer: gr.Timer, view: Callable, inputs: list, outputs: list, stamp: Callable[..., tuple],
              live: Callable[..., bool], page_load: PageLoad) -> Callable[[Any], None]:
    """The timer ticks only while live(*inputs) (a job runs), and a tick redraws only when stamp(*inputs) changed.

    Ticking costs even when nothing is drawn (a queue event each: at 2 s the three job tabs took about a quarter of
    a core in server and browser), and a training job on a 2-core CPU needs those cycles. Idle, the timer stops;
    the page's one idle timer (watch_jobs, every IDLE_TICK_S) starts it again when live(*inputs) turns true, so a
    job started in another browser tab or a terminal still shows up. Returns watch(event): chain it to every
    event that may start or show a job, so the timer starts at once."""
    seen = gr.State(None)

    def poll(*values):
        args, last = values[:-1], values[-1]
        alive = live(*args)  # asked before reading the files: a job that ends after this gets one more tick
        now = stamp(*args)
        shown = tuple(gr.skip() for _ in outputs) if now == last else tuple(view(*args))
        return (*shown, now, gr.Timer(LIVE_TICK_S, active=alive))

    timer.tick(poll, [*inputs, seen], [*outputs, seen, timer], show_progress="hidden")
    page_load.live_views.append(LiveView(timer, list(inputs), live))

    def watch(event) -> None:
        event.then(poll, [*inputs, seen], [*outputs, seen, timer], show_progress="hidden")

    return watch


def watch_jobs(page_load: PageLoad) -> gr.Timer | None:
    """The page's one idle poll: every IDLE_TICK_S, start the timer of each live view whose job now runs.

    One cheap event per idle page (it reads a few status.json files), instead of one per tab; the views' own
    timers tick only while their job runs. Call once, after every tab is built."""
    views = list(page_load.live_views)
    if not views:
        return None
    sentinel = gr.Timer(IDLE_TICK_S)

    def check(*values):
        out, at = [], 0
        for view in views:
            args = values[at:at + len(view.inputs)]
            at += len(view.inputs)
            out.append(gr.Timer(LIVE_TICK_S, active=True) if view.live(*args) else gr.skip())
        return out[0] if len(out) == 1 else tuple(out)

    sentinel.tick(check, [c for v in views for c in v.inputs], [v.timer for v in views], show_progress="hidden",
                  concurrency_limit=None, api_visibility="undocumented")
    return sentinel


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
    stopping_note: Callable[[], str],
    page_load: PageLoad,
    runs_root: Path | None = None,
) -> Callable[[Any], None]:
    """Connect start/stop/resume, the run picker, the poll timer and the page-load re-attach.

    runs_root: a folder whose listing the view also shows (the runs table), so a new run there redraws it.
    Returns watch(event) for the tab's other events that may show a running job."""
    start, stop, resume = buttons

    @guarded
    def on_stop(run_path):
        if not run_path or not job.stop_job(Path(run_path)):
            raise LepInputError(t("job_controls.msg.no_running_job_in"))
        gr.Info(stopping_note())
        return view(run_path)

    def live(run_path: str | None) -> bool:  # the shown run, or one started elsewhere (its row in the runs table)
        return run_is_active(run_path) or bool(runs_root and job.active_run(runs_root))

    watch = live_poll(timer, view, [current], outputs, lambda run_path: files_stamp(run_path, runs_root), live, page_load)
    watch(start.click(on_start, inputs, [current, command, *outputs]))
    watch(stop.click(on_stop, current, outputs))
    watch(resume.click(on_resume, current, [command, *outputs]))
    watch(current.change(view, current, outputs, show_progress="hidden"))  # picked, or set by Start / Workspace
    watch(page_load.add(on_load, None, [current, *outputs]))
    return watch


def start_recipe_job(workspace: Path, recipe: Recipe, overwrite: bool, origin: str, already: str) -> str:
    """Start a tab's one-step recipe job, or attach to the same one already running (then say `already`);
    returns the job's name, which the tab's `shown` state holds."""
    from lep_core.recipes import job as recipe_job

    _, attached = recipe_job.start(recipe, recipe.to_yaml(), workspace, overwrite, origin)
    if attached:
        gr.Info(already)
    return recipe.name


def wire_recipe_job(page_load: PageLoad, workspace: Path, origin: str, timer: gr.Timer, view: Callable,
                    shown: gr.State, outputs: list, start: tuple[gr.Button, Callable, list], stop: gr.Button,
                    what: Callable[[], str], stop_note: Callable[[], str]) -> None:
    """The live view of a tab's one-step recipe jobs: start (button, handler, inputs), stop, and on page load the
    running job of this `origin` if any, else its newest, so a reload re-attaches and the last report stays."""
    from lep_core.recipes import job as recipe_job
    from lep_studio.recipe_view import latest_job, run_active, run_stamp

    @guarded
    def on_stop(job: str | None):
        stop_recipe_job(workspace, job, what(), stop_note())
        return view(job)

    def on_load():
        job = latest_job(workspace, origin)
        return (job, *view(job))

    def stamp(job: str | None) -> tuple:
        return run_stamp(workspace, job, recipe_job.read_status(workspace, job)) if job else ()

    watch = live_poll(timer, view, [shown], outputs, stamp, lambda job: run_active(workspace, job), page_load)
    button, handler, inputs = start
    watch(button.click(handler, inputs, [shown, *outputs]))
    watch(stop.click(on_stop, shown, outputs))
    watch(page_load.add(on_load, None, [shown, *outputs]))
