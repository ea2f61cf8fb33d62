"""`lep model init`: resize a model's embeddings (and untied head) to a new tokenizer and initialise them.

Rows of tokens that exist verbatim in the old vocabulary are copied exactly; the others come from:
- mean: the mean of the old sub-token rows (the decomposition matrix, design §4 step 1);
- norm_mean: that mean scaled back to the mean norm of its sub-token rows (averaging k rows shrinks the norm,
  and with it the new token's logits when the row is also its head row);
- weighted_mean: the same, each sub-token weighted by its length in bytes;
- mean_resize: the mean of all old rows plus tiny noise from their covariance (as transformers' mean_resizing);
- random: normal noise with the old rows' standard deviation. The new rows are then noise that the body has
  never seen: before training, a model so initialised writes new tokens at random even in English replies.

The output head has its own choice (`head_method`), since the head decides which tokens get *written*:
- same: the head's new rows come from the input method; a tied model stays tied;
- mean / norm_mean / first / last: the head's new rows from the sub-tokens' *head* rows (their mean, the
  norm-matched mean, the row of the first or last sub-token). A tied model is untied for this: the head becomes
  its own (rows x hidden) tensor, old rows equal to the input rows, so old tokens score exactly as before;
- fitted: the mean, then fitted on a corpus to what the frozen body computes (embeddings/head_fit.py): the
  head method that makes new tokens chosen from step 0 (measured in the README).
Padded matrices (more rows than tokens, as Qwen ships) stay padded to a multiple of 64.
"""

from __future__ import annotations

import enum
import math
import os
import time
from pathlib import Path
from typing import Any, Callable

import torch

from lep_core.corpus.reading import read_corpus
from lep_core.embeddings.decomposition import decomposition_matrix
from lep_core.errors import LepInputError
from lep_core.sources.loading import load_model, load_tokenizer, resolve, save_model, tokenizer_source
from lep_core.workspace.locks import holding
from lep_core.workspace.store import atomic_dir, check_output_free, describe_input, write_manifest


class InitMethod(str, enum.Enum):
    mean = "mean"
    norm_mean = "norm_mean"
    weighted_mean = "weighted_mean"
    mean_resize = "mean_resize"
    random = "random"


class HeadMethod(str, enum.Enum):
    same = "same"
    mean = "mean"
    norm_mean = "norm_mean"
    first = "first"
    last = "last"
    fitted = "fitted"


WEIGHTING = {InitMethod.mean: "mean", InitMethod.norm_mean: "mean", InitMethod.weighted_mean: "length",
             HeadMethod.mean: "mean", HeadMethod.norm_mean: "mean", HeadMethod.first: "first", HeadMethod.last: "last",
             HeadMethod.fitted: "mean"}


PAD_MULTIPLE = 64


def target_rows(old_rows: int, old_tokens: int, new_tokens: int) -> int:
    """Rows of the resized matrix: exactly the tokens, or (when the old one was padded) padded again."""
    if old_rows <= old_tokens:
        return new_tokens
    if new_tokens <= old_rows:
        return old_rows
    return math.ceil(new_tokens / PAD_MULTIPLE) * PAD_MULTIPLE


def _norm_matched(rows: torch.Tensor, old32: torch.Tensor, decomposition) -> torch.Tensor:
    """Scale each averaged row to the mean norm of the rows it averages: (W, d) -> (W, d)."""
    pattern = decomposition.matrix
    ones = torch.sparse_csr_tensor(pattern.crow_indices(), pattern.col_indices(),
                                   (pattern.values() != 0).to(torch.float32), size=pattern.shape)
    counts = torch.sparse.mm(ones, torch.ones(old32.shape[0], 1))[:, 0].clamp(min=1)
    target = torch.sparse.mm(ones, old32.norm(dim=1, keepdim=True))[:, 0] / counts
    return rows * (target / rows.norm(dim=1).clamp(min=1e-12))[:, None]


