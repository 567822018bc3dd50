"""Hostile paths and config values never reach a shell unquoted.

The workflow runs from a checkout, with an interpreter and a data mirror, whose paths hold a
space, ``;``, ``#`` and both quote characters; and a mirror value that is a shell command must
stay a (missing) directory name.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from wfutil import MICRO, ROOT, make_copy

from curvlab.config import load_config
from curvlab.registry import all_jobs

pytestmark = [pytest.mark.workflow, pytest.mark.xdist_group("workflow")]

HOSTILE = "My Projects; #'q\""
MNIST_FILES = (
    "train-images-idx3-ubyte.gz",
    "train-labels-idx1-ubyte.gz",
    "t10k-images-idx3-ubyte.gz",
    "t10k-labels-idx1-ubyte.gz",
)


def _mnist_mirror() -> Path | None:
    for candidate in (os.environ.get("CURVLAB_DATA_MIRROR"), ROOT.parent / "shared" / "datasets"):
        if candidate and all((Path(candidate) / "mnist" / f).is_file() for f in MNIST_FILES):
            return Path(candidate)
    return None


def _hostile_venv(where: Path) -> Path:
    """The project's interpreter seen from a venv at ``where`` (same packages, hostile path)."""
    venv = Path(os.path.realpath(sys.prefix))
    (where / "bin").mkdir(parents=True)
    (where / "lib" / "python3.11").mkdir(parents=True, exist_ok=True)
    shutil.copy(venv / "pyvenv.cfg", where / "pyvenv.cfg")
    (where / "bin" / "python").symlink_to(Path(sys.executable))
    site = next((venv / "lib").glob("python3.*/site-packages"))
    lib = where / "lib" / site.parent.name
    lib.mkdir(parents=True, exist_ok=True)
    (lib / "site-packages").symlink_to(site)
    return where / "bin" / "python"


def _run(python: Path, workdir: Path, *targets: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "CURVLAB_DATA_MIRROR"}
    env |= {"MPLCONFIGDIR": str(workdir / ".mpl"), "XDG_CACHE_HOME": str(workdir / ".cache")}
    return subprocess.run(
        [str(python), "-m", "snakemake", "--cores", "2", *targets, "--configfile=overlay.yaml"],
        cwd=workdir,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )


@pytest.fixture(scope="module")
def hostile(tmp_path_factory) -> tuple[Path, Path]:
    base = tmp_path_factory.mktemp("hostile") / HOSTILE
    python = _hostile_venv(base / ".venv")
    return base, python


def test_checkout_interpreter_and_mirror_with_shell_characters(hostile):
    base, python = hostile
    source = _mnist_mirror()
    if source is None:
        pytest.skip("the MNIST archives are not available (set CURVLAB_DATA_MIRROR)")
    mirror = base / "mirror # x; y 'z'"
    (mirror / "mnist").mkdir(parents=True)
    for name in MNIST_FILES:
        (mirror / "mnist" / name).symlink_to(source / "mnist" / name)
    overlay = {
        "preset": "custom",
        "papers": ["du2018"],
        "du2018": MICRO["du2018"],
        "data": {"mirror": str(mirror), "download": False},
    }
    workdir = make_copy(base / "checkout", overlay)
    config = load_config(
        [workdir / "config.yaml", workdir / "overlay.yaml"],
        ROOT / "workflow" / "schemas" / "config.schema.yaml",
    )
    job = next(path for path, j in all_jobs(config).items() if j.task == "du2018-network")
    result = _run(python, workdir, "data/mnist.npz", job)
    assert result.returncode == 0, result.stderr[-3000:]
    assert (workdir / job).is_file() and (workdir / "data" / "mnist.npz").is_file()
    # Downloads are off and $CURVLAB_DATA_MIRROR is unset: only the hostile mirror path, passed
    # whole ("#" did not end the command), can have provided the archives.


def test_mirror_value_is_never_run_as_a_command(tmp_path):
    # A plain checkout and interpreter, so that only the mirror value could inject a command.
    overlay = {
        "preset": "custom",
        "papers": ["du2018"],
        "data": {"mirror": "mirror; touch pwned #", "download": False},
    }
    workdir = make_copy(tmp_path / "injection", overlay)
    result = _run(Path(sys.executable), workdir, "data/mnist.npz")
    assert result.returncode != 0  # no such mirror, downloads off: the job must fail ...
    assert not (workdir / "pwned").exists()  # ... without running the "command"
    log = (workdir / "logs" / "data" / "mnist.log").read_text()
    assert "mirror; touch pwned #: mirror directory does not exist" in log
    assert "download: disabled" in log
    assert yaml.safe_load((workdir / "overlay.yaml").read_text())["data"]["download"] is False
