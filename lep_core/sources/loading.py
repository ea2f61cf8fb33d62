"""Load and save models and tokenizers from a local HF folder, a .gguf file or a hub id.

A source (SRC) is resolved once into a `Source` so every command treats the three kinds alike.
Weights load from safetensors; pickle checkpoints and remote code need explicit opt-in flags.
"""

from __future__ import annotations

import contextlib
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

from lep_core.errors import LepInputError
from lep_core.workspace.atomic import chaos
from lep_core.workspace.fields import check_field

_HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")
PICKLE_ENV = "LEP_ALLOW_PICKLE"  # set to 1 by the commands' --allow-pickle flag (lep_core.cli.common)


def pickle_allowed() -> bool:
    """Has the user opted in to pickle weights and checkpoints (`--allow-pickle`, or LEP_ALLOW_PICKLE=1)?"""
    return os.environ.get(PICKLE_ENV, "") not in ("", "0")


@dataclass(frozen=True)
class Source:
    """Where a model or tokenizer comes from: kwargs for `from_pretrained` plus a display name."""

    location: str  # folder, hub id, or the folder holding the gguf file
    gguf_file: str | None = None
    is_hub: bool = False

    @property
    def name(self) -> str:
        if self.gguf_file:
            return Path(self.gguf_file).stem
        return Path(self.location).name if not self.is_hub else self.location.split("/")[-1]

    def kwargs(self) -> dict[str, Any]:
        return {"gguf_file": self.gguf_file} if self.gguf_file else {}


def resolve(src: str | os.PathLike, what: str = "model") -> Source:
    """Turn a SRC string into a Source, or raise a clear error naming the problem (a control character in it
    included: lep_core.workspace.fields)."""
    text = check_field(src, what)
    if not text:
        raise LepInputError(f"no {what} given: pass a folder, a .gguf file or a hub id (org/name)")
    path = Path(text).expanduser()
    if path.is_file() and path.suffix == ".gguf":
        return Source(str(path.parent.resolve()), gguf_file=path.name)
    if path.is_dir():
        return Source(str(path.resolve()))
    if path.exists():
        raise LepInputError(f"{text} is a file, not a {what}: pass its folder or a .gguf file")
    if _HUB_ID.match(text) and not text.startswith((".", "/")):
        return Source(text, is_hub=True)
    raise LepInputError(f"{what} not found: {text} (no such folder or .gguf file, and not a hub id org/name)")


def _check_local_weights(source: Source, allow_pickle: bool) -> None:
    allow_pickle = allow_pickle or pickle_allowed()
    if source.is_hub or source.gguf_file:
        return
    folder = Path(source.location)
    if any(folder.glob("*.safetensors")):
        return
    if any(folder.glob("*.bin")) or any(folder.glob("*.pt")):
        if not allow_pickle:
            raise LepInputError(
                f"{folder} holds only pickle weights (.bin/.pt), which can run code when loaded: "
                "convert them to safetensors or pass --allow-pickle if you trust the source"
            )
        return
    raise LepInputError(f"no model weights (*.safetensors) in {folder}: is this a model folder?")


def _bad_gguf(source: Source, exc: BaseException) -> str:
    return (f"cannot read {Path(source.location) / str(source.gguf_file)} as GGUF ({type(exc).__name__}: "
            f"{first_line(exc)}): the file is damaged or not GGUF; re-download or re-convert it")


@contextlib.contextmanager
def _load_errors(source: Source, what: str, fix: str, *also: type[BaseException]) -> Iterator[None]:
    """transformers' loading errors as one line: a missing or garbled file (OSError, ValueError, `also`) names the
    folder and `fix`; a damaged GGUF file (the reader fails with struct or index errors) says so."""
    try:
        yield
    except (OSError, ValueError, *also) as exc:
        raise LepInputError(f"cannot load {what} from {source.location}: {first_line(exc).rstrip('.')}: {fix}") from exc
    except Exception as exc:  # noqa: BLE001
        if not source.gguf_file:
            raise
        raise LepInputError(_bad_gguf(source, exc)) from exc


def tokenizer_source(src: str | os.PathLike | Source) -> Source:
    """SRC resolved, with a local folder checked to hold a tokenizer (cheap: no file is read). Callers check their
    inputs with it before taking locks, so a wrong path is named as what it is. Raises LepInputError."""
    source = src if isinstance(src, Source) else resolve(src, "tokenizer")
    if not source.is_hub and not source.gguf_file:
        folder = Path(source.location)
        if not (folder / "tokenizer.json").is_file() and not (folder / "tokenizer.model").is_file():
            raise LepInputError(
                f"no tokenizer.json in {folder}: point at a tokenizer or model folder "
                "(or make one with `lep tokenizer extend` / `lep tokenizer train`)"
            )
    return source


def load_tokenizer(src: str | os.PathLike | Source, trust_remote_code: bool = False):
    """A fast (tokenizers-backed) HF tokenizer for SRC."""
    from transformers import AutoTokenizer

    source = tokenizer_source(src)
    with _load_errors(source, "a tokenizer", "check or re-download its tokenizer files"):
        tok = AutoTokenizer.from_pretrained(source.location, trust_remote_code=trust_remote_code, **source.kwargs())
    if getattr(tok, "backend_tokenizer", None) is None:
        raise LepInputError(f"{source.location} has only a slow tokenizer; LEP Studio needs a tokenizers-backed one")
    return tok


def load_model(
    src: str | os.PathLike | Source,
    dtype: Any = None,
    device: str | None = None,
    allow_pickle: bool = False,
    trust_remote_code: bool = False,
    **extra: Any,
):
    """A causal LM for SRC; GGUF files are de-quantized and stripped of their quantizer on load."""
    import torch
    from safetensors import SafetensorError
    from transformers import AutoModelForCausalLM

    source = src if isinstance(src, Source) else resolve(src, "model")
    _check_local_weights(source, allow_pickle)
    allow_pickle = allow_pickle or pickle_allowed()
    with _load_errors(source, "a model", "check its config.json and weights (re-download or re-save the model)",
                      SafetensorError):
        model = AutoModelForCausalLM.from_pretrained(
            source.location,
            dtype=dtype if dtype is not None else torch.float32,
            trust_remote_code=trust_remote_code,
            use_safetensors=None if allow_pickle else (True if not source.gguf_file else None),
            **source.kwargs(),
            **extra,
        )
    if source.gguf_file:
        strip_quantizer(model)
    if device:
        model.to(device)
    return model


def strip_quantizer(model) -> None:
    """A de-quantized GGUF model still carries its quantizer; drop it so save_pretrained writes plain weights."""
    model.hf_quantizer = None
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    for attr in ("is_quantized", "quantization_method"):
        if hasattr(model, attr):
            try:
                setattr(model, attr, False if attr == "is_quantized" else None)
            except AttributeError:
                pass


def save_model(model, tokenizer, folder: Path) -> None:
    """Plain HF folder: safetensors weights, config, generation config, tokenizer and chat template."""
    model.save_pretrained(folder, safe_serialization=True)
    chaos("files-written")  # the chaos test's kill point: weights written, tokenizer not yet
    if tokenizer is not None:
        tokenizer.save_pretrained(folder)


def first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__