def _fill_rows(old: torch.Tensor, method: InitMethod | HeadMethod, decomposition, generator: torch.Generator) -> torch.Tensor:
    """(W, d) rows for the new vocabulary from the old (V_rows, d) matrix, computed in float32.

    `decomposition` must have been built with WEIGHTING[method] (mean, length, first or last)."""
    old32 = old.detach().to(torch.float32)
    if method.value in ("mean", "norm_mean", "weighted_mean", "first", "last", "fitted"):
        rows = torch.sparse.mm(decomposition.matrix, old32)
        if method.value == "norm_mean":
            rows = _norm_matched(rows, old32, decomposition)
        empty = decomposition.lengths == 0
        if empty.any():
            rows[empty] = old32.mean(0)
        return rows
    w, d = decomposition.num_new, old32.shape[1]
    if method == InitMethod.mean_resize:
        mean = old32.mean(0)
        centered = old32 - mean
        cov = centered.T @ centered / old32.shape[0]
        try:
            chol = torch.linalg.cholesky(1e-9 * cov + 1e-12 * torch.eye(d))
            rows = mean + torch.randn(w, d, generator=generator) @ chol.T
        except RuntimeError:  # covariance not positive definite: the mean alone, as transformers does
            rows = mean.expand(w, d).clone()
    else:
        rows = torch.randn(w, d, generator=generator) * old32.std()
    # verbatim tokens keep their old rows whatever the method
    direct = decomposition.direct
    rows[direct] = torch.sparse.mm(decomposition.matrix, old32)[direct]
    return rows


def _assemble(old: torch.Tensor, rows: torch.Tensor, total_rows: int) -> torch.Tensor:
    """New (total_rows, d) matrix: computed rows, then padding (old padding rows kept where they existed)."""
    out = torch.zeros(total_rows, old.shape[1], dtype=old.dtype)
    w = rows.shape[0]
    out[:w] = rows.to(old.dtype)
    if total_rows > w:
        keep = min(total_rows, old.shape[0])
        if keep > w:
            out[w:keep] = old[w:keep]
    return out


def _remap_special_ids(model, old_tok, new_tok) -> None:
    """eos/bos/pad ids in config and generation_config follow their token strings into the new vocabulary."""
    new_vocab = new_tok.get_vocab()

    def remap(value):
        if value is None:
            return None
        if isinstance(value, list):
            return [v for v in (remap(x) for x in value) if v is not None]
        token = old_tok.convert_ids_to_tokens(int(value))
        return new_vocab.get(token, value)

    for cfg in (model.config, getattr(model, "generation_config", None)):
        if cfg is None:
            continue
        for key in ("eos_token_id", "bos_token_id", "pad_token_id"):
            if getattr(cfg, key, None) is not None:
                setattr(cfg, key, remap(getattr(cfg, key)))


def _untie(model) -> None:
    """Give a tied model its own head tensor (a copy of the input embeddings) and say so in its config."""
    embed = model.get_input_embeddings().weight
    head = model.get_output_embeddings()
    head.weight = torch.nn.Parameter(embed.detach().clone())
    model.config.tie_word_embeddings = False
    if hasattr(model.config, "get_text_config"):
        model.config.get_text_config().tie_word_embeddings = False


def resize_and_init(model, old_tok, new_tok, method: str | InitMethod = "mean", seed: int = 0,
                    head_method: str | HeadMethod = "same") -> dict[str, Any]:
    """Resize in memory; returns facts for the manifest (rows, how many were copied, the new row ranges).

    Input embeddings (V_rows, d) -> (W_rows, d); the head alike when untied or when `head_method` unties it.
    Raises LepInputError when the old tokenizer has more tokens than the model has rows.
    """
    method, head_method = InitMethod(method), HeadMethod(head_method)
    embed = model.get_input_embeddings().weight
    old_rows = embed.shape[0]
    if len(old_tok) > old_rows:
        raise LepInputError(
            f"the model's tokenizer has {len(old_tok)} tokens but its embeddings only {old_rows} rows: "
            "this tokenizer does not belong to the model"
        )
    decompositions: dict[str, Any] = {}

    def decomposition(kind: InitMethod | HeadMethod):
        weighting = WEIGHTING.get(kind, "mean")
        if weighting not in decompositions:
            decompositions[weighting] = decomposition_matrix(new_tok, old_tok, weighting=weighting, old_rows=old_rows)
        return decompositions[weighting]

    base = decomposition(method)
    total = target_rows(old_rows, len(old_tok), base.num_new)
    generator = torch.Generator().manual_seed(seed)
    was_tied = bool(getattr(model.config, "tie_word_embeddings", False))
    head = model.get_output_embeddings()
    untie = was_tied and head is not None and head_method is not HeadMethod.same
    if untie:
        _untie(model)
        head = model.get_output_embeddings()
    tied = was_tied and not untie
    new_in = _assemble(embed.data, _fill_rows(embed.data, method, base, generator), total)
    new_out = None
    if head is not None and not tied:
        kind = method if head_method is HeadMethod.same else head_method
        new_out = _assemble(head.weight.data, _fill_rows(head.weight.data, kind, decomposition(kind), generator), total)
    model.resize_token_embeddings(total, mean_resizing=False)
    model.get_input_embeddings().weight.data.copy_(new_in)
    if new_out is not None:
        model.get_output_embeddings().weight.data.copy_(new_out)
    elif tied:
        model.tie_weights()
    _remap_special_ids(model, old_tok, new_tok)
    new_mask = base.new_row_mask()
    return {
        "method": method.value,
        "head_method": head_method.value,
        "old_rows": old_rows,
        "new_rows": total,
        "new_vocab": base.num_new,
        "copied_rows": int((~new_mask).sum()),
        "initialised_rows": int(new_mask.sum()),
        "first_new_id": int(new_mask.nonzero()[0]) if new_mask.any() else None,
        "new_row_ranges": _ranges(new_mask),
        "tied": tied,
        "untied_by_init": untie,
    }


