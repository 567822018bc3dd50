"""Huh (2020): the claims, declared once and judged on the run's tables.

Each claim is documented under its id in docs/papers/huh2020.md (statement, statistic, target,
tolerance and where it was calibrated). The statistics and bounds come from
:mod:`curvlab.measures.huh2020`; this module only declares the claims and turns the numbers into
rows. Tables: ``huh2020.train`` (random-init runs) and ``huh2020.modes`` (aligned network).
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import pandas as pd

from curvlab.claims import Claim, ClaimSet, ClaimSpec, Precondition, Target
from curvlab.measures import huh2020 as ms
from curvlab.measures.huh2020 import BOUNDS, LABELS, Runs, _fmt
from curvlab.theory import huh

PAPER = "huh2020"
P, CONTRA, REC = Target.PAPER, Target.PAPER_CONTRADICTED, Target.RECONSTRUCTION
# Where the tolerances were measured (docs/papers/huh2020.md, each claim's "Tolerance and
# calibration"). DEFAULT: the default setting (= offline for this paper). WITH_CI: claims whose
# runs are identical at ci (seed 0 of the default runs: NGD, NGD-d, sqrt-NGD-d, undamped
# NGD-d and the aligned study's closed-form constants are not shortened there).
DEFAULT = ("default", "offline")
WITH_CI = ("ci", "default", "offline")


def _spec(cid: str, statement: str, target: Target = P, calibrated_at=()) -> ClaimSpec:
    return ClaimSpec(PAPER, cid, statement, target=target, calibrated_at=tuple(calibrated_at))


CLAIMS = ClaimSet(
    PAPER,
    [
        _spec(
            "identity_jacobian_fd",
            "The Jacobian blocks J_i = W_{<i}ᵀ ⊗ W_{>i} match central finite differences",
            REC,
        ),
        _spec(
            "identity_kronecker",
            "The Gauss–Newton blocks and JJᵀ have the Kronecker forms used by every rule",
            REC,
        ),
        _spec(
            "fast_route",
            "Every rule's fast update route equals the SVD of the explicit Jacobian",
            REC,
        ),
        _spec(
            "modes_decouple",
            "Aligned init: the matrix network equals the per-mode scalar system",
            REC,
        ),
        _spec(
            "faster_training",
            "Curvature correction converges faster in training loss than GD",
        ),
        _spec(
            "sqrt_keeps_acceleration",
            "The square-root rules keep most of the acceleration",
        ),
        _spec("rate_ngd", "NGD's map error decays like e^{−t}", P, WITH_CI),
        _spec("rate_ngd_d", "NGD-d's map error decays like e^{−dt}", P, WITH_CI),
        _spec("rate_ratio", "NGD-d's decay rate is d times NGD's", P, WITH_CI),
        _spec("clip_off", "Clipping is a short transient", REC, WITH_CI),
        _spec(
            "speedup_ngd_d_over_ngd",
            "With clipping NGD-d reaches a small map error about 3.2 times sooner than NGD, "
            "not d = 4 times",
            CONTRA,
            WITH_CI,
        ),
        _spec(
            "generalization_ngd",
            "Curvature correction can hurt generalization: NGD's best test loss is worse than GD's",
            P,
            DEFAULT,
        ),
        _spec(
            "generalization_ngd_d",
            "Curvature correction can hurt generalization: NGD-d's best test loss is worse than "
            "GD's",
            P,
            DEFAULT,
        ),
        _spec(
            "generalization_ngd_ray",
            "NGD's best test point is the best point on the ray aΣ̂",
            REC,
            WITH_CI,
        ),
        _spec(
            "generalization_sqrt",
            "The square-root rules generalize like GD",
            REC,
            DEFAULT,
        ),
        _spec(
            "balance_kept",
            "GD, NGD and sqrt-NGD keep the balance matrices C_i (weight balance across layers)",
            P,
            DEFAULT,
        ),
        _spec("balance_drift_order_eta", "Euler GD's balance drift is O(η)", REC, DEFAULT),
        _spec("balance_lost_ngd_d", "NGD-d destroys weight balance", P, WITH_CI),
        _spec("layer_norms_ngd_d", "NGD-d ends with unequal layer norms", P, WITH_CI),
        _spec("balance_end_ngd_d", "NGD-d's final balance matrices are large", P, WITH_CI),
        _spec(
            "layer_norms_balanced",
            "GD, NGD, sqrt-NGD and sqrt-NGD-d end with equal layer norms",
            P,
            DEFAULT,
        ),
        _spec(
            "balance_end_sqrt_ngd_d",
            "sqrt-NGD-d keeps the layers nearly balanced",
            P,
            WITH_CI,
        ),
        _spec(
            "same_path_per_mode_flow",
            "Generalized conservation law: per mode, NGD and sqrt-NGD follow GD's path (flow)",
            P,
            DEFAULT,
        ),
        _spec(
            "ngd_d_leaves_path",
            "Per mode, NGD-d leaves GD's path (flow)",
            P,
            DEFAULT,
        ),
        _spec(
            "same_path_per_mode_euler",
            "Per mode, NGD and sqrt-NGD follow GD's path under Euler steps, up to the "
            "discretization error",
            P,
            WITH_CI,
        ),
        _spec(
            "same_path_per_mode_euler_order",
            "The Euler path error vanishes at least linearly with the step length",
            REC,
        ),
        _spec(
            "same_path_layer_norms",
            "NGD's path in layer-norm space stays on GD's (a weak test)",
            P,
            DEFAULT,
        ),
        _spec(
            "layer_norm_path_ngd_d",
            "NGD-d's path in layer-norm space leaves GD's",
            P,
            DEFAULT,
        ),
        _spec(
            "joint_paths_differ",
            "The paper: NGD follows the same path as GD. Measured: the joint paths differ "
            "(the same path holds per mode only)",
            CONTRA,
            DEFAULT,
        ),
        _spec("exact_invariants", "The conservation laws are exact at ε = 0", REC),
        _spec(
            "speed_spike",
            "Without clipping NGD and NGD-d spike in parameter speed",
            P,
            DEFAULT,
        ),
        _spec(
            "speed_spike_time",
            "The speed spike comes while the singular values are small",
            P,
            DEFAULT,
        ),
        _spec("ngd_speed_bound", "Damping caps NGD's speed at ‖e‖/(2√ε)", REC),
        _spec("sqrt_speed_bounded", "The square-root rules have bounded speed"),
        _spec(
            "unclipped_no_divergence",
            "The paper: NGD-d (and NGD) are unstable without clipping. Measured: unclipped runs "
            "at ε = 1e-5 do not diverge",
            CONTRA,
            DEFAULT,
        ),
        _spec(
            "unclipped_distorts_path",
            "Unclipped NGD and NGD-d distort the path (their first steps break the balance)",
            REC,
            DEFAULT,
        ),
        _spec(
            "ngd_d_undamped_stalls",
            "Undamped NGD-d stalls from random init",
            REC,
            WITH_CI,
        ),
        _spec(
            "random_init_modes_sqrt",
            "sqrt-NGD from random init follows the balanced mode ODE (timing)",
            REC,
            DEFAULT,
        ),
        _spec(
            "random_init_modes_sqrt_shape",
            "sqrt-NGD from random init follows the balanced mode ODE (shape)",
            REC,
            DEFAULT,
        ),
        _spec(
            "random_init_modes_ngd",
            "After clip-off NGD and NGD-d follow the closed-form exponential map",
            REC,
            WITH_CI,
        ),
        _spec(
            "random_init_modes_gd",
            "GD from random init learns the leading modes on the mode ODE's time scale",
            REC,
            DEFAULT,
        ),
        _spec(
            "random_init_modes_gd_order",
            "GD learns the leading modes in stages, the weakest last",
            REC,
        ),
        _spec(
            "closed_form_ngd",
            "NGD's and NGD-d's map ODEs have exponential closed forms",
            REC,
        ),
        _spec(
            "gd_time_scale",
            "GD's plateau lasts t ≈ 1/((d − 2) ŝ σ₀^{d−2})",
            REC,
            WITH_CI,
        ),
        _spec(
            "sqrt_escape_time",
            "sqrt-NGD has no plateau: t_half ∝ ŝ^{−(1−1/d)} as s₀ → 0",
            REC,
        ),
    ],
)

C = CLAIMS.specs


def _off(cid: str, what: str, key: str) -> Claim:
    return C[cid].not_run(f"{what} is disabled at this scale ({key})")


def _runs_off(cid: str, *runs: str) -> Claim:
    keys = ", ".join(
        f"huh2020.{'methods' if r in ms.METHODS else 'controls'}.{r}.enabled" for r in runs
    )
    names = ", ".join(LABELS.get(r, r) for r in runs)
    return C[cid].not_run(f"the run(s) {names} did not run at this scale ({keys})")


# --------------------------------------------------------------------------- random init


class _Train:
    """The random-init runs plus the precondition every judged row of them carries."""

    def __init__(self, train: pd.DataFrame) -> None:
        self.runs = Runs(train)
        bad = self.runs.diverged_main()
        text = (
            "every main run stayed finite"
            if not bad
            else "every main run stayed finite (diverged: "
            + "; ".join(f"{LABELS[r]} seed {s}" for r, s in bad)
            + ")"
        )
        self.finite = Precondition(text, not bad)

    def missing(self, cid: str, *needed: str) -> Claim | None:
        absent = [r for r in needed if not self.runs.has(r)]
        return _runs_off(cid, *absent) if absent else None


def identity_claims(train: _Train | None) -> list[Claim]:
    ids = ("identity_jacobian_fd", "identity_kronecker", "fast_route")
    if train is None:
        return []
    checks = train.runs.frame[train.runs.frame["quantity"].str.startswith("check_")]
    if checks.empty:
        return [_off(cid, "the identity checks", "huh2020.identity_checks") for cid in ids]
    worst = checks.groupby("quantity")["value"].max()
    n = checks[["run", "seed"]].drop_duplicates().shape[0]
    fd = float(worst.get("check_jacobian_fd", math.nan))
    kron = float(max(worst.get("check_gn_blocks", math.nan), worst.get("check_jjt", math.nan)))
    route = float(worst.get("check_fast_route", math.nan))
    return [
        C["identity_jacobian_fd"].check(
            fd, BOUNDS["identity_jacobian_fd"], f"max |J_fd − J| / max |J| at init, {n} runs"
        ),
        C["identity_kronecker"].check(
            kron,
            BOUNDS["identity_kronecker"],
            f"G_ij = (W_{{<i}}W_{{<j}}ᵀ) ⊗ (W_{{>i}}ᵀW_{{>j}}) and JJᵀ against the explicit JᵀJ, "
            f"JJᵀ: max relative entry error, {n} runs",
        ),
        C["fast_route"].check(
            route,
            BOUNDS["fast_route"],
            f"Jᵀ(JJᵀ + εI)^{{−α}}e (full) or the G_ii eigenbasis (block) against the SVD of the "
            f"explicit J or J_i: max ‖Δ‖/‖v‖ at init, {n} runs",
        ),
    ]


def speed_of_learning_claims(train: _Train) -> list[Claim]:
    runs = train.runs
    out: list[Claim] = []
    have = [m for m in ms.CORRECTED if runs.has(m)]
    if not runs.has("gd") or not have:
        gone = [m for m in ("gd", *ms.CORRECTED) if not runs.has(m)]
        return [_runs_off(cid, *gone) for cid in ("faster_training", "sqrt_keeps_acceleration")]
    thr = ms.TRAIN_THRESHOLD

    def t_gd(seed: int) -> tuple[float, bool]:
        t = ms.time_to_threshold(runs, "gd", seed, thr)
        return (runs.settings["gd"]["horizon"], False) if math.isnan(t) else (t, True)

    ratios: dict[str, list[float]] = {m: [] for m in have}
    gd_times, gd_reached = [], True
    for seed in runs.seeds("gd"):
        t, reached = t_gd(seed)
        gd_times.append(t)
        gd_reached &= reached
        for m in have:
            if seed in runs.seeds(m):
                ratios[m].append(ms.time_to_threshold(runs, m, seed, thr) / t)
    flat = [x for v in ratios.values() for x in v]
    reached_all = all(math.isfinite(x) for x in flat)
    worst = max(flat) if flat and reached_all else math.nan
    medians = "; ".join(f"{LABELS[m]} {np.median(v):.3g}" for m, v in ratios.items() if v)
    out.append(
        C["faster_training"].check(
            worst,
            BOUNDS["faster_training"],
            f"time to bring the training excess ½‖W − Σ̂‖² to {thr:g} × its initial value, over "
            f"GD's (GD: t = {_fmt(gd_times)}"
            + ("" if gd_reached else "; GD did not reach it: its horizon is used, a lower bound")
            + f"); max over methods and seeds (medians: {medians})",
            preconditions=[
                train.finite,
                Precondition("every corrected run reached the threshold", reached_all),
            ],
        )
    )
    pairs = [(s, f) for s, f in (("sqrt_ngd", "ngd"), ("sqrt_ngd_d", "ngd_d")) if s in have]
    pairs = [(s, f) for s, f in pairs if f in have]
    if not pairs:
        gone = [m for m in ms.CORRECTED if not runs.has(m)]
        out.append(_runs_off("sqrt_keeps_acceleration", *gone))
        return out
    kept = []
    for sqrt_m, full_m in pairs:
        for seed in runs.common_seeds("gd", sqrt_m, full_m):
            t = t_gd(seed)[0]
            t_s = ms.time_to_threshold(runs, sqrt_m, seed, thr)
            t_f = ms.time_to_threshold(runs, full_m, seed, thr)
            kept.append(math.log(t / t_s) / math.log(t / t_f))
    out.append(
        C["sqrt_keeps_acceleration"].check(
            min(kept) if kept else math.nan,
            BOUNDS["sqrt_keeps_acceleration"],
            "log(t_GD/t_sqrt) / log(t_GD/t_full) for the time to the training threshold "
            f"(sqrt-NGD vs NGD, sqrt-NGD-d vs NGD-d), min over pairs and seeds ({_fmt(kept)})",
            preconditions=[train.finite],
        )
    )
    return out


def rate_claims(train: _Train) -> list[Claim]:
    runs = train.runs
    out: list[Claim] = []
    rates: dict[str, dict[int, float]] = {}
    for run, cid in (("ngd", "rate_ngd"), ("ngd_d", "rate_ngd_d")):
        if not runs.has(run):
            out.append(_runs_off(cid, run))
            continue
        depth = runs.depth(run)
        c = 1.0 if run == "ngd" else float(depth)
        bound = ms.rate_bound(c, runs.settings[run]["eta"])
        rates[run] = {}
        ends, shortened = [], []
        for seed in runs.seeds(run):
            rates[run][seed], end, skip = ms.fitted_rate(runs, run, seed)
            ends.append(end)
            if skip:
                shortened.append(seed)
        values = list(rates[run].values())
        worst = max(values, key=lambda r: abs(r / bound.center - 1) if math.isfinite(r) else 1e9)
        out.append(
            C[cid].check(
                worst,
                bound,
                f"rate of ln‖W − Σ̂‖_F after clip-off against the Euler rate −ln(1 − "
                f"{'' if c == 1 else f'{c:g}'}η)/η; window from clip-off to 1e-3 × the clip-off "
                f"error (to 1e-2 where ŝ_min < {ms.DEEP_TAIL_S_MIN:g}: seeds "
                f"{shortened or 'none'}), ending at t = {_fmt(ends)}; per seed "
                f"{_fmt(values, 5)}; the value farthest from the center is shown",
                preconditions=[
                    train.finite,
                    Precondition(
                        "at least 3 logged points after clip-off in every seed",
                        all(math.isfinite(v) for v in values),
                    ),
                ],
            )
        )
    if len(rates) < 2:
        gone = [r for r in ("ngd", "ngd_d") if not runs.has(r)]
        for cid in ("rate_ratio", "clip_off", "speedup_ngd_d_over_ngd"):
            out.append(_runs_off(cid, *gone))
        return out
    seeds = sorted(set(rates["ngd"]) & set(rates["ngd_d"]))
    ratios = [rates["ngd_d"][s] / rates["ngd"][s] for s in seeds]
    bound = ms.rate_ratio_bound(runs.depth("ngd_d"))
    worst = max(ratios, key=lambda r: abs(r - bound.center)) if ratios else math.nan
    out.append(
        C["rate_ratio"].check(
            worst,
            bound,
            f"fitted rate NGD-d / NGD per seed ({_fmt(ratios, 4)}; the value farthest from d "
            "shown)",
            preconditions=[train.finite],
        )
    )
    offs = [ms.clip_off_time(runs, r, s) for r in ("ngd", "ngd_d") for s in runs.seeds(r)]
    out.append(
        C["clip_off"].check(
            max(offs),
            BOUNDS["clip_off"],
            f"t of the last clipped step of NGD and NGD-d, max over seeds (all: {_fmt(offs)})",
            preconditions=[train.finite],
        )
    )
    times = [
        ms.time_to_relative_error(runs, "ngd", s) / ms.time_to_relative_error(runs, "ngd_d", s)
        for s in seeds
    ]
    out.append(
        C["speedup_ngd_d_over_ngd"].check(
            float(np.median(times)) if times else math.nan,
            BOUNDS["speedup_ngd_d_over_ngd"],
            "time to ‖W − Σ̂‖/‖Σ̂‖ = 1e-3, NGD over NGD-d, median over seeds "
            f"({_fmt(times)}); the rate ratio is d (rate_ratio), but the clipped, damped "
            "transient lasts longer for NGD-d",
            preconditions=[
                train.finite,
                Precondition(
                    "both rules reached 1e-3 in every seed", all(math.isfinite(x) for x in times)
                ),
            ],
        )
    )
    return out


def generalization_claims(train: _Train) -> list[Claim]:
    runs = train.runs
    out: list[Claim] = []
    for run in ("ngd", "ngd_d"):
        cid = f"generalization_{run}"
        if (gone := train.missing(cid, "gd", run)) is not None:
            out.append(gone)
            continue
        ratios = [
            ms.min_test_excess(runs, run, s) / ms.min_test_excess(runs, "gd", s)
            for s in runs.common_seeds("gd", run)
        ]
        out.append(
            C[cid].check(
                min(ratios),
                BOUNDS[cid],
                f"min_t ½‖W − W_teacher‖² of {LABELS[run]} over GD's, per seed ({_fmt(ratios)}); "
                "min shown",
                preconditions=[train.finite],
            )
        )
    if (gone := train.missing("generalization_ngd_ray", "ngd")) is not None:
        out.append(gone)
    else:
        gaps = [
            ms.min_test_excess(runs, "ngd", s) / runs.constant("ngd", s, "ray_best_excess") - 1
            for s in runs.seeds("ngd")
        ]
        out.append(
            C["generalization_ngd_ray"].check(
                max(gaps, key=abs),
                BOUNDS["generalization_ngd_ray"],
                "min_t test excess / min_a ½‖aΣ̂ − W_teacher‖² − 1, per seed "
                f"({_fmt(gaps)}); largest |·| shown",
                preconditions=[train.finite],
            )
        )
    sq = [m for m in ("sqrt_ngd", "sqrt_ngd_d") if runs.has(m)]
    if not runs.has("gd") or not sq:
        out.append(
            _runs_off(
                "generalization_sqrt",
                *[m for m in ("gd", "sqrt_ngd", "sqrt_ngd_d") if not runs.has(m)],
            )
        )
        return out
    bound = BOUNDS["generalization_sqrt"]
    ratios = {
        m: [
            ms.min_test_excess(runs, m, s) / ms.min_test_excess(runs, "gd", s)
            for s in runs.common_seeds("gd", m)
        ]
        for m in sq
    }
    flat = [r for v in ratios.values() for r in v]
    worst = max(flat, key=lambda r: max(bound.low - r, r - bound.high))
    out.append(
        C["generalization_sqrt"].check(
            worst,
            bound,
            "min test excess over GD's, per seed ("
            + "; ".join(f"{LABELS[m]} {_fmt(v)}" for m, v in ratios.items())
            + "); the value farthest from the band shown",
            preconditions=[train.finite],
        )
    )
    return out


def balance_claims(train: _Train) -> list[Claim]:
    runs = train.runs
    out: list[Claim] = []
    kept = [m for m in ("gd", "ngd", "sqrt_ngd") if runs.has(m)]
    if kept:
        drifts = {m: [ms.balance_drift(runs, m, s) for s in runs.seeds(m)] for m in kept}
        out.append(
            C["balance_kept"].check(
                max(v for d in drifts.values() for v in d),
                BOUNDS["balance_kept"],
                "C_i = W_{i+1}ᵀW_{i+1} − W_iW_iᵀ: max_t max_i ‖C_i(t) − C_i(0)‖_F / max_t max_i "
                "‖W_iW_iᵀ‖_F, max over methods and seeds ("
                + "; ".join(f"{LABELS[m]} ≤ {max(v):.2g}" for m, v in drifts.items())
                + ")",
                preconditions=[train.finite],
            )
        )
    else:
        out.append(_runs_off("balance_kept", "gd", "ngd", "sqrt_ngd"))
    if (gone := train.missing("balance_drift_order_eta", "gd", "gd_eta_quarter")) is not None:
        out.append(gone)
    else:
        t_common = min(runs.settings["gd"]["horizon"], runs.settings["gd_eta_quarter"]["horizon"])
        bound = BOUNDS["balance_drift_order_eta"]
        ratios = [
            ms.balance_drift(runs, "gd", s, t_common)
            / ms.balance_drift(runs, "gd_eta_quarter", s, t_common)
            for s in runs.common_seeds("gd", "gd_eta_quarter")
        ]
        factor = runs.settings["gd"]["eta"] / runs.settings["gd_eta_quarter"]["eta"]
        out.append(
            C["balance_drift_order_eta"].check(
                max(ratios, key=lambda r: max(bound.low - r, r - bound.high)),
                bound,
                f"balance drift at η over drift at η/{factor:g}, over the common time t ≤ "
                f"{t_common:g}, per seed ({_fmt(ratios)}); the value farthest from the band shown",
                preconditions=[
                    train.finite,
                    Precondition(
                        "the control runs at η/4 (the band is for a factor 4)",
                        abs(factor - 4.0) < 1e-9,
                    ),
                ],
            )
        )
    ngd_d_ids = ("balance_lost_ngd_d", "layer_norms_ngd_d", "balance_end_ngd_d")
    if not runs.has("ngd_d"):
        out += [_runs_off(cid, "ngd_d") for cid in ngd_d_ids]
    else:
        seeds = runs.seeds("ngd_d")
        drifts = [ms.balance_drift(runs, "ngd_d", s) for s in seeds]
        out.append(
            C["balance_lost_ngd_d"].check(
                min(drifts),
                BOUNDS["balance_lost_ngd_d"],
                f"balance drift (as in balance_kept), min over seeds ({_fmt(drifts)})",
                preconditions=[train.finite],
            )
        )
        end = [ms.norm_ratio(runs, "ngd_d", s) for s in seeds]
        init = [ms.norm_ratio(runs, "ngd_d", s, at=0) for s in seeds]
        grew = sum(e > i for e, i in zip(end, init, strict=True))
        out.append(
            C["layer_norms_ngd_d"].check(
                min(end),
                BOUNDS["layer_norms_ngd_d"],
                f"max_i ‖W_i‖_F / min_i ‖W_i‖_F at the end, min over seeds (end {_fmt(end)}; at "
                f"init {_fmt(init)}; above its initial value in {grew} of {len(seeds)} seeds)",
                preconditions=[train.finite],
            )
        )
        ends = [ms.end_balance(runs, "ngd_d", s) for s in seeds]
        out.append(
            C["balance_end_ngd_d"].check(
                min(ends),
                BOUNDS["balance_end_ngd_d"],
                f"max_i ‖C_i(T)‖_F / max_i ‖W_i(T)W_i(T)ᵀ‖_F, min over seeds ({_fmt(ends)})",
                preconditions=[train.finite],
            )
        )
    others = [m for m in ("gd", "ngd", "sqrt_ngd", "sqrt_ngd_d") if runs.has(m)]
    if others:
        ratios = {m: [ms.norm_ratio(runs, m, s) for s in runs.seeds(m)] for m in others}
        out.append(
            C["layer_norms_balanced"].check(
                max(v for r in ratios.values() for v in r),
                BOUNDS["layer_norms_balanced"],
                "max_i ‖W_i‖_F / min_i ‖W_i‖_F at the end, max over methods and seeds ("
                + "; ".join(f"{LABELS[m]} ≤ {max(v):.3g}" for m, v in ratios.items())
                + ")",
                preconditions=[train.finite],
            )
        )
    else:
        out.append(_runs_off("layer_norms_balanced", "gd", "ngd", "sqrt_ngd", "sqrt_ngd_d"))
    if (gone := train.missing("balance_end_sqrt_ngd_d", "sqrt_ngd_d")) is not None:
        out.append(gone)
    else:
        ends = [ms.end_balance(runs, "sqrt_ngd_d", s) for s in runs.seeds("sqrt_ngd_d")]
        out.append(
            C["balance_end_sqrt_ngd_d"].check(
                max(ends),
                BOUNDS["balance_end_sqrt_ngd_d"],
                "final max_i ‖C_i‖_F / max_i ‖W_iW_iᵀ‖_F, max over seeds "
                f"({_fmt(ends)}); equal layer norms are checked in layer_norms_balanced",
                preconditions=[train.finite],
            )
        )
    return out


def layer_norm_path_claims(train: _Train) -> list[Claim]:
    runs = train.runs
    out: list[Claim] = []
    if (gone := train.missing("same_path_layer_norms", "gd", "ngd")) is not None:
        out.append(gone)
    else:
        dist = [ms.path_distance(runs, "ngd", s) for s in runs.common_seeds("gd", "ngd")]
        extra = ""
        if runs.has("sqrt_ngd"):
            sq = [
                ms.path_distance(runs, "sqrt_ngd", s) for s in runs.common_seeds("gd", "sqrt_ngd")
            ]
            extra = f"; sqrt-NGD, not judged: {_fmt(sq)}"
        out.append(
            C["same_path_layer_norms"].check(
                max(dist),
                BOUNDS["same_path_layer_norms"],
                "distance of each point of NGD's path in (‖W_1‖_F, …, ‖W_d‖_F) from GD's path, "
                "within GD's range of overall norm, over the point's norm; max over points and "
                f"seeds ({_fmt(dist)}{extra})",
                preconditions=[train.finite],
            )
        )
    if (gone := train.missing("layer_norm_path_ngd_d", "gd", "ngd_d")) is not None:
        out.append(gone)
    else:
        dist = [ms.path_distance(runs, "ngd_d", s) for s in runs.common_seeds("gd", "ngd_d")]
        out.append(
            C["layer_norm_path_ngd_d"].check(
                min(dist),
                BOUNDS["layer_norm_path_ngd_d"],
                f"the same distance for NGD-d, min over seeds ({_fmt(dist)})",
                preconditions=[train.finite],
            )
        )
    if (gone := train.missing("joint_paths_differ", "gd", "ngd")) is not None:
        out.append(gone)
    else:
        diffs = [
            ms.equal_loss_norm_difference(runs, "ngd", s) for s in runs.common_seeds("gd", "ngd")
        ]
        out.append(
            C["joint_paths_differ"].check(
                min(diffs),
                BOUNDS["joint_paths_differ"],
                "at equal training loss, max_i |‖W_i‖_NGD − ‖W_i‖_GD| / ‖W_i‖_GD over the path, "
                f"per seed ({_fmt(diffs)}); min shown. Per mode the paths agree "
                "(same_path_per_mode_flow)",
                preconditions=[train.finite],
            )
        )
    return out


def speed_claims(train: _Train) -> list[Claim]:
    runs = train.runs
    out: list[Claim] = []
    spikes = [m for m in ("ngd_unclipped", "ngd_d_unclipped") if runs.has(m)]
    if spikes and runs.has("sqrt_ngd"):
        sqrt_max = max(runs.last("sqrt_ngd", s, "speed_max") for s in runs.seeds("sqrt_ngd"))
        ratios, times, values = [], [], []
        for m in spikes:
            for s in runs.seeds(m):
                peak = runs.last(m, s, "speed_max")
                values.append(peak)
                ratios.append(peak / sqrt_max)
                times.append(runs.last(m, s, "speed_max_step") * runs.settings[m]["eta"])
        which = " and ".join(LABELS[m] for m in spikes)
        out.append(
            C["speed_spike"].check(
                min(ratios),
                BOUNDS["speed_spike"],
                f"peak ‖Δθ‖/η of {which} ({_fmt(values)}) over sqrt-NGD's largest "
                f"({sqrt_max:.3g}); min over runs and seeds",
            )
        )
        out.append(
            C["speed_spike_time"].check(
                max(times),
                BOUNDS["speed_spike_time"],
                f"t = ηk of the peak speed of {which}, max over seeds ({_fmt(times)})",
            )
        )
    else:
        gone = [m for m in ("ngd_unclipped", "ngd_d_unclipped", "sqrt_ngd") if not runs.has(m)]
        out += [_runs_off(cid, *gone) for cid in ("speed_spike", "speed_spike_time")]
    if (gone := train.missing("ngd_speed_bound", "ngd_unclipped")) is not None:
        out.append(gone)
    else:
        eps = runs.settings["ngd_unclipped"]["eps"]
        bound = huh.speed_bound(1.0, eps)
        values = [
            runs.last("ngd_unclipped", s, "speed_ratio_max") / bound
            for s in runs.seeds("ngd_unclipped")
        ]
        out.append(
            C["ngd_speed_bound"].check(
                max(values),
                BOUNDS["ngd_speed_bound"],
                f"max over steps of ‖v‖/‖e‖ of unclipped NGD over ‖e‖/(2√ε) = {bound:.4g} "
                f"(ε = {eps:g}), max over seeds ({_fmt(values)})",
            )
        )
    parts = {}
    for m in ("sqrt_ngd", "sqrt_ngd_d"):
        if runs.has(m):
            limit = 1.0 if m == "sqrt_ngd" else math.sqrt(runs.depth(m))
            parts[m] = max(runs.last(m, s, "speed_ratio_max") for s in runs.seeds(m)) / limit
    if parts:
        out.append(
            C["sqrt_speed_bounded"].check(
                max(parts.values()) - 1.0,
                BOUNDS["sqrt_speed_bounded"],
                "max over steps of ‖v‖/‖e‖ over its bound (1 full, √d block), minus 1; max over "
                "seeds (" + "; ".join(f"{LABELS[m]} {v:.8f}" for m, v in parts.items()) + ")",
                preconditions=[train.finite],
            )
        )
    else:
        out.append(_runs_off("sqrt_speed_bounded", "sqrt_ngd", "sqrt_ngd_d"))
    unclipped = [m for m in ("ngd_unclipped", "ngd_d_unclipped") if runs.has(m)]
    if unclipped:
        pairs = [(m, s) for m in unclipped for s in runs.seeds(m)]
        diverged = [(m, s) for m, s in pairs if runs.diverged[(m, s)]]
        first = [float(runs.series(m, s, "step_norm").iloc[0]) for m, s in pairs]
        out.append(
            C["unclipped_no_divergence"].check(
                float(len(diverged)),
                BOUNDS["unclipped_no_divergence"],
                f"runs of {' and '.join(LABELS[m] for m in unclipped)} (ε = 1e-5, no cap) whose "
                f"loss became non-finite, of {len(pairs)}",
            )
        )
        drifts = [ms.balance_drift(runs, m, s) for m, s in pairs if not runs.diverged[(m, s)]]
        out.append(
            C["unclipped_distorts_path"].check(
                min(drifts) if drifts else math.nan,
                BOUNDS["unclipped_distorts_path"],
                f"balance drift (as in balance_kept) of the unclipped runs, min over runs and "
                f"seeds ({_fmt(drifts)}); their first steps are {_fmt(first)} long",
                preconditions=[Precondition("some unclipped run stayed finite", bool(drifts))],
            )
        )
    else:
        out += [
            _runs_off(cid, "ngd_unclipped", "ngd_d_unclipped")
            for cid in ("unclipped_no_divergence", "unclipped_distorts_path")
        ]
    if (gone := train.missing("ngd_d_undamped_stalls", "ngd_d_undamped")) is not None:
        out.append(gone)
    else:
        ratios, negs = [], []
        for s in runs.seeds("ngd_d_undamped"):
            err = runs.series("ngd_d_undamped", s, "map_error")
            ratios.append(float(err.iloc[-1] / err.iloc[0]))
            negs.append(int(runs.constant("ngd_d_undamped", s, "negative_real_eigs")))
        settings = runs.settings["ngd_d_undamped"]
        out.append(
            C["ngd_d_undamped_stalls"].check(
                min(ratios),
                BOUNDS["ngd_d_undamped_stalls"],
                f"ε = 0, cap {settings['clip']:g}: map error at t = {settings['horizon']:g} over "
                f"its initial value, per seed ({_fmt(ratios)}); negative real eigenvalues of "
                f"Σ̂⁻¹W₀ per seed: {', '.join(map(str, negs))}; min shown",
            )
        )
    return out


def random_init_mode_claims(train: _Train) -> list[Claim]:
    runs = train.runs
    out: list[Claim] = []
    sqrt_ids = ("random_init_modes_sqrt", "random_init_modes_sqrt_shape")
    if not runs.has("sqrt_ngd"):
        out += [_runs_off(cid, "sqrt_ngd") for cid in sqrt_ids]
    else:
        timing, shape = [], []
        for seed in runs.seeds("sqrt_ngd"):
            fit = ms.mode_fit(runs, "sqrt_ngd", seed)
            for k, target in enumerate(fit.targets):
                th_sim = huh.t_half(fit.t, fit.sim[:, k], target)
                th_ode = huh.t_half(fit.t, fit.ode[:, k], target)
                timing.append(th_sim / th_ode - 1)
                shifted = np.interp(fit.t - (th_sim - th_ode), fit.t, fit.ode[:, k])
                shape.append(float(np.abs(fit.sim[:, k] - shifted).max() / target))
        reached = all(math.isfinite(x) for x in timing)
        pre = [train.finite, Precondition("every mode reached ŝ/2 in the run", reached)]
        out.append(
            C["random_init_modes_sqrt"].check(
                max(timing, key=lambda x: abs(x) if math.isfinite(x) else math.inf),
                BOUNDS["random_init_modes_sqrt"],
                "t_half(sim)/t_half(ODE) − 1 on Σ̂'s leading modes, ODE √d s^{1−1/d}(ŝ − s) "
                f"from s₀; all modes and seeds ({_fmt(timing)}); largest |·| shown",
                preconditions=pre,
            )
        )
        out.append(
            C["random_init_modes_sqrt_shape"].check(
                max(shape),
                BOUNDS["random_init_modes_sqrt_shape"],
                "max |sim − ODE shifted by the t_half difference| / ŝ, all modes and seeds",
                preconditions=pre,
            )
        )
    after = {}
    for run in ("ngd", "ngd_d"):
        if runs.has(run):
            c = 1.0 if run == "ngd" else float(runs.depth(run))
            after[run] = max(
                ms.restarted_closed_form_error(runs, run, s, c) for s in runs.seeds(run)
            )
    if after:
        out.append(
            C["random_init_modes_ngd"].check(
                max(after.values()),
                BOUNDS["random_init_modes_ngd"],
                "max |sim − closed form| / ŝ after clip-off, the closed form ŝ − (ŝ − s_c)(1 − "
                "cη)^k (c = 1, d) restarted at clip-off ("
                + "; ".join(f"{LABELS[m]} {v:.2g}" for m, v in after.items())
                + ")",
                preconditions=[train.finite],
            )
        )
    else:
        out.append(_runs_off("random_init_modes_ngd", "ngd", "ngd_d"))
    gd_ids = ("random_init_modes_gd", "random_init_modes_gd_order")
    if not runs.has("gd"):
        return out + [_runs_off(cid, "gd") for cid in gd_ids]
    bound = BOUNDS["random_init_modes_gd"]
    ratios, disordered, reached = [], [], True
    for seed in runs.seeds("gd"):
        fit = ms.mode_fit(runs, "gd", seed)
        halves = []
        for k, target in enumerate(fit.targets):
            th = huh.t_half(fit.t, fit.sim[:, k], target)
            halves.append(th)
            ratios.append(th / huh.t_half(fit.t, fit.ode[:, k], target))
        if any(map(math.isnan, halves)):
            reached = False
        elif int(np.argmax(halves)) != len(halves) - 1:
            disordered.append(seed)
    pre = [train.finite, Precondition("every mode reached ŝ/2 within GD's horizon", reached)]
    out.append(
        C["random_init_modes_gd"].check(
            max(
                ratios,
                key=lambda r: max(bound.low - r, r - bound.high) if math.isfinite(r) else 1e9,
            ),
            bound,
            "t_half(sim)/t_half(ODE d s^{2−2/d}(ŝ − s) from s₀), all modes and seeds "
            f"({_fmt(ratios)}); the value farthest from the band shown",
            preconditions=pre,
        )
    )
    out.append(
        C["random_init_modes_gd_order"].check(
            float(len(disordered)),
            BOUNDS["random_init_modes_gd_order"],
            f"seeds in which the weakest leading mode is not the last to reach ŝ/2 "
            f"({disordered or 'none'}) of {len(runs.seeds('gd'))}; the top two may swap",
            preconditions=pre,
        )
    )
    return out


# --------------------------------------------------------------------------- aligned network

MODES_IDS = (
    "modes_decouple",
    "same_path_per_mode_flow",
    "ngd_d_leaves_path",
    "same_path_per_mode_euler",
    "same_path_per_mode_euler_order",
    "exact_invariants",
    "closed_form_ngd",
    "gd_time_scale",
    "sqrt_escape_time",
)


def modes_claims(modes: pd.DataFrame | None) -> list[Claim]:
    if modes is None or modes.empty:
        return [
            _off(cid, "the aligned-network study", "huh2020.modes.enabled") for cid in MODES_IDS
        ]
    out: list[Claim] = []
    dec = ms.constants(modes, "decoupling_error")
    if len(dec):
        worst = float(dec[dec["mode"].isin([1, 2])]["value"].max())
        steps = int(dec[dec["mode"] == 3]["value"].min())
        out.append(
            C["modes_decouple"].check(
                worst,
                BOUNDS["modes_decouple"],
                f"{steps} Euler steps of every method: max |matrix − scalar| per-mode layer value "
                "and max off-diagonal entry, relative to the largest layer value (damping ‖p‖² + "
                "ε full, p_i² + ε block)",
            )
        )
    out += path_per_mode_claims(modes)
    found = ms.invariant_drifts(modes)
    if found:
        out.append(
            C["exact_invariants"].check(
                max(found.values()),
                BOUNDS["exact_invariants"],
                "max change over the run: " + "; ".join(f"{k}: {v:.2g}" for k, v in found.items()),
            )
        )
    err = ms.constants(modes, "closed_form_error")["value"].to_numpy()
    if len(err):
        out.append(
            C["closed_form_ngd"].check(
                float(err.max()),
                BOUNDS["closed_form_ngd"],
                "balanced flow at ε = 0: max |numerical − closed form ŝ − (ŝ − s₀)e^{−ct}| (c = 1 "
                "NGD, d NGD-d) over the teacher modes and seeds",
            )
        )
    ratio = ms.constants(modes, "t_half_over_escape_time")["value"].to_numpy()
    if len(ratio):
        out.append(
            C["gd_time_scale"].check(
                float(ratio[np.argmax(np.abs(ratio - 1))]),
                BOUNDS["gd_time_scale"],
                "t_half × (d − 2) ŝ σ₀^{d−2} for the balanced flow from s₀ = σ₀^d, teacher modes "
                f"and seeds ({_fmt(ratio, 4)}); farthest from 1 shown",
            )
        )
    slope = ms.constants(modes, "t_half_slope")["value"].to_numpy()
    if len(slope):
        depth = int(modes[modes["quantity"] == "layer_value"]["layer"].max())
        bound = ms.sqrt_escape_bound(depth)
        out.append(
            C["sqrt_escape_time"].check(
                float(slope[np.argmax(np.abs(slope - bound.center))]),
                bound,
                "slope of log t_half against log ŝ (ŝ ∈ [¼, 4], s₀ = 1e-12) of the balanced "
                "sqrt-NGD flow",
            )
        )
    return out


def path_per_mode_claims(modes: pd.DataFrame) -> list[Claim]:
    out: list[Claim] = []
    rel = ms.flow_path_differences(modes)
    flow_ids = ("same_path_per_mode_flow", "ngd_d_leaves_path")
    if not rel:
        out += [_runs_off(cid, "gd") for cid in flow_ids]
    else:
        same = {m: rel[m] for m in ("ngd", "sqrt_ngd") if m in rel}
        shown = "; ".join(f"{LABELS.get(m, m)} {v:.2g}" for m, v in rel.items())
        if same:
            out.append(
                C["same_path_per_mode_flow"].check(
                    max(same.values()),
                    BOUNDS["same_path_per_mode_flow"],
                    "aligned network, gradient flow: max relative difference of each mode's "
                    "layer values to GD's at the same map-value levels (leading modes, all "
                    f"layers and seeds): {shown}; NGD, sqrt-NGD shown",
                )
            )
        if "ngd_d" in rel:
            out.append(
                C["ngd_d_leaves_path"].check(
                    rel["ngd_d"],
                    BOUNDS["ngd_d_leaves_path"],
                    f"the same difference for NGD-d ({shown})",
                )
            )
    out += euler_path_claims(modes)
    return out


def euler_path_claims(modes: pd.DataFrame) -> list[Claim]:
    errors = ms.euler_path_errors(modes)
    ids = ("same_path_per_mode_euler", "same_path_per_mode_euler_order")
    if errors.empty:
        why = (
            "this modes table has no euler_path_error (it predates the every-step statistic, or "
            "GD or every other full rule is disabled: huh2020.methods.*.enabled); rerun the "
            "huh2020-modes jobs"
        )
        return [C[cid].not_run(why) for cid in ids]
    main = errors[errors["factor"] == 1.0]
    worst = main.loc[main["error"].idxmax()]
    per_method = main.groupby("method")["error"].max()
    logged = ms.logged_euler_path_difference(modes)
    details = (
        "max relative difference of NGD's and sqrt-NGD's per-mode layer values to GD's Euler "
        "path at the same map value (every step, leading modes, all layers and seeds; η and cap "
        "of the main runs): "
        + "; ".join(f"{LABELS.get(m, m)} {v:.3g}" for m, v in per_method.items())
        + f" (worst: seed {int(worst['seed'])})"
    )
    halves = errors[errors["factor"] == 0.5].groupby("method")["error"].max()
    if len(halves):
        details += "; at η/2 and cap/2: " + "; ".join(
            f"{LABELS.get(m, m)} {v:.3g}" for m, v in halves.items()
        )
    if logged:
        details += "; from the table's logged steps (old statistic): " + "; ".join(
            f"{LABELS.get(m, m)} {v:.3g} at step {k}" for m, (v, k) in logged.items()
        )
    out = [
        C["same_path_per_mode_euler"].check(
            float(worst["error"]), BOUNDS["same_path_per_mode_euler"], details
        )
    ]
    order = ms.euler_order(errors, 0.5).dropna()
    if order.empty:
        out.append(
            C["same_path_per_mode_euler_order"].not_run(
                "the study ran no refined step (huh2020.modes.euler_refinement lacks 0.5)"
            )
        )
        return out
    text = "; ".join(f"{LABELS.get(m, m)} seed {int(s)} {v:.3g}" for (s, m), v in order.items())
    finer = ms.euler_order(errors, 0.25).dropna()
    if len(finer):
        # log₂(E(½)/E(¼)): the order one halving further down.
        wide = errors.pivot_table(index=["seed", "method"], columns="factor", values="error")
        down = np.log2(wide[0.5] / wide[0.25]).dropna()
        text += "; from η/2 to η/4: " + _fmt(down.to_numpy())
    out.append(
        C["same_path_per_mode_euler_order"].check(
            float(order.min()),
            BOUNDS["same_path_per_mode_euler_order"],
            "observed order log₂(E(η, cap)/E(η/2, cap/2)) of the Euler path error, per method "
            f"and seed ({text}); min shown",
        )
    )
    return out


# --------------------------------------------------------------------------- evaluate


def evaluate(tables: dict[str, pd.DataFrame], scale: str) -> list[Claim]:
    """One row per declared claim from the tables ``huh2020.train`` and ``huh2020.modes``
    (any subset: what is missing is NOT RUN, with the reason)."""
    rows: list[Claim] = []
    train_frame = tables.get("huh2020.train")
    if train_frame is None or train_frame.empty:
        why = "the random-init runs produced no table at this scale (huh2020.methods, controls)"
        modes_only = set(MODES_IDS)
        rows += [spec.not_run(why) for spec in CLAIMS if spec.id not in modes_only]
    else:
        train = _Train(train_frame)
        builders: list[Callable[[_Train], list[Claim]]] = [
            speed_of_learning_claims,
            rate_claims,
            generalization_claims,
            balance_claims,
            layer_norm_path_claims,
            speed_claims,
            random_init_mode_claims,
        ]
        rows += identity_claims(train)
        for build in builders:
            rows += build(train)
    rows += modes_claims(tables.get("huh2020.modes"))
    return CLAIMS.complete(rows)
