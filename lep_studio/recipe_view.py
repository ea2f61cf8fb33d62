"""How a recipe run looks in the app: the step table, the status line, the models to compare.

Pure functions of the run's status (lep_core/recipes/job.py), so every page that polls draws the same thing.
"""

from __future__ import annotations

import re
import time
from pathlib import Path
from typing import Any

from lep_core.recipes import job as recipe_job
from lep_core.recipes.spec import Recipe
from lep_core.workspace.jobs import ACTIVE, files_stamp
from lep_studio.context import AppContext
from lep_studio.i18n import t

STEP_TEXT = {  # kind -> (what it does: lep_studio/locales.py step.<kind>, the tab that shows its output)
    "extend": ("step.extend", "vocabulary"),
    "train_tokenizer": ("step.train_tokenizer", "vocabulary"),
    "init": ("step.init", "vocabulary"),
    "train": ("step.train", "training"),
    "propagate": ("step.propagate", "propagation"),
    "calibrate": ("step.calibrate", "calibration"),
    "export": ("step.export", "export"),
}
STATE_ICON = {"pending": "·", "running": "▶", "done": "✓", "skipped": "✓", "stopped": "■", "failed": "✗",
              "queued": "…", "stopping": "■"}


def run_active(workspace: Path, name: str | None) -> bool:
    return bool(name) and (recipe_job.read_status(workspace, name) or {}).get("state") in ACTIVE


def latest_job(workspace: Path, origin: str) -> str | None:
    """What a fresh page shows: the running job a tab started (origin) if any, else its newest one."""
    runs = recipe_job.recipe_runs(workspace, origin)
    return next((r["name"] for r in runs if r.get("state") in ACTIVE), runs[0]["name"] if runs else None)


def run_stamp(workspace: Path, name: str, status: dict[str, Any] | None, *more: str | None) -> tuple:
    """What a live view of a recipe run depends on (job_controls.live_poll): the files of its folder and of
    `more` folders, and while it runs a clock that moves every 5 s (each step's time is on screen)."""
    clock = int(time.time() // 5) if (status or {}).get("state") in ACTIVE else None
    return clock, files_stamp(recipe_job.job_dir(workspace, name), *more)


def _clock(seconds: float | None) -> str:
    if seconds is None:
        return "–"
    s = round(seconds)
    return f"{s // 60}:{s % 60:02d}"


def step_line(kind: str, args: dict[str, Any], lang: str | None = None) -> str:
    """What a recipe step does, with its settings, in the page's language (or `lang`)."""
    key, _ = STEP_TEXT.get(kind, ("", ""))
    text = t(key, lang) if key else kind
    try:
        return text.format(**args)
    except (KeyError, IndexError, ValueError):  # a setting left to its default
        return re.sub(r"\{\w+\}\s*", "", text)


def _elapsed(step: dict[str, Any]) -> float | None:
    if step.get("state") == "running" and step.get("started"):
        return float(step.get("earlier_s") or 0) + time.time() - float(step["started"])
    return step.get("seconds")


def _bar(step: dict[str, Any]) -> str:
    state, fraction = step.get("state", "pending"), step.get("progress")
    if state in ("done", "skipped"):
        fraction = 1.0
    pct = max(0.0, min(1.0, float(fraction or 0.0))) * 100
    if state == "running":
        pct = min(pct, 99.0)  # never 100 % while still running
    colour = {"failed": "#d9534f", "stopped": "#999"}.get(state, "#4c8bf5")
    return (f"<div style='background:#e6e6e6;border-radius:4px;height:10px;width:100%;min-width:90px'>"
            f"<div style='background:{colour};width:{pct:.0f}%;height:10px;border-radius:4px'></div></div>"
            f"<small>{pct:.0f} %</small>")


def steps_html(status: dict[str, Any] | None, recipe: Recipe | None, prefix: str = "start") -> str:
    """One row per step: state, what it does, output, progress bar, time (row ids `<prefix>-step-N`)."""
    if status and status.get("steps"):
        steps = status["steps"]
    elif recipe:
        steps = [{"kind": s.kind, "out": s.args.get("out", ""), "state": "pending"} for s in recipe.steps]
    else:
        return ""
    args = {i: s.args for i, s in enumerate(recipe.steps)} if recipe else {}
    rows = []
    for i, step in enumerate(steps):
        state = step.get("state", "pending")
        note = step.get("error") if state == "failed" else step.get("message") or ""
        what = step_line(step["kind"], args.get(i, {})).split(" (")[0] if args.get(i) else ""  # short: the intro has it all
        out = Path(str(step.get("out", ""))).name
        rows.append(
            f"<tr id='{prefix}-step-{i + 1}' data-state='{state}'><td>{i + 1}</td>"
            f"<td><b>{STATE_ICON.get(state, '?')} {state}</b></td><td><b>{step['kind']}</b>{' · ' if what else ''}{_html(what)}"
            f"<br><small>→ <code>{_html(out)}</code> {_html(note)}</small></td>"
            f"<td style='width:140px'>{_bar(step)}</td><td>{_clock(_elapsed(step))}</td></tr>")
    return ("<table class='lep-steps' style='width:100%;font-size:0.9rem'><thead><tr><th>#</th><th>state</th>"
            "<th>step</th><th>progress</th><th>time</th></tr></thead><tbody>" + "".join(rows) + "</tbody></table>")


def _html(text: Any) -> str:
    return str(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def status_line(name: str, status: dict[str, Any] | None) -> str:
    if not status:
        return t("recipe.status.not_run", name=name)
    state, steps = status.get("state", "?"), status.get("steps") or []
    current = status.get("current")
    parts = [t("recipe.status.head", name=name, state=state)]
    if state in ACTIVE and current is not None and current < len(steps):
        parts.append(t("recipe.status.step", step=current + 1, total=len(steps), kind=steps[current]['kind']))
    total = sum(float(_elapsed(s) or 0) for s in steps)
    parts.append(t("recipe.status.time", clock=_clock(total)))
    text = " · ".join(parts)
    if state == "failed":
        code = t("status.exit_code", code=status["exit_code"]) if status.get("exit_code") else ""
        text += "\n\n" + t("recipe.status.failed", error=status.get("error") or t("status.failed"), code=code)
    elif state == "stopped":
        text += "\n\n" + t("recipe.status.stopped")
    elif state == "finished":
        text += "\n\n" + t("recipe.status.finished")
    return text


def compare_pair(ctx: AppContext, status: dict[str, Any] | None) -> tuple[str, str] | None:
    """(original, adapted) for Compare: the propagate step's instruct model and its output."""
    steps = (status or {}).get("steps") or []
    last = next((s for s in reversed(steps) if s.get("kind") == "propagate"), None)
    if not last or not Path(last["out"]).is_dir():
        return None
    out = Path(last["out"])
    adapted = out if (out / "config.json").is_file() else next(
        (p for p in sorted(out.iterdir()) if (p / "config.json").is_file()), out)
    instruct = (last.get("inputs") or {}).get("instruct")
    original = (instruct[0] if isinstance(instruct, list) else instruct) or ""
    choices = ctx.model_choices()  # the pickers' own values where they name the same folder

    def same(a: str, b: str) -> bool:
        return bool(a) and Path(a).resolve() == Path(b).resolve()

    original = next((p for _, p in choices if same(original, p)), original)
    return original, next((p for _, p in choices if same(str(adapted), p)), str(adapted))
