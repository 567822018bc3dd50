"""Mori, Ziyin, Liu & Ueda (2022): the statistics its claims check and its figures draw.

Pure functions of the four aggregated tables (decoupling, noise, stationary, first_passage), and
the bounds the claims judge them by. Every choice of statistic, window and tolerance is
documented in docs/papers/mori2022.md under the claim that uses it; this module only computes.

Time is t = ηk throughout. ``h*`` is the mean eigenvalue of the Hessian H = (1/N)Σ_μ x_μx_μᵀ of
the regression data set and ``n`` the number of its outlier eigenvalues (both in the tables).
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from curvlab.claims import AtLeast, AtMost, Between, Bound, Near
from curvlab.theory import mori

# =========================================================================== Fig. 1

#: Eigenvalues are compared rank by rank over the top ranks that carry this share of the
#: decoupled trace Tr Σ (the noise strength). A share of the trace means the same thing at every
#: N; a cutoff relative to λ_max does not (the bulk scales like 1/N, the top eigenvalue not).
SPECTRUM_MASS = 0.9
#: ... and must agree within this factor (one 0.18-decade bin of a log-axis histogram).
SPECTRUM_FACTOR = 1.5
SPECTRUM_BOUND = AtMost(math.log10(SPECTRUM_FACTOR))

#: The three panels of Fig. 1: initialization, the epochs in between, the last epoch.
STAGES = ("init", "mid", "late")


def spectra(dec: pd.DataFrame) -> dict[tuple[int, int], tuple[np.ndarray, np.ndarray]]:
    """(seed, epoch) → (exact, decoupled) eigenvalues, both sorted descending."""
    out = {}
    eig = dec[dec["quantity"].isin(["eig_exact", "eig_decoupled"])]
    for (seed, epoch), g in eig.groupby(["seed", "epoch"]):
        ex = np.sort(g.loc[g["quantity"] == "eig_exact", "value"].to_numpy())[::-1]
        de = np.sort(g.loc[g["quantity"] == "eig_decoupled", "value"].to_numpy())[::-1]
        out[(int(seed), int(epoch))] = (ex, de)
    return out


def spectrum_distance(exact: np.ndarray, decoupled: np.ndarray) -> dict[str, float]:
    """Rank-matched comparison of two descending spectra.

    ``max_log_ratio``: max |log10(λ_i^exact/λ_i^decoupled)| over the top ranks whose decoupled
    eigenvalues sum to ``SPECTRUM_MASS`` of the decoupled trace; ``fraction`` of ranks compared;
    ``cutoff``: the smallest decoupled eigenvalue compared; ``median_ratio``:
    λ^exact/λ^decoupled at the median rank (the small eigenvalues).
    """
    share = np.cumsum(decoupled) / decoupled.sum()
    ranks = min(int(np.searchsorted(share, SPECTRUM_MASS)) + 1, len(decoupled))
    keep = np.arange(len(decoupled)) < ranks
    keep &= exact > 0
    ratio = exact[keep] / decoupled[keep]
    mid = len(exact) // 2
    return {
        "max_log_ratio": float(np.max(np.abs(np.log10(ratio)))) if ratio.size else math.nan,
        "fraction": float(keep.mean()),
        "cutoff": float(decoupled[ranks - 1]),
        "median_ratio": float(exact[mid] / decoupled[mid]) if decoupled[mid] > 0 else math.nan,
    }


def stage(epoch: int, last: int) -> str:
    """The Fig. 1 panel an epoch belongs to: init (0), late (the last epoch), mid (between)."""
    if epoch == 0:
        return "init"
    return "late" if epoch == last else "mid"


def decoupling_distances(dec: pd.DataFrame) -> pd.DataFrame:
    """One row per (seed, measured epoch): the :func:`spectrum_distance` numbers, the loss, the
    stage, N and whether the run diverged."""
    rows = []
    losses = dec[dec["quantity"] == "loss"].set_index(["seed", "epoch"])["value"]
    diverged = dec.groupby("seed")["diverged"].any() if "diverged" in dec else None
    by_seed: dict[int, list[int]] = {}
    all_spectra = spectra(dec)
    for seed, epoch in all_spectra:
        by_seed.setdefault(seed, []).append(epoch)
    for (seed, epoch), (ex, de) in sorted(all_spectra.items()):
        d = spectrum_distance(ex, de)
        rows.append(
            {
                "seed": seed,
                "epoch": epoch,
                "stage": stage(epoch, max(by_seed[seed])),
                "n": len(ex),
                "loss": float(losses.get((seed, epoch), math.nan)),
                "diverged": bool(diverged.get(seed, False)) if diverged is not None else False,
                **d,
            }
        )
    return pd.DataFrame(rows)


# =========================================================================== Fig. 2

#: Slope of ln 𝒩 against ln L over the second half of training: 1 ± 0.2 (what a slope-1 guide
#: line on a log–log plot distinguishes by eye).
NOISE_SLOPE_BOUND = Near(1.0, 0.2)
#: A slope whose standard error exceeds half the tolerance cannot decide the claim.
NOISE_SLOPE_MAX_SE = 0.1
#: Fig. 2's two setups.
NETS = ("fc", "cnn")


def noise_runs(noise: pd.DataFrame) -> dict[tuple[str, str, int], pd.DataFrame]:
    """(net, dataset, seed) → epoch × quantity table."""
    return {
        (str(net), str(ds), int(seed)): g.pivot(index="epoch", columns="quantity", values="value")
        for (net, ds, seed), g in noise.groupby(["net", "dataset", "seed"])
    }


def late_fit(w: pd.DataFrame) -> tuple[float, float, int]:
    """Least-squares slope of ln 𝒩 against ln L over the epochs ≥ half the last epoch, its
    standard error (from the residuals) and the number of epochs used."""
    from scipy import stats

    last = int(w.index.max())
    late = w[(w.index >= last / 2) & (w["loss"] > 0) & (w["noise_strength"] > 0)]
    if len(late) < 3:
        return math.nan, math.nan, len(late)
    fit = stats.linregress(np.log(late["loss"]), np.log(late["noise_strength"]))
    return float(fit.slope), float(fit.stderr), len(late)


def noise_slopes(noise: pd.DataFrame) -> pd.DataFrame:
    """One row per (net, dataset, seed): late slope, its standard error, the epochs and losses
    of the late window, 𝒩/L at init and at both ends of the window, and divergence."""
    rows = []
    diverged = noise[noise["diverged"]][["net", "seed"]].drop_duplicates()
    for (net, dataset, seed), w in noise_runs(noise).items():
        slope, se, points = late_fit(w)
        ratio = w["noise_strength"] / w["loss"]
        last = int(w.index.max())
        first = w.iloc[-points] if points else w.iloc[-1]
        rows.append(
            {
                "net": net,
                "dataset": dataset,
                "seed": seed,
                "slope": slope,
                "slope_se": se,
                "points": points,
                "epoch_from": last - points + 1,
                "epoch_to": last,
                "loss_from": float(first["loss"]),
                "loss_to": float(w["loss"].iloc[-1]),
                "ratio_init": float(ratio.iloc[0]),
                "ratio_from": float(ratio.iloc[-points]) if points else math.nan,
                "ratio_to": float(ratio.iloc[-1]),
                "diverged": bool(((diverged["net"] == net) & (diverged["seed"] == seed)).any()),
            }
        )
    return pd.DataFrame(rows)


# =========================================================================== Fig. 3a

#: The step sizes of Fig. 3a's claims: the tolerances were measured at these (roles: small,
#: moderate, unit η).
ETA_SMALL, ETA_MID, ETA_UNIT = 0.01, 0.1, 1.0
#: η = 0.01: |mean φ̂/(1 + B/(ηh*)) − 1| per B (mean of ≥ 8 chains), and for one chain.
PHI_SMALL_MEAN = AtMost(0.025)
PHI_SMALL_CHAIN = AtMost(0.04)
MIN_CHAINS = 8
#: η = 0.1: φ̂/(1 + B/(ηh*)) for every B; |φ̂/(1 + B/(ηh*) − (B+1)/2) − 1| per B.
PHI_MID_VS_LIMIT = Between(0.86, 0.99)
PHI_MID_FINITE = AtMost(0.03)
#: η = 1: φ̂/(1 + B/(ηh*)) for every B; B ≥ 5: |φ̂/((B+1)/2) − 1|; infinite-variance B:
#: |φ̂/((1 + α)/2) − 1| with α from the run's own data set.
PHI_UNIT_VS_LIMIT = Between(0.45, 0.56)
PHI_UNIT_LARGE_BATCH = AtMost(0.05)
LARGE_BATCH_MIN = 5
PHI_UNIT_SMALL_BATCH = AtMost(0.05)
#: Epoch reshuffling: |rise of φ̂ − 2B/(ηh*N)| (≈ 2 standard errors of a difference of two
#: 8-chain means with a one-chain sd of 1.5%).
RESHUFFLE_BOUND = AtMost(0.015)


def phi_table(st: pd.DataFrame) -> pd.DataFrame:
    """One row per (sampling, eta, batch, seed, chain ≥ 0): phi_mle and the predictions for its
    data set (φ_th = 1 + B/(ηh*), φ_fin, φ_var, the Kesten (1 + α)/2 where α ≤ 2)."""
    if "sampling" not in st:
        st = st.assign(sampling="fresh")
    rows = []
    keys = ["sampling", "eta", "batch", "seed", "n_samples"]
    for (sampling, eta, batch, seed, n), g in st.groupby(keys):
        w = g.pivot(index="chain", columns="quantity", values="value")
        const = w.loc[-1]
        h, lmin = float(const["h"]), float(const["loss_min"])
        theory = mori.phi_theory(batch, eta, h)
        finite = mori.phi_finite_eta(batch, eta, h)
        var = mori.phi_variance(
            eta, int(batch), h, lmin, float(const["var_x2"]), float(const["mean_x2r2"]), int(n)
        )
        alpha = float(const["kesten_alpha"])
        kesten = mori.phi_kesten(alpha) if alpha <= 2 else math.nan
        for chain, r in w[w.index >= 0].iterrows():
            rows.append(
                {
                    "sampling": str(sampling),
                    "eta": float(eta),
                    "batch": int(batch),
                    "seed": int(seed),
                    "n_samples": int(n),
                    "chain": int(chain),
                    "phi": float(r["phi_mle"]),
                    "excess_kurtosis": float(r["excess_kurtosis"]),
                    "h": h,
                    "alpha": alpha,
                    "phi_theory": theory,
                    "phi_finite": finite,
                    "phi_var": var,
                    "phi_kesten": kesten,
                }
            )
    return pd.DataFrame(rows)


def by_batch(t: pd.DataFrame) -> pd.DataFrame:
    """Per B: the chain mean of φ̂, its standard error (chain spread), the chain count and
    the predictions (means over data sets)."""
    out = t.groupby("batch").agg(
        phi=("phi", "mean"),
        phi_sd=("phi", "std"),
        chains=("phi", "size"),
        phi_theory=("phi_theory", "mean"),
        phi_finite=("phi_finite", "mean"),
        phi_var=("phi_var", "mean"),
        phi_kesten=("phi_kesten", "mean"),
        alpha=("alpha", "mean"),
    )
    out["phi_se"] = out["phi_sd"] / np.sqrt(out["chains"])
    return out


def at_eta(t: pd.DataFrame, eta: float) -> pd.DataFrame | None:
    """The rows of step size ``eta`` (to rounding), or None if it was not run."""
    etas = [e for e in t["eta"].unique() if abs(e - eta) <= 1e-9 * max(1.0, eta)]
    return t[t["eta"] == etas[0]] if etas else None


def reshuffle_shift(t: pd.DataFrame) -> pd.DataFrame:
    """Per (η, B) run with epoch reshuffling: the relative rise of the chain-mean φ̂ over the
    fresh-minibatch runs of the same η, B and data set, and the prediction 2B/(ηh*N)."""
    t = t[np.isfinite(t["phi"])]
    mean = t.groupby(["sampling", "eta", "batch", "seed"]).agg(
        phi=("phi", "mean"), h=("h", "first"), n=("n_samples", "first"), chains=("phi", "size")
    )
    rows = []
    samplings = mean.index.get_level_values("sampling")
    if "reshuffle" not in samplings or "fresh" not in samplings:
        return pd.DataFrame(rows)
    for (eta, batch, seed), r in mean.loc["reshuffle"].iterrows():
        if (eta, batch, seed) not in mean.loc["fresh"].index:
            continue
        fresh = mean.loc["fresh"].loc[(eta, batch, seed)]
        rows.append(
            {
                "eta": eta,
                "batch": batch,
                "seed": seed,
                "shift": r["phi"] / fresh["phi"] - 1,
                "predicted": 2 * batch / (eta * r["h"] * r["n"]),
                "chains": int(min(r["chains"], fresh["chains"])),
            }
        )
    return pd.DataFrame(rows)


# =========================================================================== Fig. 3b

#: A crossing "jumped" when its step raised L by more than half of (c − 1)L*; c is flagged when
#: at least this fraction of its crossings jumped.
JUMP_FLAG = 0.5
#: Real SGD: fitted slope / (B/(ηh*) + 1 − n/2) over every reachable c, for every data set.
SGD_SLOPE_BOUND = Between(0.85, 1.75)
#: Real SGD: decades t_p rises from c = 1.25 to the c of ``RISE_TO_C`` (the top of the range a
#: horizon of about 10⁷ steps reaches, per d).
SGD_RISE_BOUND = AtLeast(3.5, unit="decades")
RISE_FROM_C = 1.25
RISE_TO_C = {1: 2.5, 2: 3.0, 4: 4.0}
#: t_p ordered in d at every c up to this one.
LOWER_N_C_MAX = 1.75
#: A fraction of cases that must be all of them.
EVERY_CASE = AtLeast(1.0, unit="(fraction of cases)")
#: Simulated t̂_p against an exact mean first-passage time: max |z| over the compared
#: (data set, c); 3.5 keeps the family-wise false-alarm rate near 1% for about 20 comparisons.
PASSAGE_Z_BOUND = AtMost(3.5, unit="standard errors")
#: Control slope / exact slope of the simulated chain: within this many standard errors of 1,
#: and never tighter than ``SLOPE_FLOOR`` (the systematic error budget: grid < 10⁻⁴, isotropic
#: approximation of H < 10⁻³, both measured).
SLOPE_Z = 3.0
SLOPE_FLOOR = 0.005
#: Bootstrap replicates (resampling chains) for the standard error of a fitted slope.
BOOTSTRAP_REPS = 400
#: The windows the earlier control statistic (slope / asymptote) was calibrated on, per d.
ASYMPTOTE_WINDOW = {1: (1.25, 3.0), 2: (2.0, math.inf), 4: (0.0, math.inf)}


def slope_ratio_bound(se: float) -> Bound:
    """1 within SLOPE_Z standard errors (at least SLOPE_FLOOR)."""
    width = max(SLOPE_Z * se, SLOPE_FLOOR) if math.isfinite(se) else SLOPE_FLOOR
    return Near(1.0, round(width, 4))


@dataclass(frozen=True)
class Crossings:
    """The crossing times of one (dynamics, d, data set) run: ``times`` (chains × c, time units,
    NaN where the chain did not cross within the horizon) and ``jumped`` (1/0, NaN likewise)."""

    dynamics: str
    dim: int
    seed: int
    eta: float
    batch: int
    n_samples: int
    cs: np.ndarray
    times: np.ndarray
    jumped: np.ndarray
    horizon: float
    constants: dict[str, float] = field(default_factory=dict)


def crossings(fp: pd.DataFrame) -> list[Crossings]:
    """Every run of the first-passage table as :class:`Crossings`."""
    out = []
    keys = ["dynamics", "dim", "eta", "batch", "n_samples", "seed", "max_steps"]
    for key, g in fp.groupby(keys):
        k = dict(zip(keys, key, strict=True))
        const = g[g["chain"] < 0].set_index("quantity")["value"].to_dict()
        body = g[g["chain"] >= 0]
        steps = body[body["quantity"] == "crossing_step"].pivot(
            index="chain", columns="c", values="value"
        )
        jumps = body[body["quantity"] == "jumped"].pivot(index="chain", columns="c", values="value")
        cs = steps.columns.to_numpy(dtype=np.float64)
        out.append(
            Crossings(
                dynamics=str(k["dynamics"]),
                dim=int(k["dim"]),
                seed=int(k["seed"]),
                eta=float(k["eta"]),
                batch=int(k["batch"]),
                n_samples=int(k["n_samples"]),
                cs=cs,
                times=steps.to_numpy(dtype=np.float64) * float(k["eta"]),
                jumped=jumps.reindex(columns=steps.columns).to_numpy(dtype=np.float64),
                # Chains that did not cross were simulated to max_steps (a run stops early only
                # once every chain crossed the largest c), so that is the censoring time.
                horizon=float(k["max_steps"]) * float(k["eta"]),
                constants={str(q): float(v) for q, v in const.items()},
            )
        )
    return out


def passage_times(fp: pd.DataFrame) -> pd.DataFrame:
    """Censored-exponential t̂_p per (dynamics, dim, seed, c), with the data set's constants;
    ``mean_se`` is the standard error of the plain mean where every chain crossed (NaN
    otherwise)."""
    rows = []
    for cr in crossings(fp):
        for j, c in enumerate(cr.cs):
            times = cr.times[:, j]
            crossed = np.isfinite(times)
            est = mori.censored_exponential_mle(np.where(crossed, times, 0.0), crossed, cr.horizon)
            jumps = cr.jumped[:, j]
            jumps = jumps[np.isfinite(jumps)]
            rows.append(
                {
                    "dynamics": cr.dynamics,
                    "dim": cr.dim,
                    "eta": cr.eta,
                    "batch": cr.batch,
                    "n_samples": cr.n_samples,
                    "seed": cr.seed,
                    "c": float(c),
                    "t_p": est.estimate,
                    "log_se": est.log_se,
                    "mean_se": float(np.std(times, ddof=1) / math.sqrt(times.size))
                    if crossed.all() and times.size > 1
                    else math.nan,
                    "crossed": est.crossed,
                    "runs": est.runs,
                    "lower_bound": est.lower_bound,
                    "jump_fraction": float(jumps.mean()) if jumps.size else math.nan,
                    "h_star": cr.constants["h_star"],
                    # n counted from the Hessian's spectrum (older tables: n = d)
                    "n": cr.constants.get("n_outliers", float(cr.dim)),
                    "loss_min": cr.constants["loss_min"],
                    "max_kick_c": cr.constants.get("max_kick_c", math.nan),
                }
            )
    return pd.DataFrame(rows)


def theory_slope(row: pd.Series | dict) -> float:
    """B/(ηh*) + 1 − n/2 with h* and n measured from the data set's Hessian (Eq. 17)."""
    return mori.escape_exponent(row["batch"], row["eta"], row["h_star"], row["n"])


