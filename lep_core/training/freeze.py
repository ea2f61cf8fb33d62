"""Freeze everything but the input embeddings and the output head; optionally train only the new rows.

Frozen parameters get requires_grad=False, so autograd never builds their weight gradients
(the body still back-propagates activations to the input embeddings).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import torch

from lep_core.errors import LepInputError
from lep_core.workspace.store import read_manifest


@dataclass
class Trainable:
    """The trained tensors: input embeddings, the head (None when tied), and the rows that may change."""

    embed: torch.nn.Parameter
    head: torch.nn.Parameter | None
    tied: bool
    new_rows: torch.Tensor | None  # bool mask (rows,), True where training may change the row; None = all rows

    def params(self) -> list[torch.nn.Parameter]:
        return [self.embed] + ([self.head] if self.head is not None else [])

    def state(self) -> dict[str, torch.Tensor]:
        """What a checkpoint holds (float32, on the CPU)."""
        out = {"embed": self.embed.detach().float().cpu().contiguous()}
        if self.head is not None:
            out["head"] = self.head.detach().float().cpu().contiguous()
        return out

    def load_state(self, tensors: dict[str, torch.Tensor]) -> None:
        with torch.no_grad():
            self.embed.copy_(tensors["embed"].to(self.embed.dtype))
            if self.head is not None:
                self.head.copy_(tensors["head"].to(self.head.dtype))

    def save(self, folder: Path) -> None:
        """folder/trainable.safetensors: embed [+ head], float32."""
        from safetensors.torch import save_file

        save_file(self.state(), str(Path(folder) / "trainable.safetensors"))

    def load(self, folder: Path) -> None:
        from safetensors.torch import load_file

        self.load_state(load_file(str(Path(folder) / "trainable.safetensors")))

    def replacements(self, model) -> list[tuple[list[str], tuple[int, ...], Callable[[torch.Tensor], torch.Tensor]]]:
        """(names, shape, new) per tensor the final folder replaces: new(source tensor) = the trained one, in its dtype."""
        names = {id(p): [] for p in self.params()}
        for name, p in model.named_parameters(remove_duplicate=False):
            if id(p) in names:
                names[id(p)].append(name)
        return [(names[id(p)], tuple(p.shape), lambda old, p=p: p.detach().to("cpu", old.dtype).contiguous())
                for p in self.params()]

    def plain(self, model):
        """The model to save when there is no source folder to take the body from."""
        return model


def is_tied(model) -> bool:
    head = model.get_output_embeddings()
    return head is not None and head.weight is model.get_input_embeddings().weight


def freeze_body(model) -> Trainable:
    """requires_grad only on the embeddings and head; re-tie a model whose config says tied but whose weights are not."""
    head_module = model.get_output_embeddings()
    if head_module is None:
        raise LepInputError("this model has no output head (not a causal LM): pick a *ForCausalLM model")
    if getattr(model.config, "tie_word_embeddings", False) and not is_tied(model):
        model.tie_weights()
    model.requires_grad_(False)
    embed = model.get_input_embeddings().weight
    embed.requires_grad_(True)
    tied = is_tied(model)
    head = None
    if not tied:
        head = head_module.weight
        head.requires_grad_(True)
    return Trainable(embed=embed, head=head, tied=tied, new_rows=None)


def old_row_count(model_dir: str | Path | None, explicit: int | None) -> int:
    """Rows that existed before the vocabulary extension: --old-rows, else the model's lep.json from `lep model init`."""
    if explicit is not None:
        return int(explicit)
    manifest = read_manifest(model_dir) if model_dir and Path(model_dir).is_dir() else None
    metrics = (manifest or {}).get("metrics", {})
    if manifest and manifest.get("params", {}).get("operation") == "init" and "old_rows" in metrics:
        return int(metrics["old_rows"])
    raise LepInputError(
        f"--train-rows new needs to know which rows are new, but {model_dir} has no lep.json from `lep model init`: "
        "pass --old-rows N (the vocabulary size before extension)"
    )


def new_row_mask(model_dir: str | Path | None, rows: int, explicit_old_rows: int | None) -> torch.Tensor:
    """True for rows added by the extension. Uses lep.json's new_row_ranges when present (exact), else rows >= old."""
    manifest = read_manifest(model_dir) if explicit_old_rows is None and model_dir and Path(model_dir).is_dir() else None
    ranges = (manifest or {}).get("metrics", {}).get("new_row_ranges") if manifest else None
    mask = torch.zeros(rows, dtype=torch.bool)
    if ranges is not None:
        for start, end in ranges:
            mask[start:end] = True
    else:
        old = old_row_count(model_dir, explicit_old_rows)
        if old >= rows:
            raise LepInputError(
                f"--train-rows new: the model has {rows} rows and {old} of them are old, so there is nothing new to train"
            )
        mask[old:] = True
    if not mask.any():
        raise LepInputError("--train-rows new: the model has no new rows to train (was its vocabulary extended?)")
    return mask


def mask_old_rows(trainable: Trainable) -> None:
    """Zero the gradient of rows that must not change (after backward, before clipping and the step)."""
    if trainable.new_rows is None:
        return
    keep = trainable.new_rows.to(trainable.embed.device)
    for p in trainable.params():
        if p.grad is not None:
            p.grad.masked_fill_(~keep.unsqueeze(1), 0)
