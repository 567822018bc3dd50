"""From the validated config to the workflow's jobs: one :class:`Job` per result file.

The sweep (paper × experiment × hyperparameters × seed) is expanded in plain Python by each
paper's plug-in (:mod:`curvlab.papers`), so that the Snakemake rules stay thin and the planning
is unit-tested. The hyperparameters that a
user sweeps (initialization, step size, number of steps, seed) are encoded in the result path,
edge-of-stability style; everything else a job depends on travels in its spec, which the rule
passes as a ``params`` entry, so Snakemake's params trigger reruns exactly the jobs whose spec
changed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

RESULTS = "results"


@dataclass(frozen=True)
class Job:
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


def all_jobs(config: dict[str, Any]) -> dict[str, Job]:
    """Every experiment job of the selected papers, keyed by result path (unique)."""
    from curvlab.papers import PAPERS, selected

    jobs = [job for key in selected(config) for job in PAPERS[key].jobs(config)]
    by_path = {job.path: job for job in jobs}
    if len(by_path) != len(jobs):
        raise ValueError("two jobs map to the same result path; check for duplicate list entries")
    return by_path


def figure_files(paper: str, figure_ids: list[str]) -> list[Any]:
    """A paper's figure outputs: PNGs marked for ``snakemake --report`` (category = the paper,
    caption = the ``.rst`` the plot job writes beside each figure), PDFs and the captions."""
    from snakemake.io import report

    from curvlab.papers import TITLES

    outdir = f"reports/figures/{paper}"
    pngs = [
        # Captions are resolved relative to the rules file (workflow/rules/).
        report(f"{outdir}/{fig}.png", caption=f"../../{outdir}/{fig}.rst", category=TITLES[paper])
        for fig in figure_ids
    ]
    return pngs + [f"{outdir}/{fig}.{ext}" for fig in figure_ids for ext in ("pdf", "rst")]
