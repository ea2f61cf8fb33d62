"""The Start tab: what LEP does, the one-click demo recipe, and running any recipe file.

A recipe runs as a background job (lep_core/recipes/job.py: `lep run` in a child process); this tab only
starts, stops and reads its status file. A gr.Timer re-reads it while the recipe runs, so a reload or a second browser tab shows
the same run, and a second click on Run attaches to the running job instead of starting another. When a
run this page watched finishes, the tab switches to Compare with the original and the adapted model picked.
"""

from __future__ import annotations

import re
import shutil
import time
from pathlib import Path
from typing import Any

import gradio as gr

from lep_core.errors import LepInputError
from lep_core.recipes import job as recipe_job
from lep_core.recipes.check import check_recipe
from lep_core.recipes.lineage import RECIPES_DIR
from lep_core.recipes.spec import Recipe, load_recipe, parse_recipe
from lep_core.training import job as train_job
from lep_core.workspace.jobs import ACTIVE
from lep_core.workspace.store import atomic_file
from lep_studio.context import AppContext
from lep_studio.i18n import L, both, t
from lep_studio.job_controls import live_poll, poll_timer
from lep_studio.recipe_view import (
    STEP_TEXT,
    compare_pair,
    run_active,
    run_stamp,
    status_line,
    step_line,
    steps_html,
)
from lep_studio.tabs.training import charts
from lep_studio.widgets import field, guarded, message


def demo_intro(recipe: Recipe | None, lang: str = "en") -> str:
    """The demo, step by step, read from the recipe file itself (so the text follows its settings)."""
    if recipe is None:
        return t("start.demo_missing", lang)
    lines = [t("start.demo_heading", lang), t("start.demo_does", lang)]
    for number, step in enumerate(recipe.steps, 1):
        tab = t(f"tab.{STEP_TEXT.get(step.kind, ('', 'start'))[1]}", lang)
        lines.append(t("start.demo_step", lang, number=number, line=step_line(step.kind, step.args, lang), tab=tab))
        if step.kind == "propagate":
            lines.append(f"   {t('start.same_model', lang)}")
    lines.append(t("start.demo_compare", lang, number=len(recipe.steps) + 1))
    return "\n".join(lines)


def measured_seconds(status: dict[str, Any] | None) -> float | None:
    """How long a finished run took on this machine: the sum of its steps' times, counted only when every step
    ran (a step done in an earlier, resumed run keeps that run's time; one skipped because its output was already
    there has no time of its own, so the sum would not be the whole recipe)."""
    steps = (status or {}).get("steps") or []
    if (status or {}).get("state") != "finished" or not steps:
        return None
    if any(s.get("state") != "done" or not isinstance(s.get("seconds"), (int, float)) for s in steps):
        return None
    return float(sum(s["seconds"] for s in steps))


def demo_time(status: dict[str, Any] | None) -> str:
    """The demo's time as measured here (its last finished run in this workspace), or that none was measured yet."""
    seconds = measured_seconds(status)
    if seconds is None:
        return t("start.demo_time_none")
    minutes, rest = divmod(round(seconds), 60)
    when = time.strftime("%Y-%m-%d %H:%M", time.localtime(float(status.get("finished") or status.get("updated") or 0)))
    return t("start.demo_time_measured", clock=f"{minutes} min {rest:02d} s", when=when)


def _train_chart(status: dict[str, Any] | None):
    run = next((s.get("run_dir") for s in (status or {}).get("steps") or [] if s.get("run_dir")), None)
    rows = train_job.read_metrics(Path(run)) if run and Path(run).is_dir() else []
    if not rows:
        return gr.Plot(visible=False)
    return gr.Plot(charts(rows)[0], visible=True)


def _load_spec(ctx: AppContext, name: str) -> Recipe | None:
    spec = recipe_job.job_dir(ctx.workspace, name) / recipe_job.SPEC
    try:
        return load_recipe(spec) if spec.is_file() else None
    except LepInputError:
        return None


def _demo() -> tuple[Recipe | None, str]:
    path = recipe_job.demo_recipe_path()
    try:
        return load_recipe(path), path.read_text(encoding="utf-8")
    except (LepInputError, OSError):
        return None, ""


def problems_md(problems: list[str]) -> str:
    return t("start.verdict.cannot_run") + "\n" + "\n".join(f"- {p}" for p in problems)


