"""Print-size and legibility checks for one matplotlib figure (issue 19).

A figure passes when it fits the report's column (≤ 7 in, ≤ 3 panels per row), every visible
text is 7–9 pt, no text shows raw TeX (``_`` or ``^`` outside ``$…$``) or a combining accent,
no legend or text box inside an axes covers plotted data, and the titles and axis labels of
different panels do not run into each other. Used by tests/test_figures_check.py on tiny tables, and
handy on real tables: ``problems(fig)`` lists what is wrong.
"""

from __future__ import annotations

import re
import unicodedata
from collections import Counter

import numpy as np
from matplotlib.axes import Axes
from matplotlib.collections import PathCollection
from matplotlib.figure import Figure
from matplotlib.text import Text
from matplotlib.transforms import Bbox

MAX_WIDTH_IN = 7.0
MAX_PANELS_PER_ROW = 3
FONT_PT = (7.0, 9.0)
#: ``$…$`` spans (mathtext); ``\$`` is a literal dollar.
MATH = re.compile(r"(?<!\\)\$.*?(?<!\\)\$")


def problems(fig: Figure) -> list[str]:
    """Everything that breaks the print rules, one line each (empty: the figure passes)."""
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    return [
        *_size_problems(fig, renderer),
        *_text_problems(fig),
        *_overlap_problems(fig, renderer),
        *_label_clashes(fig, renderer),
    ]


def _size_problems(fig: Figure, renderer) -> list[str]:
    found = []
    width = fig.get_size_inches()[0]
    # savefig(bbox="tight") grows the image to hold anything drawn outside the canvas.
    tight = fig.get_tightbbox(renderer).width
    if max(width, tight) > MAX_WIDTH_IN + 0.05:
        found.append(f"width {width:.2f} in (tight {tight:.2f} in) > {MAX_WIDTH_IN} in")
    rows = Counter(_row(ax) for ax in _panels(fig))
    for row, count in rows.items():
        if count > MAX_PANELS_PER_ROW:
            found.append(f"{count} panels in one row ({row})")
    return found


def _panels(fig: Figure) -> list[Axes]:
    """Axes that show data: not colorbars, not switched-off (legend-only) axes."""
    return [
        ax
        for ax in fig.get_axes()
        if ax.axison and ax.get_visible() and not hasattr(ax, "_colorbar")
    ]


def _row(ax: Axes) -> tuple:
    """(grid, first row) of a subplot; axes outside a grid are grouped by their top edge."""
    spec = ax.get_subplotspec()
    if spec is None:
        return ("free", round(ax.get_position().y1, 2))
    return (id(spec.get_gridspec()), spec.rowspan.start)


def _texts(fig: Figure) -> list[Text]:
    return [t for t in fig.findobj(Text) if t.get_visible() and t.get_text().strip() and _drawn(t)]


def _drawn(artist) -> bool:
    """False for artists of an axes that is switched off or hidden (they are not drawn)."""
    ax = artist.axes
    return ax is None or (
        ax.get_visible() and (ax.axison or artist in ax.texts or _in_legend(artist, ax))
    )


def _in_legend(artist, ax: Axes) -> bool:
    legend = ax.get_legend()
    return legend is not None and artist in legend.get_texts() + [legend.get_title()]


def _text_problems(fig: Figure) -> list[str]:
    found = []
    for t in _texts(fig):
        size = t.get_fontsize()
        if not FONT_PT[0] <= size <= FONT_PT[1]:
            found.append(f"{size:g} pt text {t.get_text()!r}")
        plain = MATH.sub("", t.get_text())
        if "_" in plain or "^" in plain:
            found.append(f"raw TeX outside $…$ in {t.get_text()!r}")
        # A combining accent merges away in the plot fonts (Θ̂ printed as Θ): use \hat etc.
        if any(unicodedata.combining(c) for c in plain):
            found.append(f"combining accent outside $…$ in {t.get_text()!r}")
    return found


def _overlap_problems(fig: Figure, renderer) -> list[str]:
    """Legends and text boxes that lie inside an axes must cover none of its data."""
    found = []
    for ax in _panels(fig):
        area = ax.get_window_extent(renderer)
        covers = [(legend, "legend") for legend in (ax.get_legend(), *fig.legends) if legend]
        covers += [(t, repr(t.get_text())) for t in ax.texts if t.get_visible() and t.get_text()]
        for artist, name in covers:
            box = artist.get_window_extent(renderer)
            inside = Bbox.intersection(box, area)
            if inside is None or inside.width < 1 or inside.height < 1:
                continue
            hit = _data_in(ax, inside)
            if hit:
                found.append(f"{name} covers {hit} in the axes titled {ax.get_title()!r}")
    return found


def _label_clashes(fig: Figure, renderer) -> list[str]:
    """Titles and axis labels of different panels that run into each other."""
    labels = [
        (ax, t)
        for ax in _panels(fig)
        for t in (ax.title, ax.xaxis.label, ax.yaxis.label)
        if t.get_visible() and t.get_text()
    ]
    found = []
    for i, (ax, t) in enumerate(labels):
        box = t.get_window_extent(renderer)
        for other_ax, other in labels[i + 1 :]:
            if other_ax is not ax and box.overlaps(other.get_window_extent(renderer)):
                found.append(f"{t.get_text()!r} runs into {other.get_text()!r}")
    return found


def _data_in(ax: Axes, box: Bbox) -> str | None:
    """The label of a data artist of ``ax`` with a point or a line segment in ``box``."""
    for line in ax.get_lines():
        if not line.get_visible() or len(line.get_xdata()) == 0:
            continue
        path = line.get_transform().transform_path(line.get_path())
        joined = line.get_linestyle() not in ("None", "none", "", " ")
        if joined and path.intersects_bbox(box, filled=False):
            return f"line {line.get_label()!r}"
        if _points_in(path.vertices, box):
            return f"markers {line.get_label()!r}"
    for coll in ax.collections:
        if isinstance(coll, PathCollection) and coll.get_visible():
            points = coll.get_offset_transform().transform(coll.get_offsets())
            if _points_in(points, box):
                return f"points {coll.get_label()!r}"
    return None


def _points_in(points: np.ndarray, box: Bbox) -> bool:
    points = points[np.all(np.isfinite(points), axis=1)]
    return bool(box.count_contains(points)) if len(points) else False
