"""Count a corpus's pre-tokens while streaming it: memory grows with the distinct words, not the corpus.

The tokenizers library's own trainers work this way: normalize and pre-tokenize the text piece by piece,
count the words, then learn merges from the counts. Pieces are counted in worker processes when the corpus
is large and the machine has cores to spare; the Counters are merged in corpus order, so the counts (and
their insertion order, which breaks ties in the learner) equal `learn.split_words` on the whole text.
"""

from __future__ import annotations

import math
import os
from collections import Counter, deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable

from lep_core.corpus.reading import expand
from lep_core.corpus.stream import PIECE_BYTES, corpus_bytes, stream_corpus
from lep_core.corpus.text import TextChanges
from lep_core.tokenizer.learn import ALPHABET_RULES, _readable, check_alphabet, split_words

STATS_SAMPLE_BYTES = 8 * 2**20  # corpus stats (chars/token before and after) are measured on this much text
KEEP_LINES = 2000  # lines the alphabet promises to keep, checked on the extended tokenizer
MAX_WORKERS = 8  # more processes rarely pay: the merge of their Counters runs in one process

_WORKER: dict = {}


@dataclass
class CorpusWords:
    """What one pass over a corpus yields for the extension: pre-token counts and small samples.

    counts: pre-token -> occurrences, in order of first occurrence (as `split_words` on the whole text), only
    for pre-tokens with a character the alphabet admits (the only ones the learner uses);
    sample: the text corpus stats are measured on (the whole corpus when it is at most STATS_SAMPLE_BYTES,
    else the first lines of every piece, spread evenly over the corpus); kept_lines: the first KEEP_LINES
    lines the alphabet promises to keep; special_strings: special-token strings found (read as text);
    normalised: what reading rewrote into the one text form (lep_core.corpus.text: NFC, LF line ends)."""

    counts: Counter = field(default_factory=Counter)
    sample: str = ""
    kept_lines: list[str] = field(default_factory=list)
    special_strings: int = 0
    corpus_bytes: int = 0
    corpus_chars: int = 0
    sample_chars: int = 0
    workers: int = 1
    normalised: TextChanges = field(default_factory=TextChanges)

    @property
    def sampled(self) -> bool:
        return self.sample_chars < self.corpus_chars


def _init(backend_json: str, family: str, alphabet: str, specials: list[str]) -> None:
    from tokenizers import Tokenizer

    _WORKER.update(backend=Tokenizer.from_str(backend_json), family=family, alphabet=alphabet, specials=specials)


def _count(piece: str) -> tuple[Counter, list[str], int]:
    """Pre-token counts of one piece, its first KEEP_LINES kept lines, and its special-token strings."""
    keeps = ALPHABET_RULES[_WORKER["alphabet"]].keeps
    kept: list[str] = []
    for line in piece.split("\n"):
        if line and keeps(line):
            kept.append(line)
            if len(kept) >= KEEP_LINES:
                break
    specials = sum(piece.count(s) for s in _WORKER["specials"] if s in piece)
    counts = split_words(_WORKER["backend"], piece, _WORKER["family"])
    # only words with a character the alphabet admits can give a new token (learn_merges filters the same way)
    learnable = Counter({w: c for w, c in counts.items() if not keeps(_readable(w, _WORKER["family"]))})
    return learnable, kept, specials


def default_workers() -> int:
    """Processes for counting: the cores this process may use, at most MAX_WORKERS."""
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:
        cores = os.cpu_count() or 1
    return max(1, min(cores, MAX_WORKERS))


def count_words(
    tokenizer,
    paths: Iterable[str | os.PathLike],
    family: str | None = None,
    alphabet: str = "cyrillic",
    progress: Callable[[int, int], None] | None = None,
    workers: int | None = None,
    piece_bytes: int = PIECE_BYTES,
) -> CorpusWords:
    """One streaming pass over the corpus: pre-token counts (the learner's input) plus the samples the
    extension's checks and stats need. progress(bytes_read, bytes_total) follows the reading. `family` is the
    tokenizer's (lep_core.tokenizer.vocab), read from it when not given.

    Memory: the Counter (distinct pre-tokens), the stats sample (at most about STATS_SAMPLE_BYTES) and a few
    pieces in flight (2 per worker). Raises LepInputError for unreadable or empty corpora (lep_core.corpus)."""
    from lep_core.tokenizer.plain_text import special_strings
    from lep_core.tokenizer.vocab import TokenizerShape, tokenizer_state

    check_alphabet(alphabet)
    files = [Path(p) for p in expand(paths)]
    family = family or TokenizerShape.of(tokenizer_state(tokenizer)).family
    total = corpus_bytes(files)
    workers = default_workers() if workers is None else max(1, workers)
    if total <= 2 * piece_bytes:
        workers = 1  # a small corpus: starting processes costs more than it saves
    fraction = min(1.0, STATS_SAMPLE_BYTES / max(1, total))
    backend = tokenizer.backend_tokenizer
    args = (backend.to_str(), family, alphabet, special_strings(tokenizer))
    out = CorpusWords(corpus_bytes=total, workers=workers)
    samples: list[str] = []

    def take(piece: str, result: tuple[Counter, list[str], int]) -> None:
        counts, kept, specials = result
        out.counts.update(counts)
        out.special_strings += specials
        if len(out.kept_lines) < KEEP_LINES:
            out.kept_lines.extend(kept[:KEEP_LINES - len(out.kept_lines)])
        out.corpus_chars += len(piece)
        if fraction >= 1.0:
            samples.append(piece)
        else:  # the first lines of each piece: a sample spread over the whole corpus
            end = piece.find("\n", math.ceil(len(piece) * fraction))
            samples.append(piece if end < 0 else piece[:end + 1])

    pieces = stream_corpus(files, progress, piece_bytes, out.normalised)
    if workers == 1:
        _init(*args)
        try:
            for piece in pieces:
                take(piece, _count(piece))
        finally:
            _WORKER.clear()
    else:
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor

        # fork where there is one: no re-import of the caller's main module (scripts, notebooks, the app)
        method = "fork" if "fork" in multiprocessing.get_all_start_methods() else "spawn"
        with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context(method), initializer=_init,
                                 initargs=args) as pool:
            pending: deque = deque()
            for piece in pieces:  # at most 2 pieces per worker in flight; results taken in corpus order
                pending.append((piece, pool.submit(_count, piece)))
                if len(pending) >= 2 * workers:
                    done_piece, future = pending.popleft()
                    take(done_piece, future.result())
            while pending:
                done_piece, future = pending.popleft()
                take(done_piece, future.result())
    out.sample = "".join(samples)
    out.sample_chars = len(out.sample)
    return out
