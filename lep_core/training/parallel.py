"""Data parallel checks: every process must hold the same trained tensors before process 0 writes them.

DDP averages the gradients and every process steps the same optimizer on the same rows, so the copies
stay equal; a silent divergence (a rank that skipped a step, a non-deterministic kernel) would make the
saved model depend on which process wrote it. Comparing digests at the end costs one pass over the rows.
"""

from __future__ import annotations

import hashlib

import torch


def digest(tensor: torch.Tensor) -> str:
    """sha256 of a tensor's float32 bytes (on the CPU): the same digest for the same values, whatever the device."""
    data = tensor.detach().to("cpu", torch.float32).contiguous()
    return hashlib.sha256(data.view(torch.uint8).numpy().tobytes()).hexdigest()


def rank_digests(acc, tensors: list[torch.Tensor]) -> list[list[str]]:
    """[per process: [digest per tensor]] gathered on every process (a collective: all processes must call it)."""
    from accelerate.utils import gather_object

    mine = [digest(t) for t in tensors]
    return [list(d) for d in gather_object([mine])]


def agreed_digests(acc, tensors: list[torch.Tensor]) -> list[list[str]] | None:
    """Per-process digests of the trained tensors when there are several processes (None for one).

    Raises LepJobError when the processes disagree, so no model that depends on the writer is saved.
    """
    from lep_core.errors import LepJobError

    if acc.num_processes < 2:
        return None
    digests = rank_digests(acc, tensors)
    if any(d != digests[0] for d in digests):
        bad = [i for i, d in enumerate(digests) if d != digests[0]]
        raise LepJobError(f"processes {bad} hold different trained tensors from process 0 at the end of the run: "
                          "the checkpoints are kept; resume with one process (or report the launch setup)")
    return digests
