"""Mori, Ziyin, Liu & Ueda (2022): the claims of papers.md §5.4, with the corrections and
tolerances measured in §5.7 (they win over the issue's claim list where the two disagree).

Figs. 3a/3b use the §5.7 table. Figs. 1 and 2 were not simulated for papers.md, so their
tolerances are this module's own, stated in the rows and marked [R]: they were fixed from what
the paper's figures can show (histograms on a log axis, a slope-1 guide line), not from the runs.
Every number is computed from the run's tables; the analysis helpers here are also what the
figures draw, so a figure and its claim never disagree.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

import numpy as np
import pandas as pd

from curvlab.claims import Claim, ClaimMaker, at_least, at_most, not_measured, within
from curvlab.theory import mori

PAPER = "mori2022"
SRC = "papers.md §5.7"
SRC_R = "papers.md §5.4 [R] (Figs. 1–2 were not simulated in §5.7)"

#: Fig. 1: eigenvalues compared rank by rank over the top ranks that carry this share of the
#: decoupled trace, i.e. of the noise strength Tr Σ ([R]). A share of the trace means the same
#: thing at every N; a cutoff relative to λ_max did not (it kept 86–93% of the ranks at N = 300
#: and 11–14% at N = 2,000, because the bulk scales like 1/N and the top eigenvalue does not).
SPECTRUM_MASS = 0.9
#: ... and must agree within this factor ([R]: a 0.18-decade bin of a log-axis histogram).
SPECTRUM_FACTOR = 1.5
#: Fig. 2: slope of ln 𝒩 against ln L over the second half of training, 1 ± this ([R]).
NOISE_SLOPE_TOL = 0.2
#: Fig. 3b: the largest c the §5.7 verification reached per d (SGD, ~5 CPU-min per d).
REACHED_C = {1: 2.5, 2: 3.0, 4: 4.0}
#: Fig. 3b: the verified mean first-passage time of SGD at c = 1.5 per d (±25%).
TP_AT_1_5 = {1: 75.0, 2: 21.0, 4: 4.1}
#: Fig. 3a sampling check: |rise − 2B/(ηh*N)| at most this ([R]: §5.7 states the prediction,
#: not a tolerance; 2 standard errors of a difference of two 8-chain means, sd ≈ 1.5% each).
RESHUFFLE_TOL = 0.015
#: Fig. 3b control: fitted slope / slope of the exact finite-c t_p of Eq. 13, 1 ± this ([R]).
EXACT_SLOPE_TOL = 0.05
SRC_EXACT = "papers.md §5.3 Eq. 13 [R] (exact first-passage time by quadrature; not in §5.7)"
#: Fig. 3a, η = 1, B = 1 and 2 (infinite variance): the verified φ̂.
PHI_ETA1_SMALL_B = {1: 1.03, 2: 1.54}


_claim = ClaimMaker(PAPER, SRC)


def _fmt(values: Iterable[float], digits: int = 3) -> str:
    return ", ".join(f"{v:.{digits}g}" for v in values)


# =========================================================================== Fig. 1


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


def decoupling_claims(dec: pd.DataFrame) -> list[Claim]:
    cid = "decoupling_spectra"
    text = "Fig. 1: exact and decoupled noise spectra agree except for very small eigenvalues"
    if dec.empty:
        return [_claim.missing(cid, text, "decoupling experiment disabled", SRC_R)]
    claims = []
    bound = math.log10(SPECTRUM_FACTOR)
    for (seed, epoch), (ex, de) in sorted(spectra(dec).items()):
        d = spectrum_distance(ex, de)
        claims.append(
            _claim(
                f"decoupling_epoch{epoch}" + (f"_seed{seed}" if seed else ""),
                f"{text} — epoch {epoch}: max over the top ranks i that carry "
                f"{100 * SPECTRUM_MASS:g}% of Tr Σ^dec ({100 * d['fraction']:.1f}% of the "
                f"N = {len(ex)} eigenvalues, λ_i^dec ≥ {d['cutoff']:.3g}) of "
                "|log10(λ_i^exact/λ_i^dec)| (rank-matched; exact = eigenvalues of "
                "(1/N)D^{1/2}KD^{1/2}, decoupled = of (L/N)K, K the NTK Gram matrix). Below the "
                f"cutoff they part: λ^exact/λ^dec = {d['median_ratio']:.3g} at the median rank",
                d["max_log_ratio"],
                f"≤ {bound:.3f} (within a factor {SPECTRUM_FACTOR:g})",
                f"≤ log10({SPECTRUM_FACTOR:g}) [R]",
                at_most(d["max_log_ratio"], bound),
                source=SRC_R,
            )
        )
    return claims


# =========================================================================== Fig. 2


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


def late_slope(w: pd.DataFrame) -> tuple[float, int]:
    """Least-squares slope of ln 𝒩 against ln L over the epochs ≥ half the last epoch."""
    slope, _, points = late_fit(w)
    return slope, points


def noise_claims(noise: pd.DataFrame) -> list[Claim]:
    text = "Fig. 2: 𝒩 ∝ L at a later stage of training"
    if noise.empty:
        return [_claim.missing("noise_late_slope", text, "noise experiment disabled", SRC_R)]
    claims = []
    diverged = noise[noise["diverged"]][["net", "seed"]].drop_duplicates()
    for (net, dataset, seed), w in noise_runs(noise).items():
        cid = f"noise_late_slope_{net}" + (f"_seed{seed}" if seed else "")
        if ((diverged["net"] == net) & (diverged["seed"] == seed)).any():
            claims.append(
                _claim(cid, f"{text} ({net}): the run diverged", math.nan, "-", "-", False)
            )
            continue
        slope, slope_se, points = late_fit(w)
        ratio = w["noise_strength"] / w["loss"]
        last = int(w.index.max())
        where = (
            f"{net} net on {dataset}: slope of ln 𝒩 vs ln L over epochs "
            f"{last - points + 1}–{last} (L from {w['loss'].iloc[-points]:.3g} to "
            f"{w['loss'].iloc[-1]:.3g}); 𝒩/L = {ratio.iloc[0]:.3g} at init, "
            f"{ratio.iloc[-points]:.3g} and {ratio.iloc[-1]:.3g} at the ends of that range"
        )
        if not slope_se <= NOISE_SLOPE_TOL:
            # The late loss range is too narrow for a slope: no later stage of training was
            # reached (e.g. the net is still on the constant-prediction plateau).
            claims.append(
                not_measured(
                    PAPER,
                    cid,
                    f"{text} — {where}",
                    f"the fitted slope {slope:.3g} has a standard error {slope_se:.3g} larger "
                    f"than the tolerance {NOISE_SLOPE_TOL}: L changed by only "
                    f"{100 * (1 - w['loss'].iloc[-1] / w['loss'].iloc[-points]):.2g}% over the "
                    "late epochs, so no later stage of training was reached at this scale",
                    SRC_R,
                )
            )
            continue
        claims.append(
            _claim(
                cid,
                f"{text} — {where}; slope standard error {slope_se:.2g}",
                slope,
                f"1 ± {NOISE_SLOPE_TOL}",
                f"|slope − 1| ≤ {NOISE_SLOPE_TOL} [R]",
                within(slope, 1 - NOISE_SLOPE_TOL, 1 + NOISE_SLOPE_TOL),
                source=SRC_R,
            )
        )
    return claims


# =========================================================================== Fig. 3a


def phi_table(st: pd.DataFrame) -> pd.DataFrame:
    """One row per (sampling, eta, batch, seed, chain ≥ 0): phi_mle and the predictions for its
    data set."""
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
                    "phi_theory": theory,
                    "phi_finite": finite,
                    "phi_var": var,
                    "phi_kesten": kesten,
                }
            )
    return pd.DataFrame(rows)


def _by_batch(t: pd.DataFrame) -> pd.DataFrame:
    return t.groupby("batch").agg(
        phi=("phi", "mean"),
        chains=("phi", "size"),
        phi_theory=("phi_theory", "mean"),
        phi_finite=("phi_finite", "mean"),
        phi_var=("phi_var", "mean"),
        phi_kesten=("phi_kesten", "mean"),
    )


def _close(a: float, b: float) -> bool:
    return abs(a - b) <= 1e-9 * max(1.0, abs(b))


def stationary_claims(st: pd.DataFrame) -> list[Claim]:
    text = "Fig. 3a: φ of P(θ) ∝ L^{−φ} matches 1 + B/(ηh*)"
    if st.empty:
        return [_claim.missing("phi", text, "stationary experiment disabled")]
    everything = phi_table(st)
    t = everything[everything["sampling"] == "fresh"]
    claims: list[Claim] = []
    diverged = st[st["diverged"]][["eta", "batch"]].drop_duplicates()
    if len(diverged):
        claims.append(
            _claim(
                "phi_runs_diverged",
                "Stationary runs with a non-finite θ (excluded): "
                + "; ".join(f"η = {r.eta:g}, B = {r.batch}" for r in diverged.itertuples()),
                len(diverged),
                "0",
                "0",
                False,
            )
        )
        t = t[np.isfinite(t["phi"])]
    etas = sorted(t["eta"].unique())

    def at(eta_value: float) -> pd.DataFrame | None:
        match = [e for e in etas if _close(e, eta_value)]
        return t[t["eta"] == match[0]] if match else None

    small = at(0.01)
    if small is None:
        claims.append(_claim.missing("phi_eta0.01", text, "η = 0.01 not run"))
    else:
        b = _by_batch(small)
        dev = b["phi"] / b["phi_theory"] - 1
        dev_var = b["phi_var"] / b["phi_theory"] - 1
        worst = float(dev.abs().max())
        chains = int(b["chains"].min())
        claims.append(
            _claim(
                "phi_eta0.01_mean",
                f"{text} at η = 0.01 (mean of {chains} chains per B): max over B = "
                f"{_fmt(b.index)} of |φ̂/(1 + B/(ηh*)) − 1|; per B "
                f"{_fmt(100 * dev, 2)}% (the data set's discrete-time prediction φ_var is at "
                f"{_fmt(100 * dev_var, 2)}%)"
                + (" — fewer than the 8 chains the tolerance assumes" if chains < 8 else ""),
                worst,
                "≤ 0.025",
                "±2.5% for the mean of ≥ 8 chains",
                at_most(worst, 0.025),
            )
        )
        # §5.7's "±4% one chain" is the tolerance of a one-chain run: it is applied to one
        # chain per B (chain 0, what a one-chain run of this protocol produces). The max over
        # all 8 × (number of B) chains would be a multiple comparison the tolerance was not
        # derived for (one-chain sd 1.4–1.9%: ±4% is ~2 sd); it is reported alongside.
        chain_dev = small["phi"] / small["phi_theory"] - 1
        first = small[small["chain"] == small["chain"].min()].set_index("batch")
        one = (first["phi"] / first["phi_theory"] - 1).sort_index()
        within4 = float((chain_dev.abs() <= 0.04).mean())
        claims.append(
            _claim(
                "phi_eta0.01_chain",
                f"{text} at η = 0.01, one chain (the one-chain protocol: chain "
                f"{int(small['chain'].min())} of each B): max over B = {_fmt(one.index)} of "
                f"|φ̂/(1 + B/(ηh*)) − 1|; per B {_fmt(100 * one, 2)}%. Over all "
                f"{len(chain_dev)} chains: sd {100 * chain_dev.std():.2g}% (verified 1.4–1.9%), "
                f"max |deviation| {100 * chain_dev.abs().max():.2g}%, "
                f"{100 * within4:.0f}% of the chains within ±4%",
                float(one.abs().max()),
                "≤ 0.04",
                "±4% for one chain",
                at_most(float(one.abs().max()), 0.04),
            )
        )

    mid = at(0.1)
    if mid is None:
        claims.append(_claim.missing("phi_eta0.1", text, "η = 0.1 not run"))
    else:
        b = _by_batch(mid)
        ratio = b["phi"] / b["phi_theory"]
        worst = float(ratio.iloc[np.argmax(np.abs(ratio.to_numpy() - 0.925))])
        claims.append(
            _claim(
                "phi_eta0.1_vs_limit",
                "Fig. 3a at η = 0.1: φ̂ lies 1–14% below the η → 0 prediction 1 + B/(ηh*) (the "
                "paper shows agreement; §5.4 claim 3 [conflict]): φ̂/(1 + B/(ηh*)) per B = "
                f"{_fmt(b.index)}: {_fmt(ratio, 4)} (value farthest from the band shown)",
                worst,
                "in [0.86, 0.99]",
                "[0.86, 0.99]",
                bool(ratio.between(0.86, 0.99).all()),
                agrees=False,
            )
        )
        fin = b["phi"] / b["phi_finite"] - 1
        var = b["phi"] / b["phi_var"] - 1
        claims.append(
            _claim(
                "phi_eta0.1_finite_eta",
                "Fig. 3a at η = 0.1: φ̂ matches the finite-η correction 1 + B/(ηh*) − (B+1)/2 "
                f"(§5.7 correction 1): max |φ̂/φ_fin − 1| over B; per B {_fmt(100 * fin, 2)}% "
                f"(vs the data set's φ_var: {_fmt(100 * var, 2)}%)",
                float(fin.abs().max()),
                "≤ 0.03",
                "±3%",
                at_most(float(fin.abs().max()), 0.03),
                agrees=False,
            )
        )

    large = at(1.0)
    if large is None:
        claims.append(_claim.missing("phi_eta1", text, "η = 1 not run"))
    else:
        b = _by_batch(large)
        ratio = b["phi"] / b["phi_theory"]
        worst = float(ratio.iloc[np.argmax(np.abs(ratio.to_numpy() - 0.505))])
        claims.append(
            _claim(
                "phi_eta1_vs_limit",
                "Fig. 3a at η = 1: φ̂ is about half of 1 + B/(ηh*) for every B, not 'slightly' "
                "off as the paper says (§5.4 claim 3 [conflict]): φ̂/(1 + B/(ηh*)) per B = "
                f"{_fmt(b.index)}: {_fmt(ratio, 4)} (value farthest from the band shown)",
                worst,
                "in [0.45, 0.56]",
                "[0.45, 0.56]",
                bool(ratio.between(0.45, 0.56).all()),
                agrees=False,
            )
        )
        big = b[b.index >= 5]
        if len(big):
            dev = big["phi"] / ((big.index + 1) / 2) - 1
            claims.append(
                _claim(
                    "phi_eta1_large_batch",
                    "Fig. 3a at η = 1, B ≥ 5: φ̂ ≈ (B + 1)/2 (the finite-η correction at η = 1): "
                    f"max |φ̂/((B+1)/2) − 1| over B = {_fmt(big.index)}; per B "
                    f"{_fmt(100 * dev, 2)}%",
                    float(dev.abs().max()),
                    "≤ 0.05",
                    "±5%",
                    at_most(float(dev.abs().max()), 0.05),
                    agrees=False,
                )
            )
        tiny = b[b.index.isin(list(PHI_ETA1_SMALL_B))]
        if len(tiny):
            ref = np.array([PHI_ETA1_SMALL_B[int(B)] for B in tiny.index])
            dev = tiny["phi"].to_numpy() / ref - 1
            claims.append(
                _claim(
                    "phi_eta1_small_batch",
                    "Fig. 3a at η = 1, B = 1, 2 (infinite stationary variance): φ̂ per B = "
                    f"{_fmt(tiny.index)}: {_fmt(tiny['phi'], 4)} vs the verified "
                    f"{_fmt(ref)}; Kesten's tail prediction (1 + α)/2, E|1 − η⟨x²⟩_B|^α = 1: "
                    f"{_fmt(tiny['phi_kesten'], 4)}. Max relative deviation from the verified",
                    float(np.abs(dev).max()),
                    "≤ 0.05",
                    "±5% of 1.03 (B = 1), 1.54 (B = 2)",
                    at_most(float(np.abs(dev).max()), 0.05),
                    agrees=False,
                )
            )
    claims += reshuffle_claims(everything)
    return claims


def reshuffle_shift(t: pd.DataFrame) -> pd.DataFrame:
    """Per (η, B) run with epoch reshuffling: the relative rise of the chain-mean φ̂ over the
    fresh-minibatch runs of the same η, B and data set, and the §5.7 prediction 2B/(ηh*N)."""
    t = t[np.isfinite(t["phi"])]
    mean = t.groupby(["sampling", "eta", "batch", "seed"]).agg(
        phi=("phi", "mean"), h=("h", "first"), n=("n_samples", "first"), chains=("phi", "size")
    )
    rows = []
    if "reshuffle" not in mean.index.get_level_values("sampling"):
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


def reshuffle_claims(t: pd.DataFrame) -> list[Claim]:
    cid = "phi_reshuffle_shift"
    text = "Fig. 3a sampling check: epoch reshuffling raises φ̂ by ≈ 2B/(ηh*N) (§5.7 correction 8)"
    if not (t["sampling"] == "reshuffle").any():
        return [_claim.missing(cid, text, "no reshuffled runs")]
    r = reshuffle_shift(t)
    if r.empty:
        return [_claim.missing(cid, text, "no fresh runs at the same η and B")]
    gap = r["shift"] - r["predicted"]
    worst = float(gap.abs().max())
    return [
        _claim(
            cid,
            f"{text}: max over (η, B) of |rise − 2B/(ηh*N)| (rise = φ̂_reshuffle/φ̂_fresh − 1, "
            f"chain means, ≥ {int(r['chains'].min())} chains each); per (η, B) "
            + "; ".join(
                f"η = {x.eta:g}, B = {x.batch}: {100 * x.shift:+.2f}% vs {100 * x.predicted:+.2f}%"
                for x in r.itertuples()
            )
            + " (§5.7: +4.0% vs 4.0% at B = 20, +1.8% vs 2.0% at B = 10, η = 0.01)",
            worst,
            f"≤ {RESHUFFLE_TOL}",
            f"±{100 * RESHUFFLE_TOL:g} percentage points [R] (≈ 2 standard errors of a difference "
            "of two 8-chain means with one-chain sd ≈ 1.5%)",
            at_most(worst, RESHUFFLE_TOL),
        )
    ]


# =========================================================================== Fig. 3b


def passage_times(fp: pd.DataFrame) -> pd.DataFrame:
    """Censored-exponential t̂_p per (dynamics, dim, seed, c), with the data set's constants."""
    rows = []
    keys = ["dynamics", "dim", "eta", "batch", "seed", "max_steps"]
    for key, g in fp.groupby(keys):
        k = dict(zip(keys, key, strict=True))
        const = g[g["chain"] < 0].set_index("quantity")["value"]
        # Chains that did not cross were simulated to max_steps (a run stops early only once
        # every chain crossed the largest c), so that is the censoring time.
        horizon = float(k["max_steps"]) * k["eta"]
        for c, gc in g[g["quantity"] == "crossing_step"].groupby("c"):
            steps = gc["value"].to_numpy()
            crossed = np.isfinite(steps)
            times = np.where(crossed, steps, 0.0) * k["eta"]
            est = mori.censored_exponential_mle(times, crossed, horizon)
            jumps = g[(g["quantity"] == "jumped") & (g["c"] == c)]["value"].dropna()
            rows.append(
                {
                    **k,
                    "c": float(c),
                    "t_p": est.estimate,
                    "log_se": est.log_se,
                    "crossed": est.crossed,
                    "runs": est.runs,
                    "lower_bound": est.lower_bound,
                    "jump_fraction": float(jumps.mean()) if len(jumps) else math.nan,
                    "h_star": float(const["h_star"]),
                    # n counted from the Hessian's spectrum (older tables: n = d)
                    "n": float(const.get("n_outliers", k["dim"])),
                    "loss_min": float(const["loss_min"]),
                    "max_kick_c": float(const["max_kick_c"]),
                }
            )
    return pd.DataFrame(rows)


