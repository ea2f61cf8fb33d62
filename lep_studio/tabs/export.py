"""Export tab: an adapted model -> one .gguf file for llama.cpp and Ollama, with its Modelfile, to download.

The export runs as a background job, a one-step `export` recipe (lep_core/recipes/job.py) like the Propagation
tab's: a progress bar, Stop, a reload shows the running or last export. The file goes to workspace/exports/.
"""

from __future__ import annotations

import html
from pathlib import Path

import gradio as gr

from lep_core.errors import LepInputError
from lep_core.export.gguf_export import check_export, modelfile_path
from lep_core.export.modelfile import ollama_lines
from lep_core.export.options import DEFAULT_TYPE, ExportOptions, GgufType
from lep_core.recipes import job as recipe_job
from lep_core.recipes.lineage import recipe_path
from lep_core.recipes.spec import Recipe, Step, load_recipe
from lep_core.workspace.jobs import ACTIVE
from lep_core.workspace.store import KINDS, inside, read_manifest
from lep_studio.context import AppContext
from lep_studio.i18n import L, t
from lep_studio.job_controls import poll_timer, start_recipe_job, wire_recipe_job
from lep_studio.recipe_view import steps_html
from lep_studio.widgets import guarded

ORIGIN = "export"
EXPORTS = "exports"  # workspace/exports/<the model's path in the workspace>-<type>.gguf


def export_stem(ctx: AppContext, model: str) -> str:
    """The model's path inside the workspace, its kind folder left out: runs/demo-ru/final -> demo-ru-final,
    adapted/demo-ru -> demo-ru (a bare folder name would give every run's final/ the same file)."""
    path = Path(model).resolve()
    try:
        parts = path.relative_to(ctx.workspace.resolve()).parts
    except ValueError:
        parts = (path.name,)
    if len(parts) > 1 and parts[0] in (*KINDS.values(), EXPORTS):
        parts = parts[1:]
    return "-".join(parts) or "model"


def gguf_path(ctx: AppContext, model: str, type_: str) -> Path:
    """exports/<stem>-<type>.gguf, or <stem>-2-<type>.gguf ... when that name holds another model's export (one its
    lep.json does not list): a model's export only ever replaces that model's earlier export, and only with
    Overwrite ticked."""
    stem = export_stem(ctx, model)
    mine = {str(Path(e.get("out", "")).resolve()) for e in (read_manifest(model) or {}).get("exports", [])}
    n = 1
    while True:
        path = ctx.workspace / EXPORTS / (f"{stem}-{type_}.gguf" if n == 1 else f"{stem}-{n}-{type_}.gguf")
        if (not path.exists() and not modelfile_path(path).exists()) or str(path.resolve()) in mine:
            return path
        n += 1


def download_links(paths: list[Path]) -> str:
    """Download links to files in the workspace, served by Gradio from there (launch's allowed_paths): a gr.File
    would first copy a many-gigabyte GGUF into Gradio's cache."""
    rows = [f"<a href='/gradio_api/file={html.escape(str(p))}' download='{html.escape(p.name)}'>⇣ {html.escape(p.name)}</a> "
            f"<small>({p.stat().st_size / 2**20:,.1f} MiB)</small>" for p in paths if p.is_file()]
    return "<div class='lep-downloads'><b>Download</b><br>" + "<br>".join(rows) + "</div>"


def job_recipe(model: str, out: Path, type_: str, workspace: Path) -> Recipe:
    root = workspace.resolve()
    args = {"model": recipe_path(Path(model).resolve(), root), "out": recipe_path(out, root), "type": type_}
    return Recipe(f"export-{out.stem}", [Step("export", args)])