def _weighted_slope(x: np.ndarray, y: np.ndarray, sigma: np.ndarray) -> np.ndarray:
    """Weighted least-squares slopes of y (…, points) on x (points) with fixed weights 1/σ²."""
    w = 1.0 / np.square(sigma)
    xm = np.sum(w * x) / np.sum(w)
    ym = np.sum(w * y, axis=-1, keepdims=True) / np.sum(w)
    return np.sum(w * (x - xm) * (y - ym), axis=-1) / np.sum(w * (x - xm) ** 2)


def fits(tp: pd.DataFrame, c_min: float = 0.0, c_max: float = math.inf) -> pd.DataFrame:
    """Power-law and Arrhenius fits per (dynamics, dim, seed) over the reachable c in range
    (the c with at least 10 crossings), weighted by 1/SE² of ln t̂_p."""
    rows = []
    for (dyn, dim, seed), g in tp.groupby(["dynamics", "dim", "seed"]):
        ok = g[~g["lower_bound"] & (g["c"] >= c_min - 1e-9) & (g["c"] <= c_max + 1e-9)]
        power = mori.power_law_fit(ok["c"], ok["t_p"], ok["log_se"])
        arr = mori.arrhenius_fit(ok["c"], ok["t_p"], ok["log_se"])
        first = g.iloc[0]
        top = ok.iloc[-1] if len(ok) else None
        rows.append(
            {
                "dynamics": dyn,
                "dim": int(dim),
                "seed": int(seed),
                "points": len(ok),
                "cs": tuple(float(c) for c in ok["c"]),
                "c_low": float(ok["c"].min()) if len(ok) else math.nan,
                "c_high": float(ok["c"].max()) if len(ok) else math.nan,
                "slope": power.slope,
                "slope_se": power.slope_se,
                "theory": theory_slope(first),
                "chi2_power": power.chi2_dof,
                "chi2_arrhenius": arr.chi2_dof,
                "arrhenius_k": arr.slope,
                "top_jump_fraction": float(top["jump_fraction"]) if top is not None else math.nan,
                "max_kick_c": float(first["max_kick_c"]),
            }
        )
    return pd.DataFrame(rows)


