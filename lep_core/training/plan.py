"""Memory plan of a training run from a model's config.json alone (`lep plan`, the Training tab's estimate).

The model is built on the meta device (shapes, no weights), and each item of the run is sized as the
trainer allocates it (see the README's memory table, which these formulas reproduce for Llama-3-8B):

- frozen body: parameters outside the embeddings/head at the body precision, or NF4 for the Linear layers
  (4 bits + an 8-bit absmax per 64 weights + a float32 scale per 256 absmax: 0.516 B) with the rest in bf16;
- trained tensors (embeddings + untied head, or the LoRA adapters) in float32, their float32 gradients
  (for a tied model one V x d more: the fused loss's head gradient meets the shared one);
- optimizer state: torch AdamW 8 B per trained parameter, bitsandbytes 8-bit AdamW 2 B;
- activations per layer and token: the layer's saved inputs and outputs, 6 d + 2 d_kv values in the
  residual stream's dtype (float32 when the embeddings are trained: the stream starts from them) and 5 d_ff
  in the compute dtype (norms, q/k/v, attention output; gate/up/activation/product); with gradient
  checkpointing only each layer's input (d values) is kept, plus one layer recomputed;
- the fused head + loss: one chunk (1,024 tokens) of float32 logits and their softmax;
- runtime: CUDA context and allocator slack (1 GB), or on a CPU the Python process with torch and
  transformers loaded (0.35 GB, measured; bitsandbytes adds 0.12 GB).

Sizes are decimal GB (10^9 bytes), like the README's table.
"""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lep_core.errors import LepInputError
from lep_core.training.loss import CHUNK_TOKENS
from lep_core.training.options import TrainOptions

GB = 1e9
NF4_BYTES = 0.5 + 1 / 64 + 4 / (64 * 256)  # 4-bit weight + double-quantized absmax per 64-weight block
DTYPE_BYTES = {"fp32": 4, "bf16": 2, "fp16": 2}
OPTIMIZER_BYTES = {"adamw": 8, "adamw8bit": 2}
RUNTIME_GB = {"cuda": 1.0, "cpu": 0.35}
BNB_HOST_GB = 0.12  # what importing bitsandbytes adds to a CPU process (measured)


@dataclass
class Shape:
    """What the plan needs to know about a model, read from its meta-device copy (parameter counts, not bytes)."""

    vocab_rows: int
    hidden: int
    layers: int
    kv_dim: int
    ffn: int
    tied: bool
    total: int  # every distinct parameter
    linear: int  # parameters of the body's Linear layers (what NF4 quantizes)
    lora_per_rank: dict[str, int] = field(default_factory=dict)  # "attention"/"mlp": in + out features summed

    @property
    def trained_rows(self) -> int:
        return self.vocab_rows * self.hidden * (1 if self.tied else 2)


def _config(model: str | Path):
    from transformers import AutoConfig

    folder = Path(model).expanduser()
    path = folder if folder.name == "config.json" else folder / "config.json"
    if not path.is_file():
        raise LepInputError(f"no config.json in {folder}: `lep plan` reads a model folder (or its config.json)")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except ValueError as exc:
        raise LepInputError(f"{path} is not valid JSON ({exc}): fix or replace it") from None
    kind = data.get("model_type")
    try:
        return AutoConfig.for_model(kind, **{k: v for k, v in data.items() if k != "model_type"})
    except (ValueError, KeyError, TypeError):
        raise LepInputError(f"unknown architecture {kind!r} in {path}: `lep plan` knows the model types of "
                            "transformers (llama, mistral, qwen2, ...)") from None


def model_shape(model: str | Path) -> Shape:
    """Shapes of the model in `model` (a folder or its config.json), built on the meta device: no weights read.

    Remembered per config.json (path, size and mtime): building even a meta model takes a quarter of a second,
    and the Training tab asks on every page load and every change of a field."""
    folder = Path(model).expanduser()
    path = folder if folder.name == "config.json" else folder / "config.json"
    try:
        st = path.stat()
    except OSError:
        return _model_shape(str(model))  # raises the missing-config error
    return _cached_shape(str(path.resolve()), st.st_size, st.st_mtime_ns)


@functools.lru_cache(maxsize=32)
def _cached_shape(config_path: str, _size: int, _mtime_ns: int) -> Shape:
    return _model_shape(config_path)


