"""Chat generation with each model's own chat template, streamed, with speed figures per reply.

Generation runs in a thread (transformers' TextIteratorStreamer) so callers can show text as it
arrives. Speed is measured around the whole `generate` call, prefill included, and reported per
character as well as per token, since the point of LEP is fewer tokens for the same text.
"""

from __future__ import annotations

import threading
import time
from dataclasses import asdict, dataclass, field
from typing import Any, Callable, Iterator

from lep_core.errors import LepInputError
from lep_core.tokenizer.plain_text import with_sequence_start

Message = dict[str, str]  # {"role": "user"|"assistant"|"system", "content": str}


@dataclass(frozen=True)
class Sampling:
    """Decoding settings shared by both sides of a comparison (same seed, same limits)."""

    max_new_tokens: int = 128
    greedy: bool = True
    temperature: float = 0.7
    top_p: float = 0.9
    seed: int = 0
    canonical: bool = False  # never a spelling the model's tokenizer would not write (evaluation/canonical.py)

    def __post_init__(self) -> None:
        if self.max_new_tokens < 1:
            raise LepInputError(f"max new tokens must be at least 1 (got {self.max_new_tokens})")
        if not self.greedy and not (self.temperature > 0):
            raise LepInputError(f"temperature must be above 0 when sampling (got {self.temperature}); or use greedy")
        if not 0 < self.top_p <= 1:
            raise LepInputError(f"top-p must be in (0, 1] (got {self.top_p})")

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class Reply:
    """A reply so far (done=False while streaming) with its speed figures."""

    text: str = ""
    tokens: int = 0
    seconds: float = 0.0
    prompt_tokens: int = 0
    used_chat_template: bool = True
    done: bool = False
    notes: list[str] = field(default_factory=list)
    ids: list[int] = field(default_factory=list)  # the ids emitted, specials left out (set when done)

    @property
    def tokens_per_s(self) -> float:
        return self.tokens / self.seconds if self.seconds > 0 else 0.0

    @property
    def chars_per_s(self) -> float:
        return len(self.text) / self.seconds if self.seconds > 0 else 0.0

    def as_dict(self) -> dict[str, Any]:
        return {"text": self.text, "tokens": self.tokens, "seconds": round(self.seconds, 4),
                "tokens_per_s": round(self.tokens_per_s, 3), "chars_per_s": round(self.chars_per_s, 3),
                "prompt_tokens": self.prompt_tokens, "used_chat_template": self.used_chat_template,
                "notes": list(self.notes)}


def context_window(model, tokenizer=None) -> int:
    """Positions the model can attend over (config first; a tokenizer's huge placeholder is ignored)."""
    for key in ("max_position_embeddings", "n_positions", "max_seq_len", "seq_length"):
        value = getattr(model.config, key, None)
        if isinstance(value, int) and value > 0:
            return value
    limit = getattr(tokenizer, "model_max_length", None)
    return int(limit) if isinstance(limit, int) and 0 < limit < 10**7 else 2048


def has_chat_template(tokenizer) -> bool:
    return bool(getattr(tokenizer, "chat_template", None))


def check_messages(messages: list[Message]) -> None:
    if not messages or messages[-1].get("role") != "user":
        raise LepInputError("no prompt: type a message to send")
    if not str(messages[-1].get("content", "")).strip():
        raise LepInputError("the prompt is empty: type a message to send")


def prompt_ids(tokenizer, messages: list[Message], window: int, allow_plain: bool = True) -> tuple[list[int], bool]:
    """Token ids of the conversation, and whether the chat template was used.

    A tokenizer without a chat template gets plain continuation of the concatenated turns
    (when allow_plain), so base models can still be compared.
    """
    check_messages(messages)
    if has_chat_template(tokenizer):
        text = tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
        ids = with_sequence_start(tokenizer, tokenizer(text, add_special_tokens=False)["input_ids"])
        templated = True
    elif allow_plain:
        text = "\n\n".join(m["content"] for m in messages if m.get("content"))
        ids = tokenizer(text)["input_ids"]
        templated = False
    else:
        raise LepInputError(
            f"{getattr(tokenizer, 'name_or_path', 'the model')} has no chat template: "
            "use an instruct model, or allow plain continuation (--allow-plain)"
        )
    if len(ids) >= window:
        raise LepInputError(
            f"the prompt is {len(ids)} tokens but the model's context window is {window}: "
            "shorten the prompt or start a new chat"
        )
    return ids, templated


