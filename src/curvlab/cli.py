"""``curvlab`` command line: what the workflow rules call, and tools for users.

Workflow commands (each writes its outputs atomically):

* ``curvlab job TASK --spec JSON --out FILE`` — run one experiment job (see :mod:`curvlab.jobs`).
* ``curvlab concat --schema NAME --out FILE INPUT...`` — concatenate per-run tables of one schema.
* ``curvlab aggregate --outdir DIR PAPER INPUT...`` — a paper's per-run tables, one table per
  schema (a study switched off in the config gets its empty table).
* ``curvlab plot PAPER --outdir DIR --scale NAME TABLE...`` — a paper's figures + captions.
* ``curvlab claims PAPER --scale NAME --out FILE TABLE...`` — a paper's claims table.
* ``curvlab claims-merge --parquet FILE --markdown FILE INPUT...`` — all papers' claims.
* ``curvlab report --claims FILE --out FILE --config-file JSON MANIFEST...`` — index.html.
* ``curvlab manifest --out FILE INPUT...`` — reports/all, the list of every deliverable.
* ``curvlab data prepare NAME`` — fetch, verify and cache a dataset.

Curvature tools for any model (see :mod:`curvlab.curvature.cli`), which need only
``pip install curvlab`` (the workflow commands above need ``pip install 'curvlab[workflow]'``):

* ``curvlab slq --model MODULE:FUNCTION --steps M --draws K --seed S --out FILE.parquet``
  (every command: ``--matrix hessian|ggn|fisher|noise``; slq and topk: ``--reorth`` and
  ``--basis-dtype``)
* ``curvlab moments --model MODULE:FUNCTION --max-k 4 --probes P --seed S --out FILE.parquet``
* ``curvlab topk --model MODULE:FUNCTION --k K --out FILE.parquet``

Heavy imports happen inside each command, so ``curvlab --help`` is instant. A mistake of the
user's (a bad argument, spec, config, model or path) ends in one line, ``curvlab COMMAND: error:
MESSAGE``, exit status 1 (2 for argparse's own checks); ``curvlab --debug`` shows its traceback.
A workflow command run without the ``workflow`` extra ends the same way, naming the install.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    from curvlab.io import TableSchema

#: Top-level modules of the packages in the ``workflow`` extra (pyproject.toml); the curvature
#: tools import none of them.
WORKFLOW_MODULES = frozenset(
    {"jsonschema", "markdown", "matplotlib", "seaborn", "snakemake", "tqdm", "yaml"}
)
WORKFLOW_INSTALL = "pip install 'curvlab[workflow]'"

CurvatureCommand = Literal["slq", "moments", "topk"]


class UsageError(ValueError):
    """A request on the command line that cannot be carried out as given: the user's to fix."""


def positive_int(text: str) -> int:
    """argparse type of every count: zero or a negative number is a typo, never a request,
    and would otherwise surface as an empty tensor deep inside Lanczos (or a table of NaN)."""
    try:
        value = int(text)
    except ValueError:
        value = 0  # not a number: the same message
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return value


def _schema(name: str) -> TableSchema:
    """The table schema called ``name``, or a UsageError listing the names that exist (a typo
    in ``--schema`` or in a table's metadata would otherwise be a KeyError traceback)."""
    from curvlab.registry import PAPERS
    from curvlab.tables import CORE, get

    try:
        return get(name)
    except KeyError:
        known = [*CORE, *(s.name for paper in PAPERS.values() for s in paper.tables)]
        raise UsageError(
            f"unknown table schema {name!r}; known: {', '.join(sorted(known))}"
        ) from None


def _check_out(path: Path) -> None:
    """Refuse an unusable ``--out`` before any work, naming it as the user wrote it: the
    atomic writer would fail only at the end, naming its hidden ``.partial`` sibling."""
    if path.is_dir():
        raise UsageError(f"--out {path}: is a directory; give a file path")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise UsageError(
            f"--out {path}: cannot create its directory {err.filename} ({err.strerror})"
        ) from err
    if not os.access(path.parent, os.W_OK | os.X_OK):
        raise UsageError(f"--out {path}: its directory {path.parent} is not writable")


def _cmd_job(args: argparse.Namespace) -> None:
    from curvlab.jobs import configure_logging, run_job

    configure_logging()
    run_job(args.task, json.loads(args.spec), args.out, threads=args.threads, device=args.device)


def _cmd_concat(args: argparse.Namespace) -> None:
    from curvlab.io import concat_tables

    concat_tables(args.inputs, _schema(args.schema), args.out)


