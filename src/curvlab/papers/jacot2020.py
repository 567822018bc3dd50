"""Jacot, Gabriel & Hongler (ICLR 2020) plug-in: tables, result paths, job planning, registry.

Light on purpose (no torch): the command line and the workflow's parse step import it.
"""

from __future__ import annotations

from typing import Any

from curvlab.footprint import F64, dense_params
from curvlab.io import Column, TableSchema
from curvlab.plugin import RESULTS, Job, Task, num, seed_chunks
from curvlab.tables import RUN_STATUS, STEP, VALUE

TITLE = "Jacot, Gabriel & Hongler (ICLR 2020): the asymptotic spectrum of the Hessian"

NONLINEARITY = Column("nonlinearity", "string", "softplus or normalized_softplus")
WIDTH = Column("width", "int64", "hidden width n₁ = … = n_{L−1}")
SEED = Column("seed", "int64", "initialization seed (weights from (seed, 'jacot2020/init'))")
STDERR = Column("stderr", "float64", "standard error (0: exact; Hutchinson: over probes)")

JACOT2020_KERNELS = TableSchema(
    name="jacot2020.kernels",
    description=(
        "Limiting kernels on the N training inputs (outputs factored out: X̃ = X ⊗ I_{n_L}), one "
        "row per matrix entry. By 2-D Gauss–Hermite quadrature (docs/papers/jacot2020.md): theta "
        "(Θ^{(L)}), sigma (Σ^{(L)}, the covariance of Y(0)), phi (Φ, closed form for L = 2, 3), "
        "upsilon (Υ, corrected index), upsilon_ntk_convention (Σ̇, Σ̈ of Prop. 4 read as in "
        "the NTK recursion, under Σ^{(ℓ−1)}, Σ^{(0)} = XXᵀ/n₀) and upsilon_no_product (without "
        "the product of D factors); y_star (the targets, col = output). By Monte-Carlo at "
        "initialization: lambda (mean of Λ̂ = (∂G/∂θ)Jᵀ over initializations) and lambda_se."
    ),
    columns=(
        NONLINEARITY,
        Column("kernel", "string", "which matrix (see description)"),
        Column("row", "int32", "row i (sample)"),
        Column("col", "int32", "column j (sample, or output for y_star)"),
        VALUE,
    ),
)

JACOT2020_INIT = TableSchema(
    name="jacot2020.init",
    description=(
        "Initializations without training, per seed (docs/papers/jacot2020.md). Checks on small networks "
        "(first job of each nonlinearity): check_* (exact estimators vs explicit Hessians, "
        "relative errors) and zcheck_* (Hutchinson estimates vs the explicit Hessian at width 16, "
        "in standard errors). Scalars (row = col = 0): "
        "relf_theta, relf_sigma_rb, relf_phi_rb (‖K̂ − K‖_F/‖K‖_F against the quadrature kernel, "
        "Θ̂ = JJᵀ averaged over output blocks, Σ̂ and Φ̂ Rao-Blackwellized over the last layer), "
        "tr_theta (Tr Θ̂/N), tr_phi_rb (n_L Tr Φ̂/N), tr_sigma_rb, tr_s_exact (Tr S = ∇C·G), "
        "loss, tr_s_hutchinson (Tr S by plain Hutchinson), tr_s2, tr_s3, tr_s4 (Hutchinson). "
        "Matrices on the first `subset` inputs: subset_theta, subset_sigma_rb, subset_phi_rb, "
        "subset_upsilon (Υ̂_ij = tr(∇²f_i∇²f_j) by Hutchinson, mean over probes; stderr over probes)."
    ),
    columns=(
        NONLINEARITY,
        WIDTH,
        SEED,
        Column("quantity", "string", "what is measured (see description)"),
        Column("row", "int32", "row of a subset matrix (0 for scalars)"),
        Column("col", "int32", "column of a subset matrix (0 for scalars)"),
        VALUE,
        STDERR,
    ),
)

