"""Requests the curvature routines cannot meet raise CurvatureInputError (a ValueError) that says
what to change, instead of an IndexError or a negative dimension deep inside Lanczos."""

from __future__ import annotations

import re

import pytest
import torch
from torch import nn

from curvlab.curvature import (
    CurvatureInputError,
    DenseOperator,
    HessianOperator,
    hutchinson_moments,
    lanczos,
    slq,
    topk,
)

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
