"""`lep bench app`: what the app costs when idle, and how fast a second browser tab fills in while a job trains.

Two measurements of the real app (`lep app` in a child process, on a fresh temporary workspace):

- idle: the server's CPU time (utime + stime of /proc/PID/stat, all its threads) over `seconds`, with no page
  open and then with one page open in Debian's chromium; and how many queue events the page sent meanwhile
  (its polls). Issue 29's target: under 1 % of a core either way, and an idle page polls at most every 10 s.
- second tab: the demo model in the workspace and a CPU training job of it started through lep_core (the
  way the Training tab starts one: a child process, torch's default threads), one page open on it; then
  `tries` times a second tab is opened and timed from `goto` until the Start tab's status line is filled
  in (the first screen) and until the Workspace tab lists the model and the run (the other tabs' data).

Browser parts need playwright (the test extra) and a chromium (`/usr/bin/chromium`, else playwright's own).
"""

from __future__ import annotations

import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

from lep_core.errors import LepInputError

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]
START_TIMEOUT_S = 120
SETTLE_S = 5.0  # after start-up or a page load: the imports and first reads are over before the window opens
ROOT = Path(__file__).resolve().parents[2]


def cpu_seconds(pid: int) -> float:
    """utime + stime of a process (all its threads), in seconds, from /proc/PID/stat (fields 14 and 15)."""
    with open(f"/proc/{pid}/stat", encoding="ascii") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def app_server(workspace: Path, log: Path) -> Iterator[tuple[subprocess.Popen, str]]:
    """`lep app` on workspace at a free port, until the block ends; yields (process, base URL)."""
    port = _free_port()
    cmd = [sys.executable, "-m", "lep_core.cli.main", "app", "--workspace", str(workspace), "--port", str(port)]
    with open(log, "wb") as out:
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, cwd=ROOT,
                                env={**os.environ, "GRADIO_ANALYTICS_ENABLED": "False", "PYTHONUNBUFFERED": "1"})
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + START_TIMEOUT_S
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"the app exited with {proc.returncode}: {log.read_text(errors='replace')[-2000:]}")
            try:
                with urllib.request.urlopen(url + "/", timeout=2) as resp:
                    if resp.status == 200:
                        break
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"the app did not answer on {url} within {START_TIMEOUT_S} s")
            time.sleep(0.5)
        yield proc, url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()


@contextmanager
def chromium() -> Iterator[Any]:
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        raise LepInputError("`lep bench app` drives a browser: install the test extra (pip install -e '.[test]')") from None
    with sync_playwright() as pw:
        exe = {"executable_path": str(CHROMIUM)} if CHROMIUM.exists() else {}
        browser = pw.chromium.launch(headless=True, args=CHROMIUM_ARGS, **exe)
        try:
            yield browser
        finally:
            browser.close()


def _window(pid: int, seconds: float) -> float:
    before = cpu_seconds(pid)
    time.sleep(seconds)
    return cpu_seconds(pid) - before


def _row(case: str, cpu: float, seconds: float, **extra: Any) -> dict[str, Any]:
    return {"case": case, "seconds": seconds, "cpu_s": round(cpu, 3), "cpu_s_per_min": round(cpu * 60 / seconds, 2),
            "core_pct": round(100 * cpu / seconds, 2), **extra}


def _wait_first_screen(page, timeout_ms: int = 60_000) -> None:
    page.wait_for_function("() => (document.querySelector('#start-status')?.innerText || '').trim().length > 0",
                           timeout=timeout_ms)


def idle(seconds: float = 60.0, page: bool = True) -> list[dict[str, Any]]:
    """CPU of an idle server over `seconds`: with no page open, then (page=True) with one open page."""
    with tempfile.TemporaryDirectory(prefix="lep-bench-app-") as tmp:
        ws = Path(tmp) / "workspace"
        ws.mkdir()
        with app_server(ws, Path(tmp) / "app.log") as (proc, url):
            time.sleep(SETTLE_S)
            rows = [_row("no page", _window(proc.pid, seconds), seconds, polls=0)]
            if page:
                with chromium() as browser:
                    tab = browser.new_page(viewport={"width": 1280, "height": 800})
                    polls: list[str] = []
                    tab.goto(url)
                    _wait_first_screen(tab)
                    tab.wait_for_timeout(SETTLE_S * 1000)
                    tab.on("request", lambda r: polls.append(r.url) if "/queue/join" in r.url else None)
                    before = cpu_seconds(proc.pid)
                    tab.wait_for_timeout(seconds * 1000)  # (not time.sleep: playwright delivers events while it waits)
                    cpu = cpu_seconds(proc.pid) - before
                    rows.append(_row("one open page", cpu, seconds, polls=len(polls)))
    return rows


