"""Figures for Huh (ICML 2020), drawn from the aggregated Parquet tables only.

Five figures (our reading of the paper's results, docs/papers/huh2020.md): map singular values
with the mode ODEs overlaid, training and test loss, parameter paths (per mode, and layer norms), update speed with
clipping, and the α sweep. Captions state the scale and every reconstructed [R] or corrected
choice, read from the tables' provenance.
"""

from __future__ import annotations

import math
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from curvlab.measures.huh2020 import (
    LABELS,
    TRAIN_THRESHOLD,
    Runs,
    clip_off_time,
    time_to_threshold,
)
from curvlab.papers.huh2020 import METHODS, TITLE
from curvlab.plots.common import (
    MAX_COLS,
    ROW_HEIGHT,
    WIDTH,
    FigureRecord,
    handles,
    legend_below,
    panels,
    render_figures,
    setup_style,
    stamp_text,
)
from curvlab.theory import huh

COLORS = {"gd": "C0", "ngd": "C3", "ngd_d": "C5", "sqrt_ngd": "C2", "sqrt_ngd_d": "C4"}
STYLES = {"gd": "-", "ngd": "--", "ngd_d": "-.", "sqrt_ngd": ":", "sqrt_ngd_d": (0, (5, 1, 1, 1))}
#: Words for the Gauss–Newton structures of the tables.
STRUCTURE = {"full": "full", "block": "block-diagonal"}
TIME = r"$t = \eta k$"


def _specs(frame: pd.DataFrame) -> list[dict]:
    return [
        p.get("config", {})
        for p in frame.attrs.get("provenance", {}).get("aggregate_of", {}).values()
    ]


def _problem_text(frame: pd.DataFrame) -> str:
    specs = _specs(frame)
    if not specs:
        return ""
    s = specs[0]
    seeds = sorted({x for spec in specs for x in spec.get("seeds", [])})
    return (
        f"Teacher–student with whitened inputs, N = {s['n_dim']}, P = {s['n_samples']}, student "
        f"depth d = {s['depth']}, float64, seeds {seeds}. [R] teacher singular values "
        f"{tuple(s['teacher_singular_values'])} with Haar singular vectors, noise σ_z = "
        f"{s['noise_std']:g}, init W_i = σ₀G_i/√N with σ₀ = {s['init_scale']:g} (docs/papers/huh2020.md, Reconstructed choices 1–2)."
    )


def _settings_text(runs: Runs, names) -> str:
    parts = []
    for name in names:
        if name not in runs.settings:
            continue
        s = runs.settings[name]
        clip = "no cap" if not math.isfinite(s["clip"]) else f"cap ‖Δθ‖ ≤ {s['clip']:g}"
        parts.append(
            f"{LABELS.get(name, name)} ({s['structure']}, α = {s['alpha']:g}, ε = {s['eps']:g}, "
            f"{clip}, η = {s['eta']:g}, horizon t = {s['horizon']:g})"
        )
    return "; ".join(parts)


COMMON_R = (
    "Rules Δθ = −η(G + εI)^{−α}Jᵀe with the exact Gauss–Newton matrix G = JᵀJ (full) or its "
    "diagonal blocks (block), computed through the Kronecker structure, pseudo-inverse powers by "
    "SVD/eigendecomposition; time t = ηk. The paper's [V]: ε = 1e-5 and clipping for NGD and "
    "NGD-d, rank-3 teacher, N = P = 16, d = 4. [R]: the cap is an "
    "absolute 0.1 on ‖Δθ‖ per step, NGD and NGD-d only (1.0 is too loose). [R]: ε = "
    "1e-10 for the square-root rules, η, the horizons."
)


def _present(runs: Runs) -> list[str]:
    return [m for m in METHODS if runs.has(m)]


def _band(ax, x, ys: np.ndarray, color, label, **kw) -> None:
    ax.plot(x, ys.mean(axis=0), color=color, label=label, **kw)
    if ys.shape[0] > 1:
        ax.fill_between(x, ys.min(axis=0), ys.max(axis=0), color=color, alpha=0.2, lw=0)


def _stack(runs: Runs, run: str, quantity: str, index: int = 0):
    """(t, values seeds × t) on the time points common to every seed."""
    series = [runs.series(run, s, quantity, index) for s in runs.seeds(run)]
    t = series[0].index
    for s in series[1:]:
        t = t.intersection(s.index)
    return t.to_numpy(), np.vstack([s.loc[t].to_numpy() for s in series])


