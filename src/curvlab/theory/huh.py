"""Mode-level dynamics of curvature-corrected learning in deep linear networks (Huh, ICML 2020).

Our derivation (docs/papers/huh2020.md, Reconstructed choices), checked by simulation in the
claims of that page. Take a network whose layers share singular
vectors along a chain of orthonormal bases aligned with the target Σ̂ = Σ_k ŝ_k û_k v̂_kᵀ (an
"aligned" network). Every layer is diagonal in those bases, so each mode k evolves on its own:
layer values σ_{1k} … σ_{dk}, map value s_k = Π_i σ_ik, error e_k = s_k − ŝ_k, and the mode's
Jacobian row p_k = (p_1k … p_dk) with p_ik = Π_{j≠i} σ_jk (= s_k/σ_ik). For the general rule of
:mod:`curvlab.optim.deep_linear` the layer velocity (dσ/dt = −v) is

    full:   v_ik = p_ik e_k (‖p_k‖² + ε)^{−α}          (JJᵀ restricted to mode k is ‖p_k‖²)
    block:  v_ik = p_ik e_k (p_ik² + ε)^{−α}            (G_ii restricted to mode k is p_ik²)

This is exact for the matrix network (not an approximation) because J maps the diagonal of the
aligned bases to itself; at the matrix level an Euler step with these velocities is the same as
the matrix Euler step (tested to ~1e-13). α = 0, ½, 1 give GD, sqrt-NGD(-d), NGD(-d); the
general-α formula is the same derivation, nothing is assumed beyond alignment.

Map ODE, ds/dt = Σ_i p_i (−v_i):

    full:   ds/dt = ‖p‖² (‖p‖² + ε)^{−α} (ŝ − s)
    block:  ds/dt = Σ_i p_i² (p_i² + ε)^{−α} (ŝ − s)

For a balanced mode (σ_i all equal, which every rule preserves by symmetry) p_i² = s^{2−2/d}, so
at ε = 0: GD d·s^{2−2/d}(ŝ − s), NGD (ŝ − s), sqrt-NGD √d·s^{1−1/d}(ŝ − s), NGD-d d(ŝ − s),
sqrt-NGD-d d·s^{1−1/d}(ŝ − s), and in general full (d s^{2−2/d})^{1−α}(ŝ − s), block
d (s^{2−2/d})^{1−α}(ŝ − s). NGD and NGD-d have closed forms s = ŝ − (ŝ − s₀)e^{−ct}, c = 1 and
d; their Euler versions contract by (1 − cη) per step, i.e. at the rate −ln(1 − cη)/η per unit
t = ηk. With damping a mode's rate becomes λ/(λ + ε) times that, λ = ‖p‖² (full) or p_i²
(block). GD and the square-root rules are integrated numerically (:func:`integrate_modes`,
:func:`integrate_balanced`).

Conserved quantities of the flow (exact only at ε = 0 for the block rules): the full rule at any
α and ε conserves σ_i² − σ_j² (so GD, NGD and sqrt-NGD share each mode's path: the "generalized
conservation law", per mode); NGD-d conserves σ_i/σ_j (also under Euler), sqrt-NGD-d σ_i − σ_j
(also under Euler), and for a non-aligned network NGD-d at ε = 0 conserves
log|det W_i| − log|det W_j| exactly, even under Euler steps (docs/papers/huh2020.md,
Corrections 4). Under Euler steps the full rules keep each mode's path only up to a first-order
error in the step length: a step Δσ changes σ_i² − σ_j² by exactly Δσ_i² − Δσ_j²
(:func:`path_difference` measures the resulting gap between two paths).

Time scales (balanced, small s₀ = σ₀^d): GD reaches ŝ/2 at t ≈ 1/((d − 2) ŝ σ₀^{d−2})
(= 1/(2ŝσ₀²) at d = 4); sqrt-NGD's escape time stays finite as s₀ → 0 and scales as
ŝ^{−(1−1/d)} (= ŝ^{−3/4}). From a random init the mode ODEs start from
s₀ = (mean squared layer singular value)^{d/2} (the square at d = 4).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
from scipy.integrate import solve_ivp
from scipy.optimize import brentq


def others_product(sigma: np.ndarray) -> np.ndarray:
    """p_ik = Π_{j≠i} σ_jk for ``sigma`` of shape (d, K), without dividing by σ_ik."""
    sigma = np.asarray(sigma, dtype=np.float64)
    d = sigma.shape[0]
    left = np.ones_like(sigma)
    right = np.ones_like(sigma)
    for i in range(1, d):
        left[i] = left[i - 1] * sigma[i - 1]
    for i in range(d - 2, -1, -1):
        right[i] = right[i + 1] * sigma[i + 1]
    return left * right


def _weights(lam: np.ndarray, alpha: float, eps: float) -> np.ndarray:
    """(λ + ε)^{−α}; at ε = 0 the pseudo-inverse power (weight 0 where λ = 0)."""
    if alpha == 0.0:
        return np.ones_like(lam)
    if eps > 0:
        return (lam + eps) ** (-alpha)
    out = np.zeros_like(lam)
    np.power(lam, -alpha, out=out, where=lam > 0)
    return out


def mode_velocity(
    sigma: np.ndarray, target: np.ndarray, alpha: float, structure: str, eps: float = 0.0
) -> np.ndarray:
    """v (shape (d, K)) with dσ/dt = −v for every mode of an aligned network."""
    sigma = np.asarray(sigma, dtype=np.float64)
    p = others_product(sigma)
    e = np.prod(sigma, axis=0) - np.asarray(target, dtype=np.float64)
    if structure == "full":
        return p * e * _weights(np.sum(p * p, axis=0), alpha, eps)
    if structure == "block":
        return p * e * _weights(p * p, alpha, eps)
    raise ValueError(f"structure must be 'full' or 'block', got {structure!r}")


def euler_modes(
    sigma0: np.ndarray,
    target: np.ndarray,
    alpha: float,
    structure: str,
    eps: float,
    eta: float,
    steps: int,
    cap: float | None = None,
    record: Sequence[int] | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Euler steps σ ← σ − η v of all modes at once, with the same global clipping as the matrix
    network (‖Δθ‖ over every mode and layer ≤ ``cap``). Returns (recorded steps, σ at those
    steps with shape (n_recorded, d, K))."""
    sigma = np.array(sigma0, dtype=np.float64)
    wanted = np.unique(np.r_[0, steps] if record is None else np.asarray(record, dtype=int))
    out = np.empty((len(wanted), *sigma.shape))
    j = 0
    for k in range(steps + 1):
        if j < len(wanted) and wanted[j] == k:
            out[j] = sigma
            j += 1
        if k == steps:
            break
        v = mode_velocity(sigma, target, alpha, structure, eps)
        scale = eta
        if cap is not None:
            norm = math.sqrt(float(np.sum(v * v)))
            if eta * norm > cap:
                scale = cap / norm
        sigma = sigma - scale * v
    return wanted, out


