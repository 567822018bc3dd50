"""Shared figure conventions: seaborn style, atomic PNG + PDF output, and the caption manifest.

Each paper's plot job writes its figures and one ``figures.json`` beside them listing every
figure with its caption; the HTML report reads captions from there, so the text a reader sees
is written by the same code that drew the figure, from the same data.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass
from math import ceil
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # no display on workers and CI

import matplotlib.pyplot as plt
import pandas as pd
import seaborn as sns
from matplotlib.artist import Artist
from matplotlib.axes import Axes
from matplotlib.legend import Legend

from curvlab.io import atomic_path, write_text_atomic

MANIFEST = "figures.json"


@dataclass(frozen=True)
class FigureRecord:
    """One figure of the manifest: ``caption`` says what to see (a few lines), ``protocol`` how
    it was made (scale, data, settings; the report shows it folded)."""

    id: str
    title: str
    caption: str
    png: str
    pdf: str
    protocol: str = ""


#: The report's column width (in): figures are drawn at their printed size, so that the font
#: sizes below are the sizes on the page.
WIDTH = 7.0
#: Height of one row of panels (in).
ROW_HEIGHT = 2.4
#: More panels than this in a row would be too narrow to read at :data:`WIDTH`.
MAX_COLS = 3


def setup_style() -> None:
    sns.set_theme(context="paper", style="whitegrid", palette="colorblind")
    plt.rcParams.update(
        {
            "figure.dpi": 110,
            "savefig.dpi": 200,
            "savefig.bbox": "tight",
            # Constrained layout makes room for labels and for legends placed outside.
            "figure.constrained_layout.use": True,
            "font.size": 8,
            "axes.titlesize": 8.5,
            "axes.labelsize": 8,
            "figure.titlesize": 9,
            "xtick.labelsize": 7,
            "ytick.labelsize": 7,
            "legend.fontsize": 7,
            "legend.title_fontsize": 7,
        }
    )


def panels(
    n: int,
    *,
    ncols: int | None = None,
    width: float = WIDTH,
    row_height: float = ROW_HEIGHT,
    **subplots: object,
) -> tuple[plt.Figure, list[Axes]]:
    """A figure of ``n`` panels, at most :data:`MAX_COLS` per row, row by row; the cells a
    last, shorter row leaves empty are removed."""
    ncols = min(n, MAX_COLS) if ncols is None else ncols
    nrows = ceil(n / ncols)
    fig, grid = plt.subplots(
        nrows, ncols, figsize=(width, row_height * nrows), squeeze=False, **subplots
    )
    cells = list(grid.ravel())
    for ax in cells[n:]:
        ax.remove()
    return fig, cells[:n]


def handles(*axes: Axes) -> dict[str, Artist]:
    """The labelled artists of ``axes``, one per label (the first), in drawing order."""
    found: dict[str, Artist] = {}
    for ax in axes:
        for handle, label in zip(*ax.get_legend_handles_labels(), strict=True):
            found.setdefault(label, handle)
    return found


def legend_below(
    fig: plt.Figure, entries: dict[str, Artist] | None = None, ncol: int = 3, **kw: object
) -> Legend:
    """One legend under the panels, outside every axes, so it covers no data; ``entries``
    defaults to the labelled artists of every axes."""
    entries = handles(*fig.get_axes()) if entries is None else entries
    return fig.legend(
        list(entries.values()), list(entries), loc="outside lower center", ncol=ncol, **kw
    )


def legend_right(ax: Axes, **kw: object) -> Legend:
    """The legend of ``ax`` beside it, outside the data area."""
    return ax.legend(loc="upper left", bbox_to_anchor=(1.02, 1.0), borderaxespad=0.0, **kw)


def save_figure(fig: plt.Figure, outdir: str | os.PathLike[str], fig_id: str) -> tuple[str, str]:
    """Write ``<outdir>/<fig_id>.png`` and ``.pdf`` atomically; return their file names."""
    outdir = Path(outdir)
    names = []
    for ext in ("png", "pdf"):
        with atomic_path(outdir / f"{fig_id}.{ext}") as tmp:
            fig.savefig(tmp, format=ext, metadata={"Title": fig_id} if ext == "pdf" else None)
        names.append(f"{fig_id}.{ext}")
    plt.close(fig)
    return names[0], names[1]


def write_manifest(
    outdir: str | os.PathLike[str], paper: str, title: str, figures: list[FigureRecord]
) -> None:
    """figures.json for the HTML report and one ``<id>.rst`` caption per figure for
    ``snakemake --report``."""
    payload = {"paper": paper, "title": title, "figures": [asdict(f) for f in figures]}
    write_text_atomic(Path(outdir) / MANIFEST, json.dumps(payload, indent=2, ensure_ascii=False))
    for fig in figures:
        text = f"{fig.caption} {fig.protocol}".strip()
        write_text_atomic(Path(outdir) / f"{fig.id}.rst", rst_caption(fig.title, text))


#: A caption: one string, or (what to see, the protocol behind it).
Caption = str | tuple[str, str]
#: A figure builder: () → (figure, caption), or None when its data were not produced.
Builder = Callable[[], tuple[plt.Figure, Caption] | None]


def stamp_text(tables: Mapping[str, pd.DataFrame | None], scale: str) -> str:
    """What every PNG carries in its corner: the code that drew it, the scale and the data sets
    (read from the runs' provenance; "synthetic" where no run names one)."""
    from curvlab.io import git_state

    commit, dirty = git_state()
    code = f"curvlab {commit[:8]}{'+' if dirty else ''}" if commit else "curvlab"
    names = set()
    for table in tables.values():
        runs = {} if table is None else table.attrs.get("provenance", {}).get("aggregate_of", {})
        for run in runs.values():
            dataset = (run.get("config") or {}).get("dataset")
            if isinstance(dataset, str):
                names.add(dataset)
    data = ", ".join(sorted(names)) or "synthetic"
    return f"{code} · {scale} scale · data: {data}"


def render_figures(
    outdir: str | os.PathLike[str],
    paper: str,
    title: str,
    builders: Sequence[tuple[str, str, Builder]],
    stamp: str = "",
) -> list[FigureRecord]:
    """Build, save (PNG + PDF) and list every figure of a paper; skipped builders leave none.
    ``stamp`` (:func:`stamp_text`) is written above each figure's upper right corner."""
    records = []
    for fig_id, fig_title, build in builders:
        made = build()
        if made is None:
            continue
        fig, caption = made
        if stamp:
            # Just above the figure (legends sit at the bottom): the tight bounding box takes
            # it in, and it covers nothing.
            fig.text(1.0, 1.0, stamp, ha="right", va="bottom", fontsize=7, color="0.45")
        summary, protocol = caption if isinstance(caption, tuple) else (caption, "")
        png, pdf = save_figure(fig, outdir, fig_id)
        records.append(FigureRecord(fig_id, fig_title, summary, png, pdf, protocol))
    write_manifest(outdir, paper, title, records)
    return records


def rst_caption(title: str, caption: str) -> str:
    """The caption as one reStructuredText paragraph, safe from rst markup and Jinja."""
    escaped = re.sub(r"([\\*_`|<>\[\]])", r"\\\1", caption)
    return (
        "{% raw %}\n**"
        + re.sub(r"([\\*`])", r"\\\1", title)
        + ".** "
        + escaped
        + "\n{% endraw %}\n"
    )


def read_manifest(path: str | os.PathLike[str]) -> dict:
    with open(path, encoding="utf-8") as fh:
        return json.load(fh)
