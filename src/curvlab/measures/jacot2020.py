"""Jacot, Gabriel & Hongler (2020): the statistics the claims check and the figures draw.

Pure functions of the aggregated tables ``jacot2020.kernels`` (quadrature kernels and the
Monte-Carlo Λ), ``jacot2020.init``, ``jacot2020.trial``, ``jacot2020.rayleigh`` and
``jacot2020.surface``, and the bounds of the claims (one object each, used by the claim and
drawn by the figure). docs/papers/jacot2020.md explains every statistic and where each
tolerance comes from.

Three kinds of reference are used, in this order of preference:

* the run's own exact references: each initialization's corrected Corollary 1 from its own
  Θ̂₀, Λ̂₀, Υ̂₀, G(0) and Δ (table ``jacot2020.trial``, ``pred_*``), its own I-part Tr(Θ̂₀/N)ᵏ;
* standard errors over initializations (a band of z standard errors is set a priori);
* constants measured at a calibration setting, scaled with the width by a law known a priori
  (finite-width fluctuations O(1/√n), Tr S⁴/(Tr S²)² = O(1/n)).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import numpy as np
import pandas as pd

from curvlab.claims import AtLeast, AtMost, Between, Near
from curvlab.theory import jacot as theory

PAPER = "jacot2020"
NONLINEARITIES = ("softplus", "normalized_softplus")
LABEL = {"softplus": "smooth ReLU (softplus)", "normalized_softplus": "normalized smooth ReLU"}
#: The suffix of a claim id for each nonlinearity.
SHORT = {"softplus": "softplus", "normalized_softplus": "normalized"}

# --------------------------------------------------------------------------- bounds
# docs/papers/jacot2020.md gives, for each, the reasoning (a priori) or the calibration run.

#: Relative error of the exact estimators against explicit Hessians (float64 rounding).
CHECK_BOUNDS = {
    "check_tr_i": AtMost(1e-10),
    "check_tr_s": AtMost(1e-12),
    "check_tr_h": AtMost(1e-12),
    "check_g": AtMost(1e-12),
    "check_lambda": AtMost(1e-12),
    "zcheck_moments": AtMost(4.0, unit="standard errors"),
    "zcheck_plain_hutchinson": AtMost(4.0, unit="standard errors"),
}
#: Mean over the initializations of one width of ‖Θ̂ − Θ‖_F/‖Θ‖_F·√n.
NTK_PER_INIT = {"softplus": AtMost(2.0), "normalized_softplus": AtMost(4.0)}
#: The same statistic's old bound on the relF of the mean of 10 Θ̂ at n ≥ 1024 (shown only).
NTK_MEAN_OLD = {"softplus": 0.02, "normalized_softplus": 0.05}
#: ‖mean of m K̂ − K‖_F over its pure-noise expectation √(mean ‖K̂ᵢ − K‖²_F / m).
NOISE_RATIO = AtMost(3.0)
#: Log-log slope of a finite-width fluctuation against n: −1/2 (noise) to −1 (O(1/n) bias).
FLUCTUATION_SLOPE = (-1.0, -0.5)
#: Standard errors by which a slope band is widened.
SLOPE_Z = 2.0
#: A width-extrapolated mean against its limit, in standard errors.
EXTRAPOLATED = AtMost(4.0, unit="standard errors")
#: The old band of E Tr S(0) at the widest width: max(4 se, 0.01) (shown only).
TR_PHI_SE_OLD = 4.0
TR_PHI_OLD_FLOOR = 0.01
#: The sign of E Tr S(0) must be resolved by this many standard errors.
SIGN = AtLeast(5.0, unit="standard errors")
#: |plain mean of Tr S(0) − Rao-Blackwellized mean| in standard errors of the plain mean.
RB_UNBIASED = AtMost(4.0, unit="standard errors")
#: n·E[Tr S⁴/(Tr S²)²]: Tr S⁴/(Tr S²)² = O(1/n) (Theorem 1: Tr Sᵏ → 0 for k ≥ 3).
S4_RATIO_N = AtMost(1.0)
#: The bounds the per-width statistic had before (n: bound on the mean ratio), shown only.
S4_RATIO_OLD = {128: 0.01, 512: 0.002}
#: Log-log slope of the mean Tr S⁴/(Tr S²)² against n (−1 expected).
S4_SLOPE = -0.5
#: E Tr S(0)² over its limit N⁻²Tr(Υ̃(Σ̃ + Y*Y*ᵀ)): O(1), within a factor 2.
S2_FINITE = Between(0.5, 2.0)
#: Log-log slope of E Tr S(0)² against n: not shrinking like Tr S⁴ (slope 0 expected).
S2_SLOPE = -0.25
#: Υ̂ is "near" a reading when the readings are this many noise levels apart.
SEPARATION_Z = 3.0
#: The old flat bound on relF(mean Υ̂, Υ) (shown only).
UPSILON_OLD = 0.10
#: Training runs that diverged.
DIVERGED = AtMost(0.0)
#: Standard errors allowed on top of the 1/√n scaling of a per-initialization error.
PER_INIT_Z = 3.0
#: Worst initialization's relative RMS error of Tr S(t)² (Hutchinson noise does not shrink with
#: the width: a flat bound).
S2_PER_INIT = AtMost(0.06)
#: Old bounds of the same statistics as a worst case over initializations (shown only).
PER_INIT_OLD = {"tr_s": "0.05 at n = 256, 0.03 at n ≥ 512", "y": "0.02"}
#: Best initialization's relative RMS error under the printed formula (Id + E), +G(0).
PRINTED_PER_INIT = AtLeast(0.5)
#: E_k against the flow form: the data's coefficient on the step from flow to E_k.
FINITE_STEP = Between(0.5, 1.5)
FINITE_STEP_MAX_SE = 0.15
#: Old statistic: median over initializations of flow error / finite-step error (shown only).
FINITE_STEP_OLD = 3.0
#: Printed time normalization e^{−tΘ̃}: the best initialization's worst error on Y(t).
TIME_NORMALIZATION = AtLeast(0.2)
#: Expectation lines: |width-extrapolated mean − Cor. 1| in standard errors, every grid step.
EXPECTATION = AtMost(3.0, unit="standard errors")
#: The old statistic gated the widest width's mean from this grid step on (shown only).
EXPECTATION_FROM_STEP = 4
#: The printed (Id + E) expectation: at least this many standard errors off.
EXPECTATION_PRINTED = AtLeast(10.0, unit="standard errors")
#: The old tolerance on the moments (relative error against the limit lines, shown only).
MOMENTS_OLD = 0.10
#: Slopes that must be negative (gap to theory, drift of moments 3, 4), and the largest
#: standard error at which a slope of −1/2 is resolved from 0.
NEGATIVE = AtMost(0.0)
TREND_MAX_SE = 0.25
#: Rayleigh quotients: share of the top eigenvectors with the expected ordering.
ORTHOGONAL_SHARE = AtLeast(0.9)
#: Figure 2 of the paper is drawn at n = 1000.
ORTHOGONAL_MIN_WIDTH = 1000
#: Loss at θ* over the loss at initialization.
GLOBAL_MINIMUM = AtMost(1e-3)
#: Ratios that must stay below 1 (strictly).
BELOW_ONE = AtMost(1.0 - 1e-12)
#: λ₁(I)/λ₄(I) normalized over softplus.
VALLEY = BELOW_ONE
#: Distance of Υ̂ to the corrected Υ over the distance to the nearest resolvable mis-reading.
READINGS = BELOW_ONE


def per_init_bound(reference: tuple[int, float, float], width: int, se: float) -> AtMost:
    """The error at the next-narrower width n_a scaled to width n as √(n_a/n), plus 3 standard
    errors of the difference: the error of a per-initialization prediction is O(1/√n)."""
    n_a, mean_a, se_a = reference
    scale = math.sqrt(n_a / width)
    pad = math.sqrt(
        (se if math.isfinite(se) else 0.0) ** 2
        + (scale * se_a if math.isfinite(se_a) else 0.0) ** 2
    )
    return AtMost(mean_a * scale + PER_INIT_Z * pad)


def extrapolated_bound(limit: float, se: float) -> Near:
    return Near(limit, EXTRAPOLATED.limit * se)


def slope_band(se: float, low: float = FLUCTUATION_SLOPE[0], high: float = FLUCTUATION_SLOPE[1]):
    """[low, high] widened by :data:`SLOPE_Z` standard errors of the slope."""
    pad = SLOPE_Z * (se if math.isfinite(se) else 0.0)
    return Between(low - pad, high + pad)


def at_most_widened(limit: float, se: float) -> AtMost:
    return AtMost(limit + SLOPE_Z * (se if math.isfinite(se) else 0.0))


def at_least_widened(limit: float, se: float) -> AtLeast:
    return AtLeast(limit - SLOPE_Z * (se if math.isfinite(se) else 0.0))


# --------------------------------------------------------------------------- small statistics


def mean_se(values) -> tuple[float, float, int]:
    """(mean, standard error of the mean, count) of the finite values."""
    v = np.asarray(values, dtype=float)
    v = v[np.isfinite(v)]
    if len(v) == 0:
        return math.nan, math.nan, 0
    se = float(v.std(ddof=1) / math.sqrt(len(v))) if len(v) > 1 else math.nan
    return float(v.mean()), se, len(v)


def loglog_slope(x, y, se=None) -> tuple[float, float]:
    """Slope of log y against log x and its standard error (weighted least squares with the
    relative errors se/y as the errors of log y; NaN without errors)."""
    x = np.log(np.asarray(x, dtype=float))
    y = np.asarray(y, dtype=float)
    if len(x) < 2 or not np.all(np.isfinite(y)) or np.any(y <= 0):
        return math.nan, math.nan
    ly = np.log(y)
    if se is None:
        return float(np.polyfit(x, ly, 1)[0]), math.nan
    s = np.asarray(se, dtype=float) / y
    if not np.all(np.isfinite(s)) or np.any(s <= 0):
        return float(np.polyfit(x, ly, 1)[0]), math.nan
    w = 1.0 / s**2
    xm = np.sum(w * x) / np.sum(w)
    sxx = np.sum(w * (x - xm) ** 2)
    slope = np.sum(w * (x - xm) * ly) / sxx
    return float(slope), float(1.0 / math.sqrt(sxx))


def jackknife(values: np.ndarray, statistic: Callable[[np.ndarray], float]) -> tuple[float, float]:
    """(statistic of all rows, jackknife standard error over the rows)."""
    values = np.asarray(values, dtype=float)
    full = float(statistic(values))
    m = len(values)
    if m < 3:
        return full, math.nan
    leave = np.array([statistic(np.delete(values, i, axis=0)) for i in range(m)])
    return full, float(math.sqrt((m - 1) / m * np.sum((leave - leave.mean()) ** 2)))


def extrapolate(n_a: int, mean_a, se_a, n_b: int, mean_b, se_b):
    """The n → ∞ value of a mean with an O(1/n) finite-width offset, from widths n_a < n_b:
    (n_b·m_b − n_a·m_a)/(n_b − n_a), and its standard error (independent runs)."""
    d = n_b - n_a
    mean = (n_b * np.asarray(mean_b) - n_a * np.asarray(mean_a)) / d
    se = np.sqrt((n_b * np.asarray(se_b)) ** 2 + (n_a * np.asarray(se_a)) ** 2) / d
    return mean, se


def fmt_widths(values: dict, digits: int = 3) -> str:
    """'n = 64: 0.12, n = 128: 0.08'."""
    return ", ".join(f"n = {w}: {v:.{digits}g}" for w, v in values.items())


# --------------------------------------------------------------------------- kernels


def kernel_sets(kernels: pd.DataFrame | None) -> dict[str, dict[str, np.ndarray]]:
    """The matrices of ``jacot2020.kernels`` by nonlinearity and name."""
    from curvlab.experiments.jacot2020 import kernel_matrices

    if kernels is None or kernels.empty:
        return {}
    return {nl: kernel_matrices(kernels, nl) for nl in kernels["nonlinearity"].unique()}


def has_quadrature(kernels: dict, nl: str) -> bool:
    """Whether the quadrature kernels of a nonlinearity are in the table."""
    return nl in kernels and {"theta", "sigma", "phi", "upsilon", "y_star"} <= set(kernels[nl])


def has_theory(kernels: dict, nl: str) -> bool:
    """Whether Corollary 1 can be evaluated: quadrature kernels and the Monte-Carlo Λ."""
    return nl in kernels and {"theta", "sigma", "phi", "lambda", "upsilon", "y_star"} <= set(
        kernels[nl]
    )


def theory_curves(
    kernels: dict[str, np.ndarray], eta: float, steps, variant="corrected", form="gd"
):
    """Corollary 1 (corrected unless ``variant="printed"``) with the finite-step E_k (or the
    flow form with ``form="flow"``)."""
    from curvlab.experiments.jacot2020 import cor1_inputs

    return theory.corollary1(cor1_inputs(kernels), eta, np.asarray(steps), form, variant)


def tr_phi_limit(kernels: dict[str, np.ndarray]) -> float:
    """n_L Tr Φ̃/N: the limit of E Tr S(0)."""
    n = kernels["phi"].shape[0]
    return float(np.trace(kernels["phi"])) / n * kernels["y_star"].shape[1]


def s2_limit(kernels: dict[str, np.ndarray]) -> float:
    """N⁻² Tr(Υ̃(Σ̃ + Y*Y*ᵀ)): the limit of E Tr S(0)²."""
    y = kernels["y_star"]
    n = y.shape[0]
    return float(np.trace(kernels["upsilon"] @ (y.shape[1] * kernels["sigma"] + y @ y.T)) / n**2)


def eta_lambda_max(kernels: dict[str, np.ndarray], eta: float) -> float:
    theta = kernels["theta"]
    return float(eta * np.linalg.eigvalsh(theta)[-1] / theta.shape[0])


# --------------------------------------------------------------------------- initialization


def init_scalar(init: pd.DataFrame, nl: str, quantity: str) -> pd.DataFrame:
    """Columns width, seed, value, stderr of one per-seed scalar."""
    rows = init[(init["nonlinearity"] == nl) & (init["quantity"] == quantity)]
    return rows[["width", "seed", "value", "stderr"]]


def nonlinearities(init: pd.DataFrame | None) -> list[str]:
    if init is None or init.empty:
        return []
    return sorted(init["nonlinearity"].unique())


def ntk_per_init(init: pd.DataFrame, nl: str) -> pd.DataFrame:
    """Per width: mean, se, max, 90th percentile and count of relF·√n, and the mean relF."""
    rel = init_scalar(init, nl, "relf_theta").copy()
    rel["scaled"] = rel["value"] * np.sqrt(rel["width"])
    g = rel.groupby("width")
    out = pd.DataFrame(
        {
            "mean": g["scaled"].mean(),
            "se": g["scaled"].std(ddof=1) / np.sqrt(g.size()),
            "max": g["scaled"].max(),
            "p90": g["scaled"].quantile(0.9),
            "count": g.size(),
            "relf": g["value"].mean(),
            "relf_se": g["value"].std(ddof=1) / np.sqrt(g.size()),
        }
    )
    return out


def subset_stack(init: pd.DataFrame, nl: str, width: int, quantity: str):
    """(seeds, m × m matrices) of one subset kernel at one width."""
    rows = init[
        (init["nonlinearity"] == nl) & (init["width"] == width) & (init["quantity"] == quantity)
    ]
    if rows.empty:
        return [], None
    m = int(rows["row"].max()) + 1
    mats = rows.pivot_table(index=["seed", "row"], columns="col", values="value")
    seeds = sorted(rows["seed"].unique())
    return seeds, mats.to_numpy().reshape(len(seeds), m, m)


def noise_ratio(stack: np.ndarray, truth: np.ndarray) -> dict[str, float]:
    """How far the mean of m estimates K̂ᵢ lies from K, in units of its pure-noise size.

    ``ratio`` = ‖K̄ − K‖_F / √(mean_i ‖K̂ᵢ − K‖²_F / m): about 1 when the K̂ᵢ scatter around K
    without bias, and below 3 with probability ≥ 99.7 % for any number m ≥ 2 of estimates
    (docs/papers/jacot2020.md, claim ``ntk_limit_mean_softplus``). Also the relF of the mean
    (``relf_mean``) and the root-mean-square per-estimate relF (``relf_rms``).
    """
    m = stack.shape[0]
    norm = float(np.linalg.norm(truth))
    per = np.array([np.linalg.norm(k - truth) for k in stack])
    mean_dist = float(np.linalg.norm(stack.mean(0) - truth))
    rms = float(np.sqrt(np.mean(per**2)))
    return {
        "ratio": mean_dist / (rms / math.sqrt(m)) if rms > 0 else math.nan,
        "relf_mean": mean_dist / norm,
        "relf_rms": rms / norm,
        "count": m,
    }


def subset_noise_ratios(init: pd.DataFrame, nl: str, quantity: str, truth: np.ndarray):
    """:func:`noise_ratio` per width for a subset kernel (rows: widths)."""
    out = {}
    widths = init[(init["nonlinearity"] == nl) & (init["quantity"] == quantity)]["width"]
    for width in sorted(widths.unique()):
        _, stack = subset_stack(init, nl, int(width), quantity)
        m = stack.shape[1]
        out[int(width)] = noise_ratio(stack, truth[:m, :m])
    return pd.DataFrame(out).T


def relf_first(init: pd.DataFrame, nl: str, width: int, quantity: str, truth, count: int):
    """relF of the mean of the first ``count`` seeds' subset kernel (the old statistic)."""
    seeds, stack = subset_stack(init, nl, width, quantity)
    if stack is None:
        return math.nan, 0
    stack = stack[:count]
    m = stack.shape[1]
    return theory.rel_frobenius(stack.mean(0), truth[:m, :m]), len(stack)


