"""Measure a GGUF in llama.cpp against the transformers model it came from (`lep export gguf --check`).

Bits-per-char is computed the way lep_core/evaluation/bpc.py computes it for transformers, on the same ids:
the text read as `lep eval --text` reads it, `scoring_ids` (the one rule for which ids are fed and which
characters count), the same sliding windows (`windows`: window = the model's context capped at 1024, stride
half of it, every later window starting with the sequence-start ids), -log p summed in float64 and divided by
`TextScore.bits_per_char`'s characters. So `lep eval --model FOLDER --text assets/heldout_ru.txt` prints the
transformers figure this reports, and the llama.cpp one differs only by the GGUF's weights and arithmetic.

Where llama.cpp cuts a text into other ids than transformers (whole-word extensions under a pre-tokenizer that
does not look words up first, llama.cpp#7049), a second llama.cpp figure scores llama.cpp's own ids: what a
user's prompt costs in the spelling llama.cpp gives it.

Also checked: llama.cpp's ids for each held-out line against the tokenizer's, and the greedy continuation of one
prompt (chat template when the model has one, plain text otherwise) against transformers' for 32 tokens.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

ASSETS = Path(__file__).resolve().parents[2] / "assets"
TEXTS = {"ru": ASSETS / "heldout_ru.txt", "en": ASSETS / "heldout_en.txt"}
QUESTION = "Привет! Расскажи коротко, что такое осень."
MAX_WINDOW = 1024  # bpc.score_text's default window
GREEDY_TOKENS = 32
ROW_BLOCK = 256  # rows of logits turned into log-probabilities at once: ROW_BLOCK x vocabulary float64

Progress = Callable[[float, str], None]


@dataclass
class Reference:
    """The transformers model and its tokenizer, loaded once for every file checked against them."""

    folder: Path
    model: Any
    tokenizer: Any
    window: int
    scores: dict[str, Any] = field(default_factory=dict)  # text -> its TextScore under the model, computed once

    def score(self, text: str):
        """transformers' TextScore of `text` (bpc.score_text with the check's window and stride)."""
        from lep_core.evaluation.bpc import score_text

        if text not in self.scores:
            self.scores[text] = score_text(self.model, self.tokenizer, text, window=self.window,
                                           stride=max(1, self.window // 2), measure_speed=False)
        return self.scores[text]

    @classmethod
    def load(cls, folder: Path) -> "Reference":
        from lep_core.evaluation.generation import context_window
        from lep_core.sources.loading import load_model, load_tokenizer

        tokenizer = load_tokenizer(folder)
        model = load_model(folder)
        model.eval()
        return cls(folder, model, tokenizer, min(MAX_WINDOW, context_window(model, tokenizer)))


def open_llama(gguf: Path, n_ctx: int):
    """llama.cpp on one file, logits kept for every position (bits-per-char scores each one)."""
    from lep_core.export.runtime import require_llama_cpp

    llama_cpp = require_llama_cpp("checking a GGUF (--check)")
    return llama_cpp.Llama(model_path=str(gguf), n_ctx=n_ctx, n_batch=min(512, n_ctx), logits_all=True,
                           n_threads=_threads(), verbose=False, seed=0)


def _threads() -> int:
    from lep_core.export.quantize import _threads as threads

    return threads()


def llama_summed_nll(llm, ids: list[int], window: int, stride: int, start: list[int]) -> tuple[float, int]:
    """Σ -log p over ids[1:] in llama.cpp (nats, float64) and how many tokens were scored: bpc.summed_nll's
    windows, fed to llama.cpp. ids begin with `start`; every later window is fed after them too."""
    import numpy as np

    from lep_core.evaluation.bpc import windows

    total, scored = 0.0, 0
    for begin, end, first in windows(len(ids), window - len(start), stride):
        head = start if begin > 0 else []
        chunk = head + ids[begin:end]
        llm.reset()
        llm.eval(chunk)
        shift = len(head) - begin  # position in chunk = position in ids + shift
        targets = np.asarray(chunk[first + shift:])
        rows_from = first + shift - 1
        for at in range(0, len(targets), ROW_BLOCK):
            want = targets[at: at + ROW_BLOCK]
            logits = np.asarray(llm.scores[rows_from + at: rows_from + at + len(want)], dtype=np.float64)
            peak = logits.max(axis=1)
            log_z = peak + np.log(np.exp(logits - peak[:, None]).sum(axis=1))
            total += float((log_z - logits[np.arange(len(want)), want]).sum())
        scored += len(targets)
    return total, scored


def _first_token_chars(text: str, llm, first: int) -> int:
    """Characters of `text` that llama.cpp's first token covers (its bytes, counted as whole characters)."""
    width = len(llm.detokenize([first]))
    return len(text.encode("utf-8")[:width].decode("utf-8", "ignore"))


