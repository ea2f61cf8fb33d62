"""Read user text: .txt, .jsonl (a `text` field), .parquet (a `text` column) and folders of those.

Every reader validates first, so bad input fails with one clear line before any work starts.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Iterable, Iterator

from lep_core.errors import LepInputError

TEXT_SUFFIXES = {".txt", ".md", ".jsonl", ".parquet"}


def expand(paths: Iterable[str | os.PathLike]) -> list[Path]:
    """Files named directly plus the text files inside named folders (sorted, recursive)."""
    files: list[Path] = []
    for raw in paths:
        path = Path(raw).expanduser()
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


def decode_text(path: Path, data: bytes, offset: int = 0, first: bool = True) -> str:
    """UTF-8 text of `data`, which starts `offset` bytes into `path` (the file's start when `first`: a NUL byte
    there means binary, a BOM is dropped). One place for these errors, whole files and streamed pieces alike."""
    if first and b"\x00" in data[:65536]:
        raise LepInputError(f"{path} looks binary (contains NUL bytes): pass a UTF-8 text file")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise LepInputError(
            f"{path} is not UTF-8 (bad byte at offset {offset + exc.start}): re-save it as UTF-8"
        ) from None
    return text[1:] if first and text.startswith("\ufeff") else text


def _read_txt(path: Path) -> str:
    return decode_text(path, path.read_bytes())


def json_record(path: Path, number: int, line: str) -> object:
    """The record on line `number` of a .jsonl file; a line that is not JSON is an error naming it."""
    try:
        return json.loads(line)
    except json.JSONDecodeError as exc:
        raise LepInputError(f"{path.name} line {number}: not valid JSON ({exc.msg}): fix or remove the line") from None


def record_text(path: Path, number: int, record: object) -> str:
    """The "text" field of a corpus .jsonl record; an error naming the line when it has none."""
    text = record.get("text") if isinstance(record, dict) else None
    if not isinstance(text, str):
        raise LepInputError(f"{path} line {number} has no string field \"text\"")
    return text


def jsonl_records(path: Path) -> Iterator[tuple[int, object]]:
    """(line number, parsed record) for each non-empty line; a line that is not JSON is an error naming it."""
    for number, line in enumerate(_read_txt(path).splitlines(), 1):
        if line.strip():
            yield number, json_record(path, number, line)


def _read_jsonl(path: Path) -> str:
    return "\n".join(record_text(path, number, record) for number, record in jsonl_records(path))


def _read_parquet(path: Path) -> str:
    import pyarrow.parquet as pq

    table = pq.read_table(path)
    if "text" not in table.column_names:
        raise LepInputError(f"{path} has no \"text\" column (columns: {', '.join(table.column_names)})")
    return "\n".join(t for t in table.column("text").to_pylist() if isinstance(t, str))


def read_file(path: Path) -> str:
    if path.suffix == ".jsonl":
        return _read_jsonl(path)
    if path.suffix == ".parquet":
        return _read_parquet(path)
    return _read_txt(path)


def iter_texts(paths: Iterable[str | os.PathLike]) -> Iterator[tuple[Path, str]]:
    for path in expand(paths):
        yield path, read_file(path)


def read_corpus(paths: Iterable[str | os.PathLike], min_chars: int = 1) -> str:
    """All text of the corpus, joined by newlines; refuses an empty corpus."""
    text = "\n".join(t for _, t in iter_texts(paths))
    if len(text.strip()) < min_chars:
        have = len(text.strip())
        raise LepInputError(
            "the corpus is empty: pass files with text in them" if have == 0
            else f"the corpus has only {have} characters (at least {min_chars} needed): add more text"
        )
    return text
