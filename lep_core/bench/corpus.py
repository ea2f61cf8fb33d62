"""`lep bench corpus`: extension and training start-up on a practitioner-sized corpus (default 1 GB).

The corpus is generated into a temporary folder (deleted afterwards): words of assets/corpus plus new word
forms (their stems with other Russian endings), numbers, dates and Latin words, drawn with a seeded RNG from a
Zipf distribution and cut into sentences and paragraphs, so the number of distinct pre-tokens grows with the
size as in real text (not one file repeated). With the demo tokenizer it measures, each in its own process
(peak RSS is that process's, its worker processes' peak beside it):
- `lep tokenizer extend --add 3000` next to the tokenizers library's BpeTrainer learning as many merges
  from the same file with the same normalizer and pre-tokenizer;
- `lep train --steps 1 --batch-size 1 --seq-len 64`: on the demo corpus (the model's own footprint), then on
  the big corpus with an empty token cache (first start: tokenizes) and again (second start: cache reused),
  and --resume of that run.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

ADD, SEQ, SEED = 3000, 64, 0
ROOT = Path(__file__).resolve().parents[2]
ENDINGS = ("а", "ы", "е", "у", "ой", "ою", "ом", "ам", "ами", "ах", "ов", "ев", "ей", "ий", "ый", "ая", "ое", "ие",
           "ые", "ого", "его", "ому", "ему", "ым", "им", "ых", "их", "ть", "ет", "ит", "ют", "ят", "ла", "ли", "ло",
           "ешь", "ишь", "ем", "ете", "ите", "ться", "лся", "лась", "ость", "ение", "ания", "ский", "ская", "ство")


def _vocabulary() -> tuple[list[str], Any]:
    """Word forms by rank (corpus words first, then generated forms, Latin words) and Zipf weights."""
    import numpy as np

    text = "\n".join(p.read_text(encoding="utf-8") for p in sorted((ROOT / "assets" / "corpus").glob("*.txt")))
    words = re.findall(r"[\u0400-\u04FF]+", text)
    ranked = [w for w, _ in Counter(words).most_common()]
    stems = sorted({w[:-k] for w in ranked if len(w) >= 5 for k in (1, 2, 3)})
    forms = sorted({s + e for s in stems for e in ENDINGS} - set(ranked))
    rng = np.random.default_rng(SEED)
    rng.shuffle(forms)
    latin = sorted(set(re.findall(r"[A-Za-z]+", (ROOT / "assets" / "heldout_en.txt").read_text(encoding="utf-8"))))
    vocab = ranked + latin + forms  # Latin words rarer than the corpus's own, generated forms rarer still
    weights = 1.0 / (np.arange(len(vocab)) + 2.7) ** 1.0
    return vocab, weights / weights.sum()


def generate(folder: Path, size_mb: float, seed: int = SEED) -> Path:
    """Write about size_mb MB of varied Russian-like text to folder/corpus.txt (seeded: the same file each time)."""
    import numpy as np

    vocab, p = _vocabulary()
    cdf = np.cumsum(p)
    rng = np.random.default_rng(seed)
    path = folder / "corpus.txt"
    target = int(size_mb * 2**20)
    written = 0
    marks = np.array([" ", " ", " ", " ", " ", " ", " ", ", ", ". ", ".\n"])
    with open(path, "w", encoding="utf-8") as f:
        while written < target:
            n = 200_000
            idx = np.minimum(np.searchsorted(cdf, rng.random(n)), len(vocab) - 1)
            tokens = [vocab[i] for i in idx]
            numbers = rng.random(n) < 0.02  # numbers and dates, as real text has them
            for k in np.nonzero(numbers)[0]:
                tokens[k] = (str(int(rng.integers(1, 10**6))) if rng.random() < 0.7
                             else f"{int(rng.integers(1, 29)):02d}.{int(rng.integers(1, 13)):02d}.{int(rng.integers(1900, 2030))}")
            seps = marks[rng.integers(0, len(marks), n)]
            chunk = "".join(t + s for t, s in zip(tokens, seps))
            f.write(chunk)
            written = f.tell()
    return path


def _peak() -> dict[str, float]:
    """Peak RSS of this process and of its largest worker; CPU seconds of both (wall is unfair on a busy machine)."""
    import resource

    me, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return {"cpu_s": round(me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime, 1),
            "peak_rss_mib": round(me.ru_maxrss / 1024, 1), "workers_peak_rss_mib": round(kids.ru_maxrss / 1024, 1)}


def _measure(what: str, args: list[str]) -> dict[str, Any]:
    """One measurement in this (child) process: wall seconds and peak RSS."""
    start = time.perf_counter()
    if what == "extend":
        from lep_core.tokenizer.extend import extend_tokenizer

        model, corpus, out = args
        result = extend_tokenizer(model, [corpus], ADD, out)
        extra = {k: result[k] for k in ("added", "distinct_learnable_pretokens", "count_workers", "stats_chars", "corpus_bytes")}
    elif what == "bpe":
        from tokenizers import Tokenizer, models, pre_tokenizers, trainers

        from lep_core.sources.loading import load_tokenizer

        model, corpus = args
        base = load_tokenizer(model).backend_tokenizer
        tok = Tokenizer(models.BPE())
        tok.normalizer, tok.pre_tokenizer = base.normalizer, base.pre_tokenizer
        alphabet = pre_tokenizers.ByteLevel.alphabet()
        tok.train([corpus], trainers.BpeTrainer(vocab_size=len(alphabet) + ADD, initial_alphabet=alphabet,
                                                show_progress=False))
        extra = {"vocab": tok.get_vocab_size()}
    else:  # train, resume
        from lep_core.training.trainer import train

        model, corpus, out = args
        given = {"model": model, "corpus": [corpus], "out": out, "steps": 1 if what == "train" else 2, "batch_size": 1,
                 "seq_len": SEQ, "device": "cpu", "precision": "fp32", "eval_every": 0, "save_every": 1}
        result = train(given, resume=what == "resume")
        status = json.loads((Path(out) / "status.json").read_text(encoding="utf-8"))
        cache = (status.get("data") or {}).get("token_cache") or {}
        extra = {"state": result.get("state"), "cache_reused": cache.get("reused")}
    return {"wall_s": round(time.perf_counter() - start, 2), **_peak(), **extra}


def _child(what: str, *args: str, env: dict[str, str] | None = None) -> dict[str, Any]:
    out = subprocess.run([sys.executable, "-m", "lep_core.bench.corpus", what, *args], capture_output=True, text=True,
                         check=False, env={**os.environ, **(env or {})})
    line = next((ln for ln in out.stdout.splitlines() if ln.startswith("RESULT ")), None)
    if line is None:
        return {"error": (out.stderr.strip().splitlines() or ["?"])[-1]}
    return json.loads(line[7:])


def run(size_mb: float = 1024, model_dir: str | None = None, folder: str | None = None) -> dict[str, list[dict]]:
    """Generate the corpus (in `folder`, else a temporary folder that is deleted) and measure; returns tables."""
    from lep_core.sources.demo import prepare_demo
    from lep_core.workspace.store import workspace_root

    model_dir = model_dir or str(prepare_demo(workspace_root(None)))
    demo_corpus = sorted((ROOT / "assets" / "corpus").glob("*.txt"))
    with tempfile.TemporaryDirectory(dir=folder) as tmp:
        tmp_p = Path(tmp)
        t0 = time.perf_counter()
        corpus = generate(tmp_p, size_mb)
        gen_s = time.perf_counter() - t0
        mb = round(corpus.stat().st_size / 2**20, 1)
        ext = _child("extend", model_dir, str(corpus), str(tmp_p / "extended"))
        bpe = _child("bpe", model_dir, str(corpus))
        learn = [{"what": "lep tokenizer extend --add 3000", "corpus_mb": mb, **ext},
                 {"what": "tokenizers BpeTrainer (+3000 merges)", "corpus_mb": mb, **bpe}]
        if "wall_s" in ext and "wall_s" in bpe:
            learn[0]["x_bpe_trainer"] = round(ext["wall_s"] / bpe["wall_s"], 2)
        small = tmp_p / "demo.txt"
        small.write_text("\n".join(p.read_text(encoding="utf-8") for p in demo_corpus), encoding="utf-8")
        env = {"LEP_TOKEN_CACHE": str(tmp_p / "cache")}
        rows = [{"start": "demo corpus (the model's own footprint)", "corpus_mb": round(small.stat().st_size / 2**20, 2),
                 **_child("train", model_dir, str(small), str(tmp_p / "run0"), env=env)},
                {"start": "first (tokenizes into the cache)", "corpus_mb": mb,
                 **_child("train", model_dir, str(corpus), str(tmp_p / "run1"), env=env)},
                {"start": "second (cache reused)", "corpus_mb": mb,
                 **_child("train", model_dir, str(corpus), str(tmp_p / "run2"), env=env)},
                {"start": "--resume of the second", "corpus_mb": mb,
                 **_child("resume", model_dir, str(corpus), str(tmp_p / "run2"), env=env)}]
        base = rows[0].get("peak_rss_mib")
        for r in rows[1:]:
            if base and "peak_rss_mib" in r:
                r["above_model_mib"] = round(r["peak_rss_mib"] - base, 1)
    return {f"generated corpus ({mb} MB in {gen_s:.0f} s): new tokens": learn,
            "lep train --steps 1 --batch-size 1 --seq-len 64 (CPU): start-up": rows}


if __name__ == "__main__":
    print("RESULT " + json.dumps(_measure(sys.argv[1], sys.argv[2:])))
