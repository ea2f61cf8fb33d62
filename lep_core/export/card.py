"""The model card (README.md) of an adapted folder, and the guard that keeps padded rows out of generation.

Written by propagation (finish_adapted) and refreshed by every export (record_export). A card replaces README.md
only in a folder LEP Studio made (it carries lep.json) and only when that README.md is absent or a card LEP
Studio wrote (it carries CARD_MARK); anywhere else the card goes beside it as README.lep.md, so a downloaded
model's own card (licence text included) is never replaced. Everything on it is read
from files the folder and its inputs already hold: lep.json manifests (inputs, parameters, tokenizer figures,
exports), lep_report.json (the LEP fit), the training run's status.json, adaptation.json when `lep bench
adaptation` left one, and the workspace's votes naming the model. The recipe that replays it comes from
lep_core.recipes.lineage when the folder is in a workspace.
"""

from __future__ import annotations

import contextlib
import json
from pathlib import Path
from typing import Any

from lep_core.workspace.locks import hold
from lep_core.workspace.store import MANIFEST, atomic_file, read_manifest, write_json_atomic

CARD = "README.md"
BESIDE = "README.lep.md"  # the card's name in a folder whose README.md is not LEP Studio's
CARD_MARK = "<!-- model card written by LEP Studio: it is rewritten on every export and push -->"
_OLD_MARK = "tags: [lep-studio, learned-embedding-propagation]"  # cards written before CARD_MARK existed
ADAPTATION_FILE = "adaptation.json"  # figures of `lep bench adaptation`, when saved beside the model


def _read_json(path: Path) -> dict[str, Any] | None:
    try:
        return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else None
    except ValueError:
        return None


def _input_manifests(folder: Path, depth: int = 6) -> list[tuple[Path, dict[str, Any]]]:
    """(folder, manifest) of every local input behind folder, nearest first."""
    seen, out, frontier = {folder}, [], [folder]
    for _ in range(depth):
        nxt = []
        for current in frontier:
            for value in (read_manifest(current) or {}).get("inputs", {}).values():
                for item in value if isinstance(value, list) else [value]:
                    path = Path(item["path"]) if isinstance(item, dict) and item.get("path") else None
                    if path and path.is_dir() and path not in seen:
                        seen.add(path)
                        nxt.append(path)
                        manifest = read_manifest(path)
                        if manifest:
                            out.append((path, manifest))
        frontier = nxt
    return out


def _table(rows: dict[str, Any]) -> list[str]:
    lines = ["| figure | value |", "|---|---|"]
    for key, value in rows.items():
        if isinstance(value, float):
            value = f"{value:.4g}"
        elif isinstance(value, (dict, list)):
            value = json.dumps(value, ensure_ascii=False)
        lines.append(f"| {key} | {value} |")
    return lines


def _recipe(folder: Path) -> str | None:
    from lep_core.recipes.lineage import lineage
    from lep_core.workspace.store import KINDS

    root = next((p.parent for p in folder.parents if p.name in KINDS.values()), None)  # workspace/adapted/<name>
    if root is None:
        return None
    try:
        return lineage(folder, root).to_yaml(f"{folder.parent.name}/{folder.name}")
    except Exception:  # not in a workspace or not made by recipe steps: the card says so
        return None


def _votes(folder: Path) -> list[dict[str, Any]]:
    from lep_core.evaluation.votes import read_votes, tally

    evals = folder.parent.parent / "evals"  # workspace/adapted/<name> -> workspace/evals
    votes = [v for f in sorted(evals.rglob("votes.jsonl")) for v in read_votes(f)] if evals.is_dir() else []
    return [row for row in tally(votes) if folder.name in (Path(row["model_1"]).name, Path(row["model_2"]).name)]