def _cmd_aggregate(args: argparse.Namespace) -> None:
    """One ``<outdir>/<table>.parquet`` per table the paper declares, each the concatenation,
    in the order given, of the inputs that hold that table (read from their metadata)."""
    from curvlab.io import concat_tables, stored_schema_name
    from curvlab.registry import PAPERS

    paper = PAPERS[args.paper]
    groups: dict[str, list[Path]] = {t.name: [] for t in paper.tables}
    for path in args.inputs:
        name = stored_schema_name(path)
        if name not in groups:
            raise UsageError(
                f"{path}: holds table {name or 'of no schema'!r}, not one of {args.paper}'s "
                f"({', '.join(groups)})"
            )
        groups[name].append(path)
    outputs = paper.aggregated(args.outdir)
    for table in paper.tables:
        concat_tables(groups[table.name], table, outputs[table.short_name])


def _paper_tables(paper: str, tables: Sequence[str]) -> dict:
    """Read a paper's aggregated tables, keyed by their schema names."""
    from curvlab.io import read_table, stored_schema_name

    frames = {}
    for path in tables:
        name = stored_schema_name(path)
        if not name.startswith(paper + "."):
            raise UsageError(f"{path}: table {name!r} does not belong to paper {paper!r}")
        frames[name] = read_table(path, _schema(name))
    return frames


def _cmd_plot(args: argparse.Namespace) -> None:
    from curvlab.registry import PAPERS

    PAPERS[args.paper].make_figures(_paper_tables(args.paper, args.tables), args.outdir, args.scale)


def _cmd_claims(args: argparse.Namespace) -> None:
    from curvlab.claims import evaluate
    from curvlab.io import provenance, write_table
    from curvlab.tables import CLAIMS

    write_table(
        evaluate(args.paper, _paper_tables(args.paper, args.tables), args.scale),
        args.out,
        CLAIMS,
        provenance({"paper": args.paper, "tables": list(args.tables)}),
    )


def _cmd_claims_merge(args: argparse.Namespace) -> None:
    import pandas as pd

    from curvlab.claims.render import to_markdown
    from curvlab.io import provenance, read_table, write_table, write_text_atomic
    from curvlab.registry import TITLES
    from curvlab.tables import CLAIMS

    frame = pd.concat([read_table(p, CLAIMS) for p in args.inputs], ignore_index=True)
    write_table(frame, args.parquet, CLAIMS, provenance({"inputs": list(args.inputs)}))
    write_text_atomic(args.markdown, to_markdown(frame, TITLES))


def _cmd_report(args: argparse.Namespace) -> None:
    from curvlab.report import build_report, read_config

    config = read_config(args.config_file) if args.config_file else None
    build_report(
        args.claims,
        args.manifests,
        args.out,
        config=config,
        tables=args.tables,
        benchmarks=args.benchmarks,
        runtime_out=args.runtime_out,
        docs=args.docs,
    )


def _cmd_manifest(args: argparse.Namespace) -> None:
    from curvlab.report import write_deliverables_manifest

    write_deliverables_manifest(args.inputs, args.out)


def _cmd_check_config(args: argparse.Namespace) -> None:
    import psutil

    from curvlab.config import load_config
    from curvlab.footprint import oversized
    from curvlab.registry import TASKS, all_jobs

    config = load_config(args.files, args.schema)
    jobs = all_jobs(config)  # the plug-ins' planning checks (e.g. image sizes)
    estimators = {name: t.memory for name, t in TASKS.items() if t.memory is not None}
    for warning in oversized(jobs, estimators, {}, psutil.virtual_memory().total / 2**20):
        print(f"warning: {warning}", file=sys.stderr)
    print(
        f"{' + '.join(map(str, args.files))}: valid; preset {config['preset']}, "
        f"{len(jobs)} experiment jobs"
    )


def _cmd_data(args: argparse.Namespace) -> None:
    from curvlab.data import load_dataset

    arrays = load_dataset(
        args.name, root=args.root, mirror=args.mirror, download=not args.no_download
    )
    shapes = ", ".join(f"{k} {tuple(v.shape)}" for k, v in arrays.items())
    print(f"{args.name}: {shapes}")


def _cmd_curvature(args: argparse.Namespace) -> None:
    from curvlab.curvature.cli import run
    from curvlab.jobs import configure_logging

    configure_logging()
    run(args)


