"""The one "write an artefact" helper and the one lock per artefact (lep_core.workspace.atomic, .locks), with real
processes: a second writer, a reader, a writer SIGKILLed between the two renames of a replace."""

from __future__ import annotations

import os

import pytest

from lep_core.errors import LepInputError
from lep_core.workspace.atomic import atomic_dir, leftovers, parse_leftover, recover, temp_path
from lep_core.workspace.locks import hold, holders, is_free
from tests.workspace.helpers import holder, killed_at, wait_gone

REPLACE = """
import sys
from pathlib import Path
from lep_core.workspace.atomic import atomic_dir
with atomic_dir(sys.argv[1], overwrite=True) as tmp:
    (tmp / "weights.bin").write_bytes(b"new" * 1000)
"""


def _folder(path, content: bytes):
    path.mkdir(parents=True)
    (path / "weights.bin").write_bytes(content)
    return path


def test_a_failed_replace_keeps_the_old_artefact(tmp_path):
    out = _folder(tmp_path / "model", b"old")
    with pytest.raises(RuntimeError):
        with atomic_dir(out, overwrite=True) as tmp:
            (tmp / "weights.bin").write_bytes(b"half")
            raise RuntimeError("the writer failed")
    assert (out / "weights.bin").read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["model"]  # no temporary folder, no lock file left


@pytest.mark.parametrize("point, expected", [("tmp-written", b"old"), ("old-aside", b"old"), ("swapped", b"new" * 1000)])
def test_a_replace_killed_at_any_point_leaves_old_or_new_and_the_next_write_cleans_up(tmp_path, point, expected):
    out = _folder(tmp_path / "model", b"old")
    assert killed_at(point, REPLACE, str(out)) == -9
    found = leftovers(tmp_path, "model")
    assert found and all(lo.dead for lo in found)  # the writer's PID is in the name, and it is gone
    recover(out)  # what the next write of "model" does first (under its lock)
    assert (out / "weights.bin").read_bytes() == expected  # killed between the renames: the old one is put back
    assert leftovers(tmp_path, "model") == []


def test_a_leftover_of_a_live_writer_is_not_dead(tmp_path):
    mine = temp_path(tmp_path / "x")
    mine.mkdir()
    assert parse_leftover(mine).dead is False  # this process writes it
    assert parse_leftover(tmp_path / ".x.tmp-1a2b3c4d").dead is None  # an older version's name: writer unknown


def test_a_second_writer_is_refused_with_one_line_naming_the_first(tmp_path):
    out = tmp_path / "runs" / "r"
    first = holder(out, "write")
    try:
        with pytest.raises(LepInputError) as err:
            with hold(out):
                pass
        message = str(err.value)
        assert f"pid {first.pid}" in message and "\n" not in message
        with pytest.raises(LepInputError):
            with atomic_dir(out):
                pass
        assert not out.exists()
    finally:
        wait_gone(first)
    with hold(out):  # a SIGKILLed holder leaves no stale lock: the kernel let go of it
        pass


def test_a_reader_keeps_writers_and_deletes_off_but_not_other_readers(tmp_path):
    model = tmp_path / "models" / "m"
    model.mkdir(parents=True)
    reader = holder(model, "read")
    try:
        assert not is_free(model)
        assert any(f"pid {reader.pid}" in h for h in holders(model))
        with hold(model, write=False):  # a second reader is fine
            pass
        with pytest.raises(LepInputError, match=f"pid {reader.pid}"):
            with hold(model, write=True):
                pass
    finally:
        wait_gone(reader)
    assert is_free(model)


def test_the_lock_file_is_removed_when_the_writer_lets_go(tmp_path):
    out = tmp_path / "tok"
    with hold(out):
        assert (tmp_path / ".tok.lock").is_file()
        assert os.getpid() == int(__import__("json").loads((tmp_path / ".tok.lock").read_text())["pid"])
    assert not (tmp_path / ".tok.lock").exists()
