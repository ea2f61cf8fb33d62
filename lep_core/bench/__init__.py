"""Benchmarks behind `lep bench`: each module has run() -> dict of tables, printed with machine info."""

BENCHES = ("tokenizer", "propagation", "training", "generation")
