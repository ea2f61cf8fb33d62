"""What `lep export gguf` takes, shared by the library, the CLI, the recipe step and the app."""

from __future__ import annotations

import dataclasses
from enum import Enum


class GgufType(str, Enum):
    """Tensor types llama.cpp's converter writes directly (no separate quantize pass)."""

    f16 = "f16"
    q8_0 = "q8_0"
    bf16 = "bf16"
    f32 = "f32"

    @property
    def help(self) -> str:
        return {"f16": "16-bit floats: exact enough to match transformers token for token (default)",
                "q8_0": "8-bit blocks: about half the size of f16, close to it in quality",
                "bf16": "bfloat16: the training dtype of most recent models",
                "f32": "32-bit floats: largest, for checking"}[self.value]


DEFAULT_TYPE = GgufType.f16


@dataclasses.dataclass
class ExportOptions:
    model: str = dataclasses.field(metadata={"help": "the model folder to export (an adapted model)"})
    out: str = dataclasses.field(metadata={"help": "the .gguf file to write (an Ollama Modelfile goes beside it)"})
    type: str = dataclasses.field(default=DEFAULT_TYPE.value, metadata={
        "help": "tensor type: " + "; ".join(f"{t.value}: {t.help}" for t in GgufType),
        "choices": [t.value for t in GgufType]})
    base: str | None = dataclasses.field(default=None, metadata={
        "help": "the original model whose tokenizer was extended (found in lep.json when not given): its "
                "pre-tokenizer type is written when llama.cpp does not recognise the extended one"})
    name: str | None = dataclasses.field(default=None, metadata={"help": "model name in the GGUF and for Ollama"})
    overwrite: bool = dataclasses.field(default=False, metadata={"help": "replace an existing .gguf and Modelfile"})
