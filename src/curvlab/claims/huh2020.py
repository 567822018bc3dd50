"""Huh (2020): the claims of papers.md §1.4 and the issue, measured as in papers.md §1.7.

Definitions and tolerances follow the §1.7 table ("Verified by simulation"); where §1.7
corrects the paper or the issue (same path only per mode, unclipped NGD-d does not diverge, the
clipped NGD-d/NGD speed-up is not d), the claim asserts the measured behaviour and is marked
``agrees_with_paper=False``. Every number is computed from the run's tables ``huh2020.train``
(random init) and ``huh2020.modes`` (aligned network); the mode ODEs are integrated here from
each run's logged s₀ and targets. Notation: E = W − Σ̂, e = vec E, t = ηk, ŝ_k the singular
values of Σ̂, excess = ½‖W − Σ̂‖² (training) or ½‖W − W_teacher‖² (test, without the noise floor).
"""

from __future__ import annotations

import math
from collections.abc import Iterable

import numpy as np
import pandas as pd

from curvlab.claims import Claim, ClaimMaker, at_least, at_most, within
from curvlab.theory import huh

PAPER = "huh2020"
SRC = "papers.md §1.7"
METHODS = ("gd", "ngd", "ngd_d", "sqrt_ngd", "sqrt_ngd_d")
# [R] "Converged" = training excess ½‖W − Σ̂‖² at or below this fraction of its initial value
# (claim 1 and the α-sweep figure). GD reaches 0.1 once it has learned the teacher's modes
# (t ≈ 60–80 at the default scale); the corrected rules within t ≈ 1–2.
TRAIN_THRESHOLD = 0.1
CORRECTED = ("ngd", "ngd_d", "sqrt_ngd", "sqrt_ngd_d")
LABELS = {
    "gd": "GD",
    "ngd": "NGD",
    "ngd_d": "NGD-d",
    "sqrt_ngd": "sqrt-NGD",
    "sqrt_ngd_d": "sqrt-NGD-d",
}


_claim = ClaimMaker(PAPER, SRC)


_missing = _claim.missing


def _fmt(values: Iterable[float], digits: int = 3) -> str:
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


DEEP_TAIL_S_MIN = 0.01  # papers.md §1.7: skip the deep tail when ŝ_min < 0.01


def fitted_rate(runs: Runs, run: str, seed: int) -> tuple[float, float, bool]:
    """Decay rate of ln‖W − Σ̂‖_F after clip-off, least squares over the window from clip-off to
    the first point where the error is ≤ 1e-3 × the clip-off error (papers.md §1.7 rule). When
    Σ̂'s smallest singular value is below 0.01 the deep tail is skipped (§1.7): the window then
    ends at 1e-2 × the clip-off error, before damping slows the weakest modes (rate → λ/(λ + ε)).
    Returns (rate, window end, whether the tail was skipped)."""
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


# --------------------------------------------------------------------------- claims


def identity_claims(runs: Runs, modes: pd.DataFrame | None) -> list[Claim]:
    claims = []
    checks = runs.frame[runs.frame["quantity"].str.startswith("check_")]
    if checks.empty:
        claims.append(
            _missing("identities", "Kronecker identities", "huh2020.identity_checks is off")
        )
    else:
        worst = checks.groupby("quantity")["value"].max()
        fd = float(worst.get("check_jacobian_fd", math.nan))
        kron = float(max(worst.get("check_gn_blocks", math.nan), worst.get("check_jjt", math.nan)))
        route = float(worst.get("check_fast_route", math.nan))
        n = checks[["run", "seed"]].drop_duplicates().shape[0]
        claims += [
            _claim(
                "identity_jacobian_fd",
                f"J_i = W_{{<i}}ᵀ ⊗ W_{{>i}} against central finite differences at init: max |J_fd − J| "
                f"/ max |J| over {n} runs",
                fd,
                "< 1e-6",
                "< 1e-6 (§1.7 measured 2.8e-10)",
                at_most(fd, 1e-6),
            ),
            _claim(
                "identity_kronecker",
                "Gauss–Newton blocks G_ij = (W_{<i}W_{<j}ᵀ) ⊗ (W_{>i}ᵀW_{>j}) and JJᵀ = Σ_i "
                "(W_{<i}ᵀW_{<i}) ⊗ (W_{>i}W_{>i}ᵀ) against the explicit JᵀJ, JJᵀ: max relative entry "
                "error",
                kron,
                "< 1e-12",
                "< 1e-12 (§1.7 measured ≤ 3e-16)",
                at_most(kron, 1e-12),
            ),
            _claim(
                "fast_route",
                "Every rule's update by the fast route Jᵀ(JJᵀ + εI)^{−α}e (full) or the G_ii "
                "eigenbasis (block) against the SVD of the explicit J or J_i: max ‖Δ‖/‖v‖ at init",
                route,
                "< 1e-8",
                "< 1e-8 [R] (§1.7: 1.3e-9 against an explicit 1024 × 1024 eigendecomposition)",
                at_most(route, 1e-8),
            ),
        ]
    if modes is not None:
        dec = modes[modes["quantity"] == "decoupling_error"]
        if len(dec):
            worst = float(dec[dec["mode"].isin([1, 2])]["value"].max())
            steps = int(dec[dec["mode"] == 3]["value"].min())
            claims.append(
                _claim(
                    "modes_decouple",
                    "Aligned init: the matrix network equals the per-mode scalar system (damping "
                    f"‖p‖² + ε full, p_i² + ε block) over {steps} Euler steps of every method: max "
                    "|difference| of per-mode layer values and max off-diagonal entry, relative to "
                    "the largest layer value",
                    worst,
                    "≤ 1e-9",
                    "≤ 1e-9 (§1.7 measured ≤ 1.7e-13)",
                    at_most(worst, 1e-9),
                )
            )
    return claims


