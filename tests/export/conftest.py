"""Adapted tiny models of each tokenizer family (extend -> init -> propagate), and their f16 GGUF exports."""

from __future__ import annotations

from pathlib import Path

import pytest

FAMILIES = ("tiny_llama", "tiny_mistral", "tiny_qwen2")  # byte-level BPE tied, Metaspace BPE untied, padded untied


def adapt(ws: Path, model: Path, corpus: list[Path], add: int = 60, tokens: str = "subwords") -> Path:
    """A workspace with the model extended by `add` Russian tokens (`tokens`: subwords or whole words) and
    propagated onto itself: adapted/<name>, or adapted/<name>-words."""
    from lep_core.embeddings.init import init_model
    from lep_core.propagation.options import PropagateOptions
    from lep_core.propagation.propagate import propagate
    from lep_core.tokenizer.extend import extend_tokenizer

    name = model.name.rstrip("0123456789") or "m"
    base = ws / "models" / name
    if not base.exists():
        import shutil

        shutil.copytree(model, base)
    new = f"{name}-ru" + ("-words" if tokens == "words" else "")
    extend_tokenizer(str(base), [str(c) for c in corpus], add, ws / "tokenizers" / new, "cyrillic", 2, unit=tokens)
    init_model(str(base), str(ws / "tokenizers" / new), ws / "models" / new)
    out = ws / "adapted" / new
    propagate(PropagateOptions(base=str(base), instruct=[str(base)], adapted=str(ws / "models" / new), out=str(out)))
    return out


@pytest.fixture(scope="session")
def export_ws(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("export_ws")


@pytest.fixture(scope="session")
def adapted_family(request, export_ws, ru_corpus):
    """name -> adapted folder, built once per family on first use."""
    built: dict[str, Path] = {}

    def get(family: str) -> Path:
        if family not in built:
            built[family] = adapt(export_ws, request.getfixturevalue(family), ru_corpus)
        return built[family]

    return get


@pytest.fixture(scope="session")
def exported_family(adapted_family, export_ws):
    """name -> (adapted folder, its f16 .gguf), exported once per family."""
    from lep_core.export.gguf_export import export_gguf
    from lep_core.export.options import ExportOptions

    done: dict[str, tuple[Path, Path]] = {}

    def get(family: str) -> tuple[Path, Path]:
        if family not in done:
            folder = adapted_family(family)
            out = export_ws / "exports" / f"{folder.name}-f16.gguf"
            export_gguf(ExportOptions(model=str(folder), out=str(out), type="f16"))
            done[family] = (folder, out)
        return done[family]

    return get


def held_out_lines(path: Path, n: int) -> list[str]:
    """n held-out pieces of text: the file's lines, then its sentences, then its clauses (54 + 106 + ... for
    assets/heldout_ru.txt), so the check sees whole lines as well as starts of sentences and clauses."""
    import re

    lines = [ln for ln in path.read_text(encoding="utf-8").splitlines() if ln.strip()]
    sentences = [s for ln in lines for s in re.split(r"(?<=[.!?…])\s+", ln) if s.strip()]
    clauses = [c for s in sentences for c in re.split(r"[,:;]\s+|\s+—\s+", s) if len(c) > 3]
    pieces = list(dict.fromkeys(lines + sentences + clauses))
    return pieces[:n]
