"""Exact curvature estimators for NTK-parametrized MLPs with the MSE (docs/papers/jacot2020.md, Reconstructed choice 5).

For C = (1/2N)‖Y − Y*‖² the Hessian splits as H = I + S with I = JᵀJ/N (J the N·n_L × P
Jacobian, rows sample-major) and S = Σ_i c_i ∇²f_i, c = ∇C = (Y − Y*)/N. What is computed here,
and how:

* Θ̂ = JJᵀ and Tr I^k = Tr (Θ̂/N)^k exactly (I and Θ̂/N share their nonzero eigenvalues);
* Tr S = Σ_i c_i g_i exactly, g the closed-form trace of the output Hessians
  (:func:`curvlab.models.ntk_mlp.hessian_trace`);
* the cross terms of Tr (I + S)^k for k ≤ 4 exactly, from U = SJᵀ and V = SU (2·N·n_L
  Hessian-vector products with the curvature core's :class:`HessianOperator` on the "loss"
  Σ_i c_i f_i): M₁ = JSJᵀ = JU, M₂ = JS²Jᵀ = JV and Tr(JS³Jᵀ) = Σ_i U_i·V_i give
  Tr(I^a S) = Tr(Θ̂^{a−1}M₁)/N^a, Tr(I^a S²) = Tr(Θ̂^{a−1}M₂)/N^a, Tr(ISIS) = Tr M₁²/N²,
  Tr(IS³) = Tr(JS³Jᵀ)/N;
* Tr S^k for k = 2, 3, 4 by Hutchinson (Rademacher probes, standard errors), the only
  stochastic part: Tr S² by Hutchinson has a small variance (2 Tr S⁴), unlike Tr H²;
* the kernels of one initialization: Λ̂ = (∂G/∂θ)Jᵀ (forward-mode derivatives of the closed-form
  g along the rows of J), the Rao-Blackwellized Φ̂ and Σ̂, and Υ̂_ij = tr(∇²f_i∇²f_j) by
  Hutchinson.

J is kept in memory when N·n_L·P·8 bytes fit in ``jacobian_bytes``; otherwise its products are
recomputed by forward-mode passes (same numbers, more time).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field

import torch
from torch import Tensor
from torch.func import functional_call, jacrev, jvp, vmap

from curvlab.curvature import (
    HessianOperator,
    ParameterSpace,
    hutchinson_moments,
    rademacher,
)
from curvlab.models.ntk_mlp import NTKMLP, empirical_ntk, hessian_trace

CROSS_TERMS = ("tr_i1s1", "tr_i2s1", "tr_i3s1", "tr_i1s2", "tr_i2s2", "tr_isis", "tr_i1s3")


class _Trace(torch.nn.Module):
    """g(x) as a module, so that torch.func can differentiate it in the parameters."""

    def __init__(self, net: NTKMLP) -> None:
        super().__init__()
        self.net = net

    def forward(self, x: Tensor) -> Tensor:
        return hessian_trace(self.net, x)


@dataclass
class Functional:
    """The network as functions of a parameter dict: outputs and g, flattened sample-major."""

    model: NTKMLP
    space: ParameterSpace = field(init=False)
    params: dict[str, Tensor] = field(init=False)

    def __post_init__(self) -> None:
        self.space = ParameterSpace.of(self.model)
        self.params = self.space.values(self.model)
        self._trace = _Trace(self.model)

    def f(self, params: dict[str, Tensor], x: Tensor) -> Tensor:
        return functional_call(self.model, params, (x,)).reshape(-1)

    def g(self, params: dict[str, Tensor], x: Tensor) -> Tensor:
        prefixed = {f"net.{k}": v for k, v in params.items()}
        return functional_call(self._trace, prefixed, (x,)).reshape(-1)

    def push(self, fn: Callable, x: Tensor, vectors: Tensor, chunk: int = 32) -> Tensor:
        """(∂fn/∂θ) v for each column v of ``vectors`` (P, k): forward mode, (k, N·n_L)."""
        outs = []
        for lo in range(0, vectors.shape[1], chunk):
            tangents = self.space.unflatten(vectors[:, lo : lo + chunk].contiguous())
            outs.append(vmap(lambda t: jvp(lambda p: fn(p, x), (self.params,), (t,))[1])(tangents))
        return torch.cat(outs, 0)

    def rows(self, fn: Callable, x: Tensor) -> Tensor:
        """∂fn/∂θ for each sample of ``x`` (per-sample reverse mode): (P, samples·n_L)."""
        per = vmap(jacrev(lambda p, xi: fn(p, xi[None])), in_dims=(None, 0))(self.params, x)
        flat = [per[k].reshape(per[k].shape[0] * per[k].shape[1], -1) for k in self.space.names]
        return torch.cat(flat, 1).T

    def jacobian_rows(self, x: Tensor) -> Tensor:
        """Rows of J for the samples ``x``: (P, rows) (one column per sample and output)."""
        return self.rows(self.f, x)


class Jacobian:
    """J for N samples, stored (if it fits) or recomputed chunk by chunk."""

    def __init__(self, fn: Functional, x: Tensor, chunk: int, max_bytes: int) -> None:
        self.fn, self.x, self.chunk = fn, x, chunk
        n_out = fn.model.widths[-1]
        self.rows = x.shape[0] * n_out
        self.stored: Tensor | None = None
        if self.rows * fn.space.dim * 8 <= max_bytes:
            self.stored = torch.cat([self.block(lo) for lo in range(0, x.shape[0], chunk)], 1)

    def block(self, lo: int) -> Tensor:
        """Jᵀ columns for samples lo..lo+chunk: (P, c·n_L)."""
        if self.stored is not None:
            n_out = self.fn.model.widths[-1]
            return self.stored[:, lo * n_out : (lo + self.chunk) * n_out]
        return self.fn.jacobian_rows(self.x[lo : lo + self.chunk])

    def blocks(self):
        for lo in range(0, self.x.shape[0], self.chunk):
            yield lo, self.block(lo)

    def times(self, vectors: Tensor) -> Tensor:
        """J v for each column of ``vectors`` (P, k): (N·n_L, k)."""
        if self.stored is not None:
            return self.stored.T @ vectors
        return self.fn.push(self.fn.f, self.x, vectors).T

    def gram(self) -> Tensor:
        """Θ̂ = JJᵀ, from the layer structure (:func:`curvlab.models.ntk_mlp.empirical_ntk`)."""
        with torch.no_grad():
            return empirical_ntk(self.fn.model, self.x)


def s_operator(model: NTKMLP, x: Tensor, coefficients: Tensor) -> HessianOperator:
    """S = Σ_i c_i ∇²f_i as the curvature core's Hessian of the "loss" Σ_i c_i f_i."""
    return HessianOperator(
        model,
        lambda out, c: (out * c).sum(),
        [(x, coefficients.reshape(x.shape[0], -1))],
        dtype=torch.float64,
        check_deterministic=False,
        cache=False,
        vectorize=True,
    )


