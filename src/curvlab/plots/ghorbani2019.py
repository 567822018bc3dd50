"""Figures for Ghorbani, Krishnan & Xiao (2019) (docs/papers/ghorbani2019.md, Figs. 1–6).

Densities are smoothed at plot time from the stored SLQ nodes and weights, on a log density axis
(floored at 1e-7 as PyHessian does). Fig. 1 compares SLQ with the exact spectrum under the
paper's kernel, a Gaussian of variance σ²·max(1, λmax − λmin), σ² = 1e-5. With the few draws of
the CPU presets that kernel turns every Ritz node of the bulk into its own spike, so Figs. 2, 3
and 6 smooth at the Lanczos resolution instead (std (λmax − λmin)/((m − 1)√(8 ln 3)), Papyan's
convention) and draw every Ritz node as a tick under the curve. Captions state the scale, the data set, the BN mode of
every Hessian, the SLQ settings read from the tables' provenance, and each reconstructed or
corrected choice (numbered as in the docs page). Statistics and the bands drawn come from
:mod:`curvlab.measures.ghorbani2019`, the same code and bound objects the claims use.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns

from curvlab.curvature.slq import density_grid, kernel_variance, smoothed_density
from curvlab.measures import ghorbani2019 as m
from curvlab.papers.ghorbani2019 import TITLE
from curvlab.plots.common import (
    FigureRecord,
    legend_below,
    panels,
    render_figures,
    setup_style,
    stamp_text,
)

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
        f"Hessian: full-batch over {hn} un-augmented training samples, products in "
        f"{s.get('dtype', 'float64')} summed in float64, cross-entropy; SLQ with "
        f"m = {s.get('lanczos_steps')} Lanczos steps, partially reorthogonalized, "
        f"{s.get('draws')} Rademacher draw(s); {topk}. BN Hessian modes "
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


def _density(
    nodes: list[np.ndarray], weights: list[np.ndarray], steps: int
) -> tuple[np.ndarray, np.ndarray]:
    """The display density: Gaussian at the Lanczos resolution of ``steps`` (module docstring)."""
    allnodes = np.concatenate(nodes)
    grid = density_grid(allnodes, points=4000, margin=0.05)
    variance = kernel_variance(allnodes, "papyan", steps=steps)
    phi = smoothed_density(nodes, weights, grid, variance)
    phi /= phi.sum() * (grid[1] - grid[0])
    return grid, np.maximum(phi, FLOOR)


def _lanczos_steps(curv: pd.DataFrame) -> int:
    """m of the SLQ runs: the most nodes any draw has."""
    nodes = curv[curv.quantity == "node"]
    return int(nodes.groupby([*m.RUN, "step", "hessian_mode", "draw"]).size().max())


def _draw_density(
    ax, sel: pd.DataFrame, steps: int, color, label: str, tick_row: int, unit: float = 1.0
) -> None:
    """One checkpoint's display density, its Ritz nodes as ticks in row ``tick_row`` below;
    eigenvalues in units of ``unit`` (e.g. the checkpoint's own λmax)."""
    nodes, weights = _quadrature(sel)
    if not nodes:
        return
    nodes = [n / unit for n in nodes]
    grid, phi = _density(nodes, weights, steps)
    ax.semilogy(grid, phi, color=color, lw=1.2, label=label)
    ticks = np.concatenate(nodes)
    y = FLOOR * 4.0 ** (tick_row + 0.5)
    ax.plot(ticks, np.full(len(ticks), y), "|", color=color, ms=4, mew=0.6)


def _top_eigs(sel: pd.DataFrame, count: int) -> np.ndarray:
    e = sel[sel.quantity == "eig"].sort_values("index")["value"].to_numpy()
    return e[:count]


def _shown_steps(steps: list[int], drops: list[int]) -> list[int]:
    """At most four checkpoints: initialization, the first after it, the last before the first
    learning-rate drop, the last."""
    positive = [s for s in steps if s > 0]
    if not positive:
        return steps
    before = [s for s in positive if not drops or s <= drops[0]]
    picks = {steps[0], positive[0], positive[-1], before[-1] if before else positive[0]}
    return sorted(picks)


def _share_x(axes: list) -> None:
    """One x-range for a row of panels (the union of theirs)."""
    lo = min(ax.get_xlim()[0] for ax in axes)
    hi = max(ax.get_xlim()[1] for ax in axes)
    for ax in axes:
        ax.set_xlim(lo, hi)


def _step_colors(steps: list[int]) -> dict[int, tuple]:
    """Checkpoints from light to dark: the last is the darkest, the first stays visible."""
    return dict(zip(steps, sns.color_palette("flare", len(steps)), strict=True))


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
    m_steps = _lanczos_steps(curv)
    fig, axes = panels(len(archs), row_height=2.6)
    for ax, arch in zip(axes, archs, strict=True):
        for row, (step, color) in enumerate(((0, "C0"), (late, "C3"))):
            sel = nobn[(nobn.arch == arch) & (nobn.step == step)]
            _draw_density(ax, sel, m_steps, color, f"step {step}", row)
        ax.axvline(0, color="gray", lw=0.6, ls=":")
        ax.set_title(f"{arch}, no BN")
        ax.set_xlabel(EIGENVALUE)
        ax.set_ylim(FLOOR, None)
    axes[0].set_ylabel("smoothed density (log)")
    legend_below(fig, ncol=2)
    caption = (
        f"Hessian spectral density at initialization (blue) and at step {late} (red), no BN, "
        f"seed {int(nobn.seed.min())}; ticks: the Ritz nodes behind each curve (paper: ResNet-32 "
        "on CIFAR-10, steps 0 and 400). Expected: the negative eigenvalues present at "
        "initialization shrink relative to λmax (claims neg_fraction, neg_mass, measured on the "
        "quadrature itself)."
    )
    protocol = (
        f"Display kernel: Gaussian at the Lanczos resolution (m = {m_steps}); the paper's "
        "σ² = 1e-5 kernel is used in Fig. 1. The negative mass is never read off the smoothed "
        f"density below 0 ({DOCS}, Corrections 6). " + setting
    )
    return fig, (caption, protocol)


def _bn_grid(curv: pd.DataFrame) -> tuple[pd.DataFrame, list[str], list[str]]:
    """The first seed's primary-mode rows, its architectures (rows of the figure) and BN
    variants (columns)."""
    prim = _primary(curv)
    prim = prim[prim.seed == prim.seed.min()]
    bns = [b for b in ("none", "batch", "population") if b in set(prim.bn)]
    return prim, sorted(prim.arch.unique()), bns


def _grid_cells(
    prim: pd.DataFrame, archs: list[str], bns: list[str]
) -> tuple[plt.Figure, np.ndarray, list[tuple[plt.Axes, pd.DataFrame, str, str]]]:
    """The figure, its axes as an (architecture × BN variant) array, and per panel its axes,
    its rows of ``prim``, its architecture and its BN variant."""
    fig, cells = panels(len(archs) * len(bns), ncols=len(bns))
    axes = np.reshape(cells, (len(archs), len(bns)))
    grid = [
        (axes[r][c], prim[(prim.arch == arch) & (prim.bn == bn)], arch, bn)
        for r, arch in enumerate(archs)
        for c, bn in enumerate(bns)
    ]
    return fig, axes, grid


def fig_through_training(
    curv: pd.DataFrame, setting: str, drops: list[int]
) -> tuple[plt.Figure, str] | None:
    prim, archs, bns = _bn_grid(curv)
    if not archs or not bns:
        return None
    shown = _shown_steps(sorted(prim.step.unique()), drops)
    colors = _step_colors(shown)
    m_steps = _lanczos_steps(curv)
    fig, axes, grid = _grid_cells(prim, archs, bns)
    for ax, run, arch, bn in grid:
        for row, step in enumerate(shown):
            sel = run[run.step == step]
            lam_max = _top_eigs(sel, 1)
            if len(lam_max):
                label = f"step {step}"
                _draw_density(ax, sel, m_steps, colors[step], label, row, float(lam_max[0]))
        top = _top_eigs(run[run.step == shown[-1]], K)
        # Above the densities' peaks (≤ 1e2): the C − 1 outliers by count, not read off.
        ax.plot(top[1:K] / top[0], np.full(len(top[1:K]), 1e3), "v",
                color=colors[shown[-1]], ms=3.5,
                label=f"$\\lambda_2 \\ldots \\lambda_{{{K}}}$, last step")  # fmt: skip
        ax.set_title(f"{arch}\n{BN_LABEL[bn]}")
        ax.set_ylim(FLOOR, 1e4)
        ax.set_xlabel(r"$\lambda / \lambda_\mathrm{max}$ (per checkpoint)")
    for row in axes:
        _share_x(list(row))
        row[0].set_ylabel("smoothed density (log)")
    legend_below(fig, ncol=min(len(shown) + 1, 5))
    mlp_note = (
        ""
        if any(m.family(a) == "mlp" for a in archs)
        else " Only conv nets run at this scale: the MLP claims of BN suppression (bn_*_mlp) are "
        "NOT RUN here and not shown."
    )
    caption = (
        f"Hessian spectral densities without BN, with BN and with population BN at "
        f"{len(shown)} checkpoints (light to dark), seed {int(prim.seed.min())}, eigenvalues "
        f"over each checkpoint's λmax; ticks: Ritz nodes; triangles: λ₂ … λ_{K} at the last step "
        "(λ₁ = 1). Expected (claims outliers_nobn, bn_suppresses_*, population_outliers_*): "
        "about C − 1 outliers far right of the bulk without BN, nearly none with BN "
        "(batch-mode Hessian: the bulk reaches λmax), back with population BN." + mlp_note
    )
    protocol = f"Display kernel: Gaussian at the Lanczos resolution (m = {m_steps}). " + setting
    return fig, (caption, protocol)


def fig_lr_drop(
    curv: pd.DataFrame, setting: str, drops: list[int]
) -> tuple[plt.Figure, str] | None:
    prim, archs, bns = _bn_grid(curv)
    pairs = m.drop_pairs(drops, set(prim.step))
    if not pairs or not archs or not bns:
        return None
    at, after = pairs[0]
    m_steps = _lanczos_steps(curv)
    fig, axes, grid = _grid_cells(prim, archs, bns)
    for ax, run, arch, bn in grid:
        for row, (step, color, what) in enumerate(
            ((at, "C0", "at the drop"), (after, "C3", f"{m.AFTER_DROP} steps after"))
        ):
            sel = run[run.step == step]
            _draw_density(ax, sel, m_steps, color, f"step {step}, {what}", row)
            top = _top_eigs(sel, 1)
            if len(top):
                ax.axvline(top[0], color=color, lw=0.8, ls="--")
        ax.set_title(f"{arch}\n{BN_LABEL[bn]}")
        ax.set_ylim(FLOOR, None)
        ax.set_xlabel(EIGENVALUE)
    for row in axes:
        row[0].set_ylabel("smoothed density (log)")
    legend_below(fig, ncol=2)
    caption = (
        f"The spectrum at the learning-rate drop (step {at}) and "
        f"{m.AFTER_DROP} steps after it; dashed: λmax of each. Measured behaviour (claim lr_drop, "
        f"reported, not judged; {DOCS}, Corrections 8): λmax does not rise after a drop."
    )
    protocol = (
        f"Display kernel: Gaussian at the Lanczos resolution (m = {m_steps}); ticks: Ritz "
        "nodes. " + setting
    )
    return fig, (caption, protocol)


# =========================================================================== Figs. 4, 5


def stability_threshold(train: pd.DataFrame | None) -> tuple[list[int], list[float]] | None:
    """Steps and 2(1 + μ)/η_t, the largest curvature at which SGD with heavy-ball momentum μ and
    learning rate η_t is stable on a quadratic, stage by stage of the schedule."""
    specs = _specs(train)
    if not specs:
        return None
    t = specs[0]
    try:
        eta, mu, factor = float(t["eta"]), float(t["momentum"]), float(t["drop_factor"])
        drops, end = sorted(int(d) for d in t["drops"]), int(t["steps"])
    except (KeyError, TypeError, ValueError):
        return None
    steps = [0, *drops, end]
    values = [2 * (1 + mu) / (eta * factor**i) for i in range(len(drops) + 1)]
    return steps, [*values, values[-1]]


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
    threshold = stability_threshold(train)
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
        if threshold is not None:
            axes[r][1].step(
                *threshold, where="post", color="k", ls="-.", lw=0.9,
                label=r"stability threshold $2(1+\mu)/\eta$",
            )  # fmt: skip
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
        f"learning-rate drops (steps {drops}); dash-dotted: the stability threshold 2(1 + μ)/η of "
        "SGD with momentum μ on a quadratic, stage by stage. Expected: ρ large without BN "
        "before the fit, "
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
    drops = m.lr_drops(train)
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
            lambda: fig_through_training(curv, setting, drops),
        ),
        (
            "fig4_gradient_lambda_max",
            "Gradient concentration and λmax",
            lambda: fig_gradient(curv, train, setting),
        ),
        ("fig5_loss", "Training loss", lambda: fig_loss(train, setting)),
        (
            "fig6_lr_drop",
            "The spectrum at a learning-rate drop",
            lambda: fig_lr_drop(curv, setting, drops),
        ),
    ]
    return render_figures(outdir, "ghorbani2019", TITLE, builders, stamp=stamp_text(tables, scale))
