"""A tqdm bar on stderr exposed as a progress(done, total) callback, the shape lep_core functions take."""

from __future__ import annotations

import contextlib
import sys
from typing import Callable, Iterator


@contextlib.contextmanager
def bar(total: int, desc: str, unit: str = "it") -> Iterator[Callable[[int, int], None]]:
    """unit="B" shows bytes (KB/MB/GB scaled): corpus reading reports progress(bytes read, bytes total)."""
    from tqdm import tqdm

    with tqdm(total=total, desc=desc, file=sys.stderr, disable=not sys.stderr.isatty(), leave=False,
              unit=unit, unit_scale=unit == "B", unit_divisor=1024 if unit == "B" else 1000) as t:

        def update(done: int, total_now: int) -> None:
            t.total = total_now
            t.n = done
            t.refresh()

        yield update
