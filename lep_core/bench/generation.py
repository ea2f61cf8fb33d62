"""`lep bench generation`: what the extended tokenizer buys in speed, prefill and decoding, side by side.

The demo model (SmolLM2-135M-Instruct) against the same model with its tokenizer extended by 3,000
Cyrillic tokens learned from assets/corpus and the new embedding rows initialised by mean. Both read
assets/heldout_ru.txt (text not in the corpus) in blocks (prefill), and both write the same fixed
Russian reply by forced decoding: the reply's tokens are fed one at a time through the KV cache,
which costs what generating them costs but gives both models identical text. Figures are chars/s,
best of `repeats` interleaved runs (other work on the machine only ever slows a run down; prefill
takes the best time of each block, decoding the best whole pass).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

ASSETS = Path(__file__).resolve().parents[2] / "assets"
ADD_TOKENS = 3000
TARGET_RATIO = 1.4
PROMPT = "Расскажи коротко, как прошёл твой день."
REPLY = (
    "День прошёл спокойно. Утром я выпил кофе и прочитал новости, потом долго работал над отчётом, "
    "который нужно было сдать до вечера. В обед мы с коллегами обсуждали планы на выходные: кто-то "
    "собирается за город, кто-то хочет просто выспаться. Вечером я немного погулял в парке, посмотрел, "
    "как на деревьях желтеют листья, и вернулся домой с ощущением, что всё идёт своим чередом."
)


def build_pair(model_dir: Path, corpus: list[Path]):
    """(original model, its tokenizer), (extended model, extended tokenizer)."""
    from lep_core.corpus.reading import read_corpus
    from lep_core.embeddings.init import resize_and_init
    from lep_core.evaluation.models import warm_up
    from lep_core.sources.loading import load_model, load_tokenizer
    from lep_core.tokenizer.extend import build_extended_tokenizer, learn_extension

    base_tok = load_tokenizer(model_dir)
    extension = learn_extension(base_tok, read_corpus(corpus), ADD_TOKENS, alphabet="cyrillic", min_frequency=2)
    new_tok = build_extended_tokenizer(base_tok, extension)
    original = load_model(model_dir).eval()
    extended = load_model(model_dir).eval()
    resize_and_init(extended, base_tok, new_tok, "mean")
    for model in (original, extended):
        warm_up(model)
    return (original, base_tok), (extended, new_tok), len(extension.new_tokens)


def time_blocks(model, ids: list[int], block: int) -> list[float]:
    """Seconds for each disjoint block of `block` tokens (one forward pass each)."""
    import torch

    times = []
    with torch.inference_mode():
        for begin in range(0, len(ids), block):
            start = time.perf_counter()
            model(input_ids=torch.tensor([ids[begin: begin + block]]))
            times.append(time.perf_counter() - start)
    return times


def time_forced_decoding(model, prompt_ids: list[int], reply_ids: list[int]) -> float:
    """Prefill the prompt (not timed), then feed the reply one token per step with the KV cache (timed)."""
    import torch

    with torch.inference_mode():
        out = model(input_ids=torch.tensor([prompt_ids]), use_cache=True)
        cache = out.past_key_values
        start = time.perf_counter()
        for token in reply_ids:
            out = model(input_ids=torch.tensor([[token]]), cache=cache, use_cache=True)
            cache = out.past_key_values
            out.logits[0, -1].argmax()  # what a decoder does with each step's logits
    return time.perf_counter() - start


def _row(case: str, chars: int, tokens: int, seconds: float, base: dict | None) -> dict[str, Any]:
    row = {"case": case, "chars": chars, "tokens": tokens, "chars_per_token": round(chars / tokens, 3),
           "seconds": round(seconds, 3), "tokens_per_s": round(tokens / seconds, 1),
           "chars_per_s": round(chars / seconds, 1)}
    row["speedup"] = round(row["chars_per_s"] / base["chars_per_s"], 3) if base else 1.0
    row["target"] = TARGET_RATIO if base else None
    row["pass"] = row["speedup"] >= TARGET_RATIO if base else None
    return row


def run(repeats: int = 3, block: int = 256, heldout_chars: int = 4_000) -> dict[str, list[dict[str, Any]]]:
    from lep_core.sources.demo import prepare_demo

    model_dir = prepare_demo()
    text = (ASSETS / "heldout_ru.txt").read_text(encoding="utf-8")[:heldout_chars]
    (orig, orig_tok), (ext, ext_tok), added = build_pair(model_dir, sorted((ASSETS / "corpus").glob("*.txt")))
    sides = {"original": (orig, orig_tok), f"extended +{added}": (ext, ext_tok)}
    ids, prompts, replies = {}, {}, {}
    for name, (_, tok) in sides.items():
        ids[name] = tok(text, add_special_tokens=False)["input_ids"]
        messages = [{"role": "user", "content": PROMPT}]
        prompts[name] = tok(tok.apply_chat_template(messages, tokenize=False, add_generation_prompt=True),
                            add_special_tokens=False)["input_ids"]
        replies[name] = tok(REPLY, add_special_tokens=False)["input_ids"]
    block_best = {n: [float("inf")] * -(-len(ids[n]) // block) for n in sides}
    best_decode = {n: float("inf") for n in sides}
    for _ in range(repeats):  # interleaved, so a busy moment on the machine hits both sides alike
        for name, (model, _) in sides.items():
            times = time_blocks(model, ids[name], block)  # best time of each block over the repeats
            block_best[name] = [min(a, b) for a, b in zip(block_best[name], times)]
            best_decode[name] = min(best_decode[name], time_forced_decoding(model, prompts[name], replies[name]))
    best_prefill = {n: sum(t) for n, t in block_best.items()}
    prefill, decoding = [], []
    for name in sides:
        base_p = prefill[0] if prefill else None
        base_d = decoding[0] if decoding else None
        prefill.append(_row(f"{name} · prefill {block}-token blocks", len(text), len(ids[name]), best_prefill[name], base_p))
        decoding.append(_row(f"{name} · forced decoding", len(REPLY), len(replies[name]), best_decode[name], base_d))
    return {"prefill": prefill, "decoding": decoding}