def integrate_modes(
    sigma0: np.ndarray,
    target: np.ndarray,
    alpha: float,
    structure: str,
    eps: float,
    t_eval: np.ndarray,
    rtol: float = 1e-12,
    atol: float = 1e-14,
) -> np.ndarray:
    """Gradient-flow-time solution σ(t) (shape (len(t_eval), d, K)) of dσ/dt = −v (DOP853)."""
    sigma0 = np.asarray(sigma0, dtype=np.float64)
    shape = sigma0.shape
    target = np.asarray(target, dtype=np.float64)

    def rhs(_t, y):
        return -mode_velocity(y.reshape(shape), target, alpha, structure, eps).ravel()

    t_eval = np.asarray(t_eval, dtype=np.float64)
    sol = solve_ivp(
        rhs,
        (0.0, float(t_eval[-1])),
        sigma0.ravel(),
        method="DOP853",
        t_eval=t_eval,
        rtol=rtol,
        atol=atol,
    )
    if not sol.success:  # pragma: no cover - the systems here are smooth
        raise RuntimeError(f"mode ODE integration failed: {sol.message}")
    return sol.y.T.reshape(len(t_eval), *shape)


def modes_at_map_values(
    sigma0: np.ndarray,
    target: np.ndarray,
    alpha: float,
    structure: str,
    eps: float,
    horizon: float,
    levels: np.ndarray,
    rtol: float = 1e-12,
    atol: float = 1e-14,
) -> tuple[np.ndarray, np.ndarray]:
    """The flow's layer values where each mode's map value s_k first reaches ``levels[:, k]``.

    Compares paths without interpolating one trajectory at another's points: the crossing
    times are found by root-finding on the integrator's dense (7th-order) output. Returns
    (times, σ) with shapes (L, K) and (L, d, K); NaN where a level is not reached by
    ``horizon``.
    """
    sigma0 = np.asarray(sigma0, dtype=np.float64)
    shape = sigma0.shape
    target = np.asarray(target, dtype=np.float64)

    def rhs(_t, y):
        return -mode_velocity(y.reshape(shape), target, alpha, structure, eps).ravel()

    sol = solve_ivp(
        rhs,
        (0.0, float(horizon)),
        sigma0.ravel(),
        method="DOP853",
        dense_output=True,
        rtol=rtol,
        atol=atol,
    )
    if not sol.success:  # pragma: no cover
        raise RuntimeError(f"mode ODE integration failed: {sol.message}")
    grid = np.unique(np.r_[sol.t, np.linspace(0.0, float(horizon), 4001)])
    s_grid = np.prod(sol.sol(grid).reshape(*shape, -1), axis=0)  # (K, T)
    levels = np.asarray(levels, dtype=np.float64)
    times = np.full(levels.shape, np.nan)
    out = np.full((levels.shape[0], *shape), np.nan)
    for k in range(shape[1]):
        sign = 1.0 if target[k] >= s_grid[k, 0] else -1.0
        path = sign * s_grid[k]
        for j, level in enumerate(levels[:, k]):
            above = np.nonzero(path >= sign * level)[0]
            if len(above) == 0 or above[0] == 0:
                continue
            lo, hi = grid[above[0] - 1], grid[above[0]]

            def gap(t, k=k, level=level):
                return float(np.prod(sol.sol(t).reshape(shape)[:, k])) - level

            t_star = brentq(gap, lo, hi, xtol=1e-14, rtol=1e-14)
            times[j, k] = t_star
            out[j, :, k] = sol.sol(t_star).reshape(shape)[:, k]
    return times, out


