"""Seeds, devices and the local GPU allocator."""

from __future__ import annotations

import subprocess
import sys

import pytest

from curvlab.runtime import claim_gpu, derive_seed, numpy_rng, resolve_device


def test_seeds_depend_on_seed_and_purpose_only():
    assert derive_seed(3, "init") == derive_seed(3, "init")
    assert len({derive_seed(s, p) for s in range(5) for p in ("init", "data")}) == 10
    assert numpy_rng(1, "x").normal() == numpy_rng(1, "x").normal()


def test_concurrent_jobs_claim_distinct_gpus(tmp_path):
    """Three processes, three (pretend) GPUs: each holds its own lock while it lives."""
    code = (
        "import sys, time; from curvlab.runtime import claim_gpu; "
        f"print(claim_gpu(3, {str(tmp_path)!r}), flush=True); time.sleep(3)"
    )
    procs = [
        subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
        for _ in range(3)
    ]
    claimed = sorted(int(p.stdout.readline()) for p in procs)
    for p in procs:
        p.wait()
    assert claimed == [0, 1, 2]
    assert claim_gpu(3, str(tmp_path)) == 0  # released when the processes ended


def test_cpu_and_missing_cuda():
    assert resolve_device("cpu").type == "cpu"
    import torch

    if not torch.cuda.is_available():
        assert resolve_device("auto").type == "cpu"
        with pytest.raises(RuntimeError, match="no CUDA device"):
            resolve_device("cuda")
