"""Ghorbani, Krishnan & Xiao (ICML 2019): Hessian eigenvalue densities through training.

Three pure functions, one per workflow task (setup and protocol: docs/papers/ghorbani2019.md):

* :func:`run_train` — SGD with momentum and a step learning-rate schedule on a class-stratified
  training subset, with or without BatchNorm or with population-statistics BN; writes
  checkpoints (state dicts, atomically) at the configured steps and returns the training-loss
  table.
* :func:`run_curvature` — one checkpoint: the full-batch Hessian of the un-augmented training
  subset (float64) in the configured BN mode(s), SLQ nodes and weights per draw, the top
  eigenpairs by Lanczos with full reorthogonalization, the fraction ρ_K of the full-batch
  gradient in the top-K eigenspace. Deterministic: checkpoint → the same numbers.
* :func:`run_validation` — SLQ against the explicit Hessian of an MLP small enough to
  diagonalize: Ritz values and smoothed densities (L1 distance).

BN Hessian modes (docs/papers/ghorbani2019.md, Corrections 2), after filter normalization of the
BN-fed layers:
``batch`` = mean of the minibatch Hessians over a fixed partition of the subset into batches of
the training batch size, each through its own statistics (the BN objective SGD follows);
``full`` = whole-subset statistics, differentiated; ``frozen`` = whole-subset statistics at θ
held constant (eval mode; the objective population-BN training follows). Networks without BN
have one Hessian, mode ``none``.
"""

from __future__ import annotations

import logging
import math
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from curvlab.io import with_run_keys
from curvlab.runtime import derive_seed, numpy_rng

log = logging.getLogger(__name__)

HESSIAN_MODES = ("none", "batch", "full", "frozen")
AUGMENTATIONS = ("crop", "flip")


# =========================================================================== data


def load_subset(
    dataset: str, root: str, n_samples: int, subset_seed: int, image_size: int | None
) -> tuple[np.ndarray, np.ndarray]:
    """A class-stratified subset of the training split, float32 (N, C, H, W), standardized per
    channel with the mean and standard deviation of the whole training split (MNIST: 0.1307,
    0.3081), and its labels. Reads the prepared arrays; a missing data set raises the data
    layer's error, never a substitute."""
    from curvlab.data import downscale, load_dataset, stratified_subset, to_float

    if dataset.lower().replace("-", "") == "imagenet":
        raise ValueError(
            "ImageNet is out of scope for this reproduction (docs/papers/ghorbani2019.md)"
        )
    arrays = load_dataset(dataset, root=root, download=False)
    x_all, y_all = arrays["x_train"], arrays["y_train"]
    if x_all.ndim == 3:
        x_all = x_all[:, None]
    mean, std = _channel_moments(x_all)
    x, y = stratified_subset(x_all, y_all, n_samples, numpy_rng(subset_seed, "ghorbani2019-subset"))
    x = to_float(x, np.float32)
    x = (x - mean[None, :, None, None].astype(np.float32)) / std[None, :, None, None].astype(
        np.float32
    )
    if image_size is not None and image_size != x.shape[-1]:
        x = downscale(x, image_size).astype(np.float32)
    return np.ascontiguousarray(x, dtype=np.float32), y.astype(np.int64)