# --------------------------------------------------------------------------- 1: map modes


def fig_map_modes(runs: Runs, scale: str, n_show: int = 6) -> tuple[plt.Figure, str]:
    methods = _present(runs)
    seed = runs.seeds(methods[0])[0]
    # One panel per rule and one cell for the legend, which names lines of every panel.
    fig, cells = panels(len(methods) + 1, sharey=True)
    axes, key_cell = cells[:-1], cells[-1]
    rank = len(runs.vector(methods[0], seed, "teacher_sv"))
    keys: dict = {}
    for ax, m in zip(axes, methods, strict=True):
        s = runs.settings[m]
        sv = runs.block(m, seed, "map_sv")
        keep = sv.index.to_numpy() > 0
        t = sv.index.to_numpy()[keep]
        targets = runs.vector(m, seed, "target_sv")[:n_show]
        depth = runs.block(m, seed, "layer_norm").shape[1]
        s0 = runs.constant(m, seed, "s0_random_init")
        # Each mode's own start, the simulation's s_k at t = 0: one common s₀ would let the
        # theory learn the small noise modes long before the simulation does.
        s0_modes = np.maximum(sv.iloc[0, : len(targets)].to_numpy(), 1e-12)  # columns 1, 2, …
        proj = runs.block(m, seed, "proj_target")
        for k in range(len(targets)):
            color = f"C{k}" if k < rank else "0.6"
            (line,) = ax.plot(t, sv[k + 1].to_numpy()[keep], color=color, lw=1.8)
            key = (
                f"$s_{{{k + 1}}}$ (simulation)"
                if k < rank
                else rf"$s_{{{rank + 1}}} \ldots s_{{{n_show}}}$ (noise modes)"
            )
            keys.setdefault(key, line)
            ax.axhline(targets[k], color=color, lw=0.6, ls=(0, (1, 3)))
        t_ode = np.geomspace(t[0], t[-1], 600)
        if s["alpha"] == 1.0:
            rate = 1.0 if s["structure"] == "full" else float(depth)
            line = ax.plot(
                t_ode,
                huh.exponential_map(t_ode, s0_modes, targets, rate),
                color="k",
                ls=":",
                lw=1.0,
            )[0]
            keys.setdefault(r"closed form $\hat s - (\hat s - s_0)e^{-ct}$ from $t = 0$", line)
            t_c = clip_off_time(runs, m, seed)
            start = proj[proj.index >= t_c - 1e-12].iloc[0]
            t_after = t_ode[t_ode >= t_c]
            restarted = huh.exponential_map(
                t_after - t_c,
                start.to_numpy()[: len(targets)],
                targets,
                huh.euler_rate(rate, s["eta"]),
            )
            line = ax.plot(t_after, restarted, color="k", ls="--", lw=1.0)[0]
            keys.setdefault("closed form restarted at clip-off (Euler rate)", line)
            line = ax.axvline(t_c, color="red", lw=0.8, ls="-.")
            keys.setdefault("last clipped step", line)
        else:
            ode = huh.integrate_balanced(
                s0_modes, targets, s["alpha"], s["structure"], depth, t_ode, eps=s["eps"]
            )
            # Solid thin black: a different theory from the dashed restarted closed form.
            line = ax.plot(t_ode, ode, color="k", ls="-", lw=0.8)[0]
            keys.setdefault("mode ODE from each mode's $s_k(0)$ (numerical)", line)
        ax.set(
            xscale="log",
            yscale="log",
            ylim=(max(min(s0, s0_modes.min()) / 5, 1e-6), 2 * targets[0]),
            xlabel=TIME,
            title=rf"{LABELS[m]} ($\alpha = {s['alpha']:g}$, {STRUCTURE[s['structure']]})",
        )
    for ax in axes[::MAX_COLS]:  # the first panel of each row
        ax.set_ylabel(r"singular values $s_k$ of $W = W_d \cdots W_1$")
    key_cell.axis("off")
    key_cell.legend(keys.values(), keys.keys(), loc="center", frameon=False)
    caption = (
        f"Map singular values s_k(t) of W = W_d⋯W_1 for seed {seed} (colored: the {rank} largest, "
        f"grey: the next {n_show - rank}, which fit the noise in Σ̂ = (1/P)YXᵀ; dotted horizontal "
        "lines: Σ̂'s singular values ŝ_k, the targets), log time axis. Black: the mode theory of "
        "docs/papers/huh2020.md for balanced modes, each started at its own simulated value "
        "s_k(0): numerically integrated ODEs for GD (stage-like, strongest mode first, noise modes last) and the "
        "square-root rules (thin solid); for NGD and NGD-d the closed forms "
        "ŝ − (ŝ − s₀)e^{−ct}, c = 1 and d, from t = 0 (dotted) and restarted at clip-off with the "
        "Euler rate −ln(1 − cη)/η (dashed). [corrected] At σ₀ = 0.1 damping and clipping "
        "delay NGD and NGD-d by a transient (red: last clipped step); afterwards all modes, "
        f"including the noise modes, are learned at once. {_problem_text(runs.frame)} "
        f"{_settings_text(runs, methods)}. Scale: {scale}. {COMMON_R}"
    )
    return fig, caption


