"""Chaos: every command that writes an artefact is SIGKILLed at five points while it writes (issue 26).

The pipeline of the demo, on the tiny Mistral (a 600-token SentencePiece-style BPE: fast to load): tokenizer extend -> model init -> train -> propagate -> calibrate ->
export gguf, in a workspace. Each command is attempted six times on the same output: five attempts die by SIGKILL
at a named point of the write path (LEP_TEST_KILL_AT, honoured only when set), each later attempt being a rerun without --overwrite (a
train or calibrate rerun continues with --resume once there is a checkpoint), and the sixth runs to the end.
After every attempt: every input file is byte-identical, and the output is absent or complete and loadable
(a run folder: every checkpoint and final/ load); after the last, no leftover of the killed writes remains.
The real processes run in tests/chaos.py (forked from one interpreter that imported the libraries once).
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
ASSETS = ROOT / "assets"


def _plan(ws: Path, corpus: Path, prompts: Path) -> list[dict]:
    base, tok, model = ws / "models/base", ws / "tokenizers/ru", ws / "models/ru"
    run, adapted, calib, gguf = ws / "runs/ru", ws / "adapted/ru", ws / "runs/calib", ws / "exports/ru-f16.gguf"
    cpu = ["--device", "cpu"]
    return [
        {"name": "tokenizer extend", "check": "tokenizer", "out": str(tok), "inputs": [str(base), str(corpus)],
         "argv": ["tokenizer", "extend", "--base", str(base), "--corpus", str(corpus), "--add", "40", "--out", str(tok)],
         # the folder made; the base's files in it (it would look like a tokenizer); its manifest; before and after
         # the rename
         "attempts": [{"kill": "tmp-begun"}, {"kill": "files-written"}, {"kill": "text-written#1"},
                      {"kill": "tmp-written"}, {"kill": "swapped"}, {}]},
        {"name": "model init", "check": "model", "out": str(model), "inputs": [str(base), str(tok)],
         "argv": ["model", "init", "--model", str(base), "--tokenizer", str(tok), "--out", str(model)],
         "attempts": [{"kill": "tmp-begun"}, {"kill": "files-written"}, {"kill": "text-written#1"},
                      {"kill": "tmp-written"}, {"kill": "swapped"}, {}]},  # files-written: weights, no tokenizer yet
        {"name": "train", "check": "run", "out": str(run), "inputs": [str(model), str(corpus)],
         "resume_if": "checkpoints/step-*/meta.json",
         "argv": ["train", "--model", str(model), "--corpus", str(corpus), "--out", str(run), "--steps", "3",
                  "--batch-size", "2", "--seq-len", "32", "--save-every", "1", "--eval-every", "0",
                  "--precision", "fp32", *cpu],
         # fresh (killed before any checkpoint) twice, then resumed from a checkpoint: mid-checkpoint, mid-final/,
         # and between the two renames that replace a checkpoint (its old copy aside)
         "attempts": [{"kill": "text-written#2"}, {"kill": "tmp-written#1"}, {"kill": "tmp-begun#2"},
                      {"kill": "tmp-begun#3"}, {"kill": "old-aside#1"}, {}]},
        {"name": "propagate", "check": "model", "out": str(adapted), "inputs": [str(base), str(run / "final")],
         "argv": ["propagate", "--base", str(base), "--instruct", str(base), "--adapted", str(run / "final"),
                  "--out", str(adapted), *cpu],
         "attempts": [{"kill": "tmp-begun"}, {"kill": "files-written"}, {"kill": "text-written#1"},
                      {"kill": "tmp-written"}, {"kill": "swapped"}, {}]},  # files-written: shards, no config.json yet
        {"name": "calibrate", "check": "run", "out": str(calib), "inputs": [str(adapted), str(base), str(prompts)],
         "resume_if": "calibration.json", "also": [{"out": str(ws / "data/calib-answers"), "check": "answers"}],
         "argv": ["calibrate", "--model", str(adapted), "--original", str(base), "--prompts", str(prompts),
                  "--max-new-tokens", "4", "--steps", "2", "--save-every", "1", "--eval-every", "0",
                  "--batch-size", "1", "--seq-len", "96", "--precision", "fp32", "--out", str(calib), *cpu],
         # while the original model answers (its journal), at the answers' rename, mid-checkpoint, mid-final/
         "attempts": [{"kill": "text-written#3"}, {"kill": "text-written#2"}, {"kill": "tmp-begun#1"},
                      {"kill": "tmp-written#1"}, {"kill": "tmp-begun#2"}, {}]},
        {"name": "export gguf", "check": "gguf", "out": str(gguf), "inputs": [str(adapted)],
         "refreshed": ["lep.json", "README.md"],  # the finished export notes itself in the model's manifest and card
         "argv": ["export", "gguf", "--model", str(adapted), "--out", str(gguf), "--type", "f16"],
         # before the converter, while it writes (the converter dies with the export), before the renames, and
         # between the Modelfile's rename and the .gguf's
         "attempts": [{"kill": "tmp-begun#2"}, {"kill": "converter-writing"}, {"kill": "tmp-written#1"},
                      {"kill": "swapped#1"}, {"kill": "swapped#2"}, {}]},
    ]


def test_sigkill_at_five_points_per_command_leaves_inputs_intact_and_no_half_artefact(tiny_mistral, tmp_path):
    ws = tmp_path / "ws"
    shutil.copytree(tiny_mistral, ws / "models" / "base")
    corpus = ws / "corpora" / "ru.txt"
    corpus.parent.mkdir(parents=True)
    corpus.write_text((ASSETS / "corpus" / "01_dialogues.txt").read_text(encoding="utf-8")[:8000], encoding="utf-8")
    prompts = ws / "corpora" / "prompts.txt"
    prompts.write_text("Привет! Как дела?\nНазови столицу России.\n", encoding="utf-8")
    plan = _plan(ws, corpus, prompts)
    (tmp_path / "plan.json").write_text(json.dumps(plan), encoding="utf-8")
    started = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "tests.chaos", str(tmp_path / "plan.json"), str(tmp_path / "result.json")],
                          cwd=ROOT, capture_output=True, text=True, timeout=900,
                          env={**__import__("os").environ, "LEP_WORKSPACE": str(ws), "LEP_TOKEN_CACHE": str(tmp_path / "cache")})
    assert proc.returncode == 0, proc.stderr[-3000:]
    result = json.loads((tmp_path / "result.json").read_text(encoding="utf-8"))
    kills = half = changed = 0
    lines = []
    for command in result["commands"]:
        *killed, last = command["attempts"]
        for row in killed:
            assert row["exit"] == -9, f"{command['name']} {row['attempt']}: not killed (exit {row['exit']}): {row['log_tail']}"
            assert row["output"] in ("absent", "complete", "partial", "orphan-modelfile"), (command["name"], row)
        assert last["exit"] == 0, f"{command['name']}: the rerun failed: {last['log_tail']}"
        assert last["output"] == "complete", (command["name"], last)
        assert last["leftovers"] == [], (command["name"], last["leftovers"])
        kills += len(killed)
        half += sum(r["output"] == "HALF" for r in command["attempts"])
        changed += sum(len(r["inputs_changed"]) for r in command["attempts"])
        lines.append(f"{command['name']}: " + ", ".join(f"{r['attempt'].get('kill') or r['attempt'].get('after_s', 'end')}"
                                                         f"->{r['output']}" for r in command["attempts"]))
    print(f"\nchaos: {kills} kill points, inputs changed {changed}, half artefacts {half}, "
          f"{time.perf_counter() - started:.0f} s (imports {result['preload_s']} s)\n" + "\n".join(lines))
    assert kills == 30 and changed == 0 and half == 0