def bootstrap_slope_se(
    cr: Crossings, cs: tuple[float, ...], sigma: np.ndarray, reps: int = BOOTSTRAP_REPS
) -> float:
    """Standard error of the weighted power-law slope over ``cs`` (fixed weights 1/σ²), by
    resampling the chains with replacement: the crossing times of one chain at different c are
    correlated, which the least-squares error of independent points ignores. Deterministic
    (the generator is seeded by the run's keys)."""
    cols = [int(np.argmin(np.abs(cr.cs - c))) for c in cs]
    times = cr.times[:, cols]
    crossed = np.isfinite(times)
    exposure = np.where(crossed, times, cr.horizon)
    rng = np.random.default_rng([cr.dim, cr.seed, len(cr.dynamics), reps])
    pick = rng.integers(0, times.shape[0], size=(reps, times.shape[0]))
    k = crossed[pick].sum(axis=1)
    total = exposure[pick].sum(axis=1)
    usable = (k > 0).all(axis=1)
    if usable.sum() < reps // 2:
        return math.nan
    t_p = total[usable] / k[usable]
    slopes = _weighted_slope(np.log(np.asarray(cs)), np.log(t_p), np.asarray(sigma))
    return float(np.std(slopes, ddof=1))


@functools.lru_cache(maxsize=256)
def _control_reference(
    cs: tuple[float, ...], n: int, batch: float, eta: float, h_star: float
) -> tuple[float, ...]:
    return tuple(float(v) for v in mori.control_chain_mfpt(np.asarray(cs), n, batch, eta, h_star))