def speed_of_learning_claims(runs: Runs, threshold: float) -> list[Claim]:
    cid = "faster_training"
    description = "Curvature correction converges faster in training loss than GD"
    have = [m for m in CORRECTED if runs.has(m)]
    if not runs.has("gd") or not have:
        return [_missing(cid, description, "GD or every corrected method disabled")]
    ratios: dict[str, list[float]] = {m: [] for m in have}
    gd_times = []
    for seed in runs.seeds("gd"):
        t_gd = time_to_threshold(runs, "gd", seed, threshold)
        lower = math.isnan(t_gd)
        t_gd = runs.settings["gd"]["horizon"] if lower else t_gd
        gd_times.append(t_gd)
        for m in have:
            if seed in runs.seeds(m):
                ratios[m].append(time_to_threshold(runs, m, seed, threshold) / t_gd)
    worst = max((max(v) for v in ratios.values() if v), default=math.nan)
    if any(math.isnan(x) for v in ratios.values() for x in v):
        worst = math.nan
    medians = "; ".join(f"{LABELS[m]} {np.median(v):.3g}" for m, v in ratios.items())
    claims = [
        _claim(
            cid,
            f"{description}: time to bring the training excess to {threshold:g} × its initial "
            f"value, relative to GD (GD: t = {_fmt(gd_times)}); max over methods and seeds "
            f"(medians: {medians})",
            worst,
            "< 1 for every corrected method and seed",
            "< 1 (papers.md §1.4 claim 1)",
            at_most(worst, 1.0 - 1e-12),
        )
    ]
    # "The square-root rules keep most of the acceleration" (issue; abstract).
    pairs = [
        (s, f) for s, f in (("sqrt_ngd", "ngd"), ("sqrt_ngd_d", "ngd_d")) if s in have and f in have
    ]
    if pairs:
        kept = []
        for sqrt_m, full_m in pairs:
            for seed in runs.common_seeds("gd", sqrt_m, full_m):
                t_gd = time_to_threshold(runs, "gd", seed, threshold)
                t_gd = runs.settings["gd"]["horizon"] if math.isnan(t_gd) else t_gd
                t_s = time_to_threshold(runs, sqrt_m, seed, threshold)
                t_f = time_to_threshold(runs, full_m, seed, threshold)
                kept.append(math.log(t_gd / t_s) / math.log(t_gd / t_f))
        value = min(kept) if kept else math.nan
        claims.append(
            _claim(
                "sqrt_keeps_acceleration",
                "The square-root rules keep most of the acceleration: log(t_GD/t_sqrt) / "
                "log(t_GD/t_NGD) for the time to the training threshold (sqrt-NGD vs NGD, "
                "sqrt-NGD-d vs NGD-d), min over pairs and seeds",
                value,
                "≥ 0.5",
                "≥ 0.5 [R] ('most' of the speed-up on a log scale)",
                at_least(value, 0.5),
            )
        )
    return claims


def rate_claims(runs: Runs, scale: str) -> list[Claim]:
    claims: list[Claim] = []
    rates: dict[str, dict[int, float]] = {}
    for run, c in (("ngd", 1.0), ("ngd_d", None)):
        if not runs.has(run):
            claims.append(_missing(f"rate_{run}", f"{LABELS[run]} decay rate", "run disabled"))
            continue
        settings = runs.settings[run]
        depth = int(runs.block(run, runs.seeds(run)[0], "layer_norm").shape[1])
        rate_c = 1.0 if c is not None else float(depth)
        predicted = huh.euler_rate(rate_c, settings["eta"])
        rates[run] = {}
        ends, skipped = [], []
        for seed in runs.seeds(run):
            rates[run][seed], end, skip = fitted_rate(runs, run, seed)
            ends.append(end)
            if skip:
                skipped.append(seed)
        values = list(rates[run].values())
        worst = max(values, key=lambda r: abs(r / predicted - 1))
        lam = "e^{−t}" if run == "ngd" else f"e^{{−{depth}t}}"
        claims.append(
            _claim(
                f"rate_{run}",
                f"{LABELS[run]}'s map error decays like {lam}: rate of ln‖W − Σ̂‖_F after clip-off "
                f"(window from clip-off to 1e-3 × the clip-off error, ending at t = {_fmt(ends)}; "
                f"deep tail skipped, window to 1e-2, where ŝ_min < {DEEP_TAIL_S_MIN:g}: seeds "
                f"{skipped or 'none'}), "
                f"per seed {_fmt(values, 5)}; value farthest from the Euler rate "
                f"−ln(1 − {'' if rate_c == 1 else f'{rate_c:g}'}η)/η shown",
                worst,
                f"{predicted:.5g} ± 3%",
                "3% of the Euler rate −ln(1 − cη)/η (§1.7)",
                within(worst, 0.97 * predicted, 1.03 * predicted),
            )
        )
    if len(rates) == 2:
        seeds = sorted(set(rates["ngd"]) & set(rates["ngd_d"]))
        ratios = [rates["ngd_d"][s] / rates["ngd"][s] for s in seeds]
        worst = max(ratios, key=lambda r: abs(r - 4.0)) if ratios else math.nan
        claims.append(
            _claim(
                "rate_ratio",
                f"Fitted rate NGD-d / NGD per seed ({_fmt(ratios, 4)}; value farthest from 4 shown)",
                worst,
                "in [3.8, 4.2]",
                "[3.8, 4.2] (§1.7 measured 4.06)",
                within(worst, 3.8, 4.2),
            )
        )
        offs = [clip_off_time(runs, r, s) for r in ("ngd", "ngd_d") for s in runs.seeds(r)]
        claims.append(
            _claim(
                "clip_off",
                "Clipping is a short transient: last clipped step (as t) of NGD and NGD-d, max "
                f"over seeds (all: {_fmt(offs)})",
                max(offs),
                "< 1",
                "< 1 (§1.7 measured 0.34–0.78)",
                at_most(max(offs), 1.0 - 1e-12),
            )
        )
        times = []
        for s in seeds:
            t = []
            for run in ("ngd", "ngd_d"):
                rel = runs.series(run, s, "map_error_rel")
                hit = rel[rel <= 1e-3]
                t.append(float(hit.index[0]) if len(hit) else math.nan)
            times.append(t[0] / t[1])
        value = float(np.median(times)) if times else math.nan
        claims.append(
            _claim(
                "speedup_ngd_d_over_ngd",
                "Issue/reconstruction: NGD-d learns d = 4 times faster than NGD. Measured with "
                "clipping: time to ‖W − Σ̂‖/‖Σ̂‖ = 1e-3, NGD over NGD-d, median over seeds "
                f"({_fmt(times)}); the clipped, damped transient lasts longer for NGD-d",
                value,
                "< 3.8, about 3.2 (§1.7 item 9)",
                "in [2.5, 3.8] [R band around the §1.7 value 3.2]",
                within(value, 2.5, 3.8),
                agrees=False,
            )
        )
    return claims


