"""Lanczos tridiagonalization, k independent runs in lock-step, float64, full reorthogonalization.

For a symmetric A (P × P) and a start vector q₁, m steps of Lanczos build an orthonormal basis
Q_m = [q₁ … q_m] of the Krylov space and the tridiagonal T_m = Q_mᵀ A Q_m with diagonal
α₁…α_m and off-diagonal β₁…β_{m−1}. Running k draws in lock-step means every step applies A
to a P × k block, i.e. one pass over the data serves all k draws; the k recurrences stay
independent (this is not block Lanczos).

Full reorthogonalization (classical Gram–Schmidt, applied twice) against all previous vectors
keeps Q_m orthonormal to ~1e-15, which Ritz pairs and outlier counts need; it costs O(m²P) per
draw and stores the m vectors of every draw. A run that breaks down (β_j ≈ 0: the Krylov space
is invariant, T_j is then exact) stops at that length.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import Tensor

from curvlab.curvature.errors import check_choice, check_counts

MatMat = Callable[[Tensor], Tensor]


@dataclass
class LanczosResult:
    """Tridiagonals of k runs: ``alpha`` (k, m), ``beta`` (k, m−1), valid ``lengths`` (k,).

    Entries beyond a run's length are zero. ``vectors`` (k, m, P) when requested.
    """

    alpha: Tensor
    beta: Tensor
    lengths: Tensor
    vectors: Tensor | None = None

    def tridiagonal(self, draw: int) -> Tensor:
        m = int(self.lengths[draw])
        a, b = self.alpha[draw, :m], self.beta[draw, : m - 1]
        return torch.diag(a) + torch.diag(b, 1) + torch.diag(b, -1)

    def ritz(self, draw: int) -> tuple[Tensor, Tensor]:
        """Ritz values θ (ascending) and eigenvectors S of T for one draw."""
        return torch.linalg.eigh(self.tridiagonal(draw))


def rademacher(dim: int, count: int, seed: int, device: torch.device | str = "cpu") -> Tensor:
    """(dim, count) float64 matrix of ±1 entries from a generator seeded with ``seed``."""
    gen = torch.Generator(device="cpu").manual_seed(int(seed))
    signs = torch.randint(0, 2, (dim, count), generator=gen, dtype=torch.int8) * 2 - 1
    return signs.to(device=device, dtype=torch.float64)


def lanczos(
    matmat: MatMat,
    start: Tensor,
    steps: int,
    *,
    reorthogonalize: bool = True,
    return_vectors: bool = False,
    basis_dtype: torch.dtype = torch.float64,
    breakdown_tol: float = 1e-12,
) -> LanczosResult:
    """Run ``steps`` Lanczos iterations from each column of ``start`` (P, k), in lock-step.

    ``steps`` beyond P are clamped to P: the Krylov space is then the whole space (exact).

    ``matmat`` maps a float64 (P, k') block to A times it. Without reorthogonalization only the
    last two vectors are kept (the plain three-term recurrence). The recurrence is float64; the
    stored basis may be float32 (``basis_dtype``) to halve the memory traffic of
    reorthogonalization on large models, at the price of orthogonality ~1e-7 instead of ~1e-15.

    Reorthogonalization is classical Gram–Schmidt against all stored vectors, repeated once
    more for the draws whose vector lost more than 1 − 1/√2 of its norm in the first pass
    (the Daniel–Gragg–Kaufman–Stewart criterion), which is what "twice is enough" needs.
    """
    start = start.to(torch.float64)
    dim, k = start.shape
    check_counts(steps=steps, start_vectors=k)
    # Any other dtype would round the basis silently (an integer one to zeros).
    check_choice("basis_dtype", basis_dtype, (torch.float32, torch.float64))
    steps = min(int(steps), dim)
    device = start.device
    alpha = torch.zeros(k, steps, dtype=torch.float64, device=device)
    beta = torch.zeros(k, max(steps - 1, 0), dtype=torch.float64, device=device)
    lengths = torch.full((k,), steps, dtype=torch.long, device=device)
    keep_all = reorthogonalize or return_vectors
    # Rows are draws: basis[d, j] is the j-th Lanczos vector of draw d (contiguous per draw).
    basis = torch.zeros(k, steps, dim, dtype=basis_dtype, device=device) if keep_all else None
    active = torch.ones(k, dtype=torch.bool, device=device)

    q = (start / start.norm(dim=0, keepdim=True)).T.contiguous()  # (k, P)
    q_prev = torch.zeros_like(q)
    b_prev = torch.zeros(k, dtype=torch.float64, device=device)
    for j in range(steps):
        if basis is not None:
            basis[:, j] = q
        idx = active.nonzero().flatten()
        w = torch.zeros_like(q)
        w[idx] = matmat(q[idx].T.contiguous()).T  # stopped runs cost nothing
        a = (q * w).sum(1)
        alpha[idx, j] = a[idx]
        w = w - a[:, None] * q - b_prev[:, None] * q_prev
        if reorthogonalize:
            w = _orthogonalize(w, basis[:, : j + 1])
        if j == steps - 1:
            break
        b = w.norm(dim=1)
        scale = alpha[:, : j + 1].abs().amax(dim=1).clamp_min(1.0)
        broke = active & (b <= breakdown_tol * scale)
        lengths[broke] = j + 1
        active &= ~broke
        if not active.any():
            break
        beta[:, j] = torch.where(active, b, torch.zeros_like(b))
        q_prev, q = q, torch.where(active[:, None], w / b.clamp_min(1e-300)[:, None], q)
        b_prev = beta[:, j]
    vectors = basis if return_vectors else None
    return LanczosResult(alpha, beta, lengths.cpu(), vectors)


def _orthogonalize(w: Tensor, basis: Tensor) -> Tensor:
    """w (k, P) minus its projection on each draw's basis (k, j, P): CGS with a DGKS repeat."""

    def project_out(v: Tensor, draw: int) -> Tensor:
        # Two matrix-vector products per draw, in the basis dtype (a float32 basis halves the
        # memory traffic); the correction is applied to the float64 vector. A loop over draws
        # with mv/addmv is 3-6x faster on CPU than one strided bmm over all draws.
        q = basis[draw]
        coeff = torch.mv(q, v.to(q.dtype))
        return v - torch.mv(q.T, coeff).to(v.dtype)

    out = w.clone()
    for draw in range(w.shape[0]):
        before = w[draw].norm()
        v = project_out(w[draw], draw)
        if v.norm() < before / 2**0.5:
            v = project_out(v, draw)
        out[draw] = v
    return out
