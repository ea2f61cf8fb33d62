"""What `lep export gguf` takes, shared by the library, the CLI, the recipe step and the app."""

from __future__ import annotations

import dataclasses
from enum import Enum


class GgufType(str, Enum):
    """Tensor types of an export. The first four llama.cpp's converter writes directly; the others (k-quants and
    the legacy 4/5-bit blocks) llama.cpp's own quantizer makes from an f16 export (lep_core/export/quantize.py),
    which needs llama-cpp-python (`pip install 'lep-studio[llama]'`).

    The sizes in the help are llama.cpp's figures for Llama-3-8B; k-quants work on rows of 256 weights, so a small
    model whose rows are not a multiple of 256 (SmolLM2-135M: 576) keeps those tensors in llama.cpp's fallback
    type (q5_0 for q4_k, q8_0 for q6_k...), which the export reports."""

    f16 = "f16"
    q8_0 = "q8_0"
    bf16 = "bf16"
    f32 = "f32"
    q6_k = "q6_k"
    q5_k_m = "q5_k_m"
    q5_0 = "q5_0"
    q4_k_m = "q4_k_m"
    q4_0 = "q4_0"
    q3_k_m = "q3_k_m"
    q2_k = "q2_k"

    @property
    def quantized(self) -> bool:
        """Made by llama.cpp's quantizer from an f16 export (needs llama-cpp-python), not by the converter."""
        return self.value not in DIRECT

    @property
    def llama_ftype(self) -> int:
        """llama.cpp's `enum llama_ftype` value (llama.h), as written to the GGUF's general.file_type."""
        return FTYPES[self.value]

    @property
    def help(self) -> str:
        return HELP[self.value]


DIRECT = ("f16", "q8_0", "bf16", "f32")
FTYPES = {"f32": 0, "f16": 1, "q4_0": 2, "q8_0": 7, "q5_0": 8, "q2_k": 10, "q3_k_m": 12, "q4_k_m": 15,
          "q5_k_m": 17, "q6_k": 18, "bf16": 32}
HELP = {
    "f16": "16-bit floats: exact enough to match transformers token for token (default)",
    "q8_0": "8-bit blocks: about half the size of f16, close to it in quality",
    "bf16": "bfloat16: the training dtype of most recent models",
    "f32": "32-bit floats: largest, for checking",
    # llama.cpp's own figures for Llama-3-8B (tools/quantize/quantize.cpp): file size, perplexity added to f16's
    "q6_k": "k-quant, 6.14 GB for an 8B model, +0.02 perplexity: nearly f16",
    "q5_k_m": "k-quant, 5.33 GB for an 8B model, +0.06 perplexity",
    "q5_0": "legacy 5-bit blocks, 5.21 GB for an 8B model, +0.13 perplexity",
    "q4_k_m": "k-quant, 4.58 GB for an 8B model, +0.18 perplexity: what Ollama pulls by default",
    "q4_0": "legacy 4-bit blocks, 4.34 GB for an 8B model, +0.47 perplexity",
    "q3_k_m": "k-quant, 3.74 GB for an 8B model, +0.66 perplexity: small, visibly worse",
    "q2_k": "k-quant, 2.96 GB for an 8B model, +3.52 perplexity: smallest, much worse",
}
DEFAULT_TYPE = GgufType.f16  # the CLI's: the exact one
OLLAMA_TYPE = GgufType.q4_k_m  # the Export tab's, when llama.cpp's quantizer is installed: what Ollama users run


def parse_type(text: str) -> str:
    """`--type` as typed: Q4_K_M and q4_k_m are the same type (llama.cpp writes them upper case)."""
    return str(text).strip().lower()


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
    keep_f16: bool = dataclasses.field(default=False, metadata={
        "help": "for a quantized type: keep the f16 export it was made from, beside it as NAME-f16.gguf "
                "(removed otherwise)"})
    check: bool = dataclasses.field(default=False, metadata={
        "help": "measure the file in llama.cpp: bits-per-char on held-out Russian and English text against "
                "transformers (and against f16 for a quantized type), token ids and greedy output"})