def generalization_claims(runs: Runs) -> list[Claim]:
    if not runs.has("gd"):
        return [_missing("generalization", "Generalization vs GD", "GD disabled")]
    claims = []

    def min_test(run: str, seed: int) -> float:
        return float(runs.series(run, seed, "test_excess").min())

    for run in ("ngd", "ngd_d"):
        if not runs.has(run):
            continue
        seeds = runs.common_seeds("gd", run)
        ratios = [min_test(run, s) / min_test("gd", s) for s in seeds]
        claims.append(
            _claim(
                f"generalization_{run}",
                f"Curvature correction can hurt generalization: min_t ½‖W − W_teacher‖² of "
                f"{LABELS[run]} over GD's, per seed ({_fmt(ratios)}; minimum shown)",
                min(ratios),
                "> 1.8 in every seed",
                "> 1.8 every seed (§1.7 measured 2.46–2.93)",
                min(ratios) > 1.8,
            )
        )
    if runs.has("ngd"):
        gaps = [
            min_test("ngd", s) / runs.constant("ngd", s, "ray_best_excess") - 1
            for s in runs.seeds("ngd")
        ]
        worst = max(gaps, key=abs)
        claims.append(
            _claim(
                "generalization_ngd_ray",
                "NGD's best test point is the best point on the ray aΣ̂ (function-space GD fits "
                "every mode at once): min_t test excess / min_a ½‖aΣ̂ − W_teacher‖² − 1, per seed "
                f"({_fmt(gaps)}; largest |·| shown)",
                worst,
                "|·| ≤ 0.02",
                "within 2% (§1.7 measured 0.1%)",
                at_most(abs(worst), 0.02),
            )
        )
    sq = [m for m in ("sqrt_ngd", "sqrt_ngd_d") if runs.has(m)]
    if sq:
        ratios = {
            m: [min_test(m, s) / min_test("gd", s) for s in runs.common_seeds("gd", m)] for m in sq
        }
        flat = [r for v in ratios.values() for r in v]
        worst = max(flat, key=lambda r: max(0.85 - r, r - 1.25))
        shown = "; ".join(f"{LABELS[m]} {_fmt(v)}" for m, v in ratios.items())
        claims.append(
            _claim(
                "generalization_sqrt",
                "The square-root rules generalize like GD: min test excess over GD's, per seed "
                f"({shown}; value farthest from [0.85, 1.25] shown)",
                worst,
                "in [0.85, 1.25] in every seed",
                "[0.85, 1.25] (§1.7 measured 0.97–1.08) [corrected: the reconstruction expected worse]",
                within(worst, 0.85, 1.25),
            )
        )
    return claims