# --------------------------------------------------------------------------- 2: losses


def fig_losses(runs: Runs, scale: str) -> tuple[plt.Figure, str]:
    methods = _present(runs)
    fig, axes = panels(2, row_height=2.6)
    floor_train = np.mean(
        [runs.constant(methods[0], s, "train_loss_floor") for s in runs.seeds(methods[0])]
    )
    floor_test = None
    minima, reached, bests = [], [], []
    for m in methods:
        t, train = _stack(runs, m, "train_loss")
        _, test = _stack(runs, m, "test_loss")
        _, excess = _stack(runs, m, "test_excess")
        floor_test = float(np.mean(test[:, 0] - excess[:, 0]))
        keep = t > 0
        kw = {"ls": STYLES[m]}
        _band(axes[0], t[keep], train[:, keep] - floor_train, COLORS[m], LABELS[m], **kw)
        _band(axes[1], t[keep], test[:, keep], COLORS[m], LABELS[m], **kw)
        reached.append(
            f"{LABELS[m]} {np.nanmean([time_to_threshold(runs, m, x, TRAIN_THRESHOLD) for x in runs.seeds(m)]):.3g}"
        )
        best = test.min(axis=1)
        bests.append(float(best.max()))
        at = t[test.argmin(axis=1)]
        axes[1].plot(at, best, "o", color=COLORS[m], ms=4, mec="k", mew=0.4)
        minima.append(f"{LABELS[m]} {np.mean(best):.3f}")
    threshold = TRAIN_THRESHOLD * float(
        np.mean(_stack(runs, methods[0], "train_loss")[1][:, 0]) - floor_train
    )
    axes[0].axhline(
        threshold, color="k", lw=0.7, ls=":", label=rf"{TRAIN_THRESHOLD:g} $\times$ initial excess"
    )
    # Three decades under the threshold: below that the excess is rounding, not learning.
    axes[0].set_ylim(bottom=threshold * 1e-3)
    axes[0].set(
        xscale="log",
        yscale="log",
        xlabel=TIME,
        ylabel=r"$\frac{1}{2P}\|Y - WX\|^2 - \min$",
        title="training loss above its minimum",
    )
    axes[1].axhline(floor_test, color="k", lw=0.7, ls="--", label=r"noise floor $N\sigma_z^2/2$")
    # From the noise floor to just above the worst minimum: the gaps between the rules' minima
    # (not the loss at initialization) are what this panel compares.
    axes[1].set_ylim(0.95 * floor_test, floor_test + 1.5 * (max(bests) - floor_test))
    axes[1].set(
        xscale="log",
        xlabel=TIME,
        ylabel=r"$\frac{1}{2}\|W - W_\mathrm{teacher}\|^2 + N\sigma_z^2/2$",
        title="population test loss (dots: minimum of each seed)",
    )
    legend_below(fig, ncol=4)
    caption = (
        "Training and test loss against time (log time axis; lines: mean over seeds, bands: "
        "min–max). "
        "The training loss is shown above its minimum (1/2P)‖Y − Σ̂X‖²; the test loss is the "
        "population loss for fresh whitened inputs. Paper: curvature correction "
        "reaches low training loss sooner but NGD and NGD-d, fitting the noise modes of Σ̂ as fast "
        "as the signal, generalize worse; [measured] the square-root rules generalize like "
        f"GD. Here: time to the threshold (dotted, {TRAIN_THRESHOLD:g} × the initial excess [R]), "
        f"mean over seeds: {'; '.join(reached)}; minimum test loss: {'; '.join(minima)}. "
        f"{_problem_text(runs.frame)} {_settings_text(runs, methods)}. Scale: {scale}. "
        f"{COMMON_R}"
    )
    return fig, caption


