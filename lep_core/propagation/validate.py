"""Check the whole propagation job before anything runs, and report every problem at once (one line)."""

from __future__ import annotations

from pathlib import Path

from lep_core.propagation.embeddings_io import ModelFiles

SIZE_KEYS = ("num_hidden_layers", "intermediate_size", "num_attention_heads")


def _tied(m: ModelFiles) -> str:
    return "tied" if m.tied else "untied"


def check_models(base: ModelFiles, instructs: dict[str, ModelFiles], adapted: ModelFiles) -> list[str]:
    """Families, hidden sizes, body sizes and tie settings of the three roles."""
    problems: list[str] = []
    named = [(f"instruct {n}", m) for n, m in instructs.items()] + [("the adapted model", adapted)]
    for label, m in named:
        if m.family != base.family:
            problems.append(f"{label} is a {m.family} model but the base is {base.family}: LEP needs one model family")
        elif m.hidden != base.hidden:
            problems.append(f"{label} has hidden size {m.hidden} but the base {base.hidden}: it is not derived from this base")
        else:
            for key in SIZE_KEYS:
                if key in base.config and m.config.get(key) != base.config[key]:
                    problems.append(f"{label} has {key}={m.config.get(key)} but the base {base.config[key]}: "
                                    "it is not derived from this base")
                    break
    ties = {"base": base.tied, **{label: m.tied for label, m in named}}
    if base.tied and all(m.tied for _, m in named[:-1]) and not adapted.tied:
        ties.pop("the adapted model")  # its head was untied by `lep model init --head-method`: the result is untied
    if len(set(ties.values())) > 1:
        spelled = ", ".join(f"{k} {'tied' if v else 'untied'}" for k, v in ties.items())
        problems.append(f"tie settings disagree ({spelled}): the base, instruct and adapted models must all be tied or all untied")
    for label, m in named[:-1]:
        if m.rows < base.rows:
            problems.append(f"{label} has {m.rows} embedding rows, fewer than the base's {base.rows}: it is not derived from this base")
    return problems


def check_tokenizers(base: ModelFiles, base_tok, instructs: dict[str, tuple[ModelFiles, object]],
                     adapted: ModelFiles, new_tok) -> list[str]:
    """Each tokenizer belongs to its model; each instruct tokenizer keeps the base's vocabulary."""
    problems: list[str] = []
    if len(base_tok) > base.rows:
        problems.append(f"the base tokenizer has {len(base_tok)} tokens but the base embeddings {base.rows} rows: "
                        "it does not belong to the base")
    padded = base.rows > len(base_tok)
    if len(new_tok) > adapted.rows or (not padded and adapted.rows != len(new_tok)):
        problems.append(
            f"the adapted model's tokenizer has {len(new_tok)} tokens but its embeddings {adapted.rows} rows: "
            "the tokenizer does not belong to the adapted model (make it with `lep model init` and train it)"
        )
    base_vocab = base_tok.backend_tokenizer.get_vocab(with_added_tokens=False)
    for name, (files, tok) in instructs.items():
        if len(tok) > files.rows:
            problems.append(f"instruct {name}'s tokenizer has {len(tok)} tokens but its embeddings {files.rows} rows")
        theirs = tok.get_vocab()
        differ = [piece for piece, idx in base_vocab.items() if theirs.get(piece) != idx]
        if differ:
            problems.append(f"instruct {name}'s tokenizer differs from the base's in {len(differ)} tokens "
                            f"(e.g. {differ[0]!r}): is it fine-tuned from this base?")
    return problems


def check_names(instruct: list[str]) -> list[str]:
    names = [Path(str(s).rstrip("/")).name for s in instruct]
    dupes = sorted({n for n in names if names.count(n) > 1})
    return [f"two instruct models are both named {n}: their outputs would collide in OUT/{n}" for n in dupes]
