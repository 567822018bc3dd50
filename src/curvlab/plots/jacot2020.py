"""Figures for Jacot, Gabriel & Hongler (ICLR 2020), drawn from the aggregated Parquet tables.

1. ``moments`` — Figure 1: Tr H(t)^k, k = 1..4, the corrected Corollary 1 (lines) against the
   mean over initializations (crosses, ± 2 standard errors), both nonlinearities on the same axes.
2. ``rayleigh`` — Figure 2: Rayleigh quotients vᵀIv and vᵀSv of the top eigenvectors of I and S.
3. ``surface`` — Figure 3: the loss around a global minimum along eigenvectors 4 and 1 of I.
4. ``width`` — beyond the paper: kernel and moment errors against the width.
5. ``corrections`` — beyond the paper: E Tr S(t) and E Tr S(t)² against the corrected, the flow
   and the printed Corollary 1 (papers.md §2.3, §2.7).

Captions state the scale, the data and every reconstructed [R] or corrected choice, read from
the tables' provenance.
"""

from __future__ import annotations

import math
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.colors import LogNorm

from curvlab.claims.jacot2020 import LABEL, Trials, kernel_sets, theory_curves
from curvlab.plots.common import FigureRecord, save_figure, setup_style, write_manifest
from curvlab.theory import jacot as theory

TITLE = "Jacot, Gabriel & Hongler (ICLR 2020): the asymptotic spectrum of the Hessian"
COLORS = {1: "C0", 2: "C1", 3: "C2", 4: "C3"}
NL_COLORS = {"softplus": "C0", "normalized_softplus": "C3"}


def _specs(frame: pd.DataFrame) -> list[dict]:
    return [
        p.get("config", {})
        for p in frame.attrs.get("provenance", {}).get("aggregate_of", {}).values()
    ]


def _data_text(frame: pd.DataFrame) -> str:
    specs = [s for s in _specs(frame) if "n_samples" in s and "labels" in s]
    if not specs:
        return ""
    s = specs[0]
    labels = (
        "targets ±1 by digit parity (n_L = 1)"
        if s["labels"] == "parity"
        else "one-hot targets (n_L = 10)"
    )
    norm = "each image scaled to ‖x‖²/n₀ = 1" if s["input_norm"] == "sample" else "pixels in [0, 1]"
    side = s["image_size"]
    return (
        f"Data: the first N = {s['n_samples']} MNIST training images, block-averaged to "
        f"{side}×{side} (n₀ = {side * side}), {norm} [R]; {labels} [R]. Network: L = "
        f"{s.get('depth', 3)}, NTK parametrization, all parameters N(0, 1), β = {s.get('beta', 0.1):g}, "
        "MSE C = (1/2N)‖Y − Y*‖², float64."
    )


def _nonlinearity_text(names) -> str:
    return " ".join(theory.nonlinearity(n).definition + "." for n in names)


def _time_axis(ax, eta: float, t_max: float) -> None:
    """Symlog time: linear below one step (so t = 0 shows), logarithmic above."""
    ax.set_xscale("symlog", linthresh=eta, linscale=0.5)
    ax.set_xlim(-0.3 * eta, 1.3 * t_max)
    first, last = math.ceil(math.log10(eta)), math.floor(math.log10(max(t_max, eta)))
    ticks = [0.0] + [10.0**j for j in range(first, last + 1)]
    ax.set_xticks(ticks)
    ax.set_xticklabels(["0"] + [f"$10^{{{j}}}$" for j in range(first, last + 1)])
    ax.set_xlabel("training time t = ηk (linear below one step, then log)")


# --------------------------------------------------------------------------- Figure 1