def per_width_mean(init: pd.DataFrame, nl: str, quantity: str) -> pd.DataFrame:
    """Per width: mean, se and count of one per-seed scalar."""
    v = init_scalar(init, nl, quantity)
    g = v.groupby("width")["value"]
    return pd.DataFrame(
        {"mean": g.mean(), "se": g.std(ddof=1) / np.sqrt(g.size()), "count": g.size()}
    )


def plain_vs_rb(init: pd.DataFrame, nl: str) -> pd.Series:
    """Per width: |plain mean of Tr S(0) − Rao-Blackwellized mean| / se of the plain mean."""
    plain = per_width_mean(init, nl, "tr_s_exact")
    rb = per_width_mean(init, nl, "tr_phi_rb")
    return ((plain["mean"] - rb["mean"]).abs() / plain["se"]).dropna()


def s4_ratio(init: pd.DataFrame, nl: str) -> pd.DataFrame:
    """Per width: mean, se and count of Tr S⁴/(Tr S²)² over initializations."""
    s2 = init_scalar(init, nl, "tr_s2").set_index(["width", "seed"])["value"]
    s4 = init_scalar(init, nl, "tr_s4").set_index(["width", "seed"])["value"]
    ratio = (s4 / s2**2).dropna()
    g = ratio.groupby("width")
    return pd.DataFrame(
        {"mean": g.mean(), "se": g.std(ddof=1) / np.sqrt(g.size()), "count": g.size()}
    )


