"""`lep tokenizer train`: a replacement tokenizer (BPE or Unigram) learned on the target-language corpus.

With --like SRC the result keeps SRC's special tokens (first ids, same order), its normalizer,
pre-tokenizer and decoder style (byte-level or Metaspace), its post-processor and chat template, so
it can stand in for SRC's tokenizer in the rest of the pipeline.

It also keeps the byte-level guarantee: every text encodes without `<unk>`. Byte-level BPE has all 256
byte symbols; Metaspace BPE and Unigram get the 256 `<0xNN>` byte-fallback pieces as ordinary vocabulary
(never special tokens, which generation would skip when decoding and which a literal `<0x41>` in text would
match). The manifest's round trip covers text beyond the corpus (analysis.wide_roundtrip).
"""

from __future__ import annotations

import json
import os
import re
import time
from pathlib import Path
from typing import Any, Sequence

from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

from lep_core.corpus.reading import read_corpus
from lep_core.errors import LepInputError
from lep_core.sources.loading import load_tokenizer
from lep_core.tokenizer.analysis import text_stats, wide_roundtrip
from lep_core.tokenizer.extend import write_tokenizer_folder
from lep_core.tokenizer.vocab import BYTE_LEVEL, shape_of, tokenizer_state
from lep_core.workspace.locks import holding
from lep_core.workspace.store import atomic_dir, check_output_free, describe_input, write_manifest

ALGORITHMS = ("bpe", "unigram")
BYTE_PIECES = [f"<0x{b:02X}>" for b in range(256)]
_BYTE_PIECE = re.compile(r"^<0x[0-9A-Fa-f]{2}>$")
# printable ASCII is always in a Unigram vocabulary, so a literal "<0x41>" in text is spelled, never a byte piece
_ASCII = [chr(c) for c in range(33, 127)]
DEFAULT_SPECIALS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
CHATML_TEMPLATE = (
    "{% for message in messages %}{{ '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>\\n' }}"
    "{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}"
)


def _special_tokens(like) -> list[str]:
    """SRC's added tokens in id order, less byte-fallback pieces (vocabulary, added back as such)."""
    if like is None:
        return list(DEFAULT_SPECIALS)
    ordered = sorted(like.added_tokens_decoder.items())
    return [t.content for _, t in ordered if not _BYTE_PIECE.match(t.content)]


def _blank(algorithm: str, byte_level: bool, unk: str | None) -> tuple[Tokenizer, Any]:
    """An untrained tokenizer of the requested algorithm and alphabet style, plus its trainer factory."""
    if algorithm == "bpe":
        model = models.BPE(unk_token=None if byte_level else unk, byte_fallback=not byte_level)
        trainer = trainers.BpeTrainer
    else:
        model = models.Unigram()
        trainer = trainers.UnigramTrainer
    tok = Tokenizer(model)
    if byte_level:
        tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
        tok.decoder = decoders.ByteLevel()
    else:
        tok.pre_tokenizer = pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="first", split=True)
        tok.decoder = decoders.Metaspace(replacement="▁", prepend_scheme="first", split=True)
    return tok, trainer


def _train(text: str, vocab_size: int, algorithm: str, specials: list[str], byte_level: bool, unk: str | None) -> Tokenizer:
    tok, trainer_cls = _blank(algorithm, byte_level, unk)
    lines = [line for line in text.split("\n") if line.strip()]
    alphabet = pre_tokenizers.ByteLevel.alphabet() if byte_level else []
    if algorithm == "bpe":
        extra = [] if byte_level else BYTE_PIECES  # first ids after the specials; made ordinary vocabulary below
        trainer = trainer_cls(vocab_size=vocab_size, special_tokens=specials + extra, show_progress=False,
                              initial_alphabet=alphabet)
    else:
        kwargs = {"unk_token": unk} if unk else {}
        trainer = trainer_cls(vocab_size=vocab_size - (0 if byte_level else len(BYTE_PIECES)), special_tokens=specials,
                              show_progress=False, initial_alphabet=alphabet or _ASCII, **kwargs)
    tok.train_from_iterator(lines, trainer)
    return tok if byte_level else _with_byte_fallback(tok, algorithm)


def _with_byte_fallback(tok: Tokenizer, algorithm: str) -> Tokenizer:
    """The 256 <0xNN> pieces as ordinary vocabulary with byte fallback on (LLaMA-2 style), never added tokens.

    BPE: the trainer put them right after the specials; drop them from the added tokens. Unigram: append them
    scored far below any spelling, so only characters the vocabulary lacks fall back to bytes."""
    state = json.loads(tok.to_str())
    state["added_tokens"] = [t for t in state["added_tokens"] if not _BYTE_PIECE.match(t["content"])]
    model = state["model"]
    model["byte_fallback"] = True
    if algorithm == "unigram":
        floor = min(score for _, score in model["vocab"])
        model["vocab"].extend([piece, floor - 1000.0] for piece in BYTE_PIECES)
    return Tokenizer.from_str(json.dumps(state))