def fig_moments(trials: Trials, kernels: dict, scale: str) -> tuple[plt.Figure, str]:
    nls = [nl for nl in ("softplus", "normalized_softplus") if nl in trials.nonlinearities()]
    fig, axes = plt.subplots(1, len(nls), figsize=(6.2 * len(nls), 4.6), sharey=True, squeeze=False)
    parts = []
    shown: list[float] = []
    for ax, nl in zip(axes[0], nls, strict=True):
        width = trials.widths(nl)[-1]
        steps = trials.grid[(nl, width)]
        eta = trials.eta[(nl, width)]
        dense = np.unique(np.r_[0, np.round(np.geomspace(1, steps[-1], 200)).astype(int)])
        curves = theory_curves(kernels[nl], eta, dense) if nl in kernels else None
        n_seeds = 0
        for k in range(1, 5):
            if curves is not None:
                ax.plot(eta * dense, curves[f"moment_{k}"], color=COLORS[k], lw=2, label=f"k = {k}")
                ax.plot(
                    eta * dense, curves[f"tr_i_{k}"], color=COLORS[k], lw=0.8, ls=":", alpha=0.8
                )
            mean, se = trials.mean_se(nl, width, "moment", k)
            n_seeds = trials.array(nl, width, "moment", k).shape[0]
            shown += [float(np.nanmin(mean)), float(np.nanmax(mean))]
            if curves is not None:
                shown += [float(curves[f"moment_{k}"].min()), float(curves[f"moment_{k}"].max())]
            ax.errorbar(
                eta * steps,
                mean,
                yerr=2 * se,
                fmt="x",
                color="k",
                ms=7,
                mew=1.5,
                capsize=2,
                label="empirical mean ± 2 se" if k == 1 else None,
            )
        ax.set_yscale("log")
        _time_axis(ax, eta, eta * steps[-1])
        ax.set_title(f"{LABEL[nl]}, n₁ = n₂ = {width}")
        parts.append(f"{LABEL[nl]}: n = {width}, {n_seeds} initializations, η = {eta:g}")
    axes[0, 0].set_ylim(0.8 * min(shown), 1.25 * max(shown))
    axes[0, 0].set_ylabel("Tr H(t)^k")
    axes[0, 0].legend(fontsize=8, ncol=2)
    fig.tight_layout()
    caption = (
        "Figure 1 (paper: n = 5000, 250 trials). Moments Tr H(t)^k, k = 1..4, of the Hessian "
        "of the MSE along full-batch gradient descent. Coloured lines: the corrected Corollary 1 "
        "(papers.md §2.3, §2.7: (Id − E_k) instead of the printed (Id + E), e^{−tΘ̃/N} instead of "
        "e^{−tΘ̃}, and for GD with step η the finite-step E_k = (Id − ηΘ̃/N)^k), with Θ, Σ, Φ, Υ "
        "by Gauss–Hermite quadrature and Λ by Monte-Carlo at initialization; dotted: the I-part "
        "Tr(Θ̃/N)^k alone, so the gap to the solid line is the S contribution (only k = 1, 2 "
        "are affected). Black crosses: mean over initializations of the measured Tr H^k (exact "
        "I-part from Θ̂ = JJᵀ, exact Tr S from the closed-form g, exact cross terms from 2N "
        "Hessian-vector products, Hutchinson only for Tr S^{2,3,4}), error bars ± 2 standard "
        f"errors. {'; '.join(parts)}. Both panels share the y axis. At finite width the NTK "
        "moves during training, which shows as the drift of the k = 3, 4 crosses (not hidden by "
        f"a short horizon; see the width figure). {_data_text(trials.frame)} "
        f"{_nonlinearity_text(nls)} Scale: {scale}."
    )
    return fig, caption


# --------------------------------------------------------------------------- Figure 2


