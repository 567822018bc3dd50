"""Every table curvlab writes, with its columns and dtypes, declared in one place.

Tables are tidy: one row per (run, step, quantity). Run keys (the hyperparameters that also
appear in the result path) are columns, so per-run files concatenate without bookkeeping.
"""

from __future__ import annotations

from curvlab.io import Column, TableSchema

_RUN_STATUS = Column("diverged", "bool", "True if the run stopped on a non-finite loss")
_STEP = Column("step", "int64", "GD iteration (0 = initialization)")
_VALUE = Column("value", "float64", "value of the quantity (NaN or inf after divergence)")

DU2018_NETWORK = TableSchema(
    name="du2018.network",
    description=(
        "GD on a bias-free ReLU network (Du et al. 2018 §4). Quantities: loss (layer 0); "
        "w_sq_norm, w_grad_inner, grad_sq_norm per layer h = 1..L (‖W_h‖_F², ⟨W_h, G_h⟩, "
        "‖G_h‖_F²); drift_predicted_cum (Σ_s η²(‖G_{h+1}‖² − ‖G_h‖²) up to this step) and "
        "identity_residual_max (running max over steps of |ΔD_h − η²(‖G_{h+1}‖² − ‖G_h‖²)| in "
        "units of ε₆₄·max_h ‖W_h‖²) per pair h = 1..L−1; neuron_identity_residual_max (max over "
        "units k of hidden layer h of the cumulative neuron-wise identity residual divided by "
        "max(1, unit norm²))."
    ),
    columns=(
        Column("experiment", "string", "network (main), large_eta or drift"),
        Column("init", "string", "balanced or unbalanced"),
        Column("eta", "float64", "constant GD step size"),
        Column("steps", "int64", "number of GD steps of the run"),
        Column("seed", "int64", "run seed (data, teacher and init derive from it)"),
        _STEP,
        Column("quantity", "string", "name of the logged quantity (see description)"),
        Column("layer", "int8", "layer h, pair (h, h+1) or hidden layer h; 0 for the loss"),
        _VALUE,
        _RUN_STATUS,
    ),
)

DU2018_FACTORIZATION = TableSchema(
    name="du2018.factorization",
    description=(
        "GD on ½‖UVᵀ − M‖_F² (Du et al. 2018 §4). Quantities: loss, rel_err (‖UVᵀ − M‖_F/‖M‖_F), "
        "u_sq_norm, v_sq_norm, balance_fro (‖UᵀU − VᵀV‖_F), balance_change_fro "
        "(‖B(t) − B(0)‖_F), eta (η_t), identity_residual_max (running max of the one-step "
        "identity residual in units of ε₆₄·max(‖U‖², ‖V‖²)), identity_residual_cum "
        "(‖B(t) − B(0) − Σ predicted‖_F / max(1, ‖U‖², ‖V‖²)); at step 0 also m_sigma1, "
        "m_nuclear_norm, m_frobenius_norm of the target."
    ),
    columns=(
        Column("study", "string", "decaying, paper_schedule, constant or rank1"),
        Column("init", "string", "small or unbalanced"),
        Column("rank", "int64", "rank of M (and of the factors)"),
        Column("eta0", "float64", "step-size constant η₀ (in units of 1/s(M))"),
        Column("exponent", "float64", "decay exponent p of η_t ∝ (t+1)^(−p); 0 = constant"),
        Column("normalizer", "string", "s(M): sigma1 or frobenius_1.5"),
        Column("steps", "int64", "number of GD steps of the run"),
        Column("seed", "int64", "run seed"),
        _STEP,
        Column("quantity", "string", "name of the logged quantity (see description)"),
        _VALUE,
        _RUN_STATUS,
    ),
)

CLAIMS = TableSchema(
    name="claims",
    description=(
        "One row per checkable claim of a paper: the measured value beside the expected one. "
        "`passed` says whether the measurement meets the expectation; `agrees_with_paper` is "
        "False where the expectation is a measured correction that contradicts the paper's text "
        "(papers.md 'Verified by simulation')."
    ),
    columns=(
        Column("paper", "string", "du2018, huh2020, jacot2020, ghorbani2019 or mori2022"),
        Column("claim_id", "string", "short stable identifier"),
        Column("description", "string", "what is checked, in words"),
        Column("measured", "float64", "measured value (NaN if it could not be measured)"),
        Column("expected", "string", "expected value or range, in words and numbers"),
        Column("tolerance", "string", "the tolerance applied and its source"),
        Column("passed", "bool", "measurement meets the expectation"),
        Column("agrees_with_paper", "bool", "the expectation is the paper's own claim"),
        Column("scale", "string", "preset name: ci, default or paper"),
        Column("source", "string", "where the claim and tolerance come from"),
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

ALL = {
    s.name: s
    for s in (
        DU2018_NETWORK,
        DU2018_FACTORIZATION,
        CLAIMS,
        CURVATURE_SLQ,
        CURVATURE_MOMENTS,
        CURVATURE_TOPK,
    )
}
