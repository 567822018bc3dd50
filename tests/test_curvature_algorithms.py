"""Lanczos, SLQ, Hutchinson and top-k on matrices with known spectra, and on a real Hessian."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from torch import nn

from curvlab.curvature import (
    CurvatureOperator,
    DenseOperator,
    Estimate,
    HessianOperator,
    density_grid,
    exact_smoothed_density,
    gradient_overlap,
    hutchinson_moments,
    hutchinson_trace,
    hutchpp_trace,
    kernel_variance,
    lanczos,
    rademacher,
    slq,
    smoothed_density,
    topk,
)


def known_spectrum(eigenvalues, seed: int = 0) -> tuple[DenseOperator, torch.Tensor]:
    gen = torch.Generator().manual_seed(seed)
    n = len(eigenvalues)
    q, _ = torch.linalg.qr(torch.randn(n, n, generator=gen, dtype=torch.float64))
    lam = torch.as_tensor(eigenvalues, dtype=torch.float64)
    return DenseOperator(q @ torch.diag(lam) @ q.T), q


def hessian_like(n: int = 300, seed: int = 0) -> np.ndarray:
    """A bulk near zero (with negative values) plus a few outliers, like a trained net's Hessian."""
    rng = np.random.default_rng(seed)
    bulk = rng.normal(0.0, 0.05, n - 5)
    return np.concatenate([bulk, [2.0, 3.5, 5.0, 8.0, 12.0]])


def test_extreme_ritz_values_converge_and_basis_stays_orthonormal():
    lam = hessian_like()
    op, _ = known_spectrum(lam)
    run = lanczos(op.matmat, rademacher(op.dim, 3, seed=1), 80, reorth="full", return_vectors=True)
    for d in range(3):
        theta, _ = run.ritz(d)
        assert float(theta[-1]) == pytest.approx(lam.max(), abs=1e-10)
        assert float(theta[-2]) == pytest.approx(8.0, abs=1e-10)
        assert float(theta[0]) == pytest.approx(lam.min(), abs=5e-3)
        q = run.vectors[d]
        assert float((q @ q.T - torch.eye(80, dtype=torch.float64)).abs().max()) < 1e-8


def test_without_reorthogonalization_orthogonality_is_lost():
    op, _ = known_spectrum(hessian_like())
    run = lanczos(op.matmat, rademacher(op.dim, 1, seed=1), 80, reorth="none", return_vectors=True)
    q = run.vectors[0]
    loss = float((q @ q.T - torch.eye(80, dtype=torch.float64)).abs().max())
    assert loss > 1e-4  # ghost eigenvalues appear; full reorthogonalization is the default


def test_lock_step_draws_equal_independent_runs():
    op, _ = known_spectrum(hessian_like(100))
    start = rademacher(op.dim, 4, seed=2)
    together = lanczos(op.matmat, start, 30)
    for d in range(4):
        alone = lanczos(op.matmat, start[:, d : d + 1], 30)
        torch.testing.assert_close(together.alpha[d], alone.alpha[0], rtol=1e-12, atol=1e-12)
        torch.testing.assert_close(together.beta[d], alone.beta[0], rtol=1e-12, atol=1e-12)


def test_breakdown_on_an_invariant_subspace_gives_the_exact_spectrum():
    op, _ = known_spectrum([1.0] * 20 + [2.0] * 20 + [5.0] * 20)
    run = lanczos(op.matmat, rademacher(op.dim, 2, seed=3), 10)
    for d in range(2):
        assert int(run.lengths[d]) == 3
        theta, _ = run.ritz(d)
        torch.testing.assert_close(theta, torch.tensor([1.0, 2.0, 5.0], dtype=torch.float64))


def test_slq_weights_sum_to_one_and_moments_equal_hutchinson_with_the_same_probes():
    lam = hessian_like()
    op, _ = known_spectrum(lam)
    quad = slq(op, steps=20, draws=6, seed=4)
    for w in quad.weights:
        assert w.sum() == pytest.approx(1.0, abs=1e-12)
    hutch = hutchinson_moments(op, 4, probes=6, seed=4)
    for est in hutch:
        # Gauss quadrature with m nodes is exact for polynomials of degree ≤ 2m − 1.
        moment = quad.moment(est.k)
        assert moment.k == est.k
        assert moment.estimate == pytest.approx(est.estimate, rel=1e-9)
        exact = float(np.sum(lam**est.k))
        assert abs(moment.estimate - exact) < 4 * moment.stderr + 1e-9


def test_slq_moments_of_a_real_hessian_within_standard_error():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(6, 10), nn.Tanh(), nn.Linear(10, 2)).double()
    x, y = torch.randn(30, 6, dtype=torch.float64), torch.randn(30, 2, dtype=torch.float64)
    H = HessianOperator(
        model, lambda o, t: ((o - t) ** 2).mean(), [(x[:20], y[:20]), (x[20:], y[20:])]
    )
    spectrum = torch.linalg.eigvalsh(H.to_dense()).numpy()
    quad = slq(H, steps=40, draws=30, seed=5)
    for k in range(1, 5):
        moment = quad.moment(k)
        assert abs(moment.estimate - np.sum(spectrum**k)) < 4 * moment.stderr


