"""LoRA adapters on the body's projections: y = W x + (alpha / r) * B A x, with W frozen.

A (r, in) starts random, B (out, r) at zero, so training starts from the unchanged model. Only A and B
are trained and checkpointed; at the end B A is added into W and the wrapper removed, so the saved
model is a plain HF folder with the same tensor names and shapes as the source.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from lep_core.errors import LepInputError

ATTENTION = ("q_proj", "k_proj", "v_proj", "o_proj")
MLP = ("gate_proj", "up_proj", "down_proj")


class LoRALinear(nn.Module):
    """A frozen nn.Linear plus a trainable low-rank update (float32, whatever the body's dtype)."""

    def __init__(self, base: nn.Linear, rank: int, alpha: float):
        super().__init__()
        self.base = base
        self.scale = alpha / rank
        device = base.weight.device
        self.lora_A = nn.Parameter(torch.empty(rank, base.in_features, device=device, dtype=torch.float32))
        self.lora_B = nn.Parameter(torch.zeros(base.out_features, rank, device=device, dtype=torch.float32))
        nn.init.kaiming_uniform_(self.lora_A, a=math.sqrt(5))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.base(x)
        update = (x.to(self.lora_A.dtype) @ self.lora_A.T) @ self.lora_B.T  # (..., out)
        return out + (update * self.scale).to(out.dtype)

    def delta(self) -> torch.Tensor:
        """(out, in) float32: what merging adds to W."""
        return (self.lora_B @ self.lora_A) * self.scale


def _targets(model, names: tuple[str, ...]) -> list[tuple[nn.Module, str, nn.Linear]]:
    head = model.get_output_embeddings()
    found = []
    for parent_name, parent in model.named_modules():
        for child_name, child in parent.named_children():
            if child_name in names and isinstance(child, nn.Linear) and child is not head:
                found.append((parent, child_name, child))
    return found


class LoraTrainable:
    """The trained set for --train-params lora: the same interface as freeze.Trainable."""

    tied = False
    new_rows = None

    def __init__(self, modules: dict[str, LoRALinear]):
        self.modules = modules  # qualified name of the wrapped projection -> wrapper
        self.merged: list[nn.Parameter] = []

    def params(self) -> list[nn.Parameter]:
        return [p for m in self.modules.values() for p in (m.lora_A, m.lora_B)]

    def state(self) -> dict[str, torch.Tensor]:
        out = {}
        for name, m in self.modules.items():
            out[f"{name}.lora_A"] = m.lora_A.detach().float().cpu().contiguous()
            out[f"{name}.lora_B"] = m.lora_B.detach().float().cpu().contiguous()
        return out

    def load_state(self, tensors: dict[str, torch.Tensor]) -> None:
        with torch.no_grad():
            for name, m in self.modules.items():
                m.lora_A.copy_(tensors[f"{name}.lora_A"])
                m.lora_B.copy_(tensors[f"{name}.lora_B"])

    def finish(self, model) -> None:
        """Add B A into each W and put the plain Linear back (idempotent)."""
        if self.merged:
            return
        with torch.no_grad():
            for parent, child_name, wrapper in _targets_by_wrapper(model):
                weight = wrapper.base.weight
                weight.add_(wrapper.delta().to(weight.device, weight.dtype))
                setattr(parent, child_name, wrapper.base)
                self.merged.append(weight)

    def written(self) -> list[nn.Parameter]:
        """The tensors the final folder replaces: the merged projection weights."""
        return self.merged


def _targets_by_wrapper(model) -> list[tuple[nn.Module, str, LoRALinear]]:
    return [(parent, child_name, child) for _, parent in model.named_modules()
            for child_name, child in parent.named_children() if isinstance(child, LoRALinear)]


def attach(model, rank: int, alpha: float, mlp: bool = False) -> LoraTrainable:
    """Freeze the whole model and wrap its attention (and optionally MLP) projections."""
    model.requires_grad_(False)
    names = ATTENTION + (MLP if mlp else ())
    found = _targets(model, names)
    if not found:
        raise LepInputError(f"no {'/'.join(names)} linear layers in {type(model).__name__}: LoRA here needs a "
                            "LLaMA/Qwen/Mistral-style model; use --train-params embeddings")
    qualified = {id(child): name for name, child in model.named_modules()}
    modules = {}
    for parent, child_name, child in found:
        wrapper = LoRALinear(child, rank, alpha)
        modules[qualified[id(child)]] = wrapper
        setattr(parent, child_name, wrapper)
    return LoraTrainable(modules)
