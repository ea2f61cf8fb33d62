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
    if (ws / "adapted" / new).is_dir():  # an earlier test of the session made it: the same inputs, the same result
        return ws / "adapted" / new
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


@pytest.fixture(scope="session")
def wide_mistral(tmp_path_factory, metaspace_bpe_tokenizer) -> Path:
    """Mistral-style with a 665-token vocabulary, 256 wide: every matrix row is whole k-quant blocks of 256, so
    llama.cpp's quantizer uses the asked type, not its fallback; small enough to quantize in a second."""
    from tests import builders

    return builders.tiny_model(metaspace_bpe_tokenizer, tmp_path_factory.mktemp("wide_mistral"), "mistral",
                               tied=False, hidden=256)


@pytest.fixture(scope="session")
def base_llama(tmp_path_factory, tiny_llama) -> Path:
    """tiny_llama as a base model: no chat template anywhere (tokenizer_config.json, chat_template.jinja)."""
    import json
    import shutil

    folder = tmp_path_factory.mktemp("base") / "tiny-base"
    shutil.copytree(tiny_llama, folder, ignore=shutil.ignore_patterns("chat_template*"))
    config = folder / "tokenizer_config.json"
    data = json.loads(config.read_text(encoding="utf-8"))
    data.pop("chat_template", None)
    config.write_text(json.dumps(data), encoding="utf-8")
    return folder


@pytest.fixture(scope="session")
def short_texts(tmp_path_factory, heldout_ru, heldout_en) -> dict[str, Path]:
    """The first ~1,200 characters of each held-out text: enough for bits-per-char, fast on a tiny model."""
    folder = tmp_path_factory.mktemp("short_texts")
    texts = {}
    for label, path in (("ru", heldout_ru), ("en", heldout_en)):
        lines, size = [], 0
        for line in path.read_text(encoding="utf-8").splitlines():
            lines.append(line)
            size += len(line)
            if size > 1200:
                break
        texts[label] = folder / f"{label}.txt"
        texts[label].write_text("\n".join(lines) + "\n", encoding="utf-8")
    return texts


LLAMA3_SPLIT = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|"
                r"\s*[\r\n]+|\s+(?!\S)|\s+")


@pytest.fixture(scope="session")
def tiny_llama3_style(tmp_path_factory, byte_bpe_tokenizer) -> Path:
    """A tiny LLaMA whose byte-level BPE splits text with Llama 3's pattern (the demo vocabulary, Llama 3's
    pre-tokenizer): the family whose llama.cpp pre-tokenizer looks whole words up first."""
    import json
    import shutil

    from tests import builders

    tok_dir = tmp_path_factory.mktemp("tok_llama3_style")
    for name in ("tokenizer.json", "tokenizer_config.json"):
        shutil.copy(byte_bpe_tokenizer / name, tok_dir / name)
    state = json.loads((tok_dir / "tokenizer.json").read_text(encoding="utf-8"))
    state["pre_tokenizer"] = {"type": "Sequence", "pretokenizers": [
        {"type": "Split", "pattern": {"Regex": LLAMA3_SPLIT}, "behavior": "Isolated", "invert": False},
        {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True, "use_regex": False}]}
    (tok_dir / "tokenizer.json").write_text(json.dumps(state, ensure_ascii=False), encoding="utf-8")
    shutil.copy(byte_bpe_tokenizer / "chat_template.jinja", tok_dir / "chat_template.jinja")
    return builders.tiny_model(tok_dir, tmp_path_factory.mktemp("tiny_llama3_style") / "tinyllamathree", "llama")
