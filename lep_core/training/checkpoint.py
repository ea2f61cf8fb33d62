"""Checkpoints of the trained tensors only (embeddings or LoRA adapters, never the body) and the final HF folder.

checkpoints/step-000020/ holds trainable.safetensors (embed [+ head]) or adapter/ (LoRA, peft's format), state.pt (optimizer, RNG, step;
plain tensors and numbers, loaded with weights_only=True; a checkpoint that needs the full unpickler is refused
unless --allow-pickle) and meta.json. Each is written into a
temporary folder and renamed, so a checkpoint that exists is complete.
"""

from __future__ import annotations

import json
import os
import pickle
import random
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import load_file, save_file

from lep_core.errors import LepInputError, LepJobError
from lep_core.sources.loading import first_line, save_model
from lep_core.workspace.atomic import remove, temp_path
from lep_core.workspace.store import atomic_dir

CKPT_DIR = "checkpoints"


def rng_state() -> dict[str, Any]:
    state = {"torch": torch.get_rng_state(), "python": list(random.getstate()[1]), "python_pos": random.getstate()[2],
             "numpy": torch.from_numpy(np.random.get_state()[1].astype(np.int64)), "numpy_pos": int(np.random.get_state()[2])}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    torch.set_rng_state(state["torch"])
    random.setstate((3, tuple(state["python"]), state["python_pos"]))
    np.random.set_state(("MT19937", state["numpy"].numpy().astype(np.uint32), state["numpy_pos"], 0, 0.0))
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def checkpoints(run_dir: Path) -> list[Path]:
    """Complete checkpoints, oldest first."""
    folder = Path(run_dir) / CKPT_DIR
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.iterdir() if p.is_dir() and p.name.startswith("step-") and (p / "meta.json").is_file())


def save_checkpoint(run_dir: Path, step: int, trainable, optimizer, extra: dict[str, Any], keep: int) -> Path:
    """Write checkpoints/step-N atomically, then drop all but the newest `keep`. A failed write raises LepJobError."""
    target = Path(run_dir) / CKPT_DIR / f"step-{step:06d}"
    try:
        (Path(run_dir) / CKPT_DIR).mkdir(parents=True, exist_ok=True)
        with atomic_dir(target, overwrite=True, lock=False) as tmp:  # the run folder's lock covers it
            trainable.save(tmp)
            torch.save({"optimizer": optimizer.state_dict(), "rng": rng_state(), "step": step}, tmp / "state.pt")
            (tmp / "meta.json").write_text(json.dumps({"step": step, **extra}), encoding="utf-8")
    except (OSError, SafetensorError) as exc:
        last = checkpoints(run_dir)
        kept = f"the previous checkpoint {last[-1].name} is kept" if last else "no earlier checkpoint exists"
        raise LepJobError(
            f"could not write checkpoint step-{step} in {Path(run_dir) / CKPT_DIR}: {first_line(exc)}; "
            f"{kept}; free disk space or fix permissions, then run again with --resume"
        ) from exc
    for old in checkpoints(run_dir)[:-keep]:  # renamed aside first: a kill mid-delete leaves no half checkpoint
        gone = temp_path(old, "deleting")
        os.replace(old, gone)
        remove(gone)
    return target


def load_state(path: Path, allow_pickle: bool | None = None) -> dict[str, Any]:
    """state.pt, loaded with torch's weights_only unpickler (tensors and plain values only: nothing in it can
    run code). A file that needs more (an older or foreign checkpoint) is refused in one line naming
    --allow-pickle; with it (or LEP_ALLOW_PICKLE=1, which the flag sets) the full unpickler loads it."""
    from lep_core.sources.loading import pickle_allowed

    file = path / "state.pt"
    if allow_pickle is None:
        allow_pickle = pickle_allowed()
    try:
        return torch.load(file, weights_only=True, map_location="cpu")
    except pickle.UnpicklingError:
        if not allow_pickle:
            raise LepInputError(f"{file} holds pickled Python objects that only a full unpickler loads, which can "
                                "run code: resume with --allow-pickle if you trust where it came from") from None
    return torch.load(file, weights_only=False, map_location="cpu")


def load_checkpoint(path: Path, trainable, optimizer, allow_pickle: bool | None = None) -> dict[str, Any]:
    """Put the checkpoint's rows, optimizer state and RNG back; returns meta.json."""
    trainable.load(path)
    state = load_state(path, allow_pickle)
    optimizer.load_state_dict(state["optimizer"])
    set_rng_state(state["rng"])
    return json.loads((path / "meta.json").read_text(encoding="utf-8"))


def _tensor_key(folder: Path, names: list[str], shape: tuple[int, ...]) -> tuple[Path, str] | None:
    """(shard, key) of a parameter in the source safetensors, matched by name suffix and shape."""
    for shard in sorted(folder.glob("*.safetensors")):
        with safe_open(str(shard), framework="pt") as f:
            for key in f.keys():
                if any(key == n or key.endswith("." + n) or n.endswith("." + key) for n in names):
                    if tuple(f.get_slice(key).get_shape()) == tuple(shape):
                        return shard, key
    return None


def write_final(out: Path, model, tokenizer, trainable, source_dir: Path | None, manifest: dict[str, Any]) -> Path:
    """final/: the source folder with only the embedding (and head) tensors replaced, so the body stays bit-identical.

    Falls back to save_pretrained when the source is not a safetensors folder (GGUF, hub).
    """
    from lep_core.workspace.store import write_manifest

    with atomic_dir(out, overwrite=True, lock=False) as tmp:  # inside a run folder, whose lock the run holds
        replaced = _replace_tensors(tmp, model, trainable, source_dir) if source_dir else False
        if not replaced:
            if getattr(model, "is_loaded_in_4bit", False):
                raise LepJobError("a run on a 4-bit body writes final/ from the source's own tensors, but the source is "
                                  "not a local safetensors folder: save the model as a folder, then train from it")
            save_model(trainable.plain(model), tokenizer, tmp)
        elif tokenizer is not None and not (tmp / "tokenizer.json").is_file():
            tokenizer.save_pretrained(tmp)
        write_manifest(tmp, **manifest)
    return out


def _replace_tensors(tmp: Path, model, trainable, source_dir: Path) -> bool:
    src = Path(source_dir)
    if not any(src.glob("*.safetensors")):
        return False
    targets = {}
    for names, shape, new in trainable.replacements(model):
        found = _tensor_key(src, names, shape)
        if found is None:
            return False
        targets.setdefault(found[0], {})[found[1]] = new
    for item in src.iterdir():
        if item.name == "lep.json" or item.suffix in (".bin", ".pt", ".pth", ".gguf") or item.name.startswith("."):
            continue
        if item.is_file() and item.suffix == ".safetensors" and item in targets:
            with safe_open(str(item), framework="pt") as f:
                metadata = f.metadata()
            tensors = load_file(str(item))
            for key, new in targets[item].items():
                tensors[key] = new(tensors[key])
            save_file(tensors, str(tmp / item.name), metadata=metadata)
        elif item.is_file():
            shutil.copy2(item, tmp / item.name)
        elif item.is_dir():
            shutil.copytree(item, tmp / item.name)
    return True