# --------------------------------------------------------------------------- 3: paths


def fig_paths(runs: Runs, modes: pd.DataFrame | None, scale: str) -> tuple[plt.Figure, str]:
    methods = _present(runs)
    has_modes = modes is not None and len(modes) and (modes["variant"] == "flow").any()
    norm_rows = math.ceil((len(methods) + 1) / MAX_COLS)
    height = ROW_HEIGHT * norm_rows + 0.4
    fig = plt.figure(figsize=(WIDTH, height + (ROW_HEIGHT + 0.9 if has_modes else 0)))
    top, bottom = (
        fig.subfigures(2, 1, height_ratios=[ROW_HEIGHT + 0.9, height]) if has_modes else (None, fig)
    )
    caption_modes = ""
    if has_modes:
        flow = modes[(modes["variant"] == "flow")]
        seed = int(flow["seed"].min())
        flow = flow[flow["seed"] == seed]
        n_modes = int(flow["mode"].max())
        axes = top.subplots(1, n_modes, squeeze=False)[0]  # ≤ 3 modes: the teacher's rank
        for k, ax in enumerate(axes, start=1):
            rows = flow[flow["mode"] == k]
            for m in methods:
                one = rows[rows["method"] == m].pivot(index="step", columns="layer", values="value")
                if one.empty:
                    continue
                layers = [c for c in one.columns if c > 0]
                balanced = one[0] ** (1.0 / len(layers))
                for layer in layers:
                    ax.plot(
                        one[0],
                        one[layer] / balanced,
                        color=COLORS[m],
                        ls=STYLES[m],
                        lw=2.4 if m == "gd" else 1.3,
                        alpha=0.9,
                        label=LABELS[m] if layer == 1 else None,
                    )
            target = float(
                modes[(modes["quantity"] == "target_sv") & (modes["seed"] == seed)]
                .set_index("mode")["value"]
                .loc[k]
            )
            ax.axvline(target, color="k", lw=0.6, ls=":")
            ax.axhline(1.0, color="k", lw=0.6)
            ax.set(
                xscale="log",
                xlabel=rf"map value $s_{k}$ (dotted: $\hat s_{k} = {target:.3g}$)",
                ylabel=r"$\sigma_i / s^{1/d}$ (1 = balanced)" if k == 1 else None,
                title=f"mode {k}: one curve per layer",
            )
        legend_below(top, ncol=5)
        top.suptitle(
            "aligned network, gradient flow: each mode's layer values against its map value"
        )
        spread = modes.attrs.get("provenance", {}).get("aggregate_of", {})
        spec = next(iter(spread.values()), {}).get("config", {})
        caption_modes = (
            "Top: the aligned network (every layer diagonal in a chain of bases aligned with Σ̂), "
            f"seed {seed}, whose modes evolve independently, started unbalanced within each mode "
            f"(σ_i(0) = σ₀e^{{{spec.get('log_spread', 0.3):g}g}}, g ~ N(0, 1)); the "
            "flow of each rule is recorded where the mode's map value s reaches fixed levels, and "
            "each layer value is shown relative to the balanced value s^{1/d}. GD, "
            "NGD and sqrt-NGD lie on one curve per layer (the generalized conservation law "
            "σ_i² − σ_j² = const); NGD-d (σ_i/σ_j = const at ε = 0) and sqrt-NGD-d (σ_i − σ_j) "
            "leave it. [corrected] The same path holds per mode; the joint paths of "
            "the random-init network differ (claims joint_paths_differ, same_path_per_mode_*). "
        )
    # One panel per rule and one cell for the legend of the layers.
    cells = list(bottom.subplots(norm_rows, MAX_COLS, sharey=True, squeeze=False).ravel())
    for cell in cells[len(methods) + 1 :]:
        cell.remove()
    axes, key_cell = cells[: len(methods)], cells[len(methods)]
    seed = runs.seeds(methods[0])[0]
    for ax, m in zip(axes, methods, strict=True):
        norms = runs.block(m, seed, "layer_norm")
        t = norms.index.to_numpy()
        keep = t > 0
        for i in norms.columns:
            ax.plot(
                t[keep],
                norms[i].to_numpy()[keep],
                color=f"C{i - 1}",
                lw=1.4,
                label=rf"$\|W_{i}\|_F$",
            )
        ratio = float(norms.iloc[-1].max() / norms.iloc[-1].min())
        ax.set(xscale="log", xlabel=TIME, title=f"{LABELS[m]}: end max/min = {ratio:.3f}")
    for ax in axes[::MAX_COLS]:
        ax.set_ylabel(r"layer norm $\|W_i\|_F$")
    key_cell.axis("off")
    key_cell.legend(*axes[0].get_legend_handles_labels(), loc="center", frameon=False)
    bottom.suptitle(f"random init, seed {seed}: layer norms over time")
    caption = (
        f"Parameter paths. {caption_modes}Bottom: Frobenius norms of the four layers of the "
        f"random-init network (seed {seed}); panel titles give max_i/min_i ‖W_i‖_F at the end "
        "(the paper: NGD keeps GD's balance, the block-diagonal NGD-d destroys it; the ratio law "
        f"of NGD-d freezes the random initial imbalance in). {_problem_text(runs.frame)} {_settings_text(runs, methods)}. "
        f"Scale: {scale}. {COMMON_R}"
    )
    return fig, caption


