"""Helpers for the tests that run the Snakemake workflow in a scratch copy."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]

MICRO = {
    "preset": "custom",
    # Only these papers: a new plug-in must not run its default scale inside these tests.
    "papers": ["du2018", "huh2020"],
    "du2018": {
        "model": {"input_dim": 20, "hidden_dims": [8, 8], "output_dim": 3, "n_samples": 60},
        "network": {"steps": 300, "seeds": [0]},
        "large_eta": {"steps": 300},
        "drift": {
            "etas": [0.1, 0.2],
            "horizon": 20.0,
            "log_every": 10,
            "neuron_every": 50,
            "model": {"input_dim": 20, "hidden_dims": [8, 8], "n_samples": 60},
        },
        "factorization": {
            "shape": [10, 8],
            "seeds": [0],
            "studies": {
                "decaying": {"rank": 2, "steps": 2000, "log_every": 20},
                "paper_schedule": {"rank": 2, "steps": 200, "log_every": 20},
                # ησ₁ = 3 blows up: the run must be recorded as diverged, not crash the workflow.
                "constant": {"rank": 2, "eta0s": [0.5, 3.0], "steps": 500, "log_every": 10},
                "rank1": {"eta0s": [0.5], "steps": 300},
            },
        },
    },
    # Huh (2020) on a 6-dimensional, depth-3 problem; the controls and the α sweep are off
    # (their claims are then reported as not measured and the α-sweep figure is skipped).
    "huh2020": {
        "problem": {"n_dim": 6, "depth": 3, "n_samples": 6, "teacher_singular_values": [2.0, 1.0]},
        "seeds": [0],
        "log_points": 50,
        "log_points_early": 20,
        "methods": {
            "gd": {"horizon": 40.0},
            "ngd": {"horizon": 6.0},
            "ngd_d": {"horizon": 3.0},
            "sqrt_ngd": {"horizon": 6.0},
            "sqrt_ngd_d": {"horizon": 6.0},
        },
        "controls": {
            name: {"enabled": False}
            for name in ("ngd_unclipped", "ngd_d_unclipped", "ngd_d_undamped", "gd_eta_quarter")
        },
        "alpha_sweep": {"enabled": False},
        "modes": {"matrix_steps": 10, "log_points": 40, "logdet_steps": 20},
    },
}


def make_copy(dest: Path, overlay: dict) -> Path:
    dest.mkdir(parents=True, exist_ok=True)
    for name in ("Snakefile", "config.yaml"):
        shutil.copy(ROOT / name, dest / name)
    for name in ("workflow", "profiles", "envs", "presets", "docs"):
        shutil.copytree(ROOT / name, dest / name)
    (dest / "src").symlink_to(ROOT / "src")
    (dest / "overlay.yaml").write_text(yaml.safe_dump(overlay))
    return dest


def snakemake(
    workdir: Path,
    *args: str,
    check: bool = True,
    configfiles: tuple[str, ...] = ("overlay.yaml",),
    env: dict[str, str] | None = None,
    timeout: int = 600,
) -> subprocess.CompletedProcess:
    env = {
        **(env or os.environ),
        "MPLCONFIGDIR": str(workdir / ".mpl"),
        "XDG_CACHE_HOME": str(workdir / ".cache"),
    }
    result = subprocess.run(
        [sys.executable, "-m", "snakemake", *args, "--configfile", *configfiles],
        cwd=workdir,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    if check and result.returncode != 0:
        raise AssertionError(
            f"snakemake {args} failed:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
        )
    return result
