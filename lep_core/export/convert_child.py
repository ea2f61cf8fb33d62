"""Child process: run llama.cpp's converter on one model folder, with what an extended vocabulary needs.

Run as `python -m lep_core.export.convert_child SPEC.json` by gguf_export.py (child.py has the protocol); a child
because the converter puts its own `gguf-py` first on sys.path (its GGUF constants must match its code) and so a
stop is a signal to it.
What it adds to the converter (nothing else is changed):
- the BPE pre-tokenizer: llama.cpp recognises it by hashing the ids of a check text with Cyrillic in it, which
  new Russian merges change; when the model's own hash is unknown, the hash of the original model's tokenizer is
  used, after checking that both tokenizers pre-tokenize (pre_tokenizer + normalizer) the same way; failing that,
  the type of its split pattern (pretokenizers.py); how the name was found (and the hash the converter looked
  up) is returned, and a name llama.cpp reads exactly like a better-known one is written as that one
  (pretokenizers.SAME_AS: the Gemma 3 tokenizer's hash is listed under an embedding model's name);
- padded rows: embedding rows past the last token id are dropped from token_embd/output and from the vocabulary
  size, so llama.cpp can never sample them;
- merge priority of a BPE vocabulary with byte fallback written without tokenizer.model (LLaMA-2/Mistral style,
  as an extension saves it): llama.cpp runs it as a SentencePiece vocabulary that merges by token score, and the
  converter gives every token the placeholder score -1000; each token made by a merge gets -(its merge rank + 1),
  so llama.cpp merges in the order the Hugging Face tokenizer does.
Stdout carries one JSON object a line: {"done", "total"} while writing (bytes), then {"pre", "pre_how", "rows",
"tokens", "arch"};
{"error"} on a problem the user can fix (exit 2).
"""

from __future__ import annotations

import json
import logging
import sys
from pathlib import Path
from typing import Any

from lep_core.embeddings.architectures import is_embedding_tensor
from lep_core.export.child import die_with_parent
from lep_core.export.child import emit as _emit


class _Bar:
    """Stands in for tqdm inside the converter's writer: reports bytes written as JSON lines."""

    def __init__(self, *args, total=None, desc="", **kwargs):
        self.total, self.n, self.desc = total, 0, desc
        self._last = -1.0

    def update(self, amount=1):
        self.n += amount
        if self.total and self.desc == "Writing" and (self.n / self.total - self._last >= 0.01 or self.n >= self.total):
            self._last = self.n / self.total
            _emit(done=self.n, total=self.total)

    def set_description(self, *args, **kwargs):
        pass

    def close(self):
        pass


def _pre_tokenizer_state(tokenizer) -> str:
    """How a loaded tokenizer splits text before BPE: its normalizer and pre-tokenizer (transformers may replace
    the ones in tokenizer.json with its tokenizer class's own, so the loaded tokenizer is what counts)."""
    state = json.loads(tokenizer.backend_tokenizer.to_str())
    return json.dumps([state.get("normalizer"), state.get("pre_tokenizer")], sort_keys=True)


class _Hashes(logging.Handler):
    """Keeps the check-text hashes the converter logs (`chkhsh: ...`, at debug level) as it names a tokenizer."""

    def __init__(self):
        super().__init__(logging.DEBUG)
        self.seen: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        message = record.getMessage()
        if message.startswith("chkhsh: "):
            self.seen.append(message.split(": ", 1)[1].strip())


def _pre_name(text_model, tokenizer, originals: list[str], hashes: _Hashes) -> tuple[str, dict[str, Any]]:
    """The converter's own hash lookup; on an unknown hash, the first original with the same pre-tokenizer whose
    hash it knows; else the type of the split pattern (lep_core.export.pretokenizers). Returns the name and how
    it was found ({"source", "hash", "original"})."""
    from transformers import AutoTokenizer

    from lep_core.export.pretokenizers import by_pattern

    try:
        name = text_model.get_vocab_base_pre(None, tokenizer)
        return name, {"source": "own", "hash": hashes.seen[-1] if hashes.seen else None}
    except NotImplementedError:
        pass
    own = _pre_tokenizer_state(tokenizer)
    for original in originals:
        try:
            other = AutoTokenizer.from_pretrained(original)
            if _pre_tokenizer_state(other) == own:
                name = text_model.get_vocab_base_pre(None, other)
                return name, {"source": "original", "original": original,
                              "hash": hashes.seen[-1] if hashes.seen else None}
        except (NotImplementedError, OSError, ValueError):
            continue
    found = by_pattern(tokenizer.backend_tokenizer.to_str())
    if found:
        return found, {"source": "pattern"}
    raise _UserError("llama.cpp does not recognise this tokenizer's BPE pre-tokenizer and no original model with "
                     "the same pre-tokenizer was found: pass --base SRC (the model whose tokenizer was extended)")


