"""`lep tokenizer extend`: add N target-language tokens as real vocabulary.

Byte-level and Metaspace BPE get new merges appended after the old ones (so they only fire where no
old merge applies, i.e. on target-language words); Unigram gets new pieces whose scores beat the
pieces they replace. New ids come after every existing id, so each old id keeps its string.

Every new token must be producible: encoding its own text (mid-text) must give that token. A merge shadowed
by an older, higher-priority merge, or a Unigram piece another segmentation outscores, can never be emitted;
such tokens (and the later merges built on them) are dropped and counted before anything is written.
"""

from __future__ import annotations

import json
import os
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

from lep_core.corpus.reading import expand
from lep_core.errors import LepInputError
from lep_core.sources.loading import load_tokenizer
from lep_core.tokenizer.analysis import WIDE_SAMPLE, encode_in_context, encode_lines, text_stats
from lep_core.tokenizer.learn import (
    ALPHABET_RULES,
    MAX_WORD_SYMBOLS,
    LearnedMerges,
    check_alphabet,
    check_unit,
    learn_merges,
    learn_words,
)
from lep_core.tokenizer.plain_text import count_special_strings
from lep_core.tokenizer.vocab import METASPACE_BPE, UNIGRAM, TokenizerShape, piece_bytes, tokenizer_state
from lep_core.tokenizer.word_counts import CorpusWords, count_words
from lep_core.workspace.atomic import chaos
from lep_core.workspace.locks import holding
from lep_core.workspace.store import atomic_dir, check_output_free, describe_input, write_manifest

PRODUCIBLE_ROUNDS = 4  # dropping a token can change how a later one is reached: re-check until stable
SLOW_TOKENIZER_FILES = ("tokenizer.model", "vocab.json", "merges.txt", "spiece.model", "sentencepiece.bpe.model")


@dataclass
class Extension:
    """A learned extension, before anything is written: what the Vocabulary tab previews."""

    base_state: dict[str, Any]
    shape: TokenizerShape
    learned: LearnedMerges
    first_new_id: int
    scores: list[float] | None = None  # Unigram: the score of each new piece
    unproducible: list[str] = field(default_factory=list)  # texts of the tokens dropped as never emitted

    def without(self, drop: set[int]) -> "Extension":
        """The extension less the tokens at `drop` (and the merges that need them)."""
        learned, kept = self.learned.without(drop)
        scores = None if self.scores is None else [self.scores[i] for i in kept]
        gone = [self.learned.texts[i] for i in range(len(self.learned.tokens)) if i not in set(kept)]
        return Extension(self.base_state, self.shape, learned, self.first_new_id, scores, self.unproducible + gone)

    @property
    def new_tokens(self) -> list[str]:
        return self.learned.tokens

    def table(self, limit: int | None = None) -> list[dict[str, Any]]:
        rows = zip(self.learned.tokens, self.learned.texts, self.learned.counts)
        return [
            {"id": self.first_new_id + i, "token": tok, "text": text, "count": count}
            for i, (tok, text, count) in enumerate(rows)
            if limit is None or i < limit
        ]


def _next_free_id(state: dict[str, Any]) -> int:
    vocab = state["model"]["vocab"]
    ids = range(len(vocab)) if isinstance(vocab, list) else vocab.values()
    added = [t["id"] for t in state.get("added_tokens", [])]
    return max(list(ids) + added) + 1


def _known_strings(state: dict[str, Any]) -> set[str]:
    """Vocabulary strings and added tokens' texts: a new token must be none of them."""
    vocab = state["model"]["vocab"]
    known = {p for p, _ in vocab} if isinstance(vocab, list) else set(vocab)
    return known | {t["content"] for t in state.get("added_tokens", [])}