JACOT2020_TRIAL = TableSchema(
    name="jacot2020.trial",
    description=(
        "Full-batch gradient descent from one initialization (docs/papers/jacot2020.md), t = ηk. At "
        "the grid steps: moment (Tr H^k, k = 1..4), tr_i (Tr I^k = Tr(Θ̂/N)^k, exact), tr_s (k = 1 "
        "exact ∇C·G; k = 2, 3, 4 Hutchinson), tr_s_hutchinson (k = 1, plain Hutchinson), the exact "
        "cross terms tr_i1s1 … tr_i1s3 (Tr(I^aS^b), tr_isis = Tr(ISIS)), loss, grad_output_norm "
        "(‖∇C‖ in output space); the initialization's own Corollary-1 predictions pred_tr_s (k = 1, "
        "corrected with E_k = (Id − ηΘ̂₀/N)^k; k = 2, Tr S² by Hutchinson at θ₀), pred_tr_s_flow "
        "(e^{−tΘ̂₀/N}), pred_tr_s_printed ((Id + E_k) and +G(0) term, as printed), y_err, "
        "y_err_flow, y_err_unnormalized (‖Ŷ(t) − Y(t)‖/‖Y(t)‖ with E_k, the flow and the printed "
        "e^{−tΘ̂₀}). At step 0 also tr_phi_rb and tr_sigma_rb. Between grid steps: loss."
    ),
    columns=(
        NONLINEARITY,
        WIDTH,
        Column("eta", "float64", "GD step size η"),
        SEED,
        STEP,
        Column("t", "float64", "gradient-flow time t = ηk"),
        Column("quantity", "string", "what is measured (see description)"),
        Column("k", "int32", "power k (0 for scalars)"),
        VALUE,
        STDERR,
        RUN_STATUS,
    ),
)

JACOT2020_RAYLEIGH = TableSchema(
    name="jacot2020.rayleigh",
    description=(
        "Figure 2: for the top eigenvectors v of I (basis I) and of S (basis S) at initialization, "
        "the Rayleigh quotients rq_i = vᵀIv and rq_s = vᵀSv; eigenvalue (of I or S) and, for S, "
        "the Lanczos residual ‖Sv − λv‖."
    ),
    columns=(
        NONLINEARITY,
        WIDTH,
        SEED,
        Column("basis", "string", "I or S: whose eigenvectors"),
        Column("index", "int32", "eigenvector index, 1 = largest"),
        Column("quantity", "string", "rq_i, rq_s, eigenvalue or residual"),
        VALUE,
    ),
)

JACOT2020_SURFACE = TableSchema(
    name="jacot2020.surface",
    description=(
        "Figure 3: L = 4 network on data uniform on the unit disk. loss: C(θ* + a v_p + b v_q) on a "
        "grid (v_p, v_q unit eigenvectors of I, by default p = 4 and q = 1); eig_i: top "
        "eigenvalues of I at θ* (index 1 = largest); init_loss: at initialization; "
        "lambda_max_init: λ_max(Θ̂₀/N) at initialization; eta: the GD step η = "
        "eta_scale/λ_max (index 0) and after each halving (index = step); eta_halvings: their "
        "number; gd_loss: loss along the GD phase (index = steps, log-spaced); polish_loss and "
        "polish_damping: loss and μ after each Levenberg–Marquardt step; final_loss: at θ*."
    ),
    columns=(
        NONLINEARITY,
        WIDTH,
        SEED,
        Column("quantity", "string", "loss, eig_i, init_loss, gd_loss or polish_loss"),
        Column("index", "int32", "eigenvalue index or step (0 for grid points)"),
        Column("a", "float64", "coordinate along the first direction (x axis)"),
        Column("b", "float64", "coordinate along the second direction (y axis)"),
        VALUE,
    ),
)

NONLINEARITIES = ("softplus", "normalized_softplus")
KERNELS_RUN = RESULTS + "/jacot2020/kernels/{nonlinearity}/N~{n}.parquet"
LAMBDA_RUN = RESULTS + "/jacot2020/lambda/{nonlinearity}/N~{n}/width~{width}/seeds~{seeds}.parquet"
INIT_RUN = RESULTS + "/jacot2020/init/{nonlinearity}/N~{n}/width~{width}/seeds~{seeds}.parquet"
TRIAL_RUN = (
    RESULTS + "/jacot2020/trial/{nonlinearity}/N~{n}/width~{width}/eta~{eta}/seeds~{seeds}.parquet"
)
RAYLEIGH_RUN = (
    RESULTS + "/jacot2020/rayleigh/{nonlinearity}/N~{n}/width~{width}/seed~{seed}.parquet"
)
SURFACE_RUN = RESULTS + "/jacot2020/surface/{nonlinearity}/width~{width}/seed~{seed}.parquet"
FIGURES = ("moments", "rayleigh", "surface", "width", "corrections")


def seed_range(seeds: list[int]) -> str:
    """``first-last`` for a run of consecutive seeds (how jobs batch them)."""
    return f"{seeds[0]}-{seeds[-1]}"


def _seeds(first: int, count: int) -> list[int]:
    return list(range(first, first + count))


