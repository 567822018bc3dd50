"""Jacot, Gabriel & Hongler (ICLR 2020): the Hessian's moments through training vs Corollary 1.

Pure functions from frozen specs to tidy tables (docs/papers/jacot2020.md; the estimators are in
:mod:`curvlab.experiments.jacot2020_estimators`):

* :func:`run_kernels` — the limiting kernels Σ, Θ, Φ, Υ (and two mis-readings of Υ) on the
  training inputs by 2-D Gauss–Hermite quadrature (:mod:`curvlab.theory.jacot`), and Y*.
* :func:`run_lambda` — Λ by Monte-Carlo: the mean over initializations of Λ̂ = (∂G/∂θ)Jᵀ on
  a wide network, with its standard error.
* :func:`run_init` — initialization-only statistics per seed: ‖Θ̂ − Θ‖_F/‖Θ‖_F and the same
  for the Rao-Blackwellized Σ̂ and Φ̂, Tr Φ̂/N, Tr S exactly, Tr S^{2,3,4} by Hutchinson, and on
  a subset of inputs the kernels Θ̂, Σ̂, Φ̂ and Υ̂ (Hutchinson) themselves.
* :func:`run_trial` — full-batch gradient descent (t = ηk) from each seed, with Tr H^k,
  k = 1..4, and all its parts measured at a grid of steps, the training loss on a dense grid,
  and that initialization's own Corollary-1 predictions (corrected, flow and printed forms).
* :func:`run_rayleigh` — Figure 2: Rayleigh quotients vᵀIv and vᵀSv of the top eigenvectors of
  I and of S.
* :func:`run_surface` — Figure 3: the loss around a trained global minimum of an L = 4 network on
  data uniform on the unit disk, along eigenvectors of I (GD with η = c/λ_max(Θ̂₀/N) from the
  curvature at initialization, then Levenberg–Marquardt to zero loss).

Data: the first N MNIST training images, block-averaged 28 → 14, flattened (n₀ = 196) and each
scaled to ‖x‖²/n₀ = 1 [R]; labels ±1 by parity (n_L = 1) or one-hot (n_L = 10) [R]. Models:
:class:`curvlab.models.ntk_mlp.NTKMLP`, float64, initialization seeded from (seed, "jacot2020/
init") — the same weights for both nonlinearities.
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass

import numpy as np
import pandas as pd

from curvlab.papers.jacot2020 import (
    JACOT2020_INIT,
    JACOT2020_RAYLEIGH,
    JACOT2020_SURFACE,
    JACOT2020_TRIAL,
)
from curvlab.runtime import derive_seed, numpy_rng
from curvlab.theory import jacot as theory

log = logging.getLogger(__name__)

LABELS = ("parity", "one_hot")
INPUT_NORMS = ("sample", "none")


# --------------------------------------------------------------------------- data


def mnist_data(
    n_samples: int,
    image_size: int = 14,
    labels: str = "parity",
    input_norm: str = "sample",
    root: str = "data",
) -> tuple[np.ndarray, np.ndarray]:
    """(x (N, image_size²), y (N, n_L)) from the first N MNIST training images (see module)."""
    from curvlab.data import (
        downscale,
        even_odd_labels,
        first_n,
        flatten,
        load_dataset,
        one_hot,
        to_float,
    )

    if labels not in LABELS:
        raise ValueError(f"labels must be one of {LABELS}, got {labels!r}")
    if input_norm not in INPUT_NORMS:
        raise ValueError(f"input_norm must be one of {INPUT_NORMS}, got {input_norm!r}")
    arrays = load_dataset("mnist", root=root, download=False)
    images, digits = first_n(arrays["x_train"], arrays["y_train"], n_samples)
    x = flatten(downscale(to_float(images), image_size))
    if input_norm == "sample":
        x = x * math.sqrt(x.shape[1]) / np.linalg.norm(x, axis=1, keepdims=True)
    y = even_odd_labels(digits)[:, None] if labels == "parity" else one_hot(digits, 10)
    return np.ascontiguousarray(x), y.astype(np.float64)


def disk_data(n_samples: int, target: str, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """N points uniform on the unit disk and targets [R]: ``sine`` y = sin(πx₁)cos(πx₂)."""
    rng = numpy_rng(seed, "jacot2020/disk")
    radius = np.sqrt(rng.uniform(size=n_samples))
    angle = rng.uniform(0.0, 2 * np.pi, size=n_samples)
    x = np.stack([radius * np.cos(angle), radius * np.sin(angle)], 1)
    if target == "sine":
        y = np.sin(np.pi * x[:, 0]) * np.cos(np.pi * x[:, 1])
    elif target == "sign":
        y = np.sign(x[:, 0] * x[:, 1])
    else:
        raise ValueError(f"target must be sine or sign, got {target!r}")
    return x, y[:, None]


@dataclass(frozen=True, kw_only=True)
class Data:
    """The MNIST subset shared by every MNIST task (docs/papers/jacot2020.md, Reconstructed choice 3)."""

    n_samples: int
    image_size: int
    labels: str
    input_norm: str
    data_root: str

    def load(self) -> tuple[np.ndarray, np.ndarray]:
        return mnist_data(
            self.n_samples, self.image_size, self.labels, self.input_norm, self.data_root
        )


def _check_common(nonlinearity: str, depth: int, beta: float) -> None:
    theory.nonlinearity(nonlinearity)  # validates the name
    if depth < 2:
        raise ValueError("depth L must be at least 2")
    if beta < 0:
        raise ValueError("beta must be non-negative")


def _model(widths, nonlinearity: str, beta: float, seed: int, device: str):
    import torch

    from curvlab.models.ntk_mlp import NTKMLP

    gen = torch.Generator().manual_seed(derive_seed(seed, "jacot2020/init"))
    return NTKMLP(widths, nonlinearity, beta, gen).to(device)


def _tensors(device: str, *arrays: np.ndarray):
    import torch

    return [torch.as_tensor(a, dtype=torch.float64, device=device) for a in arrays]


class _Rows:
    """Collects rows (dicts of column values) and builds the frame once."""

    def __init__(self) -> None:
        self.rows: list[dict] = []

    def add(self, **row) -> None:
        self.rows.append(row)

    def frame(self, columns: list[str]) -> pd.DataFrame:
        return pd.DataFrame(self.rows, columns=columns)


# --------------------------------------------------------------------------- kernels


@dataclass(frozen=True, kw_only=True)
class KernelsSpec(Data):
    """Quadrature kernels of one nonlinearity on the training inputs."""

    nonlinearity: str
    depth: int
    beta: float
    nodes: int

    def __post_init__(self) -> None:
        _check_common(self.nonlinearity, self.depth, self.beta)


def _matrix_rows(nonlinearity: str, name: str, matrix: np.ndarray) -> pd.DataFrame:
    matrix = np.atleast_2d(matrix)
    rows, cols = np.indices(matrix.shape)
    return pd.DataFrame(
        {
            "nonlinearity": nonlinearity,
            "kernel": name,
            "row": rows.ravel().astype(np.int32),
            "col": cols.ravel().astype(np.int32),
            "value": matrix.ravel(),
        }
    )


def run_kernels(spec: KernelsSpec) -> pd.DataFrame:
    x, y = spec.load()
    start = time.perf_counter()
    k = theory.kernels(x, spec.depth, spec.nonlinearity, spec.beta, spec.nodes, readings=True)
    log.info("quadrature kernels for N = %d in %.1f s", len(x), time.perf_counter() - start)
    parts = {
        "theta": k.ntk,
        "sigma": k.output_cov,
        "upsilon": k.upsilon("corrected"),
        "upsilon_ntk_convention": k.upsilon("ntk_convention"),
        "upsilon_no_product": k.upsilon("no_product"),
        "y_star": y,
    }
    if spec.depth in (2, 3):
        parts["phi"] = k.phi()
    return pd.concat(
        [_matrix_rows(spec.nonlinearity, name, m) for name, m in parts.items()], ignore_index=True
    )


def kernel_matrices(frame: pd.DataFrame, nonlinearity: str) -> dict[str, np.ndarray]:
    """The matrices of one nonlinearity from a ``jacot2020.kernels`` table."""
    out = {}
    for name, rows in frame[frame["nonlinearity"] == nonlinearity].groupby("kernel"):
        shape = (int(rows["row"].max()) + 1, int(rows["col"].max()) + 1)
        m = np.full(shape, np.nan)
        m[rows["row"].to_numpy(), rows["col"].to_numpy()] = rows["value"].to_numpy()
        out[str(name)] = m
    return out


# --------------------------------------------------------------------------- Λ by Monte-Carlo


@dataclass(frozen=True, kw_only=True)
class LambdaSpec(Data):
    """Λ̂ = (∂G/∂θ)Jᵀ averaged over the initializations ``seeds`` at width ``width``."""

    nonlinearity: str
    depth: int
    beta: float
    width: int
    seeds: tuple[int, ...]
    chunk: int
    jacobian_bytes: int

    def __post_init__(self) -> None:
        _check_common(self.nonlinearity, self.depth, self.beta)
        object.__setattr__(self, "seeds", tuple(int(s) for s in self.seeds))


def _widths(n0: int, width: int, depth: int, n_out: int) -> tuple[int, ...]:
    return (n0, *([width] * (depth - 1)), n_out)


def run_lambda(spec: LambdaSpec, device: str = "cpu") -> pd.DataFrame:
    from curvlab.experiments.jacot2020_estimators import Functional, Jacobian, lambda_kernel

    x_np, y_np = spec.load()
    (x,) = _tensors(device, x_np)
    widths = _widths(x.shape[1], spec.width, spec.depth, y_np.shape[1])
    total = None
    squares = None
    for i, seed in enumerate(spec.seeds):
        start = time.perf_counter()
        model = _model(widths, spec.nonlinearity, spec.beta, seed, device)
        jac = Jacobian(Functional(model), x, spec.chunk, spec.jacobian_bytes)
        lam = lambda_kernel(model, x, jac).double().cpu().numpy()
        total = lam if total is None else total + lam
        squares = lam**2 if squares is None else squares + lam**2
        log.info(
            "Λ̂ seed %d (%d/%d) in %.1f s", seed, i + 1, len(spec.seeds), time.perf_counter() - start
        )
    n = len(spec.seeds)
    mean = total / n
    var = np.maximum(squares / n - mean**2, 0.0) * n / max(n - 1, 1)
    se = np.sqrt(var / n) if n > 1 else np.full_like(mean, np.nan)
    return pd.concat(
        [
            _matrix_rows(spec.nonlinearity, "lambda", mean),
            _matrix_rows(spec.nonlinearity, "lambda_se", se),
        ],
        ignore_index=True,
    )


# --------------------------------------------------------------------------- initialization


@dataclass(frozen=True, kw_only=True)
class InitSpec(Data):
    """Statistics of initializations at one width (no training)."""

    nonlinearity: str
    depth: int
    beta: float
    width: int
    seeds: tuple[int, ...]
    probes: int
    subset: int
    upsilon_probes: int
    kernels_path: str
    checks: bool
    chunk: int
    jacobian_bytes: int

    def __post_init__(self) -> None:
        _check_common(self.nonlinearity, self.depth, self.beta)
        object.__setattr__(self, "seeds", tuple(int(s) for s in self.seeds))
        if self.subset > self.n_samples:
            raise ValueError("subset must not exceed n_samples")


def run_init(spec: InitSpec, device: str = "cpu") -> pd.DataFrame:
    """Per seed: kernel distances to the quadrature kernels, traces, S moments, subset kernels."""
    import torch

    from curvlab.curvature import hutchinson_moments
    from curvlab.experiments.jacot2020_estimators import (
        Functional,
        s_operator,
        upsilon_hutchinson,
    )
    from curvlab.io import read_table
    from curvlab.models.ntk_mlp import empirical_ntk, rao_blackwell_kernels

    x_np, y_np = spec.load()
    n, n_out = y_np.shape
    x, y_star = _tensors(device, x_np, y_np)
    analytic = kernel_matrices(read_table(spec.kernels_path), spec.nonlinearity)
    widths = _widths(x.shape[1], spec.width, spec.depth, n_out)
    rows = _Rows()
    m = spec.subset

    def put(seed, quantity, value, stderr=0.0, row=0, col=0):
        rows.add(
            nonlinearity=spec.nonlinearity,
            width=spec.width,
            seed=seed,
            quantity=quantity,
            row=row,
            col=col,
            value=float(value),
            stderr=float(stderr),
        )

    def put_matrix(seed, quantity, matrix, stderr=None):
        for i in range(matrix.shape[0]):
            for j in range(matrix.shape[1]):
                se = 0.0 if stderr is None else stderr[i, j]
                put(seed, quantity, matrix[i, j], se, i, j)

    if spec.checks:
        for name, value in identity_checks(spec, device).items():
            put(spec.seeds[0], name, value)
    for idx, seed in enumerate(spec.seeds):
        start = time.perf_counter()
        model = _model(widths, spec.nonlinearity, spec.beta, seed, device)
        fn = Functional(model)
        with torch.no_grad():
            out = fn.f(fn.params, x)
            g = fn.g(fn.params, x)
            phi_rb, sigma_rb = (t.cpu().numpy() for t in rao_blackwell_kernels(model, x))
        with torch.no_grad():
            theta_hat = empirical_ntk(model, x).cpu().numpy()
        # Θ̂ is over N·n_L rows; its output-diagonal blocks estimate Θ (outputs factored out).
        theta_blocks = theta_hat.reshape(n, n_out, n, n_out)
        theta_mean = np.einsum("iaja->ij", theta_blocks) / n_out
        put(seed, "relf_theta", theory.rel_frobenius(theta_mean, analytic["theta"]))
        put(seed, "relf_sigma_rb", theory.rel_frobenius(sigma_rb, analytic["sigma"]))
        if "phi" in analytic:
            put(seed, "relf_phi_rb", theory.rel_frobenius(phi_rb, analytic["phi"]))
        put(seed, "tr_theta", np.trace(theta_hat) / n)
        put(seed, "tr_phi_rb", n_out * np.trace(phi_rb) / n)
        put(seed, "tr_sigma_rb", n_out * np.trace(sigma_rb) / n)
        c = (out - y_star.reshape(-1)) / n
        put(seed, "tr_s_exact", float(c @ g))
        put(seed, "loss", float((out - y_star.reshape(-1)).square().sum()) / (2 * n))
        s_op = s_operator(model, x, c)
        for e in hutchinson_moments(s_op, 4, spec.probes, derive_seed(seed, "jacot2020/probes")):
            put(seed, "tr_s_hutchinson" if e.k == 1 else f"tr_s{e.k}", e.estimate, e.stderr)
        put_matrix(seed, "subset_theta", theta_mean[:m, :m])
        put_matrix(seed, "subset_sigma_rb", sigma_rb[:m, :m])
        put_matrix(seed, "subset_phi_rb", phi_rb[:m, :m])
        if spec.upsilon_probes > 0:
            ups = upsilon_hutchinson(
                model, x[:m], spec.upsilon_probes, derive_seed(seed, "jacot2020/upsilon")
            ).cpu()
            # Output-diagonal blocks, averaged over outputs: Υ̃ = Υ ⊗ I.
            ups = ups.reshape(len(ups), m, n_out, m, n_out).diagonal(dim1=2, dim2=4).mean(-1)
            se = ups.std(0) / math.sqrt(len(ups)) if len(ups) > 1 else None
            put_matrix(seed, "subset_upsilon", ups.mean(0).numpy(), None if se is None else se)
        log.info(
            "init %s n=%d seed %d (%d/%d) in %.1f s",
            spec.nonlinearity,
            spec.width,
            seed,
            idx + 1,
            len(spec.seeds),
            time.perf_counter() - start,
        )
    return rows.frame(JACOT2020_INIT.names)


CHECK_SAMPLES = 6
CHECK_WIDTH = 6


def identity_checks(spec: InitSpec, device: str = "cpu") -> dict[str, float]:
    """:func:`explicit_checks` on a tiny network with the spec's depth, β, nonlinearity and labels
    (hidden width 6) and the first 6 images at 7×7 (P of a few hundred)."""
    x_np, y_np = mnist_data(CHECK_SAMPLES, 7, spec.labels, spec.input_norm, spec.data_root)
    x, y = _tensors(device, x_np, y_np)
    widths = _widths(x.shape[1], CHECK_WIDTH, spec.depth, y_np.shape[1])
    model = _model(widths, spec.nonlinearity, spec.beta, spec.seeds[0], device)
    errors = explicit_checks(model, x, y)
    log.info("identity checks (tiny network): %s", errors)
    widths = _widths(x.shape[1], HUTCHINSON_CHECK_WIDTH, spec.depth, y_np.shape[1])
    model = _model(widths, spec.nonlinearity, spec.beta, spec.seeds[0], device)
    z = hutchinson_checks(
        model, x, y, HUTCHINSON_CHECK_PROBES, derive_seed(spec.seeds[0], "jacot2020/check")
    )
    log.info("Hutchinson against explicit Hessians (width %d): %s", HUTCHINSON_CHECK_WIDTH, z)
    return {**errors, **z}


HUTCHINSON_CHECK_WIDTH = 16
HUTCHINSON_CHECK_PROBES = 100


def hutchinson_checks(model, x, y, probes: int, seed: int) -> dict[str, float]:
    """The stochastic estimators against the explicit Hessian of a small network (z-scores).

    ``zcheck_moments``: Tr H^k, k = 1..4, as measured along training (exact I-part and cross
    terms, Hutchinson for Tr S^{2,3,4}), and ``zcheck_plain_hutchinson``: Tr H^k by plain
    Hutchinson on the whole H (curvature core ``hutchinson_moments`` on ``HessianOperator``),
    each max_k |estimate − exact Tr H^k| / standard error; with ``probes`` Rademacher probes the
    standard errors are themselves accurate, so values above ~4 mean a bias.
    """
    import torch
    from torch.func import functional_call

    from curvlab.curvature import HessianOperator, ParameterSpace, hutchinson_moments
    from curvlab.experiments.jacot2020_estimators import measure

    n = x.shape[0]
    space = ParameterSpace.of(model)
    flat = space.flatten(space.values(model))

    def loss(v):
        out = functional_call(model, space.unflatten(v), (x,))
        return (out - y).square().sum() / (2 * n)

    hess = torch.autograd.functional.hessian(loss, flat, vectorize=True)
    exact = {k: float(torch.linalg.matrix_power(hess, k).trace()) for k in range(1, 5)}
    meas = measure(model, x, y, probes, seed)
    z_meas = 0.0
    for k in range(1, 5):
        value, se = meas.values[("moment", k)]
        # k = 1 is exact (se 0): its error must then be at rounding level.
        z = (
            abs(value - exact[k]) / se
            if se > 0
            else abs(value - exact[k]) / (1e-10 * abs(exact[k]))
        )
        z_meas = max(z_meas, z)
    op = HessianOperator(
        model,
        lambda out, target: (out - target).square().sum() / (2 * n),
        [(x, y)],
        dtype=torch.float64,
        check_deterministic=False,
    )
    z_plain = max(
        abs(e.estimate - exact[e.k]) / e.stderr for e in hutchinson_moments(op, 4, probes, seed)
    )
    return {"zcheck_moments": z_meas, "zcheck_plain_hutchinson": z_plain}


def explicit_checks(model, x, y) -> dict[str, float]:
    """The exact estimators against explicit Hessians (claims check_*: ≤ 1e-12).

    Errors are relative to Schatten norms (Tr|A|^k), so a moment near zero does not inflate
    them: ``check_tr_i`` Tr I^k vs Tr(Θ̂/N)^k, ``check_tr_s`` Tr S = ∇C·G, ``check_tr_h`` Tr H^k
    from the exact I-part, exact cross terms and dense S powers (the Hutchinson part replaced by
    the explicit S), each the maximum over k = 1..4 and over both J paths (stored,
    recomputed); ``check_g`` and ``check_lambda`` the closed-form g and Λ̂ = (∂G/∂θ)Jᵀ against
    autograd.
    """
    import torch
    from torch.func import functional_call

    from curvlab.curvature import ParameterSpace
    from curvlab.experiments.jacot2020_estimators import Functional, lambda_kernel, measure

    n = x.shape[0]
    space = ParameterSpace.of(model)
    flat = space.flatten(space.values(model))

    def outputs(v):
        return functional_call(model, space.unflatten(v), (x,)).reshape(-1)

    jac = torch.autograd.functional.jacobian(outputs, flat, vectorize=True)
    hess = torch.autograd.functional.hessian(
        lambda v: (outputs(v) - y.reshape(-1)).square().sum() / (2 * n), flat, vectorize=True
    )
    eye_part = jac.T @ jac / n
    s_part = hess - eye_part

    def schatten(a, k):
        return float(torch.linalg.eigvalsh(a).abs().pow(k).sum())

    errors = {"check_tr_i": 0.0, "check_tr_s": 0.0, "check_tr_h": 0.0}
    for budget in (1 << 40, 0):
        meas = measure(model, x, y, 2, 0, chunk=2, jacobian_bytes=budget, s_powers="dense")
        for k in range(1, 5):
            exact_i = float(torch.linalg.matrix_power(eye_part, k).trace())
            exact_h = float(torch.linalg.matrix_power(hess, k).trace())
            errors["check_tr_i"] = max(
                errors["check_tr_i"],
                abs(meas.values[("tr_i", k)][0] - exact_i) / schatten(eye_part, k),
            )
            errors["check_tr_h"] = max(
                errors["check_tr_h"],
                abs(meas.values[("moment", k)][0] - exact_h) / schatten(hess, k),
            )
        errors["check_tr_s"] = max(
            errors["check_tr_s"],
            abs(meas.values[("tr_s", 1)][0] - float(s_part.trace())) / schatten(s_part, 1),
        )
    fn = Functional(model)
    g_exact = torch.stack(
        [
            torch.autograd.functional.hessian(
                lambda v, i=i: outputs(v)[i], flat, vectorize=True
            ).trace()
            for i in range(len(jac))
        ]
    )
    errors["check_g"] = float((meas.g - g_exact).abs().max() / g_exact.abs().max())
    grad_g = torch.autograd.functional.jacobian(
        lambda v: fn.g(space.unflatten(v), x), flat, vectorize=True
    )
    lam_exact = grad_g @ jac.T
    lam = lambda_kernel(model, x, meas.jacobian)
    errors["check_lambda"] = float((lam - lam_exact).abs().max() / lam_exact.abs().max())
    return errors


# --------------------------------------------------------------------------- training runs


@dataclass(frozen=True, kw_only=True)
class TrialSpec(Data):
    """Gradient descent from each of ``seeds`` with the moments measured at ``grid`` steps."""

    nonlinearity: str
    depth: int
    beta: float
    width: int
    seeds: tuple[int, ...]
    eta: float
    grid: tuple[int, ...]
    probes: int
    loss_points: int
    chunk: int
    jacobian_bytes: int
    predictions: bool

    def __post_init__(self) -> None:
        _check_common(self.nonlinearity, self.depth, self.beta)
        object.__setattr__(self, "seeds", tuple(int(s) for s in self.seeds))
        grid = tuple(sorted({int(k) for k in self.grid}))
        if not grid or grid[0] != 0:
            raise ValueError("grid must contain step 0")
        object.__setattr__(self, "grid", grid)
        if self.eta <= 0:
            raise ValueError("eta must be positive")
        if self.predictions and self.depth not in (2, 3):
            raise ValueError("predictions need the closed-form g (depth 2 or 3)")

    @property
    def steps(self) -> int:
        return self.grid[-1]


#: (form, variant) of the per-initialization Tr S(t) predictions that are recorded.
PREDICTIONS = {
    "pred_tr_s": ("gd", "corrected"),
    "pred_tr_s_flow": ("flow", "corrected"),
    "pred_tr_s_printed": ("gd", "printed"),
}
Y_FORMS = {"y_err": "gd", "y_err_flow": "flow", "y_err_unnormalized": "unnormalized"}


def run_trial(spec: TrialSpec, device: str = "cpu") -> pd.DataFrame:
    frames = [_run_trial(spec, seed, device) for seed in spec.seeds]
    return pd.concat(frames, ignore_index=True)


def _run_trial(spec: TrialSpec, seed: int, device: str) -> pd.DataFrame:
    import copy

    import torch

    from curvlab.experiments.jacot2020_estimators import (
        lambda_kernel,
        measure,
        s_squared_trace,
    )
    from curvlab.models.ntk_mlp import rao_blackwell_kernels

    x_np, y_np = spec.load()
    n, n_out = y_np.shape
    x, y_star = _tensors(device, x_np, y_np)
    widths = _widths(x.shape[1], spec.width, spec.depth, n_out)
    model = _model(widths, spec.nonlinearity, spec.beta, seed, device)
    rows = _Rows()
    diverged = False

    def put(step, quantity, k, value, stderr=0.0):
        rows.add(step=step, quantity=quantity, k=k, value=float(value), stderr=float(stderr))

    grid = set(spec.grid)
    loss_grid = set(
        np.unique(np.round(np.geomspace(1, max(spec.steps, 1), spec.loss_points))).astype(int)
    ) | {0, spec.steps}
    probe_seed = derive_seed(seed, "jacot2020/probes")
    label = f"trial {spec.nonlinearity} n={spec.width} seed={seed}"
    start = time.perf_counter()
    predictions: dict[str, np.ndarray] = {}
    for step in range(spec.steps + 1):
        if step in grid:
            t0 = time.perf_counter()
            meas = measure(
                model, x, y_star, spec.probes, probe_seed, spec.chunk, spec.jacobian_bytes
            )
            for (quantity, k), (value, se) in meas.values.items():
                put(step, quantity, k, value, se)
            if step == 0:
                with torch.no_grad():
                    phi_rb, sigma_rb = rao_blackwell_kernels(model, x)
                put(0, "tr_phi_rb", 0, n_out * float(phi_rb.trace()) / n)
                put(0, "tr_sigma_rb", 0, n_out * float(sigma_rb.trace()) / n)
                if spec.predictions:
                    predictions = _predictions(spec, model, x, y_star, meas, lambda_kernel)
                    init_model = copy.deepcopy(model)
            if spec.predictions:
                i = spec.grid.index(step)
                outputs = meas.outputs.cpu().numpy()
                for name, form in Y_FORMS.items():
                    y_pred = y_np.reshape(-1) - predictions[f"residual_{form}"][i]
                    put(step, name, 0, np.linalg.norm(y_pred - outputs) / np.linalg.norm(outputs))
                for name in PREDICTIONS:
                    put(step, name, 1, predictions[name][i])
                residual = torch.as_tensor(predictions["residual_gd"][i], device=x.device)
                value, se = s_squared_trace(init_model, x, -residual / n, spec.probes, probe_seed)
                put(step, "pred_tr_s", 2, value, se)
            log.info(
                "%s step %d/%d: loss %.4g, Tr H^k %s (%.1f s; %.0f s total)",
                label,
                step,
                spec.steps,
                meas.values[("loss", 0)][0],
                " ".join(f"{meas.values[('moment', k)][0]:.4g}" for k in range(1, 5)),
                time.perf_counter() - t0,
                time.perf_counter() - start,
            )
        loss = _gd_step(model, x, y_star, spec.eta, update=step < spec.steps)
        if not math.isfinite(loss):
            diverged = True
            put(step, "loss", 0, loss)
            log.warning("%s diverged at step %d", label, step)
            break
        if step in loss_grid and step not in grid:
            put(step, "loss", 0, loss)
    frame = rows.frame(["step", "quantity", "k", "value", "stderr"])
    frame.insert(0, "seed", seed)
    frame.insert(0, "eta", spec.eta)
    frame.insert(0, "width", spec.width)
    frame.insert(0, "nonlinearity", spec.nonlinearity)
    frame.insert(frame.columns.get_loc("step") + 1, "t", frame["step"] * spec.eta)
    frame["diverged"] = diverged
    return frame[JACOT2020_TRIAL.names]


def _gd_step(model, x, y_star, eta: float, update: bool = True) -> float:
    """One full-batch GD step on C = (1/2N)‖f(X) − Y*‖²; returns C before the step."""
    import torch

    model.zero_grad(set_to_none=True)
    loss = (model(x) - y_star).square().sum() / (2 * x.shape[0])
    if not update:
        return float(loss.detach())
    loss.backward()
    with torch.no_grad():
        for p in model.parameters():
            p -= eta * p.grad
    return float(loss.detach())


def _predictions(spec: TrialSpec, model, x, y_star, meas, lambda_kernel) -> dict[str, np.ndarray]:
    """This initialization's Cor. 1 on the grid, from its own Θ̂₀, Λ̂₀, G(0), Δ."""
    n = x.shape[0]
    theta0 = meas.theta.cpu().numpy()
    lambda0 = lambda_kernel(model, x, meas.jacobian).cpu().numpy()
    g0 = meas.g.cpu().numpy()
    delta = y_star.reshape(-1).cpu().numpy() - meas.outputs.cpu().numpy()
    out = {}
    for name, (form, variant) in PREDICTIONS.items():
        out[name] = theory.init_prediction(
            theta0, lambda0, g0, delta, n, spec.eta, spec.grid, form, variant
        )["tr_s"]
    for form in ("gd", "flow", "unnormalized"):
        out[f"residual_{form}"] = theory.init_prediction(
            theta0, lambda0, g0, delta, n, spec.eta, spec.grid, form
        )["residual"]
    return out


