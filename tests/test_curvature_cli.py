"""The curvature command line is a contract: columns, normalization, values vs explicit matrices."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

PROBLEM = """
import torch
from torch import nn

def problem():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(6, 8), nn.Tanh(), nn.Linear(8, 3))
    x, y = torch.randn(50, 6), torch.randint(0, 3, (50,))
    return model, nn.CrossEntropyLoss(), [(x[:32], y[:32]), (x[32:], y[32:])]
"""


@pytest.fixture(scope="module")
def workdir(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("cli")
    (path / "userproblem.py").write_text(PROBLEM)
    return path


def curvlab(workdir: Path, *args: str) -> pd.DataFrame:
    out = workdir / "out.parquet"
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "curvlab",
            *args,
            "--model",
            "userproblem:problem",
            "--out",
            str(out),
        ],
        cwd=workdir,
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1] / "src")},
    )
    assert result.returncode == 0, result.stderr
    return pd.read_parquet(out)


@pytest.fixture(scope="module")
def spectrum(workdir) -> np.ndarray:
    sys.path.insert(0, str(workdir))
    try:
        from userproblem import problem
    finally:
        sys.path.pop(0)
    from curvlab.curvature import HessianOperator

    model, loss_fn, batches = problem()
    dense = HessianOperator(model, loss_fn, batches, dtype=torch.float64).to_dense()
    return torch.linalg.eigvalsh(dense).numpy()


def test_slq_columns_and_weights(workdir, spectrum):
    frame = curvlab(workdir, "slq", "--steps", "20", "--draws", "3", "--seed", "1")
    assert list(frame.columns) == ["draw", "node", "weight"]
    assert sorted(frame["draw"].unique()) == [0, 1, 2]
    np.testing.assert_allclose(frame.groupby("draw")["weight"].sum(), 1.0, atol=1e-12)
    assert frame["node"].max() == pytest.approx(spectrum.max(), rel=1e-8)


def test_moments_estimate_unnormalized_traces(workdir, spectrum):
    frame = curvlab(workdir, "moments", "--max-k", "4", "--probes", "200", "--seed", "2")
    assert list(frame.columns) == ["k", "estimate", "stderr"]
    for row in frame.itertuples():
        assert abs(row.estimate - np.sum(spectrum**row.k)) < 4 * row.stderr


def test_topk_largest_first_with_residuals(workdir, spectrum):
    frame = curvlab(workdir, "topk", "--k", "3")
    assert list(frame.columns) == ["index", "eigenvalue", "residual"]
    np.testing.assert_allclose(frame["eigenvalue"], spectrum[::-1][:3], rtol=1e-8)
    assert (frame["residual"] < 1e-8).all()


def test_ggn_and_float32_options(workdir):
    frame = curvlab(workdir, "topk", "--k", "2", "--matrix", "ggn", "--dtype", "float32")
    assert (frame["eigenvalue"] >= -1e-6).all()  # the GGN of a convex loss is PSD