def _data(config: dict[str, Any]) -> dict[str, Any]:
    d = config["jacot2020"]["data"]
    return {
        "n_samples": d["n_samples"],
        "image_size": d["image_size"],
        "labels": d["labels"],
        "input_norm": d["input_norm"],
        "data_root": config["data"]["root"],
    }


def _model(config: dict[str, Any]) -> dict[str, Any]:
    m = config["jacot2020"]["model"]
    return {"depth": m["depth"], "beta": float(m["beta"])}


def _compute(config: dict[str, Any]) -> dict[str, Any]:
    c = config["jacot2020"]["compute"]
    return {"chunk": c["chunk"], "jacobian_bytes": int(c["jacobian_mib"]) * (1 << 20)}


def kernels_path(config: dict[str, Any], nonlinearity: str) -> str:
    return KERNELS_RUN.format(nonlinearity=nonlinearity, n=config["jacot2020"]["data"]["n_samples"])


def kernel_jobs(config: dict[str, Any]) -> list[Job]:
    jc = config["jacot2020"]
    jobs = []
    for nl in jc["model"]["nonlinearities"]:
        spec = {
            "nonlinearity": nl,
            **_data(config),
            **_model(config),
            "nodes": jc["theory"]["quadrature_nodes"],
        }
        jobs.append(Job("jacot2020-kernels", kernels_path(config, nl), spec))
    return jobs


def lambda_jobs(config: dict[str, Any]) -> list[Job]:
    th = config["jacot2020"]["theory"]
    seeds = _seeds(th["lambda_first_seed"], th["lambda_inits"])
    jobs = []
    for nl in config["jacot2020"]["model"]["nonlinearities"]:
        spec = {
            "nonlinearity": nl,
            **_data(config),
            **_model(config),
            "width": th["lambda_width"],
            "seeds": seeds,
            **_compute(config),
        }
        path = LAMBDA_RUN.format(
            nonlinearity=nl,
            n=spec["n_samples"],
            width=th["lambda_width"],
            seeds=seed_range(seeds),
        )
        jobs.append(Job("jacot2020-lambda", path, spec))
    return jobs


def init_jobs(config: dict[str, Any]) -> list[Job]:
    section = config["jacot2020"]["init"]
    if not section.get("enabled", True):
        return []
    seeds = _seeds(section["first_seed"], section["inits"])
    jobs = []
    for nl in config["jacot2020"]["model"]["nonlinearities"]:
        for w_index, width in enumerate(section["widths"]):
            for c_index, chunk in enumerate(seed_chunks(seeds, section["seeds_per_job"])):
                spec = {
                    "nonlinearity": nl,
                    **_data(config),
                    **_model(config),
                    "width": width,
                    "seeds": chunk,
                    "probes": section["probes"],
                    "subset": section["subset"],
                    "upsilon_probes": section["upsilon_probes"]
                    if width <= section["upsilon_max_width"]
                    else 0,
                    "kernels_path": kernels_path(config, nl),
                    # The tiny-network identity checks run once per nonlinearity.
                    "checks": w_index == 0 and c_index == 0,
                    **_compute(config),
                }
                path = INIT_RUN.format(
                    nonlinearity=nl, n=spec["n_samples"], width=width, seeds=seed_range(chunk)
                )
                jobs.append(Job("jacot2020-init", path, spec))
    return jobs


def trial_jobs(config: dict[str, Any]) -> list[Job]:
    section = config["jacot2020"]["trials"]
    jobs = []
    for nl in config["jacot2020"]["model"]["nonlinearities"]:
        for width in section["widths"]:
            seeds = _seeds(section["first_seed"], section["trials"])
            for chunk in seed_chunks(seeds, section["seeds_per_job"]):
                spec = {
                    "nonlinearity": nl,
                    **_data(config),
                    **_model(config),
                    "width": width,
                    "seeds": chunk,
                    "eta": float(section["eta"]),
                    "grid": sorted({0, *section["grid"]}),
                    "probes": section["probes"],
                    "loss_points": section["loss_points"],
                    "predictions": section["predictions"],
                    **_compute(config),
                }
                path = TRIAL_RUN.format(
                    nonlinearity=nl,
                    n=spec["n_samples"],
                    width=width,
                    eta=num(section["eta"]),
                    seeds=seed_range(chunk),
                )
                jobs.append(Job("jacot2020-trial", path, spec))
    return jobs


