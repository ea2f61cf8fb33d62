"""Check a GGUF export in llama.cpp itself (llama-cpp-python) against the Hugging Face folder it came from.

Two checks: the token ids llama.cpp gives each line equal the Hugging Face tokenizer's (no special tokens added),
and the greedy continuation of a chat prompt from llama.cpp equals transformers' for its first N tokens (the
same prompt ids fed to both; argmax over the tokenizer's ids, so padded rows never count).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from lep_core.errors import LepInputError


def _llama(gguf_path: Path, n_ctx: int = 512):
    try:
        from llama_cpp import Llama
    except ImportError:
        raise LepInputError("checking a GGUF needs llama-cpp-python: `pip install llama-cpp-python` "
                            "(it builds llama.cpp with cmake and a C++ compiler)") from None
    return Llama(model_path=str(gguf_path), n_ctx=n_ctx, n_threads=2, verbose=False, seed=0)


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


def hf_greedy(folder: Path, prompt: list[int], n: int) -> list[int]:
    """transformers' greedy continuation, (n,) ids, argmax over the tokenizer's ids only."""
    import torch
    from transformers import AutoModelForCausalLM

    from lep_core.sources import load_tokenizer

    limit = len(load_tokenizer(folder))
    model = AutoModelForCausalLM.from_pretrained(folder, dtype=torch.float32)
    model.eval()
    ids, past, out = torch.tensor([prompt]), None, []
    with torch.inference_mode():
        for _ in range(n):
            step = model(input_ids=ids, past_key_values=past, use_cache=True)
            past = step.past_key_values
            nxt = int(step.logits[0, -1, :limit].argmax())
            out.append(nxt)
            ids = torch.tensor([[nxt]])
    return out


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
    """Both checks; returns {"tokens": token_check, "greedy_equal", "greedy_hf", "greedy_llama_cpp"}."""
    from lep_core.sources import load_tokenizer

    folder = Path(folder)
    tok = load_tokenizer(folder)
    llm = _llama(Path(gguf_path))
    prompt = chat_prompt(tok, question)
    ours, theirs = hf_greedy(folder, prompt, new_tokens), llama_greedy(llm, prompt, new_tokens)
    return {"tokens": token_check(llm, tok, lines), "greedy_equal": ours == theirs, "greedy_hf": ours,
            "greedy_llama_cpp": theirs, "prompt_tokens": len(prompt)}
