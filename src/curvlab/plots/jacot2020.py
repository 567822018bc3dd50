"""Figures for Jacot, Gabriel & Hongler (ICLR 2020), drawn from the aggregated Parquet tables.

1. ``moments`` — Figure 1: Tr H(t)^k, k = 1..4, the corrected Corollary 1 (lines) against the
   mean over initializations (crosses, ± 2 standard errors), both nonlinearities on the same axes.
2. ``rayleigh`` — Figure 2: Rayleigh quotients vᵀIv and vᵀSv of the top eigenvectors of I and S.
3. ``surface`` — Figure 3: the loss around a global minimum along eigenvectors 4 and 1 of I.
4. ``width`` — beyond the paper: kernel and moment errors against the width.
5. ``corrections`` — beyond the paper: E Tr S(t) and E Tr S(t)² against the corrected, the flow
   and the printed Corollary 1 (docs/papers/jacot2020.md, "Corrections to the paper").

Captions state the scale, the data and every reconstructed [R] or corrected choice, read from
the tables' provenance. The statistics and the bands drawn come from
:mod:`curvlab.measures.jacot2020`, the same objects the claims check.
"""

from __future__ import annotations

import math
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.colors import LogNorm

from curvlab.measures import jacot2020 as measures
from curvlab.measures.jacot2020 import (
    LABEL,
    Trials,
    has_theory,
    kernel_sets,
    surface_scalar,
    theory_curves,
)
from curvlab.papers.jacot2020 import TITLE
from curvlab.plots.common import (
    WIDTH,
    FigureRecord,
    legend_below,
    panels,
    render_figures,
    setup_style,
    stamp_text,
)
from curvlab.theory import jacot as theory

COLORS = {1: "C0", 2: "C1", 3: "C2", 4: "C3"}
#: Shades of grey: colour means the moment k in every figure of this paper.
NL_COLORS = {"softplus": "0.1", "normalized_softplus": "0.55"}
TR = r"\mathrm{Tr}\,"


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
    ax.set_xlabel("time $t = \\eta s$ after $s$ GD steps\n(linear below one step, log above)")


SUBSCRIPT = str.maketrans("0123456789", "₀₁₂₃₄₅₆₇₈₉")


def _width_ticks(ax, widths) -> None:
    """Log width axis labelled at the measured widths (plain numbers, no 4×10¹ minor labels)."""
    widths = sorted({int(w) for w in widths})
    ax.set_xscale("log")
    ax.set_xticks(widths)
    ax.set_xticklabels([str(w) for w in widths])
    ax.xaxis.set_minor_formatter(plt.NullFormatter())
    ax.set_xlim(widths[0] / 1.3, widths[-1] * 1.3)


# --------------------------------------------------------------------------- Figure 1


