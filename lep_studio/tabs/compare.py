"""Compare tab: the original and the adapted model side by side, blind A/B votes, bits-per-char.

Replies are generated one side after the other (each streamed), so their speed figures do not
compete for the same cores; both use the same prompt, sampling settings and seed. In blind mode
the sides are shuffled per round (a round lasts until the vote) and named only after the vote.
"""

from __future__ import annotations

import datetime as _dt
import json
import random
from pathlib import Path
from typing import Any

import gradio as gr

from lep_core.errors import LepInputError
from lep_core.evaluation.bpc import score_text
from lep_core.evaluation.generation import Sampling, stream_reply
from lep_core.evaluation.models import ModelCache
from lep_core.evaluation.transcripts import write_transcripts
from lep_core.evaluation.votes import append_vote, make_vote, new_round_id, read_votes, tally, votes_path
from lep_studio.context import AppContext
from lep_studio.i18n import L, both, t
from lep_studio.tabs import compare_adaptation, compare_suite
from lep_studio.tabs.compare_tokens import token_view
from lep_studio.widgets import ASSETS, corpus_choices, guarded, message, neutral, normalised_line, number, text_files

ROLES = ("original", "adapted")
VOTES = (("A is better", "A"), ("B is better", "B"), ("Tie", "tie"), ("Both are bad", "both_bad"))
_CACHE = ModelCache(capacity=2)


PROMPT_KINDS = {"repeat": "✓", "continue": "✓", "chat": "✗"}  # ✓: what the demo model can do (the info line says so)


def demo_prompts() -> list[tuple[str, str]]:
    """(label, prompt) of assets/demo_prompts.json: repeat and continue prompts first, labelled ✓ (what the
    135M demo model can do in Russian), then chat prompts, labelled ✗ (beyond it)."""
    path = ASSETS / "demo_prompts.json"
    try:
        items = [item for item in json.loads(path.read_text(encoding="utf-8")) if item["prompt"]]
    except (OSError, ValueError, KeyError, TypeError):
        return []
    order = list(PROMPT_KINDS)
    items.sort(key=lambda it: order.index(it.get("kind", "chat")) if it.get("kind", "chat") in order else len(order))
    return [(f"{PROMPT_KINDS.get(it.get('kind', 'chat'), it.get('kind'))} · {it['prompt']}", it["prompt"]) for it in items]


def model_id(ctx: AppContext, src: str) -> str:
    """A stable id for the tally: the path inside the workspace, or SRC as given."""
    try:
        return str(Path(src).resolve().relative_to(ctx.workspace))
    except ValueError:
        return src


def new_session(blind: bool) -> dict[str, Any]:
    order = list(ROLES)
    if blind:
        random.shuffle(order)
    return {"round_id": new_round_id(), "sides": {"A": order[0], "B": order[1]}, "blind": blind,
            "history": {"A": [], "B": []}, "turns": [], "voted": False, "models": {}, "views": {"A": "", "B": ""}}


def side_label(session: dict[str, Any], side: str, ctx: AppContext) -> str:
    if session["blind"] and not session["voted"]:
        return t("compare.model_side", side=side)
    role = session["sides"][side]
    name = Path(session["models"].get(side, "")).name
    return f"{side} · {role}" + (f" · {name}" if name else "")


def stats_line(reply: dict[str, Any] | None) -> str:
    if not reply:
        return ""
    if reply.get("error"):
        return f"⚠ {reply['error']}"
    state = t("compare.stats.done") if reply.get("done") else t("compare.stats.writing")
    note = f" · _{'; '.join(reply['notes'])}_" if reply.get("notes") else ""
    return t("compare.stats.line", tokens=reply["tokens"], seconds=f"{reply['seconds']:.2f}",
             tokens_per_s=f"{reply['tokens_per_s']:.1f}", chars_per_s=f"{reply['chars_per_s']:.1f}", state=state) + note


def tally_rows(path: Path) -> list[list[Any]]:
    return [[r["model_1"], r["model_2"], r["wins_1"], r["wins_2"], r["ties"], r["both_bad"], r["n"]]
            for r in tally(read_votes(path))]


