"""The papers the workflow reproduces, and where each one's pieces live.

A paper plugs in with one :class:`Paper` entry: its experiment tasks (what ``curvlab job``
runs), its figure function ``make_figures(tables, outdir, scale) -> list[FigureRecord]`` and its
claims function ``evaluate(tables, scale) -> list[Claim]``, both taking the paper's aggregated
tables keyed by schema name. Everything is named by ``"module:attribute"`` and imported only
when used, so the command line and the workflow's parse step stay light.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from typing import Any

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
    """One kind of experiment job: its spec dataclass, pure run function and output schema."""

    spec: str
    run: str
    schema: str
    uses_torch: bool


@dataclass(frozen=True)
class Paper:
    key: str
    figures: str
    claims: str
    tasks: dict[str, Task] = field(default_factory=dict)

    @property
    def title(self) -> str:
        return TITLES[self.key]


PAPERS: dict[str, Paper] = {
    "du2018": Paper(
        key="du2018",
        figures="curvlab.plots.du2018:make_figures",
        claims="curvlab.claims.du2018:evaluate",
        tasks={
            "du2018-network": Task(
                spec="curvlab.experiments.du2018:NetworkSpec",
                run="curvlab.experiments.du2018:run_network",
                schema="curvlab.tables:DU2018_NETWORK",
                uses_torch=True,
            ),
            "du2018-factorization": Task(
                spec="curvlab.experiments.du2018:FactorizationSpec",
                run="curvlab.experiments.du2018:run_factorization",
                schema="curvlab.tables:DU2018_FACTORIZATION",
                uses_torch=False,
            ),
        },
    ),
    "huh2020": Paper(
        key="huh2020",
        figures="curvlab.plots.huh2020:make_figures",
        claims="curvlab.claims.huh2020:evaluate",
        tasks={
            "huh2020-train": Task(
                spec="curvlab.experiments.huh2020:TrainSpec",
                run="curvlab.experiments.huh2020:run_train",
                schema="curvlab.tables:HUH2020_TRAIN",
                uses_torch=False,
            ),
            "huh2020-modes": Task(
                spec="curvlab.experiments.huh2020:ModesSpec",
                run="curvlab.experiments.huh2020:run_modes",
                schema="curvlab.tables:HUH2020_MODES",
                uses_torch=False,
            ),
        },
    ),
}

TASKS: dict[str, Task] = {name: t for p in PAPERS.values() for name, t in p.tasks.items()}
