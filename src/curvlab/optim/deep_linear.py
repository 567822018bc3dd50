"""GD, NGD, NGD-d and their fractional powers for deep linear networks, computed exactly.

Notation of :mod:`curvlab.models.deep_linear`: layers W_1 … W_d, map W = W_d ⋯ W_1, error
E = ∂L/∂W = W − Σ̂ (e = vec E), Jacobian J = [J_1 … J_d], J_i = W_{<i}ᵀ ⊗ W_{>i}, Gauss–Newton
G = JᵀJ. A rule is ``(structure, α, ε)``; its *velocity* v (so that Δθ = −η v) is

* ``full``:  v = (G + εI)^{−α} Jᵀe = Jᵀ (JJᵀ + εI)^{−α} e.
  The second form (the "exact fast route") is the identity
  (G + εI)^{−α} V S Uᵀ = V S (S² + ε)^{−α} Uᵀ for J = U S Vᵀ. JJᵀ = Σ_i (W_{<i}ᵀW_{<i}) ⊗
  (W_{>i}W_{>i}ᵀ) is n_d n_0 × n_d n_0 (256 × 256 at N = 16, against G's 1024 × 1024); its
  power is taken by a symmetric eigendecomposition, or for α = 1, ε > 0 by a Cholesky solve.
  Then v_i = W_{>i}ᵀ U W_{<i}ᵀ with vec U = (JJᵀ + εI)^{−α} e.
* ``block``: v_i = (G_ii + εI)^{−α} J_iᵀe with G_ii = (W_{<i}W_{<i}ᵀ) ⊗ (W_{>i}ᵀW_{>i}). From the
  SVDs W_{<i} = P_a diag(s_a) Q_aᵀ and W_{>i} = P_b diag(s_b) Q_bᵀ, G_ii is diagonal in the
  basis P_a ⊗ Q_b with eigenvalues s_a,l² s_b,k², so with R_i = W_{>i}ᵀ E W_{<i}ᵀ
  v_i = Q_b [(Q_bᵀ R_i P_a) ⊘ (s_b,k² s_a,l² + ε)^α] P_aᵀ. At ε = 0, α = 1 this is
  W_{>i}⁺ E W_{<i}⁺ and at α = ½ polar(W_{>i})ᵀ E polar(W_{<i})ᵀ.

ε = 0 means the pseudo-inverse power: eigenvalues (full) or factor singular values (block) at or
below ``max(shape)·ε₆₄`` times the largest are treated as exact zeros and get weight 0, as
``numpy.linalg.pinv`` does. Pseudo-inverses and inverse square roots therefore always come from a
symmetric eigendecomposition or an SVD, as in the paper. α = 0 is plain GD in both structures.

Clipping (:func:`step`): if η‖v‖ exceeds ``cap`` the step is scaled to length ``cap`` (the
workflow uses an absolute cap of 0.1 per step on NGD and NGD-d: docs/papers/huh2020.md,
Reconstructed choices 6). The unclipped ‖v‖ is always returned.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import numpy as np
import scipy.linalg

from curvlab.models.deep_linear import Layers, layer_gradients, prefixes, suffixes

EPS64 = float(np.finfo(np.float64).eps)

Structure = Literal["full", "block"]


@dataclass(frozen=True)
class Rule:
    """Δθ = −η (G + εI)^{−α} Jᵀe (``full``) or its block-diagonal version (``block``)."""

    structure: Structure = "full"
    alpha: float = 0.0
    eps: float = 0.0

    def __post_init__(self) -> None:
        if self.structure not in ("full", "block"):
            raise ValueError(f"structure must be 'full' or 'block', got {self.structure!r}")
        if not 0.0 <= self.alpha <= 1.0:
            raise ValueError(f"alpha must be in [0, 1], got {self.alpha}")
        if self.eps < 0:
            raise ValueError(f"eps must be >= 0, got {self.eps}")


# The paper's five rules with the damping used by the workflow (1e-5 for NGD and NGD-d, as in
# the paper; 1e-10 for the square-root rules, docs/papers/huh2020.md Reconstructed choices 5).
METHODS: dict[str, Rule] = {
    "gd": Rule("full", 0.0, 0.0),
    "ngd": Rule("full", 1.0, 1e-5),
    "ngd_d": Rule("block", 1.0, 1e-5),
    "sqrt_ngd": Rule("full", 0.5, 1e-10),
    "sqrt_ngd_d": Rule("block", 0.5, 1e-10),
}


def _power_weights(lam: np.ndarray, alpha: float, eps: float, zero: float) -> np.ndarray:
    """(λ + ε)^{−α}, with λ ≤ ``zero`` given weight 0 when ε = 0 (pseudo-inverse power)."""
    lam = np.maximum(lam, 0.0)
    if eps > 0:
        return (lam + eps) ** (-alpha)
    out = np.zeros_like(lam)
    keep = lam > zero
    out[keep] = lam[keep] ** (-alpha)
    return out


def _full(ws: Layers, e: np.ndarray, alpha: float, eps: float) -> list[np.ndarray]:
    pre, suf = prefixes(ws), suffixes(ws)
    k = sum(np.kron(p.T @ p, s @ s.T) for p, s in zip(pre, suf, strict=True))
    ev = e.reshape(-1, order="F")
    if alpha == 1.0 and eps > 0:
        u = scipy.linalg.cho_solve(scipy.linalg.cho_factor(k + eps * np.eye(len(k))), ev)
    else:
        lam, q = np.linalg.eigh(k)
        zero = len(k) * EPS64 * max(float(lam[-1]), 0.0)
        u = q @ (_power_weights(lam, alpha, eps, zero) * (q.T @ ev))
    um = u.reshape(e.shape, order="F")
    return [s.T @ um @ p.T for p, s in zip(pre, suf, strict=True)]


def _block(ws: Layers, e: np.ndarray, alpha: float, eps: float) -> list[np.ndarray]:
    out = []
    for p, s in zip(prefixes(ws), suffixes(ws), strict=True):
        r = s.T @ e @ p.T  # J_iᵀ e, shape n_i × n_{i−1}
        # G_ii = A ⊗ B with A = W_{<i} W_{<i}ᵀ (eigvecs: left sing. vecs of W_{<i}) and
        # B = W_{>i}ᵀ W_{>i} (eigvecs: right sing. vecs of W_{>i}).
        pa, sa, _ = np.linalg.svd(p, full_matrices=True)
        _, sb, qbt = np.linalg.svd(s, full_matrices=True)
        a = np.zeros(pa.shape[0])
        a[: len(sa)] = sa**2
        b = np.zeros(qbt.shape[0])
        b[: len(sb)] = sb**2
        if eps > 0:
            weights = (np.outer(b, a) + eps) ** (-alpha)
        else:
            # Pseudo-inverse power: a factor singular value at rounding level counts as zero.
            keep_a = np.zeros_like(a, dtype=bool)
            keep_a[: len(sa)] = sa > max(p.shape) * EPS64 * (sa[0] if len(sa) else 0.0)
            keep_b = np.zeros_like(b, dtype=bool)
            keep_b[: len(sb)] = sb > max(s.shape) * EPS64 * (sb[0] if len(sb) else 0.0)
            weights = np.zeros((len(b), len(a)))
            mask = np.outer(keep_b, keep_a)
            weights[mask] = np.outer(b, a)[mask] ** (-alpha)
        y = qbt @ r @ pa  # Q_bᵀ R P_a
        out.append(qbt.T @ (y * weights) @ pa.T)
    return out


def direction(ws: Layers, e: np.ndarray, rule: Rule) -> list[np.ndarray]:
    """The velocity v (Δθ = −η v) of ``rule`` as layer-shaped matrices."""
    if rule.alpha == 0.0:
        return layer_gradients(ws, e)
    if rule.structure == "full":
        return _full(ws, e, rule.alpha, rule.eps)
    return _block(ws, e, rule.alpha, rule.eps)


@dataclass(frozen=True)
class StepResult:
    layers: list[np.ndarray]
    speed: float  # unclipped ‖v‖ (parameter speed per unit t = ηk)
    step_norm: float  # ‖Δθ‖ actually taken
    clipped: bool


def step(ws: Layers, e: np.ndarray, rule: Rule, eta: float, cap: float | None = None) -> StepResult:
    """One Euler step θ ← θ − η v, scaled down to ‖Δθ‖ = ``cap`` if it would be longer."""
    v = direction(ws, e, rule)
    speed = math.sqrt(sum(float(np.sum(g * g)) for g in v))
    scale = eta
    clipped = cap is not None and eta * speed > cap
    if clipped:
        scale = cap / speed
    return StepResult(
        [w - scale * g for w, g in zip(ws, v, strict=True)], speed, scale * speed, bool(clipped)
    )