def test_smoothed_slq_density_matches_the_exact_smoothed_density():
    lam = hessian_like(400)
    op, _ = known_spectrum(lam)
    quad = slq(op, steps=90, draws=10, seed=6)
    nodes = np.concatenate(quad.nodes)
    variance = kernel_variance(nodes, "papyan", steps=90)
    grid = density_grid(nodes, points=4000)
    approx = smoothed_density(quad.nodes, quad.weights, grid, variance)
    exact = exact_smoothed_density(lam, grid, variance)
    dx = grid[1] - grid[0]
    assert exact.sum() * dx == pytest.approx(1.0, abs=1e-3)
    l1 = float(np.abs(approx - exact).sum() * dx)
    assert l1 < 0.15, (
        l1
    )  # measured ≈ 0.05–0.1; the kernel resolves the bulk, not single eigenvalues


def test_kernel_width_conventions():
    nodes = np.array([-1.0, 0.0, 3.0])
    assert kernel_variance(nodes, "ghorbani") == pytest.approx(4e-5)
    assert kernel_variance(np.array([0.0, 0.5]), "ghorbani", sigma2=1e-3) == pytest.approx(1e-3)
    assert math.sqrt(kernel_variance(nodes, "resolution", steps=80)) == pytest.approx(4 / 80)
    papyan = math.sqrt(kernel_variance(nodes, "papyan", steps=81))
    assert papyan == pytest.approx(2 * 2 / (80 * math.sqrt(8 * math.log(3))))
    with pytest.raises(ValueError, match="needs the number of Lanczos steps"):
        kernel_variance(nodes, "papyan")


def test_hutchinson_moments_are_unbiased_and_errors_shrink_with_probes():
    lam = hessian_like(200)
    op, _ = known_spectrum(lam)
    small = hutchinson_moments(op, 4, probes=50, seed=7)
    large = hutchinson_moments(op, 4, probes=800, seed=8)
    for s, l in zip(small, large, strict=True):
        exact = float(np.sum(lam**s.k))
        assert abs(l.estimate - exact) < 4 * l.stderr
        assert l.stderr < s.stderr / 2.5  # ∝ 1/√probes: 4× fewer would be 1/4


def test_hutchpp_beats_hutchinson_on_a_matrix_with_outliers():
    lam = hessian_like(300)
    op, _ = known_spectrum(lam)
    exact = lam.sum()
    hpp = [abs(hutchpp_trace(op, 60, seed=s).estimate - exact) for s in range(10)]
    plain = [
        abs(hutchinson_moments(op, 1, probes=60, seed=s)[0].estimate - exact) for s in range(10)
    ]
    assert np.mean(hpp) < np.mean(plain) / 3


def test_topk_eigenpairs_with_measured_residuals():
    lam = hessian_like()
    op, q = known_spectrum(lam)
    pairs = topk(op, 4, seed=9)
    np.testing.assert_allclose(pairs.eigenvalues.numpy(), [12.0, 8.0, 5.0, 3.5], atol=1e-10)
    assert float(pairs.residuals.max()) < 1e-8
    order = torch.as_tensor(np.argsort(lam)[::-1][:4].copy())
    overlap = torch.abs(pairs.eigenvectors.T @ q[:, order]).diagonal()
    np.testing.assert_allclose(overlap.numpy(), 1.0, atol=1e-8)
    g = q[:, order[0]] + q[:, order[1]] + 2 * q[:, 10]  # squared weights 1 + 1 of 1 + 1 + 4
    assert gradient_overlap(g, pairs.eigenvectors) == pytest.approx(2 / 6, abs=1e-10)


def test_float32_basis_keeps_the_extreme_ritz_values():
    lam = hessian_like()
    op, _ = known_spectrum(lam)
    run = lanczos(
        op.matmat, rademacher(op.dim, 2, seed=1), 80, basis_dtype=torch.float32, return_vectors=True
    )
    theta, _ = run.ritz(0)
    assert float(theta[-1]) == pytest.approx(lam.max(), abs=1e-8)
    q = run.vectors[0].double()
    assert float((q @ q.T - torch.eye(80, dtype=torch.float64)).abs().max()) < 1e-5


def test_trace_of_explicit_matrices():
    """DenseOperator's own trace and the base class's unit-vector route (150 = 64 + 64 + 22)."""
    a = torch.randn(150, 150, generator=torch.Generator().manual_seed(9), dtype=torch.float64)
    matrix = a + a.T

    class MatrixFree(CurvatureOperator):
        def matmat(self, vectors: torch.Tensor) -> torch.Tensor:
            return matrix @ vectors

    exact = float(torch.trace(matrix))
    assert DenseOperator(matrix).trace() == exact
    assert MatrixFree(150).trace() == pytest.approx(exact, rel=1e-12, abs=1e-12)


def test_every_randomized_trace_is_an_estimate_within_its_standard_error():
    lam = hessian_like(100)
    op, _ = known_spectrum(lam)
    exact = op.trace()
    assert exact == pytest.approx(lam.sum(), rel=1e-12)
    for result in (
        hutchinson_trace(op, 200, seed=1),
        hutchpp_trace(op, 99, seed=1),
        slq(op, steps=20, draws=200, seed=1).moment(1),
    ):
        assert isinstance(result, Estimate) and result.k == 1
        assert abs(result.estimate - exact) < 4 * result.stderr
