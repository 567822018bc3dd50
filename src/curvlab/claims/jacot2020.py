"""Jacot, Gabriel & Hongler (2020): the claims, declared once, and their evaluation.

Each claim is documented under its id in docs/papers/jacot2020.md (what is measured, the
expectation, where its tolerance comes from). The statistics and bounds are in
:mod:`curvlab.measures.jacot2020`; this module only turns them into rows. Ids carry the
nonlinearity (``_softplus``, ``_normalized``: the paper's two panels) and nothing that a preset
sets; a claim whose study is switched off, or whose nonlinearity is not configured, gives a
NOT RUN row that says which configuration key did it.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from curvlab.claims import Claim, ClaimSet, ClaimSpec, Precondition, Target
from curvlab.measures import jacot2020 as M

PAPER = "jacot2020"
NLS = M.NONLINEARITIES
SHORT = M.SHORT
LABEL = M.LABEL

#: The verification setting (N = 16 points on the sphere in R¹⁶, widths to 2048, training at
#: n = 256 and 512) that measured several tolerances; no preset runs it (docs, "Calibration
#: runs").
SPHERE = "sphere16"

A_PRIORI: tuple[str, ...] = ()
NOTATION = Target.PAPER_NOTATION_FIXED
CONTRADICTED = Target.PAPER_CONTRADICTED
OURS = Target.RECONSTRUCTION


def _one(claim_id: str, statement: str, target=Target.PAPER, calibrated_at=A_PRIORI):
    return ClaimSpec(PAPER, claim_id, statement, target, calibrated_at)


def _pair(stem: str, statement: str, target=Target.PAPER, calibrated_at=A_PRIORI):
    """One claim per nonlinearity: ``<stem>_softplus`` and ``<stem>_normalized``."""
    return {
        nl: ClaimSpec(
            PAPER, f"{stem}_{SHORT[nl]}", f"{LABEL[nl]}: {statement}", target, calibrated_at
        )
        for nl in NLS
    }


CHECKS = {
    "check_tr_i": _one(
        "check_tr_i",
        "Theorem 1, I-part: Tr Iᵏ equals Tr(Θ̂/N)ᵏ with Θ̂ = JJᵀ (the Gauss–Newton part of an "
        "explicit Hessian of a tiny network, k = 1..4, both Jacobian paths); relative error, "
        "worst over nonlinearities",
    ),
    "check_tr_s": _one(
        "check_tr_s",
        "Exact Tr S = ∇C·G (closed-form g) against the explicit S = H − JᵀJ/N; relative error",
        OURS,
    ),
    "check_tr_h": _one(
        "check_tr_h",
        "Tr Hᵏ (k = 1..4) from the exact I-part and exact cross terms against the explicit "
        "Hessian; relative error",
        OURS,
    ),
    "check_g": _one(
        "check_g",
        "Closed-form g(x) = Σ_p ∂²f/∂θ_p² against autograd Hessians; relative error",
        OURS,
    ),
    "check_lambda": _one(
        "check_lambda",
        "Λ̂ = (∂G/∂θ)Jᵀ by forward mode against autograd Jacobians; relative error",
        OURS,
    ),
    "zcheck_moments": _one(
        "zcheck_moments",
        "Tr Hᵏ (k = 1..4) as measured along training (Hutchinson only for Tr S², S³, S⁴) against "
        "the explicit Hessian of a width-16 network: worst |error| in standard errors",
        OURS,
    ),
    "zcheck_plain_hutchinson": _one(
        "zcheck_plain_hutchinson",
        "Tr Hᵏ (k = 1..4) by plain Hutchinson on the whole H against the explicit Hessian of "
        "the same network: worst |error| in standard errors",
        OURS,
    ),
}
NTK_PER_INIT = _pair(
    "ntk_limit_per_init",
    "the empirical NTK Θ̂ = JJᵀ at initialization fluctuates around the limit Θ as O(1/√n): "
    "mean over initializations of ‖Θ̂ − Θ‖_F/‖Θ‖_F·√n, worst width",
    calibrated_at=(SPHERE, "ci"),
)
NTK_MEAN = _pair(
    "ntk_limit_mean",
    "the mean of the empirical NTKs converges to the quadrature Θ: ‖mean Θ̂ − Θ‖_F over its "
    "pure-noise size √(mean ‖Θ̂ᵢ − Θ‖²_F / m), worst width",
)
NTK_SLOPE = _pair(
    "ntk_relf_slope",
    "log-log slope of the mean ‖Θ̂ − Θ‖_F/‖Θ‖_F against the width (−1/2 for O(1/√n) noise, "
    "down to −1 where an O(1/n) bias adds)",
)
TR_PHI = _pair(
    "tr_phi_value",
    "E Tr S(0) equals Tr Φ̃/N (the paper omits the 1/N): the Rao-Blackwellized mean, "
    "extrapolated to n → ∞ from the two widest initialization widths, against the closed form",
    NOTATION,
)
SIGN = _pair(
    "tr_s0_sign",
    "the sign of the S contribution to Tr H at t = 0 (positive for the smooth ReLU, negative "
    "for the normalized one): mean of the Rao-Blackwellized Tr Φ̂/N over its standard error, "
    "with the expected sign, at the widest initialization width",
)
RB = _pair(
    "tr_s0_rb_unbiased",
    "E Tr S(0) = Tr E[Φ̂]/N exactly at every width: plain mean of the exact Tr S(0) = ∇C·G "
    "against the Rao-Blackwellized mean, worst width, in standard errors of the plain mean",
    NOTATION,
)
S4 = _pair(
    "s4_ratio",
    "Tr Sᵏ → 0 for k ≥ 3 (Theorem 1) at the rate O(1/n): n times the mean Tr S⁴/(Tr S²)² at "
    "initialization, worst width",
    calibrated_at=(SPHERE, "ci"),
)
S4_TREND = _pair(
    "s4_ratio_trend",
    "log-log slope of the mean Tr S⁴/(Tr S²)² against the width (−1 expected)",
)
S2 = _pair(
    "s2_finite",
    "Tr S(0)² stays O(1): E Tr S(0)² at the widest width over its limit N⁻²Tr(Υ̃(Σ̃ + Y*Y*ᵀ))",
)
S2_TREND = _pair(
    "s2_trend",
    "E Tr S(0)² does not shrink with the width like Tr S⁴: its log-log slope against n",
)
UPSILON = _pair(
    "upsilon_corrected",
    "the Monte-Carlo Υ̂_ij = tr(∇²fᵢ∇²fⱼ) scatters around Υ with the corrected index of "
    "Proposition 4: ‖mean Υ̂ − Υ‖_F over its pure-noise size",
    NOTATION,
)
READINGS = _pair(
    "upsilon_readings",
    "the Monte-Carlo Υ̂ is nearer the corrected index than every mis-reading of Proposition 4 "
    "that the run can tell apart: distance to the corrected Υ over the distance to the nearest "
    "such mis-reading",
    NOTATION,
)
DIVERGED = _one(
    "runs_diverged",
    "Every configured training run trains: the number of runs whose loss became non-finite",
    OURS,
)
PER_INIT = _pair(
    "cor1_per_init",
    "each initialization's Tr S(t) follows its own corrected Corollary 1 ((Id − E_k), −G(0) "
    "term, E_k = (Id − ηΘ̂₀/N)ᵏ from its Θ̂₀, Λ̂₀, G(0), Δ) up to an O(1/√n) error: RMS error "
    "over the grid relative to the width's RMS Tr S, mean over initializations at the widest "
    "trained width, against the next-narrower width's scaled by √(n_a/n)",
    NOTATION,
)
PRINTED = _pair(
    "cor1_printed_contradicted",
    "Corollary 1 as printed ((Id + E_k), +G(0) term) does not describe Tr S(t): the best "
    "initialization's relative RMS error",
    CONTRADICTED,
)
FINITE_STEP = _pair(
    "finite_step",
    "for gradient descent with step η the decay is E_k = (Id − ηΘ̂₀/N)ᵏ, not the flow form "
    "e^{−tΘ̂₀/N}: coefficient β of the measured Tr S(t) on the step from the flow prediction "
    "to the finite-step one (1: finite step, 0: flow)",
    OURS,
)
S2_PER_INIT = _pair(
    "cor1_s2_per_init",
    "each initialization's Tr S(t)² follows N⁻²ΔᵀE_kΥ̂₀E_kΔ: relative RMS error over the grid, "
    "worst initialization at the widest trained width",
    NOTATION,
    (SPHERE, "ci"),
)
Y_PER_INIT = _pair(
    "cor1_y",
    "each initialization's outputs follow Y(t) = Y* − E_kΔ (time normalized by the MSE's 1/N) "
    "up to an O(1/√n) error: worst ‖Ŷ(t) − Y(t)‖/‖Y(t)‖ over the grid, mean over "
    "initializations at the widest width, against the next-narrower width's scaled by √(n_a/n)",
    NOTATION,
)
TIME_NORM = _pair(
    "time_normalization",
    "the printed e^{−tΘ̃} (without the 1/N) does not describe Y(t): the best initialization's "
    "worst relative error",
    CONTRADICTED,
)
EXPECT_S1 = _pair(
    "cor1_expectation_tr_s1",
    "the mean over initializations of Tr S(t) lies on the corrected Corollary 1 expectation "
    "(limit kernels, finite-step E_k): the mean extrapolated to n → ∞ from the two widest "
    "trained widths, worst |difference| over the grid in standard errors",
    NOTATION,
)
EXPECT_PRINTED = _pair(
    "cor1_expectation_printed",
    "the printed (Id + E) expectation of Tr S(t) is off: the widest width's mean, largest "
    "|difference| in standard errors from grid step 4 on",
    CONTRADICTED,
)
EXPECT_S2 = _pair(
    "cor1_expectation_tr_s2",
    "the mean over initializations of Tr S(t)² lies on N⁻²Tr(E_kΥ̃E_k(Σ̃ + Y*Y*ᵀ)): the mean "
    "extrapolated to n → ∞ from the two widest trained widths, worst |difference| over the grid "
    "in standard errors",
    NOTATION,
)
MOMENTS = _pair(
    "moments_match",
    "the mean moments Tr H(t)¹, Tr H(t)² (the crosses of Figure 1) follow the corrected "
    "Corollary 1 up to an O(1/√n) gap: worst relative error over the grid against the mean of "
    "the initializations' own predictions at the widest trained width, against the "
    "next-narrower width's scaled by √(n_a/n)",
    NOTATION,
)
DRIFT = _pair(
    "moments34_drift",
    "moments 3 and 4 are flat in the limit: the log-log slope against the width of their "
    "largest relative drift from t = 0 along training",
)
GAP = _pair(
    "gap_shrinks",
    "the gap between the mean moments and the limit lines of Corollary 1 shrinks with the "
    "width: log-log slope of the RMS relative gap (mean over k = 1..4) against n",
)
ORTHO_I = _pair(
    "orthogonality_i",
    "Figure 2: the top eigenvectors v of I have |vᵀSv| < vᵀIv (share of them)",
)
ORTHO_S = _pair(
    "orthogonality_s",
    "Figure 2: the top eigenvectors v of S have vᵀIv < |vᵀSv| (share of them)",
)
MINIMUM = _pair(
    "global_minimum",
    "Figure 3 is drawn around a global minimum: training loss at θ* over the loss at "
    "initialization",
    OURS,
)
VALLEY = _one(
    "valley_less_elongated",
    "Figure 3: normalizing the nonlinearity makes the valley less narrow: λ₁(I)/λ₄(I) at the "
    "minimum for the normalized smooth ReLU over the same for softplus",
    OURS,
)

_PAIRS = (
    NTK_PER_INIT,
    NTK_MEAN,
    NTK_SLOPE,
    TR_PHI,
    SIGN,
    RB,
    S4,
    S4_TREND,
    S2,
    S2_TREND,
    UPSILON,
    READINGS,
)
_TRIAL_PAIRS = (
    PER_INIT,
    PRINTED,
    FINITE_STEP,
    S2_PER_INIT,
    Y_PER_INIT,
    TIME_NORM,
    EXPECT_S1,
    EXPECT_PRINTED,
    EXPECT_S2,
    MOMENTS,
    DRIFT,
    GAP,
)
CLAIMS = ClaimSet(
    PAPER,
    [
        *CHECKS.values(),
        *(pair[nl] for pair in _PAIRS for nl in NLS),
        DIVERGED,
        *(pair[nl] for pair in _TRIAL_PAIRS for nl in NLS),
        *(pair[nl] for pair in (ORTHO_I, ORTHO_S, MINIMUM) for nl in NLS),
        VALLEY,
    ],
)


def _g(x: float) -> str:
    return f"{x:.3g}"


def _trend(spec: ClaimSpec, values: dict, bound_of, what: str, unit: str = "") -> Claim:
    """A slope row over the widths (inconclusive with fewer than two)."""
    if len(values) < 2:
        return spec.inconclusive(
            math.nan,
            "a slope needs at least two widths",
            f"{what}: {M.fmt_widths({w: v[0] for w, v in values.items()})}",
        )
    slope, se = M.width_trend(values)
    details = f"{what}{unit}: " + ", ".join(
        f"n = {w}: {v:.3g} ± {s:.2g}" for w, (v, s) in sorted(values.items())
    )
    return spec.check(slope, bound_of(se), details, se=se)


# --------------------------------------------------------------------------- identity checks


def check_rows(init: pd.DataFrame | None) -> list[Claim]:
    rows = []
    for quantity, spec in CHECKS.items():
        if init is None or init.empty:
            rows.append(
                spec.not_run("the initialization study is disabled (jacot2020.init.enabled)")
            )
            continue
        values = init[init["quantity"] == quantity]
        if values.empty:
            rows.append(
                spec.not_run(
                    "the identity checks did not run (first init job of each nonlinearity)"
                )
            )
            continue
        by_nl = values.groupby("nonlinearity")["value"].max()
        rows.append(
            spec.check(
                float(by_nl.max()),
                M.CHECK_BOUNDS[quantity],
                ", ".join(f"{LABEL[nl]}: {v:.2g}" for nl, v in by_nl.items()),
            )
        )
    return rows


# --------------------------------------------------------------------------- initialization


def init_rows(init: pd.DataFrame | None, kernels: dict) -> list[Claim]:
    rows: list[Claim] = []
    present = M.nonlinearities(init)
    for nl in NLS:
        specs = [pair[nl] for pair in _PAIRS]
        if init is None or init.empty:
            rows += [
                s.not_run("the initialization study is disabled (jacot2020.init.enabled)")
                for s in specs
            ]
        elif nl not in present:
            rows += [s.not_run(f"{nl} is not in jacot2020.model.nonlinearities") for s in specs]
        elif not M.has_quadrature(kernels, nl):
            rows += [s.not_run(f"the quadrature kernels of {nl} are missing") for s in specs]
        else:
            rows += _init_rows(init, kernels[nl], nl)
    return rows


def _init_rows(init: pd.DataFrame, k: dict, nl: str) -> list[Claim]:
    rows: list[Claim] = []
    n_samples = k["theta"].shape[0]

    # NTK per initialization: the mean per width is gated; max and p90 are shown.
    ntk = M.ntk_per_init(init, nl)
    worst = ntk["mean"].idxmax()
    old = float(ntk["max"].max())
    rows.append(
        NTK_PER_INIT[nl].check(
            float(ntk.loc[worst, "mean"]),
            M.NTK_PER_INIT[nl],
            f"N = {n_samples}; by width (mean, 90th percentile, max over inits): "
            + "; ".join(
                f"n = {w}: {r['mean']:.3g}, {r['p90']:.3g}, {r['max']:.3g} ({int(r['count'])} inits)"
                for w, r in ntk.iterrows()
            )
            + f"; old statistic, the max over all {int(ntk['count'].sum())} inits: {old:.3g} "
            f"({'within' if M.NTK_PER_INIT[nl].holds(old) else 'outside'} the bound)",
            se=float(ntk.loc[worst, "se"]),
        )
    )

    # Mean of the Θ̂ against Θ, in units of its noise.
    ratios = M.subset_noise_ratios(init, nl, "subset_theta", k["theta"])
    widest = int(ratios.index.max())
    old_value, old_count = M.relf_first(init, nl, widest, "subset_theta", k["theta"], 10)
    old_text = (
        f"old statistic (relF of the mean of {old_count} at n = {widest}, first "
        f"{int(init.loc[init['quantity'] == 'subset_theta', 'row'].max()) + 1} inputs): "
        f"{old_value:.3g} against {M.NTK_MEAN_OLD[nl]:g}, set for 10 inits at n ≥ 1024"
    )
    w_r = ratios["ratio"].idxmax()
    rows.append(
        NTK_MEAN[nl].check(
            float(ratios.loc[w_r, "ratio"]),
            M.NOISE_RATIO,
            "by width (ratio; relF of the mean; RMS relF of one): "
            + "; ".join(
                f"n = {w}: {r['ratio']:.3g}; {r['relf_mean']:.3g}; {r['relf_rms']:.3g} "
                f"({int(r['count'])} inits)"
                for w, r in ratios.iterrows()
            )
            + f"; {old_text}",
            preconditions=[
                Precondition(
                    "at least 2 initializations per width", bool((ratios["count"] >= 2).all())
                )
            ],
        )
    )
    rows.append(
        _trend(
            NTK_SLOPE[nl],
            {int(w): (r["relf"], r["relf_se"]) for w, r in ntk.iterrows()},
            M.slope_band,
            "mean relF",
        )
    )

    # E Tr S(0): the Rao-Blackwellized mean, extrapolated in 1/n; the sign at the widest width.
    ext = M.tr_phi_extrapolated(init, nl)
    phi = ext["by_width"]
    limit = M.tr_phi_limit(k)
    w = ext["widest"]
    mean, se, count = float(phi.loc[w, "mean"]), float(phi.loc[w, "se"]), int(phi.loc[w, "count"])
    by_width = "; ".join(f"n = {ww}: {r['mean']:+.4f} ± {r['se']:.2g}" for ww, r in phi.iterrows())
    old_tol = max(M.TR_PHI_SE_OLD * se, M.TR_PHI_OLD_FLOOR)
    details = (
        f"limit Tr Φ̃/N = {limit:+.4f}; by width {by_width}; old statistic (the widest width's "
        f"mean within max(4 se, {M.TR_PHI_OLD_FLOOR:g}) = {old_tol:.3g}): "
        f"{'inside' if abs(mean - limit) <= old_tol else 'outside'}"
    )
    if ext["pair"] is None:
        rows.append(
            TR_PHI[nl].inconclusive(
                mean, "the extrapolation needs two initialization widths", details
            )
        )
    else:
        rows.append(
            TR_PHI[nl].check(
                ext["mean"],
                M.extrapolated_bound(limit, ext["se"]),
                f"extrapolated from n = {ext['pair'][0]}, {ext['pair'][1]}; {details}",
                se=ext["se"],
            )
        )
    sign = 1.0 if limit > 0 else -1.0
    resolution = abs(limit) / M.SIGN.limit
    rows.append(
        SIGN[nl].check(
            sign * mean / se if se > 0 else math.nan,
            M.SIGN,
            f"n = {w}, {count} inits: mean {mean:+.4f}, se {se:.2g}; expected sign "
            f"{'+' if sign > 0 else '−'} (Tr Φ̃/N = {limit:+.4f})",
            preconditions=[
                Precondition(
                    f"the standard error resolves the expected value at {M.SIGN.limit:g} se "
                    f"(se {se:.2g} ≤ |Tr Φ̃/N|/{M.SIGN.limit:g} = {resolution:.2g})",
                    bool(se <= resolution),
                )
            ],
        )
    )
    z = M.plain_vs_rb(init, nl)
    rows.append(
        RB[nl].check(float(z.max()), M.RB_UNBIASED, "by width: " + M.fmt_widths(z.to_dict()))
    )

    # Tr S⁴/(Tr S²)² = O(1/n).
    s4 = M.s4_ratio(init, nl)
    scaled = s4["mean"] * s4.index
    w4 = int(scaled.idxmax())
    old = [
        f"n = {n}: {s4.loc[n, 'mean']:.2g} against the old {b:g}"
        for n, b in M.S4_RATIO_OLD.items()
        if n in s4.index
    ]
    rows.append(
        S4[nl].check(
            float(scaled.max()),
            M.S4_RATIO_N,
            "mean Tr S⁴/(Tr S²)² by width: "
            + "; ".join(
                f"n = {ww}: {r['mean']:.3g} ± {r['se']:.2g} (×n = {r['mean'] * ww:.3g}, "
                f"{int(r['count'])} inits)"
                for ww, r in s4.iterrows()
            )
            + (f"; {', '.join(old)}" if old else ""),
            se=float(s4.loc[w4, "se"] * w4),
        )
    )
    rows.append(
        _trend(
            S4_TREND[nl],
            {int(ww): (r["mean"], r["se"]) for ww, r in s4.iterrows()},
            lambda se: M.at_most_widened(M.S4_SLOPE, se),
            "mean Tr S⁴/(Tr S²)²",
        )
    )

    # Tr S(0)² = O(1).
    s2 = M.per_width_mean(init, nl, "tr_s2")
    s2_lim = M.s2_limit(k)
    w2 = int(s2.index.max())
    rows.append(
        S2[nl].check(
            float(s2.loc[w2, "mean"] / s2_lim),
            M.S2_FINITE,
            f"n = {w2}; limit {s2_lim:.4g}; E Tr S(0)² by width: "
            + "; ".join(f"n = {ww}: {r['mean']:.3g} ± {r['se']:.2g}" for ww, r in s2.iterrows()),
            se=float(s2.loc[w2, "se"] / s2_lim),
        )
    )
    rows.append(
        _trend(
            S2_TREND[nl],
            {int(ww): (r["mean"], r["se"]) for ww, r in s2.iterrows()},
            lambda se: M.at_least_widened(M.S2_SLOPE, se),
            "E Tr S(0)²",
        )
    )

    # Υ: the corrected index, and the readings the run can tell apart.
    study = M.upsilon_study(init, k, nl) if "upsilon" in k else None
    if study is None:
        why = "no Υ̂ was measured (jacot2020.init.upsilon_probes is 0 or every width is above upsilon_max_width)"
        rows += [UPSILON[nl].not_run(why), READINGS[nl].not_run(why)]
        return rows
    where = (
        f"n = {study['width']}, {study['inits']} inits × probes = {study['samples']} samples, "
        f"first {study['subset']} inputs"
    )
    dist = study["distance"]
    rows.append(
        UPSILON[nl].check(
            study["noise"]["ratio"],
            M.NOISE_RATIO,
            f"{where}; relF(mean Υ̂, Υ) = {dist['corrected']:.3g} (old bound {M.UPSILON_OLD:g}), "
            f"noise level of the mean {study['noise_level']:.3g}; distance to the mis-readings: "
            f"NTK convention {dist['ntk_convention']:.3g}, no product {dist['no_product']:.3g}",
            preconditions=[Precondition("at least 2 initializations", study["inits"] >= 2)],
        )
    )
    threshold = M.SEPARATION_Z * study["noise_level"]
    sep = study["separation"]
    far = [r for r, d in sep.items() if d > threshold]
    sep_text = (
        f"{where}; analytic separations from the corrected Υ: "
        + ", ".join(f"{r} {d:.3g}" for r, d in sep.items())
        + f"; resolvable above {M.SEPARATION_Z:g} × the noise level = {threshold:.3g}"
    )
    if not far:
        nearest = min(dist[r] for r in sep)
        rows.append(
            READINGS[nl].inconclusive(
                dist["corrected"] / nearest,
                "no mis-reading differs from the corrected Υ by more than the Monte-Carlo noise "
                "can resolve on these inputs",
                sep_text,
            )
        )
    else:
        nearest = min(dist[r] for r in far)
        rows.append(
            READINGS[nl].check(
                dist["corrected"] / nearest,
                M.READINGS,
                f"{sep_text}; compared with {', '.join(far)}",
            )
        )
    return rows


# --------------------------------------------------------------------------- training runs


def trial_rows(trial: pd.DataFrame | None, kernels: dict) -> list[Claim]:
    if trial is None or trial.empty:
        why = "the training study produced no table (jacot2020.trials)"
        return [DIVERGED.not_run(why)] + [
            pair[nl].not_run(why) for pair in _TRIAL_PAIRS for nl in NLS
        ]
    trials = M.Trials(trial)
    rows = [
        DIVERGED.check(
            len(trials.diverged),
            M.DIVERGED,
            f"{trials.runs} runs"
            + (
                "; diverged: " + "; ".join(f"{nl} n={w} seed {s}" for nl, w, s in trials.diverged)
                if trials.diverged
                else ""
            ),
        )
    ]
    for nl in NLS:
        if nl not in trials.nonlinearities():
            rows += [
                pair[nl].not_run(f"{nl} is not in jacot2020.model.nonlinearities")
                for pair in _TRIAL_PAIRS
            ]
            continue
        rows += _trial_rows(trials, kernels, nl)
    return rows


#: The per-initialization statistic the old rows used (each initialization's own RMS for Tr S).
OLD_NORMALIZATION = {"tr_s": "tr_s_own"}


def _per_init_row(spec, trials, nl, key, where, old_text):
    """The mean over initializations at the widest width against the next-narrower width's
    mean scaled by √(n_a/n) (+ 3 se); max, 90th percentile, the other widths and the old
    statistic (the worst initialization) in the details."""
    widths = trials.widths(nl)
    by_width = {w: M.per_init_errors(trials, nl, w) for w in widths}
    width = widths[-1]
    s = M.summary(by_width[width][key])
    old = float(np.nanmax(by_width[width][OLD_NORMALIZATION.get(key, key)]))
    details = (
        f"{where}; over inits: mean {s['mean']:.3g}, 90th percentile {s['p90']:.3g}, max "
        f"{s['max']:.3g}; mean by width: "
        + ", ".join(
            f"n = {w}: {M.summary(e[key])['mean']:.3g} ± {M.summary(e[key])['se']:.2g}"
            for w, e in by_width.items()
        )
        + f"; old statistic (worst init{old_text}): {old:.3g}"
    )
    if len(widths) < 2:
        return spec.inconclusive(
            s["mean"],
            "the 1/√n scaling needs two trained widths (jacot2020.trials.widths)",
            details,
        )
    narrow = widths[-2]
    ref = M.summary(by_width[narrow][key])
    bound = M.per_init_bound((narrow, ref["mean"], ref["se"]), width, s["se"])
    details += f"; bound: the n = {narrow} mean × √({narrow}/{width}) + {M.PER_INIT_Z:g} se"
    return spec.check(s["mean"], bound, details, se=s["se"])


def _trial_rows(trials: M.Trials, kernels: dict, nl: str) -> list[Claim]:
    rows: list[Claim] = []
    widths = trials.widths(nl)
    width = widths[-1]
    where = trials.where(nl, width)
    errors = M.per_init_errors(trials, nl, width)
    no_pred = "per-initialization predictions are off (jacot2020.trials.predictions)"
    if errors is None:
        rows += [
            spec.not_run(no_pred)
            for spec in (PER_INIT[nl], PRINTED[nl], FINITE_STEP[nl], S2_PER_INIT[nl])
            + (Y_PER_INIT[nl], TIME_NORM[nl])
        ]
    else:
        rows.append(
            _per_init_row(
                PER_INIT[nl],
                trials,
                nl,
                "tr_s",
                where,
                f", each with its own RMS, against {M.PER_INIT_OLD['tr_s']}",
            )
        )
        corrected = M.summary(errors["tr_s"])["mean"]
        resolves = Precondition(
            f"the corrected formula's own mean error ({corrected:.3g}) is below the bound",
            bool(corrected < M.PRINTED_PER_INIT.limit),
        )
        rows.append(
            PRINTED[nl].check(
                float(np.nanmin(errors["tr_s_printed"])),
                M.PRINTED_PER_INIT,
                f"{where}; mean over inits {np.nanmean(errors['tr_s_printed']):.3g}, corrected "
                f"formula {corrected:.3g}",
                preconditions=[resolves],
            )
        )
        step = M.finite_step_coefficient(trials, nl, width)
        eta_lam = (
            f"; ηλ_max(Θ̃/N) = {M.eta_lambda_max(kernels[nl], trials.eta[(nl, width)]):.2f}"
            if M.has_quadrature(kernels, nl)
            else ""
        )
        rows.append(
            FINITE_STEP[nl].check(
                step["beta"],
                M.FINITE_STEP,
                f"{where}{eta_lam}; the two forms differ by {step['gap']:.3g} of the RMS Tr S; "
                f"old statistic (median of flow error / finite-step error): "
                f"{step['ratio_median']:.3g} against ≥ {M.FINITE_STEP_OLD:g}",
                se=step["se"],
                preconditions=[
                    Precondition(
                        f"β is resolved: se ≤ {M.FINITE_STEP_MAX_SE:g}",
                        bool(step["se"] <= M.FINITE_STEP_MAX_SE),
                    )
                ],
            )
        )
        s2 = M.summary(errors["tr_s2"])
        rows.append(
            S2_PER_INIT[nl].check(
                s2["max"],
                M.S2_PER_INIT,
                f"{where}; over inits: mean {s2['mean']:.3g}, 90th percentile {s2['p90']:.3g}",
            )
        )
        rows.append(
            _per_init_row(
                Y_PER_INIT[nl], trials, nl, "y", where, f", against {M.PER_INIT_OLD['y']}"
            )
        )
        y_mean = M.summary(errors["y"])["mean"]
        rows.append(
            TIME_NORM[nl].check(
                float(np.nanmin(errors["y_unnormalized"])),
                M.TIME_NORMALIZATION,
                f"{where}; with the 1/N: mean worst error {y_mean:.3g}",
                preconditions=[
                    Precondition(
                        f"the 1/N-normalized prediction's mean worst error ({y_mean:.3g}) is "
                        f"below the bound",
                        bool(y_mean < M.TIME_NORMALIZATION.limit),
                    )
                ],
            )
        )

    # Expectation lines (limit kernels + Monte-Carlo Λ).
    if not M.has_theory(kernels, nl):
        why = "the limit kernels or the Monte-Carlo Λ are missing"
        rows += [s[nl].inconclusive(math.nan, why) for s in (EXPECT_S1, EXPECT_PRINTED, EXPECT_S2)]
    else:
        z = M.expectation_z(trials, kernels, nl)
        late = M.gated(z["steps"])
        counts = {w: trials.count(nl, w) for w in widths[-2:]}
        enough = Precondition(
            "at least 3 initializations per width for a standard error ("
            + ", ".join(f"n = {w}: {c}" for w, c in counts.items())
            + ")",
            min(counts.values()) >= 3,
        )
        pair = Precondition(
            "two trained widths with the same grid and η for the extrapolation"
            + (f" (n = {z['narrow']}, {width})" if z["narrow"] else ""),
            z["narrow"] is not None,
        )
        for spec, name in ((EXPECT_S1[nl], "tr_s"), (EXPECT_S2[nl], "tr_s2")):
            ext = z[name]
            details = (
                f"{where}; extrapolated z by grid step: "
                + ", ".join(f"k = {s_}: {v:+.2g}" for s_, v in zip(z["steps"], ext, strict=True))
                + f"; old statistic (n = {width} alone, from step {M.EXPECTATION_FROM_STEP}): "
                + f"{float(np.nanmax(np.abs(z[name + '_widest'][late]))):.3g} se"
            )
            measured = float(np.nanmax(np.abs(ext))) if np.isfinite(ext).any() else math.nan
            rows.append(spec.check(measured, M.EXPECTATION, details, preconditions=[enough, pair]))
        sep = float(np.nanmax(z["separation"][late]))
        need = M.EXPECTATION_PRINTED.limit + M.EXPECTATION.limit
        rows.append(
            EXPECT_PRINTED[nl].check(
                float(np.nanmax(np.abs(z["printed"][late]))),
                M.EXPECTATION_PRINTED,
                f"{where}; the printed and corrected lines differ by up to {sep:.3g} se",
                preconditions=[
                    enough,
                    Precondition(
                        f"the run resolves the two lines: they differ by ≥ {need:g} se", sep >= need
                    ),
                ],
            )
        )

    # The mean moments, extrapolated in 1/n, against the limit lines.
    rows.append(_moments_row(trials, kernels, nl, width, where))

    # Width trends.
    drift = {w: M.moments34_drift(trials, nl, w) for w in widths}
    rows.append(_slope_negative(DRIFT[nl], drift, "largest drift of mean Tr H³, Tr H⁴"))
    if M.has_theory(kernels, nl):
        gap = {w: M.limit_gap(trials, kernels, nl, w) for w in widths}
        rows.append(_slope_negative(GAP[nl], gap, "RMS relative gap to the limit lines"))
    else:
        rows.append(
            GAP[nl].inconclusive(math.nan, "the limit kernels or the Monte-Carlo Λ are missing")
        )
    return rows


def _moments_row(trials: M.Trials, kernels: dict, nl: str, width: int, where: str) -> Claim:
    """Mean moments against the mean of the initializations' own predictions at the widest width,
    against the next-narrower width's gap scaled by √(n_a/n); the extrapolated comparison with
    the limit lines and the old statistic in the details."""
    spec = MOMENTS[nl]
    widths = trials.widths(nl)
    gaps = {w: M.moment_gaps(trials, kernels, nl, w) for w in widths}
    if gaps[width] is None:
        return spec.not_run("per-initialization predictions are off (jacot2020.trials.predictions)")
    g = gaps[width]
    details = (
        f"{where}; worst relative error by k = 1..4: "
        + ", ".join(f"{v:.3g}" for v in g["own"].values())
        + " (k = 3, 4: the NTK's motion, not gated); k = 1, 2 by width: "
        + ", ".join(f"n = {w}: {v['own12']:.3g} ± {v['own12_se']:.2g}" for w, v in gaps.items())
    )
    if "limit" in g:
        details += (
            f"; old statistic (n = {width} against the limit lines, bound {M.MOMENTS_OLD:g} on "
            "k = 1, 2): "
            + ", ".join(f"{v:.3g}" for v in g["limit"].values())
            + "; E Tr(Θ̂₀/N)ᵏ over its limit − 1: "
            + ", ".join(f"{v:+.3g}" for v in g["i_part_bias"].values())
        )
    ext = M.moments_extrapolated(trials, kernels, nl)
    if ext is not None:
        details += (
            f"; the means extrapolated to n → ∞ from n = {ext['widths'][0]}, {ext['widths'][1]} "
            "against the limit lines, worst |z| by k: "
            + ", ".join(f"{float(np.nanmax(np.abs(ext['z'][k]))):.2g}" for k in range(1, 5))
            + " (relative standard error up to "
            + ", ".join(f"{float(np.nanmax(ext['relative_se'][k])):.2g}" for k in range(1, 5))
            + ")"
        )
    if len(widths) < 2:
        return spec.inconclusive(
            g["own12"],
            "the 1/√n scaling needs two trained widths (jacot2020.trials.widths)",
            details,
        )
    narrow = widths[-2]
    ref = gaps[narrow]
    bound = M.per_init_bound((narrow, ref["own12"], ref["own12_se"]), width, g["own12_se"])
    details += f"; bound: the n = {narrow} value × √({narrow}/{width}) + {M.PER_INIT_Z:g} se"
    return spec.check(g["own12"], bound, details, se=g["own12_se"])


def _slope_negative(spec: ClaimSpec, values: dict, what: str) -> Claim:
    if len(values) < 2:
        return spec.inconclusive(
            math.nan, "a slope needs at least two trained widths (jacot2020.trials.widths)"
        )
    slope, se = M.width_trend(values)
    details = f"{what}: " + ", ".join(
        f"n = {w}: {v:.3g} ± {s:.2g}" for w, (v, s) in sorted(values.items())
    )
    return spec.check(
        slope,
        M.NEGATIVE,
        details,
        se=se,
        preconditions=[
            Precondition(
                f"the slope's standard error ≤ {M.TREND_MAX_SE:g} (a slope of −1/2 lies 2 se "
                "below 0)",
                bool(math.isfinite(se) and se <= M.TREND_MAX_SE),
            )
        ],
    )


# --------------------------------------------------------------------------- Figures 2 and 3


def rayleigh_rows(rayleigh: pd.DataFrame | None) -> list[Claim]:
    rows = []
    for nl in NLS:
        specs = (ORTHO_I[nl], ORTHO_S[nl])
        if rayleigh is None or rayleigh.empty:
            rows += [
                s.not_run(
                    "the Rayleigh-quotient study (Figure 2) is disabled (jacot2020.rayleigh.enabled)"
                )
                for s in specs
            ]
            continue
        shares = M.orthogonality_shares(rayleigh, nl)
        if shares is None:
            rows += [s.not_run(f"{nl} is not in jacot2020.rayleigh.nonlinearities") for s in specs]
            continue
        wide = Precondition(
            f"width ≥ {M.ORTHOGONAL_MIN_WIDTH}, the paper's Figure 2 (here {shares['width']})",
            shares["width"] >= M.ORTHOGONAL_MIN_WIDTH,
        )
        for spec, key in zip(specs, ("i", "s"), strict=True):
            rows.append(
                spec.check(
                    shares[key],
                    M.ORTHOGONAL_SHARE,
                    f"n = {shares['width']}, top {shares['top']} eigenvectors, at initialization",
                    preconditions=[wide],
                )
            )
    return rows


def surface_rows(surface: pd.DataFrame | None) -> list[Claim]:
    off = "the loss-surface study (Figure 3) is disabled (jacot2020.surface.enabled)"
    if surface is None or surface.empty:
        return [MINIMUM[nl].not_run(off) for nl in NLS] + [VALLEY.not_run(off)]
    rows = []
    ratios = {}
    for nl in NLS:
        grp = surface[surface["nonlinearity"] == nl]
        if grp.empty:
            rows.append(MINIMUM[nl].not_run(f"{nl} is not in jacot2020.model.nonlinearities"))
            continue
        ratios[nl] = M.valley_ratio(surface, nl)
        value, initial, text = M.surface_minimum(grp)
        rows.append(
            MINIMUM[nl].check(
                value,
                M.GLOBAL_MINIMUM,
                f"{value * initial:.3g} / {initial:.3g}; {text}",
            )
        )
    if set(NLS) <= set(ratios):
        value = ratios["normalized_softplus"] / ratios["softplus"]
        rows.append(
            VALLEY.check(
                value,
                M.VALLEY,
                f"λ₁/λ₄: normalized {ratios['normalized_softplus']:.3g}, softplus "
                f"{ratios['softplus']:.3g}",
            )
        )
    else:
        rows.append(VALLEY.not_run("needs both nonlinearities (jacot2020.model.nonlinearities)"))
    return rows


# --------------------------------------------------------------------------- entry point


def evaluate(tables: dict[str, pd.DataFrame], scale: str) -> list[Claim]:
    kernels = M.kernel_sets(tables.get("jacot2020.kernels"))
    init = tables.get("jacot2020.init")
    return (
        check_rows(init)
        + init_rows(init, kernels)
        + trial_rows(tables.get("jacot2020.trial"), kernels)
        + rayleigh_rows(tables.get("jacot2020.rayleigh"))
        + surface_rows(tables.get("jacot2020.surface"))
    )
