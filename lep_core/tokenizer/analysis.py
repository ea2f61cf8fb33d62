"""How well a tokenizer fits a text: the stats of `lep tokenizer stats`, pieces for display, comparisons."""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass
from typing import Any, Sequence

from lep_core.corpus.text import count_chars, normalize
from lep_core.tokenizer.plain_text import encode_plain

_WORD = re.compile(r"\w+")
ANCHOR = "\n"
HELDOUT_FILES = ("heldout_ru.txt", "heldout_en.txt")  # in assets/: text that is in no corpus
WIDE_SAMPLE = [  # a fixed multi-script sample: what a tokenizer meets beyond its training corpus
    "The quick brown fox jumps over the lazy dog. 1234567890 (a+b)*c, ok?",
    "    def main(argv: list[str]) -> int:\n        return 0  # ünïcödé, 日本語, émoji 🙂",
    "Tabs\tand  double  spaces, URLs https://example.org/a?b=c&d=e and <|im_start|> markers.",
    "Ёлка, ёж и щётка — 100 ₽; «кавычки» … №5 🙂👍🏽",
    "Ψυχή, Καλημέρα κόσμε; Bác Hồ; Zażółć gęślą jaźń; Ærøskøbing",
    "مرحبا بالعالم · שלום עולם · नमस्ते दुनिया · 你好，世界 · こんにちは · 안녕하세요",
    "Math: ∑ x² ≤ ∞, α→β, ½ ± ¼; control\u00a0nbsp and zero\u200bwidth",
]


@dataclass
class TokenizerStats:
    chars: int
    tokens: int
    words: int
    chars_per_token: float
    tokens_per_word: float
    roundtrip_errors: int
    unknown_tokens: int

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _backend(tokenizer):
    return getattr(tokenizer, "backend_tokenizer", tokenizer)


def encode_lines(tokenizer, lines: Sequence[str]) -> list[list[int]]:
    """Batched encoding without special tokens (the tokenizers library runs it in parallel); special-token
    strings in the lines are read as text (lep_core.tokenizer.plain_text)."""
    return encode_plain(tokenizer, lines)


def encode_in_context(tokenizer, texts: Sequence[str]) -> list[list[int]]:
    """Ids of each text as it would be encoded mid-text, in one batched call: after ANCHOR (a newline, which
    merges with nothing), whose ids are then dropped, so a leading space is read as between two words and a
    Metaspace tokenizer adds no word-start mark. Texts the anchor merges with are encoded on their own."""
    backend = _backend(tokenizer)
    anchor_ids = backend.encode(ANCHOR, add_special_tokens=False).ids
    n = len(anchor_ids)
    encoded = backend.encode_batch([ANCHOR + t for t in texts], add_special_tokens=False)
    out: list[list[int]] = []
    retry: list[int] = []
    for i, enc in enumerate(encoded):
        ids = enc.ids
        if ids[:n] == anchor_ids and len(ids) > n:
            out.append(ids[n:])
        else:  # the anchor merged with the text: encode it on its own
            out.append([])
            retry.append(i)
    if retry:
        for i, enc in zip(retry, backend.encode_batch([texts[i] for i in retry], add_special_tokens=False)):
            out[i] = enc.ids
    return out


def text_stats(tokenizer, text: str) -> TokenizerStats:
    """Stats of design §3 on `text` as the readers give it (lep_core.corpus.text: NFC, LF line ends).

    chars: `count_chars` of the whole text, newlines included; tokens: the ids of the whole text, encoded as
    `lep eval` encodes a held-out text (encode_plain: special-token strings as text, nothing added), so the two
    commands give one chars/token for one file. Round trip: when the whole text decodes back to itself there is
    no error; otherwise each non-empty line is encoded and decoded on its own and the lines that do not come
    back are counted (and their unknown tokens), so an error names a line. Text not yet in the one form is put
    in it first."""
    text = normalize(text)
    whole = encode_plain(tokenizer, [text])[0] if text else []
    unk_id = getattr(tokenizer, "unk_token_id", None)
    if _backend(tokenizer).decode(whole, skip_special_tokens=False) == text:
        errors, unknown = 0, whole.count(unk_id) if unk_id is not None else 0
    else:
        lines = [line for line in text.split("\n") if line]
        ids = encode_lines(tokenizer, lines)
        decoded = _backend(tokenizer).decode_batch(ids, skip_special_tokens=False)
        errors = sum(1 for a, b in zip(lines, decoded) if a != b)
        unknown = sum(x.count(unk_id) for x in ids) if unk_id is not None else 0
    tokens, words, chars = len(whole), len(_WORD.findall(text)), count_chars(text)
    return TokenizerStats(
        chars=chars,
        tokens=tokens,
        words=words,
        chars_per_token=chars / tokens if tokens else 0.0,
        tokens_per_word=tokens / words if words else 0.0,
        roundtrip_errors=errors,
        unknown_tokens=unknown,
    )


