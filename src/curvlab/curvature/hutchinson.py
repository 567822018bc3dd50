"""Randomized trace estimators: Hutchinson moments Tr(A^k) with standard errors, and Hutch++.

With Rademacher probes v (E[vvᵀ] = I), vᵀA^k v is an unbiased estimate of Tr(A^k). Writing
W_j = A^j V for a block of probes V, vᵀA^k v = ⟨W_⌊k/2⌋, W_⌈k/2⌉⌉⟩ column-wise, so all moments
k ≤ K cost ⌈K/2⌉ products per probe (two for K = 4). The standard error is the sample standard
deviation over probes divided by √probes.

Hutch++ (Meyer, Musco, Musco & Woodruff 2021) spends a third of the products on a sketch Q of the
top range of A, takes Tr(QᵀAQ) exactly and Hutchinson on the deflated remainder: for matrices
with a few large eigenvalues (Hessians) its error falls as 1/products instead of 1/√products.
"""

from __future__ import annotations

import math

import torch

from curvlab.curvature.errors import check_counts
from curvlab.curvature.estimate import Estimate
from curvlab.curvature.lanczos import rademacher
from curvlab.curvature.operators import CurvatureOperator


def _mean_stderr(samples: torch.Tensor) -> tuple[float, float]:
    n = samples.numel()
    stderr = float(samples.std(unbiased=True)) / math.sqrt(n) if n > 1 else math.nan
    return float(samples.mean()), stderr


def hutchinson_moments(
    op: CurvatureOperator, max_k: int = 4, probes: int = 100, seed: int = 0
) -> list[Estimate]:
    """Estimates of Tr(A^k), k = 1 … max_k, from ``probes`` Rademacher probes."""
    check_counts(max_k=max_k, probes=probes)
    # One probe per row: the operator's own layout, so the products need no transposes.
    powers = [rademacher(op.dim, probes, seed, device=op.device).T.contiguous()]
    for _ in range(math.ceil(max_k / 2)):
        powers.append(op.matmat_rows(powers[-1]))
    out = []
    for k in range(1, max_k + 1):
        samples = torch.linalg.vecdot(powers[k // 2], powers[k - k // 2])
        out.append(Estimate(k, *_mean_stderr(samples)))
    return out


def hutchinson_trace(op: CurvatureOperator, probes: int = 100, seed: int = 0) -> Estimate:
    """Estimate of Tr A from ``probes`` Rademacher probes (``CurvatureOperator.trace`` is exact)."""
    return hutchinson_moments(op, 1, probes, seed)[0]


def hutchpp_trace(op: CurvatureOperator, products: int = 99, seed: int = 0) -> Estimate:
    """Hutch++ with ``products`` operator applications (a multiple of 3 is used)."""
    m = max(products // 3, 1)
    sketch = op.matmat(rademacher(op.dim, m, seed, device=op.device))
    q, _ = torch.linalg.qr(sketch)
    exact = float((q * op.matmat(q)).sum())
    g = rademacher(op.dim, m, seed + 1, device=op.device)
    g = g - q @ (q.T @ g)
    samples = (g * op.matmat(g)).sum(0)
    mean, stderr = _mean_stderr(samples)
    return Estimate(1, exact + mean, stderr)
