"""`lep export gguf`: a model folder -> one .gguf file that llama.cpp and Ollama run, plus an Ollama Modelfile.

Read top to bottom: check everything up front (every problem at once), find the originals the extended tokenizer
came from (for llama.cpp's pre-tokenizer type), run llama.cpp's converter in a child process writing to a
temporary file beside the output (f16 when a quantized type is asked: llama.cpp's quantizer then makes the type
from it, in a second child), check the file, write the Modelfile (stops checked against the file's eos), measure
it in llama.cpp when asked (`--check`, quality.py), then rename the .gguf, its Modelfile, its report
(NAME.export.json: the result below) and, with --keep-f16, the f16 file into place, and refresh the model card.
A stop or a failure leaves nothing behind; an existing file is only replaced with --overwrite, once the new one
is whole.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any, Callable

from lep_core.errors import LepInputError, LepJobError
from lep_core.export.converter import find_converter
from lep_core.export.options import ExportOptions, GgufType
from lep_core.export.runtime import have_llama_cpp, missing_message
from lep_core.workspace.atomic import atomic_file, chaos, recover, replace_into_place, temp_path
from lep_core.workspace.locks import holding
from lep_core.workspace.store import read_manifest

Progress = Callable[[float, str], None]
TOKENIZER_FILES = ("tokenizer.json", "tokenizer.model")
_INPUT_KEYS = ("instruct", "base", "model", "adapted")  # manifest inputs that lead back to the original model
REPORT_SUFFIX = ".export.json"


def _looks_words_up(folder: Path) -> bool:
    """Does the model's tokenizer read a vocabulary word as one token before any merge (`lep tokenizer extend
    --tokens words`)?"""
    path = folder / "tokenizer.json"
    return path.exists() and bool(json.loads(path.read_text(encoding="utf-8")).get("model", {}).get("ignore_merges"))


def modelfile_path(out: Path) -> Path:
    return out.with_suffix(".Modelfile")


def report_path(out: Path) -> Path:
    """NAME.export.json beside NAME.gguf: what the export measured (the Export tab shows it)."""
    return out.with_name(out.stem + REPORT_SUFFIX)


def f16_path(out: Path, type_: str) -> Path:
    """Where --keep-f16 puts the f16 file: NAME-q4_k_m.gguf -> NAME-f16.gguf, other names -> NAME-f16.gguf."""
    stem = out.stem
    if stem.lower().endswith(f"-{type_}"):
        stem = stem[: -len(type_) - 1]
    return out.with_name(f"{stem}-f16.gguf")


def written_paths(opts: ExportOptions) -> list[Path]:
    """Every file the export writes."""
    out = Path(opts.out).expanduser()
    paths = [out, modelfile_path(out), report_path(out)]
    if opts.keep_f16 and opts.type in {t.value for t in GgufType} and GgufType(opts.type).quantized:
        paths.append(f16_path(out, opts.type))
    return paths


def _orphans(out: Path) -> list[Path]:
    """The Modelfile and report LEP Studio wrote for OUT while OUT is missing: an export killed between its renames
    (the Modelfile and the report go in first, the .gguf last). The next export of OUT removes them."""
    if out.exists():
        return []
    found = []
    modelfile = modelfile_path(out)
    if modelfile.is_file():
        head = modelfile.read_text(encoding="utf-8", errors="replace")[:4096]
        if head.startswith("# Ollama Modelfile written by LEP Studio") and f"FROM ./{out.name}\n" in head:
            found.append(modelfile)
    report = report_path(out)
    if report.is_file():
        try:
            if json.loads(report.read_text(encoding="utf-8")).get("out") == str(out):
                found.append(report)
        except (OSError, ValueError):
            pass
    return found




def check_export(opts: ExportOptions) -> list[str]:
    """Every problem with the options, found without loading anything."""
    problems = []
    folder = Path(opts.model).expanduser()
    if not folder.is_dir():
        problems.append(f"model folder not found: {opts.model} (pass an adapted model folder)")
    elif not (folder / "config.json").is_file():
        problems.append(f"no config.json in {folder}: pass a Hugging Face model folder")
    elif not any((folder / name).is_file() for name in TOKENIZER_FILES):
        problems.append(f"no tokenizer in {folder} (tokenizer.json or tokenizer.model): export a folder made by "
                        "`lep propagate` or `lep model init`, which save the tokenizer with the model")
    problems += setting_problems(opts.type, str(opts.out), opts.check)
    out = Path(opts.out).expanduser()
    if out.suffix == ".gguf" and not opts.overwrite:
        for path in written_paths(opts):
            if path.exists() and path not in _orphans(out):
                problems.append(f"{path} already exists: choose another --out or pass --overwrite")
    return problems


def setting_problems(type_: str, out: str, check: bool = False) -> list[str]:
    """The type, the file name, the converter, llama.cpp for a quantized type or a check: what the recipe step
    checks up front too."""
    problems = []
    known = {t.value for t in GgufType}
    if type_ not in known:
        problems.append(f"unknown type {type_!r}: choose one of {', '.join(t.value for t in GgufType)}")
    if not out.endswith(".gguf"):
        problems.append(f"out must end in .gguf (got {out})")
    try:
        find_converter()
    except LepInputError as exc:
        problems.append(str(exc))
    needs = [f"type {type_}"] if type_ in known and GgufType(type_).quantized else []
    needs += ["--check"] if check else []
    if needs and not have_llama_cpp():
        problems.append(missing_message(" and ".join(needs)))
    return problems


def originals(folder: Path, base: str | None = None, depth: int = 5) -> list[str]:
    """Local model folders this one was made from (nearest first), read from the lep.json manifests."""
    found: list[str] = [str(Path(base).expanduser().resolve())] if base else []
    frontier = [folder]
    for _ in range(depth):
        nxt = []
        for current in frontier:
            inputs = (read_manifest(current) or {}).get("inputs", {})
            for key in _INPUT_KEYS:
                for item in inputs.get(key) if isinstance(inputs.get(key), list) else [inputs.get(key)]:
                    path = Path(item["path"]) if isinstance(item, dict) and item.get("path") else None
                    if path and path.is_dir() and str(path) not in found and path != folder:
                        nxt.append(path)
                        if any((path / n).is_file() for n in TOKENIZER_FILES):
                            found.append(str(path))
        frontier = nxt
    return found


def _check_written(reader, tokens: int) -> None:
    """Read the file back (a GGUFReader): the vocabulary llama.cpp will load has every token of the tokenizer, no
    padding."""
    field = reader.fields.get("tokenizer.ggml.tokens")
    count = len(field.data) if field is not None else 0
    if count != tokens:
        raise LepJobError(f"the written GGUF has {count} tokens, the tokenizer {tokens}: not kept")


def _stages(quantized: bool, check: bool) -> dict[str, tuple[float, float]]:
    """Share of the progress bar per stage (converting writes bytes, quantizing tensors, checking texts)."""
    weights = {"convert": 3.0, "quantize": 2.0 if quantized else 0.0, "check": 4.0 if check else 0.0}
    total, spans, at = sum(weights.values()), {}, 0.0
    for name, weight in weights.items():
        spans[name] = (0.97 * at / total, 0.97 * (at + weight) / total)
        at += weight
    return spans


def _words_note(pre: str | None, check: dict[str, Any] | None) -> str:
    """What llama.cpp's reading of prompts costs a whole-word extension, with the measured figure when checked."""
    note = (f"llama.cpp's {pre!r} pre-tokenizer does not look whole words up first, so it reads prompts with the "
            "old pieces (llama.cpp#7049); the whole-word tokens are still written in replies")
    ru = ((check or {}).get("bits_per_char") or {}).get("ru") or {}
    if "llama_cpp_own_tokens" in ru:
        note += (f". Cost on held-out Russian: {ru['llama_cpp_tokens']:,} tokens instead of {ru['tokens']:,}, "
                 f"{ru['llama_cpp_own_tokens']:.4f} bits/char in llama.cpp against {ru['transformers']:.4f} in "
                 f"transformers ({(ru['own_tokens_ratio'] - 1) * 100:+.1f}%)")
    elif check is None:
        note += "; `--check` measures what it costs"
    return note


def export_gguf(opts: ExportOptions, progress: Progress | None = None,
                check_texts: dict[str, Path] | None = None) -> dict[str, Any]:
    """Write opts.out (.gguf), its Modelfile and its report; returns the report: {"out", "type", "bytes",
    "seconds", "pre_tokenizer", "pre_tokenizer_decision", "stops", "notes", "check", ...}.

    check_texts: {label: file} the check scores (default: assets/heldout_ru.txt and heldout_en.txt as ru, en).
    Raises LepInputError for bad options (all problems in one line) or an unrecognised tokenizer, LepJobError when
    the converter or the quantizer fails. progress(fraction, message) hears the stages.
    """
    from lep_core.export.card import record_export
    from lep_core.export.child import run_child
    from lep_core.export.modelfile import BASE_NOTE, modelfile_text, ollama_lines, stop_tokens, template_parts
    from lep_core.export.modelfile_syntax import modelfile_problems
    from lep_core.export.pretokenizers import LOOKS_WORDS_UP, explain

    tick = progress or (lambda fraction, message: None)
    problems = check_export(opts)
    if problems:
        raise LepInputError("; ".join(problems))
    type_ = GgufType(opts.type)
    started = time.perf_counter()
    folder = Path(opts.model).expanduser().resolve()
    out = Path(opts.out).expanduser().resolve()
    name = opts.name or folder.name
    spans = _stages(type_.quantized, opts.check)

    def stage(name_: str) -> Progress:
        low, high = spans[name_]
        return lambda fraction, message: tick(low + (high - low) * fraction, message)

    tick(0.0, "reading the model")
    result: dict[str, Any] = {"out": str(out), "type": type_.value, "name": name}
    kept = f16_path(out, type_.value) if (type_.quantized and opts.keep_f16) else None
    with holding([out], [folder]):  # one export writes OUT; the model is not deleted or rewritten meanwhile
        for path in (out, modelfile_path(out), report_path(out), kept):  # killed exports' temporary files
            if path is not None:
                recover(path)
        for orphan in _orphans(out):
            orphan.unlink()
        problems = check_export(opts)  # again, under the lock
        if problems:
            raise LepInputError("; ".join(problems))
        # nested: the innermost block ends first, so the Modelfile and the report are renamed into place before the
        # .gguf, and a .gguf never stands without its Modelfile
        with atomic_file(out, opts.overwrite, lock=False) as tmp, \
                atomic_file(report_path(out), opts.overwrite, lock=False) as tmp_report, \
                atomic_file(modelfile_path(out), opts.overwrite, lock=False) as tmp_modelfile:
            tmp_f16 = temp_path(out, ext=".f16") if type_.quantized else None  # a leftover of OUT if killed
            try:
                converter = find_converter()
                converted = tmp_f16 or tmp
                spec = {"converter": str(converter), "model": str(folder), "out": str(converted),
                        "type": GgufType.f16.value if type_.quantized else type_.value, "name": name,
                        "originals": originals(folder, opts.base)}
                at = time.perf_counter()
                convert_tick = stage("convert")

                def on_bytes(done: int, total: int) -> None:
                    convert_tick(done / max(total, 1), "writing tensors")
                    chaos("converter-writing")  # the chaos test's kill point: the converter is writing the file

                facts = run_child("lep_core.export.convert_child", spec, on_bytes, "llama.cpp's converter")
                result["convert_seconds"] = round(time.perf_counter() - at, 2)
                if type_.quantized:
                    from lep_core.export.quantize import quantize_gguf

                    result["f16_bytes"] = converted.stat().st_size
                    quantized = quantize_gguf(converted, tmp, type_, stage("quantize"))
                    result.update(quantize_seconds=quantized["seconds"], fallback_tensors=quantized["fallback_tensors"],
                                  tensors=quantized["tensors"])
                tick(spans["convert"][1] if not type_.quantized else spans["quantize"][1], "checking the file")
                from lep_core.export.quantize import reader, tensor_types
                from lep_core.sources.loading import load_tokenizer

                written = reader(tmp)  # read once: the vocabulary, the tensors' types, the eos ids
                _check_written(written, facts["tokens"])
                result["tensor_types"] = tensor_types(written)
                tok = load_tokenizer(folder)
                has_template = bool(getattr(tok, "chat_template", None))
                text = modelfile_text(folder, out.name, gguf=written, tok=tok)
                problems = modelfile_problems(text)
                if problems:
                    raise LepJobError(f"the Modelfile written is not one Ollama takes: {'; '.join(problems)}")
                result["stops"] = stop_tokens(folder, tok, template_parts(tok) if has_template else None, written)
                del written  # its memory map of the temporary file
                result["chat_template"] = has_template
                notes = [] if has_template else [BASE_NOTE]
                pre = facts.get("pre")
                if opts.check:
                    from lep_core.export.quality import check_gguf

                    at = time.perf_counter()
                    result["check"] = check_gguf(folder, tmp, f16=tmp_f16, texts=check_texts, progress=stage("check"))
                    result["check_seconds"] = round(time.perf_counter() - at, 2)
                if _looks_words_up(folder) and pre is not None and pre not in LOOKS_WORDS_UP:
                    notes.append(_words_note(pre, result.get("check")))
                result.update(pre_tokenizer=pre,
                              pre_tokenizer_decision=explain(facts.get("pre_how") or {}, str(converter)),
                              tokens=facts["tokens"], padded_rows_dropped=facts["rows"] - facts["tokens"],
                              modelfile=str(modelfile_path(out)), report=str(report_path(out)),
                              ollama=ollama_lines(out, name), notes=notes)
                if notes:
                    result["note"] = "; ".join(notes)
                result["f16"] = str(kept) if kept else None
                result["bytes"] = tmp.stat().st_size
                result["seconds"] = round(time.perf_counter() - started, 2)
                tmp_modelfile.write_text(text, encoding="utf-8")
                tmp_report.write_text(json.dumps(result, ensure_ascii=False, indent=1), encoding="utf-8")
                if kept and tmp_f16:
                    if kept.exists() and not opts.overwrite:
                        raise LepInputError(f"{kept} already exists: choose another --out or pass --overwrite")
                    replace_into_place(tmp_f16, kept)
            finally:
                if tmp_f16 is not None:
                    tmp_f16.unlink(missing_ok=True)
    record_export(folder, result)
    tick(1.0, "done")
    return result
    record_export(folder, result)
    tick(1.0, "done")
    return result
