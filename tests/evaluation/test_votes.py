"""Votes: appended safely by concurrent writers, read back after a 'restart', tallied per model pair."""

from __future__ import annotations

import json
import multiprocessing as mp
import threading

import pytest

from lep_core.errors import LepInputError
from lep_core.evaluation.votes import append_vote, make_vote, read_votes, tally, votes_path

SAMPLING = {"greedy": True, "seed": 0, "max_new_tokens": 8}


def vote(choice: str, a: str = "orig", b: str = "adapted", tag: str = "") -> dict:
    roles = {"A": "original" if a == "orig" else "adapted", "B": "adapted" if b == "adapted" else "original"}
    return make_vote(choice, {"A": a, "B": b}, roles, f"prompt {tag}", {"A": "x" * 500, "B": "y" * 500}, SAMPLING)


def _writer(path: str, worker: int, count: int) -> None:
    for i in range(count):
        append_vote(path, vote("A" if i % 2 else "tie", tag=f"{worker}-{i}"))


def test_concurrent_processes_and_threads_lose_no_vote(tmp_path):
    path = votes_path(tmp_path, "demo")
    assert path == tmp_path.resolve() / "evals" / "demo" / "votes.jsonl"
    ctx = mp.get_context("fork")
    procs = [ctx.Process(target=_writer, args=(str(path), w, 40)) for w in range(4)]
    threads = [threading.Thread(target=_writer, args=(str(path), 10 + w, 40)) for w in range(3)]
    for job in procs + threads:
        job.start()
    for job in procs + threads:
        job.join()
    assert all(p.exitcode == 0 for p in procs)
    lines = path.read_text(encoding="utf-8").splitlines()
    assert len(lines) == 7 * 40
    prompts = {json.loads(line)["prompt"] for line in lines}  # every line is whole JSON
    assert len(prompts) == 7 * 40
    assert len(read_votes(path)) == 280


def test_votes_survive_restart_and_tally_folds_side_swaps(tmp_path):
    path = votes_path(tmp_path)
    append_vote(path, vote("A"))  # orig on A wins
    append_vote(path, vote("B", a="adapted", b="orig"))  # orig on B wins
    append_vote(path, vote("A", a="adapted", b="orig"))  # adapted wins
    append_vote(path, vote("tie"))
    append_vote(path, vote("both_bad"))
    with open(path, "ab") as f:  # a crashed writer's half line is skipped, and the next vote starts fresh
        f.write(b'{"choice": "A", "mod')
    append_vote(path, vote("tie", a="m1", b="m2"))
    votes = read_votes(path)  # a fresh read, as a restarted app does
    assert len(votes) == 6
    rows = {(r["model_1"], r["model_2"]): r for r in tally(votes)}
    row = rows[("adapted", "orig")]
    assert (row["wins_1"], row["wins_2"], row["ties"], row["both_bad"], row["n"]) == (1, 2, 1, 1, 5)
    assert rows[("m1", "m2")]["n"] == 1
    v = votes[0]
    assert {"ts", "round_id", "models", "roles", "prompt", "outputs", "sampling", "choice"} <= set(v)


def test_bad_vote_input(tmp_path):
    with pytest.raises(LepInputError):
        make_vote("maybe", {"A": "a", "B": "b"}, {}, "p", {}, {})
    with pytest.raises(LepInputError):
        votes_path(tmp_path, "../escape")
