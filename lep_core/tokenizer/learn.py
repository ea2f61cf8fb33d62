"""Learn new BPE merges on a corpus, starting from the base tokenizer's own segmentation.

Words come from the base's normalizer and pre-tokenizer; each unique word is segmented by the base
model once; then the most frequent adjacent pair whose merge is an allowed new token is merged,
repeatedly. Pair counts are updated incrementally (only words containing the merged pair are
touched) and the best pair comes from a lazy max-heap, so thousands of merges take seconds.

A word longer than MAX_WORD_SYMBOLS (a line without spaces, as text extracted from PDFs often is)
is learned from in chunks of that length: each merge rescans the words it touches, so one 50,000-character
word would otherwise make every merge cost as much as the rest of the corpus.

Each alphabet states what it promises (`Alphabet.keeps`: text that must keep its ids) and admits only
tokens that can never occur in such text, so the promise holds by construction for BPE merges (a new
merge fires only where both its halves occur) and Unigram pieces (a piece is used only where its text is).
"""

from __future__ import annotations

import heapq
import re
import sys
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from typing import Callable

from lep_core.errors import LepInputError
from lep_core.tokenizer.vocab import BYTE_LEVEL, SPACE_MARK, piece_bytes

CYRILLIC_TOKEN = re.compile(r"^ ?[\u0400-\u04FF]+$")
_HAS_CYRILLIC = re.compile(r"[\u0400-\u04FF]")
_BYTE_PIECE = re.compile(r"^<0x([0-9A-Fa-f]{2})>$")
MAX_WORD_SYMBOLS = 128  # longer pre-tokens are learned from in chunks of this many symbols


@dataclass(frozen=True)
class Alphabet:
    """Which new tokens an alphabet admits, and the text whose ids it promises to keep."""

    name: str
    admits: Callable[[str], bool]  # the readable text of a candidate token -> may it be added
    keeps: Callable[[str], bool]  # a line of text -> must it encode exactly as before
    promise: str  # the promise, in words (CLI help, errors, README)


ALPHABET_RULES = {
    "cyrillic": Alphabet("cyrillic", lambda t: bool(CYRILLIC_TOKEN.match(t)), lambda line: not _HAS_CYRILLIC.search(line),
                         "new tokens are Cyrillic words or word pieces; text without Cyrillic letters keeps its ids"),
    "any": Alphabet("any", lambda t: not t.isascii(), str.isascii,
                    "new tokens of any script, each with a non-ASCII character; ASCII text (English, code) keeps its ids"),
}
ALPHABETS = tuple(ALPHABET_RULES)
# what a new token may be: BPE merges / Unigram pieces learned on the corpus, or whole words of it (learn_words)
UNITS = {"subwords": "word pieces learned by BPE or Unigram (most compression; a frozen body reads short pieces badly)",
         "words": "whole words seen --min-frequency times (less compression; bits-per-char close to the original's)"}


def check_unit(unit: str) -> str:
    """The unit itself; LepInputError naming the choices for an unknown one."""
    if unit not in UNITS:
        raise LepInputError(f"unknown token unit {unit!r}: choose one of {', '.join(UNITS)}")
    return unit


def check_alphabet(alphabet: str) -> Alphabet:
    """The rule of a named alphabet; LepInputError naming the choices for an unknown one."""
    if alphabet not in ALPHABET_RULES:
        raise LepInputError(f"unknown alphabet {alphabet!r}: choose one of {', '.join(ALPHABETS)}")
    return ALPHABET_RULES[alphabet]


