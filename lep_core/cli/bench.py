"""`lep bench [tokenizer|propagation|training|generation|adaptation|corpus|app]`: tables printed with machine info.

`adaptation` measures two given models (--original, --adapted), `corpus` generates a large corpus
(--size-mb) and `app` starts the app, a browser and a training job, so they run only when named."""

from __future__ import annotations

import importlib
from pathlib import Path

from lep_core.bench import BENCHES
from lep_core.cli.common import add_json, note_normalisation, positive_int
from lep_core.evaluation.copy_task import TASKS

NAMED_ONLY = ("adaptation", "corpus", "app")


def register(sub) -> None:
    p = sub.add_parser("bench", help="measure speed and memory (all benchmarks when none is named)")
    p.add_argument("which", nargs="*", choices=(*BENCHES, *NAMED_ONLY),
                   help="benchmarks to run (adaptation only when named, with --original and --adapted; corpus only "
                        "when named: it generates a large corpus; app only when named: it starts the app, chromium "
                        "and a training job of the demo model)")
    p.add_argument("--original", help="adaptation: the original instruct model (folder, .gguf file or hub id)")
    p.add_argument("--adapted", help="adaptation: the adapted model")
    p.add_argument("--text", nargs="+", help="adaptation: held-out text files, each labelled ru/en by its script "
                   "(default: assets/heldout_ru.txt and assets/heldout_en.txt)")
    p.add_argument("--prompts", help="adaptation: Russian prompts, a JSON list or one a line "
                   "(default: assets/demo_prompts.json)")
    p.add_argument("--max-new-tokens", type=positive_int, default=64,
                   help="adaptation: reply length limit, the same for both models (default 64)")
    p.add_argument("--tasks", nargs="*", choices=TASKS, default=list(TASKS),
                   help="adaptation: the tasks on held-out Russian lines (default: copy continue; none: --tasks "
                        "with no name): copy recall, exact copies, steps saved, new tokens written")
    p.add_argument("--lines", type=positive_int,
                   help="adaptation: at most this many held-out lines for the tasks, spread over the text (default: all "
                        "sentences of 40-200 characters of the Russian --text files)")
    p.add_argument("--batch-size", type=positive_int, default=8,
                   help="adaptation: replies generated together (default 8; 1 = one at a time, single-stream chars/s)")
    p.add_argument("--canonical", action="store_true",
                   help="adaptation: both models decode canonically (never a spelling their tokenizer would not write)")
    p.add_argument("--save", action="store_true",
                   help="adaptation: write the figures to ADAPTED/adaptation.json and refresh its model card")
    p.add_argument("--size-mb", type=positive_int, default=1024,
                   help="corpus: size of the generated corpus in MB (default 1024; written to a temporary folder)")
    p.add_argument("--tmp-dir", help="corpus: where the generated corpus goes (default: the system's temporary folder)")
    p.add_argument("--seconds", type=positive_int, default=60,
                   help="app: length of each idle CPU window in seconds (default 60)")
    p.add_argument("--tries", type=positive_int, default=5,
                   help="app: second tabs opened while the training job runs (default 5)")
    p.add_argument("--only", choices=("idle", "second_tab"),
                   help="app: run one of its two measurements (default both)")
    add_json(p)
    p.set_defaults(func=run)


def format_table(rows: list[dict]) -> str:
    if not rows:
        return "(no rows)"
    cols = list(rows[0])
    cells = [[f"{r.get(c):.4g}" if isinstance(r.get(c), float) else str(r.get(c)) for c in cols] for r in rows]
    widths = [max(len(c), *(len(row[i]) for row in cells)) for i, c in enumerate(cols)]
    lines = ["  ".join(c.ljust(w) for c, w in zip(cols, widths)), "  ".join("-" * w for w in widths)]
    lines += ["  ".join(v.ljust(w) for v, w in zip(row, widths)) for row in cells]
    return "\n".join(lines)


def _adaptation(args) -> dict:
    from lep_core.bench import adaptation
    from lep_core.cli.progress import bar
    from lep_core.errors import LepInputError

    if not args.original or not args.adapted:
        raise LepInputError("`lep bench adaptation` needs --original and --adapted models")
    if args.save and not Path(args.adapted).is_dir():
        raise LepInputError(f"--save writes beside the adapted model, but {args.adapted} is not a local folder")
    with bar(1000, "adaptation") as update:
        result = adaptation.run(args.original, args.adapted, args.text, args.prompts, args.max_new_tokens,
                                lambda fraction, message: update(int(fraction * 1000), 1000),
                                tasks=tuple(args.tasks), lines=args.lines, batch_size=args.batch_size,
                                canonical=args.canonical)
    from lep_core.corpus.text import TextChanges

    changes = TextChanges()
    for text in result["texts"]:
        changes.add(TextChanges(**text["normalised"]))
    note_normalisation(changes)
    if args.save:
        result["saved"] = str(adaptation.save_beside(args.adapted, result))
    return result if args.json else adaptation.tables(result)


def run(args) -> dict | None:
    from lep_core.bench.machine import machine_info

    results = {"machine": machine_info()}
    for name in args.which or BENCHES:
        if name == "adaptation":
            results[name] = _adaptation(args)
            continue
        module = importlib.import_module(f"lep_core.bench.{name}")
        if name == "corpus":
            results[name] = module.run(args.size_mb, folder=args.tmp_dir)
        elif name == "app":
            results[name] = module.run(args.seconds, args.tries, (args.only,) if args.only else ("idle", "second_tab"))
        else:
            results[name] = module.run()
        if not args.json:
            print(f"\n== {name} ==")
            for table, rows in results[name].items():
                print(f"-- {table}\n{format_table(rows if isinstance(rows, list) else [rows])}")
    if args.json:
        return results
    print("\nmachine: " + ", ".join(f"{k}={v}" for k, v in results["machine"].items()))
    return None