class _CountingStreamer:
    """Counts generated tokens as they arrive (the first put() is the prompt) and forwards to the text streamer."""

    def __init__(self, inner) -> None:
        self.inner = inner
        self.tokens = 0
        self._saw_prompt = False

    def put(self, value) -> None:
        if self._saw_prompt:
            self.tokens += int(value.numel())
        self._saw_prompt = True
        self.inner.put(value)

    def end(self) -> None:
        self.inner.end()


def _stopper(stop: threading.Event):
    from transformers import StoppingCriteria, StoppingCriteriaList

    class _Stop(StoppingCriteria):
        def __call__(self, input_ids, scores, **kwargs):
            import torch

            return torch.full((input_ids.shape[0],), stop.is_set(), dtype=torch.bool, device=input_ids.device)

    return StoppingCriteriaList([_Stop()])


def _eos_ids(model, tokenizer) -> list[int]:
    eos = getattr(getattr(model, "generation_config", None), "eos_token_id", None)
    if eos is None:
        eos = tokenizer.eos_token_id
    ids = eos if isinstance(eos, list) else [eos] if eos is not None else []
    return [int(i) for i in ids]


def stream_reply(model, tokenizer, messages: list[Message], sampling: Sampling = Sampling(),
                 allow_plain: bool = True) -> Iterator[Reply]:
    """Yield the growing reply while the model writes it; the last one has done=True and exact counts."""
    import torch
    from transformers import TextIteratorStreamer

    ids, templated = prompt_ids(tokenizer, messages, context_window(model, tokenizer), allow_plain)
    device = next(model.parameters()).device
    input_ids = torch.tensor([ids], device=device)
    room = context_window(model, tokenizer) - len(ids)
    max_new = min(sampling.max_new_tokens, room)
    reply = Reply(prompt_tokens=len(ids), used_chat_template=templated)
    if not templated:
        reply.notes.append("no chat template: plain continuation of the prompt")
    if max_new < sampling.max_new_tokens:
        reply.notes.append(f"max new tokens cut to {max_new} by the context window")
    text_streamer = TextIteratorStreamer(tokenizer, skip_prompt=True, skip_special_tokens=True)
    streamer = _CountingStreamer(text_streamer)
    stop = threading.Event()  # set when the caller stops reading (a Stop button), so the thread ends too
    eos = _eos_ids(model, tokenizer)
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else (eos[0] if eos else 0)
    kwargs: dict[str, Any] = dict(
        input_ids=input_ids, attention_mask=torch.ones_like(input_ids), max_new_tokens=max_new,
        min_new_tokens=1, do_sample=not sampling.greedy, eos_token_id=eos or None, pad_token_id=pad,
        streamer=streamer, stopping_criteria=_stopper(stop),
    )
    if sampling.canonical:
        from transformers import LogitsProcessorList

        from lep_core.evaluation.canonical import canonical_processors

        kwargs["logits_processor"] = LogitsProcessorList(canonical_processors(tokenizer, sampling.greedy)(len(ids), eos))
    if sampling.greedy:
        kwargs.update(temperature=None, top_p=None, top_k=None)
    else:
        kwargs.update(temperature=sampling.temperature, top_p=sampling.top_p, top_k=0)
    outcome: dict[str, Any] = {}

    def work() -> None:
        try:
            torch.manual_seed(sampling.seed)
            with torch.inference_mode():
                outcome["ids"] = model.generate(**kwargs)
        except BaseException as exc:  # surfaced in the caller's thread below
            outcome["error"] = exc
            text_streamer.end()

    start = time.perf_counter()
    thread = threading.Thread(target=work, daemon=True)
    thread.start()
    try:
        for chunk in text_streamer:
            reply.text += chunk
            reply.tokens = streamer.tokens
            reply.seconds = time.perf_counter() - start
            yield reply
    finally:
        if thread.is_alive() and "ids" not in outcome:
            stop.set()
    thread.join()
    reply.seconds = time.perf_counter() - start
    if "error" in outcome:
        exc = outcome["error"]
        if isinstance(exc, torch.cuda.OutOfMemoryError if torch.cuda.is_available() else MemoryError):
            raise LepInputError("the model ran out of memory while generating: lower max new tokens") from exc
        raise exc
    generated = outcome["ids"][0, len(ids):]
    reply.tokens = int(generated.numel())
    reply.text = tokenizer.decode(generated, skip_special_tokens=True)
    special = set(tokenizer.all_special_ids)
    reply.ids = [t for t in generated.tolist() if t not in special]
    reply.done = True
    yield reply


