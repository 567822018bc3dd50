"""Mori, Ziyin, Liu & Ueda (ICML 2022), "Power-law escape rate of SGD": the four experiments.

Each is a pure function from a frozen spec to a tidy long table (the protocol, reconstructed
choices and corrections are in docs/papers/mori2022.md):

* :func:`run_decoupling` (Fig. 1) — a 2-hidden-layer ReLU net on the first N images with
  even → +1 / odd → −1 targets, trained by SGD on ℓ_μ = ½(f − y)². At the chosen epochs the
  nonzero spectra of the exact (1/N)Σ_μ ℓ_μ∇f_μ∇f_μᵀ and the decoupled L·(1/N)Σ_μ∇f_μ∇f_μᵀ
  are computed exactly from the N × N empirical NTK Gram matrix K = JJᵀ
  (:func:`curvlab.curvature.ntk_gram`): they are the eigenvalues of (1/N)D^{1/2}KD^{1/2},
  D = diag(ℓ_μ), and of (L/N)K (:func:`decoupling_spectra`).
* :func:`run_noise` (Fig. 2) — a fully connected or convolutional net on one-hot targets with
  MSE ℓ_μ = ½‖f − y‖², SGD; every epoch the loss and the noise strength
  𝒩 = (1/N)Σ_μ‖∇ℓ_μ‖² − ‖∇L‖², exactly as defined (with the −‖∇L‖² term), from
  :meth:`curvlab.curvature.NoiseCovarianceOperator.noise_strength`.
* :func:`run_stationary` (Fig. 3a) — d = 1 linear regression, x, y i.i.d. N(0, 1); SGD with a
  fresh minibatch every step (without replacement within the batch); θ every ``sample_every``
  steps after a burn-in, for many chains at once (the exact affine maps of consecutive steps
  are composed, vectorized over chains); φ by the one-parameter Student-t maximum likelihood.
* :func:`run_first_passage` (Fig. 3b) — N = 10⁴, B = 1, η = 0.1 regression in d dimensions:
  first times t = ηk at which L exceeds c·L(θ*) for every c, for 100 chains started at θ*;
  real SGD or the decoupled-noise control (full gradient plus Gaussian noise of covariance
  exactly (2L(θ)/B)H). Time is cut into blocks simulated in parallel, each from u = 0 after a
  warm-up on the preceding block's draws (the memory of the start decays like e^{−ηh_min k};
  the warm-up makes it e^{−warmup_time}); :func:`first_passage_plain` is the plain sequential
  loop on the same draws, used to check it.

Time is t = ηk throughout; minibatch losses are L_B = (1/B)Σ_{μ∈B} ℓ_μ.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from curvlab.data.synthetic import gaussian_regression
from curvlab.io import with_run_keys
from curvlab.runtime import derive_seed, numpy_rng
from curvlab.theory import mori

log = logging.getLogger(__name__)


def _progress(label: str, done: float, total: float, start: float, **values: float) -> None:
    elapsed = time.perf_counter() - start
    left = elapsed / max(done, 1e-12) * (total - done)
    shown = " ".join(f"{k}={v:.4g}" for k, v in values.items())
    log.info(
        "%s %.0f/%.0f %s (%.1f s elapsed, ~%.0f s left)", label, done, total, shown, elapsed, left
    )


def _long(rows: list[tuple], columns: tuple[str, ...], keys: dict[str, Any]) -> pd.DataFrame:
    frame = pd.DataFrame(rows, columns=list(columns))
    return with_run_keys(frame, keys)


# =========================================================================== regression data


#: Eigenvalues of H above this fraction of the largest count as outliers (the n of Eq. 17).
OUTLIER_RTOL = 1e-6


@dataclass(frozen=True)
class Regression:
    """Linear regression f(θ, x) = θᵀx on a finite data set, around its minimum θ*.

    With u = θ − θ* and r_μ = θ*ᵀx_μ − y_μ (so Σ_μ r_μx_μ = 0), L(θ) = L* + ½uᵀHu exactly,
    H = (1/N)Σ_μ x_μx_μᵀ. h* is the mean eigenvalue of H (measured per data set: 0.97–1.01 at
    N = 10⁴, not the nominal 1).
    """

    x: np.ndarray  # (N, d)
    r: np.ndarray  # (N,)
    hessian: np.ndarray  # (d, d)
    hessian_sqrt: np.ndarray
    theta_star: np.ndarray
    loss_min: float

    @property
    def eigenvalues(self) -> np.ndarray:
        return np.linalg.eigvalsh(self.hessian)

    @property
    def h_star(self) -> float:
        return float(np.trace(self.hessian) / self.hessian.shape[0])

    @property
    def n_outliers(self) -> int:
        """n, the number of outlier (non-null) eigenvalues of H, counted from its spectrum:
        eigenvalues above ``OUTLIER_RTOL`` times the largest (= d for Gaussian inputs, N ≫ d)."""
        eig = self.eigenvalues
        return int(np.sum(eig > OUTLIER_RTOL * eig.max()))

    def loss(self, u: np.ndarray) -> np.ndarray:
        """L(θ* + u) for a batch of displacements u (lanes, d)."""
        return self.loss_min + 0.5 * np.einsum("li,ij,lj->l", u, self.hessian, u)


def regression_problem(n_samples: int, dim: int, seed: int) -> Regression:
    """The regression data of Figs. 3a/3b: x_μ ∈ R^d and y_μ i.i.d. N(0, 1); one data set per
    (N, d, seed)."""
    x, y, _ = gaussian_regression(
        n_samples, dim, numpy_rng(seed, f"mori2022/regression/n{n_samples}/d{dim}")
    )
    theta, *_ = np.linalg.lstsq(x, y, rcond=None)
    r = x @ theta - y
    hessian = x.T @ x / n_samples
    w, v = np.linalg.eigh(hessian)
    return Regression(
        x=x,
        r=r,
        hessian=hessian,
        hessian_sqrt=(v * np.sqrt(w)) @ v.T,
        theta_star=theta,
        loss_min=float(0.5 * np.mean(r * r)),
    )


def draw_minibatches(rng: np.random.Generator, n: int, rows: int, batch: int) -> np.ndarray:
    """``rows`` minibatches of ``batch`` distinct indices in [0, n): (rows, batch) int64.

    Each row is drawn uniformly with replacement and redrawn while it has a repeated index, which
    makes it a uniform draw without replacement (a fresh minibatch every step).
    """
    idx = rng.integers(0, n, size=(rows, batch))
    if batch > 1:
        check = np.arange(rows)
        while check.size:
            s = np.sort(idx[check], axis=1)
            check = check[(s[:, 1:] == s[:, :-1]).any(axis=1)]
            if check.size:
                idx[check] = rng.integers(0, n, size=(check.size, batch))
    return idx


# =========================================================================== Fig. 3a


#: Minibatch sampling of Fig. 3a: a fresh draw every step (curvlab's protocol) or epoch
#: reshuffling (each chain walks through its own random permutations of the N samples, B at a
#: time, the last partial batch dropped), which raises φ by ≈ 2B/(ηh*N).
SAMPLINGS = ("fresh", "reshuffle")


class EpochBatches:
    """Epoch-reshuffled minibatches for ``chains`` independent chains: every epoch each chain
    draws a new permutation of [0, n) and takes its first ⌊n/B⌋·B entries B at a time."""

    def __init__(self, rng: np.random.Generator, n: int, chains: int, batch: int) -> None:
        self.rng, self.n, self.chains, self.batch = rng, n, chains, batch
        self.per_epoch = n // batch
        self.pos = self.per_epoch  # a new permutation before the first step
        self.epoch = np.empty((chains, 0, batch), dtype=np.int64)

    def take(self, steps: int) -> np.ndarray:
        """The minibatches of the next ``steps`` steps: (steps, chains, batch) int64."""
        out = np.empty((steps, self.chains, self.batch), dtype=np.int64)
        filled = 0
        while filled < steps:
            if self.pos == self.per_epoch:
                perm = self.rng.permuted(np.tile(np.arange(self.n), (self.chains, 1)), axis=1)
                self.epoch = perm[:, : self.per_epoch * self.batch].reshape(
                    self.chains, self.per_epoch, self.batch
                )
                self.pos = 0
            k = min(steps - filled, self.per_epoch - self.pos)
            out[filled : filled + k] = self.epoch[:, self.pos : self.pos + k].transpose(1, 0, 2)
            filled += k
            self.pos += k
        return out


@dataclass(frozen=True, kw_only=True)
class StationarySpec:
    """SGD on d = 1 regression: ``chains`` chains from θ*, ``burn_in`` steps discarded, then θ
    kept every ``sample_every`` steps for ``iterations`` steps;
    ``sampling`` = fresh (a new minibatch every step) or reshuffle (epoch reshuffling).
    ``kesten_draws`` (not a config key): minibatches drawn for the Kesten exponent α."""

    eta: float
    batch: int
    n_samples: int
    iterations: int
    sample_every: int
    burn_in: int
    chains: int
    seed: int
    kesten_draws: int = 1_000_000
    sampling: str

    def __post_init__(self) -> None:
        if not 1 <= self.batch < self.n_samples:
            raise ValueError(f"batch must lie in [1, n_samples), got {self.batch}")
        if self.sampling not in SAMPLINGS:
            raise ValueError(f"sampling must be one of {SAMPLINGS}, got {self.sampling!r}")
        for name in ("iterations", "burn_in"):
            if getattr(self, name) % self.sample_every:
                raise ValueError(f"{name} must be a multiple of sample_every")


def stationary_samples(
    x2: np.ndarray,
    xr: np.ndarray,
    eta: float,
    batch: int,
    chains: int,
    n_blocks: int,
    block: int,
    rng: np.random.Generator,
    chunk_elements: int = 4_000_000,
    sampling: str = "fresh",
) -> np.ndarray:
    """u = θ − θ* after each of ``n_blocks`` blocks of ``block`` SGD steps: (n_blocks, chains).

    A step is the affine map u ← a u + b, a = 1 − η⟨x²⟩_B, b = −η⟨xr⟩_B (``x2`` = x², ``xr`` =
    x·r per sample); the ``block`` maps of a block are composed in parallel over blocks and
    chains, then applied in order. Minibatches are drawn block-major, step, chain;
    ``sampling="reshuffle"`` takes them from per-chain epoch permutations
    (:class:`EpochBatches`) instead of fresh draws.
    """
    n = x2.size
    u = np.zeros(chains)
    out = np.empty((n_blocks, chains))
    per_block = block * chains * batch
    blocks_per_chunk = max(1, chunk_elements // per_block)
    epochs = EpochBatches(rng, n, chains, batch) if sampling == "reshuffle" else None
    for start in range(0, n_blocks, blocks_per_chunk):
        nb = min(blocks_per_chunk, n_blocks - start)
        if epochs is None:
            idx = draw_minibatches(rng, n, nb * block * chains, batch)
        else:
            idx = epochs.take(nb * block)
        idx = idx.reshape(nb, block, chains, batch)
        a = 1.0 - eta * x2[idx].mean(axis=-1)
        b = -eta * xr[idx].mean(axis=-1)
        scale = np.ones((nb, chains))
        shift = np.zeros((nb, chains))
        for j in range(block):
            scale *= a[:, j]
            shift = a[:, j] * shift + b[:, j]
        for k in range(nb):
            u = scale[k] * u + shift[k]
            out[start + k] = u
    return out


def _minibatch_means(
    values: np.ndarray, batch: int, draws: int, rng: np.random.Generator
) -> np.ndarray:
    if batch == 1:
        return values
    return values[draw_minibatches(rng, values.size, draws, batch)].mean(axis=1)


def run_stationary(spec: StationarySpec) -> pd.DataFrame:
    """Fig. 3a: φ of the stationary law of d = 1 SGD, one row per (chain, quantity).

    Per chain (``chain`` ≥ 0): mean_log1p_z (⟨ln(1 + z)⟩, z = h u²/(2L*), the sufficient
    statistic of φ), n_kept, phi_mle and phi_se (the i.i.d. Fisher error; kept samples are
    correlated at small η), u_sq_mean (⟨u²⟩), excess_kurtosis, diverged. Data set constants
    (``chain`` = −1): h, loss_min, theta_star, var_x2 (Var_μ x²), mean_x2r2 ((1/N)Σ x²r²),
    kesten_alpha (E|1 − η⟨x²⟩_B|^α = 1; inf when the variance is finite).
    """
    prob = regression_problem(spec.n_samples, 1, spec.seed)
    x = prob.x[:, 0]
    h = float(prob.hessian[0, 0])
    x2, xr = x * x, x * prob.r
    tag = f"eta={spec.eta:g} B={spec.batch} {spec.sampling}"
    purpose = f"mori2022/stationary/sgd/eta{spec.eta!r}/B{spec.batch}"
    if spec.sampling != "fresh":
        purpose += f"/{spec.sampling}"
    rng = numpy_rng(spec.seed, purpose)
    start = time.perf_counter()
    blocks = (spec.burn_in + spec.iterations) // spec.sample_every
    with np.errstate(over="ignore", invalid="ignore"):
        u = stationary_samples(
            x2,
            xr,
            spec.eta,
            spec.batch,
            spec.chains,
            blocks,
            spec.sample_every,
            rng,
            sampling=spec.sampling,
        )
    kept = u[spec.burn_in // spec.sample_every :]
    _progress(f"mori2022 stationary {tag}", blocks, blocks, start)

    rows: list[tuple] = []
    for chain in range(spec.chains):
        v = kept[:, chain]
        finite = bool(np.isfinite(v).all())
        m = float(np.mean(mori.log1p_z(v, h, prob.loss_min))) if finite else math.nan
        phi = mori.phi_mle(m) if finite else math.nan
        phi_se = mori.phi_mle_se(phi, v.size) if math.isfinite(phi) else math.nan
        with np.errstate(over="ignore", invalid="ignore"):
            u2 = float(np.mean(v * v))
            kurt = float(np.mean(v**4) / u2**2 - 3.0) if finite else math.nan
        rows += [
            (chain, "mean_log1p_z", m),
            (chain, "n_kept", float(v.size)),
            (chain, "phi_mle", phi),
            (chain, "phi_se", phi_se),
            (chain, "u_sq_mean", u2),
            (chain, "excess_kurtosis", kurt),
            (chain, "diverged", float(not finite)),
        ]
    multipliers = 1.0 - spec.eta * _minibatch_means(
        x2, spec.batch, spec.kesten_draws, numpy_rng(spec.seed, "mori2022/stationary/kesten")
    )
    rows += [
        (-1, "h", h),
        (-1, "loss_min", prob.loss_min),
        (-1, "theta_star", float(prob.theta_star[0])),
        (-1, "var_x2", float(np.var(x2))),
        (-1, "mean_x2r2", float(np.mean(xr * xr))),
        (-1, "kesten_alpha", mori.kesten_alpha(multipliers)),
    ]
    frame = _long(
        rows,
        ("chain", "quantity", "value"),
        {
            "sampling": spec.sampling,
            "eta": float(spec.eta),
            "batch": int(spec.batch),
            "n_samples": int(spec.n_samples),
            "iterations": int(spec.iterations),
            "seed": int(spec.seed),
        },
    )
    frame["diverged"] = not bool(np.isfinite(kept).all())
    return frame


# =========================================================================== Fig. 3b


@dataclass(frozen=True, kw_only=True)
class FirstPassageSpec:
    """First passage of L over c·L(θ*) for ``chains`` chains from θ*, up to ``max_steps`` steps.

    ``dynamics``: ``sgd`` (real SGD, a fresh minibatch every step) or ``control`` (full gradient
    plus Gaussian noise of covariance exactly (2L(θ)/B)H). Blocks of ``block`` steps are
    simulated in parallel, each after ⌈warmup_time/(η h_min)⌉ warm-up steps on the preceding
    block's draws; ``max_draw_mb`` (not a config key) bounds the memory of the draws held at
    once.
    """

    dynamics: str
    dim: int
    n_samples: int
    batch: int
    eta: float
    cs: tuple[float, ...]
    chains: int
    max_steps: int
    block: int
    warmup_time: float
    max_draw_mb: float = 256.0
    seed: int

    def __post_init__(self) -> None:
        object.__setattr__(self, "cs", tuple(sorted(float(c) for c in self.cs)))
        if self.dynamics not in ("sgd", "control"):
            raise ValueError(f"dynamics must be sgd or control, got {self.dynamics!r}")
        if self.max_steps % self.block:
            raise ValueError("max_steps must be a multiple of block")
        if min(self.cs) <= 1:
            raise ValueError("every threshold factor c must exceed 1")


class _Dynamics:
    """Draws and steps of one chain family, vectorized over lanes (chains × blocks)."""

    def __init__(self, spec: FirstPassageSpec, prob: Regression) -> None:
        self.spec, self.prob = spec, prob
        self.purpose = (
            f"mori2022/first_passage/{spec.dynamics}/n{spec.n_samples}/d{spec.dim}/"
            f"B{spec.batch}/eta{spec.eta!r}"
        )

    def block_draws(self, block_index: int) -> np.ndarray:
        """Draws of one block, (block, chains, ·): minibatch indices or standard normals."""
        s = self.spec
        rng = numpy_rng(s.seed, f"{self.purpose}/block{block_index}")
        if s.dynamics == "sgd":
            idx = draw_minibatches(rng, s.n_samples, s.block * s.chains, s.batch)
            return idx.astype(np.int32).reshape(s.block, s.chains, s.batch)
        return rng.standard_normal((s.block, s.chains, s.dim))

    @property
    def bytes_per_block(self) -> int:
        s = self.spec
        per = 4 * s.batch if s.dynamics == "sgd" else 8 * s.dim
        return s.block * s.chains * per

    def step(self, u: np.ndarray, draw: np.ndarray) -> np.ndarray:
        s, p = self.spec, self.prob
        if s.dynamics == "sgd":
            if s.batch == 1:
                xb = p.x[draw[:, 0]]
                residual = np.einsum("ld,ld->l", xb, u) + p.r[draw[:, 0]]
                return u - s.eta * xb * residual[:, None]
            xb = p.x[draw]
            residual = np.einsum("lbd,ld->lb", xb, u) + p.r[draw]
            return u - (s.eta / s.batch) * np.einsum("lbd,lb->ld", xb, residual)
        noise = np.sqrt(2.0 * p.loss(u) / s.batch)[:, None] * (draw @ p.hessian_sqrt)
        return u - s.eta * (u @ p.hessian + noise)


@dataclass
class Passages:
    """First crossings per chain and threshold: ``step`` (−1: not within the horizon) and
    ``jumped`` (the crossing step raised L by more than half of (c − 1)L*)."""

    step: np.ndarray  # (chains, n_c) int64
    jumped: np.ndarray  # (chains, n_c) bool
    steps_simulated: int


def _scan_block(
    dyn: _Dynamics, u: np.ndarray, draws: np.ndarray, thresholds: np.ndarray, half: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Run every lane through one block of steps; first crossing step (1-based) per threshold."""
    lanes = u.shape[0]
    n_c = thresholds.size
    limits = np.append(thresholds, np.inf)
    level = np.zeros(lanes, dtype=np.int64)  # thresholds crossed so far (a prefix: sorted)
    first = np.full((lanes, n_c), -1, dtype=np.int64)
    jumped = np.zeros((lanes, n_c), dtype=bool)
    loss_prev = dyn.prob.loss(u)
    for s in range(draws.shape[1]):
        u = dyn.step(u, draws[:, s].reshape(lanes, -1))
        loss = dyn.prob.loss(u)
        hit = np.flatnonzero(loss > limits[level])
        if hit.size:
            new_level = np.searchsorted(thresholds, loss[hit], side="left")
            rise = loss[hit] - loss_prev[hit]
            for j in range(n_c):
                now = (level[hit] <= j) & (new_level > j)
                if now.any():
                    first[hit[now], j] = s + 1
                    jumped[hit[now], j] = rise[now] > half[j]
            level[hit] = new_level
        loss_prev = loss
    return first, jumped, u


