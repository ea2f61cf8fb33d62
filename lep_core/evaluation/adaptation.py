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
  (tokens emitted / tokens its own tokenizer uses for that text: 1.0 = it writes as its tokenizer spells);
- the copy and continuation tasks on held-out Russian lines (issue 25, evaluation/copy_task.py): what a small
  English model can do in Russian is repeat and continue what it is given, so there the same characters in
  fewer steps can be measured: copy recall, exact copies and the token figures above, per task.

Every figure is defined once, in lep_core/evaluation/figures.py.
"""

from __future__ import annotations

import json
import math
import re
from pathlib import Path
from typing import Any, Callable

from lep_core.errors import LepInputError
from lep_core.evaluation.canonical import canonical_processors
from lep_core.evaluation.copy_task import (
    MAX_CHARS,
    MIN_CHARS,
    TASKS,
    heldout_lines,
    run_task,
    spread,
    task_figures,
    token_budget,
)
from lep_core.evaluation.figures import Written, new_vocabulary, speed_figures, token_figures

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


def read_prompts(path: str | Path | None, lang: str = "ru", kind: str = "chat") -> list[str]:
    """Prompts from a JSON list ({"lang", "kind", "prompt"} objects or strings) or a text file, one prompt a line.

    JSON objects with a `lang` keep only that language, with a `kind` only that kind (the demo prompts also hold
    repeat and continue prompts, which the copy and continuation tasks measure apart). Raises LepInputError for
    a missing or empty file.
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
            elif (isinstance(item, dict) and item.get("prompt") and item.get("lang", lang) == lang
                  and item.get("kind", kind) == kind):
                prompts.append(str(item["prompt"]))
    else:
        prompts = [line.strip() for line in raw.splitlines() if line.strip()]
    prompts = [normalize_json(p) for p in prompts if p.strip()]
    if not prompts:
        raise LepInputError(f"{path} holds no prompts{f' in {lang!r}' if path.suffix == '.json' else ''}: "
                            "add at least one prompt")
    return prompts


Answers = Written  # the chat answers of one model (texts, emitted ids, seconds), as every other task's replies


def greedy_answers(model, tokenizer, prompts: list[str], max_new_tokens: int, batch_size: int = 8,
                   processors=None, tick: Progress | None = None) -> Written:
    """One greedy reply per prompt through the model's chat template (generation.greedy_batch)."""
    from lep_core.evaluation.generation import context_window, greedy_batch, prompt_ids

    window = context_window(model, tokenizer)
    ids = [prompt_ids(tokenizer, [{"role": "user", "content": p}], window)[0] for p in prompts]
    emitted, seconds = greedy_batch(model, tokenizer, ids, [max_new_tokens] * len(ids), batch_size, processors,
                                    (lambda done, total: tick(done / total, f"answer {done} of {total}")) if tick else None)
    return Written(texts=[tokenizer.decode(e, skip_special_tokens=True) for e in emitted], ids=emitted, seconds=seconds)


def answer_figures(answers: Written, tokenizer, original_tokenizer, new_ids: set[int]) -> dict[str, Any]:
    """Token and speed figures of one model's chat answers; the two ratios over its answers in Russian only
    (see the module docstring; definitions in lep_core/evaluation/figures.py)."""
    own = Written(*map(list, zip(*[(t, ids) for t, ids in zip(answers.texts, answers.ids)
                                   if t.strip() and language_of(t) == "ru"])))
    ratios = token_figures(own, tokenizer, original_tokenizer, new_ids)
    return {"answers": len(answers.texts), **speed_figures(answers),
            **{k: v for k, v in token_figures(answers, tokenizer, original_tokenizer, new_ids).items()
               if k in ("generated_tokens", "new_vocab_share")},
            "russian_answers": len(own.texts),
            "original_tokens_over_emitted": ratios["original_tokens_over_emitted"],
            "emitted_over_canonical": ratios["emitted_over_canonical"]}


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


def read_texts(texts: list[Path] | None) -> list[tuple[Path, str, str, Any]]:
    """(path, language, text, TextChanges) of each held-out file (default: heldout_ru.txt and heldout_en.txt),
    read as every command reads text (lep_core.corpus.text: NFC, LF, no BOM)."""
    from lep_core.corpus.reading import read_corpus
    from lep_core.corpus.text import TextChanges

    contents = []
    for path in [Path(t) for t in (texts or DEFAULT_TEXTS)]:
        if not path.is_file():
            raise LepInputError(f"text file {path} does not exist: pass held-out text files with --text")
        changes = TextChanges()
        text = read_corpus([path], changes=changes)
        contents.append((path, language_of(text), text, changes))
    return contents


def bits_per_char(model, tokenizer, contents: list[tuple[Path, str, str, Any]],
                  tick: Callable[[int, str], None]) -> dict[str, Any]:
    """bits_per_char per language (character-weighted over that language's files) and per file."""
    from lep_core.evaluation.bpc import score_text

    per_file, sums = [], {}
    for k, (path, lang, text, _) in enumerate(contents):
        tick(k, f"bits-per-char on {path.name}")
        score = score_text(model, tokenizer, text, measure_speed=False)
        per_file.append({"file": path.name, "lang": lang, "bits_per_char": score.bits_per_char,
                         "chars_per_token": score.chars_per_token})
        nll, chars = sums.get(lang, (0.0, 0))
        sums[lang] = (nll + score.nll_nats, chars + score.chars)
    return {"bits_per_char": {lang: nll / math.log(2) / chars for lang, (nll, chars) in sums.items()},
            "texts": per_file}


