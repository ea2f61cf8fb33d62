"""The suite as a background job for the app: `lep eval suite` in a child process, its state in files.

    workspace/evals/.suite-jobs/<name>/status.json   state, done/total items, what runs now, the output folder
    workspace/evals/.suite-jobs/<name>/job.log       the child's output
    workspace/evals/<name>/                          the results, renamed into place when complete

The job folder is hidden (a dot folder) so the Workspace lists only finished results; a reload or a second
tab finds the running job again from these files (lep_core.workspace.jobs).
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from lep_core.errors import LepInputError
from lep_core.evaluation.suite.items import load_suites
from lep_core.evaluation.suite.run import check_models, default_name, read_results
from lep_core.workspace import jobs
from lep_core.workspace.store import check_output_free, kind_dir, list_artifacts

JOBS = ".suite-jobs"
LOG = "job.log"


def jobs_root(workspace: Path) -> Path:
    return kind_dir("eval", workspace) / JOBS


def suite_jobs(workspace: Path) -> list[tuple[Path, dict[str, Any]]]:
    """(job folder, status) of every suite job, newest first."""
    root = jobs_root(workspace)
    found = [(p, read_status(p) or {}) for p in root.iterdir() if p.is_dir()] if root.is_dir() else []
    return sorted(found, key=lambda item: -(item[1].get("started") or 0))


def read_status(folder: Path) -> dict[str, Any] | None:
    """status.json of a suite job, a crashed child reported as failed."""
    return jobs.read_status(folder, "evaluation")


def active_job(workspace: Path) -> Path | None:
    return next((p for p, st in suite_jobs(workspace) if st.get("state") in jobs.ACTIVE), None)


def start(workspace: Path, models: list[str], suites: list[str], name: str | None = None) -> Path:
    """Check the models and suites here (a bad pick is a message at once), then start the job; its folder."""
    running = active_job(workspace)
    if running:
        raise LepInputError(f"an evaluation is already running ({running.name}): wait for it or stop it first")
    load_suites(suites)
    check_models(models)
    name = name or default_name()
    out = check_output_free(kind_dir("eval", workspace) / name)
    folder = jobs_root(workspace) / name
    cmd = [sys.executable, "-m", "lep_core.cli.main", "eval", "suite", "--out", str(out), "--job-dir", str(folder),
           "--suite", *suites]
    for model in models:
        cmd += ["--model", model]
    jobs.spawn(cmd, folder, LOG, "evaluation", out=str(out), models=list(models), suites=list(suites), done=0,
               total=None, note="starting")
    return folder


def stop(folder: Path) -> bool:
    """SIGTERM: the child removes its unfinished output and records "stopped"."""
    return jobs.stop(folder, mark=True)


def result_folders(workspace: Path) -> list[Path]:
    """Eval folders holding suite results, newest first."""
    found = [p for p in list_artifacts("eval", workspace) if read_results(p)]
    return sorted(found, key=lambda p: (p / "results.json").stat().st_mtime, reverse=True)
