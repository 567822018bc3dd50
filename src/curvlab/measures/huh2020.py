"""Huh (2020): the statistics behind the claims and figures, and the claims' bounds.

Pure functions of the aggregated tables ``huh2020.train`` (random init) and ``huh2020.modes``
(aligned network); :mod:`curvlab.claims.huh2020` judges them and :mod:`curvlab.plots.huh2020`
draws them. Each statistic and each bound is explained in docs/papers/huh2020.md under the
claim of the same name. Notation: E = W − Σ̂, e = vec E, t = ηk, ŝ_k the singular values of Σ̂,
training excess ½‖W − Σ̂‖², test excess ½‖W − W_teacher‖² (without the noise floor).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from curvlab.claims import AtLeast, AtMost, Between, Bound, Near
from curvlab.papers.huh2020 import METHODS
from curvlab.theory import huh

CORRECTED = tuple(m for m in METHODS if m != "gd")
LABELS = {
    "gd": "GD",
    "ngd": "NGD",
    "ngd_d": "NGD-d",
    "sqrt_ngd": "sqrt-NGD",
    "sqrt_ngd_d": "sqrt-NGD-d",
    "ngd_unclipped": "NGD unclipped",
    "ngd_d_unclipped": "NGD-d unclipped",
    "ngd_d_undamped": "NGD-d undamped",
    "gd_eta_quarter": "GD at η/4",
}
# "Converged" = training excess at or below this fraction of its initial value (claim
# faster_training and the α-sweep figure; docs/papers/huh2020.md, Reconstructed choices 10).
TRAIN_THRESHOLD = 0.1
# Below this smallest singular value of Σ̂ the rate fit stops early (Reconstructed choices 11).
DEEP_TAIL_S_MIN = 0.01

# --------------------------------------------------------------------------- bounds

# One bound per claim id (docs/papers/huh2020.md, the claim's "Tolerance and calibration").
# Bounds that depend on the run's settings (η, depth) are functions below.
BOUNDS: dict[str, Bound] = {
    "identity_jacobian_fd": AtMost(1e-6),
    "identity_kronecker": AtMost(1e-12),
    "fast_route": AtMost(1e-8),
    "modes_decouple": AtMost(1e-9),
    "faster_training": AtMost(1.0),
    "sqrt_keeps_acceleration": AtLeast(0.5),
    "clip_off": AtMost(1.0),
    "speedup_ngd_d_over_ngd": Between(2.5, 3.8),
    "generalization_ngd": AtLeast(1.8),
    "generalization_ngd_d": AtLeast(1.8),
    "generalization_ngd_ray": Near(0.0, 0.02),
    "generalization_sqrt": Between(0.85, 1.25),
    "balance_kept": AtMost(0.01),
    "balance_drift_order_eta": Between(3.0, 5.5),
    "balance_lost_ngd_d": AtLeast(0.3),
    "layer_norms_ngd_d": AtLeast(1.1),
    "balance_end_ngd_d": AtLeast(0.4),
    "layer_norms_balanced": AtMost(1.05),
    "balance_end_sqrt_ngd_d": AtMost(0.25),
    "same_path_per_mode_flow": AtMost(1e-4),
    "ngd_d_leaves_path": AtLeast(0.1),
    # Set by the rule of docs/papers/huh2020.md#same_path_per_mode_euler from the calibration
    # runs presets/calibrate/huh2020-{ci,default}.yaml (η = 0.01, cap 0.1 at every preset):
    # 2 × the largest first-order prediction 2·E(½) = 0.0242 over seeds 0–4, rounded up.
    "same_path_per_mode_euler": AtMost(0.049),
    "same_path_per_mode_euler_order": AtLeast(0.75),
    "same_path_layer_norms": AtMost(0.03),
    "layer_norm_path_ngd_d": AtLeast(0.05),
    "joint_paths_differ": AtLeast(0.3),
    "exact_invariants": AtMost(1e-8),
    "speed_spike": AtLeast(50.0),
    "speed_spike_time": AtMost(0.1),
    "ngd_speed_bound": AtMost(1.01),
    "sqrt_speed_bounded": AtMost(1e-6),  # (max ‖v‖/‖e‖) / bound − 1
    "unclipped_no_divergence": AtMost(0.0, unit="runs"),
    "unclipped_distorts_path": AtLeast(0.3),
    "ngd_d_undamped_stalls": AtLeast(0.5),
    "random_init_modes_sqrt": Near(0.0, 0.10),
    "random_init_modes_sqrt_shape": AtMost(0.03),
    "random_init_modes_ngd": AtMost(0.02),
    "random_init_modes_gd": Between(0.7, 2.0),
    "random_init_modes_gd_order": AtMost(0.0, unit="seeds"),
    "closed_form_ngd": AtMost(1e-8),
    "gd_time_scale": Near(1.0, 0.02),
}


def rate_bound(c: float, eta: float) -> Near:
    """rate_ngd (c = 1), rate_ngd_d (c = d): 3% around the Euler rate −ln(1 − cη)/η."""
    return Near(huh.euler_rate(c, eta), 0.03, relative=True)


def rate_ratio_bound(depth: int) -> Near:
    """rate_ratio: NGD-d over NGD within 5% of d."""
    return Near(float(depth), 0.05, relative=True)


def sqrt_escape_bound(depth: int) -> Near:
    """sqrt_escape_time: the slope −(1 − 1/d) of log t_half against log ŝ, ± 0.05."""
    return Near(-(1.0 - 1.0 / depth), 0.05)


def _fmt(values, digits: int = 3) -> str:
    return ", ".join(f"{v:.{digits}g}" for v in values)


# --------------------------------------------------------------------------- table access


class Runs:
    """The random-init runs as one wide frame per (run, seed): index t, columns (quantity,
    index)."""

    def __init__(self, train: pd.DataFrame) -> None:
        self.frame = train
        self.settings = (
            train.groupby("run")[["structure", "alpha", "eps", "clip", "eta", "horizon"]]
            .first()
            .to_dict("index")
        )
        self._wide: dict[tuple[str, int], pd.DataFrame] = {}
        self._groups = {key: idx for key, idx in train.groupby(["run", "seed"]).groups.items()}
        self.diverged = {
            key: bool(train.loc[idx, "diverged"].any()) for key, idx in self._groups.items()
        }

    def has(self, run: str) -> bool:
        return any(r == run for r, _ in self._groups)

    def seeds(self, run: str) -> list[int]:
        return sorted(s for r, s in self._groups if r == run)

    def common_seeds(self, *runs: str) -> list[int]:
        sets = [set(self.seeds(r)) for r in runs]
        return sorted(set.intersection(*sets)) if sets else []

    def wide(self, run: str, seed: int) -> pd.DataFrame:
        key = (run, seed)
        if key not in self._wide:
            rows = self.frame.loc[self._groups[key]]
            self._wide[key] = rows.pivot_table(
                index="t", columns=["quantity", "index"], values="value", aggfunc="last"
            )
        return self._wide[key]

    def series(self, run: str, seed: int, quantity: str, index: int = 0) -> pd.Series:
        return self.wide(run, seed)[(quantity, index)].dropna()

    def block(self, run: str, seed: int, quantity: str) -> pd.DataFrame:
        """All indices of one quantity (columns 1..n), rows with values only."""
        return self.wide(run, seed)[quantity].dropna(how="all")

    def vector(self, run: str, seed: int, quantity: str) -> np.ndarray:
        """An indexed constant (e.g. target_sv) as an array ordered by index."""
        return self.block(run, seed, quantity).iloc[0].to_numpy()

    def constant(self, run: str, seed: int, quantity: str, index: int = 0) -> float:
        return float(self.series(run, seed, quantity, index).iloc[0])

    def last(self, run: str, seed: int, quantity: str, index: int = 0) -> float:
        return float(self.series(run, seed, quantity, index).iloc[-1])

    def depth(self, run: str) -> int:
        return int(self.block(run, self.seeds(run)[0], "layer_norm").shape[1])

    def diverged_main(self) -> list[tuple[str, int]]:
        """(run, seed) of the main methods' runs whose loss became non-finite."""
        return sorted((r, s) for (r, s), d in self.diverged.items() if d and r in METHODS)