# --------------------------------------------------------------------------- Figure 2


@dataclass(frozen=True, kw_only=True)
class RayleighSpec(Data):
    """Rayleigh quotients of the top eigenvectors of I and of S at initialization."""

    nonlinearity: str
    depth: int
    beta: float
    width: int
    seed: int
    top: int
    lanczos_steps: int
    s_order: str
    jacobian_bytes: int

    def __post_init__(self) -> None:
        _check_common(self.nonlinearity, self.depth, self.beta)
        if self.s_order not in ("LA", "LM"):
            raise ValueError("s_order must be LA (largest) or LM (largest magnitude)")


def run_rayleigh(spec: RayleighSpec, device: str = "cpu") -> pd.DataFrame:
    import torch
    from torch.func import vjp

    from curvlab.curvature import topk
    from curvlab.experiments.jacot2020_estimators import Functional, s_operator
    from curvlab.models.ntk_mlp import empirical_ntk

    x_np, y_np = spec.load()
    n, n_out = y_np.shape
    x, y_star = _tensors(device, x_np, y_np)
    model = _model(
        _widths(x.shape[1], spec.width, spec.depth, n_out),
        spec.nonlinearity,
        spec.beta,
        spec.seed,
        device,
    )
    fn = Functional(model)
    with torch.no_grad():
        out = fn.f(fn.params, x)
    c = (out - y_star.reshape(-1)) / n
    s_op = s_operator(model, x, c)
    start = time.perf_counter()
    with torch.no_grad():
        theta = empirical_ntk(model, x)
    mu, u = torch.linalg.eigh(theta)
    order = torch.argsort(mu, descending=True)[: spec.top]
    mu, u = mu[order], u[:, order]
    _, pullback = vjp(lambda p: fn.f(p, x), fn.params)
    cols = [fn.space.flatten(pullback(u[:, a].contiguous())[0]) for a in range(u.shape[1])]
    v_i = torch.stack(cols, 1) / mu.sqrt()  # unit eigenvectors of I = JᵀJ/N
    log.info("top-%d eigenvectors of I in %.1f s", spec.top, time.perf_counter() - start)
    start = time.perf_counter()
    pairs = topk(
        s_op,
        spec.top,
        steps=spec.lanczos_steps,
        seed=derive_seed(spec.seed, "jacot2020/lanczos"),
        which=spec.s_order,
    )
    v_s = pairs.eigenvectors
    log.info("top-%d eigenvectors of S in %.1f s", spec.top, time.perf_counter() - start)
    rows = _Rows()
    for basis, vecs in (("I", v_i), ("S", v_s)):
        rq_i = (fn.push(fn.f, x, vecs).square().sum(1) / n).cpu().numpy()
        rq_s = (vecs * (s_op @ vecs)).sum(0).cpu().numpy()
        for a in range(vecs.shape[1]):
            for quantity, value in (("rq_i", rq_i[a]), ("rq_s", rq_s[a])):
                rows.add(basis=basis, index=a + 1, quantity=quantity, value=float(value))
    for a in range(len(mu)):
        rows.add(basis="I", index=a + 1, quantity="eigenvalue", value=float(mu[a]) / n)
        rows.add(basis="S", index=a + 1, quantity="eigenvalue", value=float(pairs.eigenvalues[a]))
        rows.add(basis="S", index=a + 1, quantity="residual", value=float(pairs.residuals[a]))
    frame = rows.frame(["basis", "index", "quantity", "value"])
    frame.insert(0, "seed", spec.seed)
    frame.insert(0, "width", spec.width)
    frame.insert(0, "nonlinearity", spec.nonlinearity)
    return frame[JACOT2020_RAYLEIGH.names]


