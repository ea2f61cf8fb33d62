"""Everything a fresh page reads, in one event instead of one per tab (issue 20: a second tab fills in fast).

Each tab used to register its own `demo.load` and a `.then(poll)`: about 25 requests per page, all waiting on
the browser's six connections per host (shared by every tab of that browser, each holding an SSE stream) and on
the queue, one event per function at a time. A second tab then painted seconds after the first. Tabs now call
`ctx.page_load.add(fn, inputs, outputs)`; app.py wires them as three events (the first screen, the other tabs,
their follow-ups), with no concurrency limit (they only read files): three requests however many tabs there are.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any, Callable

import gradio as gr

log = logging.getLogger(__name__)


@dataclass
class _Step:
    fn: Callable
    inputs: list
    outputs: list


@dataclass
class Deferred:
    """Stands for a load event: `.then(...)` records a follow-up (job_controls.live_poll's watch calls it)."""

    owner: "PageLoad"

    def then(self, fn: Callable, inputs: Any = None, outputs: Any = None, **_ignored: Any) -> "Deferred":
        self.owner.after.append(_Step(fn, _as_list(inputs), _as_list(outputs)))
        return self


@dataclass
class LiveView:
    """A tab's view of a running job: its timer (stopped while idle), what it reads, whether its job runs."""

    timer: gr.Timer
    inputs: list
    live: Callable[..., bool]


@dataclass
class PageLoad:
    screen: list[_Step] = field(default_factory=list)  # what the first screen (the Start tab) shows
    first: list[_Step] = field(default_factory=list)  # the other tabs
    after: list[_Step] = field(default_factory=list)  # follow-ups (the live views' first poll)
    live_views: list[LiveView] = field(default_factory=list)  # job_controls.watch_jobs wakes their timers

    def add(self, fn: Callable, inputs: Any = None, outputs: Any = None, *, screen: bool = False,
            **_ignored: Any) -> Deferred:
        """Run fn(*inputs) -> outputs when a page opens (like `demo.load`); returns something to `.then` on.

        screen=True: the first screen shows it, so it goes in a small event of its own that does not wait for the
        other tabs' reads (the tokenizers' analysis, the memory estimate, the charts)."""
        (self.screen if screen else self.first).append(_Step(fn, _as_list(inputs), _as_list(outputs)))
        return Deferred(self)

    def wire(self, demo: gr.Blocks) -> None:
        """The first screen's event, the other tabs' event, then one event for all follow-ups."""
        options: dict[str, Any] = {"show_progress": "hidden", "concurrency_limit": None, "api_visibility": "undocumented"}
        if self.screen:
            demo.load(_merged(self.screen), _inputs(self.screen), _outputs(self.screen), **options)
        if self.first or self.after:
            event = demo.load(_merged(self.first), _inputs(self.first), _outputs(self.first), **options)
            if self.after:
                event.then(_merged(self.after), _inputs(self.after), _outputs(self.after), **options)


def _as_list(value: Any) -> list:
    if value is None:
        return []
    return list(value) if isinstance(value, (list, tuple)) else [value]


def _inputs(steps: list[_Step]) -> list:
    return [c for s in steps for c in s.inputs]


def _outputs(steps: list[_Step]) -> list:
    outs = [c for s in steps for c in s.outputs]
    if len({id(c) for c in outs}) != len(outs):
        raise ValueError("two page-load steps write the same component: merge them in their tab")
    return outs


def _merged(steps: list[_Step]) -> Callable:
    """fn(*all inputs) -> all outputs; a step that fails leaves its outputs as they are and warns, the others still fill."""

    def run(*values):
        out, at = [], 0
        for step in steps:
            args = values[at:at + len(step.inputs)]
            at += len(step.inputs)
            n = len(step.outputs)
            try:
                result = step.fn(*args)
                result = [result] if n == 1 else list(result)
                if len(result) != n:
                    raise ValueError(f"{step.fn.__qualname__} returned {len(result)} values for {n} outputs")
            except Exception as exc:  # noqa: BLE001 - one tab's problem must not blank the others
                log.exception("page load step %s failed", getattr(step.fn, "__qualname__", step.fn))
                gr.Warning(f"{type(exc).__name__}: {exc}")
                result = [gr.skip()] * n
            out.extend(result)
        return out[0] if len(out) == 1 else tuple(out) if out else None

    return run
