"""lep_report.json: the design §3 headline numbers plus per-side details and the mode comparison."""

from __future__ import annotations

import math
from typing import Any

from lep_core.propagation.fit import FitReport
from lep_core.propagation.modes import Mode

REPORT_FILE = "lep_report.json"
HEADLINE = ("fit_rows", "fit_residual", "heldout_rel_error", "heldout_cosine")


def _clean(value: Any) -> Any:
    """JSON has no NaN: a metric that could not be measured (too few rows) is null."""
    if isinstance(value, float) and (math.isnan(value) or math.isinf(value)):
        return None
    return value


def side_dict(fit: FitReport) -> dict[str, Any]:
    return {k: _clean(v) for k, v in fit.as_dict().items()}


def build_report(
    mode: Mode,
    new_vocab_size: int,
    fits: dict[str, FitReport],
    seconds: float,
    extra: dict[str, Any] | None = None,
    comparison: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """Headline = the input embeddings' fit (the head's, when untied, is under sides.output)."""
    main = side_dict(fits["input"])
    report: dict[str, Any] = {
        "mode": mode.value,
        "new_vocab_size": new_vocab_size,
        **{k: main[k] for k in HEADLINE},
        "seconds": round(seconds, 3),
        "sides": {side: side_dict(f) for side, f in fits.items()},
    }
    report.update(extra or {})
    if comparison is not None:
        report["mode_comparison"] = comparison
    return report


def comparison_rows(results: dict[Mode, dict[str, FitReport]]) -> list[dict[str, Any]]:
    """One row per (mode, side): what the app shows as a table and plots as held-out error per mode."""
    rows = []
    for mode, sides in results.items():
        for side, fit in sides.items():
            d = side_dict(fit)
            rows.append({"mode": mode.value, "side": side, **{k: d[k] for k in HEADLINE}, "seconds": d["seconds"]})
    return rows


def summary_line(report: dict[str, Any]) -> str:
    """One human line for the CLI and the app status."""
    err, cos = report.get("heldout_rel_error"), report.get("heldout_cosine")
    held = f"held-out error {err:.4f}, cosine {cos:.4f}" if err is not None and cos is not None else "no held-out rows"
    return (f"{report['mode']}: {report['new_vocab_size']} tokens, fit on {report['fit_rows']} rows, "
            f"residual {report['fit_residual']:.4f}, {held}, {report['seconds']:.1f} s")
