"""Writing an artefact: into a temporary sibling, renamed into place only when whole; an old one kept until then.

Every artefact LEP Studio makes goes through here (append-only journals and logs aside: metrics.jsonl, votes,
the answers' journal, job logs, whose readers skip a cut last line): `atomic_dir` (a model, a tokenizer, a run's final/, a
checkpoint), `atomic_file` (a .gguf, a recipe, a card) and `write_text_atomic`/`write_json_atomic` (small state
files such as status.json). A reader never sees half an artefact, and a kill at any moment leaves either the
old artefact or the new one under the name, never a mix and never neither (see `replace_into_place`).

Temporary names carry the writer's PID: `.NAME.tmp-PID-XXXXXX` (being written), `.NAME.old-PID-XXXXXX` (the
replaced artefact between the two renames of a folder replace), `.NAME.deleting-PID-XXXXXX` (a delete in
progress). So a leftover of a killed write is told from a write in progress without asking anyone: its writer is
gone, or its PID now names a process that started after the leftover was last written (lep_core.workspace.procs).
Leftovers of dead writers are removed when the same artefact is written next (`recover`), listed and cleaned by
the Workspace tab (`leftovers`, `clean`), and never listed as artefacts (their names start with a dot).

The test hook LEP_TEST_KILL_AT=POINT[#N] makes the process SIGKILL itself the N-th time it passes POINT (chaos
tests only; nothing sets it otherwise): tmp-begun, tmp-written, old-aside, swapped, text-written here, and
files-written (part of an artefact's files written: sources/loading.save_model, tokenizer/extend,
propagation/embeddings_io) and converter-writing (export/gguf_export) where those write.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import secrets
import shutil
import signal
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lep_core.errors import LepInputError
from lep_core.workspace import procs

KILL_ENV = "LEP_TEST_KILL_AT"
_LEFTOVER = re.compile(r"^\.(?P<name>.+)\.(?P<kind>tmp|old|deleting)-(?P<pid>\d+)-[0-9a-f]{6}(?P<ext>\.[^/]*)?$")
# names the writers before this module used: no PID, so their writer is unknown
_LEGACY = re.compile(r"^\.(?:(?P<name>.+?)\.(?:(?P<kind>tmp|old)-[0-9a-f]{8}|[0-9a-f]{8}\.tmp|(?P<del>deleting)|tmp)"
                     r"(?:\.Modelfile)?|lep-src-\w{8}|[0-9a-f]{8}\.export\.json)$")
_hits: dict[str, int] = {}


def chaos(point: str) -> None:
    """The chaos tests' kill switch: SIGKILL this process when LEP_TEST_KILL_AT names `point` (see the module doc)."""
    wanted = os.environ.get(KILL_ENV)
    if not wanted:
        return
    name, _, nth = wanted.partition("#")
    if name != point:
        return
    _hits[point] = _hits.get(point, 0) + 1
    if _hits[point] == int(nth or 1):
        os.kill(os.getpid(), signal.SIGKILL)


def temp_path(out: str | os.PathLike, kind: str = "tmp", ext: str = "") -> Path:
    """`.NAME.KIND-PID-XXXXXX[EXT]` beside OUT (kind: tmp, old or deleting)."""
    p = Path(out)
    return p.parent / f".{p.name}.{kind}-{os.getpid()}-{secrets.token_hex(3)}{ext}"


def remove(path: Path) -> None:
    """Remove a file or a folder tree; a failure raises OSError (never ignored: a delete that did not happen
    is reported)."""
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    elif path.exists() or path.is_symlink():
        path.unlink()


def check_output_free(out: str | os.PathLike, overwrite: bool = False) -> Path:
    """Refuse an output that exists (unless `overwrite`), before any work starts; returns it resolved."""
    out_p = Path(out).expanduser().resolve()
    if out_p.exists() and not overwrite:
        what = "folder" if out_p.is_dir() else "file"
        raise LepInputError(f"output {what} {out_p} already exists: choose another --out or pass --overwrite")
    return out_p


# ---------------------------------------------------------------- leftovers of killed writes

@dataclass
class Leftover:
    path: Path
    name: str  # the artefact it belonged to (NAME)
    kind: str  # tmp, old or deleting
    pid: int | None  # the writer, None for names of older versions (writer unknown)

    @property
    def dead(self) -> bool | None:
        """True when its writer is gone, False while it writes, None when unknown (an older version's name)."""
        if self.pid is None:
            return None
        if not procs.alive(self.pid):
            return True
        started = procs.started_at(self.pid)
        try:
            written = self.path.lstat().st_mtime
        except OSError:
            return True
        return started is not None and started > written + 1.0  # the PID now names a newer process


def parse_leftover(path: Path) -> Leftover | None:
    m = _LEFTOVER.match(path.name)
    if m:
        return Leftover(path, m["name"], m["kind"], int(m["pid"]))
    m = _LEGACY.match(path.name)
    if m:
        return Leftover(path, m["name"] or "", "deleting" if m["del"] else (m["kind"] or "tmp"), None)
    return None


def leftovers(folder: str | os.PathLike, name: str | None = None) -> list[Leftover]:
    """Temporary entries of unfinished writes in `folder` (of the artefact `name` only, when given)."""
    try:
        entries = sorted(Path(folder).iterdir())
    except OSError:
        return []
    found = [lo for lo in (parse_leftover(p) for p in entries if p.name.startswith(".")) if lo is not None]
    return [lo for lo in found if name is None or lo.name == name]


