"""Jacot, Gabriel & Hongler (ICLR 2020): limiting kernels and the corrected Corollary 1.

Setting (docs/papers/jacot2020.md): a fully connected network in NTK parametrization,
z_{ℓ+1} = W_ℓ a_ℓ/√n_ℓ + β b_ℓ, a_ℓ = σ(z_ℓ), f = z_L, every parameter N(0, 1), MSE
C = (1/2N)‖Y − Y*‖². Layers are counted as in the paper: L = 3 is two hidden layers.

Nonlinearities (:class:`Nonlinearity`): the smooth ReLU, read as softplus σ(x) = ln(1 + eˣ)
[R], and the normalized smooth ReLU σ̂ = (σ − μ)/s with μ = E σ(Z) and
s² = Var σ(Z), Z ~ N(0, 1) [R] (centred and standardized, so that it "lies in the Chaos").

Kernels, for inputs X (N × n₀), by 2-D Gauss–Hermite quadrature (:func:`gauss_expectations`):

* Σ^{(1)} = XXᵀ/n₀ + β², Σ^{(ℓ+1)} = E[σ(a)σ(b)] + β², (a, b) ~ N(0, Σ^{(ℓ)});
* D^{(ℓ)} = E[σ'(a)σ'(b)] and DD^{(ℓ)} = E[σ''(a)σ''(b)] under Σ^{(ℓ)} (layer ℓ's own
  covariance); the NTK's Σ̇^{(ℓ+1)} is D^{(ℓ)};
* Θ^{(1)} = Σ^{(1)}, Θ^{(ℓ+1)} = Θ^{(ℓ)} D^{(ℓ)} + Σ^{(ℓ+1)};
* Υ^{(L)} = Σ_{ℓ=1}^{L−1} (Θ^{(ℓ)2} DD^{(ℓ)} + 2Θ^{(ℓ)} D^{(ℓ)}) Π_{ℓ'=ℓ+1}^{L−1} D^{(ℓ')}, the
  index convention corrected (Prop. 4 as printed shifts it by one; docs Correction 6);
* Φ(x, x') = lim E[g(x) f(x')] with g = Σ_p ∂²f/∂θ_p²: closed forms for L = 2 and L = 3
  with Lσ̈σ_ℓ(x, x') = E[σ''(a)σ(b)] under Σ^{(ℓ)};
* Λ(x, x') = lim ∇g(x)·∇f(x') has no closed form here: it is estimated by Monte-Carlo on wide
  networks (:mod:`curvlab.experiments.jacot2020`).

Corollary 1, corrected (docs/papers/jacot2020.md, Corrections 1–4): with Δ = Y* − Y(0) and, for
gradient descent with step η after k steps, E_k = (Id − ηΘ̃/N)^k (the flow form e^{−tΘ̃/N},
t = ηk, is the η → 0 limit),

* E Tr H¹ = Tr Θ̃/N + Tr(E_k Φ̃ᵀ)/N − Tr((Id − E_k)Θ̃⁻¹Λ̃ᵀE_k(Σ̃ + Y*Y*ᵀ))/N,
* E Tr H² = Tr Θ̃²/N² + Tr(E_k Υ̃ E_k (Σ̃ + Y*Y*ᵀ))/N²,
* E Tr H^k = Tr Θ̃^k/N^k for k = 3, 4,

where X̃ = X ⊗ I_{n_L} for every kernel X (outputs are independent in the limit). The paper
prints (Id + E) where (Id − E) belongs, a + sign on the G(0) term of the per-realization
formula, and e^{−tΘ̃} without the 1/N of the MSE; ``variant="printed"`` evaluates the bracket
as printed (with the other two corrections), for the claims that show it is contradicted.

Everything here is NumPy float64 (no torch), so figures and claims can evaluate it.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import cache

import numpy as np

NONLINEARITIES = ("softplus", "normalized_softplus")
DEFAULT_NODES = 64


# --------------------------------------------------------------------------- nonlinearities


def _softplus_derivatives(x: np.ndarray, orders: Iterable[int]) -> dict[int, np.ndarray]:
    """softplus and its derivatives 1..3 at ``x``, computed stably from one exponential."""
    orders = set(orders)
    t = np.exp(-np.abs(x))
    out: dict[int, np.ndarray] = {}
    if 0 in orders:
        out[0] = np.maximum(x, 0.0) + np.log1p(t)
    if orders & {1, 2, 3}:
        s = np.where(x >= 0, 1.0 / (1.0 + t), t / (1.0 + t))  # sigmoid
        if 1 in orders:
            out[1] = s
        if orders & {2, 3}:
            d2 = s * (1.0 - s)
            if 2 in orders:
                out[2] = d2
            if 3 in orders:
                out[3] = d2 * (1.0 - 2.0 * s)
    return out


@cache
def _softplus_moments(nodes: int = 200) -> tuple[float, float]:
    """(E softplus(Z), sd softplus(Z)), Z ~ N(0, 1), by 1-D Gauss–Hermite (converged)."""
    z, w = np.polynomial.hermite_e.hermegauss(nodes)
    w = w / math.sqrt(2.0 * math.pi)
    v = _softplus_derivatives(z, [0])[0]
    mean = float(w @ v)
    return mean, float(math.sqrt(w @ (v - mean) ** 2))


@dataclass(frozen=True)
class Nonlinearity:
    """σ(x) = (softplus(x) − shift)/scale and its derivatives up to order 3.

    ``softplus``: shift 0, scale 1. ``normalized_softplus``: shift μ = E softplus(Z) ≈ 0.8063,
    scale s = sd softplus(Z) ≈ 0.5211, Z ~ N(0, 1), so that E σ(Z) = 0 and E σ(Z)² = 1.
    """

    name: str
    shift: float
    scale: float

    def __call__(self, x: np.ndarray, order: int = 0) -> np.ndarray:
        return self.derivatives(x, [order])[order]

    def derivatives(self, x: np.ndarray, orders: Iterable[int]) -> dict[int, np.ndarray]:
        raw = _softplus_derivatives(np.asarray(x, dtype=np.float64), orders)
        out = {}
        for order, value in raw.items():
            if order == 0:
                value = value - self.shift
            out[order] = value / self.scale
        return out

    @property
    def definition(self) -> str:
        if self.name == "softplus":
            return "smooth ReLU σ(x) = ln(1 + eˣ) (softplus) [R]"
        return (
            f"normalized smooth ReLU σ(x) = (ln(1 + eˣ) − μ)/s, μ = E softplus(Z) = "
            f"{self.shift:.6f}, s = sd softplus(Z) = {self.scale:.6f}, Z ~ N(0, 1) [R]"
        )


def nonlinearity(name: str) -> Nonlinearity:
    if name == "softplus":
        return Nonlinearity("softplus", 0.0, 1.0)
    if name == "normalized_softplus":
        mean, sd = _softplus_moments()
        return Nonlinearity("normalized_softplus", mean, sd)
    raise ValueError(f"nonlinearity must be one of {NONLINEARITIES}, got {name!r}")


# --------------------------------------------------------------------------- quadrature


@cache
def _nodes(n: int) -> tuple[np.ndarray, np.ndarray]:
    """Probabilists' Gauss–Hermite nodes and weights normalized to sum to 1 (N(0, 1))."""
    z, w = np.polynomial.hermite_e.hermegauss(n)
    return z, w / w.sum()