# --------------------------------------------------------------------------- random init


def time_to_threshold(runs: Runs, run: str, seed: int, threshold: float) -> float:
    """First t at which the training excess ½‖W − Σ̂‖² is ≤ threshold × its initial value."""
    loss = runs.series(run, seed, "train_loss")
    floor = runs.constant(run, seed, "train_loss_floor")
    excess = (loss - floor) / (loss.iloc[0] - floor)
    hit = excess[excess <= threshold]
    return float(hit.index[0]) if len(hit) else math.nan


def clip_off_time(runs: Runs, run: str, seed: int) -> float:
    """t of the first unclipped step after the last clipped one (0 if never clipped)."""
    last = runs.last(run, seed, "last_clipped_step")
    return (last + 1) * runs.settings[run]["eta"] if last >= 0 else 0.0


def fitted_rate(runs: Runs, run: str, seed: int) -> tuple[float, float, bool]:
    """Decay rate of ln‖W − Σ̂‖_F after clip-off: least squares over the window from clip-off
    to the first point where the error is ≤ 1e-3 × the clip-off error. When Σ̂'s smallest
    singular value is below :data:`DEEP_TAIL_S_MIN` the window ends at 1e-2 × instead, before
    damping slows the weakest modes (rate → λ/(λ + ε)). Returns (rate, window end, whether the
    window was shortened); NaN with fewer than 3 points after clip-off."""
    err = runs.series(run, seed, "map_error")
    start = clip_off_time(runs, run, seed)
    after = err[err.index >= start - 1e-12]
    skip = float(runs.vector(run, seed, "target_sv").min()) < DEEP_TAIL_S_MIN
    if len(after) < 3:
        return math.nan, math.nan, skip
    end_hits = after[after <= (1e-2 if skip else 1e-3) * after.iloc[0]]
    end = float(end_hits.index[0]) if len(end_hits) else float(after.index[-1])
    window = after[after.index <= end + 1e-12]
    slope = np.polyfit(window.index.to_numpy(), np.log(window.to_numpy()), 1)[0]
    return float(-slope), end, skip