def upsilon_probes(init: pd.DataFrame, nl: str, width: int) -> int:
    """Υ̂ probes per initialization, from the jobs' specs in the table's provenance."""
    specs = [
        p.get("config", {})
        for p in init.attrs.get("provenance", {}).get("aggregate_of", {}).values()
    ]
    for s in specs:
        if s.get("nonlinearity") == nl and s.get("width") == width:
            return int(s.get("upsilon_probes", 0))
    return 0


UPSILON_READINGS = {
    "corrected": "upsilon",
    "ntk_convention": "upsilon_ntk_convention",
    "no_product": "upsilon_no_product",
}


def upsilon_study(init: pd.DataFrame, kernels: dict[str, np.ndarray], nl: str) -> dict | None:
    """Monte-Carlo Υ̂ at the widest width that has it, against the three readings of Prop. 4:
    noise ratio against the corrected Υ, distances to each reading, and the readings'
    analytic separations from the corrected one."""
    rows = init[(init["nonlinearity"] == nl) & (init["quantity"] == "subset_upsilon")]
    if rows.empty:
        return None
    width = int(rows["width"].max())
    _, stack = subset_stack(init, nl, width, "subset_upsilon")
    m = stack.shape[1]
    truth = {r: kernels[name][:m, :m] for r, name in UPSILON_READINGS.items()}
    noise = noise_ratio(stack, truth["corrected"])
    mean = stack.mean(0)
    return {
        "width": width,
        "inits": stack.shape[0],
        "samples": stack.shape[0] * upsilon_probes(init, nl, width),
        "subset": m,
        "noise": noise,
        # the noise level of the mean, relative to ‖Υ‖: √(mean relF²/m)
        "noise_level": noise["relf_rms"] / math.sqrt(stack.shape[0]),
        "distance": {r: theory.rel_frobenius(mean, t) for r, t in truth.items()},
        "separation": {
            r: theory.rel_frobenius(t, truth["corrected"])
            for r, t in truth.items()
            if r != "corrected"
        },
    }


