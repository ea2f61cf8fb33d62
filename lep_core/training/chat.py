"""Chat JSONL -> token rows in the model's own chat template, with a mask that scores the answers only.

Each line is {"messages": [{"role": ..., "content": ...}, ...]} (the common role/content format), and may
say "truncated": true when its last answer was cut at a length limit: that answer's end marker is then
not scored, so the model is not taught to stop mid-sentence.
A conversation is rendered with the tokenizer's chat template; the assistant turns are found as the
text each one adds after the generation prompt of the turns before it, and their tokens (the end-of-turn
marker included, so the model learns to stop) are the targets. A conversation longer than the row length
is skipped and counted, never cut in the middle of an answer.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from lep_core.corpus.reading import jsonl_records
from lep_core.corpus.text import normalize
from lep_core.errors import LepInputError
from lep_core.tokenizer.plain_text import with_sequence_start
from lep_core.workspace.fields import check_field

if TYPE_CHECKING:
    from lep_core.training.data import Blocks

ROLES = ("system", "user", "assistant")
_ENCODE_BATCH = 256


def _problem(line: dict[str, Any] | Any) -> str | None:
    """Why one parsed line is not a conversation, or None."""
    if not isinstance(line, dict) or not isinstance(line.get("messages"), list):
        return 'expected an object with a "messages" list'
    if not line["messages"]:
        return '"messages" is empty'
    for i, m in enumerate(line["messages"]):
        if not isinstance(m, dict) or m.get("role") not in ROLES or not isinstance(m.get("content"), str):
            return f'message {i + 1} needs "role" ({", ".join(ROLES)}) and a string "content"'
    return None


Conversation = dict[str, Any]  # {"messages": [...], "truncated": bool}


def read_conversations(paths: Iterable[str | os.PathLike]) -> list[Conversation]:
    """Every conversation in the files, in order; a malformed line is an error naming its file and line number."""
    out = []
    for path in paths:
        path = Path(check_field(path, "chat file"))
        if not path.is_file():
            raise LepInputError(f"chat file not found: {path} (pass a .jsonl file with one {{\"messages\": [...]}} per line)")
        for number, line in jsonl_records(path):
            problem = _problem(line)
            if problem:
                raise LepInputError(f"{path.name} line {number}: {problem}: fix or remove the line")
            out.append({"messages": [{"role": m["role"], "content": normalize(m["content"])} for m in line["messages"]],
                        "truncated": bool(line.get("truncated", False))})
    if not out:
        raise LepInputError("the chat files hold no conversations: add lines like "
                            '{"messages": [{"role": "user", "content": "..."}, {"role": "assistant", "content": "..."}]}')
    return out


def _render(tokenizer, messages: list[dict[str, str]], prompt: bool) -> str:
    return tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=prompt)


def answer_spans(tokenizer, messages: list[dict[str, str]], truncated: bool = False) -> tuple[str, list[tuple[int, int]]]:
    """The rendered conversation and the character spans of its assistant turns (end marker included,
    except after a truncated last answer)."""
    text = _render(tokenizer, messages, False)
    spans = []
    last = max((i for i, m in enumerate(messages) if m["role"] == "assistant"), default=-1)
    for i, m in enumerate(messages):
        if m["role"] != "assistant":
            continue
        before = _render(tokenizer, messages[:i], True)
        through = _render(tokenizer, messages[: i + 1], False)
        if not text.startswith(before) or not text.startswith(through):
            raise LepInputError("this chat template does not render a conversation as the sum of its turns "
                                "(it rewrites earlier turns), so the answers cannot be located: use another template")
        end = len(through.rstrip())  # the turn's text and its end marker, not the whitespace after it
        if truncated and i == last and m["content"].strip():
            at = text.find(m["content"].strip(), len(before))
            end = at + len(m["content"].strip()) if at >= 0 else end
        if end > len(before):
            spans.append((len(before), end))
    return text, spans


@dataclass
class ChatRows:
    """Conversations as padded rows (n, L) with their target masks; what was skipped and why."""

    ids: np.ndarray
    mask: np.ndarray
    kept: int = 0
    skipped_long: int = 0
    skipped_no_answer: int = 0
    longest: int = 0
    answer_tokens: int = 0
    index: list[int] = field(default_factory=list)  # which input conversation each row is

    def summary(self) -> dict[str, int]:
        return {"conversations": self.kept, "skipped_too_long": self.skipped_long,
                "skipped_no_answer": self.skipped_no_answer, "answer_tokens": self.answer_tokens, "row_tokens": int(self.ids.shape[1])}


def encode_conversations(tokenizer, conversations: list[Conversation], max_len: int) -> ChatRows:
    """Render, tokenize (batched, with offsets) and mask; rows are padded to the longest kept conversation."""
    if not getattr(tokenizer, "chat_template", None):
        raise LepInputError(f"{getattr(tokenizer, 'name_or_path', 'the model')} has no chat template, so conversations "
                            "cannot be written in its format: use an instruct model (e.g. the output of `lep propagate`)")
    rendered = [answer_spans(tokenizer, c["messages"], c.get("truncated", False)) for c in conversations]
    seqs, masks, index, too_long, no_answer = [], [], [], 0, 0
    for start in range(0, len(rendered), _ENCODE_BATCH):
        part = rendered[start:start + _ENCODE_BATCH]
        enc = tokenizer([t for t, _ in part], add_special_tokens=False, return_offsets_mapping=True)
        for n, ((_, spans), ids, offsets) in enumerate(zip(part, enc["input_ids"], enc["offset_mapping"]), start):
            ids, added = with_sequence_start(tokenizer, ids), len(offsets)  # the BOS rule (plain_text)
            offsets = [(0, 0)] * (len(ids) - added) + list(offsets)
            begins = np.asarray([o[0] for o in offsets], dtype=np.int64)
            ends = np.asarray([o[1] for o in offsets], dtype=np.int64)
            target = np.zeros(len(ids), dtype=bool)
            for a, b in spans:  # a token is scored when it lies inside an answer span
                target |= (begins >= a) & (ends <= b) & (ends > begins)
            target[0] = False  # the first token has nothing to be predicted from
            if not target.any():
                no_answer += 1
            elif len(ids) > max_len:
                too_long += 1
            else:
                seqs.append(np.asarray(ids, dtype=np.int32))
                masks.append(target)
                index.append(n)
    if not seqs:
        raise LepInputError(
            f"no usable conversation: {too_long} longer than --seq-len {max_len} tokens, {no_answer} without an "
            "assistant answer: raise --seq-len, shorten the answers, or add conversations that end with an answer")
    width = max(len(s) for s in seqs)
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else (tokenizer.eos_token_id or 0)
    ids = np.full((len(seqs), width), pad, dtype=np.int32)
    mask = np.zeros((len(seqs), width), dtype=bool)
    for i, (s, m) in enumerate(zip(seqs, masks)):  # padding sits after the text: causal attention never sees it
        ids[i, : len(s)] = s
        mask[i, : len(m)] = m
    return ChatRows(ids=ids, mask=mask, kept=len(seqs), skipped_long=too_long, skipped_no_answer=no_answer,
                    longest=width, answer_tokens=int(mask.sum()), index=index)


def chat_blocks(tokenizer, paths: Iterable[str | os.PathLike], seq_len: int, val_fraction: float,
                seed: int) -> tuple[Blocks, dict[str, int]]:
    """The run's rows: conversations encoded, split into train and validation like text blocks."""
    from lep_core.training.data import split

    rows = encode_conversations(tokenizer, read_conversations(paths), seq_len)
    return split(rows.ids, rows.mask, val_fraction, seed), rows.summary()