def simulate_first_passage(spec: FirstPassageSpec, prob: Regression) -> Passages:
    """Block-parallel first passage (see the module docstring)."""
    dyn = _Dynamics(spec, prob)
    h_min = float(prob.eigenvalues.min())
    warmup = math.ceil(spec.warmup_time / (spec.eta * h_min))
    if warmup > spec.block:
        raise ValueError(
            f"the warm-up ({warmup} steps) is longer than a block ({spec.block}); raise block"
        )
    thresholds = np.asarray(spec.cs) * prob.loss_min
    half = 0.5 * (np.asarray(spec.cs) - 1.0) * prob.loss_min
    n_c = thresholds.size
    total_blocks = spec.max_steps // spec.block
    max_chunk = max(1, int(spec.max_draw_mb * 2**20 // dyn.bytes_per_block) - 1)
    step = np.full((spec.chains, n_c), -1, dtype=np.int64)
    jumped = np.zeros((spec.chains, n_c), dtype=bool)
    b0, chunk = 0, 1
    start = time.perf_counter()
    label = f"mori2022 first passage {spec.dynamics} d={spec.dim} seed={spec.seed}"
    previous = dyn.block_draws(-1)  # blocks before 0 do not exist: their warm-up is discarded
    while b0 < total_blocks:
        nb = min(chunk, max_chunk, total_blocks - b0)
        current = [dyn.block_draws(b) for b in range(b0, b0 + nb)]
        draws = np.stack([previous, *current])  # (nb + 1, block, chains, ·)
        lanes = nb * spec.chains
        u = np.zeros((lanes, spec.dim))
        for w in range(warmup):
            u = dyn.step(u, draws[:nb, spec.block - warmup + w].reshape(lanes, -1))
        if b0 == 0:
            u[: spec.chains] = 0.0  # every chain starts at θ*
        block_draws = draws[1:].transpose(0, 2, 1, 3)
        # lanes are block-major: lane = k·chains + chain
        block_draws = block_draws.reshape(lanes, spec.block, -1)
        first, jump, _ = _scan_block(dyn, u, block_draws, thresholds, half)
        first = first.reshape(nb, spec.chains, n_c)
        jump = jump.reshape(nb, spec.chains, n_c)
        for k in range(nb):
            new = (step < 0) & (first[k] >= 0)
            step[new] = (b0 + k) * spec.block + first[k][new]
            jumped[new] = jump[k][new]
        previous = current[-1]
        b0 += nb
        chunk *= 2
        crossed = float((step[:, -1] >= 0).mean())
        _progress(label, b0 * spec.block, spec.max_steps, start, crossed_top=crossed)
        if (step[:, -1] >= 0).all():
            break
    return Passages(step, jumped, b0 * spec.block)


def first_passage_plain(spec: FirstPassageSpec, prob: Regression) -> Passages:
    """The same chains simulated step by step from θ* with the same draws (for checks)."""
    dyn = _Dynamics(spec, prob)
    thresholds = np.asarray(spec.cs) * prob.loss_min
    half = 0.5 * (np.asarray(spec.cs) - 1.0) * prob.loss_min
    step = np.full((spec.chains, thresholds.size), -1, dtype=np.int64)
    jumped = np.zeros_like(step, dtype=bool)
    u = np.zeros((spec.chains, spec.dim))
    for b in range(spec.max_steps // spec.block):
        draws = dyn.block_draws(b).transpose(1, 0, 2)
        first, jump, u = _scan_block(dyn, u, draws, thresholds, half)
        new = (step < 0) & (first >= 0)
        step[new] = b * spec.block + first[new]
        jumped[new] = jump[new]
    return Passages(step, jumped, spec.max_steps)


def max_single_kick(prob: Regression, eta: float) -> float:
    """max_μ L(θ* − η r_μ x_μ)/L*: the largest loss one B = 1 step can reach from θ* (where it
    exceeds a threshold c, real SGD can cross it in a single jump)."""
    u = -eta * prob.r[:, None] * prob.x
    return float(prob.loss(u).max() / prob.loss_min)


def run_first_passage(spec: FirstPassageSpec) -> pd.DataFrame:
    """Fig. 3b: one row per (chain, c, quantity) — crossing_step (the first k with
    L > c·L*, NaN if not within ``max_steps``) and jumped (1/0) — plus data-set constants with
    chain = −1, c = NaN: h_star (mean eigenvalue of H), n_outliers (n, outlier eigenvalues of
    H counted from its spectrum), h_min, h_max, loss_min, warmup_steps,
    steps_simulated and max_kick_c (largest L/L* one B = 1 step reaches from θ*)."""
    prob = regression_problem(spec.n_samples, spec.dim, spec.seed)
    passages = simulate_first_passage(spec, prob)
    eig = prob.eigenvalues
    n_c = len(spec.cs)
    chains = np.repeat(np.arange(spec.chains), n_c)
    cs = np.tile(np.asarray(spec.cs), spec.chains)
    steps = passages.step.reshape(-1).astype(np.float64)
    crossed = steps >= 0
    steps[~crossed] = np.nan
    jumped = np.where(crossed, passages.jumped.reshape(-1).astype(np.float64), np.nan)
    constants = {
        "h_star": prob.h_star,
        "n_outliers": float(prob.n_outliers),
        "h_min": float(eig.min()),
        "h_max": float(eig.max()),
        "loss_min": prob.loss_min,
        "warmup_steps": float(math.ceil(spec.warmup_time / (spec.eta * eig.min()))),
        "steps_simulated": float(passages.steps_simulated),
        "max_kick_c": max_single_kick(prob, spec.eta) if spec.batch == 1 else math.nan,
    }
    frame = pd.DataFrame(
        {
            "chain": np.concatenate([chains, chains, np.full(len(constants), -1)]),
            "c": np.concatenate([cs, cs, np.full(len(constants), np.nan)]),
            "quantity": ["crossing_step"] * steps.size + ["jumped"] * steps.size + list(constants),
            "value": np.concatenate([steps, jumped, np.fromiter(constants.values(), float)]),
        }
    )
    keys = {
        "dynamics": spec.dynamics,
        "dim": int(spec.dim),
        "eta": float(spec.eta),
        "batch": int(spec.batch),
        "n_samples": int(spec.n_samples),
        "max_steps": int(spec.max_steps),
        "seed": int(spec.seed),
    }
    return with_run_keys(frame, keys)


# =========================================================================== image data, nets


def image_data(
    dataset: str, root: str, n_samples: int, image_size: int | None
) -> tuple[np.ndarray, np.ndarray]:
    """The first ``n_samples`` training images as float32 in [0, 1], (N, C, H, W), and labels.

    Reads the prepared arrays (the workflow's ``prepare_dataset`` rule makes them); a missing
    data set raises the data layer's :class:`curvlab.data.DataError`, never a substitute.
    """
    from curvlab.data import downscale, first_n, load_dataset, to_float

    arrays = load_dataset(dataset, root=root, download=False)
    x, y = first_n(arrays["x_train"], arrays["y_train"], n_samples)
    x = to_float(x, np.float32)
    if x.ndim == 3:
        x = x[:, None]
    if image_size is not None and image_size != x.shape[-1]:
        x = downscale(x, image_size).astype(np.float32)
    return x, y


def _sgd_epoch(model: Any, x: Any, y: Any, loss_fn: Callable, eta: float, batch: int, order):
    """One epoch of plain SGD (θ ← θ − η∇L_B) over the minibatches given by ``order``."""
    import torch

    params = [p for p in model.parameters()]
    for start in range(0, len(order), batch):
        idx = torch.as_tensor(order[start : start + batch], device=x.device)
        loss = loss_fn(model(x[idx]), y[idx])
        grads = torch.autograd.grad(loss, params)
        with torch.no_grad():
            for p, g in zip(params, grads, strict=True):
                p.sub_(eta * g)


# =========================================================================== Fig. 1


@dataclass(frozen=True, kw_only=True)
class DecouplingSpec:
    """Fig. 1: the first ``n_samples`` images, even/odd ±1 targets, a ReLU MLP with one output,
    Glorot init, SGD; spectra at each epoch in ``epochs`` (0 = initialization)."""

    dataset: str
    data_root: str
    n_samples: int
    image_size: int | None
    hidden: tuple[int, ...]
    eta: float
    batch: int
    epochs: tuple[int, ...]
    seed: int

    def __post_init__(self) -> None:
        object.__setattr__(self, "hidden", tuple(int(h) for h in self.hidden))
        object.__setattr__(self, "epochs", tuple(sorted({int(e) for e in self.epochs})))


def decoupling_spectra(model: Any, inputs: Any, targets: Any) -> dict[str, Any]:
    """Exact and decoupled spectra of a one-output model on (inputs, targets), in float64.

    Returns loss L, per-sample losses ℓ_μ = ½(f_μ − y_μ)², and ascending eigenvalues of
    (1/N)D^{1/2}KD^{1/2} (the nonzero spectrum of (1/N)Σ_μ ℓ_μ∇f_μ∇f_μᵀ) and of (L/N)K (that of
    L·(1/N)Σ_μ∇f_μ∇f_μᵀ), K = JJᵀ the N × N NTK Gram matrix.
    """
    import copy

    import torch

    from curvlab.curvature import ntk_gram

    model64 = copy.deepcopy(model).double().eval()
    x = inputs.double()
    with torch.no_grad():
        f = model64(x).reshape(-1)
    ell = 0.5 * (f - targets.double().reshape(-1)) ** 2
    loss = ell.mean()
    gram = ntk_gram(model64, x, mode="eval")
    n = x.shape[0]
    root = ell.sqrt()
    exact = torch.linalg.eigvalsh(root[:, None] * gram * root[None, :] / n)
    decoupled = torch.linalg.eigvalsh(loss * gram / n)
    return {
        "loss": float(loss),
        "losses": ell.cpu().numpy(),
        "exact": exact.cpu().numpy(),
        "decoupled": decoupled.cpu().numpy(),
    }


def run_decoupling(spec: DecouplingSpec, device: str = "cpu") -> pd.DataFrame:
    """Fig. 1 table: per measured epoch, quantity eig_exact / eig_decoupled (index = rank,
    ascending) and loss; every epoch the training loss (train_loss)."""
    import torch

    from curvlab.data import even_odd_labels
    from curvlab.models.feedforward import glorot_, mlp
    from curvlab.models.losses import half_mse

    x_np, labels = image_data(spec.dataset, spec.data_root, spec.n_samples, spec.image_size)
    x = torch.as_tensor(x_np, device=device)
    y = torch.as_tensor(even_odd_labels(labels), dtype=torch.float32, device=device)[:, None]
    gen = torch.Generator().manual_seed(derive_seed(spec.seed, "mori2022/decoupling/init"))
    model = mlp(int(np.prod(x_np.shape[1:])), spec.hidden, 1)
    glorot_(model, gen)
    model.to(device)
    shuffle = numpy_rng(spec.seed, "mori2022/decoupling/shuffle")
    rows: list[tuple] = []
    start = time.perf_counter()
    last = max(spec.epochs)
    for epoch in range(last + 1):
        with torch.no_grad():
            train_loss = float(half_mse(model(x), y))
        rows.append((epoch, "train_loss", 0, train_loss))
        if not math.isfinite(train_loss):
            log.warning("training diverged at epoch %d", epoch)
            break
        if epoch in spec.epochs:
            spectra = decoupling_spectra(model, x, y)
            rows.append((epoch, "loss", 0, spectra["loss"]))
            for name in ("exact", "decoupled"):
                rows += [(epoch, f"eig_{name}", i, float(v)) for i, v in enumerate(spectra[name])]
            _progress(f"mori2022 decoupling seed={spec.seed}", epoch, last, start, loss=train_loss)
        if epoch < last:
            _sgd_epoch(model, x, y, half_mse, spec.eta, spec.batch, shuffle.permutation(len(x)))
    frame = _long(
        rows,
        ("epoch", "quantity", "index", "value"),
        {
            "dataset": spec.dataset,
            "n_samples": int(spec.n_samples),
            "eta": float(spec.eta),
            "batch": int(spec.batch),
            "seed": int(spec.seed),
        },
    )
    frame["diverged"] = not all(
        math.isfinite(v)
        for q, v in zip(frame["quantity"], frame["value"], strict=True)
        if q == "train_loss"
    )
    return frame


# =========================================================================== Fig. 2


@dataclass(frozen=True, kw_only=True)
class NoiseSpec:
    """Fig. 2: ``net`` = fc (ReLU MLP with ``widths``) or cnn (stacks of ``convs_per_stack``
    3×3 convolutions with ``widths`` channels, MaxPool(2) after each), one-hot targets, MSE,
    Glorot, SGD for ``epochs`` epochs; loss and 𝒩 at every epoch over the training subset."""

    net: str
    dataset: str
    data_root: str
    n_samples: int
    image_size: int | None
    widths: tuple[int, ...]
    convs_per_stack: int
    eta: float
    batch: int
    epochs: int
    seed: int
    method: str

    def __post_init__(self) -> None:
        object.__setattr__(self, "widths", tuple(int(w) for w in self.widths))
        if self.method not in ("layers", "operator"):
            raise ValueError(f"method must be layers or operator, got {self.method!r}")
        if self.net not in ("fc", "cnn"):
            raise ValueError(f"net must be fc or cnn, got {self.net!r}")


def noise_strength(
    model: Any,
    x: Any,
    y: Any,
    batch_size: int,
    *,
    method: str = "layers",
    chunk: int = 250,
    per_sample_mb: float = 32.0,
) -> dict[str, float]:
    """L, 𝒩 = (1/N)Σ‖∇ℓ_μ‖² − ‖∇L‖² (Mori Eq. 24), (1/N)Σ‖∇ℓ_μ‖² and ‖∇L‖² over (x, y).

    ``method="operator"`` uses :meth:`curvlab.curvature.NoiseCovarianceOperator.noise_strength`
    (per-sample gradients by ``vmap``, any network); ``"layers"`` uses the exact per-layer
    identities of :func:`curvlab.curvature.per_sample_grad_sq_norms` (Linear/Conv2d networks,
    much faster). Both accumulate in float64 over chunks of ``chunk`` samples. (𝒩 does not
    depend on ``batch_size``; the operator needs it for Σ = 𝒩-covariance/B.)
    """
    import torch

    from curvlab.curvature import per_sample_grad_sq_norms
    from curvlab.models.losses import half_mse

    batches = [(x[i : i + chunk], y[i : i + chunk]) for i in range(0, len(x), chunk)]
    if method == "operator":
        from curvlab.curvature import NoiseCovarianceOperator

        params = sum(p.numel() for p in model.parameters())
        sample_chunk = int(max(1, min(1024, per_sample_mb * 2**20 // (8 * params))))
        op = NoiseCovarianceOperator(
            model,
            half_mse,
            batches,
            batch_size=batch_size,
            check_deterministic=False,
            sample_chunk=sample_chunk,
        )
        # The core's own 𝒩 = (1/N)Σ‖∇ℓ_μ‖² − ‖∇L‖² (its mean gradient is ∇L over all batches).
        noise = op.noise_strength()
        grad_sq = float(op.mean_gradient @ op.mean_gradient)
        with torch.no_grad():
            loss = sum(float(half_mse(model(xb), yb)) * len(xb) for xb, yb in batches) / len(x)
        return {
            "loss": loss,
            "noise_strength": noise,
            "fisher_trace": noise + grad_sq,
            "grad_sq_norm": grad_sq,
        }
    if method == "layers":
        n = len(x)
        loss, fisher, total = 0.0, 0.0, None
        for xb, yb in batches:
            with torch.no_grad():
                loss += float(half_mse(model(xb), yb)) * len(xb) / n
            norms, grads = per_sample_grad_sq_norms(model, xb, yb)
            fisher += float(norms.sum()) / n
            flat = torch.cat([g.reshape(-1) for g in grads])
            total = flat if total is None else total + flat
        gradient = total / n
    else:
        raise ValueError(f"method must be 'layers' or 'operator', got {method!r}")
    grad_sq = float(gradient @ gradient)
    return {
        "loss": loss,
        "noise_strength": fisher - grad_sq,
        "fisher_trace": fisher,
        "grad_sq_norm": grad_sq,
    }


#: Samples on which the per-layer 𝒩 is cross-checked against the curvature core's operator.
NOISE_CHECK_SAMPLES = 2000


def run_noise(spec: NoiseSpec, device: str = "cpu") -> pd.DataFrame:
    """Fig. 2 table: per epoch (0 = init) loss, noise_strength, fisher_trace, grad_sq_norm and
    train_accuracy; with ``method="layers"``, at the first and last epoch, the cross-check on
    the first NOISE_CHECK_SAMPLES samples: noise_strength_check (per-layer identities) and
    noise_strength_core (the curvature core's NoiseCovarianceOperator.noise_strength()); stops
    on a non-finite loss (``diverged``)."""
    import torch

    from curvlab.data import one_hot
    from curvlab.models.feedforward import cnn, glorot_, mlp
    from curvlab.models.losses import half_mse

    x_np, labels = image_data(spec.dataset, spec.data_root, spec.n_samples, spec.image_size)
    x = torch.as_tensor(x_np, device=device)
    y = torch.as_tensor(one_hot(labels, 10), dtype=torch.float32, device=device)
    if spec.net == "fc":
        model = mlp(int(np.prod(x_np.shape[1:])), spec.widths, 10)
    else:
        model = cnn(x_np.shape[1], x_np.shape[-1], spec.widths, spec.convs_per_stack, 10)
    gen = torch.Generator().manual_seed(derive_seed(spec.seed, f"mori2022/noise/{spec.net}/init"))
    glorot_(model, gen)
    model.to(device)
    shuffle = numpy_rng(spec.seed, f"mori2022/noise/{spec.net}/shuffle")
    rows: list[tuple] = []
    diverged = False
    start = time.perf_counter()
    labels_t = torch.as_tensor(labels, device=device)
    for epoch in range(spec.epochs + 1):
        values = noise_strength(model, x, y, spec.batch, method=spec.method)
        with torch.no_grad():
            accuracy = float(
                torch.cat([model(x[i : i + 1000]).argmax(1) for i in range(0, len(x), 1000)])
                .eq(labels_t)
                .double()
                .mean()
            )
        values["train_accuracy"] = accuracy
        if spec.method == "layers" and epoch in (0, spec.epochs):
            # Cross-check of the fast per-layer identities against the curvature core's
            # NoiseCovarianceOperator.noise_strength() (per-sample gradients by vmap), both on
            # the first NOISE_CHECK_SAMPLES samples (the vmap route is 20–80× slower).
            xs, ys = x[:NOISE_CHECK_SAMPLES], y[:NOISE_CHECK_SAMPLES]
            check = noise_strength(model, xs, ys, spec.batch, method="layers")
            core = noise_strength(model, xs, ys, spec.batch, method="operator")
            values["noise_strength_check"] = check["noise_strength"]
            values["noise_strength_core"] = core["noise_strength"]
        rows += [(epoch, q, v) for q, v in values.items()]
        _progress(
            f"mori2022 noise {spec.net} seed={spec.seed}",
            epoch,
            spec.epochs,
            start,
            loss=values["loss"],
            noise=values["noise_strength"],
        )
        if not math.isfinite(values["loss"]):
            diverged = True
            log.warning("training diverged at epoch %d", epoch)
            break
        if epoch < spec.epochs:
            _sgd_epoch(model, x, y, half_mse, spec.eta, spec.batch, shuffle.permutation(len(x)))
    frame = _long(
        rows,
        ("epoch", "quantity", "value"),
        {
            "net": spec.net,
            "dataset": spec.dataset,
            "n_samples": int(spec.n_samples),
            "eta": float(spec.eta),
            "batch": int(spec.batch),
            "seed": int(spec.seed),
        },
    )
    frame["diverged"] = diverged
    return frame