def rayleigh_jobs(config: dict[str, Any]) -> list[Job]:
    section = config["jacot2020"]["rayleigh"]
    if not section.get("enabled", True):
        return []
    jobs = []
    for nl in section["nonlinearities"]:
        spec = {
            "nonlinearity": nl,
            **_data(config),
            **_model(config),
            "width": section["width"],
            "seed": section["seed"],
            "top": section["top"],
            "lanczos_steps": section["lanczos_steps"],
            "s_order": section["s_order"],
            "jacobian_bytes": _compute(config)["jacobian_bytes"],
        }
        path = RAYLEIGH_RUN.format(
            nonlinearity=nl, n=spec["n_samples"], width=section["width"], seed=section["seed"]
        )
        jobs.append(Job("jacot2020-rayleigh", path, spec))
    return jobs


def surface_jobs(config: dict[str, Any]) -> list[Job]:
    section = config["jacot2020"]["surface"]
    if not section.get("enabled", True):
        return []
    jobs = []
    for nl in config["jacot2020"]["model"]["nonlinearities"]:
        spec = {
            "nonlinearity": nl,
            "depth": section["depth"],
            "beta": float(config["jacot2020"]["model"]["beta"]),
            "width": section["width"],
            "seed": section["seed"],
            "n_samples": section["n_samples"],
            "target": section["target"],
            "eta_scale": float(section["eta_scale"]),
            "train_steps": section["train_steps"],
            "polish_steps": section["polish_steps"],
            "polish_tol": float(section["polish_tol"]),
            "grid_points": section["grid_points"],
            "radius": float(section["radius"]),
            "directions": list(section["directions"]),
        }
        path = SURFACE_RUN.format(nonlinearity=nl, width=section["width"], seed=section["seed"])
        jobs.append(Job("jacot2020-surface", path, spec))
    return jobs


def jobs(config: dict[str, Any]) -> list[Job]:
    return (
        kernel_jobs(config)
        + lambda_jobs(config)
        + init_jobs(config)
        + trial_jobs(config)
        + rayleigh_jobs(config)
        + surface_jobs(config)
    )


def figures(config: dict[str, Any]) -> list[str]:
    """Figure ids the jacot2020 plot job writes."""
    jc = config["jacot2020"]
    out = ["moments"]
    if jc["rayleigh"].get("enabled", True):
        out.append("rayleigh")
    if jc["surface"].get("enabled", True):
        out.append("surface")
    out += ["width", "corrections"]
    return out


def kernels_memory(spec: dict[str, Any]) -> float:
    """N × N kernel matrices (Σ, Θ, Φ, Υ per layer) and the quadrature grid per pair chunk."""
    n = spec["n_samples"]
    return F64 * (8 * spec["depth"] * n * n + n * spec["nodes"] ** 2)


def network_memory(spec: dict[str, Any]) -> float:
    """An NTK MLP of P weights (input d = side², width n, one output): the Jacobian N × P, kept
    whole only while it fits ``jacobian_bytes`` (otherwise a chunk of it), ≈ 20 copies of the
    weights (probes, Krylov vectors, gradients) and N × N Gram matrices. The loss-surface job
    trains on one-dimensional inputs."""
    n = spec["n_samples"]
    d = 1 if "image_size" not in spec else (spec["image_size"] or 28) ** 2
    params = dense_params([d, *[spec["width"]] * (spec["depth"] - 1), 1], bias=False)
    budget = spec.get("jacobian_bytes", F64 * n * params)
    jacobian = min(F64 * n * params, budget)
    return jacobian + F64 * (20 * params + 6 * n * n)


def _task(name: str, spec: str, run: str, table: TableSchema, uses_torch: bool = True) -> Task:
    module = "curvlab.experiments.jacot2020"
    return Task(
        spec=f"{module}:{spec}",
        run=f"{module}:{run}",
        table=table,
        uses_torch=uses_torch,
        memory=kernels_memory if name == "kernels" else network_memory,
    )


TABLES = (
    JACOT2020_KERNELS,
    JACOT2020_INIT,
    JACOT2020_TRIAL,
    JACOT2020_RAYLEIGH,
    JACOT2020_SURFACE,
)
TASKS = {
    "jacot2020-kernels": _task(
        "kernels", "KernelsSpec", "run_kernels", JACOT2020_KERNELS, uses_torch=False
    ),
    "jacot2020-lambda": _task("lambda", "LambdaSpec", "run_lambda", JACOT2020_KERNELS),
    "jacot2020-init": _task("init", "InitSpec", "run_init", JACOT2020_INIT),
    "jacot2020-trial": _task("trial", "TrialSpec", "run_trial", JACOT2020_TRIAL),
    "jacot2020-rayleigh": _task("rayleigh", "RayleighSpec", "run_rayleigh", JACOT2020_RAYLEIGH),
    "jacot2020-surface": _task("surface", "SurfaceSpec", "run_surface", JACOT2020_SURFACE),
}
