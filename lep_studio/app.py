"""The Gradio app: a short header, then one tab per pipeline step (lep_studio/tabs/TABS)."""

from __future__ import annotations

import importlib
import os
from pathlib import Path

import gradio as gr
from starlette.middleware import Middleware

from lep_studio.context import AppContext
from lep_studio.i18n import CURRENT_JS, LANGS, SWITCH_JS, HeadFirst, L, both, t, translations
from lep_studio.tabs import TABS

CSS_PATH = Path(__file__).resolve().parent.parent / "assets" / "style.css"



def build_app(ctx: AppContext) -> gr.Blocks:
    """All tabs in pipeline order; each tab module lays itself out in build(ctx)."""
    with gr.Blocks(title="LEP Studio") as demo:
        with gr.Row(equal_height=False):
            gr.Markdown(both("app.header", lambda lang: t("app.header", lang, workspace=ctx.workspace)),
                        elem_id="lep-header")
            language = gr.Radio([(name, code) for code, name in LANGS.items()], value=None, label=L("app.language"),
                                elem_id="lep-lang", scale=0, min_width=200)
        # the switch shows the page's language (set in the browser by HEAD) and stores a new choice, then reloads
        demo.load(None, None, language, js=CURRENT_JS)
        language.input(None, language, None, js=SWITCH_JS)
        with gr.Tabs(elem_id="lep-tabs") as tabs:
            ctx.ui["tabs"] = tabs  # tabs switch to another with `return gr.Tabs(selected=<tab id>)` into ctx.ui["tabs"]
            for name, _label in TABS:
                with gr.Tab(L(f"tab.{name}"), id=name):
                    importlib.import_module(f"lep_studio.tabs.{name}").build(ctx)
        ctx.page_load.wire(demo)
    return demo


def launch(workspace: str | os.PathLike | None = None, host: str = "127.0.0.1", port: int = 7860,
           auth: list[tuple[str, str]] | None = None) -> None:
    """Serve the app on host:port (no share link); only the workspace is exposed for file downloads.
    auth: logins (user, password) for Gradio's login page (lep_studio/access.py), None for none."""
    ctx = AppContext.create(str(workspace) if workspace else None)
    demo = build_app(ctx)
    demo.queue(default_concurrency_limit=1)
    css = CSS_PATH.read_text(encoding="utf-8") if CSS_PATH.is_file() else None
    demo.launch(
        server_name=host,
        server_port=port,
        share=False,
        auth=auth or None,
        allowed_paths=[str(ctx.workspace)],
        theme=gr.themes.Soft(),
        css=css,
        app_kwargs={"middleware": [Middleware(HeadFirst)]},  # the language choice, before Gradio starts
        i18n=translations(),  # after build_app: it includes the texts both() made while the tabs were built
    )