def control_reference(
    cs: tuple[float, ...] | np.ndarray, n: int, batch: float, eta: float, h_star: float
) -> np.ndarray:
    """Exact mean first-passage times (time units) of the simulated control chain at ``cs``,
    with H replaced by h*I on its n outlier directions (:func:`mori.control_chain_mfpt`)."""
    key = tuple(round(float(c), 12) for c in np.atleast_1d(cs))
    return np.asarray(
        _control_reference(key, int(n), float(batch), float(eta), round(float(h_star), 12))
    )


def control_slopes(fp: pd.DataFrame) -> pd.DataFrame:
    """Per control run (d, data set): the fitted slope of ln t̂_p vs ln c over the reachable c,
    its bootstrap standard error, the slope of the exact discrete-chain reference over the same
    c with the same weights, their ratio and its standard error; the earlier statistic (slope /
    asymptote B/(ηh*) + 1 − n/2 over the d's calibration window) and what the exact chain gives
    for it; the slope of the continuous-time SDE's exact t_p over the same c; and t̂_p/T per c."""
    tp = passage_times(fp)
    tp = tp[tp["dynamics"] == "control"]
    if tp.empty:
        return pd.DataFrame()
    runs = {(cr.dim, cr.seed): cr for cr in crossings(fp) if cr.dynamics == "control"}
    rows = []
    for f in fits(tp).itertuples():
        g = tp[(tp["dim"] == f.dim) & (tp["seed"] == f.seed)].set_index("c")
        first = g.iloc[0]
        n = int(round(first["n"]))
        row = {
            "dim": f.dim,
            "seed": f.seed,
            "points": f.points,
            "cs": f.cs,
            "slope": f.slope,
            "h_star": float(first["h_star"]),
            "n": n,
            "theory": f.theory,
        }
        if f.points >= 2:
            cs = np.asarray(f.cs)
            sigma = g.loc[list(f.cs), "log_se"].to_numpy()
            ref = control_reference(cs, n, first["batch"], first["eta"], first["h_star"])
            ref_slope = float(_weighted_slope(np.log(cs), np.log(ref), sigma))
            se = bootstrap_slope_se(runs[(f.dim, f.seed)], f.cs, sigma)
            sde = mori.mean_first_passage_isotropic(
                cs, n, first["batch"], first["eta"], first["h_star"]
            )
            low, high = ASYMPTOTE_WINDOW.get(int(f.dim), (0.0, math.inf))
            window = (cs >= low - 1e-9) & (cs <= high + 1e-9)
            if window.sum() >= 2:
                old = float(
                    _weighted_slope(
                        np.log(cs[window]),
                        np.log(g.loc[cs[window], "t_p"].to_numpy()),
                        sigma[window],
                    )
                )
                old_ref = float(
                    _weighted_slope(np.log(cs[window]), np.log(ref[window]), sigma[window])
                )
            else:
                old = old_ref = math.nan
            row |= {
                "ref_slope": ref_slope,
                "slope_se": se,
                "ratio": f.slope / ref_slope,
                "ratio_se": se / ref_slope,
                "sde_slope": float(_weighted_slope(np.log(cs), np.log(sde), sigma)),
                "window": (low, high),
                "old_ratio": old / f.theory,
                "old_ref_ratio": old_ref / f.theory,
                "tp_over_ref": tuple(g.loc[list(f.cs), "t_p"].to_numpy() / ref),
            }
        rows.append(row)
    return pd.DataFrame(rows)


