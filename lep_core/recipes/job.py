"""A recipe as a background job: `lep run` in a child process, its state in workspace/recipes/<name>/status.json.

The status file holds the recipe's state and, per step, its state (pending/running/done/skipped/stopped/failed),
progress, message and seconds, and for the train step its run folder (whose metrics the app charts). The app
starts the job, reads the file back on every poll (so a reload or a second tab re-attaches), and stops it with
SIGTERM: a train step saves a checkpoint, other steps drop their temporary output. Running the recipe again
skips the finished steps and continues the train step from its checkpoint. One run per recipe name and
workspace: a second start attaches to the first, and a second `lep run` is refused.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import re
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from lep_core.errors import LepInputError, LepJobError
from lep_core.recipes.check import check_recipe
from lep_core.recipes.lineage import RECIPES_DIR
from lep_core.recipes.run import Log, run_recipe
from lep_core.recipes.spec import PACKAGE_ROOT, STEP_SPECS, Recipe, resolved_args
from lep_core.workspace import jobs
from lep_core.workspace.store import workspace_root, write_text_atomic

SPEC, LOG, LOCK = "recipe.yaml", "recipe.log", ".lock"
DEMO_RECIPE = PACKAGE_ROOT / "assets" / "recipes" / "demo.yaml"
_start_lock = threading.Lock()


def demo_recipe_path() -> Path:
    """assets/recipes/demo.yaml, or $LEP_DEMO_RECIPE (tests run the demo flow on a tiny model with it)."""
    return Path(os.environ.get("LEP_DEMO_RECIPE") or DEMO_RECIPE)


def job_dir(workspace: str | os.PathLike | None, name: str) -> Path:
    safe = re.sub(r"[^\w.\-]", "_", name).strip("._") or "recipe"
    return workspace_root(workspace) / RECIPES_DIR / safe


def read_status(workspace: str | os.PathLike | None, name: str) -> dict[str, Any] | None:
    return jobs.read_status(job_dir(workspace, name), "recipe")


def recipe_files(workspace: str | os.PathLike | None) -> list[tuple[str, str]]:
    """(label, path) of the shipped recipes (assets/recipes) and the workspace's own (workspace/recipes/*.yaml)."""
    shipped = sorted((PACKAGE_ROOT / "assets" / "recipes").glob("*.yaml"))
    own = sorted((workspace_root(workspace) / RECIPES_DIR).glob("*.y*ml"))
    return [(f"shipped · {p.name}", str(p)) for p in shipped] + [(f"workspace · {p.name}", str(p)) for p in own]


def recipe_runs(workspace: str | os.PathLike | None, origin: str = "start") -> list[dict[str, Any]]:
    """Recipe runs in the workspace started from origin (newest first), each its status.

    origin: "start" for recipes proper (the Start tab, `lep run` in a terminal), or the tab that runs its one
    step as a recipe job (e.g. "propagation"), so each tab re-attaches to its own runs only."""
    folder = workspace_root(workspace) / RECIPES_DIR
    found = [jobs.read_status(d, "recipe") for d in folder.iterdir() if d.is_dir()] if folder.is_dir() else []
    return sorted((s for s in found if s and s.get("name") and s.get("origin", "start") == origin),
                  key=lambda s: s.get("updated") or 0, reverse=True)


# ---------------------------------------------------------------- the `lep run` side

class Tracker:
    """Writes each step's state into status.json; progress at most twice a second, state changes at once."""

    def __init__(self, folder: Path, recipe: Recipe, workspace: Path, spec: str | None):
        self.folder, self.recipe, self.spec, self._last = folder, recipe, spec, 0.0
        old = (jobs.read_status_raw(folder) or {}).get("steps") or []
        self.steps: list[dict[str, Any]] = []
        for index, step in enumerate(recipe.steps):
            args = resolved_args(step, workspace)
            out = args["out"]
            entry = {"kind": step.kind, "out": out, "inputs": {k: args.get(k) for k in STEP_SPECS[step.kind][2]},
                     "state": "pending", "progress": 0.0, "message": "", "seconds": None, "earlier_s": 0.0}
            if step.kind == "train":
                entry["run_dir"] = out
            before = old[index] if index < len(old) else {}
            if before.get("kind") == step.kind and before.get("out") == out:
                # a resumed recipe: keep what the earlier run did, so skipped steps still show their time
                entry["before"] = {"state": before.get("state"), "seconds": before.get("seconds")}
                if before.get("state") in ("stopped", "failed", "running"):
                    entry["earlier_s"] = float(before.get("seconds") or 0.0)
            self.steps.append(entry)

    def begin(self) -> None:
        jobs.write_status(self.folder, state="running", pid=os.getpid(), name=self.recipe.name, recipe=self.spec,
                          steps=self.steps, current=0, error=None, started=jobs.now(), finished=None)

    def report(self, index: int, fields: dict[str, Any]) -> None:
        entry = self.steps[index]
        if fields.get("state") == "skipped" and (entry.get("before") or {}).get("state") == "done":
            fields = {**fields, "state": "done", "seconds": entry["before"]["seconds"], "message": "done in an earlier run"}
        elif "seconds" in fields and fields["seconds"] is not None:
            fields = {**fields, "seconds": round(entry["earlier_s"] + fields["seconds"], 1)}
        entry.update({k: v for k, v in fields.items() if not (k == "progress" and v is None)})
        state_change = "state" in fields
        if state_change or time.monotonic() - self._last >= 0.5:
            self._last = time.monotonic()
            jobs.write_status(self.folder, steps=self.steps, current=index)

    def finish(self, state: str, error: str | None = None) -> None:
        jobs.write_status(self.folder, state=state, error=error, steps=self.steps, finished=jobs.now())


