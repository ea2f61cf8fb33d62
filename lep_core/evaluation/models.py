"""Keep the compared models loaded between prompts; a model that fails to load gives a readable
message and leaves the others usable."""

from __future__ import annotations

import threading
from collections import OrderedDict
from pathlib import Path
from typing import Any, Callable

from lep_core.errors import LepInputError
from lep_core.sources.loading import first_line, load_model, load_tokenizer, resolve


def pick_device() -> str:
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def warm_up(model) -> None:
    """One tiny forward pass, so the first timed reply does not pay for lazy kernel set-up."""
    import torch

    with torch.inference_mode():
        model(input_ids=torch.zeros((1, 4), dtype=torch.long, device=next(model.parameters()).device))


class ModelCache:
    """Up to `capacity` (model, tokenizer) pairs, keyed by resolved source, least recently used dropped."""

    def __init__(self, capacity: int = 2, device: str | None = None) -> None:
        self.capacity = capacity
        self.device = device
        self._items: OrderedDict[str, tuple[Any, Any]] = OrderedDict()
        self._lock = threading.Lock()

    def key(self, src: str) -> str:
        source = resolve(src, "model")
        return source.location + (f"/{source.gguf_file}" if source.gguf_file else "")

    def loaded(self) -> list[str]:
        return list(self._items)

    def get(self, src: str, progress: Callable[[str], None] | None = None) -> tuple[Any, Any]:
        """The loaded pair for SRC, loading it once; raises LepInputError with one readable line."""
        key = self.key(src)
        with self._lock:
            if key in self._items:
                self._items.move_to_end(key)
                return self._items[key]
            if progress:
                progress(f"loading {Path(key).name}")
            pair = self._load(src)
            self._items[key] = pair
            while len(self._items) > self.capacity:
                self._items.popitem(last=False)
            return pair

    def _load(self, src: str) -> tuple[Any, Any]:
        import torch

        device = self.device or pick_device()
        try:
            tokenizer = load_tokenizer(src)
            dtype = torch.bfloat16 if device == "cuda" and torch.cuda.is_bf16_supported() else torch.float32
            model = load_model(src, dtype=dtype, device=device)
        except LepInputError:
            raise
        except (MemoryError, torch.cuda.OutOfMemoryError) as exc:
            raise LepInputError(f"{src} does not fit in memory on {device}: pick a smaller model") from exc
        except Exception as exc:  # any loader failure becomes one readable line
            raise LepInputError(f"cannot load {src}: {first_line(exc).rstrip('.')}: check that it is a whole model folder "
                                "(config.json, *.safetensors, tokenizer files)") from exc
        model.eval()
        warm_up(model)
        return model, tokenizer

    def drop(self, src: str) -> None:
        with self._lock:
            self._items.pop(self.key(src), None)
