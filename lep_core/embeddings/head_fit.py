"""Fit the head rows of the new tokens to what the frozen body computes on real text (issue 14).

Why: a new token is only ever *written* when its head row scores above the old pieces it replaces. Rows built
from the old pieces (their mean, the first piece's row) score below them, so an extended model keeps spelling
the new language with old tokens and pays bits for a spelling it never chooses; training fixes that only
slowly, since every step pays a forward and backward pass through the whole body.

How: with the body frozen and the input rows fixed, the final hidden states h_t of the corpus under the new
tokenizer are fixed: one forward pass without gradients gives H (N, d). The old head rows are frozen too, so
their log-sum-exp per position is a constant c_t. The new head rows W (n_new, d) then minimise

    mean_t [ log(exp(c_t) + sum_u exp(h_t . w_u)) - logit_t(target_t) ] + l2 * mean_u ||delta_u||^2,
    W = W0 + W0 A + delta

with W0 the head init it starts from (mean of the sub-tokens' head rows), A (d, d) one map shared by all new rows
and delta each row's own correction. In W this is multinomial logistic regression on fixed features; it costs a
few (N x n_new x d) products per epoch instead of passes through the body. Adam on mini-batches of positions; the
last tenth of the blocks is held out and the rows of the best held-out epoch are kept. The shared map is what lets
the fit generalise: the demo corpus gives ~37k positions for thousands of new rows, most of them seen a few
times, so per-row rows alone overfit within an epoch or two (4,000 whole words: no new token won a held-out
position); A learns from every position how a mean row should move, and carries that to rare words.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, Callable

import torch

from lep_core.errors import LepInputError

Progress = Callable[[float, str], None]


@dataclass
class HeadFitOptions:
    max_tokens: int = 40_000  # corpus tokens read (spread over the corpus), in blocks of `block`
    block: int = 256  # tokens per forward pass (context the hidden states see)
    epochs: int = 10
    lr: float = 1e-3  # 3e-3 with the shared map jumped past the held-out optimum in the first epochs
    l2: float = 0.1  # on each row's own correction; 0.01 overfit the demo corpus
    batch: int = 4096  # positions per optimizer step
    seed: int = 0


SPREAD_PIECES = 16  # a corpus longer than the fit reads is read in this many slices spread over it


def spread_pieces(text: str, chars: int, pieces: int = SPREAD_PIECES) -> list[str]:
    """The text itself when it has at most `chars` characters, else `pieces` slices of chars / pieces characters
    that start at evenly spaced line starts: a corpus's first `chars` would be its first files only."""
    if len(text) <= chars:
        return [text]
    out = []
    for i in range(pieces):
        start = len(text) * i // pieces
        start = text.find("\n", start) + 1 if i else 0
        out.append(text[start:start + chars // pieces] if start > 0 or i == 0 else "")
    return [piece for piece in out if piece]


def corpus_blocks(tokenizer, text: str, options: HeadFitOptions) -> torch.Tensor:
    """(n_blocks, block) ids of `max_tokens` tokens of the text, from slices spread over it (spread_pieces), each
    block begun as training begins one (tokenizer/plain_text.py: the sequence-start ids, special-token strings
    read as text); raises LepInputError when the text fills fewer than two blocks."""
    from lep_core.tokenizer.plain_text import encode_plain, sequence_start_ids

    start = sequence_start_ids(tokenizer)
    pieces = spread_pieces(text, options.max_tokens * 8)
    per_piece = options.max_tokens // len(pieces)
    ids = [i for piece_ids in encode_plain(tokenizer, pieces) for i in piece_ids[:per_piece]]
    body = options.block - len(start)
    n = len(ids) // body
    if n < 2:
        raise LepInputError(f"the corpus has {len(ids)} tokens: fitting the head needs at least {2 * body} "
                            "(pass a longer corpus, or use --head-method mean)")
    return torch.tensor([start + ids[i * body:(i + 1) * body] for i in range(n)])


@torch.no_grad()
def hidden_states(model, blocks: torch.Tensor, tick: Progress, batch: int = 8) -> tuple[torch.Tensor, torch.Tensor]:
    """Final (normed) hidden states (N, d) at every position but each block's last, and the next tokens (N,)."""
    body = model.base_model
    device = next(model.parameters()).device
    states = []
    for i in range(0, blocks.shape[0], batch):
        out = body(input_ids=blocks[i: i + batch].to(device)).last_hidden_state[:, :-1]
        states.append(out.reshape(-1, out.shape[-1]).float())  # stays on the model's device (a GPU when there is one)
        tick(min(1.0, (i + batch) / blocks.shape[0]), "reading the corpus through the body")
    return torch.cat(states), blocks[:, 1:].reshape(-1).to(device)


@torch.no_grad()
def fixed_scores(h: torch.Tensor, head: torch.Tensor, fitted: torch.Tensor, targets: torch.Tensor,
                 chunk: int = 1024) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Per position: log-sum-exp of the rows that stay fixed (N,), their best score (N,), the target's score (N,).

    h (N, d), head (R, d) float32, fitted (R,) bool. The target's score is only meaningful where it is fixed."""
    lse, best, target = [], [], []
    fixed = head[~fitted]
    fixed_index = torch.full((head.shape[0],), -1, dtype=torch.long, device=head.device)
    fixed_index[~fitted] = torch.arange(fixed.shape[0], device=head.device)
    for i in range(0, h.shape[0], chunk):
        logits = h[i: i + chunk] @ fixed.T
        lse.append(torch.logsumexp(logits, -1))
        best.append(logits.max(-1).values)
        col = fixed_index[targets[i: i + chunk]]
        target.append(logits.gather(1, col.clamp(min=0)[:, None])[:, 0])
    return torch.cat(lse), torch.cat(best), torch.cat(target)


def fit_new_head_rows(model, tokenizer, text: str, fitted: torch.Tensor, options: HeadFitOptions | None = None,
                      progress: Progress | None = None) -> dict[str, Any]:
    """Fit the head rows marked in `fitted` (R,) bool on `text`, in place; returns the figures for the manifest.

    The model's head must be untied (its rows are changed, not the input embeddings) and bias-free, as in the
    Llama, Mistral and Qwen families. Loss figures are nats per token on the held-out blocks. Raises
    LepInputError for a tied head or a corpus shorter than two blocks.
    """
    options = options or HeadFitOptions()
    tick = progress or (lambda fraction, message: None)
    head_module = model.get_output_embeddings()
    if head_module is None or head_module.weight is model.get_input_embeddings().weight:
        raise LepInputError("fitting the head needs an untied head: initialise it with a head method that unties it")
    if getattr(head_module, "bias", None) is not None:
        raise LepInputError("this model's head has a bias: fitting its rows is not supported, use --head-method mean")
    start = time.perf_counter()
    blocks = corpus_blocks(tokenizer, text, options)
    model.eval()
    h, targets = hidden_states(model, blocks, lambda f, m: tick(0.6 * f, m))
    device = h.device  # the whole fit runs where the model runs: an 8B head is 128k x 4096
    head = head_module.weight.detach().float().to(device)
    fitted = fitted.to(torch.bool).to(device)
    tick(0.6, "scoring the old vocabulary")
    lse_fixed, best_fixed, target_fixed = fixed_scores(h, head, fitted, targets)
    new_ids = fitted.nonzero()[:, 0]
    slot = torch.full((head.shape[0],), -1, dtype=torch.long, device=device)
    slot[new_ids] = torch.arange(new_ids.numel(), device=device)
    target_slot = slot[targets]  # -1 where the target's row stays fixed
    w0 = head[new_ids].clone()
    # rows = w0 + w0 A + delta: A (d, d) is one map shared by every new row, so what it learns from frequent words
    # carries over to words the fitting text barely has; delta (n_new, d) is each row's own correction, L2-pulled
    # to 0 (issue 14: with 4,000 whole words, per-row rows alone overfit after one epoch and no new token won)
    shared = torch.nn.Parameter(torch.zeros(w0.shape[1], w0.shape[1], device=device))
    delta = torch.nn.Parameter(torch.zeros_like(w0))

    def rows() -> torch.Tensor:
        return w0 + w0 @ shared + delta
    per_block = blocks.shape[1] - 1
    cut = max(1, int(blocks.shape[0] * 0.9)) * per_block
    train_idx, val_idx = torch.arange(cut, device=device), torch.arange(cut, h.shape[0], device=device)

    def loss_on(idx: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        logits = h[idx] @ w.T  # (n, n_new)
        total = torch.logsumexp(torch.cat([lse_fixed[idx, None], logits], 1), 1)
        ts = target_slot[idx]
        picked = torch.where(ts >= 0, logits.gather(1, ts.clamp(min=0)[:, None])[:, 0], target_fixed[idx])
        return (total - picked).mean()

    def new_wins(idx: torch.Tensor, w: torch.Tensor) -> float:
        return float(((h[idx] @ w.T).max(-1).values > best_fixed[idx]).float().mean())

    generator = torch.Generator().manual_seed(options.seed)
    optimizer = torch.optim.Adam([shared, delta], lr=options.lr)
    with torch.no_grad():
        before = float(loss_on(val_idx, w0))
        wins_before = new_wins(val_idx, w0)
    best = (before, w0.clone(), 0)
    for epoch in range(options.epochs):
        order = train_idx[torch.randperm(train_idx.numel(), generator=generator).to(device)]
        for i in range(0, order.numel(), options.batch):
            optimizer.zero_grad()
            loss = loss_on(order[i: i + options.batch], rows()) + options.l2 * delta.pow(2).sum(-1).mean()
            loss.backward()
            optimizer.step()
        with torch.no_grad():
            w = rows()
            held_out = float(loss_on(val_idx, w))
        if held_out < best[0]:
            best = (held_out, w, epoch + 1)
        tick(0.6 + 0.4 * (epoch + 1) / options.epochs, f"fitting the head: epoch {epoch + 1}, held-out {held_out:.3f}")
    with torch.no_grad():
        head_module.weight[new_ids.to(head_module.weight.device)] = best[1].to(head_module.weight)
        wins_after = new_wins(val_idx, best[1])
    return {"tokens": int(h.shape[0]), "heldout_tokens": int(val_idx.numel()),
            "heldout_loss_before": round(before, 4), "heldout_loss_after": round(best[0], 4),
            "epochs_kept": best[2], "new_token_wins_before": round(wins_before, 4),
            "new_token_wins_after": round(wins_after, 4),
            "target_is_new": round(float((target_slot[val_idx] >= 0).float().mean()), 4),
            "seconds": round(time.perf_counter() - start, 2), "options": vars(options).copy()}
