"""One options object for `lep train`, shared by the library, the CLI and the app.

Each field carries its help text, so the CLI flags and the app's tooltips say the same thing.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

from lep_core.errors import LepInputError
from lep_core.sources.device import DEVICES

PRECISIONS = ("auto", "fp32", "bf16", "fp16")
OPTIMIZERS = ("adamw", "adamw8bit")
TRAIN_ROWS = ("all", "new")
DATA_KINDS = ("text", "chat")
TRAIN_PARAMS = ("embeddings", "lora")


def _opt(default: Any, help: str, **meta: Any) -> Any:
    return field(default=default, metadata={"help": help, **meta})


@dataclass
class TrainOptions:
    model: str = _opt("", "model to train: folder, .gguf file or hub id")
    corpus: list[str] = field(default_factory=list, metadata={
        "help": "text files or folders (.txt, .jsonl, .parquet); with --data chat, chat JSONL files with `messages`"})
    data: str = _opt("text", "text: corpus packed into blocks, loss on every token; chat: one conversation per row "
                     "in the model's chat template, loss on the assistant's answers only", choices=DATA_KINDS)
    out: str = _opt("", "run folder (metrics, status, checkpoints, final model)")
    steps: int = _opt(200, "optimizer steps")
    batch_size: int = _opt(4, "blocks per micro-batch (per process)")
    seq_len: int = _opt(128, "tokens per block")
    grad_accum: int = _opt(1, "micro-batches per optimizer step (effective batch = batch x accum x processes)")
    lr: float = _opt(1e-3, "peak learning rate (of the input embeddings, and of the head unless --head-lr is given)")
    head_lr: float | None = _opt(None, "peak learning rate of the output head when it is untied (default: --lr; 0 keeps "
                                 "the head as initialised, e.g. fitted by `lep model init --head-method fitted`, while "
                                 "the input rows learn)")
    fit_head: bool = _opt(False, "when training ends, fit the new head rows to the trained model's hidden states on the "
                          "corpus (a convex fit, minutes on a CPU; needs an untied head and --train-rows new): the "
                          "step that makes new tokens chosen when the model writes")
    warmup: int = _opt(10, "linear warm-up steps before the cosine decay")
    min_lr_ratio: float = _opt(0.1, "final learning rate as a fraction of the peak")
    weight_decay: float = _opt(0.0, "decoupled weight decay on the trained rows")
    max_grad_norm: float = _opt(1.0, "clip the gradient norm to this (0 = no clipping)")
    device: str = _opt("auto", "auto (CUDA when present), cpu or cuda", choices=DEVICES)
    precision: str = _opt("auto", "auto (bf16 on CUDA where supported, fp32 on CPU), fp32, bf16 or fp16", choices=PRECISIONS)
    optimizer: str = _opt("adamw", "adamw (torch, fused) or adamw8bit (bitsandbytes: a quarter of the state memory; CPU or CUDA)", choices=OPTIMIZERS)
    load_in_4bit: bool = _opt(False, "load the frozen body in 4-bit (bitsandbytes NF4; CPU or CUDA; never written: final/ keeps the source body)")
    gradient_checkpointing: bool = _opt(False, "recompute activations in backward: less memory, about a third slower")
    train_rows: str = _opt("all", "all rows, or only the rows added by vocabulary extension (old tokens stay untouched)", choices=TRAIN_ROWS)
    train_params: str = _opt("embeddings", "what training changes: the embeddings and head, or LoRA adapters on the "
                             "attention projections (merged into the body when saved)", choices=TRAIN_PARAMS)
    lora_rank: int = _opt(8, "LoRA rank r (with --train-params lora)")
    lora_alpha: float = _opt(16.0, "LoRA scale alpha; the update is (alpha / r) * B @ A")
    lora_mlp: bool = _opt(False, "also put LoRA adapters on the MLP projections (gate/up/down)")
    old_rows: int | None = _opt(None, "rows below this id count as old for --train-rows new (default: from the model's lep.json)")
    val_fraction: float = _opt(0.05, "share of blocks held out for validation loss")
    eval_every: int = _opt(50, "steps between validation losses (0 = only at the end)")
    eval_batches: int = _opt(8, "micro-batches per validation")
    save_every: int = _opt(50, "steps between embedding-only checkpoints (0 = only on stop and at the end)")
    keep_checkpoints: int = _opt(2, "how many recent checkpoints to keep")
    log_every: int = _opt(1, "steps between lines in metrics.jsonl")
    seed: int = _opt(0, "seed for the data order, held-out split and dropout")

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "TrainOptions":
        names = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in names})

    def problems(self) -> list[str]:
        """Every problem with these options at once (so the app can show them all)."""
        out = []
        if not self.model:
            out.append("no --model given")
        if not self.corpus:
            out.append("no --corpus given")
        if not self.out:
            out.append("no --out folder given")
        for name in ("steps", "batch_size", "seq_len", "grad_accum", "eval_batches", "keep_checkpoints", "log_every"):
            if getattr(self, name) < 1:
                out.append(f"--{name.replace('_', '-')} must be at least 1 (got {getattr(self, name)})")
        if self.seq_len < 2:
            out.append("--seq-len must be at least 2")
        for name in ("warmup", "eval_every", "save_every"):
            if getattr(self, name) < 0:
                out.append(f"--{name.replace('_', '-')} must be 0 or more")
        if not self.lr > 0:
            out.append(f"--lr must be positive (got {self.lr})")
        if self.head_lr is not None and not self.head_lr >= 0:
            out.append(f"--head-lr must be 0 or more (got {self.head_lr})")
        if self.fit_head and (self.train_rows != "new" or self.data != "text"):
            out.append("--fit-head fits the rows added by extension on plain text: use it with --train-rows new "
                       "and --data text")
        if not 0 <= self.val_fraction < 0.5:
            out.append(f"--val-fraction must be in [0, 0.5) (got {self.val_fraction})")
        if not 0 <= self.min_lr_ratio <= 1:
            out.append("--min-lr-ratio must be in [0, 1]")
        for name, allowed in (("device", DEVICES), ("precision", PRECISIONS), ("optimizer", OPTIMIZERS), ("train_rows", TRAIN_ROWS),
                              ("data", DATA_KINDS), ("train_params", TRAIN_PARAMS)):
            if getattr(self, name) not in allowed:
                out.append(f"--{name.replace('_', '-')} must be one of {', '.join(allowed)}")
        if self.train_params == "lora":
            if self.lora_rank < 1:
                out.append(f"--lora-rank must be at least 1 (got {self.lora_rank})")
            if not self.lora_alpha > 0:
                out.append(f"--lora-alpha must be positive (got {self.lora_alpha})")
            if self.train_rows == "new":
                out.append("--train-rows new applies to embeddings: drop it with --train-params lora")
        return out

    def validate(self) -> None:
        problems = self.problems()
        if problems:
            raise LepInputError("; ".join(problems))


# options that may change when a run is resumed; the others define the run and must stay
RESUMABLE = {"steps", "lr", "head_lr", "warmup", "min_lr_ratio", "eval_every", "eval_batches", "save_every", "keep_checkpoints",
             "log_every", "device", "precision", "gradient_checkpointing", "max_grad_norm", "weight_decay"}


def option_help(name: str) -> str:
    return next(f.metadata.get("help", "") for f in dataclasses.fields(TrainOptions) if f.name == name)