def _read_choice(path: str | None) -> tuple[Recipe, str]:
    path = field(path, t("start.recipe_file"))
    if not path:
        raise LepInputError(t("start.msg.no_recipe_chosen_pick"))
    file = Path(path)
    if not file.is_file():
        raise LepInputError(t("start.msg.recipe_file_not_found", path=path))
    text = file.read_text(encoding="utf-8", errors="replace")
    return parse_recipe(text, file.name), text


def build(ctx: AppContext) -> None:
    demo_recipe, _ = _demo()
    with gr.Row():
        with gr.Column(scale=5):
            gr.Markdown(L("start.lep"), elem_id="start-lep")
            gr.Markdown(both("start.demo_intro", lambda lang: demo_intro(demo_recipe, lang)), elem_id="start-demo-intro")
            demo_clock = gr.Markdown("", elem_id="start-demo-time")  # measured here: filled in on page load
        with gr.Column(scale=6):
            with gr.Row():
                run_demo = gr.Button(L("start.run_the_demo_recipe"), variant="primary", elem_id="start-run", scale=3)
                stop = gr.Button(L("start.stop"), variant="stop", elem_id="start-stop", scale=1)
                resume = gr.Button(L("start.resume"), elem_id="start-resume", scale=1)
            status = gr.Markdown("", elem_id="start-status", elem_classes="lep-status")
            steps = gr.HTML(steps_html(None, demo_recipe), elem_id="start-steps")
            loss = gr.Plot(label=L("start.loss_train_step"), visible=False, elem_id="start-loss")
            open_compare = gr.Button(L("start.open_compare_with_the"), variant="primary", visible=False,
                                     elem_id="start-open-compare")
            with gr.Accordion(L("start.log_last_lines"), open=False):
                log = gr.Textbox(lines=8, max_lines=8, interactive=False, show_label=False, elem_id="start-log",
                                 autoscroll=True)
    with gr.Accordion(L("start.run_a_recipe_file"), open=False,
                      elem_id="start-recipes"):
        with gr.Row():
            picked = gr.Dropdown(recipe_job.recipe_files(ctx.workspace), value=None, label=L("start.recipe_file"), scale=3,
                                 elem_id="start-recipe-file")
            upload = gr.File(label=L("start.or_upload_a_recipe"), file_types=[".yaml", ".yml"],
                             height=120, scale=2, elem_id="start-recipe-upload")
        with gr.Row():
            check = gr.Button(L("start.check"), elem_id="start-recipe-check")
            run_file = gr.Button(L("start.run_this_recipe"), variant="primary", elem_id="start-recipe-run")
        verdict = gr.Markdown(elem_id="start-recipe-verdict")
        preview = gr.Code(language="yaml", label=L("start.recipe"), interactive=False, elem_id="start-recipe-preview")

    shown = gr.State(demo_recipe.name if demo_recipe else "demo")  # the recipe run this page shows
    watched = gr.State(False)  # this page saw the run active: switch to Compare once it finishes
    pair = gr.State(None)  # (original, adapted): the Compare tab picks these up (see compare.py)
    ctx.ui["start.pair"] = pair
    timer = poll_timer()  # ticks only while the recipe runs (see live_poll)
    tabs = ctx.ui.get("tabs")

    demo_name = demo_recipe.name if demo_recipe else "demo"

    def view(name: str, seen: bool):
        st = recipe_job.read_status(ctx.workspace, name)
        recipe = _load_spec(ctx, name) or (demo_recipe if demo_recipe and name == demo_recipe.name else None)
        state = (st or {}).get("state")
        done = state == "finished"
        switch, new_pair = gr.skip(), gr.skip()
        if seen and done:
            found = compare_pair(ctx, st)
            if found:
                switch, new_pair = gr.Tabs(selected="compare"), found
        return (status_line(name, st), steps_html(st, recipe), _train_chart(st),
                gr.Button(visible=done), recipe_job.log_tail(ctx.workspace, name, 30),
                state in ACTIVE or (seen and state is None), switch, new_pair,
                demo_time(st) if name == demo_name else gr.skip())

    outputs = [status, steps, loss, open_compare, log, watched, tabs, pair, demo_clock]

    def _start(recipe: Recipe, text: str):
        _started, attached = recipe_job.start(recipe, text, ctx.workspace)
        if attached:
            gr.Info(t("start.msg.recipe_is_already_running", name=recipe.name))
        return (recipe.name, *view(recipe.name, True))

    @guarded
    def on_run_demo():
        recipe, text = _demo()
        if recipe is None:
            raise LepInputError(t("start.msg.the_demo_recipe_is", demo_recipe_path=recipe_job.demo_recipe_path()))
        return _start(recipe, text)

    @guarded
    def on_stop(name: str):
        if not recipe_job.stop(ctx.workspace, name):
            raise LepInputError(t("start.msg.recipe_is_not_running", name=name))
        gr.Info(t("start.msg.stopping_a_train_step"))
        return view(name, True)

    @guarded
    def on_resume(name: str):
        spec = recipe_job.job_dir(ctx.workspace, name) / recipe_job.SPEC
        if not spec.is_file():
            raise LepInputError(t("start.msg.recipe_has_not_run", name=name))
        text = spec.read_text(encoding="utf-8")
        return _start(parse_recipe(text, spec.name), text)

    @guarded
    def on_check(path: str | None):
        recipe, text = _read_choice(path)
        problems = check_recipe(recipe, ctx.workspace)
        verdict_text = problems_md(problems) if problems else t("start.verdict.ready", name=recipe.name,
                                                                 steps=len(recipe.steps))
        return verdict_text, text

    @guarded
    def on_run_file(path: str | None):
        recipe, text = _read_choice(path)
        problems = check_recipe(recipe, ctx.workspace)
        if problems:
            gr.Warning(t("start.msg.recipe_has_problem_s", name=recipe.name, len=len(problems)))
            return (gr.skip(),) * (1 + len(outputs)) + (problems_md(problems), text)
        return (*_start(recipe, text), t("start.verdict.started", name=recipe.name), text)

    @guarded
    def on_upload(file):
        if not file:
            return gr.skip(), gr.skip(), gr.skip()
        src = Path(getattr(file, "name", file))
        text = src.read_text(encoding="utf-8", errors="replace")
        try:
            recipe = parse_recipe(text, src.name)
        except LepInputError as exc:
            return gr.skip(), t("start.verdict.not_a_recipe", error=message(exc)), text
        folder = ctx.workspace / RECIPES_DIR
        folder.mkdir(parents=True, exist_ok=True)
        stem = re.sub(r"[^\w.\-]", "_", src.stem) or "recipe"
        dest, n = folder / f"{stem}.yaml", 1
        while dest.exists():
            dest, n = folder / f"{stem}-{n}.yaml", n + 1
        with atomic_file(dest) as tmp:  # whole or absent; never over a file that appeared meanwhile
            shutil.copyfile(src, tmp)
        problems = check_recipe(recipe, ctx.workspace)
        verdict_text = problems_md(problems) if problems else t("start.verdict.saved", name=recipe.name, file=dest.name)
        return gr.Dropdown(choices=recipe_job.recipe_files(ctx.workspace), value=str(dest)), verdict_text, text

    def on_load():
        """A fresh page: the running recipe if any, else the demo's last run (or the newest run)."""
        runs = recipe_job.recipe_runs(ctx.workspace)
        active = next((r["name"] for r in runs if r.get("state") in ACTIVE), None)
        name = active or (demo_name if any(r["name"] == demo_name for r in runs) or not runs else runs[0]["name"])
        shown_view = view(name, False)
        return (name, gr.Dropdown(choices=recipe_job.recipe_files(ctx.workspace)), *shown_view[:-1],
                demo_time(recipe_job.read_status(ctx.workspace, demo_name)))

    def stamp(name: str, seen: bool) -> tuple:
        """The recipe's folder and its train run's: a step's clock still moves every 5 s while it runs."""
        st = recipe_job.read_status(ctx.workspace, name) or {}
        run = next((s.get("run_dir") for s in st.get("steps") or [] if s.get("run_dir")), None)
        return seen, *run_stamp(ctx.workspace, name, st, run)

    def running(name: str, seen: bool) -> bool:
        return run_active(ctx.workspace, name)

    watch = live_poll(timer, view, [shown, watched], outputs, stamp, running, ctx.page_load)
    watch(run_demo.click(on_run_demo, None, [shown, *outputs]))
    watch(stop.click(on_stop, shown, outputs))
    watch(resume.click(on_resume, shown, [shown, *outputs]))
    open_compare.click(lambda name: (gr.Tabs(selected="compare"), compare_pair(ctx, recipe_job.read_status(ctx.workspace, name))),
                       shown, [tabs, pair])
    check.click(on_check, picked, [verdict, preview])
    picked.focus(lambda: gr.Dropdown(choices=recipe_job.recipe_files(ctx.workspace)), None, picked, show_progress="hidden")
    upload.upload(on_upload, upload, [picked, verdict, preview])
    watch(run_file.click(on_run_file, picked, [shown, *outputs, verdict, preview]))
    watch(ctx.page_load.add(on_load, None, [shown, picked, *outputs], screen=True))