@contextlib.contextmanager
def _hold(folder: Path, name: str) -> Iterator[None]:
    """An exclusive lock for the run's lifetime: a second `lep run` of this recipe here is refused."""
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / LOCK, "a+") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            pid = (jobs.read_status_raw(folder) or {}).get("pid")
            raise LepInputError(f"recipe {name} is already running in this workspace (pid {pid}): "
                                "wait for it, or stop it in the app's Start tab") from None
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _held(folder: Path) -> bool:
    if not (folder / LOCK).is_file():
        return False
    with open(folder / LOCK, "a+") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        fcntl.flock(handle, fcntl.LOCK_UN)
    return False


def run_tracked(recipe: Recipe, workspace: str | os.PathLike | None = None, overwrite: bool = False,
                log: Log = print, spec: str | None = None) -> dict[str, Any]:
    """run_recipe, recorded in workspace/recipes/<name>/status.json (what `lep run` does)."""
    root = workspace_root(workspace)
    folder = job_dir(root, recipe.name)
    with _hold(folder, recipe.name):
        tracker = Tracker(folder, recipe, root, spec)
        tracker.begin()
        try:
            results = run_recipe(recipe, root, overwrite, log, tracker.report)
        except KeyboardInterrupt:
            tracker.finish("stopped")
            raise
        except (LepInputError, LepJobError) as exc:
            tracker.finish("failed", str(exc))
            raise
        except BaseException as exc:
            tracker.finish("failed", f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}")
            raise
        state = "stopped" if results and results[-1]["state"] == "stopped" else "finished"
        tracker.finish(state)
    return {"name": recipe.name, "state": state, "steps": results}


# ---------------------------------------------------------------- the app side

def start(recipe: Recipe, text: str, workspace: str | os.PathLike | None = None, overwrite: bool = False,
          origin: str = "start") -> tuple[dict[str, Any], bool]:
    """Start `lep run` on the recipe as a child process; (status, attached).

    When a run of the same recipe name is going in this workspace (another browser tab, a terminal),
    nothing new starts: its status comes back with attached=True. Every problem of the recipe is reported
    (LepInputError) before anything starts. overwrite: `lep run --overwrite` (steps replace their outputs).
    origin: recorded in the status, see recipe_runs.
    """
    root = workspace_root(workspace)
    folder = job_dir(root, recipe.name)
    with _start_lock:
        status = jobs.read_status(folder, "recipe")
        if (status and status.get("state") in jobs.ACTIVE) or _held(folder):
            return status or {"name": recipe.name, "state": "running"}, True
        problems = check_recipe(recipe, root, overwrite)
        if problems:
            raise LepInputError(f"recipe {recipe.name}: " + "; ".join(problems))
        folder.mkdir(parents=True, exist_ok=True)
        spec = write_text_atomic(folder / SPEC, text)
        cmd = [sys.executable, "-m", "lep_core.cli.main", "run", str(spec), "--workspace", str(root),
               *(["--overwrite"] if overwrite else [])]
        # LEP_JOB unset: the train step then also writes its own train.log (the Training tab shows it)
        return jobs.spawn(cmd, folder, LOG, "recipe", env={"LEP_JOB": ""}, name=recipe.name, recipe=str(spec),
                          exit_code=None, finished=None, origin=origin), False


def stop(workspace: str | os.PathLike | None, name: str) -> bool:
    """SIGTERM to the running recipe (it records "stopped" once the current step has saved what it can)."""
    return jobs.stop(job_dir(workspace, name), mark=True)


def log_tail(workspace: str | os.PathLike | None, name: str, lines: int = 20) -> str:
    return jobs.log_tail(job_dir(workspace, name) / LOG, lines)
