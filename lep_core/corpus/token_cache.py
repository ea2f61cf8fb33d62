"""Tokenize a corpus once, keep the ids on disk, memory-map them afterwards (nanoGPT style).

A cache entry is a folder ``<cache>/<key>/`` holding ``tokens.bin`` (the ids of the whole corpus, in order,
uint16 when the vocabulary fits, else uint32) and ``meta.json`` (dtype, counts, what was read). The key is a
hash of the corpus content (each file's hash, in reading order), the tokenizer (its serialized state) and
READING_RULE, the version of the text -> ids rule below; change any and it is a different entry.

The rule is the one `lep train` always used (lep_core.tokenizer.plain_text): the corpus text as
`read_corpus` gives it (LF line ends, NFC: lep_core.corpus.text), cut into lines (``splitlines(keepends=True)``), each line encoded with
`encode_plain`, the ids concatenated. The entry is written to a temporary folder and renamed into place,
so it is whole or absent; a lock file makes concurrent processes (data parallel ranks, two runs) build it
once and the others wait and reuse it. Reading is streamed (lep_core.corpus.stream): memory stays at one
piece of text whatever the corpus size.

An entry is checked against its meta.json before every use: tokens.bin must hold exactly `tokens` ids of
`dtype`, and its hash (lep_core.workspace.store.file_hash: sha256 up to 64 MiB, else size + head + tail) must be
the one recorded when it was built. A damaged entry (a file truncated or edited by hand) is rebuilt, never read.
Runs keep their own copy of the ids (lep_core.training.data.save_blocks), never a link to the entry.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import time
from dataclasses import dataclass
from itertools import chain
from pathlib import Path
from typing import Any, Callable, Iterable

import numpy as np

from lep_core.corpus.reading import expand
from lep_core.corpus.stream import PIECE_BYTES, corpus_bytes, stream_corpus
from lep_core.workspace.store import file_hash, workspace_root

READING_RULE = "plain-text lines v2 (LF, NFC)"  # bump when the text -> ids rule changes: old entries are not reused
ENCODE_BATCH = 2048  # lines per encode_batch call (the tokenizers library runs a batch in parallel)
TOKENS, META = "tokens.bin", "meta.json"
CACHE_ENV = "LEP_TOKEN_CACHE"  # a folder for the cache instead of <workspace>/cache/tokens (e.g. a fast disk)


@dataclass
class CachedTokens:
    """The ids of a corpus, memory-mapped: `tokens` is a read-only (n,) uint16/uint32 array on disk."""

    tokens: np.ndarray
    folder: Path
    meta: dict[str, Any]
    reused: bool  # True when an earlier run (or process) built it and this one read no text

    @property
    def path(self) -> Path:
        return self.folder / TOKENS


def cache_root(workspace: str | os.PathLike | None = None) -> Path:
    """$LEP_TOKEN_CACHE, else <workspace>/cache/tokens (workspace as lep_core.workspace.store resolves it)."""
    explicit = os.environ.get(CACHE_ENV)
    return Path(explicit).expanduser().resolve() if explicit else workspace_root(workspace) / "cache" / "tokens"


def token_dtype(vocab_size: int) -> np.dtype:
    """uint16 when every id fits (vocabularies up to 65,536), else uint32."""
    return np.dtype(np.uint16) if vocab_size <= 2**16 else np.dtype(np.uint32)


def _vocab_size(tokenizer) -> int:
    backend = getattr(tokenizer, "backend_tokenizer", tokenizer)
    return max(len(tokenizer) if hasattr(tokenizer, "__len__") else 0, backend.get_vocab_size(with_added_tokens=True))


def tokenizer_hash(tokenizer) -> str:
    """sha256 of the tokenizer's serialized state (vocabulary, merges, normalizer, pre-tokenizer, added tokens),
    with the per-call truncation and padding settings left out: the same hash for the same text -> ids map."""
    backend = getattr(tokenizer, "backend_tokenizer", tokenizer)
    state = json.loads(backend.to_str())
    state["truncation"], state["padding"] = None, None
    return hashlib.sha256(json.dumps(state, sort_keys=True, ensure_ascii=False).encode()).hexdigest()


def corpus_fingerprint(files: Iterable[Path]) -> list[str]:
    """One hash per file, in reading order. Files up to 64 MiB get a full sha256; bigger ones a fingerprint of
    size, head and tail (lep_core.workspace.store.file_hash) plus their modification time, so an edit in the
    middle of a large file (which changes its mtime) still changes the key, without reading gigabytes."""
    out = []
    for f in files:
        h = file_hash(f)
        out.append(h if h.startswith("sha256:") else f"{h}:{f.stat().st_mtime_ns}")
    return out


def cache_key(tokenizer, paths: Iterable[str | os.PathLike]) -> str:
    """The entry's name: sha256 of (READING_RULE, the corpus files' hashes in order, the tokenizer's hash)."""
    files = expand(paths)
    spec = {"rule": READING_RULE, "files": corpus_fingerprint(files), "tokenizer": tokenizer_hash(tokenizer)}
    return hashlib.sha256(json.dumps(spec, sort_keys=True).encode()).hexdigest()[:32]