# --------------------------------------------------------------------------- Figure 3


@dataclass(frozen=True, kw_only=True)
class SurfaceSpec:
    """The loss around a trained minimum along eigenvectors ``directions`` of I (Fig. 3).

    Training [R]: ``train_steps`` of full-batch GD with the step η = ``eta_scale``/λ_max(Θ̂₀/N),
    chosen from the curvature at initialization (for the MSE the top eigenvalue of H ≈ I is
    λ_max(Θ̂/N) and GD is stable for ηλ_max < 2; a fixed η is not: λ_max varies with the
    nonlinearity, the width and the seed), halved whenever a step raises the loss; then up to
    ``polish_steps`` Levenberg–Marquardt steps, stopping early once the loss is below
    ``polish_tol`` times its initial value.
    """

    nonlinearity: str
    depth: int
    beta: float
    width: int
    seed: int
    n_samples: int
    target: str
    eta_scale: float
    train_steps: int
    polish_steps: int
    polish_tol: float
    grid_points: int
    radius: float
    directions: tuple[int, int]

    def __post_init__(self) -> None:
        _check_common(self.nonlinearity, self.depth, self.beta)
        object.__setattr__(self, "directions", tuple(int(d) for d in self.directions))
        if not 0 < self.eta_scale < 2:
            raise ValueError("eta_scale must be in (0, 2): GD is unstable for ηλ_max ≥ 2")
        if max(self.directions) > self.n_samples:
            raise ValueError("directions must index eigenvectors of I (at most n_samples)")