def fig_rayleigh(rayleigh: pd.DataFrame, scale: str) -> tuple[plt.Figure, str] | None:
    if rayleigh is None or rayleigh.empty:
        return None
    nls = sorted(rayleigh["nonlinearity"].unique())
    fig, axes = plt.subplots(1, len(nls), figsize=(6.5 * len(nls), 4.4), squeeze=False)
    texts = []
    for ax, nl in zip(axes[0], nls, strict=True):
        grp = rayleigh[rayleigh["nonlinearity"] == nl]
        wide = grp.pivot_table(index=["basis", "index"], columns="quantity", values="value")
        for basis, color in (("I", "C0"), ("S", "C1")):
            rows = wide.loc[basis]
            idx = rows.index.to_numpy()
            ax.plot(idx, rows["rq_i"], "o-", color=color, label=f"eigvecs of {basis}: vᵀIv")
            ax.plot(
                idx,
                rows["rq_s"],
                "s--",
                color=color,
                mfc="white",
                label=f"eigvecs of {basis}: vᵀSv",
            )
        ax.set_yscale("symlog", linthresh=1e-3)
        ax.axhline(0, color="k", lw=0.5)
        ax.set(xlabel="eigenvector index (1 = largest)", ylabel="Rayleigh quotient (symlog)")
        width = int(grp["width"].iloc[0])
        ax.set_title(f"{LABEL[nl]}, n₁ = n₂ = {width}, at initialization")
        ax.legend(fontsize=8)
        res = wide.loc["S"]["residual"].max() if "residual" in wide.columns else float("nan")
        texts.append(f"{LABEL[nl]}: largest Ritz residual of S's eigenvectors {res:.2g}")
    fig.tight_layout()
    caption = (
        "Figure 2 (paper: L = 3, n = 1000, normalized ReLU, N = 256). Mutual orthogonality of I "
        "and S: for the top eigenvectors v of I (blue) and of S (orange), the Rayleigh quotients "
        "vᵀIv (filled, solid) and vᵀSv (open, dashed). Eigenvectors of I: vᵢ = Jᵀuᵢ/√μᵢ from the "
        "eigenpairs (μᵢ, uᵢ) of Θ̂ = JJᵀ; of S: Lanczos with full "
        "reorthogonalization on S = Σᵢ cᵢ∇²fᵢ (curvature core HessianOperator, topk), [R] the "
        f"largest eigenvalues ('first eigenvectors'). {'; '.join(texts)}. [R] measured at "
        f"initialization (not stated). {_data_text(rayleigh)} "
        f"{_nonlinearity_text(nls)} Scale: {scale}."
    )
    return fig, caption


# --------------------------------------------------------------------------- Figure 3


def fig_surface(surface: pd.DataFrame, scale: str) -> tuple[plt.Figure, str] | None:
    if surface is None or surface.empty:
        return None
    nls = [nl for nl in ("softplus", "normalized_softplus") if nl in set(surface["nonlinearity"])]
    grids = {}
    for nl in nls:
        rows = surface[(surface["nonlinearity"] == nl) & (surface["quantity"] == "loss")]
        grids[nl] = rows.pivot_table(index="b", columns="a", values="value")
    hi = max(float(np.nanmax(g.to_numpy())) for g in grids.values())
    # Five decades below the largest value: the minimum itself is ~0 (a global minimum).
    lo = max(min(float(np.nanmin(g.to_numpy())) for g in grids.values()), hi * 1e-5)
    fig, axes = plt.subplots(1, len(nls), figsize=(5.6 * len(nls), 4.8), squeeze=False)
    texts = []
    specs = {s.get("nonlinearity"): s for s in _specs(surface)}
    spec = next(iter(specs.values()), {})
    dirs = spec.get("directions", [4, 1])
    levels = np.geomspace(lo, hi, 25)
    for ax, nl in zip(axes[0], nls, strict=True):
        g = grids[nl]
        cs = ax.contourf(
            g.columns,
            g.index,
            np.maximum(g.to_numpy(), lo),
            levels=levels,
            norm=LogNorm(lo, hi),
            cmap="viridis",
        )
        ax.contour(
            g.columns,
            g.index,
            np.maximum(g.to_numpy(), lo),
            levels=levels[::3],
            colors="w",
            linewidths=0.4,
        )
        ax.set(
            xlabel=f"a (along eigenvector {dirs[0]} of I)",
            ylabel=f"b (along eigenvector {dirs[1]} of I)",
            aspect="equal",
        )
        grp = surface[surface["nonlinearity"] == nl]
        eig = grp[grp["quantity"] == "eig_i"].set_index("index")["value"]
        final = grp[grp["quantity"].isin(["gd_loss", "polish_loss"])]
        final = final.sort_values(["quantity", "index"])["value"]
        ax.set_title(f"{LABEL[nl]}: λ₁/λ₄ = {eig.loc[1] / eig.loc[4]:.3g}")
        texts.append(
            f"{LABEL[nl]}: λ₁(I) = {eig.loc[1]:.3g}, λ₄(I) = {eig.loc[4]:.3g}, loss at θ* "
            f"{float(final.iloc[-1]) if len(final) else float('nan'):.2g}"
        )
    fig.colorbar(cs, ax=list(axes[0]), label="training loss C (log scale)", shrink=0.85)
    caption = (
        "Figure 3 (paper: L = 4, n = 1000, data uniform on the unit disk). The loss "
        f"C(θ* + a·v{dirs[0]} + b·v{dirs[1]}) around a global minimum θ*, v_i the unit "
        "eigenvectors of I (from Θ̂ = JJᵀ at θ*), same colour scale for both panels. "
        f"N = {spec.get('n_samples', '?')} points uniform on the unit disk (no input scaling), "
        f"[R] targets '{spec.get('target', '?')}' (sine: sin(πx₁)cos(πx₂)), L = "
        f"{spec.get('depth', '?')}, n = {spec.get('width', '?')}, β = {spec.get('beta', 0.1):g}; "
        f"θ* from [R] {spec.get('train_steps', '?')} GD steps (η = {spec.get('eta', '?')}) then "
        f"{spec.get('polish_steps', '?')} Levenberg–Marquardt steps Δθ = −Jᵀ(Θ̂ + μI)⁻¹r to zero "
        f"loss; grid ±{spec.get('radius', '?')} [R]. {'; '.join(texts)}. A smaller λ₁/λ₄ is a "
        f"less elongated valley. {_nonlinearity_text(nls)} Scale: {scale}."
    )
    return fig, caption