def russian_lines(contents: list[tuple[Path, str, str, Any]], limit: int | None) -> list[str]:
    """The copy and continuation items: sentences of the Russian held-out files (copy_task.heldout_lines),
    at most `limit` of them spread over the text."""
    lines = [line for _, lang, text, _ in contents if lang == "ru" for line in heldout_lines(text)]
    if not lines:
        raise LepInputError("the held-out texts hold no Russian sentence of "
                            f"{MIN_CHARS}-{MAX_CHARS} characters for the copy task: pass Russian text with --text")
    return spread(lines, limit)


def gains(result: dict[str, Any]) -> dict[str, Any]:
    """Adapted over original: bits-per-char ratios, steps saved, copy recall difference, chars/s ratio."""
    o, a = result["original"], result["adapted"]
    out = {f"bits_per_char_{lang}_ratio": a["bits_per_char"][lang] / o["bits_per_char"][lang]
           for lang in a["bits_per_char"] if o["bits_per_char"].get(lang)}
    out["generation_steps_saved"] = a["original_tokens_over_emitted"]
    out["generated_chars_per_s_ratio"] = (a["generated_chars_per_s"] / o["generated_chars_per_s"]
                                          if o["generated_chars_per_s"] else None)
    for task in result.get("tasks", []):
        out[f"{task}_steps_saved"] = a[task]["original_tokens_over_emitted"]
        out[f"{task}_recall_difference"] = a[task]["copy_recall"] - o[task]["copy_recall"]
    return out


def bench_adaptation(original: tuple[Any, Any], adapted: tuple[Any, Any], texts: list[Path] | None = None,
                     prompts: list[str] | None = None, max_new_tokens: int = 64,
                     progress: Progress | None = None, *, tasks: tuple[str, ...] = TASKS,
                     lines: int | None = None, batch_size: int = 8, canonical: bool = False) -> dict[str, Any]:
    """Every figure of the module docstring for two loaded (model, tokenizer) pairs.

    texts: held-out files, each scored as a whole and labelled ru/en by its script (default: the repository's
    heldout_ru.txt and heldout_en.txt); the Russian ones also give the copy and continuation lines (at most
    `lines` of them). prompts: Russian chat prompts (default: assets/demo_prompts.json). tasks: any of
    copy_task.TASKS. batch_size: rows per `generate` call. canonical: both models decode canonically
    (lep_core.evaluation.canonical). Returns {"original": {...}, "adapted": {...}, "gain": {...}}.
    Raises LepInputError for models that do not belong together, a tokenizer larger than its model's
    embeddings, or empty inputs.
    """
    tick = progress or (lambda fraction, message: None)
    (orig_model, orig_tok), (adapt_model, adapt_tok) = original, adapted
    check_pair(orig_model, adapt_model)
    check_tokenizer_fits("original", orig_model, orig_tok)
    check_tokenizer_fits("adapted", adapt_model, adapt_tok)
    from lep_core.corpus.text import count_chars

    contents = read_texts(texts)
    prompts = prompts if prompts is not None else read_prompts(None)
    if not prompts:
        raise LepInputError("no prompts: pass --prompts with at least one prompt")
    if lines is not None and lines < 1:
        raise LepInputError(f"lines must be at least 1 (got {lines}): the tasks need held-out lines")
    if batch_size < 1:
        raise LepInputError(f"batch size must be at least 1 (got {batch_size})")
    unknown = [t for t in tasks if t not in TASKS]
    if unknown:
        raise LepInputError(f"unknown task {unknown[0]!r}: choose from {', '.join(TASKS)}")
    items = russian_lines(contents, lines) if tasks else []
    new_ids = new_vocabulary(adapt_tok, orig_tok)
    result: dict[str, Any] = {"prompts": len(prompts), "max_new_tokens": max_new_tokens, "tasks": list(tasks),
                              "lines": len(items), "batch_size": batch_size, "canonical": canonical,
                              "texts": [{"file": str(p), "lang": lang, "chars": count_chars(t),
                                         "normalised": c.as_dict()} for p, lang, t, c in contents]}
    steps = 2 * (len(contents) + 1 + len(tasks))
    done = 0
    for role, (model, tok) in (("original", original), ("adapted", adapted)):
        own_new = new_ids if role == "adapted" else set()
        at = done
        figures = bits_per_char(model, tok, contents, lambda k, m: tick((at + k) / steps, f"{role}: {m}"))
        done += len(contents)
        decode = canonical_processors(tok) if canonical else None
        tick(done / steps, f"{role}: greedy answers")
        answers = greedy_answers(model, tok, prompts, max_new_tokens, batch_size, decode,
                                 lambda f, m, d=done: tick((d + f) / steps, f"{role}: {m}"))
        done += 1
        result[role] = {**figures, **answer_figures(answers, tok, orig_tok, own_new), "sample_answers": answers.texts[:3]}
        for task in tasks:
            tick(done / steps, f"{role}: {task} task")
            written = run_task(model, tok, task, items, token_budget(orig_tok, task, items), batch_size, decode,
                               lambda k, n, d=done: tick((d + k / n) / steps, f"{role}: {task} {k} of {n}"))
            result[role][task] = task_figures(task, items, written, tok, orig_tok, own_new)
            done += 1
    result["gain"] = gains(result)
    tick(1.0, "done")
    return result