class _UserError(Exception):
    pass


def _merge_scores(model_dir: Path) -> dict[int, float] | None:
    """token id -> -(rank + 1) of the merge that makes it, for BPE with byte fallback; None for other vocabularies."""
    path = model_dir / "tokenizer.json"
    model = json.loads(path.read_text(encoding="utf-8")).get("model", {}) if path.is_file() else {}
    if model.get("type") != "BPE" or not model.get("byte_fallback"):
        return None
    vocab, scores = model["vocab"], {}
    for rank, pair in enumerate(model.get("merges", [])):
        left, right = pair.split(" ", 1) if isinstance(pair, str) else pair
        token_id = vocab.get(left + right)
        if token_id is not None:
            scores.setdefault(token_id, -float(rank + 1))
    return scores


def convert(spec: dict[str, Any]) -> dict[str, Any]:
    folder = Path(spec["converter"])
    sys.path.insert(0, str(folder / "gguf-py"))
    sys.path.insert(0, str(folder))
    import tqdm

    tqdm.tqdm = _Bar  # the converter's writer imports tqdm at write time
    import gguf
    import torch
    from conversion import ModelBase, ModelType, TextModel, get_model_architecture, get_model_class
    from transformers import AutoTokenizer

    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    for handler in logging.getLogger().handlers:
        handler.setLevel(logging.WARNING)  # the converter's debug lines go to _Hashes only
    hashes = _Hashes()
    converter_log = logging.getLogger("hf-to-gguf")
    converter_log.setLevel(logging.DEBUG)
    converter_log.addHandler(hashes)
    model_dir = Path(spec["model"])
    types = {"f32": gguf.LlamaFileType.ALL_F32, "f16": gguf.LlamaFileType.MOSTLY_F16,
             "bf16": gguf.LlamaFileType.MOSTLY_BF16, "q8_0": gguf.LlamaFileType.MOSTLY_Q8_0}
    hparams = ModelBase.load_hparams(model_dir, False)
    arch = get_model_architecture(hparams, ModelType.TEXT)
    try:
        model_class = get_model_class(arch)
    except NotImplementedError:
        raise _UserError(f"llama.cpp's converter does not support the architecture {arch}") from None
    scores = _merge_scores(model_dir)
    if scores is not None:
        gguf.LlamaHfVocab.get_token_score = lambda self, token_id: scores.get(token_id, 0.0)
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    tokens = max(tokenizer.get_vocab().values()) + 1
    rows = int(hparams.get("vocab_size") or tokens)
    chosen: dict[str, Any] = {}

    with torch.inference_mode():
        model = model_class(model_dir, types[spec["type"]], Path(spec["out"]), model_name=spec.get("name"))

        def pre(tok) -> str:
            from lep_core.export.pretokenizers import SAME_AS

            name, how = _pre_name(TextModel, tok, spec.get("originals", []), hashes)
            if name in SAME_AS:
                how["listed_as"], name = name, SAME_AS[name]
            chosen["pre"], chosen["how"] = name, {"name": name, **how}
            return name

        model.get_vocab_base_pre = pre
        if rows > tokens:  # padded: drop the rows no token uses
            model.hparams["vocab_size"] = tokens
            modify = model.modify_tensors

            def trimmed(data, name, bid):
                if data.ndim == 2 and data.shape[0] == rows and is_embedding_tensor(name):
                    data = data[:tokens]
                return modify(data, name, bid)

            model.modify_tensors = trimmed
        model.write()
    return {"pre": chosen.get("pre"), "pre_how": chosen.get("how") or {"name": None, "source": "sentencepiece"},
            "rows": rows, "tokens": tokens, "arch": arch}


def main() -> int:
    spec = json.loads(Path(sys.argv[1]).read_text(encoding="utf-8"))
    die_with_parent(spec.get("parent"))
    try:
        _emit(**convert(spec))
    except _UserError as exc:
        _emit(error=str(exc))
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