# --------------------------------------------------------------------------- Figure 4


def fig_width(
    trials: Trials, init: pd.DataFrame | None, kernels: dict, scale: str
) -> tuple[plt.Figure, str]:
    fig, axes = plt.subplots(2, 2, figsize=(11, 8.2))
    (ax_ntk, ax_gap), (ax_drift, ax_s4) = axes
    nls = trials.nonlinearities()
    markers = {1: "o", 2: "s", 3: "^", 4: "D"}
    if init is not None and not init.empty:
        for nl in sorted(init["nonlinearity"].unique()):
            rel = init[(init["nonlinearity"] == nl) & (init["quantity"] == "relf_theta")]
            stats = rel.groupby("width")["value"].agg(["mean", "std", "count"])
            ax_ntk.errorbar(
                stats.index,
                stats["mean"],
                yerr=2 * stats["std"] / np.sqrt(stats["count"]),
                fmt="o-",
                color=NL_COLORS[nl],
                label=LABEL[nl],
                capsize=2,
            )
            ref = stats["mean"].iloc[0] * np.sqrt(stats.index[0] / stats.index.to_numpy())
            ax_ntk.plot(stats.index, ref, ":", color=NL_COLORS[nl], lw=1)
            s2 = init[(init["nonlinearity"] == nl) & (init["quantity"] == "tr_s2")]
            s4 = init[(init["nonlinearity"] == nl) & (init["quantity"] == "tr_s4")]
            ratio = s4.set_index(["width", "seed"])["value"] / s2.set_index(["width", "seed"])[
                "value"
            ].pow(2)
            r = ratio.groupby("width").agg(["mean", "std", "count"])
            ax_s4.errorbar(
                r.index,
                r["mean"],
                yerr=2 * r["std"] / np.sqrt(r["count"]),
                fmt="o-",
                color=NL_COLORS[nl],
                label=LABEL[nl],
                capsize=2,
            )
        ax_ntk.set(
            xscale="log",
            yscale="log",
            xlabel="width n",
            ylabel="‖Θ̂ − Θ‖_F / ‖Θ‖_F at init",
            title="NTK at initialization (dotted: ∝ 1/√n)",
        )
        ax_s4.set(
            xscale="log",
            yscale="log",
            xlabel="width n",
            ylabel="mean Tr S⁴ / (Tr S²)² at init",
            title="Tr S^k → 0 for k ≥ 3 (Thm 1)",
        )
        ax_ntk.legend(fontsize=8)
        ax_s4.legend(fontsize=8)
    for nl in nls:
        widths = trials.widths(nl)
        if nl not in kernels:
            continue
        for k in range(1, 5):
            gaps, drifts = [], []
            for w in widths:
                c = theory_curves(kernels[nl], trials.eta[(nl, w)], trials.grid[(nl, w)])
                mean, _ = trials.mean_se(nl, w, "moment", k)
                gaps.append(float(np.sqrt(np.nanmean((mean / c[f"moment_{k}"] - 1.0) ** 2))))
                drifts.append(float(np.nanmax(np.abs(mean / mean[0] - 1.0))))
            style = "-" if nl == "softplus" else "--"
            ax_gap.plot(
                widths,
                gaps,
                style,
                marker=markers[k],
                color=COLORS[k],
                label=f"k = {k}, {'softplus' if nl == 'softplus' else 'normalized'}",
            )
            if k >= 3:
                ax_drift.plot(
                    widths,
                    drifts,
                    style,
                    marker=markers[k],
                    color=COLORS[k],
                    label=f"k = {k}, {'softplus' if nl == 'softplus' else 'normalized'}",
                )
    ax_gap.set(
        xscale="log",
        yscale="log",
        xlabel="width n",
        ylabel="RMS over t of mean Tr H^k / Cor. 1 − 1",
        title="moments vs Corollary 1 along training",
    )
    ax_drift.set(
        xscale="log",
        yscale="log",
        xlabel="width n",
        ylabel="max_t |mean Tr H^k(t) / mean Tr H^k(0) − 1|",
        title="drift of moments 3, 4 (flat in the limit)",
    )
    ax_gap.legend(fontsize=7, ncol=2)
    ax_drift.legend(fontsize=7)
    fig.tight_layout()
    trial_text = "; ".join(
        f"{LABEL[nl]}: widths {trials.widths(nl)}, "
        f"{trials.array(nl, trials.widths(nl)[0], 'moment', 1).shape[0]} initializations each"
        for nl in nls
    )
    caption = (
        "Beyond the paper: convergence to the infinite-width limit. Top left: relative Frobenius "
        "distance between the empirical NTK Θ̂ = JJᵀ at initialization and the quadrature Θ on "
        "all N inputs (mean ± 2 se over initializations; dotted: 1/√n through the first point). "
        "Bottom right: mean Tr S⁴/(Tr S²)² at initialization (Hutchinson), which Theorem 1 sends "
        "to 0. Top right: RMS over the time grid of the relative deviation of the mean Tr H^k "
        "from the corrected Corollary 1 (solid softplus, dashed normalized). Bottom left: the "
        "largest relative drift of the mean Tr H³, Tr H⁴ from their t = 0 values along training "
        "(papers.md §2.7: moments 3, 4 are flat only to first order at finite width; reported, "
        f"not gated). Training: {trial_text}. {_data_text(trials.frame)} Scale: {scale}."
    )
    return fig, caption