def build(ctx: AppContext) -> None:
    vote_file = votes_path(ctx.workspace)
    models = ctx.model_choices()
    default_orig = models[0][1] if models else None
    default_adapted = next((p for label, p in models if label.startswith("adapted")), default_orig)

    gr.Markdown(L("compare.send_one_prompt_to"))
    with gr.Row():
        original = gr.Dropdown(models, value=default_orig, label=L("compare.original_model"), allow_custom_value=True, scale=3,
                               elem_id="compare-original")
        adapted = gr.Dropdown(models, value=default_adapted, label=L("compare.adapted_model"), allow_custom_value=True, scale=3,
                              elem_id="compare-adapted")
        refresh = gr.Button(L("compare.refresh_list"), scale=1)
    with gr.Accordion(L("compare.sampling_the_same_for"), open=False, elem_id="compare-sampling"):
        with gr.Row():
            max_new = gr.Slider(1, 1024, value=128, step=1, label=L("compare.max_new_tokens"), elem_id="compare-max-new",
                                info=L("compare.longest_reply_in_tokens"))
            greedy = gr.Checkbox(value=True, label=L("compare.greedy"), info=L("compare.likeliest_token_each_step"))
            temperature = gr.Slider(0.05, 2.0, value=0.7, step=0.05, label=L("compare.temperature"), info=L("compare.higher_more_varied"))
            top_p = gr.Slider(0.05, 1.0, value=0.9, step=0.05, label=L("compare.top_p"), info=L("compare.sample_from_the_likeliest"))
            seed = gr.Number(value=0, precision=0, label=L("compare.seed"), info=L("compare.same_seed_same_replies"))
            canonical = gr.Checkbox(value=False, label=L("compare.canonical"), info=L("compare.canonical_info"),
                                    elem_id="compare-canonical")
    blind = gr.Checkbox(value=True, label=L("compare.blind_a_b_mode"),
                        elem_id="compare-blind")
    ctx.ui.update({"compare.original": original, "compare.adapted": adapted})  # pre-selected by Workspace "Open"
    session = gr.State(None)
    with gr.Row():
        with gr.Column():
            chat_a = gr.Chatbot(label=L("compare.model_a"), height=380, elem_id="compare-chat-a")
            stats_a = gr.Markdown(elem_id="compare-stats-a")
            tokens_a = gr.HTML(elem_id="compare-tokens-a")
        with gr.Column():
            chat_b = gr.Chatbot(label=L("compare.model_b"), height=380, elem_id="compare-chat-b")
            stats_b = gr.Markdown(elem_id="compare-stats-b")
            tokens_b = gr.HTML(elem_id="compare-tokens-b")
    with gr.Row():
        prompt = gr.Textbox(label=L("compare.prompt"), placeholder=L("compare.type_a_message_or"), lines=2,
                            scale=4, elem_id="compare-prompt")
        examples = gr.Dropdown(demo_prompts(), label=L("compare.demo_prompts"), value=None, scale=2,
                               info=L("compare.demo_prompts_info"), elem_id="compare-examples")
    with gr.Row():
        send = gr.Button(L("compare.send_to_both"), variant="primary", elem_id="compare-send")
        stop = gr.Button(L("compare.stop"))
        clear = gr.Button(L("compare.new_chat"))
    with gr.Row():
        vote_buttons = [gr.Button(L(f"compare.vote_{key}"), interactive=False, elem_id=f"compare-vote-{key}")
                        for _, key in VOTES]
    vote_status = gr.Markdown(elem_id="compare-vote-status")
    tally_table = gr.Dataframe(
        value=tally_rows(vote_file),  # and again on each page load (below), as one of the page's load steps
        headers=["model 1", "model 2", "wins 1", "wins 2", "ties", "both bad", "n"],
        label=both("compare.tally", lambda lang: t("compare.tally", lang, file=vote_file.relative_to(ctx.workspace))),
        interactive=False,
        elem_id="compare-tally",
    )
    ctx.page_load.add(lambda: tally_rows(vote_file), None, tally_table)
    with gr.Row():
        export = gr.Button(L("compare.export_transcript_jsonl_markdown"))
        files = gr.File(label=L("compare.transcript_files"), file_count="multiple", interactive=False)

    with gr.Accordion(L("compare.evaluate_bits_per_char"), open=False,
                      elem_id="compare-eval"):
        texts = [(f"held-out · {p.name}", str(p)) for p in sorted(ASSETS.glob("heldout_*.txt"))] + corpus_choices(ctx)
        eval_text = gr.Dropdown(texts, value=texts[0][1] if texts else None, label=L("compare.text"), allow_custom_value=True,
                                info=L("compare.russian_text_neither_model"))
        eval_btn = gr.Button(L("compare.evaluate_both_models"), elem_id="compare-eval-run")
        eval_table = gr.Dataframe(headers=["model", "role", "bits/char", "chars/token", "prefill chars/s", "tokens"],
                                  interactive=False, elem_id="compare-eval-table")
        eval_plot = gr.Plot(elem_id="compare-eval-plot")
        compare_adaptation.build(original, adapted, _CACHE)

    # ---- handlers -------------------------------------------------------------------------
    def on_refresh():
        choices = ctx.model_choices()
        return gr.update(choices=choices), gr.update(choices=choices)

    def chats_of(sess):
        return [gr.update(value=sess["history"][s], label=side_label(sess, s, ctx)) for s in ("A", "B")]

    def votes_enabled(on: bool):
        return [gr.update(interactive=on) for _ in VOTES]

    def views_of(sess):
        """The token views, hidden in blind mode until the vote (the new tokens would name the adapted side)."""
        shown = not sess["blind"] or sess["voted"]
        return [sess["views"][s] if shown else "" for s in ("A", "B")]

    def view_of(reply, tokenizer, orig_src) -> str:
        try:
            return token_view(reply, tokenizer, _CACHE.get(orig_src)[1]) if orig_src else ""
        except Exception:  # noqa: BLE001 - the view is an extra; the reply itself is shown
            return ""

    def on_send(orig_src, adapted_src, text, n_new, is_greedy, temp, topp, seed_value, is_canonical, is_blind, sess):
        text = (text or "").strip()
        if not text:
            gr.Warning(t("compare.msg.the_prompt_is_empty"), duration=5)
            yield (gr.skip(),) * 9 + tuple(gr.skip() for _ in VOTES)
            return
        try:
            sampling = Sampling(max_new_tokens=number(n_new, "max new tokens", 1), greedy=bool(is_greedy),
                                temperature=number(temp, "temperature", whole=False),
                                top_p=number(topp, "top-p", whole=False),
                                seed=number(seed_value if seed_value is not None else 0, "seed"),
                                canonical=bool(is_canonical))
        except LepInputError as exc:
            gr.Warning(str(exc))
            yield (gr.skip(),) * 9 + tuple(gr.skip() for _ in VOTES)
            return
        if sess is None or sess["voted"] or sess["blind"] != bool(is_blind):
            sess = new_session(bool(is_blind))
        srcs = {"original": orig_src, "adapted": adapted_src}
        sess["models"] = {s: srcs[sess["sides"][s]] or "" for s in ("A", "B")}
        stats: dict[str, dict | None] = {"A": None, "B": None}
        turn = {"round_id": sess["round_id"], "prompt": text, "sampling": sampling.as_dict(), "replies": {}}
        for s in ("A", "B"):
            sess["history"][s] = sess["history"][s] + [{"role": "user", "content": text}]
        sess["views"] = {"A": "", "B": ""}
        yield (*chats_of(sess), "", "", "", sess, gr.skip(), *votes_enabled(False), "", "")
        for s in ("A", "B"):
            src = sess["models"][s]
            messages = [{"role": m["role"], "content": m["content"]} for m in sess["history"][s]
                        if not m.get("metadata")]
            sess["history"][s].append({"role": "assistant", "content": ""})
            try:
                if not src:
                    raise LepInputError(t("compare.msg.no_model_chosen_pick", s=sess['sides'][s]))
                model, tokenizer = _CACHE.get(src)
                for reply in stream_reply(model, tokenizer, messages, sampling):
                    sess["history"][s][-1] = {"role": "assistant", "content": reply.text}
                    stats[s] = {**reply.as_dict(), "done": reply.done}
                    yield (*chats_of(sess), stats_line(stats["A"]), stats_line(stats["B"]), gr.skip(), sess,
                           gr.skip(), *votes_enabled(False), *views_of(sess))
                sess["views"][s] = view_of(reply, tokenizer, srcs["original"])
                turn["replies"][s] = {"model": model_id(ctx, src), "role": sess["sides"][s], **reply.as_dict()}
                if not reply.used_chat_template:
                    gr.Warning(t("compare.msg.model_has_no_chat", s=s))
            except Exception as exc:  # noqa: BLE001 - one side failing leaves the other working
                sess["history"][s][-1] = {"role": "assistant", "content": f"⚠ {message(exc)}",
                                          "metadata": {"title": "error"}}
                stats[s] = {"error": message(exc)}
                turn["replies"][s] = {"model": model_id(ctx, src or "?"), "role": sess["sides"][s],
                                      "error": message(exc)}
        sess["turns"].append(turn)
        both_ok = all("text" in turn["replies"][s] for s in ("A", "B"))
        status = "Both answers are in: vote below." if sess["blind"] and both_ok else ""
        yield (*chats_of(sess), stats_line(stats["A"]), stats_line(stats["B"]), "", sess, status,
               *votes_enabled(sess["blind"] and both_ok), *views_of(sess))

    @guarded
    def on_vote(choice: str, sess):
        if not sess or sess["voted"] or not sess["turns"]:
            gr.Warning(t("compare.msg.nothing_to_vote_on"))
            return (gr.skip(),) * 6 + tuple(gr.skip() for _ in VOTES)  # chats, status, session, token views
        last = sess["turns"][-1]
        vote = make_vote(
            choice, {s: model_id(ctx, sess["models"][s]) for s in ("A", "B")}, dict(sess["sides"]),
            last["prompt"], {s: last["replies"][s].get("text", "") for s in ("A", "B")}, last["sampling"],
            round_id=sess["round_id"], extra={"turns": len(sess["turns"])},
        )
        append_vote(vote_file, vote)
        sess["voted"] = True
        last["vote"] = choice
        reveal = ", ".join(t("compare.vote.side_was", side=s, role=sess["sides"][s]) for s in ("A", "B"))
        return (*chats_of(sess), sess, t("compare.vote.recorded", vote=t(f"compare.vote_{choice}"),
                                         reveal=reveal), *votes_enabled(False), *views_of(sess))

    def on_clear(is_blind):
        sess = new_session(bool(is_blind))
        return (*chats_of(sess), "", "", sess, "", *votes_enabled(False), "", "")

    @guarded
    def on_export(sess):
        if not sess or not sess["turns"]:
            gr.Warning(t("compare.msg.no_transcript_yet_send"))
            return gr.skip()
        stamp = _dt.datetime.now().strftime("%Y%m%d-%H%M%S")
        jsonl, md = write_transcripts(vote_file.parent / "transcripts", sess["turns"], f"{stamp}-{sess['round_id']}")
        return [str(jsonl), str(md)]

    def on_eval(orig_src, adapted_src, text_path, progress=gr.Progress()):
        import plotly.graph_objects as go

        from lep_core.corpus.reading import read_corpus
        from lep_core.corpus.text import TextChanges

        changes = TextChanges()
        try:
            text = read_corpus(text_files(ctx, text_path, "text"), changes=changes) if text_path else ""
            if not text:
                raise LepInputError(t("compare.msg.no_text_chosen_pick"))
        except Exception as exc:  # noqa: BLE001 - one readable line, never a bare Gradio error
            gr.Warning(message(exc))
            return gr.skip(), gr.skip()
        if changes:  # the figures are of the normalised text, as `lep eval` gives them: say what changed
            gr.Info(normalised_line(changes))
        rows = []
        for role, src in (("original", orig_src), ("adapted", adapted_src)):
            progress(0.5 if role == "adapted" else 0.0, desc=t("compare.msg.scoring_the_model", role=role))
            try:
                if not src:
                    raise LepInputError(t("compare.msg.no_model_chosen_pick2", role=role))
                model, tokenizer = _CACHE.get(src)
                score = score_text(model, tokenizer, text)
                rows.append([model_id(ctx, src), role, round(score.bits_per_char, 4),
                             round(score.chars_per_token, 3), round(score.prefill_chars_per_s or 0, 1), score.tokens])
            except Exception as exc:  # noqa: BLE001
                gr.Warning(t("compare.msg.msg", role=role, message=message(exc)))
        if not rows:
            return gr.skip(), gr.skip()
        names = [f"{r[1]}: {Path(r[0]).name}" for r in rows]
        fig = go.Figure([go.Bar(name="bits/char (lower is better)", x=names, y=[r[2] for r in rows]),
                         go.Bar(name="chars/token (higher is better)", x=names, y=[r[3] for r in rows])])
        fig.update_layout(barmode="group", height=320, margin=dict(l=20, r=20, t=30, b=20))
        return rows, neutral(fig)

    refresh.click(on_refresh, outputs=[original, adapted])
    from gradio.context import Context

    Context.block.select(on_refresh, None, [original, adapted], show_progress="hidden")  # new models show up
    if "start.pair" in ctx.ui:  # the Start tab's finished recipe: its original and adapted model, pre-selected
        ctx.ui["start.pair"].change(
            lambda p: (gr.update(choices=ctx.model_choices(), value=p[0]), gr.update(choices=ctx.model_choices(), value=p[1]))
            if p else (gr.skip(), gr.skip()), ctx.ui["start.pair"], [original, adapted])
    examples.change(lambda p: p or gr.skip(), inputs=examples, outputs=prompt)
    send_inputs = [original, adapted, prompt, max_new, greedy, temperature, top_p, seed, canonical, blind, session]
    send_outputs = [chat_a, chat_b, stats_a, stats_b, prompt, session, vote_status, *vote_buttons, tokens_a, tokens_b]
    send_event = send.click(on_send, send_inputs, send_outputs)
    submit_event = prompt.submit(on_send, send_inputs, send_outputs)
    stop.click(None, cancels=[send_event, submit_event])
    for button, (_, key) in zip(vote_buttons, VOTES):
        button.click(lambda sess, k=key: on_vote(k, sess), [session],
                     [chat_a, chat_b, session, vote_status, *vote_buttons, tokens_a, tokens_b]).then(
            lambda: tally_rows(vote_file), outputs=tally_table)
    clear.click(on_clear, [blind], [chat_a, chat_b, stats_a, stats_b, session, vote_status, *vote_buttons, tokens_a,
                                    tokens_b])
    export.click(on_export, [session], files)
    eval_btn.click(on_eval, [original, adapted, eval_text], [eval_table, eval_plot])
    compare_suite.build(ctx, original, adapted)  # the evaluation suite: its own section and job
