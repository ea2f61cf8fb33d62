"""Workspace tab: every artefact with what made it, its size and headline figures; open, export, delete.

The table is read from the workspace on every refresh (lep_core.workspace.inventory), so it shows what other tabs,
the CLI or a recipe wrote. Delete takes two clicks and refuses running jobs; Export writes the recipe
that rebuilds the artefact (lep_core.recipes.lineage) into workspace/recipes/, where the Start tab lists it.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import gradio as gr
import pandas as pd
from gradio.context import Context

from lep_core.errors import LepInputError
from lep_core.recipes.lineage import export_recipe, free_recipe_path
from lep_core.workspace.inventory import (
    Artifact,
    clean_leftovers,
    delete_artifact,
    find_artifact,
    human_size,
    inventory,
    list_leftovers,
)
from lep_core.workspace.locks import holders, is_free
from lep_core.workspace.store import KINDS, inside, read_manifest
from lep_studio.context import AppContext
from lep_studio.i18n import L, t
from lep_studio.widgets import corpus_choices, guarded, tokenizer_choices

COLUMNS = ["kind", "name", "created", "size", "state", "headline figures"]
ALL = "all"
EXPORTABLE = ("tokenizer", "model", "run", "adapted")


def _when(created: str | None) -> str:
    return (created or "")[:16].replace("T", " ")


def table(items: list[Artifact], kind: str) -> pd.DataFrame:
    rows = [[a.kind, a.name, _when(a.created), human_size(a.size_bytes), a.state or "", a.row()["summary"]]
            for a in items if kind in (ALL, a.kind)]
    return pd.DataFrame(rows, columns=COLUMNS)


def picker_choices(items: list[Artifact]) -> list[tuple[str, str]]:
    return [(f"{a.kind} · {a.name}", str(a.path)) for a in items]


def _state_text(state: str) -> str:
    """A leftover's state (lep_core.workspace.inventory.LeftoverRow.state) in the page's language."""
    return {"writing": t("workspace.leftover.writing"), "writer gone": t("workspace.leftover.writer_gone"),
            "unknown writer": t("workspace.leftover.unknown_writer"),
            "failed delete": t("workspace.leftover.failed_delete")}[state]


def leftovers_md(root: Path) -> str:
    """The leftovers of unfinished writes (lep_core.workspace.inventory.list_leftovers) as a short list."""
    rows = list_leftovers(root)
    if not rows:
        return t("workspace.msg.no_leftovers")
    lines = [t("workspace.msg.leftovers_head", count=len(rows), size=human_size(sum(r.size_bytes for r in rows))), ""]
    for r in rows:
        lines.append(f"- `{r.path.relative_to(root).as_posix()}` · {human_size(r.size_bytes)} · {_state_text(r.state)}")
    return "\n".join(lines)


def _value(value: Any, root: Path) -> str:
    """A manifest value as short readable text: paths inside the workspace relative to it."""
    if isinstance(value, float):
        return f"{value:.6g}"
    if isinstance(value, dict) and "path" in value:
        path, digest = str(value["path"]), value.get("hash")
        try:
            path = Path(path).resolve().relative_to(root).as_posix()
        except (ValueError, OSError):
            pass
        return f"`{path}`" + (f" <small>({digest[:19]}…)</small>" if digest else "")
    if isinstance(value, list) and value and all(isinstance(v, dict) and "path" in v for v in value):
        return ", ".join(_value(v, root) for v in value)
    if isinstance(value, (dict, tuple, list)):
        return f"`{json.dumps(value, ensure_ascii=False)[:160]}`"
    return "–" if value is None or value == "" else str(value).replace("|", "\\|")


def _section(title: str, data: dict[str, Any], root: Path) -> str:
    """A titled list of manifest entries (title already in the page's language)."""
    if not data:
        return ""
    rows = "\n".join(f"- {k.replace('_', ' ')}: {_value(v, root)}" for k, v in data.items())
    return f"\n\n**{title}**\n\n{rows}"


def details(item: Artifact | None, root: Path) -> str:
    """The manifest in readable form: what made it, from which inputs, with which settings, what came out."""
    if item is None:
        return t("workspace.detail.none")
    operation = item.params.get("operation") or (t("workspace.detail.uploaded_text") if item.kind == "corpus" else "")
    head = (f"### {item.kind} · {item.name}\n`{item.path.relative_to(root).as_posix()}` · {human_size(item.size_bytes)}"
            + (t("workspace.detail.created", when=_when(item.created)) if item.created else "")
            + (f" · **{item.state}**" if item.state else "") + "\n\n"
            + (t("workspace.detail.made_by", operation=operation) if operation else t("workspace.detail.no_manifest")))
    params = {k: v for k, v in item.params.items() if k != "operation"}
    return (head + _section(t("workspace.detail.inputs"), item.inputs, root)
            + _section(t("workspace.detail.parameters"), params, root)
            + _section(t("workspace.detail.figures"), item.metrics, root))


def open_target(ctx: AppContext, item: Artifact) -> tuple[str, str | None, Any]:
    """(tab id, ui key of the picker to pre-select, its new value) for an artefact."""
    path = str(item.path)
    if item.kind == "tokenizer":
        base = (item.inputs.get("base") or item.inputs.get("like") or {}).get("path")
        return "tokenizers", "tokenizers.picked", [p for p in (base, path) if p]
    if item.kind == "model":
        if item.params.get("operation") == "init":  # has new rows: train them next
            return "training", "training.model", path
        return "vocabulary", "vocabulary.init_model", path
    from lep_studio.tabs.calibration import is_calibration

    if item.kind == "run" and is_calibration(item.path):
        return "calibration", "calibration.current", path
    if item.kind == "run":
        return "training", "training.current", path
    if item.kind == "adapted":
        models = [p for label, p in ctx.model_choices() if p == path or Path(p).parent == item.path]
        return "compare", "compare.adapted", models[0] if models else None
    if item.kind == "corpus":
        return "training", "training.corpus", [path]
    if item.kind == "eval":
        return "compare", None, None
    raise LepInputError(t("workspace.msg.no_tab_opens_a", kind=item.kind))


def _choices_for(ctx: AppContext, key: str) -> list[tuple[str, str]]:
    if key == "tokenizers.picked":
        return tokenizer_choices(ctx)
    if key == "training.current":
        from lep_studio.tabs.training import run_choices

        return run_choices(ctx)
    if key == "training.corpus":
        return corpus_choices(ctx)
    if key == "calibration.current":
        from lep_studio.tabs.calibration import calibration_runs

        return calibration_runs(ctx)
    return ctx.model_choices()


def build(ctx: AppContext) -> None:
    items = inventory(ctx.workspace)
    gr.Markdown(L("workspace.intro"))
    with gr.Row():
        kind = gr.Radio([ALL, *KINDS], value=ALL, label=L("workspace.show"), info=L("workspace.only_one_kind_of"),
                        scale=4, elem_id="ws-kind")
        refresh = gr.Button(L("workspace.refresh"), size="sm", scale=0, min_width=110, elem_id="ws-refresh")
    listing = gr.Dataframe(table(inventory(ctx.workspace), ALL), label=L("workspace.artefacts_in_the_workspace"),
                           interactive=False, wrap=True, max_height=330, elem_id="ws-table", elem_classes="lep-table",
                           column_widths=["9%", "21%", "13%", "9%", "9%", "39%"])
    ctx.page_load.add(lambda: table(inventory(ctx.workspace), ALL), None, listing)  # fresh on each page load
    with gr.Row():
        with gr.Column(scale=2, min_width=360):
            picked = gr.Dropdown(picker_choices(items), value=None, label=L("workspace.artefact"), allow_custom_value=True,
                                 info=L("workspace.the_row_you_clicked"), elem_id="ws-picked")
            with gr.Row():
                open_btn = gr.Button(L("workspace.open_in_its_tab"), elem_id="ws-open")
                export_btn = gr.Button(L("workspace.export_recipe"), elem_id="ws-export")
                delete_btn = gr.Button(L("workspace.delete"), variant="stop", elem_id="ws-delete")
            with gr.Group(visible=False, elem_id="ws-confirm") as confirm_box:
                confirm_text = gr.Markdown(elem_id="ws-confirm-text")
                with gr.Row():
                    confirm_btn = gr.Button(L("workspace.yes_delete_it"), variant="stop", elem_id="ws-confirm-delete")
                    cancel_btn = gr.Button(L("workspace.cancel"), elem_id="ws-cancel")
            status = gr.Markdown(elem_id="ws-status", elem_classes="lep-status")
            recipe_file = gr.File(label=L("workspace.recipe_yaml_replay_with"), visible=False, interactive=False,
                                  elem_id="ws-recipe-file")
        with gr.Column(scale=3):
            detail = gr.Markdown(L("workspace.detail.none"), elem_id="ws-detail")
            with gr.Accordion(L("workspace.manifest_as_json_lep"), open=False):
                raw = gr.JSON(elem_id="ws-json")
    with gr.Accordion(L("workspace.leftovers"), open=False, elem_id="ws-leftovers"):
        leftover_list = gr.Markdown(elem_id="ws-leftover-list")
        clean_btn = gr.Button(L("workspace.clean_leftovers"), size="sm", elem_id="ws-clean")

    targets = {k: ctx.ui[k] for k in ("tokenizers.picked", "vocabulary.tabs", "vocabulary.init_model", "training.model",
                                      "training.current", "training.corpus", "calibration.current", "compare.adapted")
               if k in ctx.ui}

    def current(path: str | None) -> Artifact | None:
        return find_artifact(path, ctx.workspace) if path else None

    def relist(kind_v: str, path: str | None):
        """Table, picker and detail read afresh (an artefact deleted elsewhere drops out)."""
        fresh = inventory(ctx.workspace)
        if not path:  # nothing picked when this started: leave a pick made meanwhile alone
            return table(fresh, kind_v), gr.Dropdown(choices=picker_choices(fresh)), gr.skip(), gr.skip(), gr.skip()
        item = next((a for a in fresh if str(a.path) == path), None)
        value = str(item.path) if item else None
        return (table(fresh, kind_v), gr.Dropdown(choices=picker_choices(fresh), value=value),
                details(item, ctx.workspace), _manifest(item), gr.Group(visible=False))

    def _manifest(item: Artifact | None) -> dict | None:
        if item is None:
            return None
        return read_manifest(item.path) or read_manifest(item.path / "final") if item.path.is_dir() else None

    def on_row(evt: gr.SelectData):
        """The clicked row's own kind and name (not its index: the table may have changed since it was drawn)."""
        row = evt.row_value or []
        if len(row) < 2 or row[0] not in KINDS:
            return gr.skip()
        return str(ctx.workspace / KINDS[row[0]] / str(row[1]))

    def on_pick(path: str | None):
        item = current(path)
        return details(item, ctx.workspace), _manifest(item), gr.Group(visible=False), gr.File(visible=False)

    @guarded
    def on_open(path: str | None):
        item = _require(path)
        tab, key, value = open_target(ctx, item)
        updates = {k: gr.skip() for k in targets}
        if key in targets and value is not None:
            updates[key] = gr.Dropdown(choices=_choices_for(ctx, key), value=value)
        if key == "vocabulary.init_model" and "vocabulary.tabs" in targets:
            updates["vocabulary.tabs"] = gr.Tabs(selected="init")
        return gr.Tabs(selected=tab), *updates.values()

    @guarded
    def on_export(path: str | None):
        item = _require(path)
        if item.kind not in EXPORTABLE:
            raise LepInputError(t("workspace.msg.a_is_not_made", kind=item.kind))
        result = export_recipe(item.path, ctx.workspace, free_recipe_path(ctx.workspace, item.name))
        out = Path(result["out"])
        note = (t("workspace.status.needs", names=", ".join(f"`{n}`" for n in result["needs"])) if result["needs"]
                else "")
        if result["changed"]:
            note += t("workspace.status.changed", names=", ".join(result["changed"]))
        msg = t("workspace.status.wrote_recipe", path=out.relative_to(ctx.workspace).as_posix(),
                steps=" → ".join(result["steps"]), out=out, note=note)
        return msg, gr.File(value=str(out), visible=True)

    @guarded
    def on_delete(path: str | None):
        item = _require(path)
        if item.state in ("queued", "running", "stopping"):
            raise LepInputError(t("workspace.msg.run_is_still_running", name=item.name))
        if not is_free(item.path):  # a job reads or writes it (models, tokenizers, corpora, answers, runs)
            raise LepInputError(t("workspace.msg.in_use", name=item.name, who="; ".join(holders(item.path)) or "?"))
        text = t("workspace.status.confirm_delete", path=item.path.relative_to(ctx.workspace).as_posix(),
                 size=human_size(item.size_bytes))
        return gr.Group(visible=True), text

    @guarded
    def on_confirm(kind_v: str, path: str | None):
        item = _require(path)
        delete_artifact(item.path, ctx.workspace)
        fresh = inventory(ctx.workspace)
        return (t("workspace.msg.deleted", kind=item.kind, name=item.name), table(fresh, kind_v),
                gr.Dropdown(choices=picker_choices(fresh), value=None), details(None, ctx.workspace), None,
                gr.Group(visible=False))

    def _require(path: str | None) -> Artifact:
        if path:
            inside(path, ctx.workspace)  # a typed path outside the workspace: say so
        item = current(path)
        if item is None:
            raise LepInputError(t("workspace.msg.pick_an_artefact_first") if not path else
                                t("workspace.msg.no_longer_in_the", path=path))
        return item

    @guarded
    def on_clean():
        removed, problems = clean_leftovers(ctx.workspace)
        note = t("workspace.msg.cleaned", count=len(removed))
        if problems:
            note += " " + t("workspace.msg.clean_problems", problems="; ".join(problems))
        return note, leftovers_md(ctx.workspace)

    view = [listing, picked, detail, raw, confirm_box]
    refresh.click(relist, [kind, picked], view)
    refresh.click(lambda: leftovers_md(ctx.workspace), None, leftover_list, show_progress="hidden")
    clean_btn.click(on_clean, None, [status, leftover_list])
    kind.change(lambda k: table(inventory(ctx.workspace), k), kind, listing, show_progress="hidden")
    listing.select(on_row, None, picked, show_progress="hidden")
    picked.change(on_pick, picked, [detail, raw, confirm_box, recipe_file], show_progress="hidden")
    open_btn.click(on_open, picked, [ctx.ui["tabs"], *targets.values()])
    export_btn.click(on_export, picked, [status, recipe_file])
    delete_btn.click(on_delete, picked, [confirm_box, confirm_text])
    cancel_btn.click(lambda: gr.Group(visible=False), None, confirm_box)
    confirm_btn.click(on_confirm, [kind, picked], [status, *view])
    Context.block.select(relist, [kind, picked], view, show_progress="hidden")  # the Workspace tab itself
    Context.block.select(lambda: leftovers_md(ctx.workspace), None, leftover_list, show_progress="hidden")
