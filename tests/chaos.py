"""The chaos runner behind tests/test_chaos.py: SIGKILL real `lep` commands while they write, then check.

Run as `python -m tests.chaos PLAN.json RESULT.json`. It imports the libraries once (no computation, so no
worker threads exist yet) and then forks one child per attempt; the child runs `lep_core.cli.main.main(argv)`,
the real command in a real process, which SIGKILLs itself at a named point of the write path
(LEP_TEST_KILL_AT, lep_core.workspace.atomic.chaos) or is SIGKILLed by this runner after a delay. Forking skips
the interpreter start (seconds per attempt on a loaded 2-core machine), which keeps ~36 attempts short.

The plan: a list of commands, each {"name", "argv", "out", "inputs": [paths], "attempts": [{"kill": POINT[#N]} or
{"after_s": S} or {}], "check": kind, "resume_if": glob (add --resume when OUT holds a match), "refreshed":
[file names the finished command legitimately updates in an input, e.g. the model card an export refreshes],
"also": [{"out", "check"}] (further outputs checked the same way)}. Every attempt but the last is expected to die by SIGKILL;
the last runs to the end. After each attempt the runner hashes every input file and checks the output: absent, or
complete and loadable (checked in a forked child too: loading runs torch). The result lists, per command and
attempt, how it ended, whether the inputs changed and whether a half artefact was left.
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import sys
import time
import traceback
from pathlib import Path
from typing import Any

KILL_ENV = "LEP_TEST_KILL_AT"


def _preload() -> None:
    """Import what the commands import lazily, so each forked child starts working at once."""
    import gguf  # noqa: F401
    import safetensors.torch  # noqa: F401
    import torch  # noqa: F401
    from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer, PreTrainedTokenizerFast  # noqa: F401
    from transformers.models.mistral import configuration_mistral, modeling_mistral  # noqa: F401

    import lep_core.calibration.run  # noqa: F401
    import lep_core.cli.main  # noqa: F401
    import lep_core.embeddings.init  # noqa: F401
    import lep_core.evaluation.generation  # noqa: F401
    import lep_core.export.gguf_export  # noqa: F401
    import lep_core.propagation.propagate  # noqa: F401
    import lep_core.tokenizer.extend  # noqa: F401
    import lep_core.training.trainer  # noqa: F401


def files_digest(paths: list[str]) -> dict[str, str]:
    """sha256 of every file under the given paths (files or folders), hidden files included."""
    out = {}
    for p in paths:
        root = Path(p)
        files = [root] if root.is_file() else sorted(x for x in root.rglob("*") if x.is_file())
        for f in files:
            out[str(f)] = hashlib.sha256(f.read_bytes()).hexdigest()
    return out


def _fork(fn, log: Path, env: dict[str, str] | None = None, after_s: float | None = None) -> int:
    """Run fn() in a forked child (stdout/stderr to log); its exit code, or -signal when killed."""
    pid = os.fork()
    if pid == 0:  # the child
        code = 1
        try:
            fd = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
            os.dup2(fd, 1)
            os.dup2(fd, 2)
            os.environ.update(env or {})
            code = fn() or 0
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else 1
        except BaseException:
            traceback.print_exc()
            code = 1
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(code)
    if after_s is not None:
        deadline = time.monotonic() + after_s
        while time.monotonic() < deadline:
            done, status = os.waitpid(pid, os.WNOHANG)
            if done:
                return os.waitstatus_to_exitcode(status)
            time.sleep(0.005)
        os.kill(pid, signal.SIGKILL)
    _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status)


# ---------------------------------------------------------------- what a complete output is

def _check_tokenizer(out: Path) -> None:
    from transformers import AutoTokenizer

    assert json.loads((out / "lep.json").read_text())["kind"] == "tokenizer"
    assert len(AutoTokenizer.from_pretrained(out)) > 0


def _check_model(out: Path) -> None:
    from transformers import AutoModelForCausalLM

    assert (out / "lep.json").is_file()
    AutoModelForCausalLM.from_pretrained(out)


def _check_run(out: Path) -> None:
    """A run folder may be unfinished; what it holds must be whole: every checkpoint loads, final/ loads."""
    from safetensors.torch import load_file

    for ckpt in sorted((out / "checkpoints").glob("step-*")):
        assert (ckpt / "meta.json").is_file(), f"{ckpt} has no meta.json"
        load_file(str(ckpt / "trainable.safetensors"))
    if (out / "final").exists():
        _check_model(out / "final")


def _check_gguf(out: Path) -> None:
    from gguf import GGUFReader

    assert out.with_suffix(".Modelfile").is_file(), "a .gguf without its Modelfile"
    assert GGUFReader(out).fields["tokenizer.ggml.tokens"]


def _check_answers(out: Path) -> None:
    """The original model's answers: in progress (only the journal, answers.partial.jsonl) or whole (the dataset
    and its manifest, every line a conversation)."""
    if not (out / "conversations.jsonl").exists():
        assert not (out / "lep.json").exists(), "a manifest without its dataset"
        return
    assert json.loads((out / "lep.json").read_text())["kind"] == "data"
    for line in (out / "conversations.jsonl").read_text(encoding="utf-8").splitlines():
        assert json.loads(line)["messages"]


CHECKS = {"tokenizer": _check_tokenizer, "model": _check_model, "run": _check_run, "gguf": _check_gguf,
          "answers": _check_answers}


def _output_state(kind: str, out: Path, log: Path) -> str:
    """absent | complete | partial (a run folder without final/) | HALF (exists, does not load)."""
    if not out.exists():
        if kind == "gguf" and out.with_suffix(".Modelfile").exists():
            return "orphan-modelfile"  # the .gguf never arrived: the next export removes it
        return "absent"
    code = _fork(lambda: CHECKS[kind](out), log)
    if code != 0:
        return "HALF"
    if kind == "run":
        return "complete" if (out / "final").is_dir() else "partial"
    return "complete"


def _leftovers(out: Path) -> list[str]:
    from lep_core.workspace.atomic import leftovers

    found = [lo.path.name for lo in leftovers(out.parent, out.name)]
    if out.is_dir():
        found += [lo.path.name for sub in (out, out / "checkpoints") for lo in leftovers(sub)]
    return found


def run_plan(plan: list[dict[str, Any]], logs: Path) -> list[dict[str, Any]]:
    from lep_core.cli.main import main

    results = []
    for command in plan:
        out, kind = Path(command["out"]), command["check"]
        before = files_digest(command["inputs"])
        rows = []
        for n, attempt in enumerate(command["attempts"], 1):
            argv = list(command["argv"]) + list(attempt.get("extra", []))
            marker = command.get("resume_if")  # a run with something to continue: the rerun is --resume
            if marker and any(out.glob(marker)):
                argv.append("--resume")
            env = {KILL_ENV: attempt["kill"]} if "kill" in attempt else {KILL_ENV: ""}
            log = logs / f"{command['name']}-{n}.log"
            started = time.perf_counter()
            code = _fork(lambda: main(argv), log, env, attempt.get("after_s"))
            seconds = round(time.perf_counter() - started, 2)
            state = _output_state(kind, out, logs / f"{command['name']}-{n}-check.log")
            for extra in command.get("also", []):  # a second output (calibration's answers): whole or absent too
                if _output_state(extra["check"], Path(extra["out"]), logs / f"{command['name']}-{n}-also.log") == "HALF":
                    state = "HALF"
            after = files_digest(command["inputs"])
            refreshed = set(command.get("refreshed", [])) if attempt is command["attempts"][-1] else set()
            changed = sorted(k for k in set(before) | set(after)
                             if before.get(k) != after.get(k) and Path(k).name not in refreshed)
            rows.append({"attempt": attempt, "exit": code, "seconds": seconds, "output": state,
                         "inputs_changed": changed,
                         "leftovers": _leftovers(out),
                         "log_tail": log.read_text(errors="replace")[-600:] if code not in (0, -9) else ""})
            if state == "complete" and attempt is not command["attempts"][-1] and kind != "run":
                import shutil  # killed after the rename: whole; removed so the next attempt writes again

                shutil.rmtree(out) if out.is_dir() else out.unlink()
                if kind == "gguf":
                    out.with_suffix(".Modelfile").unlink(missing_ok=True)
        results.append({"name": command["name"], "attempts": rows})
    return results


if __name__ == "__main__":
    plan_file, result_file = Path(sys.argv[1]), Path(sys.argv[2])
    started = time.perf_counter()
    _preload()
    preload_s = time.perf_counter() - started
    logs = result_file.parent / "chaos-logs"
    logs.mkdir(exist_ok=True)
    results = run_plan(json.loads(plan_file.read_text()), logs)
    result_file.write_text(json.dumps({"preload_s": round(preload_s, 2), "total_s": round(time.perf_counter() - started, 2),
                                       "commands": results}, indent=1))