# --------------------------------------------------------------------------- 4: speed


def fig_speed(runs: Runs, scale: str) -> tuple[plt.Figure, str]:
    methods = _present(runs)
    fig, axes = panels(2, row_height=2.6)
    seed = runs.seeds(methods[0])[0]
    clip_notes = []
    for m in methods + [c for c in ("ngd_unclipped", "ngd_d_unclipped") if runs.has(c)]:
        base = m.replace("_unclipped", "")
        unclipped = m != base
        color = COLORS[base]
        speed = runs.series(m, seed, "speed")
        err = runs.series(m, seed, "map_error").loc[speed.index]
        t = speed.index.to_numpy() + runs.settings[m]["eta"]  # step k spans [ηk, η(k+1)]
        label = f"{LABELS[base]}{' unclipped' if unclipped else ''}"
        kw = {"color": color, "lw": 1.0 if unclipped else 1.5, "alpha": 0.55 if unclipped else 1}
        kw["ls"] = ":" if unclipped else STYLES[base]
        axes[0].plot(t, speed.to_numpy(), label=label, **kw)
        axes[1].plot(t, (speed / err).to_numpy(), label=label, **kw)
        if not unclipped:
            taken = runs.series(m, seed, "step_norm") / runs.settings[m]["eta"]
            clipped = runs.series(m, seed, "clipped") > 0
            if clipped.any():
                tc = taken[clipped]
                axes[0].plot(
                    tc.index.to_numpy() + runs.settings[m]["eta"],
                    tc.to_numpy(),
                    "o",
                    color=color,
                    ms=3,
                    mec="k",
                    mew=0.3,
                )
                n = int(runs.last(m, seed, "clipped_count"))
                clip_notes.append(
                    f"{LABELS[m]} {n} steps, until t = {clip_off_time(runs, m, seed):.2f}"
                )
    caps = sorted(
        {
            runs.settings[m]["clip"] / runs.settings[m]["eta"]
            for m in methods
            if math.isfinite(runs.settings[m]["clip"])
        }
    )
    for cap in caps:
        axes[0].axhline(cap, color="red", lw=0.8, ls="--", label=rf"cap$/\eta$ = {cap:g}")
    axes[0].set(
        xscale="log",
        yscale="log",
        xlabel=r"$t = \eta(k + 1)$",
        ylabel=r"speed $\|v\| = \|\Delta\theta\|/\eta$ (unclipped rule)",
        title="update speed (dots: steps taken when clipped)",
    )
    depth = runs.block(methods[0], seed, "layer_norm").shape[1]
    bounds = {
        1.0: "1 (sqrt-NGD)",
        math.sqrt(depth): rf"$\sqrt{{d}}$ = {math.sqrt(depth):g} (sqrt-NGD-d)",
    }
    if runs.has("ngd"):
        bound = huh.speed_bound(1.0, runs.settings["ngd"]["eps"])
        bounds[bound] = rf"$1/(2\sqrt{{\varepsilon}})$ = {bound:.3g} (NGD)"
    for value in bounds:
        axes[1].axhline(value, color="k", lw=0.7, ls=":")
    axes[1].set(
        xscale="log",
        yscale="log",
        xlabel=r"$t = \eta(k + 1)$",
        ylabel=r"$\|v\| / \|e\|$",
        title="relative to the map error (dotted: bounds)",
    )
    _name_on_right(axes[1], bounds)
    legend_below(fig, ncol=4)
    caption = (
        f"Update speed, seed {seed}. Left: the speed ‖v‖ of each rule (Δθ = −ηv before clipping); "
        "dots mark clipped steps at the speed actually taken (cap/η, red dashed). NGD and NGD-d "
        "spike to hundreds while the singular values are small, the square-root rules stay of "
        "order ‖e‖. Dotted, light: NGD and NGD-d without clipping; their first steps are several "
        "times ‖θ₀‖ long. [corrected] The spike's height is set by ε "
        "(‖v‖ ≤ ‖e‖/(2√ε) for NGD, per block for NGD-d); unclipped Euler does not diverge but distorts the path, so "
        "clipping protects the conservation law rather than preventing divergence. Right: ‖v‖/‖e‖ "
        "with the exact bounds 1 (sqrt-NGD), √d (sqrt-NGD-d) and 1/(2√ε) (NGD). Clipped: "
        f"{'; '.join(clip_notes) or 'none'}. {_problem_text(runs.frame)} "
        f"{_settings_text(runs, methods + ['ngd_unclipped', 'ngd_d_unclipped'])}. Scale: {scale}. "
        f"{COMMON_R}"
    )
    return fig, caption


