"""Read user text: .txt, .jsonl (a `text` field), .parquet (a `text` column) and folders of those.

Every reader validates first, so bad input fails with one clear line before any work starts. Every text it
returns is in the one form of lep_core.corpus.text (BOM dropped, LF line ends, NFC): a .txt file as a whole,
a .jsonl record's or a .parquet row's text each. Readers take an optional `TextChanges` that counts what
that rewrote, for the command to report.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Iterable, Iterator

from lep_core.corpus.text import TextChanges, normalize, strip_bom
from lep_core.errors import LepInputError
from lep_core.workspace.fields import check_field

TEXT_SUFFIXES = {".txt", ".md", ".jsonl", ".parquet"}


def expand(paths: Iterable[str | os.PathLike]) -> list[Path]:
    """Files named directly plus the text files inside named folders (sorted, recursive)."""
    files: list[Path] = []
    for raw in paths:
        text = check_field(raw, "corpus path")
        if not text:
            raise LepInputError("an empty corpus path: pass a text file or a folder of them")
        path = Path(text).expanduser()
        if path.is_dir():
            found = sorted(p for p in path.rglob("*") if p.is_file() and p.suffix in TEXT_SUFFIXES)
            if not found:
                raise LepInputError(f"no .txt/.jsonl/.parquet files in folder {path}")
            files.extend(found)
        elif path.is_file():
            files.append(path)
        else:
            raise LepInputError(f"corpus file not found: {path}")
    if not files:
        raise LepInputError("no corpus given: pass one or more text files or folders")
    return files


def decode_text(path: Path, data: bytes, offset: int = 0, first: bool = True,
                changes: TextChanges | None = None) -> str:
    """UTF-8 text of `data`, which starts `offset` bytes into `path` (the file's start when `first`: a NUL byte
    there means binary, a BOM is dropped and counted in `changes`). One place for these errors, whole files and
    streamed pieces alike. The text is decoded only: `normalize` is the caller's (a .txt piece is normalized
    whole, a .jsonl file record by record)."""
    if first and b"\x00" in data[:65536]:
        raise LepInputError(f"{path} looks binary (contains NUL bytes): pass a UTF-8 text file")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise LepInputError(
            f"{path} is not UTF-8 (bad byte at offset {offset + exc.start}): re-save it as UTF-8"
        ) from None
    return strip_bom(text, changes) if first else text


def _read_bytes(path: Path) -> bytes:
    """The bytes of a file the user named; a file that cannot be read is one line naming it."""
    try:
        return path.read_bytes()
    except OSError as exc:
        raise LepInputError(f"cannot read {path}: {exc.strerror or exc}: check the file and its permissions") from None


def read_decoded(path: Path, changes: TextChanges | None = None) -> str:
    """A file's text decoded only (BOM dropped, not normalized): for JSON files, whose strings are normalized
    once parsed (lep_core.corpus.text.normalize_json), so JSON escapes are caught too."""
    return decode_text(path, _read_bytes(path), changes=changes)


def _read_txt(path: Path, changes: TextChanges | None = None) -> str:
    return normalize(decode_text(path, _read_bytes(path), changes=changes), changes)


def read_text_file(path: str | os.PathLike, what: str = "text file", changes: TextChanges | None = None) -> str:
    """One plain-text file (a prompt list, a held-out text) in the form of lep_core.corpus.text, with the
    reader's one-line errors: missing, a folder, binary, not UTF-8, unreadable."""
    path = Path(path).expanduser()
    if path.is_dir():
        raise LepInputError(f"{path} is a folder, not a {what}: pass a file")
    if not path.is_file():
        raise LepInputError(f"{what} not found: {path}")
    return _read_txt(path, changes)


def json_record(path: Path, number: int, line: str) -> object:
    """The record on line `number` of a .jsonl file; a line that is not JSON is an error naming it."""
    try:
        return json.loads(line)
    except json.JSONDecodeError as exc:
        raise LepInputError(f"{path.name} line {number}: not valid JSON ({exc.msg}): fix or remove the line") from None


def record_text(path: Path, number: int, record: object, changes: TextChanges | None = None) -> str:
    """The "text" field of a corpus .jsonl record, normalized; an error naming the line when it has none."""
    text = record.get("text") if isinstance(record, dict) else None
    if not isinstance(text, str):
        raise LepInputError(f"{path} line {number} has no string field \"text\"")
    return normalize(text, changes)


def jsonl_records(path: Path, changes: TextChanges | None = None) -> Iterator[tuple[int, object]]:
    """(line number, parsed record) for each non-empty line; a line that is not JSON is an error naming it.
    The records' strings are as the file holds them (`record_text` normalizes a corpus record's text)."""
    for number, line in enumerate(read_decoded(path, changes).splitlines(), 1):
        if line.strip():
            yield number, json_record(path, number, line)


def _read_jsonl(path: Path, changes: TextChanges | None = None) -> str:
    return "\n".join(record_text(path, number, record, changes) for number, record in jsonl_records(path, changes))


def not_parquet(path: Path, exc: BaseException) -> str:
    """The one line for a .parquet file pyarrow cannot open."""
    return f"{path} is not a readable .parquet file ({type(exc).__name__}): pass a parquet file with a \"text\" column"


def parquet_texts(rows: list, changes: TextChanges | None = None) -> Iterator[str]:
    """The string values of a .parquet "text" column, normalized (other values are skipped)."""
    return (normalize(t, changes) for t in rows if isinstance(t, str))


def _read_parquet(path: Path, changes: TextChanges | None = None) -> str:
    import pyarrow.parquet as pq

    try:
        table = pq.read_table(path)
    except Exception as exc:  # noqa: BLE001 - pyarrow raises its own types for a file that is not parquet
        raise LepInputError(not_parquet(path, exc)) from None
    if "text" not in table.column_names:
        raise LepInputError(f"{path} has no \"text\" column (columns: {', '.join(table.column_names)})")
    return "\n".join(parquet_texts(table.column("text").to_pylist(), changes))


def read_file(path: Path, changes: TextChanges | None = None) -> str:
    """The text of one corpus file (by its suffix), normalized; what normalization changed goes to `changes`."""
    if path.suffix == ".jsonl":
        return _read_jsonl(path, changes)
    if path.suffix == ".parquet":
        return _read_parquet(path, changes)
    return _read_txt(path, changes)


def iter_texts(paths: Iterable[str | os.PathLike], changes: TextChanges | None = None) -> Iterator[tuple[Path, str]]:
    for path in expand(paths):
        yield path, read_file(path, changes)


def read_corpus(paths: Iterable[str | os.PathLike], min_chars: int = 1, changes: TextChanges | None = None) -> str:
    """All text of the corpus, joined by newlines, in the form of lep_core.corpus.text; refuses an empty corpus.
    `changes` (optional) counts what normalization rewrote."""
    text = "\n".join(t for _, t in iter_texts(paths, changes))
    if len(text.strip()) < min_chars:
        have = len(text.strip())
        raise LepInputError(
            "the corpus is empty: pass files with text in them" if have == 0
            else f"the corpus has only {have} characters (at least {min_chars} needed): add more text"
        )
    return text
