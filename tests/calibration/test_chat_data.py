"""Chat data: the label mask scores the answers only; malformed files name their line; long ones are counted."""

from __future__ import annotations

import json

import pytest
import torch

from lep_core.errors import LepInputError
from lep_core.training.chat import encode_conversations, read_conversations


def _tok(path):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(path)


CONV = {"messages": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Two plus two?"},
                     {"role": "assistant", "content": "Four."}, {"role": "user", "content": "And three plus three?"},
                     {"role": "assistant", "content": "Six, of course."}]}


@pytest.mark.parametrize("fixture", ["tiny_mistral", "tiny_llama"])
def test_mask_covers_the_answers_and_their_end_markers_only(fixture, request):
    tok = _tok(request.getfixturevalue(fixture))
    rows = encode_conversations(tok, [CONV, {**CONV, "truncated": True}], max_len=512)
    full, cut = rows.ids[0][rows.mask[0]], rows.ids[1][rows.mask[1]]
    end = tok.convert_tokens_to_ids("<|im_end|>")
    assert tok.decode(full).replace(" ", "") == "Four.<|im_end|>Six,ofcourse.<|im_end|>".replace(" ", "")
    assert list(full).count(end) == 2
    assert list(cut).count(end) == 1  # a truncated last answer: its end marker is not taught
    scored_text = tok.decode(full)
    for prompt_part in ("Be brief", "Two plus", "three plus", "user", "assistant"):
        assert prompt_part not in scored_text
    # padding after a shorter conversation is never scored
    short = {"messages": CONV["messages"][:3]}
    rows = encode_conversations(tok, [CONV, short], max_len=512)
    assert rows.mask[1].sum() < rows.mask[0].sum() and not rows.mask[1][int(rows.mask[1].nonzero()[0][-1]) + 1:].any()


def test_masked_fused_loss_equals_transformers_with_ignored_labels(tiny_llama):
    from transformers import AutoModelForCausalLM

    from lep_core.training.freeze import freeze_body
    from lep_core.training.loss import EmbeddingLM

    model = AutoModelForCausalLM.from_pretrained(tiny_llama)
    trainable = freeze_body(model)
    rows = encode_conversations(_tok(tiny_llama), [CONV, {"messages": CONV["messages"][:3]}], max_len=512)
    ids, mask = torch.from_numpy(rows.ids.astype("int64")), torch.from_numpy(rows.mask)
    fused = EmbeddingLM(model, chunk_tokens=5)(ids, mask)
    fused.backward()
    g = trainable.embed.grad.clone()
    model.zero_grad()
    plain = model(input_ids=ids, labels=ids.masked_fill(~mask, -100)).loss
    plain.backward()
    assert abs(fused.item() - plain.item()) < 1e-5
    assert torch.allclose(g, trainable.embed.grad, atol=1e-6)


def test_malformed_jsonl_names_the_line(tmp_path):
    good = json.dumps(CONV)
    cases = {"{not json": "line 3: not valid JSON", '{"text": "hi"}': 'line 3: expected an object with a "messages"',
             '{"messages": [{"role": "bot", "content": "x"}]}': "line 3: message 1 needs"}
    for bad, expected in cases.items():
        path = tmp_path / "chat.jsonl"
        path.write_text(f"{good}\n\n{bad}\n{good}\n", encoding="utf-8")
        with pytest.raises(LepInputError, match=expected):
            read_conversations([path])
    (tmp_path / "empty.jsonl").write_text("\n\n", encoding="utf-8")
    with pytest.raises(LepInputError, match="no conversations"):
        read_conversations([tmp_path / "empty.jsonl"])


def test_too_long_and_answerless_conversations_are_counted_not_cut(tiny_mistral):
    tok = _tok(tiny_mistral)
    long = {"messages": [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "word " * 200}]}
    no_answer = {"messages": [{"role": "user", "content": "Hi"}]}
    rows = encode_conversations(tok, [CONV, long, no_answer, CONV], max_len=120)
    assert (rows.kept, rows.skipped_long, rows.skipped_no_answer) == (2, 1, 1)
    assert rows.index == [0, 3] and rows.ids.shape[1] <= 120
    with pytest.raises(LepInputError, match=r"no usable conversation: 1 longer than --seq-len 16"):
        encode_conversations(tok, [long], max_len=16)
