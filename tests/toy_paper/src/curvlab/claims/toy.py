"""Toy (2026): one claim, checked against the standard error of a mean of n draws."""

from __future__ import annotations

from curvlab.claims import AtMost, Claim, ClaimSet, ClaimSpec, Target

CLAIMS = ClaimSet(
    "toy",
    [ClaimSpec("toy", "mean_near_zero", "The sample mean is within 5/√n of 0", Target.PAPER)],
)


def evaluate(tables, scale) -> list[Claim]:
    draws = tables["toy.draws"]
    if draws.empty:
        return []
    worst = float(draws["value"].abs().max())
    return [CLAIMS.specs["mean_near_zero"].check(worst, AtMost(5 / draws["n"].min() ** 0.5))]
