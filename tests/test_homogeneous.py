"""The hand-written backward pass of the bias-free ReLU net against autograd (float64)."""

from __future__ import annotations

import pytest
import torch

from curvlab.models.homogeneous import forward, init_weights, layer_shapes, loss_and_grads


@pytest.mark.parametrize("hidden", [(7,), (6, 5), (4, 6, 3)])
def test_gradients_match_autograd(hidden):
    gen = torch.Generator().manual_seed(0)
    shapes = layer_shapes(9, hidden, 3)
    weights = init_weights(shapes, [1.0] * len(shapes), gen)
    x = torch.randn(11, 9, generator=gen, dtype=torch.float64)
    y = torch.randn(11, 3, generator=gen, dtype=torch.float64)
    loss, grads = loss_and_grads(weights, x, y)
    params = [w.clone().requires_grad_(True) for w in weights]
    reference = 0.5 * ((forward(params, x) - y) ** 2).sum() / x.shape[0]
    reference.backward()
    assert torch.allclose(loss, reference, rtol=1e-14, atol=0)
    for g, p in zip(grads, params, strict=True):
        torch.testing.assert_close(g, p.grad, rtol=1e-12, atol=1e-14)


def test_init_has_the_requested_expected_squared_norms():
    gen = torch.Generator().manual_seed(1)
    shapes = layer_shapes(1000, (100, 100), 10)
    norms = [0.1, 0.1, 0.1]
    weights = init_weights(shapes, norms, gen)
    for w, target, (rows, cols) in zip(weights, norms, shapes, strict=True):
        # E‖W‖² = target, relative sd √(2/(rows·cols))
        assert abs((w**2).sum().item() / target - 1) < 5 * (2 / (rows * cols)) ** 0.5
    # The paper's balanced variances at its own dimensions: 1e-4/100, 1e-4/10, 1e-4.
    assert [n / (r * c) for n, (r, c) in zip(norms, shapes, strict=True)] == pytest.approx(
        [1e-6, 1e-5, 1e-4]
    )


def test_homogeneity_rescaling_leaves_the_function_unchanged():
    gen = torch.Generator().manual_seed(2)
    weights = init_weights(layer_shapes(5, (4, 4), 2), [1.0, 1.0, 1.0], gen)
    x = torch.randn(6, 5, generator=gen, dtype=torch.float64)
    scaled = [weights[0] * 3.0, weights[1] / 3.0, weights[2]]
    torch.testing.assert_close(forward(weights, x), forward(scaled, x), rtol=1e-13, atol=1e-15)