def balance_claims(runs: Runs) -> list[Claim]:
    claims: list[Claim] = []
    kept = [m for m in ("gd", "ngd", "sqrt_ngd") if runs.has(m)]
    if kept:
        drifts = {m: [balance_drift(runs, m, s) for s in runs.seeds(m)] for m in kept}
        worst = max(v for d in drifts.values() for v in d)
        claims.append(
            _claim(
                "balance_kept",
                "GD, NGD and sqrt-NGD keep the balance matrices C_i = W_{i+1}ᵀW_{i+1} − W_iW_iᵀ "
                "(the generalized conservation law): max_t max_i ‖C_i(t) − C_i(0)‖_F / max_t max_i "
                "‖W_iW_iᵀ‖_F, max over seeds ("
                + "; ".join(f"{LABELS[m]} ≤ {max(v):.2g}" for m, v in drifts.items())
                + ")",
                worst,
                "< 0.01",
                "< 1% (§1.7 measured 0.11–0.35%)",
                at_most(worst, 0.01),
            )
        )
    if runs.has("gd") and runs.has("gd_eta_quarter"):
        t_common = min(runs.settings["gd"]["horizon"], runs.settings["gd_eta_quarter"]["horizon"])
        ratios = [
            balance_drift(runs, "gd", s, t_common)
            / balance_drift(runs, "gd_eta_quarter", s, t_common)
            for s in runs.common_seeds("gd", "gd_eta_quarter")
        ]
        factor = runs.settings["gd"]["eta"] / runs.settings["gd_eta_quarter"]["eta"]
        worst = max(ratios, key=lambda r: max(3.0 - r, r - 5.5))
        claims.append(
            _claim(
                "balance_drift_order_eta",
                f"Euler GD's balance drift is O(η): drift at η over drift at η/{factor:g} over the "
                f"common time t ≤ {t_common:g}, per seed ({_fmt(ratios)}; value farthest from the "
                "band shown)",
                worst,
                "in [3, 5.5]",
                "×[3, 5.5] from η/4 to η (§1.7 measured 4.0–4.3)",
                within(worst, 3.0, 5.5),
            )
        )
    else:
        claims.append(
            _missing("balance_drift_order_eta", "Balance drift is O(η)", "gd_eta_quarter disabled")
        )
    if runs.has("ngd_d"):
        drifts = [balance_drift(runs, "ngd_d", s) for s in runs.seeds("ngd_d")]
        claims.append(
            _claim(
                "balance_lost_ngd_d",
                "NGD-d destroys balance: balance drift (as in balance_kept), min over seeds "
                f"({_fmt(drifts)})",
                min(drifts),
                "> 0.3",
                "> 0.3 (§1.7 measured 0.65–0.79)",
                min(drifts) > 0.3,
            )
        )
        end, init = [], []
        for s in runs.seeds("ngd_d"):
            end.append(norm_ratio(runs, "ngd_d", s))
            init.append(norm_ratio(runs, "ngd_d", s, at=0))
        ok = all(e > 1.1 and e > i for e, i in zip(end, init, strict=True))
        claims.append(
            _claim(
                "layer_norms_ngd_d",
                "NGD-d: layer norms end unequal: max_i ‖W_i‖_F / min_i ‖W_i‖_F at the end, min over "
                f"seeds (end {_fmt(end)}; init {_fmt(init)})",
                min(end),
                "> 1.1 and > its initial value in every seed",
                "> 1.1 and > init (§1.7 measured 1.19–1.32, init 1.04–1.11)",
                ok,
            )
        )
        ends = [end_balance(runs, "ngd_d", s) for s in runs.seeds("ngd_d")]
        claims.append(
            _claim(
                "balance_end_ngd_d",
                "NGD-d's final balance matrices are large: max_i ‖C_i(T)‖_F / max_i "
                f"‖W_i(T)W_i(T)ᵀ‖_F, min over seeds ({_fmt(ends)})",
                min(ends),
                "> 0.4",
                "> 0.4 (§1.7 measured 0.65–0.79)",
                min(ends) > 0.4,
            )
        )
    others = [m for m in ("gd", "ngd", "sqrt_ngd", "sqrt_ngd_d") if runs.has(m)]
    if others:
        ratios = {m: [norm_ratio(runs, m, s) for s in runs.seeds(m)] for m in others}
        worst = max(v for r in ratios.values() for v in r)
        claims.append(
            _claim(
                "layer_norms_balanced",
                "GD, NGD, sqrt-NGD and sqrt-NGD-d end with equal layer norms: max_i ‖W_i‖_F / "
                "min_i ‖W_i‖_F at the end, max over methods and seeds ("
                + "; ".join(f"{LABELS[m]} ≤ {max(v):.3g}" for m, v in ratios.items())
                + ")",
                worst,
                "< 1.05",
                "< 1.05 (§1.7 measured ≤ 1.02)",
                worst < 1.05,
            )
        )
    if runs.has("sqrt_ngd_d"):
        ends = [end_balance(runs, "sqrt_ngd_d", s) for s in runs.seeds("sqrt_ngd_d")]
        claims.append(
            _claim(
                "balance_end_sqrt_ngd_d",
                "The square-root block rule keeps balance in the sense of equal layer norms, but "
                "its C_i are not conserved: final max_i ‖C_i‖_F / max_i ‖W_iW_iᵀ‖_F, max over "
                f"seeds ({_fmt(ends)})",
                max(ends),
                "< 0.25",
                "< 0.25 (§1.7 measured 0.13–0.14)",
                max(ends) < 0.25,
            )
        )
    return claims