def text_bits_per_char(ref: Reference, llm, text: str) -> dict[str, Any]:
    """{"transformers", "llama_cpp", "ratio", "tokens"} on one text; with llama.cpp's own ids when they differ
    ("llama_cpp_own_tokens", "llama_cpp_tokens", "own_tokens_ratio")."""
    from lep_core.evaluation.bpc import TextScore, scoring_ids
    from lep_core.tokenizer.plain_text import sequence_start_ids

    stride = max(1, ref.window // 2)
    hf = ref.score(text)
    ids, n_text, scored_chars = scoring_ids(ref.tokenizer, text)
    start = sequence_start_ids(ref.tokenizer)
    nll, scored = llama_summed_nll(llm, ids, ref.window, stride, start)
    ours = TextScore(chars=len(text), tokens=n_text, scored_tokens=scored, nll_nats=nll, scored_chars=scored_chars)
    out = {"transformers": hf.bits_per_char, "llama_cpp": ours.bits_per_char,
           "ratio": ours.bits_per_char / hf.bits_per_char, "tokens": n_text}
    own = [int(i) for i in llm.tokenize(text.encode("utf-8"), add_bos=False, special=False)]
    if own != ids[len(start):]:
        chars = len(text) if start else len(text) - _first_token_chars(text, llm, own[0])
        nll_own, scored_own = llama_summed_nll(llm, start + own, ref.window, stride, start)
        spelled = TextScore(chars=len(text), tokens=len(own), scored_tokens=scored_own, nll_nats=nll_own,
                            scored_chars=chars)
        out.update(llama_cpp_own_tokens=spelled.bits_per_char, llama_cpp_tokens=len(own),
                   own_tokens_ratio=spelled.bits_per_char / hf.bits_per_char)
    return out


def token_lines(llm, tokenizer, lines: list[str]) -> dict[str, Any]:
    """{"lines", "identical", "first_mismatch"}: llama.cpp's ids for each line against the tokenizer's (special-
    token strings read as text on both sides, nothing added)."""
    from lep_core.tokenizer.plain_text import encode_plain

    identical, first = 0, None
    for line, ours in zip(lines, encode_plain(tokenizer, lines)):
        theirs = [int(i) for i in llm.tokenize(line.encode("utf-8"), add_bos=False, special=False)]
        if theirs == ours:
            identical += 1
        elif first is None:
            first = {"line": line[:80], "transformers": ours[:20], "llama_cpp": theirs[:20]}
    return {"lines": len(lines), "identical": identical, "first_mismatch": first}


def prompt_ids(tokenizer, question: str = QUESTION) -> list[int]:
    """One prompt: the question in the chat template, or as plain text after the sequence start (a base model)."""
    from lep_core.evaluation.generation import has_chat_template
    from lep_core.tokenizer.plain_text import encode_plain, with_sequence_start

    if has_chat_template(tokenizer):
        text = tokenizer.apply_chat_template([{"role": "user", "content": question}], tokenize=False,
                                             add_generation_prompt=True)
        return with_sequence_start(tokenizer, tokenizer.encode(text, add_special_tokens=False))
    return with_sequence_start(tokenizer, encode_plain(tokenizer, [question])[0])


def greedy(ref: Reference, llm, n: int = GREEDY_TOKENS) -> dict[str, Any]:
    """{"tokens", "equal", "first_difference"}: llama.cpp's greedy continuation against transformers'."""
    from lep_core.export.verify import hf_greedy, llama_greedy

    prompt = prompt_ids(ref.tokenizer)
    ours, _ = hf_greedy(ref.folder, prompt, n, model=ref.model)
    theirs = llama_greedy(llm, prompt, n)
    differ = next((i for i, (a, b) in enumerate(zip(ours, theirs)) if a != b), None)
    if differ is None and len(ours) != len(theirs):
        differ = min(len(ours), len(theirs))
    return {"tokens": n, "equal": ours == theirs, "first_difference": differ}


def heldout_lines(texts: dict[str, str]) -> list[str]:
    return [ln for text in texts.values() for ln in text.splitlines() if ln.strip()]


def read_texts(paths: dict[str, Path] | None = None) -> dict[str, str]:
    from lep_core.corpus.reading import read_corpus

    return {label: read_corpus([path]) for label, path in (paths or TEXTS).items()}


def check_gguf(folder: Path, gguf: Path, f16: Path | None = None, texts: dict[str, Path] | None = None,
               progress: Progress | None = None, ref: Reference | None = None) -> dict[str, Any]:
    """Every figure of the module docstring for `gguf` against the transformers model in `folder`.

    f16: the f16 export a quantized file was made from; its llama.cpp bits-per-char is measured too and each
    text gets "ratio_to_f16" (quantized / f16, both in llama.cpp). Returns {"window", "texts", "bits_per_char":
    {label: {...}}, "token_lines", "greedy"}. Raises LepInputError when llama-cpp-python is missing.
    """
    tick = progress or (lambda fraction, message: None)
    tick(0.0, "loading the transformers model")
    ref = ref or Reference.load(folder)
    contents = read_texts(texts)
    result: dict[str, Any] = {"window": ref.window, "texts": {k: {"file": str((texts or TEXTS)[k]), "chars": len(v)}
                                                           for k, v in contents.items()}, "bits_per_char": {}}
    files = [("f16", f16)] if f16 else []
    files.append(("file", gguf))
    steps, done = len(files) * (len(contents) + 2), 0
    for role, path in files:
        llm = open_llama(path, ref.window)
        for label, text in contents.items():
            tick(done / steps, f"bits-per-char on {label} ({role})")
            figures = text_bits_per_char(ref, llm, text)
            if role == "f16":
                result["bits_per_char"][label] = {"f16_llama_cpp": figures["llama_cpp"]}
            else:
                entry = result["bits_per_char"].setdefault(label, {})
                entry.update(figures)
                if "f16_llama_cpp" in entry:
                    entry["ratio_to_f16"] = entry["llama_cpp"] / entry["f16_llama_cpp"]
            done += 1
        if role == "file":
            tick(done / steps, "token ids, line by line")
            result["token_lines"] = token_lines(llm, ref.tokenizer, heldout_lines(contents))
            done += 1
            tick(done / steps, "greedy answer")
            result["greedy"] = greedy(ref, llm)
        done = (files.index((role, path)) + 1) * (len(contents) + 2)
        del llm
    tick(1.0, "checked")
    return result
