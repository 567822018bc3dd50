"""Huh (ICML 2020) plug-in: tables, result paths, job planning, registry entry.

Light on purpose (no torch): the command line and the workflow's parse step import it.
"""

from __future__ import annotations

from typing import Any

from curvlab.footprint import F64
from curvlab.io import Column, TableSchema
from curvlab.optim.deep_linear import METHODS as RULES
from curvlab.plugin import RESULTS, Job, Task, num, seed_chunks, seeds_text
from curvlab.tables import RUN_STATUS, STEP, VALUE

TITLE = "Huh (ICML 2020): curvature-corrected learning dynamics in deep linear networks"

HUH2020_TRAIN = TableSchema(
    name="huh2020.train",
    description=(
        "One optimizer on the random-init deep linear teacher–student (Huh 2020; docs/papers/huh2020.md). "
        "Index 0 for scalars. Every logged step: train_loss ((1/2P)‖Y − WX‖²), test_loss "
        "(population: ½‖W − W_teacher‖² + Nσ_z²/2), test_excess (½‖W − W_teacher‖²), map_error "
        "(‖W − Σ̂‖_F), map_error_rel (/‖Σ̂‖_F), map_sv (singular values of W, index k), proj_target "
        "(û_kᵀWv̂_k on Σ̂'s modes), proj_teacher (on the teacher's modes), layer_norm (‖W_i‖_F), "
        "gram_norm (‖W_iW_iᵀ‖_F), balance_norm (‖C_i‖_F, C_i = W_{i+1}ᵀW_{i+1} − W_iW_iᵀ, index i), "
        "balance_drift (‖C_i(t) − C_i(0)‖_F), logabsdet (log|det W_i|), speed (the rule's unclipped "
        "‖v‖ = ‖Δθ‖/η at this step), step_norm (‖Δθ‖ taken), clipped (1 if capped); running over "
        "every step: speed_max, speed_ratio_max (max ‖v‖/‖e‖), clipped_count. At the last step: "
        "speed_max_step, last_clipped_step (−1: never). At step 0: target_sv (ŝ_k of Σ̂), "
        "teacher_sv, ray_best_excess (min_a ½‖aΣ̂ − W_teacher‖²), train_loss_floor, s0_random_init "
        "((mean squared layer singular value)^{d/2}), negative_real_eigs (of Σ̂⁻¹W₀), and with "
        "identity checks check_jacobian_fd, check_gn_blocks, check_jjt, check_fast_route."
    ),
    columns=(
        Column(
            "run", "string", "method (gd, ngd, ngd_d, sqrt_ngd, sqrt_ngd_d), control or sweep point"
        ),
        Column("structure", "string", "full or block (diagonal blocks of the Gauss–Newton matrix)"),
        Column("alpha", "float64", "power α of (G + εI)^{−α}: 0 GD, 0.5 sqrt, 1 NGD"),
        Column("eps", "float64", "Levenberg–Marquardt damping ε (0: pseudo-inverse power)"),
        Column("clip", "float64", "cap on ‖Δθ‖ per step (NaN: no clipping)"),
        Column("eta", "float64", "Euler step η"),
        Column("horizon", "float64", "length of the run in t = ηk"),
        Column("seed", "int64", "seed of teacher, noise and initialization"),
        STEP,
        Column("t", "float64", "gradient-flow time t = η·step"),
        Column("quantity", "string", "name of the logged quantity (see description)"),
        Column("index", "int32", "mode k, layer i or pair i (from 1); 0 for scalars"),
        VALUE,
        RUN_STATUS,
    ),
)

