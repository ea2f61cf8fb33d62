"""Learn new BPE merges on a corpus, starting from the base tokenizer's own segmentation.

Words come from the base's normalizer and pre-tokenizer; each unique word is segmented by the base
model once; then the most frequent adjacent pair whose merge is an allowed new token is merged,
repeatedly. Pair counts are updated incrementally (only words containing the merged pair are
touched) and the best pair comes from a lazy max-heap, so thousands of merges take seconds.
"""

from __future__ import annotations

import heapq
import re
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from typing import Callable

from lep_core.tokenizer.vocab import BYTE_LEVEL, SPACE_MARK, piece_bytes

CYRILLIC_TOKEN = re.compile(r"^ ?[\u0400-\u04FF]+$")
_HAS_CYRILLIC = re.compile(r"[\u0400-\u04FF]")
_BYTE_PIECE = re.compile(r"^<0x([0-9A-Fa-f]{2})>$")
ALPHABETS = ("cyrillic", "any")


@dataclass
class LearnedMerges:
    """New tokens in the order learned; `merges[i]` built `tokens[i]` (None for new single characters)."""

    tokens: list[str] = field(default_factory=list)
    merges: list[tuple[str, str] | None] = field(default_factory=list)
    counts: list[int] = field(default_factory=list)
    texts: list[str] = field(default_factory=list)


def token_filter(alphabet: str, family: str) -> Callable[[str], str | None]:
    """Returns text_of(piece): the readable text of an allowed new token, or None when it is not allowed."""

    def text_of(piece: str) -> str | None:
        try:
            text = piece_bytes(piece, family).decode("utf-8")
        except UnicodeDecodeError:
            return None  # a partial character is never a useful token of its own
        if not text.strip():
            return None
        if alphabet == "cyrillic":
            return text if CYRILLIC_TOKEN.match(text) else None
        return text

    return text_of


def split_words(tokenizer_backend, text: str, family: str) -> Counter:
    """Word frequencies, words written in the model's own alphabet (byte-level chars or ▁ pieces)."""
    normalizer = tokenizer_backend.normalizer
    pre = tokenizer_backend.pre_tokenizer
    counts: Counter = Counter()
    for line in text.split("\n"):
        if not line.strip():
            continue
        norm = normalizer.normalize_str(line) if normalizer is not None else line
        words = [w for w, _ in pre.pre_tokenize_str(norm)] if pre is not None else [norm]
        if family != BYTE_LEVEL:  # Metaspace with split=False (or a normalizer-only setup): split before each ▁
            words = [p for w in words for p in re.split(f"(?={SPACE_MARK})", w) if p]
        counts.update(words)
    return counts


def _symbols(tokens: list, family: str) -> list[str]:
    """Segmentation of one word; byte-fallback pieces of one character are joined back into the character."""
    out: list[str] = []
    pending = b""
    for tok in tokens:
        match = _BYTE_PIECE.match(tok.value) if family != BYTE_LEVEL else None
        if match:
            pending += bytes([int(match.group(1), 16)])
            try:
                out.append(pending.decode("utf-8"))
                pending = b""
            except UnicodeDecodeError:
                continue
        else:
            out.append(tok.value)
    return out


def learn_merges(
    tokenizer_backend,
    text: str,
    family: str,
    existing: set[str],
    add: int,
    alphabet: str = "cyrillic",
    min_frequency: int = 2,
    progress: Callable[[int, int], None] | None = None,
) -> LearnedMerges:
    """Up to `add` new tokens whose text passes the alphabet filter, each seen at least min_frequency times."""
    text_of = token_filter(alphabet, family)
    word_counts = split_words(tokenizer_backend, text, family)
    if alphabet == "cyrillic":  # only words with Cyrillic letters can ever produce an allowed merge
        word_counts = Counter({w: c for w, c in word_counts.items() if _HAS_CYRILLIC.search(_readable(w, family))})
    model = tokenizer_backend.model
    words = [_symbols(model.tokenize(w), family) for w in word_counts]
    freqs = list(word_counts.values())
    result = LearnedMerges()
    known = set(existing)

    # characters the model can only spell with byte-fallback pieces become new single-character tokens
    if family != BYTE_LEVEL:
        char_counts: Counter = Counter()
        for symbols, freq in zip(words, freqs):
            for s in symbols:
                if s not in known:
                    char_counts[s] += freq
        for char, count in char_counts.most_common():
            if len(result.tokens) >= add or count < min_frequency:
                break
            if text_of(char) is not None:
                known.add(char)
                result.tokens.append(char)
                result.merges.append(None)
                result.counts.append(count)
                result.texts.append(text_of(char) or char)

    pair_counts: dict[tuple[str, str], int] = defaultdict(int)
    where: dict[tuple[str, str], set[int]] = defaultdict(set)
    for i, (symbols, freq) in enumerate(zip(words, freqs)):
        for pair in zip(symbols, symbols[1:]):
            pair_counts[pair] += freq
            where[pair].add(i)
    allowed_cache: dict[tuple[str, str], bool] = {}

    def allowed(pair: tuple[str, str]) -> bool:
        ok = allowed_cache.get(pair)
        if ok is None:
            merged = pair[0] + pair[1]
            ok = merged not in known and all(s in known for s in pair) and text_of(merged) is not None
            allowed_cache[pair] = ok
        return ok

    heap = [(-c, pair) for pair, c in pair_counts.items() if c >= min_frequency and allowed(pair)]
    heapq.heapify(heap)
    while heap and len(result.tokens) < add:
        neg, pair = heapq.heappop(heap)
        count = pair_counts.get(pair, 0)
        if count != -neg:
            if count >= min_frequency and allowed(pair):
                heapq.heappush(heap, (-count, pair))
            continue
        a, b = pair
        merged = a + b
        if merged in known:  # became known through another path since it was queued
            continue
        known.add(merged)
        result.tokens.append(merged)
        result.merges.append(pair)
        result.counts.append(count)
        result.texts.append(text_of(merged) or merged)
        if progress is not None:
            progress(len(result.tokens), add)
        touched: dict[tuple[str, str], int] = defaultdict(int)
        for i in list(where[pair]):
            symbols, freq = words[i], freqs[i]
            for old in zip(symbols, symbols[1:]):
                pair_counts[old] -= freq
                touched[old] -= freq
            merged_symbols: list[str] = []
            j = 0
            while j < len(symbols):
                if j + 1 < len(symbols) and symbols[j] == a and symbols[j + 1] == b:
                    merged_symbols.append(merged)
                    j += 2
                else:
                    merged_symbols.append(symbols[j])
                    j += 1
            words[i] = merged_symbols
            for new in zip(merged_symbols, merged_symbols[1:]):
                pair_counts[new] += freq
                touched[new] += freq
                where[new].add(i)
        for p, delta in touched.items():  # stale heap entries for decreased pairs are fixed when popped
            if delta > 0 and pair_counts[p] >= min_frequency and allowed(p):
                heapq.heappush(heap, (-pair_counts[p], p))
        del pair_counts[pair]
    return result


def _readable(word: str, family: str) -> str:
    return piece_bytes(word, family).decode("utf-8", errors="ignore")
