"""Where heavy work runs: one rule for every command (training, propagation, evaluation)."""

from __future__ import annotations

from lep_core.errors import LepInputError

DEVICES = ("auto", "cpu", "cuda")


def resolve_device(device: str) -> str:
    """auto = CUDA when a GPU is visible, else CPU; an explicit cuda without a GPU is a clear error."""
    import torch

    if device not in DEVICES:
        raise LepInputError(f"unknown device {device!r}: choose auto, cpu or cuda")
    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device == "cuda" and not torch.cuda.is_available():
        raise LepInputError("--device cuda was asked for but no CUDA GPU is visible: use --device cpu or auto")
    return device