# --------------------------------------------------------------------------- training runs


class Trials:
    """The training runs: per (nonlinearity, width) the seeds × grid-steps arrays."""

    def __init__(self, trial: pd.DataFrame) -> None:
        self.frame = trial
        grid_rows = trial[trial["quantity"] == "moment"]
        self.grid = {
            (str(nl), int(w)): np.sort(g["step"].unique())
            for (nl, w), g in grid_rows.groupby(["nonlinearity", "width"])
        }
        self.eta = {
            (str(nl), int(w)): float(e)
            for (nl, w), e in trial.groupby(["nonlinearity", "width"])["eta"].first().items()
        }
        self.diverged = sorted(
            {
                (str(nl), int(w), int(s))
                for (nl, w, s), d in trial.groupby(["nonlinearity", "width", "seed"])["diverged"]
                if d.any()
            }
        )
        self.runs = int(trial.groupby(["nonlinearity", "width", "seed"]).ngroups)
        self._index = trial.set_index(["nonlinearity", "width", "quantity", "k"]).sort_index()

    def widths(self, nonlinearity: str) -> list[int]:
        return sorted(w for nl, w in self.grid if nl == nonlinearity)

    def nonlinearities(self) -> list[str]:
        return sorted({nl for nl, _ in self.grid})

    def array(self, nonlinearity: str, width: int, quantity: str, k: int, column="value"):
        """(seeds, steps) on the grid, NaN where missing (diverged runs stop early)."""
        try:
            rows = self._index.loc[(nonlinearity, width, quantity, k)]
        except KeyError:
            return None
        steps = self.grid[(nonlinearity, width)]
        table = rows.pivot_table(index="seed", columns="step", values=column, aggfunc="first")
        return table.reindex(columns=steps).to_numpy()

    def mean_se(self, nonlinearity: str, width: int, quantity: str, k: int):
        a = self.array(nonlinearity, width, quantity, k)
        if a is None:
            return None, None
        n = np.isfinite(a).sum(0)
        mean = np.nanmean(a, 0)
        se = np.nanstd(a, 0, ddof=1) / np.sqrt(np.maximum(n, 1))
        return mean, se

    def count(self, nonlinearity: str, width: int) -> int:
        a = self.array(nonlinearity, width, "moment", 1)
        return 0 if a is None else int(a.shape[0])

    def where(self, nonlinearity: str, width: int) -> str:
        steps = self.grid[(nonlinearity, width)]
        return (
            f"n = {width}, {self.count(nonlinearity, width)} inits, "
            f"η = {self.eta[(nonlinearity, width)]:g}, steps {steps[0]}…{steps[-1]}"
        )


