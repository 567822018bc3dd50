"""Benchmark curvlab's Hessian products, SLQ densities and Hutchinson traces against PyHessian
and curvlinops on the same model, data, dtype, thread count and machine, in one run.

Run by hand (it is not part of the test suite or the workflow)::

    python benchmarks/curvature.py --smoke                      # < 1 min, every code path
    python benchmarks/curvature.py --threads 2 --out benchmarks/results/cpu-2threads.json

Every row is measured in a fresh subprocess (so peak memory is per row and no library's caches
or allocator state leak into another's); ``--smoke`` instead runs one process per library,
because importing torch costs ~3 s a process. Three parts:

(a) one full-batch gradient vs one Hessian-vector product: curvlab (``jvp`` and
    ``double_backward``, each uncached and cached, i.e. the per-batch map built once and reused;
    vmap or a loop over vectors; its automatic defaults in float32 and float64; one vector and
    10 vectors), curvlinops ``HessianLinearOperator`` (one vector, a 10-column matrix) and
    PyHessian (single-batch mode with the graph kept, dataloader mode). The gradient (plain
    ``torch.autograd.grad``) is timed in the same process, interleaved with the product, so the
    ratio is a side-by-side measurement (timing on a shared 2-core machine is noisy, ~1.5x
    between identical runs). Times are the minimum over ``--repeats`` calls after one warm-up
    call (fewer once a product has used ``--budget`` seconds).
(b) an SLQ density (``--steps`` Lanczos steps x ``--draws`` start vectors): curvlab ``slq``
    (defaults; uncached jvp; float32 Lanczos basis; defaults with a second seed, the
    sampling-noise floor of the distances), PyHessian ``density`` and curvlinops
    ``lanczos_approximate_spectrum``; whole-process wall time, and L1 distances between
    smoothed densities under two kernels (Ghorbani's and curvlinops').
(c) Hutchinson Tr(H) with ``--probes`` Rademacher probes: curvlab ``hutchinson_trace``,
    PyHessian ``trace(maxIter=probes, tol=-inf)`` (``tol=0`` still stops early whenever the
    running mean is negative) and curvlinops ``hutchinson_trace`` (called on chunks of 32
    probes: one call on 100 would need ~27 GB for the CNN); estimate and standard error.

PyPI's ``pyhessian`` 0.1 calls ``torch.eig``, which current torch no longer has; the PyHessian
SLQ code path (and only it) installs a shim that answers ``torch.eig(T, eigenvectors=True)``
with ``torch.linalg.eigh`` on the small symmetric tridiagonal T, in the old return format.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import json
import math
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
import warnings
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

_PROCESS_START = time.perf_counter()

HERE = Path(__file__).resolve().parent
DATA_ROOT = HERE / ".data"
DEFAULT_MIRROR = "/work/shared/datasets"
KAPPA = 3.0  # curvlinops' default kernel-width parameter (Papyan 2020)


# =========================================================================== configuration


@dataclass
class Settings:
    """Everything a worker needs to rebuild the same problem."""

    threads: int = 2
    device: str = "cpu"
    smoke: bool = False
    samples: int = 1024
    repeats: int = 5
    steps: int = 80
    draws: int = 10
    probes: int = 100
    seed: int = 0
    vectors: int = 10  # columns of the "vmapped" products in part (a)
    budget_s: float = 20.0  # stop repeating a product (after 2) once this much time is spent
    trace_chunk: int = 32  # probes per curvlinops hutchinson_trace call (curvlab's max_vectors)


@dataclass
class Task:
    """One subprocess: a part, a problem (model x batching) and a library variant."""

    part: str  # "hvp" | "slq" | "trace"
    model: str  # "mlp" | "cnn"
    batches: int  # the data split into this many equal batches
    library: str  # "torch" | "curvlab" | "curvlinops" | "pyhessian"
    variant: str = ""
    options: dict[str, Any] = field(default_factory=dict)  # curvlab keyword arguments
    k: int = 1  # vectors per product (part a)
    dtype: str = "float32"
    seed: int = 0
    label: str = ""
    settings: dict[str, Any] = field(default_factory=dict)


def settings_for(args: argparse.Namespace) -> Settings:
    if args.smoke:
        return Settings(
            threads=args.threads,
            device=args.device,
            smoke=True,
            samples=64,
            repeats=2,
            steps=5,
            draws=2,
            probes=5,
            vectors=3,
            budget_s=1.0,
            trace_chunk=2,
        )
    return Settings(
        threads=args.threads,
        device=args.device,
        samples=args.samples,
        repeats=args.repeats,
        steps=args.steps,
        draws=args.draws,
        probes=args.probes,
        budget_s=args.budget,
    )


# =========================================================================== problem (workers)


def build_model(name: str, smoke: bool) -> Any:
    """The MLP 196-512-512-10 (ReLU, or tanh for "mlp-tanh") or the small CNN, initialised
    from seed 0 (tiny in smoke mode)."""
    import torch
    from torch import nn

    torch.manual_seed(0)
    if name in ("mlp", "mlp-tanh"):
        widths = (196, 32, 32, 10) if smoke else (196, 512, 512, 10)
        activation = nn.Tanh if name == "mlp-tanh" else nn.ReLU
        layers: list[nn.Module] = []
        for i, (a, b) in enumerate(zip(widths[:-1], widths[1:], strict=True)):
            layers.append(nn.Linear(a, b))
            if i < len(widths) - 2:
                layers.append(activation())
        return nn.Sequential(*layers)
    if name == "cnn":
        c1, c2 = (4, 8) if smoke else (16, 32)
        return nn.Sequential(
            nn.Conv2d(1, c1, 3),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Conv2d(c1, c2, 3),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Flatten(),
            nn.Linear(c2 * 5 * 5, 10),
        )
    raise ValueError(f"unknown model {name!r}")


def load_mnist(samples: int) -> tuple[Any, Any, str]:
    """The first ``samples`` MNIST training images (uint8) and labels, or random stand-ins."""
    import numpy as np

    try:
        from curvlab.data import load_dataset

        mirror = os.environ.get("CURVLAB_DATA_MIRROR") or DEFAULT_MIRROR
        arrays = load_dataset("mnist", root=DATA_ROOT, mirror=mirror, download=False)
        return arrays["x_train"][:samples], arrays["y_train"][:samples], "MNIST"
    except Exception as err:
        rng = np.random.default_rng(0)
        images = rng.integers(0, 256, (samples, 28, 28), dtype=np.uint8)
        labels = rng.integers(0, 10, samples)
        return images, labels, f"random data (MNIST unavailable: {str(err).splitlines()[0]})"


def build_batches(model: str, settings: Settings, count: int) -> list[tuple[Any, Any]]:
    """Inputs as float32 tensors (14x14 flattened for the MLP, 1x28x28 for the CNN)."""
    import numpy as np
    import torch

    from curvlab.data import downscale

    images, labels, _ = load_mnist(settings.samples)
    if model.startswith("mlp"):
        x = downscale(images, 14).reshape(len(images), -1) / 255.0
    else:
        x = images[:, None].astype(np.float64) / 255.0
    inputs = torch.as_tensor(x, dtype=torch.float32, device=settings.device)
    targets = torch.as_tensor(labels, dtype=torch.long, device=settings.device)
    return list(zip(inputs.chunk(count), targets.chunk(count), strict=True))


# =========================================================================== measurement helpers


def sync(device: str) -> None:
    import torch

    if device.startswith("cuda"):
        torch.cuda.synchronize()


def timed(fn: Callable[[], Any], device: str) -> float:
    sync(device)
    start = time.perf_counter()
    fn()
    sync(device)
    return time.perf_counter() - start


def peak_memory_mb(device: str) -> dict[str, float]:
    """Max RSS of this process (and peak CUDA allocation on a GPU), in MB."""
    out = {"peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}
    if device.startswith("cuda"):
        import torch

        out["peak_cuda_mb"] = torch.cuda.max_memory_allocated() / 2**20
    return out


def gradient_fn(model: Any, batches: list[tuple[Any, Any]]) -> Callable[[], list[Any]]:
    """One full-batch gradient by plain reverse mode (batches weighted by size)."""
    import torch

    params = [p for p in model.parameters() if p.requires_grad]
    loss_fn = torch.nn.CrossEntropyLoss()
    total = sum(len(x) for x, _ in batches)

    def gradient() -> list[Any]:
        out = [torch.zeros_like(p) for p in params]
        for x, y in batches:
            grads = torch.autograd.grad(loss_fn(model(x), y), params)
            for o, g in zip(out, grads, strict=True):
                o.add_(g, alpha=len(x) / total)
        return out

    return gradient


def gradient_baseline(model: Any, batches: list, settings: Settings) -> tuple[float, float]:
    """(min gradient time, seconds spent measuring it) — the unit of the 'ratio' columns."""
    start = time.perf_counter()
    gradient = gradient_fn(model, batches)
    gradient()
    best = min(timed(gradient, settings.device) for _ in range(max(settings.repeats, 3)))
    return best, time.perf_counter() - start


def probe_vectors(dim: int, k: int, seed: int) -> Any:
    """(dim, k) float64 Gaussian vectors from a seeded CPU generator."""
    import torch

    gen = torch.Generator().manual_seed(seed)
    return torch.randn(dim, k, generator=gen, dtype=torch.float64)


def split_like(flat: Any, params: list[Any]) -> list[Any]:
    """A flat (P,) vector as a list of parameter-shaped tensors (PyHessian's format)."""
    pieces = flat.split([p.numel() for p in params])
    return [v.reshape(p.shape).to(p) for v, p in zip(pieces, params, strict=True)]


def flat_of(tensors: Any) -> Any:
    import torch

    return torch.cat([t.reshape(-1).double().cpu() for t in tensors])


# =========================================================================== part (a): products


CURVLAB_OPERATOR_KEYS = ("method", "cache", "vectorize", "max_vectors")


def curvlab_operator(task: Task, model: Any, loss_fn: Any, batches: list) -> Any:
    """curvlab's HessianOperator with the task's dtype and options (defaults where absent)."""
    import torch

    from curvlab.curvature import HessianOperator

    kwargs = {k: v for k, v in task.options.items() if k in CURVLAB_OPERATOR_KEYS}
    return HessianOperator(model, loss_fn, batches, dtype=getattr(torch, task.dtype), **kwargs)


def curvlab_choices(op: Any) -> dict[str, Any]:
    """What curvlab's "auto" rules settled on (after at least one product)."""
    return {
        "method_used": op.method_used,
        "cache_used": op.cache,
        "vectorize_used": op.vectorize,
    }


def product_for(task: Task, model: Any, batches: list, settings: Settings) -> tuple:
    """(apply(V) for the task's variant, dim): apply takes a (P, k) float64 CPU matrix."""
    import torch

    params = [p for p in model.parameters() if p.requires_grad]
    dim = sum(p.numel() for p in params)
    loss_fn = torch.nn.CrossEntropyLoss()
    dev = settings.device
    if task.library == "curvlab":
        op = curvlab_operator(task, model, loss_fn, batches)

        def apply(v: Any) -> Any:
            out = (op @ v.to(dev)).cpu()
            apply.choices = curvlab_choices(op)  # type: ignore[attr-defined]
            return out

        return apply, dim
    if task.library == "curvlinops":
        from curvlinops import HessianLinearOperator

        H = HessianLinearOperator(model, loss_fn, params, batches)
        return (lambda v: (H @ v.to(device=dev, dtype=torch.float32)).double().cpu()), dim
    if task.library == "pyhessian":
        return pyhessian_product(task, model, batches, params, settings), dim
    raise ValueError(f"unknown library {task.library!r}")


def pyhessian_product(
    task: Task, model: Any, batches: list, params: list, settings: Settings
) -> Callable:
    import torch
    from pyhessian import hessian
    from pyhessian.utils import hessian_vector_product

    cuda = settings.device.startswith("cuda")
    criterion = torch.nn.CrossEntropyLoss()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # backward(create_graph=True) reference-cycle warning
        if task.variant == "single":
            if len(batches) != 1:
                raise ValueError("PyHessian's single-batch mode takes exactly one batch")
            h = hessian(model, criterion, data=batches[0], cuda=cuda)
        else:
            h = hessian(model, criterion, dataloader=batches, cuda=cuda)

    def apply(v: Any) -> Any:
        vs = split_like(v[:, 0], h.params)
        if task.variant == "single":
            hv = hessian_vector_product(h.gradsH, h.params, vs)
        else:
            _, hv = h.dataloader_hv_product(vs)
        return flat_of(hv)[:, None]

    return apply


def flops_of(fn: Callable[[], Any]) -> int:
    """Floating-point operations one call of ``fn`` dispatches (matmuls and convolutions, as
    ``torch.utils.flop_counter`` counts them): the work a product does, whatever its speed."""
    from torch.utils.flop_counter import FlopCounterMode

    with FlopCounterMode(display=False) as counter:
        fn()
    return counter.get_total_flops()


def run_hvp(task: Task, settings: Settings) -> dict[str, Any]:
    """Interleave gradient and product calls; report minima, first-call time, uᵀHv and the
    FLOPs of one gradient and of one product."""
    model = build_model(task.model, settings.smoke).to(settings.device)
    batches = build_batches(task.model, settings, task.batches)
    gradient = gradient_fn(model, batches)
    out: dict[str, Any] = {"setup_s": 0.0}
    if task.library == "torch":
        gradient()
        grads = [timed(gradient, settings.device) for _ in range(3 * settings.repeats)]
        return {
            **out,
            "grad_s": grads,
            "product_s": [],
            "first_call_s": None,
            "grad_flops": flops_of(gradient),
        }
    start = time.perf_counter()
    apply, dim = product_for(task, model, batches, settings)
    out["setup_s"] = time.perf_counter() - start
    vectors = probe_vectors(dim, task.k, task.seed + 1)
    out["first_call_s"] = timed(lambda: apply(vectors), settings.device)
    gradient()
    grads, products = [], []
    for _ in range(settings.repeats):
        # three gradients per product: the CNN's gradient time varies ~2x from call to call
        grads += [timed(gradient, settings.device) for _ in range(3)]
        products.append(timed(lambda: apply(vectors), settings.device))
        if len(products) >= 2 and sum(products) > settings.budget_s:
            break  # slow products (the CNN's 10-vector ones): fewer repeats
    out.update(getattr(apply, "choices", {}))
    u, v = probe_vectors(dim, 1, 101), probe_vectors(dim, 1, 102)
    out["uHv"] = float((u[:, 0] * apply(v)[:, 0]).sum())
    out.update(grad_flops=flops_of(gradient), product_flops=flops_of(lambda: apply(vectors)))
    out.update(grad_s=grads, product_s=products, dim=dim)
    return out


# =========================================================================== part (b): SLQ


def shim_torch_eig() -> None:
    """Give PyHessian 0.1 the removed ``torch.eig`` for its symmetric tridiagonal T.

    Old ``torch.eig`` returned eigenvalues as an (n, 2) [real, imag] tensor; T is symmetric, so
    ``eigh`` gives the same eigenpairs (ascending, imaginary parts zero).
    """
    import torch

    def eig(matrix: Any, eigenvectors: bool = False) -> tuple[Any, Any]:
        values, vectors = torch.linalg.eigh(matrix)
        pairs = torch.stack([values, torch.zeros_like(values)], dim=1)
        return pairs, vectors if eigenvectors else torch.empty(0)

    torch.eig = eig  # type: ignore[attr-defined]


def counting_hessian(base: type) -> type:
    """A curvlinops HessianLinearOperator subclass that counts products and records them."""

    class Counting(base):  # type: ignore[misc, valid-type]
        calls = 0
        columns = 0
        record = False  # keep (X, A @ X) of every ``@`` call (memory: only for traces)
        records: list[tuple[Any, Any]] = []

        def _matmat(self, M: list[Any]) -> list[Any]:
            type(self).calls += 1
            type(self).columns += int(M[0].shape[-1])
            return super()._matmat(M)

        def __matmul__(self, X: Any) -> Any:
            out = super().__matmul__(X)
            if type(self).record:
                type(self).records.append((X, out))
            return out

    return Counting


def run_slq(task: Task, settings: Settings) -> dict[str, Any]:
    import torch

    model = build_model(task.model, settings.smoke).to(settings.device)
    batches = build_batches(task.model, settings, task.batches)
    loss_fn = torch.nn.CrossEntropyLoss()
    start = time.perf_counter()
    if task.library == "curvlab":
        out = slq_curvlab(task, model, loss_fn, batches, settings)
    elif task.library == "pyhessian":
        out = slq_pyhessian(task, model, loss_fn, batches, settings)
    else:
        out = slq_curvlinops(task, model, loss_fn, batches, settings)
    out["compute_s"] = time.perf_counter() - start
    return out


def slq_curvlab(task: Task, model: Any, loss_fn: Any, batches: list, settings: Settings) -> dict:
    import torch

    from curvlab.curvature import slq

    op = curvlab_operator(task, model, loss_fn, batches)
    counts = {"calls": 0, "columns": 0, "seconds": 0.0}
    matmat_rows = op.matmat_rows  # what Lanczos calls: one vector per row

    def counted(rows: Any) -> Any:
        counts["calls"] += 1
        counts["columns"] += int(rows.shape[0])
        start = time.perf_counter()
        out = matmat_rows(rows)
        sync(settings.device)
        counts["seconds"] += time.perf_counter() - start
        return out

    op.matmat_rows = counted  # type: ignore[method-assign]
    basis = getattr(torch, task.options.get("basis_dtype", "float64"))
    reorth = task.options.get("reorth", "partial")
    q = slq(op, settings.steps, settings.draws, seed=task.seed, basis_dtype=basis, reorth=reorth)
    return {
        "nodes": [n.tolist() for n in q.nodes],
        "weights": [w.tolist() for w in q.weights],
        "products": counts,
        "orthogonality": q.orthogonality,
        "projections": q.projections,
        **curvlab_choices(op),
    }


@contextlib.contextmanager
def counting_pyhessian() -> Iterator[dict[str, int]]:
    """Count PyHessian's Hessian-vector products (both modes) while the block runs."""
    module = sys.modules["pyhessian.hessian"]
    counts = {"calls": 0, "columns": 0, "seconds": 0.0}
    hvp, loader_hvp = module.hessian_vector_product, module.hessian.dataloader_hv_product

    def timed(fn: Callable[..., Any], *args: Any) -> Any:
        counts["calls"] += 1
        counts["columns"] += 1
        start = time.perf_counter()
        out = fn(*args)
        counts["seconds"] += time.perf_counter() - start
        return out

    def counted(*args: Any) -> Any:
        return timed(hvp, *args)

    def counted_loader(self: Any, v: Any) -> Any:
        return timed(loader_hvp, self, v)

    module.hessian_vector_product = counted
    module.hessian.dataloader_hv_product = counted_loader
    try:
        yield counts
    finally:
        module.hessian_vector_product = hvp
        module.hessian.dataloader_hv_product = loader_hvp


def slq_pyhessian(task: Task, model: Any, loss_fn: Any, batches: list, settings: Settings) -> dict:
    import pyhessian
    import torch

    shim_torch_eig()
    torch.manual_seed(task.seed)
    cuda = settings.device.startswith("cuda")
    with counting_pyhessian() as counts, warnings.catch_warnings():
        warnings.simplefilter("ignore")  # backward(create_graph=True) reference-cycle warning
        if len(batches) == 1:
            h = pyhessian.hessian(model, loss_fn, data=batches[0], cuda=cuda)
        else:
            h = pyhessian.hessian(model, loss_fn, dataloader=batches, cuda=cuda)
        nodes, weights = h.density(iter=settings.steps, n_v=settings.draws)
    return {
        "nodes": [[float(x) for x in n] for n in nodes],
        "weights": [[float(x) for x in w] for w in weights],
        "products": counts,
        "mode": "single-batch" if len(batches) == 1 else "dataloader",
    }


def slq_curvlinops(task: Task, model: Any, loss_fn: Any, batches: list, settings: Settings) -> dict:
    import torch
    from curvlinops import HessianLinearOperator, lanczos_approximate_spectrum

    params = [p for p in model.parameters() if p.requires_grad]
    cls = counting_hessian(HessianLinearOperator)
    H = cls(model, loss_fn, params, batches)
    setup_calls, setup_columns = cls.calls, cls.columns  # the determinism check's products
    torch.manual_seed(task.seed)
    grid, density = lanczos_approximate_spectrum(
        H, ncv=settings.steps, num_repeats=settings.draws, kappa=KAPPA
    )
    return {
        "grid": grid.double().cpu().tolist(),
        "density": density.double().cpu().tolist(),
        "products": {"calls": cls.calls - setup_calls, "columns": cls.columns - setup_columns},
        "ncv": settings.steps,
    }


# =========================================================================== part (c): trace


def trace_curvlab(task: Task, model: Any, loss_fn: Any, batches: list, s: Settings) -> tuple:
    from curvlab.curvature import hutchinson_trace

    op = curvlab_operator(task, model, loss_fn, batches)
    est = hutchinson_trace(op, s.probes, seed=task.seed)
    return est.estimate, est.stderr, s.probes


def trace_pyhessian(task: Task, model: Any, loss_fn: Any, batches: list, s: Settings) -> tuple:
    import pyhessian
    import torch

    torch.manual_seed(task.seed)
    cuda = s.device.startswith("cuda")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if len(batches) == 1:
            h = pyhessian.hessian(model, loss_fn, data=batches[0], cuda=cuda)
        else:
            h = pyhessian.hessian(model, loss_fn, dataloader=batches, cuda=cuda)
        # Its stopping rule |mean - previous| / (previous + 1e-6) < tol also fires whenever
        # the running mean is negative, even with tol=0; tol=-inf never fires: maxIter probes.
        samples = torch.tensor(h.trace(maxIter=s.probes, tol=-math.inf), dtype=torch.float64)
    return float(samples.mean()), float(samples.std()) / math.sqrt(len(samples)), len(samples)


def trace_curvlinops(task: Task, model: Any, loss_fn: Any, batches: list, s: Settings) -> tuple:
    """curvlinops' ``hutchinson_trace`` in calls of ``trace_chunk`` probes.

    It pushes all its probes through one vmapped product; 100 probes at once would need about
    27 GB for the CNN, so it is called on chunks of at most 32 (the blocks curvlab uses) and
    the chunk means are averaged: the same estimator. It returns the mean only, so the
    per-probe samples vᵀHv for the standard error are read off the recorded products.
    """
    import torch
    from curvlinops import HessianLinearOperator, hutchinson_trace

    params = [p for p in model.parameters() if p.requires_grad]
    cls = counting_hessian(HessianLinearOperator)
    H = cls(model, loss_fn, params, batches)
    cls.record = True  # after the determinism check's products
    torch.manual_seed(task.seed)
    total = 0.0
    for start in range(0, s.probes, s.trace_chunk):
        n = min(s.trace_chunk, s.probes - start)
        total += n * float(hutchinson_trace(H, n))
    samples = torch.cat([(x.double() * ax.double()).sum(0).cpu() for x, ax in cls.records])
    if len(samples) != s.probes:
        raise RuntimeError(f"recorded {len(samples)} probes, expected {s.probes}")
    return total / s.probes, float(samples.std()) / math.sqrt(len(samples)), len(samples)


def run_trace(task: Task, settings: Settings) -> dict[str, Any]:
    import torch

    model = build_model(task.model, settings.smoke).to(settings.device)
    batches = build_batches(task.model, settings, task.batches)
    loss_fn = torch.nn.CrossEntropyLoss()
    runner = {"curvlab": trace_curvlab, "pyhessian": trace_pyhessian}.get(
        task.library, trace_curvlinops
    )
    start = time.perf_counter()
    mean, stderr, probes = runner(task, model, loss_fn, batches, settings)
    return {
        "compute_s": time.perf_counter() - start,
        "estimate": mean,
        "stderr": stderr,
        "probes": probes,  # the number actually used
    }


# =========================================================================== worker entry


def run_one(task: Task, settings: Settings) -> dict[str, Any]:
    """Run one task in this process; for SLQ and trace, also time a gradient as the unit."""
    start = time.perf_counter()
    runner = {"hvp": run_hvp, "slq": run_slq, "trace": run_trace}[task.part]
    out = runner(task, settings)
    out["task_s"] = time.perf_counter() - start
    if task.part != "hvp":
        model = build_model(task.model, settings.smoke).to(settings.device)
        batches = build_batches(task.model, settings, task.batches)
        out["grad_min_s"], out["baseline_s"] = gradient_baseline(model, batches, settings)
    return out


def run_worker(spec: str, result_path: str) -> None:
    """Run a list of tasks in this fresh process (one task per process except in smoke mode)."""
    tasks = [Task(**t) for t in json.loads(spec)]
    settings = Settings(**tasks[0].settings)
    started = time.perf_counter()
    import torch

    torch.set_num_threads(settings.threads)
    import_s = time.perf_counter() - started
    results = []
    for task in tasks:
        try:
            out = run_one(task, settings)
        except Exception as err:
            out = {"error": f"{type(err).__name__}: {str(err).splitlines()[0][:200]}"}
        out.update(peak_memory_mb(settings.device), import_torch_s=import_s)
        out["torch_threads"] = torch.get_num_threads()
        results.append(out)
    for out in results:
        out["worker_s"] = time.perf_counter() - _PROCESS_START
    Path(result_path).write_text(json.dumps(results))


# =========================================================================== orchestration


def curvlab_variants(k: int) -> list[tuple[str, dict[str, Any], int, str]]:
    """(label, options, vectors, dtype) of part (a)'s curvlab rows.

    ``cached``: the per-batch map is built once (``torch.func.linearize`` for jvp, the retained
    gradient graph for double backward, as in PyHessian's single-batch mode) and reused.
    ``loop``: the k vectors go through one at a time instead of together (``vmap``). ``auto``:
    curvlab's defaults, i.e. what a user gets (cache if it fits in memory, vmap-or-loop by
    timing both on the first block).
    """
    plain = {"cache": False, "vectorize": True}
    cached = {"cache": True, "vectorize": True}
    rows = []
    for kk in (1, k):
        rows += [
            ("curvlab jvp", {"method": "jvp", **plain}, kk, "float32"),
            ("curvlab jvp cached", {"method": "jvp", **cached}, kk, "float32"),
        ]
        if kk > 1:
            loop = {"method": "jvp", "cache": True, "vectorize": False}
            rows.append(("curvlab jvp cached loop", loop, kk, "float32"))
        rows += [
            ("curvlab double_backward", {"method": "double_backward", **plain}, kk, "float32"),
            (
                "curvlab double_backward cached",
                {"method": "double_backward", **cached},
                kk,
                "float32",
            ),
            ("curvlab auto", {}, kk, "float32"),
            ("curvlab auto float64", {}, kk, "float64"),
        ]
    return rows


def hvp_tasks(model: str, batches: int, s: Settings) -> list[Task]:
    k = s.vectors
    tasks = [Task("hvp", model, batches, "torch", "gradient", label="torch gradient")]
    for label, options, kk, dtype in curvlab_variants(k):
        tasks.append(Task("hvp", model, batches, "curvlab", "", options, kk, dtype, label=label))
    for kk in (1, k):
        tasks.append(Task("hvp", model, batches, "curvlinops", "jvp", k=kk, label="curvlinops"))
    if batches == 1:
        tasks.append(Task("hvp", model, batches, "pyhessian", "single", label="pyhessian single"))
    tasks.append(
        Task("hvp", model, batches, "pyhessian", "dataloader", label="pyhessian dataloader")
    )
    return tasks


def slq_tasks(model: str, batches: int, core: bool = False) -> list[Task]:
    """The reference is curvlab with its defaults (label "curvlab slq"), seed 0. ``core``:
    only that run, its second seed (the noise floor), PyHessian and curvlinops."""
    uncached = {"method": "jvp", "cache": False, "vectorize": True}
    full = {"reorth": "full"}
    if core:
        return [
            Task("slq", model, batches, "curvlab", label="curvlab slq"),
            Task("slq", model, batches, "curvlab", options=full, label="curvlab slq full reorth"),
            Task("slq", model, batches, "curvlab", seed=1, label="curvlab slq seed 1"),
            Task("slq", model, batches, "pyhessian", "density", label="pyhessian density"),
            Task("slq", model, batches, "curvlinops", "lanczos", label="curvlinops lanczos"),
        ]
    return [
        Task("slq", model, batches, "curvlab", label="curvlab slq"),
        Task("slq", model, batches, "curvlab", options=full, label="curvlab slq full reorth"),
        Task("slq", model, batches, "curvlab", options=uncached, label="curvlab slq uncached"),
        Task(
            "slq",
            model,
            batches,
            "curvlab",
            options={"basis_dtype": "float32"},
            label="curvlab slq float32 basis",
        ),
        Task("slq", model, batches, "curvlab", seed=1, label="curvlab slq seed 1"),
        Task("slq", model, batches, "pyhessian", "density", label="pyhessian density"),
        Task("slq", model, batches, "curvlinops", "lanczos", label="curvlinops lanczos"),
    ]


def trace_tasks(model: str, batches: int) -> list[Task]:
    return [
        Task("trace", model, batches, lib, label=f"{lib} hutchinson")
        for lib in ("curvlab", "pyhessian", "curvlinops")
    ]


def worker_env(threads: int) -> dict[str, str]:
    env = dict(os.environ)
    for name in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        env[name] = str(threads)
    env["PYTHONHASHSEED"] = "0"
    env.setdefault("MPLCONFIGDIR", tempfile.gettempdir())
    return env


def machine_cpu_seconds() -> float:
    """CPU seconds the whole machine has been busy since boot (/proc/stat), or NaN."""
    try:
        fields = Path("/proc/stat").read_text().splitlines()[0].split()[1:]
    except OSError:
        return math.nan
    user, nice, system, _idle, _iowait, irq, softirq, steal = (int(f) for f in fields[:8])
    return (user + nice + system + irq + softirq + steal) / os.sysconf("SC_CLK_TCK")


def children_cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def wait_for_quiet(limit_s: float, threshold: float = 0.15, sample_s: float = 3.0) -> float:
    """Wait (up to ``limit_s``) until other processes use < ``threshold`` cores; return usage."""
    deadline = time.monotonic() + limit_s
    while True:
        before = machine_cpu_seconds()
        time.sleep(sample_s)
        busy = (machine_cpu_seconds() - before) / sample_s
        if not busy >= threshold or time.monotonic() > deadline:  # NaN counts as quiet
            return busy
        print(f"    machine busy ({busy:.2f} cores used by other processes): waiting", flush=True)
        time.sleep(20)


def run_group(tasks: list[Task], settings: Settings, timeout: float) -> list[dict[str, Any]]:
    """Run tasks in one fresh interpreter; each result gets the process wall time if alone.

    Also records how many cores other processes kept busy meanwhile (``others_cores``: the
    machine's CPU time less this worker's, over the wall time), the noise indicator.
    """
    for task in tasks:
        task.settings = asdict(settings)
    with tempfile.NamedTemporaryFile(suffix=".json", delete=False) as handle:
        result_path = handle.name
    spec = json.dumps([asdict(t) for t in tasks])
    command = [sys.executable, str(Path(__file__).resolve()), "--worker", spec]
    machine, children = machine_cpu_seconds(), children_cpu_seconds()
    start = time.perf_counter()
    try:
        proc = subprocess.run(
            [*command, "--result", result_path],
            env=worker_env(settings.threads),
            capture_output=True,
            text=True,
            timeout=timeout * len(tasks),
            check=False,
        )
        wall = time.perf_counter() - start
        text = Path(result_path).read_text() if proc.returncode == 0 else ""
        if proc.returncode != 0 or not text:
            tail = (proc.stderr or proc.stdout).strip().splitlines()[-3:]
            error = f"exit {proc.returncode}: " + " | ".join(tail)
            return [{"error": error, "wall_s": wall} for _ in tasks]
        results = json.loads(text)
    except subprocess.TimeoutExpired:
        return [{"error": f"timed out after {timeout:.0f} s per task"} for _ in tasks]
    finally:
        Path(result_path).unlink(missing_ok=True)
    others = machine_cpu_seconds() - machine - (children_cpu_seconds() - children)
    for result in results:
        result["wall_s"] = wall if len(tasks) == 1 else None  # grouped: no per-task process
        result["others_cores"] = max(others, 0.0) / wall
    return results


def run_quietly(tasks: list[Task], settings: Settings, args: argparse.Namespace) -> list[dict]:
    """Wait for a quiet machine, run; rerun once if other processes got busy meanwhile."""
    if args.quiet_wait <= 0:
        return run_group(tasks, settings, args.timeout)
    best: list[dict] = []
    for attempt in range(2):
        wait_for_quiet(args.quiet_wait)
        results = run_group(tasks, settings, args.timeout)
        noise = max(r.get("others_cores", 0.0) for r in results)
        if not best or noise < max(r.get("others_cores", 0.0) for r in best):
            best = results
        if noise < 0.25 or attempt == 1:
            break
        print(f"    other processes used {noise:.2f} cores meanwhile: measuring again", flush=True)
    return best


def groups(tasks: list[Task], smoke: bool) -> list[list[Task]]:
    """One task per process; in smoke mode one process per library (torch imports cost ~3 s)."""
    if not smoke:
        return [[t] for t in tasks]
    by_library: dict[str, list[Task]] = {}
    for task in tasks:
        by_library.setdefault(task.library, []).append(task)
    return list(by_library.values())


# =========================================================================== analysis


def l1_distance(grid: Any, a: Any, b: Any) -> float:
    import numpy as np

    return float(np.trapezoid(np.abs(np.asarray(a) - np.asarray(b)), grid))


def ghorbani_l1(first: dict, second: dict) -> float:
    """L1 between two SLQ densities: Ghorbani variance and 10,000-point grid on the union."""
    import numpy as np

    from curvlab.curvature import density_grid, kernel_variance, smoothed_density

    n1, w1 = [np.asarray(n) for n in first["nodes"]], [np.asarray(w) for w in first["weights"]]
    n2, w2 = [np.asarray(n) for n in second["nodes"]], [np.asarray(w) for w in second["weights"]]
    union = np.concatenate(n1 + n2)
    grid = density_grid(union)
    variance = kernel_variance(union, "ghorbani")
    return l1_distance(
        grid, smoothed_density(n1, w1, grid, variance), smoothed_density(n2, w2, grid, variance)
    )


def curvlinops_kernel(cl: dict) -> tuple[Any, float]:
    """curvlinops' grid and its kernel variance in eigenvalue units.

    Its std is 2/(ncv-1)/sqrt(8 ln kappa) on the spectrum rescaled to [-1, 1]; the grid spans
    exactly the rescaled interval, so the scale factor is half the grid's width.
    """
    import numpy as np

    grid = np.asarray(cl["grid"])
    half_width = (grid[-1] - grid[0]) / 2
    std = 2 / (cl["ncv"] - 1) / math.sqrt(8 * math.log(KAPPA)) * half_width
    return grid, std**2


def density_on(run: dict, grid: Any, variance: float) -> Any:
    import numpy as np

    from curvlab.curvature import smoothed_density

    nodes = [np.asarray(n) for n in run["nodes"]]
    weights = [np.asarray(w) for w in run["weights"]]
    return smoothed_density(nodes, weights, grid, variance)


def slq_distances(rows: list[dict]) -> None:
    """Fill ``l1_ghorbani`` and ``l1_curvlinops_kernel`` (vs curvlab's defaults, seed 0)."""
    by_label = {r["label"]: r for r in rows if "error" not in r}
    ref = by_label.get("curvlab slq")
    cl = by_label.get("curvlinops lanczos")
    if ref is None:
        return
    ref_on_cl = None
    if cl is not None:
        grid, variance = curvlinops_kernel(cl)
        ref_on_cl = density_on(ref, grid, variance)
    full = by_label.get("curvlab slq full reorth")
    if full is not None:
        ref["top10_vs_full"] = top_ritz_difference(ref, full)
    for row in rows:
        if "error" in row or row is ref:
            continue
        if "nodes" in row:
            row["l1_ghorbani"] = ghorbani_l1(ref, row)
            if ref_on_cl is not None:
                row["l1_curvlinops_kernel"] = l1_distance(
                    grid, ref_on_cl, density_on(row, grid, variance)
                )
        elif ref_on_cl is not None:
            row["l1_curvlinops_kernel"] = l1_distance(grid, ref_on_cl, row["density"])
            row["l1_ghorbani_na"] = "curvlinops returns a density on its own grid, not nodes"


def top_ritz_difference(a: dict, b: dict, count: int = 10) -> float:
    """Largest relative difference of the top ``count`` Ritz values, over draws."""
    import numpy as np

    worst = 0.0
    for na, nb in zip(a["nodes"], b["nodes"], strict=True):
        ta, tb = np.sort(na)[::-1][:count], np.sort(nb)[::-1][:count]
        worst = max(worst, float(np.max(np.abs(ta - tb) / np.abs(tb))))
    return worst


# =========================================================================== tables


def fmt(x: float | None, digits: int = 1) -> str:
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "n/a"
    return f"{x:.{digits}f}"


def hvp_table(rows: list[dict]) -> str:
    lines = [
        "| model | data | measurement | k | ms per vector | gradient ms | ratio to gradient "
        "| FLOP ratio | first call ms | setup s | peak MB | uᵀHv rel. diff | others' cores |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        head = f"| {r['model']} | {r['batches']}×{r['batch_size']} | {label_of(r)} | {r['k']}"
        if "error" in r:
            lines.append(f"{head} | failed: {r['error'][:120]} |||||||")
            continue
        grad = min(r["grad_s"]) * 1e3
        if r["library"] == "torch":
            lines.append(
                f"{head} | – | {grad:.1f} | 1.00 | 1.00 | – | – | {r['peak_rss_mb']:.0f} | – "
                f"| {others(r)} |"
            )
            continue
        per_vec = min(r["product_s"]) * 1e3 / r["k"]
        rel = r.get("uHv_rel")
        flop_ratio = r["product_flops"] / r["k"] / r["grad_flops"]
        lines.append(
            f"{head} | {per_vec:.1f} | {grad:.1f} | {per_vec / grad:.2f} | {flop_ratio:.2f} | "
            f"{r['first_call_s'] * 1e3:.0f} | {r['setup_s']:.2f} | {r['peak_rss_mb']:.0f} | "
            f"{'n/a' if rel is None else f'{rel:.1e}'} | {others(r)} |"
        )
    return "\n".join(lines)


def label_of(row: dict) -> str:
    """The row's label; for curvlab's automatic choices, what they settled on."""
    label = row["label"]
    automatic = row.get("library") == "curvlab" and not row.get("options", {}).get("method")
    if not automatic or "cache_used" not in row:
        return label
    parts = [row["method_used"], "cached" if row["cache_used"] else "uncached"]
    if row.get("k", 1) > 1 or row.get("part") == "slq":
        parts.append("loop" if row["vectorize_used"] is False else "vmap")
    return f"{label} [{', '.join(parts)}]"


def others(row: dict) -> str:
    """Cores other processes kept busy while this row was measured (0 = a quiet machine)."""
    value = row.get("others_cores")
    return "n/a" if value is None else f"{value:.2f}"


def process_wall(row: dict) -> str:
    """Whole-process seconds less the gradient-unit measurement, or 'grouped' (smoke mode)."""
    if row.get("wall_s") is None:
        return "grouped"
    return f"{row['wall_s'] - row.get('baseline_s', 0.0):.1f}"


def slq_table(rows: list[dict]) -> str:
    lines = [
        "| model | data | run | process wall s | compute s | in products s | compute / gradient | Hv products (vectors) | peak MB | orthogonality (projections) | top-10 Ritz vs full reorth | L1 vs curvlab, Ghorbani kernel | L1 vs curvlab, curvlinops kernel | others' cores |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        head = f"| {r['model']} | {r['batches']}×{r['batch_size']} | {label_of(r)}"
        if "error" in r:
            lines.append(f"{head} | failed: {r['error'][:120]} |||||||||||")
            continue
        seconds = r["products"].get("seconds")
        in_products = "–" if seconds is None else f"{seconds:.1f}"
        orth = "–"
        if "orthogonality" in r:
            orth = f"{r['orthogonality']:.0e} ({r['projections']})"
        top10 = f"{r['top10_vs_full']:.0e}" if "top10_vs_full" in r else "–"
        wall = process_wall(r)
        ratio = r["compute_s"] / r["grad_min_s"]
        ref = "reference" if r["label"] == "curvlab slq" else None
        l1g = ref or (fmt(r.get("l1_ghorbani"), 3) if "nodes" in r else "n/a (density only)")
        l1c = ref or fmt(r.get("l1_curvlinops_kernel"), 3)
        lines.append(
            f"{head} | {wall} | {r['compute_s']:.1f} | {in_products} | {ratio:.0f} | "
            f"{r['products']['columns']} | {r['peak_rss_mb']:.0f} | {orth} | {top10} | {l1g} | "
            f"{l1c} | {others(r)} |"
        )
    return "\n".join(lines)


def trace_table(rows: list[dict]) -> str:
    lines = [
        "| model | data | library | probes | process wall s | compute s | compute / gradient | Tr(H) ± stderr | peak MB | others' cores |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        head = f"| {r['model']} | {r['batches']}×{r['batch_size']} | {r['library']}"
        if "error" in r:
            lines.append(f"{head} | failed: {r['error'][:120]} |||||||")
            continue
        wall = process_wall(r)
        lines.append(
            f"{head} | {r['probes']} | {wall} | {r['compute_s']:.1f} | "
            f"{r['compute_s'] / r['grad_min_s']:.0f} | {r['estimate']:.3f} ± {r['stderr']:.3f} | "
            f"{r['peak_rss_mb']:.0f} | {others(r)} |"
        )
    return "\n".join(lines)


def add_consistency(rows: list[dict]) -> None:
    """Relative deviation of each row's uᵀHv from curvlab's float64 product (same model)."""
    refs = {
        r["model"]: r["uHv"]
        for r in rows
        if r.get("library") == "curvlab"
        and r.get("dtype") == "float64"
        and r.get("k") == 1
        and "uHv" in r
    }
    for r in rows:
        if "uHv" in r and r["model"] in refs:
            r["uHv_rel"] = abs(r["uHv"] - refs[r["model"]]) / max(abs(refs[r["model"]]), 1e-300)


# =========================================================================== main


def machine_info(settings: Settings) -> dict[str, Any]:
    import importlib.metadata as md

    def version(name: str) -> str:
        try:
            return md.version(name)
        except md.PackageNotFoundError:
            return "absent"

    cpu = "unknown"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    return {
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "python": platform.python_version(),
        "cpu": cpu,
        "cpu_count": os.cpu_count(),
        "load_average_at_start": os.getloadavg(),
        "torch": version("torch"),
        "curvlinops": version("curvlinops-for-pytorch"),
        "pyhessian": version("pyhessian"),
        "threads": settings.threads,
        "device": settings.device,
    }


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--smoke", action="store_true", help="tiny problem, every code path, < 1 min")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    p.add_argument("--out", type=Path, help="also write the results as JSON here")
    p.add_argument("--models", default="mlp,cnn", help="comma-separated: mlp, mlp-tanh, cnn")
    p.add_argument("--parts", default="hvp,slq,trace", help="comma-separated: hvp, slq, trace")
    p.add_argument("--batchings", default="1,4", help="data split into this many batches (a)")
    p.add_argument("--slq-batchings", default="1", help="the same for parts (b) and (c), e.g. 1,4")
    p.add_argument(
        "--skip",
        default="",
        help="comma-separated libraries or row labels to leave out, e.g. "
        "'curvlinops,curvlab slq seed 1'",
    )
    p.add_argument("--samples", type=int, default=1024)
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--steps", type=int, default=80)
    p.add_argument("--draws", type=int, default=10)
    p.add_argument("--probes", type=int, default=100)
    p.add_argument("--budget", type=float, default=20.0, help="seconds per product timing")
    p.add_argument(
        "--quiet-wait",
        type=float,
        default=None,
        help="before each process wait up to this many seconds for other processes to go "
        "idle, and rerun a measurement once if they were busy (0: neither; default 600, "
        "0 with --smoke)",
    )
    p.add_argument("--timeout", type=float, default=1800, help="seconds per subprocess")
    p.add_argument(
        "--slq-core",
        action="store_true",
        help="SLQ part: only curvlab's defaults (two seeds), PyHessian and curvlinops",
    )
    p.add_argument("--worker", help=argparse.SUPPRESS)
    p.add_argument("--result", help=argparse.SUPPRESS)
    return p.parse_args(argv)


def plan(args: argparse.Namespace, settings: Settings) -> list[Task]:
    models = args.models.split(",")
    parts = args.parts.split(",")
    batchings = [1] if args.smoke else [int(b) for b in args.batchings.split(",")]
    slq_batchings = [1] if args.smoke else [int(b) for b in args.slq_batchings.split(",")]
    if args.smoke:
        models = ["mlp"] if args.models == "mlp,cnn" else models
    tasks: list[Task] = []
    for model in models:
        if "hvp" in parts:
            for b in batchings:
                tasks += hvp_tasks(model, b, settings)
        for b in slq_batchings:
            if "slq" in parts:
                tasks += slq_tasks(model, b, core=args.slq_core)
            if "trace" in parts:
                tasks += trace_tasks(model, b)
    skip = set(filter(None, args.skip.split(",")))
    return [t for t in tasks if t.library not in skip and t.label not in skip]


def report(rows: list[dict], info: dict, data_note: str) -> str:
    hvp = [r for r in rows if r["part"] == "hvp"]
    slq = [r for r in rows if r["part"] == "slq"]
    tr = [r for r in rows if r["part"] == "trace"]
    add_consistency(hvp)
    for problem in {(r["model"], r["batches"]) for r in slq}:
        slq_distances([r for r in slq if (r["model"], r["batches"]) == problem])
    noise = [r["others_cores"] for r in rows if "others_cores" in r]
    head = (
        f"curvature benchmark — {info['date']}, {info['cpu']} ({info['cpu_count']} CPUs), "
        f"torch {info['torch']}, curvlinops {info['curvlinops']}, pyhessian {info['pyhessian']}, "
        f"{info['threads']} threads, device {info['device']}, data: {data_note}; "
        f"cores used by other processes during a measurement: max {max(noise, default=math.nan):.2f}"
    )
    out = [head, ""]
    if hvp:
        out += ["(a) one gradient vs one Hessian-vector product", "", hvp_table(hvp), ""]
    if slq:
        out += ["(b) SLQ density", "", slq_table(slq), ""]
    if tr:
        out += ["(c) Hutchinson trace", "", trace_table(tr), ""]
    return "\n".join(out)


def save(
    path: Path, info: dict, settings: Settings, data_note: str, rows: list, table: str = ""
) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    payload = {
        "machine": info,
        "settings": asdict(settings),
        "data": data_note,
        "table": table,
        "rows": rows,
    }
    path.write_text(json.dumps(payload, indent=1) + "\n")


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.worker:
        run_worker(args.worker, args.result)
        return 0
    settings = settings_for(args)
    if args.quiet_wait is None:
        args.quiet_wait = 0.0 if args.smoke else 600.0
    info = machine_info(settings)
    if info["load_average_at_start"][0] > 0.5:
        print(f"note: load average {info['load_average_at_start'][0]:.2f}; timings will be noisy")
    _, _, data_note = load_mnist(settings.samples)  # fills the cache once, before any timing
    print(f"data: {data_note}", flush=True)
    rows = []
    for group in groups(plan(args, settings), settings.smoke):
        for task, result in zip(group, run_quietly(group, settings, args), strict=True):
            row = {**asdict(task), **result, "batch_size": settings.samples // task.batches}
            row.pop("settings")
            status = result.get("error") or f"{result.get('task_s', 0.0):.1f} s in process"
            status += f" (other processes: {result.get('others_cores', math.nan):.2f} cores)"
            print(f"  {task.part:5} {task.model} {task.batches}× {task.label} k={task.k}: {status}")
            rows.append(row)
        sys.stdout.flush()
        if args.out:  # after every process, so an interrupted run keeps what it measured
            save(args.out, info, settings, data_note, rows)
    text = report(rows, info, data_note)
    print("\n" + text)
    if args.out:
        save(args.out, info, settings, data_note, rows, table=text)
        print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