def tokenize_to_file(tokenizer, paths: Iterable[str | os.PathLike], out: Path,
                     progress: Callable[[int, int], None] | None = None,
                     piece_bytes: int = PIECE_BYTES) -> dict[str, Any]:
    """Stream the corpus, encode it line by line (the rule above) and append the ids to `out`.

    Returns the facts for meta.json: dtype, tokens, chars, bytes, special-token strings read as text, what
    normalization rewrote (lep_core.corpus.text.TextChanges).
    Raises LepInputError for unreadable or empty corpora (lep_core.corpus.stream)."""
    from lep_core.corpus.text import TextChanges
    from lep_core.tokenizer.plain_text import encode_plain, special_strings

    files = expand(paths)
    dtype = token_dtype(_vocab_size(tokenizer))
    specials = special_strings(tokenizer)
    n_tokens = n_chars = n_specials = 0
    changes = TextChanges()
    with open(out, "wb") as f:
        for piece in stream_corpus(files, progress, piece_bytes, changes):
            lines = piece.splitlines(keepends=True)  # pieces end at line ends: the lines of the whole text
            for start in range(0, len(lines), ENCODE_BATCH):
                encoded = encode_plain(tokenizer, lines[start:start + ENCODE_BATCH])
                count = sum(len(ids) for ids in encoded)
                if count:
                    f.write(np.fromiter(chain.from_iterable(encoded), dtype=dtype, count=count).tobytes())
                n_tokens += count
            n_chars += len(piece)
            n_specials += sum(piece.count(s) for s in specials if s in piece)
    return {"dtype": dtype.name, "tokens": n_tokens, "chars": n_chars, "bytes": corpus_bytes(files),
            "special_strings_as_text": n_specials, "normalised": changes.as_dict()}


def _open(folder: Path, reused: bool) -> CachedTokens:
    meta = json.loads((folder / META).read_text(encoding="utf-8"))
    n = int(meta["tokens"])
    tokens = (np.memmap(folder / TOKENS, dtype=meta["dtype"], mode="r", shape=(n,)) if n
              else np.zeros(0, dtype=meta["dtype"]))
    return CachedTokens(tokens, folder, meta, reused)


def entry_problem(folder: Path) -> str | None:
    """What is wrong with a cache entry, checked against its meta.json (None: it is whole)."""
    try:
        meta = json.loads((folder / META).read_text(encoding="utf-8"))
        expected = int(meta["tokens"]) * np.dtype(meta["dtype"]).itemsize
    except (OSError, ValueError, KeyError, TypeError) as exc:
        return f"unreadable {META} ({type(exc).__name__})"
    try:
        size = (folder / TOKENS).stat().st_size
    except OSError:
        return f"no {TOKENS}"
    if size != expected:
        return f"{TOKENS} has {size} bytes, {META} says {expected}"
    if meta.get("tokens_hash") and file_hash(folder / TOKENS) != meta["tokens_hash"]:
        return f"{TOKENS} was changed after it was built (hash differs)"
    return None


def _build(tokenizer, paths: list, root: Path, key: str, folder: Path,
           progress: Callable[[int, int], None] | None) -> None:
    """Tokenize into `.KEY.tmp-PID-...` and rename it to KEY (the caller holds KEY's lock)."""
    from lep_core.workspace.atomic import clean, leftovers, temp_path

    clean(leftovers(root, key))  # killed builds of this entry
    tmp = temp_path(folder)
    tmp.mkdir()
    try:
        started = time.perf_counter()
        facts = tokenize_to_file(tokenizer, paths, tmp / TOKENS, progress)
        meta = {"key": key, "rule": READING_RULE, **facts, "files": [str(Path(p)) for p in expand(paths)],
                "tokens_hash": file_hash(tmp / TOKENS), "seconds": round(time.perf_counter() - started, 3)}
        (tmp / META).write_text(json.dumps(meta, ensure_ascii=False, indent=1), encoding="utf-8")
        os.replace(tmp, folder)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def cached_tokens(tokenizer, paths: Iterable[str | os.PathLike], root: str | os.PathLike | None = None,
                  progress: Callable[[int, int], None] | None = None) -> CachedTokens:
    """The corpus's ids from the cache under `root` (default `cache_root()`), tokenizing it first when no entry
    has its key or the entry fails its check (entry_problem). progress(bytes read, bytes total) follows the
    tokenizing; a reused entry reads no text.

    Safe for concurrent callers: one builds under a lock file, the others wait for it and then reuse it."""
    import fcntl

    from lep_core.workspace.atomic import remove, temp_path

    paths = list(paths)
    root = Path(root) if root is not None else cache_root()
    key = cache_key(tokenizer, paths)
    folder = root / key
    if (folder / META).is_file() and entry_problem(folder) is None:
        return _open(folder, reused=True)
    root.mkdir(parents=True, exist_ok=True)
    with open(root / f".{key}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file closes, also when the process dies
        if folder.exists():
            problem = entry_problem(folder)
            if problem is None:  # another process built it while this one waited
                return _open(folder, reused=True)
            logging.getLogger("lep.train").warning("token cache entry %s is damaged (%s): building it again",
                                                   folder, problem)
            gone = temp_path(folder, "deleting")
            os.replace(folder, gone)  # a reader holding the old mapping keeps its own inode
            remove(gone)
        _build(tokenizer, paths, root, key, folder, progress)
    return _open(folder, reused=False)
