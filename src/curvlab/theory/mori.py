"""Mori, Ziyin, Liu & Ueda (ICML 2022), "Power-law escape rate of SGD": exponents, escape rates
and the estimators that measure them.

Conventions (docs/papers/mori2022.md, "Corrections to the paper"): ℓ_μ = ½(f(θ, x_μ) − y_μ)²,
L = (1/N)Σ_μ ℓ_μ, a minibatch loss L_B = (1/B)Σ_{μ∈B} ℓ_μ (not the printed 1/(2B)), time
t = ηk. Near a minimum θ* with Hessian H(θ*), whose n outlier eigenvalues are ≈ h*, the SGD
noise covariance is Σ(θ) ≈ (2L(θ)/B)·H(θ*) (no 1/N), and SGD becomes Langevin dynamics on
log L with temperature T = ηh*/B after the random time change dτ = L dt. Hence

* the quasi-stationary law P(θ) ∝ L(θ)^{−φ} with φ = 1 + B/(ηh*) (Eq. 18; the η → 0 limit);
  at finite η the discrete chain gives φ ≈ 1 + B/(ηh*) − (B+1)/2 (Gaussian inputs), or more
  precisely :func:`phi_variance` for a given data set;
* the escape rate κ ∝ c^{−(B/(ηh*) + 1 − n/2)} with c = L(θ^s)/L(θ*) (Eq. 17 of the submission,
  most likely ICML Eq. 15), so the mean first-passage time grows as a power of c;
* the Arrhenius alternative, with the noise frozen at its value at the minimum (temperature
  ηh*L*/B in loss units), predicts t_p ∝ exp[(B/(ηh*))(c − 1)] instead;
* escape from θ* is possible only below the effective dimension n_c = 2(B/(ηh*) + 1) (Eq. 19).

The estimators at the end are those of curvlab's protocol: the one-parameter maximum-likelihood
φ of a Student-t law, the censored-exponential mean first-passage time, and weighted
least-squares fits of ln t_p (power law and Arrhenius, both two-parameter, compared by χ²/dof).
In between, exact mean first-passage times of the discrete chains that are simulated: the
decoupled-noise control as a scaled noncentral-χ² chain of its squared radius
(:func:`control_chain_mfpt`) and d = 1 SGD on a finite data set (:func:`sgd_chain_mfpt_1d`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import optimize, special, stats

# --------------------------------------------------------------------------- exponents


def phi_theory(batch: float, eta: float, h_star: float) -> float:
    """φ = 1 + B/(ηh*): the exponent of P(θ) ∝ L(θ)^{−φ} (Eq. 18, η → 0)."""
    return 1.0 + batch / (eta * h_star)


def phi_finite_eta(batch: float, eta: float, h_star: float) -> float:
    """φ ≈ 1 + B/(ηh*) − (B+1)/2: the discrete-time correction for Gaussian inputs (the
    stationary variance of the discrete chain with E x⁴ = 3h², to first order in 1/N)."""
    return phi_theory(batch, eta, h_star) - (batch + 1.0) / 2.0


def sampling_factor(n_samples: int, batch: int) -> float:
    """f = (N − B)/(B(N − 1)): variance of a minibatch mean drawn without replacement."""
    return (n_samples - batch) / (batch * (n_samples - 1.0))


def variance_denominator(eta: float, batch: int, h: float, var_x2: float, n_samples: int) -> float:
    """2h − η(h² + f·Var_μ x²) = (1 − E a²)/η for a = 1 − η⟨x²⟩_B; ≤ 0 means infinite variance."""
    return 2.0 * h - eta * (h * h + sampling_factor(n_samples, batch) * var_x2)


def stationary_variance(
    eta: float, batch: int, h: float, var_x2: float, mean_x2r2: float, n_samples: int
) -> float:
    """Exact stationary ⟨u²⟩ of d = 1 SGD, u = θ − θ*, with a fresh minibatch every step.

    The step is u ← (1 − η⟨x²⟩_B)u − η⟨xr⟩_B, r_μ = θ*x_μ − y_μ. Because Σ_μ x_μr_μ = 0 the
    mean of u is 0 and ⟨u²⟩ = η f S/(2h − η(h² + f Var x²)), S = (1/N)Σ_μ x_μ²r_μ².
    Returns inf when the denominator is not positive.
    """
    den = variance_denominator(eta, batch, h, var_x2, n_samples)
    if den <= 0:
        return math.inf
    return eta * sampling_factor(n_samples, batch) * mean_x2r2 / den


def phi_variance(
    eta: float,
    batch: int,
    h: float,
    loss_min: float,
    var_x2: float,
    mean_x2r2: float,
    n_samples: int,
) -> float:
    """φ_var = 3/2 + L*/(h⟨u²⟩): the φ of the Student-t law with the exact stationary variance.

    This is the discrete-time prediction
    φ_var = 3/2 + L*(2h − η(h² + f·Var x²))/(η h f S); NaN when the variance is infinite.
    """
    variance = stationary_variance(eta, batch, h, var_x2, mean_x2r2, n_samples)
    if not math.isfinite(variance):
        return math.nan
    return 1.5 + loss_min / (h * variance)


def kesten_alpha(multipliers: np.ndarray) -> float:
    """α > 0 with E|a|^α = 1 over the given samples of the multiplier a = 1 − η⟨x²⟩_B.

    For u ← a u + b with E ln|a| < 0 the stationary tail is P(|u| > s) ~ s^{−α} (Kesten), so a
    law ∝ L^{−φ} ∝ |u|^{−2φ} has φ = (1 + α)/2. Returns inf if E|a|^α < 1 for every α tried
    (then the variance is finite and φ_var applies).
    """
    log_abs = np.log(np.abs(np.asarray(multipliers, dtype=np.float64)))
    log_abs = log_abs[np.isfinite(log_abs)]
    if log_abs.size == 0 or log_abs.mean() >= 0:
        return math.nan  # not contracting on average: no stationary law

    def excess(alpha: float) -> float:
        # log E|a|^α, computed stably.
        return float(special.logsumexp(alpha * log_abs) - math.log(log_abs.size))

    high = 1.0
    while excess(high) < 0:
        high *= 2.0
        if high > 1e4:
            return math.inf
    return float(optimize.brentq(excess, 1e-9, high, xtol=1e-12))


def phi_kesten(alpha: float) -> float:
    """φ = (1 + α)/2: the exponent of a stationary law with Kesten tail index α (a law
    ∝ L^{−φ} ∝ |u|^{−2φ} has tail P(|u| > s) ~ s^{1 − 2φ})."""
    return (1.0 + alpha) / 2.0


def escape_exponent(batch: float, eta: float, h_star: float, n: float) -> float:
    """B/(ηh*) + 1 − n/2: the power of c in t_p ∝ κ^{−1} ∝ c^{φ − n/2} (Eq. 17)."""
    return batch / (eta * h_star) + 1.0 - n / 2.0


def escape_rate(
    c: float | np.ndarray,
    batch: float,
    eta: float,
    h_star: float,
    n: int,
    h_escape: float,
    det_ratio: float,
) -> float | np.ndarray:
    """The general escape rate (Eq. 17 of the submission, most likely ICML Eq. 15).

    κ = (|h_e^s|/2π) · √(det Ĥ(θ*)/|det Ĥ(θ^s)|) · c^{−(B/(ηh*) + 1 − n/2)}, with
    c = L(θ^s)/L(θ*), Ĥ the Hessian restricted to the n-dimensional outlier subspace,
    ``h_escape`` = h_e^s the negative eigenvalue at the saddle along the escape direction and
    ``det_ratio`` = det Ĥ(θ*)/|det Ĥ(θ^s)|.
    """
    return (
        abs(h_escape)
        / (2.0 * math.pi)
        * math.sqrt(det_ratio)
        * np.power(c, -escape_exponent(batch, eta, h_star, n))
    )


def escape_rate_1d(
    c: float | np.ndarray, batch: float, eta: float, h_star: float, h_saddle: float
) -> float | np.ndarray:
    """Eq. (16), one dimension: κ = (1/2π)√(h*|h^s|) · c^{−(1/2 + B/(ηh*))}.

    It is :func:`escape_rate` with n = 1, h_e^s = h^s and det_ratio = h*/|h^s|.
    """
    return (
        math.sqrt(h_star * abs(h_saddle))
        / (2.0 * math.pi)
        * np.power(c, -(0.5 + batch / (eta * h_star)))
    )


def mean_first_passage_isotropic(
    c: float | np.ndarray,
    n: int,
    batch: float,
    eta: float,
    h_star: float,
    grid: int = 4000,
) -> np.ndarray:
    """Exact mean first-passage time of the paper's SDE (Eq. 13) from θ* to L = c·L*.

    With isotropic H = h*I in the n outlier directions, L = L* + ½h*r² and
    dθ = −∇L dt + √(2ηL H/B) dW, the radius r is a 1-D diffusion with drift
    −h*r + (n − 1)D/r and diffusion coefficient D = ηh*L/B, reflected at 0. Its mean exit
    time to R = √(2(c − 1)L*/h*) is (Gardiner, Handbook of Stochastic Methods, sec. 5.2.7)

        t_p = (B/(ηh*)) ∫₀^R L(y)^k y^{1−n} ∫₀^y L(z)^{−k−1} z^{n−1} dz dy,  k = B/(ηh*),

    in time units t = ηk, independent of L*. For c → ∞ it grows as c^{k + 1 − n/2}, the
    exponent of Eq. 17 (:func:`escape_exponent`); at the reachable c the absorbing level set
    (there is no saddle) bends it below that asymptote, more so for larger n. Continuous time:
    the simulated chains take steps of η and check L only after each step, which lengthens t_p
    and steepens its slope in c by about 4% at η = 0.1 (:func:`control_chain_mfpt` is the exact
    answer for the discrete chain). Evaluated by the trapezoidal rule on ``grid`` points in
    units L* = 1.
    """
    from scipy import integrate

    k = batch / (eta * h_star)
    out = []
    for ci in np.atleast_1d(np.asarray(c, dtype=np.float64)):
        radius = math.sqrt(2.0 * (ci - 1.0) / h_star)
        y = np.linspace(0.0, radius, grid + 1)
        loss = 1.0 + 0.5 * h_star * y * y
        inner = integrate.cumulative_trapezoid(loss ** (-k - 1.0) * y ** (n - 1), y, initial=0.0)
        with np.errstate(divide="ignore", invalid="ignore"):
            outer = np.where(y > 0, loss**k * y ** (1.0 - n) * inner, 0.0)
        out.append(k * float(integrate.trapezoid(outer, y)))
    result = np.asarray(out)
    return result if np.ndim(c) else result[0]


def radial_chain_mfpt(
    thresholds: float | np.ndarray,
    n: int,
    contraction: float,
    noise_const: float,
    noise_slope: float,
    points: int = 200,
) -> np.ndarray:
    """Mean number of steps before x = ½|v|² first exceeds each of ``thresholds``, from v = 0,
    for the chain

        v' = a·v + s(x)·z,   z ~ N(0, I_n),   s(x)² = noise_const + noise_slope·x,   a = contraction.

    Given x, 2x'/s² is noncentral χ² with n degrees of freedom and noncentrality 2a²x/s², so x
    is a Markov chain on [0, ∞) whose transitions are scaled noncentral χ² laws; the state is
    checked after each step (absorbed when x' > threshold). T = 1 + E[T(x'); x' ≤ threshold] is
    solved by collocation at the nodes of a grid (about ``points`` cells, uniform in ln(1 + x)
    between consecutive thresholds, which are nodes), T piecewise linear: the probability and
    the first moment of x' in every cell are exact (noncentral χ² CDFs, with
    E[Y; Y ≤ y] = n·F_{n+2}(y) + λ·F_{n+4}(y) for Y ~ χ²_n(λ)), so the only error is the
    interpolation of T, of order (cell width)². One kernel on the largest domain serves every
    threshold: the problem for a smaller one is the block of nodes below it.

    With a = 0 and noise_slope = 0 the steps are independent and the answer is geometric:
    1/P(½·noise_const·χ²_n > threshold).
    """
    from scipy import linalg

    levels = np.atleast_1d(np.asarray(thresholds, dtype=np.float64))
    if not (levels > 0).all():
        raise ValueError("every threshold must be positive")
    breaks = np.log1p(np.unique(levels))
    spacing = breaks[-1] / points
    pieces, last = [np.zeros(1)], 0.0
    for b in breaks:
        cells = max(2, int(math.ceil((b - last) / spacing)))
        pieces.append(np.linspace(last, b, cells + 1)[1:])
        last = b
    y = np.concatenate(pieces)
    x = np.expm1(y)
    index = {float(b): int(np.argmin(np.abs(y - b))) for b in breaks}
    x[list(index.values())] = np.expm1(breaks)
    s2 = noise_const + noise_slope * x
    lam = (contraction * contraction * 2.0 * x / s2)[:, None]
    edges = 2.0 * x[None, :] / s2[:, None]
    prob = np.diff(special.chndtr(edges, n, lam), axis=1)
    first = (
        0.5
        * s2[:, None]
        * (
            n * np.diff(special.chndtr(edges, n + 2, lam), axis=1)
            + lam * np.diff(special.chndtr(edges, n + 4, lam), axis=1)
        )
    )
    width = np.diff(x)
    out = {}
    for b, top in index.items():
        # Cells [x_k, x_{k+1}] with k + 1 ≤ top lie inside the domain [0, threshold].
        kernel = np.zeros((top + 1, top + 1))
        p, f, w = prob[: top + 1, :top], first[: top + 1, :top], width[:top]
        kernel[:, :-1] += (x[None, 1 : top + 1] * p - f) / w
        kernel[:, 1:] += (f - x[None, :top] * p) / w
        out[b] = float(linalg.solve(np.eye(top + 1) - kernel, np.ones(top + 1))[0])
    result = np.array([out[float(np.log1p(v))] for v in levels])
    return result if np.ndim(thresholds) else result[0]


def control_chain_mfpt(
    c: float | np.ndarray,
    n: int,
    batch: float,
    eta: float,
    h_star: float,
    points: int = 200,
) -> float | np.ndarray:
    """Exact mean first-passage time (time units t = ηk) from θ* to L > c·L* of the discrete
    decoupled-noise control u ← u − η(Hu + √(2L(u)/B)·H^{1/2}z) with H = h*I on n directions.

    In v = u√(h*/L*) a step is v' = (1 − ηh*)v − ηh*√(2(1 + ½|v|²)/B)·z and (L − L*)/L* = ½|v|²:
    :func:`radial_chain_mfpt` with a = 1 − ηh*, s² = 2η²h*²(1 + x)/B, threshold c − 1. L* drops
    out. For d = 1 this is the simulated chain exactly; for an anisotropic H it replaces the
    eigenvalues by their mean h* (the error is second order in their spread: the time is a
    symmetric function of the eigenvalues). Richardson-extrapolated from ``points`` and
    2·``points`` grid cells (relative error about 2·10⁻⁵ at c = 4, η = 0.1, B = 1).
    """
    s0 = 2.0 * (eta * h_star) ** 2 / batch
    levels = np.atleast_1d(np.asarray(c, dtype=np.float64)) - 1.0
    a = 1.0 - eta * h_star
    coarse = radial_chain_mfpt(levels, n, a, s0, s0, points)
    fine = radial_chain_mfpt(levels, n, a, s0, s0, 2 * points)
    result = eta * (fine + (fine - coarse) / 3.0)
    return result if np.ndim(c) else float(result[0])


def sgd_chain_mfpt_1d(
    x: np.ndarray,
    r: np.ndarray,
    eta: float,
    c: float,
    points: int = 800,
    chunk: int = 1000,
) -> float:
    """Exact mean first-passage time (t = ηk) from θ* to L > c·L* of B = 1 SGD on a d = 1 data
    set: u ← (1 − ηx_μ²)u − ηr_μx_μ with μ uniform over the N samples (x_μ and residuals
    r_μ = θ*x_μ − y_μ at the minimum), absorbed once |u| > R = √(2(c − 1)L*/h), h = ⟨x²⟩,
    L* = ½⟨r²⟩. T(u) = 1 + (1/N)Σ_μ T(u'_μ)·1{|u'_μ| ≤ R} is solved by collocation on
    ``points`` + 1 equally spaced nodes of [−R, R], T linear between them.
    """
    from scipy import linalg

    x = np.asarray(x, dtype=np.float64)
    r = np.asarray(r, dtype=np.float64)
    h = float(np.mean(x * x))
    loss_min = 0.5 * float(np.mean(r * r))
    radius = math.sqrt(2.0 * (c - 1.0) * loss_min / h)
    nodes = np.linspace(-radius, radius, points + 1)
    spacing = nodes[1] - nodes[0]
    size = points + 1
    kernel = np.zeros(size * size)
    rows = np.arange(size)[:, None]
    for start in range(0, x.size, chunk):
        a = 1.0 - eta * x[start : start + chunk] ** 2
        b = -eta * r[start : start + chunk] * x[start : start + chunk]
        dest = nodes[:, None] * a[None, :] + b[None, :]
        inside = np.abs(dest) <= radius
        pos = (dest + radius) / spacing
        cell = np.clip(np.floor(pos).astype(np.int64), 0, points - 1)
        frac = pos - cell
        flat = np.broadcast_to(rows * size, dest.shape) + cell
        kernel += np.bincount(flat[inside], weights=1.0 - frac[inside], minlength=size * size)
        kernel += np.bincount(flat[inside] + 1, weights=frac[inside], minlength=size * size)
    kernel = kernel.reshape(size, size) / x.size
    steps = linalg.solve(np.eye(size) - kernel, np.ones(size))
    return eta * float(np.interp(0.0, nodes, steps))


def arrhenius_slope(batch: float, eta: float, h_star: float) -> float:
    """k = B/(ηh*) in t_p ∝ exp[k(c − 1)]: Arrhenius with the noise frozen at the minimum.

    With Σ = (2L*/B)H the stationary law near θ* is ∝ exp(−ΔL/T), T = ηh*L*/B, so a barrier
    ΔL = (c − 1)L* costs exp[(c − 1)B/(ηh*)]. For c → 1 it agrees with the power law to first
    order (ln c ≈ c − 1); the two part ways as c grows.
    """
    return batch / (eta * h_star)


def critical_dimension(batch: float, eta: float, h_star: float) -> float:
    """n_c = 2(B/(ηh*) + 1): the stability bound on the effective dimension (Eq. 19)."""
    return 2.0 * (batch / (eta * h_star) + 1.0)


# --------------------------------------------------------------------------- φ estimator


def phi_mle(mean_log1p_z: float) -> float:
    """φ̂ solving ψ(φ) − ψ(φ − ½) = ⟨ln(1 + z)⟩, z = h(θ − θ*)²/(2L*).

    With the location θ* and scale 2L*/h known, P(θ) ∝ L(θ)^{−φ} = L*^{−φ}(1 + z)^{−φ} is a
    scaled Student-t law (ν = 2φ − 1) normalised by Γ(φ)/Γ(φ − ½); ⟨ln(1 + z)⟩ is its
    sufficient statistic and the left side decreases from ∞ (φ → ½) to 0 (φ → ∞).
    """
    m = float(mean_log1p_z)
    if not m > 0 or not math.isfinite(m):
        return math.nan

    def score(phi: float) -> float:
        return float(special.digamma(phi) - special.digamma(phi - 0.5)) - m

    low, high = 0.5 + 1e-12, 2.0
    while score(high) > 0:
        high *= 2.0
        if high > 1e12:
            return math.inf
    return float(optimize.brentq(score, low, high, xtol=1e-12, rtol=1e-13))


def phi_mle_se(phi: float, n: int) -> float:
    """Standard error of φ̂ from the Fisher information ψ'(φ − ½) − ψ'(φ), for n independent
    samples (≈ φ√(2/n) for large φ)."""
    info = float(special.polygamma(1, phi - 0.5) - special.polygamma(1, phi))
    return 1.0 / math.sqrt(n * info)


def log1p_z(u: np.ndarray, h: float, loss_min: float) -> np.ndarray:
    """ln(1 + z) with z = h u²/(2L*) = (L − L*)/L* for d = 1 linear regression."""
    return np.log1p(h * np.square(u) / (2.0 * loss_min))


# --------------------------------------------------------------------------- first passage


@dataclass(frozen=True)
class FirstPassage:
    """Censored-exponential estimate of a mean first-passage time.

    ``estimate`` is the MLE (total exposure / number crossed) when at least ``min_crossed``
    runs crossed; otherwise it is the one-sided 95% lower bound and ``lower_bound`` is True.
    ``log_se`` is the standard error of ln(estimate), 1/√crossed (NaN for a bound).
    """

    estimate: float
    log_se: float
    crossed: int
    runs: int
    exposure: float
    lower_bound: bool


def censored_exponential_mle(
    times: np.ndarray, crossed: np.ndarray, horizon: float, min_crossed: int = 10
) -> FirstPassage:
    """Mean first-passage time from runs observed up to ``horizon`` (type-I censoring).

    ``times`` are the crossing times of the runs with ``crossed`` True (others are ignored).
    The MLE of the mean of an exponential law is (Σ crossing times + horizon·#censored)/#crossed;
    averaging only the crossed runs would be biased low. With fewer than ``min_crossed``
    crossings the estimate is replaced by the one-sided 95% lower bound
    2·exposure/χ²_{0.95}(2k + 2).
    """
    times = np.asarray(times, dtype=np.float64)
    crossed = np.asarray(crossed, dtype=bool)
    k = int(crossed.sum())
    runs = int(crossed.size)
    exposure = float(times[crossed].sum() + horizon * (runs - k))
    if k >= min_crossed and k > 0:
        return FirstPassage(exposure / k, 1.0 / math.sqrt(k), k, runs, exposure, False)
    bound = 2.0 * exposure / float(stats.chi2.ppf(0.95, 2 * k + 2))
    return FirstPassage(bound, math.nan, k, runs, exposure, True)


@dataclass(frozen=True)
class LineFit:
    """Weighted least squares y = a + s·x with weights 1/σ²: slope s, intercept a, their
    standard errors, χ² and χ²/dof (dof = points − 2)."""

    slope: float
    intercept: float
    slope_se: float
    intercept_se: float
    chi2: float
    chi2_dof: float
    points: int


def weighted_line_fit(x: np.ndarray, y: np.ndarray, sigma: np.ndarray) -> LineFit:
    x, y, sigma = (np.asarray(v, dtype=np.float64) for v in (x, y, sigma))
    n = x.size
    if n < 2:
        return LineFit(*(math.nan,) * 6, n)
    w = 1.0 / np.square(sigma)
    design = np.column_stack([np.ones(n), x])
    normal = design.T @ (design * w[:, None])
    coef = np.linalg.solve(normal, design.T @ (w * y))
    cov = np.linalg.inv(normal)
    chi2 = float(np.sum(w * np.square(y - design @ coef)))
    dof = n - 2
    return LineFit(
        float(coef[1]),
        float(coef[0]),
        float(math.sqrt(cov[1, 1])),
        float(math.sqrt(cov[0, 0])),
        chi2,
        chi2 / dof if dof > 0 else math.nan,
        n,
    )


def power_law_fit(c: np.ndarray, t_p: np.ndarray, log_se: np.ndarray) -> LineFit:
    """ln t_p = a + s·ln c (the slope s is the escape exponent)."""
    return weighted_line_fit(np.log(c), np.log(t_p), log_se)


def arrhenius_fit(c: np.ndarray, t_p: np.ndarray, log_se: np.ndarray) -> LineFit:
    """ln t_p = a + k·(c − 1): Arrhenius in the barrier ΔL = (c − 1)L* (k in units of 1/L*)."""
    return weighted_line_fit(np.asarray(c) - 1.0, np.log(t_p), log_se)