def learn_extension(
    tokenizer,
    text: str | Counter,
    add: int,
    alphabet: str = "cyrillic",
    min_frequency: int = 2,
    progress: Callable[[int, int], None] | None = None,
    unit: str = "subwords",
) -> Extension:
    """Learn up to `add` new tokens on `text` (the corpus, or its pre-token counts from
    lep_core.tokenizer.word_counts) and drop those that could never be emitted (Extension.unproducible).
    `unit`: "subwords" (BPE merges / Unigram pieces, learn.learn_merges) or "words" (learn.learn_words).

    Raises LepInputError for bad arguments, a tokenizer that is not BPE or Unigram, whole words asked of a
    tokenizer that merges across spaces, or a corpus with fewer than `add` candidates seen `min_frequency` times."""
    if add < 1:
        raise LepInputError(f"--add must be at least 1 (got {add})")
    check_alphabet(alphabet)
    check_unit(unit)
    if min_frequency < 1:
        raise LepInputError(f"--min-frequency must be at least 1 (got {min_frequency})")
    state = tokenizer_state(tokenizer)
    shape = TokenizerShape.of(state)
    if shape.model_type not in ("BPE", "Unigram"):
        raise LepInputError(f"cannot extend a {shape.model_type} tokenizer: only BPE and Unigram are supported")
    if unit == "words" and shape.family == METASPACE_BPE and not _splits_words(state):
        raise LepInputError("--tokens words needs a tokenizer that cuts text into words before BPE (byte-level BPE "
                            "as in Qwen2, Llama 3, SmolLM2, or Unigram); this SentencePiece-style BPE (Llama 2, "
                            "Mistral) merges across spaces: use --tokens subwords")
    learn = learn_words if unit == "words" else learn_merges
    learned = learn(
        tokenizer.backend_tokenizer, text, shape.family, _known_strings(state), add, alphabet, min_frequency, progress
    )
    what = "whole words" if unit == "words" else "tokens"
    if not learned.tokens:
        raise LepInputError(
            f"the corpus yields no new {alphabet} {what} seen at least {min_frequency} times: "
            "is it in the target language? add more text or lower --min-frequency"
        )
    if len(learned.tokens) < add:
        raise LepInputError(
            f"the corpus yields only {len(learned.tokens)} new {alphabet} {what} seen at least {min_frequency} times "
            f"(asked for {add}): use --add {len(learned.tokens)}, lower --min-frequency, or add more text"
        )
    extension = Extension(state, shape, learned, _next_free_id(state))
    if shape.family == UNIGRAM:
        extension.scores = _unigram_scores(extension)
    extension = drop_unproducible(extension)
    if not extension.new_tokens:
        raise LepInputError(f"none of the {add} tokens learned from the corpus could ever be produced by the "
                            "tokenizer (older merges or pieces always win): try --alphabet cyrillic or another corpus")
    return extension


def _splits_words(state: dict[str, Any]) -> bool:
    """Does the pre-tokenizer hand BPE one word at a time? (A Metaspace with split=False hands it whole lines,
    so a whole-word entry would never be looked up.)"""
    pre = state.get("pre_tokenizer") or {}
    parts = pre.get("pretokenizers", [pre]) if pre.get("type") == "Sequence" else [pre]
    return any(p.get("type") in ("Metaspace", "WhitespaceSplit", "Whitespace") and p.get("split", True) for p in parts)


def unproducible_positions(backend, extension: Extension) -> list[int]:
    """Positions of new tokens whose own text, encoded mid-text (one batched call), does not give that token."""
    encoded = encode_in_context(backend, extension.learned.texts)
    first = extension.first_new_id
    return [i for i, ids in enumerate(encoded) if ids != [first + i]]


def drop_unproducible(extension: Extension) -> Extension:
    """Drop tokens that can never be emitted, re-checking the smaller tokenizer until none is left to drop."""
    from tokenizers import Tokenizer

    for _ in range(PRODUCIBLE_ROUNDS):
        backend = Tokenizer.from_str(json.dumps(extended_state(extension)))
        bad = unproducible_positions(backend, extension)
        if not bad:
            return extension
        extension = extension.without(set(bad))
        if not extension.new_tokens:
            return extension
    return extension


def _unigram_scores(extension: Extension) -> list[float]:
    """A new piece must beat the two pieces it replaces in the Viterbi search: score = sum of theirs + margin."""
    scores = {piece: score for piece, score in extension.base_state["model"]["vocab"]}
    floor = min(scores.values()) if scores else -10.0
    out = []
    # a whole word of n old pieces gets their sum + (n - 1): it beats its old segmentation, and any split of it
    # into m >= 2 parts that are themselves new words (each scored the same way) by at least m - 1
    pieces = extension.learned.pieces
    for token, merge in zip(extension.learned.tokens, extension.learned.merges):
        if token in pieces:
            score = sum(scores.get(p, floor) for p in pieces[token]) + len(pieces[token]) - 1.0
        else:
            score = floor - 1.0 if merge is None else scores[merge[0]] + scores[merge[1]] + 1.0
        scores[token] = score
        out.append(score)
    return out


