"""Curvature of neural-network losses: operators, Lanczos, SLQ densities, trace estimators.

Five lines to the spectral density of your own model::

    from curvlab.curvature import HessianOperator, slq
    H = HessianOperator(model, loss_fn, batches, dtype=torch.float64)   # batches: [(x, y), ...]
    q = slq(H, steps=80, draws=10, seed=0)        # raw Gauss-quadrature nodes and weights
    q.frame()                                     # tidy DataFrame: draw, node, weight
    q.moment(2)                                   # Estimate of Tr(H²) with its standard error

See :mod:`curvlab.curvature.operators` for the matrices and conventions.
"""

from curvlab.curvature.eigen import Eigenpairs, gradient_overlap, topk
from curvlab.curvature.errors import CurvatureInputError
from curvlab.curvature.estimate import Estimate
from curvlab.curvature.hutchinson import hutchinson_moments, hutchinson_trace, hutchpp_trace
from curvlab.curvature.lanczos import LanczosResult, lanczos, rademacher
from curvlab.curvature.ntk import ntk_gram
from curvlab.curvature.operators import (
    CurvatureOperator,
    DenseOperator,
    EmpiricalFisherOperator,
    GGNOperator,
    HessianOperator,
    NoiseCovarianceOperator,
    NonDeterministicError,
)
from curvlab.curvature.params import ParameterSpace
from curvlab.curvature.per_sample import per_sample_grad_sq_norms
from curvlab.curvature.slq import (
    Quadrature,
    density_grid,
    exact_smoothed_density,
    kernel_variance,
    slq,
    smoothed_density,
)

__all__ = [
    "CurvatureInputError",
    "CurvatureOperator",
    "DenseOperator",
    "EmpiricalFisherOperator",
    "Eigenpairs",
    "Estimate",
    "GGNOperator",
    "HessianOperator",
    "LanczosResult",
    "NoiseCovarianceOperator",
    "NonDeterministicError",
    "ParameterSpace",
    "Quadrature",
    "density_grid",
    "exact_smoothed_density",
    "gradient_overlap",
    "hutchinson_moments",
    "hutchinson_trace",
    "hutchpp_trace",
    "kernel_variance",
    "lanczos",
    "ntk_gram",
    "per_sample_grad_sq_norms",
    "rademacher",
    "slq",
    "smoothed_density",
    "topk",
]
