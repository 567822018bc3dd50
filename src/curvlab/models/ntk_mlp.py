"""Fully connected networks in NTK parametrization (Jacot, Gabriel & Hongler 2020, Section 2).

z_{ℓ+1} = W_ℓ a_ℓ / √n_ℓ + β b_ℓ, a_0 = x, a_ℓ = σ(z_ℓ) for hidden layers, f = z_L (no final
nonlinearity), every parameter i.i.d. N(0, 1) [V]. ``widths = (n_0, n_1, …, n_L)``; the paper's
L counts weight matrices, so L = 3 is two hidden layers. σ is the smooth ReLU (softplus) or its
normalized version, with the same constants as :mod:`curvlab.theory.jacot`.

Besides the module, :func:`hessian_trace` is the closed form of g(x) = Σ_p ∂²f(x)/∂θ_p² for
L = 2 and L = 3, and :func:`last_layer_factor` the ∂g/∂W_{L−1} it is linear in,
which gives the Rao-Blackwellized kernels Φ̂ and Σ̂.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Literal

import torch
from torch import Tensor, nn

from curvlab.theory.jacot import nonlinearity as _nonlinearity

#: The σ of the paper; :func:`curvlab.theory.jacot.nonlinearity` refuses any other name.
NonlinearityName = Literal["softplus", "normalized_softplus"]


class SmoothReLU(nn.Module):
    """(softplus(x) − shift)/scale: softplus, or its centred and standardized version."""

    def __init__(self, name: NonlinearityName = "softplus") -> None:
        super().__init__()
        spec = _nonlinearity(name)
        self.name = name
        self.shift = spec.shift
        self.scale = spec.scale

    def forward(self, x: Tensor) -> Tensor:
        return self.derivative(x, 0)

    def derivative(self, x: Tensor, order: int) -> Tensor:
        """σ^{(order)}(x), order 0..2."""
        if order == 0:
            out = torch.nn.functional.softplus(x)
            return (out - self.shift) / self.scale if self.name != "softplus" else out
        s = torch.sigmoid(x)
        if order == 1:
            out = s
        elif order == 2:
            out = s * (1 - s)
        else:
            raise ValueError(f"order must be 0, 1 or 2, got {order}")
        return out / self.scale if self.name != "softplus" else out


class NTKLinear(nn.Module):
    """z = W a/√n_in + β b with W, b ~ N(0, 1)."""

    def __init__(
        self,
        n_in: int,
        n_out: int,
        beta: float,
        generator: torch.Generator | None = None,
        dtype: torch.dtype = torch.float64,
    ) -> None:
        super().__init__()
        self.n_in, self.n_out, self.beta = n_in, n_out, beta
        self.weight = nn.Parameter(torch.randn(n_out, n_in, generator=generator, dtype=dtype))
        self.bias = nn.Parameter(torch.randn(n_out, generator=generator, dtype=dtype))

    def forward(self, a: Tensor) -> Tensor:
        return a @ self.weight.T / math.sqrt(self.n_in) + self.beta * self.bias


class NTKMLP(nn.Module):
    """The rectangular networks of the paper; ``widths = (n_0, n_1, …, n_L)``."""

    def __init__(
        self,
        widths: Sequence[int],
        nonlinearity: NonlinearityName = "softplus",
        beta: float = 0.1,
        generator: torch.Generator | None = None,
        dtype: torch.dtype = torch.float64,
    ) -> None:
        super().__init__()
        if len(widths) < 3:
            raise ValueError("widths must be (n_0, n_1, ..., n_L) with at least one hidden layer")
        self.widths = tuple(int(w) for w in widths)
        self.beta = float(beta)
        self.act = SmoothReLU(nonlinearity)
        self.layers = nn.ModuleList(
            NTKLinear(a, b, beta, generator, dtype)
            for a, b in zip(self.widths[:-1], self.widths[1:], strict=True)
        )

    @property
    def depth(self) -> int:
        """L, the number of weight layers."""
        return len(self.layers)

    def forward(self, x: Tensor) -> Tensor:
        a = x
        for i, layer in enumerate(self.layers):
            a = layer(a)
            if i < len(self.layers) - 1:
                a = self.act(a)
        return a

    def hidden(self, x: Tensor) -> tuple[list[Tensor], list[Tensor]]:
        """Pre-activations z_1..z_{L−1} and activations a_0 = x, a_1..a_{L−1}."""
        zs, acts = [], [x]
        for layer in self.layers[:-1]:
            zs.append(layer(acts[-1]))
            acts.append(self.act(zs[-1]))
        return zs, acts


def empirical_ntk(model: NTKMLP, x: Tensor) -> Tensor:
    """Θ̂ = JJᵀ from the layer structure, (N·n_L) × (N·n_L), rows sample-major.

    For z_{ℓ+1} = W_ℓ a_ℓ/√n_ℓ + β b_ℓ the parameters of layer ℓ contribute
    (δ_{ℓ+1}(x)·δ_{ℓ+1}(x')) (a_ℓ(x)·a_ℓ(x')/n_ℓ + β²), δ_{ℓ+1} = ∂f/∂z_{ℓ+1}: O(N²n) work per
    layer instead of O(N²P) (the curvature core's generic :func:`curvlab.curvature.ntk_gram` is
    the test oracle).
    """
    zs, acts = model.hidden(x)
    n, n_out = x.shape[0], model.widths[-1]
    delta = torch.eye(n_out, dtype=x.dtype, device=x.device).expand(n, n_out, n_out)
    gram = torch.zeros(n * n_out, n * n_out, dtype=x.dtype, device=x.device)
    for ell in range(model.depth - 1, -1, -1):
        layer = model.layers[ell]
        flat = delta.reshape(n * n_out, -1)
        inputs = acts[ell] @ acts[ell].T / layer.n_in + model.beta**2
        gram += (flat @ flat.T) * inputs.repeat_interleave(n_out, 0).repeat_interleave(n_out, 1)
        if ell > 0:
            delta = (delta @ layer.weight / math.sqrt(layer.n_in)) * model.act.derivative(
                zs[ell - 1], 1
            )[:, None, :]
    return gram


def last_layer_factor(model: NTKMLP, x: Tensor) -> tuple[Tensor, Tensor]:
    """(R, a_{L−1}) with g_k(x) = R(x)·W_{L−1}[k] for every output k.

    g is linear in the last weight matrix (every second derivative of f carries one factor of
    it), so R = ∂g_k/∂W_{L−1}[k] does not depend on k or on W_{L−1}. Closed form for L = 2, 3:

    * L = 2: R = c₀ σ''(z₁)/√n₁, c₀ = ‖x‖²/n₀ + β²;
    * L = 3: R = [c₁ σ''(z₂) + c₀ (P ⊙ σ''(z₂) + Q ⊙ σ'(z₂))]/√n₂ with c₁ = ‖a₁‖²/n₁ + β²,
      P = σ'(z₁)² (W₁ ⊙ W₁)ᵀ/n₁ and Q = σ''(z₁) W₁ᵀ/√n₁ (tr H₂ and tr H₁).
    """
    zs, acts = model.hidden(x)
    beta2 = model.beta**2
    act = model.act
    n = model.widths
    c0 = (x * x).sum(1, keepdim=True) / n[0] + beta2
    if model.depth == 2:
        return c0 * act.derivative(zs[0], 2) / math.sqrt(n[1]), acts[1]
    if model.depth == 3:
        w1 = model.layers[1].weight
        c1 = (acts[1] * acts[1]).sum(1, keepdim=True) / n[1] + beta2
        h2 = act.derivative(zs[1], 2)
        p = act.derivative(zs[0], 1).square() @ (w1 * w1).T / n[1]
        q = act.derivative(zs[0], 2) @ w1.T / math.sqrt(n[1])
        r = (c1 * h2 + c0 * (p * h2 + q * act.derivative(zs[1], 1))) / math.sqrt(n[2])
        return r, acts[2]
    raise NotImplementedError(f"closed-form g for L = 2, 3 only, not L = {model.depth}")


def hessian_trace(model: NTKMLP, x: Tensor) -> Tensor:
    """g(x) = Σ_p ∂²f_k(x)/∂θ_p² for every input and output, shape (N, n_L); differentiable."""
    r, _ = last_layer_factor(model, x)
    return r @ model.layers[-1].weight.T


def rao_blackwell_kernels(model: NTKMLP, x: Tensor) -> tuple[Tensor, Tensor]:
    """(Φ̂, Σ̂), the conditional expectations over the last layer's weights given the hidden ones.

    f and g are linear in W_{L−1} ~ N(0, I), so E[g_i f_j | hidden] = R_i·a_j/√n_{L−1} and
    E[f_i f_j | hidden] = a_i·a_j/n_{L−1} + β² exactly, per output.
    """
    r, a = last_layer_factor(model, x)
    width = model.widths[-2]
    phi = r @ a.T / math.sqrt(width)
    sigma = a @ a.T / width + model.beta**2
    return phi, sigma
