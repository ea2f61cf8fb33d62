"""The result's tokenizer (design §4 step 5): the new tokenizer U plus what makes the instruct model chat.

U keeps every id it has; the instruct tokenizer's added tokens (chat markers, tool tokens) that U lacks
are appended after it. The special-token map, chat template and extra special tokens come from the
instruct tokenizer, and every id in config.json / generation_config.json (eos, bos, pad) follows its
token string into the merged vocabulary. The rows of the instruct model's added tokens are copied
from the instruct model (they were trained there, during instruction tuning), not projected.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from tokenizers import AddedToken

SPECIAL_KEYS = ("bos_token", "eos_token", "unk_token", "pad_token")
ID_KEYS = ("bos_token_id", "eos_token_id", "pad_token_id", "unk_token_id", "decoder_start_token_id")


@dataclass
class Merge:
    tokenizer: Any  # the merged HF fast tokenizer
    appended: list[str]  # instruct tokens appended after U's vocabulary
    copy_rows: torch.Tensor  # (k, 2) int64: [merged id, instruct id] rows taken from the instruct model

    def __len__(self) -> int:
        return len(self.tokenizer)


def _added(tok) -> list[tuple[int, AddedToken]]:
    return sorted(tok.added_tokens_decoder.items())


def merge_tokenizer(new_tok, instruct_tok) -> Merge:
    """Mutates and returns new_tok (load a fresh copy per instruct target)."""
    have = new_tok.get_vocab()
    appended: list[str] = []
    for _, token in _added(instruct_tok):
        if token.content in have:
            continue
        spec = AddedToken(token.content, single_word=token.single_word, lstrip=token.lstrip,
                          rstrip=token.rstrip, normalized=token.normalized, special=token.special)
        new_tok.add_tokens([spec], special_tokens=token.special)
        appended.append(token.content)
    for key in SPECIAL_KEYS:
        value = getattr(instruct_tok, key, None)
        if value is None:
            continue
        if str(value) not in new_tok.get_vocab():
            new_tok.add_tokens([AddedToken(str(value), special=True, normalized=False)], special_tokens=True)
            appended.append(str(value))
        setattr(new_tok, key, str(value))
    extras = list(getattr(instruct_tok, "extra_special_tokens", None) or [])
    if extras:
        new_tok.add_special_tokens({"extra_special_tokens": [str(e) for e in extras]}, replace_extra_special_tokens=True)
    if instruct_tok.chat_template:
        new_tok.chat_template = instruct_tok.chat_template
    merged_vocab = new_tok.get_vocab()
    pairs = [(merged_vocab[t.content], i) for i, t in _added(instruct_tok) if t.content in merged_vocab]
    copy_rows = torch.tensor(pairs, dtype=torch.int64).reshape(-1, 2)
    return Merge(new_tok, appended, copy_rows)


def remap_ids(values: dict[str, Any], instruct_tok, merged_tok) -> dict[str, Any]:
    """eos/bos/pad ids (ints or lists) moved from the instruct vocabulary to the merged one, by token string."""
    vocab = merged_tok.get_vocab()

    def one(value: int) -> int | None:
        token = instruct_tok.convert_ids_to_tokens(int(value))
        return vocab.get(token) if token is not None else None

    out: dict[str, Any] = {}
    for key in ID_KEYS:
        value = values.get(key)
        if value is None:
            continue
        if isinstance(value, list):
            out[key] = [v for v in (one(x) for x in value) if v is not None]
        else:
            out[key] = one(value)
    return out
