"""Where and how a job computes: seeded generators, devices, dtypes and thread counts.

Every random draw in curvlab comes from a generator seeded from ``(seed, purpose)``, so that
adding a new random quantity to an experiment never changes the draws of the existing ones,
and the same config and seed give the same numbers on every CPU run.
"""

from __future__ import annotations

import hashlib
import os
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import numpy as np
    import torch

_THREAD_VARIABLES = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")


def derive_seed(seed: int, purpose: str) -> int:
    """A 63-bit seed determined by ``seed`` and a purpose label such as ``"init"``."""
    digest = hashlib.blake2b(f"{int(seed)}:{purpose}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "little") >> 1


def numpy_rng(seed: int, purpose: str) -> np.random.Generator:
    import numpy as np

    return np.random.default_rng(derive_seed(seed, purpose))


def set_threads(threads: int) -> None:
    """Limit BLAS/OpenMP and torch intra-op threads to what the scheduler granted.

    Oversubscription is the single largest slowdown measured on small CPU jobs (20-65x for an
    HVP when two processes each used two threads on two cores), so every job calls this first.
    The environment variables only reach libraries loaded afterwards; torch is set directly.
    """
    threads = max(1, int(threads))
    for name in _THREAD_VARIABLES:
        os.environ[name] = str(threads)
    import sys

    if "torch" in sys.modules:
        sys.modules["torch"].set_num_threads(threads)


def claim_gpu(count: int, lock_dir: str | None = None) -> int:
    """Index of a GPU no other curvlab job on this machine holds, locked for this process.

    Snakemake runs concurrent GPU jobs (``resources: gpu=1``) but does not say which device each
    should use, so jobs share device 0 unless something assigns them. Each job takes an
    exclusive lock on ``curvlab-gpu-<i>.lock`` for the first free i; the lock is released when
    the process exits. When all are taken (more jobs than GPUs), jobs share device
    ``pid % count``.
    """
    import fcntl
    import tempfile

    directory = lock_dir or os.environ.get("CURVLAB_GPU_LOCKS") or tempfile.gettempdir()
    for index in range(count):
        handle = open(os.path.join(directory, f"curvlab-gpu-{index}.lock"), "a")  # noqa: SIM115
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            handle.close()
            continue
        _HELD_LOCKS.append(handle)  # keep the lock for the life of the process
        return index
    return os.getpid() % count


_HELD_LOCKS: list = []


def gpus_wanted(device: str) -> int:
    """1 if jobs configured with ``device`` will run on a GPU, else 0 (for ``resources: gpu``).

    Decided at workflow parse time without importing torch: ``auto`` asks ``nvidia-smi``.
    """
    if device == "cpu":
        return 0
    if device.startswith("cuda"):
        return 1
    import shutil
    import subprocess

    if not shutil.which("nvidia-smi"):
        return 0
    try:
        listed = subprocess.run(["nvidia-smi", "-L"], capture_output=True, text=True, timeout=20)
    except (OSError, subprocess.SubprocessError):
        return 0
    return int(listed.returncode == 0 and "GPU" in listed.stdout)


def resolve_device(device: str = "auto") -> torch.device:
    """``auto`` picks CUDA when present, else CPU; anything else is passed to torch.

    Under a scheduler that assigns GPUs (Slurm sets CUDA_VISIBLE_DEVICES) the job sees only
    its own; on a workstation running several jobs at once, ``auto`` and ``cuda`` take a free
    device with :func:`claim_gpu`.
    """
    import torch

    if device in ("auto", "cuda"):
        if not torch.cuda.is_available():
            if device == "cuda":
                raise RuntimeError(
                    "device 'cuda' was requested but torch sees no CUDA device; "
                    "set device: auto or device: cpu in config.yaml"
                )
            return torch.device("cpu")
        count = torch.cuda.device_count()
        index = 0 if count == 1 else claim_gpu(count)
        return torch.device(f"cuda:{index}")
    resolved = torch.device(device)
    if resolved.type == "cuda" and not torch.cuda.is_available():
        raise RuntimeError(
            f"device {device!r} was requested but torch sees no CUDA device; "
            "set device: auto or device: cpu in config.yaml"
        )
    return resolved


def torch_dtype(name: str) -> torch.dtype:
    import torch

    dtypes = {"float32": torch.float32, "float64": torch.float64}
    if name not in dtypes:
        raise ValueError(f"dtype must be one of {sorted(dtypes)}, got {name!r}")
    return dtypes[name]