def own_rms(pred: np.ndarray, meas: np.ndarray) -> np.ndarray:
    """Per initialization: RMS over the grid of (pred − meas) over the RMS of meas (its own)."""
    return np.sqrt(np.nanmean((pred - meas) ** 2, 1)) / np.sqrt(np.nanmean(meas**2, 1))


def pooled_rms(pred: np.ndarray, meas: np.ndarray) -> np.ndarray:
    """Per initialization: RMS over the grid of (pred − meas) over the RMS of meas over every
    initialization and step of that width (one scale for all, so that an initialization whose
    own Tr S(t) happens to stay near 0 does not blow its relative error up)."""
    return np.sqrt(np.nanmean((pred - meas) ** 2, 1)) / np.sqrt(np.nanmean(meas**2))


def summary(values: np.ndarray) -> dict[str, float]:
    """mean, se, max and 90th percentile of per-initialization values."""
    v = np.asarray(values, dtype=float)
    v = v[np.isfinite(v)]
    mean, se, count = mean_se(v)
    return {
        "mean": mean,
        "se": se,
        "max": float(v.max()) if count else math.nan,
        "p90": float(np.quantile(v, 0.9)) if count else math.nan,
        "count": count,
    }


def per_init_errors(trials: Trials, nl: str, width: int) -> dict[str, np.ndarray] | None:
    """Per initialization, each Corollary 1 form against the measured trajectory.

    ``tr_s`` (corrected, finite step) and ``tr_s_printed`` (as printed) and ``tr_s_flow``:
    :func:`pooled_rms` of Tr S(t); ``tr_s_own``, ``tr_s_flow_own``: the same with each
    initialization's own RMS (the old normalization); ``tr_s2``: Tr S(t)² against
    N⁻²ΔᵀE_kΥ̂₀E_kΔ (own RMS); ``y``, ``y_flow``, ``y_unnormalized``: the worst ‖Ŷ(t) − Y(t)‖/
    ‖Y(t)‖ over the steps t > 0.
    """
    meas = trials.array(nl, width, "tr_s", 1)
    pred = trials.array(nl, width, "pred_tr_s", 1)
    if meas is None or pred is None:
        return None
    flow = trials.array(nl, width, "pred_tr_s_flow", 1)
    printed = trials.array(nl, width, "pred_tr_s_printed", 1)
    s2 = trials.array(nl, width, "tr_s", 2)
    s2p = trials.array(nl, width, "pred_tr_s", 2)
    out = {
        "tr_s": pooled_rms(pred, meas),
        "tr_s_own": own_rms(pred, meas),
        "tr_s_flow": pooled_rms(flow, meas),
        "tr_s_flow_own": own_rms(flow, meas),
        "tr_s_printed": pooled_rms(printed, meas),
        "tr_s2": own_rms(s2p, s2),
    }
    for name, quantity in (("y", "y_err"), ("y_flow", "y_err_flow")):
        a = trials.array(nl, width, quantity, 0)
        out[name] = np.nanmax(a[:, 1:], 1)
    out["y_unnormalized"] = np.nanmax(trials.array(nl, width, "y_err_unnormalized", 0)[:, 1:], 1)
    return out