def build(ctx: AppContext) -> None:
    models = ctx.model_choices()
    adapted = [p for label, p in models if label.startswith("adapted")]
    gr.Markdown(L("export.intro"))
    with gr.Row():
        with gr.Column(scale=2):
            model = gr.Dropdown(models, value=adapted[0] if adapted else None, label=L("export.model"), allow_custom_value=True,
                                elem_id="exp-model", info=L("export.an_adapted_model_or"))
            kind = gr.Radio([(f"{t.value} — {t.help}", t.value) for t in GgufType], value=DEFAULT_TYPE.value,
                            label=L("export.format"), elem_id="exp-type")
            overwrite = gr.Checkbox(label=L("export.overwrite"), value=False, info=L("export.replace_an_earlier_export"))
            with gr.Row():
                run = gr.Button(L("export.export_gguf"), variant="primary", elem_id="exp-run", scale=3)
                stop = gr.Button(L("export.stop"), variant="stop", elem_id="exp-stop", scale=1)
            refresh = gr.Button(L("export.refresh_list"), size="sm")
        with gr.Column(scale=3):
            status = gr.Markdown(elem_id="exp-status", elem_classes="lep-status")
            steps = gr.HTML("", elem_id="exp-steps")
            files = gr.HTML("", elem_id="exp-files")  # links served from the workspace: no copy of a large file
            ollama = gr.Code(label=L("export.run_it_in_ollama"), language="shell", interactive=False, elem_id="exp-ollama")
    shown = gr.State(None)  # the export job this page shows (its recipe name)
    timer = poll_timer()

    def status_of(job: str | None) -> dict | None:
        return recipe_job.read_status(ctx.workspace, job) if job else None

    def view(job: str | None):
        st = status_of(job)
        if not st:
            return "", "", "", ""
        spec = recipe_job.job_dir(ctx.workspace, job) / recipe_job.SPEC
        try:
            recipe = load_recipe(spec) if spec.is_file() else None  # its row shows before `lep run` is up
        except LepInputError:
            recipe = None
        step = (st.get("steps") or [{}])[0]
        out, state = Path(step.get("out") or (recipe.steps[0].args["out"] if recipe else "")), st.get("state")
        if not out.is_absolute():
            out = ctx.workspace / out
        bar = steps_html(st, recipe, "exp")
        if state == "finished" and out.is_file():
            size = out.stat().st_size / 2**20
            took = t("export.status.took", seconds=f"{step['seconds']:.0f}") if step.get("seconds") is not None else ""
            text = t("export.status.wrote", path=f"{EXPORTS}/{out.name}", size=f"{size:,.0f}", took=took)
            lines = ollama_lines(out, out.stem)
            return text, bar, download_links([out, modelfile_path(out)]), "\n".join(lines)
        if state == "finished":
            return t("export.status.gone", name=out.name), bar, "", ""
        if state == "failed":
            return t("export.status.failed", error=st.get("error") or t("status.see_the_log")), bar, "", ""
        if state == "stopped":
            return t("export.status.stopped"), bar, "", ""
        if state in ACTIVE:
            return (t("export.status.running", path=f"{EXPORTS}/{out.name}",
                      message=step.get("message") or t("status.starting")), bar, "", "")
        return t("export.status.other", job=job, state=state), bar, "", ""

    outputs = [status, steps, files, ollama]

    @guarded
    def start(model_v, type_v, overwrite_v):
        if not model_v:
            raise LepInputError(t("export.msg.pick_a_model_first"))
        folder = inside(model_v, ctx.workspace)
        out = gguf_path(ctx, str(folder), type_v)
        problems = check_export(ExportOptions(model=str(folder), out=str(out), type=type_v, overwrite=bool(overwrite_v)))
        if problems:
            raise LepInputError("; ".join(p.replace("--overwrite", "'Overwrite'") for p in problems))
        recipe = job_recipe(str(folder), out, type_v, ctx.workspace)
        job = start_recipe_job(ctx.workspace, recipe, bool(overwrite_v), ORIGIN,
                               t("export.msg.is_already_being_written", name=out.name))
        return (job, *view(job))

    wire_recipe_job(ctx.page_load, ctx.workspace, ORIGIN, timer, view, shown, outputs,
                    (run, start, [model, kind, overwrite]), stop, lambda: t("export.msg.what"),
                    lambda: t("export.msg.stop_note"))
    refresh.click(lambda: gr.Dropdown(choices=ctx.model_choices()), None, model)