#: Expectations one call can return, as (order of σ at a, order of σ at b).
PAIRS = {"ss": (0, 0), "dd": (1, 1), "d2d2": (2, 2), "d2s": (2, 0), "sd2": (0, 2)}


def gauss_expectations(
    sigma: Nonlinearity,
    k_aa: np.ndarray,
    k_ab: np.ndarray,
    k_bb: np.ndarray,
    pairs: Sequence[str] = ("ss",),
    nodes: int = DEFAULT_NODES,
    chunk_points: int = 1 << 20,
) -> dict[str, np.ndarray]:
    """E[σ^{(p)}(a) σ^{(q)}(b)] for (a, b) ~ N(0, [[k_aa, k_ab], [k_ab, k_bb]]), elementwise.

    ``pairs`` names (p, q) by :data:`PAIRS`: ``ss`` = (0, 0), ``dd`` = (1, 1), ``d2d2`` = (2, 2),
    ``d2s`` = (2, 0), ``sd2`` = (0, 2). Tensor-product Gauss–Hermite with ``nodes``² points,
    a = √k_aa z₁, b = ρ√k_bb z₁ + √(1 − ρ²)√k_bb z₂ (exact for polynomials of degree
    < 2·nodes); every pair is integrated on the same points, σ evaluated once per order.
    """
    k_aa, k_ab, k_bb = np.broadcast_arrays(
        *(np.asarray(k, dtype=np.float64) for k in (k_aa, k_ab, k_bb))
    )
    shape = k_aa.shape
    k_aa, k_ab, k_bb = (k.reshape(-1) for k in (k_aa, k_ab, k_bb))
    z, w = _nodes(nodes)
    orders_a = {PAIRS[p][0] for p in pairs}
    orders_b = {PAIRS[p][1] for p in pairs}
    out = {p: np.empty(k_aa.size) for p in pairs}
    step = max(1, chunk_points // (nodes * nodes))
    for lo in range(0, k_aa.size, step):
        sl = slice(lo, lo + step)
        sa = np.sqrt(np.maximum(k_aa[sl], 0.0))
        sb = np.sqrt(np.maximum(k_bb[sl], 0.0))
        with np.errstate(divide="ignore", invalid="ignore"):
            rho = np.where(sa * sb > 0, k_ab[sl] / (sa * sb), 0.0)
        rho = np.clip(rho, -1.0, 1.0)
        a = sa[:, None] * z[None, :]  # (m, q)
        b = (rho * sb)[:, None, None] * z[None, :, None] + (np.sqrt(1.0 - rho**2) * sb)[
            :, None, None
        ] * z[None, None, :]  # (m, q, q): first index z₁, second z₂
        fa = sigma.derivatives(a, orders_a)
        inner = {o: v @ w for o, v in sigma.derivatives(b, orders_b).items()}  # ∫ dz₂
        for p in pairs:
            pa, pb = PAIRS[p]
            out[p][sl] = (fa[pa] * inner[pb]) @ w
    return {p: v.reshape(shape) for p, v in out.items()}


def gauss_diagonal(
    sigma: Nonlinearity, k: np.ndarray, orders: tuple[int, int], nodes: int = 200
) -> np.ndarray:
    """E[σ^{(p)}(a) σ^{(q)}(a)] for a ~ N(0, k), elementwise (1-D Gauss–Hermite)."""
    k = np.asarray(k, dtype=np.float64)
    z, w = _nodes(nodes)
    a = np.sqrt(np.maximum(k, 0.0))[..., None] * z
    d = sigma.derivatives(a, set(orders))
    return (d[orders[0]] * d[orders[1]]) @ w


def _symmetric(
    sigma: Nonlinearity, cov: np.ndarray, pairs: Sequence[str], nodes: int
) -> dict[str, np.ndarray]:
    """The expectations of ``pairs`` for every pair (i, j) of a covariance matrix ``cov``.

    Only i ≤ j is integrated; the non-symmetric ``d2s`` gets (j, i) from ``sd2`` at (i, j).
    """
    n = cov.shape[0]
    iu, ju = np.triu_indices(n)
    diag = np.diag(cov)
    wanted = list(pairs) + (["sd2"] if "d2s" in pairs else [])
    values = gauss_expectations(sigma, diag[iu], cov[iu, ju], diag[ju], wanted, nodes)
    out: dict[str, np.ndarray] = {}
    for p in pairs:
        m = np.empty((n, n))
        m[iu, ju] = values[p]
        m[ju, iu] = values["sd2"] if p == "d2s" else values[p]
        out[p] = m
    return out


# --------------------------------------------------------------------------- kernels


@dataclass
class Kernels:
    """Limiting kernels of an L-layer network on N inputs (N × N matrices, outputs factored out).

    Lists are indexed by layer ℓ = 1..L: ``sigma[ℓ-1]`` is Σ^{(ℓ)}, ``theta[ℓ-1]`` Θ^{(ℓ)};
    ``d[ℓ-1]``, ``dd[ℓ-1]``, ``d2s[ℓ-1]`` are D^{(ℓ)}, DD^{(ℓ)}, Lσ̈σ_ℓ for ℓ = 1..L−1.
    """

    nonlinearity: str
    depth: int
    beta: float
    sigma: list[np.ndarray]
    theta: list[np.ndarray]
    d: list[np.ndarray]
    dd: list[np.ndarray]
    d2s: list[np.ndarray]
    d2s_diag: list[np.ndarray]
    d0: np.ndarray | None = None  # L^{σ̇}, L^{σ̈} under Σ^{(0)} = XXᵀ/n₀ (a mis-reading of Υ only)
    dd0: np.ndarray | None = None

    @property
    def ntk(self) -> np.ndarray:
        """Θ^{(L)}."""
        return self.theta[-1]

    @property
    def output_cov(self) -> np.ndarray:
        """Σ^{(L)}: the covariance of f at initialization."""
        return self.sigma[-1]

    def upsilon(self, reading: str = "corrected") -> np.ndarray:
        """Υ^{(L)} under an index ``reading`` of Prop. 4 (docs/papers/jacot2020.md, Correction 6).

        ``corrected``: D^{(ℓ)}, DD^{(ℓ)} at layer ℓ's own covariance Σ^{(ℓ)} and the product over
        ℓ' = ℓ+1..L−1 of D^{(ℓ')} (derived for L = 2, validated by Monte-Carlo). Mis-readings,
        kept to show that Monte-Carlo is farther from them: ``ntk_convention`` reads Σ̇^{(ℓ)},
        Σ̈^{(ℓ)} as in the NTK recursion, L^{σ̇}, L^{σ̈} under Σ^{(ℓ−1)} (with Σ^{(0)} = XXᵀ/n₀
        [R]), in the bracket and in the product; ``no_product`` drops the product.
        """
        L = self.depth
        total = np.zeros_like(self.theta[0])
        for ell in range(1, L):
            th = self.theta[ell - 1]
            if reading == "ntk_convention":
                if self.d0 is None:
                    raise ValueError("the ntk_convention reading needs kernels(..., readings=True)")
                d_at = [self.d0, *self.d]  # d_at[ℓ] = L^{σ̇} under Σ^{(ℓ)}, ℓ = 0..L−1
                dd_at = [self.dd0, *self.dd]
                term = th**2 * dd_at[ell - 1] + 2.0 * th * d_at[ell - 1]
                for f in range(ell, L - 1):
                    term = term * d_at[f]
            elif reading in ("corrected", "no_product"):
                term = th**2 * self.dd[ell - 1] + 2.0 * th * self.d[ell - 1]
                if reading == "corrected":
                    for f in range(ell + 1, L):
                        term = term * self.d[f - 1]
            else:
                raise ValueError(f"unknown Υ reading {reading!r}")
            total += term
        return total

    def phi(self) -> np.ndarray:
        """Φ(x_i, x_j) = lim E[g(x_i) f(x_j)], closed forms for L = 2 and L = 3."""
        s1 = np.diag(self.sigma[0])[:, None]
        if self.depth == 2:
            return s1 * self.d2s[0]
        if self.depth == 3:
            s2 = np.diag(self.sigma[1])[:, None]
            d1_diag = np.diag(self.d[0])[:, None]
            d2s1_diag = self.d2s_diag[0][:, None]
            bracket = d1_diag * self.d2s[1] + self.d[1] * self.d2s[0] + self.d2s[1] * d2s1_diag
            return s1 * bracket + s2 * self.d2s[1]
        raise NotImplementedError(
            f"Φ has a closed form here for L = 2, 3 only, not L = {self.depth}"
        )


def kernels(
    x: np.ndarray,
    depth: int,
    nonlinearity_name: str,
    beta: float = 0.1,
    nodes: int = DEFAULT_NODES,
    second_order: bool = True,
    readings: bool = False,
) -> Kernels:
    """Σ, Θ, D, DD and Lσ̈σ for inputs ``x`` (N × n₀) of a ``depth``-layer network.

    ``second_order=False`` skips DD and Lσ̈σ (enough for Θ and Σ; about half the work).
    ``readings=True`` also integrates under Σ^{(0)} = XXᵀ/n₀ for Υ's ``ntk_convention`` reading.
    """
    if depth < 2:
        raise ValueError("depth L must be at least 2 (one hidden layer)")
    sigma_fn = nonlinearity(nonlinearity_name)
    x = np.asarray(x, dtype=np.float64)
    cov = x @ x.T / x.shape[1] + beta**2
    sigmas, thetas = [cov], [cov]
    d, dd, d2s, d2s_diag = [], [], [], []
    pairs = ["ss", "dd"] + (["d2d2", "d2s"] if second_order else [])
    for _ in range(1, depth):
        stats = _symmetric(sigma_fn, sigmas[-1], pairs, nodes)
        d.append(stats["dd"])
        if second_order:
            dd.append(stats["d2d2"])
            d2s.append(stats["d2s"])
            d2s_diag.append(gauss_diagonal(sigma_fn, np.diag(sigmas[-1]), (2, 0)))
        sigmas.append(stats["ss"] + beta**2)
        thetas.append(thetas[-1] * stats["dd"] + sigmas[-1])
    out = Kernels(nonlinearity_name, depth, beta, sigmas, thetas, d, dd, d2s, d2s_diag)
    if readings:
        stats = _symmetric(sigma_fn, x @ x.T / x.shape[1], ["dd", "d2d2"], nodes)
        out.d0, out.dd0 = stats["dd"], stats["d2d2"]
    return out


def rel_frobenius(estimate: np.ndarray, truth: np.ndarray) -> float:
    """‖estimate − truth‖_F / ‖truth‖_F."""
    return float(np.linalg.norm(estimate - truth) / np.linalg.norm(truth))


# --------------------------------------------------------------------------- Corollary 1


def _eig(theta: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    lam, q = np.linalg.eigh((theta + theta.T) / 2.0)
    return lam, q


def decay_factors(lam: np.ndarray, n: int, eta: float, steps: np.ndarray, form: str) -> np.ndarray:
    """Eigenvalues of E_k for Θ̃/N eigenvalues lam/N: (len(steps), len(lam)).

    ``form``: ``gd`` (1 − ηλ/N)^k, ``flow`` e^{−ηkλ/N}, ``unnormalized`` e^{−ηkλ} (the printed
    e^{−tΘ̃}, missing the MSE's 1/N).
    """
    k = np.asarray(steps, dtype=np.float64)[:, None]
    if form == "gd":
        return (1.0 - eta * lam[None, :] / n) ** k
    if form == "flow":
        return np.exp(-eta * k * lam[None, :] / n)
    if form == "unnormalized":
        return np.exp(-eta * k * lam[None, :])
    raise ValueError(f"form must be gd, flow or unnormalized, got {form!r}")


def _integrated(lam: np.ndarray, e: np.ndarray, n: int, eta: float, steps, form: str):
    """Eigenvalues of (Id − E_k)Θ̃⁻¹, finite as λ → 0 (limit ηk/N, or ηk for ``unnormalized``)."""
    k = np.asarray(steps, dtype=np.float64)[:, None]
    scale = 1.0 if form == "unnormalized" else 1.0 / n
    tiny = np.abs(lam) < 1e-300
    with np.errstate(divide="ignore", invalid="ignore"):
        out = np.where(tiny[None, :], eta * k * scale, (1.0 - e) / np.where(tiny, 1.0, lam))
    return out


@dataclass(frozen=True)
class Cor1Inputs:
    """The limiting kernels Cor. 1 needs on the training inputs (N × N, outputs factored out)."""

    theta: np.ndarray
    sigma: np.ndarray
    phi: np.ndarray
    lam: np.ndarray  # Λ: Monte-Carlo estimate
    upsilon: np.ndarray
    y_star: np.ndarray  # (N, n_L)


def corollary1(
    inputs: Cor1Inputs,
    eta: float,
    steps: Sequence[int],
    form: str = "gd",
    variant: str = "corrected",
) -> dict[str, np.ndarray]:
    """Expected moments along training: ``moment_1..4``, ``tr_s``, ``tr_s2``, ``tr_i_k``.

    Everything is per output summed over the n_L outputs (X̃ = X ⊗ I): with Y* of shape
    (N, n_L), Tr(A(Σ̃ + Y*Y*ᵀ)) = Tr(A(n_L Σ + Y*Y*ᵀ)). ``variant="printed"`` uses the paper's
    (Id + E_k) in the Λ term, with Θ̃⁻¹ as a pseudo-inverse (eigenvalues below 1e-12 λ_max
    dropped), instead of the corrected (Id − E_k).
    """
    y = np.asarray(inputs.y_star, dtype=np.float64)
    if y.ndim == 1:
        y = y[:, None]
    n, n_out = y.shape
    lam, q = _eig(inputs.theta)
    steps = np.asarray(steps)
    e = decay_factors(lam, n, eta, steps, form)  # (T, N)
    rot = lambda m: q.T @ m @ q  # noqa: E731  (kernel in Θ's eigenbasis)
    second = rot(n_out * inputs.sigma + y @ y.T)  # Σ̃ + Y*Y*ᵀ
    phi_t = rot(inputs.phi).T  # Φ̃ᵀ in the eigenbasis
    lam_t = rot(inputs.lam).T  # Λ̃ᵀ
    ups = rot(inputs.upsilon)
    if variant == "corrected":
        left = _integrated(lam, e, n, eta, steps, form)
    elif variant == "printed":
        keep = lam > 1e-12 * lam.max()
        inv = np.where(keep, 1.0 / np.where(keep, lam, 1.0), 0.0)
        left = (1.0 + e) * inv[None, :]
    else:
        raise ValueError(f"variant must be corrected or printed, got {variant!r}")
    out: dict[str, np.ndarray] = {}
    tr_s = np.empty(len(steps))
    tr_s2 = np.empty(len(steps))
    for t in range(len(steps)):
        et = e[t]
        tr_phi = n_out * float(np.sum(et * np.diag(phi_t)))
        # Tr(L Λᵀ E M) with L, E diagonal in the eigenbasis.
        tr_lambda = float(np.sum((left[t][:, None] * lam_t * et[None, :]) * second.T))
        tr_s[t] = (tr_phi - tr_lambda) / n
        tr_s2[t] = float(np.sum((et[:, None] * ups * et[None, :]) * second.T)) / n**2
    out["tr_s"] = tr_s
    out["tr_s2"] = tr_s2
    for k in range(1, 5):
        tr_i = n_out * float(np.sum((lam / n) ** k))
        out[f"tr_i_{k}"] = np.full(len(steps), tr_i)
    out["moment_1"] = out["tr_i_1"] + tr_s
    out["moment_2"] = out["tr_i_2"] + tr_s2
    out["moment_3"] = out["tr_i_3"].copy()
    out["moment_4"] = out["tr_i_4"].copy()
    return out


def init_prediction(
    theta0: np.ndarray,
    lambda0: np.ndarray,
    g0: np.ndarray,
    delta: np.ndarray,
    n_samples: int,
    eta: float,
    steps: Sequence[int],
    form: str = "gd",
    variant: str = "corrected",
) -> dict[str, np.ndarray]:
    """One initialization's Cor. 1 from its own kernels (docs/papers/jacot2020.md, claim cor1_per_init).

    ``theta0``, ``lambda0`` (M × M) and ``g0``, ``delta`` (M,) are flattened sample-major over
    M = N·n_L (row i·n_L + k: output k of sample i), Δ = Y* − Y(0), N = ``n_samples``. Returns
    ``residual`` (T, M) = E_kΔ, so Y(t) = Y* − E_kΔ, and ``tr_s`` (T,) =
    −(1/N)G(0)ᵀE_kΔ − (1/N)Δᵀ(Id − E_k)Θ̂₀⁻¹Λ̂₀ᵀE_kΔ. ``variant="printed"``: +(1/N)G(0)ᵀE_kΔ
    and (Id + E_k) (Θ̂₀⁻¹ as a pseudo-inverse), the per-realization formula as printed.
    """
    lam, q = _eig(theta0)
    steps = np.asarray(steps)
    e = decay_factors(lam, n_samples, eta, steps, form)  # (T, M)
    d_t = q.T @ delta
    g_t = q.T @ g0
    lam_t = q.T @ lambda0.T @ q  # Λ̂₀ᵀ in the eigenbasis
    if variant == "corrected":
        left = _integrated(lam, e, n_samples, eta, steps, form)
        sign = -1.0
    elif variant == "printed":
        keep = lam > 1e-12 * lam.max()
        inv = np.where(keep, 1.0 / np.where(keep, lam, 1.0), 0.0)
        left = (1.0 + e) * inv[None, :]
        sign = 1.0
    else:
        raise ValueError(f"variant must be corrected or printed, got {variant!r}")
    residual_t = e * d_t[None, :]  # E_kΔ in the eigenbasis, (T, M)
    tr_g = sign * (residual_t @ g_t) / n_samples
    tr_l = -np.einsum("ta,ab,tb->t", left * d_t[None, :], lam_t, residual_t) / n_samples
    return {"residual": residual_t @ q.T, "tr_s": tr_g + tr_l}
