"""From the validated config to the workflow's jobs: one :class:`Job` per result file.

The sweep (paper × experiment × hyperparameters × seed) is expanded here, in plain Python, so
that the Snakemake rules stay thin and the planning is unit-tested. The hyperparameters that a
user sweeps (initialization, step size, number of steps, seed) are encoded in the result path,
edge-of-stability style; everything else a job depends on travels in its spec, which the rule
passes as a ``params`` entry, so Snakemake's params trigger reruns exactly the jobs whose spec
changed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

RESULTS = "results"


@dataclass(frozen=True)
class Job:
    task: str
    path: str
    spec: dict[str, Any]


def _num(value: float) -> str:
    """Canonical text of a hyperparameter in a path: repr of the float (0.2, 1e-05)."""
    return repr(float(value))


# --------------------------------------------------------------------------- du2018

DU2018_EXPERIMENTS = ("network", "large_eta", "drift")
DU2018_NETWORK_RUN = (
    RESULTS + "/du2018/{experiment}/init~{init}/eta~{eta}/steps~{steps}/seed~{seed}.parquet"
)
DU2018_FACTORIZATION_RUN = (
    RESULTS
    + "/du2018/factorization/{study}/init~{init}/eta0~{eta0}/steps~{steps}/seed~{seed}.parquet"
)
DU2018_STUDIES = ("decaying", "paper_schedule", "constant", "rank1")


def du2018_network_jobs(config: dict[str, Any]) -> list[Job]:
    """GD runs of the ReLU network: the main experiment, the large-η run and the drift sweep."""
    du = config["du2018"]
    jobs = []
    for experiment in DU2018_EXPERIMENTS:
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
                    path = DU2018_NETWORK_RUN.format(
                        experiment=experiment, init=init, eta=_num(eta), steps=steps, seed=seed
                    )
                    jobs.append(Job("du2018-network", path, spec))
    return jobs


def du2018_factorization_jobs(config: dict[str, Any]) -> list[Job]:
    mf = config["du2018"]["factorization"]
    jobs = []
    for study in DU2018_STUDIES:
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
                    path = DU2018_FACTORIZATION_RUN.format(
                        study=study, init=init, eta0=_num(eta0), steps=section["steps"], seed=seed
                    )
                    jobs.append(Job("du2018-factorization", path, spec))
    return jobs


def du2018_figures(config: dict[str, Any]) -> list[str]:
    """Figure ids the du2018 plot job will write (it skips those whose experiment is off)."""
    du = config["du2018"]
    figures = ["norms", "ratios", "conservation"]
    if du["drift"].get("enabled", True):
        figures.append("drift_scaling")
    figures.append("factorization")
    if du["factorization"]["studies"]["rank1"].get("enabled", True):
        figures.append("rank1_rate")
    return figures


def all_jobs(config: dict[str, Any]) -> dict[str, Job]:
    """Every experiment job of the run, keyed by result path (paths are unique by construction)."""
    jobs = du2018_network_jobs(config) + du2018_factorization_jobs(config)
    by_path = {job.path: job for job in jobs}
    if len(by_path) != len(jobs):
        raise ValueError("two jobs map to the same result path; check for duplicate list entries")
    return by_path
