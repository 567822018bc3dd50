"""``curvlab slq | moments | topk``: the curvature tools on a user's own model.

``--model MODULE:FUNCTION`` names a zero-argument function (the current directory is on the
import path) returning ``(model, loss_fn, batches)``: ``loss_fn(outputs, targets)`` is the mean
loss over a batch and ``batches`` a list of ``(inputs, targets)``. The matrix is that of the
loss averaged over all samples. Outputs are Parquet tables (:mod:`curvlab.tables`) with the
provenance of the run in their metadata.

The arguments are declared in :mod:`curvlab.cli`, which builds every subcommand's parser without
importing this package (it loads torch). Counts are positive integers, checked when the command
line is parsed. ``--k`` must not exceed the number of parameters P, since the table has one row
per eigenpair; Lanczos steps beyond P are clamped to P, where the Krylov space is the whole
space and the run is exact. A mistake in the model, the data or these sizes ends in one line
naming it (``curvlab --debug`` shows the traceback).
"""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import sys
import time
from collections.abc import Callable
from typing import Any

import pandas as pd
import torch
from torch import nn

from curvlab.curvature.eigen import Eigenpairs, topk
from curvlab.curvature.errors import CurvatureInputError
from curvlab.curvature.hutchinson import hutchinson_moments
from curvlab.curvature.operators import (
    EmpiricalFisherOperator,
    EmpiricalRiskOperator,
    GGNOperator,
    HessianOperator,
    NoiseCovarianceOperator,
)
from curvlab.curvature.slq import slq
from curvlab.io import provenance, write_table
from curvlab.runtime import resolve_device, set_threads, torch_dtype
from curvlab.tables import CURVATURE_MOMENTS, CURVATURE_SLQ, CURVATURE_TOPK

log = logging.getLogger(__name__)

DEBUG_HINT = "curvlab --debug shows the traceback"


def _describe(value: Any) -> str:
    """What a wrong return value is, in a few words: None, or its type (and length)."""
    if value is None:
        return "None"
    if isinstance(value, (tuple, list)):
        return f"a {type(value).__name__} of length {len(value)}"
    return f"a {type(value).__name__}"


def _find_function(target: str) -> Callable[[], Any]:
    """Import MODULE and get FUNCTION, telling a missing module from one that fails to import."""
    module_name, sep, function = target.partition(":")
    if not sep or not module_name or not function:
        raise CurvatureInputError(f"--model must look like MODULE:FUNCTION, got {target!r}")
    sys.path.insert(0, os.getcwd())
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as err:
        if err.name != module_name:
            raise CurvatureInputError(f"importing {module_name!r} failed: {err}") from err
        raise CurvatureInputError(
            f"no module named {module_name!r} (the current directory is on the import path)"
        ) from err
    except Exception as err:
        raise CurvatureInputError(
            f"importing {module_name!r} raised {type(err).__name__}: {err} ({DEBUG_HINT})"
        ) from err
    finally:
        sys.path.pop(0)
    if not callable(getattr(module, function, None)):
        raise CurvatureInputError(f"module {module_name!r} has no function {function!r}")
    return getattr(module, function)


def _check_problem(target: str, problem: Any) -> tuple[nn.Module, Callable, list]:
    """The shapes of ``(model, loss_fn, batches)``, so that a wrong return value is one sentence
    naming the culprit instead of an error from deep inside the operator."""
    expected = "(model, loss_fn, batches)"
    if not (isinstance(problem, (tuple, list)) and len(problem) == 3):
        raise CurvatureInputError(f"`{target}` must return {expected}; got {_describe(problem)}")
    model, loss_fn, batches = problem
    if not isinstance(model, nn.Module):
        raise CurvatureInputError(
            f"`{target}` must return a torch.nn.Module as model; got {_describe(model)}"
        )
    if not callable(loss_fn):
        raise CurvatureInputError(
            f"`{target}` must return a callable as loss_fn; got {_describe(loss_fn)}"
        )
    try:
        batches = list(batches)
    except TypeError:
        raise CurvatureInputError(
            f"`{target}` must return a list as batches; got {_describe(batches)}"
        ) from None
    for index, batch in enumerate(batches):
        if not (isinstance(batch, (tuple, list)) and len(batch) == 2):
            raise CurvatureInputError(
                f"`{target}`: batch {index} must be (inputs, targets); got {_describe(batch)}"
            )
    return model, loss_fn, batches


def load_problem(target: str) -> tuple[nn.Module, Callable, list]:
    """Call the user's ``MODULE:FUNCTION``; every way it can go wrong is one sentence."""
    function = _find_function(target)
    try:
        problem = function()
    except Exception as err:
        raise CurvatureInputError(
            f"`{target}` raised {type(err).__name__}: {err} ({DEBUG_HINT})"
        ) from err
    return _check_problem(target, problem)


def _check_batches(op: EmpiricalRiskOperator) -> None:
    """One forward pass per batch before any product: a non-scalar or non-finite loss names its
    batch here, instead of a NaN table or ``linalg.eigh failed to converge`` at the end.

    Evaluation mode and no gradient, so the check updates no BatchNorm statistics; about a
    third of one of the gradient passes the determinism check makes anyway.
    """
    was_training = op.model.training
    op.model.eval()
    try:
        with torch.no_grad():
            for index, (inputs, targets) in enumerate(op.batches):
                _check_loss(index, op.loss_fn, op.model, inputs, targets)
    finally:
        op.model.train(was_training)


