"""What a paper plug-in is made of, and the helpers plug-ins share to plan their jobs.

A paper with key ``<key>`` (e.g. ``huh2020``) is a set of files found by name, nothing to
register:

- ``curvlab/papers/<key>.py``, light (no torch), exporting
  ``TITLE`` (the paper as the report names it), ``TABLES`` (its :class:`~curvlab.io.TableSchema`
  objects), ``TASKS`` (``{task name: Task}``, what ``curvlab job`` runs),
  ``jobs(config) -> list[Job]`` (one job per result file) and ``figures(config) -> list[str]``
  (the figure ids its plot job writes);
- ``curvlab/experiments/<key>.py``: the spec dataclasses and run functions its tasks name;
- ``curvlab/plots/<key>.py``: ``make_figures(tables, outdir, scale) -> list[FigureRecord]``;
- ``curvlab/claims/<key>.py``: ``CLAIMS`` (its :class:`~curvlab.claims.ClaimSet`) and
  ``evaluate(tables, scale) -> list[Claim]``;
- ``workflow/rules/<key>.smk``, ``workflow/schemas/<key>.schema.yaml`` (its config section and
  defaults) and ``docs/papers/<key>.md`` (what each claim means).

:mod:`curvlab.registry` discovers the first module and reaches the others by name. The sweep
(paper × experiment × hyperparameters × seed) is expanded in plain Python by ``jobs``, so that
the Snakemake rules stay thin and the planning is unit-tested. The hyperparameters a user
sweeps (initialization, step size, number of steps, seed) are encoded in the result path,
edge-of-stability style; everything else a job depends on travels in its spec, which the rule
passes as a ``params`` entry, so Snakemake's params trigger reruns exactly the jobs whose spec
changed.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from curvlab.io import TableSchema

RESULTS = "results"


def load(target: str) -> Any:
    """Import ``"package.module:attribute"`` (tasks name their heavy code this way, so that
    planning a workflow never imports torch)."""
    module, _, name = target.partition(":")
    return getattr(importlib.import_module(module), name)


@dataclass(frozen=True)
class Task:
    """One kind of experiment job: its spec dataclass and pure run function (``"module:name"``,
    imported when the job runs), its output table, and ``memory(spec) -> bytes``, a rough
    peak-memory estimate checked when the workflow is planned (:mod:`curvlab.footprint`)."""

    spec: str
    run: str
    table: TableSchema
    uses_torch: bool
    memory: Callable[[dict[str, Any]], float] | None = None


@dataclass(frozen=True)
class Job:
    """One result file: the task that writes it and the spec it is run with."""

    task: str
    path: str
    spec: dict[str, Any]


def num(value: float) -> str:
    """Canonical text of a hyperparameter in a path: repr of the float (0.2, 1e-05)."""
    return repr(float(value))


def seed_chunks(seeds: list[int], size: int) -> list[list[int]]:
    """Seeds in config order, ``size`` per job (cheap runs are batched: one job, many seeds)."""
    return [list(seeds[i : i + size]) for i in range(0, len(seeds), size)]


def seeds_text(seeds: list[int]) -> str:
    return "-".join(str(s) for s in seeds)


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
