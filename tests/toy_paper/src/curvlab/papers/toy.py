"""Toy (2026): the sample mean of standard normal draws (a throw-away test plug-in)."""

from __future__ import annotations

from typing import Any

from curvlab.io import Column, TableSchema
from curvlab.plugin import RESULTS, Job, Task
from curvlab.tables import VALUE

TITLE = "Toy (2026): sample means of normal draws"
TOY_DRAWS = TableSchema(
    name="toy.draws",
    description="The mean of n standard normal draws, one row per seed.",
    columns=(
        Column("n", "int64", "number of draws"),
        Column("seed", "int64", "seed of the draws"),
        VALUE,
    ),
)
TABLES = (TOY_DRAWS,)
TASKS = {
    "toy-draws": Task(
        spec="curvlab.experiments.toy:DrawsSpec",
        run="curvlab.experiments.toy:run_draws",
        table=TOY_DRAWS,
        uses_torch=False,
    )
}
RUN = RESULTS + "/toy/draws/n~{n}/seed~{seed}.parquet"


def jobs(config: dict[str, Any]) -> list[Job]:
    toy = config["toy"]
    return [
        Job("toy-draws", RUN.format(n=toy["n"], seed=seed), {"n": toy["n"], "seed": seed})
        for seed in toy["seeds"]
    ]


def figures(config: dict[str, Any]) -> list[str]:
    return ["means"]
