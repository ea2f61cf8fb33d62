"""Shared fixtures: real tokenizers and tiny random models, built once per test session."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests import builders

ASSETS = builders.ASSETS


@pytest.fixture(scope="session", autouse=True)
def token_cache(tmp_path_factory) -> Path:
    """Training's token cache (lep_core.corpus.token_cache) goes to a temporary folder, never the workspace."""
    import os

    from lep_core.corpus.token_cache import CACHE_ENV

    folder = tmp_path_factory.mktemp("token_cache")
    before = os.environ.get(CACHE_ENV)
    os.environ[CACHE_ENV] = str(folder)
    yield folder
    if before is None:
        os.environ.pop(CACHE_ENV, None)
    else:
        os.environ[CACHE_ENV] = before


@pytest.fixture(scope="session")
def demo_model() -> Path:
    """The real demo model (SmolLM2-135M-Instruct) in ./workspace; `make test` prepares it first."""
    from lep_core.sources.demo import prepare_demo
    from lep_core.workspace.store import workspace_root

    return prepare_demo(workspace_root(None))


@pytest.fixture(scope="session")
def ru_corpus() -> list[Path]:
    return sorted((ASSETS / "corpus").glob("*.txt"))


@pytest.fixture(scope="session")
def heldout_ru() -> Path:
    return ASSETS / "heldout_ru.txt"


@pytest.fixture(scope="session")
def heldout_en() -> Path:
    return ASSETS / "heldout_en.txt"


@pytest.fixture(scope="session")
def byte_bpe_tokenizer(demo_model) -> Path:
    """Byte-level BPE: the demo model's own tokenizer (49,152 tokens)."""
    return demo_model


@pytest.fixture(scope="session")
def metaspace_bpe_tokenizer(tmp_path_factory) -> Path:
    return builders.metaspace_bpe_tokenizer(tmp_path_factory.mktemp("tok_metaspace_bpe"))


@pytest.fixture(scope="session")
def unigram_tokenizer(tmp_path_factory) -> Path:
    return builders.unigram_tokenizer(tmp_path_factory.mktemp("tok_unigram"))


@pytest.fixture(scope="session")
def tiny_llama(tmp_path_factory, byte_bpe_tokenizer) -> Path:
    """LLaMA-style, tied embeddings, the demo model's byte-level BPE tokenizer."""
    return builders.tiny_model(byte_bpe_tokenizer, tmp_path_factory.mktemp("tiny_llama"), "llama", tied=True)


@pytest.fixture(scope="session")
def tiny_mistral(tmp_path_factory, metaspace_bpe_tokenizer) -> Path:
    """Mistral-style, untied embeddings, SentencePiece-style BPE with byte fallback."""
    return builders.tiny_model(metaspace_bpe_tokenizer, tmp_path_factory.mktemp("tiny_mistral"), "mistral", tied=False)


@pytest.fixture(scope="session")
def tiny_qwen2(tmp_path_factory, byte_bpe_tokenizer) -> Path:
    """Qwen2-style: untied and padded (64 more embedding rows than tokens)."""
    return builders.tiny_model(byte_bpe_tokenizer, tmp_path_factory.mktemp("tiny_qwen2"), "qwen2", tied=False, pad_rows=64)
