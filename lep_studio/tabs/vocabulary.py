"""Vocabulary tab: extend or replace a tokenizer (preview before writing), then initialise a model for it."""

from __future__ import annotations

from pathlib import Path
from typing import Callable

import gradio as gr
import pandas as pd

from lep_core.embeddings.init import HeadMethod, InitMethod, init_model
from lep_core.errors import LepInputError
from lep_core.tokenizer.analysis import compare
from lep_core.tokenizer.extend import build_extended_tokenizer, extend_tokenizer, learn_extension
from lep_core.tokenizer.learn import ALPHABETS, UNITS
from lep_core.tokenizer.train import ALGORITHMS, train_tokenizer
from lep_core.tokenizer.word_counts import count_words
from lep_core.workspace.store import list_artifacts, read_manifest
from lep_studio.context import AppContext
from lep_studio.i18n import L, t
from lep_studio.widgets import (
    ASSETS,
    cached_tokenizer,
    corpus_choices,
    guarded,
    normalised_line,
    number,
    output_dir,
    save_uploads,
    text_files,
    tokenizer_choices,
)

HELDOUT = ASSETS / "heldout_ru.txt"
SAMPLE_ROWS = 40
# whole words keep bits-per-char on the demo model; sub-word pieces cost 20 % more (issue 14, README)
DEFAULT_UNIT, DEFAULT_ADD = "words", 4000
COMPARE_COLUMNS = ["tokenizer", "vocab", "tokens", "chars/token", "× first", "round-trip errors"]
SAMPLE_COLUMNS = ["id", "text", "count in corpus"]
NO_LIKE = "(none: byte-level BPE with ChatML specials)"


def _bar(progress: gr.Progress, desc: str) -> Callable[[int, int], None]:
    return lambda done, total: progress(done / max(total, 1), desc=desc)


def _heldout_rows(tokenizers: dict) -> pd.DataFrame:
    """chars/token of each tokenizer on Russian text that is not in the demo corpus."""
    rows = compare(tokenizers, HELDOUT.read_text(encoding="utf-8"))
    values = [(r["tokenizer"], r["vocab_size"], r["tokens"], round(r["chars_per_token"], 3),
               round(r["relative_compression"], 3), r["roundtrip_errors"]) for r in rows]
    return pd.DataFrame(values, columns=COMPARE_COLUMNS)


def _shown(text: str) -> str:
    return text.replace(" ", "␣").replace("\n", "↵")


def workspace_table(ctx: AppContext, kind: str) -> pd.DataFrame:
    """What is in workspace/<kind>: name, how it was made, size, when."""
    rows = []
    for folder in list_artifacts(kind, ctx.workspace):
        man = read_manifest(folder) or {}
        params, metrics = man.get("params", {}), man.get("metrics", {})
        size = metrics.get("vocab_size_after") or metrics.get("vocab_size") or metrics.get("new_vocab") or ""
        how = params.get("operation", "")
        how += f" · {params['method']}" if "method" in params else ""
        rows.append({"name": folder.name, "made by": how or "(external)", "vocab": size,
                     "created": man.get("created", "")[:19].replace("T", " ")})
    return pd.DataFrame(rows, columns=["name", "made by", "vocab", "created"])


def extension_numbers(add: object, min_freq: object) -> tuple[int, int]:
    return number(add, "new tokens", minimum=1), number(min_freq, "min count", minimum=1)


