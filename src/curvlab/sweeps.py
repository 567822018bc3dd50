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


# --------------------------------------------------------------------------- huh2020

HUH2020_METHODS = ("gd", "ngd", "ngd_d", "sqrt_ngd", "sqrt_ngd_d")
HUH2020_CONTROLS = ("ngd_unclipped", "ngd_d_unclipped", "ngd_d_undamped", "gd_eta_quarter")
HUH2020_RUN = RESULTS + "/huh2020/{run}/eta~{eta}/horizon~{horizon}/seeds~{seeds}.parquet"
HUH2020_MODES = RESULTS + "/huh2020/modes/eta~{eta}/seeds~{seeds}.parquet"
HUH2020_RUN_NAME = r"[a-z_]+|sweep_(full|block)_alpha[0-9.]+"


def _seed_chunks(seeds: list[int], size: int) -> list[list[int]]:
    """Seeds in config order, ``size`` per job (cheap runs are batched: one job, many seeds)."""
    return [list(seeds[i : i + size]) for i in range(0, len(seeds), size)]


def _seeds_text(seeds: list[int]) -> str:
    return "-".join(str(s) for s in seeds)


def huh2020_sweep_name(structure: str, alpha: float) -> str:
    return f"sweep_{structure}_alpha{float(alpha)!r}"


def huh2020_runs(config: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Every random-init run of the paper: name -> its settings (methods, controls, α sweep)."""
    huh = config["huh2020"]
    runs = {}
    for group in ("methods", "controls"):
        for name, run in huh[group].items():
            if run.get("enabled", True):
                runs[name] = dict(run)
    sweep = huh["alpha_sweep"]
    if sweep.get("enabled", True):
        for point in sweep["points"]:
            name = huh2020_sweep_name(point["structure"], point["alpha"])
            if name in runs:
                raise ValueError(f"huh2020.alpha_sweep.points: {name} is listed twice")
            runs[name] = {
                "structure": point["structure"],
                "alpha": float(point["alpha"]),
                "eps": sweep["eps"],
                "clip": sweep["clip"],
                "horizon": point["horizon"],
                "eta_scale": 1.0,
                "seeds_per_job": point["seeds_per_job"],
            }
    return runs


def _problem(huh: dict[str, Any]) -> dict[str, Any]:
    p = huh["problem"]
    return {
        "n_dim": p["n_dim"],
        "depth": p["depth"],
        "n_samples": p["n_samples"],
        "teacher_singular_values": list(p["teacher_singular_values"]),
        "noise_std": p["noise_std"],
        "init_scale": p["init_scale"],
    }


def huh2020_train_jobs(config: dict[str, Any]) -> list[Job]:
    huh = config["huh2020"]
    jobs = []
    for name, run in huh2020_runs(config).items():
        eta = float(huh["eta"]) * float(run.get("eta_scale", 1.0))
        for seeds in _seed_chunks(huh["seeds"], run["seeds_per_job"]):
            spec = {
                "run": name,
                "structure": run["structure"],
                "alpha": float(run["alpha"]),
                "eps": float(run["eps"]),
                "clip": None if run["clip"] is None else float(run["clip"]),
                "eta": eta,
                "horizon": float(run["horizon"]),
                "seeds": seeds,
                **_problem(huh),
                "log_points": huh["log_points"],
                "log_points_early": huh["log_points_early"],
                "checks": huh["identity_checks"],
            }
            path = HUH2020_RUN.format(
                run=name, eta=_num(eta), horizon=_num(run["horizon"]), seeds=_seeds_text(seeds)
            )
            jobs.append(Job("huh2020-train", path, spec))
    return jobs


def huh2020_modes_jobs(config: dict[str, Any]) -> list[Job]:
    huh = config["huh2020"]
    modes = huh["modes"]
    if not modes.get("enabled", True):
        return []
    methods = {
        name: {
            "structure": m["structure"],
            "alpha": float(m["alpha"]),
            "eps": float(m["eps"]),
            "clip": None if m["clip"] is None else float(m["clip"]),
            "horizon": float(m["horizon"]),
        }
        for name, m in huh["methods"].items()
        if m.get("enabled", True)
    }
    jobs = []
    for seeds in _seed_chunks(huh["seeds"], modes["seeds_per_job"]):
        spec = {
            "seeds": seeds,
            "eta": float(huh["eta"]),
            **_problem(huh),
            "log_spread": modes["log_spread"],
            "methods": methods,
            "matrix_steps": modes["matrix_steps"],
            "logged_modes": modes["logged_modes"],
            "log_points": modes["log_points"],
            "logdet_scale": modes["logdet_scale"],
            "logdet_steps": modes["logdet_steps"],
        }
        path = HUH2020_MODES.format(eta=_num(huh["eta"]), seeds=_seeds_text(seeds))
        jobs.append(Job("huh2020-modes", path, spec))
    return jobs


HUH2020_FIGURES = ("map_modes", "losses", "paths", "speed", "alpha_sweep")


def huh2020_figures(config: dict[str, Any]) -> list[str]:
    """Figure ids the huh2020 plot job writes (the α sweep only when enabled)."""
    huh = config["huh2020"]
    figures = list(HUH2020_FIGURES)
    # The α sweep is drawn relative to GD, so it needs both.
    if not huh["alpha_sweep"].get("enabled", True) or not huh["methods"]["gd"].get("enabled", True):
        figures.remove("alpha_sweep")
    return figures


def all_jobs(config: dict[str, Any]) -> dict[str, Job]:
    """Every experiment job of the run, keyed by result path (paths are unique by construction)."""
    jobs = du2018_network_jobs(config) + du2018_factorization_jobs(config)
    if "huh2020" in config:
        jobs += huh2020_train_jobs(config) + huh2020_modes_jobs(config)
    by_path = {job.path: job for job in jobs}
    if len(by_path) != len(jobs):
        raise ValueError("two jobs map to the same result path; check for duplicate list entries")
    return by_path
