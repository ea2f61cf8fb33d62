"""Quantize an f16 GGUF with llama.cpp's own quantizer: the k-quants (Q4_K_M and friends) people run.

The quantizer is llama.cpp's `llama_model_quantize` (what its `llama-quantize` tool calls), reached through
llama-cpp-python in a child process (quantize_child.py) so a stop ends it at once. It picks a type per tensor
("M" mixes keep some tensors, e.g. attn_v and ffn_down, at a higher type) and falls back to a legacy type for
tensors whose rows are not a multiple of its 256-weight blocks; `tensor_types` reads back what it wrote.
"""

from __future__ import annotations

import os
import time
from collections import Counter
from pathlib import Path
from typing import Any, Callable

from lep_core.export.child import run_child
from lep_core.export.options import GgufType
from lep_core.export.runtime import require_llama_cpp

Progress = Callable[[float, str], None]


def reader(path_or_reader):
    """A GGUFReader (one per file and export: reading a 50k-token vocabulary takes seconds)."""
    from gguf import GGUFReader

    return path_or_reader if isinstance(path_or_reader, GGUFReader) else GGUFReader(path_or_reader)


def tensor_types(gguf) -> dict[str, int]:
    """How many tensors of each ggml type the GGUF (a path or a GGUFReader) holds, e.g. {"q4_k": 84, "f32": 61}."""
    counts = Counter(t.tensor_type.name.lower() for t in reader(gguf).tensors)
    return dict(counts.most_common())


def file_type(gguf) -> int | None:
    """The GGUF's general.file_type (llama.cpp's `enum llama_ftype`), None when it has none."""
    field = reader(gguf).fields.get("general.file_type")
    return int(field.parts[field.data[0]][0]) if field is not None else None


def _threads() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def quantize_gguf(source: Path, out: Path, type_: GgufType, progress: Progress | None = None) -> dict[str, Any]:
    """Write `out` (type_) from the f16 GGUF `source`; {"seconds", "tensors", "fallback_tensors"}.

    Raises LepInputError when llama-cpp-python is missing or llama.cpp refuses the input, LepJobError when the
    quantizer dies; a stop (KeyboardInterrupt) terminates it. The caller owns `out` (a temporary name) and
    removes it on failure."""
    require_llama_cpp(f"quantizing to {type_.value}")
    tick = progress or (lambda fraction, message: None)
    started = time.perf_counter()
    facts = run_child("lep_core.export.quantize_child",
                      {"source": str(source), "out": str(out), "ftype": type_.llama_ftype, "threads": _threads()},
                      lambda done, total: tick(done / max(total, 1), f"quantizing tensor {done}/{total}"),
                      "llama.cpp's quantizer")
    return {"seconds": round(time.perf_counter() - started, 2), "tensors": facts.get("tensors"),
            "fallback_tensors": facts.get("fallback", 0)}
