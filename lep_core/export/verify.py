"""Check a GGUF export in llama.cpp itself (llama-cpp-python) against the Hugging Face folder it came from.

Three checks: the token ids llama.cpp gives each line equal the Hugging Face tokenizer's (no special tokens added);
the greedy continuation of a chat prompt from llama.cpp equals transformers' for its first N tokens (the same
prompt ids fed to both; argmax over the tokenizer's ids, so padded rows never count); and, step by step along
transformers' greedy answer, llama.cpp picks the same next token unless the two were tied in transformers' logits
(a random tiny model has near-ties 1e-5 apart, which f16 weights cannot order: free-running greedy text then
parts at the first tie and says nothing about the steps after it).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any


def _llama(gguf_path: Path, n_ctx: int = 512, logits_all: bool = False):
    from lep_core.export.runtime import require_llama_cpp

    Llama = require_llama_cpp("checking a GGUF").Llama
    return Llama(model_path=str(gguf_path), n_ctx=n_ctx, n_threads=2, verbose=False, seed=0, logits_all=logits_all)


def token_check(llm, tok, lines: list[str]) -> dict[str, Any]:
    """{"lines", "identical", "first_mismatch"}: llama.cpp's ids against the tokenizer's, line by line."""
    identical, first = 0, None
    for line in lines:
        ours = tok.encode(line, add_special_tokens=False)
        theirs = llm.tokenize(line.encode("utf-8"), add_bos=False, special=False)
        if list(theirs) == list(ours):
            identical += 1
        elif first is None:
            first = {"line": line[:80], "hf": ours[:20], "llama_cpp": list(theirs)[:20]}
    return {"lines": len(lines), "identical": identical, "first_mismatch": first}


def hf_greedy(folder: Path, prompt: list[int], n: int, model=None):
    """transformers' greedy continuation: (ids (n,), logits (n, tokens) float32), argmax over the tokenizer's ids.
    model: the folder's model already loaded in float32 (loaded here otherwise)."""
    import torch
    from transformers import AutoModelForCausalLM

    from lep_core.sources.loading import load_tokenizer

    limit = len(load_tokenizer(folder))
    if model is None:
        model = AutoModelForCausalLM.from_pretrained(folder, dtype=torch.float32)
        model.eval()
    ids, past, out, rows = torch.tensor([prompt]), None, [], []
    with torch.inference_mode():
        for _ in range(n):
            step = model(input_ids=ids, past_key_values=past, use_cache=True)
            past = step.past_key_values  # the model's cache, fed back: one new token per step
            rows.append(step.logits[0, -1, :limit].float())
            nxt = int(rows[-1].argmax())
            out.append(nxt)
            ids = torch.tensor([[nxt]])
    return out, torch.stack(rows)


def stepwise(gguf_path: Path, prompt: list[int], ids: list[int], logits, tie: float = 1e-3) -> dict[str, Any]:
    """llama.cpp's next token at each step of transformers' answer `ids` (teacher-forced): {"steps", "same",
    "tied", "different", "first_tie"}; "tied" counts steps where llama.cpp's pick trails transformers' by less than
    `tie` (absolute, in transformers' logits of that step), "first_tie" is the first such step (None: none)."""
    import numpy as np

    llm = _llama(gguf_path, logits_all=True)
    llm.eval(prompt + ids[:-1])
    scores = np.asarray(llm.scores[len(prompt) - 1: len(prompt) - 1 + len(ids), : logits.shape[1]])
    picks = scores.argmax(axis=1)
    same = tied = 0
    first_tie = None
    for step, (want, got) in enumerate(zip(ids, picks.tolist())):
        if want == got:
            same += 1
        elif float(logits[step, want] - logits[step, got]) < tie:
            tied += 1
            first_tie = step if first_tie is None else first_tie
    return {"steps": len(ids), "same": same, "tied": tied, "different": len(ids) - same - tied, "first_tie": first_tie}


def llama_greedy(llm, prompt: list[int], n: int) -> list[int]:
    out: list[int] = []
    for token in llm.generate(prompt, temp=0.0, top_k=1, top_p=1.0, min_p=0.0, repeat_penalty=1.0, reset=True):
        out.append(int(token))
        if len(out) == n:
            break
    return out


def chat_prompt(tok, question: str) -> list[int]:
    """The prompt ids of one user question, written with the model's chat template."""
    text = tok.apply_chat_template([{"role": "user", "content": question}], tokenize=False, add_generation_prompt=True)
    return tok.encode(text, add_special_tokens=False)


def verify_gguf(folder: str | Path, gguf_path: str | Path, lines: list[str], question: str,
                new_tokens: int = 32) -> dict[str, Any]:
    """All three checks: {"tokens": token_check, "greedy_equal", "greedy_hf", "greedy_llama_cpp", "stepwise"}."""
    from lep_core.sources.loading import load_tokenizer

    folder = Path(folder)
    tok = load_tokenizer(folder)
    llm = _llama(Path(gguf_path))
    prompt = chat_prompt(tok, question)
    (ours, logits), theirs = hf_greedy(folder, prompt, new_tokens), llama_greedy(llm, prompt, new_tokens)
    return {"tokens": token_check(llm, tok, lines), "greedy_equal": ours == theirs, "greedy_hf": ours,
            "greedy_llama_cpp": theirs, "prompt_tokens": len(prompt),
            "stepwise": stepwise(Path(gguf_path), prompt, ours, logits)}
