"""The Gradio app: a short header, then one tab per pipeline step (lep_studio/tabs/TABS)."""

from __future__ import annotations

import importlib
import os
from pathlib import Path

import gradio as gr

from lep_studio.context import AppContext
from lep_studio.tabs import TABS

CSS_PATH = Path(__file__).resolve().parent.parent / "assets" / "style.css"

HEADER = """\
# LEP Studio
Adapt an instruct LLM to Russian with **Learned Embedding Propagation**: give the model a tokenizer that \
fits Russian, train only the new embeddings on plain Russian text, then carry them over to the instruct \
model with LEP so it keeps its chat skills while reading and writing Russian in far fewer tokens. \
Every step writes a plain folder into the workspace `{workspace}`.

**Start here:** press **Run the demo recipe** in the *Start* tab: it runs every step below on the demo model, each visible in its own tab, and opens *5 · Compare* when done.
"""


def build_app(ctx: AppContext) -> gr.Blocks:
    """All tabs in pipeline order; each tab module lays itself out in build(ctx)."""
    with gr.Blocks(title="LEP Studio") as demo:
        gr.Markdown(HEADER.format(workspace=ctx.workspace), elem_id="lep-header")
        with gr.Tabs(elem_id="lep-tabs") as tabs:
            ctx.ui["tabs"] = tabs  # tabs switch to another with `return gr.Tabs(selected=<tab id>)` into ctx.ui["tabs"]
            for name, label in TABS:
                with gr.Tab(label, id=name):
                    importlib.import_module(f"lep_studio.tabs.{name}").build(ctx)
        ctx.page_load.wire(demo)
    return demo


def launch(workspace: str | os.PathLike | None = None, host: str = "127.0.0.1", port: int = 7860) -> None:
    """Serve the app on host:port (no share link); only the workspace is exposed for file downloads."""
    ctx = AppContext.create(str(workspace) if workspace else None)
    demo = build_app(ctx)
    demo.queue(default_concurrency_limit=1)
    css = CSS_PATH.read_text(encoding="utf-8") if CSS_PATH.is_file() else None
    demo.launch(
        server_name=host,
        server_port=port,
        share=False,
        allowed_paths=[str(ctx.workspace)],
        theme=gr.themes.Soft(),
        css=css,
    )
