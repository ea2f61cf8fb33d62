"""Where and how the model runs: device, precision, loading (4-bit body), optimizer, LR schedule.

bf16 autocast, the bitsandbytes 8-bit AdamW and the NF4 body run through the same code on CUDA and on the
CPU (bitsandbytes >= 0.49 has CPU kernels): on a CPU they save memory, not time, and the run says so.
"""

from __future__ import annotations

import math
from typing import Any

import torch

from lep_core.embeddings.architectures import EMBEDDING_MODULES
from lep_core.errors import LepInputError
from lep_core.training.options import TrainOptions


def resolve_precision(precision: str, device: str) -> str:
    """auto = bf16 on CUDA where supported, fp32 otherwise (fp16 only when asked)."""
    if precision == "auto":
        return "bf16" if device == "cuda" and torch.cuda.is_bf16_supported() else "fp32"
    if precision == "bf16" and device == "cuda" and not torch.cuda.is_bf16_supported():
        raise LepInputError("this GPU has no bf16 support: use --precision fp16 or fp32")
    if precision == "fp16" and device != "cuda":
        raise LepInputError("--precision fp16 needs CUDA (on CPU use fp32 or bf16)")
    return precision


BODY_DTYPES = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}
MIXED = {"fp32": "no", "bf16": "bf16", "fp16": "fp16"}


def make_accelerator(device: str, precision: str):
    """The run's Accelerator. One process may run several trainings (a recipe, a test session) with different
    precisions, and accelerate keeps the first one's settings process-wide: drop those, keep the process group."""
    from accelerate import Accelerator
    from accelerate.state import AcceleratorState

    AcceleratorState._reset_state(reset_partial_state=False)
    return Accelerator(cpu=device == "cpu", mixed_precision=MIXED[precision])


def check_cuda_options(options: TrainOptions, device: str) -> list[str]:
    """What stops the memory-saving options from running here: only a missing bitsandbytes (CPU and CUDA alike)."""
    if not (options.load_in_4bit or options.optimizer == "adamw8bit"):
        return []
    try:
        import bitsandbytes  # noqa: F401
    except ImportError:
        return ["--load-in-4bit and --optimizer adamw8bit need bitsandbytes: pip install bitsandbytes"]
    return []


def cpu_note(options: TrainOptions, device: str, precision: str) -> str | None:
    """The one line a CPU run with memory-saving options logs: what they buy there (memory) and what not (speed)."""
    used = [flag for flag, on in (("--load-in-4bit", options.load_in_4bit), ("--optimizer adamw8bit", options.optimizer == "adamw8bit"),
                                  ("--precision bf16", precision == "bf16")) if on]
    if not device.startswith("cpu") or not used:
        return None
    return f"on CPU {', '.join(used)} save memory, not time: use them to fit a bigger model into RAM, drop them for speed"


def load_for_training(source, precision: str, device: str, load_in_4bit: bool, device_index: int = 0):
    """The model with its body in the training precision (or NF4); embeddings and head are made float32 later."""
    from lep_core.sources.loading import load_model

    dtype = BODY_DTYPES[precision]
    if not load_in_4bit:
        return load_model(source, dtype=dtype)
    from transformers import BitsAndBytesConfig

    quant = BitsAndBytesConfig(
        load_in_4bit=True, bnb_4bit_quant_type="nf4", bnb_4bit_use_double_quant=True,
        bnb_4bit_compute_dtype=dtype if dtype != torch.float32 else torch.bfloat16,
        llm_int8_skip_modules=list(EMBEDDING_MODULES),  # the trained rows stay full precision
    )
    place = device_index if device.startswith("cuda") else "cpu"
    model = load_model(source, dtype=dtype if dtype != torch.float32 else torch.bfloat16,
                       quantization_config=quant, device_map={"": place})
    keep_4bit_differentiable(model)
    return model


def keep_4bit_differentiable(model) -> None:
    """Stop bitsandbytes repacking NF4 weights for its CPU inference kernel.

    On a CPU with AVX512-BF16, a Linear4bit that runs in eval mode without gradients (validation) rewrites
    its weight into a packed layout for good, and from then on it uses a kernel that has no backward: the
    loss no longer reaches the embeddings through the body. Training interleaves validation, so keep the layout.
    """
    import bitsandbytes as bnb

    for module in model.modules():
        if isinstance(module, bnb.nn.Linear4bit):
            module.support_avx512bf16_for_cpu = False


def param_groups(params: list[torch.nn.Parameter], options: TrainOptions,
                 head: torch.nn.Parameter | None = None) -> list[dict[str, Any]]:
    """One optimizer group per learning rate: the head (untied) gets --head-lr, the rest --lr.

    Each group carries `lr_scale` (its peak over --lr), so the schedule sets group lr = lr_at(step) x lr_scale.
    """
    if head is None or options.head_lr is None:
        return [{"params": params, "lr_scale": 1.0}]
    rest = [p for p in params if p is not head]
    return [{"params": rest, "lr_scale": 1.0}, {"params": [head], "lr_scale": options.head_lr / options.lr}]


def make_optimizer(params: list[torch.nn.Parameter] | list[dict[str, Any]], options: TrainOptions, device: str):
    """AdamW over the trained tensors (or param_groups) only: torch fused kernel or bitsandbytes 8-bit (CPU and CUDA)."""
    kwargs: dict[str, Any] = {"lr": options.lr, "betas": (0.9, 0.95), "eps": 1e-8, "weight_decay": 0.0}
    if options.optimizer == "adamw8bit":
        import bitsandbytes as bnb

        return bnb.optim.AdamW8bit(params, **kwargs)
    try:
        return torch.optim.AdamW(params, fused=True, **kwargs)
    except (RuntimeError, ValueError):  # fused kernel unavailable for this device/dtype
        return torch.optim.AdamW(params, foreach=True, **kwargs)


def lr_at(step: int, options: TrainOptions) -> float:
    """Linear warm-up to the peak, then cosine down to min_lr_ratio x peak; step is 0-based."""
    peak, warm, total = options.lr, options.warmup, options.steps
    if warm and step < warm:
        return peak * (step + 1) / warm
    span = max(1, total - warm)
    progress = min(1.0, (step - warm) / span)
    floor = peak * options.min_lr_ratio
    return floor + (peak - floor) * 0.5 * (1 + math.cos(math.pi * progress))


def is_out_of_memory(exc: BaseException) -> bool:
    if isinstance(exc, MemoryError) or type(exc).__name__ == "OutOfMemoryError":
        return True
    text = str(exc).lower()
    return isinstance(exc, RuntimeError) and ("out of memory" in text or "can't allocate memory" in text)


def oom_advice(options: TrainOptions, device: str, step: int) -> str:
    tips = [f"lower --batch-size (now {options.batch_size}; raise --grad-accum to keep the effective batch)",
            f"or --seq-len (now {options.seq_len})"]
    if not options.gradient_checkpointing:
        tips.append("pass --gradient-checkpointing")
    if not options.load_in_4bit:
        tips.append("pass --load-in-4bit")
    if options.optimizer != "adamw8bit":
        tips.append("use --optimizer adamw8bit")
    return f"out of memory on {device} at step {step}: " + ", ".join(tips)
