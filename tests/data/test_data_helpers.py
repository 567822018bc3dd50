"""Pure preprocessing helpers: subsets, scaling, downscaling, whitening, label encodings."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from curvlab.data import (
    downscale,
    even_odd_labels,
    first_n,
    flatten,
    one_hot,
    standardize_features,
    stratified_subset,
    to_float,
    whiten,
)


def test_first_n() -> None:
    x, y = np.arange(20).reshape(10, 2), np.arange(10)
    xs, ys = first_n(x, y, 3)
    np.testing.assert_array_equal(xs, x[:3])
    np.testing.assert_array_equal(ys, [0, 1, 2])
    with pytest.raises(ValueError, match="first 11 of 10"):
        first_n(x, y, 11)
    with pytest.raises(ValueError, match="labels"):
        first_n(x, y[:5], 2)


def test_stratified_subset() -> None:
    y = np.repeat(np.arange(3), [10, 20, 30])
    x = np.arange(60) * 10
    xs, ys = stratified_subset(x, y, 8, np.random.default_rng(0))
    assert np.bincount(ys).tolist() == [3, 3, 2]  # remainder to the lowest labels
    np.testing.assert_array_equal(y[xs // 10], ys)  # (x, y) pairs kept together
    assert np.all(np.diff(xs) > 0)  # stored order, no repeats
    again = stratified_subset(x, y, 8, np.random.default_rng(0))
    np.testing.assert_array_equal(again[0], xs)
    with pytest.raises(ValueError, match="class 0 has 10 samples"):
        stratified_subset(x, y, 33, np.random.default_rng(0))


def test_to_float() -> None:
    images = np.array([[0, 51, 255]], dtype=np.uint8)
    out = to_float(images)
    assert out.dtype == np.float64
    np.testing.assert_allclose(out, [[0.0, 0.2, 1.0]], rtol=0, atol=1e-15)
    assert to_float(images, np.float32).dtype == np.float32
    with pytest.raises(TypeError, match="uint8"):
        to_float(out)


def test_downscale_known_array() -> None:
    image = np.arange(16, dtype=np.uint8).reshape(4, 4)
    np.testing.assert_array_equal(downscale(image, 2), [[2.5, 4.5], [10.5, 12.5]])
    np.testing.assert_array_equal(downscale(image, (1, 2)), [[6.5, 8.5]])
    np.testing.assert_array_equal(downscale(image, 4), image)
    batch = np.stack([image, 2 * image])[:, None]  # (2, 1, 4, 4): leading axes are kept
    out = downscale(batch, 1)
    assert out.shape == (2, 1, 1, 1) and out.dtype == np.float64
    np.testing.assert_array_equal(out.ravel(), [7.5, 15.0])
    assert downscale(image.astype(np.float32), 2).dtype == np.float32


def test_downscale_mnist_shape_and_bad_factors() -> None:
    images = np.zeros((5, 28, 28), dtype=np.uint8)
    assert downscale(images, 14).shape == (5, 14, 14)
    assert downscale(images, 7).shape == (5, 7, 7)
    for size in (10, 0, (14, 5)):
        with pytest.raises(ValueError, match="integer factor"):
            downscale(images, size)


@settings(max_examples=40, deadline=None)
@given(
    small=hnp.arrays(
        np.float64,
        hnp.array_shapes(min_dims=2, max_dims=3, max_side=4),
        elements=st.floats(-100, 100),
    ),
    fh=st.integers(1, 3),
    fw=st.integers(1, 3),
)
def test_downscale_undoes_block_upsampling(small: np.ndarray, fh: int, fw: int) -> None:
    big = np.repeat(np.repeat(small, fh, axis=-2), fw, axis=-1)
    np.testing.assert_allclose(downscale(big, small.shape[-2:]), small, rtol=1e-12, atol=1e-12)


def test_flatten() -> None:
    """Sample-major rows in C order (channel, row, column): element [i, c, h, w] lands in
    column (c·4 + h)·5 + w of row i, a view that reshapes back to the images."""
    images = np.arange(3 * 2 * 4 * 5, dtype=np.float32).reshape(3, 2, 4, 5)
    flat = flatten(images)
    assert flat.shape == (3, 40)
    assert flat[1, (1 * 4 + 2) * 5 + 3] == images[1, 1, 2, 3]
    np.testing.assert_array_equal(flat[2], images[2].ravel())
    assert np.shares_memory(flat, images)
    np.testing.assert_array_equal(flat.reshape(images.shape), images)


def test_even_odd_labels() -> None:
    out = even_odd_labels(np.arange(10))
    assert out.dtype == np.float64
    np.testing.assert_array_equal(out, [1, -1, 1, -1, 1, -1, 1, -1, 1, -1])
    with pytest.raises(TypeError):
        even_odd_labels(np.array([1.0]))


def test_one_hot() -> None:
    out = one_hot(np.array([2, 0, 1, 2]), 3)
    np.testing.assert_array_equal(out, [[0, 0, 1], [1, 0, 0], [0, 1, 0], [0, 0, 1]])
    assert out.dtype == np.float64
    with pytest.raises(ValueError, match="0..2"):
        one_hot(np.array([3]), 3)


def test_standardize_features() -> None:
    rng = np.random.default_rng(0)
    x = rng.normal(5.0, 3.0, (200, 4))
    x[:, 3] = 7.0  # a constant feature, like MNIST's border pixels
    z = standardize_features(x, eps=1e-12)
    np.testing.assert_allclose(z.mean(axis=0), 0, atol=1e-12)
    np.testing.assert_allclose(z[:, :3].std(axis=0), 1, rtol=1e-9)
    np.testing.assert_array_equal(z[:, 3], 0.0)
    test = rng.normal(5.0, 3.0, (10, 4))
    by_train = standardize_features(test, eps=1e-12, reference=x)
    np.testing.assert_allclose(by_train[:, 0], (test[:, 0] - x[:, 0].mean()) / x[:, 0].std())


@pytest.mark.parametrize(("n", "p"), [(16, 16), (5, 40), (1, 3)])
def test_whiten_identity(n: int, p: int) -> None:
    x = np.random.default_rng(n + p).standard_normal((n, p)) * 3 + 1
    xw = whiten(x)
    assert xw.shape == (n, p)
    np.testing.assert_allclose(xw @ xw.T / p, np.eye(n), rtol=0, atol=1e-12)
    # a linear transform of x by a lower-triangular matrix with positive diagonal (x = L xw/√P)
    transform = xw @ np.linalg.pinv(x)
    np.testing.assert_allclose(transform @ x, xw, atol=1e-9)
    np.testing.assert_allclose(np.triu(transform, 1), 0, atol=1e-9)
    assert np.all(np.diag(transform) > 0)
    np.testing.assert_allclose(whiten(xw), xw, atol=1e-12)  # already white: unchanged
    if n == p:  # the P = N convention: X = √P Q with Q orthogonal
        q = xw / np.sqrt(p)
        np.testing.assert_allclose(q.T @ q, np.eye(n), atol=1e-13)


def test_whiten_refuses_too_few_samples_and_rank_deficiency() -> None:
    with pytest.raises(ValueError, match="only 3 samples"):
        whiten(np.ones((4, 3)))
    x = np.random.default_rng(0).standard_normal((3, 10))
    x[2] = x[0] + x[1]
    with pytest.raises(ValueError, match="rank deficient"):
        whiten(x)