@dataclass
class Moments:
    """Everything measured at one parameter point: name -> (value, standard error)."""

    values: dict[tuple[str, int], tuple[float, float]]
    theta: Tensor  # Θ̂ (N·n_L)²
    jacobian: Jacobian
    g: Tensor  # G (N·n_L,)
    outputs: Tensor  # Y (N·n_L,)


def measure(
    model: NTKMLP,
    x: Tensor,
    y_star: Tensor,
    probes: int,
    seed: int,
    chunk: int = 32,
    jacobian_bytes: int = 1 << 30,
    s_powers: str = "hutchinson",
) -> Moments:
    """Tr H^k (k ≤ 4) and its parts at the model's current parameters.

    ``s_powers="dense"`` replaces Hutchinson for Tr S^{2,3,4} by the explicit S (tests only).
    """
    n = x.shape[0]
    fn = Functional(model)
    with torch.no_grad():
        outputs = fn.f(fn.params, x)
        g = fn.g(fn.params, x)
    target = y_star.reshape(-1)
    c = (outputs - target) / n
    jac = Jacobian(fn, x, chunk, jacobian_bytes)
    theta = jac.gram()
    eig = torch.linalg.eigvalsh(theta) / n
    values: dict[tuple[str, int], tuple[float, float]] = {}
    values[("loss", 0)] = (float((outputs - target).square().sum()) / (2 * n), 0.0)
    values[("grad_output_norm", 0)] = (float(c.norm()), 0.0)
    for k in range(1, 5):
        values[("tr_i", k)] = (float(eig.pow(k).sum()), 0.0)
    values[("tr_s", 1)] = (float(c @ g), 0.0)

    s_op = s_operator(model, x, c)
    rows = jac.rows
    m1 = torch.empty(rows, rows, dtype=torch.float64, device=x.device)
    m2 = torch.empty(rows, rows, dtype=torch.float64, device=x.device)
    tr_js3j = 0.0
    n_out = model.widths[-1]
    for lo, block in jac.blocks():
        u = s_op @ block
        v = s_op @ u
        cols = slice(lo * n_out, lo * n_out + block.shape[1])
        m1[:, cols] = jac.times(u)
        m2[:, cols] = jac.times(v)
        tr_js3j += float((u * v).sum())
    m1 = (m1 + m1.T) / 2
    m2 = (m2 + m2.T) / 2
    theta2 = theta @ theta
    cross = {
        "tr_i1s1": float(m1.trace()) / n,
        "tr_i2s1": float((theta * m1).sum()) / n**2,
        "tr_i3s1": float((theta2 * m1).sum()) / n**3,
        "tr_i1s2": float(m2.trace()) / n,
        "tr_i2s2": float((theta * m2).sum()) / n**2,
        "tr_isis": float((m1 * m1).sum()) / n**2,
        "tr_i1s3": tr_js3j / n,
    }
    for name, value in cross.items():
        values[(name, 0)] = (value, 0.0)

    if s_powers == "dense":
        dense = s_op.to_dense()
        powers = {k: (float(torch.linalg.matrix_power(dense, k).trace()), 0.0) for k in (2, 3, 4)}
        hutch1 = (float(dense.trace()), 0.0)
    else:
        est = hutchinson_moments(s_op, 4, probes, seed)
        powers = {e.k: (e.estimate, e.stderr) for e in est if e.k >= 2}
        hutch1 = (est[0].estimate, est[0].stderr)
    for k, value in powers.items():
        values[("tr_s", k)] = value
    values[("tr_s_hutchinson", 1)] = hutch1

    tr_i = {k: values[("tr_i", k)][0] for k in range(1, 5)}
    tr_s = {k: values[("tr_s", k)] for k in range(1, 5)}
    moment = {
        1: tr_i[1] + tr_s[1][0],
        2: tr_i[2] + 2 * cross["tr_i1s1"] + tr_s[2][0],
        3: tr_i[3] + 3 * cross["tr_i2s1"] + 3 * cross["tr_i1s2"] + tr_s[3][0],
        4: tr_i[4]
        + 4 * cross["tr_i3s1"]
        + 4 * cross["tr_i2s2"]
        + 2 * cross["tr_isis"]
        + 4 * cross["tr_i1s3"]
        + tr_s[4][0],
    }
    for k in range(1, 5):
        values[("moment", k)] = (moment[k], tr_s[k][1])
    return Moments(values, theta, jac, g, outputs)


