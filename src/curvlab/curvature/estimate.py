"""The result type of every randomized trace estimate (Hutchinson, Hutch++, SLQ moments)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Estimate:
    """An estimate of Tr(A^k), not normalized by the dimension, and its standard error.

    ``stderr`` is the sample standard deviation over probes (or SLQ draws) divided by the square
    root of their number; NaN from a single one. Hutch++ reports the error of its stochastic
    part only (its sketch's trace is exact).
    """

    k: int
    estimate: float
    stderr: float