def card_text(folder: Path) -> str:
    """The model card in Markdown: sources, recipe, tokenizer, LEP report, training, adaptation, votes, exports."""
    manifest = read_manifest(folder) or {}
    inputs = manifest.get("inputs", {})
    lines = ["---", "library_name: transformers", "language: [ru, en]", "tags: [lep-studio, learned-embedding-propagation]",
             "---", CARD_MARK, f"# {folder.name}", ""]
    if manifest.get("kind") == "adapted":
        lines += ["Adapted to Russian with LEP Studio ([Learned Embedding Propagation](https://arxiv.org/abs/2412.21140)): "
                  "a tokenizer extended with Russian tokens, their embeddings trained on a base model and carried onto "
                  "the instruct model by a linear map, without instruction tuning.", ""]
    lines += ["## Made from", ""]
    for key in ("instruct", "base", "adapted", "model", "tokenizer"):
        for item in inputs.get(key) if isinstance(inputs.get(key), list) else [inputs.get(key)]:
            if isinstance(item, dict) and item.get("path"):
                lines.append(f"- {key}: `{item['path']}`")
    recipe = _recipe(folder)
    lines += ["", "## How (the recipe that replays it)", ""]
    lines += ["```yaml", recipe.rstrip(), "```"] if recipe else ["Not made by recipe steps in a workspace."]
    behind = _input_manifests(folder)
    tokenizer = next((m for _, m in behind if m.get("kind") == "tokenizer"), None)
    if tokenizer:
        lines += ["", f"## Tokenizer ({tokenizer.get('params', {}).get('operation', '')})", ""]
        lines += _table(tokenizer.get("metrics", {}))
    report = _read_json(folder / "lep_report.json")
    if report:
        lines += ["", "## LEP report", ""]
        lines += _table({k: v for k, v in report.items() if k != "comparison"})
    run = next((p for p, m in behind if (p.parent / "status.json").is_file() or (p / "status.json").is_file()), None)
    status = _read_json(run / "status.json") or _read_json(run.parent / "status.json") if run else None
    if status:
        lines += ["", "## Training", ""]
        keep = ("state", "step", "total", "loss", "val_loss", "tokens_per_step", "tokens_per_s", "elapsed_s", "device",
                "precision")
        lines += _table({k: status[k] for k in keep if k in status})
    adaptation = _read_json(folder / ADAPTATION_FILE)
    lines += ["", "## Adaptation figures", ""]
    lines += _table(adaptation) if adaptation else ["Not measured yet: `lep bench adaptation --original SRC --adapted "
                                                    f"{folder} --save`."]
    votes = _votes(folder)
    if votes:
        lines += ["", "## Blind votes", "", "| model 1 | model 2 | wins 1 | wins 2 | ties | both bad | n |",
                  "|---|---|---|---|---|---|---|"]
        lines += [f"| {r['model_1']} | {r['model_2']} | {r['wins_1']} | {r['wins_2']} | {r['ties']} | "
                  f"{r['both_bad']} | {r['n']} |" for r in votes]
    exports = manifest.get("exports", [])
    if exports:
        lines += ["", "## GGUF exports (llama.cpp, Ollama)", ""] + export_lines(exports)
        lines += ["", "Run one in Ollama:", "", "```bash", *exports[-1]["ollama"], "```"]
    return "\n".join(lines) + "\n"


def _bpc_cell(check: dict[str, Any] | None, label: str) -> str:
    """"llama.cpp / transformers" bits-per-char of one held-out text, with the ratio to f16 of a quantized file."""
    figures = ((check or {}).get("bits_per_char") or {}).get(label)
    if not figures:
        return "not measured"
    cell = f"{figures['llama_cpp']:.4f} / {figures['transformers']:.4f}"
    if "ratio_to_f16" in figures:
        cell += f" (×{figures['ratio_to_f16']:.4f} of f16)"
    if "llama_cpp_own_tokens" in figures:
        cell += f"; {figures['llama_cpp_own_tokens']:.4f} as llama.cpp spells it"
    return cell


