"""The curvature command line is a contract: columns, normalization, values vs explicit matrices,
and one clear line (no traceback) for every mistake a user can make on it."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from curvlab.cli import WORKFLOW_MODULES

ROOT = Path(__file__).resolve().parents[1]

PROBLEM = """
import torch
from torch import nn

def problem():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(6, 8), nn.Tanh(), nn.Linear(8, 3))
    x, y = torch.randn(50, 6), torch.randint(0, 3, (50,))
    return model, nn.CrossEntropyLoss(), [(x[:32], y[:32]), (x[32:], y[32:])]


def no_parameters():
    x, y = torch.randn(10, 3), torch.randint(0, 3, (10,))
    return nn.Identity(), nn.CrossEntropyLoss(), [(x, y)]


def nan_in_second_batch():
    model, loss_fn, batches = problem()
    x, y = batches[1]
    x = x.clone()
    x[3, 2] = float("nan")
    return model, loss_fn, [batches[0], (x, y)]


def returns_none():
    return None


def raises():
    raise RuntimeError("the data file is missing")


def model_is_a_string():
    return "mlp", nn.CrossEntropyLoss(), problem()[2]


def batch_is_not_a_pair():
    x = torch.randn(10, 6)
    return problem()[0], nn.CrossEntropyLoss(), [x]


def per_sample_loss():
    model, _, batches = problem()
    return model, nn.CrossEntropyLoss(reduction="none"), batches


def repeated_eigenvalues():
    # Linear 3 -> 2 without bias, MSE: H = (X^T X / N) (x) I_2 has 3 distinct eigenvalues, each
    # twice, so Lanczos from any start vector stops after 3 steps of the 6 parameters.
    torch.manual_seed(0)
    x, y = torch.randn(40, 3, dtype=torch.float64), torch.randn(40, 2, dtype=torch.float64)
    model = nn.Linear(3, 2, bias=False).double()
    return model, lambda out, target: ((out - target) ** 2).mean(), [(x, y)]
