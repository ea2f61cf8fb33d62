"""`lep bench [tokenizer|propagation|training|generation]`: tables printed with machine info."""

from __future__ import annotations

import importlib

from lep_core.bench import BENCHES
from lep_core.cli.common import add_json


def register(sub) -> None:
    p = sub.add_parser("bench", help="measure speed and memory (all benchmarks when none is named)")
    p.add_argument("which", nargs="*", choices=BENCHES, help="benchmarks to run")
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


def run(args) -> dict | None:
    from lep_core.bench.machine import machine_info

    results = {"machine": machine_info()}
    for name in args.which or BENCHES:
        results[name] = importlib.import_module(f"lep_core.bench.{name}").run()
        if not args.json:
            print(f"\n== {name} ==")
            for table, rows in results[name].items():
                print(f"-- {table}\n{format_table(rows if isinstance(rows, list) else [rows])}")
    if args.json:
        return results
    print("\nmachine: " + ", ".join(f"{k}={v}" for k, v in results["machine"].items()))
    return None