def finite_step_coefficient(trials: Trials, nl: str, width: int) -> dict[str, float] | None:
    """Where the measured Tr S(t) lies between the flow-form and the finite-step predictions.

    With d = pred(E_k) − pred(flow) and r = meas − pred(flow) over every initialization and
    grid step, ``beta`` = Σ r·d / Σ d²: 1 when the data follow the finite-step E_k, 0 when they
    follow the flow form; ``se`` its jackknife standard error over initializations. Also the old
    statistic ``ratio_median`` (median over initializations of flow error / finite-step error,
    each with its own RMS).
    """
    meas = trials.array(nl, width, "tr_s", 1)
    gd = trials.array(nl, width, "pred_tr_s", 1)
    flow = trials.array(nl, width, "pred_tr_s_flow", 1)
    if meas is None or gd is None or flow is None:
        return None
    d = gd - flow
    r = meas - flow
    rows = np.stack([np.nan_to_num(r * d), np.nan_to_num(d * d)], axis=1)  # (m, 2, T)

    def beta(block: np.ndarray) -> float:
        den = block[:, 1].sum()
        return float(block[:, 0].sum() / den) if den > 0 else math.nan

    value, se = jackknife(rows, beta)
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = own_rms(flow, meas) / own_rms(gd, meas)
    gap = float(np.sqrt(np.nanmean(d**2)) / np.sqrt(np.nanmean(meas**2)))
    return {"beta": value, "se": se, "ratio_median": float(np.nanmedian(ratio)), "gap": gap}


def expectation_z(trials: Trials, kernels: dict, nl: str) -> dict | None:
    """Mean over initializations of Tr S(t) and Tr S(t)² against Corollary 1's expectation
    (limit kernels, finite-step E_k), in standard errors, per grid step.

    ``tr_s``, ``tr_s2``: the mean extrapolated to n → ∞ from the two widest trained widths
    (:func:`extrapolate`: expectations at width n carry an O(1/n) offset), NaN with one width;
    ``tr_s_widest``, ``tr_s2_widest``: the widest width's own mean (the old statistic);
    ``printed``: the widest width's mean against the printed (Id + E) line, and
    ``separation``: how far the printed line lies from the corrected one, in the same errors.
    """
    widths = trials.widths(nl)
    width = widths[-1]
    steps = trials.grid[(nl, width)]
    eta = trials.eta[(nl, width)]
    curves = theory_curves(kernels[nl], eta, steps)
    printed = theory_curves(kernels[nl], eta, steps, variant="printed")
    pair = None
    if len(widths) >= 2:
        narrow = widths[-2]
        same = np.array_equal(trials.grid[(nl, narrow)], steps) and math.isclose(
            trials.eta[(nl, narrow)], eta
        )
        pair = narrow if same else None
    out: dict = {"steps": steps, "width": width, "narrow": pair}
    for k, name in ((1, "tr_s"), (2, "tr_s2")):
        mean, se = trials.mean_se(nl, width, "tr_s", k)
        out[f"{name}_widest"] = (mean - curves[name]) / se
        if pair is not None:
            mean_a, se_a = trials.mean_se(nl, pair, "tr_s", k)
            m_inf, se_inf = extrapolate(pair, mean_a, se_a, width, mean, se)
            out[name] = (m_inf - curves[name]) / se_inf
        else:
            out[name] = np.full(len(steps), np.nan)
        if k == 1:
            out["printed"] = (mean - printed["tr_s"]) / se
            out["separation"] = np.abs(printed["tr_s"] - curves["tr_s"]) / se
    return out


