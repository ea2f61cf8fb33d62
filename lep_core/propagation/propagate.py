"""The entry function: propagate an adapted base's embeddings onto one or more instruct models.

Read top to bottom: validate everything, build the fitting rows once (the decomposition is shared
by every instruct target), then per target and per side (input; head when untied) fit P, write
A_e·P into the instruct model's own shards, merge the tokenizer, and write lep_report.json.
"""

from __future__ import annotations

import contextlib
import copy
import hashlib
import json
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import torch

from lep_core.corpus.reading import read_corpus
from lep_core.embeddings.init import target_rows
from lep_core.errors import LepInputError
from lep_core.export.card import suppress_padding, write_card
from lep_core.propagation.embeddings_io import (
    ModelFiles,
    local_folder,
    open_model,
    write_model,
)
from lep_core.propagation.fit import (
    FitReport,
    PrefixCache,
    apply_projection,
    fit_projection,
)
from lep_core.propagation.fitting_rows import FittingRows
from lep_core.propagation.merge_tokenizer import merge_tokenizer, remap_ids
from lep_core.propagation.modes import Mode, parse_mode
from lep_core.propagation.options import PropagateOptions
from lep_core.propagation.report import REPORT_FILE, build_report, comparison_rows
from lep_core.propagation.solve import Solver
from lep_core.propagation.validate import check_models, check_names, check_tokenizers
from lep_core.sources.device import resolve_device
from lep_core.sources.loading import load_tokenizer, resolve
from lep_core.workspace.atomic import scratch_dir
from lep_core.workspace.locks import holding
from lep_core.workspace.store import (
    atomic_dir,
    check_output_free,
    describe_input,
    write_json_atomic,
    write_manifest,
)

Progress = Callable[[int, int], None]


def check_options(opts: PropagateOptions) -> list[str]:
    problems = []
    mode = parse_mode(opts.mode)
    if opts.ridge < 0:
        problems.append(f"--ridge must be 0 or more (got {opts.ridge})")
    if not opts.instruct:
        problems.append("no instruct model given: pass --instruct SRC (one or more)")
    if mode.needs_corpus and not opts.corpus:
        problems.append("occ_conversion weighs sub-tokens by a corpus: pass --corpus FILE...")
    try:
        Solver(opts.solver)
    except ValueError:
        problems.append(f"unknown solver {opts.solver!r}: choose one of " + ", ".join(s.value for s in Solver))
    problems += check_names([resolve(s, "instruct model").name for s in opts.instruct])
    return problems


def fit_side(rows: FittingRows, mode: Mode, b: torch.Tensor, i: torch.Tensor, opts: PropagateOptions,
             device: str, progress: Progress | None = None, prefix_cache: PrefixCache | None = None):
    mix = rows.for_mode(Mode.conversion if mode is Mode.straight else mode)
    return fit_projection(mix, b, i, opts.ridge, opts.solver, device, fit=mode.fits, progress=progress,
                          prefix_cache=prefix_cache)


def new_matrix(a: torch.Tensor, p: torch.Tensor, inst: torch.Tensor, total: int, copy_rows: torch.Tensor,
               straight: bool) -> torch.Tensor:
    """(total, d) in the instruct dtype: A_e·P, then the instruct's added-token rows copied over."""
    out = torch.zeros(total, a.shape[1], dtype=inst.dtype)
    n = min(a.shape[0], total)
    out[:n] = a[:n].to(inst.dtype) if straight else apply_projection(a, p, n).to(inst.dtype)
    if copy_rows.numel():
        out[copy_rows[:, 0]] = inst[copy_rows[:, 1]]
    return out


