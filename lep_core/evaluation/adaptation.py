"""Did the adaptation work? The original and the adapted model measured on the same inputs (issue 14).

LEP promises *the same model, faster in the new language*. Two families of figures say whether it kept
that promise, and both are fair across tokenizers:

- bits-per-char on held-out text (Russian and English): the summed log-likelihood of the text over its
  characters, so a model with a longer vocabulary gains nothing by cutting the text into fewer pieces;
- greedy answers to the same prompts with the same `max_new_tokens`: the share of generated tokens that come
  from the new vocabulary, characters per generated token, generated chars/s, and, for the adapted model's
  own answers in the target script, two ratios that do not depend on which language the original answers in:
  `original_tokens_over_emitted` (tokens the original tokenizer needs for the same text / tokens the adapted
  model emitted: its gain in generation steps, since the body is the same) and `emitted_over_canonical`
  (tokens emitted / tokens its own tokenizer uses for that text: 1.0 = it writes as its tokenizer spells).
"""

from __future__ import annotations

import json
import math
import re
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from lep_core.errors import LepInputError
from lep_core.tokenizer.plain_text import encode_plain

ASSETS = Path(__file__).resolve().parents[2] / "assets"
DEFAULT_TEXTS = (ASSETS / "heldout_ru.txt", ASSETS / "heldout_en.txt")
DEFAULT_PROMPTS = ASSETS / "demo_prompts.json"
CYRILLIC = re.compile(r"[\u0400-\u04FF]")
LETTER = re.compile(r"[^\W\d_]")

Progress = Callable[[float, str], None]


def language_of(text: str) -> str:
    """'ru' when most letters are Cyrillic, else 'en' (the two held-out languages the bench reports)."""
    letters = LETTER.findall(text)
    if not letters:
        return "en"
    return "ru" if sum(bool(CYRILLIC.match(c)) for c in letters) / len(letters) >= 0.5 else "en"


def read_prompts(path: str | Path | None, lang: str = "ru") -> list[str]:
    """Prompts from a JSON list ({"lang", "prompt"} objects or strings) or a text file, one prompt a line.

    JSON objects with a `lang` keep only that language. Raises LepInputError for a missing or empty file.
    """
    path = Path(path) if path else DEFAULT_PROMPTS
    if not path.is_file():
        raise LepInputError(f"prompt file {path} does not exist: pass --prompts with a JSON list or a text file")
    from lep_core.corpus.reading import read_decoded
    from lep_core.corpus.text import normalize_json

    raw = read_decoded(path)  # BOM dropped; every prompt then in the one text form (lep_core.corpus.text)
    prompts: list[str] = []
    if path.suffix == ".json":
        try:
            items = json.loads(raw)
        except json.JSONDecodeError as exc:
            raise LepInputError(f"{path} is not valid JSON ({exc.msg}, line {exc.lineno}): fix it or pass a text file") from None
        for item in items if isinstance(items, list) else []:
            if isinstance(item, str):
                prompts.append(item)
            elif isinstance(item, dict) and item.get("prompt") and item.get("lang", lang) == lang:
                prompts.append(str(item["prompt"]))
    else:
        prompts = [line.strip() for line in raw.splitlines() if line.strip()]
    prompts = [normalize_json(p) for p in prompts if p.strip()]
    if not prompts:
        raise LepInputError(f"{path} holds no prompts{f' in {lang!r}' if path.suffix == '.json' else ''}: "
                            "add at least one prompt")
    return prompts


@dataclass
class Answers:
    """Greedy answers of one model to the prompts, with the ids it emitted (end-of-turn tokens left out)."""

    texts: list[str] = field(default_factory=list)
    ids: list[list[int]] = field(default_factory=list)
    seconds: float = 0.0