def fig_moments(trials: Trials, kernels: dict, scale: str) -> tuple[plt.Figure, str]:
    from matplotlib.lines import Line2D

    nls = [nl for nl in ("softplus", "normalized_softplus") if nl in trials.nonlinearities()]
    fig, axes = panels(len(nls), row_height=3.0, sharey=True)
    parts = []
    shown: list[float] = []
    offsets = {1: 0.94, 2: 0.98, 3: 1.02, 4: 1.06}  # spread the crosses of the four moments
    for ax, nl in zip(axes, nls, strict=True):
        width = trials.widths(nl)[-1]
        steps = trials.grid[(nl, width)]
        eta = trials.eta[(nl, width)]
        dense = np.unique(np.r_[0, np.round(np.geomspace(1, steps[-1], 200)).astype(int)])
        curves = theory_curves(kernels[nl], eta, dense) if has_theory(kernels, nl) else None
        n_seeds = 0
        for k in range(1, 5):
            if curves is not None:
                ax.plot(eta * dense, curves[f"moment_{k}"], color=COLORS[k], lw=2)
                ax.plot(eta * dense, curves[f"tr_i_{k}"], color=COLORS[k], lw=1, ls=":")
                shown += [float(curves[f"moment_{k}"].min()), float(curves[f"moment_{k}"].max())]
            mean, se = trials.mean_se(nl, width, "moment", k)
            n_seeds = trials.array(nl, width, "moment", k).shape[0]
            shown += [float(np.nanmin(mean)), float(np.nanmax(mean))]
            # Log-spaced steps: a relative shift; t = 0 (linear part): at most 0.15 step.
            t = np.where(steps > 0, eta * steps * offsets[k], eta * 2.5 * (offsets[k] - 1.0))
            ax.errorbar(
                t,
                mean,
                yerr=2 * se,
                fmt="x",
                color=COLORS[k],
                ms=8,
                mew=1.8,
                elinewidth=1.0,
                capsize=2,
            )
        ax.set_yscale("log")
        _time_axis(ax, eta, eta * steps[-1])
        ax.set_title(f"{LABEL[nl]}\n$n_1 = n_2 = {width}$, {n_seeds} initializations")
        parts.append(f"{LABEL[nl]}: n = {width}, {n_seeds} initializations, η = {eta:g}")
    axes[0].set_ylim(0.7 * min(shown), 1.4 * max(shown))
    axes[0].set_ylabel(f"moment ${TR}H(t)^k$ of the Hessian of $C$")
    keys = [Line2D([], [], color=COLORS[k], lw=2, label=f"$k = {k}$") for k in range(1, 5)]
    keys += [
        Line2D([], [], color="0.3", lw=2, label=rf"corrected Corollary 1: $\mathbb{{E}}\,{TR}H^k$"),
        Line2D([], [], color="0.3", lw=1, ls=":", label=rf"I-part alone: ${TR}(\tilde\Theta/N)^k$"),
        Line2D([], [], color="0.3", marker="x", ms=8, mew=1.8, ls="", label="measured mean ± 2 se"),
    ]
    legend_below(fig, {h.get_label(): h for h in keys}, ncol=4)
    caption = (
        "Figure 1 (paper: n = 5000, 250 trials). Moments Tr H(t)ᵏ, k = 1..4 (colours), of the "
        "Hessian of the MSE along full-batch gradient descent, log y axis. Solid lines: the "
        "corrected Corollary 1 (docs/papers/jacot2020.md: (Id − E) instead of the printed (Id + E), "
        "e^{−tΘ̃/N} instead of e^{−tΘ̃}, and for GD with step η the finite-step "
        "E = (Id − ηΘ̃/N)ˢ after s steps, t = ηs), with Θ, Σ, Φ, Υ by Gauss–Hermite quadrature "
        "and Λ by Monte-Carlo at initialization; dotted: the I-part Tr(Θ̃/N)ᵏ alone, so the gap "
        "to the solid line is the S contribution (only k = 1, 2 are affected). Crosses (black "
        "in the paper; here in the colour of k, shifted by up to ±6% in t, ±0.15 step at t = 0, "
        "so the error bars do not overlap): mean over initializations of the measured Tr Hᵏ (exact I-part from "
        "Θ̂ = JJᵀ, exact Tr S from the closed-form g, exact cross terms from 2N Hessian-vector "
        "products, Hutchinson only for Tr S², S³, S⁴), error bars ± 2 standard errors. "
        f"{'; '.join(parts)}. Both panels share the y axis. At finite width the NTK moves "
        "during training, which shows as the drift of the k = 3, 4 crosses (not hidden by a "
        f"short horizon; see the width figure). {_data_text(trials.frame)} "
        f"{_nonlinearity_text(nls)} Scale: {scale}."
    )
    return fig, caption


# --------------------------------------------------------------------------- Figure 2


