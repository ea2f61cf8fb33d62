"""Least squares for the d x d projection P: argmin ||X·P - Y||² (+ ridge pulling P toward identity).

Two solvers (design §4 step 3):
- gram: accumulate XᵀX, XᵀY and ||Y||² in float64 over row chunks, then solve the d x d normal
  equations. Memory O(d²) whatever the number of rows, so an 8B model's 128k x 4096 fits.
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
    lstsq = "lstsq"


@dataclass
class Gram:
    """Sufficient statistics of a least-squares problem, accumulated chunk by chunk."""

    d: int
    device: str | torch.device = "cpu"
    xtx: torch.Tensor = field(init=False)  # (d, d) float64
    xty: torch.Tensor = field(init=False)  # (d, d) float64
    yty: float = 0.0  # ||Y||²
    rows: int = 0

    def __post_init__(self) -> None:
        self.xtx = torch.zeros(self.d, self.d, dtype=torch.float64, device=self.device)
        self.xty = torch.zeros(self.d, self.d, dtype=torch.float64, device=self.device)

    def add(self, x: torch.Tensor, y: torch.Tensor) -> None:
        """x, y: (n, d) float64 rows on self.device."""
        self.xtx.addmm_(x.T, x)
        self.xty.addmm_(x.T, y)
        self.yty += float((y * y).sum())
        self.rows += int(x.shape[0])

    def __sub__(self, other: "Gram") -> "Gram":
        """The statistics without other's rows (the 90% training part = all - held-out)."""
        out = Gram(self.d, self.device)
        out.xtx = self.xtx - other.xtx
        out.xty = self.xty - other.xty
        out.yty = self.yty - other.yty
        out.rows = self.rows - other.rows
        return out


def _ridge_scale(xtx: torch.Tensor, ridge: float) -> float:
    return ridge * float(torch.diagonal(xtx).mean()) if ridge > 0 else 0.0


def solve_gram(gram: Gram, ridge: float = 0.0) -> torch.Tensor:
    """(d, d) float64 P from the normal equations (XᵀX + λsI) P = XᵀY + λsI."""
    eye = torch.eye(gram.d, dtype=torch.float64, device=gram.xtx.device)
    lam = _ridge_scale(gram.xtx, ridge)
    lhs = gram.xtx + lam * eye
    rhs = gram.xty + lam * eye
    try:
        chol = torch.linalg.cholesky(lhs)
        return torch.cholesky_solve(rhs, chol)
    except RuntimeError:  # singular (fewer independent rows than d): minimum-norm solution
        return torch.linalg.lstsq(lhs.cpu(), rhs.cpu(), driver="gelsd").solution.to(lhs.device)


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
    if gram.yty <= 0:
        return 0.0
    sq = float((p * (gram.xtx @ p)).sum()) - 2.0 * float((p * gram.xty).sum()) + gram.yty
    return max(sq, 0.0) ** 0.5 / gram.yty**0.5