HUH2020_MODES = TableSchema(
    name="huh2020.modes",
    description=(
        "The aligned deep linear network, where every mode of Σ̂ evolves on its own (Huh 2020; "
        "docs/papers/huh2020.md). Variant euler: Euler steps of the per-mode system (the matrix "
        "network's, tested); variant flow: the gradient flow recorded where the mode's map value "
        "reaches fixed levels (the same for every method; step = level number); variant constant: "
        "target_sv and euler_step_factor (method problem; the step factors f, index j), "
        "euler_path_error (ngd, sqrt_ngd, index j: largest relative gap of the method's Euler "
        "path to GD's at equal map value, every step, at η·f and cap·f), decoupling_error (mode column 1: max |matrix − scalar| "
        "per-mode layer value, 2: max off-diagonal entry, both relative to the largest layer "
        "value; 3: steps compared), logdet_law_drift (ngd_d_eps0; 1: max change of log|det W_i| − "
        "log|det W_1|, 2: steps), closed_form_error (ngd, ngd_d), t_half_over_escape_time (gd, per "
        "teacher mode), t_half_slope (sqrt_ngd)."
    ),
    columns=(
        Column("seed", "int64", "seed of teacher, noise and the aligned initialization"),
        Column("method", "string", "gd, ngd, ngd_d, sqrt_ngd, sqrt_ngd_d, *_eps0 or problem"),
        Column("variant", "string", "euler, flow or constant"),
        Column("step", "int64", "Euler step (euler), map-value level number (flow), 0 (constant)"),
        Column("t", "float64", "gradient-flow time"),
        Column("quantity", "string", "map_value, layer_value or a constant (see description)"),
        Column("mode", "int32", "mode k of Σ̂ (from 1), or the constant's index"),
        Column("layer", "int32", "layer i (from 1); 0 for map values and constants"),
        VALUE,
        RUN_STATUS,
    ),
)


# The paper's five update rules, named once in the library (curvlab.optim.deep_linear).
METHODS = tuple(RULES)
CONTROLS = ("ngd_unclipped", "ngd_d_unclipped", "ngd_d_undamped", "gd_eta_quarter")
RUN = RESULTS + "/huh2020/{run}/eta~{eta}/horizon~{horizon}/seeds~{seeds}.parquet"
MODES_RUN = RESULTS + "/huh2020/modes/eta~{eta}/seeds~{seeds}.parquet"
RUN_NAME = r"[a-z_]+|sweep_(full|block)_alpha[0-9.]+"


def sweep_name(structure: str, alpha: float) -> str:
    return f"sweep_{structure}_alpha{float(alpha)!r}"


def runs(config: dict[str, Any]) -> dict[str, dict[str, Any]]:
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
            name = sweep_name(point["structure"], point["alpha"])
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


def train_jobs(config: dict[str, Any]) -> list[Job]:
    huh = config["huh2020"]
    jobs = []
    for name, run in runs(config).items():
        eta = float(huh["eta"]) * float(run.get("eta_scale", 1.0))
        for seeds in seed_chunks(huh["seeds"], run["seeds_per_job"]):
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
            path = RUN.format(
                run=name, eta=num(eta), horizon=num(run["horizon"]), seeds=seeds_text(seeds)
            )
            jobs.append(Job("huh2020-train", path, spec))
    return jobs


def modes_jobs(config: dict[str, Any]) -> list[Job]:
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
    for seeds in seed_chunks(huh["seeds"], modes["seeds_per_job"]):
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
            "euler_refinement": list(modes["euler_refinement"]),
        }
        path = MODES_RUN.format(eta=num(huh["eta"]), seeds=seeds_text(seeds))
        jobs.append(Job("huh2020-modes", path, spec))
    return jobs


FIGURES = ("map_modes", "losses", "paths", "speed", "alpha_sweep")


def figures(config: dict[str, Any]) -> list[str]:
    """Figure ids the huh2020 plot job writes (the α sweep only when enabled)."""
    huh = config["huh2020"]
    figures = list(FIGURES)
    # The α sweep is drawn relative to GD, so it needs both.
    if not huh["alpha_sweep"].get("enabled", True) or not huh["methods"]["gd"].get("enabled", True):
        figures.remove("alpha_sweep")
    return figures


def memory(spec: dict[str, Any]) -> float:
    """The dense Gauss–Newton matrix of all P = depth·N² weights and its factorization (≈ 4 P²),
    per seed held at once."""
    params = spec["depth"] * spec["n_dim"] ** 2
    return F64 * 4 * params**2


TABLES = (HUH2020_TRAIN, HUH2020_MODES)
TASKS = {
    "huh2020-train": Task(
        spec="curvlab.experiments.huh2020:TrainSpec",
        run="curvlab.experiments.huh2020:run_train",
        table=HUH2020_TRAIN,
        uses_torch=False,
        memory=memory,
    ),
    "huh2020-modes": Task(
        spec="curvlab.experiments.huh2020:ModesSpec",
        run="curvlab.experiments.huh2020:run_modes",
        table=HUH2020_MODES,
        uses_torch=False,
        memory=memory,
    ),
}


def jobs(config: dict[str, Any]) -> list[Job]:
    """Every huh2020 job of ``config``."""
    return train_jobs(config) + modes_jobs(config)