def fig_rayleigh(rayleigh: pd.DataFrame, scale: str) -> tuple[plt.Figure, str] | None:
    if rayleigh is None or rayleigh.empty:
        return None
    nls = sorted(rayleigh["nonlinearity"].unique())
    fig, axes = panels(len(nls), width=min(WIDTH, 4.0 * len(nls)), row_height=2.8)
    texts = []
    for ax, nl in zip(axes, nls, strict=True):
        grp = rayleigh[rayleigh["nonlinearity"] == nl]
        wide = grp.pivot_table(index=["basis", "index"], columns="quantity", values="value")
        for basis, color in (("I", "C0"), ("S", "C1")):
            rows = wide.loc[basis]
            idx = rows.index.to_numpy()
            ax.plot(
                idx,
                rows["rq_i"],
                "o-",
                color=color,
                label=f"top eigenvectors of ${basis}$: $v^\\top I v$",
            )
            ax.plot(
                idx,
                rows["rq_s"],
                "s--",
                color=color,
                mfc="white",
                label=f"top eigenvectors of ${basis}$: $v^\\top S v$",
            )
        ax.set_yscale("symlog", linthresh=1e-3)
        ax.axhline(0, color="k", lw=0.5)
        ax.set(
            xlabel="eigenvector index $i$ (1 = largest eigenvalue)",
            ylabel=r"Rayleigh quotient $v_i^\top I v_i$ or $v_i^\top S v_i$",
        )
        width = int(grp["width"].iloc[0])
        ax.set_title(f"{LABEL[nl]}, $n_1 = n_2 = {width}$, at initialization")
        res = wide.loc["S"]["residual"].max() if "residual" in wide.columns else float("nan")
        texts.append(f"{LABEL[nl]}: largest Ritz residual of S's eigenvectors {res:.2g}")
    legend_below(fig, ncol=2)
    caption = (
        f"Figure 2 (paper: L = 3, n = 1000, normalized ReLU, N = 256; here n = "
        f"{', '.join(str(w) for w in sorted(rayleigh['width'].unique()))}). Mutual orthogonality of I "
        "and S: for the top eigenvectors v of I (blue) and of S (orange), the Rayleigh quotients "
        "vᵀIv (filled, solid) and vᵀSv (open, dashed). Eigenvectors of I: vᵢ = Jᵀuᵢ/√μᵢ from the "
        "eigenpairs (μᵢ, uᵢ) of Θ̂ = JJᵀ; of S: Lanczos with full "
        "reorthogonalization on S = Σᵢ cᵢ∇²fᵢ (curvature core HessianOperator, topk), [R] the "
        f"largest eigenvalues ('first eigenvectors'). y axis symmetric-log: linear for |y| < "
        "1e-3 (S's quotients can be negative), logarithmic beyond. "
        f"{'; '.join(texts)}. [R] measured at "
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
    values = np.concatenate([g.to_numpy().ravel() for g in grids.values()])
    values = values[np.isfinite(values) & (values > 0)]
    # Whole decades, at most six below the largest value: the minimum itself is ~0.
    top = math.ceil(math.log10(values.max()))
    bottom = max(math.floor(math.log10(values.min())), top - 6)
    lo, hi = 10.0**bottom, 10.0**top
    levels = np.logspace(bottom, top, 4 * (top - bottom) + 1)
    fig, axes = panels(len(nls), row_height=3.2)
    texts = []
    specs = {s.get("nonlinearity"): s for s in _specs(surface)}
    spec = next(iter(specs.values()), {})
    dirs = spec.get("directions", [4, 1])
    lab = [str(d).translate(SUBSCRIPT) for d in dirs]
    cs = None
    for ax, nl in zip(axes, nls, strict=True):
        g = grids[nl]
        z = np.clip(g.to_numpy(), lo, hi)
        cs = ax.contourf(g.columns, g.index, z, levels=levels, norm=LogNorm(lo, hi), cmap="viridis")
        ax.contour(g.columns, g.index, z, levels=levels[::4], colors="w", linewidths=0.5)
        ax.plot(
            [0],
            [0],
            ls="none",
            marker="*",
            color="red",
            ms=11,
            mec="k",
            mew=0.6,
            label=r"$\theta^*$ (minimum)",
        )
        ax.set(
            xlabel=f"$a$: distance along the unit eigenvector $v_{{{dirs[0]}}}$ of $I$",
            ylabel=f"$b$: distance along $v_{{{dirs[1]}}}$ of $I$",
            aspect="equal",
        )
        grp = surface[surface["nonlinearity"] == nl]
        eig = grp[grp["quantity"] == "eig_i"].set_index("index")["value"]
        ratio = eig.loc[dirs[1]] / eig.loc[dirs[0]]
        ax.set_title(
            f"{LABEL[nl]}\n$\\lambda_{{{dirs[1]}}}(I)/\\lambda_{{{dirs[0]}}}(I)$ = {ratio:.3g}"
        )
        final = surface_scalar(grp, "final_loss")
        if not math.isfinite(final):
            final = surface_scalar(grp, "polish_loss", last=True)
        eta = surface_scalar(grp, "eta")
        lam = surface_scalar(grp, "lambda_max_init")
        gd = surface_scalar(grp, "gd_loss", last=True)
        polish = int((grp["quantity"] == "polish_loss").sum())
        texts.append(
            f"{LABEL[nl]}: λ_max(Θ̂₀/N) = {lam:.3g} at initialization, η = {eta:.3g}; loss "
            f"{surface_scalar(grp, 'init_loss'):.3g} at initialization, {gd:.3g} after GD, "
            f"{final:.2g} at θ* after {polish} Levenberg–Marquardt steps; at θ* λ₁(I) = "
            f"{eig.loc[1]:.3g}, λ₄(I) = {eig.loc[4]:.3g}"
        )
    cbar = fig.colorbar(cs, ax=axes, shrink=0.9, pad=0.02)
    legend_below(fig, ncol=1)
    cbar.set_ticks([10.0**e for e in range(bottom, top + 1)])
    cbar.set_ticklabels([f"$10^{{{e}}}$" for e in range(bottom, top + 1)])
    cbar.set_label("training loss $C$ (log scale)")
    caption = (
        "Figure 3 (paper: L = 4, n = 1000, data uniform on the unit disk). The loss "
        f"C(θ* + a·v{lab[0]} + b·v{lab[1]}) around a global minimum θ* (red star), vᵢ the "
        "unit eigenvectors of I (from Θ̂ = JJᵀ at θ*; i = 1 the largest), so a and b are "
        "Euclidean distances in parameter space; one logarithmic colour scale (whole decades, "
        f"values below 1e{bottom} drawn at 1e{bottom}) for both panels, white contours every "
        f"decade. N = {spec.get('n_samples', '?')} points uniform on the unit disk (no input "
        f"scaling), [R] targets '{spec.get('target', '?')}' (sine: sin(πx₁)cos(πx₂); sign: "
        f"sign(x₁x₂)), L = {spec.get('depth', '?')}, n = {spec.get('width', '?')}, β = "
        f"{spec.get('beta', 0.1):g}, MSE C = (1/2N)‖Y − Y*‖². θ* [R]: "
        f"{spec.get('train_steps', '?')} full-batch GD steps with η = "
        f"{spec.get('eta_scale', '?')}/λ_max(Θ̂₀/N) (from the curvature at initialization; a "
        "step that raises the loss is undone and η halved), then Levenberg–Marquardt steps "
        "Δθ = −Jᵀ(Θ̂ + μI)⁻¹r until the loss is below "
        f"{spec.get('polish_tol', '?')} × its initial value (at most "
        f"{spec.get('polish_steps', '?')}); grid ±{spec.get('radius', '?')} [R]. "
        f"{'; '.join(texts)}. A smaller λ₁/λ₄ is a less elongated valley. "
        f"{_nonlinearity_text(nls)} Scale: {scale}."
    )
    return fig, caption


# --------------------------------------------------------------------------- Figure 4


def fig_width(
    trials: Trials, init: pd.DataFrame | None, kernels: dict, scale: str
) -> tuple[plt.Figure, str]:
    fig, axes = panels(4, ncols=2, row_height=2.6)
    ax_ntk, ax_gap, ax_drift, ax_s4 = axes
    nls = trials.nonlinearities()
    markers = {1: "o", 2: "s", 3: "^", 4: "D"}
    if init is not None and not init.empty:
        for nl in sorted(init["nonlinearity"].unique()):
            stats = measures.ntk_per_init(init, nl)
            widths = stats.index.to_numpy()
            ax_ntk.errorbar(
                widths,
                stats["relf"],
                yerr=2 * stats["relf_se"],
                fmt="o-",
                color=NL_COLORS[nl],
                label=LABEL[nl],
                capsize=2,
            )
            ref = stats["relf"].iloc[0] * np.sqrt(widths[0] / widths)
            ax_ntk.plot(widths, ref, ":", color=NL_COLORS[nl], lw=1)
            # The band the claim ntk_limit_per_init checks, on the mean relF·√n.
            band = measures.NTK_PER_INIT[nl].limit / np.sqrt(widths)
            ax_ntk.plot(
                widths, band, "--", color=NL_COLORS[nl], lw=1, alpha=0.7, label="claim's bound"
            )
            r = measures.s4_ratio(init, nl)
            ax_s4.errorbar(
                r.index,
                r["mean"],
                yerr=2 * r["se"],
                fmt="o-",
                color=NL_COLORS[nl],
                label=LABEL[nl],
                capsize=2,
            )
        s4_widths = np.asarray(sorted(init["width"].unique()), dtype=float)
        ax_s4.plot(
            s4_widths, measures.S4_RATIO_N.limit / s4_widths, "k--", lw=1, label="claim's bound"
        )
        ax_ntk.set(
            xscale="log",
            yscale="log",
            xlabel="width $n$",
            ylabel=r"$\|\hat\Theta - \Theta\|_F / \|\Theta\|_F$ at init.",
            title=r"NTK at init. (dotted: $\propto 1/\sqrt{n}$)",
        )
        ax_s4.set(
            xscale="log",
            yscale="log",
            xlabel="width $n$",
            ylabel=f"mean ${TR}S^4 / ({TR}S^2)^2$ at init.",
            title=rf"${TR}S^k \to 0$ for $k \geq 3$ (Thm 1)",
        )
        init_widths = init.loc[init["quantity"] == "relf_theta", "width"].unique()
        _width_ticks(ax_ntk, init_widths)
        _width_ticks(ax_s4, init_widths)
    for nl in nls:
        widths = trials.widths(nl)
        if not has_theory(kernels, nl):
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
                label=f"$k = {k}$, {'softplus' if nl == 'softplus' else 'normalized'}",
            )
            if k >= 3:
                ax_drift.plot(
                    widths,
                    drifts,
                    style,
                    marker=markers[k],
                    color=COLORS[k],
                    label=f"$k = {k}$, {'softplus' if nl == 'softplus' else 'normalized'}",
                )
    mean_h = rf"\overline{{{TR}H^k}}"
    ax_gap.set(
        xscale="log",
        yscale="log",
        xlabel="width $n$",
        ylabel=f"RMS over $t$ of ${mean_h}$ / Cor. 1 $- 1$",
        title="moments vs Corollary 1 along training",
    )
    ax_drift.set(
        xscale="log",
        yscale="log",
        xlabel="width $n$",
        ylabel=f"max over $t$ of $|{mean_h}(t) / {mean_h}(0) - 1|$",
        title="drift of moments 3, 4 (flat in the limit)",
    )
    legend_below(fig, ncol=3)
    trial_widths = sorted({w for nl in nls for w in trials.widths(nl)})
    _width_ticks(ax_gap, trial_widths)
    _width_ticks(ax_drift, trial_widths)
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
        "to 0. Top right: RMS over the time grid of the relative deviation of the mean Tr Hᵏ "
        "from the corrected Corollary 1 (solid softplus, dashed normalized). Bottom left: the "
        "largest relative drift of the mean Tr H³, Tr H⁴ from their t = 0 values along training "
        "(moments 3, 4 are flat only in the limit; the claim moments34_drift checks that this "
        "drift shrinks with the width). Dashed black: the bands the claims check, "
        f"{measures.NTK_PER_INIT['softplus'].limit:g}/√n and "
        f"{measures.NTK_PER_INIT['normalized_softplus'].limit:g}/√n on the mean relF "
        f"(softplus, normalized; top left) and {measures.S4_RATIO_N.limit:g}/n on the mean Tr S⁴/(Tr S²)² (bottom right). "
        f"Training: {trial_text}. {_data_text(trials.frame)} Scale: {scale}."
    )
    return fig, caption