def _name_on_right(ax: plt.Axes, names: dict[float, str]) -> None:
    """Name horizontal lines of ``ax`` just right of its frame, at their heights (beside the
    lines, not over the curves). The lowest name sits under its line and the others above, so
    two close lines (1 and √d = 2) keep their names apart."""
    for i, value in enumerate(sorted(names)):
        ax.annotate(
            names[value],
            xy=(1.0, value),
            xycoords=("axes fraction", "data"),
            xytext=(3, 0),
            textcoords="offset points",
            va="top" if i == 0 else "bottom",
            annotation_clip=False,
        )


# --------------------------------------------------------------------------- 5: α sweep


def fig_alpha_sweep(runs: Runs, scale: str) -> tuple[plt.Figure, str] | None:
    sweep = [r for r in runs.settings if r.startswith("sweep_")]
    if not sweep or not runs.has("gd"):
        return None
    main = {
        ("full", 0.0): "gd",
        ("block", 0.0): "gd",
        ("full", 0.5): "sqrt_ngd",
        ("full", 1.0): "ngd",
        ("block", 0.5): "sqrt_ngd_d",
        ("block", 1.0): "ngd_d",
    }
    rows = []
    for run in sweep + [r for r in main.values() if runs.has(r)]:
        s = runs.settings[run]
        structures = ["full", "block"] if run == "gd" else [s["structure"]]
        for seed in runs.common_seeds(run, "gd"):
            gd_best = float(runs.series("gd", seed, "test_excess").min())
            t_thr = time_to_threshold(runs, run, seed, TRAIN_THRESHOLD)
            best = float(runs.series(run, seed, "test_excess").min())
            for structure in structures:
                rows.append(
                    {
                        "run": run,
                        "structure": structure,
                        "alpha": s["alpha"],
                        "seed": seed,
                        "t_threshold": t_thr,
                        "test_ratio": best / gd_best,
                        "main": not run.startswith("sweep_"),
                    }
                )
    table = pd.DataFrame(rows)
    fig, axes = panels(2, row_height=2.6)
    for structure, color in (("full", COLORS["ngd"]), ("block", COLORS["ngd_d"])):
        sub = table[table["structure"] == structure]
        stats = sub.groupby("alpha").agg(
            t_mean=("t_threshold", "mean"),
            t_min=("t_threshold", "min"),
            t_max=("t_threshold", "max"),
            r_mean=("test_ratio", "mean"),
            r_min=("test_ratio", "min"),
            r_max=("test_ratio", "max"),
        )
        a = stats.index.to_numpy()
        for ax, col in ((axes[0], "t"), (axes[1], "r")):
            ax.plot(a, stats[f"{col}_mean"], "-", color=color, label=f"{STRUCTURE[structure]} G")
            ax.fill_between(a, stats[f"{col}_min"], stats[f"{col}_max"], color=color, alpha=0.2)
            for is_main, marker in ((True, "s"), (False, "o")):
                pts = (
                    sub[sub["main"] == is_main]
                    .groupby("alpha")["t_threshold" if col == "t" else "test_ratio"]
                    .mean()
                )
                ax.plot(pts.index, pts.to_numpy(), marker, color=color, mec="k", mew=0.4, ms=5)
    power = r"power $\alpha$ of $(G + \varepsilon I)^{-\alpha}$"
    axes[0].set(
        yscale="log",
        xlabel=power,
        ylabel=rf"time to training excess $\leq$ {TRAIN_THRESHOLD:g} $\times$ initial",
        title="speed of learning",
    )
    axes[1].axhline(1.0, color="k", lw=0.7, ls=":")
    axes[1].set(
        xlabel=power,
        ylabel=r"$\mathrm{min}_t$ test excess / GD's",
        title="generalization (best test loss)",
    )
    from matplotlib.lines import Line2D

    markers = [
        Line2D([], [], marker="s", ls="", color="0.5", mec="k", label="paper's rules (main runs)"),
        Line2D([], [], marker="o", ls="", color="0.5", mec="k", label="sweep points"),
    ]
    legend_below(fig, {**handles(axes[0]), **{m.get_label(): m for m in markers}}, ncol=4)
    summary = (
        table.groupby(["structure", "alpha"])[["t_threshold", "test_ratio"]].mean().reset_index()
    )
    shown = "; ".join(
        f"{r.structure} α = {r.alpha:g}: t = {r.t_threshold:.3g}, ratio {r.test_ratio:.3g}"
        for r in summary.itertuples()
    )
    sweep_settings = runs.settings[sweep[0]]
    clip = sweep_settings["clip"]
    caption = (
        "Beyond the paper: the fractional power α between GD (α = 0), the square-root rules "
        "(α = ½) and NGD (α = 1), for the full Gauss–Newton matrix and its diagonal blocks (lines: "
        "mean over seeds, bands: min–max; squares: the paper's rules from the main runs, with "
        f"their own ε and cap; circles: sweep points with ε = {sweep_settings['eps']:g} and "
        f"{'no cap' if not math.isfinite(clip) else f'cap {clip:g}'} [R], the cap only triggering "
        "for α > ½). Left: time until the training excess ½‖W − Σ̂‖² falls to "
        f"{TRAIN_THRESHOLD:g} of its initial value [R threshold]. Right: best test loss along "
        "the run (½‖W − W_teacher‖², without the noise floor) relative to GD's, per seed. Means: "
        f"{shown}. {_problem_text(runs.frame)} Sweep points: {_settings_text(runs, sweep)}. Scale: {scale}. "
        f"{COMMON_R}"
    )
    return fig, caption


def make_figures(
    tables: dict[str, pd.DataFrame], outdir: str | Path, scale: str
) -> list[FigureRecord]:
    """Every figure from the tables ``huh2020.train`` and ``huh2020.modes``."""
    runs = Runs(tables["huh2020.train"])
    modes = tables.get("huh2020.modes")
    setup_style()
    builders = [
        (
            "map_modes",
            "Map singular values with the mode theory",
            lambda: fig_map_modes(runs, scale),
        ),
        ("losses", "Training and test loss", lambda: fig_losses(runs, scale)),
        (
            "paths",
            "Parameter paths: per mode and layer norms",
            lambda: fig_paths(runs, modes, scale),
        ),
        ("speed", "Update speed and clipping", lambda: fig_speed(runs, scale)),
        (
            "alpha_sweep",
            "Fractional power α: speed vs generalization",
            lambda: fig_alpha_sweep(runs, scale),
        ),
    ]
    return render_figures(outdir, "huh2020", TITLE, builders, stamp=stamp_text(tables, scale))
