"""Training reads plain text as evaluation does: control strings are text, blocks start as the tokenizer
starts a sequence; chat rows and prompts follow the same BOS rule."""

from __future__ import annotations

import numpy as np
import pytest

from lep_core.evaluation.generation import prompt_ids
from lep_core.sources.loading import load_tokenizer
from lep_core.tokenizer.plain_text import sequence_start_ids, special_strings
from lep_core.training import data
from lep_core.training.chat import encode_conversations
from lep_core.training.trainer import train
from tests.training.conftest import small_options, status

FAMILIES = ["byte_bpe_tokenizer", "metaspace_bpe_tokenizer", "unigram_tokenizer"]
CONTROL_LINE = "<|im_start|>user Привет<|im_end|> … <|endoftext|>\n"


@pytest.fixture(scope="module")
def control_corpus(tmp_path_factory, small_corpus):
    path = tmp_path_factory.mktemp("control") / "corpus.txt"
    path.write_text(small_corpus.read_text(encoding="utf-8") + "\n" + CONTROL_LINE * 76, encoding="utf-8")
    return path


@pytest.mark.parametrize("fixture", FAMILIES)
def test_control_strings_in_a_corpus_never_become_control_tokens(request, fixture, control_corpus):
    tok = load_tokenizer(request.getfixturevalue(fixture))
    specials = {tok.convert_tokens_to_ids(s) for s in special_strings(tok)} - {tok.unk_token_id}
    blocks, info = data.text_blocks(tok, [control_corpus], 32, 0.1, 0)
    rows = np.concatenate([blocks.train, blocks.val])
    start = sequence_start_ids(tok)
    assert not set(np.unique(rows[:, len(start):]).tolist()) & specials
    marked = [s for s in ("<|im_start|>", "<|im_end|>", "<|endoftext|>") if s in special_strings(tok)]
    assert info["special_strings_as_text"] == 76 * len(marked) > 0


@pytest.mark.parametrize("fixture", FAMILIES)
def test_every_block_starts_as_the_tokenizer_starts_a_sequence(request, fixture, small_corpus):
    tok = load_tokenizer(request.getfixturevalue(fixture))
    blocks, info = data.text_blocks(tok, [small_corpus], 32, 0.1, 0)
    rows = np.concatenate([blocks.train, blocks.val])
    start = sequence_start_ids(tok)
    assert info["sequence_start"] == start
    if fixture == "metaspace_bpe_tokenizer":  # LLaMA-2/Mistral style: <s> first in every block, nowhere else
        assert (rows[:, 0] == tok.bos_token_id).all() and not (rows[:, 1:] == tok.bos_token_id).any()
    else:  # SmolLM2 / T5 style: the tokenizer adds nothing, so neither does training
        assert start == [] and not (rows[:, 0] == (tok.bos_token_id if tok.bos_token_id is not None else -1)).all()
    assert rows.shape[1] == 32


@pytest.mark.parametrize("fixture", ["byte_bpe_tokenizer", "metaspace_bpe_tokenizer"])
def test_chat_rows_and_prompts_follow_the_same_rule(request, fixture):
    tok = load_tokenizer(request.getfixturevalue(fixture))
    messages = [{"role": "user", "content": "Привет"}, {"role": "assistant", "content": "Здравствуйте!"}]
    rows = encode_conversations(tok, [{"messages": messages, "truncated": False}], 256)
    ids = rows.ids[0][: int(rows.mask[0].nonzero()[0][-1]) + 1].tolist()
    prompt, _ = prompt_ids(tok, messages[:1], 512)
    start = sequence_start_ids(tok)
    assert ids[:len(start)] == start and prompt[:len(start)] == start
    if start:  # the ChatML template writes no <s>: the rule puts exactly one in front
        assert ids.count(start[0]) == 1 and prompt.count(start[0]) == 1
    assert rows.mask[0][len(start):].any()  # the answer is still found and scored


def test_lep_train_logs_control_strings_and_starts_blocks_with_bos(tiny_mistral, control_corpus, tmp_path, capsys):
    run = tmp_path / "run"
    result = train(small_options(tiny_mistral, control_corpus, run, steps=2, eval_every=2, save_every=2))
    assert result["state"] == "finished"
    tok = load_tokenizer(tiny_mistral)
    blocks = np.asarray(data.load_blocks(run / "data").train)  # a view on the run's copy of the token map
    assert (blocks[:, 0] == tok.bos_token_id).all()
    data_info = status(run)["data"]
    assert data_info["special_strings_as_text"] == 76 * 2  # <|im_start|> and <|im_end|> are this tokenizer's
    assert "special-token strings" in (run / "train.log").read_text(encoding="utf-8")
