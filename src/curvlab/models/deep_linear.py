"""Deep linear networks W = W_d ⋯ W_1 and the exact Kronecker structure of their Gauss–Newton matrix.

Huh (ICML 2020); docs/papers/huh2020.md. Layers are ``ws[0] = W_1, …, ws[-1] = W_d`` with
W_i ∈ R^{n_i × n_{i−1}}; the map is W = W_d ⋯ W_1 ∈ R^{n_d × n_0}. With

* W_{<i} = W_{i−1} ⋯ W_1 (identity for i = 1) and W_{>i} = W_d ⋯ W_{i+1} (identity for i = d),
* column-major vec, so that vec(A X B) = (Bᵀ ⊗ A) vec(X),

a change dW_i of layer i changes the map by W_{>i} dW_i W_{<i}, so the Jacobian of vec(W) with
respect to vec(W_i) is

    J_i = W_{<i}ᵀ ⊗ W_{>i}        (n_d n_0 × n_i n_{i−1}),   J = [J_1 … J_d].

For the loss ½‖W − Σ̂‖_F² (whitened inputs) the Gauss–Newton matrix ("Hessian+")
is G = JᵀJ, with blocks

    G_ij = (W_{<i} W_{<j}ᵀ) ⊗ (W_{>i}ᵀ W_{>j}),

and the small "push-through" Gram matrix is

    J Jᵀ = Σ_i (W_{<i}ᵀ W_{<i}) ⊗ (W_{>i} W_{>i}ᵀ)      (n_d n_0 × n_d n_0; 256 × 256 at N = 16).

Everything here is NumPy float64 and works for rectangular layers. The explicit matrices
(:func:`jacobian`, :func:`gauss_newton`) are for tests and one-off checks; the optimizers in
:mod:`curvlab.optim` use only the factors.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

Layers = Sequence[np.ndarray]


def vec(m: np.ndarray) -> np.ndarray:
    """Column-major vectorization (stack the columns)."""
    return np.asarray(m).reshape(-1, order="F")


def unvec(v: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Inverse of :func:`vec`."""
    return np.asarray(v).reshape(shape, order="F")


def product(ws: Layers) -> np.ndarray:
    """The map W = W_d ⋯ W_1."""
    out = ws[0]
    for w in ws[1:]:
        out = w @ out
    return out


def prefixes(ws: Layers) -> list[np.ndarray]:
    """[W_{<1}, …, W_{<d}] with W_{<1} = I_{n_0} and W_{<i} = W_{i−1} ⋯ W_1."""
    out = [np.eye(ws[0].shape[1])]
    for w in ws[:-1]:
        out.append(w @ out[-1])
    return out


def suffixes(ws: Layers) -> list[np.ndarray]:
    """[W_{>1}, …, W_{>d}] with W_{>d} = I_{n_d} and W_{>i} = W_d ⋯ W_{i+1}."""
    out = [np.eye(ws[-1].shape[0])]
    for w in reversed(ws[1:]):
        out.append(out[-1] @ w)
    return out[::-1]


def layer_gradients(ws: Layers, e: np.ndarray) -> list[np.ndarray]:
    """∂L/∂W_i = W_{>i}ᵀ E W_{<i}ᵀ for L with ∂L/∂W = E (Jᵀ vec(E), block by block)."""
    return [s.T @ e @ p.T for p, s in zip(prefixes(ws), suffixes(ws), strict=True)]


def apply_jacobian_t(ws: Layers, u: np.ndarray) -> list[np.ndarray]:
    """Jᵀ vec(U) as layer-shaped matrices (same as :func:`layer_gradients`)."""
    return layer_gradients(ws, u)


def jacobian_block(ws: Layers, i: int) -> np.ndarray:
    """J_i = W_{<i}ᵀ ⊗ W_{>i} for the 0-based layer index ``i``."""
    return np.kron(prefixes(ws)[i].T, suffixes(ws)[i])


def jacobian(ws: Layers) -> np.ndarray:
    """J = [J_1 … J_d] (explicit; n_d n_0 × Σ n_i n_{i−1})."""
    pre, suf = prefixes(ws), suffixes(ws)
    return np.hstack([np.kron(p.T, s) for p, s in zip(pre, suf, strict=True)])


def gauss_newton_block(ws: Layers, i: int, j: int) -> np.ndarray:
    """G_ij = (W_{<i} W_{<j}ᵀ) ⊗ (W_{>i}ᵀ W_{>j}) (0-based layer indices)."""
    pre, suf = prefixes(ws), suffixes(ws)
    return np.kron(pre[i] @ pre[j].T, suf[i].T @ suf[j])


def gauss_newton(ws: Layers) -> np.ndarray:
    """The full Gauss–Newton matrix G = JᵀJ assembled from its Kronecker blocks."""
    d = len(ws)
    return np.block([[gauss_newton_block(ws, i, j) for j in range(d)] for i in range(d)])


def jjt(ws: Layers) -> np.ndarray:
    """J Jᵀ = Σ_i (W_{<i}ᵀ W_{<i}) ⊗ (W_{>i} W_{>i}ᵀ)."""
    pre, suf = prefixes(ws), suffixes(ws)
    return sum(np.kron(p.T @ p, s @ s.T) for p, s in zip(pre, suf, strict=True))


def flatten(layers: Layers) -> np.ndarray:
    """θ = [vec W_1; …; vec W_d]."""
    return np.concatenate([vec(w) for w in layers])


def unflatten(theta: np.ndarray, shapes: Sequence[tuple[int, int]]) -> list[np.ndarray]:
    out, start = [], 0
    for shape in shapes:
        size = shape[0] * shape[1]
        out.append(unvec(theta[start : start + size], shape))
        start += size
    return out


def random_init(widths: Sequence[int], scale: float, rng: np.random.Generator) -> list[np.ndarray]:
    """W_i = scale · G_i / √n_{i−1} with G_i i.i.d. N(0, 1) (σ₀ = ``scale``).

    Draw order: W_1, …, W_d.
    """
    return [
        scale * rng.standard_normal((n_out, n_in)) / np.sqrt(n_in)
        for n_in, n_out in zip(widths[:-1], widths[1:], strict=True)
    ]


def balance_matrices(ws: Layers) -> list[np.ndarray]:
    """C_i = W_{i+1}ᵀ W_{i+1} − W_i W_iᵀ for i = 1 … d−1 (zero for a balanced network)."""
    return [b.T @ b - a @ a.T for a, b in zip(ws[:-1], ws[1:], strict=True)]
