"""`lep bench adaptation`: the original and the adapted model on the same held-out texts and prompts.

The figures and their meaning live in lep_core/evaluation/adaptation.py (also shown in the Compare tab);
this module loads the two models and lays the result out as the tables `lep bench` prints.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

from lep_core.evaluation.copy_task import TASKS

ROWS = ("bits_per_char_ru", "bits_per_char_en", "new_vocab_share", "chars_per_generated_token",
        "generated_chars_per_s", "generated_tokens", "russian_answers", "original_tokens_over_emitted",
        "emitted_over_canonical")
TASK_ROWS = ("copy_recall", "exact_copies", "generated_tokens", "new_vocab_share", "original_tokens_over_emitted",
             "emitted_over_canonical", "generated_chars_per_s")


def flat(figures: dict[str, Any]) -> dict[str, Any]:
    """One model's figures as one flat row (bits_per_char split by language, a task's figures as TASK_figure)."""
    row = {f"bits_per_char_{lang}": v for lang, v in figures["bits_per_char"].items()}
    row.update({k: v for k, v in figures.items() if not isinstance(v, (dict, list))})
    for task in TASKS:
        row.update({f"{task}_{k}": v for k, v in figures.get(task, {}).items() if k in TASK_ROWS})
    return row


def row_names(result: dict[str, Any]) -> list[str]:
    """ROWS, then the task rows of the tasks that ran."""
    return [*ROWS, *(f"{task}_{k}" for task in result.get("tasks", []) for k in TASK_ROWS)]


def tables(result: dict[str, Any]) -> dict[str, list[dict[str, Any]]]:
    """figure | original | adapted rows, then the gains."""
    o, a = flat(result["original"]), flat(result["adapted"])
    rows = [{"figure": k, "original": o.get(k), "adapted": a.get(k)} for k in row_names(result) if k in o or k in a]
    return {"adaptation": rows, "gain": [result["gain"]]}


def save_beside(adapted_dir: str | Path, result: dict[str, Any]) -> Path:
    """Write the adapted model's figures (flat, with the original's beside them) to ADAPTED/adaptation.json and
    refresh its model card, which shows them. Only with `--save`: the folder is the user's artefact."""
    from lep_core.export.card import ADAPTATION_FILE, write_card
    from lep_core.workspace.store import write_json_atomic

    folder = Path(adapted_dir)
    o, a = flat(result["original"]), flat(result["adapted"])
    figures = {"original": result.get("models", {}).get("original"), "prompts": result["prompts"],
               "max_new_tokens": result["max_new_tokens"],
               **{k: a.get(k) for k in row_names(result)}, **{f"original_{k}": o.get(k) for k in ROWS[:6]},
               **{f"original_{k}": o.get(k) for k in row_names(result)[len(ROWS):]},
               **{k: v for k, v in result["gain"].items()}}
    write_json_atomic(folder / ADAPTATION_FILE, figures)
    write_card(folder)
    return folder / ADAPTATION_FILE


def run(original: str, adapted: str, texts: list[str] | None = None, prompts: str | None = None,
        max_new_tokens: int = 64, progress: Callable[[float, str], None] | None = None,
        **options: Any) -> dict[str, Any]:
    """Load both models (the ModelCache gives a clear error for a missing one) and measure; see bench_adaptation
    (options: tasks, lines, batch_size, canonical)."""
    from lep_core.evaluation.adaptation import bench_adaptation, read_prompts
    from lep_core.evaluation.models import ModelCache

    cache = ModelCache(capacity=2, device="cpu" if not _cuda() else None)
    pair_o, pair_a = cache.get(original), cache.get(adapted)
    result = bench_adaptation(pair_o, pair_a, [Path(t) for t in texts] if texts else None,
                              read_prompts(prompts), max_new_tokens, progress, **options)
    result["models"] = {"original": original, "adapted": adapted}
    return result


def _cuda() -> bool:
    import torch

    return torch.cuda.is_available()
