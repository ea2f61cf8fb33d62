"""What a character is: the one form text takes before anything counts, scores or learns from it.

Every way text enters LEP Studio (corpus files read whole or streamed, held-out texts, suite items, prompt
files, text typed into the app) goes through `normalize`, and every per-character figure (chars/token,
bits-per-char, chars/s) divides by `count_chars` of the text so prepared. The rule:

1. The bytes are UTF-8; a leading byte order mark (U+FEFF) is dropped (lep_core.corpus.reading.decode_text).
2. Line ends are LF: CRLF and a lone CR become "\\n" (Windows and old Mac files count as Unix ones).
3. The text is in Unicode Normalization Form C (NFC): "и" + U+0306 COMBINING BREVE becomes "й". Decomposed
   (NFD) text comes from macOS file names, PDF extraction and some web scrapes; NFC and NFD spell the same
   text (they are canonically equivalent, Unicode Standard Annex #15), but a tokenizer without a normalizer
   (byte-level BPE: SmolLM2, Qwen, Llama 3) reads them as different bytes. NFC is what the web and almost
   every training corpus use, so it is the form models know; a tokenizer with a normalizer of its own still
   applies it afterwards, and gets the same input whatever form the file had.
4. A character is one Unicode code point of the text so prepared, newlines and spaces included:
   ``count_chars(text) == len(text)``.

The same text with or without a BOM, with CRLF or LF line ends, in NFC or NFD, therefore has one length,
one tokenization and one score. What was rewritten is counted (`TextChanges`) and reported by each command.
"""

from __future__ import annotations

import functools
import re
import sys
import unicodedata
from dataclasses import asdict, dataclass

FORM = "NFC"
BOM = "\ufeff"


@dataclass
class TextChanges:
    """What `normalize` rewrote, summed over every text it prepared (one per command run).

    nfc: characters rewritten by NFC, a letter with its combining marks counted once (и + U+0306 -> й is 1);
    line_ends: CRLF or CR line ends read as LF; bom: byte order marks dropped (one per file at most)."""

    nfc: int = 0
    line_ends: int = 0
    bom: int = 0

    def add(self, other: "TextChanges") -> None:
        self.nfc, self.line_ends, self.bom = self.nfc + other.nfc, self.line_ends + other.line_ends, self.bom + other.bom

    def __bool__(self) -> bool:
        return bool(self.nfc or self.line_ends or self.bom)

    def as_dict(self) -> dict[str, int]:
        return asdict(self)

    def line(self) -> str:
        """One line for the user ('' when nothing changed): what was rewritten, in English (the app translates
        through its own tables from `as_dict`)."""
        parts = []
        if self.nfc:
            parts.append(f"{self.nfc:,} characters in decomposed form (NFD) composed to NFC")
        if self.line_ends:
            parts.append(f"{self.line_ends:,} CRLF/CR line ends read as LF")
        if self.bom:
            parts.append(f"{self.bom} byte order mark{'s' if self.bom > 1 else ''} dropped")
        return "text normalised: " + "; ".join(parts) if parts else ""


@functools.lru_cache(maxsize=1)
def _cluster() -> re.Pattern:
    """A character with everything NFC may fuse onto it: combining marks (canonical combining class > 0) and
    the few starters that compose with the character before them (Hangul medial vowels and final consonants,
    the second half of some Indic two-part vowels). NFC never changes text across the start of a cluster, so
    counting the clusters it changes counts characters as a reader sees them. Built once, on the first text
    that is not NFC (a pass over the Unicode table, about half a second)."""
    joiners = set()
    for cp in range(sys.maxunicode + 1):
        ch = chr(cp)
        if unicodedata.combining(ch):
            joiners.add(cp)
            continue
        parts = unicodedata.decomposition(ch).split()
        if len(parts) == 2 and not parts[0].startswith("<"):
            joiners.add(int(parts[1], 16))
    joiners.update(range(0x1161, 0x1176))  # Hangul jungseong (V) and jongseong (T): composed algorithmically
    joiners.update(range(0x11A8, 0x11C3))
    ranges, start, prev = [], None, None
    for cp in sorted(joiners):
        if start is None or cp != prev + 1:
            if start is not None:
                ranges.append((start, prev))
            start = cp
        prev = cp
    if start is not None:
        ranges.append((start, prev))
    cls = "".join(re.escape(chr(a)) if a == b else f"{re.escape(chr(a))}-{re.escape(chr(b))}" for a, b in ranges)
    return re.compile(f".[{cls}]*", re.DOTALL)


def _nfc(text: str) -> tuple[str, int]:
    """NFC of `text` and how many characters (clusters) it rewrote; text already in NFC costs one C-level check."""
    if unicodedata.is_normalized(FORM, text):
        return text, 0
    changed = 0
    for line in text.split("\n"):
        if not unicodedata.is_normalized(FORM, line):
            changed += sum(1 for m in _cluster().finditer(line)
                           if not unicodedata.is_normalized(FORM, m.group()))
    return unicodedata.normalize(FORM, text), changed


def normalize(text: str, changes: TextChanges | None = None) -> str:
    """`text` in the form of the module rule (LF line ends, NFC); what changed is added to `changes`.

    Works on any piece of a text that does not end inside a CRLF: NFC never composes across a newline, so
    normalizing the lines of a corpus piece by piece gives the normalization of the whole."""
    if "\r" in text:
        crlf = text.count("\r\n")
        lone = text.count("\r") - crlf
        text = text.replace("\r\n", "\n").replace("\r", "\n")
        if changes is not None:
            changes.line_ends += crlf + lone
    text, changed = _nfc(text)
    if changes is not None:
        changes.nfc += changed
    return text


def strip_bom(text: str, changes: TextChanges | None = None) -> str:
    """`text` without a leading byte order mark (counted in `changes`)."""
    if text.startswith(BOM):
        if changes is not None:
            changes.bom += 1
        return text[1:]
    return text


def count_chars(text: str) -> int:
    """Characters of a text prepared by `normalize`: Unicode code points, newlines included (rule 4 above)."""
    return len(text)


def prepared(text: str) -> tuple[str, TextChanges]:
    """Text typed or pasted (the app, a prompt): BOM dropped, `normalize`d, with what changed."""
    changes = TextChanges()
    return normalize(strip_bom(text, changes), changes), changes


def normalize_json(value: object, changes: TextChanges | None = None) -> object:
    """A parsed JSON value with every string in it normalized (suite items, chat records, prompt lists)."""
    if isinstance(value, str):
        return normalize(value, changes)
    if isinstance(value, list):
        return [normalize_json(v, changes) for v in value]
    if isinstance(value, dict):
        return {k: normalize_json(v, changes) for k, v in value.items()}
    return value