def gated(steps: np.ndarray) -> np.ndarray:
    """The grid steps the old statistic gated (all, if none is that late)."""
    late = np.asarray(steps) >= EXPECTATION_FROM_STEP
    return late if late.any() else np.ones_like(late, dtype=bool)


def tr_phi_extrapolated(init: pd.DataFrame, nl: str) -> dict | None:
    """The Rao-Blackwellized E Tr S(0) per width, and its n → ∞ extrapolation from the two
    widest initialization widths (None with one width)."""
    phi = per_width_mean(init, nl, "tr_phi_rb")
    out = {"by_width": phi, "widest": int(phi.index.max())}
    if len(phi) < 2:
        return out | {"mean": math.nan, "se": math.nan, "pair": None}
    a, b = (int(w) for w in phi.index[-2:])
    mean, se = extrapolate(
        a, phi.loc[a, "mean"], phi.loc[a, "se"], b, phi.loc[b, "mean"], phi.loc[b, "se"]
    )
    return out | {"mean": float(mean), "se": float(se), "pair": (a, b)}


def own_moment_prediction(trials: Trials, nl: str, width: int, k: int) -> np.ndarray | None:
    """Each initialization's own Corollary 1 for Tr H(t)ᵏ: its I-part Tr(Θ̂₀/N)ᵏ at t = 0,
    plus for k = 1 its predicted Tr S(t) and for k = 2 its predicted Tr S(t)²."""
    tr_i = trials.array(nl, width, "tr_i", k)
    if tr_i is None:
        return None
    pred = np.repeat(tr_i[:, :1], tr_i.shape[1], axis=1)
    if k in (1, 2):
        s = trials.array(nl, width, "pred_tr_s", k)
        if s is None:
            return None
        pred = pred + s
    return pred


def moment_gaps(trials: Trials, kernels: dict, nl: str, width: int) -> dict | None:
    """Mean Tr H(t)ᵏ against the mean of the initializations' own Corollary 1 (``own``), and
    against the limit lines (``limit``, the old statistic): the worst relative error over the
    grid per k; ``own12`` the worst over k = 1, 2 with its jackknife standard error."""
    preds = {k: own_moment_prediction(trials, nl, width, k) for k in range(1, 5)}
    meas = {k: trials.array(nl, width, "moment", k) for k in range(1, 5)}
    if any(v is None for v in (*preds.values(), *meas.values())):
        return None

    def worst(rows: np.ndarray, ks=(1, 2)) -> float:
        # rows: (m, 2, 4, T): measured and predicted for k = 1..4
        vals = []
        for k in ks:
            m_ = np.nanmean(rows[:, 0, k - 1], 0)
            p_ = np.nanmean(rows[:, 1, k - 1], 0)
            vals.append(np.nanmax(np.abs(m_ / p_ - 1.0)))
        return float(max(vals))

    rows = np.stack(
        [np.stack([meas[k] for k in range(1, 5)], 1), np.stack([preds[k] for k in range(1, 5)], 1)],
        axis=1,
    )
    own12, se = jackknife(rows, worst)
    out = {
        "own12": own12,
        "own12_se": se,
        "own": {k: worst(rows, (k,)) for k in range(1, 5)},
    }
    if has_theory(kernels, nl):
        c = theory_curves(kernels[nl], trials.eta[(nl, width)], trials.grid[(nl, width)])
        out["limit"] = {
            k: float(np.nanmax(np.abs(np.nanmean(meas[k], 0) / c[f"moment_{k}"] - 1.0)))
            for k in range(1, 5)
        }
        out["i_part_bias"] = {
            k: float(np.nanmean(trials.array(nl, width, "tr_i", k)[:, 0]) / c[f"tr_i_{k}"][0] - 1)
            for k in range(1, 5)
        }
    return out


def moments_extrapolated(trials: Trials, kernels: dict, nl: str) -> dict | None:
    """Mean Tr H(t)ᵏ, k = 1..4, extrapolated to n → ∞ from the two widest trained widths,
    against the limit lines of Corollary 1: ``z`` (k → per-step z), ``relative_se`` (k → per-step
    se∞/line) and ``relative`` (k → per-step m∞/line − 1). None with fewer than two widths on
    the same grid."""
    widths = trials.widths(nl)
    if len(widths) < 2 or not has_theory(kernels, nl):
        return None
    a, b = widths[-2], widths[-1]
    steps, eta = trials.grid[(nl, b)], trials.eta[(nl, b)]
    if not (np.array_equal(trials.grid[(nl, a)], steps) and math.isclose(trials.eta[(nl, a)], eta)):
        return None
    lines = theory_curves(kernels[nl], eta, steps)
    out: dict = {"widths": (a, b), "steps": steps, "z": {}, "relative_se": {}, "relative": {}}
    for k in range(1, 5):
        mean_a, se_a = trials.mean_se(nl, a, "moment", k)
        mean_b, se_b = trials.mean_se(nl, b, "moment", k)
        m_inf, se_inf = extrapolate(a, mean_a, se_a, b, mean_b, se_b)
        line = lines[f"moment_{k}"]
        out["z"][k] = (m_inf - line) / se_inf
        out["relative_se"][k] = se_inf / np.abs(line)
        out["relative"][k] = m_inf / line - 1.0
    return out


