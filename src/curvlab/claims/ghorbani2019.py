"""Ghorbani, Krishnan & Xiao (2019): the claims, one row per declared id at every scale.

Each claim's statement, statistic, tolerance and calibration are documented in
docs/papers/ghorbani2019.md under its id; the statistics and bounds are in
:mod:`curvlab.measures.ghorbani2019`. Claims about BatchNorm come in two rows, ``_mlp`` (the
statistic and window the tolerance was measured with, on MLPs) and ``_conv`` (the same bound
on the VGG/ResNet models, over each run's progress window); the other claims take the worst
case over every configured model and name the per-model values in their details.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable

import numpy as np
import pandas as pd

from curvlab.claims import Between, Claim, ClaimSet, ClaimSpec, Precondition, Target
from curvlab.measures import ghorbani2019 as m

PAPER = "ghorbani2019"
CI = ("ci",)
DEFAULT_SLQ = ("ci", "default", "offline")


def _spec(cid: str, statement: str, target: Target = Target.PAPER, cal=CI) -> ClaimSpec:
    return ClaimSpec(PAPER, cid, statement, target=target, calibrated_at=cal)


CLAIMS = ClaimSet(
    PAPER,
    [
        _spec(
            "slq_ritz",
            "SLQ's Ritz values match the exact top eigenvalues to double precision",
            cal=(),
        ),
        _spec(
            "topk_eigs",
            "The top-10 Lanczos eigenvalues used for λ₁/λ₁₁ and ρ_K match the exact ones",
            Target.RECONSTRUCTION,
            cal=(),
        ),
        _spec(
            "slq_density_init",
            "The SLQ density is not exact at σ² = 1e-5 (initialization, broad bulk)",
            Target.PAPER_CONTRADICTED,
            cal=DEFAULT_SLQ,
        ),
        _spec(
            "slq_density_trained",
            "The SLQ density is not exact at σ² = 1e-5 (trained)",
            Target.PAPER_CONTRADICTED,
            cal=DEFAULT_SLQ,
        ),
        _spec(
            "slq_density_wide",
            "The SLQ density matches the exact one at a wider kernel, σ² = 1e-3",
            Target.RECONSTRUCTION,
            cal=DEFAULT_SLQ,
        ),
        _spec(
            "slq_negative_fraction",
            "SLQ's |λ|-weighted negative fraction agrees with the exact one within its error",
            Target.RECONSTRUCTION,
            cal=(),
        ),
        _spec("outliers_nobn", "Without BN, isolated outlier eigenvalues separate from the bulk"),
        _spec(
            "rho_nobn",
            "Without BN, the gradient concentrates in the top-10 eigenspace before the fit",
        ),
        _spec("bn_ratio_mlp", "With BN the outliers are almost absent (MLPs, λ₁/λ₁₁)"),
        _spec(
            "bn_suppresses_ratio_mlp", "BN makes the outliers much weaker than without BN (MLPs)"
        ),
        _spec("bn_rho_mlp", "With BN the gradient concentration is almost absent (MLPs, ρ₁₀)"),
        _spec(
            "bn_suppresses_rho_mlp",
            "BN makes the gradient concentration much weaker than without BN (MLPs)",
        ),
        _spec(
            "bn_suppresses_ratio_conv",
            "BN makes the outliers much weaker than without BN (conv nets)",
        ),
        _spec(
            "bn_suppresses_rho_conv",
            "BN makes the gradient concentration much weaker than without BN (conv nets)",
        ),
        _spec(
            "bn_mode_mlp",
            "The suppression needs the gradient through the batch statistics (MLPs)",
            Target.PAPER_CONTRADICTED,
        ),
        _spec(
            "bn_mode_conv",
            "The suppression needs the gradient through the batch statistics (conv nets)",
            Target.PAPER_CONTRADICTED,
        ),
        _spec("population_outliers_mlp", "Population BN brings the outliers back (MLPs)"),
        _spec("population_outliers_conv", "Population BN brings the outliers back (conv nets)"),
        _spec(
            "population_outlier_count_mlp",
            "With population BN the outliers number about the classes (MLPs)",
            Target.RECONSTRUCTION,
        ),
        _spec(
            "population_outlier_count_conv",
            "With population BN the outliers number about the classes (conv nets)",
            Target.RECONSTRUCTION,
        ),
        _spec("population_slower_mlp", "Population BN trains more slowly at a common η (MLPs)"),
        _spec(
            "population_slower_conv",
            "Population BN trains more slowly at a common η (conv nets)",
        ),
        _spec(
            "neg_fraction",
            "The negative eigenvalues present at initialization shrink by step 400",
        ),
        _spec(
            "neg_fraction_exact",
            "The negative eigenvalues shrink during training (exact spectrum, validation MLP)",
        ),
        _spec("neg_min_ratio", "The most negative eigenvalue shrinks relative to λ₁"),
        _spec("neg_min_at_init", "Large negative eigenvalues exist at initialization"),
        _spec("neg_mass", "The spectral mass well below zero shrinks by step 400"),
        _spec(
            "lr_drop",
            "λmax after a learning-rate drop (shown, not judged at these scales)",
            cal=(),
        ),
    ],
)
S = CLAIMS.specs


# --------------------------------------------------------------------------- helpers


def _fmt(values: Iterable[float]) -> str:
    return ", ".join(f"{v:.3g}" for v in values)


def _per(items: dict[str, str]) -> str:
    return "; ".join(f"{k}: {v}" for k, v in items.items())


def _se(values: pd.Series) -> float:
    return float(values.std(ddof=1) / math.sqrt(len(values))) if len(values) > 1 else math.nan


class _Ctx:
    """What every claim needs from the tables, computed once."""

    def __init__(self, tables: dict[str, pd.DataFrame], scale: str) -> None:
        self.scale = scale
        self.curv = tables.get("ghorbani2019.curvature")
        self.train = tables.get("ghorbani2019.train")
        self.val = tables.get("ghorbani2019.validation")
        self.have_curv = self.curv is not None and not self.curv.empty
        if self.have_curv:
            self.prog = m.with_progress(m.spectrum_stats(self.curv))
            self.archs = sorted(self.curv["arch"].unique())
            self.bns = set(self.curv["bn"].unique())
        else:
            self.prog = pd.DataFrame()
            self.archs, self.bns = [], set()
        self.loss = m.full_loss(self.train)

    def models(self, fam: str) -> list[str]:
        return [a for a in self.archs if m.family(a) == fam]

    def runs(self, bn: str, mode: str | None = None) -> pd.DataFrame:
        p = self.prog
        return p[(p.bn == bn) & (p.hessian_mode == (mode or m.PRIMARY[bn]))]

    def missing(self, spec: ClaimSpec, *, fam: str | None = None, bns=(), modes=()) -> Claim | None:
        """A NOT RUN row when the study that measures ``spec`` is not in this run."""
        if not self.have_curv:
            return spec.not_run(
                "no ghorbani2019 curvature table in this run (its training and curvature "
                "jobs did not run)"
            )
        if fam is not None and not self.models(fam):
            what = "MLP" if fam == "mlp" else "conv net (VGG or ResNet)"
            return spec.not_run(
                f"no {what} among ghorbani2019.models at this scale (models: "
                f"{', '.join(self.archs)})"
            )
        for bn in bns:
            if bn not in self.bns:
                return spec.not_run(
                    f"BN variant {bn!r} is not among ghorbani2019.bn_modes at this scale"
                )
        for mode in modes:
            if self.runs("batch", mode).empty:
                return spec.not_run(
                    f"Hessian mode {mode!r} of the BN nets is not configured "
                    "(ghorbani2019.curvature.hessian_modes.batch)"
                )
        return None


# --------------------------------------------------------------------------- validation


def _validation(ctx: _Ctx) -> list[Claim]:
    ids = (
        "slq_ritz", "topk_eigs", "slq_density_init", "slq_density_trained", "slq_density_wide",
        "slq_negative_fraction", "neg_fraction_exact",
    )  # fmt: skip
    val = ctx.val
    if val is None or val.empty:
        why = (
            "the SLQ validation did not run: ghorbani2019.validation.enabled is false at this "
            "scale, or its table was not given"
        )
        return [S[i].not_run(why) for i in ids]
    q = m.validation_quantity
    draws = int(val[val.quantity == "node"]["draw"].max()) + 1
    n_params = int(q(val, "init", "n_params"))
    arch = str(val["arch"].iloc[0])
    model = f"MLP {arch} without BN, P = {n_params}, {draws} draws"
    out = []
    ritz = {s: q(val, s, "ritz_err") for s in ("init", "trained")}
    out.append(
        S["slq_ritz"].check(
            max(ritz.values()),
            m.RITZ,
            f"largest |θᵢ − λᵢ|/λmax over the top 10 Ritz values of every draw against eigvalsh "
            f"of the explicit Hessian ({model}); init {ritz['init']:.2g}, trained "
            f"{ritz['trained']:.2g}",
        )
    )
    topk = {s: q(val, s, "topk_err") for s in ("init", "trained")}
    out.append(
        S["topk_eigs"].check(
            max(topk.values()),
            m.TOPK,
            f"largest |λᵢ − exact|/λmax of the top-10 eigenvalues by the core's Lanczos "
            f"({model}); init {topk['init']:.2g}, trained {topk['trained']:.2g}",
        )
    )
    for state, bound in (("init", m.DENSITY_INIT), ("trained", m.DENSITY_TRAINED)):
        value = q(val, state, "l1", 1e-5)
        one = q(val, state, "l1_k1", 1e-5)
        out.append(
            S[f"slq_density_{state}"].check(
                value,
                bound,
                f"L1 distance between the SLQ and the exact smoothed densities at σ² = 1e-5 "
                f"({state}; {model}; one draw alone: {one:.3g}): far from double precision",
            )
        )
    wide = {s: q(val, s, "l1", 1e-3) for s in ("init", "trained")}
    out.append(
        S["slq_density_wide"].check(
            max(wide.values()),
            m.density_wide(draws),
            f"L1 distance at σ² = 1e-3, max over init ({wide['init']:.3g}) and trained "
            f"({wide['trained']:.3g}); {model}",
        )
    )
    z, parts, exact = {}, [], {}
    for state in ("init", "trained"):
        ev, nodes, weights = m.validation_spectra(val, state)
        exact[state] = m.exact_negative_fraction(ev)
        est, se = m.quadrature_negative_fraction(nodes, weights)
        z[state] = abs(est - exact[state]) / se if se > 0 else math.nan
        parts.append(f"{state}: SLQ {est:.4g} ± {se:.2g}, exact {exact[state]:.4g}")
    out.append(
        S["slq_negative_fraction"].check(
            max(z.values()),
            m.SLQ_NEGATIVE,
            f"|SLQ − exact| / SE of Σ_(λ<0)|λ| / Σ|λ| ({model}); " + "; ".join(parts),
            preconditions=[Precondition(f"at least 2 SLQ draws ({draws})", draws >= 2)],
        )
    )
    steps = _validation_steps(val)
    ratio = exact["trained"] / exact["init"]
    out.append(
        S["neg_fraction_exact"].check(
            ratio,
            m.NEG_FRACTION,
            f"exact |λ|-weighted negative fraction of the validation {model.split(',')[0]}, "
            f"trained{f' ({steps} steps)' if steps else ''} over initialization: "
            f"{exact['trained']:.4g} / {exact['init']:.4g}",
        )
    )
    return out


def _validation_steps(val: pd.DataFrame) -> int | None:
    """The validation MLP's SGD steps before 'trained', from the table's provenance."""
    runs = val.attrs.get("provenance", {}).get("aggregate_of", {}).values()
    steps = {run.get("config", {}).get("train_steps") for run in runs} - {None}
    return int(steps.pop()) if len(steps) == 1 else None


# --------------------------------------------------------------------------- no BN


def _outliers_nobn(ctx: _Ctx) -> Claim:
    spec = S["outliers_nobn"]
    if miss := ctx.missing(spec, bns=("none",)):
        return miss
    nobn = ctx.runs("none")
    later = nobn[nobn.step >= m.EARLY[0]]
    if later.empty:
        return spec.not_run("no checkpoint at step ≥ 50 (ghorbani2019.train.checkpoints)")
    per = {
        a: f"min {g.ratio11.min():.3g} over steps {sorted(set(g.step))}; at step 0 "
        f"{_fmt(nobn[(nobn.arch == a) & (nobn.step == 0)].ratio11)}"
        for a, g in later.groupby("arch")
    }
    return spec.check(
        float(later.ratio11.min()),
        m.by_scale(m.OUTLIERS, ctx.scale),
        "λ₁/λ₁₁ without BN, min over models, seeds and checkpoints ≥ 50 ("
        + _per(per)
        + "); an outlier at step 0 is expected with He init and is not judged",
    )


def _window_note(prog: pd.DataFrame, arch: str, bn: str) -> str:
    w = m.window_steps(prog, arch, bn)
    return ", ".join(f"seed {s}: {v or 'none'}" for s, v in w.items())


def _rho_nobn(ctx: _Ctx) -> Claim:
    spec = S["rho_nobn"]
    if miss := ctx.missing(spec, bns=("none",)):
        return miss
    rho = f"rho{m.K}"
    nobn = ctx.runs("none")
    if rho not in nobn:
        return spec.not_run(f"K = {m.K} is not in ghorbani2019.curvature.ks")
    inside = nobn[nobn.in_window]
    empty = [
        f"{a} seed {s}" for (a, s), g in nobn.groupby(["arch", "seed"]) if not g.in_window.any()
    ]
    per = {}
    for a, g in nobn.groupby("arch"):
        w = g[g.in_window]
        old = g[g.step.between(*m.EARLY)][rho]
        per[a] = (
            f"window steps {sorted(set(w.step)) or 'none'}, ρ₁₀ {_fmt(w[rho])}; old window "
            f"50–200: min {old.min():.3g}"
            if len(old)
            else f"window steps {sorted(set(w.step)) or 'none'}, ρ₁₀ {_fmt(w[rho])}; old "
            "window 50–200: no checkpoint"
        )
    return spec.check(
        float(inside[rho].min()) if len(inside) else math.nan,
        m.RHO_NOBN,
        f"ρ₁₀ = ‖P₁₀g‖²/‖g‖² without BN, min over models, seeds and the checkpoints with "
        f"{m.FIT:g}·L(0) ≤ L(t) ≤ {m.PLATEAU:g}·L(0) (" + _per(per) + ")",
        preconditions=[
            Precondition(
                "every no-BN run has a checkpoint in its progress window"
                + (f" (none: {', '.join(empty)})" if empty else ""),
                not empty,
            )
        ],
    )


# --------------------------------------------------------------------------- BN suppression


def _seed_means(frame: pd.DataFrame, col: str) -> pd.DataFrame:
    return frame.groupby("step")[col].agg(["mean", _se, "size"])


def _suppression_mlp(ctx: _Ctx) -> list[Claim]:
    rho = f"rho{m.K}"
    ids = ("bn_ratio_mlp", "bn_suppresses_ratio_mlp", "bn_rho_mlp", "bn_suppresses_rho_mlp")
    first = ctx.missing(S[ids[0]], fam="mlp", bns=("none", "batch"))
    if first:
        return [S[i].not_run(first.details) for i in ids]
    bn, nobn = ctx.runs("batch"), ctx.runs("none")
    mlps = ctx.models("mlp")
    early = lambda f: f[f.step.between(*m.EARLY) & f.arch.isin(mlps)]  # noqa: E731
    ebn, enobn = early(bn), early(nobn)
    if ebn.empty or enobn.empty:
        why = (
            "no BN and no-BN checkpoint of an MLP in steps 50–200 (ghorbani2019.train.checkpoints)"
        )
        return [S[i].not_run(why) for i in ids]
    out = []
    for col, abs_id, rel_id, abs_bound, rel_bound, name in (
        ("ratio11", ids[0], ids[1], m.BN_RATIO, m.BN_RATIO_REL, "λ₁/λ₁₁"),
        (rho, ids[2], ids[3], m.BN_RHO, m.BN_RHO_REL, "ρ₁₀"),
    ):
        if col not in ebn:
            out += [
                S[i].not_run(f"K = {m.K} is not in ghorbani2019.curvature.ks")
                for i in (abs_id, rel_id)
            ]
            continue
        worst_abs, worst_rel, per = None, None, {}
        for arch in mlps:
            mb = _seed_means(ebn[ebn.arch == arch], col)
            mn = _seed_means(enobn[enobn.arch == arch], col)
            common = mb.index.intersection(mn.index)
            if common.empty:
                continue
            rel = mb.loc[common, "mean"] / mn.loc[common, "mean"]
            s_abs = mb["mean"].idxmax()
            s_rel = rel.idxmax()
            a = (float(mb.loc[s_abs, "mean"]), float(mb.loc[s_abs, "_se"]), arch)
            r_se = m.ratio_se(
                mb.loc[s_rel, "mean"], mb.loc[s_rel, "_se"], mn.loc[s_rel, "mean"],
                mn.loc[s_rel, "_se"],
            )  # fmt: skip
            r = (float(rel.max()), r_se, arch)
            worst_abs = a if worst_abs is None or a[0] > worst_abs[0] else worst_abs
            worst_rel = r if worst_rel is None or r[0] > worst_rel[0] else worst_rel
            per[arch] = (
                f"BN {_fmt(mb['mean'])}, no BN {_fmt(mn['mean'])} at steps "
                f"{list(map(int, mb.index))} ({int(mb['size'].max())} seeds)"
            )
        what = f"{name} with BN (batch-mode Hessian), seed means at steps 50–200"
        out.append(
            S[abs_id].check(
                worst_abs[0],
                abs_bound,
                f"max over steps and MLPs of the {what} (" + _per(per) + ")",
                se=worst_abs[1],
            )  # fmt: skip
        )
        out.append(
            S[rel_id].check(
                worst_rel[0],
                rel_bound,
                f"max over steps and MLPs of the {what}, over the no-BN seed mean at the same "
                "step (" + _per(per) + ")",
                se=worst_rel[1],
            )  # fmt: skip
        )
    return out


def _both_windows(ctx: _Ctx, arch: str, a: str, b: str) -> list[int]:
    """Checkpoints in the progress window of runs (arch, a) and (arch, b) for every seed."""
    wa, wb = m.window_steps(ctx.prog, arch, a), m.window_steps(ctx.prog, arch, b)
    seeds = set(wa) & set(wb)
    sets = [set(wa[s]) & set(wb[s]) for s in seeds]
    return sorted(set.intersection(*sets)) if sets else []


def _suppression_conv(ctx: _Ctx) -> list[Claim]:
    rho = f"rho{m.K}"
    ids = ("bn_suppresses_ratio_conv", "bn_suppresses_rho_conv")
    first = ctx.missing(S[ids[0]], fam="conv", bns=("none", "batch"))
    if first:
        return [S[i].not_run(first.details) for i in ids]
    bn, nobn = ctx.runs("batch"), ctx.runs("none")
    out = []
    for col, cid, bound, name in (
        ("ratio11", ids[0], m.BN_RATIO_REL, "λ₁/λ₁₁"),
        (rho, ids[1], m.BN_RHO_REL, "ρ₁₀"),
    ):
        if col not in bn:
            out.append(S[cid].not_run(f"K = {m.K} is not in ghorbani2019.curvature.ks"))
            continue
        worst, per, empty = None, {}, []
        for arch in ctx.models("conv"):
            mb = _seed_means(bn[bn.arch == arch], col)
            mn = _seed_means(nobn[nobn.arch == arch], col)
            common = mb.index.intersection(mn.index)
            old = [s for s in common if m.EARLY[0] <= s <= m.EARLY[1]]
            old_rel = (mb.loc[old, "mean"] / mn.loc[old, "mean"]).max() if old else math.nan
            steps = _both_windows(ctx, arch, "batch", "none")
            if not steps:
                empty.append(arch)
                per[arch] = (
                    f"no checkpoint in both progress windows (BN: "
                    f"{_window_note(ctx.prog, arch, 'batch')}; no BN: "
                    f"{_window_note(ctx.prog, arch, 'none')}); old window 50–200: "
                    f"{old_rel:.3g}×"
                )
                continue
            rel = mb.loc[steps, "mean"] / mn.loc[steps, "mean"]
            s = rel.idxmax()
            se = m.ratio_se(
                mb.loc[s, "mean"], mb.loc[s, "_se"], mn.loc[s, "mean"], mn.loc[s, "_se"]
            )
            if worst is None or rel.max() > worst[0]:
                worst = (float(rel.max()), se)
            per[arch] = (
                f"steps {steps}: BN {_fmt(mb.loc[steps, 'mean'])}, no BN "
                f"{_fmt(mn.loc[steps, 'mean'])}, ratio {_fmt(rel)}; old window 50–200: "
                f"{old_rel:.3g}×"
            )
        out.append(
            S[cid].check(
                worst[0] if worst else math.nan,
                bound,
                f"{name} with BN (batch-mode Hessian) over without BN, seed means, max over the "
                "checkpoints in both runs' progress windows and over conv nets (" + _per(per) + ")",
                se=worst[1] if worst else math.nan,
                preconditions=[
                    Precondition(
                        "every conv net has a checkpoint in the progress window of both its BN "
                        "and its no-BN run" + (f" (none: {', '.join(empty)})" if empty else ""),
                        not empty,
                    )
                ],
            )
        )
    return out


# --------------------------------------------------------------------------- BN mode


def _bn_mode(ctx: _Ctx, fam: str) -> Claim:
    spec = S[f"bn_mode_{fam}"]
    if miss := ctx.missing(spec, fam=fam, bns=("batch",), modes=("frozen", "batch")):
        return miss
    f, b = ctx.runs("batch", "frozen"), ctx.runs("batch", "batch")
    archs = ctx.models(fam)
    pair = f[f.arch.isin(archs)].merge(
        b[b.arch.isin(archs)], on=["arch", "seed", "step"], suffixes=("_f", "_b")
    )
    pair["r"] = pair["ratio11_f"] / pair["ratio11_b"]
    what = (
        "λ₁/λ₁₁ of the frozen Hessian (eval mode, whole-subset statistics as constants) over "
        "that of the batch-mode Hessian, same BN weights"
    )
    per = {a: "steps " + ", ".join(f"{int(s)}: {r:.3g}" for s, r in zip(g.step, g.r, strict=True)) for a, g in pair.groupby("arch")}  # fmt: skip
    if fam == "mlp":
        sel = pair[pair.step <= m.EARLY[1]]
        return spec.check(
            float(sel.r.min()) if len(sel) else math.nan,
            m.BN_MODE,
            f"{what}, min over seeds, MLPs and checkpoints ≤ 200 (" + _per(per) + ")",
            preconditions=[Precondition("a checkpoint at step ≤ 200", len(sel) > 0)],
        )
    sel = pair[pair.in_window_f]
    empty = [a for a in archs if sel[sel.arch == a].empty]
    old = pair[pair.step <= m.EARLY[1]]
    return spec.check(
        float(sel.r.min()) if len(sel) else math.nan,
        m.BN_MODE,
        f"{what}, min over seeds, conv nets and the checkpoints in the BN run's progress "
        f"window (" + _per(per) + f"; old statistic, min over steps ≤ 200: "
        f"{old.r.min():.3g})",
        preconditions=[
            Precondition(
                "every conv net's BN run has a checkpoint in its progress window"
                + (f" (none: {', '.join(empty)})" if empty else ""),
                not empty,
            )
        ],
    )


# --------------------------------------------------------------------------- population BN


def _population_outliers(ctx: _Ctx, fam: str) -> Claim:
    spec = S[f"population_outliers_{fam}"]
    if miss := ctx.missing(spec, fam=fam, bns=("population",)):
        return miss
    rho = f"rho{m.K}"
    pop = ctx.runs("population")
    pop = pop[pop.arch.isin(ctx.models(fam))]
    late = pop[pop.step >= m.EARLY[0]]
    if fam == "mlp":
        sel, where, empty = late, "checkpoints ≥ 50", []
    else:
        sel, where = pop[pop.in_window], "the checkpoints in its progress window"
        empty = [a for a in ctx.models(fam) if sel[sel.arch == a].empty]
    per = {
        a: f"steps {list(map(int, g.step))}: λ₁/λ₁₁ {_fmt(g.ratio11)}"
        + (f", ρ₁₀ {_fmt(g[rho])}" if rho in g else "")
        for a, g in (sel if len(sel) else pop).groupby("arch")
    }
    old = f"; old statistic (steps ≥ 50): {late.ratio11.min():.3g}" if fam == "conv" else ""
    return spec.check(
        float(sel.ratio11.min()) if len(sel) else math.nan,
        m.POPULATION_OUTLIERS,
        f"λ₁/λ₁₁ of the population-BN net (frozen Hessian), min over seeds, models and {where} ("
        + _per(per)
        + ")"
        + old,
        preconditions=[
            Precondition(
                f"every population-BN run has a checkpoint in {where}"
                + (f" (none: {', '.join(empty)})" if empty else ""),
                len(sel) > 0 and not empty,
            )
        ],
    )


def _population_count(ctx: _Ctx, fam: str) -> Claim:
    spec = S[f"population_outlier_count_{fam}"]
    if miss := ctx.missing(spec, fam=fam, bns=("population",)):
        return miss
    pop = ctx.runs("population")
    pop = pop[pop.arch.isin(ctx.models(fam))]
    nobn = ctx.runs("none")
    hit = lambda c: float(np.mean([x in m.OUTLIER_COUNTS for x in c]))  # noqa: E731
    if fam == "mlp":
        at = pop[pop.step == m.EARLY[0]]
        if at.empty:
            return spec.not_run("no checkpoint at step 50 (ghorbani2019.train.checkpoints)")
        fractions, per = [], {}
        for a, g in at.groupby("arch"):
            fractions.append(hit(g.outliers))
            n = nobn[(nobn.arch == a) & (nobn.step == m.EARLY[0])].outliers
            per[a] = f"counts {_fmt(g.outliers)} (no BN {_fmt(n)})"
        where, pre = "at step 50", []
    else:
        inside = pop[pop.in_window]
        first = (
            inside.loc[inside.groupby(["arch", "seed"]).step.idxmin()] if len(inside) else inside
        )
        fractions, per, empty = [], {}, []
        for a in ctx.models(fam):
            g = first[first.arch == a]
            old = pop[(pop.arch == a) & (pop.step == m.EARLY[0])].outliers
            if g.empty:
                empty.append(a)
                per[a] = f"no checkpoint in the progress window; old (step 50): {_fmt(old)}"
                continue
            fractions.append(hit(g.outliers))
            per[a] = f"counts {_fmt(g.outliers)} at steps {list(map(int, g.step))}; old (step 50): {_fmt(old)}"  # fmt: skip
        where = "at the first checkpoint of the population-BN run's progress window"
        pre = [
            Precondition(
                "every population-BN run has a checkpoint in its progress window"
                + (f" (none: {', '.join(empty)})" if empty else ""),
                not empty,
            )
        ]
    counts = ", ".join(map(str, m.OUTLIER_COUNTS))
    return spec.check(
        min(fractions) if fractions else math.nan,
        m.POPULATION_COUNT,
        f"fraction of seeds whose outlier count argmax_(i≥2) λᵢ/λᵢ₊₁ of the population-BN "
        f"Hessian {where} is in {{{counts}}} (C − 1 = 9 and its neighbours; a gap at exactly "
        f"10 is never required), min over models (" + _per(per) + ")",
        preconditions=pre,
    )


def _population_slower_mlp(ctx: _Ctx) -> Claim:
    spec = S["population_slower_mlp"]
    if miss := ctx.missing(spec, fam="mlp", bns=("batch", "population")):
        return miss
    if ctx.loss.empty:
        return spec.not_run("no ghorbani2019 training table in this run")
    loss = ctx.loss[ctx.loss.arch.isin(ctx.models("mlp"))]
    bound = m.by_scale(m.POPULATION_SLOWER, ctx.scale)
    if ctx.scale == "ci":
        at = loss[loss.step == m.EARLY[0]].set_index(["arch", "bn", "seed"])["value"]
        ratios, per = [], {}
        for a in ctx.models("mlp"):
            lb, lp = at.get((a, "batch")), at.get((a, "population"))
            if lb is None or lp is None:
                continue
            r = (lp / lb).dropna()
            ratios += list(r)
            per[a] = f"BN {_fmt(lb)}, population {_fmt(lp)}"
        return spec.check(
            min(ratios) if ratios else math.nan,
            bound,
            "full training loss at step 50, population BN over BN, min over seeds and MLPs ("
            + _per(per)
            + ")",
            preconditions=[Precondition("both variants logged at step 50", bool(ratios))],
        )
    return _time_ratio(
        spec, loss, ctx.models("mlp"), m.LOSS_TARGET, bound, f"loss {m.LOSS_TARGET:g}"
    )


def _time_ratio(
    spec: ClaimSpec, loss: pd.DataFrame, archs: list[str], target, bound, label: str
) -> Claim:
    """Steps to ``target`` (a number, or a callable of the run's initial loss), population BN
    over BN, min over seeds and models; a population run that never gets there is censored at
    its last logged step (a lower bound that decides only if it clears the bound)."""
    ratios, per, censored_low, no_ref = [], {}, False, []
    for a in archs:
        la = loss[loss.arch == a]
        hits = {}
        for bn in ("batch", "population"):
            runs = la[la.bn == bn]
            if callable(target):
                parts = [
                    m.steps_to_loss(g, target(g[g.step == 0].value.iloc[0]))
                    for _, g in runs.groupby("seed")
                    if (g.step == 0).any()
                ]
                hits[bn] = pd.concat(parts) if parts else pd.DataFrame()
            else:
                hits[bn] = m.steps_to_loss(runs, target)
        b, p = hits["batch"], hits["population"]
        if b.empty or p.empty:
            continue
        j = b.merge(p, on="seed", suffixes=("_b", "_p"))
        if j.steps_b.isna().any():
            no_ref.append(a)
            per[a] = f"BN did not reach {label} within {int(j.last_b.max())} steps"
            continue
        cens = j.steps_p.isna()
        r = (j.steps_p.fillna(j.last_p) / j.steps_b).astype(float)
        ratios += list(r)
        if (cens & ~r.map(bound.holds)).any():
            censored_low = True
        per[a] = f"BN {_fmt(j.steps_b)} steps, population {_fmt(j.steps_p.fillna(np.inf))}" + (
            f" (censored at {int(j.last_p.max())}: a lower bound)" if cens.any() else ""
        )
    return spec.check(
        min(ratios) if ratios else math.nan,
        bound,
        f"steps to full training loss {label}, population BN over BN, min over seeds and "
        "models (" + _per(per) + ")",
        preconditions=[
            Precondition(
                "BN reached the target in every run"
                + (f" (not: {', '.join(no_ref)})" if no_ref else ""),
                not no_ref and bool(ratios),
            ),
            Precondition(
                "population BN reached it, or its censored lower bound clears the bound",
                not censored_low,
            ),
        ],
    )


def _population_slower_conv(ctx: _Ctx) -> Claim:
    spec = S["population_slower_conv"]
    if miss := ctx.missing(spec, fam="conv", bns=("batch", "population")):
        return miss
    b, p = ctx.runs("batch"), ctx.runs("population")
    ratios, per, empty = [], {}, []
    for a in ctx.models("conv"):
        first = b[(b.arch == a) & b.in_window].groupby("seed").step.min()
        if first.empty:
            empty.append(a)
            per[a] = "the BN run has no checkpoint in its progress window"
            continue
        lb = b[b.arch == a].set_index(["seed", "step"]).run_loss
        lp = p[p.arch == a].set_index(["seed", "step"]).run_loss
        keys = [(s, t) for s, t in first.items() if (s, t) in lp.index]
        r = [float(lp[k] / lb[k]) for k in keys]
        ratios += r
        at50 = [
            float(lp[(s, 50)] / lb[(s, 50)])
            for s in first.index
            if (s, 50) in lp.index and (s, 50) in lb.index
        ]
        per[a] = (
            f"at steps {[int(t) for _, t in keys]}: BN {_fmt(lb[k] for k in keys)}, population "
            f"{_fmt(lp[k] for k in keys)}, ratio {_fmt(r)}; loss ratio at step 50: {_fmt(at50)}"
        )
    half = "" if ctx.loss.empty else _reported_times(ctx)
    return spec.check(
        min(ratios) if ratios else math.nan,
        m.POPULATION_SLOWER_CONV,
        "full training loss, population BN over BN, at the first checkpoint in the BN run's "
        "progress window, min over seeds and conv nets (" + _per(per) + ")" + half,
        preconditions=[
            Precondition(
                "every conv net's BN run has a checkpoint in its progress window"
                + (f" (none: {', '.join(empty)})" if empty else ""),
                not empty and bool(ratios),
            )
        ],
    )


def _reported_times(ctx: _Ctx) -> str:
    """Reported beside the conv row: steps to half the initial loss, and, outside ci, the old
    statistic (steps to LOSS_TARGET), population BN over BN."""
    archs, bound = ctx.models("conv"), m.POPULATION_SLOWER_CONV
    spec = S["population_slower_conv"]
    rows = [(_time_ratio(spec, ctx.loss, archs, lambda l0: m.PLATEAU * l0, bound, f"{m.PLATEAU:g}·L(0)"), "reported")]  # fmt: skip
    if ctx.scale != "ci":
        target = _time_ratio(spec, ctx.loss, archs, m.LOSS_TARGET, bound, f"{m.LOSS_TARGET:g}")
        rows.append((target, "old statistic"))
    return "".join(f"; {what}: {row.details} = {row.measured:.3g}" for row, what in rows)


# --------------------------------------------------------------------------- negatives


def _negatives(ctx: _Ctx) -> list[Claim]:
    ids = ("neg_fraction", "neg_min_ratio", "neg_min_at_init", "neg_mass")
    first = ctx.missing(S[ids[0]], bns=("none",))
    if first:
        return [S[i].not_run(first.details) for i in ids]
    late, ch = m.negative_change(ctx.runs("none"))
    if late is None or ch.empty:
        why = "no no-BN checkpoints at step 0 and in (0, 400] (ghorbani2019.train.checkpoints)"
        return [S[i].not_run(why) for i in ids]
    ch = ch.assign(
        frac=ch.neg_fraction1 / ch.neg_fraction0,
        shrink=ch.min_ratio0 / ch.min_ratio1,
        mass=ch.mass_below0 - ch.mass_below1,
    )
    where = f"step {late} against step 0, no BN, SLQ quadrature"
    note = "" if late == m.NEG_STEP else f" (the largest checkpoint ≤ {m.NEG_STEP})"

    def per(fmt: Callable[[pd.DataFrame], str]) -> str:
        return _per({a: fmt(g) for a, g in ch.groupby("arch")})

    w = ch.loc[ch.frac.idxmax()]
    frac_se = m.ratio_se(w.neg_fraction1, w.neg_fraction_se1, w.neg_fraction0, w.neg_fraction_se0)
    return [
        S["neg_fraction"].check(
            float(ch.frac.max()),
            m.NEG_FRACTION,
            f"|λ|-weighted negative fraction Σ_(θ<0) w|θ| / Σ w|θ|, {where}{note}, max over "
            "seeds and models ("
            + per(lambda g: f"{_fmt(g.neg_fraction0)} → {_fmt(g.neg_fraction1)}")
            + ")",
            se=frac_se,
        ),
        S["neg_min_ratio"].check(
            float(ch.shrink.min()),
            m.NEG_MIN_RATIO,
            f"|λmin|/λ₁ at step 0 over that at step {late}{note}, min over seeds and models ("
            + per(lambda g: f"{_fmt(g.min_ratio0)} → {_fmt(g.min_ratio1)}")
            + ")",
        ),
        S["neg_min_at_init"].check(
            float(ch.min_ratio0.min()),
            m.NEG_MIN_AT_INIT,
            "|λmin|/λ₁ at step 0 without BN (smallest Ritz value), min over seeds and models ("
            + per(lambda g: _fmt(g.min_ratio0))
            + ")",
        ),
        S["neg_mass"].check(
            float(ch.mass.min()),
            m.NEG_MASS,
            f"SLQ weight below −{m.MASS_CUT:g}·λ₁ at step 0 minus at step {late}{note}, min over "
            "seeds and models (never the smoothed density below 0) ("
            + per(lambda g: f"{_fmt(g.mass_below0)} → {_fmt(g.mass_below1)}")
            + ")",
        ),
    ]


# --------------------------------------------------------------------------- LR drop


def _lr_drop(ctx: _Ctx) -> Claim:
    spec = S["lr_drop"]
    if miss := ctx.missing(spec, bns=("none",)):
        return miss
    drops = m.lr_drops(ctx.train)
    nobn = ctx.runs("none")
    have = set(nobn.step)
    pairs = m.drop_pairs(drops, have)
    if not pairs:
        return spec.not_run(
            f"no checkpoints at a learning-rate drop and 50 steps after it (drops at "
            f"{drops or 'unknown: no training table'}; checkpoints {sorted(have)}; "
            "ghorbani2019.train.checkpoints)"
        )
    values, per = [], {}
    for a, g in nobn.groupby("arch"):
        lam = g.groupby("step").lambda1.mean()
        r = [float(lam[b] / lam[d]) for d, b in pairs]
        values += r
        per[a] = ", ".join(f"drop at {d}: {x:.3g}" for (d, _), x in zip(pairs, r, strict=True))
    return spec.report(
        max(values),
        "λ₁ without BN 50 steps after a learning-rate drop over λ₁ at the drop, seed means, "
        "max over drops and models (" + _per(per) + ")",
        expected=f"not judged; MLP measurements: {Between(*m.LR_DROP_BAND)} (λmax never rose)",
    )


# --------------------------------------------------------------------------- evaluate


def evaluate(tables: dict[str, pd.DataFrame], scale: str) -> list[Claim]:
    """One row per declared claim from any subset of the paper's tables."""
    ctx = _Ctx(tables, scale)
    rows = _validation(ctx)
    rows += [_outliers_nobn(ctx), _rho_nobn(ctx)]
    rows += _suppression_mlp(ctx) + _suppression_conv(ctx)
    rows += [_bn_mode(ctx, "mlp"), _bn_mode(ctx, "conv")]
    rows += [_population_outliers(ctx, "mlp"), _population_outliers(ctx, "conv")]
    rows += [_population_count(ctx, "mlp"), _population_count(ctx, "conv")]
    rows += [_population_slower_mlp(ctx), _population_slower_conv(ctx)]
    rows += _negatives(ctx)
    rows.append(_lr_drop(ctx))
    return rows