def path_claims(runs: Runs, modes: pd.DataFrame | None) -> list[Claim]:
    claims: list[Claim] = []
    if modes is not None and len(modes):
        claims += _per_mode_path_claims(modes)
    else:
        claims.append(
            _missing("same_path_per_mode_flow", "Same path per mode", "huh2020.modes disabled")
        )
    if runs.has("gd") and runs.has("ngd"):
        seeds = runs.common_seeds("gd", "ngd")
        dist = {
            m: [path_distance(runs, m, s) for s in runs.common_seeds("gd", m)]
            for m in ("ngd", "sqrt_ngd", "ngd_d")
            if runs.has(m)
        }
        ngd_ok = max(dist["ngd"]) < 0.03
        ngd_d_ok = "ngd_d" not in dist or min(dist["ngd_d"]) > 0.05
        claims.append(
            _claim(
                "same_path_layer_norms",
                "GD and NGD trace the same path in layer-norm space (a weak test: conservation of "
                "tr C_i nearly implies it): distance of each point of the method's path in "
                "(‖W_1‖_F, …, ‖W_d‖_F) from GD's path, within GD's range of overall norm, over the "
                "point's norm, max over points and seeds ("
                + "; ".join(f"{LABELS[m]} {_fmt(v)}" for m, v in dist.items())
                + "); NGD shown, NGD-d must leave the path",
                max(dist["ngd"]),
                "NGD < 0.03; NGD-d > 0.05",
                "< 0.03 NGD, > 0.05 NGD-d (§1.7 measured 0.0015–0.017, 0.074–0.109)",
                ngd_ok and ngd_d_ok,
            )
        )
        diffs = [equal_loss_norm_difference(runs, "ngd", s) for s in seeds]
        claims.append(
            _claim(
                "joint_paths_differ",
                "Paper/talk: NGD 'follows the same path as gradient descent'. Measured: the "
                "joint paths differ (the same path holds per mode only): at equal training loss, "
                "max_i |‖W_i‖_NGD − ‖W_i‖_GD| / ‖W_i‖_GD, max over the path, per seed "
                f"({_fmt(diffs)}; min shown)",
                min(diffs),
                "> 0.3 (§1.7 measured 0.64–1.18)",
                "> 0.3 [R threshold]; compare per mode instead (same_path_per_mode_flow)",
                min(diffs) > 0.3,
                agrees=False,
            )
        )
    return claims


def _per_mode_path_claims(modes: pd.DataFrame) -> list[Claim]:
    claims = []
    layers = modes[modes["quantity"] == "layer_value"]
    flow = layers[layers["variant"] == "flow"].pivot_table(
        index=["seed", "mode", "step", "layer"], columns="method", values="value"
    )
    if "gd" not in flow:
        return [_missing("same_path_per_mode_flow", "Same path per mode", "GD disabled")]
    rel = {m: float(((flow[m] - flow["gd"]).abs() / flow["gd"]).max()) for m in flow if m != "gd"}
    same = [m for m in ("ngd", "sqrt_ngd") if m in rel]
    if same:
        worst = max(rel[m] for m in same)
        ok = worst < 1e-4 and ("ngd_d" not in rel or rel["ngd_d"] > 0.1)
        claims.append(
            _claim(
                "same_path_per_mode_flow",
                "The generalized conservation law, per mode: in the aligned network's flow each "
                "mode's layer values are the same function of its map value s under GD, NGD and "
                "sqrt-NGD; NGD-d leaves that path. Max relative difference to GD at equal s (same "
                "map-value levels, leading modes, all layers and seeds): "
                + "; ".join(f"{LABELS.get(m, m)} {v:.2g}" for m, v in rel.items())
                + " (NGD, sqrt-NGD shown)",
                worst,
                "< 1e-4 NGD, sqrt-NGD; > 0.1 NGD-d",
                "< 1e-4, > 0.1 (§1.7 measured 4e-6; 0.17–0.28)",
                ok,
            )
        )
    euler = layers[layers["variant"] == "euler"]
    worst_e: dict[str, tuple[float, float]] = {}
    for (seed, mode), group in euler.groupby(["seed", "mode"]):
        maps = modes[
            (modes["variant"] == "euler")
            & (modes["quantity"] == "map_value")
            & (modes["seed"] == seed)
            & (modes["mode"] == mode)
        ]
        ref_s = maps[maps["method"] == "gd"].set_index("step")["value"]
        ref = group[group["method"] == "gd"].pivot(index="step", columns="layer", values="value")
        order = np.argsort(ref_s.to_numpy())
        log_s = np.log(ref_s.to_numpy()[order])
        for m in ("ngd", "sqrt_ngd"):
            s = maps[maps["method"] == m].set_index("step")["value"]
            vals = group[group["method"] == m].pivot(index="step", columns="layer", values="value")
            inside = (np.log(s) >= log_s[0]) & (np.log(s) <= log_s[-1])
            for layer in vals.columns:
                y = np.log(ref[layer].to_numpy()[order])
                interp = np.exp(np.interp(np.log(s[inside]), log_s, y))
                err = np.abs(vals.loc[inside.to_numpy(), layer].to_numpy() - interp) / interp
                if len(err):
                    j = int(np.argmax(err))
                    if err[j] > worst_e.get(m, (0.0, 0.0))[0]:
                        worst_e[m] = (float(err[j]), float(s[inside].index[j]))
    if worst_e:
        worst = max(v for v, _ in worst_e.values())
        where = "; ".join(f"{LABELS[m]} {v:.2g} at step {int(k)}" for m, (v, k) in worst_e.items())
        claims.append(
            _claim(
                "same_path_per_mode_euler",
                "The same per-mode path under Euler steps (η and clipping as in the main runs; GD's "
                f"path interpolated in log s): max relative difference to GD ({where}). The largest "
                "error sits at the first, clipped steps",
                worst,
                "< 1e-2",
                "< 1e-2 for Euler (§1.7)",
                at_most(worst, 1e-2),
            )
        )
    return claims


