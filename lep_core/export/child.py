"""Run one export stage (llama.cpp's converter, llama.cpp's quantizer) in a child Python process.

A child because both run long inside native or foreign code that a signal handler cannot interrupt, and the
converter puts its own `gguf-py` first on sys.path: a stop is a SIGTERM to the child, whatever it is doing.
The protocol: the child gets a JSON spec file, prints one JSON object a line on stdout, progress lines carrying
"done" and "total" and the others merged into the result; {"error": ...} is a problem the user can fix (exit 2).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
from collections import deque
from pathlib import Path
from typing import Any, Callable

from lep_core.errors import LepInputError, LepJobError

Tick = Callable[[int, int], None]  # (done, total) of the child's own unit: bytes written, tensors quantized


def run_child(module: str, spec: dict[str, Any], tick: Tick, what: str) -> dict[str, Any]:
    """`python -m module SPEC.json`; returns the merged non-progress lines.

    spec["out"] is the temporary file the child writes; the spec file is named after it (`OUT.spec.json`), so a
    killed export's spec is a leftover of the same artefact and goes with it. The child gets this process's PID
    (`parent`) and dies with it (die_with_parent). Raises LepInputError for {"error"} lines, LepJobError naming
    `what` and the child's last stderr line when it fails otherwise; on any exception here (KeyboardInterrupt from
    a stop included) the child is terminated and waited for before the exception goes on, so no stage outlives
    its export."""
    spec = {**spec, "parent": os.getpid()}
    spec_file = Path(f"{spec['out']}.spec.json")
    root = str(Path(__file__).resolve().parents[2])
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [root, os.environ.get("PYTHONPATH")]))}
    tail: deque[str] = deque(maxlen=20)
    result: dict[str, Any] = {}
    child = None
    try:  # from the spec file on: a stop at any point removes it and ends the child
        spec_file.write_text(json.dumps(spec), encoding="utf-8")
        child = subprocess.Popen([sys.executable, "-m", module, str(spec_file)], stdout=subprocess.PIPE,
                                 stderr=subprocess.PIPE, text=True, env=env)
        drain = threading.Thread(target=lambda: tail.extend(child.stderr), daemon=True)  # stderr never stalls it
        drain.start()
        for line in child.stdout:
            message = json.loads(line)
            if "total" in message and "done" in message:
                tick(int(message["done"]), int(message["total"]))
            else:
                result.update(message)
        code = child.wait()
        drain.join(timeout=5)
    except BaseException:
        if child is not None:
            child.send_signal(signal.SIGTERM)
            child.wait()
        raise
    finally:
        spec_file.unlink(missing_ok=True)
    if "error" in result:
        raise LepInputError(result["error"])
    if code != 0:
        lines = [ln.strip() for ln in tail if ln.strip()]
        raise LepJobError(f"{what} failed (exit {code}): {lines[-1] if lines else 'no message'}")
    return result


def die_with_parent(parent: int | None) -> None:
    """In the child, first thing: SIGKILL it when the export that started it dies, however it dies (Linux prctl
    PR_SET_PDEATHSIG), so a killed export leaves no converter or quantizer writing behind it."""
    try:
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(1, 9)  # PR_SET_PDEATHSIG = 1, SIGKILL = 9
    except (OSError, AttributeError):  # not Linux
        return
    if parent and os.getppid() != parent:  # it died before the line above: nothing left to write for
        os._exit(1)


def emit(**fields: Any) -> None:
    """One protocol line from the child."""
    print(json.dumps(fields), flush=True)