@dataclass
class LearnedMerges:
    """New tokens in the order learned; `merges[i]` built `tokens[i]` (None for new single characters and for
    whole words); `pieces[word]` is the old segmentation a whole-word token replaces (unit "words")."""

    tokens: list[str] = field(default_factory=list)
    merges: list[tuple[str, str] | None] = field(default_factory=list)
    counts: list[int] = field(default_factory=list)
    texts: list[str] = field(default_factory=list)
    chunked_words: int = 0  # pre-tokens longer than MAX_WORD_SYMBOLS, learned from in chunks
    unit: str = "subwords"
    pieces: dict[str, tuple[str, ...]] = field(default_factory=dict)

    def without(self, drop: set[int]) -> tuple["LearnedMerges", list[int]]:
        """A copy without the tokens at `drop` and without every later token whose merge needs a dropped one
        (a BPE merge of a missing symbol can never fire); also returns the kept positions."""
        gone = {self.tokens[i] for i in drop}
        out = LearnedMerges(chunked_words=self.chunked_words, unit=self.unit)
        kept = []
        for i, (tok, merge, count, text) in enumerate(zip(self.tokens, self.merges, self.counts, self.texts)):
            if i in drop or (merge is not None and (merge[0] in gone or merge[1] in gone)):
                gone.add(tok)
                continue
            kept.append(i)
            out.tokens.append(tok)
            out.merges.append(merge)
            out.counts.append(count)
            out.texts.append(text)
            if tok in self.pieces:
                out.pieces[tok] = self.pieces[tok]
        return out, kept


def token_filter(alphabet: str, family: str) -> Callable[[str], str | None]:
    """Returns text_of(piece): the readable text of an allowed new token, or None when it is not allowed."""

    def text_of(piece: str) -> str | None:
        try:
            text = piece_bytes(piece, family).decode("utf-8")
        except UnicodeDecodeError:
            return None  # a partial character is never a useful token of its own
        if not text.strip():
            return None
        return text if ALPHABET_RULES[alphabet].admits(text) else None

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


def chunk_long_words(counts: Counter, limit: int = MAX_WORD_SYMBOLS) -> tuple[Counter, int]:
    """Words longer than `limit` characters cut into chunks of at most `limit` (and how many were cut):
    the learner's cost then does not depend on the length of one pre-token."""
    long_words = [w for w in counts if len(w) > limit]
    if not long_words:
        return counts, 0
    out = Counter({w: c for w, c in counts.items() if len(w) <= limit})
    for word in long_words:
        for start in range(0, len(word), limit):
            out[word[start:start + limit]] += counts[word]
    return out, len(long_words)


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
            out.append(sys.intern(tok.value))  # one string per distinct symbol, not one per occurrence
    return out


def learn_merges(
    tokenizer_backend,
    text: str | Counter,
    family: str,
    existing: set[str],
    add: int,
    alphabet: str = "cyrillic",
    min_frequency: int = 2,
    progress: Callable[[int, int], None] | None = None,
) -> LearnedMerges:
    """Up to `add` new tokens whose text passes the alphabet filter, each seen at least min_frequency times.

    `text` is the corpus, or its pre-token counts as `split_words` gives them (lep_core.tokenizer.word_counts
    builds them while streaming a large corpus): memory then grows with the distinct words only."""
    text_of = token_filter(alphabet, family)
    rule = ALPHABET_RULES[alphabet]
    word_counts = text if isinstance(text, Counter) else split_words(tokenizer_backend, text, family)
    # only words with a character the alphabet admits can ever produce an allowed token
    word_counts = Counter({w: c for w, c in word_counts.items() if not rule.keeps(_readable(w, family))})
    word_counts, chunked = chunk_long_words(word_counts)
    model = tokenizer_backend.model
    words = [_symbols(model.tokenize(w), family) for w in word_counts]
    freqs = list(word_counts.values())
    result = LearnedMerges(chunked_words=chunked)
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
            positions = _occurrences(symbols, a, b)
            if not positions:  # `where` keeps words the pair has left
                continue
            merged_symbols = _merged(symbols, positions, merged)
            words[i] = merged_symbols
            # only the pairs next to a merge change: the old ones around each occurrence go, the new ones come
            for k in _around(positions, len(symbols), (-1, 0, 1)):
                old = (symbols[k], symbols[k + 1])
                pair_counts[old] -= freq
                touched[old] -= freq
            for k in _around([p - n for n, p in enumerate(positions)], len(merged_symbols), (-1, 0)):
                new = (merged_symbols[k], merged_symbols[k + 1])
                pair_counts[new] += freq
                touched[new] += freq
                where[new].add(i)
        for p, delta in touched.items():  # stale heap entries for decreased pairs are fixed when popped
            if delta > 0 and pair_counts[p] >= min_frequency and allowed(p):
                heapq.heappush(heap, (-pair_counts[p], p))
        del pair_counts[pair]
    return result