def _ranges(mask: torch.Tensor) -> list[list[int]]:
    """[start, end) ranges of True entries (compact enough for a manifest)."""
    padded = torch.cat([torch.tensor([False]), mask, torch.tensor([False])]).to(torch.int8)
    edges = (padded[1:] - padded[:-1]).nonzero().flatten().tolist()
    return [[edges[i], edges[i + 1]] for i in range(0, len(edges), 2)]


def init_model(
    model_src: str | os.PathLike,
    tokenizer_dir: str | os.PathLike,
    out: str | os.PathLike,
    method: str | InitMethod = "mean",
    overwrite: bool = False,
    seed: int = 0,
    progress: Callable[[float, str], None] | None = None,
    head_method: str | HeadMethod = "same",
    corpus: list[str] | None = None,
) -> dict[str, Any]:
    """Load, resize, initialise, save atomically with the new tokenizer, write lep.json.

    progress(fraction, message) is called between the stages (loading and saving dominate the time).
    Raises LepInputError for an unknown method, an existing output (without overwrite) or a tokenizer that does
    not belong to the model.
    """
    tick = progress or (lambda fraction, message: None)
    try:
        method = InitMethod(method)
    except ValueError:
        raise LepInputError(f"unknown init method {method!r}: choose one of {', '.join(m.value for m in InitMethod)}") from None
    try:
        head_method = HeadMethod(head_method)
    except ValueError:
        raise LepInputError(f"unknown head method {head_method!r}: choose one of "
                            f"{', '.join(m.value for m in HeadMethod)}") from None
    if head_method is HeadMethod.fitted and not corpus:
        raise LepInputError("--head-method fitted fits the head rows on text: pass --corpus with target-language text")
    text = read_corpus(corpus) if head_method is HeadMethod.fitted else None
    check_output_free(out, overwrite)
    tokenizer_source(tokenizer_dir), tokenizer_source(model_src)  # a wrong input is named before any lock is taken
    with holding([out], [model_src, tokenizer_dir, *(corpus or [])]):
        tick(0.0, "loading the tokenizers")
        new_tok = load_tokenizer(tokenizer_dir)
        old_tok = load_tokenizer(model_src)
        start = time.perf_counter()
        tick(0.1, "loading the model")
        source = resolve(model_src, "model")
        # the stored dtype (bf16 for most 7-8B checkpoints: half the RAM and disk of float32); new rows are
        # computed in float32 and cast to it. De-quantized GGUF weights stay float32.
        model = load_model(source, dtype=None if source.gguf_file else "auto")
        tick(0.4, f"initialising the new rows ({method.value})")
        facts = resize_and_init(model, old_tok, new_tok, method, seed, head_method)
        if head_method is HeadMethod.fitted:
            from lep_core.embeddings.head_fit import HeadFitOptions, fit_new_head_rows

            new_rows = torch.zeros(facts["new_rows"], dtype=torch.bool)
            for begin, end in facts["new_row_ranges"]:
                new_rows[begin:end] = True
            facts["head_fit"] = fit_new_head_rows(model, new_tok, text, new_rows, HeadFitOptions(seed=seed),
                                                  lambda f, m: tick(0.4 + 0.2 * f, m))
        tick(0.6, "saving the model")
        with atomic_dir(out, overwrite) as tmp:
            save_model(model, new_tok, tmp)
            facts["seconds"] = round(time.perf_counter() - start, 3)
            write_manifest(
                tmp,
                kind="model",
                inputs={"model": describe_input(model_src), "tokenizer": describe_input(tokenizer_dir),
                        **({"corpus": [describe_input(c) for c in corpus]} if text is not None else {})},
                params={"operation": "init", "method": method.value, "head_method": head_method.value, "seed": seed},
                metrics=facts,
            )
        tick(1.0, "done")
        return {"out": str(Path(out).resolve()), **facts}