def export_lines(exports: list[dict[str, Any]]) -> list[str]:
    """The card's table of GGUF exports: size, time, pre-tokenizer, bits-per-char measured in llama.cpp against
    transformers (`lep export gguf --check`), greedy output; then the pre-tokenizer decisions and the notes."""
    lines = ["| file | type | size | seconds | pre-tokenizer | bits/char ru: llama.cpp / transformers | "
             "bits/char en | greedy = transformers |", "|---|---|---|---|---|---|---|---|"]
    for e in exports:
        check = e.get("check")
        greedy = (check or {}).get("greedy")
        same = "—" if not greedy else f"{'yes' if greedy['equal'] else 'no'} ({greedy['tokens']} tokens)"
        size = f"{e['bytes'] / 2**20:,.1f} MiB" if e.get("bytes") else "?"
        lines.append(f"| {Path(e['out']).name} | {e['type']} | {size} | {e.get('seconds', '?')} | "
                     f"{e.get('pre_tokenizer') or 'SentencePiece (none)'} | {_bpc_cell(check, 'ru')} | "
                     f"{_bpc_cell(check, 'en')} | {same} |")
    if not any(e.get("check") for e in exports):
        lines += ["", "Quality not measured: `lep export gguf --check` measures bits-per-char in llama.cpp."]
    decisions = {e["pre_tokenizer_decision"]["why"]: e.get("pre_tokenizer")
                 for e in exports if (e.get("pre_tokenizer_decision") or {}).get("why")}
    lines += [f"\nPre-tokenizer {name or '(none)'}: {why}." for why, name in decisions.items()]
    lines += [f"\nNote: {note}." for note in dict.fromkeys(n for e in exports for n in _notes(e))]
    return lines


def _notes(export: dict[str, Any]) -> list[str]:
    return list(export.get("notes") or ([export["note"]] if export.get("note") else []))


def written_by_lep(path: Path) -> bool:
    """Is this file a card LEP Studio wrote (its mark, or an older card's tag line, in the first 2 KB)?"""
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            head = f.read(2048)
    except OSError:
        return False
    return CARD_MARK in head or _OLD_MARK in head


def card_path(folder: Path) -> Path | None:
    """Where the card of `folder` goes: README.md in a folder LEP Studio made whose README.md is absent or ours,
    else README.lep.md beside it (None when even that name holds someone else's file)."""
    folder = Path(folder)
    readme = folder / CARD
    if read_manifest(folder) is not None and (not readme.exists() or written_by_lep(readme)):
        return readme
    beside = folder / BESIDE
    return beside if not beside.exists() or written_by_lep(beside) else None


def write_card(folder: Path, text: str | None = None) -> Path | None:
    """Write the card (card_path decides where) atomically, holding the folder's lock; returns its path, or None
    when no name is free for it. `text`: the card already made (card_text)."""
    folder = Path(folder)
    target = card_path(folder)
    if target is None:
        return None
    ours = read_manifest(folder) is not None  # a folder LEP did not make gets no lock file beside it
    with hold(folder, write=True, wait=30.0) if ours else contextlib.nullcontext():
        with atomic_file(target, overwrite=True, lock=False) as tmp:
            tmp.write_text(text if text is not None else card_text(folder), encoding="utf-8")
    return target


def suppress_padding(folder: Path) -> list[int]:
    """Rows past the last token id (padding, as Qwen ships) go to generation_config.json's suppress_tokens, so
    `generate` can never sample them; config.json's vocab_size stays the number of embedding rows."""
    from lep_core.sources.loading import load_tokenizer

    config = _read_json(folder / "config.json") or {}
    rows = int(config.get("vocab_size") or 0)
    tokens = len(load_tokenizer(folder))
    padded = list(range(tokens, rows))
    if padded:
        path = folder / "generation_config.json"
        gen = _read_json(path) or {}
        gen["suppress_tokens"] = sorted(set(gen.get("suppress_tokens") or []) | set(padded))
        write_json_atomic(path, gen)
    return padded


def record_export(folder: Path, result: dict[str, Any]) -> None:
    """Note an export in the folder's lep.json and refresh its card, in a folder LEP Studio made (one it did not
    make is an input the export leaves as it found it)."""
    folder = Path(folder)
    if read_manifest(folder) is None:
        return
    with hold(folder, write=True, wait=30.0):
        manifest = read_manifest(folder) or {}
        kept = [e for e in manifest.get("exports", []) if e.get("out") != result["out"]]
        keys = ("out", "type", "bytes", "seconds", "pre_tokenizer", "pre_tokenizer_decision", "ollama", "note", "notes",
                "check", "stops", "f16", "tensor_types", "fallback_tensors")
        manifest["exports"] = kept + [{k: result[k] for k in keys if k in result}]
        write_json_atomic(folder / MANIFEST, manifest)
        write_card(folder)
