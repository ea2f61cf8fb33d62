"""Export tab: an adapted model -> one .gguf file for llama.cpp and Ollama, with its Modelfile, to download.

The export runs as a background job, a one-step `export` recipe (lep_core/recipes/job.py) like the Propagation
tab's: a progress bar, Stop, a reload shows the running or last export. The file goes to workspace/exports/.
Q4_K_M (what Ollama users run) is the default type and the check in llama.cpp is on, when llama-cpp-python is
installed; without it the tab offers the types llama.cpp's converter writes alone and says how to get the rest.
What the export measured (size, time, bits-per-char in llama.cpp against transformers, the pre-tokenizer and
why) is read back from the report it writes beside the file (NAME.export.json).
"""

from __future__ import annotations

import html
import json
from pathlib import Path
from typing import Any

import gradio as gr

from lep_core.errors import LepInputError
from lep_core.export.gguf_export import check_export, modelfile_path, report_path
from lep_core.export.modelfile import ollama_lines
from lep_core.export.options import DEFAULT_TYPE, OLLAMA_TYPE, ExportOptions, GgufType
from lep_core.export.runtime import have_llama_cpp
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


def job_recipe(model: str, out: Path, type_: str, workspace: Path, keep_f16: bool = False,
               check: bool = False) -> Recipe:
    root = workspace.resolve()
    args = {"model": recipe_path(Path(model).resolve(), root), "out": recipe_path(out, root), "type": type_,
            "keep_f16": keep_f16, "check": check}
    return Recipe(f"export-{out.stem}", [Step("export", args)])


def type_choices(llama: bool) -> tuple[list[tuple[str, str]], str]:
    """(label, value) of the types offered and the default: every type and Q4_K_M with llama-cpp-python, the
    converter's own four and f16 without it."""
    types = [t for t in GgufType if llama or not t.quantized]
    return [(f"{t.value.upper() if t.quantized else t.value} — {t.help}", t.value) for t in types], \
        (OLLAMA_TYPE if llama else DEFAULT_TYPE).value


def quality_markdown(report: dict[str, Any]) -> str:
    """What the export measured, for the status: bits-per-char in llama.cpp and transformers per held-out text
    (with the ratio to f16 of a quantized file), greedy output, the pre-tokenizer and why, the notes."""
    rows = []
    check = report.get("check")
    if check:
        rows += [t("export.quality.head"), "|---|---|---|---|---|"]
        for label, f in check["bits_per_char"].items():
            to_f16 = f"×{f['ratio_to_f16']:.4f}" if "ratio_to_f16" in f else "—"
            spelled = f" ({f['llama_cpp_own_tokens']:.4f} {t('export.quality.own')})" if "llama_cpp_own_tokens" in f else ""
            rows.append(f"| {label} | {f['llama_cpp']:.4f}{spelled} | {f['transformers']:.4f} | "
                        f"×{f['ratio']:.4f} | {to_f16} |")
        greedy = check["greedy"]
        rows.append("")
        rows.append(t("export.quality.greedy_same", n=greedy["tokens"]) if greedy["equal"] else
                    t("export.quality.greedy_differs", n=greedy["tokens"], at=greedy["first_difference"]))
    else:
        rows.append(t("export.quality.not_checked"))
    decision = report.get("pre_tokenizer_decision") or {}
    if decision.get("why"):
        rows += ["", t("export.quality.pre", name=report.get("pre_tokenizer") or "—", why=decision["why"])]
    rows += [f"\n⚠ {note}." for note in report.get("notes") or []]
    return "\n".join(rows)


def read_report(out: Path) -> dict[str, Any] | None:
    try:
        return json.loads(report_path(out).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def build(ctx: AppContext) -> None:
    models = ctx.model_choices()
    adapted = [p for label, p in models if label.startswith("adapted")]
    llama = have_llama_cpp()
    choices, default = type_choices(llama)
    gr.Markdown(L("export.intro"))
    with gr.Row():
        with gr.Column(scale=2):
            model = gr.Dropdown(models, value=adapted[0] if adapted else None, label=L("export.model"), allow_custom_value=True,
                                elem_id="exp-model", info=L("export.an_adapted_model_or"))
            kind = gr.Radio(choices, value=default, label=L("export.format"), elem_id="exp-type")
            if not llama:
                gr.Markdown(L("export.no_llama"), elem_id="exp-no-llama")
            keep_f16 = gr.Checkbox(label=L("export.keep_f16"), value=False, info=L("export.keep_f16_info"),
                                   elem_id="exp-keep-f16", interactive=llama)
            check = gr.Checkbox(label=L("export.check"), value=llama, elem_id="exp-check", interactive=llama,
                                info=L("export.check_info") if llama else L("export.check_needs_llama"))
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
            report = read_report(out) or {}
            text = t("export.status.wrote", path=f"{EXPORTS}/{out.name}", size=f"{size:,.1f}", took=took)
            text += "\n\n" + quality_markdown(report)
            lines = ollama_lines(out, out.stem)
            kept = [Path(report["f16"])] if report.get("f16") else []
            return text, bar, download_links([out, modelfile_path(out), *kept]), "\n".join(lines)
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
    def start(model_v, type_v, keep_v, check_v, overwrite_v):
        if not model_v:
            raise LepInputError(t("export.msg.pick_a_model_first"))
        folder = inside(model_v, ctx.workspace)
        out = gguf_path(ctx, str(folder), type_v)
        opts = ExportOptions(model=str(folder), out=str(out), type=type_v, overwrite=bool(overwrite_v),
                             keep_f16=bool(keep_v), check=bool(check_v))
        problems = check_export(opts)
        if problems:
            raise LepInputError("; ".join(p.replace("--overwrite", "'Overwrite'") for p in problems))
        recipe = job_recipe(str(folder), out, type_v, ctx.workspace, opts.keep_f16, opts.check)
        job = start_recipe_job(ctx.workspace, recipe, bool(overwrite_v), ORIGIN,
                               t("export.msg.is_already_being_written", name=out.name))
        return (job, *view(job))

    wire_recipe_job(ctx.page_load, ctx.workspace, ORIGIN, timer, view, shown, outputs,
                    (run, start, [model, kind, keep_f16, check, overwrite]), stop, lambda: t("export.msg.what"),
                    lambda: t("export.msg.stop_note"))
    refresh.click(lambda: gr.Dropdown(choices=ctx.model_choices()), None, model)