def control_slope_by_dim(slopes: pd.DataFrame) -> pd.DataFrame:
    """Per d: the mean over data sets of slope / exact slope, its standard error (from the
    bootstrap errors of the data sets), the number of data sets, |mean − 1| in standard errors,
    the half-width of :func:`slope_ratio_bound` and |mean − 1| in units of it (> 1: outside)."""
    rows = []
    for dim, g in slopes.groupby("dim"):
        m = len(g)
        se = float(np.sqrt(np.sum(np.square(g["ratio_se"]))) / m)
        mean = float(g["ratio"].mean())
        width = slope_ratio_bound(se).tol
        rows.append(
            {
                "dim": int(dim),
                "ratio": mean,
                "ratio_se": se,
                "sets": m,
                "z": abs(mean - 1) / se,
                "width": width,
                "margin": abs(mean - 1) / width,
            }
        )
    return pd.DataFrame(rows)


def arrhenius_cases(tp: pd.DataFrame, dynamics: str = "sgd") -> pd.DataFrame:
    """Per (d, data set) of ``dynamics``: both χ²/dof over every reachable c, whether Arrhenius
    fits better, the jump fraction at the top fitted c and whether that c is flagged
    (jump-dominated: the crossings there are mostly single-step jumps), and the largest L/L*
    one step reaches from θ*."""
    f = fits(tp[tp["dynamics"] == dynamics])
    if f.empty:
        return f
    f["arrhenius_wins"] = f["chi2_arrhenius"] < f["chi2_power"]
    f["jump_dominated"] = f["top_jump_fraction"] >= JUMP_FLAG
    return f


