"""Child process: llama.cpp's own quantizer (`llama_model_quantize`, through llama-cpp-python) on one GGUF.

Run as `python -m lep_core.export.quantize_child SPEC.json` by quantize.py (lep_core/export/child.py has the
protocol). The quantizer reports nothing but its log, so a log callback turns its per-tensor lines
(`[  12/ 272] blk.1.attn_q.weight - ...`) into {"done", "total"} progress and keeps its fallback count
(`N of M tensor(s) required fallback quantization`: rows not a multiple of the k-quant block of 256).
Last line: {"tensors", "fallback"}; {"error"} with exit 2 when llama.cpp refuses the input.
"""

from __future__ import annotations

import ctypes
import json
import re
import sys
from pathlib import Path

from lep_core.export.child import die_with_parent, emit

TENSOR_LINE = re.compile(r"\[\s*(\d+)\s*/\s*(\d+)\s*\]")
FALLBACK_LINE = re.compile(r"(\d+) of (\d+) tensor\(s\) required fallback")


def main() -> int:
    spec = json.loads(Path(sys.argv[1]).read_text(encoding="utf-8"))
    die_with_parent(spec.get("parent"))
    import llama_cpp

    seen = {"tensors": 0, "fallback": 0}
    last_error: list[str] = []

    def on_log(level: int, text: bytes, user_data) -> None:
        line = text.decode("utf-8", "replace")
        tensor = TENSOR_LINE.match(line)
        if tensor:
            seen["tensors"] = int(tensor[2])
            emit(done=int(tensor[1]) - 1, total=int(tensor[2]))
            return
        fallback = FALLBACK_LINE.search(line)
        if fallback:
            seen["fallback"] = int(fallback[1])
        if level in (2, 3) and line.strip():  # warnings and errors: the parent keeps stderr's last lines
            sys.stderr.write(line)
            last_error[:] = [line.strip()]

    callback = llama_cpp.llama_log_callback(on_log)  # kept referenced for the whole call
    llama_cpp.llama_log_set(callback, ctypes.c_void_p(0))
    params = llama_cpp.llama_model_quantize_default_params()
    params.ftype = int(spec["ftype"])
    params.nthread = int(spec.get("threads") or 0)
    code = llama_cpp.llama_model_quantize(str(spec["source"]).encode(), str(spec["out"]).encode(),
                                          ctypes.byref(params))
    if code != 0:
        why = last_error[0] if last_error else f"code {code}"
        emit(error=f"llama.cpp's quantizer refused {Path(spec['source']).name}: {why}")
        return 2
    emit(**seen)
    return 0


if __name__ == "__main__":
    sys.exit(main())
