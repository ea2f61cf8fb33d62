"""The `export` recipe step: an adapted model -> a GGUF ready for Ollama, as the last step of a recipe.

    - export: {model: adapted/demo-ru, out: exports/demo-ru-q4_k_m.gguf, type: q4_k_m, check: true}

Checked up front with the other steps (type, llama.cpp's converter installed, llama-cpp-python for a quantized
type or a check); skipped when the .gguf exists with the same type, which is read back from the file's own
`general.file_type`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

from lep_core.export.options import FTYPES, ExportOptions, parse_type


def step_problems(args: dict[str, Any]) -> list[str]:
    from lep_core.export.gguf_export import setting_problems

    return setting_problems(parse_type(str(args.get("type"))), str(args.get("out", "")), bool(args.get("check")))


def written_settings(out: Path) -> dict[str, Any] | None:
    """{"type": ...} of an existing GGUF, read from its header; None when it is not a readable GGUF."""
    from lep_core.export.quantize import file_type

    names = {number: name for name, number in FTYPES.items()}
    try:
        found = file_type(out)
    except Exception:  # not a GGUF
        return None
    return None if found is None else {"type": names.get(found, "other")}


def run_export_step(args: dict[str, Any], overwrite: bool, progress: Callable[[float, str], None]) -> dict[str, Any]:
    from lep_core.export.gguf_export import export_gguf

    opts = ExportOptions(model=args["model"], out=args["out"], type=parse_type(args["type"]), base=args.get("base"),
                         name=args.get("name"), overwrite=overwrite, keep_f16=bool(args.get("keep_f16")),
                         check=bool(args.get("check")))
    result = export_gguf(opts, progress)
    return {k: v for k, v in result.items() if isinstance(v, (int, float, str))}