def _top_ntk_eigenvalue(model, x) -> float:
    """λ_max(Θ̂/N) at the model's current parameters."""
    import torch

    from curvlab.models.ntk_mlp import empirical_ntk

    with torch.no_grad():
        return float(torch.linalg.eigvalsh(empirical_ntk(model, x))[-1]) / x.shape[0]


def _levenberg_marquardt(model, x, y_star, steps: int, target_loss: float, put) -> float:
    """Levenberg–Marquardt in function space towards the zero-loss (global) minimum.

    The step Δθ = −Jᵀ(Θ̂ + μI)⁻¹r is kept only if it lowers the loss (then μ ÷ 3), else μ × 10
    and retry (at most 30 times). Stops after ``steps`` steps, once the loss is at most
    ``target_loss``, or when no damping lowers it. Returns the final loss.
    """
    import torch
    from torch.func import vjp

    from curvlab.experiments.jacot2020_estimators import Functional
    from curvlab.models.ntk_mlp import empirical_ntk

    n = x.shape[0]
    target = y_star.reshape(-1)
    damping = None
    with torch.no_grad():
        current = float((model(x) - y_star).square().sum()) / (2 * n)
    for it in range(steps):
        if current <= target_loss:
            break
        fn = Functional(model)
        out, pullback = vjp(lambda p, fn=fn: fn.f(p, x), fn.params)
        residual = (out - target).detach()
        with torch.no_grad():
            theta = empirical_ntk(model, x)
        lam, q = torch.linalg.eigh(theta)
        coef = q.T @ residual
        if damping is None:
            damping = 1e-6 * float(lam[-1])
        accepted = False
        for _ in range(30):
            solve = q @ (coef / (lam.clamp_min(0) + damping))
            step = pullback(solve)[0]
            trial = {k: v - step[k] for k, v in fn.params.items()}
            with torch.no_grad():
                value = float((fn.f(trial, x) - target).square().sum()) / (2 * n)
            if math.isfinite(value) and value < current:
                with torch.no_grad():
                    for name, p in model.named_parameters():
                        p.copy_(trial[name])
                damping /= 3
                current = value
                accepted = True
                break
            damping *= 10
        put("polish_loss", it + 1, current)
        put("polish_damping", it + 1, damping)
        log.info("Levenberg–Marquardt step %d: loss %.3g (μ = %.2g)", it + 1, current, damping)
        if not accepted:
            log.warning("Levenberg–Marquardt: no damping lowers the loss; stopping")
            break
    return current


