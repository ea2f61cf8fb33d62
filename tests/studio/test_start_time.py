"""The Start tab's demo time is the one measured on this machine (its last finished run), or says none was yet."""

from __future__ import annotations

import time

from lep_studio.i18n import t
from lep_studio.tabs.start import demo_time, measured_seconds

FINISHED = time.mktime((2026, 3, 1, 14, 5, 0, 0, 0, -1))


def run(*steps: tuple[str, float | None], state: str = "finished") -> dict:
    return {"state": state, "finished": FINISHED,
            "steps": [{"kind": kind, "state": "done", "seconds": seconds} for kind, seconds in steps]}


def test_a_finished_run_shows_the_sum_of_its_step_times_in_both_languages():
    status = run(("extend", 4.3), ("init", 164.0), ("train", 229.0), ("propagate", 3.4))  # 400.7 s
    assert measured_seconds(status) == 400.7
    assert demo_time(status).startswith("On this machine the demo took **6 min 41 s** (its last finished run in this "
                                        "workspace, 2026-03-01 14:05)")
    assert t("start.demo_time_measured", "ru", clock="6 min 41 s", when="x").startswith("На этой машине демо заняло")


def test_no_figure_without_a_whole_finished_run():
    none_yet = "No demo run has finished in this workspace yet"
    assert demo_time(None).startswith(none_yet)  # never ran here
    assert demo_time(run(("extend", 4.3), state="running")).startswith(none_yet)
    assert demo_time(run(("extend", 4.3), state="stopped")).startswith(none_yet)
    skipped = run(("extend", 4.3), ("init", 160.0))
    skipped["steps"][0]["state"] = "skipped"  # its output was already there: the sum is not the whole recipe
    assert measured_seconds(skipped) is None and demo_time(skipped).startswith(none_yet)
    assert measured_seconds(run(("extend", None))) is None