def invariant_claims(modes: pd.DataFrame | None) -> list[Claim]:
    if modes is None or modes.empty:
        return [_missing("exact_invariants", "Exact invariants at ε = 0", "huh2020.modes disabled")]
    layers = modes[modes["quantity"] == "layer_value"]
    found: dict[str, float] = {}

    def drift(rows: pd.DataFrame, law) -> float:
        worst = 0.0
        for _, g in rows.groupby(["seed", "mode"]):
            v = g.pivot(index="step", columns="layer", values="value").sort_index().to_numpy()
            inv = law(v[:, 1:], v[:, :1])
            worst = max(worst, float(np.abs(inv - inv[0]).max()))
        return worst

    rows = layers[(layers["method"] == "ngd_d_eps0")]
    if len(rows):
        found["σ_i/σ_1 (NGD-d, Euler)"] = drift(rows, lambda a, b: a / b)
    rows = layers[(layers["method"] == "sqrt_ngd_d_eps0")]
    if len(rows):
        found["σ_i − σ_1 (sqrt-NGD-d, Euler)"] = drift(rows, lambda a, b: a - b)
    for m in ("gd", "ngd", "sqrt_ngd"):
        rows = layers[(layers["method"] == m) & (layers["variant"] == "flow")]
        if len(rows):
            found[f"σ_i² − σ_1² ({LABELS[m]}, flow)"] = drift(rows, lambda a, b: a * a - b * b)
    logdet = modes[modes["quantity"] == "logdet_law_drift"]
    if len(logdet):
        found["log|det W_i| − log|det W_1| (NGD-d, matrix Euler, non-aligned)"] = float(
            logdet[logdet["mode"] == 1]["value"].max()
        )
    worst = max(found.values())
    return [
        _claim(
            "exact_invariants",
            "Exact conservation laws at ε = 0: max change over the run ("
            + "; ".join(f"{k}: {v:.2g}" for k, v in found.items())
            + "); the log-det check starts from W_i = I + 0.3·G_i/√N and stops before a layer "
            "nears singularity [R]",
            worst,
            "< 1e-8",
            "< 1e-8 (§1.7 measured ≤ 3e-11)",
            at_most(worst, 1e-8),
        )
    ]


def speed_claims(runs: Runs) -> list[Claim]:
    claims: list[Claim] = []
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
        ok = min(ratios) >= 50 and max(times) < 0.1
        claims.append(
            _claim(
                "speed_spike",
                "Unclipped NGD and NGD-d spike in parameter speed ‖Δθ‖/η while the singular values "
                f"are small: peak speeds {_fmt(values)} at t = {_fmt(times)} (step η·k of the "
                f"peak) vs sqrt-NGD's largest {sqrt_max:.3g}; min ratio shown",
                min(ratios),
                "≥ 50, at t < 0.1",
                "≥ 50× sqrt-NGD, t < 0.1 (§1.7 measured 503, 890 vs 3.93; t ≤ 0.03)",
                ok,
            )
        )
    else:
        claims.append(
            _missing("speed_spike", "Unclipped NGD/NGD-d speed spike", "controls disabled")
        )
    if runs.has("ngd_unclipped"):
        eps = runs.settings["ngd_unclipped"]["eps"]
        bound = huh.speed_bound(1.0, eps)
        values = [
            runs.last("ngd_unclipped", s, "speed_ratio_max") / bound
            for s in runs.seeds("ngd_unclipped")
        ]
        claims.append(
            _claim(
                "ngd_speed_bound",
                f"Damping caps NGD's speed: max ‖v‖/‖e‖ of unclipped NGD over ‖e‖/(2√ε) = "
                f"{bound:.4g} (ε = {eps:g}), max over seeds",
                max(values),
                "≤ 1.01",
                "≤ 1.01 (§1.7 measured 131/158)",
                at_most(max(values), 1.01),
            )
        )
    else:
        claims.append(_missing("ngd_speed_bound", "NGD speed bound", "ngd_unclipped disabled"))
    parts = {}
    for m, bound_of in (("sqrt_ngd", 1.0), ("sqrt_ngd_d", None)):
        if runs.has(m):
            depth = runs.block(m, runs.seeds(m)[0], "layer_norm").shape[1]
            bound = bound_of if bound_of is not None else math.sqrt(depth)
            parts[m] = max(runs.last(m, s, "speed_ratio_max") for s in runs.seeds(m)) / bound
    if parts:
        worst = max(parts.values())
        claims.append(
            _claim(
                "sqrt_speed_bounded",
                "The square-root rules have bounded speed: max ‖v‖/‖e‖ over its bound (1 full, √d "
                "block), max over seeds ("
                + "; ".join(f"{LABELS[m]} {v:.8f}" for m, v in parts.items())
                + ")",
                worst,
                "≤ 1 + 1e-6",
                "≤ 1 + 1e-6 and ≤ √d + 1e-6 (§1.7 measured 1.0000, 2.0000)",
                at_most(worst, 1 + 1e-6),
            )
        )
    unclipped = [m for m in ("ngd_unclipped", "ngd_d_unclipped") if runs.has(m)]
    if unclipped:
        diverged = [(m, s) for m in unclipped for s in runs.seeds(m) if runs.diverged[(m, s)]]
        drifts = [
            balance_drift(runs, m, s)
            for m in unclipped
            for s in runs.seeds(m)
            if not runs.diverged[(m, s)]
        ]
        first = [
            float(runs.series(m, s, "step_norm").iloc[0]) for m in unclipped for s in runs.seeds(m)
        ]
        value = min(drifts) if drifts else math.nan
        claims.append(
            _claim(
                "unclipped_no_divergence",
                "Paper: the parameter dynamics of NGD-d (and NGD) are unstable without clipping. "
                f"Measured: unclipped NGD and NGD-d (ε = 1e-5) did not diverge ({len(diverged)} "
                f"of {len(first)} runs diverged), but their first steps are {_fmt(first)} long "
                "and distort the path: balance drift (as in balance_kept), min shown",
                value,
                "no divergence; drift > 0.3",
                "0 diverged, drift > 0.3 (§1.7: 3/3 seeds did not diverge; drift 0.83, 1.02)",
                not diverged and at_least(value, 0.3),
                agrees=False,
            )
        )
    else:
        claims.append(
            _missing("unclipped_no_divergence", "Unclipped NGD/NGD-d", "controls disabled")
        )
    if runs.has("ngd_d_undamped"):
        ratios, negs = [], []
        for s in runs.seeds("ngd_d_undamped"):
            err = runs.series("ngd_d_undamped", s, "map_error")
            ratios.append(float(err.iloc[-1] / err.iloc[0]))
            negs.append(int(runs.constant("ngd_d_undamped", s, "negative_real_eigs")))
        settings = runs.settings["ngd_d_undamped"]
        claims.append(
            _claim(
                "ngd_d_undamped_stalls",
                f"Undamped NGD-d (ε = 0, cap {settings['clip']:g}) stalls from random init: map "
                f"error at t = {settings['horizon']:g} over its initial value, per seed "
                f"({_fmt(ratios)}); negative real eigenvalues of Σ̂⁻¹W₀ per seed: "
                f"{', '.join(map(str, negs))} (at each, the ε = 0 map path Σ̂ + (W₀ − Σ̂)e^{{−dt}} "
                "passes through a singular matrix and all layers go singular together); min shown",
                min(ratios),
                "≥ 0.5 (§1.7: 0.89 at t = 8)",
                "≥ 0.5 [R]",
                min(ratios) >= 0.5,
            )
        )
    else:
        claims.append(
            _missing("ngd_d_undamped_stalls", "Undamped NGD-d", "ngd_d_undamped disabled")
        )
    return claims


