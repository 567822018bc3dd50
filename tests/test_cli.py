"""The command line the rules call: determinism of jobs, one-line errors."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pandas as pd

from curvlab.io import read_table
from curvlab.papers.du2018 import DU2018_NETWORK

SPEC = {
    "experiment": "network",
    "init": "unbalanced",
    "init_sq_norms": [10, 1, 0.1],
    "input_dim": 12,
    "hidden_dims": [6, 6],
    "output_dim": 2,
    "n_samples": 30,
    "eta": 0.2,
    "steps": 150,
    "seed": 4,
    "log_every": 1,
    "neuron_every": 50,
}


def curvlab(*args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "MPLCONFIGDIR": os.environ.get("MPLCONFIGDIR", "/tmp/curvlab-mpl")}
    return subprocess.run(
        [sys.executable, "-m", "curvlab", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )


def test_same_spec_and_seed_give_identical_parquet_data(tmp_path):
    outputs = []
    for name in ("a", "b"):
        out = tmp_path / f"{name}.parquet"
        result = curvlab(
            "job",
            "du2018-network",
            "--spec",
            json.dumps(SPEC),
            "--out",
            str(out),
            "--device",
            "cpu",
        )
        assert result.returncode == 0, result.stderr
        assert "wrote" in result.stderr  # progress and summary go to the job log
        outputs.append(read_table(out, DU2018_NETWORK))
    pd.testing.assert_frame_equal(outputs[0], outputs[1])
    assert outputs[0].attrs["provenance"]["config"]["seed"] == 4


def test_a_bad_spec_gives_one_clear_line_and_no_output(tmp_path):
    out = tmp_path / "x.parquet"
    result = curvlab(
        "job",
        "du2018-network",
        "--spec",
        json.dumps({**SPEC, "init_sq_norms": [1]}),
        "--out",
        str(out),
    )
    assert result.returncode == 1
    assert (
        result.stderr.strip()
        .splitlines()[-1]
        .startswith("curvlab job: error: du2018-network: init_sq_norms has 1 entries for 3 layers")
    )
    assert not out.exists()


def test_help_lists_the_workflow_commands():
    result = curvlab("--help")
    for command in ("job", "concat", "plot", "claims", "report", "manifest", "data"):
        assert command in result.stdout
