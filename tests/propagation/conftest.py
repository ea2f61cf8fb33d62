"""Fixtures for propagation tests: extended tokenizers and known-answer worlds built from tests/builders.py models."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest
import torch

from tests.propagation import kit

D = 64  # hidden size of tests/builders.py tiny models


@dataclass
class World:
    base: Path
    instruct: Path
    adapted: Path
    q: torch.Tensor


@pytest.fixture(scope="session")
def extended_byte(tmp_path_factory, byte_bpe_tokenizer, ru_corpus) -> Path:
    """The demo model's real tokenizer extended with 200 Russian tokens (lep_core.tokenizer.extend)."""
    from lep_core.tokenizer.extend import extend_tokenizer

    out = tmp_path_factory.mktemp("prop_ext") / "byte"
    extend_tokenizer(byte_bpe_tokenizer, ru_corpus[:2], 200, out)
    return out


@pytest.fixture(scope="session")
def extended_metaspace(tmp_path_factory, metaspace_bpe_tokenizer, ru_corpus) -> Path:
    from lep_core.tokenizer.extend import extend_tokenizer

    out = tmp_path_factory.mktemp("prop_ext") / "metaspace"
    extend_tokenizer(metaspace_bpe_tokenizer, ru_corpus[:2], 150, out)
    return out


def make_world(root: Path, base: Path, tokenizer: Path, noise: float = 1e-4, seed: int = 1) -> World:
    from lep_core.embeddings.init import init_model

    q = kit.known_matrix(D, seed)
    init_model(base, tokenizer, root / "init", "mean")
    adapted = kit.trained(root / "init", root / "adapted")
    instruct = kit.instruct_of(base, root / "instruct", q, noise)
    return World(base, instruct, adapted, q)


@pytest.fixture(scope="session")
def llama_world(tmp_path_factory, tiny_llama, extended_byte) -> World:
    """Tied, byte-level BPE (the demo's tokenizer), 49k tokens."""
    return make_world(tmp_path_factory.mktemp("llama_world"), tiny_llama, extended_byte)


@pytest.fixture(scope="session")
def qwen_world(tmp_path_factory, tiny_qwen2, extended_byte) -> World:
    """Untied and padded (64 spare rows), byte-level BPE."""
    return make_world(tmp_path_factory.mktemp("qwen_world"), tiny_qwen2, extended_byte)


@pytest.fixture(scope="session")
def mistral_world(tmp_path_factory, tiny_mistral, extended_metaspace) -> World:
    """Untied, SentencePiece-style BPE with byte fallback."""
    return make_world(tmp_path_factory.mktemp("mistral_world"), tiny_mistral, extended_metaspace)
