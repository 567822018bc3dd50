"""Du, Hu & Lee (2018): the statistics its claims check and its figures draw, and their bounds.

Pure functions of the aggregated tables ``du2018.network`` and ``du2018.factorization``; both
:mod:`curvlab.claims.du2018` and :mod:`curvlab.plots.du2018` import them, so a figure and the
claim about it come from the same numbers. Every bound is defined once, here; where it was
measured (and with which seeds) is in docs/papers/du2018.md, in the entry of the claim that
uses it.

Notation (as in :mod:`curvlab.theory.du`): layers W_1 … W_L, G_h = ∂L/∂W_h,
D_h = ‖W_{h+1}‖_F² − ‖W_h‖_F² for the pair (h, h+1). Gradient flow conserves D_h, so the ratio
‖W_{h+1}‖²/‖W_h‖² it predicts is 1 + D_h(0)/‖W_h(t)‖², and the gap between the measured ratio
and that prediction is exactly (D_h(t) − D_h(0))/‖W_h(t)‖²: the drift of D_h that GD's finite
step adds, relative to the layer's size.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from curvlab.claims import AtLeast, AtMost, Between, Bound
from curvlab.theory.du import rank1_linear_rate

EPS_UNIT = "ε₆₄·max‖W_h‖²"
MF_EPS_UNIT = "ε₆₄·max(‖U‖², ‖V‖²)"

# --------------------------------------------------------------------------- bounds

# Exact identities, set a priori from float64 rounding (docs/papers/du2018.md, claims
# identity_* and mf_identity_*).
IDENTITY_PER_STEP = AtMost(10.0, unit=EPS_UNIT)
IDENTITY_CUMULATIVE = AtMost(1e-10)
IDENTITY_NEURONWISE = AtMost(1e-10)
HOMOGENEITY = AtMost(1e-8)
MF_IDENTITY_PER_STEP = AtMost(10.0, unit=MF_EPS_UNIT)
MF_IDENTITY_CUMULATIVE = AtMost(1e-11)

# "The run trained" (a precondition of the ratio claims): the loss decreased at every logged
# step and ended at most this fraction of its initial value.
TRAINED_LOSS_FRACTION = 0.05


@dataclass(frozen=True)
class ScaleBounds:
    """The bounds whose tolerance depends on the model size and horizon of a scale."""

    ratio_prediction: Bound
    d_conserved: Bound
    balanced_ratio: Bound
    unbalanced_ratio: Bound
    mf_converges: Bound


# "default" is config.yaml's setting; the offline and paper presets run the same network and
# factorization (the paper preset adds step sizes and seeds), so they use it too. Every ci band
# contains all 20 runs per initialization of the ci calibration (presets/calibrate/du2018-ci.yaml):
# where the band first set from a single ci run did not, it was widened to their range, rounded
# outward to two significant digits (ratio_prediction, unbalanced_ratio; docs/papers/du2018.md).
BOUNDS = {
    "default": ScaleBounds(
        ratio_prediction=AtMost(0.005),
        d_conserved=AtMost(0.005),
        balanced_ratio=AtMost(0.005),
        unbalanced_ratio=Between(1.03, 1.12),
        mf_converges=AtMost(1e-10),
    ),
    "ci": ScaleBounds(
        ratio_prediction=AtMost(0.011),
        d_conserved=AtMost(0.005),
        balanced_ratio=AtMost(0.01),
        unbalanced_ratio=Between(1.15, 1.39),
        mf_converges=AtMost(1e-5),
    ),
}


def bounds(scale: str) -> ScaleBounds:
    """The scale-dependent bounds: the ci ones at ci, the default ones everywhere else."""
    return BOUNDS["ci"] if scale == "ci" else BOUNDS["default"]


LARGE_ETA_RATIO = AtMost(0.97)
DRIFT_SPREAD = AtMost(0.10)
MF_BALANCE_GROWTH = AtMost(2.0)
MF_OPTIMUM_GAP = AtMost(1e-4)
MF_IMBALANCE_KEPT = AtLeast(0.5)
MF_CONSTANT_KEPT = AtMost(0.05)
MF_CONSTANT_PARTIAL = Between(0.05, 0.95)
MF_RANK1_RATE = AtMost(2e-3)
MF_PAPER_SCHEDULE = AtLeast(0.99)

# Preconditions of the factorization claims: how close to an optimum a run must end.
MF_AT_OPTIMUM = 1e-5  # for ‖U‖²/‖M‖_*: its error is at most √r times the relative error
MF_NEAR_OPTIMUM = 1e-3  # for the imbalance ‖U‖² − ‖V‖² of the optimum a run reached


# --------------------------------------------------------------------------- tables


def wide(run: pd.DataFrame) -> pd.DataFrame:
    """One run's long table as step × (quantity, layer) (or step × quantity without layers)."""
    columns = ["quantity", "layer"] if "layer" in run else "quantity"
    return run.pivot(index="step", columns=columns, values="value")


