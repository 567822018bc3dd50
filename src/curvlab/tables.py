"""Table schemas: the core ones here, each paper's in its plug-in (:mod:`curvlab.papers`).

Tables are tidy: one row per (run, step, quantity). Run keys (the hyperparameters that also
appear in the result path) are columns, so per-run files concatenate without bookkeeping.
"""

from __future__ import annotations

from curvlab.io import Column, TableSchema

RUN_STATUS = Column("diverged", "bool", "True if the run stopped on a non-finite loss")
STEP = Column("step", "int64", "GD iteration (0 = initialization)")
VALUE = Column("value", "float64", "value of the quantity (NaN or inf after divergence)")

CLAIMS = TableSchema(
    name="claims",
    description=(
        "One row per declared claim of a paper, at every scale: the measured value beside the "
        "expected one, what the expectation rests on, and one derived verdict (REPRODUCED, "
        "CONTRADICTION CONFIRMED, DISCREPANCY, OUT OF CALIBRATION, INCONCLUSIVE, REPORTED, "
        "NOT RUN; see curvlab.claims). `source` is the claim's entry in docs/papers/."
    ),
    columns=(
        Column("paper", "string", "the paper's key, the name of its plug-in (e.g. du2018)"),
        Column("claim_id", "string", "stable identifier, the same at every scale"),
        Column("description", "string", "the claim, then what this run measured, in words"),
        Column("measured", "float64", "measured value (NaN if not run)"),
        Column("measured_se", "float64", "its standard error, NaN where there is none"),
        Column("expected", "string", "the expectation, written by the bound that checks it"),
        Column("tolerance", "string", "where the tolerance was calibrated"),
        Column("outcome", "string", "pass, fail, inconclusive, reported or not_run"),
        Column("passed", "bool", "outcome == pass"),
        Column(
            "target",
            "string",
            "paper, paper_notation_fixed, paper_contradicted or reconstruction",
        ),
        Column("agrees_with_paper", "bool", "target != paper_contradicted"),
        Column("calibration", "string", "this_scale, other_scale or a_priori"),
        Column("preconditions", "string", "what must hold for the number to mean anything"),
        Column("preconditions_met", "bool", "all preconditions hold (else: inconclusive)"),
        Column("verdict", "string", "the one word a reader sees, derived from the above"),
        Column("scale", "string", "preset name: ci, default, offline, paper or custom"),
        Column("source", "string", "docs/papers/<paper>.md#<claim_id>"),
    ),
)

CURVATURE_SLQ = TableSchema(
    name="curvature.slq",
    description=(
        "Stochastic Lanczos quadrature of a curvature matrix: Gauss-quadrature nodes (Ritz "
        "values) and weights of each draw; the weights of a draw sum to 1. Raw, never smoothed."
    ),
    columns=(
        Column("draw", "int64", "index of the Rademacher start vector"),
        Column("node", "float64", "quadrature node θ_j (an eigenvalue estimate)"),
        Column("weight", "float64", "quadrature weight w_j"),
    ),
)

CURVATURE_MOMENTS = TableSchema(
    name="curvature.moments",
    description="Hutchinson estimates of Tr(A^k) (not normalized by the dimension).",
    columns=(
        Column("k", "int64", "power k"),
        Column("estimate", "float64", "estimate of Tr(A^k)"),
        Column("stderr", "float64", "standard error over probes"),
    ),
)

CURVATURE_TOPK = TableSchema(
    name="curvature.topk",
    description="Top eigenvalues by Lanczos with full reorthogonalization, largest first.",
    columns=(
        Column("index", "int64", "0 = largest"),
        Column("eigenvalue", "float64", "Ritz value"),
        Column("residual", "float64", "‖A y − θ y‖ of the unit Ritz vector y"),
    ),
)

RUNTIME = TableSchema(
    name="runtime",
    description=(
        "Cost of every workflow job benchmarked in this working directory (the latest run of "
        "each job), from Snakemake's benchmark files: plan cluster runs from it."
    ),
    columns=(
        Column("rule", "string", "Snakemake rule"),
        Column("job", "string", "benchmark file of the job, relative to results/benchmarks"),
        Column("wall_s", "float64", "wall-clock time, seconds"),
        Column("cpu_s", "float64", "CPU time, seconds"),
        Column("max_rss_mb", "float64", "peak resident memory, MB"),
        Column("finished_utc", "string", "when the benchmark file was written (UTC)"),
    ),
)

CORE = {s.name: s for s in (CLAIMS, CURVATURE_SLQ, CURVATURE_MOMENTS, CURVATURE_TOPK, RUNTIME)}


def get(name: str) -> TableSchema:
    """The schema called ``name``: a core table or one declared by a paper plug-in."""
    if name in CORE:
        return CORE[name]
    from curvlab.registry import table

    try:
        return table(name)
    except KeyError:
        raise KeyError(f"no table schema named {name!r}") from None
