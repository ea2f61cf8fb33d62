"""`lep bench training`: this trainer vs a plain PyTorch loop doing the same embedding-only training.

Each variant runs in its own process (so peak memory is its own) on the same model, blocks and
batch order; the first step is a warm-up and is not timed;
the variants run twice in the order A B C C B A and the faster run of each counts. Variants:
- lep: this trainer (body requires_grad=False, chunked fused head + cross-entropy, fused AdamW);
- plain, body frozen: HF forward with labels, torch AdamW (default) over the embeddings only;
- plain, body not frozen: the common shortcut, the optimizer holds only the embeddings but
  autograd still computes every body weight's gradient.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

STEPS, BATCH, SEQ, REPEATS = 5, 2, 128, 2
VARIANTS = ("lep", "plain_frozen", "plain_unfrozen")


def _setup(model_dir: str, corpus: list[str]):
    from lep_core.sources.loading import load_tokenizer
    from lep_core.training import data

    tok = load_tokenizer(model_dir)
    return data.text_blocks(tok, corpus, SEQ, 0.0, 0)[0]  # read as `lep train` reads it


def _plain(model_dir: str, corpus: list[str], freeze: bool) -> dict[str, Any]:
    import torch

    from lep_core.sources.loading import load_model
    from lep_core.training import data

    blocks = _setup(model_dir, corpus)
    model = load_model(model_dir)
    if freeze:
        model.requires_grad_(False)
    params = list({id(p): p for p in (model.get_input_embeddings().weight, model.get_output_embeddings().weight)}.values())
    for p in params:
        p.requires_grad_(True)
    opt = torch.optim.AdamW(params, lr=1e-3, betas=(0.9, 0.95), eps=1e-8, weight_decay=0.0)  # as the trainer
    model.train()
    times = []
    for step in range(STEPS):
        t0 = time.perf_counter()
        ids = data.micro_batch(blocks, 0, step, 0, 1, BATCH)
        loss = model(input_ids=ids, labels=ids).loss
        loss.backward()
        opt.step()
        model.zero_grad(set_to_none=True)
        times.append(time.perf_counter() - t0)
    return {"step_s": times[1:], "loss": float(loss)}


def _lep(model_dir: str, corpus: list[str]) -> dict[str, Any]:
    from lep_core.training import job
    from lep_core.training.trainer import train

    with tempfile.TemporaryDirectory() as tmp:
        run = Path(tmp) / "run"
        train({"model": model_dir, "corpus": corpus, "out": str(run), "steps": STEPS, "batch_size": BATCH, "seq_len": SEQ,
               "lr": 1e-3, "warmup": 0, "val_fraction": 0.0, "eval_every": 0, "save_every": 0, "max_grad_norm": 0.0,
               "device": "cpu", "precision": "fp32"})
        rows = job.read_metrics(run)
    elapsed = [r["elapsed_s"] for r in rows]
    return {"step_s": [b - a for a, b in zip(elapsed, elapsed[1:])], "loss": rows[-1]["loss"]}


def _worker(variant: str, model_dir: str, corpus: list[str]) -> None:
    from lep_core.bench.machine import peak_rss_mib

    result = _lep(model_dir, corpus) if variant == "lep" else _plain(model_dir, corpus, variant == "plain_frozen")
    result["peak_rss_mib"] = peak_rss_mib()
    print("RESULT " + json.dumps(result))


def run(model_dir: str | None = None, corpus: list[str] | None = None) -> dict[str, list[dict]]:
    from lep_core.sources.demo import prepare_demo
    from lep_core.workspace.store import workspace_root

    model_dir = model_dir or str(prepare_demo(workspace_root(None)))
    root = Path(__file__).resolve().parents[2]
    corpus = corpus or [str(p) for p in sorted((root / "assets" / "corpus").glob("*.txt"))]
    best: dict[str, dict] = {}
    errors: dict[str, str] = {}
    order = [v for r in range(REPEATS) for v in (VARIANTS if r % 2 == 0 else VARIANTS[::-1])]  # A B C C B A: fair under drifting load
    for variant in order:
        out = subprocess.run([sys.executable, "-m", "lep_core.bench.training", variant, model_dir, *corpus],
                             capture_output=True, text=True, check=False)
        line = next((l for l in out.stdout.splitlines() if l.startswith("RESULT ")), None)
        if line is None:
            errors[variant] = (out.stderr.strip().splitlines() or ["?"])[-1]
            continue
        res = json.loads(line[7:])
        res["median_s"] = sorted(res["step_s"])[len(res["step_s"]) // 2]  # median: robust to a busy machine
        if variant not in best or res["median_s"] < best[variant]["median_s"]:
            best[variant] = res
    rows = []
    for variant in VARIANTS:
        if variant not in best:
            rows.append({"trainer": variant, "error": errors.get(variant, "?")})
            continue
        res, step_s = best[variant], best[variant]["median_s"]
        rows.append({"trainer": variant, "model": Path(model_dir).name, "tokens_per_step": BATCH * SEQ,
                     "s_per_step": round(step_s, 3), "tokens_per_s": round(BATCH * SEQ / step_s, 1),
                     "peak_rss_mib": round(res["peak_rss_mib"], 1), "last_loss": round(res["loss"], 4)})
    base = next((r for r in rows if r["trainer"] == "plain_frozen" and "s_per_step" in r), None)
    for r in rows:
        if base and "s_per_step" in r:
            r["speedup_vs_plain_frozen"] = round(base["s_per_step"] / r["s_per_step"], 2)
    return {"embedding-only training (CPU, fp32)": rows}


if __name__ == "__main__":
    _worker(sys.argv[1], sys.argv[2], sys.argv[3:])
