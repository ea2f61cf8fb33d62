"""`lep eval` (bits-per-char, chars/token, prefill chars/s) and `lep compare` (two replies side by side)."""

from __future__ import annotations

from lep_core.cli import eval_suite
from lep_core.cli.common import add_allow_pickle, add_json, positive_int, with_normalisation


def register(sub) -> None:
    p = sub.add_parser("eval", help="bits-per-char, chars/token and prefill speed of a model on a text")
    p.add_argument("--model", help="model: folder, .gguf file or hub id (required)")
    p.add_argument("--text", nargs="+", help="held-out text files (.txt/.jsonl/.parquet or folders) (required)")
    p.add_argument("--window", type=positive_int, default=1024, help="tokens per scoring window (capped by the context)")
    add_allow_pickle(p)
    add_json(p)
    p.set_defaults(func=run_eval)
    eval_suite.register(p)  # `lep eval suite ...`

    c = sub.add_parser("compare", help="one prompt to the original and the adapted model, both replies with speed")
    c.add_argument("--original", required=True, help="original model: folder, .gguf file or hub id")
    c.add_argument("--adapted", required=True, help="adapted model: folder, .gguf file or hub id")
    c.add_argument("--prompt", required=True, help="the user message")
    c.add_argument("--max-new-tokens", type=positive_int, default=128, help="reply length limit (default 128)")
    c.add_argument("--sample", action="store_true", help="sample (temperature, top-p) instead of greedy decoding")
    c.add_argument("--temperature", type=float, default=0.7)
    c.add_argument("--top-p", type=float, default=0.9)
    c.add_argument("--seed", type=int, default=0, help="seed, the same for both models")
    c.add_argument("--canonical", action="store_true",
                   help="canonical decoding: never emit a spelling the model's own tokenizer would not write")
    c.add_argument("--allow-plain", action="store_true",
                   help="let a model without a chat template continue the prompt as plain text")
    add_allow_pickle(c)
    add_json(c)
    c.set_defaults(func=run_compare)


def run_eval(args) -> dict:
    from lep_core.corpus.reading import read_corpus
    from lep_core.corpus.text import TextChanges
    from lep_core.errors import LepInputError
    from lep_core.evaluation.bpc import score_text
    from lep_core.evaluation.models import ModelCache

    if not args.model or not args.text:
        raise LepInputError("lep eval needs --model and --text (or `lep eval suite --model ...`)")
    changes = TextChanges()
    text = read_corpus(args.text, changes=changes)
    model, tokenizer = ModelCache(capacity=1).get(args.model)
    return with_normalisation(score_text(model, tokenizer, text, window=args.window).as_dict(), changes)


def run_compare(args) -> dict:
    from lep_core.errors import LepInputError
    from lep_core.evaluation.figures import reply_steps
    from lep_core.evaluation.generation import Sampling, generate_reply
    from lep_core.evaluation.models import ModelCache

    if not args.prompt.strip():
        raise LepInputError("the prompt is empty: pass --prompt with some text")
    sampling = Sampling(max_new_tokens=args.max_new_tokens, greedy=not args.sample,
                        temperature=args.temperature, top_p=args.top_p, seed=args.seed, canonical=args.canonical)
    cache = ModelCache(capacity=2)
    pairs = {role: cache.get(src) for role, src in (("original", args.original), ("adapted", args.adapted))}
    messages = [{"role": "user", "content": args.prompt}]
    out: dict = {"prompt": args.prompt, "sampling": sampling.as_dict()}
    for role, (model, tokenizer) in pairs.items():
        reply = generate_reply(model, tokenizer, messages, sampling, allow_plain=args.allow_plain)
        out[role] = {"model": getattr(args, role), **reply.as_dict(),
                     **reply_steps(reply, tokenizer, pairs["original"][1])}
    return out
