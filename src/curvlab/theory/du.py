"""Invariants of gradient descent on homogeneous models (Du, Hu & Lee, NeurIPS 2018).

Notation: layers W_1 … W_L, G_h = ∂L/∂W_h, D_h = ‖W_{h+1}‖_F² − ‖W_h‖_F² for h = 1 … L−1.

* Gradient flow conserves D_h exactly (for ReLU, leaky ReLU or linear φ and any loss), and also
  every hidden unit's ‖W_h[k,:]‖² − ‖W_{h+1}[:,k]‖².
* One GD step W_h ← W_h − ηG_h changes D_h by exactly η²(‖G_{h+1}‖² − ‖G_h‖²): the first-order
  terms −2η⟨W_h, G_h⟩ are equal for all h by homogeneity and cancel.
* Matrix factorization f(U, V) = ½‖UVᵀ − M‖_F², R = UVᵀ − M: one GD step changes the balance
  matrix B = UᵀU − VᵀV by exactly η²(VᵀRᵀRV − UᵀRRᵀU).
"""

from __future__ import annotations

import numpy as np


def ratio_prediction(w_sq_h: np.ndarray, d_h0: float) -> np.ndarray:
    """‖W_{h+1}(t)‖²/‖W_h(t)‖² predicted by a conserved D_h: 1 + D_h(0)/‖W_h(t)‖²."""
    return 1.0 + d_h0 / np.asarray(w_sq_h)


def gd_step_drift(eta: float, grad_sq_next: np.ndarray, grad_sq: np.ndarray) -> np.ndarray:
    """Exact one-step change of D_h under GD: η²(‖G_{h+1}‖² − ‖G_h‖²)."""
    return eta**2 * (np.asarray(grad_sq_next) - np.asarray(grad_sq))


def mf_balance_step_drift(eta: float, u: np.ndarray, v: np.ndarray, r: np.ndarray) -> np.ndarray:
    """Exact one-step change of UᵀU − VᵀV under GD on ½‖UVᵀ − M‖²: η²(VᵀRᵀRV − UᵀRRᵀU)."""
    rv = r @ v
    rtu = r.T @ u
    return eta**2 * (rv.T @ rv - rtu.T @ rtu)


def rank1_linear_rate(eta: float, sigma: float) -> float:
    """Asymptotic per-step contraction of ‖UVᵀ − M‖ for rank-1 factorization with a constant step.

    Linearizing GD at a balanced optimum (‖u‖² = ‖v‖² = σ), directions that move u or v
    orthogonally contract by 1 − ησ and the joint scaling direction by 1 − 2ησ; the direction
    along the rescaling orbit (u, v) → (cu, v/c) is flat and does not change the error.
    """
    return max(abs(1.0 - eta * sigma), abs(1.0 - 2.0 * eta * sigma))


def balanced_factor_sq_norm(m: np.ndarray) -> float:
    """‖U‖_F² at a balanced optimum UVᵀ = M, UᵀU = VᵀV: the nuclear norm ‖M‖_*."""
    return float(np.linalg.svd(m, compute_uv=False).sum())