def greedy_answers(model, tokenizer, prompts: list[str], max_new_tokens: int, tick: Progress | None = None) -> Answers:
    """One greedy reply per prompt through the model's chat template; wall time around each `generate` call."""
    import torch

    from lep_core.evaluation.generation import _eos_ids, context_window, prompt_ids

    device = next(model.parameters()).device
    eos = _eos_ids(model, tokenizer)
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else (eos[0] if eos else 0)
    special = set(tokenizer.all_special_ids)
    out = Answers()
    for i, prompt in enumerate(prompts):
        ids, _ = prompt_ids(tokenizer, [{"role": "user", "content": prompt}], context_window(model, tokenizer))
        input_ids = torch.tensor([ids], device=device)
        start = time.perf_counter()
        with torch.inference_mode():
            generated = model.generate(input_ids=input_ids, attention_mask=torch.ones_like(input_ids),
                                       max_new_tokens=max_new_tokens, do_sample=False, temperature=None, top_p=None,
                                       top_k=None, eos_token_id=eos or None, pad_token_id=pad)[0, len(ids):].tolist()
        out.seconds += time.perf_counter() - start
        emitted = [t for t in generated if t not in special]
        out.ids.append(emitted)
        out.texts.append(tokenizer.decode(emitted, skip_special_tokens=True))
        if tick:
            tick((i + 1) / len(prompts), f"answer {i + 1} of {len(prompts)}")
    return out


def new_vocabulary(tokenizer, original_tokenizer) -> set[int]:
    """Ids of `tokenizer` whose vocabulary string the original tokenizer does not have (all of one set)."""
    old = set(original_tokenizer.get_vocab())
    return {i for piece, i in tokenizer.get_vocab().items() if piece not in old}


def answer_figures(answers: Answers, tokenizer, original_tokenizer, new_ids: set[int]) -> dict[str, Any]:
    """Token and speed figures of one model's answers (see the module docstring for the two ratios)."""
    emitted = sum(len(ids) for ids in answers.ids)
    chars = sum(len(t) for t in answers.texts)
    new = sum(1 for ids in answers.ids for t in ids if t in new_ids)
    own = [(t, ids) for t, ids in zip(answers.texts, answers.ids) if t.strip() and language_of(t) == "ru"]
    own_emitted = sum(len(ids) for _, ids in own)
    texts = [t for t, _ in own]
    canonical = sum(len(ids) for ids in encode_plain(tokenizer, texts)) if texts else 0
    original = sum(len(ids) for ids in encode_plain(original_tokenizer, texts)) if texts else 0
    return {
        "answers": len(answers.texts), "generated_tokens": emitted, "generated_chars": chars,
        "seconds": round(answers.seconds, 3),
        "new_vocab_share": new / emitted if emitted else 0.0,
        "chars_per_generated_token": chars / emitted if emitted else 0.0,
        "generated_chars_per_s": chars / answers.seconds if answers.seconds else 0.0,
        "generated_tokens_per_s": emitted / answers.seconds if answers.seconds else 0.0,
        "russian_answers": len(own),
        "original_tokens_over_emitted": original / own_emitted if own_emitted else None,
        "emitted_over_canonical": own_emitted / canonical if canonical else None,
    }


def check_pair(original, adapted) -> None:
    """The two models must share one body: same architecture, width and depth (else the comparison means nothing)."""
    keys = ("model_type", "hidden_size", "num_hidden_layers")
    a, b = ({k: getattr(m.config, k, None) for k in keys} for m in (original, adapted))
    if a != b:
        diff = ", ".join(f"{k} {a[k]} vs {b[k]}" for k in keys if a[k] != b[k])
        raise LepInputError(f"the adapted model does not share the original's body ({diff}): "
                            "pass the original it was adapted from")


def check_tokenizer_fits(name: str, model, tokenizer) -> None:
    rows = model.get_input_embeddings().weight.shape[0]
    if len(tokenizer) > rows:
        raise LepInputError(f"the {name} model's tokenizer has {len(tokenizer)} tokens but its embeddings only {rows} "
                            "rows: the tokenizer does not belong to that model (re-run `lep model init`)")