def random_init_mode_claims(runs: Runs) -> list[Claim]:
    """Mode ODEs from s₀ = (mean squared layer singular value)^{d/2} against the projections of
    W on Σ̂'s leading (teacher) modes."""
    claims: list[Claim] = []
    if not runs.has("gd"):
        return claims
    seed0 = runs.seeds("gd")[0]
    rank = len(runs.vector("gd", seed0, "teacher_sv"))

    def sim_and_ode(run: str, seed: int):
        settings = runs.settings[run]
        proj = runs.block(run, seed, "proj_target")
        depth = runs.block(run, seed, "layer_norm").shape[1]
        targets = runs.vector(run, seed, "target_sv")[:rank]
        t = proj.index.to_numpy()
        s0 = runs.constant(run, seed, "s0_random_init")
        ode = huh.integrate_balanced(
            s0, targets, settings["alpha"], settings["structure"], depth, t, eps=settings["eps"]
        )
        return t, proj[list(range(1, rank + 1))].to_numpy(), ode, targets

    if runs.has("sqrt_ngd"):
        ratio_dev, shape_dev = [], []
        for seed in runs.seeds("sqrt_ngd"):
            t, sim, ode, targets = sim_and_ode("sqrt_ngd", seed)
            for k, target in enumerate(targets):
                th_sim, th_ode = huh.t_half(t, sim[:, k], target), huh.t_half(t, ode[:, k], target)
                ratio_dev.append(th_sim / th_ode - 1)
                shifted = np.interp(t - (th_sim - th_ode), t, ode[:, k])
                shape_dev.append(float(np.abs(sim[:, k] - shifted).max() / target))
        worst = max(ratio_dev, key=abs)
        claims.append(
            _claim(
                "random_init_modes_sqrt",
                "sqrt-NGD from random init follows the balanced mode ODE √d s^{1−1/d}(ŝ − s): "
                "t_half(sim)/t_half(ODE) − 1 on Σ̂'s leading modes, all seeds (largest |·| shown); "
                f"shape deviation after removing the t_half shift max {max(shape_dev):.3g} of ŝ",
                worst,
                "|·| ≤ 0.10 and shape deviation < 0.03",
                "10%, < 3% (§1.7 measured 0.995–1.044, ≤ 1.1%)",
                abs(worst) <= 0.10 and max(shape_dev) < 0.03,
            )
        )
    after = {}
    for run, rate in (("ngd", 1.0), ("ngd_d", None)):
        if not runs.has(run):
            continue
        worst = 0.0
        for seed in runs.seeds(run):
            proj = runs.block(run, seed, "proj_target")
            depth = proj.shape[1] and runs.block(run, seed, "layer_norm").shape[1]
            c = 1.0 if rate is not None else float(depth)
            targets = runs.vector(run, seed, "target_sv")[:rank]
            t_c = clip_off_time(runs, run, seed)
            sub = proj[proj.index >= t_c - 1e-12][list(range(1, rank + 1))]
            t = sub.index.to_numpy()
            pred = huh.exponential_map(
                t - t[0],
                sub.iloc[0].to_numpy(),
                targets,
                huh.euler_rate(c, runs.settings[run]["eta"]),
            )
            worst = max(worst, float((np.abs(sub.to_numpy() - pred).max(axis=0) / targets).max()))
        after[run] = worst
    if after:
        worst = max(after.values())
        claims.append(
            _claim(
                "random_init_modes_ngd",
                "After clip-off NGD and NGD-d learn Σ̂'s leading modes as the closed form ŝ − (ŝ − "
                "s_c)(1 − cη)^k (c = 1, d) restarted at clip-off: max |sim − closed form| / ŝ ("
                + "; ".join(f"{LABELS[m]} {v:.2g}" for m, v in after.items())
                + ")",
                worst,
                "< 0.02",
                "< 2% (§1.7 measured ≤ 0.63%)",
                at_most(worst, 0.02),
            )
        )
    ratios, order_ok = [], True
    for seed in runs.seeds("gd"):
        t, sim, ode, targets = sim_and_ode("gd", seed)
        halves = []
        for k, target in enumerate(targets):
            th_sim = huh.t_half(t, sim[:, k], target)
            halves.append(th_sim)
            ratios.append(th_sim / huh.t_half(t, ode[:, k], target))
        order_ok &= bool(np.nanargmax(halves) == len(halves) - 1) and not any(
            map(math.isnan, halves)
        )
    worst = max(ratios, key=lambda r: max(0.7 - r, r - 2.0) if math.isfinite(r) else math.inf)
    claims.append(
        _claim(
            "random_init_modes_gd",
            "GD from random init learns Σ̂'s leading modes in stages, the weakest last "
            f"({'yes' if order_ok else 'no'} in every seed): t_half(sim)/t_half(ODE d s^{{2−2/d}}(ŝ − s) "
            f"from s₀), all modes and seeds ({_fmt(ratios)}; value farthest from the band shown)",
            worst,
            "in [0.7, 2.0], weakest mode last",
            "[0.7, 2.0] (§1.7 measured 0.96–1.57; the top two modes can swap)",
            within(worst, 0.7, 2.0) and order_ok,
        )
    )
    return claims