# --------------------------------------------------------------------------- corrections


def fig_corrections(trials: Trials, kernels: dict, scale: str) -> tuple[plt.Figure, str]:
    nls = [nl for nl in ("softplus", "normalized_softplus") if nl in trials.nonlinearities()]
    fig, axes = plt.subplots(2, len(nls), figsize=(6.2 * len(nls), 7.6), squeeze=False)
    texts = []
    for col, nl in enumerate(nls):
        width = trials.widths(nl)[-1]
        steps = trials.grid[(nl, width)]
        eta = trials.eta[(nl, width)]
        dense = np.unique(np.r_[0, np.round(np.geomspace(1, steps[-1], 200)).astype(int)])
        for row, (k, name) in enumerate(((1, "tr_s"), (2, "tr_s2"))):
            ax = axes[row, col]
            if nl in kernels:
                from curvlab.experiments.jacot2020 import cor1_inputs

                inputs = cor1_inputs(kernels[nl])
                for form, variant, style, label in (
                    ("gd", "corrected", "-", "corrected, E_k = (Id − ηΘ̃/N)^k"),
                    ("flow", "corrected", "--", "corrected, flow e^{−tΘ̃/N}"),
                    ("gd", "printed", ":", "printed (Id + E_k)"),
                ):
                    if k == 2 and variant == "printed":
                        continue
                    c = theory.corollary1(inputs, eta, dense, form, variant)
                    ax.plot(
                        eta * dense,
                        c[name],
                        style,
                        color="C0" if variant == "corrected" else "C3",
                        label=label,
                    )
            mean, se = trials.mean_se(nl, width, "tr_s", k)
            ax.errorbar(
                eta * steps,
                mean,
                yerr=2 * se,
                fmt="x",
                color="k",
                capsize=2,
                label="measured mean ± 2 se",
            )
            if k == 1:
                phi = trials.array(nl, width, "tr_phi_rb", 0)
                if phi is not None:
                    v = phi[:, 0]
                    ax.errorbar(
                        [0],
                        [np.nanmean(v)],
                        yerr=[2 * np.nanstd(v, ddof=1) / np.sqrt(len(v))],
                        fmt="o",
                        mfc="none",
                        color="C2",
                        label="Rao-Blackwellized Tr Φ̂/N (t = 0)",
                    )
                    texts.append(
                        f"{LABEL[nl]}: plain mean Tr S(0) {np.nanmean(trials.array(nl, width, 'tr_s', 1)[:, 0]):+.3f} "
                        f"± {np.nanstd(trials.array(nl, width, 'tr_s', 1)[:, 0], ddof=1) / np.sqrt(len(v)):.3f}, "
                        f"Rao-Blackwellized {np.nanmean(v):+.4f} ± {np.nanstd(v, ddof=1) / np.sqrt(len(v)):.4f}"
                    )
            _time_axis(ax, eta, eta * steps[-1])
            ax.axhline(0, color="k", lw=0.5)
            ax.set_ylabel("E Tr S(t)" if k == 1 else "E Tr S(t)²")
            ax.set_title(f"{LABEL[nl]}, n = {width}")
            ax.legend(fontsize=7)
            if k == 1:
                lo, hi = np.nanmin(mean - 3 * se), np.nanmax(mean + 3 * se)
                pad = 0.3 * (hi - lo + 1e-3)
                ax.set_ylim(lo - pad, hi + pad)
    fig.tight_layout()
    caption = (
        "Beyond the paper: Corollary 1's corrections (papers.md §2.3, §2.7) for the S part. Top: "
        "E Tr S(t) = Tr(E_kΦ̃ᵀ)/N − Tr((Id − E_k)Θ̃⁻¹Λ̃ᵀE_k(Σ̃ + Y*Y*ᵀ))/N (solid) against the "
        "mean of the exact Tr S(t) = ∇C·G over initializations; dashed: the gradient-flow form "
        "e^{−tΘ̃/N}; dotted red: the printed (Id + E) (with the 1/N time normalization; the printed "
        "e^{−tΘ̃} is farther still). Circles at t = 0: the Rao-Blackwellized Tr Φ̂/N, whose "
        "standard error is 10–50× smaller than that of the plain mean. Bottom: E Tr S(t)² = "
        "N⁻²Tr(E_kΥ̃E_k(Σ̃ + Y*Y*ᵀ)) against the Hutchinson estimates. "
        f"{'; '.join(texts)}. {_data_text(trials.frame)} Scale: {scale}."
    )
    return fig, caption


