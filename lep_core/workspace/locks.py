"""One lock per artefact: a job that writes it holds it exclusively, a job that reads it holds it shared.

The lock of PATH is the file `.NAME.lock` beside it (so it exists before the artefact does, and a file output
such as exports/x.gguf has one too), locked with flock(2): the kernel drops it when the holder exits, however
it exits, so a SIGKILLed job never leaves a stale lock. A writer records its PID, start time and command in
the file, and the refusal a second job gets names them. Readers are found in /proc/locks.

A job takes its locks before it writes anything: a second job writing the same output, a delete of an input
a job reads, or a job writing what another reads is refused with one line naming the running job. Locks are
re-entrant within one thread (a recipe step that locks its output, then calls a helper that locks it again);
another thread of the same process is a different holder (two clicks in the app).
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import os
import sys
import threading
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from lep_core.errors import LepInputError
from lep_core.workspace import procs
from lep_core.workspace.layout import KIND_FOLDERS, workspace_root

SUFFIX = ".lock"


@dataclass
class _Held:
    fd: int
    write: bool
    thread: int
    count: int = 1


_held: dict[str, _Held] = {}
_registry = threading.Lock()


def lock_file(path: str | os.PathLike) -> Path:
    """`.NAME.lock` beside PATH."""
    p = Path(path)
    return p.parent / f".{p.name}{SUFFIX}"


def _key(path: str | os.PathLike) -> Path:
    p = Path(path).expanduser()
    return p.parent.resolve() / p.name  # the folder resolved, the name kept (a symlinked artefact is its own entry)


def this_command() -> str:
    """What this process is, for another job's refusal: `lep train`, `lep app`, or the program's name."""
    argv = sys.argv
    if argv and (argv[0].endswith(("lep_core/cli/main.py", "/bin/lep")) or argv[0] == "lep"):
        return "lep " + " ".join(a for a in argv[1:3] if not a.startswith("-"))
    name = Path(argv[0]).name if argv and argv[0] else "python"
    return "the LEP Studio app" if name in ("launch.py",) else name


def _describe(pid: int, command: str | None = None) -> str:
    text = command or _short_command(procs.command_line(pid))
    return f"pid {pid}: {text}" if text else f"pid {pid}"


def _short_command(cmdline: str) -> str:
    """`python -m lep_core.cli.main train --model ...` -> `lep train --model ...` (at most 80 characters)."""
    marker = "lep_core.cli.main "
    if marker in cmdline:
        cmdline = "lep " + cmdline.split(marker, 1)[1]
    return cmdline if len(cmdline) <= 80 else cmdline[:79] + "…"


def holders(path: str | os.PathLike) -> list[str]:
    """Who holds PATH's lock, as `pid N: command` (the writer from the lock file, readers from /proc/locks)."""
    lf = lock_file(_key(path))
    try:
        inode = os.stat(lf).st_ino
    except OSError:
        return []
    found: dict[int, str] = {}
    try:
        info = json.loads(lf.read_text(encoding="utf-8") or "{}")
    except (OSError, ValueError):
        info = {}
    try:
        lines = Path("/proc/locks").read_text(encoding="utf-8").splitlines()
    except OSError:
        lines = []
    for line in lines:
        parts = line.split()
        if "FLOCK" not in parts or "->" in parts:
            continue
        i = parts.index("FLOCK")
        try:
            pid, ino = int(parts[i + 3]), int(parts[i + 4].split(":")[2])
        except (IndexError, ValueError):
            continue
        if ino == inode and pid not in found:
            found[pid] = _describe(pid, info.get("command") if info.get("pid") == pid else None)
    if not found and info.get("pid") and procs.same_process(info["pid"], info.get("start")):
        found[int(info["pid"])] = _describe(int(info["pid"]), info.get("command"))
    return list(found.values())


def busy_message(path: str | os.PathLike, write: bool) -> str:
    """One line: what is busy, the running job(s) holding it (PID and command), what to do."""
    who = holders(path)
    running = "; ".join(who) if who else "another job"
    return f"{Path(path)} is in use by a running job ({running}): wait for it to finish, or stop it first"


