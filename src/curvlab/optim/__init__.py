"""Optimizers for the reproductions: plain gradient descent and the curvature-corrected rules.

:mod:`curvlab.optim.deep_linear` implements, for deep linear networks W = W_d ⋯ W_1 trained on
½‖W − Σ̂‖_F² (Huh, ICML 2020; docs/papers/huh2020.md), one parameterized family

    Δθ = −η (G + εI)^{−α} Jᵀe              (structure "full": the whole Gauss–Newton matrix)
    Δθ_i = −η (G_ii + εI)^{−α} J_iᵀe        (structure "block": its diagonal blocks only)

with G = JᵀJ the exact Gauss–Newton ("Hessian+") matrix, e = vec(W − Σ̂), Levenberg–Marquardt
damping ε ≥ 0 (ε = 0 means the pseudo-inverse power) and update-speed clipping ‖Δθ‖ ≤ cap.
α = 0 is GD, α = ½ the square-root ("fractional") rules, α = 1 NGD and NGD-d; any α in [0, 1]
is allowed. :data:`~curvlab.optim.deep_linear.METHODS` names the five rules of the paper.
"""

from curvlab.optim.deep_linear import METHODS, Rule, StepResult, direction, step

__all__ = ["METHODS", "Rule", "StepResult", "direction", "step"]