def moments34_drift(trials: Trials, nl: str, width: int) -> tuple[float, float]:
    """Largest |relative change| of the mean Tr H³, Tr H⁴ from t = 0 along training, and its
    jackknife standard error over initializations."""
    rows = np.stack([trials.array(nl, width, "moment", k) for k in (3, 4)], 1)  # (m, 2, T)

    def drift(block: np.ndarray) -> float:
        mean = np.nanmean(block, 0)
        return float(np.nanmax(np.abs(mean / mean[:, :1] - 1.0)))

    return jackknife(rows, drift)


def limit_gap(trials: Trials, kernels: dict, nl: str, width: int) -> tuple[float, float]:
    """RMS over the grid of (mean Tr Hᵏ / Corollary 1 − 1), averaged over k = 1..4, and its
    jackknife standard error over initializations."""
    c = theory_curves(kernels[nl], trials.eta[(nl, width)], trials.grid[(nl, width)])
    rows = np.stack([trials.array(nl, width, "moment", k) for k in range(1, 5)], 1)
    lines = np.stack([c[f"moment_{k}"] for k in range(1, 5)])

    def gap(block: np.ndarray) -> float:
        mean = np.nanmean(block, 0)
        return float(np.mean(np.sqrt(np.nanmean((mean / lines - 1.0) ** 2, 1))))

    return jackknife(rows, gap)


def width_trend(values: dict[int, tuple[float, float]]) -> tuple[float, float]:
    """Log-log slope (and its standard error) of per-width (value, se) pairs."""
    widths = sorted(values)
    return loglog_slope(widths, [values[w][0] for w in widths], [values[w][1] for w in widths])


# --------------------------------------------------------------------------- Figures 2 and 3


def orthogonality_shares(rayleigh: pd.DataFrame, nl: str) -> dict[str, float] | None:
    """Share of the top eigenvectors v of I with |vᵀSv| < vᵀIv (``i``) and of S with
    vᵀIv < |vᵀSv| (``s``), the width and the number of eigenvectors."""
    grp = rayleigh[rayleigh["nonlinearity"] == nl]
    if grp.empty:
        return None
    wide = grp.pivot_table(index=["basis", "index"], columns="quantity", values="value")
    i_rows, s_rows = wide.loc["I"], wide.loc["S"]
    return {
        "i": float((i_rows["rq_s"].abs() < i_rows["rq_i"]).mean()),
        "s": float((s_rows["rq_i"] < s_rows["rq_s"].abs()).mean()),
        "width": int(grp["width"].iloc[0]),
        "top": len(i_rows),
    }


def surface_scalar(grp: pd.DataFrame, quantity: str, last: bool = False) -> float:
    rows = grp[grp["quantity"] == quantity].sort_values("index")["value"]
    if rows.empty:
        return math.nan
    return float(rows.iloc[-1] if last else rows.iloc[0])


def surface_minimum(grp: pd.DataFrame) -> tuple[float, float, str]:
    """(final loss / initial loss, initial loss, how θ* was reached) of one surface run."""
    initial = surface_scalar(grp, "init_loss")
    final = surface_scalar(grp, "final_loss")
    if not math.isfinite(final):  # tables written before final_loss was recorded
        final = surface_scalar(grp, "polish_loss", last=True)
        if not math.isfinite(final):
            final = surface_scalar(grp, "gd_loss", last=True)
    steps = int((grp["quantity"] == "polish_loss").sum())
    gd = surface_scalar(grp, "gd_loss", last=True)
    eta = surface_scalar(grp, "eta")
    lam = surface_scalar(grp, "lambda_max_init")
    text = (
        f"GD with η = {eta:.3g} = {eta * lam:.2g}/λ_max(Θ̂₀/N), λ_max = {lam:.3g}, to "
        f"{gd:.3g}, then {steps} Levenberg–Marquardt steps"
        if math.isfinite(eta) and math.isfinite(lam)
        else f"GD to {gd:.3g}, then {steps} Levenberg–Marquardt steps"
    )
    return final / initial, initial, text


def valley_ratio(surface: pd.DataFrame, nl: str, directions: Sequence[int] = (4, 1)) -> float:
    """λ_q(I)/λ_p(I) at θ* (by default λ₁/λ₄)."""
    grp = surface[surface["nonlinearity"] == nl]
    eig = grp[grp["quantity"] == "eig_i"].set_index("index")["value"]
    p, q = directions
    if p not in eig.index or q not in eig.index:
        return math.nan
    return float(eig.loc[q] / eig.loc[p])
