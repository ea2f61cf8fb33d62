"""The `export` recipe step: an adapted model -> a GGUF ready for Ollama, as the last step of a recipe.

    - export: {model: adapted/demo-ru, out: exports/demo-ru-f16.gguf, type: f16}

Checked up front with the other steps (type, llama.cpp's converter installed); skipped when the .gguf exists with
the same type, which is read back from the file's own `general.file_type`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

from lep_core.export.options import ExportOptions


def step_problems(args: dict[str, Any]) -> list[str]:
    from lep_core.export.gguf_export import setting_problems

    return setting_problems(str(args.get("type")), str(args.get("out", "")))


def written_settings(out: Path) -> dict[str, Any] | None:
    """{"type": ...} of an existing GGUF, read from its header; None when it is not a readable GGUF."""
    from gguf import GGUFReader, LlamaFileType

    names = {LlamaFileType.MOSTLY_F16: "f16", LlamaFileType.MOSTLY_Q8_0: "q8_0", LlamaFileType.MOSTLY_BF16: "bf16",
             LlamaFileType.ALL_F32: "f32"}
    try:
        field = GGUFReader(out).fields["general.file_type"]
        return {"type": names.get(LlamaFileType(int(field.parts[field.data[0]][0])), "other")}
    except Exception:  # not a GGUF, or one without a file type
        return None


def run_export_step(args: dict[str, Any], overwrite: bool, progress: Callable[[float, str], None]) -> dict[str, Any]:
    from lep_core.export.gguf_export import export_gguf

    opts = ExportOptions(model=args["model"], out=args["out"], type=args["type"], base=args.get("base"),
                         name=args.get("name"), overwrite=overwrite)
    result = export_gguf(opts, progress)
    return {k: v for k, v in result.items() if isinstance(v, (int, float, str))}