def _acquire(path: Path, write: bool, wait: float, what: str | None) -> int:
    lf = lock_file(path)
    lf.parent.mkdir(parents=True, exist_ok=True)
    deadline = time.monotonic() + wait
    while True:
        fd = os.open(lf, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        try:
            fcntl.flock(fd, (fcntl.LOCK_EX if write else fcntl.LOCK_SH) | fcntl.LOCK_NB)
        except OSError as exc:
            os.close(fd)
            if exc.errno not in (errno.EAGAIN, errno.EWOULDBLOCK, errno.EACCES):
                raise
            if time.monotonic() < deadline:
                time.sleep(0.1)
                continue
            raise LepInputError(busy_message(path, write)) from None
        try:  # a holder that let go may have removed the file between our open and our flock: use the new one
            same = os.fstat(fd).st_ino == os.stat(lf).st_ino
        except FileNotFoundError:
            same = False
        if same:
            break
        os.close(fd)
    if write:
        info = {"pid": os.getpid(), "start": procs.start_ticks(os.getpid()), "command": what or this_command(),
                "since": round(time.time(), 3)}
        os.ftruncate(fd, 0)
        os.pwrite(fd, json.dumps(info).encode(), 0)
    return fd


def _release(path: Path, held: _Held) -> None:
    lf = lock_file(path)
    try:
        if not held.write:  # the last reader may remove the file too: only with the lock to itself
            try:
                fcntl.flock(held.fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                return
        with contextlib.suppress(OSError):
            if os.fstat(held.fd).st_ino == os.stat(lf).st_ino:
                lf.unlink()
    finally:
        os.close(held.fd)


@contextlib.contextmanager
def hold(path: str | os.PathLike, write: bool = True, wait: float = 0.0, what: str | None = None) -> Iterator[Path]:
    """Hold PATH's lock for the block: exclusive (write) or shared (read). Refused with LepInputError naming the
    holder when another job has it (after waiting up to `wait` seconds); yields PATH resolved."""
    key = _key(path)
    name = str(key)
    me = threading.get_ident()
    with _registry:
        held = _held.get(name)
        if held is not None and held.thread == me:
            if write and not held.write:
                raise LepInputError(f"{key} is both read and written by this job: choose another output")
            held.count += 1
            mine = held
        else:
            mine = None
    if mine is not None:
        try:
            yield key
        finally:
            with _registry:
                mine.count -= 1
        return
    fd = _acquire(key, write, wait, what)
    held = _Held(fd, write, me)
    with _registry:
        _held[name] = held
    try:
        yield key
    finally:
        with _registry:
            _held.pop(name, None)
        _release(key, held)


def is_free(path: str | os.PathLike) -> bool:
    """True when no job holds PATH's lock in any mode (a probe: the lock is let go at once)."""
    lf = lock_file(_key(path))
    if not lf.exists():
        return True
    try:
        fd = os.open(lf, os.O_RDONLY | os.O_CLOEXEC)
    except OSError:
        return True
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        return True
    except OSError:
        return False
    finally:
        os.close(fd)


def held_here(path: str | os.PathLike, write: bool = True) -> bool:
    """Does this thread hold PATH's lock (for writing, when `write`)?"""
    held = _held.get(str(_key(path)))
    return bool(held and held.thread == threading.get_ident() and (held.write or not write))


def workspaces_near(*paths: str | os.PathLike | None) -> list[Path]:
    """Workspaces a job's inputs may live in: the current one (lep_core.workspace.store.workspace_root) and the
    one holding each output (`W` of W/runs/NAME), so an app job's inputs are found without $LEP_WORKSPACE."""
    roots = [workspace_root()]
    for p in paths:
        if not p:
            continue
        for parent in Path(p).expanduser().resolve().parents:
            if parent.name in KIND_FOLDERS:
                roots.append(parent.parent)
                break
    return list(dict.fromkeys(roots))


def artefact_of(path: str | os.PathLike, roots: Iterable[Path]) -> Path | None:
    """The workspace artefact (W/<kind folder>/<name>) that holds PATH, or None when PATH is in no workspace
    of `roots` (a user's own folder, a hub id): those get no lock file beside them."""
    try:
        p = Path(path).expanduser()
        if not p.exists():
            return None
        p = p.resolve()
    except (OSError, ValueError):
        return None
    for root in roots:
        try:
            rel = p.relative_to(root)
        except ValueError:
            continue
        if len(rel.parts) >= 2 and rel.parts[0] in KIND_FOLDERS:
            return root / rel.parts[0] / rel.parts[1]
    return None


@contextlib.contextmanager
def holding(writes: Iterable[str | os.PathLike | None] = (), reads: Iterable[str | os.PathLike | None] = (),
            wait: float = 0.0) -> Iterator[None]:
    """Write locks on the outputs, then read locks on the inputs that are workspace artefacts, for the block.

    An input that is also an output (or inside it) is refused: a job never reads what it is replacing."""
    outs = [_key(w) for w in writes if w]
    roots = workspaces_near(*outs)
    ins = list(dict.fromkeys(a for a in (artefact_of(r, roots) for r in reads if r) if a is not None))
    for out in outs:
        for src in [Path(r).expanduser().resolve() for r in reads if r and Path(r).expanduser().exists()]:
            if src == out.resolve() or out.resolve() in src.parents or src in out.resolve().parents:
                raise LepInputError(f"the output {out} is also an input of this job ({src}): choose another output")
    with contextlib.ExitStack() as stack:
        for out in outs:
            stack.enter_context(hold(out, True, wait))
        for src in ins:
            if any(src == o or o in src.parents for o in outs):
                continue  # reading inside its own output (a run's data on --resume): the write lock covers it
            stack.enter_context(hold(src, False, wait))
        yield