def time_to_relative_error(runs: Runs, run: str, seed: int, level: float = 1e-3) -> float:
    """First t with ‖W − Σ̂‖_F / ‖Σ̂‖_F ≤ level (NaN if never)."""
    rel = runs.series(run, seed, "map_error_rel")
    hit = rel[rel <= level]
    return float(hit.index[0]) if len(hit) else math.nan


def min_test_excess(runs: Runs, run: str, seed: int) -> float:
    """min_t ½‖W − W_teacher‖² along the run."""
    return float(runs.series(run, seed, "test_excess").min())


def balance_drift(runs: Runs, run: str, seed: int, t_max: float = math.inf) -> float:
    """max_t max_i ‖C_i(t) − C_i(0)‖_F / max_t max_i ‖W_iW_iᵀ‖_F over t ≤ t_max."""
    drift = runs.block(run, seed, "balance_drift")
    gram = runs.block(run, seed, "gram_norm")
    drift, gram = drift[drift.index <= t_max], gram[gram.index <= t_max]
    return float(drift.max().max() / gram.max().max())


def end_balance(runs: Runs, run: str, seed: int) -> float:
    """max_i ‖C_i(T)‖_F / max_i ‖W_i(T)W_i(T)ᵀ‖_F at the end of the run."""
    return float(
        runs.block(run, seed, "balance_norm").iloc[-1].max()
        / runs.block(run, seed, "gram_norm").iloc[-1].max()
    )


def norm_ratio(runs: Runs, run: str, seed: int, at: int = -1) -> float:
    """max_i ‖W_i‖_F / min_i ‖W_i‖_F at the first (0) or last (−1) logged point."""
    norms = runs.block(run, seed, "layer_norm").iloc[at]
    return float(norms.max() / norms.min())


def path_distance(runs: Runs, run: str, seed: int, reference: str = "gd") -> float:
    """Distance of ``run``'s path in (‖W_1‖_F, …, ‖W_d‖_F) space from ``reference``'s path:
    max over the run's points whose overall norm lies within the reference's range of the
    distance to the reference polyline, divided by the point's overall norm."""
    ref = runs.block(reference, seed, "layer_norm").to_numpy()
    path = runs.block(run, seed, "layer_norm").to_numpy()
    r_ref = np.linalg.norm(ref, axis=1)
    r = np.linalg.norm(path, axis=1)
    inside = (r >= r_ref.min()) & (r <= r_ref.max())
    a, b = ref[:-1], ref[1:]
    ab = b - a
    worst = 0.0
    for p in path[inside]:
        u = np.clip(np.einsum("ij,ij->i", p - a, ab) / np.maximum(np.sum(ab * ab, 1), 1e-300), 0, 1)
        worst = max(
            worst,
            float(np.min(np.linalg.norm(a + u[:, None] * ab - p, axis=1)))
            / float(np.linalg.norm(p)),
        )
    return worst