def generate_reply(model, tokenizer, messages: list[Message], sampling: Sampling = Sampling(),
                   allow_plain: bool = True) -> Reply:
    """The finished reply (the stream, consumed)."""
    reply = Reply()
    for reply in stream_reply(model, tokenizer, messages, sampling, allow_plain):
        pass
    return reply


def greedy_batch(model, tokenizer, prompts: list[list[int]], budgets: list[int], batch_size: int = 8,
                 processors: Callable[[int, list[int]], list] | None = None,
                 progress: Callable[[int, int], None] | None = None) -> tuple[list[list[int]], float]:
    """Greedy continuations of token-id prompts: (ids emitted per prompt, seconds spent in `generate`).

    Each row is cut at its first end-of-sequence id and at its own budget (greedy decoding is deterministic, so
    this equals generating it alone with that budget), and special ids are left out. Rows go in left-padded
    batches of `batch_size`, longest budget first so a batch shares similar lengths: on a CPU a decoding step
    costs about the same for 1 or 16 rows (reading the weights dominates). processors(start, eos) gives a fresh
    list of transformers LogitsProcessors per batch, `start` being where the replies begin in its rows and `eos`
    the end-of-reply ids (e.g. canonical decoding, lep_core.evaluation.canonical). The seconds are wall time of the batched
    calls, prefill included, so chars/s from them is throughput, the same kind for every model measured alike.
    """
    import torch
    from transformers import LogitsProcessorList

    device = next(model.parameters()).device
    eos = _eos_ids(model, tokenizer)
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else (eos[0] if eos else 0)
    special = set(tokenizer.all_special_ids)
    window = context_window(model, tokenizer)
    order = sorted(range(len(prompts)), key=lambda i: (-budgets[i], -len(prompts[i])))
    out: list[list[int]] = [[] for _ in prompts]
    seconds = 0.0
    for start in range(0, len(order), batch_size):
        group = order[start:start + batch_size]
        longest = max(len(prompts[i]) for i in group)
        ids = torch.full((len(group), longest), pad, dtype=torch.long)
        mask = torch.zeros_like(ids)
        for row, i in enumerate(group):  # left padding: every prompt ends where generation starts
            ids[row, longest - len(prompts[i]):] = torch.tensor(prompts[i])
            mask[row, longest - len(prompts[i]):] = 1
        max_new = max(1, min(max(budgets[i] for i in group), window - longest))
        extra = {"logits_processor": LogitsProcessorList(processors(longest, eos))} if processors else {}
        begin = time.perf_counter()
        with torch.inference_mode():
            generated = model.generate(input_ids=ids.to(device), attention_mask=mask.to(device), do_sample=False,
                                       max_new_tokens=max_new, eos_token_id=eos or None, pad_token_id=pad,
                                       temperature=None, top_p=None, top_k=None, **extra)[:, longest:].tolist()
        seconds += time.perf_counter() - begin
        for row, i in enumerate(group):
            seq = generated[row][:budgets[i]]
            end = next((k for k, t in enumerate(seq) if t in eos), len(seq))
            out[i] = [t for t in seq[:end] if t not in special]
        if progress:
            progress(min(start + batch_size, len(order)), len(order))
    return out, seconds
