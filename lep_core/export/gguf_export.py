"""`lep export gguf`: a model folder -> one .gguf file that llama.cpp and Ollama run, plus an Ollama Modelfile.

Read top to bottom: check everything up front (every problem at once), find the originals the extended tokenizer
came from (for llama.cpp's pre-tokenizer type), run llama.cpp's converter in a child process writing to a
temporary file beside the output, check the file it wrote, then rename the .gguf and its Modelfile into place
and refresh the model card. A stop or a failure leaves nothing behind.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections import deque
from pathlib import Path
from typing import Any, Callable

from lep_core.errors import LepInputError, LepJobError
from lep_core.export.converter import find_converter
from lep_core.export.options import ExportOptions, GgufType
from lep_core.workspace.atomic import atomic_file, chaos, recover
from lep_core.workspace.locks import holding
from lep_core.workspace.store import read_manifest

Progress = Callable[[float, str], None]
TOKENIZER_FILES = ("tokenizer.json", "tokenizer.model")
_INPUT_KEYS = ("instruct", "base", "model", "adapted")  # manifest inputs that lead back to the original model


# llama.cpp's pre-tokenizer types that look a whole pre-token up before merging (as tokenizers' BPE ignore_merges)
WHOLE_WORD_PRE_TYPES = {"llama3", "llama-v3", "llama-bpe"}


def _looks_words_up(folder: Path) -> bool:
    """Does the model's tokenizer read a vocabulary word as one token before any merge (`lep tokenizer extend
    --tokens words`)?"""
    path = folder / "tokenizer.json"
    return path.exists() and bool(json.loads(path.read_text(encoding="utf-8")).get("model", {}).get("ignore_merges"))


def modelfile_path(out: Path) -> Path:
    return out.with_suffix(".Modelfile")


def _orphan_modelfile(out: Path) -> bool:
    """A Modelfile LEP Studio wrote for OUT while OUT is missing: an export killed between its two renames (the
    Modelfile goes in first, the .gguf last)."""
    path = modelfile_path(out)
    if out.exists() or not path.is_file():
        return False
    head = path.read_text(encoding="utf-8", errors="replace")[:4096]
    return head.startswith("# Ollama Modelfile written by LEP Studio") and f"FROM ./{out.name}\n" in head


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
    problems += setting_problems(opts.type, str(opts.out))
    out = Path(opts.out).expanduser()
    if out.suffix == ".gguf" and not opts.overwrite:
        for path in (out, modelfile_path(out)):
            if path.exists() and not _orphan_modelfile(out):
                problems.append(f"{path} already exists: choose another --out or pass --overwrite")
    return problems


def setting_problems(type_: str, out: str) -> list[str]:
    """The type, the file name and the converter: what the recipe step checks up front too."""
    problems = []
    if type_ not in {t.value for t in GgufType}:
        problems.append(f"unknown type {type_!r}: choose one of {', '.join(t.value for t in GgufType)}")
    if not out.endswith(".gguf"):
        problems.append(f"out must end in .gguf (got {out})")
    try:
        find_converter()
    except LepInputError as exc:
        problems.append(str(exc))
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


def _run_child(spec: dict[str, Any], workdir: Path, progress: Progress) -> dict[str, Any]:
    spec_file = Path(f"{spec['out']}.export.json")  # named after the temporary .gguf: cleaned up with it
    spec_file.write_text(json.dumps(spec), encoding="utf-8")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(Path(__file__).resolve().parents[2]),
                                                                      os.environ.get("PYTHONPATH")]))}
    child = subprocess.Popen([sys.executable, "-m", "lep_core.export.convert_child", str(spec_file)],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    tail: deque[str] = deque(maxlen=20)
    result: dict[str, Any] = {}
    try:
        import threading

        drain = threading.Thread(target=lambda: tail.extend(child.stderr), daemon=True)  # never let stderr stall it
        drain.start()
        for line in child.stdout:
            message = json.loads(line)
            if "total" in message:
                progress(0.1 + 0.85 * message["done"] / max(message["total"], 1), "writing tensors")
                chaos("converter-writing")  # the chaos test's kill point: the converter is writing the file
            else:
                result.update(message)
        code = child.wait()
        drain.join(timeout=5)
    except BaseException:
        child.send_signal(signal.SIGTERM)
        child.wait()
        raise
    finally:
        spec_file.unlink(missing_ok=True)
    if "error" in result:
        raise LepInputError(result["error"])
    if code != 0:
        lines = [ln.strip() for ln in tail if ln.strip()]
        raise LepJobError(f"llama.cpp's converter failed (exit {code}): {lines[-1] if lines else 'no message'}")
    return result


def _check_written(path: Path, tokens: int) -> None:
    """Read the file back: the vocabulary llama.cpp will load has every token of the tokenizer, no padding."""
    from gguf import GGUFReader

    reader = GGUFReader(path)
    field = reader.fields.get("tokenizer.ggml.tokens")
    count = len(field.data) if field is not None else 0
    if count != tokens:
        raise LepJobError(f"the written GGUF has {count} tokens, the tokenizer {tokens}: not kept")


def export_gguf(opts: ExportOptions, progress: Progress | None = None) -> dict[str, Any]:
    """Write opts.out (.gguf) and its Modelfile; returns {"out", "type", "bytes", "seconds", "pre_tokenizer", ...}.

    Raises LepInputError for bad options (all problems in one line) or an unrecognised tokenizer, LepJobError when
    the converter fails. progress(fraction, message) hears the stages and the bytes written.
    """
    from lep_core.export.card import record_export
    from lep_core.export.modelfile import modelfile_text, ollama_lines

    tick = progress or (lambda fraction, message: None)
    problems = check_export(opts)
    if problems:
        raise LepInputError("; ".join(problems))
    started = time.perf_counter()
    folder = Path(opts.model).expanduser().resolve()
    out = Path(opts.out).expanduser().resolve()
    name = opts.name or folder.name
    tick(0.0, "reading the model")
    with holding([out], [folder]):  # one export writes OUT; the model is not deleted or rewritten meanwhile
        recover(out)  # killed exports: their temporary files, and a Modelfile whose .gguf never arrived
        recover(modelfile_path(out))
        if _orphan_modelfile(out):
            modelfile_path(out).unlink()
        problems = check_export(opts)  # again, under the lock
        if problems:
            raise LepInputError("; ".join(problems))
        with atomic_file(out, opts.overwrite, lock=False) as tmp, \
                atomic_file(modelfile_path(out), opts.overwrite, lock=False) as tmp_modelfile:
            # the inner block ends first: the Modelfile is renamed into place, then the .gguf, so a .gguf never
            # stands without its Modelfile
            spec = {"converter": str(find_converter()), "model": str(folder), "out": str(tmp), "type": opts.type,
                    "name": name, "originals": originals(folder, opts.base), "parent": os.getpid()}
            facts = _run_child(spec, out.parent, tick)
            tick(0.96, "checking the file")
            _check_written(tmp, facts["tokens"])
            tmp_modelfile.write_text(modelfile_text(folder, out.name), encoding="utf-8")
    result = {"out": str(out), "type": opts.type, "bytes": out.stat().st_size,
              "seconds": round(time.perf_counter() - started, 2), "pre_tokenizer": facts.get("pre"),
              "tokens": facts["tokens"], "padded_rows_dropped": facts["rows"] - facts["tokens"],
              "modelfile": str(modelfile_path(out)), "ollama": ollama_lines(out, name)}
    if _looks_words_up(folder) and facts.get("pre") not in WHOLE_WORD_PRE_TYPES:
        result["note"] = (f"llama.cpp's {facts.get('pre')!r} pre-tokenizer does not look whole words up first, so it "
                          "reads prompts with the old pieces (the model reads those as before); the whole-word tokens "
                          "are still written in replies")
    record_export(folder, result)
    tick(1.0, "done")
    return result