def equal_loss_norm_difference(runs: Runs, run: str, seed: int, reference: str = "gd") -> float:
    """max over ``run``'s points of max_i |‖W_i‖ − ‖W_i‖_ref| / ‖W_i‖_ref, the reference taken
    at the same training loss (linear interpolation; losses outside the reference's range are
    skipped)."""
    loss_ref = runs.series(reference, seed, "train_loss")
    norms_ref = runs.block(reference, seed, "layer_norm").loc[loss_ref.index]
    order = np.argsort(loss_ref.to_numpy())
    x = loss_ref.to_numpy()[order]
    loss = runs.series(run, seed, "train_loss")
    norms = runs.block(run, seed, "layer_norm").loc[loss.index]
    worst = 0.0
    for t, value in loss.items():
        if not x[0] <= value <= x[-1]:
            continue
        ref = np.array([np.interp(value, x, norms_ref[i].to_numpy()[order]) for i in norms_ref])
        worst = max(worst, float(np.max(np.abs(norms.loc[t].to_numpy() - ref) / ref)))
    return worst


@dataclass(frozen=True)
class ModeFit:
    """Random-init map projections on Σ̂'s leading modes against the balanced mode ODE."""

    t: np.ndarray
    sim: np.ndarray  # (T, rank)
    ode: np.ndarray  # (T, rank)
    targets: np.ndarray  # (rank,)


def mode_fit(runs: Runs, run: str, seed: int) -> ModeFit:
    """The run's projections on Σ̂'s leading (teacher-rank) modes and the balanced mode ODE
    started at s₀ = (mean squared layer singular value)^{d/2} of its random init."""
    settings = runs.settings[run]
    rank = len(runs.vector(run, seed, "teacher_sv"))
    proj = runs.block(run, seed, "proj_target")
    targets = runs.vector(run, seed, "target_sv")[:rank]
    t = proj.index.to_numpy()
    ode = huh.integrate_balanced(
        runs.constant(run, seed, "s0_random_init"),
        targets,
        settings["alpha"],
        settings["structure"],
        runs.depth(run),
        t,
        eps=settings["eps"],
    )
    return ModeFit(t, proj[list(range(1, rank + 1))].to_numpy(), ode, targets)


def restarted_closed_form_error(runs: Runs, run: str, seed: int, c: float) -> float:
    """After clip-off: max over modes and time of |projection − closed form| / ŝ, the closed
    form ŝ − (ŝ − s_c)(1 − cη)^k restarted at clip-off with the run's values s_c."""
    rank = len(runs.vector(run, seed, "teacher_sv"))
    proj = runs.block(run, seed, "proj_target")
    targets = runs.vector(run, seed, "target_sv")[:rank]
    t_c = clip_off_time(runs, run, seed)
    sub = proj[proj.index >= t_c - 1e-12][list(range(1, rank + 1))]
    t = sub.index.to_numpy()
    pred = huh.exponential_map(
        t - t[0], sub.iloc[0].to_numpy(), targets, huh.euler_rate(c, runs.settings[run]["eta"])
    )
    return float((np.abs(sub.to_numpy() - pred).max(axis=0) / targets).max())


# --------------------------------------------------------------------------- aligned network


def constants(modes: pd.DataFrame, quantity: str) -> pd.DataFrame:
    """Rows of one constant of the modes table (variant ``constant``)."""
    return modes[(modes["variant"] == "constant") & (modes["quantity"] == quantity)]


def flow_path_differences(modes: pd.DataFrame) -> dict[str, float]:
    """Per method: max relative difference of its flow layer values to GD's at the same
    map-value levels (leading modes, every layer and seed). Empty without GD's flow."""
    layers = modes[(modes["quantity"] == "layer_value") & (modes["variant"] == "flow")]
    flow = layers.pivot_table(
        index=["seed", "mode", "step", "layer"], columns="method", values="value"
    )
    if "gd" not in flow:
        return {}
    return {m: float(((flow[m] - flow["gd"]).abs() / flow["gd"]).max()) for m in flow if m != "gd"}


def euler_path_errors(modes: pd.DataFrame) -> pd.DataFrame:
    """The Euler path errors E(f) recorded by the aligned study: columns seed, method, factor
    (step factor f multiplying η and the cap), error (largest gap to GD's Euler path at equal
    map value, every step). Empty when the study did not record them."""
    errors = constants(modes, "euler_path_error")
    factors = constants(modes, "euler_step_factor")
    if errors.empty or factors.empty:
        return pd.DataFrame(columns=["seed", "method", "factor", "error"])
    f = factors.set_index(["seed", "mode"])["value"]
    out = errors[["seed", "method", "mode", "value"]].copy()
    out["factor"] = [f.loc[(s, k)] for s, k in zip(out["seed"], out["mode"], strict=True)]
    return out.rename(columns={"value": "error"})[["seed", "method", "factor", "error"]]


