"""Rough peak-memory estimates of workflow jobs, made when the workflow is planned.

Each paper plug-in gives its tasks a ``memory(spec) -> bytes`` function built from the helpers
here: parameter counts of the papers' architectures, times the number of vectors or samples a
job holds at once, times the bytes of its dtype, plus the matrices it stores (a Gram matrix, a
Lanczos basis). They are order-of-magnitude guards, not a cost model: their purpose is that a
configuration asking for terabytes (``hidden_dims: [10000000, 10000000]``) is flagged before
any job starts, instead of failing at run time inside its first job.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

#: What a Python process with torch, numpy and pandas loaded holds before any work.
BASELINE_BYTES = 400 * 2**20
F32, F64 = 4, 8


def dense_params(sizes: Sequence[int], bias: bool = True) -> int:
    """Parameters of a fully connected net with layer sizes ``sizes`` (input first)."""
    return sum(a * b + (b if bias else 0) for a, b in zip(sizes[:-1], sizes[1:], strict=False))


def conv_stack(
    in_channels: int, image_size: int, layers: Iterable[int | str], kernel: int = 3
) -> tuple[int, int, int, int]:
    """(parameters, activations per sample, last channels, last side) of 3×3 'same'
    convolutions, with ``"M"`` for a 2×2 max-pool."""
    params, activations, channels, side = 0, 0, in_channels, image_size
    for layer in layers:
        if layer == "M":
            side //= 2
            continue
        params += kernel * kernel * channels * int(layer) + int(layer)
        channels = int(layer)
        activations += channels * side * side
    return params, activations, channels, side


def resnet_size(depth: int, width: int, in_channels: int, image_size: int) -> tuple[int, int]:
    """(parameters, activations per sample) of a CIFAR ResNet-(6k+2): a 3×3 stem, then three
    stages of k basic blocks (two 3×3 convolutions each, parameter-free shortcuts) at widths
    w, 2w, 4w and sides s, s/2, s/4, and a linear classifier (biases ignored)."""
    blocks = (depth - 2) // 6
    params = 9 * in_channels * width
    activations = width * image_size * image_size
    channels = width
    for stage, w in enumerate((width, 2 * width, 4 * width)):
        side = image_size // 2**stage
        params += 9 * (channels * w + w * w) + (blocks - 1) * 18 * w * w
        activations += blocks * 2 * w * side * side
        channels = w
    return params + channels * 10 + 10, activations


_RESNET = re.compile(r"^resnet(\d+)-w(\d+)$")


def arch_size(arch: str, in_channels: int, image_size: int) -> tuple[int, int]:
    """(parameters, activations per sample) of an architecture string of the Ghorbani models:
    ``resnet<d>-w<w>``, ``vgg-<c>-M-...`` or ``mlp-<h>-...``."""
    if match := _RESNET.match(arch):
        return resnet_size(int(match[1]), int(match[2]), in_channels, image_size)
    family, *parts = arch.split("-")
    if family == "vgg":
        params, activations, channels, _ = conv_stack(in_channels, image_size, parts)
        return params + channels * 10 + 10, activations
    hidden = [int(p) for p in parts]
    return dense_params([in_channels * image_size**2, *hidden, 10]), sum(hidden) + 10


def mb(n_bytes: float) -> float:
    return n_bytes / 2**20


def describe(n_bytes: float) -> str:
    """1.5 GiB, 36.4 TiB: a size a reader takes in at a glance."""
    units = ("B", "KiB", "MiB", "GiB", "TiB", "PiB")
    power = min(int(math.log(max(n_bytes, 1), 1024)), len(units) - 1)
    return f"{n_bytes / 1024**power:.1f} {units[power]}"


def oversized(
    jobs: Mapping[str, Any],
    estimators: Mapping[str, Callable[[dict[str, Any]], float]],
    limits_mb: Mapping[str, float],
    machine_mb: float,
) -> list[str]:
    """One warning per task whose largest job is estimated above the machine's memory or the
    ``mem_mb`` its rule requests (``limits_mb`` by task). Jobs are grouped by task so that a
    sweep of 90 identical jobs gives one line, naming its largest job."""
    largest: dict[str, tuple[float, str]] = {}
    for path, job in jobs.items():
        estimate = estimators.get(job.task)
        if estimate is None:
            continue
        need = BASELINE_BYTES + estimate(job.spec)
        if need > largest.get(job.task, (-1.0, ""))[0]:
            largest[job.task] = (need, path)
    warnings = []
    for task, (need, path) in sorted(largest.items()):
        over = []
        if mb(need) > machine_mb:
            over.append(f"this machine's {describe(machine_mb * 2**20)}")
        limit = limits_mb.get(task)
        if limit is not None and mb(need) > limit:
            over.append(f"the mem_mb={limit:g} its rule requests")
        if over:
            warnings.append(
                f"{task}: the largest job ({path}) needs roughly {describe(need)}, more than "
                f"{' and '.join(over)}. Check the sizes in its config section (widths, samples, "
                "draws), or run it where that much memory is available."
            )
    return warnings
