"""Suite results as rows: one table per task (models as columns), shared by `lep eval suite` and the app."""

from __future__ import annotations

from typing import Any

EXTRA = {  # secondary figures a task kind reports under its main score
    "multiple_choice": ("accuracy_by_total_logprob",),
    "copy": ("similarity", "chars_per_generated_token"),
    "bpc": ("chars_per_token",),
}


def task_rows(results: dict[str, Any], task: str) -> list[tuple[str, list[float | None]]]:
    """(label, one value per model) rows: the main metric, the kind's extra figures, each phenomenon, seconds."""
    cells = [m["tasks"].get(task) for m in results["models"]]
    first = next(c for c in cells if c)
    rows = [(first["metric"], [c and c["score"] for c in cells])]
    rows += [(key, [c and c.get(key) for c in cells]) for key in EXTRA.get(first["kind"], ()) if key in first]
    for phenomenon, figures in first.get("per_phenomenon", {}).items():
        rows.append((f"{phenomenon} (n={figures['n']})",
                     [c and c["per_phenomenon"].get(phenomenon, {}).get("accuracy") for c in cells]))
    rows.append(("seconds", [c and c["seconds"] for c in cells]))
    return rows


def kind_table(results: dict[str, Any], kind: str) -> tuple[list[str], list[list[Any]]]:
    """Headers and rows of every task of one kind: [task, figure, model 1, model 2, ...]."""
    headers = ["task", "figure", *[m["name"] for m in results["models"]]]
    rows = []
    for task in results["tasks"]:
        if task["kind"] == kind:
            rows += [[task["name"], label, *[None if v is None else round(v, 4) for v in values]]
                     for label, values in task_rows(results, task["name"])]
    return headers, rows


def markdown(results: dict[str, Any]) -> str:
    """Every task as a Markdown table, then the total time (what `lep eval suite` prints)."""
    names = [m["name"] for m in results["models"]]
    lines = []
    for task in results["tasks"]:
        lines += [f"\n{task['name']} ({task['kind']}, n={task['n']})", "| | " + " | ".join(names) + " |",
                  "|---|" + "---|" * len(names)]
        lines += [f"| {label} | " + " | ".join("–" if v is None else f"{v:.3f}" for v in values) + " |"
                  for label, values in task_rows(results, task["name"])]
    seconds = ", ".join(f"{m['name']} {m['seconds']:.1f} s" for m in results["models"])
    lines.append(f"\ntotal {results['seconds']:.1f} s on {results['device']} ({seconds})")
    return "\n".join(lines)