def _add_curvature_arguments(parser: argparse.ArgumentParser, command: CurvatureCommand) -> None:
    """The options of ``curvlab slq | moments | topk`` (:mod:`curvlab.curvature.cli` runs them)."""
    parser.add_argument(
        "--model", required=True, help="MODULE:FUNCTION returning (model, loss_fn, batches)"
    )
    parser.add_argument(
        "--matrix",
        choices=["hessian", "ggn", "fisher", "noise"],
        default="hessian",
        help="hessian: ∇²L; ggn: generalized Gauss-Newton; fisher: empirical Fisher (1/N)Σ g gᵀ; "
        "noise: covariance of a size-B SGD gradient, (1/B)[fisher − ∇L∇Lᵀ]",
    )
    parser.add_argument(
        "--batch-size",
        type=positive_int,
        default=1,
        help="B of --matrix noise (sampling with replacement); ignored otherwise",
    )
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
    parser.add_argument("--threads", type=positive_int, default=None, help="torch CPU threads")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", required=True, type=Path)
    if command in ("slq", "topk"):
        parser.add_argument(
            "--reorth",
            choices=["partial", "full", "none"],
            default="partial",
            help="Lanczos reorthogonalization: partial (when Simon's estimate of lost "
            "orthogonality passes √ε; same Ritz values as full, a fraction of the cost), full "
            "(every step) or none (plain recurrence)",
        )
        parser.add_argument(
            "--basis-dtype",
            choices=["float32", "float64"],
            default="float64",
            help="dtype of the stored Lanczos vectors (float32: half the memory, Ritz values "
            "to ~1e-7 relative instead of ~1e-8)",
        )
    if command == "slq":
        parser.add_argument(
            "--steps",
            type=positive_int,
            default=80,
            help="Lanczos steps per draw (more than the P parameters are clamped to P)",
        )
        parser.add_argument(
            "--draws", type=positive_int, default=10, help="start vectors, run in lock-step"
        )
    elif command == "moments":
        parser.add_argument("--max-k", type=positive_int, default=4)
        parser.add_argument("--probes", type=positive_int, default=100)
    else:
        parser.add_argument(
            "--k", type=positive_int, required=True, help="number of eigenpairs (at most P)"
        )
        parser.add_argument(
            "--steps",
            type=positive_int,
            default=None,
            help="Lanczos steps, at least k (default max(3k, k+40); more than P are clamped)",
        )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="curvlab", description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--debug",
        action="store_true",
        help="show the full traceback of an error instead of its one-line message",
    )
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("job", help="run one experiment job and write its Parquet table")
    from curvlab.registry import PAPERS, TASKS

    p.add_argument("task", choices=sorted(TASKS))
    p.add_argument("--spec", required=True, help="the job's parameters as a JSON object")
    p.add_argument("--out", required=True, type=Path)
    p.add_argument("--threads", type=positive_int, default=1)
    p.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N")
    p.set_defaults(func=_cmd_job)

    p = sub.add_parser("concat", help="concatenate per-run tables of one schema")
    p.add_argument("--schema", required=True)
    p.add_argument("--out", required=True, type=Path)
    # At least one: an empty table is written only by `aggregate`, for a study switched off.
    p.add_argument("inputs", nargs="+", type=Path, help="per-run tables")
    p.set_defaults(func=_cmd_concat)

    p = sub.add_parser(
        "aggregate", help="concatenate a paper's per-run tables into one table per schema"
    )
    p.add_argument("paper", choices=sorted(PAPERS))
    p.add_argument("--outdir", required=True, type=Path, help="writes <outdir>/<table>.parquet")
    p.add_argument("inputs", nargs="*", type=Path, help="per-run tables, any of the paper's")
    p.set_defaults(func=_cmd_aggregate)

    for name, func, text in (
        ("plot", _cmd_plot, "draw a paper's figures from its tables"),
        ("claims", _cmd_claims, "evaluate a paper's claims from its tables"),
    ):
        p = sub.add_parser(name, help=text)
        p.add_argument("paper", choices=sorted(PAPERS))
        p.add_argument("--scale", required=True, help="preset name recorded with the results")
        if name == "plot":
            p.add_argument("--outdir", required=True, type=Path)
        else:
            p.add_argument("--out", required=True, type=Path)
        p.add_argument("tables", nargs="+")
        p.set_defaults(func=func)

    p = sub.add_parser("claims-merge", help="merge per-paper claims into reports/claims.*")
    p.add_argument("--parquet", required=True, type=Path)
    p.add_argument("--markdown", required=True, type=Path)
    p.add_argument("inputs", nargs="+", type=Path)
    p.set_defaults(func=_cmd_claims_merge)

    p = sub.add_parser("report", help="write the self-contained HTML report")
    p.add_argument("--claims", required=True, type=Path)
    p.add_argument("--out", required=True, type=Path)
    p.add_argument("--config-file", type=Path, help="JSON file of the resolved workflow config")
    p.add_argument(
        "--tables",
        nargs="*",
        default=[],
        type=Path,
        help="result tables whose provenance the report summarizes",
    )
    p.add_argument("--benchmarks", type=Path, help="directory of Snakemake benchmark files")
    p.add_argument("--runtime-out", type=Path, help="where to write the runtime table")
    p.add_argument(
        "--docs",
        nargs="*",
        default=[],
        type=Path,
        help="docs/papers/<paper>.md pages, rendered beside the report (claim links)",
    )
    p.add_argument("manifests", nargs="+", type=Path, help="figures.json of each paper")
    p.set_defaults(func=_cmd_report)

    p = sub.add_parser("manifest", help="write reports/all: every deliverable with its checksum")
    p.add_argument("--out", required=True, type=Path)
    p.add_argument("inputs", nargs="+", type=Path)
    p.set_defaults(func=_cmd_manifest)

    for name, text in (
        ("slq", "spectral density by stochastic Lanczos quadrature: columns draw, node, weight"),
        ("moments", "Hutchinson estimates of Tr(A^k): columns k, estimate, stderr"),
        ("topk", "top eigenvalues with Ritz residuals: columns index, eigenvalue, residual"),
    ):
        p = sub.add_parser(name, help=text, description=text)
        _add_curvature_arguments(p, name)
        p.set_defaults(func=_cmd_curvature)

    p = sub.add_parser(
        "check-config",
        help="validate config files as the workflow merges them, naming file and line of errors",
        description=(
            "Merge the files left to right (as snakemake does with config.yaml and "
            "--configfile) and validate the result. Unlike snakemake's own message, a YAML "
            "syntax error or an empty file is reported with its file and line."
        ),
    )
    p.add_argument("files", nargs="+", type=Path, help="e.g. config.yaml presets/ci.yaml")
    p.add_argument("--schema", type=Path, default=Path("workflow/schemas/config.schema.yaml"))
    p.set_defaults(func=_cmd_check_config)

    p = sub.add_parser("data", help="datasets")
    dsub = p.add_subparsers(dest="data_command", required=True)
    q = dsub.add_parser("prepare", help="fetch (mirror or download), verify MD5 and cache arrays")
    q.add_argument("name")
    q.add_argument("--root", default="data")
    q.add_argument("--mirror", default=None)
    q.add_argument("--no-download", action="store_true")
    q.set_defaults(func=_cmd_data)
    return parser


