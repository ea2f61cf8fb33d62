"""`lep bench propagation`: this implementation vs a straightforward one, and an 8B-shaped run.

1. demo size (the demo model's real 49k x 576 embeddings, its tokenizer extended with Russian tokens,
   a synthetic instruct model I = B·Q + noise): vectorised decomposition + chunked float64 Gram fit
   vs a Python loop that encodes and averages one token at a time, then torch.linalg.lstsq. Both
   produce A·P; the table gives seconds, speed-up and their relative difference.
2. 8B-shaped (Llama-3 sizes: 128,256 x 4,096, untied, bf16, random values, a random 128k-row
   decomposition with 1-4 old tokens per row), stored as safetensors in a temporary folder; the
   propagation runs in a child process so its peak RSS is its own.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

REPO_ASSETS = Path(__file__).resolve().parents[2] / "assets"
BIG_V, BIG_D = 128_256, 4_096


# ---------- 1. demo size: vectorised vs naive ----------

def naive_propagate(new_tok, old_tok, b: torch.Tensor, i: torch.Tensor, a: torch.Tensor) -> torch.Tensor:
    """The straightforward way: one token at a time, then a dense float64 lstsq."""
    from lep_core.embeddings.decomposition import ANCHOR
    from lep_core.tokenizer.vocab import piece_bytes, shape_of

    old_vocab = old_tok.get_vocab()
    family, same = shape_of(new_tok).family, shape_of(new_tok).family == shape_of(old_tok).family
    anchor = old_tok.encode(ANCHOR, add_special_tokens=False)
    added = set(new_tok.added_tokens_decoder)
    xs, ys = [], []
    for u in range(len(new_tok)):
        piece = new_tok.convert_ids_to_tokens(u)
        if (same or u in added) and piece in old_vocab:
            ids = [old_vocab[piece]]
        else:
            text = piece_bytes(piece, family).decode("utf-8", errors="replace")
            ids = old_tok.encode(ANCHOR + text, add_special_tokens=False)[len(anchor):]
        xs.append(b[ids].mean(0))
        ys.append(i[ids].mean(0))
    x, y = torch.stack(xs).double(), torch.stack(ys).double()
    p = torch.linalg.lstsq(x, y).solution
    return (a.double() @ p).to(a.dtype)


def ours(new_tok, old_tok, b: torch.Tensor, i: torch.Tensor, a: torch.Tensor) -> tuple[torch.Tensor, dict]:
    from lep_core.propagation.fit import apply_projection, fit_projection
    from lep_core.propagation.fitting_rows import FittingRows
    from lep_core.propagation.modes import Mode

    mix = FittingRows(new_tok, old_tok, b.shape[0]).for_mode(Mode.conversion)
    fit = fit_projection(mix, b, i)
    return apply_projection(a, fit.p), fit.report.as_dict()


def demo_case() -> list[dict]:
    from lep_core.corpus.reading import read_corpus
    from lep_core.propagation.embeddings_io import open_model
    from lep_core.sources.demo import DEMO_MODEL_NAME
    from lep_core.sources.loading import load_tokenizer
    from lep_core.tokenizer.extend import build_extended_tokenizer, learn_extension
    from lep_core.workspace.store import kind_dir

    demo = kind_dir("model") / DEMO_MODEL_NAME
    corpus = sorted((REPO_ASSETS / "corpus").glob("*.txt"))
    if not demo.is_dir() or not corpus:
        return [{"case": "demo size", "note": "skipped: run `lep prepare-demo` (and keep assets/corpus) first"}]
    old_tok = load_tokenizer(demo)
    new_tok = build_extended_tokenizer(old_tok, learn_extension(old_tok, read_corpus(corpus), 2000))
    b = open_model(demo).read("input").float()
    g = torch.Generator().manual_seed(0)
    q = torch.eye(b.shape[1]) + 0.1 * torch.randn(b.shape[1], b.shape[1], generator=g) / b.shape[1] ** 0.5
    i = b @ q + 1e-3 * b.std() * torch.randn(b.shape, generator=g)
    a = torch.cat([b, b[: len(new_tok) - b.shape[0]]]) + 0.3 * b.std() * torch.randn(len(new_tok), b.shape[1], generator=g)
    t0 = time.perf_counter()
    fast, report = ours(new_tok, old_tok, b, i, a)
    t1 = time.perf_counter()
    slow = naive_propagate(new_tok, old_tok, b, i, a)
    t2 = time.perf_counter()
    diff = float(torch.linalg.norm(fast.double() - slow.double()) / torch.linalg.norm(slow.double()))
    shape = f"{len(new_tok)} x {b.shape[1]} (old {b.shape[0]})"
    return [
        {"case": "demo size", "implementation": "lep (vectorised; float32 products, float64 Gram)", "shape": shape,
         "seconds": round(t1 - t0, 3), "speedup": round((t2 - t1) / (t1 - t0), 1), "rel_diff": diff,
         "heldout_rel_error": report["heldout_rel_error"]},
        {"case": "demo size", "implementation": "naive (per-token loop + lstsq)", "shape": shape,
         "seconds": round(t2 - t1, 3), "speedup": 1.0, "rel_diff": 0.0, "heldout_rel_error": None},
    ]


# ---------- 2. 8B-shaped ----------

def _write_model(folder: Path, seed: int, v: int, d: int, base: dict[str, torch.Tensor] | None = None) -> None:
    from safetensors.torch import save_file

    folder.mkdir(parents=True)
    g = torch.Generator().manual_seed(seed)
    tensors = {}
    for name in ("model.embed_tokens.weight", "lm_head.weight"):
        tensors[name] = (0.02 * torch.randn(v, d, generator=g)).to(torch.bfloat16)
    tensors["model.norm.weight"] = torch.ones(d, dtype=torch.bfloat16)
    save_file(tensors, str(folder / "model.safetensors"), metadata={"format": "pt"})
    config = {"model_type": "llama", "hidden_size": d, "vocab_size": v, "tie_word_embeddings": False,
              "num_hidden_layers": 32, "intermediate_size": 14336, "num_attention_heads": 32}
    (folder / "config.json").write_text(json.dumps(config))


def big_child(root: str) -> None:
    """Runs in a child process: read, fit both sides, apply, write; prints timings and peak RSS as JSON."""
    from lep_core.bench.machine import peak_rss_mib
    from lep_core.propagation.embeddings_io import open_model, write_model
    from lep_core.propagation.fit import apply_projection, fit_projection
    from lep_core.propagation.rows import RowMix

    folder = Path(root)
    t0 = time.perf_counter()
    g = torch.Generator().manual_seed(1)
    lengths = torch.randint(1, 5, (BIG_V,), generator=g)
    crow = torch.zeros(BIG_V + 1, dtype=torch.int64)
    crow[1:] = torch.cumsum(lengths, 0)
    cols = torch.randint(0, BIG_V, (int(crow[-1]),), generator=g)
    mix = RowMix(crow, cols, (1.0 / lengths.double()).repeat_interleave(lengths), BIG_V)
    base, inst, adapted = (open_model(folder / n) for n in ("base", "instruct", "adapted"))
    result = {"decomposition_s": round(time.perf_counter() - t0, 2)}
    replace = {}
    for side in ("input", "output"):
        t = time.perf_counter()
        fit = fit_projection(mix, base.read(side), inst.read(side))
        replace[inst.tensor_name(side)] = apply_projection(adapted.read(side), fit.p)
        result[f"{side}_s"] = round(time.perf_counter() - t, 2)
    t = time.perf_counter()
    write_model(inst, folder / "out", replace, {"vocab_size": BIG_V})
    result["write_s"] = round(time.perf_counter() - t, 2)
    result["total_s"] = round(time.perf_counter() - t0, 2)
    result["peak_rss_mib"] = round(peak_rss_mib())
    print(json.dumps(result))


def big_case() -> list[dict]:
    with tempfile.TemporaryDirectory(prefix="lep-bench-8b-") as tmp:
        root = Path(tmp)
        for seed, name in enumerate(("base", "instruct", "adapted")):
            _write_model(root / name, seed, BIG_V, BIG_D)
        code = f"from lep_core.bench.propagation import big_child; big_child({str(root)!r})"
        proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                              env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])})
        if proc.returncode != 0:
            return [{"case": "8B-shaped", "note": "failed: " + (proc.stderr.strip().splitlines() or ["?"])[-1]}]
        result = json.loads(proc.stdout.strip().splitlines()[-1])
    return [{"case": "8B-shaped", "shape": f"{BIG_V} x {BIG_D} bf16 untied", **result,
             "under_16_gb": result["peak_rss_mib"] < 16 * 1024}]


def run() -> dict[str, list[dict]]:
    tables = {"demo_size": demo_case()}
    if os.environ.get("LEP_BENCH_SKIP_8B") != "1":
        tables["8b_shaped"] = big_case()
    return tables