def theory_slope(row: pd.Series | dict) -> float:
    """B/(ηh*) + 1 − n/2 with h* and n measured from the data set's Hessian."""
    return mori.escape_exponent(row["batch"], row["eta"], row["h_star"], row["n"])


def mfpt_slope(row: pd.Series | dict, cs: np.ndarray) -> float:
    """Slope of ln t_p vs ln c, fitted over ``cs``, of the exact continuous-time mean
    first-passage time of Eq. 13 with H = h*I (:func:`mori.mean_first_passage_isotropic`):
    what the paper's own noise model gives at these finite c (the asymptote is theory_slope)."""
    cs = np.asarray(cs, dtype=np.float64)
    if cs.size < 2:
        return math.nan
    t = mori.mean_first_passage_isotropic(
        cs, int(round(row["n"])), row["batch"], row["eta"], row["h_star"]
    )
    return float(np.polyfit(np.log(cs), np.log(t), 1)[0])


def fits(tp: pd.DataFrame, c_min: float = 0.0, c_max: float = math.inf) -> pd.DataFrame:
    """Power-law and Arrhenius fits per (dynamics, dim, seed) over the reachable c in range."""
    rows = []
    for (dyn, dim, seed), g in tp.groupby(["dynamics", "dim", "seed"]):
        ok = g[~g["lower_bound"] & (g["c"] >= c_min - 1e-9) & (g["c"] <= c_max + 1e-9)]
        power = mori.power_law_fit(ok["c"], ok["t_p"], ok["log_se"])
        arr = mori.arrhenius_fit(ok["c"], ok["t_p"], ok["log_se"])
        first = g.iloc[0]
        rows.append(
            {
                "dynamics": dyn,
                "dim": int(dim),
                "seed": int(seed),
                "points": len(ok),
                "c_low": float(ok["c"].min()) if len(ok) else math.nan,
                "c_high": float(ok["c"].max()) if len(ok) else math.nan,
                "slope": power.slope,
                "slope_se": power.slope_se,
                "theory": theory_slope(first),
                "mfpt_slope": mfpt_slope(first, ok["c"].to_numpy()),
                "chi2_power": power.chi2_dof,
                "chi2_arrhenius": arr.chi2_dof,
                "arrhenius_k": arr.slope,
            }
        )
    return pd.DataFrame(rows)