def learn_words(
    tokenizer_backend,
    text: str | Counter,
    family: str,
    existing: set[str],
    add: int,
    alphabet: str = "cyrillic",
    min_frequency: int = 2,
    progress: Callable[[int, int], None] | None = None,
) -> LearnedMerges:
    """Up to `add` whole words of the corpus as new tokens, each seen at least min_frequency times, the words
    that save the most tokens first (occurrences x (old pieces - 1)).

    Why whole words (issue 14, README "Whole words or word pieces"): the frozen body reads a long word-initial
    token about as well as its old spelling, and short pieces inside words badly. On the demo model, before any
    training, 2,007 whole words cost 7 % more bits-per-char on held-out Russian at 1.73 chars/token, while 500
    BPE pieces cost 34 % at 2.10 and 3,000 cost 27 % at 2.86 (they still cost 20 % after 60 training steps).
    A listed word is read as one token before any merge (tokenizers' BPE `ignore_merges`; a Unigram piece
    scored above its old segmentation), so no sub-word pieces come with it; a word not listed keeps its old
    spelling. Words longer than MAX_WORD_SYMBOLS are left out (a line without spaces is no word)."""
    text_of = token_filter(alphabet, family)  # admits no word the alphabet promises to keep
    word_counts = text if isinstance(text, Counter) else split_words(tokenizer_backend, text, family)
    model = tokenizer_backend.model
    candidates = []
    for order, (word, count) in enumerate(word_counts.items()):
        if count < min_frequency or word in existing or len(word) > MAX_WORD_SYMBOLS:
            continue
        readable = text_of(word)
        if readable is None:
            continue
        pieces = tuple(t.value for t in model.tokenize(word))
        if len(pieces) > 1:
            candidates.append((-count * (len(pieces) - 1), order, word, count, readable, pieces))
    candidates.sort()
    result = LearnedMerges(unit="words")
    for _, _, word, count, readable, pieces in candidates[:add]:
        result.tokens.append(word)
        result.merges.append(None)
        result.counts.append(count)
        result.texts.append(readable)
        result.pieces[word] = pieces
        if progress is not None:
            progress(len(result.tokens), add)
    return result


def _occurrences(symbols: list[str], a: str, b: str) -> list[int]:
    """Start positions of the pair (a, b) in `symbols`, left to right, not overlapping (as BPE merges);
    `list.index` does the scanning in C, so a long word costs little per merge."""
    out: list[int] = []
    j, last = 0, len(symbols) - 1
    while True:
        try:
            j = symbols.index(a, j)
        except ValueError:
            return out
        if j < last and symbols[j + 1] == b:
            out.append(j)
            j += 2
        else:
            j += 1


def _merged(symbols: list[str], positions: list[int], merged: str) -> list[str]:
    out: list[str] = []
    prev = 0
    for p in positions:
        out.extend(symbols[prev:p])
        out.append(merged)
        prev = p + 2
    out.extend(symbols[prev:])
    return out


def _around(positions: list[int], length: int, offsets: tuple[int, ...]) -> list[int]:
    """Pair indices (a pair k is symbols[k], symbols[k + 1]) at the given offsets from each position, once each."""
    if len(positions) == 1:  # the common case, without a set
        return [positions[0] + o for o in offsets if 0 <= positions[0] + o < length - 1]
    return sorted({p + o for p in positions for o in offsets if 0 <= p + o < length - 1})


def _readable(word: str, family: str) -> str:
    return piece_bytes(word, family).decode("utf-8", errors="ignore")
