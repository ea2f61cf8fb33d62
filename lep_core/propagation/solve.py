"""Least squares for the d x d projection P: argmin ||X·P - Y||² (+ ridge pulling P toward identity).

Three solvers (design §4 step 3):
- gram (default): accumulate XᵀX, XᵀY and ||Y||² in float64 over row chunks, then solve the d x d
  normal equations in float64. Memory O(d²) whatever the number of rows, so an 8B model's
  128k x 4096 fits. Each chunk's product is computed in float32 (twice the speed of float64 on a
  CPU) and added to the float64 sums: the rows come from bf16/fp32 weights, so float32 products
  lose nothing the inputs had (A·P moves by ~4e-6 relative on the demo model; lep bench propagation).
- gram64: the same with float64 chunk products, for badly conditioned embeddings.
- lstsq: an exact QR least squares on the full float64 X and Y; more accurate for ill-conditioned
  X, but it holds X and Y whole, so it is meant for small d.
ridge λ is relative: the penalty is λ·s·||P - I||², s = mean diagonal of XᵀX, so λ does not depend on
the scale of the embeddings.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field

import torch


class Solver(str, enum.Enum):
    gram = "gram"
    gram64 = "gram64"
    lstsq = "lstsq"

    @property
    def work_dtype(self) -> torch.dtype:
        """dtype the fitting rows and their chunk products are computed in."""
        return torch.float32 if self is Solver.gram else torch.float64


@dataclass
class Gram:
    """Sufficient statistics of a least-squares problem, accumulated chunk by chunk.

    They are kept for Z = Y - X rather than Y: an instruct model is close to its base, so Z is small,
    and the fit residual computed from these sums keeps its precision (with Y itself it cancels to
    noise in float32 once the residual is under ~1e-3). P = I + P', with XᵀX·P' = XᵀZ."""

    d: int
    device: str | torch.device = "cpu"
    xtx: torch.Tensor = field(init=False)  # (d, d) float64 XᵀX
    xtz: torch.Tensor = field(init=False)  # (d, d) float64 Xᵀ(Y - X)
    ztz: float = 0.0  # ||Y - X||²
    rows: int = 0

    def __post_init__(self) -> None:
        self.xtx = torch.zeros(self.d, self.d, dtype=torch.float64, device=self.device)
        self.xtz = torch.zeros(self.d, self.d, dtype=torch.float64, device=self.device)

    @property
    def yty(self) -> float:
        """||Y||² = ||X||² + 2·tr(XᵀZ) + ||Z||²."""
        return float(torch.trace(self.xtx) + 2 * torch.trace(self.xtz)) + self.ztz

    def add(self, x: torch.Tensor, y: torch.Tensor) -> None:
        """x, y: (n, d) rows on self.device, float32 or float64 (the sums are float64 either way).

        XᵀX is symmetric: its two diagonal half-blocks and the upper off-diagonal one are multiplied,
        the lower one mirrored (a quarter of XᵀX's operations saved)."""
        z = y - x
        h = self.d // 2
        top = x[:, :h].T @ x  # (h, d): the upper half-rows of XᵀX
        bottom = x[:, h:].T @ x[:, h:]  # (d - h, d - h)
        xtx = torch.empty(self.d, self.d, dtype=top.dtype, device=top.device)
        xtx[:h] = top
        xtx[h:, h:] = bottom
        xtx[h:, :h] = top[:, h:].T
        self.xtx += xtx.to(torch.float64)
        self.xtz += (x.T @ z).to(torch.float64)
        self.ztz += float(torch.linalg.vector_norm(z, dim=1).to(torch.float64).square().sum())  # row norms, in float64
        self.rows += int(x.shape[0])

    def _combine(self, other: "Gram", sign: int) -> "Gram":
        out = Gram(self.d, self.device)
        out.xtx, out.xtz = self.xtx + sign * other.xtx, self.xtz + sign * other.xtz
        out.ztz, out.rows = self.ztz + sign * other.ztz, self.rows + sign * other.rows
        return out

    def __add__(self, other: "Gram") -> "Gram":
        return self._combine(other, 1)

    def __sub__(self, other: "Gram") -> "Gram":
        """The statistics without other's rows (the 90% training part = all - held-out)."""
        return self._combine(other, -1)


def _ridge_scale(xtx: torch.Tensor, ridge: float) -> float:
    return ridge * float(torch.diagonal(xtx).mean()) if ridge > 0 else 0.0


def solve_gram(gram: Gram, ridge: float = 0.0) -> torch.Tensor:
    """(d, d) float64 P = I + P' from the normal equations (XᵀX + λsI) P' = XᵀZ (ridge pulls P' to 0, P to I)."""
    eye = torch.eye(gram.d, dtype=torch.float64, device=gram.xtx.device)
    lhs = gram.xtx + _ridge_scale(gram.xtx, ridge) * eye
    try:
        delta = torch.cholesky_solve(gram.xtz, torch.linalg.cholesky(lhs))
    except RuntimeError:  # singular (fewer independent rows than d): the smallest change from identity
        delta = torch.linalg.lstsq(lhs.cpu(), gram.xtz.cpu(), driver="gelsd").solution.to(lhs.device)
    return eye + delta


def solve_exact(x: torch.Tensor, y: torch.Tensor, ridge: float = 0.0) -> torch.Tensor:
    """(d, d) float64 P by QR least squares on the whole float64 X (n, d) and Y (n, d)."""
    x = x.to(torch.float64)
    y = y.to(torch.float64)
    lam = _ridge_scale(x.T @ x, ridge) if ridge > 0 else 0.0
    if lam > 0:  # ridge toward I as extra rows: sqrt(λs)·I·P ≈ sqrt(λs)·I
        eye = torch.eye(x.shape[1], dtype=torch.float64, device=x.device) * lam**0.5
        x, y = torch.cat([x, eye]), torch.cat([y, eye])
    driver = "gelsd" if x.device.type == "cpu" else None
    return torch.linalg.lstsq(x, y, driver=driver).solution


def gram_residual(gram: Gram, p: torch.Tensor) -> float:
    """||X·P - Y|| / ||Y|| from the Gram statistics alone (no second pass over the rows)."""
    yty = gram.yty
    if yty <= 0:
        return 0.0
    delta = p - torch.eye(gram.d, dtype=p.dtype, device=p.device)  # X·P - Y = X·delta - Z
    sq = float((delta * (gram.xtx @ delta)).sum()) - 2.0 * float((delta * gram.xtz).sum()) + gram.ztz
    return max(sq, 0.0) ** 0.5 / yty**0.5
