"""Stochastic Lanczos quadrature (SLQ): the spectral density of a curvature operator.

For a start vector v with E[vvᵀ] = I/P (normalized Rademacher), m Lanczos steps give the
Gauss quadrature rule of the spectral measure μ_v = Σ_i (vᵀu_i)² δ_{λ_i}: nodes θ_j (the Ritz
values) and weights w_j = (first component of T's j-th eigenvector)², Σ_j w_j = 1. Averaged over
draws, Σ_j w_j f(θ_j) estimates (1/P) Tr f(A) = ∫ f dφ with φ the spectral density; in
particular Σ_j w_j θ_j^k ≈ Tr(A^k)/P, exactly for k ≤ 2m − 1 per draw.

``slq`` returns the raw nodes and weights of every draw; smoothing is a separate step
(:func:`smoothed_density`), done at plot time with a recorded kernel width, because the width is
a convention that differs between libraries:

* ``"ghorbani"`` — Gaussian of variance σ²·max(1, λmax − λmin), σ² = 1e-5 (Ghorbani et al.'s code,
  copied by PyHessian and ASDL); very peaked, meant for log-density plots;
* ``"papyan"`` — std tied to the Lanczos resolution, (range/2)·2/((m − 1)√(8 ln κ)), κ = 3
  (Papyan 2020, curvlinops);
* ``"resolution"`` — std = range/m (hessian-eigenthings v1).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal, get_args

import numpy as np
import pandas as pd
import torch

from curvlab.curvature.errors import check_choice, check_counts
from curvlab.curvature.estimate import Estimate
from curvlab.curvature.lanczos import LanczosResult, Reorth, lanczos, rademacher
from curvlab.curvature.operators import CurvatureOperator

#: Kernel-width conventions of :func:`kernel_variance` (module docstring).
Convention = Literal["ghorbani", "papyan", "resolution"]
CONVENTIONS: tuple[Convention, ...] = get_args(Convention)


@dataclass
class Quadrature:
    """Nodes and weights of each draw (lists of 1-D float64 arrays) and the dimension P.

    ``orthogonality`` is the largest estimated |q_iᵀq_j|, i ≠ j, of any draw's Lanczos basis and
    ``projections`` the number of basis vectors projected out over the run, all draws together
    (:class:`~curvlab.curvature.LanczosResult`): what a table's provenance records.
    """

    nodes: list[np.ndarray]
    weights: list[np.ndarray]
    dim: int
    steps: int
    orthogonality: float
    projections: int

    @classmethod
    def from_lanczos(cls, result: LanczosResult, dim: int) -> Quadrature:
        """Gauss quadrature of every draw: Ritz values and squared first components."""
        nodes, weights = [], []
        for d in range(len(result.lengths)):
            theta, vecs = result.ritz(d)
            nodes.append(theta.cpu().numpy())
            weights.append((vecs[0] ** 2).cpu().numpy())
        return cls(
            nodes,
            weights,
            dim,
            int(result.lengths.max()),
            float(result.orthogonality.max()),
            int(result.projections.sum()),
        )

    def frame(self) -> pd.DataFrame:
        """Tidy table: one row per (draw, node)."""
        return pd.DataFrame(
            {
                "draw": np.concatenate([np.full(len(n), d) for d, n in enumerate(self.nodes)]),
                "node": np.concatenate(self.nodes),
                "weight": np.concatenate(self.weights),
            }
        )

    def moment(self, k: int) -> Estimate:
        """Estimate of Tr(A^k) (not normalized by P) with its standard error over draws."""
        per_draw = np.array(
            [self.dim * np.sum(w * n**k) for n, w in zip(self.nodes, self.weights, strict=True)]
        )
        stderr = per_draw.std(ddof=1) / math.sqrt(len(per_draw)) if len(per_draw) > 1 else math.nan
        return Estimate(k, float(per_draw.mean()), float(stderr))


def slq(
    op: CurvatureOperator,
    steps: int = 80,
    draws: int = 10,
    seed: int = 0,
    *,
    reorth: Reorth = "partial",
    basis_dtype: torch.dtype = torch.float64,
) -> Quadrature:
    """SLQ with ``draws`` Rademacher start vectors run in lock-step (one data pass per step).

    ``reorth`` (:func:`~curvlab.curvature.lanczos`): ``"partial"`` reorthogonalizes only when
    Simon's estimate of the lost orthogonality passes √ε, which keeps the nodes and weights at
    full reorthogonalization's accuracy for a fraction of its cost; ``"full"`` at every step;
    ``"none"`` never. ``basis_dtype=torch.float32`` stores the Lanczos vectors in single
    precision (the recurrence stays float64): half the memory and reorthogonalization traffic.
    """
    check_counts(steps=steps, draws=draws)
    start = rademacher(op.dim, draws, seed, device=op.device)
    result = lanczos(op, start, steps, reorth=reorth, basis_dtype=basis_dtype)
    return Quadrature.from_lanczos(result, op.dim)


def kernel_variance(
    nodes: np.ndarray,
    convention: Convention = "ghorbani",
    sigma2: float = 1e-5,
    steps: int | None = None,
    kappa: float = 3.0,
) -> float:
    """Variance of the Gaussian smoothing kernel under a named convention (module docstring)."""
    check_choice("convention", convention, CONVENTIONS)
    span = float(np.max(nodes) - np.min(nodes))
    if convention == "ghorbani":
        return sigma2 * max(1.0, span)
    if steps is None:
        raise ValueError(f"the {convention!r} convention needs the number of Lanczos steps")
    if convention == "papyan":
        std = (span / 2) * 2 / ((steps - 1) * math.sqrt(8 * math.log(kappa)))
    else:
        std = span / steps
    return std**2


def density_grid(nodes: np.ndarray, points: int = 10_000, margin: float = 0.01) -> np.ndarray:
    """Evaluation grid over [λmin, λmax] widened by ``margin`` of the range on each side."""
    low, high = float(np.min(nodes)), float(np.max(nodes))
    pad = margin * max(high - low, 1e-12)
    return np.linspace(low - pad, high + pad, points)


def smoothed_density(
    nodes: list[np.ndarray], weights: list[np.ndarray], grid: np.ndarray, variance: float
) -> np.ndarray:
    """φ(t) = mean over draws of Σ_j w_j N(t; θ_j, variance); integrates to ≈ 1 over the grid."""
    total = np.zeros_like(grid)
    norm = 1.0 / math.sqrt(2 * math.pi * variance)
    for theta, w in zip(nodes, weights, strict=True):
        total += (
            w[None, :] * np.exp(-((grid[:, None] - theta[None, :]) ** 2) / (2 * variance))
        ).sum(1)
    return norm * total / len(nodes)


def exact_smoothed_density(
    eigenvalues: np.ndarray, grid: np.ndarray, variance: float
) -> np.ndarray:
    """The same smoothing applied to an explicit spectrum (each eigenvalue has weight 1/P)."""
    ev = np.asarray(eigenvalues, dtype=np.float64)
    return smoothed_density([ev], [np.full(len(ev), 1.0 / len(ev))], grid, variance)