def lambda_kernel(model: NTKMLP, x: Tensor, jac: Jacobian) -> Tensor:
    """Λ̂ = (∂G/∂θ)Jᵀ, Λ̂_ij = ∇g_i·∇f_j: per-sample gradients of the closed-form g, times J."""
    fn = jac.fn
    rows = []
    for lo in range(0, x.shape[0], jac.chunk):
        grad_g = fn.rows(fn.g, x[lo : lo + jac.chunk])  # (P, c·n_L)
        rows.append(jac.times(grad_g).T)
    return torch.cat(rows, 0)


def s_squared_trace(
    model: NTKMLP, x: Tensor, coefficients: Tensor, probes: int, seed: int
) -> tuple[float, float]:
    """Tr (Σ_i c_i ∇²f_i)² by Hutchinson (‖S v‖² averaged over Rademacher probes), with se."""
    s_op = s_operator(model, x, coefficients)
    probe = rademacher(s_op.dim, probes, seed, device=x.device)
    samples = (s_op @ probe).square().sum(0)
    se = float(samples.std()) / math.sqrt(probes) if probes > 1 else math.nan
    return float(samples.mean()), se


def upsilon_hutchinson(model: NTKMLP, x: Tensor, probes: int, seed: int) -> Tensor:
    """Υ̂_ij = tr(∇²f_i ∇²f_j) for the samples ``x``, averaged over Rademacher probes v.

    ∇²f_i v for all i is the Jacobian of θ ↦ J(θ)v (reverse over forward), so
    Υ̂ ≈ mean_v (∇²f v)(∇²f v)ᵀ. Returns (probes, N·n_L, N·n_L): one estimate per probe.
    """
    fn = Functional(model)
    probe = rademacher(fn.space.dim, probes, seed, device=x.device)
    out = []
    for i in range(probes):
        tangent = fn.space.unflatten(probe[:, i].contiguous())

        def directional(p: dict[str, Tensor], tangent=tangent) -> Tensor:
            return jvp(lambda q: fn.f(q, x), (p,), (tangent,))[1]

        rows = fn.space.flatten(jacrev(directional)(fn.params), batched=True)  # (P, N·n_L)
        out.append(rows.T @ rows)
    return torch.stack(out)