def runs(frame: pd.DataFrame, keys: list[str]) -> list[tuple[dict, pd.DataFrame]]:
    """(key dict, wide table) per run, sorted by the keys."""
    return [
        (dict(zip(keys, key, strict=True)), wide(run))
        for key, run in frame.groupby(keys, sort=True)
    ]


def monotone(loss: pd.Series) -> bool:
    """The loss never increased between logged steps."""
    return bool((loss.diff().dropna() <= 0).all())


# --------------------------------------------------------------------------- network


def pairs(w: pd.DataFrame) -> list[int]:
    """Layer pairs h (for D_h = ‖W_{h+1}‖² − ‖W_h‖²) logged in a network run."""
    return sorted({h for q, h in w.columns if q == "drift_predicted_cum"})


def d_series(w: pd.DataFrame, h: int) -> pd.Series:
    """D_h(t) = ‖W_{h+1}(t)‖² − ‖W_h(t)‖²."""
    return w[("w_sq_norm", h + 1)] - w[("w_sq_norm", h)]


def ratio_gap(w: pd.DataFrame, h: int) -> pd.Series:
    """‖W_{h+1}‖²/‖W_h‖² − (1 + D_h(0)/‖W_h‖²) = (D_h(t) − D_h(0))/‖W_h(t)‖²."""
    ratio = w[("w_sq_norm", h + 1)] / w[("w_sq_norm", h)]
    d = d_series(w, h)
    return ratio - (1.0 + d.iloc[0] / w[("w_sq_norm", h)])


@dataclass(frozen=True)
class NetworkRun:
    """The per-run statistics of one GD run of the ReLU network."""

    experiment: str
    init: str
    eta: float
    seed: int
    per_step_residual: float  # max over steps and pairs, in ε₆₄·max‖W_h‖²
    cumulative_residual: float  # max_t |D_h(t) − D_h(0) − Σ predicted| / max(1, max‖W_h‖²)
    neuron_residual: float  # max over checks of the neuron-wise residual
    homogeneity_spread: float  # max_t (max_h − min_h ⟨W_h, G_h⟩) / max_h |⟨W_h, G_h⟩|
    ratio_gap: float  # max over t and pairs of |ratio − gradient-flow prediction|
    ratio_gap_at: tuple[int, int]  # (pair h, step t) of that maximum
    d_change: float  # max_h |D_h(T) − D_h(0)| / ‖W_h(T)‖²
    balance_deviation: float  # max_h |‖W_h(T)‖²/‖W_{h+1}(T)‖² − 1|
    ratio_12: float  # ‖W_1(T)‖²/‖W_2(T)‖²
    loss_fraction: float  # L(T)/L(0)
    monotone: bool

    @property
    def label(self) -> str:
        return f"{self.init} η={self.eta:g} seed {self.seed}"

    @property
    def trained(self) -> bool:
        return self.monotone and self.loss_fraction <= TRAINED_LOSS_FRACTION


