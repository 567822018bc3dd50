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


def resolve_device(device: str = "auto") -> torch.device:
    """``auto`` picks CUDA when present, else CPU; anything else is passed to torch."""
    import torch

    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
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
