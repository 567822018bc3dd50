"""Requests the curvature routines cannot meet raise CurvatureInputError (a ValueError) that says
what to change, instead of an IndexError or a negative dimension deep inside Lanczos."""

from __future__ import annotations

import re
from typing import get_args

import numpy as np
import pytest
import torch
from torch import nn

from curvlab.curvature import (
    CurvatureInputError,
    DenseOperator,
    EmpiricalFisherOperator,
    HessianOperator,
    NoiseCovarianceOperator,
    hutchinson_moments,
    kernel_variance,
    lanczos,
    ntk_gram,
    slq,
    topk,
)
from curvlab.curvature.eigen import Which
from curvlab.curvature.operators import HessianMethod, Mode
from curvlab.curvature.slq import Convention

# Five parameters, eigenvalues 1, 1, 2, 2, 3: three distinct ones.
OP = DenseOperator(torch.diag(torch.tensor([1.0, 1.0, 2.0, 2.0, 3.0], dtype=torch.float64)))


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda: slq(OP, steps=0), "steps must be a positive integer, got 0"),
        (lambda: slq(OP, draws=-1), "draws must be a positive integer, got -1"),
        (lambda: hutchinson_moments(OP, probes=0), "probes must be a positive integer, got 0"),
        (lambda: hutchinson_moments(OP, max_k=0), "max_k must be a positive integer, got 0"),
        (
            lambda: lanczos(OP.matmat, torch.ones(5, 0), 3),
            "start_vectors must be a positive integer, got 0",
        ),
        (lambda: topk(OP, 0), "k must be a positive integer, got 0"),
        (lambda: topk(OP, 2, steps=0), "steps must be a positive integer, got 0"),
        (lambda: topk(OP, 6), "k = 6 exceeds the number of parameters P = 5"),
        (lambda: topk(OP, 3, steps=2), "steps = 2 < k = 3"),
    ],
)
def test_impossible_requests_name_the_fix(call, message):
    with pytest.raises(CurvatureInputError, match=re.escape(message)):
        call()


def test_a_model_without_parameters_is_named():
    x = torch.randn(4, 3)
    with pytest.raises(CurvatureInputError, match="the model has no trainable parameters"):
        HessianOperator(nn.Identity(), lambda out, y: ((out - y) ** 2).mean(), [(x, x)])


def test_no_batches_is_an_input_error():
    with pytest.raises(CurvatureInputError, match="no batches"):
        HessianOperator(nn.Linear(3, 1), lambda out, y: ((out - y) ** 2).mean(), [])


def test_topk_returns_every_distinct_eigenvalue_when_lanczos_stops_early():
    """Steps beyond P are clamped to P; the Krylov space of any start vector is 3-dimensional
    here, so 3 pairs come back for k = 4, each exact."""
    pairs = topk(OP, 4, steps=50)
    torch.testing.assert_close(
        pairs.eigenvalues, torch.tensor([3.0, 2.0, 1.0], dtype=torch.float64)
    )
    assert (pairs.residuals < 1e-10).all()


def _problem() -> tuple[nn.Module, object, list]:
    x = torch.randn(6, 3, generator=torch.Generator().manual_seed(0))
    return nn.Linear(3, 2), lambda out, y: ((out - y) ** 2).mean(), [(x, x[:, :2])]


@pytest.mark.parametrize(
    "call, message",
    [
        (
            lambda: HessianOperator(*_problem(), mode="Train"),
            "mode must be one of 'eval', 'train'; got 'Train'",
        ),
        (
            lambda: HessianOperator(*_problem(), method="forward"),
            "method must be one of 'auto', 'jvp', 'double_backward'; got 'forward'",
        ),
        (
            lambda: HessianOperator(*_problem(), cache="yes"),
            "cache must be one of True, False, 'auto'; got 'yes'",
        ),
        (
            lambda: HessianOperator(*_problem(), vectorize="vmap"),
            "vectorize must be one of True, False, 'auto'; got 'vmap'",
        ),
        (
            lambda: HessianOperator(*_problem(), max_vectors=0),
            "max_vectors must be a positive integer, got 0",
        ),
        (
            lambda: EmpiricalFisherOperator(*_problem(), sample_chunk=0),
            "sample_chunk must be a positive integer, got 0",
        ),
        (
            lambda: NoiseCovarianceOperator(*_problem(), batch_size=0),
            "batch_size must be a positive integer, got 0",
        ),
        (lambda: topk(OP, 2, which="SA"), "which must be one of 'LA', 'LM'; got 'SA'"),
        (
            lambda: kernel_variance(np.array([0.0, 1.0]), "gauss"),
            "convention must be one of 'ghorbani', 'papyan', 'resolution'; got 'gauss'",
        ),
        (
            lambda: ntk_gram(nn.Linear(3, 2), torch.randn(4, 3), mode="test"),
            "mode must be one of 'eval', 'train'; got 'test'",
        ),
        (
            lambda: slq(OP, steps=3, basis_dtype=torch.int64),
            "basis_dtype must be one of torch.float32, torch.float64; got torch.int64",
        ),
    ],
)
def test_options_outside_their_set_name_the_allowed_values(call, message):
    with pytest.raises(CurvatureInputError, match=re.escape(message)):
        call()


def test_every_value_of_an_option_type_is_accepted():
    """The Literal types are the sets the runtime checks accept."""
    for method in get_args(HessianMethod):
        assert HessianOperator(*_problem(), method=method).method == method
    for mode in get_args(Mode):
        assert HessianOperator(*_problem(), mode=mode).mode == mode
        assert ntk_gram(nn.Linear(3, 2), torch.randn(4, 3), mode=mode).shape == (8, 8)
    for which in get_args(Which):
        assert len(topk(OP, 2, which=which).eigenvalues) == 2
    for convention in get_args(Convention):
        assert kernel_variance(np.array([0.0, 1.0]), convention, steps=10) > 0