def network_run(key: dict, w: pd.DataFrame) -> NetworkRun:
    """The statistics of one run from its wide table (see :func:`wide`)."""
    hs = pairs(w)
    w_sq = w["w_sq_norm"]
    scale_t = np.maximum(1.0, w_sq.max(axis=1))
    inner = w["w_grad_inner"]
    denom = inner.abs().max(axis=1)
    ok = denom > 1e-300
    spread = ((inner.max(axis=1) - inner.min(axis=1))[ok] / denom[ok]).max()
    cumulative, gap, gap_at, d_change = 0.0, -1.0, (hs[0], 0), 0.0
    for h in hs:
        d = d_series(w, h)
        resid = ((d - d.iloc[0]) - w[("drift_predicted_cum", h)]).abs() / scale_t
        cumulative = max(cumulative, float(resid.max()))
        g = ratio_gap(w, h).abs()
        if float(g.max()) > gap:
            gap, gap_at = float(g.max()), (h, int(g.idxmax()))
        d_change = max(d_change, abs(float(d.iloc[-1] - d.iloc[0])) / float(w_sq[h].iloc[-1]))
    last = w_sq.iloc[-1]
    neuron = w.get("neuron_identity_residual_max")
    loss = w[("loss", 0)].dropna()
    return NetworkRun(
        experiment=str(key.get("experiment", "network")),
        init=str(key["init"]),
        eta=float(key["eta"]),
        seed=int(key["seed"]),
        per_step_residual=float(w[[("identity_residual_max", h) for h in hs]].max(axis=1).max()),
        cumulative_residual=cumulative,
        neuron_residual=float(np.nanmax(neuron.to_numpy())) if neuron is not None else math.nan,
        homogeneity_spread=float(spread) if ok.any() else math.nan,
        ratio_gap=gap,
        ratio_gap_at=gap_at,
        d_change=d_change,
        balance_deviation=max(abs(float(last[h] / last[h + 1]) - 1.0) for h in hs),
        ratio_12=float(last[1] / last[2]),
        loss_fraction=float(loss.iloc[-1] / loss.iloc[0]),
        monotone=monotone(loss),
    )


def network_runs(net: pd.DataFrame, experiment: str) -> tuple[list[NetworkRun], list[str]]:
    """Statistics of the finished runs of one experiment (network, large_eta or drift), and
    labels of the runs that diverged (non-finite loss; they are excluded)."""
    rows = net[net["experiment"] == experiment]
    diverged = rows[rows["diverged"]][["init", "eta", "seed"]].drop_duplicates()
    labels = [f"{r.init} η={r.eta:g} seed {r.seed}" for r in diverged.itertuples()]
    finished = rows[~rows["diverged"]]
    stats = [
        network_run({"experiment": experiment, **key}, w)
        for key, w in runs(finished, ["init", "eta", "seed"])
    ]
    return stats, labels


def drift_table(net: pd.DataFrame) -> pd.DataFrame:
    """|D_h(T) − D_h(0)|/η of the finished drift runs: columns init, seed, eta, pair,
    drift_per_eta (one row per run and pair)."""
    rows = []
    finished = net[(net["experiment"] == "drift") & ~net["diverged"]]
    for key, w in runs(finished, ["init", "eta", "seed"]):
        for h in pairs(w):
            d = d_series(w, h)
            rows.append(
                {
                    **key,
                    "pair": h,
                    "drift_per_eta": abs(float(d.iloc[-1] - d.iloc[0])) / key["eta"],
                }
            )
    return pd.DataFrame(rows, columns=["init", "eta", "seed", "pair", "drift_per_eta"])


def drift_spread(table: pd.DataFrame, pair: int = 1) -> pd.DataFrame:
    """Per (init, seed): the relative spread (max − min)/mean of |D_pair(T) − D_pair(0)|/η
    across η (O(η) total drift makes it small), with the η values and the drifts."""
    out = []
    for (init, seed), g in table[table["pair"] == pair].groupby(["init", "seed"]):
        g = g.sort_values("eta")
        values = g["drift_per_eta"].to_numpy()
        spread = (values.max() - values.min()) / values.mean() if len(values) > 1 else math.nan
        out.append(
            {
                "init": init,
                "seed": seed,
                "n_eta": len(values),
                "spread": float(spread),
                "etas": tuple(g["eta"]),
                "values": tuple(values),
            }
        )
    return pd.DataFrame(out, columns=["init", "seed", "n_eta", "spread", "etas", "values"])


# --------------------------------------------------------------------------- factorization


