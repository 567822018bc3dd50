"""Synthetic data for the papers that do not use images.

* :func:`relu_teacher_regression`: Du et al. (2018), a random bias-free ReLU teacher (or a
  linear map, or pure noise) on inputs x ~ N(0, I_d/d).
* :func:`linear_teacher_student`: Huh (2020), whitened inputs and a low-rank teacher with
  Haar-random singular vectors, plus Gaussian noise (Lampinen & Ganguli 2018).
* :func:`gaussian_regression`: Mori et al. (2022), linear regression with Gaussian inputs.

Every generator takes an explicit ``np.random.Generator`` (never global state) and returns
float64, so the same seed gives the same numbers everywhere. The order of the draws is part of
each function's contract and is documented, because changing it changes every dataset.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np

from curvlab.data.prepare import whiten

Target = Literal["relu", "linear", "gaussian"]


def _rms_normalize(y: np.ndarray) -> np.ndarray:
    rms = np.sqrt(np.mean(y**2, axis=0))
    if np.any(rms == 0):
        raise ValueError("a teacher output is identically zero on these inputs; use another seed")
    return y / rms


def relu_teacher_regression(
    n: int,
    input_dim: int,
    hidden_dims: Sequence[int],
    output_dim: int,
    rng: np.random.Generator,
    *,
    target: Target = "relu",
) -> tuple[np.ndarray, np.ndarray]:
    """Inputs X (n x input_dim) with rows ~ N(0, I/input_dim), and targets Y (n x output_dim).

    ``target="relu"``: Y = teacher(X) for a bias-free ReLU MLP with widths
    input_dim -> *hidden_dims -> output_dim, He-initialized (weights N(0, 2/fan_in)), linear
    last layer. ``target="linear"``: Y = X Tᵀ with T ~ N(0, 1/input_dim). In both cases each
    output column is then rescaled to RMS 1 over the n samples, which fixes the initial loss
    scale whatever the architecture. ``target="gaussian"``: Y ~ N(0, 1), not rescaled.

    Draw order: X, then the teacher's weights layer by layer (or T, or Y).
    """
    x = rng.standard_normal((n, input_dim)) / np.sqrt(input_dim)
    if target == "relu":
        h = x
        widths = [input_dim, *hidden_dims, output_dim]
        for layer, (fan_in, fan_out) in enumerate(zip(widths[:-1], widths[1:], strict=True)):
            w = rng.standard_normal((fan_out, fan_in)) * np.sqrt(2.0 / fan_in)
            h = h @ w.T
            if layer < len(widths) - 2:
                h = np.maximum(h, 0.0)
        return x, _rms_normalize(h)
    if target == "linear":
        t = rng.standard_normal((output_dim, input_dim)) / np.sqrt(input_dim)
        return x, _rms_normalize(x @ t.T)
    if target == "gaussian":
        return x, rng.standard_normal((n, output_dim))
    raise ValueError(f"unknown target {target!r}; use 'relu', 'linear' or 'gaussian'")


def haar_orthogonal(n: int, rng: np.random.Generator) -> np.ndarray:
    """An n x n orthogonal matrix drawn from the Haar measure.

    QR of a Gaussian matrix, with each column's sign set by the sign of R's diagonal; without
    that fix the distribution is not uniform (Mezzadri 2007).
    """
    q, r = np.linalg.qr(rng.standard_normal((n, n)))
    return q * np.sign(np.diag(r))


@dataclass(frozen=True)
class LinearTeacherStudent:
    """Data of a linear teacher-student problem: Y = W_teacher X + noise.

    Field names follow the paper's notation. ``X`` is n_dim x n_samples with (1/P) X Xᵀ = I;
    ``U`` and ``V`` (n_dim x rank) are the teacher's left and right singular vectors and
    ``singular_values`` their values, so that ``W_teacher = U @ diag(singular_values) @ V.T``.
    """

    X: np.ndarray
    Y: np.ndarray
    W_teacher: np.ndarray
    noise: np.ndarray
    U: np.ndarray
    V: np.ndarray
    singular_values: np.ndarray


def linear_teacher_student(
    n_dim: int,
    n_samples: int,
    rank: int,
    singular_values: Sequence[float],
    noise_std: float,
    rng: np.random.Generator,
) -> LinearTeacherStudent:
    """Huh (2020): whitened inputs, a rank-``rank`` teacher with Haar-random singular vectors.

    X = whiten(G) for Gaussian G (n_dim x n_samples, n_samples >= n_dim); W = U diag(s) Vᵀ with
    U, V the first ``rank`` columns of independent Haar orthogonal matrices; Y = W X + Z with
    Z ~ N(0, noise_std²). Draw order: G, U, V, Z.
    """
    s = np.asarray(singular_values, dtype=np.float64)
    if s.shape != (rank,) or not 0 < rank <= n_dim:
        raise ValueError(f"need 0 < rank <= {n_dim} and {rank} singular values, got {s.shape}")
    if np.any(s < 0):
        raise ValueError("singular values must be non-negative")
    x = whiten(rng.standard_normal((n_dim, n_samples)))
    u = haar_orthogonal(n_dim, rng)[:, :rank]
    v = haar_orthogonal(n_dim, rng)[:, :rank]
    w = (u * s) @ v.T
    noise = noise_std * rng.standard_normal((n_dim, n_samples))
    return LinearTeacherStudent(
        X=x, Y=w @ x + noise, W_teacher=w, noise=noise, U=u, V=v, singular_values=s
    )


def gaussian_regression(
    n: int,
    dim: int,
    rng: np.random.Generator,
    *,
    noise_std: float = 1.0,
    signal_std: float = 0.0,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Linear regression data: X (n x dim) ~ N(0, I), y = X w* + noise, returning (X, y, w*).

    w* ~ N(0, signal_std²/dim · I), noise ~ N(0, noise_std²). The defaults are Mori et al.
    (2022, Sec. 5.3): x and y independent N(0, 1), so w* = 0 and the minimum loss is > 0.
    Draw order: X, w*, noise (w* is drawn even when signal_std is 0, so the other settings
    do not shift the noise stream).
    """
    x = rng.standard_normal((n, dim))
    w_star = signal_std / np.sqrt(dim) * rng.standard_normal(dim)
    y = x @ w_star + noise_std * rng.standard_normal(n)
    return x, y, w_star