def propagate_one(name: str, base: ModelFiles, inst: ModelFiles, inst_tok, adapted: ModelFiles, rows: FittingRows,
                  opts: PropagateOptions, device: str, target: Path, tick: Callable[[str, float], None]) -> dict[str, Any]:
    start = time.perf_counter()
    mode = Mode(opts.mode)
    merge = merge_tokenizer(copy.deepcopy(rows.new_tok), inst_tok)
    total = max(target_rows(inst.rows, len(inst_tok), len(merge)), len(merge))
    # a tied instruct model gets an untied head when the adapted model's head was untied (fitted on its own): the
    # tied base and instruct heads equal their input embeddings, so the input side's map P serves the head too
    untie = inst.tied and not adapted.tied
    sides = ["input"] if inst.tied and not untie else ["input", "output"]
    head_name = inst.head_name or inst.layout_head
    fits: dict[str, FitReport] = {}
    replace: dict[str, torch.Tensor] = {}
    compare: dict[Mode, dict[str, FitReport]] = {}
    projections: dict[str, torch.Tensor] = {}  # side -> P
    for side in sides:
        if untie and side == "output":
            fits[side] = fits["input"]
            replace[head_name] = new_matrix(adapted.read("output"), projections["input"], inst.read("input"), total, merge.copy_rows,
                                            mode is Mode.straight)
            continue
        b, i, a = base.read(side), inst.read(side), adapted.read(side)
        shared: PrefixCache = {}  # "compare all modes": the old-token rows' sums are computed once per side
        fit = fit_side(rows, mode, b, i, opts, device, lambda d, t: tick(f"{name}: fitting {side}", d / max(t, 1)),
                       shared)
        fits[side], projections[side] = fit.report, fit.p
        replace[inst.tensor_name(side)] = new_matrix(a, fit.p, i, total, merge.copy_rows, mode is Mode.straight)
        if opts.compare_modes:
            for other in Mode:
                if other is mode:
                    compare.setdefault(other, {})[side] = fit.report
                elif not other.needs_corpus or rows.corpus_lines:
                    tick(f"{name}: comparing {other.value} ({side})", 0.0)
                    compare.setdefault(other, {})[side] = fit_side(rows, other, b, i, opts, device,
                                                                   prefix_cache=shared).report
        del b, i, a, shared
    if inst.tied and inst.head_name and not untie:  # a tied checkpoint that stores the head anyway: keep it equal
        replace[inst.head_name] = replace[inst.embed_name]
    tick(f"{name}: writing", 1.0)
    config_ids = remap_ids(inst.config, inst_tok, merge.tokenizer)
    gen_ids = _generation_ids(inst, inst_tok, merge.tokenizer)
    untied = {"tie_word_embeddings": False} if untie else {}
    write_model(inst, target, replace, {"vocab_size": total, **config_ids, **untied}, gen_ids)
    merge.tokenizer.save_pretrained(target)
    extra = {
        "instruct": name,
        "tied": inst.tied and not untie,
        "untied_head_from_adapted": untie,
        "rows": total,
        "copied_rows": int(merge.copy_rows.shape[0]),
        "appended_tokens": merge.appended,
        "solver": Solver(opts.solver).value,
        "ridge": opts.ridge,
        "device": device,
    }
    if mode is Mode.occ_conversion:
        extra["occ_rows"] = rows.occ_rows_used
    report = build_report(mode, len(merge), fits, time.perf_counter() - start, extra,
                          comparison_rows(compare) if opts.compare_modes else None)
    write_json_atomic(target / REPORT_FILE, report)
    return report


TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "chat_template.jinja",
                   "added_tokens.json", "tokenizer.model")


def _tokenizer(folder: Path, cache: dict[str, Any]):
    """load_tokenizer, once per distinct set of tokenizer files (base and instruct often share one)."""
    h = hashlib.sha256()
    for name in TOKENIZER_FILES:
        if (folder / name).is_file():
            h.update(name.encode() + (folder / name).read_bytes())
    key = h.hexdigest()
    if key not in cache:
        cache[key] = load_tokenizer(folder)
    return cache[key]


def _generation_ids(inst: ModelFiles, inst_tok, merged_tok) -> dict[str, Any]:
    path = inst.folder / "generation_config.json"
    return remap_ids(json.loads(path.read_text(encoding="utf-8")), inst_tok, merged_tok) if path.is_file() else {}


@dataclass
class Inputs:
    """The opened and checked models and tokenizers of one propagation."""

    names: list[str]  # one per instruct model (its folder or hub name)
    base: ModelFiles
    adapted: ModelFiles
    instructs: dict[str, ModelFiles]
    base_tok: Any
    new_tok: Any
    inst_toks: dict[str, Any]


def _problems(opts: PropagateOptions) -> list[str]:
    problems = check_options(opts)
    try:
        check_output_free(opts.out, opts.overwrite)
    except LepInputError as exc:
        problems.insert(0, str(exc))
    return problems


def open_inputs(opts: PropagateOptions, scratch: Path) -> Inputs:
    """Open every model (a hub id or .gguf is written out to scratch first) and check they belong together."""
    names = [resolve(s, "instruct model").name for s in opts.instruct]
    base = open_model(local_folder(opts.base, scratch, opts.allow_pickle))
    adapted = open_model(local_folder(opts.adapted, scratch, opts.allow_pickle))
    instructs = {n: open_model(local_folder(s, scratch, opts.allow_pickle)) for n, s in zip(names, opts.instruct)}
    cache: dict[str, Any] = {}
    base_tok, new_tok = _tokenizer(base.folder, cache), _tokenizer(adapted.folder, cache)
    inst_toks = {n: _tokenizer(m.folder, cache) for n, m in instructs.items()}
    problems = check_models(base, instructs, adapted)
    problems += check_tokenizers(base, base_tok, {n: (instructs[n], inst_toks[n]) for n in names}, adapted, new_tok)
    if problems:
        raise LepInputError("; ".join(problems))
    return Inputs(names, base, adapted, instructs, base_tok, new_tok, inst_toks)


