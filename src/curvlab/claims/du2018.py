"""Du, Hu & Lee (2018): the checkable claims, declared once, and their evaluation.

Each claim is documented under its id in docs/papers/du2018.md (statement, what is measured,
the expectation, where its tolerance was calibrated, what a failure would mean). The numbers
come from :mod:`curvlab.measures.du2018`, which the figures use too.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import pandas as pd

from curvlab.claims import Claim, ClaimSet, ClaimSpec, Precondition, Target, format_value
from curvlab.measures import du2018 as m

PAPER = "du2018"
NETWORK = "du2018.network"
FACTORIZATION = "du2018.factorization"

# Scales whose setting the verification or a calibration run measured (docs/papers/du2018.md).
DEFAULT = ("default", "offline")
BOTH = ("ci", "default", "offline")


def _spec(cid: str, statement: str, target: Target, calibrated_at: tuple[str, ...] = ()):
    return ClaimSpec(PAPER, cid, statement, target=target, calibrated_at=calibrated_at)


R, P, C = Target.RECONSTRUCTION, Target.PAPER, Target.PAPER_CONTRADICTED

CLAIMS = ClaimSet(
    PAPER,
    [
        _spec(
            "identity_per_step",
            "Each GD step changes D_h = ‖W_{h+1}‖² − ‖W_h‖² by exactly η²(‖G_{h+1}‖² − ‖G_h‖²) "
            "(the first-order terms cancel by homogeneity): max per-step residual",
            R,
        ),
        _spec(
            "identity_cumulative",
            "D_h(t) − D_h(0) equals the accumulated η² prediction: max |difference| / "
            "max(1, max_h‖W_h‖²) over runs and steps",
            R,
        ),
        _spec(
            "identity_neuronwise",
            "Neuron-wise: ‖W_h[k,:]‖² − ‖W_{h+1}[:,k]‖² changes by exactly the accumulated η² "
            "prediction (max residual / max(1, unit norm²))",
            R,
        ),
        _spec(
            "homogeneity",
            "⟨W_h, G_h⟩ is the same for every layer (positive homogeneity): max relative spread",
            R,
        ),
        _spec(
            "ratio_prediction",
            "Layer-norm ratios follow the gradient-flow prediction 1 + D_h(0)/‖W_h(t)‖²: "
            "max over t and pairs of the gap, worst run",
            R,
            BOTH,
        ),
        _spec(
            "d_conserved",
            "D_h is nearly conserved by GD: max_h |D_h(T) − D_h(0)| / ‖W_h(T)‖², worst run",
            R,
            BOTH,
        ),
        _spec(
            "balanced_ratio",
            "Balanced initialization: the layers stay balanced, max_h |‖W_h‖²/‖W_{h+1}‖² − 1| "
            "at the end, worst run",
            P,
            BOTH,
        ),
        _spec(
            "unbalanced_ratio",
            "Unbalanced initialization (‖W_1‖² : ‖W_2‖² = 10 : 1): the layers do not become "
            "balanced; ‖W_1‖²/‖W_2‖² ends at 1 + |D_1|/‖W_2‖², near but measurably above 1 "
            "(run farthest from the band)",
            C,
            BOTH,
        ),
        _spec(
            "large_eta_balance_lost",
            "With a large step (non-monotone loss) balance is lost: max ‖W_1‖²/‖W_2‖² at the "
            "end over the balanced large-step runs",
            C,
            DEFAULT,
        ),
        _spec(
            "drift_order_eta",
            "The total drift of D_1 over a fixed gradient-flow time is O(η): relative spread of "
            "|D_1(T) − D_1(0)|/η across η, worst initialization and seed",
            R,
            ("ci",),
        ),
        _spec(
            "mf_identity_per_step",
            "Factorization: each GD step changes UᵀU − VᵀV by exactly η²(VᵀRᵀRV − UᵀRRᵀU): max "
            "per-step residual, all studies",
            R,
        ),
        _spec(
            "mf_identity_cumulative",
            "Factorization: max ‖B(t) − B(0) − Σ predicted‖_F / max(1, ‖U‖², ‖V‖²), all studies",
            R,
        ),
        _spec(
            "mf_converges",
            "Decaying steps η_t = η₀/σ₁·(t+1)^−(1/2+δ) from a small initialization converge to a "
            "global optimum: max ‖UVᵀ − M‖_F/‖M‖_F at the end",
            P,
            BOTH,
        ),
        _spec(
            "mf_balance_preserved",
            "Decaying steps, small initialization: the balance ‖UᵀU − VᵀV‖_F stays at its "
            "initial size (max end / start)",
            P,
        ),
        _spec(
            "mf_balanced_optimum",
            "Decaying steps, small initialization: GD ends at the balanced optimum, "
            "max |‖U‖_F²/‖M‖_* − 1|",
            P,
        ),
        _spec(
            "mf_unbalanced_not_balanced",
            "Paper: decaying-step GD 'automatically balances' the factors. Measured: it preserves "
            "the initial balance; from an unbalanced initialization the imbalance ‖U‖² − ‖V‖² "
            "is kept (min end / start)",
            C,
        ),
        _spec(
            "mf_constant_small_step_keeps",
            "Constant steps from the unbalanced initialization: at the smallest step the "
            "imbalance ‖U‖² − ‖V‖² is kept (max |fraction removed|)",
            R,
        ),
        _spec(
            "mf_constant_partial_rebalance",
            "Constant steps from the unbalanced initialization: the largest step removes part "
            "of the imbalance, never all of it (fraction removed, every run)",
            C,
        ),
        _spec(
            "mf_rank1_linear_rate",
            "Rank 1, constant step: linear convergence at the rate max(|1 − ησ₁|, |1 − 2ησ₁|) "
            "of GD linearized at the balanced optimum: max |measured − predicted|",
            R,
            BOTH,
        ),
        _spec(
            "mf_paper_schedule_stalls",
            "The step schedule as printed, η_t = 1/(100(t+1)‖M‖_F^{3/2}), makes no progress from "
            "a small initialization (min relative error at the end)",
            C,
        ),
    ],
)


def _list(values: Sequence[str], limit: int = 8) -> str:
    shown = list(values[:limit])
    more = len(values) - len(shown)
    return "; ".join(shown) + (f"; … {more} more" if more > 0 else "")


def _fmt(x: float) -> str:
    return format_value(float(x))


def _excluded(diverged: list[str]) -> str:
    return f"; excluded as diverged: {_list(diverged)}" if diverged else ""


# --------------------------------------------------------------------------- network


def network_claims(net: pd.DataFrame | None, scale: str) -> list[Claim]:
    ids = [
        "identity_per_step",
        "identity_cumulative",
        "identity_neuronwise",
        "homogeneity",
        "ratio_prediction",
        "d_conserved",
        "balanced_ratio",
        "unbalanced_ratio",
    ]
    if net is None or net.empty or not (net["experiment"] == "network").any():
        return [
            CLAIMS[c].not_run("no runs of the main network experiment in the tables") for c in ids
        ]
    stats, diverged = m.network_runs(net, "network")
    if not stats:
        why = f"every run of the main network experiment diverged ({_list(diverged)})"
        return [CLAIMS[c].inconclusive(math.nan, why) for c in ids]
    excluded = _excluded(diverged)
    rows: list[Claim] = []

    worst = max(stats, key=lambda r: r.per_step_residual)
    rows.append(
        CLAIMS["identity_per_step"].check(
            worst.per_step_residual,
            m.IDENTITY_PER_STEP,
            f"{len(stats)} runs, worst {worst.label}{excluded}",
        )
    )
    worst = max(stats, key=lambda r: r.cumulative_residual)
    rows.append(
        CLAIMS["identity_cumulative"].check(
            worst.cumulative_residual,
            m.IDENTITY_CUMULATIVE,
            f"{len(stats)} runs, worst {worst.label}{excluded}",
        )
    )
    checked = [r for r in stats if math.isfinite(r.neuron_residual)]
    if checked:
        worst = max(checked, key=lambda r: r.neuron_residual)
        rows.append(
            CLAIMS["identity_neuronwise"].check(
                worst.neuron_residual,
                m.IDENTITY_NEURONWISE,
                f"{len(checked)} runs, worst {worst.label}{excluded}",
            )
        )
    worst = max(stats, key=lambda r: r.homogeneity_spread)
    rows.append(
        CLAIMS["homogeneity"].check(
            worst.homogeneity_spread,
            m.HOMOGENEITY,
            f"{len(stats)} runs, worst {worst.label}{excluded}",
        )
    )
    rows += _regime_claims(stats, diverged, scale)
    return rows


def _regime_claims(stats: list[m.NetworkRun], diverged: list[str], scale: str) -> list[Claim]:
    """The claims about the small-step regime: runs whose loss decreased monotonically (a
    non-monotone run is outside it and is listed, not used), each of which must have trained."""
    b = m.bounds(scale)
    regime = [r for r in stats if r.monotone]
    outside = [r.label for r in stats if not r.monotone]
    note = _excluded(diverged) + (
        f"; outside the small-step regime (non-monotone loss), not used: {_list(outside)}"
        if outside
        else ""
    )

    def losses(runs: list[m.NetworkRun]) -> str:
        values = [r.loss_fraction for r in runs]
        return f"final L/L(0) {_fmt(min(values))}–{_fmt(max(values))}"

    def trained(runs: list[m.NetworkRun]) -> Precondition:
        bad = [r.label for r in runs if not r.trained]
        text = (
            f"every run used trained: monotone loss ending ≤ {m.TRAINED_LOSS_FRACTION:g} L(0)"
            + (f" (not: {_list(bad)})" if bad else "")
        )
        return Precondition(text, not bad)

    def per_run(runs: list[m.NetworkRun], attr: str) -> str:
        return _list([f"{r.label}: {_fmt(getattr(r, attr))}" for r in runs], 10)

    rows: list[Claim] = []
    if not regime:
        why = f"no run of the main experiment has a monotone loss ({_list(outside)})"
        ids = ("ratio_prediction", "d_conserved", "balanced_ratio", "unbalanced_ratio")
        return [CLAIMS[c].inconclusive(math.nan, why) for c in ids]
    worst = max(regime, key=lambda r: r.ratio_gap)
    h, t = worst.ratio_gap_at
    rows.append(
        CLAIMS["ratio_prediction"].check(
            worst.ratio_gap,
            b.ratio_prediction,
            f"worst {worst.label} (pair {h}, step {t}); per run: {per_run(regime, 'ratio_gap')}; "
            f"{losses(regime)}{note}",
            preconditions=[trained(regime)],
        )
    )
    worst = max(regime, key=lambda r: r.d_change)
    rows.append(
        CLAIMS["d_conserved"].check(
            worst.d_change,
            b.d_conserved,
            f"worst {worst.label}; per run: {per_run(regime, 'd_change')}{note}",
            preconditions=[trained(regime)],
        )
    )
    for init, cid in (("balanced", "balanced_ratio"), ("unbalanced", "unbalanced_ratio")):
        mine = [r for r in regime if r.init == init]
        if not mine and any(r.init == init for r in stats):
            why = f"no {init} run of the main experiment has a monotone loss"
            rows.append(CLAIMS[cid].inconclusive(math.nan, why, note.lstrip("; ")))
            continue
        if not mine:
            why = f"no {init} runs in the main experiment (du2018.network.inits)"
            rows.append(CLAIMS[cid].not_run(why))
            continue
        if cid == "balanced_ratio":
            worst = max(mine, key=lambda r: r.balance_deviation)
            value, values = worst.balance_deviation, per_run(mine, "balance_deviation")
        else:
            band = b.unbalanced_ratio
            worst = max(mine, key=lambda r: max(band.low - r.ratio_12, r.ratio_12 - band.high))
            value, values = worst.ratio_12, per_run(mine, "ratio_12")
        bound = b.balanced_ratio if cid == "balanced_ratio" else b.unbalanced_ratio
        rows.append(
            CLAIMS[cid].check(
                value,
                bound,
                f"worst {worst.label}; per run: {values}; {losses(mine)}{note}",
                preconditions=[trained(mine)],
            )
        )
    return rows


def large_eta_claims(net: pd.DataFrame | None) -> list[Claim]:
    spec = CLAIMS["large_eta_balance_lost"]
    if net is None or net.empty or not (net["experiment"] == "large_eta").any():
        return [
            spec.not_run(
                "the large-step study is off at this scale (du2018.large_eta.enabled): no "
                "large_eta runs in the tables"
            )
        ]
    stats, diverged = m.network_runs(net, "large_eta")
    if not stats:
        return [spec.inconclusive(math.nan, f"every large-step run diverged ({_list(diverged)})")]
    worst = max(stats, key=lambda r: r.ratio_12)
    monotone = [r.label for r in stats if r.monotone]
    regime = Precondition(
        "every large-step run has a non-monotone loss (the regime the claim is about)"
        + (f" (monotone: {_list(monotone)})" if monotone else ""),
        not monotone,
    )
    return [
        spec.check(
            worst.ratio_12,
            m.LARGE_ETA_RATIO,
            f"worst {worst.label}; per run: "
            + _list([f"{r.label}: {_fmt(r.ratio_12)}" for r in stats], 10)
            + _excluded(diverged),
            preconditions=[regime],
        )
    ]


def drift_claims(net: pd.DataFrame | None) -> list[Claim]:
    spec = CLAIMS["drift_order_eta"]
    if net is None or net.empty or not (net["experiment"] == "drift").any():
        return [
            spec.not_run(
                "the drift study is off at this scale (du2018.drift.enabled): no drift runs in "
                "the tables"
            )
        ]
    spreads = m.drift_spread(m.drift_table(net), pair=1)
    usable = spreads[spreads["n_eta"] >= 2]
    if usable.empty:
        return [
            spec.inconclusive(
                math.nan, "fewer than two step sizes finished for every initialization and seed"
            )
        ]
    worst = usable.loc[usable["spread"].idxmax()]
    per = _list(
        [
            f"{r.init} seed {r.seed}: spread {_fmt(r.spread)} (|ΔD_1|/η = "
            + ", ".join(f"{_fmt(v)} at η={e:g}" for e, v in zip(r.etas, r.values, strict=True))
            + ")"
            for r in usable.itertuples()
        ],
        6,
    )
    return [
        spec.check(
            float(worst["spread"]),
            m.DRIFT_SPREAD,
            f"worst {worst['init']} seed {worst['seed']}; {per}",
        )
    ]


# --------------------------------------------------------------------------- factorization

MF_IDS = [
    "mf_identity_per_step",
    "mf_identity_cumulative",
    "mf_converges",
    "mf_balance_preserved",
    "mf_balanced_optimum",
    "mf_unbalanced_not_balanced",
    "mf_constant_small_step_keeps",
    "mf_constant_partial_rebalance",
    "mf_rank1_linear_rate",
    "mf_paper_schedule_stalls",
]


def _study_off(study: str) -> str:
    return (
        f"the {study} factorization study is off at this scale "
        f"(du2018.factorization.studies.{study}.enabled): no such runs in the tables"
    )


def factorization_claims(mf: pd.DataFrame | None, scale: str) -> list[Claim]:
    if mf is None or mf.empty:
        return [CLAIMS[c].not_run("no matrix-factorization runs in the tables") for c in MF_IDS]
    stats, diverged = m.factorization_runs(mf)
    excluded = _excluded(diverged)
    rows: list[Claim] = []
    if stats:
        worst = max(stats, key=lambda r: r.per_step_residual)
        rows.append(
            CLAIMS["mf_identity_per_step"].check(
                worst.per_step_residual,
                m.MF_IDENTITY_PER_STEP,
                f"{len(stats)} runs, worst {worst.label}{excluded}",
            )
        )
        worst = max(stats, key=lambda r: r.cumulative_residual)
        rows.append(
            CLAIMS["mf_identity_cumulative"].check(
                worst.cumulative_residual,
                m.MF_IDENTITY_CUMULATIVE,
                f"{len(stats)} runs, worst {worst.label}{excluded}",
            )
        )
    rows += _decaying_claims(stats, scale, excluded)
    rows += _constant_claims(stats, excluded)
    rows += _rank1_claims(stats, excluded)
    paper = [r for r in stats if r.study == "paper_schedule"]
    spec = CLAIMS["mf_paper_schedule_stalls"]
    if paper:
        best = min(paper, key=lambda r: r.final_rel_err)
        rows.append(
            spec.check(
                best.final_rel_err,
                m.MF_PAPER_SCHEDULE,
                f"lowest {best.label}; per run: "
                + _list([f"seed {r.seed}: {_fmt(r.final_rel_err)}" for r in paper], 10)
                + excluded,
            )
        )
    else:
        rows.append(spec.not_run(_study_off("paper_schedule")))
    return rows


def _decaying_claims(stats: list[m.FactorizationRun], scale: str, excluded: str) -> list[Claim]:
    ids = ("mf_converges", "mf_balance_preserved", "mf_balanced_optimum")
    decaying = [r for r in stats if r.study == "decaying"]
    small = [r for r in decaying if r.init == "small"]
    unbalanced = [r for r in decaying if r.init == "unbalanced"]
    rows: list[Claim] = []
    if not decaying:
        return [
            CLAIMS[c].not_run(_study_off("decaying")) for c in (*ids, "mf_unbalanced_not_balanced")
        ]
    if small:
        worst = max(small, key=lambda r: r.final_rel_err)
        rows.append(
            CLAIMS["mf_converges"].check(
                worst.final_rel_err,
                m.bounds(scale).mf_converges,
                f"worst {worst.label}; per run: "
                + _list([f"seed {r.seed}: {_fmt(r.final_rel_err)}" for r in small], 10)
                + excluded,
            )
        )
        worst = max(small, key=lambda r: r.balance_growth)
        rows.append(
            CLAIMS["mf_balance_preserved"].check(
                worst.balance_growth,
                m.MF_BALANCE_GROWTH,
                f"largest {worst.label}; per run: "
                + _list([f"seed {r.seed}: {_fmt(r.balance_growth)}" for r in small], 10),
            )
        )
        far = [r.label for r in small if not r.final_rel_err <= m.MF_AT_OPTIMUM]
        worst = max(small, key=lambda r: r.optimum_gap)
        rows.append(
            CLAIMS["mf_balanced_optimum"].check(
                worst.optimum_gap,
                m.MF_OPTIMUM_GAP,
                f"worst {worst.label}; per run: "
                + _list([f"seed {r.seed}: {_fmt(r.optimum_gap)}" for r in small], 10),
                preconditions=[
                    Precondition(
                        f"every run reached the optimum: relative error ≤ {m.MF_AT_OPTIMUM:g}"
                        + (f" (not: {_list(far)})" if far else ""),
                        not far,
                    )
                ],
            )
        )
    else:
        why = "no small-initialization run in the decaying study (du2018.factorization.studies.decaying.inits)"
        rows += [CLAIMS[c].not_run(why) for c in ids]
    spec = CLAIMS["mf_unbalanced_not_balanced"]
    if unbalanced:
        kept = min(unbalanced, key=lambda r: r.imbalance_kept)
        far = [r.label for r in unbalanced if not r.final_rel_err <= m.MF_NEAR_OPTIMUM]
        rows.append(
            spec.check(
                kept.imbalance_kept,
                m.MF_IMBALANCE_KEPT,
                f"lowest {kept.label}; per run, kept (final relative error): "
                + _list(
                    [
                        f"seed {r.seed}: {_fmt(r.imbalance_kept)} ({_fmt(r.final_rel_err)})"
                        for r in unbalanced
                    ],
                    10,
                )
                + "; balancing would give ≈ 0",
                preconditions=[
                    Precondition(
                        f"every run ended near an optimum: relative error ≤ {m.MF_NEAR_OPTIMUM:g}"
                        + (f" (not: {_list(far)})" if far else ""),
                        not far,
                    )
                ],
            )
        )
    else:
        rows.append(
            spec.not_run(
                "no unbalanced-initialization run in the decaying study "
                "(du2018.factorization.studies.decaying.inits)"
            )
        )
    return rows


def _constant_claims(stats: list[m.FactorizationRun], excluded: str) -> list[Claim]:
    ids = ("mf_constant_small_step_keeps", "mf_constant_partial_rebalance")
    constant = [r for r in stats if r.study == "constant"]
    if not constant:
        return [CLAIMS[c].not_run(_study_off("constant")) for c in ids]
    reduction = m.constant_reduction(constant)
    smallest, largest = min(reduction), max(reduction)
    per = "; ".join(
        f"η₀σ₁={eta:g}: " + ", ".join(_fmt(v) for v in values) for eta, values in reduction.items()
    )
    far = [r.label for r in constant if not r.final_rel_err <= m.MF_NEAR_OPTIMUM]
    pre = [
        Precondition(f"at least two step sizes ran ({len(reduction)})", len(reduction) >= 2),
        Precondition(
            f"every run ended near an optimum: relative error ≤ {m.MF_NEAR_OPTIMUM:g}"
            + (f" (not: {_list(far)})" if far else ""),
            not far,
        ),
    ]
    kept = max(reduction[smallest], key=abs)
    band = m.MF_CONSTANT_PARTIAL
    # The run farthest from the band (or nearest its edge) decides.
    edge = max(reduction[largest], key=lambda v: max(band.low - v, v - band.high))
    return [
        CLAIMS["mf_constant_small_step_keeps"].check(
            abs(kept),
            m.MF_CONSTANT_KEPT,
            f"smallest step η₀σ₁ = {smallest:g}; fraction removed per step size: {per}{excluded}",
            preconditions=pre,
        ),
        CLAIMS["mf_constant_partial_rebalance"].check(
            edge,
            m.MF_CONSTANT_PARTIAL,
            f"largest step η₀σ₁ = {largest:g}; fraction removed per step size: {per}{excluded}",
            preconditions=pre,
        ),
    ]


def _rank1_claims(stats: list[m.FactorizationRun], excluded: str) -> list[Claim]:
    spec = CLAIMS["mf_rank1_linear_rate"]
    rank1 = [r for r in stats if r.study == "rank1"]
    if not rank1:
        return [spec.not_run(_study_off("rank1"))]
    measured = [r for r in rank1 if math.isfinite(r.rate_gap)]
    if not measured:
        return [
            spec.inconclusive(
                math.nan,
                "no rank-1 run has consecutive logged errors in the window (1e-10, 1e-4)",
            )
        ]
    worst = max(measured, key=lambda r: r.rate_gap)
    return [
        spec.check(
            worst.rate_gap,
            m.MF_RANK1_RATE,
            f"worst {worst.label}; per run: "
            + _list([f"{r.label}: {_fmt(r.rate_gap)}" for r in measured], 10)
            + excluded,
        )
    ]


def evaluate(tables: dict[str, pd.DataFrame], scale: str) -> list[Claim]:
    """One row per declared claim from the tables ``du2018.network`` and
    ``du2018.factorization`` (either may be missing: its claims are then NOT RUN)."""
    net, mf = tables.get(NETWORK), tables.get(FACTORIZATION)
    return (
        network_claims(net, scale)
        + large_eta_claims(net)
        + drift_claims(net)
        + factorization_claims(mf, scale)
    )
