"""Du, Hu & Lee (NeurIPS 2018) plug-in: tables, result paths, job planning, registry entry.

Light on purpose (no torch): the command line and the workflow's parse step import it.
"""

from __future__ import annotations

from typing import Any

from curvlab.footprint import F64, dense_params
from curvlab.io import Column, TableSchema
from curvlab.plugin import RESULTS, Job, Task, num
from curvlab.tables import RUN_STATUS, STEP, VALUE

TITLE = (
    "Du, Hu & Lee (NeurIPS 2018): algorithmic regularization — layers are automatically balanced"
)

DU2018_NETWORK = TableSchema(
    name="du2018.network",
    description=(
        "GD on a bias-free ReLU network (Du et al. 2018, Section 4). Quantities: loss (layer 0); "
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
        STEP,
        Column("quantity", "string", "name of the logged quantity (see description)"),
        Column("layer", "int8", "layer h, pair (h, h+1) or hidden layer h; 0 for the loss"),
        VALUE,
        RUN_STATUS,
    ),
)

DU2018_FACTORIZATION = TableSchema(
    name="du2018.factorization",
    description=(
        "GD on ½‖UVᵀ − M‖_F² (Du et al. 2018, Section 4). Quantities: loss, rel_err (‖UVᵀ − M‖_F/‖M‖_F), "
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
        STEP,
        Column("quantity", "string", "name of the logged quantity (see description)"),
        VALUE,
        RUN_STATUS,
    ),
)


EXPERIMENTS = ("network", "large_eta", "drift")
NETWORK_RUN = (
    RESULTS + "/du2018/{experiment}/init~{init}/eta~{eta}/steps~{steps}/seed~{seed}.parquet"
)
FACTORIZATION_RUN = (
    RESULTS
    + "/du2018/factorization/{study}/init~{init}/eta0~{eta0}/steps~{steps}/seed~{seed}.parquet"
)
STUDIES = ("decaying", "paper_schedule", "constant", "rank1")


def network_jobs(config: dict[str, Any]) -> list[Job]:
    """GD runs of the ReLU network: the main experiment, the large-η run and the drift sweep."""
    du = config["du2018"]
    jobs = []
    for experiment in EXPERIMENTS:
        section = du[experiment]
        if not section.get("enabled", True):
            continue
        model = {**du["model"], **section.get("model", {})}
        for init in section["inits"]:
            for eta in section["etas"]:
                steps = (
                    int(round(section["horizon"] / eta))
                    if experiment == "drift"
                    else section["steps"]
                )
                for seed in section["seeds"]:
                    spec = {
                        "experiment": experiment,
                        "init": init,
                        "init_sq_norms": list(model["init_sq_norms"][init]),
                        "input_dim": model["input_dim"],
                        "hidden_dims": list(model["hidden_dims"]),
                        "output_dim": model["output_dim"],
                        "n_samples": model["n_samples"],
                        "target": model["target"],
                        "eta": float(eta),
                        "steps": steps,
                        "seed": seed,
                        "log_every": section["log_every"],
                        "neuron_every": section["neuron_every"],
                    }
                    path = NETWORK_RUN.format(
                        experiment=experiment, init=init, eta=num(eta), steps=steps, seed=seed
                    )
                    jobs.append(Job("du2018-network", path, spec))
    return jobs


def factorization_jobs(config: dict[str, Any]) -> list[Job]:
    mf = config["du2018"]["factorization"]
    jobs = []
    for study in STUDIES:
        section = mf["studies"][study]
        if not section.get("enabled", True):
            continue
        for init in section["inits"]:
            for eta0 in section["eta0s"]:
                for seed in mf["seeds"]:
                    spec = {
                        "study": study,
                        "shape": list(mf["shape"]),
                        "rank": section["rank"],
                        "init": init,
                        "init_scale": mf["init_scale"],
                        "unbalanced_scale": mf["unbalanced_scale"],
                        "unbalanced_skew": mf["unbalanced_skew"],
                        "eta0": float(eta0),
                        "exponent": float(section["exponent"]),
                        "normalizer": section["normalizer"],
                        "steps": section["steps"],
                        "seed": seed,
                        "log_every": section["log_every"],
                    }
                    path = FACTORIZATION_RUN.format(
                        study=study, init=init, eta0=num(eta0), steps=section["steps"], seed=seed
                    )
                    jobs.append(Job("du2018-factorization", path, spec))
    return jobs


def network_memory(spec: dict[str, Any]) -> float:
    """Weights, gradients and per-step copies (≈ 6 P) and the activations of all N samples."""
    sizes = [spec["input_dim"], *spec["hidden_dims"], spec["output_dim"]]
    return F64 * (6 * dense_params(sizes, bias=False) + 4 * spec["n_samples"] * sum(sizes))


def factorization_memory(spec: dict[str, Any]) -> float:
    """M, U Vᵀ, the factors, their gradients and the balance matrices: ≈ 10 m n."""
    rows, cols = spec["shape"]
    return F64 * 10 * rows * cols


def figures(config: dict[str, Any]) -> list[str]:
    """Figure ids the du2018 plot job will write (it skips those whose experiment is off)."""
    du = config["du2018"]
    figures = ["norms", "ratios", "conservation"]
    if du["drift"].get("enabled", True):
        figures.append("drift_scaling")
    figures.append("factorization")
    if du["factorization"]["studies"]["rank1"].get("enabled", True):
        figures.append("rank1_rate")
    return figures


TABLES = (DU2018_NETWORK, DU2018_FACTORIZATION)
TASKS = {
    "du2018-network": Task(
        spec="curvlab.experiments.du2018:NetworkSpec",
        run="curvlab.experiments.du2018:run_network",
        table=DU2018_NETWORK,
        uses_torch=True,
        memory=network_memory,
    ),
    "du2018-factorization": Task(
        spec="curvlab.experiments.du2018:FactorizationSpec",
        run="curvlab.experiments.du2018:run_factorization",
        table=DU2018_FACTORIZATION,
        uses_torch=False,
        memory=factorization_memory,
    ),
}


def jobs(config: dict[str, Any]) -> list[Job]:
    """Every du2018 job of ``config``."""
    return network_jobs(config) + factorization_jobs(config)