def extended_state(extension: Extension) -> dict[str, Any]:
    """The new tokenizer.json: old entries untouched, new ones after every existing id."""
    state = json.loads(json.dumps(extension.base_state))
    model = state["model"]
    tokens = extension.learned.tokens
    if extension.shape.family == UNIGRAM:
        if extension.first_new_id != len(model["vocab"]):
            raise LepInputError("this Unigram tokenizer has added tokens past its vocabulary; it cannot be extended")
        model["vocab"].extend([tok, score] for tok, score in zip(tokens, extension.scores or _unigram_scores(extension)))
        return state
    for offset, token in enumerate(tokens):
        model["vocab"][token] = extension.first_new_id + offset
    if extension.learned.unit == "words":
        model["ignore_merges"] = True  # a word in the vocabulary is one token before any merge is tried
    as_strings = bool(model["merges"]) and isinstance(model["merges"][0], str)
    for merge in extension.learned.merges:
        if merge is not None:
            model["merges"].append(f"{merge[0]} {merge[1]}" if as_strings else [merge[0], merge[1]])
    return state


def write_tokenizer_folder(base_tokenizer, state: dict[str, Any], folder: Path) -> None:
    """The base's tokenizer files (config, special tokens, chat template) with a new tokenizer.json."""
    base_tokenizer.save_pretrained(folder)
    chaos("files-written")  # the chaos test's kill point: the base's files written, not yet the new tokenizer.json
    for name in SLOW_TOKENIZER_FILES:  # a stale slow vocabulary would disagree with the new tokenizer.json
        (folder / name).unlink(missing_ok=True)
    (folder / "tokenizer.json").write_text(json.dumps(state, ensure_ascii=False), encoding="utf-8")


def build_extended_tokenizer(base_tokenizer, extension: Extension, folder: Path | None = None):
    """Write the extended tokenizer (to `folder`, or a temporary one) and load it back with AutoTokenizer."""
    from transformers import AutoTokenizer

    state = extended_state(extension)
    if folder is not None:
        write_tokenizer_folder(base_tokenizer, state, folder)
        return AutoTokenizer.from_pretrained(folder)
    with tempfile.TemporaryDirectory() as tmp:
        write_tokenizer_folder(base_tokenizer, state, Path(tmp))
        return AutoTokenizer.from_pretrained(tmp)


def verify_extension(base, extended, extension: Extension, text: str | Sequence[str],
                     alphabet: str = "cyrillic") -> dict[str, Any]:
    """The guarantees, checked on the real result: old ids keep their strings; text the alphabet promises to
    keep (corpus lines and fixed samples) encodes exactly as before. A broken one is a LepInputError naming it.

    `text` is the corpus, or the corpus lines the alphabet keeps (CorpusWords.kept_lines of a streamed one)."""
    old_vocab = base.get_vocab()
    new_vocab = extended.get_vocab()
    changed = [tok for tok, idx in old_vocab.items() if new_vocab.get(tok) != idx]
    if changed:
        raise LepInputError(f"the extended tokenizer would change {len(changed)} old ids (e.g. {changed[:3]}), so "
                            "nothing was written: is the base's tokenizer.json consistent? re-save it with transformers")
    if len(new_vocab) != len(old_vocab) + len(extension.new_tokens):
        raise LepInputError("the extended tokenizer would lose or duplicate tokens (a new token equals an added "
                            "token of the base?), so nothing was written: remove such text from the corpus")
    rule = ALPHABET_RULES[alphabet]
    lines = text.split("\n") if isinstance(text, str) else text
    plain = [line for line in lines if line and rule.keeps(line)][:2000]
    plain += [line for line in WIDE_SAMPLE if rule.keeps(line)]
    if extension.learned.unit == "words":
        # a BPE that looks whole words up first changes an old word whose merges never reach its own entry:
        # every old entry's text is checked (one batched call each way)
        plain += _vocabulary_texts(base, extension.shape.family, rule.keeps)
    before, after = encode_lines(base, plain), encode_lines(extended, plain)
    moved = [line for line, a, b in zip(plain, before, after) if a != b]
    if moved:
        raise LepInputError(f"the extension would change the ids of {len(moved)} lines it promises to keep "
                            f"({rule.promise}), e.g. {moved[0][:60]!r}, so nothing was written: "
                            "use --alphabet cyrillic or remove such lines from the corpus")
    return {"checked_plain_lines": len(plain), "old_ids_kept": len(old_vocab)}


