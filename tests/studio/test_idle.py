"""An idle app costs nothing measurable (issue 29): what a page polls, and how often the queue looks for work.

The real app is built on a fresh workspace. With no job, the only active timer of a page is the one idle watch
(every IDLE_TICK_S, at least 10 s); the tabs' live views start stopped, and the watch starts exactly the view whose
job runs. Gradio's queue, quietened, looks for work every IDLE_POLL_S while nothing happens and every BUSY_POLL_S
right after an event. The CPU figures themselves come from `lep bench app` (docs/benchmarks.md), not from a test.
"""

from __future__ import annotations

import json
import os

import gradio as gr
import pytest

from lep_studio import app as app_module
from lep_studio.app import build_app, quiet_queue
from lep_studio.context import AppContext
from lep_studio.job_controls import IDLE_TICK_S, LIVE_TICK_S


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    ctx = AppContext.create(str(tmp_path_factory.mktemp("ws_idle")))
    return ctx, build_app(ctx)


def timers(demo: gr.Blocks) -> list[gr.Timer]:
    return [b for b in demo.blocks.values() if isinstance(b, gr.Timer)]


def test_an_idle_page_has_one_active_timer_of_at_least_10_s(built):
    ctx, demo = built
    active = [t for t in timers(demo) if t.active]
    assert IDLE_TICK_S >= 10 and [t.value for t in active] == [IDLE_TICK_S]
    views = {id(v.timer) for v in ctx.page_load.live_views}
    # every other timer is a live view's, stopped until its job runs: Start, Training, Propagation, Calibration,
    # the evaluation suite and Export
    assert {id(t) for t in timers(demo) if not t.active} == views and len(views) == 6


def tick_handler(demo: gr.Blocks, timer: gr.Timer):
    return next(fn for fn in demo.fns.values() if any(bid == timer._id and ev == "tick" for bid, ev in fn.targets))


def watch_check(demo: gr.Blocks):
    """The idle watch's tick handler (the one active timer's)."""
    return tick_handler(demo, next(t for t in timers(demo) if t.active))


def draws(demo: gr.Blocks, timer: gr.Timer, elem_id: str) -> bool:
    """Whether the live view of this timer redraws the component with this elem_id."""
    return any(getattr(block, "elem_id", None) == elem_id for block in tick_handler(demo, timer).outputs)


def test_the_watch_starts_only_the_view_whose_job_runs(built):
    ctx, demo = built
    check = watch_check(demo)
    inputs = [getattr(c, "value", None) for c in check.inputs]
    assert all(out is gr.skip() or out == gr.skip() for out in check.fn(*inputs))  # no job: nothing starts
    run = ctx.workspace / "runs" / "busy"
    run.mkdir(parents=True)
    (run / "status.json").write_text(json.dumps({"state": "running", "pid": os.getpid()}), encoding="utf-8")
    try:
        outs = check.fn(*inputs)
    finally:
        (run / "status.json").unlink()
        run.rmdir()
    started = [v.timer for v, out in zip(ctx.page_load.live_views, outs) if isinstance(out, gr.Timer)]
    assert len(started) == 1 and draws(demo, started[0], "train-status")  # the Training tab's view, no other
    out = next(o for o in outs if isinstance(o, gr.Timer))
    assert out.active and out.value == LIVE_TICK_S


def test_the_queue_polls_slowly_when_idle_and_fast_after_an_event(built, monkeypatch):
    _, demo = built
    demo.queue()
    assert quiet_queue(demo)
    queue = demo._queue
    assert queue.progress_update_sleep_when_free == app_module.PROGRESS_POLL_S
    assert queue.sleep_when_free == app_module.IDLE_POLL_S >= 0.1  # nothing queued, no event running
    queue.active_jobs = [[object()]]  # an event being processed
    assert queue.sleep_when_free == app_module.BUSY_POLL_S <= 0.005
    queue.active_jobs = [None]
    assert queue.sleep_when_free == app_module.BUSY_POLL_S  # its follow-up comes within QUIET_AFTER_S
    clock = iter([1e9])
    monkeypatch.setattr(app_module.time, "monotonic", lambda: next(clock))
    assert queue.sleep_when_free == app_module.IDLE_POLL_S  # long after: idle again


def test_bench_reads_a_process_cpu_time_as_the_kernel_counts_it():
    """`lep bench app` reads utime + stime of /proc/PID/stat: for this process, what os.times() says."""
    from lep_core.bench.app import cpu_seconds

    end = os.times().user + 0.3
    while os.times().user < end:  # burn 0.3 s of CPU, so the figure is not just start-up
        pass
    mine, kernel = cpu_seconds(os.getpid()), os.times()
    assert abs(mine - (kernel.user + kernel.system)) <= 0.03  # clock ticks of 10 ms, read a moment apart


def test_a_finished_run_whose_process_still_works_stays_live(tmp_path):
    """Calibration scores its answers after training recorded "finished": the view follows it until the process
    ends (it stopped following at "finished" once, and the scores never showed)."""
    import subprocess
    import sys

    from lep_studio.job_controls import run_is_active

    run = tmp_path / "run"
    run.mkdir()
    done = subprocess.Popen([sys.executable, "-c", "pass"])
    done.wait()
    for pid, live in ((os.getpid(), True), (done.pid, False)):
        (run / "status.json").write_text(json.dumps({"state": "finished", "pid": pid}), encoding="utf-8")
        assert run_is_active(str(run)) is live
    (run / "status.json").write_text(json.dumps({"state": "stopped", "pid": os.getpid()}), encoding="utf-8")
    assert run_is_active(str(run)) is False  # stopped: nothing more will come
    assert run_is_active(None) is False