def rebuilt_problem(cr: Crossings):
    """The regression data set of a run, rebuilt from its seed, and whether its L* and h*
    match the table's constants (relative 10⁻⁹)."""
    from curvlab.experiments.mori2022 import regression_problem

    prob = regression_problem(cr.n_samples, cr.dim, cr.seed)
    same = math.isclose(prob.loss_min, cr.constants["loss_min"], rel_tol=1e-9) and math.isclose(
        prob.h_star, cr.constants["h_star"], rel_tol=1e-9
    )
    return prob, same


@functools.lru_cache(maxsize=64)
def _sgd_exact_1d(n_samples: int, seed: int, eta: float, c: float) -> float:
    from curvlab.experiments.mori2022 import regression_problem

    prob = regression_problem(n_samples, 1, seed)
    return mori.sgd_chain_mfpt_1d(prob.x[:, 0], prob.r, eta, c)


def sgd_exact_1d(fp: pd.DataFrame) -> pd.DataFrame:
    """Real B = 1 SGD at d = 1, at every c where all chains crossed: the mean crossing time, its
    standard error, the exact mean first-passage time of the SGD chain on the same data set
    (rebuilt from its seed, :func:`mori.sgd_chain_mfpt_1d`) and z = (t̂ − T)/SE. ``matches``
    says whether the rebuilt data set has the table's L* and h*."""
    rows = []
    for cr in crossings(fp):
        if cr.dynamics != "sgd" or cr.dim != 1 or cr.batch != 1:
            continue
        _, same = rebuilt_problem(cr)
        for j, c in enumerate(cr.cs):
            times = cr.times[:, j]
            if not np.isfinite(times).all() or times.size < 2:
                continue
            mean = float(times.mean())
            se = float(times.std(ddof=1) / math.sqrt(times.size))
            exact = _sgd_exact_1d(cr.n_samples, cr.seed, cr.eta, float(c)) if same else math.nan
            rows.append(
                {
                    "seed": cr.seed,
                    "c": float(c),
                    "t_p": mean,
                    "se": se,
                    "exact": exact,
                    "z": (mean - exact) / se,
                    "matches": same,
                }
            )
    return pd.DataFrame(rows)