def preflight(opts: PropagateOptions) -> None:
    """propagate's checks, without downloading or converting anything: the app runs them before it starts the
    job, so a wrong pick is a message at once instead of a failed job. Hub ids and .gguf files are checked
    by the job itself once it has them."""
    problems = _problems(opts)
    if problems:
        raise LepInputError("; ".join(problems))
    sources = [resolve(s, what) for s, what in ((opts.base, "base model"), (opts.adapted, "adapted model"),
                                                *((i, "instruct model") for i in opts.instruct))]
    if all(not s.is_hub and not s.gguf_file for s in sources):
        with tempfile.TemporaryDirectory(prefix="lep-preflight-") as scratch:  # stays empty: all are local folders
            open_inputs(opts, Path(scratch))


def propagate(opts: PropagateOptions, progress: Callable[[float, str], None] | None = None) -> dict[str, Any]:
    """Run LEP; returns {"out", "reports": [...], ...}. progress(fraction, message) is called along the way."""
    started = time.perf_counter()
    problems = _problems(opts)
    if problems:
        raise LepInputError("; ".join(problems))
    device = resolve_device(opts.device)
    out_path = Path(opts.out).expanduser().resolve()
    with contextlib.ExitStack() as stack:
        # the output locked, the inputs that are workspace artefacts read-locked, for the whole job
        stack.enter_context(holding([out_path], [opts.base, opts.adapted, *opts.instruct, *(opts.corpus or [])]))
        # converted hub/.gguf sources: a temporary sibling of OUT (a killed job's is cleaned up by the next write)
        scratch = stack.enter_context(scratch_dir(out_path))
        found = open_inputs(opts, scratch)
        names = found.names
        lines = [ln for ln in read_corpus(opts.corpus).split("\n") if ln.strip()] if opts.corpus else None
        rows = FittingRows(found.new_tok, found.base_tok, found.base.rows, lines)
        steps = len(names)

        def tick_for(k: int) -> Callable[[str, float], None]:
            return lambda msg, frac: progress((k + min(frac, 1.0)) / steps, msg) if progress else None

        reports = []
        with atomic_dir(opts.out, opts.overwrite) as tmp:
            for k, name in enumerate(names):
                target = tmp if steps == 1 else tmp / name
                report = propagate_one(name, found.base, found.instructs[name], found.inst_toks[name], found.adapted,
                                       rows, opts, device, target, tick_for(k))
                _manifest(target, opts, opts.instruct[k], report)
                suppress_padding(target)  # padded rows can never be generated
                reports.append(report)
            if steps > 1:
                _manifest(tmp, opts, None, {"targets": names})
    out = str(Path(opts.out).expanduser().resolve())
    for name in names:  # the model card, once the folder is in place (it reads the workspace's lineage)
        write_card(Path(out) if steps == 1 else Path(out) / name)
    if progress:
        progress(1.0, "done")
    result: dict[str, Any] = {"out": out, "seconds": round(time.perf_counter() - started, 3)}
    if steps == 1:
        return {**result, **reports[0]}
    return {**result, "outputs": {n: str(Path(out) / n) for n in names}, "reports": reports}


def read_result(out: str | Path) -> dict[str, Any] | None:
    """What propagate returned, read back from a finished output folder (the app shows a job's result with it)."""
    folder = Path(out)
    try:
        if (folder / REPORT_FILE).is_file():
            return {"out": str(folder), **json.loads((folder / REPORT_FILE).read_text(encoding="utf-8"))}
        targets = sorted(p for p in folder.iterdir() if (p / REPORT_FILE).is_file())
        if not targets:
            return None
        reports = [json.loads((p / REPORT_FILE).read_text(encoding="utf-8")) for p in targets]
    except (OSError, ValueError):
        return None
    return {"out": str(folder), "outputs": {p.name: str(p) for p in targets}, "reports": reports}


def _manifest(folder: Path, opts: PropagateOptions, instruct: str | None, metrics: dict[str, Any]) -> None:
    inputs: dict[str, Any] = {"base": describe_input(opts.base), "adapted": describe_input(opts.adapted)}
    inputs["instruct"] = describe_input(instruct) if instruct else [describe_input(s) for s in opts.instruct]
    if opts.corpus:
        inputs["corpus"] = [describe_input(c) for c in opts.corpus]
    headline = {k: metrics[k] for k in ("mode", "new_vocab_size", "fit_residual", "heldout_rel_error",
                                        "heldout_cosine", "seconds") if k in metrics}
    write_manifest(folder, "adapted", inputs, {"operation": "propagate", **opts.params()}, headline or metrics)