#: The user's errors, by the module that defines them (each one is in its package's namespace).
_USER_ERRORS = {
    "curvlab.config": ("ConfigError",),
    "curvlab.data": ("DataError", "UnknownDatasetError"),
    "curvlab.io": ("SchemaError",),
    "curvlab.jobs": ("SpecError",),
    "curvlab.curvature": ("CurvatureInputError", "NonDeterministicError"),
}


def _expected_errors() -> tuple[type[BaseException], ...]:
    """Failures that are the user's to fix: one clear line each, no traceback.

    An error counts only once its module is loaded (nothing else can raise it): importing them
    all here would load torch (seconds spent to print one line) and the config's yaml and
    jsonschema, which the curvature commands run without.
    """
    errors: list[type[BaseException]] = [UsageError, FileNotFoundError]
    for module_name, names in _USER_ERRORS.items():
        module = sys.modules.get(module_name)
        if module is not None:
            errors += [getattr(module, name) for name in names]
    return tuple(errors)


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        if getattr(args, "out", None) is not None:
            _check_out(args.out)
        args.func(args)
    except _expected_errors() as err:
        if args.debug:
            raise
        message = err.args[0] if isinstance(err, KeyError) and err.args else err
        print(f"curvlab {args.command}: error: {message}", file=sys.stderr)
        return 1
    except ModuleNotFoundError as err:
        if args.debug or (err.name or "").partition(".")[0] not in WORKFLOW_MODULES:
            raise
        print(
            f"curvlab {args.command}: error: this command needs the workflow extra "
            f"(no module named {err.name!r}); install it with {WORKFLOW_INSTALL}",
            file=sys.stderr,
        )
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
