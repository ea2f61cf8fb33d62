"""Compare tab, token view (issue 25): a reply's tokens shaded by vocabulary (the original's, or new), with the
generation steps it took against what the original tokenizer would need for the same text.

The pieces are the Tokenizers tab's (lep_core.tokenizer.analysis: byte tokens grouped into whole characters);
the figures are lep_core.evaluation.figures'. Hovering a piece shows its id(s) and text.
"""

from __future__ import annotations

import html

from lep_core.evaluation.figures import new_vocabulary, reply_steps
from lep_core.tokenizer.analysis import id_pieces
from lep_studio.i18n import t


def steps_line(figures: dict) -> str:
    """"N tokens; the original tokenizer would need M (×M/N)" with the count of new tokens."""
    n, m = figures["emitted_tokens"], figures["original_tokens"]
    ratio = f"{m / n:.2f}" if n else "–"
    return t("compare.tokens.line", n=n, m=m, ratio=ratio, new=figures["new_tokens"])


def _span(text: str, ids: list[int], new: bool) -> str:
    kind = "new" if new else "old"
    shown = text.replace(" ", "·") if text.strip() == "" else text
    title = t("compare.tokens.hover", ids=" ".join(map(str, ids)), text=text.replace(" ", "␣").replace("\n", "↵"),
              vocab=t(f"compare.tokens.{kind}"))
    body = html.escape(shown).replace("\n", "↵<br>")
    return f'<span class="lep-tok lep-tok-{kind}" title="{html.escape(title, quote=True)}">{body}</span>'


def token_view(reply, tokenizer, original_tokenizer) -> str:
    """HTML of one finished reply (generation.Reply, with its ids): the steps line, a legend and the pieces."""
    fresh = new_vocabulary(tokenizer, original_tokenizer)
    figures = reply_steps(reply, tokenizer, original_tokenizer, fresh)
    spans = "".join(_span(p.text, p.ids, any(i in fresh for i in p.ids)) for p in id_pieces(tokenizer, reply.ids)
                    if not p.special)
    legend = (f'<span class="lep-tok lep-tok-new">{html.escape(t("compare.tokens.new"))}</span> '
              f'<span class="lep-tok lep-tok-old">{html.escape(t("compare.tokens.old"))}</span>')
    return (f'<div class="lep-tokens"><div class="lep-tok-line">{html.escape(steps_line(figures))} {legend}</div>'
            f'<div class="lep-tok-text">{spans}</div></div>')
