"""Canonical decoding (issue 25): on tiny random adapted models of two families, a reply never holds a spelling
its own tokenizer would not write, checked by encoding its text again; without it, the same models do write
such spellings (so the check can fail)."""

import pytest

from lep_core.evaluation.canonical import OPEN, canonical_processors
from lep_core.evaluation.generation import Sampling, context_window, generate_reply, greedy_batch, prompt_ids
from lep_core.evaluation.models import ModelCache
from lep_core.tokenizer.analysis import encode_in_context

PROMPTS = ["Повтори: кошка спит на окне.", "Продолжи текст: Утром в лесу", "Привет! Как дела?",
           "Write a word.", "Расскажи про осень.", "Что такое ёлка?"]


def _mid_text(tokenizer, ids: list[int]) -> str:
    """A reply's text as it reads inside a conversation: decoded after a newline (a SentencePiece-style decoder
    strips the leading space of a text's first token)."""
    anchor = tokenizer("\n", add_special_tokens=False)["input_ids"]
    return tokenizer.decode(anchor + ids)[len(tokenizer.decode(anchor)):]


def _non_canonical(tokenizer, replies: list[list[int]]) -> list[list[int]]:
    """The replies whose text, encoded again mid-text, gives other ids (a last character cut off by the length
    limit, bytes of a letter not yet complete, is left out first)."""
    closed = []
    for ids in replies:
        while ids and _mid_text(tokenizer, ids).endswith(OPEN):
            ids = ids[:-1]
        closed.append(ids)
    again = encode_in_context(tokenizer, [_mid_text(tokenizer, ids) for ids in closed])
    return [ids for ids, spelled in zip(closed, again) if ids != spelled]


@pytest.fixture(scope="module")
def models(adapted_families):
    cache = ModelCache(capacity=4, device="cpu")
    return {name: cache.get(str(adapted)) for name, (_, adapted) in adapted_families.items()}


@pytest.mark.parametrize("family", ["llama", "mistral"])
def test_greedy_replies_are_canonical_only_with_it(models, family):
    model, tok = models[family]
    window = context_window(model, tok)
    prompts = [prompt_ids(tok, [{"role": "user", "content": p}], window)[0] for p in PROMPTS]
    plain, _ = greedy_batch(model, tok, prompts, [48] * len(prompts), batch_size=3)
    assert _non_canonical(tok, plain), "the random model writes only canonical spellings: the test proves nothing"
    decoding = canonical_processors(tok)
    canonical, _ = greedy_batch(model, tok, prompts, [48] * len(prompts), batch_size=3, processors=decoding)
    assert decoding.fallbacks == 0
    assert sum(len(ids) for ids in canonical) >= 3 * len(PROMPTS)
    assert _non_canonical(tok, canonical) == []


@pytest.mark.parametrize("family", ["llama", "mistral"])
def test_sampled_replies_are_canonical(models, family):
    model, tok = models[family]
    for seed in range(3):
        reply = generate_reply(model, tok, [{"role": "user", "content": PROMPTS[seed]}],
                               Sampling(max_new_tokens=32, greedy=False, temperature=1.0, top_p=1.0, seed=seed,
                                        canonical=True))
        assert reply.ids and _non_canonical(tok, [reply.ids]) == []
