"""LoRA adapters through peft on the body's projections: y = W x + (alpha / r) * B A x, with W frozen.

peft (https://github.com/huggingface/peft) injects the adapters (A random, B zero, so training starts from
the unchanged model; float32 whatever the body's dtype) into the model in place, on a plain or a 4-bit
body alike (QLoRA, arXiv 2305.14314). Checkpoints keep them in peft's own format (adapter/, loadable
with `PeftModel.from_pretrained`); the final folder is merged: each projection of the *source*
safetensors gets (alpha / r) * B A added in float32, so a 4-bit body still gives a full-precision
plain HF folder with the source's tensor names, shapes and dtypes.
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable

import torch
from torch import nn

from lep_core.errors import LepInputError

ATTENTION = ("q_proj", "k_proj", "v_proj", "o_proj")
MLP = ("gate_proj", "up_proj", "down_proj")
ADAPTER_DIR = "adapter"  # in each checkpoint: adapter_config.json + adapter_model.safetensors (peft format)

Replacement = tuple[list[str], tuple[int, ...], Callable[[torch.Tensor], torch.Tensor]]


class LoraTrainable:
    """The trained set for --train-params lora: the same interface as freeze.Trainable."""

    tied = False
    new_rows = None

    def __init__(self, peft_model):
        self.peft_model = peft_model  # PeftModel; its base model is the trainer's model, adapters injected in place

    def layers(self, model) -> dict[str, nn.Module]:
        """Qualified module name in the plain model (e.g. model.layers.0.self_attn.q_proj) -> peft LoRA layer."""
        from peft.tuners.lora import LoraLayer

        return {name: m for name, m in model.named_modules() if isinstance(m, LoraLayer)}

    def params(self) -> list[nn.Parameter]:
        return [p for p in self.peft_model.parameters() if p.requires_grad]

    def save(self, folder: Path) -> None:
        """The adapters in peft's format: folder/adapter/{adapter_config.json, adapter_model.safetensors}."""
        self.peft_model.save_pretrained(Path(folder) / ADAPTER_DIR)

    def load(self, folder: Path) -> None:
        from peft.utils import set_peft_model_state_dict
        from safetensors.torch import load_file

        tensors = load_file(str(Path(folder) / ADAPTER_DIR / "adapter_model.safetensors"))
        with torch.no_grad():
            result = set_peft_model_state_dict(self.peft_model, tensors)
        missing = [k for k in result.missing_keys if "lora_" in k]
        if missing:
            raise LepInputError(f"checkpoint {folder} lacks adapters for {missing[0]}: it is from another run; "
                                "start a new run without --resume")

    def replacements(self, model) -> list[Replacement]:
        """(names, shape, new) per adapted projection: new(source W) = W + (alpha / r) B A, in W's dtype."""
        out = []
        with torch.no_grad():
            for name, layer in self.layers(model).items():
                delta = layer.get_delta_weight("default").detach().float().cpu()  # (out, in)
                out.append(([f"{name}.weight"], tuple(delta.shape),
                            lambda w, d=delta: (w.float() + d).to(w.dtype).contiguous()))
        return out

    def plain(self, model):
        """The model with the adapters merged into the body (when there is no source folder to merge into)."""
        if getattr(model, "is_loaded_in_4bit", False):
            raise LepInputError("a LoRA run on a 4-bit body needs a local safetensors source folder to merge into: "
                                "save the model as a folder first")
        return self.peft_model.merge_and_unload()


def attach(model, rank: int, alpha: float, mlp: bool = False) -> LoraTrainable:
    """Freeze the whole model and put peft LoRA adapters on its attention (and optionally MLP) projections."""
    from peft import LoraConfig, get_peft_model

    names = ATTENTION + (MLP if mlp else ())
    head = model.get_output_embeddings()
    present = {n.rsplit(".", 1)[-1] for n, m in model.named_modules() if m is not head and n}
    if not present & set(names):
        raise LepInputError(f"no {'/'.join(names)} linear layers in {type(model).__name__}: LoRA here needs a "
                            "LLaMA/Qwen/Mistral-style model; use --train-params embeddings")
    model.requires_grad_(False)
    config = LoraConfig(r=rank, lora_alpha=alpha, target_modules=[n for n in names if n in present],
                        lora_dropout=0.0, bias="none", task_type="CAUSAL_LM")
    return LoraTrainable(get_peft_model(model, config))
