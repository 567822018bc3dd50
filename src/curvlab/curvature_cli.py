"""``curvlab slq | moments | topk``: the curvature tools on a user's own model.

``--model MODULE:FUNCTION`` names a zero-argument function (the current directory is on the
import path) returning ``(model, loss_fn, batches)``: ``loss_fn(outputs, targets)`` is the mean
loss over a batch and ``batches`` a list of ``(inputs, targets)``. The matrix is that of the
loss averaged over all samples. Outputs are Parquet tables (:mod:`curvlab.tables`) with the
provenance of the run in their metadata.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import sys
import time
from typing import Any

log = logging.getLogger(__name__)


def load_problem(target: str) -> tuple[Any, Any, list]:
    module_name, sep, function = target.partition(":")
    if not sep or not module_name or not function:
        raise ValueError(f"--model must look like MODULE:FUNCTION, got {target!r}")
    sys.path.insert(0, os.getcwd())
    try:
        module = importlib.import_module(module_name)
    finally:
        sys.path.pop(0)
    problem = getattr(module, function)()
    if not (isinstance(problem, (tuple, list)) and len(problem) == 3):
        raise ValueError(f"{target}() must return (model, loss_fn, batches)")
    model, loss_fn, batches = problem
    return model, loss_fn, list(batches)


def add_arguments(parser: argparse.ArgumentParser, command: str) -> None:
    parser.add_argument(
        "--model", required=True, help="MODULE:FUNCTION returning (model, loss_fn, batches)"
    )
    parser.add_argument("--matrix", choices=["hessian", "ggn"], default="hessian")
    parser.add_argument(
        "--dtype",
        choices=["float32", "float64"],
        default="float64",
        help="dtype of the products (accumulation is always float64)",
    )
    parser.add_argument(
        "--mode",
        choices=["eval", "train"],
        default="eval",
        help="BatchNorm/dropout mode of the network whose curvature is measured",
    )
    parser.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", required=True)
    if command == "slq":
        parser.add_argument("--steps", type=int, default=80, help="Lanczos steps per draw")
        parser.add_argument("--draws", type=int, default=10, help="start vectors, run in lock-step")
    elif command == "moments":
        parser.add_argument("--max-k", type=int, default=4)
        parser.add_argument("--probes", type=int, default=100)
    else:
        parser.add_argument("--k", type=int, required=True, help="number of eigenpairs")
        parser.add_argument(
            "--steps", type=int, default=None, help="Lanczos steps (default max(3k, k+40))"
        )


def run(args: argparse.Namespace) -> None:
    import pandas as pd
    import torch

    from curvlab.curvature import GGNOperator, HessianOperator, hutchinson_moments, slq, topk
    from curvlab.io import provenance, write_table
    from curvlab.runtime import resolve_device, set_threads, torch_dtype
    from curvlab.tables import CURVATURE_MOMENTS, CURVATURE_SLQ, CURVATURE_TOPK

    if args.threads:
        set_threads(args.threads)
    device = resolve_device(args.device)
    model, loss_fn, batches = load_problem(args.model)
    model = model.to(device)
    cls = HessianOperator if args.matrix == "hessian" else GGNOperator
    start = time.perf_counter()
    op = cls(model, loss_fn, batches, dtype=torch_dtype(args.dtype), mode=args.mode)
    if args.command == "slq":
        quad = slq(op, steps=args.steps, draws=args.draws, seed=args.seed)
        frame, schema = quad.frame(), CURVATURE_SLQ
        settings = {"steps": args.steps, "draws": args.draws}
    elif args.command == "moments":
        estimates = hutchinson_moments(op, args.max_k, probes=args.probes, seed=args.seed)
        frame = pd.DataFrame(
            [{"k": e.k, "estimate": e.estimate, "stderr": e.stderr} for e in estimates]
        )
        schema, settings = CURVATURE_MOMENTS, {"max_k": args.max_k, "probes": args.probes}
    else:
        pairs = topk(op, args.k, steps=args.steps, seed=args.seed)
        frame = pd.DataFrame(
            {
                "index": range(args.k),
                "eigenvalue": pairs.eigenvalues.cpu().numpy(),
                "residual": pairs.residuals.cpu().numpy(),
            }
        )
        schema, settings = CURVATURE_TOPK, {"k": args.k, "steps": args.steps}
    wall = time.perf_counter() - start
    record = provenance(
        {
            "command": args.command,
            "model": args.model,
            "matrix": args.matrix,
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