def wide_roundtrip(tokenizer) -> dict[str, int]:
    """Round trip beyond the corpus: lines of the held-out texts and WIDE_SAMPLE that do not decode back to
    themselves, and `<unk>` tokens there (a replacement must keep the source's byte-level guarantee)."""
    from pathlib import Path

    assets = Path(__file__).resolve().parents[2] / "assets"
    texts = [(assets / name).read_text(encoding="utf-8") for name in HELDOUT_FILES if (assets / name).is_file()]
    stats = text_stats(tokenizer, "\n".join(texts + WIDE_SAMPLE))
    lines = sum(1 for t in texts + WIDE_SAMPLE for line in t.split("\n") if line)
    return {"wide_roundtrip_errors": stats.roundtrip_errors, "wide_roundtrip_lines": lines,
            "wide_unknown_tokens": stats.unknown_tokens}


@dataclass
class Piece:
    """One readable segment of the text: byte tokens are grouped until they form whole characters."""

    text: str
    ids: list[int]
    tokens: list[str]
    special: bool = False


def pieces(tokenizer, text: str, add_special_tokens: bool = False) -> list[Piece]:
    """Segments of `text` with their ids, for coloured display; a piece never shows a broken character."""
    enc = _backend(tokenizer).encode(text, add_special_tokens=add_special_tokens)
    special_ids = set(getattr(tokenizer, "all_special_ids", []) or [])
    out: list[Piece] = []
    spans: list[list[int]] = []  # [start, end) of each piece in `text`
    for idx, token, (start, end), special in zip(enc.ids, enc.tokens, enc.offsets, enc.special_tokens_mask):
        is_special = bool(special) or idx in special_ids
        if out and not is_special and not out[-1].special and start < spans[-1][1]:
            # shares characters with the previous token (byte pieces of one letter): same segment
            spans[-1][1] = max(end, spans[-1][1])
            out[-1].ids.append(idx)
            out[-1].tokens.append(token)
            out[-1].text = text[spans[-1][0]:spans[-1][1]]
            continue
        shown = token if is_special and start == end else text[start:end]
        out.append(Piece(text=shown, ids=[idx], tokens=[token], special=is_special))
        spans.append([start, end])
    return out


def id_pieces(tokenizer, ids: Sequence[int]) -> list[Piece]:
    """`pieces` for ids a model emitted (no text to take offsets from): the same rule, byte tokens grouped until
    they form whole characters. Each piece's text is what decoding one more id adds to the decoded prefix, so
    a decoder that drops the first token's leading space (SentencePiece's ▁) shows the text as it reads."""
    special_ids = set(getattr(tokenizer, "all_special_ids", []) or [])
    out: list[Piece] = []
    shown, group = "", []
    for k, idx in enumerate(ids):
        group.append(int(idx))
        text = tokenizer.decode(list(ids[:k + 1]), skip_special_tokens=False, clean_up_tokenization_spaces=False)
        if text.endswith("\ufffd") and k + 1 < len(ids):  # the bytes of a character not yet complete
            continue
        out.append(Piece(text=text[len(shown):], ids=group, tokens=tokenizer.convert_ids_to_tokens(group),
                         special=any(i in special_ids for i in group)))
        shown, group = text, []
    return out


def compare(tokenizers: dict[str, Any], text: str) -> list[dict[str, Any]]:
    """One row per tokenizer; `relative_compression` is chars/token over the first tokenizer's."""
    rows = []
    base_cpt = None
    for name, tok in tokenizers.items():
        stats = text_stats(tok, text).as_dict()
        base_cpt = base_cpt or stats["chars_per_token"] or None
        stats["relative_compression"] = stats["chars_per_token"] / base_cpt if base_cpt else 0.0
        rows.append({"tokenizer": name, "vocab_size": len(tok), **stats})
    return rows