def run_surface(spec: SurfaceSpec, device: str = "cpu") -> pd.DataFrame:
    import torch
    from torch.func import functional_call, vjp, vmap

    from curvlab.experiments.jacot2020_estimators import Functional
    from curvlab.models.ntk_mlp import empirical_ntk

    x_np, y_np = disk_data(spec.n_samples, spec.target, spec.seed)
    n = len(x_np)
    x, y_star = _tensors(device, x_np, y_np)
    model = _model(
        _widths(2, spec.width, spec.depth, 1), spec.nonlinearity, spec.beta, spec.seed, device
    )
    rows = _Rows()

    def put(quantity, index, value, a=0.0, b=0.0):
        rows.add(quantity=quantity, index=index, a=a, b=b, value=float(value))

    start = time.perf_counter()
    with torch.no_grad():
        initial = float((model(x) - y_star).square().sum()) / (2 * n)
    put("init_loss", 0, initial)
    lam_max = _top_ntk_eigenvalue(model, x)
    eta = spec.eta_scale / lam_max
    put("lambda_max_init", 0, lam_max)
    put("eta", 0, eta)
    record = set(np.unique(np.round(np.geomspace(1, max(spec.train_steps, 1), 30)).astype(int)))
    loss = initial
    halvings = 0
    for step in range(1, spec.train_steps + 1):
        saved = [p.detach().clone() for p in model.parameters()]
        before = _gd_step(model, x, y_star, eta)
        with torch.no_grad():
            loss = float((model(x) - y_star).square().sum()) / (2 * n)
        if not math.isfinite(loss) or loss > before:
            # Backtrack: undo the step and halve η (keeps GD monotone if the NTK grows).
            with torch.no_grad():
                for p, old in zip(model.parameters(), saved, strict=True):
                    p.copy_(old)
            eta /= 2
            halvings += 1
            loss = before
            put("eta", step, eta)
        if step in record or step == spec.train_steps:
            put("gd_loss", step, loss)
    put("eta_halvings", 0, halvings)
    log.info(
        "GD %d steps, η = %.3g/λ_max = %.3g (%d halvings): loss %.3g → %.3g (%.1f s)",
        spec.train_steps,
        spec.eta_scale,
        spec.eta_scale / lam_max,
        halvings,
        initial,
        loss,
        time.perf_counter() - start,
    )
    final = _levenberg_marquardt(
        model, x, y_star, spec.polish_steps, spec.polish_tol * initial, put
    )
    put("final_loss", 0, final)
    fn = Functional(model)
    with torch.no_grad():
        theta = empirical_ntk(model, x)
    mu, u = torch.linalg.eigh(theta)
    order = torch.argsort(mu, descending=True)
    mu, u = mu[order], u[:, order]
    for a in range(min(n, 20)):
        put("eig_i", a + 1, float(mu[a]) / n)
    _, pullback = vjp(lambda p: fn.f(p, x), fn.params)
    da, db = (d - 1 for d in spec.directions)
    va = {k: t / mu[da].sqrt() for k, t in pullback(u[:, da].contiguous())[0].items()}
    vb = {k: t / mu[db].sqrt() for k, t in pullback(u[:, db].contiguous())[0].items()}
    grid = torch.linspace(-spec.radius, spec.radius, spec.grid_points, dtype=torch.float64)

    def loss_at(a, b):
        params = {k: fn.params[k] + a * va[k] + b * vb[k] for k in fn.params}
        return (functional_call(model, params, (x,)) - y_star).square().sum() / (2 * n)

    batched = vmap(lambda a, b: loss_at(a, b))
    with torch.no_grad():
        for a in grid:
            values = batched(a.expand_as(grid).to(device), grid.to(device)).cpu()
            for b, value in zip(grid, values, strict=True):
                put("loss", 0, float(value), float(a), float(b))
    log.info("loss surface %d² points in %.1f s", spec.grid_points, time.perf_counter() - start)
    frame = rows.frame(["quantity", "index", "a", "b", "value"])
    frame.insert(0, "seed", spec.seed)
    frame.insert(0, "width", spec.width)
    frame.insert(0, "nonlinearity", spec.nonlinearity)
    return frame[JACOT2020_SURFACE.names]


# --------------------------------------------------------------------------- theory helpers


def cor1_inputs(kernels: dict[str, np.ndarray]) -> theory.Cor1Inputs:
    """Cor. 1 inputs from :func:`kernel_matrices` (quadrature kernels + Monte-Carlo Λ)."""
    return theory.Cor1Inputs(
        theta=kernels["theta"],
        sigma=kernels["sigma"],
        phi=kernels["phi"],
        lam=kernels["lambda"],
        upsilon=kernels["upsilon"],
        y_star=kernels["y_star"],
    )
