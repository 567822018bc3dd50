"""The papers this installation reproduces, discovered from the modules of
:mod:`curvlab.papers` (the plug-in contract is in :mod:`curvlab.plugin`).

Adding a paper adds files; nothing here lists papers. Discovery imports only the light plug-in
modules; a paper's figure and claims modules are imported when they are used.
"""

from __future__ import annotations

import importlib
import os
import pkgutil
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from types import ModuleType
from typing import TYPE_CHECKING, Any

import curvlab.papers

if TYPE_CHECKING:
    from curvlab.io import TableSchema
    from curvlab.plugin import Job, Task

#: What every plug-in module exports (see :mod:`curvlab.plugin`).
CONTRACT = ("TITLE", "TABLES", "TASKS", "jobs", "figures")


class PluginError(RuntimeError):
    """A module in curvlab.papers that does not export the plug-in contract."""


@dataclass(frozen=True)
class Paper:
    """A discovered plug-in: its key and the names its module exports."""

    key: str
    title: str
    tables: tuple[TableSchema, ...]
    tasks: dict[str, Task]
    jobs: Callable[[dict[str, Any]], list[Job]]
    figures: Callable[[dict[str, Any]], list[str]]

    @classmethod
    def from_module(cls, key: str, module: ModuleType) -> Paper:
        missing = [name for name in CONTRACT if not hasattr(module, name)]
        if missing:
            raise PluginError(
                f"{module.__name__} is in curvlab.papers but lacks {', '.join(missing)}; a "
                f"paper plug-in exports {', '.join(CONTRACT)} (see curvlab.plugin)"
            )
        foreign = [name for name in module.TASKS if not name.startswith(f"{key}-")]
        if foreign:
            raise PluginError(f"{module.__name__}: task names must start with '{key}-': {foreign}")
        return cls(
            key=key,
            title=module.TITLE,
            tables=tuple(module.TABLES),
            tasks=dict(module.TASKS),
            jobs=module.jobs,
            figures=module.figures,
        )

    def aggregated(self, outdir: str | os.PathLike[str]) -> dict[str, str]:
        """Where the paper's tables are aggregated: ``{short name: <outdir>/<short name>.parquet}``
        (what ``curvlab aggregate`` writes and the workflow's aggregate rule declares)."""
        return {t.short_name: f"{outdir}/{t.short_name}.parquet" for t in self.tables}

    def make_figures(self, tables: dict[str, Any], outdir: Any, scale: str) -> Any:
        """Draw the paper's figures (``curvlab.plots.<key>.make_figures``)."""
        module = importlib.import_module(f"curvlab.plots.{self.key}")
        return module.make_figures(tables, outdir, scale)

    def claims_module(self) -> ModuleType:
        """``curvlab.claims.<key>``: its ``CLAIMS`` and ``evaluate(tables, scale)``."""
        return importlib.import_module(f"curvlab.claims.{self.key}")


def discover(package: ModuleType = curvlab.papers) -> dict[str, Paper]:
    """Every public module of ``package``, as a :class:`Paper`, sorted by key."""
    found = {}
    for info in sorted(pkgutil.iter_modules(package.__path__), key=lambda m: m.name):
        if info.name.startswith("_") or info.ispkg:
            continue
        module = importlib.import_module(f"{package.__name__}.{info.name}")
        found[info.name] = Paper.from_module(info.name, module)
    return found


PAPERS: dict[str, Paper] = discover()
TASKS: dict[str, Task] = {name: t for p in PAPERS.values() for name, t in p.tasks.items()}
TITLES: dict[str, str] = {key: p.title for key, p in PAPERS.items()}


def table(name: str) -> TableSchema:
    """The table schema a plug-in declares under ``name`` (KeyError if none)."""
    for paper in PAPERS.values():
        for schema in paper.tables:
            if schema.name == name:
                return schema
    raise KeyError(name)


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


def all_jobs(config: dict[str, Any]) -> dict[str, Job]:
    """Every experiment job of the selected papers, keyed by result path (unique)."""
    jobs = [job for key in selected(config) for job in PAPERS[key].jobs(config)]
    by_path = {job.path: job for job in jobs}
    if len(by_path) != len(jobs):
        raise ValueError("two jobs map to the same result path; check for duplicate list entries")
    return by_path
