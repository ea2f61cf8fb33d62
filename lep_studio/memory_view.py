"""The Training tab's memory estimate: `lep plan` for the options on screen, shown before Start.

It re-reads only the model's config.json (the shapes, on the meta device), so it follows every change
of model, batch, sequence length, precision, optimizer and 4-bit body at once.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from lep_core.errors import LepInputError
from lep_core.training.options import TrainOptions
from lep_core.training.plan import plan, summary_line
from lep_studio.i18n import t


def memory_estimate(options: TrainOptions) -> dict[str, Any] | None:
    """The plan for these options, or None when the model is not a local folder with a config.json."""
    if not options.model or not (Path(options.model).expanduser() / "config.json").is_file():
        return None
    return plan(options, None, options.device)


def memory_markdown(options: TrainOptions) -> str:
    """One line for the tab: the estimate, a ⚠ with what to change when it does not fit."""
    try:
        result = memory_estimate(options)
    except LepInputError as exc:
        return t("memory.unavailable", error=exc)
    if result is None:
        return t("memory.pick_a_model")
    items = ", ".join(f"{k.replace('_', ' ')} {v:.2f}" for k, v in result["items_gb"].items())
    mark = "" if result["fits"] else "⚠ "
    note = "\n\n" + t("memory.on_cpu") if result["device"] == "cpu" and (
        options.load_in_4bit or options.optimizer == "adamw8bit" or options.precision == "bf16") else ""
    return mark + t("memory.estimate", summary=summary_line(result), items=items) + note


def memory_warning(options: TrainOptions) -> str | None:
    """The toast for Start when the estimate says the run does not fit (never raises: Start goes on)."""
    try:
        result = memory_estimate(options)
    except LepInputError:
        return None
    return t("memory.warning", summary=summary_line(result)) if result and not result["fits"] else None