def bench_adaptation(original: tuple[Any, Any], adapted: tuple[Any, Any], texts: list[Path] | None = None,
                     prompts: list[str] | None = None, max_new_tokens: int = 64,
                     progress: Progress | None = None) -> dict[str, Any]:
    """Every figure of the module docstring for two loaded (model, tokenizer) pairs.

    texts: held-out files, each scored as a whole and labelled ru/en by its script (default: the repository's
    heldout_ru.txt and heldout_en.txt). prompts: Russian prompts (default: assets/demo_prompts.json).
    Returns {"original": {...}, "adapted": {...}, "gain": {...}}; bits_per_char per language is the
    character-weighted mean over that language's files. Raises LepInputError for models that do not belong
    together, a tokenizer larger than its model's embeddings, or empty inputs.
    """
    from lep_core.evaluation.bpc import score_text

    tick = progress or (lambda fraction, message: None)
    (orig_model, orig_tok), (adapt_model, adapt_tok) = original, adapted
    check_pair(orig_model, adapt_model)
    check_tokenizer_fits("original", orig_model, orig_tok)
    check_tokenizer_fits("adapted", adapt_model, adapt_tok)
    from lep_core.corpus.reading import read_corpus
    from lep_core.corpus.text import TextChanges, count_chars

    files = [Path(t) for t in (texts or DEFAULT_TEXTS)]
    contents = []
    for path in files:
        if not path.is_file():
            raise LepInputError(f"text file {path} does not exist: pass held-out text files with --text")
        changes = TextChanges()  # read as every command reads text (lep_core.corpus.text): NFC, LF, no BOM
        text = read_corpus([path], changes=changes)
        contents.append((path, language_of(text), text, changes))
    prompts = prompts if prompts is not None else read_prompts(None)
    if not prompts:
        raise LepInputError("no prompts: pass --prompts with at least one prompt")
    new_ids = new_vocabulary(adapt_tok, orig_tok)
    result: dict[str, Any] = {"prompts": len(prompts), "max_new_tokens": max_new_tokens,
                              "texts": [{"file": str(p), "lang": lang, "chars": count_chars(t),
                                         "normalised": c.as_dict()} for p, lang, t, c in contents]}
    steps = 2 * (len(contents) + 1)
    done = 0
    for role, (model, tok) in (("original", original), ("adapted", adapted)):
        per_file, sums = [], {}
        for path, lang, text, _ in contents:
            tick(done / steps, f"{role}: bits-per-char on {path.name}")
            score = score_text(model, tok, text, measure_speed=False)
            per_file.append({"file": path.name, "lang": lang, "bits_per_char": score.bits_per_char,
                             "chars_per_token": score.chars_per_token})
            nll, chars = sums.get(lang, (0.0, 0))
            sums[lang] = (nll + score.nll_nats, chars + score.chars)
            done += 1
        tick(done / steps, f"{role}: greedy answers")
        answers = greedy_answers(model, tok, prompts, max_new_tokens,
                                 lambda f, m, d=done: tick((d + f) / steps, f"{role}: {m}"))
        done += 1
        result[role] = {
            "bits_per_char": {lang: nll / math.log(2) / chars for lang, (nll, chars) in sums.items()},
            "texts": per_file,
            **answer_figures(answers, tok, orig_tok, new_ids if role == "adapted" else set()),
            "sample_answers": answers.texts[:3],
        }
    o, a = result["original"], result["adapted"]
    result["gain"] = {
        **{f"bits_per_char_{lang}_ratio": a["bits_per_char"][lang] / o["bits_per_char"][lang]
           for lang in a["bits_per_char"] if o["bits_per_char"].get(lang)},
        "generation_steps_saved": a["original_tokens_over_emitted"],
        "generated_chars_per_s_ratio": (a["generated_chars_per_s"] / o["generated_chars_per_s"]
                                        if o["generated_chars_per_s"] else None),
    }
    tick(1.0, "done")
    return result