def clean(items: list[Leftover], legacy: bool = False) -> list[Path]:
    """Remove leftovers whose writer is dead (and, with `legacy`, those of unknown writer); an `.old` whose
    artefact is missing (a replace killed between its two renames) is put back instead. Returns what was
    removed or restored."""
    done = []
    for lo in items:
        if not (lo.dead or (legacy and lo.dead is None)):
            continue
        target = lo.path.parent / lo.name
        if lo.kind == "old" and not target.exists():
            os.replace(lo.path, target)
        else:
            remove(lo.path)
        done.append(lo.path)
    return done


def recover(out: str | os.PathLike, legacy: bool = True) -> list[Path]:
    """Before writing OUT: its killed writes cleaned up (called with OUT's lock held, so no live writer of OUT
    exists and older versions' leftovers can go too)."""
    p = Path(out)
    return clean(leftovers(p.parent, p.name), legacy)


# ---------------------------------------------------------------- writing

_FICLONE = 0x40049409  # linux/fs.h: share the source's blocks copy-on-write (btrfs, XFS, bcachefs, ZFS 2.2)


def clone_file(src: str | os.PathLike, dst: str | os.PathLike) -> str:
    """Copy SRC to DST as a separate file (its own inode: editing one never changes the other). A reflink where
    the filesystem has them (no bytes copied, no extra space until one side changes), else an in-kernel copy.
    Returns "reflink" or "copy"."""
    import fcntl

    with open(src, "rb") as fin, open(dst, "wb") as fout:
        try:
            fcntl.ioctl(fout.fileno(), _FICLONE, fin.fileno())
            return "reflink"
        except OSError:
            pass
    shutil.copyfile(src, dst)
    return "copy"


def replace_into_place(tmp: Path, out: Path) -> None:
    """Rename the finished TMP to OUT. A file replaces a file in one atomic rename. A folder cannot, so an
    existing OUT is first renamed aside to `.NAME.old-...`, TMP renamed to OUT, and only then the old removed: a
    kill between the renames leaves the old under `.old-`, which `recover` puts back."""
    if out.is_dir() and not out.is_symlink():
        old = temp_path(out, "old")
        os.replace(out, old)
        chaos("old-aside")
        try:
            os.replace(tmp, out)
        except BaseException:
            os.replace(old, out)  # the new one could not go in: the old one back under its name
            raise
        chaos("swapped")
        with contextlib.suppress(OSError):  # the new one is in place; an old one that will not go is a leftover
            remove(old)
    else:
        if tmp.is_dir() and (out.exists() or out.is_symlink()):
            out.unlink()  # a file where a folder goes: replaced only with overwrite (checked by the caller)
        os.replace(tmp, out)
        chaos("swapped")


@contextlib.contextmanager
def _writing(out: str | os.PathLike, overwrite: bool, lock: bool, folder: bool, ext: str = "") -> Iterator[Path]:
    from lep_core.workspace.locks import hold

    out_p = check_output_free(out, overwrite)
    with hold(out_p) if lock else contextlib.nullcontext():
        if lock:
            recover(out_p)
            check_output_free(out_p, overwrite)  # again, now that no one else can write it
        out_p.parent.mkdir(parents=True, exist_ok=True)
        tmp = temp_path(out_p, ext=ext)
        if folder:
            tmp.mkdir()
        chaos("tmp-begun")
        try:
            yield tmp
            chaos("tmp-written")
            replace_into_place(tmp, out_p)
        except BaseException:
            with contextlib.suppress(OSError):
                remove(tmp)
            raise


@contextlib.contextmanager
def atomic_dir(out: str | os.PathLike, overwrite: bool = False, lock: bool = True) -> Iterator[Path]:
    """Yield a temporary folder beside OUT; it becomes OUT only when the block succeeds.

    An existing OUT is refused (LepInputError) unless `overwrite`, and then kept until the new one is whole.
    `lock`: hold OUT's lock (lep_core.workspace.locks) for the block, refusing a second writer, and clean up
    killed writes of OUT first; False only inside a folder whose lock the caller holds (a run's checkpoints)."""
    with _writing(out, overwrite, lock, True) as tmp:
        yield tmp


@contextlib.contextmanager
def atomic_file(out: str | os.PathLike, overwrite: bool = False, lock: bool = True, ext: str = "") -> Iterator[Path]:
    """Yield a temporary file path beside OUT (`ext` appended to its name, e.g. so a tool sees `.gguf`); the
    file becomes OUT only when the block succeeds. Same rules as `atomic_dir`."""
    with _writing(out, overwrite, lock, False, ext) as tmp:
        yield tmp


@contextlib.contextmanager
def scratch_dir(out: str | os.PathLike) -> Iterator[Path]:
    """A temporary sibling folder of OUT for work files that never become OUT (converted inputs), removed at the
    end; named like OUT's temporary folders, so a killed job's scratch is cleaned up by the next write of OUT."""
    tmp = temp_path(out)
    tmp.parent.mkdir(parents=True, exist_ok=True)
    tmp.mkdir()
    try:
        yield tmp
    finally:
        with contextlib.suppress(OSError):
            remove(tmp)


def write_text_atomic(path: str | os.PathLike, text: str) -> Path:
    """Replace a small file that LEP Studio owns (status.json, a manifest, a recipe spec) in one rename: readers
    see the old text or the new, never half. No lock: the job that owns the folder holds that."""
    p = Path(path)
    tmp = temp_path(p)
    try:
        tmp.write_text(text, encoding="utf-8")
        chaos("text-written")
        os.replace(tmp, p)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise
    return p


def write_json_atomic(path: str | os.PathLike, data: Any) -> Path:
    """JSON (UTF-8, indented) through write_text_atomic."""
    return write_text_atomic(path, json.dumps(data, ensure_ascii=False, indent=2))