def balanced_map_rate(
    s: np.ndarray,
    target: np.ndarray,
    alpha: float,
    structure: str,
    depth: int,
    eps: float = 0.0,
) -> np.ndarray:
    """ds/dt of a balanced mode (all layer values s^{1/d}); see the module docstring."""
    s = np.asarray(s, dtype=np.float64)
    p2 = np.abs(s) ** (2.0 - 2.0 / depth)  # p_i² at balance
    if structure == "full":
        lam = depth * p2
        gain = lam * _weights(lam, alpha, eps)
    elif structure == "block":
        gain = depth * p2 * _weights(p2, alpha, eps)
    else:
        raise ValueError(f"structure must be 'full' or 'block', got {structure!r}")
    return gain * (np.asarray(target) - s)


def integrate_balanced(
    s0: float | np.ndarray,
    target: np.ndarray,
    alpha: float,
    structure: str,
    depth: int,
    t_eval: np.ndarray,
    eps: float = 0.0,
    rtol: float = 1e-11,
    atol: float = 1e-15,
) -> np.ndarray:
    """Map values s_k(t) (shape (len(t_eval), K)) of balanced modes started at ``s0``.

    Integrated in u = log s, where the plateau of GD is well resolved (targets > 0, s₀ > 0).
    """
    target = np.atleast_1d(np.asarray(target, dtype=np.float64))
    s0 = np.broadcast_to(np.asarray(s0, dtype=np.float64), target.shape)

    def rhs(_t, u):
        # A rejected trial step may overflow exp(u); the integrator then shrinks the step.
        with np.errstate(over="ignore", invalid="ignore"):
            s = np.exp(u)
            return balanced_map_rate(s, target, alpha, structure, depth, eps) / s

    t_eval = np.asarray(t_eval, dtype=np.float64)
    sol = solve_ivp(
        rhs,
        (0.0, float(t_eval[-1])),
        np.log(s0),
        method="DOP853",
        t_eval=t_eval,
        rtol=rtol,
        atol=atol,
    )
    if not sol.success:  # pragma: no cover
        raise RuntimeError(f"balanced map ODE integration failed: {sol.message}")
    return np.exp(sol.y.T)


def exponential_map(t: np.ndarray, s0: float | np.ndarray, target: np.ndarray, rate: float):
    """s(t) = ŝ − (ŝ − s₀) e^{−rate·t}: NGD (rate 1) and NGD-d (rate d) at ε = 0, any init."""
    t = np.asarray(t, dtype=np.float64)[:, None]
    target = np.atleast_1d(np.asarray(target, dtype=np.float64))
    return target - (target - np.asarray(s0)) * np.exp(-rate * t)


