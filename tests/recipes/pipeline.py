"""A whole pipeline built with the calls the app's buttons make (absolute paths, as its dropdowns hold them).

Shared by the export test and the Workspace tab's browser test; tiny models, a few seconds.
"""

from __future__ import annotations

import shutil
from pathlib import Path

NAMES = {"tokenizer": "tokenizers/tok-ru", "model": "models/init-ru", "run": "runs/run-ru", "adapted": "adapted/chat-ru"}


def sources(ws: Path, tiny_llama: Path, ru_corpus: list[Path]) -> None:
    """What the user brings: a source model in models/ and an uploaded corpus in corpora/."""
    shutil.copytree(tiny_llama, ws / "models" / "base")
    (ws / "corpora").mkdir(parents=True, exist_ok=True)
    shutil.copy(ru_corpus[0], ws / "corpora" / "ru.txt")


def build_pipeline(ws: Path, tiny_llama: Path, ru_corpus: list[Path]) -> Path:
    """extend -> init -> train (3 steps) -> propagate, with non-default settings so the export must carry them."""
    from lep_core.embeddings.init import init_model
    from lep_core.propagation.modes import Mode
    from lep_core.propagation.options import PropagateOptions
    from lep_core.propagation.propagate import propagate
    from lep_core.tokenizer.extend import extend_tokenizer
    from lep_core.training.options import TrainOptions
    from lep_core.training.trainer import train

    sources(ws, tiny_llama, ru_corpus)
    base, corpus = str(ws / "models" / "base"), [str(ws / "corpora" / "ru.txt")]
    tok, model, run, adapted = (ws / NAMES[k] for k in ("tokenizer", "model", "run", "adapted"))
    extend_tokenizer(base, corpus, 40, tok, "cyrillic", 3)
    init_model(base, str(tok), model, "weighted_mean", seed=3)
    opts = TrainOptions(model=str(model), corpus=corpus, out=str(run), steps=3, batch_size=2, seq_len=32, lr=2e-3,
                        warmup=1, eval_every=0, save_every=0, seed=5, train_rows="new")
    opts.validate()
    train(opts.to_dict())
    propagate(PropagateOptions(base=base, instruct=[base], adapted=str(run / "final"), out=str(adapted),
                               mode=Mode("conversion"), ridge=0.01))
    return ws
