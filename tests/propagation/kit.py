"""Tiny LEP worlds with a known answer: instruct = base·Q (+ noise), adapted = base resized to a new tokenizer.

Every transformation works on the real saved folders (safetensors + tokenizer), so the pipeline under
test reads exactly what it would read from a real model.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file

from lep_core.propagation.embeddings_io import open_model


def known_matrix(d: int, seed: int = 1) -> torch.Tensor:
    """A well-conditioned random d x d matrix Q (identity plus a moderate random part)."""
    g = torch.Generator().manual_seed(seed)
    return torch.eye(d) + 0.3 * torch.randn(d, d, generator=g) / d**0.5


def transform(src: Path, dst: Path, fn, seed: int = 0) -> Path:
    """Copy a model folder, replacing its embedding (and untied head) tensor with fn(tensor, generator)."""
    shutil.copytree(src, dst)
    files = open_model(dst)
    g = torch.Generator().manual_seed(seed)
    for shard in set(files.weight_map.values()):
        tensors = load_file(str(dst / shard))
        for name in list(tensors):
            if name in (files.embed_name, files.head_name):
                tensors[name] = fn(tensors[name], g).to(tensors[name].dtype).contiguous()
        save_file(tensors, str(dst / shard), metadata={"format": "pt"})
    (dst / "lep.json").unlink(missing_ok=True)
    return dst


def instruct_of(base: Path, dst: Path, q: torch.Tensor, noise: float = 1e-4) -> Path:
    """Instruct = base rows times Q, plus noise (relative to the rows' scale)."""

    def fn(t: torch.Tensor, g: torch.Generator) -> torch.Tensor:
        y = t.double() @ q.double()
        return y + noise * y.std() * torch.randn(y.shape, generator=g, dtype=torch.float64)

    return transform(base, dst, fn)


def trained(adapted: Path, dst: Path, scale: float = 0.5) -> Path:
    """Stand-in for embedding training: every row moves by random noise (so A differs from the mean init)."""
    return transform(adapted, dst, lambda t, g: t + scale * t.std() * torch.randn(t.shape, generator=g))


def to_dtype(src: Path, dst: Path, dtype: torch.dtype) -> Path:
    """The same model stored in another dtype (bf16/fp16 checkpoints)."""
    shutil.copytree(src, dst)
    files = open_model(dst)
    for shard in set(files.weight_map.values()):
        tensors = {k: v.to(dtype) for k, v in load_file(str(dst / shard)).items()}
        save_file(tensors, str(dst / shard), metadata={"format": "pt"})
    cfg = json.loads((dst / "config.json").read_text())
    cfg["dtype"] = str(dtype).replace("torch.", "")
    (dst / "config.json").write_text(json.dumps(cfg))
    return dst


def with_chat_token(src: Path, dst: Path, token: str = "<|tool_call|>", seed: int = 3) -> Path:
    """An instruct model whose tokenizer has one more added chat token (and one more embedding row)."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(src)
    tok.add_special_tokens({"extra_special_tokens": [token]})
    model = AutoModelForCausalLM.from_pretrained(src)
    rows = model.get_input_embeddings().weight.shape[0]
    if len(tok) > rows:
        model.resize_token_embeddings(len(tok), mean_resizing=False)
        g = torch.Generator().manual_seed(seed)
        with torch.no_grad():
            model.get_input_embeddings().weight[rows:] = torch.randn(len(tok) - rows, model.config.hidden_size, generator=g)
            if not model.config.tie_word_embeddings:
                model.get_output_embeddings().weight[rows:] = torch.randn(len(tok) - rows, model.config.hidden_size, generator=g)
    model.save_pretrained(dst)
    tok.save_pretrained(dst)
    return dst


def rel_error(a: torch.Tensor, b: torch.Tensor) -> float:
    return float(torch.linalg.norm(a.double() - b.double()) / torch.linalg.norm(b.double()))


def other_hidden(tokenizer_dir: Path, dst: Path, hidden: int = 32) -> Path:
    """A llama model with the same tokenizer but another hidden size (not derived from the base)."""
    from transformers import AutoTokenizer, LlamaConfig, LlamaForCausalLM

    tok = AutoTokenizer.from_pretrained(tokenizer_dir)
    config = LlamaConfig(vocab_size=len(tok), hidden_size=hidden, intermediate_size=64, num_hidden_layers=2,
                         num_attention_heads=4, num_key_value_heads=2, tie_word_embeddings=True)
    LlamaForCausalLM(config).save_pretrained(dst)
    tok.save_pretrained(dst)
    return dst


def with_tokenizer_of(model: Path, tokenizer_src: Path, dst: Path) -> Path:
    """A copy of `model` whose tokenizer files were replaced by another model's (a mismatched pair)."""
    shutil.copytree(model, dst)
    from transformers import AutoTokenizer

    for name in ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json"):
        (dst / name).unlink(missing_ok=True)
    AutoTokenizer.from_pretrained(tokenizer_src).save_pretrained(dst)
    return dst