def euler_order(errors: pd.DataFrame, fine: float = 0.5) -> pd.Series:
    """log₂(E(1)/E(f)) / log₂(1/f) per (seed, method): the observed order of the Euler path
    error in the step (1: first order). NaN where either error is missing or zero."""
    wide = errors.pivot_table(index=["seed", "method"], columns="factor", values="error")
    if 1.0 not in wide or fine not in wide:
        return pd.Series(dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.log(wide[1.0] / wide[fine]) / np.log(1.0 / fine)


def logged_euler_path_difference(modes: pd.DataFrame) -> dict[str, tuple[float, int]]:
    """The same comparison as ``euler_path_error`` at f = 1, but from the logged Euler steps of
    the table (GD's path interpolated between its logged points): per method (NGD, sqrt-NGD),
    (largest relative difference, step where it occurs). Carries the interpolation error of the
    sparse log; kept beside the every-step statistic."""
    layers = modes[(modes["quantity"] == "layer_value") & (modes["variant"] == "euler")]
    maps = modes[(modes["quantity"] == "map_value") & (modes["variant"] == "euler")]
    worst: dict[str, tuple[float, int]] = {}
    for (seed, mode), group in layers.groupby(["seed", "mode"]):
        these = maps[(maps["seed"] == seed) & (maps["mode"] == mode)]
        ref_s = these[these["method"] == "gd"].set_index("step")["value"]
        if ref_s.empty:
            continue
        ref = group[group["method"] == "gd"].pivot(index="step", columns="layer", values="value")
        order = np.argsort(ref_s.to_numpy())
        log_s = np.log(ref_s.to_numpy()[order])
        for m in ("ngd", "sqrt_ngd"):
            s = these[these["method"] == m].set_index("step")["value"]
            if s.empty:
                continue
            vals = group[group["method"] == m].pivot(index="step", columns="layer", values="value")
            inside = (np.log(s) >= log_s[0]) & (np.log(s) <= log_s[-1])
            for layer in vals.columns:
                y = np.log(ref[layer].to_numpy()[order])
                interp = np.exp(np.interp(np.log(s[inside]), log_s, y))
                err = np.abs(vals.loc[inside.to_numpy(), layer].to_numpy() - interp) / interp
                if len(err):
                    j = int(np.argmax(err))
                    if err[j] > worst.get(m, (0.0, 0))[0]:
                        worst[m] = (float(err[j]), int(s[inside].index[j]))
    return worst


def invariant_drifts(modes: pd.DataFrame) -> dict[str, float]:
    """Largest change over the run of each exact (ε = 0) conservation law the study records."""
    layers = modes[modes["quantity"] == "layer_value"]
    found: dict[str, float] = {}

    def drift(rows: pd.DataFrame, law) -> float:
        worst = 0.0
        for _, g in rows.groupby(["seed", "mode"]):
            v = g.pivot(index="step", columns="layer", values="value").sort_index().to_numpy()
            inv = law(v[:, 1:], v[:, :1])
            worst = max(worst, float(np.abs(inv - inv[0]).max()))
        return worst

    rows = layers[layers["method"] == "ngd_d_eps0"]
    if len(rows):
        found["σ_i/σ_1 (NGD-d, Euler)"] = drift(rows, lambda a, b: a / b)
    rows = layers[layers["method"] == "sqrt_ngd_d_eps0"]
    if len(rows):
        found["σ_i − σ_1 (sqrt-NGD-d, Euler)"] = drift(rows, lambda a, b: a - b)
    for m in ("gd", "ngd", "sqrt_ngd"):
        rows = layers[(layers["method"] == m) & (layers["variant"] == "flow")]
        if len(rows):
            found[f"σ_i² − σ_1² ({LABELS[m]}, flow)"] = drift(rows, lambda a, b: a * a - b * b)
    logdet = constants(modes, "logdet_law_drift")
    if len(logdet):
        found["log|det W_i| − log|det W_1| (NGD-d, matrix Euler, non-aligned)"] = float(
            logdet[logdet["mode"] == 1]["value"].max()
        )
    return found