# --------------------------------------------------------------------------- corrections


def fig_corrections(trials: Trials, kernels: dict, scale: str) -> tuple[plt.Figure, str]:
    nls = [nl for nl in ("softplus", "normalized_softplus") if nl in trials.nonlinearities()]
    fig, cells = panels(2 * len(nls), ncols=len(nls), row_height=2.6)
    axes = np.reshape(cells, (2, len(nls)))
    texts = []
    for col, nl in enumerate(nls):
        width = trials.widths(nl)[-1]
        steps = trials.grid[(nl, width)]
        eta = trials.eta[(nl, width)]
        dense = np.unique(np.r_[0, np.round(np.geomspace(1, steps[-1], 200)).astype(int)])
        for row, (k, name) in enumerate(((1, "tr_s"), (2, "tr_s2"))):
            ax = axes[row, col]
            if has_theory(kernels, nl):
                from curvlab.experiments.jacot2020 import cor1_inputs

                inputs = cor1_inputs(kernels[nl])
                for form, variant, style, label in (
                    (
                        "gd",
                        "corrected",
                        "-",
                        r"corrected, $E = (\mathrm{Id} - \eta\tilde\Theta/N)^s$ (GD)",
                    ),
                    ("flow", "corrected", "--", r"corrected, flow $E = \exp(-t\tilde\Theta/N)$"),
                    ("gd", "printed", ":", r"as printed: $(\mathrm{Id} + E)$"),
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
                        label=rf"Rao-Blackwellized ${TR}\hat\Phi/N$ ($t = 0$)",
                    )
                    texts.append(
                        f"{LABEL[nl]}: plain mean Tr S(0) {np.nanmean(trials.array(nl, width, 'tr_s', 1)[:, 0]):+.3f} "
                        f"± {np.nanstd(trials.array(nl, width, 'tr_s', 1)[:, 0], ddof=1) / np.sqrt(len(v)):.3f}, "
                        f"Rao-Blackwellized {np.nanmean(v):+.4f} ± {np.nanstd(v, ddof=1) / np.sqrt(len(v)):.4f}"
                    )
            _time_axis(ax, eta, eta * steps[-1])
            ax.axhline(0, color="k", lw=0.5)
            ax.set_ylabel(rf"$\mathbb{{E}}\,{TR}S(t){'' if k == 1 else '^2'}$")
            ax.set_title(f"{LABEL[nl]}, $n = {width}$")
            if k == 1:
                lo, hi = np.nanmin(mean - 3 * se), np.nanmax(mean + 3 * se)
                pad = 0.3 * (hi - lo + 1e-3)
                ax.set_ylim(lo - pad, hi + pad)
    legend_below(fig, ncol=2)
    caption = (
        "Beyond the paper: Corollary 1's corrections (docs/papers/jacot2020.md) for the S part. Top: "
        "E Tr S(t) = Tr(EΦ̃ᵀ)/N − Tr((Id − E)Θ̃⁻¹Λ̃ᵀE(Σ̃ + Y*Y*ᵀ))/N with E = (Id − ηΘ̃/N)ˢ after s "
        "GD steps, t = ηs (solid), against the "
        "mean of the exact Tr S(t) = ∇C·G over initializations; dashed: the gradient-flow form "
        "e^{−tΘ̃/N}; dotted red: the printed (Id + E) (with the 1/N time normalization; the printed "
        "e^{−tΘ̃} is farther still). Circles at t = 0: the Rao-Blackwellized Tr Φ̂/N, whose "
        "standard error is 10–50× smaller than that of the plain mean. Bottom: E Tr S(t)² = "
        "N⁻²Tr(EΥ̃E(Σ̃ + Y*Y*ᵀ)) against the Hutchinson estimates. Error bars ± 2 standard errors "
        "over initializations. "
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
    return render_figures(outdir, "jacot2020", TITLE, builders, stamp=stamp_text(tables, scale))