def _workspace_with_demo(root: Path) -> Path:
    """A fresh workspace holding the demo model: copied from the default workspace when it is there."""
    from lep_core.sources.demo import DEMO_MODEL_NAME, demo_model_dir, prepare_demo

    ws = root / "workspace"
    source = demo_model_dir(None)
    if (source / "config.json").is_file():
        shutil.copytree(source, ws / "models" / DEMO_MODEL_NAME)
    else:
        prepare_demo(ws)
    return ws


def _start_training(ws: Path, steps: int) -> Path:
    """A CPU training job of the demo model on the demo corpus, as the Training tab starts one."""
    from lep_core.sources.demo import DEMO_MODEL_NAME
    from lep_core.training.job import start_job
    from lep_core.training.options import TrainOptions

    run = ws / "runs" / "bench-load"
    corpus = sorted(str(p) for p in (ROOT / "assets" / "corpus").glob("*.txt"))
    options = TrainOptions(model=str(ws / "models" / DEMO_MODEL_NAME), corpus=corpus, out=str(run), steps=steps,
                           batch_size=4, seq_len=128, device="cpu", eval_every=0, save_every=0)
    start_job(options.to_dict())
    return run


def _wait_training(run: Path, timeout_s: float = 600) -> dict[str, Any]:
    """Until the job has logged a step (the model loaded, the corpus read: the CPU is now busy training)."""
    from lep_core.training import job

    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        status = job.read_status(run) or {}
        if status.get("state") in ("failed", "stopped", "finished"):
            raise RuntimeError(f"the training job ended early ({status.get('state')}): {job.log_tail(run, 10)}")
        if (status.get("step") or 0) >= 1 or job.read_metrics(run):
            return status
        time.sleep(1)
    raise RuntimeError(f"the training job logged no step within {timeout_s:.0f} s")


def second_tab(tries: int = 5, steps: int = 100_000) -> dict[str, Any]:
    """Seconds from goto to the first screen and to the Workspace tab's list, in a second tab, while training runs."""
    from lep_core.training import job

    with tempfile.TemporaryDirectory(prefix="lep-bench-app-") as tmp:
        ws = _workspace_with_demo(Path(tmp))
        with app_server(ws, Path(tmp) / "app.log") as (proc, url):
            run = _start_training(ws, steps)
            try:
                _wait_training(run)
                job_pid = (job.read_status(run) or {}).get("pid")
                with chromium() as browser:
                    context = browser.new_context(viewport={"width": 1280, "height": 800})
                    first = context.new_page()
                    first.goto(url)
                    _wait_first_screen(first, 120_000)  # a cold first page: imports, first reads
                    screen, listed = [], []
                    for _ in range(tries):
                        second = context.new_page()
                        began = time.monotonic()
                        second.goto(url)
                        _wait_first_screen(second)
                        screen.append(time.monotonic() - began)
                        second.get_by_role("tab", name="Workspace").click()
                        second.locator("#ws-table").filter(has_text="bench-load").filter(
                            has_text="smollm2-135m-instruct").wait_for(timeout=60_000)
                        listed.append(time.monotonic() - began)
                        second.close()
                    context.close()
                alive = job.is_active(run)
                nice, server_nice = _nice(job_pid), _nice(proc.pid)
            finally:
                job.stop_job(run)
                _wait_stopped(run)
    return {"first_screen_s": _summary(screen), "workspace_list_s": _summary(listed), "tries": tries,
            "job_still_training": alive, "job_nice": nice, "server_nice": server_nice}


def _nice(pid: int | None) -> int | None:
    try:
        return os.getpriority(os.PRIO_PROCESS, int(pid)) if pid else None
    except OSError:
        return None


def _wait_stopped(run: Path, timeout_s: float = 60) -> None:
    from lep_core.training import job

    deadline = time.monotonic() + timeout_s
    while job.is_active(run) and time.monotonic() < deadline:
        time.sleep(0.5)


def _summary(values: list[float]) -> dict[str, Any]:
    return {"min": round(min(values), 2), "median": round(statistics.median(values), 2), "max": round(max(values), 2),
            "all": [round(v, 2) for v in values]}


def _load() -> dict[str, float]:
    one, five, fifteen = os.getloadavg()
    return {"1 min": round(one, 2), "5 min": round(five, 2), "15 min": round(fifteen, 2)}


def run(seconds: float = 60.0, tries: int = 5, which: tuple[str, ...] = ("idle", "second_tab")) -> dict[str, Any]:
    """Both measurements (or those named); rows for `lep bench`'s tables, plus the load average around them."""
    out: dict[str, Any] = {"load_before": _load()}
    if "idle" in which:
        out["idle"] = idle(seconds)
    if "second_tab" in which:
        result = second_tab(tries)
        out["second_tab"] = [{"measure": k, **v, "all": ", ".join(map(str, v["all"]))}
                             for k, v in result.items() if isinstance(v, dict)]
        out["second_tab_job"] = {k: v for k, v in result.items() if not isinstance(v, dict)}
    out["load_after"] = _load()
    return out