def rises(tp: pd.DataFrame) -> pd.DataFrame:
    """Real SGD, per (d, data set): log10 t̂_p(c_top)/t̂_p(1.25), c_top = RISE_TO_C[d], and the
    largest c the run reached (≥ 10 crossings); NaN where c_top was not reached."""
    rows = []
    sgd = tp[tp["dynamics"] == "sgd"]
    for (dim, seed), g in sgd.groupby(["dim", "seed"]):
        ok = g[~g["lower_bound"]].set_index("c")["t_p"]
        top = RISE_TO_C.get(int(dim), math.nan)
        reached = float(ok.index.max()) if len(ok) else math.nan
        have = (
            [c for c in ok.index if math.isclose(c, RISE_FROM_C)],
            [c for c in ok.index if math.isclose(c, top)],
        )
        value = math.log10(ok[have[1][0]] / ok[have[0][0]]) if have[0] and have[1] else math.nan
        rows.append(
            {"dim": int(dim), "seed": int(seed), "c_top": top, "reached": reached, "rise": value}
        )
    return pd.DataFrame(rows)


def dimension_order(tp: pd.DataFrame) -> pd.DataFrame:
    """Real SGD, per (data set index, c) where every d was reached: whether t̂_p strictly
    decreases with d (lower effective dimension more stable)."""
    sgd = tp[(tp["dynamics"] == "sgd") & ~tp["lower_bound"]]
    table = sgd.pivot_table(index=["seed", "c"], columns="dim", values="t_p").dropna()
    if table.shape[1] < 2:
        return pd.DataFrame(columns=["seed", "c", "ordered"])
    ordered = (table.diff(axis=1).iloc[:, 1:] < 0).all(axis=1)
    return ordered.rename("ordered").reset_index()