def _control_range(dim: int) -> tuple[float, float, tuple[float, float], bool, str]:
    """(c_min, c_max, expected slope/theory band, agrees with paper, fit range words)."""
    if dim == 1:
        return 1.25, 3.0, (0.95, 1.05), True, "c ∈ [1.25, 3]"
    if dim == 2:
        return 2.0, math.inf, (0.95, 1.05), True, "c ≥ 2"
    return 0.0, math.inf, (0.90, 0.95), False, "all reachable c"


def first_passage_claims(fp: pd.DataFrame) -> list[Claim]:
    text = "Fig. 3b: log t_p vs log c has slope B/(ηh*) + 1 − n/2"
    if fp.empty:
        return [_claim.missing("first_passage", text, "first-passage experiment off")]
    tp = passage_times(fp)
    claims: list[Claim] = []
    control = tp[tp["dynamics"] == "control"]
    sgd = tp[tp["dynamics"] == "sgd"]

    # --- the decoupled-noise control: the paper's noise model
    if control.empty:
        claims.append(_claim.missing("control_slope", text, "control not run"))
    for dim in sorted(control["dim"].unique()):
        if dim not in (1, 2, 4):
            continue
        c_min, c_max, (low, high), agrees, words = _control_range(int(dim))
        f = fits(control[control["dim"] == dim], c_min, c_max)
        cid = f"control_slope_d{dim}"
        if (f["points"] < 3).any():
            claims.append(
                not_measured(
                    PAPER, cid, f"{text} (control, d = {dim}, {words})", "< 3 reachable c", SRC
                )
            )
            continue
        ratio = f["slope"] / f["theory"]
        claims.append(
            _claim(
                cid,
                f"{text} — decoupled-noise control (Gaussian noise of covariance (2L/B)H), "
                f"d = {dim}, fit over {words}: mean over data sets of fitted slope / "
                f"(B/(ηh*) + 1 − n/2), h* and n from the Hessian; per data set "
                f"{_fmt(ratio, 4)} (slopes {_fmt(f['slope'])} ± {_fmt(f['slope_se'], 2)} vs "
                f"{_fmt(f['theory'])}). For reference, not the tolerance: the exact "
                "continuous-time mean first-passage time of Eq. 13 (H = h*I) fitted over the "
                f"same c has slope/asymptote {_fmt(f['mfpt_slope'] / f['theory'], 3)}"
                + ("" if agrees else "; d = 4 reaches its slope only for c ≳ 4 (§5.7)"),
                float(ratio.mean()),
                f"every data set in [{low}, {high}]",
                f"[{low}, {high}]",
                bool(ratio.between(low, high).all()),
                agrees=agrees,
            )
        )
        exact = f["slope"] / f["mfpt_slope"]
        claims.append(
            _claim(
                f"control_slope_exact_d{dim}",
                f"Fig. 3b control, d = {dim}, fit over {words}: fitted slope / slope of the exact "
                "continuous-time mean first-passage time of the paper's own SDE (Eq. 13, "
                "H = h*I, quadrature) fitted over the same c, mean over data sets; per data set "
                f"{_fmt(exact, 4)}. Separates the finite-c bend of t_p (an absorbing level set: "
                "the Eq. 17 exponent is only the large-c asymptote) from errors of the simulation",
                float(exact.mean()),
                f"every data set in [{1 - EXACT_SLOPE_TOL:g}, {1 + EXACT_SLOPE_TOL:g}]",
                f"±{100 * EXACT_SLOPE_TOL:g}% [R] (the §5.7 control precision, applied to the "
                "finite-c expectation; not in papers.md)",
                bool(exact.between(1 - EXACT_SLOPE_TOL, 1 + EXACT_SLOPE_TOL).all()),
                source=SRC_EXACT,
            )
        )
    fc = fits(control)
    fc = fc[fc["points"] >= 4]
    if len(fc):
        wins = fc["chi2_power"] < fc["chi2_arrhenius"]
        claims.append(
            _claim(
                "control_power_law_wins",
                "Fig. 3b control: the power law fits better than Arrhenius (lower χ²/dof of "
                "the weighted fit of ln t_p over all reachable c): fraction of (d, data set); "
                f"χ²/dof power {_fmt(fc['chi2_power'])} vs Arrhenius "
                f"{_fmt(fc['chi2_arrhenius'])}",
                float(wins.mean()),
                "1 (every case)",
                "all",
                bool(wins.all()),
            )
        )

    # --- real SGD
    if sgd.empty:
        claims.append(_claim.missing("sgd_slope", text, "SGD not run"))
        return claims
    fs = fits(sgd)
    for dim in sorted(fs["dim"].unique()):
        f = fs[fs["dim"] == dim]
        cid = f"sgd_slope_d{dim}"
        if (f["points"] < 3).any():
            claims.append(
                not_measured(PAPER, cid, f"{text} (real SGD, d = {dim})", "< 3 reachable c", SRC)
            )
            continue
        ratio = f["slope"] / f["theory"]
        claims.append(
            _claim(
                cid,
                f"{text} — real SGD (B = 1, η = 0.1), d = {dim}, fit over every reachable c "
                f"(c ≤ {_fmt(f['c_high'])}): slope / theory; per data set {_fmt(ratio, 4)}, "
                "mean shown. The paper predicts 1; §5.7 measured 0.92–1.69",
                float(ratio.mean()),
                "every data set in [0.85, 1.75]",
                "[0.85, 1.75]",
                bool(ratio.between(0.85, 1.75).all()),
                agrees=False,
            )
        )
        reach = REACHED_C.get(int(dim))
        g = sgd[(sgd["dim"] == dim) & ~sgd["lower_bound"]]
        cid = f"sgd_rise_d{dim}"
        rise_text = f"Fig. 3b real SGD, d = {dim}: decades t_p rises from c = 1.25"
        top = g.groupby("seed")["c"].max()
        if reach is None or (top < reach - 1e-9).any() or not (g["c"] == 1.25).any():
            claims.append(
                not_measured(
                    PAPER,
                    cid,
                    rise_text,
                    f"the horizon reaches c ≤ {_fmt(top)} only (§5.7 reached c = {reach})",
                    SRC,
                )
            )
        else:
            rises = []
            for _, gs in g.groupby("seed"):
                base = gs.loc[np.isclose(gs["c"], 1.25), "t_p"].iloc[0]
                rises.append(math.log10(gs["t_p"].max() / base))
            claims.append(
                _claim(
                    cid,
                    f"{rise_text} to c = {reach}: min over data sets of log10(t_p(c)/t_p(1.25)); "
                    f"per data set {_fmt(rises)}",
                    min(rises),
                    "≥ 3.5 decades",
                    "≥ 3.5",
                    at_least(min(rises), 3.5),
                )
            )
        if dim <= 2:
            cid = f"sgd_arrhenius_wins_d{dim}"
            many = f[f["points"] >= 4]
            if len(many) < len(f):
                claims.append(
                    not_measured(
                        PAPER,
                        cid,
                        f"Fig. 3b real SGD, d = {dim}: Arrhenius vs power law",
                        "fewer than 4 reachable c",
                        SRC,
                    )
                )
            else:
                wins = many["chi2_arrhenius"] < many["chi2_power"]
                claims.append(
                    _claim(
                        cid,
                        f"Fig. 3b real SGD, d = {dim}: Arrhenius ln t_p = a + k(c − 1) fits better "
                        "than the power law (lower χ²/dof): the power-law form is not reproduced "
                        "for real SGD (§5.4 claims 4–5 corrected). Fraction of data sets; χ²/dof "
                        f"Arrhenius {_fmt(many['chi2_arrhenius'])} vs power "
                        f"{_fmt(many['chi2_power'])}",
                        float(wins.mean()),
                        "1 (every data set)",
                        "all (§5.7: 7 of 9 cases over d = 1, 2, 4)",
                        bool(wins.all()),
                        agrees=False,
                    )
                )
        ref = TP_AT_1_5.get(int(dim))
        at15 = sgd[(sgd["dim"] == dim) & np.isclose(sgd["c"], 1.5) & ~sgd["lower_bound"]]
        if ref is not None and len(at15):
            mean = float(at15["t_p"].mean())
            claims.append(
                _claim(
                    f"sgd_tp_c1.5_d{dim}",
                    f"Fig. 3b real SGD, d = {dim}: mean first-passage time at c = 1.5 (time "
                    f"units t = ηk), mean over data sets; per data set {_fmt(at15['t_p'])}",
                    mean,
                    f"{ref:g} ± 25%",
                    "±25% of the verified value",
                    within(mean, 0.75 * ref, 1.25 * ref),
                )
            )

    dims = sorted(sgd["dim"].unique())
    if len(dims) >= 2:
        table = sgd[~sgd["lower_bound"]].pivot_table(
            index=["seed", "c"], columns="dim", values="t_p"
        )
        table = table.dropna()
        ordered = (table.diff(axis=1).iloc[:, 1:] < 0).all(axis=1)
        low_c = ordered[ordered.index.get_level_values("c") <= 1.75 + 1e-9]
        high_c = ordered[ordered.index.get_level_values("c") > 1.75 + 1e-9]
        if len(low_c):
            claims.append(
                _claim(
                    "sgd_lower_n_more_stable",
                    f"Fig. 3b real SGD: t_p decreases with d = {_fmt(dims)} at fixed c (lower "
                    "effective dimension is more stable): fraction of (data set, c ≤ 1.75) "
                    f"ordered; above c = 1.75: {int(high_c.sum())} of {len(high_c)}",
                    float(low_c.mean()),
                    "1 (every data set at c ≤ 1.75)",
                    "all at c ≤ 1.75",
                    bool(low_c.all()),
                )
            )
    return claims


def evaluate(tables: dict[str, pd.DataFrame], scale: str) -> list[Claim]:
    """All claims from the four mori2022 tables."""
    return (
        decoupling_claims(tables["mori2022.decoupling"])
        + noise_claims(tables["mori2022.noise"])
        + stationary_claims(tables["mori2022.stationary"])
        + first_passage_claims(tables["mori2022.first_passage"])
    )
