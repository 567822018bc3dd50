"""Lanczos tridiagonalization, k independent runs in lock-step, float64 recurrence.

For a symmetric A (P × P) and a start vector q₁, m steps of Lanczos build a basis
Q_m = [q₁ … q_m] of the Krylov space and the tridiagonal T_m = Q_mᵀ A Q_m with diagonal
α₁…α_m and off-diagonal β₁…β_{m−1}. Running k draws in lock-step means every step applies A
to a P × k block, i.e. one pass over the data serves all k draws; the k recurrences stay
independent (this is not block Lanczos).

In floating point the three-term recurrence loses orthogonality as soon as a Ritz value
converges, and T_m then grows spurious copies of the converged eigenvalues. Three remedies,
``reorth``:

* ``"full"`` — classical Gram–Schmidt against every previous vector at every step (repeated when
  the DGKS criterion asks), orthogonality ~ε. It costs O(j·P) per step and draw, which on a
  large model is as much time as the Hessian products themselves.
* ``"partial"`` (default) — Simon's partial reorthogonalization (Simon 1984; Larsen's PROPACK).
  The recurrence

      β_j ω_{j+1,i} = β_i ω_{j,i+1} + (α_i − α_j) ω_{j,i} + β_{i−1} ω_{j,i−1} − β_{j−1} ω_{j−1,i}

  (plus a rounding term of size ε‖A‖) estimates ω_{j,i} ≈ q_jᵀq_i from the α, β alone, for the
  price of O(j) scalars per step. Reorthogonalization runs only when max_i |ω_{j+1,i}| passes
  √ε, and then at two consecutive steps. Semi-orthogonality at √ε is enough for T_m to be the
  projection of A on an orthonormal basis of the Krylov space to working precision (Simon), so
  Ritz values and Gauss quadrature match full reorthogonalization, at a fraction of its cost.
* ``"none"`` — the plain recurrence, only the last two vectors kept (ghost eigenvalues appear;
  the quadrature of smooth functions stays accurate, which is what some SLQ codes rely on).

Whatever the choice, the ω estimate of the orthogonality actually kept in the basis is returned
(``LanczosResult.orthogonality``), with the number of basis vectors projected out. A run that breaks
down (β_j ≈ 0: the Krylov space is invariant, T_j is then exact) stops at that length.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal, Protocol, get_args

import torch
from torch import Tensor

from curvlab.curvature.errors import check_choice, check_counts

MatMat = Callable[[Tensor], Tensor]


class RowOperator(Protocol):
    """What :func:`lanczos` uses of a :class:`~curvlab.curvature.CurvatureOperator`."""

    product_dtype: torch.dtype

    def matmat_rows(self, rows: Tensor) -> Tensor: ...


#: Reorthogonalization strategy of :func:`lanczos` (module docstring).
Reorth = Literal["full", "partial", "none"]
REORTH: tuple[Reorth, ...] = get_args(Reorth)


@dataclass
class LanczosResult:
    """Tridiagonals of k runs: ``alpha`` (k, m), ``beta`` (k, m−1), valid ``lengths`` (k,).

    Entries beyond a run's length are zero. ``vectors`` (k, m, P) when requested.
    ``orthogonality`` (k,): the largest |q_iᵀq_j|, i ≠ j, of the kept basis as the ω-recurrence
    estimates it; ``projections`` (k,): how many basis vectors were projected out of new ones
    over the run (full reorthogonalization: m(m−1)/2).
    """

    alpha: Tensor
    beta: Tensor
    lengths: Tensor
    orthogonality: Tensor
    projections: Tensor
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


class _OmegaRecurrence:
    """Simon's estimate ω_{j,i} ≈ q_jᵀq_i of k lock-step runs, on the CPU in float64.

    Each step adds an error of about ε‖A‖, with ε the larger unit roundoff of the products
    (``product_eps``) and of the stored basis (``basis_eps``: a float32 basis rounds every
    vector the recurrence is checked against); the tests (√ε, ε^{3/4}) use the same ε. Right
    after reorthogonalization the level is set by the basis alone: ``basis_eps``·√P/2.
    """

    def __init__(
        self, draws: int, steps: int, dim: int, product_eps: float, basis_eps: float
    ) -> None:
        self.eps = max(product_eps, basis_eps)
        # Level right after a vector is (re)orthogonalized: ε√P/2 (Larsen's PROPACK).
        self.floor = basis_eps * math.sqrt(dim) / 2
        self.prev = torch.zeros(draws, steps + 1, dtype=torch.float64)
        self.cur = torch.zeros(draws, steps + 1, dtype=torch.float64)
        self.cur[:, 0] = 1.0
        self.norm = torch.zeros(draws, dtype=torch.float64)  # running estimate of ‖A‖
        self.level = torch.zeros(draws, dtype=torch.float64)  # max |ω| kept in the basis

    def next(self, j: int, alpha: Tensor, beta: Tensor, b: Tensor) -> Tensor:
        """ω_{j+1,i}, i ≤ j, from α_0…α_j, β_0…β_{j−1} (CPU, (k, ·)) and β_j = ``b``."""
        om, op = self.cur, self.prev
        nxt = torch.zeros_like(om)
        prev_b = beta[:, j - 1] if j > 0 else torch.zeros_like(b)
        self.norm = torch.maximum(self.norm, alpha[:, j].abs() + b + prev_b)
        if j > 0:
            t = beta[:, :j] * om[:, 1 : j + 1] + (alpha[:, :j] - alpha[:, j : j + 1]) * om[:, :j]
            t[:, 1:] += beta[:, : j - 1] * om[:, : j - 1]
            t -= prev_b[:, None] * op[:, :j]
            # The local rounding error of one step, ε‖A‖, pushed away from zero (worst case).
            t += torch.where(t >= 0, 1.0, -1.0) * 2 * self.eps * self.norm[:, None]
            # |q_jᵀq_i| ≤ 1: without the clamp the plain recurrence's estimate overflows.
            nxt[:, :j] = (t / b.clamp_min(1e-300)[:, None]).clamp(-1.0, 1.0)
        # Against the previous vector the loss is the step's own rounding, ε‖A‖/β_j (Paige).
        local = self.eps * self.norm / b.clamp_min(1e-300)
        nxt[:, j] = local.clamp(self.floor, 1.0)
        return nxt

    def accept(self, j: int, nxt: Tensor, kept: Tensor) -> None:
        """Keep ω_{j+1} (reorthogonalized entries already reset to the floor); only the rows
        ``kept`` (runs still going) enter the orthogonality level."""
        nxt[:, j + 1] = 1.0
        level = nxt[:, : j + 1].abs().amax(dim=1)
        self.level = torch.where(kept, torch.maximum(self.level, level), self.level)
        self.prev, self.cur = self.cur, nxt


def lanczos(
    op: RowOperator | MatMat,
    start: Tensor,
    steps: int,
    *,
    reorth: Reorth = "partial",
    return_vectors: bool = False,
    basis_dtype: torch.dtype = torch.float64,
    product_dtype: torch.dtype | None = None,
    breakdown_tol: float = 1e-12,
) -> LanczosResult:
    """Run ``steps`` Lanczos iterations from each column of ``start`` (P, k), in lock-step.

    ``steps`` beyond P are clamped to P: the Krylov space is then the whole space (exact).

    ``op`` is a :class:`~curvlab.curvature.CurvatureOperator` (its row-layout products are
    used, and its ``product_dtype`` is the default here) or a function mapping a float64
    (P, k') block to A times it (default float64, or the operator's if the function is a bound
    ``CurvatureOperator.matmat``). An operator must not modify its input. ``reorth`` is the
    module docstring's; its ε is the unit roundoff of the products or of the basis, whichever
    is larger: float32 products perturb every step by ~ε₃₂‖A‖, and orthogonality is lost from
    that level, not from ε₆₄.
    The recurrence is float64; the stored basis may be float32 (``basis_dtype``) to halve the
    memory and the traffic of reorthogonalization, at the price of orthogonality ~1e-7 (full) or
    ~√ε₃₂ ≈ 3e-4 (partial) instead of ~1e-15 or ~1e-8.

    Reorthogonalization is classical Gram–Schmidt against the chosen stored vectors (all of them
    under ``"full"``), repeated once more for a draw whose vector lost more than 1 − 1/√2 of
    its norm in the first pass (the Daniel–Gragg–Kaufman–Stewart criterion), which is what
    "twice is enough" needs.
    """
    start = start.to(torch.float64)
    dim, k = start.shape
    check_counts(steps=steps, start_vectors=k)
    check_choice("reorth", reorth, REORTH)
    # Any other dtype would round the basis silently (an integer one to zeros).
    check_choice("basis_dtype", basis_dtype, (torch.float32, torch.float64))
    steps = min(int(steps), dim)
    if hasattr(op, "matmat_rows"):
        apply_rows, owner = op.matmat_rows, op
    else:
        # A copy: the function may work in place on its input, which must not be the basis.
        apply_rows = lambda rows: op(rows.T.clone(memory_format=torch.contiguous_format)).T  # noqa: E731
        owner = getattr(op, "__self__", None)  # a bound ``CurvatureOperator.matmat``
    product_dtype = product_dtype or getattr(owner, "product_dtype", None) or torch.float64
    device = start.device
    alpha = torch.zeros(k, steps, dtype=torch.float64, device=device)
    beta = torch.zeros(k, max(steps - 1, 0), dtype=torch.float64, device=device)
    lengths = torch.full((k,), steps, dtype=torch.long, device=device)
    keep_all = reorth != "none" or return_vectors
    # Rows are draws: basis[d, j] is the j-th Lanczos vector of draw d (contiguous per draw).
    basis = torch.zeros(k, steps, dim, dtype=basis_dtype, device=device) if keep_all else None
    active = torch.ones(k, dtype=torch.bool, device=device)
    omega = _OmegaRecurrence(
        k, steps, dim, torch.finfo(product_dtype).eps, torch.finfo(basis_dtype).eps
    )
    alpha_h = torch.zeros(k, steps, dtype=torch.float64)  # host copies for the ω-recurrence
    beta_h = torch.zeros(k, max(steps - 1, 0), dtype=torch.float64)
    projections = torch.zeros(k, dtype=torch.long)
    last: dict[int, tuple[bool, list[int]]] = {}  # the previous step's reorthogonalizations

    q = (start / start.norm(dim=0, keepdim=True)).T.contiguous()  # (k, P)
    q_prev = torch.zeros_like(q)
    b_prev = torch.zeros(k, dtype=torch.float64, device=device)
    # The steps work in place on (k, P) rows: on a large model each pass over them is memory
    # traffic of the size of the products' own.
    for j in range(steps):
        if basis is not None:
            basis[:, j] = q
        if bool(active.all()):
            w = apply_rows(q).contiguous()
        else:  # stopped runs cost nothing
            idx = active.nonzero().flatten()
            w = torch.zeros_like(q)
            w[idx] = apply_rows(q[idx].contiguous())
        a = torch.linalg.vecdot(q, w)
        alpha[:, j] = torch.where(active, a, alpha[:, j])
        w.addcmul_(q, a[:, None], value=-1.0).addcmul_(q_prev, b_prev[:, None], value=-1.0)
        if j == steps - 1:
            break
        b = w.norm(dim=1)
        alpha_h[:, j] = alpha[:, j].cpu()
        nxt = omega.next(j, alpha_h, beta_h, b.cpu())
        ranges = _ranges(reorth, nxt[:, : j + 1], active.cpu(), omega.eps, last)
        if ranges:
            _orthogonalize(w, basis, ranges)
            b = w.norm(dim=1)
            for draw, (_, indices) in ranges.items():
                projections[draw] += len(indices)
                nxt[draw, indices] = omega.floor
        last = ranges
        scale = alpha[:, : j + 1].abs().amax(dim=1).clamp_min(1.0)
        broke = active & (b <= breakdown_tol * scale)
        lengths[broke] = j + 1
        active &= ~broke
        omega.accept(j, nxt, active.cpu())
        if not active.any():
            break
        beta[:, j] = torch.where(active, b, torch.zeros_like(b))
        beta_h[:, j] = beta[:, j].cpu()
        # A stopped run keeps its last vector (never used again: it costs no products).
        w.div_(torch.where(active, b, torch.ones_like(b))[:, None])
        q_prev, q = q, torch.where(active[:, None], w, q) if not bool(active.all()) else w
        b_prev = beta[:, j]
    vectors = basis if return_vectors else None
    return LanczosResult(alpha, beta, lengths.cpu(), omega.level, projections, vectors)


def _runs(indices: list[int]) -> list[tuple[int, int]]:
    """Sorted indices as maximal runs [lo, hi) of consecutive integers."""
    out: list[tuple[int, int]] = []
    for i in indices:
        if out and out[-1][1] == i:
            out[-1] = (out[-1][0], i + 1)
        else:
            out.append((i, i + 1))
    return out


def _ranges(
    reorth: Reorth,
    omega: Tensor,
    live: Tensor,
    eps: float,
    last: dict[int, tuple[bool, list[int]]],
) -> dict[int, tuple[bool, list[int]]]:
    """Which draws to reorthogonalize now, each against which of its basis vectors.

    ``omega`` (k, j+1) holds the estimates ω_{j+1,i}; ``last`` is the previous step's answer:
    per draw, whether the √ε test triggered it and the indices used. ``"full"``: every live draw
    against all j+1 vectors. ``"partial"``: a draw whose max |ω| passes √ε, against the i with
    |ω_{j+1,i}| > ε^{3/4} (Larsen's η-neighbourhoods: on a Hessian these are mostly the first
    few vectors, where the components of the converged outliers sit); and the step after,
    against its own such i and at least the same ones again, since q_j's own loss of
    orthogonality leaks into q_{j+2}; q_j and q_{j−1} are always in the set.
    """
    if reorth == "none":
        return {}
    size = omega.shape[1]
    if reorth == "full":
        return {d: (True, list(range(size))) for d in live.nonzero().flatten().tolist()}
    above = omega.abs() > eps**0.75
    trigger = omega.abs().amax(dim=1) > math.sqrt(eps)
    out = {}
    for d in live.nonzero().flatten().tolist():
        forced = d in last and last[d][0] and not trigger[d]
        if trigger[d] or forced:
            # The two latest vectors always: projecting out earlier ones leaks their own
            # overlap with q_j into it, which the estimate (fixed at the local level) misses.
            hits = set(above[d].nonzero().flatten().tolist()) | {size - 1, max(size - 2, 0)}
            if forced:
                hits |= set(last[d][1])
            out[d] = (bool(trigger[d]), sorted(hits))
    return out


def _orthogonalize(w: Tensor, basis: Tensor, ranges: dict[int, tuple[bool, list[int]]]) -> None:
    """In place, for each draw d in ``ranges``: w[d] minus its projection on the listed vectors.

    Classical Gram–Schmidt with a DGKS repeat. Each run of consecutive indices is a view of the
    draw's contiguous basis block (no copy), projected with two matrix-vector products in the
    basis dtype (a float32 basis halves the memory traffic); the correction is applied to the
    float64 vector. A loop over draws with ``mv`` is 3–6× faster on CPU than one strided
    ``bmm`` over all draws.
    """
    for draw, (_, indices) in ranges.items():
        blocks = [basis[draw, lo:hi] for lo, hi in _runs(indices)]
        v, norm = w[draw], w[draw].norm()
        for _ in range(2):
            # Classical: every coefficient from the same v, then one update.
            coeffs = [torch.mv(q, v.to(q.dtype)) for q in blocks]
            for q, c in zip(blocks, coeffs, strict=True):
                v = v - torch.mv(q.T, c).to(v.dtype)
            kept, norm = v.norm() / norm, v.norm()
            if kept >= 2**-0.5:
                break
        w[draw] = v