"""


@pytest.fixture(scope="module")
def workdir(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("cli")
    (path / "userproblem.py").write_text(PROBLEM)
    return path


def run_curvlab(workdir: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "curvlab", *args],
        cwd=workdir,
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "PYTHONPATH": str(ROOT / "src")},
    )


def curvlab(workdir: Path, *args: str, model: str = "userproblem:problem") -> pd.DataFrame:
    out = workdir / "out.parquet"
    result = run_curvlab(workdir, *args, "--model", model, "--out", str(out))
    assert result.returncode == 0, result.stderr
    return pd.read_parquet(out)


def error_line(result: subprocess.CompletedProcess) -> str:
    """The one error line of a failed command (argparse prints its usage lines before it)."""
    assert result.returncode != 0
    assert "Traceback" not in result.stderr, result.stderr
    errors = [line for line in result.stderr.splitlines() if ": error: " in line]
    assert len(errors) == 1, result.stderr
    return errors[0]


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


def test_lanczos_steps_beyond_the_dimension_are_clamped_to_it(workdir):
    """The documented rule: P steps span the whole space (exact), so more are clamped to P
    (fewer nodes when the run stops early on repeated eigenvalues, here CE's zero modes)."""
    frame = curvlab(workdir, "slq", "--steps", "500", "--draws", "2")
    assert (frame.groupby("draw").size() <= 83).all()


@pytest.mark.parametrize(
    "args",
    [
        ("moments", "--probes", "0"),
        ("moments", "--max-k", "0"),
        ("slq", "--steps", "0"),
        ("slq", "--draws", "0"),
        ("slq", "--draws", "-1"),
        ("slq", "--threads", "0"),
        ("topk", "--k", "0"),
        ("topk", "--k", "2", "--steps", "0"),
        ("topk", "--k", "two"),
    ],
)
def test_counts_must_be_positive_integers(workdir, tmp_path, args):
    out = tmp_path / "x.parquet"
    result = run_curvlab(workdir, *args, "--model", "userproblem:problem", "--out", str(out))
    option, value = args[-2:]
    assert error_line(result).endswith(
        f"argument {option}: expected a positive integer, got {value!r}"
    )
    assert not out.exists()


@pytest.mark.parametrize(
    "args, message",
    [
        (("--k", "84"), "k = 84 exceeds the number of parameters P = 83"),
        (
            ("--k", "5", "--steps", "3"),
            "steps = 3 < k = 5: Lanczos gives at most one eigenvalue per step",
        ),
    ],
)
def test_topk_sizes_that_cannot_be_met(workdir, tmp_path, args, message):
    out = tmp_path / "x.parquet"
    result = run_curvlab(
        workdir, "topk", *args, "--model", "userproblem:problem", "--out", str(out)
    )
    assert error_line(result) == f"curvlab topk: error: {message}"
    assert result.stderr.splitlines() == [f"curvlab topk: error: {message}"]
    assert not out.exists()


@pytest.mark.parametrize(
    "target, message",
    [
        ("userproblem", "--model must look like MODULE:FUNCTION, got 'userproblem'"),
        (
            "nosuchmodule:problem",
            "no module named 'nosuchmodule' (the current directory is on the import path)",
        ),
        ("userproblem:nosuchfunction", "module 'userproblem' has no function 'nosuchfunction'"),
        (
            "userproblem:raises",
            "`userproblem:raises` raised RuntimeError: the data file is missing"
            " (curvlab --debug shows the traceback)",
        ),
        (
            "userproblem:returns_none",
            "`userproblem:returns_none` must return (model, loss_fn, batches); got None",
        ),
        (
            "userproblem:model_is_a_string",
            "`userproblem:model_is_a_string` must return a torch.nn.Module as model; got a str",
        ),
        (
            "userproblem:batch_is_not_a_pair",
            "`userproblem:batch_is_not_a_pair`: batch 0 must be (inputs, targets); got a Tensor",
        ),
        ("userproblem:no_parameters", "the model has no trainable parameters"),
        (
            "userproblem:nan_in_second_batch",
            "batch 1: the loss is nan; check the data for NaN/inf",
        ),
        (
            "userproblem:per_sample_loss",
            "batch 0: loss_fn returned a tensor of shape (32,); it must return the mean loss"
            " over the batch (a scalar)",
        ),
    ],
)
def test_a_bad_model_gives_one_line_and_no_output(workdir, tmp_path, target, message):
    out = tmp_path / "x.parquet"
    result = run_curvlab(workdir, "topk", "--k", "2", "--model", target, "--out", str(out))
    assert error_line(result) == f"curvlab topk: error: {message}"
    assert result.stderr.splitlines() == [f"curvlab topk: error: {message}"]
    assert not out.exists()


def test_debug_shows_the_traceback(workdir, tmp_path):
    result = run_curvlab(
        workdir,
        "--debug",
        "topk",
        "--k",
        "2",
        "--model",
        "userproblem:raises",
        "--out",
        str(tmp_path / "x.parquet"),
    )
    assert result.returncode != 0
    assert "Traceback" in result.stderr
    assert "RuntimeError: the data file is missing" in result.stderr


def test_out_errors_name_the_users_path(workdir, tmp_path):
    (tmp_path / "adir").mkdir()
    (tmp_path / "afile").write_text("")
    for out, problem in (
        (tmp_path / "adir", "is a directory; give a file path"),
        (tmp_path / "afile" / "x.parquet", f"cannot create its directory {tmp_path / 'afile'}"),
    ):
        result = run_curvlab(
            workdir, "topk", "--k", "2", "--model", "userproblem:problem", "--out", str(out)
        )
        assert error_line(result).startswith(f"curvlab topk: error: --out {out}: {problem}")
        assert ".partial" not in result.stderr


def test_topk_writes_the_eigenvalues_lanczos_can_reach(workdir, tmp_path):
    """Lanczos stops when the Krylov space is invariant: fewer distinct eigenvalues than k."""
    out = tmp_path / "x.parquet"
    result = run_curvlab(
        workdir,
        "topk",
        "--k",
        "5",
        "--model",
        "userproblem:repeated_eigenvalues",
        "--out",
        str(out),
    )
    assert result.returncode == 0, result.stderr
    assert "3 of the 5 eigenpairs" in result.stderr
    assert pd.read_parquet(out)["index"].tolist() == [0, 1, 2]


# --------------------------------------------------------------------------- base install

#: Runs first in the child interpreter: every finder then fails to find a package of the
#: workflow extra, as in an install without it (``import`` raises ModuleNotFoundError and
#: ``importlib.util.find_spec`` returns None, which torch's optional imports rely on).
WITHOUT_WORKFLOW_EXTRA = f"""
import importlib.abc
import sys

BLOCKED = {sorted(WORKFLOW_MODULES)!r}


class WithoutWorkflowExtra(importlib.abc.MetaPathFinder):
    def __init__(self, finder):
        self.finder = finder

    def find_spec(self, name, path=None, target=None):
        if name.partition(".")[0] in BLOCKED:
            return None
        return self.finder.find_spec(name, path, target)


sys.meta_path[:] = [WithoutWorkflowExtra(finder) for finder in sys.meta_path]
"""

#: Imports every module of the library and of the models, then runs the command line.
IMPORT_ALL_THEN_RUN = """
import importlib
import pkgutil
import runpy

import curvlab.curvature
import curvlab.models

for package in (curvlab.curvature, curvlab.models):
    for info in pkgutil.iter_modules(package.__path__, package.__name__ + "."):
        importlib.import_module(info.name)
runpy.run_module("curvlab", run_name="__main__")
"""


def run_without_workflow_extra(workdir: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", WITHOUT_WORKFLOW_EXTRA + IMPORT_ALL_THEN_RUN, *args],
        cwd=workdir,
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "PYTHONPATH": str(ROOT / "src")},
    )


def test_the_library_and_its_commands_run_without_the_workflow_extra(workdir, tmp_path):
    out = tmp_path / "slq.parquet"
    args = ("--steps", "10", "--draws", "2", "--model", "userproblem:problem", "--out", str(out))
    result = run_without_workflow_extra(workdir, "slq", *args)
    assert result.returncode == 0, result.stderr
    frame = pd.read_parquet(out)
    assert list(frame.columns) == ["draw", "node", "weight"]
    np.testing.assert_allclose(frame.groupby("draw")["weight"].sum(), 1.0, atol=1e-12)


def test_a_workflow_command_without_the_extra_names_the_install(workdir):
    result = run_without_workflow_extra(workdir, "check-config", "config.yaml")
    line = error_line(result)
    assert result.returncode == 1
    assert line.startswith("curvlab check-config: error: this command needs the workflow extra")
    assert line.endswith("install it with pip install 'curvlab[workflow]'")


def test_the_workflow_extra_is_what_the_base_install_lacks():
    """WORKFLOW_MODULES (what the tests above hide) are the import names of exactly the
    workflow extra's packages, and no base dependency is among them."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]

    def names(requirements: list[str]) -> set[str]:
        import_names = {"pyyaml": "yaml"}
        found = {re.match(r"[A-Za-z0-9_.-]+", r).group().lower() for r in requirements}
        return {import_names.get(n, n) for n in found}

    assert names(project["optional-dependencies"]["workflow"]) == WORKFLOW_MODULES
    assert not names(project["dependencies"]) & WORKFLOW_MODULES