def _vocabulary_texts(tokenizer, family: str, keeps: Callable[[str], bool]) -> list[str]:
    """The readable text of every vocabulary entry that the alphabet keeps (special tokens left out)."""
    specials = set(tokenizer.all_special_tokens) | {t.content for t in tokenizer.added_tokens_decoder.values()}
    texts = (piece_bytes(p, family).decode("utf-8", errors="ignore") for p in tokenizer.get_vocab() if p not in specials)
    return [t for t in texts if t.strip() and keeps(t)]


def extension_notes(extension: Extension, tokenizer, text: str | int) -> dict[str, Any]:
    """What the output and the manifest say besides the headline: tokens dropped as never emitted, long
    pre-tokens learned from in chunks, special-token strings the corpus holds (read as text; `text` is the
    corpus or that count, taken while streaming)."""
    return {
        "unproducible_dropped": len(extension.unproducible),
        "unproducible_examples": extension.unproducible[:10],
        "long_words_chunked": extension.learned.chunked_words,
        "long_word_chunk_chars": MAX_WORD_SYMBOLS,
        "special_strings_as_text": text if isinstance(text, int) else count_special_strings(tokenizer, text),
    }


def corpus_use(words: CorpusWords) -> dict[str, Any]:
    """How much of the corpus went where (the output and the manifest): all of it into the counts; the
    chars/token figures on `stats_chars` characters of it (a sample spread over the corpus when it is large);
    what reading rewrote into the one text form (`normalised`, lep_core.corpus.text)."""
    return {"corpus_bytes": words.corpus_bytes, "corpus_chars": words.corpus_chars,
            "distinct_learnable_pretokens": len(words.counts), "count_workers": words.workers,
            "stats_chars": words.sample_chars, "stats_sampled": words.sampled,
            "normalised": words.normalised.as_dict()}


def extend_tokenizer(
    base: str | os.PathLike,
    corpus: Sequence[str | os.PathLike],
    add: int,
    out: str | os.PathLike,
    alphabet: str = "cyrillic",
    min_frequency: int = 2,
    overwrite: bool = False,
    progress: Callable[[int, int], None] | None = None,
    read_progress: Callable[[int, int], None] | None = None,
    unit: str = "subwords",
) -> dict[str, Any]:
    """Learn, write atomically, verify, and record the manifest. Returns the headline numbers.

    The corpus is streamed once (lep_core.tokenizer.word_counts): memory grows with its distinct pre-tokens,
    not its size. Every word of it is learned from; the corpus stats before/after are measured on a sample
    when it is larger than STATS_SAMPLE_BYTES, and the metrics say how much (`corpus_use`).
    progress(tokens learned, add); read_progress(bytes read, bytes total)."""
    if add < 1:
        raise LepInputError(f"--add must be at least 1 (got {add})")
    check_unit(unit)
    check_output_free(out, overwrite)
    with holding([out], [base, *corpus]):
        expand(corpus)  # a missing file fails before the tokenizer loads
        tokenizer = load_tokenizer(base)
        start = time.perf_counter()
        family = TokenizerShape.of(tokenizer_state(tokenizer)).family
        words = count_words(tokenizer, corpus, family, alphabet, read_progress)
        extension = learn_extension(tokenizer, words.counts, add, alphabet, min_frequency, progress, unit)
        with atomic_dir(out, overwrite) as tmp:
            extended = build_extended_tokenizer(tokenizer, extension, tmp)
            checks = verify_extension(tokenizer, extended, extension, words.kept_lines, alphabet)
            before = text_stats(tokenizer, words.sample)
            after = text_stats(extended, words.sample)
            metrics = {
                "added": len(extension.new_tokens),
                "vocab_size_before": len(tokenizer),
                "vocab_size_after": len(extended),
                "corpus_chars_per_token_before": before.chars_per_token,
                "corpus_chars_per_token_after": after.chars_per_token,
                "roundtrip_errors": after.roundtrip_errors,
                "seconds": round(time.perf_counter() - start, 3),
                **checks,
                **extension_notes(extension, tokenizer, words.special_strings),
                **corpus_use(words),
            }
            (tmp / "new_tokens.json").write_text(json.dumps(extension.table(), ensure_ascii=False, indent=1), encoding="utf-8")
            write_manifest(
                tmp,
                kind="tokenizer",
                inputs={"base": describe_input(base), "corpus": [describe_input(c) for c in corpus]},
                params={"operation": "extend", "add": add, "alphabet": alphabet, "min_frequency": min_frequency,
                        "tokens": unit, "family": extension.shape.family},
                metrics=metrics,
            )
        return {"out": str(Path(out).resolve()), **metrics}
