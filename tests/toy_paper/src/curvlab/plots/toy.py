"""Toy (2026): one figure, the sample means against their expected spread."""

from __future__ import annotations

import matplotlib.pyplot as plt
from curvlab.papers.toy import TITLE

from curvlab.plots.common import FigureRecord, render_figures, setup_style


def make_figures(tables, outdir, scale) -> list[FigureRecord]:
    setup_style()
    draws = tables["toy.draws"]

    def means():
        fig, ax = plt.subplots(figsize=(4, 3))
        ax.plot(draws["seed"], draws["value"], "o", label="sample mean")
        ax.axhline(0.0, color="k", lw=0.8, label="population mean")
        ax.set_xlabel("seed")
        ax.set_ylabel("mean of the draws")
        ax.legend()
        return fig, f"Sample means per seed ({scale} scale)."

    return render_figures(outdir, "toy", TITLE, [("means", "Sample means", means)])
