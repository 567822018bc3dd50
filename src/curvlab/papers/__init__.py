"""The papers the workflow reproduces, each a plug-in module ``curvlab.papers.<key>``.

A plug-in defines ``PAPER = Paper(...)``: its experiment tasks (what ``curvlab job`` runs), its
table schemas, its job planning ``jobs(config) -> list[Job]`` and figure ids
``figure_ids(config)``, and where its figure and claims functions live —
``make_figures(tables, outdir, scale) -> list[FigureRecord]`` and
``evaluate(tables, scale) -> list[Claim]``, both given the paper's aggregated tables keyed by
schema name. Plug-ins import no torch, and the functions they name are imported only when
used, so the command line and the workflow's parse step stay light. A paper whose plug-in does
not exist yet is simply not available.
"""

from __future__ import annotations

import importlib
import importlib.util
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from curvlab.io import TableSchema
    from curvlab.sweeps import Job

TITLES = {
    "du2018": "Du, Hu & Lee (NeurIPS 2018): layers are automatically balanced",
    "huh2020": "Huh (ICML 2020): curvature-corrected learning dynamics",
    "jacot2020": "Jacot, Gabriel & Hongler (ICLR 2020): the asymptotic spectrum of the Hessian",
    "ghorbani2019": "Ghorbani, Krishnan & Xiao (ICML 2019): Hessian eigenvalue density",
    "mori2022": "Mori, Ziyin, Liu & Ueda (ICML 2022): power-law escape rate of SGD",
}


def load(target: str) -> Any:
    """Import ``"package.module:attribute"``."""
    module, _, name = target.partition(":")
    return getattr(importlib.import_module(module), name)


@dataclass(frozen=True)
class Task:
    """One kind of experiment job: its spec dataclass, pure run function and output schema,
    and ``memory(spec) -> bytes``, a rough peak-memory estimate checked when the workflow is
    planned (:mod:`curvlab.footprint`)."""

    spec: str
    run: str
    schema: str
    uses_torch: bool
    memory: Callable[[dict[str, Any]], float] | None = None


@dataclass(frozen=True)
class Paper:
    key: str
    figures: str
    claims: str
    tasks: dict[str, Task] = field(default_factory=dict)
    schemas: tuple[TableSchema, ...] = ()
    jobs: Callable[[dict[str, Any]], list[Job]] = lambda config: []
    figure_ids: Callable[[dict[str, Any]], list[str]] = lambda config: []

    @property
    def title(self) -> str:
        return TITLES[self.key]


def check_image_size(key: str, dataset: str, size: int | None) -> None:
    """Refuse, when the workflow is planned, an ``image_size`` the images cannot be
    block-averaged to (it must divide the native side: 28 for MNIST, 32 for CIFAR-10)."""
    if size is None:
        return
    from curvlab.data.registry import get

    side = get(dataset).image_shape[-1]
    if side % size:
        from curvlab.config import ConfigError

        allowed = ", ".join(str(d) for d in range(1, side + 1) if side % d == 0)
        raise ConfigError(
            f"{key}: {dataset} images are {side}×{side} and are block-averaged, so image_size "
            f"must divide {side}; got {size}. Allowed: {allowed} or null (native). Fix this key "
            "in config.yaml or in the file given with --configfile."
        )


def _discover() -> dict[str, Paper]:
    found = {}
    for key in TITLES:
        name = f"{__name__}.{key}"
        if importlib.util.find_spec(name) is not None:
            found[key] = importlib.import_module(name).PAPER
    return found


PAPERS: dict[str, Paper] = _discover()
TASKS: dict[str, Task] = {name: t for p in PAPERS.values() for name, t in p.tasks.items()}


def selected(config: dict[str, Any]) -> list[str]:
    """The papers a run includes: ``config["papers"]`` is ``"all"`` or a list of keys."""
    wanted: Iterable[str] = config.get("papers", "all")
    if wanted == "all":
        return list(PAPERS)
    missing = [key for key in wanted if key not in PAPERS]
    if missing:
        from curvlab.config import ConfigError

        raise ConfigError(
            f"papers: {', '.join(missing)} not implemented yet; available: {', '.join(PAPERS)}"
        )
    return [key for key in PAPERS if key in wanted]