def make_figures(
    tables: dict[str, pd.DataFrame], outdir: str | Path, scale: str
) -> list[FigureRecord]:
    """Every figure from the jacot2020 tables."""
    kernels = kernel_sets(tables["jacot2020.kernels"])
    trials = Trials(tables["jacot2020.trial"])
    init = tables.get("jacot2020.init")
    setup_style()
    builders = [
        (
            "moments",
            "Figure 1: moments of the Hessian vs Corollary 1",
            lambda: fig_moments(trials, kernels, scale),
        ),
        (
            "rayleigh",
            "Figure 2: mutual orthogonality of I and S",
            lambda: fig_rayleigh(tables.get("jacot2020.rayleigh"), scale),
        ),
        (
            "surface",
            "Figure 3: loss surface along eigenvectors of I",
            lambda: fig_surface(tables.get("jacot2020.surface"), scale),
        ),
        ("width", "Convergence with width", lambda: fig_width(trials, init, kernels, scale)),
        (
            "corrections",
            "Corollary 1: corrected vs printed",
            lambda: fig_corrections(trials, kernels, scale),
        ),
    ]
    records = []
    for fig_id, title, build in builders:
        made = build()
        if made is None:
            continue
        fig, caption = made
        png, pdf = save_figure(fig, outdir, fig_id)
        records.append(FigureRecord(fig_id, title, caption, png, pdf))
    write_manifest(outdir, "jacot2020", TITLE, records)
    return records
