"""Read and write only the embedding and head tensors of a model, shard by shard (design §4, examples #8).

An 8B model's body (~16 GB) is never loaded: the embedding matrices are read from their safetensors
shard, and the output folder is the instruct model's shards copied byte for byte except the one or
two shards that hold the embeddings, which are rewritten with the new tensors. Hub ids and .gguf
files are first written out as a plain folder (they are small or de-quantized anyway).
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from safetensors import safe_open
from safetensors.torch import save_file

from lep_core.embeddings.architectures import EMBED_NAMES, layout_of
from lep_core.errors import LepInputError
from lep_core.sources.loading import Source, _check_local_weights, load_model, resolve, save_model
from lep_core.workspace.atomic import chaos

INDEX = "model.safetensors.index.json"
SINGLE = "model.safetensors"
_DTYPES = {"F64": torch.float64, "F32": torch.float32, "BF16": torch.bfloat16, "F16": torch.float16}


@dataclass
class ModelFiles:
    """A local safetensors model folder, described without loading any weights."""

    folder: Path
    config: dict[str, Any]
    weight_map: dict[str, str]  # tensor name -> shard file name
    embed_name: str
    head_name: str | None  # None when the checkpoint stores no separate head
    layout_head: str  # the family's head tensor name today: where a head that gets untied goes
    tied: bool
    rows: int
    hidden: int
    dtype: torch.dtype

    @property
    def family(self) -> str:
        return str(self.config.get("model_type", "?"))

    def tensor_name(self, side: str) -> str:
        return self.embed_name if side == "input" or self.tied else self.head_name  # type: ignore[return-value]

    def read(self, side: str = "input") -> torch.Tensor:
        """(rows, d) input embeddings or output head, in their stored dtype."""
        name = self.tensor_name(side)
        with safe_open(self.folder / self.weight_map[name], "pt") as f:
            return f.get_tensor(name)


def _weight_map(folder: Path) -> dict[str, str]:
    if (folder / INDEX).is_file():
        return dict(json.loads((folder / INDEX).read_text(encoding="utf-8"))["weight_map"])
    if (folder / SINGLE).is_file():
        with safe_open(folder / SINGLE, "pt") as f:
            return {k: SINGLE for k in f.keys()}
    raise LepInputError(f"no {SINGLE} or {INDEX} in {folder}: is this a model folder?")


def open_model(folder: str | Path) -> ModelFiles:
    folder = Path(folder)
    if not (folder / "config.json").is_file():
        raise LepInputError(f"no config.json in {folder}: point at a model folder")
    config = json.loads((folder / "config.json").read_text(encoding="utf-8"))
    weights = _weight_map(folder)
    layout = layout_of(weights, config.get("model_type"))
    if layout is None:
        raise LepInputError(f"cannot find the input embeddings in {folder} (looked for {', '.join(EMBED_NAMES)}): "
                            "add the family's tensor names to lep_core/embeddings/architectures.py")
    embed, head = layout.stored(weights, "input"), layout.stored(weights, "output")
    tied = bool(config.get(layout.tie_key, head is None))
    if not tied and head is None:
        raise LepInputError(f"{folder} says its head is untied but stores no head tensor: the checkpoint is incomplete")
    with safe_open(folder / weights[embed], "pt") as f:
        piece = f.get_slice(embed)
        rows, hidden = piece.get_shape()
        dtype = _DTYPES.get(piece.get_dtype(), torch.float32)
    return ModelFiles(folder, config, weights, embed, head, layout.head, tied, int(rows), int(hidden), dtype)


def local_folder(src: str | Path | Source, scratch: Path, allow_pickle: bool = False) -> Path:
    """A local safetensors folder for SRC: the folder itself, or a hub id / .gguf written out to scratch."""
    source = src if isinstance(src, Source) else resolve(src, "model")
    if not source.is_hub and not source.gguf_file:
        _check_local_weights(source, allow_pickle)
        folder = Path(source.location)
        if any(folder.glob("*.safetensors")):
            return folder
    from lep_core.sources.loading import load_tokenizer

    target = scratch / source.name
    save_model(load_model(source, dtype="auto", allow_pickle=allow_pickle), load_tokenizer(source), target)
    return target


def _shape_bytes(folder: Path, shard: str, names: list[str]) -> int:
    with safe_open(folder / shard, "pt") as f:
        total = 0
        for name in names:
            piece = f.get_slice(name)
            size = torch.empty((), dtype=_DTYPES.get(piece.get_dtype(), torch.float32)).element_size()
            numel = 1
            for s in piece.get_shape():
                numel *= s
            total += numel * size
        return total


def write_model(
    src: ModelFiles,
    out: Path,
    replace: dict[str, torch.Tensor],
    config_updates: dict[str, Any],
    generation_updates: dict[str, Any] | None = None,
) -> None:
    """src's model folder in out, with the tensors in `replace` swapped and config.json updated.

    A name in `replace` that src does not store (the head of a tied model being untied) is added to the shard
    that holds the input embeddings."""
    out.mkdir(parents=True, exist_ok=True)
    weight_map = {**src.weight_map, **{n: src.weight_map[src.embed_name] for n in replace if n not in src.weight_map}}
    by_shard: dict[str, list[str]] = {}
    for name, shard in weight_map.items():
        by_shard.setdefault(shard, []).append(name)
    total = 0
    for shard, names in sorted(by_shard.items()):
        if any(n in replace for n in names):
            with safe_open(src.folder / shard, "pt") as f:
                meta = f.metadata() or {"format": "pt"}
                tensors = {n: replace[n].contiguous() if n in replace else f.get_tensor(n) for n in names}
            save_file(tensors, str(out / shard), metadata=meta)
            total += sum(t.numel() * t.element_size() for t in tensors.values())
            del tensors
        else:
            shutil.copyfile(src.folder / shard, out / shard)
            total += _shape_bytes(src.folder, shard, names)
    chaos("files-written")  # the chaos test's kill point: the shards written, not yet config.json
    if (src.folder / INDEX).is_file():
        index = json.loads((src.folder / INDEX).read_text(encoding="utf-8"))
        index.setdefault("metadata", {})["total_size"] = total
        index["weight_map"] = weight_map
        (out / INDEX).write_text(json.dumps(index, indent=2), encoding="utf-8")
    config = {**src.config, **config_updates}
    (out / "config.json").write_text(json.dumps(config, indent=2, ensure_ascii=False), encoding="utf-8")
    gen_path = src.folder / "generation_config.json"
    if gen_path.is_file():
        gen = json.loads(gen_path.read_text(encoding="utf-8"))
        gen.update({k: v for k, v in (generation_updates or {}).items() if k in gen or v is not None})
        (out / "generation_config.json").write_text(json.dumps(gen, indent=2), encoding="utf-8")
