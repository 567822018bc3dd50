"""Figures for Ghorbani, Krishnan & Xiao (2019) (docs/papers/ghorbani2019.md, Figs. 1–5).

Densities are smoothed at plot time from the stored SLQ nodes and weights with a Gaussian of
variance σ²·max(1, λmax − λmin), σ² = 1e-5 (the paper's released code), on a log density axis
(floored at 1e-7 as PyHessian does). Captions state the scale, the data set, the BN mode of
every Hessian, the SLQ settings read from the tables' provenance, and each reconstructed or
corrected choice (numbered as in the docs page). Statistics and the bands drawn come from
:mod:`curvlab.measures.ghorbani2019`, the same code and bound objects the claims use.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from curvlab.curvature.slq import density_grid, kernel_variance, smoothed_density
from curvlab.measures import ghorbani2019 as m
from curvlab.papers.ghorbani2019 import TITLE
from curvlab.plots.common import FigureRecord, legend_below, panels, render_figures, setup_style

SIGMA2 = 1e-5
FLOOR = 1e-7
K = m.K
DOCS = "docs/papers/ghorbani2019.md"
BN_LABEL = {
    "none": "no BN",
    "batch": "BN (batch-mode Hessian)",
    "population": "population BN (frozen Hessian)",
}
BN_COLOR = {"none": "C3", "batch": "C0", "population": "C2"}
NAMES = {"mnist": "MNIST", "fashion-mnist": "Fashion-MNIST", "cifar10": "CIFAR-10"}
EIGENVALUE = r"eigenvalue $\lambda$"


def _specs(frame: pd.DataFrame | None) -> list[dict]:
    if frame is None:
        return []
    runs = frame.attrs.get("provenance", {}).get("aggregate_of", {}).values()
    return [run.get("config", {}) for run in runs]


def _setting(curv: pd.DataFrame, train: pd.DataFrame | None, scale: str) -> str:
    specs = _specs(curv)
    tspecs = _specs(train)
    s = specs[0] if specs else {}
    t = tspecs[0] if tspecs else {}
    data = s.get("dataset", "?")
    name = NAMES.get(data, data)
    stand_in = (
        f"{name} (as in the paper)"
        if data == "cifar10"
        else f"{name} as a stand-in for the paper's CIFAR-10 (reconstructed)"
    )
    size = s.get("image_size") or "native"
    drops = t.get("drops", [])
    hn = s.get("hessian_samples") or s.get("n_samples", "?")
    topk = (
        f"top-{s.get('top_eigs')} eigenpairs = Ritz pairs of SLQ draw 0"
        if s.get("topk_steps") is None
        else f"top-{s.get('top_eigs')} eigenpairs by a separate {s.get('topk_steps')}-step Lanczos"
    )
    return (
        f"Scale: {scale}. Data: {stand_in}, class-stratified subset N = {s.get('n_samples')}, "
        f"images {size}px. Training ({DOCS}, Reconstructed choices 2): SGD, momentum "
        f"{t.get('momentum')}, η = {t.get('eta')}, B = {t.get('batch')}, "
        f"{t.get('steps')} steps, ×{t.get('drop_factor')} at {drops}, weight decay "
        f"{t.get('weight_decay')}, augmentation {t.get('augment') or 'none'} (training only). "
        f"Hessian: full-batch over {hn} un-augmented training samples, float64, "
        f"cross-entropy; SLQ with m = {s.get('lanczos_steps')} Lanczos steps, full "
        f"reorthogonalization, {s.get('draws')} Rademacher draw(s); {topk}. BN Hessian modes "
        f"({DOCS}, Corrections 2): BN nets use the batch-mode Hessian (mean of minibatch "
        "Hessians through their own statistics), population-BN nets the frozen one "
        "(whole-subset statistics at θ as constants); filter normalization of BN-fed layers "
        f"{'on' if s.get('filter_normalize', True) else 'off'}. Population BN ("
        f"{DOCS}, Reconstructed choices 3): whole-subset statistics recomputed at every step, constants in training "
        "and evaluation."
    )


def _quadrature(curv: pd.DataFrame, **keys) -> tuple[list[np.ndarray], list[np.ndarray]]:
    sel = curv
    for k, v in keys.items():
        sel = sel[sel[k] == v]
    nodes, weights = [], []
    for d in sorted(sel[sel.quantity == "node"]["draw"].unique()):
        n = sel[(sel.quantity == "node") & (sel.draw == d)].sort_values("index")["value"]
        w = sel[(sel.quantity == "weight") & (sel.draw == d)].sort_values("index")["value"]
        nodes.append(n.to_numpy())
        weights.append(w.to_numpy())
    return nodes, weights


def _density(nodes: list[np.ndarray], weights: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    allnodes = np.concatenate(nodes)
    grid = density_grid(allnodes, points=4000)
    phi = smoothed_density(nodes, weights, grid, kernel_variance(allnodes, "ghorbani", SIGMA2))
    phi /= phi.sum() * (grid[1] - grid[0])
    return grid, np.maximum(phi, FLOOR)


# =========================================================================== Fig. 1


def fig_validation(val: pd.DataFrame, scale: str) -> tuple[plt.Figure, str] | None:
    from curvlab.curvature.slq import exact_smoothed_density

    if val is None or val.empty:
        return None
    fig, axes = panels(2, row_height=2.6)
    l1s = {}
    for ax, state in zip(axes, ("init", "trained"), strict=True):
        v = val[val.state == state]
        exact = v[v.quantity == "exact_eig"].sort_values("index")["value"].to_numpy()
        nodes, weights = _quadrature(v)
        grid = density_grid(np.concatenate([exact, *nodes]), points=10_000)
        var = kernel_variance(exact, "ghorbani", SIGMA2)
        ref = exact_smoothed_density(exact, grid, var)
        est = smoothed_density(nodes, weights, grid, var)
        step = grid[1] - grid[0]
        ref /= ref.sum() * step
        est /= est.sum() * step
        ax.semilogy(grid, np.maximum(ref, FLOOR), color="k", lw=1.4, label="exact (eigvalsh)")
        ax.semilogy(grid, np.maximum(est, FLOOR), "--", color="C1", lw=1.2, label="SLQ")
        l1 = v[(v.quantity == "l1")].set_index("sigma2")["value"]
        l1s[state] = l1
        ax.set_title(rf"{state}: $L_1$ = {l1.get(SIGMA2, np.nan):.3g} at $\sigma^2 = 10^{{-5}}$")
        ax.set_xlabel(EIGENVALUE)
        ax.set_ylim(FLOOR, None)
    axes[0].set_ylabel(r"smoothed density $\varphi_\sigma(\lambda)$")
    legend_below(fig, ncol=2)
    specs = _specs(val)
    s = specs[0] if specs else {}
    n_params = int(val[val.quantity == "n_params"]["value"].iloc[0])
    wide = ", ".join(f"{st} {l.get(1e-3, np.nan):.3g}" for st, l in l1s.items())
    caption = (
        f"SLQ vs the exact smoothed spectral density of the full-batch Hessian of an MLP "
        f"{val['arch'].iloc[0]} without BN (P = {n_params} parameters; explicit Hessian "
        f"by Hessian-vector products, eigvalsh) on {s.get('n_samples')} "
        f"{NAMES.get(s.get('dataset'), s.get('dataset'))} images block-averaged to "
        f"{s.get('image_size')}×{s.get('image_size')} (a stand-in for the paper's small model, "
        f"reconstructed), at initialization and after {s.get('train_steps')} SGD steps. SLQ: m = "
        f"{s.get('lanczos_steps')}, {s.get('draws')} draws, full reorthogonalization, float64. "
        f"Gaussian kernel of variance σ²·max(1, λmax − λmin), σ² = 1e-5, of the exact "
        f"spectrum, on both; densities renormalized on the 10,000-point grid, floored at 1e-7. "
        f"L1 at σ² = 1e-3: {wide}. Scale: {scale}. ({DOCS}, Corrections 1) The "
        "Ritz values match to double precision, the smoothed density does not (where the "
        "bulk is broad, at initialization, SLQ's few nodes show as separate peaks)."
    )
    return fig, caption


# =========================================================================== Figs. 2, 3


def _primary(curv: pd.DataFrame) -> pd.DataFrame:
    mode = curv["bn"].map(m.PRIMARY)
    return curv[(curv.hessian_mode == mode) & ~curv["diverged"].astype(bool)]


def fig_early(curv: pd.DataFrame, setting: str) -> tuple[plt.Figure, str] | None:
    prim = _primary(curv)
    nobn = prim[(prim.bn == "none") & (prim.seed == prim.seed.min())]
    archs = sorted(nobn.arch.unique())
    if not archs:
        return None
    steps = sorted(nobn.step.unique())
    late = max([s for s in steps if 0 < s <= 400], default=None)
    if late is None:
        return None
    fig, axes = panels(len(archs), row_height=2.6)
    for ax, arch in zip(axes, archs, strict=True):
        for step, color in ((0, "C0"), (late, "C3")):
            nodes, weights = _quadrature(nobn, arch=arch, step=step)
            if not nodes:
                continue
            grid, phi = _density(nodes, weights)
            ax.semilogy(grid, phi, color=color, lw=1.2, label=f"step {step}")
        ax.axvline(0, color="gray", lw=0.6, ls=":")
        ax.set_title(f"{arch}, no BN")
        ax.set_xlabel(EIGENVALUE)
        ax.set_ylim(FLOOR, None)
    axes[0].set_ylabel("smoothed density (log)")
    legend_below(fig, ncol=2)
    caption = (
        f"Spectral density of the full-batch Hessian at initialization (blue) and at step "
        f"{late} (red), networks without BN, seed {int(nobn.seed.min())} (paper: ResNet-32 on "
        "CIFAR-10, steps 0 and 400; here the largest measured step ≤ 400). The negative "
        "eigenvalues present at initialization shrink relative to λmax (claims neg_fraction and "
        f"neg_mass measure it on the SLQ quadrature, never on the smoothed density below 0: {DOCS}, "
        "Corrections 6). Kernel variance σ²·max(1, λmax − λmin), σ² = 1e-5, per curve. " + setting
    )
    return fig, caption


def fig_through_training(curv: pd.DataFrame, setting: str) -> tuple[plt.Figure, str] | None:
    prim = _primary(curv)
    prim = prim[prim.seed == prim.seed.min()]
    archs = sorted(prim.arch.unique())
    bns = [b for b in ("none", "batch", "population") if b in set(prim.bn)]
    if not archs or not bns:
        return None
    steps = sorted(prim.step.unique())
    cmap = plt.get_cmap("viridis")
    colors = {s: cmap(i / max(1, len(steps) - 1)) for i, s in enumerate(steps)}
    fig, cells = panels(len(archs) * len(bns), ncols=len(bns))
    axes = np.reshape(cells, (len(archs), len(bns)))
    for r, arch in enumerate(archs):
        for c, bn in enumerate(bns):
            ax = axes[r][c]
            for step in steps:
                nodes, weights = _quadrature(prim, arch=arch, bn=bn, step=step)
                if not nodes:
                    continue
                grid, phi = _density(nodes, weights)
                ax.semilogy(grid, phi, color=colors[step], lw=1.0, label=f"step {step}")
            ax.set_title(f"{arch}\n{BN_LABEL[bn]}")
            ax.set_ylim(FLOOR, None)
            ax.set_xlabel(EIGENVALUE)
        axes[r][0].set_ylabel("smoothed density (log)")
    legend_below(fig, ncol=min(len(steps), 6))
    caption = (
        "Hessian spectral densities through training (colour = checkpoint), without BN, with "
        "BN and with population BN, seed "
        f"{int(prim.seed.min())}. Expected (claims outliers_nobn, bn_suppresses_*, "
        "population_outliers_*): isolated outliers "
        "far to the right of the bulk without BN, nearly absent with BN (batch-mode Hessian), "
        "back with population BN. Note the x-axes differ per panel: compare the gap between the "
        "bulk and the largest eigenvalues. Kernel variance σ²·max(1, λmax − λmin), σ² = 1e-5, "
        "per curve: so narrow that, with few SLQ draws, every Ritz node of the bulk shows as "
        "its own peak. " + setting
    )
    return fig, caption


# =========================================================================== Figs. 4, 5


def fig_gradient(
    curv: pd.DataFrame, train: pd.DataFrame | None, setting: str
) -> tuple[plt.Figure, str] | None:
    st = m.primary(m.with_progress(m.spectrum_stats(curv)))
    if st.empty:
        return None
    archs = sorted(st.arch.unique())
    drops = m.lr_drops(train)
    rho = f"rho{K}"
    bound = m.RHO_NOBN
    fig, cells = panels(2 * len(archs), ncols=2)
    axes = np.reshape(cells, (len(archs), 2))
    for r, arch in enumerate(archs):
        a = st[st.arch == arch]
        for bn in ("none", "batch", "population"):
            b = a[a.bn == bn]
            if b.empty or rho not in b:
                continue
            mean = b.groupby("step")[[rho, "lambda1"]].mean()
            x = np.maximum(mean.index.to_numpy(), 0)
            for ax, col in zip(axes[r], (rho, "lambda1"), strict=True):
                ax.plot(x, mean[col], "o-", color=BN_COLOR[bn], label=BN_LABEL[bn], ms=4)
                for _, s in b.iterrows():
                    ax.plot(max(s.step, 0), s[col], ".", color=BN_COLOR[bn], alpha=0.4)
            if bn == "none":  # the checkpoints rho_nobn judges: the progress window
                w = b[b.in_window]
                axes[r][0].plot(
                    w.step, w[rho], "o", mfc="none", mec="k", ms=10, mew=1.2,
                    label="no BN, in the progress window",
                )  # fmt: skip
        axes[r][0].axhline(
            bound.limit, color="k", ls=":", lw=0.9, label=rf"claim: $\rho_{{{K}}}$ {bound}"
        )
        for ax in axes[r]:
            ax.set_xscale("symlog", linthresh=50)
            ax.set_xlim(-5, 1.2 * max(a.step.max(), 1))
            ax.set_xlabel("training step")
            for d in drops:
                ax.axvline(d, color="gray", ls="--", lw=0.8)
        axes[r][0].set_ylabel(rf"$\rho_{{{K}}} = \|P_{{{K}}}\, g\|^2 / \|g\|^2$")
        axes[r][0].set_ylim(0, 1.02)
        axes[r][0].set_title(f"{arch}: gradient in the top-{K} eigenspace")
        axes[r][1].set_ylabel(r"$\lambda_\mathrm{max}$")
        axes[r][1].set_yscale("log")
        axes[r][1].set_title(f"{arch}: largest Hessian eigenvalue")
    legend_below(fig, ncol=3)
    caption = (
        f"Left: fraction ρ{K} of the squared norm of the full-batch gradient g (in the same BN "
        f"mode as the Hessian) in the span of the top-{K} Hessian eigenvectors (K = number of "
        f"classes, {DOCS}, Reconstructed choices 5), per checkpoint (dots: seeds, line: seed mean). Circled: the "
        f"no-BN checkpoints in the progress window, {m.FIT:g}·L(0) ≤ L(t) ≤ {m.PLATEAU:g}·L(0), "
        f"where claim rho_nobn requires ρ{K} {bound} (dotted). Right: λmax; dashed lines: "
        f"learning-rate drops (steps {drops}). Expected: ρ large without BN before the fit, "
        "smaller with BN, partly back with population BN; after the fit the no-BN ρ collapses "
        f"({DOCS}, Corrections 5); λmax does not rise after a drop (Corrections 8). " + setting
    )
    return fig, caption


def fig_loss(train: pd.DataFrame | None, setting: str) -> tuple[plt.Figure, str] | None:
    if train is None or train.empty:
        return None
    t = m.full_loss(train)
    archs = sorted(t.arch.unique())
    drops = m.lr_drops(train)
    fig, axes = panels(len(archs), row_height=2.6)
    for ax, arch in zip(axes, archs, strict=True):
        for bn in ("none", "batch", "population"):
            b = t[(t.arch == arch) & (t.bn == bn)]
            if b.empty:
                continue
            for i, (_, run) in enumerate(b.groupby("seed")):
                ax.plot(
                    run.step,
                    run.value,
                    color=BN_COLOR[bn],
                    lw=1.1,
                    alpha=1.0 if i == 0 else 0.5,
                    label=BN_LABEL[bn].split(" (")[0] if i == 0 else None,
                )
        for d in drops:
            ax.axvline(d, color="gray", ls="--", lw=0.8)
        if m.family(arch) == "mlp":
            ax.axhline(m.LOSS_TARGET, color="k", ls=":", lw=0.8, label=f"loss {m.LOSS_TARGET:g}")
        ax.set_yscale("log")
        ax.set_xlabel("training step")
        ax.set_title(arch)
    axes[0].set_ylabel("full training loss")
    legend_below(fig, ncol=4)
    caption = (
        "Cross-entropy on the whole un-augmented training subset, every eval_every steps, in "
        "the objective each variant trains (no BN: plain; BN: minibatch statistics over a fixed "
        "partition; population BN: whole-subset statistics at θ); one line per seed; dashed: "
        "learning-rate drops; dotted (MLPs): the loss whose first-passage steps claim "
        "population_slower_mlp compares outside ci. Expected (claims population_slower_*, "
        f"{DOCS}, Corrections 7): population BN trains more slowly at a common η (4–5× the "
        "steps on MLPs); at each variant's best η only 1.2–1.4× (not run here). " + setting
    )
    return fig, caption


def make_figures(
    tables: dict[str, pd.DataFrame], outdir: str | Path, scale: str
) -> list[FigureRecord]:
    curv = tables["ghorbani2019.curvature"]
    train = tables.get("ghorbani2019.train")
    val = tables.get("ghorbani2019.validation")
    setup_style()
    setting = _setting(curv, train, scale)
    builders = [
        ("fig1_slq_vs_exact", "SLQ vs exact density", lambda: fig_validation(val, scale)),
        (
            "fig2_early_density",
            "Density at initialization and early in training",
            lambda: fig_early(curv, setting),
        ),
        (
            "fig3_densities_bn",
            "Densities through training: no BN, BN, population BN",
            lambda: fig_through_training(curv, setting),
        ),
        (
            "fig4_gradient_lambda_max",
            "Gradient concentration and λmax",
            lambda: fig_gradient(curv, train, setting),
        ),
        ("fig5_loss", "Training loss", lambda: fig_loss(train, setting)),
    ]
    return render_figures(outdir, "ghorbani2019", TITLE, builders)
