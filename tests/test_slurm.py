"""The Slurm profile against a real Slurm: a single-node cluster on localhost (tests/slurm/up.sh).

The ci preset's du2018 jobs are submitted through ``--workflow-profile profiles/slurm``; the
test checks that they ran as Slurm jobs (sacct lists them as COMPLETED) and that the Parquet
they wrote holds the same data as a local run of the same config.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from pathlib import Path

import pandas as pd
import pytest
from wfutil import ROOT, make_copy, snakemake

from curvlab.io import read_table

pytestmark = [pytest.mark.slurm, pytest.mark.xdist_group("slurm")]

# The ci preset's du2018 section, run as the only paper.
OVERLAY = {"preset": "ci", "papers": ["du2018"]}
TARGETS = ("results/du2018/network.parquet", "results/du2018/factorization.parquet")
SYSTEM_DEPS = ROOT / "tests" / "system-deps.sh"


def _slurm_installed() -> bool:
    return bool(shutil.which("slurmctld")) or Path("/usr/sbin/slurmctld").exists()


def _can_run_slurm() -> str | None:
    """Why a local cluster cannot be started here, or None.

    `make system-deps` installs Slurm before pytest starts; run on its own, the test asks the same
    installer (tests/system-deps.sh), which serializes every apt-get of the tests, so that this
    install cannot collide with the browser test's in the other xdist group.
    """
    if _slurm_installed():
        return None
    deps = subprocess.run([SYSTEM_DEPS, "slurm"], capture_output=True, text=True, timeout=1800)
    if _slurm_installed():
        return None
    said = [line for line in (deps.stdout + deps.stderr).splitlines() if "system-deps:" in line]
    return "Slurm is not installed: " + " / ".join(said or [f"exit status {deps.returncode}"])


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    reason = _can_run_slurm()
    if reason:
        pytest.skip(reason)
    state = tmp_path_factory.mktemp("slurm")
    up = subprocess.run(
        [ROOT / "tests" / "slurm" / "up.sh", state], capture_output=True, text=True, timeout=600
    )
    assert up.returncode == 0, f"tests/slurm/up.sh failed:\n{up.stdout}\n{up.stderr}"
    env = dict(os.environ)
    env["SLURM_CONF"] = str(state / "etc" / "slurm.conf")
    env["PATH"] = f"{state / 'bin'}:{env['PATH']}:/usr/sbin"
    try:
        yield env
    finally:
        subprocess.run([ROOT / "tests" / "slurm" / "down.sh", state], check=False, timeout=120)


def _with_ci_preset(workdir: Path) -> tuple[str, ...]:
    shutil.copy(ROOT / "presets" / "ci.yaml", workdir / "ci.yaml")
    return ("ci.yaml", "overlay.yaml")


def test_ci_jobs_run_as_slurm_jobs_and_match_a_local_run(cluster, tmp_path):
    remote = make_copy(tmp_path / "slurm", OVERLAY)
    local = make_copy(tmp_path / "local", OVERLAY)
    started = time.time()
    snakemake(
        remote,
        *TARGETS,
        "--workflow-profile",
        "profiles/slurm",
        # The test cluster's partition and small jobs; on a real cluster set these in the
        # profile (or with --default-resources / --set-resources).
        "--default-resources",
        "slurm_partition=debug",
        "mem_mb=500",
        "runtime=10",
        "cpus_per_task=1",
        "--slurm-init-seconds-before-status-checks",
        "2",
        "--latency-wait",
        "5",
        "--jobs",
        "4",
        configfiles=_with_ci_preset(remote),
        env=cluster,
        timeout=1200,
    )
    wall = time.time() - started
    accounting = subprocess.run(
        ["sacct", "-X", "-n", "-P", "-S", "now-1hours", "-o", "JobID,State,Comment%200"],
        env=cluster,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.splitlines()
    completed = [line for line in accounting if "|COMPLETED|" in line and "rule_du2018" in line]
    runs = sorted(p.relative_to(remote) for p in (remote / "results" / "du2018").rglob("seed~*"))
    assert len(completed) >= len(runs) > 0, accounting

    snakemake(local, *TARGETS, "--cores", "2", configfiles=_with_ci_preset(local))
    for path in runs:
        pd.testing.assert_frame_equal(read_table(remote / path), read_table(local / path))
    print(f"{len(runs)} du2018 jobs through Slurm in {wall:.0f} s")