def preview(base: str, corpus: list[str], add: int, alphabet: str, min_freq: int, unit: str = "words",
            progress=gr.Progress()):
    """Learn the extension in memory and show what Create would write; nothing touches the disk."""
    if not base:
        raise LepInputError(t("vocabulary.msg.pick_a_base_tokenizer"))
    add, min_freq = extension_numbers(add, min_freq)
    progress(0, desc="reading corpus")
    tok = cached_tokenizer(base)
    words = count_words(tok, corpus, None, alphabet, _bar(progress, "reading corpus"))
    ext = learn_extension(tok, words.counts, add, alphabet, min_freq, _bar(progress, "learning tokens"), unit)
    progress(0.95, desc="building the extended tokenizer")
    new = build_extended_tokenizer(tok, ext)
    table = _heldout_rows({"before": tok, "after": new})
    step = max(1, len(ext.new_tokens) // SAMPLE_ROWS)
    samples = pd.DataFrame([(r["id"], _shown(r["text"]), r["count"]) for r in ext.table()[::step][:SAMPLE_ROWS]],
                           columns=SAMPLE_COLUMNS)
    before, after = table["chars/token"]
    status = (t("vocabulary.status.preview", mb=f"{words.corpus_bytes / 2**20:,.1f}", words=f"{len(words.counts):,}",
                new=f"{len(ext.new_tokens):,}", before_vocab=f"{len(tok):,}", after_vocab=f"{len(new):,}",
                before=f"{before:.2f}", after=f"{after:.2f}", gain=f"{after / before:.2f}")
              + (t("vocabulary.status.dropped", n=len(ext.unproducible)) if ext.unproducible else "")
              + t("vocabulary.status.nothing_written")
              + (f" {note}" if (note := normalised_line(words.normalised)) else ""))
    return status, table, samples


def build(ctx: AppContext) -> None:
    toks = tokenizer_choices(ctx)
    models = ctx.model_choices()
    corpora = corpus_choices(ctx)
    demo_corpus = [p for label, p in corpora if label.startswith("demo")]
    base0 = models[0][1] if models else (toks[0][1] if toks else None)

    def suggest(base: str | None, add: float | None) -> str:
        return f"{Path(base).name if base else 'tokenizer'}-ru{int(add or 0)}"

    gr.Markdown(L("vocabulary.give_the_model_a"))
    with gr.Tabs() as steps:
        ctx.ui["vocabulary.tabs"] = steps
        with gr.Tab(L("vocabulary.extend"), id="extend"):
            with gr.Row():
                with gr.Column(scale=2, min_width=380):
                    base = gr.Dropdown(toks, value=base0, label=L("vocabulary.base_tokenizer_or_model"), allow_custom_value=True,
                                       info=L("vocabulary.the_tokenizer_that_gets"))
                    corpus = gr.Dropdown(corpora, value=demo_corpus, multiselect=True, label=L("vocabulary.corpus_files"), elem_id="ext-corpus",
                                         info=L("vocabulary.russian_text_the_new"))
                    upload = gr.UploadButton(L("vocabulary.upload_corpus_files_copied"), size="sm",
                                             file_count="multiple", file_types=[".txt", ".jsonl", ".parquet"],
                                             elem_id="ext-upload")
                    with gr.Row():
                        add = gr.Number(DEFAULT_ADD, precision=0, minimum=1, label=L("vocabulary.new_tokens"), elem_id="ext-add", min_width=110,
                                        info=L("vocabulary.how_many_to_add"))
                        min_freq = gr.Number(2, precision=0, minimum=1, label=L("vocabulary.min_count"), min_width=100,
                                             info=L("vocabulary.a_new_token_must"))
                        alphabet = gr.Radio(list(ALPHABETS), value="cyrillic", label=L("vocabulary.alphabet"), min_width=170, scale=2,
                                            info=L("vocabulary.cyrillic_only_russian_letters"))
                    unit = gr.Radio(list(UNITS), value=DEFAULT_UNIT, label=L("vocabulary.tokens"), elem_id="ext-unit",
                                    info=L("vocabulary.tokens_info"))
                    with gr.Row():
                        name = gr.Textbox(suggest(base0, DEFAULT_ADD), label=L("vocabulary.output_name_workspace_tokenizers"),
                                          elem_id="ext-name", scale=3)
                        overwrite = gr.Checkbox(label=L("vocabulary.overwrite"), value=False, scale=1, min_width=100,
                                                info=L("vocabulary.replace_a_folder_of"))
                    with gr.Row():
                        preview_btn = gr.Button(L("vocabulary.preview"), elem_id="ext-preview")
                        create_btn = gr.Button(L("vocabulary.create"), variant="primary", elem_id="ext-create")
                with gr.Column(scale=3):
                    ext_status = gr.Markdown(L("vocabulary.pick_a_base_and"), elem_id="ext-status",
                                             elem_classes="lep-status")
                    ext_compare = gr.Dataframe(pd.DataFrame(columns=COMPARE_COLUMNS), label=L("vocabulary.held_out_russian_text"), interactive=False,
                                               elem_id="ext-compare", elem_classes="lep-table")
                    ext_samples = gr.Dataframe(pd.DataFrame(columns=SAMPLE_COLUMNS), label=L("vocabulary.sample_of_the_new"), interactive=False,
                                               max_height=300, elem_id="ext-samples", elem_classes="lep-table")
        with gr.Tab(L("vocabulary.replace"), id="replace"):
            with gr.Row():
                with gr.Column(scale=2, min_width=380):
                    r_corpus = gr.Dropdown(corpora, value=demo_corpus, multiselect=True, label=L("vocabulary.corpus_files"), elem_id="rep-corpus",
                                           info=L("vocabulary.text_the_new_tokenizer"))
                    with gr.Row():
                        r_size = gr.Number(8000, precision=0, minimum=300, label=L("vocabulary.vocabulary_size"),
                                           info=L("vocabulary.tokens_in_the_new"))
                        r_algo = gr.Radio(list(ALGORITHMS), value="bpe", label=L("vocabulary.algorithm"),
                                         info=L("vocabulary.bpe_merges_as_gpt"))
                    r_like = gr.Dropdown([NO_LIKE, *toks], value=base0 or NO_LIKE, allow_custom_value=True,
                                         label=L("vocabulary.keep_special_tokens_chat"),
                                         info=L("vocabulary.usually_the_model_you"))
                    with gr.Row():
                        r_name = gr.Textbox("ru-bpe-8000", label=L("vocabulary.output_name_workspace_tokenizers"), scale=3)
                        r_overwrite = gr.Checkbox(label=L("vocabulary.overwrite"), value=False, scale=1, min_width=100,
                                                info=L("vocabulary.replace_a_folder_of"))
                    r_btn = gr.Button(L("vocabulary.train"), variant="primary", elem_id="rep-train")
                with gr.Column(scale=3):
                    r_status = gr.Markdown(L("vocabulary.a_new_vocabulary_changes"), elem_id="rep-status",
                                           elem_classes="lep-status")
                    r_compare = gr.Dataframe(pd.DataFrame(columns=COMPARE_COLUMNS), label=L("vocabulary.held_out_russian_text2"), interactive=False, elem_classes="lep-table")
        with gr.Tab(L("vocabulary.initialise_a_model"), id="init"):
            with gr.Row():
                with gr.Column(scale=2, min_width=380):
                    i_model = gr.Dropdown(models, value=base0 if models else None, label=L("vocabulary.model"),
                                          allow_custom_value=True, elem_id="init-model")
                    ctx.ui["vocabulary.init_model"] = i_model
                    i_tok = gr.Dropdown(ctx.choices("tokenizer"), label=L("vocabulary.new_tokenizer_workspace_tokenizers"),
                                        info=L("vocabulary.the_extended_or_replacement"),
                                        elem_id="init-tokenizer")
                    i_method = gr.Radio([m.value for m in InitMethod], value="mean", label=L("vocabulary.new_input_rows_from"),
                                        info=L("vocabulary.mean_mean_of_the"), elem_id="init-method")
                    i_head = gr.Radio([m.value for m in HeadMethod], value="fitted", label=L("vocabulary.new_head_rows_from"),
                                      info=L("vocabulary.the_head_decides_which"),
                                      elem_id="init-head")
                    i_corpus = gr.Dropdown(corpora, value=demo_corpus, multiselect=True, elem_id="init-corpus",
                                           label=L("vocabulary.corpus_for_the_fitted"), info=L("vocabulary.russian_text_a_few"))
                    with gr.Row():
                        i_name = gr.Textbox("", label=L("vocabulary.output_name_workspace_models"), elem_id="init-name", scale=3)
                        i_overwrite = gr.Checkbox(label=L("vocabulary.overwrite"), value=False, scale=1, min_width=100,
                                                info=L("vocabulary.replace_a_folder_of"))
                    i_btn = gr.Button(L("vocabulary.initialise"), variant="primary", elem_id="init-run")
                with gr.Column(scale=3):
                    i_status = gr.Markdown(L("vocabulary.resizes_the_model_s"), elem_id="init-status", elem_classes="lep-status")
                    model_table = gr.Dataframe(workspace_table(ctx, "model"), label=L("vocabulary.models_in_the_workspace"),
                                               interactive=False, elem_id="model-table", elem_classes="lep-table")
    tok_table = gr.Dataframe(workspace_table(ctx, "tokenizer"), label=L("vocabulary.tokenizers_in_the_workspace"),
                             interactive=False, elem_id="tok-table", elem_classes="lep-table")
    refresh = gr.Button(L("vocabulary.refresh_lists"), size="sm")

    listed = [base, r_like, i_model, i_tok, tok_table, model_table]

    def lists(new_tok: str | None = None):
        """Fresh choices everywhere after something was written (the new tokenizer pre-selected for init)."""
        t = tokenizer_choices(ctx)
        return (gr.Dropdown(choices=t), gr.Dropdown(choices=[NO_LIKE, *t]), gr.Dropdown(choices=ctx.model_choices()),
                gr.Dropdown(choices=ctx.choices("tokenizer"), value=new_tok) if new_tok else
                gr.Dropdown(choices=ctx.choices("tokenizer")),
                workspace_table(ctx, "tokenizer"), workspace_table(ctx, "model"))

    @guarded
    def create(base_v, corpus_v, add_v, alphabet_v, min_freq_v, unit_v, name_v, overwrite_v, progress=gr.Progress()):
        if not base_v:
            raise LepInputError(t("vocabulary.msg.pick_a_base_tokenizer"))
        add_n, min_n = extension_numbers(add_v, min_freq_v)
        paths = text_files(ctx, corpus_v)
        out = output_dir(ctx, "tokenizer", name_v, overwrite_v)
        reading = t("vocabulary.progress.reading_corpus")
        progress(0, desc=reading)
        r = extend_tokenizer(base_v, paths, add_n, out, alphabet_v, min_n,
                             overwrite=bool(overwrite_v), progress=_bar(progress, t("vocabulary.progress.learning_tokens")),
                             read_progress=_bar(progress, reading), unit=unit_v)
        dropped = (t("vocabulary.status.extended_dropped", n=r["unproducible_dropped"]) if r["unproducible_dropped"]
                   else "")
        status = t("vocabulary.status.extended", name=out.name, mb=f"{r['corpus_bytes'] / 2**20:,.1f}",
                   added=f"{r['added']:,}", vocab=f"{r['vocab_size_after']:,}",
                   before=f"{r['corpus_chars_per_token_before']:.2f}", after=f"{r['corpus_chars_per_token_after']:.2f}",
                   errors=r["roundtrip_errors"], dropped=dropped)
        if note := normalised_line(r["normalised"]):
            status += f" {note}"
        return status, *lists(str(out))

    @guarded
    def replace(corpus_v, size_v, algo_v, like_v, name_v, overwrite_v, progress=gr.Progress()):
        size = number(size_v, "vocabulary size", minimum=300)
        paths = text_files(ctx, corpus_v)
        out = output_dir(ctx, "tokenizer", name_v, overwrite_v)
        like = None if not like_v or like_v == NO_LIKE else like_v
        progress(0, desc=t("vocabulary.progress.training_tokenizer"))
        r = train_tokenizer(paths, size, algo_v, out, like=like, overwrite=bool(overwrite_v))
        new = cached_tokenizer(str(out))
        table = _heldout_rows({f"like · {Path(like).name}": cached_tokenizer(like), f"new · {out.name}": new}
                              if like else {f"new · {out.name}": new})
        like_errors = (t("vocabulary.status.replaced_like", errors=r["like_wide_roundtrip_errors"])
                       if "like_wide_roundtrip_errors" in r else "")
        status = t("vocabulary.status.replaced", name=out.name, vocab=f"{r['vocab_size']:,}",
                   chars_per_token=f"{r['corpus_chars_per_token']:.2f}", errors=r["roundtrip_errors"],
                   wide_errors=r["wide_roundtrip_errors"], wide_lines=r["wide_roundtrip_lines"], like=like_errors,
                   unknown=r["wide_unknown_tokens"])
        return status, table, *lists(str(out))

    @guarded
    def initialise(model_v, tok_v, method_v, head_v, corpus_v, name_v, overwrite_v, progress=gr.Progress()):
        if not model_v or not tok_v:
            raise LepInputError(t("vocabulary.msg.pick_a_model_and"))
        paths = [str(p) for p in text_files(ctx, corpus_v)] if head_v == HeadMethod.fitted.value else None
        out = output_dir(ctx, "model", name_v or f"{Path(model_v).name}-{Path(tok_v).name}", overwrite_v)
        r = init_model(model_v, tok_v, out, method_v, overwrite=bool(overwrite_v),
                       progress=lambda fraction, message: progress(fraction, desc=message), head_method=head_v,
                       corpus=paths)
        status = t("vocabulary.status.initialised", name=out.name, vocab=f"{r['new_vocab']:,}",
                   rows=f"{r['initialised_rows']:,}", method=method_v, head=head_v, copied=f"{r['copied_rows']:,}",
                   tied=t("vocabulary.status.tied") if r["tied"] else t("vocabulary.status.untied"),
                   seconds=f"{r['seconds']:.1f}")
        return status, *lists()

    gr.on([base.change, add.change], suggest, [base, add], name, show_progress="hidden")
    gr.on([i_model.change, i_tok.change], lambda m, t: f"{Path(m).name}-{Path(t).name}" if m and t else "",
          [i_model, i_tok], i_name, show_progress="hidden")
    @guarded
    def uploaded(files, current, current_r):
        saved = save_uploads(ctx, files)  # before listing, so the new files are among the choices
        choices = corpus_choices(ctx)
        return (gr.Dropdown(choices=choices, value=[*(current or []), *saved]),
                gr.Dropdown(choices=choices, value=current_r))

    upload.upload(uploaded, [upload, corpus, r_corpus], [corpus, r_corpus])
    @guarded
    def preview_clicked(base_v, corpus_v, add_v, alphabet_v, min_freq_v, unit_v, progress=gr.Progress()):
        return preview(base_v, text_files(ctx, corpus_v), add_v, alphabet_v, min_freq_v, unit_v, progress)

    preview_btn.click(preview_clicked, [base, corpus, add, alphabet, min_freq, unit], [ext_status, ext_compare, ext_samples],
                      show_progress_on=ext_status)
    create_btn.click(create, [base, corpus, add, alphabet, min_freq, unit, name, overwrite], [ext_status, *listed],
                     show_progress_on=ext_status)
    r_btn.click(replace, [r_corpus, r_size, r_algo, r_like, r_name, r_overwrite], [r_status, r_compare, *listed],
                show_progress_on=r_status)
    i_btn.click(initialise, [i_model, i_tok, i_method, i_head, i_corpus, i_name, i_overwrite], [i_status, *listed],
                show_progress_on=i_status)
    refresh.click(lambda: (*lists(), *[gr.Dropdown(choices=corpus_choices(ctx))] * 2), None, [*listed, corpus, r_corpus])
