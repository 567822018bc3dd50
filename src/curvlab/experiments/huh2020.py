"""Huh (ICML 2020): curvature-corrected learning dynamics of a deep linear teacher–student.

Two experiments, each a pure function from a frozen spec to a tidy long table (NumPy float64;
no torch):

* :func:`run_train` — one optimizer on the random-init student (the paper's setup with the
  reconstructed choices of docs/papers/huh2020.md): whitened inputs X (N × P, (1/P)XXᵀ = I), a rank-r teacher with singular values
  s̄ and Haar singular vectors, noise σ_z, student W = W_d ⋯ W_1 with W_i = σ₀G_i/√N. The
  training loss is (1/2P)‖Y − WX‖² = ½‖W − Σ̂‖² + const with Σ̂ = (1/P)YXᵀ, so the rules of
  :mod:`curvlab.optim.deep_linear` are applied with E = W − Σ̂. Time is t = ηk. Logged on a
  schedule that is dense early (geometric) and uniform later: losses, map singular values and
  the map's projections on Σ̂'s and the teacher's modes, layer norms, balance matrices and their
  drift, log|det W_i|, and the update speed (unclipped ‖v‖ = ‖Δθ‖/η of the rule, the step
  actually taken, clipping), with running maxima and the clip count over *every* step.
* :func:`run_modes` — the aligned network of :mod:`curvlab.theory.huh` on the same Σ̂: each mode
  evolves on its own. Per method: Euler steps of the per-mode scalar system (all modes, same
  global clipping as the matrix network), the gradient flow (no clipping: clipping only
  reparametrizes time in the flow) and, for the first ``matrix_steps`` steps, the matrix
  network itself, whose deviation from the scalar system is recorded. For every full rule, the
  gap between its Euler path and GD's (:func:`curvlab.theory.huh.path_difference` over every
  step), at the main step and at the refined steps of ``euler_refinement`` (η and the cap both
  scaled). Also Euler runs of the block rules at ε = 0 (exact invariants) and balanced closed-form checks of the theory at the
  run's σ₀ and targets.

Divergence (a non-finite loss) stops a run and is recorded in the ``diverged`` column.
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass

import numpy as np
import pandas as pd

from curvlab.data.synthetic import haar_orthogonal, linear_teacher_student
from curvlab.io import with_run_keys
from curvlab.models import deep_linear as dl
from curvlab.optim.deep_linear import Rule, direction, step
from curvlab.runtime import numpy_rng
from curvlab.theory import huh

log = logging.getLogger(__name__)


# --------------------------------------------------------------------------- specs


@dataclass(frozen=True, kw_only=True)
class Problem:
    """The teacher–student problem shared by every run of one seed (docs/papers/huh2020.md,
    Setup and Reconstructed choices 1–2)."""

    n_dim: int
    depth: int
    n_samples: int
    teacher_singular_values: tuple[float, ...]
    noise_std: float
    init_scale: float

    def __post_init__(self) -> None:
        object.__setattr__(
            self, "teacher_singular_values", tuple(float(v) for v in self.teacher_singular_values)
        )
        if self.n_samples < self.n_dim:
            raise ValueError("whitened inputs need n_samples >= n_dim")
        if self.depth < 2:
            raise ValueError("depth must be at least 2")


@dataclass(frozen=True, kw_only=True)
class TrainSpec:
    """One optimizer on one or more seeds (a job may batch cheap runs). ``clip`` is the cap on
    ‖Δθ‖ per step (None: no clipping); ``horizon`` is in gradient-flow time t = ηk."""

    run: str
    structure: str
    alpha: float
    eps: float
    clip: float | None
    eta: float
    horizon: float
    seeds: tuple[int, ...]
    n_dim: int
    depth: int
    n_samples: int
    teacher_singular_values: tuple[float, ...]
    noise_std: float
    init_scale: float
    log_points: int
    log_points_early: int
    checks: bool

    def __post_init__(self) -> None:
        object.__setattr__(
            self, "teacher_singular_values", tuple(float(v) for v in self.teacher_singular_values)
        )
        object.__setattr__(self, "seeds", tuple(int(v) for v in self.seeds))
        if not self.seeds:
            raise ValueError("seeds must not be empty")
        Rule(self.structure, self.alpha, self.eps)  # validates
        if self.clip is not None and self.clip <= 0:
            raise ValueError(f"clip must be positive or None, got {self.clip}")
        if self.eta <= 0 or self.horizon <= 0:
            raise ValueError("eta and horizon must be positive")

    @property
    def problem(self) -> Problem:
        return Problem(
            n_dim=self.n_dim,
            depth=self.depth,
            n_samples=self.n_samples,
            teacher_singular_values=self.teacher_singular_values,
            noise_std=self.noise_std,
            init_scale=self.init_scale,
        )

    @property
    def rule(self) -> Rule:
        return Rule(self.structure, self.alpha, self.eps)

    @property
    def steps(self) -> int:
        return int(round(self.horizon / self.eta))


@dataclass(frozen=True, kw_only=True)
class ModesSpec:
    """The aligned-network study of one or more seeds. ``methods`` maps a method name to
    ``{structure, alpha, eps, clip, horizon}`` (the same rules as the random-init runs)."""

    seeds: tuple[int, ...]
    eta: float
    n_dim: int
    depth: int
    n_samples: int
    teacher_singular_values: tuple[float, ...]
    noise_std: float
    init_scale: float
    log_spread: float
    methods: dict
    matrix_steps: int
    logged_modes: int
    log_points: int
    logdet_scale: float
    logdet_steps: int
    euler_refinement: tuple[float, ...]

    def __post_init__(self) -> None:
        object.__setattr__(
            self, "teacher_singular_values", tuple(float(v) for v in self.teacher_singular_values)
        )
        object.__setattr__(self, "seeds", tuple(int(v) for v in self.seeds))
        object.__setattr__(self, "euler_refinement", tuple(float(f) for f in self.euler_refinement))
        if any(not 0 < f < 1 for f in self.euler_refinement):
            raise ValueError("euler_refinement factors must lie in (0, 1)")
        for name, m in self.methods.items():
            unknown = set(m) - {"structure", "alpha", "eps", "clip", "horizon"}
            if unknown:
                raise ValueError(f"method {name!r}: unknown keys {sorted(unknown)}")
            Rule(m["structure"], m["alpha"], m["eps"])

    @property
    def problem(self) -> Problem:
        return Problem(
            n_dim=self.n_dim,
            depth=self.depth,
            n_samples=self.n_samples,
            teacher_singular_values=self.teacher_singular_values,
            noise_std=self.noise_std,
            init_scale=self.init_scale,
        )


# --------------------------------------------------------------------------- helpers


def make_problem(problem: Problem, seed: int):
    """Data (seeded from (seed, "huh2020/data")) and Σ̂ with its SVD (signs fixed so that
    the diagonal of Ûᵀ W_teacher V̂ is non-negative on the teacher's modes)."""
    data = linear_teacher_student(
        problem.n_dim,
        problem.n_samples,
        len(problem.teacher_singular_values),
        problem.teacher_singular_values,
        problem.noise_std,
        numpy_rng(seed, "huh2020/data"),
    )
    sigma_hat = data.Y @ data.X.T / problem.n_samples
    u, s, vt = np.linalg.svd(sigma_hat)
    return data, sigma_hat, u, s, vt.T


def log_steps(steps: int, n_linear: int, n_geometric: int) -> np.ndarray:
    """Logged steps: 0, the last, ``n_linear`` evenly spaced and ``n_geometric`` geometric."""
    parts = [np.array([0, steps])]
    if n_linear > 0:
        parts.append(np.round(np.linspace(0, steps, n_linear + 1)))
    if n_geometric > 0 and steps > 1:
        parts.append(np.round(np.geomspace(1, steps, n_geometric)))
    return np.unique(np.concatenate(parts).astype(np.int64))


class _Progress:
    """About ten progress lines per run, with elapsed time and an estimate of what is left."""

    def __init__(self, total: int, label: str) -> None:
        self.total, self.label = max(total, 1), label
        self.start = time.perf_counter()
        self.next_report = max(1, total // 10)

    def __call__(self, k: int, **values: float) -> None:
        if k < self.next_report:
            return
        self.next_report = k + max(1, self.total // 10)
        elapsed = time.perf_counter() - self.start
        left = elapsed / max(k, 1) * (self.total - k)
        shown = " ".join(f"{n}={float(v):.4g}" for n, v in values.items())
        log.info(
            "%s step %d/%d %s (%.1f s elapsed, ~%.0f s left)",
            self.label,
            k,
            self.total,
            shown,
            elapsed,
            left,
        )


class _Rows:
    """Collects (step, quantity, index, value) rows column-wise."""

    def __init__(self) -> None:
        self.step: list[np.ndarray] = []
        self.quantity: list[np.ndarray] = []
        self.index: list[np.ndarray] = []
        self.value: list[np.ndarray] = []

    def add(self, step: int, quantity: str, values, start: int = 1) -> None:
        """Values indexed start, start + 1, … (modes, layers or singular values from 1)."""
        values = np.atleast_1d(np.asarray(values, dtype=np.float64))
        self.step.append(np.full(len(values), step, dtype=np.int64))
        self.quantity.append(np.full(len(values), quantity, dtype=object))
        self.index.append(np.arange(start, start + len(values), dtype=np.int64))
        self.value.append(values)

    def scalar(self, step: int, quantity: str, value: float) -> None:
        """A single value, index 0."""
        self.add(step, quantity, [value], start=0)

    def frame(self) -> pd.DataFrame:
        return pd.DataFrame(
            {
                "step": np.concatenate(self.step),
                "quantity": np.concatenate(self.quantity).astype(str),
                "index": np.concatenate(self.index).astype(np.int32),
                "value": np.concatenate(self.value),
            }
        )


# --------------------------------------------------------------------------- checks


def _explicit_velocity(ws: list[np.ndarray], e: np.ndarray, rule: Rule) -> np.ndarray:
    """The rule's velocity from the explicit Jacobian J (SVD of J or of each J_i), as θ."""
    j = dl.jacobian(ws)
    ev = dl.vec(e)
    if rule.structure == "full":
        blocks = [j]
    else:
        sizes = np.cumsum([0] + [w.size for w in ws])
        blocks = [j[:, a:b] for a, b in zip(sizes[:-1], sizes[1:], strict=True)]
    out = []
    for jb in blocks:
        u, s, vt = np.linalg.svd(jb, full_matrices=False)
        if rule.alpha == 0:
            w = s
        elif rule.eps > 0:
            w = s * (s * s + rule.eps) ** (-rule.alpha)
        else:
            keep = s > max(jb.shape) * np.finfo(np.float64).eps * s[0]
            w = np.zeros_like(s)
            w[keep] = s[keep] ** (1 - 2 * rule.alpha)
        out.append(vt.T @ (w * (u.T @ ev)))
    return np.concatenate(out)


def identity_checks(ws: list[np.ndarray], e: np.ndarray, rule: Rule) -> dict[str, float]:
    """Kronecker identities and the fast route at one point (claims ``identity_*`` and
    ``fast_route`` of docs/papers/huh2020.md).

    * ``check_jacobian_fd``: max |J_i − central finite differences| / max |J| (step 1e-4; the
      map is linear in each single entry, so the difference is rounding only);
    * ``check_gn_blocks``: max |G_ij(Kronecker) − (JᵀJ)_ij| / max |G|;
    * ``check_jjt``: max |Σ_i (W_{<i}ᵀW_{<i}) ⊗ (W_{>i}W_{>i}ᵀ) − JJᵀ| / max |JJᵀ|;
    * ``check_fast_route``: ‖v(fast route) − v(SVD of the explicit J or J_i)‖ / ‖v‖.
    """
    j = dl.jacobian(ws)
    theta = dl.flatten(ws)
    shapes = [w.shape for w in ws]
    h = 1e-4
    fd = np.empty_like(j)
    for c in range(len(theta)):
        plus, minus = theta.copy(), theta.copy()
        plus[c] += h
        minus[c] -= h
        fd[:, c] = (
            dl.vec(dl.product(dl.unflatten(plus, shapes)))
            - dl.vec(dl.product(dl.unflatten(minus, shapes)))
        ) / (2 * h)
    g_explicit = j.T @ j
    g_kron = dl.gauss_newton(ws)
    jjt_explicit = j @ j.T
    fast = dl.flatten(direction(ws, e, rule))
    slow = _explicit_velocity(ws, e, rule)
    return {
        "check_jacobian_fd": float(np.abs(fd - j).max() / np.abs(j).max()),
        "check_gn_blocks": float(np.abs(g_kron - g_explicit).max() / np.abs(g_explicit).max()),
        "check_jjt": float(np.abs(dl.jjt(ws) - jjt_explicit).max() / np.abs(jjt_explicit).max()),
        "check_fast_route": float(np.linalg.norm(fast - slow) / np.linalg.norm(slow)),
    }


def negative_real_eigenvalues(sigma_hat: np.ndarray, w0: np.ndarray) -> int:
    """Number of negative real eigenvalues of Σ̂⁻¹W₀ (docs/papers/huh2020.md, Corrections 5): each
    one is a
    time e^{dt} − 1 = −λ at which undamped NGD-d's map path Σ̂ + (W₀ − Σ̂)e^{−dt} is singular."""
    lam = np.linalg.eigvals(np.linalg.solve(sigma_hat, w0))
    real = np.abs(lam.imag) <= 1e-9 * np.abs(lam)
    return int(np.sum(real & (lam.real < 0)))


def logdet_law_check(
    sigma_hat: np.ndarray, depth: int, scale: float, eta: float, max_steps: int, seed: int
) -> tuple[float, int]:
    """Euler NGD-d at ε = 0 from a well-conditioned, non-aligned init W_i = I + scale·G_i/√N.

    Returns the largest change of log|det W_i| − log|det W_1| over the steps taken, and the
    number of steps: the run stops before any layer's smallest singular value falls below a
    tenth of its initial value (where the map path approaches a singular matrix, docs/papers/
    huh2020.md Corrections 5, and rounding, not the rule, would dominate). [R] protocol.
    """
    n = sigma_hat.shape[0]
    rng = numpy_rng(seed, "huh2020/logdet")
    ws = [np.eye(n) + scale * rng.standard_normal((n, n)) / np.sqrt(n) for _ in range(depth)]
    floor = [0.1 * np.linalg.svd(w, compute_uv=False)[-1] for w in ws]
    ld0 = np.array([np.linalg.slogdet(w)[1] for w in ws])
    worst, taken = 0.0, 0
    rule = Rule("block", 1.0, 0.0)
    for _ in range(max_steps):
        new = step(ws, dl.product(ws) - sigma_hat, rule, eta).layers
        if any(np.linalg.svd(w, compute_uv=False)[-1] < f for w, f in zip(new, floor, strict=True)):
            break
        ws, taken = new, taken + 1
        ld = np.array([np.linalg.slogdet(w)[1] for w in ws])
        worst = max(worst, float(np.abs((ld - ld[0]) - (ld0 - ld0[0])).max()))
    return worst, taken


# --------------------------------------------------------------------------- random init


def run_train(spec: TrainSpec) -> pd.DataFrame:
    """One optimizer on the random-init teacher–student problem, for each seed of the spec."""
    frames = []
    for seed in spec.seeds:
        with np.errstate(over="ignore", invalid="ignore"):  # divergence is recorded
            frame = _run_train(spec, seed)
        keys = {
            "run": spec.run,
            "structure": spec.structure,
            "alpha": spec.alpha,
            "eps": spec.eps,
            "clip": math.nan if spec.clip is None else float(spec.clip),
            "eta": spec.eta,
            "horizon": spec.horizon,
            "seed": seed,
        }
        frame = with_run_keys(frame, keys)
        frame.insert(frame.columns.get_loc("step") + 1, "t", frame["step"] * spec.eta)
        frames.append(frame)
    return pd.concat(frames, ignore_index=True)


def _run_train(spec: TrainSpec, seed: int) -> pd.DataFrame:
    prob = spec.problem
    data, sigma_hat, u_hat, s_hat, v_hat = make_problem(prob, seed)
    n, p, d = prob.n_dim, prob.n_samples, prob.depth
    ws = dl.random_init([n] * (d + 1), prob.init_scale, numpy_rng(seed, "huh2020/init"))
    rule, eta, steps = spec.rule, spec.eta, spec.steps
    w_teacher = data.W_teacher
    noise_floor = 0.5 * n * prob.noise_std**2  # population loss of the teacher itself

    rows = _Rows()
    rows.add(0, "target_sv", s_hat)
    rows.add(0, "teacher_sv", data.singular_values)
    a_best = float(np.sum(sigma_hat * w_teacher) / np.sum(sigma_hat * sigma_hat))
    rows.scalar(0, "ray_best_excess", 0.5 * float(np.sum((a_best * sigma_hat - w_teacher) ** 2)))
    rows.scalar(0, "train_loss_floor", float(np.sum((data.Y - sigma_hat @ data.X) ** 2)) / (2 * p))
    rows.scalar(0, "s0_random_init", huh.random_init_s0(ws))
    rows.scalar(0, "negative_real_eigs", negative_real_eigenvalues(sigma_hat, dl.product(ws)))
    if spec.checks:
        for name, value in identity_checks(ws, dl.product(ws) - sigma_hat, rule).items():
            rows.scalar(0, name, value)

    logged = set(log_steps(steps, spec.log_points, spec.log_points_early).tolist())
    c0 = dl.balance_matrices(ws)
    speed_max = ratio_max = 0.0
    speed_max_step = -1
    clipped_count = 0
    last_clipped = -1
    diverged = False
    progress = _Progress(steps, f"huh2020 {spec.run} seed={seed}")
    last_step = 0

    for k in range(steps + 1):
        w = dl.product(ws)
        e = w - sigma_hat
        err = float(np.linalg.norm(e))
        finite = math.isfinite(err) and all(np.isfinite(x).all() for x in ws)
        result = None
        if finite and k < steps:
            try:
                result = step(ws, e, rule, eta, spec.clip)
            except np.linalg.LinAlgError:  # an SVD or eigh of overflowing factors
                result = None
                finite = False
            if result is not None and not math.isfinite(result.speed):
                finite = False
        if k in logged or not finite:
            train = float(np.sum((data.Y - w @ data.X) ** 2)) / (2 * p)
            excess = 0.5 * float(np.sum((w - w_teacher) ** 2))
            rows.scalar(k, "train_loss", train)
            rows.scalar(k, "test_loss", excess + noise_floor)
            rows.scalar(k, "test_excess", excess)
            rows.scalar(k, "map_error", err)
            rows.scalar(k, "map_error_rel", err / float(s_hat @ s_hat) ** 0.5)
            if finite:
                rows.add(k, "map_sv", np.linalg.svd(w, compute_uv=False))
                rows.add(k, "proj_target", np.einsum("ik,ij,jk->k", u_hat, w, v_hat))
                rows.add(k, "proj_teacher", np.einsum("ik,ij,jk->k", data.U, w, data.V))
                rows.add(k, "layer_norm", [np.linalg.norm(x) for x in ws])
                rows.add(k, "gram_norm", [np.linalg.norm(x @ x.T) for x in ws])
                cs = dl.balance_matrices(ws)
                rows.add(k, "balance_norm", [np.linalg.norm(c) for c in cs])
                rows.add(k, "balance_drift", [np.linalg.norm(c - c0[i]) for i, c in enumerate(cs)])
                rows.add(k, "logabsdet", [np.linalg.slogdet(x)[1] for x in ws])
            if result is not None:
                rows.scalar(k, "speed", result.speed)
                rows.scalar(k, "step_norm", result.step_norm)
                rows.scalar(k, "clipped", float(result.clipped))
        if not finite:
            diverged = True
            last_step = k
            log.warning("run diverged at step %d (map error %s)", k, err)
            break
        last_step = k
        if result is None:
            break
        if result.speed > speed_max:
            speed_max, speed_max_step = result.speed, k
        ratio_max = max(ratio_max, result.speed / err if err > 0 else 0.0)
        if result.clipped:
            clipped_count += 1
            last_clipped = k
        if k in logged:
            rows.scalar(k, "speed_max", speed_max)
            rows.scalar(k, "speed_ratio_max", ratio_max)
            rows.scalar(k, "clipped_count", clipped_count)
        progress(k, map_error=err, clipped=clipped_count)
        ws = result.layers

    rows.scalar(last_step, "speed_max", speed_max)
    rows.scalar(last_step, "speed_ratio_max", ratio_max)
    rows.scalar(last_step, "clipped_count", clipped_count)
    rows.scalar(last_step, "speed_max_step", speed_max_step)
    rows.scalar(last_step, "last_clipped_step", last_clipped)
    frame = rows.frame()
    frame = frame.drop_duplicates(subset=["step", "quantity", "index"], keep="last")
    frame = frame.sort_values(["step", "quantity", "index"], kind="stable", ignore_index=True)
    frame["diverged"] = diverged
    return frame


# --------------------------------------------------------------------------- aligned network


def map_levels(s0: np.ndarray, target: np.ndarray, n: int) -> np.ndarray:
    """Map values at which flows are recorded, per mode (shape (n, K)): s₀ + (ŝ − s₀)·f with
    f geometric from 1e-5 to ½ and then 1 − f geometric from ½ to 1e-5 (fine at both ends)."""
    half = max(n // 2, 2)
    f = np.unique(np.r_[np.geomspace(1e-5, 0.5, half), 1.0 - np.geomspace(0.5, 1e-5, half)])
    return s0[None, :] + (target - s0)[None, :] * f[:, None]


def aligned_init(problem: Problem, spread: float, seed: int) -> np.ndarray:
    """Per-mode layer values σ_ik(0) = σ₀ e^{spread·g_ik}, g ~ N(0, 1) (shape (d, N)): unbalanced
    within each mode (default spread 0.3). Drawn from (seed, "huh2020/aligned")."""
    g = numpy_rng(seed, "huh2020/aligned").standard_normal((problem.depth, problem.n_dim))
    return problem.init_scale * np.exp(spread * g)


def aligned_layers(sigma: np.ndarray, bases: list[np.ndarray]) -> list[np.ndarray]:
    """W_i = R_i diag(σ_i·) R_{i−1}ᵀ for the chain of orthonormal bases R_0 … R_d."""
    return [bases[i + 1] @ np.diag(sigma[i]) @ bases[i].T for i in range(len(bases) - 1)]


def _mode_values(ws: list[np.ndarray], bases: list[np.ndarray]) -> tuple[np.ndarray, float]:
    """Diagonal of R_iᵀ W_i R_{i−1} per layer, and the largest off-diagonal entry."""
    diag, off = [], 0.0
    for i, w in enumerate(ws):
        m = bases[i + 1].T @ w @ bases[i]
        diag.append(np.diag(m).copy())
        np.fill_diagonal(m, 0.0)
        off = max(off, float(np.abs(m).max()))
    return np.array(diag), off


def _mode_frame(method: str, variant: str, step, t, sigma: np.ndarray, mode: int) -> pd.DataFrame:
    """Rows of one mode: its map value s = Π_i σ_i (layer 0) and layer values σ_i (layer i).

    ``sigma`` has shape (T, d); for flow rows ``step`` holds the number of the map-value level
    (the same levels for every method, so paths are compared row by row).
    """
    n_t, d = sigma.shape
    values = np.concatenate([np.prod(sigma, axis=1)[:, None], sigma], axis=1)
    return pd.DataFrame(
        {
            "method": method,
            "variant": variant,
            "step": np.repeat(np.broadcast_to(np.asarray(step, dtype=np.int64), (n_t,)), d + 1),
            "t": np.repeat(np.asarray(t, dtype=np.float64), d + 1),
            "quantity": np.tile(["map_value"] + ["layer_value"] * d, n_t),
            "mode": np.full(n_t * (d + 1), mode, dtype=np.int32),
            "layer": np.tile(np.arange(d + 1), n_t).astype(np.int32),
            "value": values.reshape(-1),
        }
    )


def _constant(method: str, quantity: str, values) -> pd.DataFrame:
    """Per-method constants, numbered 1, 2, … in the ``mode`` column (layer 0)."""
    values = np.atleast_1d(np.asarray(values, dtype=np.float64))
    return pd.DataFrame(
        {
            "method": method,
            "variant": "constant",
            "step": np.zeros(len(values), dtype=np.int64),
            "t": np.zeros(len(values)),
            "quantity": quantity,
            "mode": np.arange(1, len(values) + 1).astype(np.int32),
            "layer": np.zeros(len(values), dtype=np.int32),
            "value": values,
        }
    )


def _matrix_check(sigma0, s_hat, u_hat, v_hat, bases, rule, eta, cap, steps) -> tuple[float, float]:
    """Run the matrix network from the aligned init for ``steps`` Euler steps; return the max
    deviation of its per-mode layer values from the scalar per-mode Euler run and its largest
    off-diagonal entry in the aligned bases, both relative to the largest layer value."""
    _, ref = huh.euler_modes(
        sigma0, s_hat, rule.alpha, rule.structure, rule.eps, eta, steps, cap,
        np.arange(steps + 1),
    )  # fmt: skip
    ws = aligned_layers(sigma0, bases)
    target = u_hat @ np.diag(s_hat) @ v_hat.T
    dev = off = 0.0
    for k in range(steps + 1):
        diag, off_k = _mode_values(ws, bases)
        dev = max(dev, float(np.abs(diag - ref[k]).max()))
        off = max(off, off_k)
        if k < steps:
            ws = step(ws, dl.product(ws) - target, rule, eta, cap).layers
    scale = float(np.abs(ref).max())
    return dev / scale, off / scale


def _euler_path_errors(
    spec: ModesSpec,
    sigma0: np.ndarray,
    s_hat: np.ndarray,
    top: int,
    main: dict[str, np.ndarray],
) -> list[pd.DataFrame]:
    """``euler_path_error`` of every full rule other than GD: its Euler path's largest gap to
    GD's (:func:`curvlab.theory.huh.path_difference`, every step, the logged modes), at the
    step factors 1 and ``spec.euler_refinement`` (index j of the constant = j-th factor, listed
    in ``euler_step_factor``): the factor multiplies η and the clipping cap together, since a
    clipped step's length is the cap, not η‖v‖ (docs/papers/huh2020.md,
    same_path_per_mode_euler)."""
    factors = (1.0, *spec.euler_refinement)
    errors: dict[str, list[float]] = {name: [] for name in main if name != "gd"}
    for f in factors:
        if f == 1.0:
            paths = main
        else:
            paths = {}
            for name in main:
                m = spec.methods[name]
                cap = None if m.get("clip") is None else f * m["clip"]
                steps = int(round(m["horizon"] / (f * spec.eta)))
                _, every = huh.euler_modes(
                    sigma0, s_hat, m["alpha"], "full", m["eps"], f * spec.eta, steps, cap,
                    np.arange(steps + 1),
                )  # fmt: skip
                paths[name] = every[:, :, :top].copy()
                del every
        for name in errors:
            errors[name].append(huh.path_difference(paths["gd"], paths[name]))
    frames = [_constant("problem", "euler_step_factor", factors)]
    frames += [_constant(name, "euler_path_error", values) for name, values in errors.items()]
    return frames


def run_modes(spec: ModesSpec) -> pd.DataFrame:
    """The aligned-network study for each seed of the spec (see :func:`modes_one_seed`)."""
    return pd.concat([modes_one_seed(spec, seed) for seed in spec.seeds], ignore_index=True)


def modes_one_seed(spec: ModesSpec, seed: int) -> pd.DataFrame:
    """The aligned-network study of one seed; see the module docstring.

    Quantities: ``map_value`` (layer 0) and ``layer_value`` (layers 1..d) of the first
    ``logged_modes`` modes, variant ``euler`` (per step) or ``flow`` (where s_k reaches the
    levels of :func:`map_levels`; ``t`` is the time it does, ``step`` the level's number).
    Constants (variant ``constant``): ``target_sv`` and ``euler_step_factor`` (method
    ``problem``); ``euler_path_error`` (every full rule but GD, per step factor, see
    :func:`_euler_path_errors`); per method ``decoupling_error`` (1: max |matrix − scalar|
    per-mode layer value, 2: max off-diagonal entry, both over the largest layer value, 3: the
    number of steps compared); ``closed_form_error`` (ngd, ngd_d: max |numerical − closed form|
    of the balanced ε = 0 flow for the teacher modes); ``t_half_over_escape_time`` (gd, per
    teacher mode: t_half of the balanced flow × (d − 2) ŝ σ₀^{d−2}); ``t_half_slope`` (sqrt_ngd:
    slope of log t_half against log ŝ for ŝ ∈ [¼, 4], from s₀ = 1e-12, i.e. s₀ → 0).
    """
    prob = spec.problem
    _, _, u_hat, s_hat, v_hat = make_problem(prob, seed)
    d, n = prob.depth, prob.n_dim
    sigma0 = aligned_init(prob, spec.log_spread, seed)
    rng = numpy_rng(seed, "huh2020/aligned-bases")
    bases = [v_hat] + [haar_orthogonal(n, rng) for _ in range(d - 1)] + [u_hat]
    top = min(spec.logged_modes, n)
    frames = [_constant("problem", "target_sv", s_hat)]
    start = time.perf_counter()

    def euler(name: str, rule: Rule, horizon: float, cap: float | None) -> np.ndarray:
        """Log the Euler run's recorded steps; return the logged modes at every step."""
        steps = int(round(horizon / spec.eta))
        record = log_steps(steps, spec.log_points, spec.log_points // 4)
        _, every = huh.euler_modes(
            sigma0, s_hat, rule.alpha, rule.structure, rule.eps, spec.eta, steps, cap,
            np.arange(steps + 1),
        )  # fmt: skip
        sig = every[record]
        for mode in range(top):
            frames.append(
                _mode_frame(name, "euler", record, record * spec.eta, sig[:, :, mode], mode + 1)
            )
        return every[:, :, :top].copy()

    # The full rules share each mode's path in the flow; their Euler paths are compared with
    # GD's at every step, at the main step (factor 1) and the refined ones.
    reference = spec.methods.get("gd")
    compare = reference is not None and (reference["structure"], reference["alpha"]) == (
        "full",
        0.0,
    )
    dense: dict[str, np.ndarray] = {}
    for name, m in spec.methods.items():
        rule = Rule(m["structure"], m["alpha"], m["eps"])
        cap = m.get("clip")
        # Euler steps of the per-mode system: all modes (they interact through the clipping).
        every = euler(name, rule, m["horizon"], cap)
        if compare and m["structure"] == "full":
            dense[name] = every
        # The flow of the same rule, only the logged modes (in the flow they do not interact:
        # clipping only reparametrizes time), recorded where each mode's map value reaches the
        # levels of map_levels(), so every method is compared at the same s.
        levels = map_levels(np.prod(sigma0[:, :top], axis=0), s_hat[:top], spec.log_points // 2)
        t_lv, sig_lv = huh.modes_at_map_values(
            sigma0[:, :top], s_hat[:top], rule.alpha, rule.structure, rule.eps,
            m["horizon"], levels,
        )  # fmt: skip
        for mode in range(top):
            ok = np.isfinite(t_lv[:, mode])
            level = np.nonzero(ok)[0]  # the level's number goes in the step column
            frames.append(
                _mode_frame(name, "flow", level, t_lv[ok, mode], sig_lv[ok][:, :, mode], mode + 1)
            )
        # The matrix network for the first steps: it stays aligned and equals the scalar run.
        n_check = min(spec.matrix_steps, int(round(m["horizon"] / spec.eta)))
        dev, off = _matrix_check(sigma0, s_hat, u_hat, v_hat, bases, rule, spec.eta, cap, n_check)
        frames.append(_constant(name, "decoupling_error", [dev, off, n_check]))
        log.info(
            "huh2020 modes %s: decoupling %.2e (off-diagonal %.2e) over %d steps, %.1f s",
            name,
            dev,
            off,
            n_check,
            time.perf_counter() - start,
        )

    if compare and len(dense) > 1:
        frames += _euler_path_errors(spec, sigma0, s_hat, top, dense)

    # Exact invariants at ε = 0 (block rules, Euler, no clipping): the layer ratios (NGD-d) and
    # differences (sqrt-NGD-d) must not move at all.
    for name, alpha in (("ngd_d_eps0", 1.0), ("sqrt_ngd_d_eps0", 0.5)):
        base = [
            m for m in spec.methods.values() if m["structure"] == "block" and m["alpha"] == alpha
        ]
        if base:
            euler(name, Rule("block", alpha, 0.0), base[0]["horizon"], None)

    # NGD-d's log-det law at ε = 0 (non-aligned init, matrix network, Euler).
    sigma_hat = u_hat @ np.diag(s_hat) @ v_hat.T
    drift, taken = logdet_law_check(
        sigma_hat, d, spec.logdet_scale, spec.eta, spec.logdet_steps, seed
    )
    frames.append(_constant("ngd_d_eps0", "logdet_law_drift", [drift, taken]))

    # Balanced closed forms at this run's σ₀ and teacher-mode targets (flow, ε = 0).
    targets = s_hat[: len(prob.teacher_singular_values)]
    s0 = prob.init_scale**d
    t = np.linspace(0, 10, 201)
    for name, structure, rate in (("ngd", "full", 1.0), ("ngd_d", "block", float(d))):
        numeric = huh.integrate_balanced(s0, targets, 1.0, structure, d, t)
        closed = huh.exponential_map(t, s0, targets, rate)
        frames.append(_constant(name, "closed_form_error", np.abs(numeric - closed).max()))
    escape = [huh.gd_escape_time(target, prob.init_scale, d) for target in targets]
    gd_t = np.linspace(0, 4 * max(escape), 40001)
    gd = huh.integrate_balanced(s0, targets, 0.0, "full", d, gd_t)
    ratios = [huh.t_half(gd_t, gd[:, j], tg) / escape[j] for j, tg in enumerate(targets)]
    frames.append(_constant("gd", "t_half_over_escape_time", ratios))
    grid = np.geomspace(0.25, 4.0, 9)
    sq_t = np.linspace(0, 40, 40001)
    sq = huh.integrate_balanced(1e-12, grid, 0.5, "full", d, sq_t)
    halves = [huh.t_half(sq_t, sq[:, j], g) for j, g in enumerate(grid)]
    slope = float(np.polyfit(np.log(grid), np.log(halves), 1)[0])
    frames.append(_constant("sqrt_ngd", "t_half_slope", slope))

    frame = pd.concat(frames, ignore_index=True)
    frame.insert(0, "seed", seed)
    bad = frame.loc[~np.isfinite(frame["value"]), "method"].unique()
    frame["diverged"] = frame["method"].isin(bad)
    return frame