def closed_form_claims(modes: pd.DataFrame | None) -> list[Claim]:
    if modes is None or modes.empty:
        return [_missing("closed_forms", "Closed forms of the mode ODEs", "huh2020.modes disabled")]
    const = modes[modes["variant"] == "constant"]

    def values(quantity: str) -> np.ndarray:
        return const[const["quantity"] == quantity]["value"].to_numpy()

    claims = []
    err = values("closed_form_error")
    if len(err):
        claims.append(
            _claim(
                "closed_form_ngd",
                "Balanced flow at ε = 0: NGD's and NGD-d's map ODEs have the closed forms "
                "ŝ − (ŝ − s₀)e^{−t}, e^{−dt}: max |numerical − closed form| over the teacher modes",
                float(err.max()),
                "< 1e-8",
                "< 1e-8 (§1.7 measured 2e-11)",
                at_most(float(err.max()), 1e-8),
            )
        )
    ratio = values("t_half_over_escape_time")
    if len(ratio):
        worst = float(ratio[np.argmax(np.abs(ratio - 1))])
        claims.append(
            _claim(
                "gd_time_scale",
                "GD's plateau: t_half × (d − 2) ŝ σ₀^{d−2} (= 2ŝσ₀² at d = 4) for the balanced flow "
                f"from s₀ = σ₀^d, teacher modes and seeds ({_fmt(ratio, 4)}; farthest from 1 shown)",
                worst,
                "1 ± 0.02",
                "1 ± 2% (§1.7 measured 0.990–0.997)",
                within(worst, 0.98, 1.02),
            )
        )
    slope = values("t_half_slope")
    if len(slope):
        worst = float(slope[np.argmax(np.abs(slope + 0.75))])
        claims.append(
            _claim(
                "sqrt_escape_time",
                "sqrt-NGD has no plateau: its t_half stays finite as s₀ → 0 and scales as ŝ^{−(1−1/d)}: "
                "slope of log t_half against log ŝ (ŝ ∈ [¼, 4], s₀ = 1e-12)",
                worst,
                "−0.75 ± 0.05",
                "−3/4 ± 0.05 (§1.7 measured −0.7500)",
                within(worst, -0.80, -0.70),
            )
        )
    return claims


def evaluate(tables: dict[str, pd.DataFrame], scale: str) -> list[Claim]:
    """All claims from the tables ``huh2020.train`` and ``huh2020.modes``."""
    train = tables["huh2020.train"]
    modes = tables.get("huh2020.modes")
    runs = Runs(train)
    claims: list[Claim] = []
    diverged = sorted((r, s) for (r, s), d in runs.diverged.items() if d and r in METHODS)
    if diverged:
        claims.append(
            _claim(
                "runs_diverged",
                "Main runs that diverged (non-finite loss): "
                + "; ".join(f"{LABELS[r]} seed {s}" for r, s in diverged),
                len(diverged),
                "0",
                "0",
                False,
            )
        )
    threshold = TRAIN_THRESHOLD
    claims += identity_claims(runs, modes)
    claims += speed_of_learning_claims(runs, threshold)
    claims += rate_claims(runs, scale)
    claims += generalization_claims(runs)
    claims += balance_claims(runs)
    claims += path_claims(runs, modes)
    claims += invariant_claims(modes)
    claims += speed_claims(runs)
    claims += random_init_mode_claims(runs)
    claims += closed_form_claims(modes)
    return claims