def _channel_moments(images: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Exact per-channel mean and standard deviation of uint8 images in [0, 1] units, from
    256-bin histograms (fast, no float copy of the split)."""
    levels = np.arange(256, dtype=np.float64) / 255
    mean, std = [], []
    for c in range(images.shape[1]):
        counts = np.bincount(np.ascontiguousarray(images[:, c]).ravel(), minlength=256)
        p = counts / counts.sum()
        m = float(p @ levels)
        mean.append(m)
        std.append(float(np.sqrt(p @ (levels - m) ** 2)))
    return np.array(mean), np.array(std)


def augment_batch(x: Any, augment: tuple[str, ...], rng: np.random.Generator) -> Any:
    """Standard CIFAR augmentation on a batch: random crop after zero-padding by 4 pixels
    (``crop``) and horizontal flips with probability 1/2 (``flip``)."""
    import torch

    if "crop" in augment:
        pad = 4
        padded = torch.nn.functional.pad(x, (pad, pad, pad, pad))
        h, w = x.shape[-2:]
        offsets = rng.integers(0, 2 * pad + 1, size=(len(x), 2))
        x = torch.stack(
            [padded[i, :, a : a + h, b : b + w] for i, (a, b) in enumerate(offsets.tolist())]
        )
    if "flip" in augment:
        flips = torch.as_tensor(rng.random(len(x)) < 0.5)
        x = torch.where(flips[:, None, None, None], x.flip(-1), x)
    return x


# =========================================================================== shared helpers


def make_model(arch: str, bn: str, x: np.ndarray, seed: int) -> Any:
    import torch

    from curvlab.models.resnet import he_init_
    from curvlab.models.vgg import build_model

    model = build_model(arch, bn, in_channels=x.shape[1], image_size=x.shape[-1])
    generator = torch.Generator().manual_seed(derive_seed(seed, "ghorbani2019-init"))
    he_init_(model, generator)
    return model


def cross_entropy(out: Any, y: Any) -> Any:
    import torch

    return torch.nn.functional.cross_entropy(out, y)


@contextmanager
def batch_statistics(model: Any) -> Iterator[None]:
    """Train-mode BN (each batch's own statistics) without updating the running statistics."""
    from curvlab.models.resnet import bn_layers

    layers = bn_layers(model)
    was = model.training
    tracking = [m.track_running_stats for m in layers]
    model.train()
    for m in layers:
        m.track_running_stats = False
    try:
        yield
    finally:
        for m, t in zip(layers, tracking, strict=True):
            m.track_running_stats = t
        model.train(was)


def full_loss(model: Any, x: Any, y: Any, bn: str, batch: int) -> tuple[float, float]:
    """Loss and accuracy on the whole subset in the objective training follows: plain (no
    BN), minibatch statistics over a fixed partition into ``batch``-sized batches (BN), or
    the current population statistics (population BN; the caller has set them)."""
    import torch

    total, correct = 0.0, 0
    with torch.no_grad():
        ctx = batch_statistics(model) if bn == "batch" else _eval(model)
        with ctx:
            for start in range(0, len(x), batch):
                out = model(x[start : start + batch])
                yb = y[start : start + batch]
                total += float(torch.nn.functional.cross_entropy(out, yb, reduction="sum"))
                correct += int((out.argmax(1) == yb).sum())
    return total / len(x), correct / len(x)


@contextmanager
def _eval(model: Any) -> Iterator[None]:
    was = model.training
    model.eval()
    try:
        yield
    finally:
        model.train(was)


def checkpoint_path(checkpoint_dir: str, step: int) -> str:
    return f"{checkpoint_dir}/step~{step}.pt"


def save_checkpoint(path: str, payload: dict[str, Any]) -> None:
    """torch.save to a temporary file in the same directory, then an atomic rename."""
    import torch

    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.{os.getpid()}.partial")
    torch.save(payload, tmp)
    os.replace(tmp, target)


def _progress(label: str, done: int, total: int, start: float, **values: float) -> None:
    elapsed = time.perf_counter() - start
    extra = " ".join(f"{k}={v:.4g}" for k, v in values.items())
    log.info("%s %d/%d (%.1f s) %s", label, done, total, elapsed, extra)


# =========================================================================== training


@dataclass(frozen=True, kw_only=True)
class TrainSpec:
    dataset: str
    data_root: str
    n_samples: int
    arch: str
    bn: str
    eta: float
    steps: int
    drops: list[int]
    checkpoints: list[int]
    checkpoint_dir: str
    seed: int
    subset_seed: int
    image_size: int | None
    momentum: float
    weight_decay: float
    batch: int
    drop_factor: float
    augment: list[str]
    eval_every: int

    def __post_init__(self) -> None:
        from curvlab.models.resnet import check_bn
        from curvlab.models.vgg import check_arch

        check_bn(self.bn)
        check_arch(self.arch)
        bad = [a for a in self.augment if a not in AUGMENTATIONS]
        if bad:
            raise ValueError(f"unknown augmentation(s) {bad}; use {AUGMENTATIONS}")
        if any(c < 0 or c > self.steps for c in self.checkpoints):
            raise ValueError("checkpoints must lie in [0, steps]")

    def lr(self, step: int) -> float:
        return self.eta * self.drop_factor ** sum(step >= d for d in self.drops)


def run_train(spec: TrainSpec, device: str = "cpu") -> pd.DataFrame:
    """Train one (architecture, BN mode, η schedule, seed); checkpoints go to
    ``spec.checkpoint_dir``. Rows: per step ``lr`` and ``batch_loss`` (the minibatch loss
    SGD saw, before the update), every ``eval_every`` steps ``full_loss`` and
    ``full_accuracy`` on the un-augmented subset (see :func:`full_loss`)."""
    import torch

    from curvlab.models.resnet import set_population_statistics

    x_np, y_np = load_subset(
        spec.dataset, spec.data_root, spec.n_samples, spec.subset_seed, spec.image_size
    )
    x = torch.as_tensor(x_np, device=device)
    y = torch.as_tensor(y_np, device=device)
    model = make_model(spec.arch, spec.bn, x_np, spec.seed).to(device)
    opt = torch.optim.SGD(
        model.parameters(), lr=spec.eta, momentum=spec.momentum, weight_decay=spec.weight_decay
    )
    rng = numpy_rng(spec.seed, "ghorbani2019-minibatches")
    aug_rng = numpy_rng(spec.seed, "ghorbani2019-augment")
    augment = tuple(spec.augment)
    checkpoints = set(spec.checkpoints)
    rows: list[tuple[int, str, float]] = []
    order: np.ndarray = np.empty(0, dtype=np.int64)
    diverged = False
    start = time.perf_counter()
    Path(spec.checkpoint_dir).mkdir(parents=True, exist_ok=True)
    for step in range(spec.steps + 1):
        if spec.bn == "population":
            set_population_statistics(model, x)  # at the current θ, before using the net
        if step in checkpoints:
            save_checkpoint(
                checkpoint_path(spec.checkpoint_dir, step),
                {
                    "state_dict": {k: v.detach().cpu() for k, v in model.state_dict().items()},
                    "arch": spec.arch,
                    "bn": spec.bn,
                    "step": step,
                    "diverged": diverged,
                },
            )
        if step % spec.eval_every == 0 or step == spec.steps:
            loss, acc = full_loss(model, x, y, spec.bn, spec.batch)
            rows += [(step, "full_loss", loss), (step, "full_accuracy", acc)]
            if step % (10 * spec.eval_every) == 0:
                _progress("train", step, spec.steps, start, loss=loss, acc=acc)
        if step == spec.steps:
            break
        if len(order) < spec.batch:
            order = np.concatenate([order, rng.permutation(len(x))])
        idx, order = order[: spec.batch], order[spec.batch :]
        xb = x[torch.as_tensor(idx, device=device)]
        if augment:
            xb = augment_batch(xb, augment, aug_rng)
        lr = spec.lr(step)
        for group in opt.param_groups:
            group["lr"] = lr
        model.train(spec.bn != "population")  # population BN: constant statistics
        loss = cross_entropy(model(xb), y[torch.as_tensor(idx, device=device)])
        rows += [(step, "lr", lr), (step, "batch_loss", float(loss.detach()))]
        if not math.isfinite(rows[-1][2]):
            diverged = True
            log.warning("diverged at step %d", step)
            for later in sorted(c for c in checkpoints if c > step):
                save_checkpoint(
                    checkpoint_path(spec.checkpoint_dir, later),
                    {"state_dict": None, "arch": spec.arch, "bn": spec.bn, "step": later,
                     "diverged": True},
                )  # fmt: skip
            break
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    frame = pd.DataFrame(rows, columns=["step", "quantity", "value"])
    frame["diverged"] = bool(diverged)
    keys = {
        "dataset": spec.dataset,
        "n_samples": spec.n_samples,
        "arch": spec.arch,
        "bn": spec.bn,
        "eta": spec.eta,
        "seed": spec.seed,
    }
    return with_run_keys(frame, keys)


# =========================================================================== curvature


@dataclass(frozen=True, kw_only=True)
class CurvatureSpec:
    dataset: str
    data_root: str
    n_samples: int
    arch: str
    bn: str
    eta: float
    seed: int
    checkpoint_dir: str
    steps: list[int]
    hessian_modes: list[str]
    subset_seed: int
    image_size: int | None
    hessian_samples: int | None
    batch: int
    hessian_batch: int
    lanczos_steps: int
    draws: int
    top_eigs: int
    topk_steps: int | None
    ks: list[int]
    filter_normalize: bool
    cache: bool
    vectorize: bool
    dtype: str

    def __post_init__(self) -> None:
        bad = [m for m in self.hessian_modes if m not in HESSIAN_MODES]
        if bad:
            raise ValueError(f"unknown Hessian mode(s) {bad}; use {HESSIAN_MODES}")
        if self.bn == "none" and list(self.hessian_modes) != ["none"]:
            raise ValueError("a network without BN has one Hessian: hessian_modes = ['none']")
        if self.bn != "none" and "none" in self.hessian_modes:
            raise ValueError("mode 'none' is for networks without BN")
        if self.top_eigs < max(self.ks):
            raise ValueError("top_eigs must be at least max(ks)")


def load_checkpoint(path: str) -> dict[str, Any]:
    import torch

    return torch.load(path, map_location="cpu", weights_only=True)


def hessian_operator(model: Any, x: Any, y: Any, mode: str, spec: CurvatureSpec) -> Any:
    """The full-batch Hessian operator of ``model`` (already filter-normalized and, for
    ``frozen``, carrying the whole-subset statistics) in BN mode ``mode``, its products
    computed in ``spec.dtype`` and accumulated in float64."""
    from curvlab.curvature import HessianOperator
    from curvlab.runtime import torch_dtype

    if mode == "batch":
        size, op_mode = spec.batch, "train"
    elif mode == "full":
        size, op_mode = len(x), "train"
    else:
        size, op_mode = spec.hessian_batch, "eval"
    batches = [(x[s : s + size], y[s : s + size]) for s in range(0, len(x), size)]
    return HessianOperator(
        model,
        cross_entropy,
        batches,
        mode=op_mode,
        dtype=torch_dtype(spec.dtype),
        cache=spec.cache,
        vectorize=spec.vectorize,
    )


def run_curvature(spec: CurvatureSpec, device: str = "cpu") -> pd.DataFrame:
    """Curvature of one checkpoint in each configured Hessian mode (module docstring).

    Rows (``draw`` −1 and ``index`` 0 where not applicable): ``node``/``weight`` (SLQ, per
    draw and node), ``eig``/``residual`` (top eigenpairs, largest first), ``rho`` (index = K:
    ‖P_K g‖²/‖g‖² with g the full-batch gradient in the same mode), ``loss``, ``grad_norm``,
    ``n_params``, ``n_hessian`` (samples), ``orthogonality`` and ``projections`` (the SLQ
    Lanczos basis's estimated orthogonality and reorthogonalization work), and timings
    ``setup_s`` (operator, determinism check, gradient), ``slq_s`` (SLQ, including building
    cached linearizations), ``topk_s`` (eigenvectors and their residuals) and ``hvp_s`` (slq_s
    per Hessian-vector product).
    """

    x_np, y_np = load_subset(
        spec.dataset, spec.data_root, spec.n_samples, spec.subset_seed, spec.image_size
    )
    if spec.hessian_samples is not None and spec.hessian_samples < len(x_np):
        from curvlab.data import stratified_subset

        x_np, y_np = stratified_subset(
            x_np, y_np, spec.hessian_samples, numpy_rng(spec.subset_seed, "ghorbani2019-hess")
        )
    frames = []
    for step in spec.steps:
        frame = _curvature_at(spec, step, x_np, y_np, device)
        keys = {
            "dataset": spec.dataset,
            "n_samples": spec.n_samples,
            "arch": spec.arch,
            "bn": spec.bn,
            "eta": spec.eta,
            "seed": spec.seed,
            "step": step,
        }
        frames.append(with_run_keys(frame, keys))
    return pd.concat(frames, ignore_index=True)


def _curvature_at(
    spec: CurvatureSpec, step: int, x_np: np.ndarray, y_np: np.ndarray, device: str
) -> pd.DataFrame:
    import torch

    from curvlab.curvature import gradient_overlap
    from curvlab.models.resnet import filter_normalize, set_population_statistics

    ckpt = load_checkpoint(checkpoint_path(spec.checkpoint_dir, step))
    rows: list[tuple[str, str, int, int, float]] = []
    diverged = bool(ckpt.get("diverged")) or ckpt["state_dict"] is None
    if diverged:  # one NaN loss row per mode marks the checkpoint
        rows += [(mode, "loss", -1, 0, math.nan) for mode in spec.hessian_modes]
    else:
        model = make_model(spec.arch, spec.bn, x_np, spec.seed)
        model.load_state_dict(ckpt["state_dict"])
        model = model.to(device=device, dtype=torch.float64)
        x = torch.as_tensor(x_np, device=device, dtype=torch.float64)
        y = torch.as_tensor(y_np, device=device)
        if spec.bn != "none" and spec.filter_normalize:
            filter_normalize(model)
        for mode in spec.hessian_modes:
            t0 = time.perf_counter()
            if mode == "frozen":
                set_population_statistics(model, x)
            op = hessian_operator(model, x, y, mode, spec)
            loss, g = op.loss_and_gradient()
            t3 = time.perf_counter()
            q, pairs, t4 = _spectrum(op, spec, step)
            hvp = (t4 - t3) / (spec.lanczos_steps * spec.draws)
            t5 = time.perf_counter()
            for d, (nodes, weights) in enumerate(zip(q.nodes, q.weights, strict=True)):
                rows += [(mode, "node", d, j, float(v)) for j, v in enumerate(nodes)]
                rows += [(mode, "weight", d, j, float(v)) for j, v in enumerate(weights)]
            eig = pairs.eigenvalues.cpu().numpy()
            rows += [(mode, "eig", -1, i, float(v)) for i, v in enumerate(eig)]
            rows += [(mode, "residual", -1, i, float(v)) for i, v in enumerate(pairs.residuals)]
            for k in spec.ks:
                rho = gradient_overlap(g, pairs.eigenvectors[:, :k])
                rows.append((mode, "rho", -1, k, rho))
            scalars = {
                "loss": loss,
                "grad_norm": float(g.norm()),
                "n_params": op.dim,
                "n_hessian": len(x),
                "setup_s": t3 - t0,
                "hvp_s": hvp,
                "slq_s": t4 - t3,
                "topk_s": t5 - t4,
                # Lanczos's own accuracy record: the ω-estimate of the largest |q_iᵀq_j| kept
                # and the basis vectors projected out (partial reorthogonalization).
                "orthogonality": q.orthogonality,
                "projections": q.projections,
            }
            rows += [(mode, k, -1, 0, float(v)) for k, v in scalars.items()]
            log.info(
                "step %d mode %s: λmax %.4g, λ1/λ11 %.3g, ρ10 %.3f, HVP %.3f s, SLQ %.1f s, "
                "top-%d %.1f s",
                step,
                mode,
                eig[0],
                eig[0] / eig[10] if len(eig) > 10 else math.nan,
                gradient_overlap(g, pairs.eigenvectors[:, : min(10, len(eig))]),
                hvp,
                t4 - t3,
                spec.top_eigs,
                t5 - t4,
            )
    frame = pd.DataFrame(rows, columns=["hessian_mode", "quantity", "draw", "index", "value"])
    frame["diverged"] = bool(diverged)
    return frame


def _spectrum(op: Any, spec: CurvatureSpec, step: int) -> tuple[Any, Any, float]:
    """SLQ quadrature of every draw and the top eigenpairs; returns the time SLQ ended.

    With ``topk_steps`` None the eigenpairs are the top Ritz pairs of SLQ's draw 0 (a Lanczos
    run from a random start, partially reorthogonalized: the same Ritz values as the full
    reorthogonalization of the paper's code; needs ``lanczos_steps`` ≥ 3·``top_eigs`` to
    converge), with residuals measured by one more product, as :func:`curvlab.curvature.topk`
    does; otherwise a separate :func:`~curvlab.curvature.topk` run of ``topk_steps``.
    """
    import torch

    from curvlab.curvature import Eigenpairs, Quadrature, lanczos, rademacher, slq, topk

    if spec.topk_steps is not None:
        q = slq(op, steps=spec.lanczos_steps, draws=spec.draws, seed=_seed(spec, "slq", step))
        t = time.perf_counter()
        return q, topk(op, spec.top_eigs, steps=spec.topk_steps, seed=_seed(spec, "topk", step)), t
    start = rademacher(op.dim, spec.draws, _seed(spec, "slq", step), device=op.device)
    run = lanczos(op, start, spec.lanczos_steps, return_vectors=True)
    q = Quadrature.from_lanczos(run, op.dim)
    t = time.perf_counter()
    theta, s = run.ritz(0)
    order = torch.argsort(theta, descending=True)[: spec.top_eigs]
    m = int(run.lengths[0])
    vectors = run.vectors[0, :m].T @ s[:, order]
    values = theta[order]
    residuals = (op.matmat(vectors) - vectors * values).norm(dim=0)
    return q, Eigenpairs(values, vectors, residuals), t


def _seed(spec: CurvatureSpec, purpose: str, step: int) -> int:
    return derive_seed(spec.seed, f"ghorbani2019-{purpose}-{step}") % (2**31)


# =========================================================================== validation


@dataclass(frozen=True, kw_only=True)
class ValidationSpec:
    """SLQ against the explicit Hessian of a small MLP; ``grid_points`` (not a config key) is
    the resolution of the grid on which the smoothed densities are compared."""

    dataset: str
    data_root: str
    n_samples: int
    hidden: list[int]
    image_size: int
    train_steps: int
    eta: float
    batch: int
    lanczos_steps: int
    draws: int
    sigma2s: list[float]
    grid_points: int = 10_000
    seed: int
    subset_seed: int


def density_l1(
    exact: np.ndarray,
    nodes: list[np.ndarray],
    weights: list[np.ndarray],
    sigma2: float,
    points: int,
) -> float:
    """∫|φ̂_σ − φ_σ| over a grid covering both spectra, both renormalized to unit mass on the
    grid (as Ghorbani et al.'s code does); kernel variance σ²·max(1, range of the exact
    spectrum)."""
    from curvlab.curvature import (
        density_grid,
        exact_smoothed_density,
        kernel_variance,
        smoothed_density,
    )

    grid = density_grid(np.concatenate([exact, *nodes]), points=points)
    variance = kernel_variance(exact, "ghorbani", sigma2)
    step = grid[1] - grid[0]
    est = smoothed_density(nodes, weights, grid, variance)
    ref = exact_smoothed_density(exact, grid, variance)
    est /= est.sum() * step
    ref /= ref.sum() * step
    return float(np.abs(est - ref).sum() * step)


def run_validation(spec: ValidationSpec, device: str = "cpu") -> pd.DataFrame:
    """SLQ vs the explicit Hessian of a small MLP (no BN) at initialization and after
    ``train_steps`` of SGD (momentum 0.9): rows per ``state`` (init, trained): ``exact_eig``
    (ascending), ``node``/``weight`` per draw, ``l1`` per σ² (all draws, and ``l1_k1`` with
    draw 0 only), ``ritz_err`` (max over draws and the top 10 of |θ_i − λ_i|/λmax),
    ``topk_err`` (the core's top-10 Lanczos eigenvalues vs exact, /λmax), ``loss``,
    ``n_params``, ``exact_s`` and ``slq_s`` timings."""
    import torch

    from curvlab.curvature import slq, topk

    x_np, y_np = load_subset(
        spec.dataset, spec.data_root, spec.n_samples, spec.subset_seed, spec.image_size
    )
    arch = "mlp-" + "-".join(str(h) for h in spec.hidden)
    model = make_model(arch, "none", x_np, spec.seed).double().to(device)
    x = torch.as_tensor(x_np, dtype=torch.float64, device=device)
    y = torch.as_tensor(y_np, device=device)
    rows: list[tuple[str, str, int, int, float, float]] = []
    opt = torch.optim.SGD(model.parameters(), lr=spec.eta, momentum=0.9)
    rng = numpy_rng(spec.seed, "ghorbani2019-validation-batches")
    nan = math.nan
    for state in ("init", "trained"):
        if state == "trained":
            for _ in range(spec.train_steps):
                idx = torch.as_tensor(rng.choice(len(x), spec.batch, replace=False))
                loss = cross_entropy(model(x[idx]), y[idx])
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
        op = hessian_operator(
            model,
            x,
            y,
            "none",
            CurvatureSpec(
                dataset=spec.dataset, data_root=spec.data_root, n_samples=spec.n_samples,
                subset_seed=spec.subset_seed, image_size=spec.image_size, arch=arch, bn="none",
                eta=spec.eta, seed=spec.seed, checkpoint_dir="", steps=[0], hessian_modes=["none"],
                hessian_samples=None, batch=spec.batch, hessian_batch=len(x),
                lanczos_steps=spec.lanczos_steps, draws=spec.draws, top_eigs=10, topk_steps=None,
                ks=[10], filter_normalize=False, cache=True, vectorize=True, dtype="float64",
            ),
        )  # fmt: skip
        t0 = time.perf_counter()
        dense = op.to_dense()
        exact = np.linalg.eigvalsh(((dense + dense.T) / 2).cpu().numpy())
        t1 = time.perf_counter()
        q = slq(op, steps=spec.lanczos_steps, draws=spec.draws, seed=derive_seed(spec.seed, state))
        t2 = time.perf_counter()
        lam_max = float(exact[-1])
        top = exact[::-1][:10]
        ritz_err = max(float(np.max(np.abs(np.sort(n)[::-1][:10] - top))) for n in q.nodes) / abs(
            lam_max
        )
        pairs = topk(op, 10, steps=spec.lanczos_steps, seed=derive_seed(spec.seed, "topk"))
        topk_err = float(np.max(np.abs(pairs.eigenvalues.cpu().numpy() - top))) / abs(lam_max)
        loss, _ = op.loss_and_gradient()
        rows += [(state, "exact_eig", -1, i, nan, float(v)) for i, v in enumerate(exact)]
        for d, (nodes, weights) in enumerate(zip(q.nodes, q.weights, strict=True)):
            rows += [(state, "node", d, j, nan, float(v)) for j, v in enumerate(nodes)]
            rows += [(state, "weight", d, j, nan, float(v)) for j, v in enumerate(weights)]
        for s2 in spec.sigma2s:
            rows.append(
                (
                    state,
                    "l1",
                    -1,
                    0,
                    s2,
                    density_l1(exact, q.nodes, q.weights, s2, spec.grid_points),
                )
            )
            rows.append(
                (
                    state,
                    "l1_k1",
                    -1,
                    0,
                    s2,
                    density_l1(exact, q.nodes[:1], q.weights[:1], s2, spec.grid_points),
                )
            )
        for name, value in {
            "ritz_err": ritz_err,
            "topk_err": topk_err,
            "loss": loss,
            "n_params": op.dim,
            "exact_s": t1 - t0,
            "slq_s": t2 - t1,
        }.items():
            rows.append((state, name, -1, 0, nan, float(value)))
        log.info(
            "%s: P = %d, loss %.4g, λmax %.4g, Ritz err %.2g, L1 %s (exact %.1f s, SLQ %.1f s)",
            state,
            op.dim,
            loss,
            lam_max,
            ritz_err,
            [round(r[5], 4) for r in rows if r[0] == state and r[1] == "l1"],
            t1 - t0,
            t2 - t1,
        )
    frame = pd.DataFrame(rows, columns=["state", "quantity", "draw", "index", "sigma2", "value"])
    keys = {
        "dataset": spec.dataset,
        "n_samples": spec.n_samples,
        "arch": arch,
        "seed": spec.seed,
    }
    return with_run_keys(frame, keys)
