"""One workflow job: a spec in, one Parquet table with provenance out.

Every experiment rule calls :func:`run_job` through ``curvlab job <task>``. The job limits its
threads to what the scheduler granted, picks the device, runs the pure experiment function,
and writes the table atomically, so a killed job leaves no output and is simply rerun.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import time
from pathlib import Path
from typing import Any

from curvlab.plugin import load
from curvlab.registry import TASKS
from curvlab.runtime import set_threads

log = logging.getLogger(__name__)


class SpecError(ValueError):
    """A job spec that does not fit its task (unknown key, wrong value)."""


def configure_logging() -> None:
    logging.basicConfig(
        level=logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        datefmt="%H:%M:%S",
        force=True,
    )


def build_spec(task_name: str, spec: dict[str, Any]) -> Any:
    """The task's spec dataclass from a job's spec; a missing or unknown key, or a bad value,
    raises :class:`SpecError`."""
    try:
        return load(TASKS[task_name].spec)(**spec)
    except (TypeError, ValueError) as err:
        raise SpecError(f"{task_name}: {err}") from err


def run_job(
    task_name: str, spec: dict[str, Any], out: str | Path, threads: int = 1, device: str = "auto"
) -> None:
    if task_name not in TASKS:
        raise KeyError(f"unknown task {task_name!r}; known tasks: {', '.join(sorted(TASKS))}")
    set_threads(threads)  # before numpy/torch load their thread pools
    task = TASKS[task_name]
    spec_obj = build_spec(task_name, spec)
    run = load(task.run)
    schema = task.table
    from curvlab.io import provenance, write_table

    kwargs: dict[str, Any] = {}
    device_name = "cpu"
    if task.uses_torch:
        from curvlab.runtime import resolve_device

        resolved = resolve_device(device)  # imports torch
        set_threads(threads)  # torch is now imported: set its intra-op pool too
        device_name = str(resolved)
        kwargs["device"] = device_name
    log.info("%s on %s with %d thread(s): %s", task_name, device_name, threads, json.dumps(spec))
    start = time.perf_counter()
    frame = run(spec_obj, **kwargs)
    wall = time.perf_counter() - start
    record = provenance(
        dataclasses.asdict(spec_obj),
        seed=getattr(spec_obj, "seed", None),
        dtype=getattr(spec_obj, "dtype", "float64"),
        device=device_name,
        wall_time_s=round(wall, 3),
        task=task_name,
        threads=threads,
    )
    write_table(frame, out, schema, record)
    diverged = bool(frame["diverged"].any()) if "diverged" in frame else False
    log.info(
        "wrote %s (%d rows) in %.1f s%s", out, len(frame), wall, " [diverged]" if diverged else ""
    )
