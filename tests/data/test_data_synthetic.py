"""Synthetic generators: determinism, shapes, documented construction and statistics."""

from __future__ import annotations

import numpy as np
import pytest

from curvlab.data import (
    gaussian_regression,
    haar_orthogonal,
    linear_teacher_student,
    relu_teacher_regression,
)


def rng(seed: int = 0) -> np.random.Generator:
    return np.random.default_rng(seed)


@pytest.mark.parametrize("target", ["relu", "linear", "gaussian"])
def test_relu_teacher_determinism_and_shapes(target: str) -> None:
    x, y = relu_teacher_regression(300, 50, [20, 10], 4, rng(3), target=target)
    x2, y2 = relu_teacher_regression(300, 50, [20, 10], 4, rng(3), target=target)
    x3, y3 = relu_teacher_regression(300, 50, [20, 10], 4, rng(4), target=target)
    assert x.shape == (300, 50) and y.shape == (300, 4)
    assert x.dtype == y.dtype == np.float64
    np.testing.assert_array_equal(x, x2)
    np.testing.assert_array_equal(y, y2)
    assert not np.allclose(y, y3)
    if target != "gaussian":
        np.testing.assert_allclose(np.sqrt(np.mean(y**2, axis=0)), 1.0, rtol=1e-12)


def test_inputs_have_covariance_identity_over_d() -> None:
    x, _ = relu_teacher_regression(4000, 40, [8], 1, rng())
    np.testing.assert_allclose(np.mean(np.sum(x**2, axis=1)), 1.0, atol=0.02)
    np.testing.assert_allclose(x.T @ x / 4000 * 40, np.eye(40), atol=0.1)


def test_relu_teacher_is_the_documented_network() -> None:
    """Rebuild the teacher from the documented draw order: X, then He weights per layer."""
    n, d, hidden, out = 50, 6, [5, 7], 3
    x, y = relu_teacher_regression(n, d, hidden, out, rng(11))
    r = rng(11)
    x_ref = r.standard_normal((n, d)) / np.sqrt(d)
    h = x_ref
    widths = [d, *hidden, out]
    for i in range(3):
        w = r.standard_normal((widths[i + 1], widths[i])) * np.sqrt(2 / widths[i])
        h = h @ w.T
        if i < 2:
            h = np.maximum(h, 0)
    np.testing.assert_array_equal(x, x_ref)
    np.testing.assert_allclose(y, h / np.sqrt(np.mean(h**2, axis=0)), rtol=1e-12)


def test_linear_target_lies_in_the_span_of_the_inputs() -> None:
    x, y = relu_teacher_regression(100, 10, [5], 2, rng(), target="linear")
    coef, *_ = np.linalg.lstsq(x, y, rcond=None)
    np.testing.assert_allclose(x @ coef, y, atol=1e-10)
    with pytest.raises(ValueError, match="unknown target"):
        relu_teacher_regression(10, 3, [], 1, rng(), target="cubic")


def test_haar_orthogonal_is_orthogonal_and_unbiased() -> None:
    q = haar_orthogonal(7, rng())
    np.testing.assert_allclose(q.T @ q, np.eye(7), atol=1e-13)
    # Haar: every entry has mean 0. Plain QR (no sign fix) gives Q[0, 0] < 0 always.
    g = rng(1)
    corner = np.array([haar_orthogonal(3, g)[0, 0] for _ in range(2000)])
    assert abs(corner.mean()) < 0.06
    np.testing.assert_allclose(np.mean(corner**2), 1 / 3, atol=0.03)


def test_linear_teacher_student() -> None:
    data = linear_teacher_student(16, 16, 3, [3.0, 2.0, 1.0], 0.3, rng(5))
    assert data.X.shape == data.Y.shape == data.noise.shape == (16, 16)
    assert data.W_teacher.shape == (16, 16) and data.U.shape == data.V.shape == (16, 3)
    np.testing.assert_allclose(data.X @ data.X.T / 16, np.eye(16), atol=1e-12)
    s = np.linalg.svd(data.W_teacher, compute_uv=False)
    np.testing.assert_allclose(s[:3], [3.0, 2.0, 1.0], rtol=1e-12)
    np.testing.assert_allclose(s[3:], 0, atol=1e-12)
    np.testing.assert_allclose(data.U.T @ data.U, np.eye(3), atol=1e-13)
    np.testing.assert_allclose(data.V.T @ data.V, np.eye(3), atol=1e-13)
    np.testing.assert_allclose(data.U * data.singular_values @ data.V.T, data.W_teacher)
    np.testing.assert_allclose(data.Y, data.W_teacher @ data.X + data.noise, atol=1e-12)
    again = linear_teacher_student(16, 16, 3, [3.0, 2.0, 1.0], 0.3, rng(5))
    np.testing.assert_array_equal(again.Y, data.Y)


def test_linear_teacher_student_noise_and_validation() -> None:
    data = linear_teacher_student(20, 500, 2, [1.0, 1.0], 0.5, rng())
    np.testing.assert_allclose(data.noise.std(), 0.5, rtol=0.03)
    assert np.all(linear_teacher_student(4, 4, 1, [2.0], 0.0, rng()).noise == 0)
    with pytest.raises(ValueError, match="singular values"):
        linear_teacher_student(4, 4, 2, [1.0], 0.1, rng())
    with pytest.raises(ValueError, match="rank"):
        linear_teacher_student(4, 4, 5, [1.0] * 5, 0.1, rng())
    with pytest.raises(ValueError, match="non-negative"):
        linear_teacher_student(4, 4, 1, [-1.0], 0.1, rng())


def test_gaussian_regression() -> None:
    x, y, w = gaussian_regression(20000, 3, rng(2))
    assert x.shape == (20000, 3) and y.shape == (20000,) and w.shape == (3,)
    np.testing.assert_array_equal(w, 0)  # Mori et al.: x and y independent
    np.testing.assert_allclose([x.var(), y.var()], 1, rtol=0.05)
    x, y, w = gaussian_regression(20000, 4, rng(2), noise_std=0.1, signal_std=2.0)
    assert np.linalg.norm(w) > 0
    np.testing.assert_allclose((y - x @ w).std(), 0.1, rtol=0.05)
    x2, y2, w2 = gaussian_regression(20000, 4, rng(2), noise_std=0.1, signal_std=2.0)
    np.testing.assert_array_equal(y2, y)
