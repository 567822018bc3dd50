"""Du, Hu & Lee (NeurIPS 2018), Section 4: layers of homogeneous models are automatically balanced.

Two experiments, each a pure function from a spec to a tidy table (one row per logged step and
quantity):

* :func:`run_network` — full-batch GD on a bias-free three-layer ReLU network with the paper's
  balanced or unbalanced initialization. Logs the loss, ‖W_h‖², ⟨W_h, G_h⟩ and ‖G_h‖² for every
  layer, the cumulative drift of D_h = ‖W_{h+1}‖² − ‖W_h‖² predicted by the exact one-step
  identity (see :mod:`curvlab.theory.du`), the running maximum of that identity's per-step
  residual, and the neuron-wise version of the identity.
* :func:`run_factorization` — GD on ½‖UVᵀ − M‖_F² with a step η_t = η₀/s(M)·(t+1)^{−p}
  (p = 0 is a constant step), logging the relative error, ‖U‖², ‖V‖², the balance matrix
  UᵀU − VᵀV and the residual of its exact one-step identity.

Divergence (a non-finite loss) stops a run and is recorded in the ``diverged`` column.
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass

import numpy as np
import pandas as pd

from curvlab.data.synthetic import relu_teacher_regression
from curvlab.io import with_run_keys
from curvlab.runtime import derive_seed, numpy_rng
from curvlab.theory.du import balanced_factor_sq_norm

log = logging.getLogger(__name__)

EPS64 = float(np.finfo(np.float64).eps)


# --------------------------------------------------------------------------- specs


@dataclass(frozen=True, kw_only=True)
class NetworkSpec:
    """One GD run of the homogeneous ReLU network.

    ``init_sq_norms`` are the expected ‖W_h‖_F² at initialization (see
    :func:`curvlab.models.homogeneous.init_weights` for how they map to the paper's variances).
    """

    experiment: str
    init: str
    init_sq_norms: tuple[float, ...]
    input_dim: int
    hidden_dims: tuple[int, ...]
    output_dim: int
    n_samples: int
    target: str
    eta: float
    steps: int
    seed: int
    log_every: int
    neuron_every: int

    def __post_init__(self) -> None:
        object.__setattr__(self, "init_sq_norms", tuple(float(v) for v in self.init_sq_norms))
        object.__setattr__(self, "hidden_dims", tuple(int(v) for v in self.hidden_dims))
        if len(self.init_sq_norms) != len(self.hidden_dims) + 1:
            raise ValueError(
                f"init_sq_norms has {len(self.init_sq_norms)} entries for "
                f"{len(self.hidden_dims) + 1} layers"
            )


@dataclass(frozen=True, kw_only=True)
class FactorizationSpec:
    """One GD run on ½‖UVᵀ − M‖_F², U ∈ R^{m×k}, V ∈ R^{n×k}, M = ABᵀ of rank r, σ₁(M) = 1.

    Step size η_t = eta0 / s(M) · (t+1)^(−exponent), with s(M) = σ₁(M) (``normalizer="sigma1"``)
    or ‖M‖_F^{3/2} (``"frobenius_1.5"``, the paper's schedule as extracted:
    η_t = 1/(100 (t+1) ‖M‖_F^{3/2}) is eta0 = 0.01, exponent = 1).
    ``init="small"``: entries N(0, (init_scale·√σ₁)²); ``"unbalanced"``: scale
    ``unbalanced_scale``·√σ₁ with U multiplied and V divided by ``unbalanced_skew``.
    ``factor_rank`` is k (None: k = r), not a config key.
    """

    study: str
    shape: tuple[int, int]
    rank: int
    factor_rank: int | None = None
    init: str
    init_scale: float
    unbalanced_scale: float
    unbalanced_skew: float
    eta0: float
    exponent: float
    normalizer: str
    steps: int
    seed: int
    log_every: int

    def __post_init__(self) -> None:
        object.__setattr__(self, "shape", tuple(int(v) for v in self.shape))
        if self.normalizer not in ("sigma1", "frobenius_1.5"):
            raise ValueError(f"normalizer must be sigma1 or frobenius_1.5, got {self.normalizer!r}")
        if self.init not in ("small", "unbalanced"):
            raise ValueError(f"init must be small or unbalanced, got {self.init!r}")


def _logged_steps(steps: int, every: int) -> np.ndarray:
    return np.unique(np.r_[np.arange(0, steps + 1, max(1, every)), steps])


class _Progress:
    """Progress lines for the job log: about ten per run, with elapsed time and an ETA."""

    def __init__(self, total: int, label: str) -> None:
        self.total, self.label = total, label
        self.start = time.perf_counter()
        self.next_report = max(1, total // 10)

    def __call__(self, step: int, **values: float) -> None:
        if step < self.next_report and step != self.total:
            return
        self.next_report = step + max(1, self.total // 10)
        elapsed = time.perf_counter() - self.start
        eta = elapsed / max(step, 1) * (self.total - step)
        shown = " ".join(f"{k}={float(v):.4g}" for k, v in values.items())
        log.info(
            "%s step %d/%d %s (%.1f s elapsed, ~%.0f s left)",
            self.label,
            step,
            self.total,
            shown,
            elapsed,
            eta,
        )


# --------------------------------------------------------------------------- network


def run_network(spec: NetworkSpec, device: str = "cpu") -> pd.DataFrame:
    """Full-batch GD on the bias-free ReLU network; see the module docstring."""
    import torch

    from curvlab.models.homogeneous import init_weights, layer_shapes, loss_and_grads

    dtype = torch.float64  # the identities are checked at the level of float64 rounding
    x_np, y_np = relu_teacher_regression(
        spec.n_samples,
        spec.input_dim,
        spec.hidden_dims,
        spec.output_dim,
        numpy_rng(spec.seed, "du2018/data"),
        target=spec.target,
    )
    x = torch.as_tensor(x_np, dtype=dtype, device=device)
    y = torch.as_tensor(y_np, dtype=dtype, device=device)
    gen = torch.Generator().manual_seed(derive_seed(spec.seed, "du2018/init"))
    shapes = layer_shapes(spec.input_dim, spec.hidden_dims, spec.output_dim)
    weights = [w.to(device) for w in init_weights(shapes, spec.init_sq_norms, gen, dtype)]

    n_layers = len(weights)
    n_pairs = n_layers - 1
    logged = _logged_steps(spec.steps, spec.log_every)
    log_index = {int(s): i for i, s in enumerate(logged)}
    neuron_logged = _logged_steps(spec.steps, spec.neuron_every)
    neuron_index = {int(s): i for i, s in enumerate(neuron_logged)}

    # Columns of the per-step record, in order: loss, then per layer ‖W‖², ⟨W,G⟩, ‖G‖², then per
    # pair the cumulative predicted drift and the running max of the per-step residual.
    columns = (
        [("loss", 0)]
        + [("w_sq_norm", h + 1) for h in range(n_layers)]
        + [("w_grad_inner", h + 1) for h in range(n_layers)]
        + [("grad_sq_norm", h + 1) for h in range(n_layers)]
        + [("drift_predicted_cum", h + 1) for h in range(n_pairs)]
        + [("identity_residual_max", h + 1) for h in range(n_pairs)]
    )
    record = torch.full((len(logged), len(columns)), math.nan, dtype=dtype, device=device)
    neuron_record = torch.full((len(neuron_logged), n_pairs), math.nan, dtype=dtype, device=device)

    def neuron_terms(ws: list[torch.Tensor], h: int) -> tuple[torch.Tensor, torch.Tensor]:
        incoming = (ws[h] * ws[h]).sum(dim=1)  # ‖W_h[k,:]‖²
        outgoing = (ws[h + 1] * ws[h + 1]).sum(dim=0)  # ‖W_{h+1}[:,k]‖²
        return incoming, outgoing

    neuron_init = []
    for h in range(n_pairs):
        incoming, outgoing = neuron_terms(weights, h)
        neuron_init.append(incoming - outgoing)
    neuron_cum = [torch.zeros_like(v) for v in neuron_init]
    drift_cum = torch.zeros(n_pairs, dtype=dtype, device=device)
    residual_max = torch.zeros(n_pairs, dtype=dtype, device=device)
    prev_d = prev_pred = None
    diverged_at: int | None = None
    progress = _Progress(spec.steps, f"du2018 {spec.experiment} init={spec.init} eta={spec.eta}")

    for t in range(spec.steps + 1):
        loss, grads = loss_and_grads(weights, x, y)
        w_sq = torch.stack([(w * w).sum() for w in weights])
        g_sq = torch.stack([(g * g).sum() for g in grads])
        wg = torch.stack([(w * g).sum() for w, g in zip(weights, grads, strict=True)])
        d = w_sq[1:] - w_sq[:-1]
        if prev_d is not None:
            # |ΔD_h − η²(‖G_{h+1}‖² − ‖G_h‖²)| in units of float64 rounding of the largest ‖W‖².
            scale = EPS64 * w_sq.max()
            residual_max = torch.maximum(residual_max, ((d - prev_d) - prev_pred).abs() / scale)
            drift_cum = drift_cum + prev_pred
        pred = spec.eta * spec.eta * (g_sq[1:] - g_sq[:-1])  # eta**2 raises on overflow
        finite = bool(torch.isfinite(loss)) and bool(torch.isfinite(w_sq).all())

        if t in log_index or not finite:
            row = log_index.get(t, len(logged) - 1)
            record[row] = torch.cat([loss.reshape(1), w_sq, wg, g_sq, drift_cum, residual_max])
        if t in neuron_index:
            for h in range(n_pairs):
                incoming, outgoing = neuron_terms(weights, h)
                change = (incoming - outgoing) - neuron_init[h] - neuron_cum[h]
                scale = torch.clamp(torch.maximum(incoming, outgoing), min=1.0)
                neuron_record[neuron_index[t], h] = (change.abs() / scale).max()
        if not finite:
            diverged_at = t
            log.warning("run diverged at step %d (loss %s)", t, float(loss))
            break
        progress(t, loss=loss)
        if t == spec.steps:
            break
        for h in range(n_pairs):
            g_in = (grads[h] * grads[h]).sum(dim=1)
            g_out = (grads[h + 1] * grads[h + 1]).sum(dim=0)
            neuron_cum[h] = neuron_cum[h] + spec.eta * spec.eta * (g_in - g_out)
        weights = [w - spec.eta * g for w, g in zip(weights, grads, strict=True)]
        prev_d, prev_pred = d, pred

    steps_logged = logged.copy()
    if diverged_at is not None:
        steps_logged[-1] = diverged_at
    values = record.cpu().numpy()
    keep = ~np.all(np.isnan(values), axis=1)
    frames = [
        _long_frame(steps_logged[keep], values[keep], columns),
        _long_frame(
            neuron_logged,
            neuron_record.cpu().numpy(),
            [("neuron_identity_residual_max", h + 1) for h in range(n_pairs)],
        ).dropna(subset=["value"]),
    ]
    frame = pd.concat(frames, ignore_index=True)
    keys = {
        "experiment": spec.experiment,
        "init": spec.init,
        "eta": spec.eta,
        "steps": spec.steps,
        "seed": spec.seed,
    }
    frame = with_run_keys(frame, keys)
    frame["diverged"] = diverged_at is not None
    return frame


def _long_frame(
    steps: np.ndarray, values: np.ndarray, columns: list[tuple[str, int]]
) -> pd.DataFrame:
    n_steps, n_cols = values.shape
    return pd.DataFrame(
        {
            "step": np.repeat(steps.astype(np.int64), n_cols),
            "quantity": np.tile([q for q, _ in columns], n_steps),
            "layer": np.tile(np.array([h for _, h in columns], dtype=np.int8), n_steps),
            "value": values.reshape(-1),
        }
    )


# --------------------------------------------------------------------------- factorization


def factorization_target(shape: tuple[int, int], rank: int, rng: np.random.Generator) -> np.ndarray:
    """M = ABᵀ with Gaussian A, B of ``rank`` columns, scaled so that σ₁(M) = 1."""
    a = rng.standard_normal((shape[0], rank))
    b = rng.standard_normal((shape[1], rank))
    m = a @ b.T
    return m / np.linalg.norm(m, ord=2)


def run_factorization(spec: FactorizationSpec) -> pd.DataFrame:
    """GD on ½‖UVᵀ − M‖_F²; see the module docstring. NumPy float64 (matrices are tiny)."""
    with np.errstate(over="ignore", invalid="ignore"):  # divergence is detected and recorded
        return _run_factorization(spec)


def _run_factorization(spec: FactorizationSpec) -> pd.DataFrame:
    m = factorization_target(spec.shape, spec.rank, numpy_rng(spec.seed, "du2018/mf/target"))
    sigma1 = float(np.linalg.norm(m, ord=2))
    k = spec.factor_rank or spec.rank
    rng = numpy_rng(spec.seed, "du2018/mf/init")
    u = rng.standard_normal((spec.shape[0], k))
    v = rng.standard_normal((spec.shape[1], k))
    if spec.init == "small":
        u *= spec.init_scale * math.sqrt(sigma1)
        v *= spec.init_scale * math.sqrt(sigma1)
    else:
        s = spec.unbalanced_scale * math.sqrt(sigma1)
        u *= s * spec.unbalanced_skew
        v *= s / spec.unbalanced_skew
    norm = sigma1 if spec.normalizer == "sigma1" else float(np.linalg.norm(m)) ** 1.5
    m_norm = float(np.linalg.norm(m))

    logged = _logged_steps(spec.steps, spec.log_every)
    log_index = {int(s): i for i, s in enumerate(logged)}
    names = [
        "loss",
        "rel_err",
        "u_sq_norm",
        "v_sq_norm",
        "balance_fro",
        "balance_change_fro",
        "eta",
        "identity_residual_max",
        "identity_residual_cum",
    ]
    record = np.full((len(logged), len(names)), np.nan)
    b0 = u.T @ u - v.T @ v
    pred_cum = np.zeros_like(b0)
    residual_max = 0.0
    prev_b = prev_pred = None
    diverged_at: int | None = None
    progress = _Progress(spec.steps, f"du2018 mf {spec.study} init={spec.init} eta0={spec.eta0}")

    for t in range(spec.steps + 1):
        r = u @ v.T - m
        b = u.T @ u - v.T @ v
        u_sq, v_sq = float(np.sum(u * u)), float(np.sum(v * v))
        if prev_b is not None:
            step_res = np.linalg.norm((b - prev_b) - prev_pred) / (EPS64 * max(u_sq, v_sq))
            residual_max = max(residual_max, float(step_res))
            pred_cum += prev_pred
        err = float(np.linalg.norm(r))
        eta = spec.eta0 / norm * (t + 1.0) ** (-spec.exponent)
        finite = math.isfinite(err) and math.isfinite(u_sq) and math.isfinite(v_sq)
        if t in log_index or not finite:
            cum_res = np.linalg.norm((b - b0) - pred_cum) / max(1.0, u_sq, v_sq)
            record[log_index.get(t, len(logged) - 1)] = [
                0.5 * err**2,
                err / m_norm,
                u_sq,
                v_sq,
                np.linalg.norm(b),
                np.linalg.norm(b - b0),
                eta,
                residual_max,
                cum_res,
            ]
        if not finite:
            diverged_at = t
            log.warning("run diverged at step %d", t)
            break
        progress(t, rel_err=err / m_norm)
        if t == spec.steps:
            break
        rv, rtu = r @ v, r.T @ u
        prev_pred = eta * eta * (rv.T @ rv - rtu.T @ rtu)
        prev_b = b
        u, v = u - eta * rv, v - eta * rtu

    steps_logged = logged.copy()
    if diverged_at is not None:
        steps_logged[-1] = diverged_at
    keep = ~np.all(np.isnan(record), axis=1)
    frame = _long_frame(steps_logged[keep], record[keep], [(n, 0) for n in names])
    constants = pd.DataFrame(
        {
            "step": np.zeros(3, dtype=np.int64),
            "quantity": ["m_sigma1", "m_nuclear_norm", "m_frobenius_norm"],
            "layer": np.zeros(3, dtype=np.int8),
            "value": [sigma1, balanced_factor_sq_norm(m), m_norm],
        }
    )
    frame = pd.concat([constants, frame], ignore_index=True).drop(columns="layer")
    keys = {
        "study": spec.study,
        "init": spec.init,
        "rank": spec.rank,
        "eta0": spec.eta0,
        "exponent": spec.exponent,
        "normalizer": spec.normalizer,
        "steps": spec.steps,
        "seed": spec.seed,
    }
    frame = with_run_keys(frame, keys)
    frame["diverged"] = diverged_at is not None
    return frame