def euler_rate(rate: float, eta: float) -> float:
    """Per-unit-t decay rate of Euler steps of ds/dt = rate·(ŝ − s): −ln(1 − rate·η)/η."""
    return -math.log(1.0 - rate * eta) / eta


def damped_factor(lam: float | np.ndarray, eps: float):
    """Slowdown of NGD-type rates by damping: λ/(λ + ε)."""
    lam = np.asarray(lam, dtype=np.float64)
    return lam / (lam + eps)


def gd_escape_time(target: float, sigma0: float, depth: int) -> float:
    """Small-init estimate of GD's t_half for a balanced mode: 1/((d − 2) ŝ σ₀^{d−2}), d ≥ 3."""
    if depth < 3:
        raise ValueError("the power-law plateau estimate needs depth >= 3")
    return 1.0 / ((depth - 2) * target * sigma0 ** (depth - 2))


def t_half(t: np.ndarray, s: np.ndarray, target: float) -> float:
    """First time s(t) reaches ŝ/2 (linear interpolation between samples); NaN if never."""
    t, s = np.asarray(t, dtype=np.float64), np.asarray(s, dtype=np.float64)
    half = 0.5 * target
    above = np.nonzero(s >= half)[0] if target > 0 else np.nonzero(s <= half)[0]
    if len(above) == 0:
        return math.nan
    j = int(above[0])
    if j == 0:
        return float(t[0])
    s0, s1 = s[j - 1], s[j]
    return float(t[j - 1] + (t[j] - t[j - 1]) * (half - s0) / (s1 - s0))


def random_init_s0(layers: Sequence[np.ndarray]) -> float:
    """s₀ = (mean over layers and singular values of σ²)^{d/2}: the balanced mode with the
    random init's mean squared layer singular value."""
    mean_sq = float(np.mean([np.sum(w * w) / min(w.shape) for w in layers]))
    return mean_sq ** (len(layers) / 2)


def speed_bound(alpha: float, eps: float) -> float:
    """sup_{x ≥ 0} x (x² + ε)^{−α}: ‖v‖/‖e‖ of the full rule can never exceed it (α ≥ ½).

    α = 1: 1/(2√ε) (the NGD speed cap set by damping, docs/papers/huh2020.md, Corrections 6); α = ½: 1 (at
    ε > 0 approached as x → ∞). The block rule's bound is √d times this (one per block).
    """
    if alpha < 0.5:
        raise ValueError("x (x² + ε)^(−α) is unbounded for α < 1/2")
    if alpha == 0.5:
        return 1.0
    x2 = eps / (2 * alpha - 1)
    return math.sqrt(x2) * (x2 + eps) ** (-alpha)


def path_difference(reference: np.ndarray, path: np.ndarray) -> float:
    """Largest relative gap between two paths of the same modes, at equal map value.

    ``reference`` and ``path`` hold layer values σ_ik along two trajectories (shapes (T, d, K)
    and (T', d, K), positive). For every point of ``path`` whose map value s_k = Π_i σ_ik lies
    inside the reference's range, the reference's layer values at that s_k are interpolated
    linearly in (log s, log σ_i) between its consecutive points (a monotone map value is
    assumed, as for every rule here from a small init); the result is
    max |σ_ik − σ_ik^ref(s_k)| / σ_ik^ref(s_k) over points, layers and modes (0 if no point is
    inside).
    """
    reference = np.asarray(reference, dtype=np.float64)
    path = np.asarray(path, dtype=np.float64)
    worst = 0.0
    for k in range(reference.shape[2]):
        log_ref_s = np.log(np.prod(reference[:, :, k], axis=1))
        order = np.argsort(log_ref_s, kind="stable")
        x = log_ref_s[order]
        log_s = np.log(np.prod(path[:, :, k], axis=1))
        inside = (log_s >= x[0]) & (log_s <= x[-1])
        if not inside.any():
            continue
        for i in range(reference.shape[1]):
            ref = np.exp(np.interp(log_s[inside], x, np.log(reference[order, i, k])))
            worst = max(worst, float(np.max(np.abs(path[inside, i, k] - ref) / ref)))
    return worst
