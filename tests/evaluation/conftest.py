"""Tiny adapted models of two families, shared by the copy-figure and canonical-decoding tests (issue 25)."""

from pathlib import Path

import pytest

from tests import builders


@pytest.fixture(scope="session")
def adapted_families(tmp_path_factory, tiny_llama, tiny_mistral, byte_bpe_tokenizer, metaspace_bpe_tokenizer,
                     ru_corpus) -> dict[str, tuple[Path, Path]]:
    """{family: (original model, adapted model)}: LLaMA with byte-level BPE extended by 150 whole words, Mistral
    with SentencePiece-style BPE extended by 150 pieces (it merges across spaces, so whole words do not apply)."""
    root = tmp_path_factory.mktemp("adapted_families")
    return {name: (Path(model), builders.adapted_tiny(model, tok, ru_corpus[:2], root / name, unit))
            for name, model, tok, unit in (("llama", tiny_llama, byte_bpe_tokenizer, "words"),
                                           ("mistral", tiny_mistral, metaspace_bpe_tokenizer, "subwords"))}