def _byte_fallback_decoder(decoder: dict[str, Any] | None) -> dict[str, Any] | None:
    """SRC's decoder, with <0xNN> pieces turned back into bytes first when it does not do so itself."""
    if decoder is None or "ByteFallback" in json.dumps(decoder):
        return decoder
    return {"type": "Sequence", "decoders": [{"type": "ByteFallback"}, decoder]}


def _adopt_style(state: dict[str, Any], like_state: dict[str, Any]) -> dict[str, Any]:
    """Take SRC's normalizer, pre-tokenizer, decoder and post-processor (special ids remapped by name)."""
    ids = {t["content"]: t["id"] for t in state["added_tokens"]}
    for key in ("normalizer", "pre_tokenizer", "decoder"):
        state[key] = like_state.get(key)
    if state["model"].get("byte_fallback"):
        state["decoder"] = _byte_fallback_decoder(state["decoder"])
    post = json.loads(json.dumps(like_state.get("post_processor")))

    def remap(node: Any) -> None:
        if isinstance(node, dict):
            if "special_tokens" in node and isinstance(node["special_tokens"], dict):
                for name, spec in node["special_tokens"].items():
                    if name in ids:
                        spec["ids"] = [ids[name]]
            for value in node.values():
                remap(value)
        elif isinstance(node, list):
            for value in node:
                remap(value)

    remap(post)
    state["post_processor"] = post
    return state


def train_tokenizer(
    corpus: Sequence[str | os.PathLike],
    vocab_size: int,
    algorithm: str = "bpe",
    out: str | os.PathLike = "tokenizer",
    like: str | os.PathLike | None = None,
    overwrite: bool = False,
) -> dict[str, Any]:
    if algorithm not in ALGORITHMS:
        raise LepInputError(f"unknown algorithm {algorithm!r}: choose bpe or unigram")
    if vocab_size < 300:
        raise LepInputError(f"--vocab-size {vocab_size} is too small: use at least 300 (byte-level needs 256 symbols)")
    check_output_free(out, overwrite)
    with holding([out], [*corpus, like]):
        text = read_corpus(corpus, min_chars=1000)
        like_tok = load_tokenizer(like) if like else None
        start = time.perf_counter()
        byte_level = like_tok is None or shape_of(like_tok).family == BYTE_LEVEL
        specials = _special_tokens(like_tok)
        unk = getattr(like_tok, "unk_token", None) if like_tok is not None else None
        if not byte_level and unk is None:
            unk = "<unk>"
            specials = [unk] + specials
        trained = _train(text, vocab_size, algorithm, specials, byte_level, unk)
        state = json.loads(trained.to_str())
        if like_tok is not None:
            state = _adopt_style(state, tokenizer_state(like_tok))
        with atomic_dir(out, overwrite) as tmp:
            if like_tok is not None:
                write_tokenizer_folder(like_tok, state, tmp)
                config_path = tmp / "tokenizer_config.json"
                config = json.loads(config_path.read_text(encoding="utf-8"))
                config.pop("added_tokens_decoder", None)  # ids changed; tokenizer.json holds the new ones
                config_path.write_text(json.dumps(config, ensure_ascii=False, indent=2), encoding="utf-8")
            else:
                from transformers import PreTrainedTokenizerFast

                hf = PreTrainedTokenizerFast(tokenizer_object=Tokenizer.from_str(json.dumps(state)),
                                             eos_token="<|im_end|>", bos_token=None, pad_token="<|endoftext|>")
                hf.chat_template = CHATML_TEMPLATE
                hf.save_pretrained(tmp)
            result = load_tokenizer(tmp)
            stats = text_stats(result, text)
            metrics = {"vocab_size": len(result), "corpus_chars_per_token": stats.chars_per_token,
                       "roundtrip_errors": stats.roundtrip_errors, **wide_roundtrip(result),
                       **({"like_wide_roundtrip_errors": wide_roundtrip(like_tok)["wide_roundtrip_errors"]} if like_tok else {}),
                       "seconds": round(time.perf_counter() - start, 3)}
            write_manifest(
                tmp,
                kind="tokenizer",
                inputs={"corpus": [describe_input(c) for c in corpus], **({"like": describe_input(like)} if like else {})},
                params={"operation": "train", "algorithm": algorithm, "vocab_size": vocab_size,
                        "style": "byte_level" if byte_level else "metaspace"},
                metrics=metrics,
            )
        return {"out": str(Path(out).resolve()), **metrics}
