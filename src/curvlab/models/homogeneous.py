"""Bias-free ReLU networks, the homogeneous models of Du, Hu & Lee (2018).

f(x) = W_L φ(W_{L-1} ⋯ φ(W_1 x)) with φ = ReLU. Because φ(cz) = cφ(z) for c > 0, scaling W_h by
c and W_{h+1} by 1/c leaves f unchanged, which is what makes ‖W_{h+1}‖_F² − ‖W_h‖_F² a
conserved quantity of gradient flow.

The forward and backward passes are written out by hand: the experiment needs every layer's
gradient G_h = ∂L/∂W_h at every step in float64, and an explicit backward pass is both faster
than autograd at this size and easy to check against it (tests/test_homogeneous.py).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

Tensor = torch.Tensor


def init_weights(
    shapes: Sequence[tuple[int, int]],
    sq_norms: Sequence[float],
    generator: torch.Generator,
    dtype: torch.dtype = torch.float64,
) -> list[Tensor]:
    """Gaussian layers W_h ∈ R^{rows×cols} with entries N(0, sq_norms[h] / (rows·cols)).

    The expected squared Frobenius norm of W_h is then sq_norms[h]. At the paper's dimensions
    (1000 → 100 → 100 → 10) this reproduces both of Du et al.'s initializations exactly:
    balanced variances 10⁻⁴/100, 10⁻⁴/10, 10⁻⁴ are sq_norms (0.1, 0.1, 0.1), and the
    unbalanced all-10⁻⁴ variances are sq_norms (10, 1, 0.1).
    """
    if len(shapes) != len(sq_norms):
        raise ValueError(f"{len(shapes)} layer shapes but {len(sq_norms)} squared norms")
    weights = []
    for (rows, cols), sq_norm in zip(shapes, sq_norms, strict=True):
        std = (sq_norm / (rows * cols)) ** 0.5
        weights.append(torch.randn(rows, cols, generator=generator, dtype=dtype) * std)
    return weights


def layer_shapes(
    input_dim: int, hidden_dims: Sequence[int], output_dim: int
) -> list[tuple[int, int]]:
    widths = [input_dim, *hidden_dims, output_dim]
    return [(widths[i + 1], widths[i]) for i in range(len(widths) - 1)]


def forward(weights: Sequence[Tensor], x: Tensor) -> Tensor:
    """Network outputs for inputs ``x`` of shape (n, input_dim)."""
    a = x
    for h, w in enumerate(weights):
        a = a @ w.T
        if h < len(weights) - 1:
            a = a.clamp_min(0)
    return a


def loss_and_grads(weights: Sequence[Tensor], x: Tensor, y: Tensor) -> tuple[Tensor, list[Tensor]]:
    """Quadratic loss L = (1/2N) Σ_i ‖f(x_i) − y_i‖² and its gradients G_h = ∂L/∂W_h."""
    n = x.shape[0]
    activations = [x]  # inputs to each layer
    pre = []  # pre-activations of hidden layers
    a = x
    for h, w in enumerate(weights):
        z = a @ w.T
        if h < len(weights) - 1:
            pre.append(z)
            a = z.clamp_min(0)
            activations.append(a)
        else:
            a = z
    residual = a - y
    loss = 0.5 * (residual * residual).sum() / n
    delta = residual / n  # ∂L/∂(output)
    grads: list[Tensor] = [None] * len(weights)  # type: ignore[list-item]
    for h in range(len(weights) - 1, -1, -1):
        grads[h] = delta.T @ activations[h]
        if h > 0:
            delta = (delta @ weights[h]) * (pre[h - 1] > 0)
    return loss, grads
