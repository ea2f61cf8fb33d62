"""Next-token loss of a causal LM computed head-chunk by head-chunk, never materialising (tokens, vocab) logits.

A fused linear + cross-entropy: the forward pass computes, per chunk of tokens, the logits,
the loss and at once the gradients w.r.t. the hidden states and the head weight, then drops
the logits. Backward only scales the stored gradients. Same FLOPs as the usual
`lm_head` + `cross_entropy`, but peak memory holds one chunk of logits instead of all of them
(and their float32 copy and log-softmax), which is what bounds embedding training of big-vocabulary models.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

CHUNK_TOKENS = 1024


def _chunks(n: int, size: int):
    for start in range(0, n, size):
        yield start, min(n, start + size)


class _LinearCrossEntropy(torch.autograd.Function):
    @staticmethod
    def forward(ctx, hidden, weight, targets, compute_dtype, chunk):  # hidden (N, d), weight (V, d), targets (N,)
        n = hidden.shape[0]
        w = weight.to(compute_dtype)
        need_weight = ctx.needs_input_grad[1]  # a frozen head (LoRA training) skips its (V, d) gradient
        grad_hidden = torch.empty_like(hidden)
        grad_weight = torch.zeros(weight.shape if need_weight else (0,), dtype=torch.float32, device=weight.device)
        total = torch.zeros((), dtype=torch.float32, device=hidden.device)
        for s, e in _chunks(n, chunk):
            h = hidden[s:e].to(compute_dtype)
            logits = (h @ w.T).float()  # (c, V)
            lse = torch.logsumexp(logits, dim=-1)
            tgt = targets[s:e]
            total += (lse - logits.gather(1, tgt[:, None]).squeeze(1)).sum()
            # d loss_sum / d logits = softmax - onehot
            probs = logits.sub_(lse[:, None]).exp_()
            probs[torch.arange(e - s, device=probs.device), tgt] -= 1.0
            g = probs.to(compute_dtype)
            grad_hidden[s:e] = (g @ w).to(hidden.dtype)
            if need_weight:
                grad_weight.addmm_(g.T.float(), h.float()) if compute_dtype != torch.float32 else grad_weight.addmm_(g.T, h)
        ctx.save_for_backward(grad_hidden, grad_weight.to(weight.dtype))
        ctx.count = n
        ctx.need_weight = need_weight
        return total / max(n, 1)

    @staticmethod
    def backward(ctx, grad_out):
        grad_hidden, grad_weight = ctx.saved_tensors
        scale = grad_out / max(ctx.count, 1)
        weight_grad = grad_weight * scale.to(grad_weight.dtype) if ctx.need_weight else None
        return grad_hidden * scale.to(grad_hidden.dtype), weight_grad, None, None, None


def _plain_loss(hidden, weight, targets, compute_dtype, chunk) -> torch.Tensor:
    """The same mean loss without gradients (validation), chunked."""
    w = weight.to(compute_dtype)
    total = torch.zeros((), dtype=torch.float32, device=hidden.device)
    for s, e in _chunks(hidden.shape[0], chunk):
        logits = (hidden[s:e].to(compute_dtype) @ w.T).float()
        total += F.cross_entropy(logits, targets[s:e], reduction="sum")
    return total / max(hidden.shape[0], 1)


def supports_fused_head(model) -> bool:
    """Plain bias-free linear head with no logit soft-capping or scaling: the fused loss is exact."""
    head = model.get_output_embeddings()
    cfg = model.config
    return (
        isinstance(head, torch.nn.Linear) and head.bias is None
        and getattr(cfg, "final_logit_softcapping", None) is None
        and getattr(cfg, "logit_scale", None) in (None, 1, 1.0)
        and hasattr(model, getattr(model, "base_model_prefix", "model") or "model")
    )


class EmbeddingLM(torch.nn.Module):
    """Wraps a causal LM so forward(ids[, mask]) returns the mean next-token loss; DDP/accelerate wrap this module.

    target_mask (B, L) bool marks the tokens that are scored (chat data: the answers); a token at
    position t is predicted from position t - 1. Without a mask every next token is scored.
    """

    def __init__(self, model, chunk_tokens: int = CHUNK_TOKENS):
        super().__init__()
        self.model = model
        self.chunk = chunk_tokens
        self.fused = supports_fused_head(model)

    def forward(self, input_ids: torch.Tensor, target_mask: torch.Tensor | None = None) -> torch.Tensor:
        if not self.fused:
            labels = input_ids if target_mask is None else input_ids.masked_fill(~target_mask, -100)
            return self.model(input_ids=input_ids, labels=labels, use_cache=False).loss
        backbone = getattr(self.model, self.model.base_model_prefix)
        hidden = backbone(input_ids=input_ids, use_cache=False).last_hidden_state[:, :-1]  # (B, L-1, d)
        hidden = hidden.reshape(-1, hidden.shape[-1])
        targets = input_ids[:, 1:].reshape(-1)
        if target_mask is not None:
            keep = target_mask[:, 1:].reshape(-1)
            hidden, targets = hidden[keep], targets[keep]  # (N_scored, d), (N_scored,)
        weight = self.model.get_output_embeddings().weight
        compute = torch.get_autocast_dtype(hidden.device.type) if torch.is_autocast_enabled(hidden.device.type) else weight.dtype
        if torch.is_grad_enabled() and (weight.requires_grad or hidden.requires_grad):
            return _LinearCrossEntropy.apply(hidden, weight, targets, compute, self.chunk)
        return _plain_loss(hidden, weight, targets, compute, self.chunk)