def _model_shape(model: str | Path) -> Shape:
    import torch
    from transformers import AutoModelForCausalLM

    config = _config(model)
    try:
        with torch.device("meta"):
            net = AutoModelForCausalLM.from_config(config)
    except (ValueError, KeyError) as exc:
        raise LepInputError(f"{config.model_type!r} is not a causal language model that transformers can build "
                            f"({str(exc).splitlines()[0]}): pick a *ForCausalLM model") from None
    embed, head = net.get_input_embeddings(), net.get_output_embeddings()
    tied = head is None or head.weight is embed.weight or bool(getattr(config, "tie_word_embeddings", False))
    unique = {id(p): p.numel() for p in net.parameters()}
    linears = [(n, m) for n, m in net.named_modules() if isinstance(m, torch.nn.Linear) and m is not head]
    lora = {"attention": 0, "mlp": 0}
    for name, m in linears:
        leaf = name.rsplit(".", 1)[-1]
        group = "attention" if leaf in ("q_proj", "k_proj", "v_proj", "o_proj") else "mlp" if leaf in (
            "gate_proj", "up_proj", "down_proj") else None
        if group:
            lora[group] += m.in_features + m.out_features
    hidden = int(embed.weight.shape[1])
    heads = getattr(config, "num_attention_heads", 1) or 1
    head_dim = getattr(config, "head_dim", None) or hidden // heads
    kv_heads = getattr(config, "num_key_value_heads", None) or heads
    return Shape(vocab_rows=int(embed.weight.shape[0]), hidden=hidden,
                 layers=int(getattr(config, "num_hidden_layers", 0) or len(linears) // 7 or 1),
                 kv_dim=int(kv_heads * head_dim), ffn=int(getattr(config, "intermediate_size", None) or 4 * hidden),
                 tied=tied, total=sum(unique.values()), linear=sum(m.weight.numel() for _, m in linears),
                 lora_per_rank=lora)


def _precision(options: TrainOptions, device: str) -> str:
    if options.precision == "auto":
        return "bf16" if device == "cuda" else "fp32"
    return options.precision


def estimate(shape: Shape, options: TrainOptions, device: str) -> dict[str, float]:
    """Bytes per item of a run with these options on `device` ("cpu" or "cuda")."""
    precision = _precision(options, device)
    body_params = shape.total - shape.trained_rows
    if options.load_in_4bit:
        body = shape.linear * NF4_BYTES + (body_params - shape.linear) * 2
    else:
        body = body_params * DTYPE_BYTES[precision]
    if options.train_params == "lora":
        trained = options.lora_rank * (shape.lora_per_rank["attention"] + (shape.lora_per_rank["mlp"] if options.lora_mlp else 0))
        body += shape.trained_rows * (DTYPE_BYTES[precision] if not options.load_in_4bit else 2)  # frozen embeddings
    else:
        trained = shape.trained_rows
    act = 2 if precision != "fp32" or options.load_in_4bit else 4  # projections' outputs (autocast / NF4 compute)
    # the residual stream and the norms take the dtype of the embeddings: float32 when they are trained
    res = 4 if options.train_params != "lora" else act
    tokens = options.batch_size * options.seq_len
    per_layer = tokens * ((6 * shape.hidden + 2 * shape.kv_dim) * res + 5 * shape.ffn * act)
    if options.gradient_checkpointing:
        activations = shape.layers * tokens * shape.hidden * res + per_layer
    else:
        activations = shape.layers * per_layer
    # the fused loss keeps a float32 head gradient from forward to backward; untied, it meets the head's own
    # gradient (counted once in 2 x V x d); tied, it meets the shared gradient, one V x d more
    buffer = shape.vocab_rows * shape.hidden * 4.0 if shape.tied and options.train_params != "lora" else 0.0
    runtime = RUNTIME_GB[device] * GB
    if device == "cpu" and (options.load_in_4bit or options.optimizer == "adamw8bit"):
        runtime += BNB_HOST_GB * GB
    return {"body": body, "trained": trained * 4.0, "gradients": trained * 4.0 + buffer,
            "optimizer": trained * float(OPTIMIZER_BYTES[options.optimizer]), "activations": activations,
            "head_loss": min(CHUNK_TOKENS, tokens) * shape.vocab_rows * 4 * 2.0, "runtime": runtime}


# what to change, in the order that costs the least quality and speed per byte saved
def _changes(options: TrainOptions) -> list[tuple[str, dict[str, Any]]]:
    out = []
    if options.optimizer != "adamw8bit":
        out.append(("--optimizer adamw8bit", {"optimizer": "adamw8bit"}))
    if not options.gradient_checkpointing:
        out.append(("--gradient-checkpointing", {"gradient_checkpointing": True}))
    if not options.load_in_4bit:
        out.append(("--load-in-4bit", {"load_in_4bit": True}))
    batch = options.batch_size
    while batch > 1:
        batch //= 2
        out.append((f"--batch-size {batch} --grad-accum {options.grad_accum * options.batch_size // batch}",
                    {"batch_size": batch, "grad_accum": options.grad_accum * options.batch_size // batch}))
    return out


def _total(items: dict[str, float]) -> float:
    return sum(items.values())


def plan(options: TrainOptions, device_memory_gb: float | None = None, device: str = "auto") -> dict[str, Any]:
    """The memory plan: per item and total (GB), whether it fits device_memory_gb, and what to change if not.

    device "auto" plans for CUDA when a GPU is visible, else the CPU; device_memory_gb defaults to the GPU's
    memory or the RAM available now. Raises LepInputError on a missing/unknown config or a bad batch shape.
    """
    import dataclasses

    for name in ("batch_size", "seq_len", "grad_accum"):
        if getattr(options, name) < 1:
            raise LepInputError(f"--{name.replace('_', '-')} must be at least 1 (got {getattr(options, name)})")
    if options.train_params == "lora" and options.lora_rank < 1:
        raise LepInputError(f"--lora-rank must be at least 1 (got {options.lora_rank})")
    if device_memory_gb is not None and not device_memory_gb > 0:
        raise LepInputError(f"--device-memory must be a positive number of GB (got {device_memory_gb})")
    if not options.model:
        raise LepInputError("no --model given: pass a model folder (only its config.json is read)")
    device = _device(device)
    memory = device_memory_gb if device_memory_gb is not None else _device_memory(device)
    shape = model_shape(options.model)
    items = estimate(shape, options, device)
    total = _total(items)
    advice, changed, flags, after = None, options, [], total
    if total > memory * GB:
        for flag, change in _changes(options):
            changed = dataclasses.replace(changed, **change)
            flags = [f for f in flags if not (flag.startswith("--batch-size") and f.startswith("--batch-size"))] + [flag]
            after = _total(estimate(shape, changed, device))
            if after <= memory * GB:
                advice = f"pass {' '.join(flags)}: about {after / GB:.1f} GB"
                break
        else:
            advice = (f"does not fit even with {' '.join(flags) or 'these options'} "
                      f"({after / GB:.1f} GB): use a device with more memory or a shorter --seq-len")
    return {"model": str(options.model), "device": device, "precision": _precision(options, device),
            "device_memory_gb": round(memory, 2), "tied": shape.tied, "vocab_rows": shape.vocab_rows, "hidden": shape.hidden,
            "layers": shape.layers, "parameters": shape.total, "trained_parameters": int(items["trained"] / 4),
            "items_gb": {k: round(v / GB, 3) for k, v in items.items()}, "total_gb": round(total / GB, 2),
            "fits": total <= memory * GB, "advice": advice}


def _device(device: str) -> str:
    import torch

    if device not in ("auto", "cpu", "cuda"):
        raise LepInputError(f"unknown device {device!r}: choose auto, cpu or cuda")
    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    return device


def _device_memory(device: str) -> float:
    import torch

    if device == "cuda" and torch.cuda.is_available():
        return torch.cuda.get_device_properties(0).total_memory / GB
    if device == "cuda":
        raise LepInputError("no GPU is visible to read its memory from: pass --device-memory GB")
    import psutil

    return psutil.virtual_memory().available / GB


ITEM_NAMES = {"body": "frozen body", "trained": "trained tensors (fp32)", "gradients": "their gradients (fp32)",
              "optimizer": "optimizer state", "activations": "activations", "head_loss": "head + loss (one chunk)",
              "runtime": "runtime (CUDA context / Python process)"}


def summary_line(result: dict[str, Any]) -> str:
    """One line for the app and the CLI: total against the device, and the advice when it does not fit."""
    verdict = "fits" if result["fits"] else "does NOT fit"
    line = (f"≈ {result['total_gb']:.1f} GB of {result['device_memory_gb']:.1f} GB on {result['device']} "
            f"({result['precision']}): {verdict}")
    return line + (f"; {result['advice']}" if result.get("advice") else "")
