"""Top eigenpairs of a curvature operator by Lanczos, with Ritz residuals; gradient overlap.

Ritz pairs (θ_i, y_i = Q_m s_i) come from m Lanczos steps with (partial) reorthogonalization; the
residual ‖A y_i − θ_i y_i‖ is computed with one more product, so the returned accuracy is
measured, not assumed (the Lanczos estimate β_m|s_{m,i}| can be optimistic when orthogonality is
lost). The gradient overlap ‖P_k ∇L‖²/‖∇L‖², with P_k the projector on the top-k eigenspace, is
the fraction of the gradient in the top subspace (Gur-Ari et al. 2018; Ghorbani et al. 2019).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, get_args

import torch
from torch import Tensor

from curvlab.curvature.errors import CurvatureInputError, check_choice, check_counts
from curvlab.curvature.lanczos import Reorth, lanczos, rademacher
from curvlab.curvature.operators import CurvatureOperator

#: Which end of the spectrum :func:`topk` returns: largest algebraic or largest magnitude.
Which = Literal["LA", "LM"]


@dataclass
class Eigenpairs:
    """``eigenvalues`` (k,) in the requested order, ``eigenvectors`` (P, k), ``residuals`` (k,)."""

    eigenvalues: Tensor
    eigenvectors: Tensor
    residuals: Tensor


def topk(
    op: CurvatureOperator,
    k: int,
    steps: int | None = None,
    seed: int = 0,
    which: Which = "LA",
    reorth: Reorth = "partial",
    basis_dtype: torch.dtype = torch.float64,
) -> Eigenpairs:
    """The k largest (``"LA"``) or largest-magnitude (``"LM"``) eigenpairs, largest first.

    ``steps`` (default max(3k, k + 40)) is clamped to P. Fewer than k pairs come back when the
    run stops early because the start vector's Krylov space is invariant: A then has fewer
    distinct eigenvalues than k (repeated ones), and every one of them is returned.
    ``reorth`` and ``basis_dtype`` are :func:`~curvlab.curvature.lanczos`'s; the residuals are
    measured either way.
    """
    check_choice("which", which, get_args(Which))
    steps = max(3 * k, k + 40) if steps is None else steps
    check_counts(k=k, steps=steps)
    if k > op.dim:
        raise CurvatureInputError(f"k = {k} exceeds the number of parameters P = {op.dim}")
    if steps < k:
        raise CurvatureInputError(
            f"steps = {steps} < k = {k}: Lanczos gives at most one eigenvalue per step"
        )
    steps = min(op.dim, steps)
    start = rademacher(op.dim, 1, seed, device=op.device)
    run = lanczos(op, start, steps, reorth=reorth, basis_dtype=basis_dtype, return_vectors=True)
    theta, s = run.ritz(0)
    order = torch.argsort(theta.abs() if which == "LM" else theta, descending=True)[:k]
    m = int(run.lengths[0])
    vectors = run.vectors[0, :m].T.double() @ s[:, order]  # (P, k)
    values = theta[order]
    residuals = (op.matmat(vectors) - vectors * values).norm(dim=0)
    return Eigenpairs(values, vectors, residuals)


def gradient_overlap(gradient: Tensor, eigenvectors: Tensor) -> float:
    """‖Vᵀg‖² / ‖g‖² for orthonormal columns V: the share of g in their span."""
    g = gradient.to(eigenvectors.dtype)
    return float((eigenvectors.T @ g).pow(2).sum() / g.pow(2).sum())