def _check_loss(index: int, loss_fn: Callable, model: nn.Module, inputs: Any, targets: Any) -> None:
    """Batch ``index`` must give a finite scalar loss; a failure of the user's code names it."""
    try:
        loss = loss_fn(model(inputs), targets)
    except Exception as err:
        raise CurvatureInputError(
            f"batch {index}: the loss raised {type(err).__name__}: {err} ({DEBUG_HINT})"
        ) from err
    if not (isinstance(loss, torch.Tensor) and loss.ndim == 0):
        got = f"a tensor of shape {tuple(loss.shape)}" if torch.is_tensor(loss) else _describe(loss)
        raise CurvatureInputError(
            f"batch {index}: loss_fn returned {got}; it must return the mean loss over the batch"
            " (a scalar)"
        )
    if not torch.isfinite(loss):
        raise CurvatureInputError(
            f"batch {index}: the loss is {float(loss)}; check the data for NaN/inf"
        )


def _topk_frame(pairs: Eigenpairs, k: int) -> pd.DataFrame:
    """The topk table; when Lanczos found fewer distinct eigenvalues than k, say so."""
    found = len(pairs.eigenvalues)
    if found < k:
        log.warning(
            "Lanczos stopped early (an invariant Krylov space: the matrix has only %d distinct "
            "eigenvalues, some repeated); writing %d of the %d eigenpairs asked for",
            found,
            found,
            k,
        )
    return pd.DataFrame(
        {
            "index": range(found),
            "eigenvalue": pairs.eigenvalues.cpu().numpy(),
            "residual": pairs.residuals.cpu().numpy(),
        }
    )


def _operator(
    args: argparse.Namespace, model: nn.Module, loss_fn: Callable, batches: list
) -> EmpiricalRiskOperator:
    """The ``--matrix`` operator, after every batch's loss is checked and the determinism check."""
    options: dict[str, Any] = {"dtype": torch_dtype(args.dtype), "mode": args.mode}
    if args.matrix == "hessian":
        cls: type[EmpiricalRiskOperator] = HessianOperator
    elif args.matrix == "ggn":
        cls = GGNOperator
    elif args.matrix == "fisher":
        cls = EmpiricalFisherOperator
    else:
        cls, options["batch_size"] = NoiseCovarianceOperator, args.batch_size
    op = cls(model, loss_fn, batches, check_deterministic=False, **options)
    _check_batches(op)
    op.check_deterministic()
    return op


def run(args: argparse.Namespace) -> None:
    """Run ``curvlab slq``, ``moments`` or ``topk`` (``args`` as :mod:`curvlab.cli` parses them)."""
    if args.threads:
        set_threads(args.threads)
    device = resolve_device(args.device)
    model, loss_fn, batches = load_problem(args.model)
    model = model.to(device)
    start = time.perf_counter()
    op = _operator(args, model, loss_fn, batches)
    lanczos_options = {}
    if args.command in ("slq", "topk"):
        lanczos_options = {"reorth": args.reorth, "basis_dtype": torch_dtype(args.basis_dtype)}
    if args.command == "slq":
        quad = slq(op, steps=args.steps, draws=args.draws, seed=args.seed, **lanczos_options)
        frame, schema = quad.frame(), CURVATURE_SLQ
        settings = {
            "steps": args.steps,
            "draws": args.draws,
            "reorth": args.reorth,
            "basis_dtype": args.basis_dtype,
            # The ω-estimate of the largest |q_iᵀq_j| kept, and the reorthogonalization work.
            "orthogonality": quad.orthogonality,
            "projections": quad.projections,
        }
    elif args.command == "moments":
        estimates = hutchinson_moments(op, args.max_k, probes=args.probes, seed=args.seed)
        frame = pd.DataFrame(
            [{"k": e.k, "estimate": e.estimate, "stderr": e.stderr} for e in estimates]
        )
        schema, settings = CURVATURE_MOMENTS, {"max_k": args.max_k, "probes": args.probes}
    else:
        pairs = topk(op, args.k, steps=args.steps, seed=args.seed, **lanczos_options)
        frame = _topk_frame(pairs, args.k)
        schema = CURVATURE_TOPK
        settings = {
            "k": args.k,
            "steps": args.steps,
            "reorth": args.reorth,
            "basis_dtype": args.basis_dtype,
        }
    wall = time.perf_counter() - start
    record = provenance(
        {
            "command": args.command,
            "model": args.model,
            "matrix": args.matrix,
            **({"batch_size": args.batch_size} if args.matrix == "noise" else {}),
            "mode": args.mode,
            "parameters": op.dim,
            "samples": op.num_data,
            **settings,
        },
        seed=args.seed,
        dtype=args.dtype,
        device=str(device),
        wall_time_s=round(wall, 3),
        hvp_method=getattr(op, "method_used", None),
        torch_threads=torch.get_num_threads(),
    )
    write_table(frame, args.out, schema, record)
    log.info(
        "%s: %s of a %d-parameter model in %.1f s -> %s",
        args.command,
        args.matrix,
        op.dim,
        wall,
        args.out,
    )