def measured_rate(rel_err: pd.Series, low: float = 1e-10, high: float = 1e-4) -> float:
    """Median per-step contraction e_{t+1}/e_t of the error in the window low < e < high
    (consecutive logged steps only)."""
    e = rel_err.dropna()
    steps = e.index.to_numpy()
    values = e.to_numpy()
    consecutive = np.diff(steps) == 1
    in_window = (values[:-1] < high) & (values[1:] > low)
    ratios = values[1:][consecutive & in_window] / values[:-1][consecutive & in_window]
    return float(np.median(ratios)) if len(ratios) else math.nan


def imbalance(w: pd.DataFrame) -> pd.Series:
    """‖U‖_F² − ‖V‖_F² over the run (the trace of the balance matrix UᵀU − VᵀV)."""
    return w["u_sq_norm"] - w["v_sq_norm"]


@dataclass(frozen=True)
class FactorizationRun:
    """The per-run statistics of one GD run on ½‖UVᵀ − M‖_F²."""

    study: str
    init: str
    eta0: float
    seed: int
    final_rel_err: float
    per_step_residual: float  # in ε₆₄·max(‖U‖², ‖V‖²)
    cumulative_residual: float
    balance_growth: float  # ‖UᵀU − VᵀV‖_F at T / at 0
    optimum_gap: float  # |‖U(T)‖²/‖M‖_* − 1|
    imbalance_kept: float  # (‖U‖² − ‖V‖²) at T / at 0
    rate_gap: float  # |measured − predicted rank-1 rate|, or nan (unless rank 1, constant)

    @property
    def label(self) -> str:
        return f"{self.study} {self.init} η₀={self.eta0:g} seed {self.seed}"


def factorization_run(key: dict, w: pd.DataFrame, rank: int, exponent: float) -> FactorizationRun:
    sigma = float(w["m_sigma1"].iloc[0])
    imb = imbalance(w).dropna()
    rate_gap = math.nan
    if rank == 1 and exponent == 0:
        predicted = rank1_linear_rate(key["eta0"] / sigma, sigma)
        rate_gap = abs(measured_rate(w["rel_err"]) - predicted)
    balance = w["balance_fro"].dropna()
    return FactorizationRun(
        study=str(key["study"]),
        init=str(key["init"]),
        eta0=float(key["eta0"]),
        seed=int(key["seed"]),
        final_rel_err=float(w["rel_err"].dropna().iloc[-1]),
        per_step_residual=float(w["identity_residual_max"].dropna().iloc[-1]),
        cumulative_residual=float(w["identity_residual_cum"].max()),
        balance_growth=float(balance.iloc[-1] / balance.iloc[0]),
        optimum_gap=abs(
            float(w["u_sq_norm"].dropna().iloc[-1] / w["m_nuclear_norm"].dropna().iloc[0]) - 1
        ),
        imbalance_kept=float(imb.iloc[-1] / imb.iloc[0]),
        rate_gap=rate_gap,
    )


def factorization_runs(mf: pd.DataFrame) -> tuple[list[FactorizationRun], list[str]]:
    """Statistics of the finished factorization runs, and labels of those that diverged."""
    diverged = mf[mf["diverged"]][["study", "init", "eta0", "seed"]].drop_duplicates()
    labels = [f"{r.study} {r.init} η₀={r.eta0:g} seed {r.seed}" for r in diverged.itertuples()]
    stats = []
    finished = mf[~mf["diverged"]]
    for key, run in finished.groupby(["study", "init", "eta0", "seed"], sort=True):
        key = dict(zip(["study", "init", "eta0", "seed"], key, strict=True))
        stats.append(
            factorization_run(
                key, wide(run), int(run["rank"].iloc[0]), float(run["exponent"].iloc[0])
            )
        )
    return stats, labels


def constant_reduction(stats: list[FactorizationRun]) -> dict[float, list[float]]:
    """Constant-step study: the fraction 1 − (‖U‖² − ‖V‖²)_T/(‖U‖² − ‖V‖²)_0 by which each run
    reduced the imbalance, per η₀ (0: kept, 1: balanced)."""
    out: dict[float, list[float]] = {}
    for r in stats:
        if r.study == "constant":
            out.setdefault(r.eta0, []).append(1.0 - r.imbalance_kept)
    return dict(sorted(out.items()))
