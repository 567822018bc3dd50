"""Mori, Ziyin, Liu & Ueda (ICML 2022) plug-in: tables, result paths, job planning, registry entry.

Light on purpose (no torch): the command line and the workflow's parse step import it.
"""

from __future__ import annotations

from typing import Any

from curvlab.footprint import F32, F64, conv_stack, dense_params
from curvlab.io import Column, TableSchema
from curvlab.plugin import RESULTS, Job, Task, check_image_size, num
from curvlab.tables import RUN_STATUS, VALUE

TITLE = "Mori, Ziyin, Liu & Ueda (ICML 2022): power-law escape rate of SGD"

#: Run keys shared by the two image-data SGD tables (Figs. 1 and 2).
_SGD_RUN_KEYS = (
    Column("dataset", "string", "image data set (the first n_samples training images)"),
    Column("n_samples", "int64", "number of training samples N"),
    Column("eta", "float64", "SGD step size η"),
    Column("batch", "int64", "minibatch size B"),
    Column("seed", "int64", "seed of the initialization and the minibatch order"),
    Column("epoch", "int64", "epochs of SGD done (0 = initialization)"),
)

MORI2022_DECOUPLING = TableSchema(
    name="mori2022.decoupling",
    description=(
        "Fig. 1 (Mori et al. 2022, Sec. 5.1): SGD on a one-output ReLU MLP with "
        "even/odd ±1 targets. Every epoch: train_loss (L = (1/N)Σ½(f − y)²). At the measured "
        "epochs (0 = initialization): loss, and the eigenvalues, ascending (index = rank), of "
        "the exact (1/N)D^{1/2}KD^{1/2} (eig_exact: the nonzero spectrum of "
        "(1/N)Σ_μ ℓ_μ∇f_μ∇f_μᵀ) and of the decoupled (L/N)K (eig_decoupled), K = JJᵀ the "
        "N × N empirical NTK Gram matrix, float64."
    ),
    columns=(
        *_SGD_RUN_KEYS,
        Column("quantity", "string", "train_loss, loss, eig_exact or eig_decoupled"),
        Column("index", "int64", "eigenvalue rank (ascending); 0 for scalars"),
        VALUE,
        RUN_STATUS,
    ),
)

MORI2022_NOISE = TableSchema(
    name="mori2022.noise",
    description=(
        "Fig. 2 (Mori et al. 2022, Sec. 5.2): SGD on one-hot targets with ℓ_μ = ½‖f_μ − y_μ‖². "
        "Every epoch (0 = init), over the whole training subset: loss (L = (1/N)Σℓ_μ), "
        "noise_strength (𝒩 = (1/N)Σ‖∇ℓ_μ‖² − ‖∇L‖², Eq. 24), fisher_trace ((1/N)Σ‖∇ℓ_μ‖²), "
        "grad_sq_norm (‖∇L‖²), train_accuracy; at the first and last epoch the cross-check on the "
        "first 2,000 samples: noise_strength_check (per-layer method) and noise_strength_core "
        "(the curvature core's NoiseCovarianceOperator.noise_strength())."
    ),
    columns=(
        Column("net", "string", "fc (ReLU MLP) or cnn (Keskar-style conv stacks)"),
        *_SGD_RUN_KEYS,
        Column("quantity", "string", "name of the measured quantity (see description)"),
        VALUE,
        RUN_STATUS,
    ),
)

MORI2022_STATIONARY = TableSchema(
    name="mori2022.stationary",
    description=(
        "Fig. 3a (Mori et al. 2022, Sec. 5.3; protocol in docs/papers/mori2022.md): d = 1 "
        "linear regression, "
        "x, y i.i.d. N(0, 1), SGD from θ* with a fresh minibatch every step (sampling = fresh) "
        "or, for the sampling check, epoch reshuffling (sampling = reshuffle), θ kept every "
        "sample_every steps after the burn-in. Per chain (chain ≥ 0): mean_log1p_z "
        "(⟨ln(1 + z)⟩, z = h(θ − θ*)²/(2L*)), n_kept, phi_mle (Student-t MLE of φ in "
        "P ∝ L^{−φ}), phi_se (i.i.d. Fisher error), u_sq_mean (⟨(θ − θ*)²⟩), excess_kurtosis, "
        "diverged (1/0). Data-set constants (chain = −1): h, loss_min (L*), theta_star, var_x2 "
        "(Var_μ x²), mean_x2r2 ((1/N)Σ x²r², r = θ*x − y), kesten_alpha (α with "
        "E|1 − η⟨x²⟩_B|^α = 1; inf if none)."
    ),
    columns=(
        Column("sampling", "string", "fresh (a new minibatch every step) or reshuffle (epochs)"),
        Column("eta", "float64", "SGD step size η"),
        Column("batch", "int64", "minibatch size B"),
        Column("n_samples", "int64", "data set size N"),
        Column("iterations", "int64", "SGD steps after the burn-in"),
        Column("seed", "int64", "seed of the data set (chains draw from streams of it)"),
        Column("chain", "int64", "chain index; −1 for data-set constants"),
        Column("quantity", "string", "name of the quantity (see description)"),
        VALUE,
        RUN_STATUS,
    ),
)

MORI2022_FIRST_PASSAGE = TableSchema(
    name="mori2022.first_passage",
    description=(
        "Fig. 3b (Mori et al. 2022, Sec. 5.3; protocol in docs/papers/mori2022.md): linear "
        "regression in d "
        "dimensions, chains started at θ*. Per (chain, c): crossing_step (first SGD step k with "
        "L > c·L*, time t = ηk; NaN if not within max_steps: censored) and jumped (1 if that "
        "step raised L by more than half of (c − 1)L*). Constants (chain = −1, c = NaN): "
        "h_star (mean eigenvalue of H), n_outliers (n: eigenvalues of H above 10⁻⁶ of the largest), h_min, h_max, loss_min, warmup_steps, steps_simulated "
        "(all chains; the run stops early once every chain crossed the largest c), max_kick_c "
        "(max_μ L(θ* − ηr_μx_μ)/L*)."
    ),
    columns=(
        Column(
            "dynamics", "string", "sgd (real SGD) or control (gradient + Gaussian (2L/B)H noise)"
        ),
        Column("dim", "int64", "input dimension d (= number of outlier directions n)"),
        Column("eta", "float64", "step size η"),
        Column("batch", "int64", "minibatch size B"),
        Column("n_samples", "int64", "data set size N"),
        Column("max_steps", "int64", "horizon in steps (censoring time max_steps·η)"),
        Column("seed", "int64", "seed of the data set and the chains' draws"),
        Column("chain", "int64", "chain index; −1 for data-set constants"),
        Column("c", "float64", "threshold factor c = L(θ^s)/L(θ*) (NaN for constants)"),
        Column("quantity", "string", "crossing_step, jumped or a constant (see description)"),
        VALUE,
    ),
)

TABLES = (MORI2022_DECOUPLING, MORI2022_NOISE, MORI2022_STATIONARY, MORI2022_FIRST_PASSAGE)

DECOUPLING_RUN = (
    RESULTS + "/mori2022/decoupling/{dataset}/n~{n}/eta~{eta}/epochs~{epochs}/seed~{seed}.parquet"
)
NOISE_RUN = (
    RESULTS + "/mori2022/noise/{net}/{dataset}/n~{n}/eta~{eta}/epochs~{epochs}/seed~{seed}.parquet"
)
STATIONARY_RUN = (
    RESULTS
    + "/mori2022/stationary/{sampling}/eta~{eta}/B~{batch}/iters~{iterations}"
    + "/seed~{seed}.parquet"
)
FIRST_PASSAGE_RUN = (
    RESULTS
    + "/mori2022/first_passage/{dynamics}/d~{dim}/eta~{eta}/B~{batch}/steps~{steps}"
    + "/seed~{seed}.parquet"
)
NETS = ("fc", "cnn")
DYNAMICS = ("sgd", "control")
SAMPLINGS = ("fresh", "reshuffle")


def _on(section: dict[str, Any]) -> bool:
    return bool(section.get("enabled", True))


def decoupling_jobs(config: dict[str, Any]) -> list[Job]:
    dec = config["mori2022"]["decoupling"]
    if not _on(dec):
        return []
    check_image_size("mori2022.decoupling.image_size", dec["dataset"], dec["image_size"])
    epochs = sorted({int(e) for e in dec["epochs"]})
    jobs = []
    for seed in dec["seeds"]:
        spec = {
            "dataset": dec["dataset"],
            "data_root": config["data"]["root"],
            "n_samples": dec["n_samples"],
            "image_size": dec["image_size"],
            "hidden": list(dec["hidden"]),
            "eta": float(dec["eta"]),
            "batch": dec["batch"],
            "epochs": epochs,
            "seed": seed,
        }
        path = DECOUPLING_RUN.format(
            dataset=dec["dataset"],
            n=dec["n_samples"],
            eta=num(dec["eta"]),
            epochs="-".join(map(str, epochs)),
            seed=seed,
        )
        jobs.append(Job("mori2022-decoupling", path, spec))
    return jobs


def noise_jobs(config: dict[str, Any]) -> list[Job]:
    noise = config["mori2022"]["noise"]
    jobs = []
    for net in NETS:
        section = noise[net]
        if not _on(noise) or not _on(section):
            continue
        key = f"mori2022.noise.{net}.image_size"
        check_image_size(key, section["dataset"], section["image_size"])
        for seed in noise["seeds"]:
            spec = {
                "net": net,
                "dataset": section["dataset"],
                "data_root": config["data"]["root"],
                "n_samples": section["n_samples"],
                "image_size": section["image_size"],
                "widths": list(section["widths"] if net == "fc" else section["channels"]),
                "convs_per_stack": section.get("convs_per_stack", 1),
                "eta": float(section["eta"]),
                "batch": section["batch"],
                "epochs": section["epochs"],
                "seed": seed,
                "method": noise["method"],
            }
            path = NOISE_RUN.format(
                net=net,
                dataset=section["dataset"],
                n=section["n_samples"],
                eta=num(section["eta"]),
                epochs=section["epochs"],
                seed=seed,
            )
            jobs.append(Job("mori2022-noise", path, spec))
    return jobs


def stationary_jobs(config: dict[str, Any]) -> list[Job]:
    st = config["mori2022"]["stationary"]
    if not _on(st):
        return []
    runs = [("fresh", eta, batch) for eta in st["etas"] for batch in st["batches"]]
    resh = st["reshuffle"]
    if _on(resh):
        runs += [("reshuffle", resh["eta"], batch) for batch in resh["batches"]]
    jobs = []
    for sampling, eta, batch in runs:
        for seed in st["seeds"]:
            spec = {
                "sampling": sampling,
                "eta": float(eta),
                "batch": batch,
                "n_samples": st["n_samples"],
                "iterations": st["iterations"],
                "sample_every": st["sample_every"],
                "burn_in": st["burn_in"],
                "chains": st["chains"],
                "seed": seed,
            }
            path = STATIONARY_RUN.format(
                sampling=sampling,
                eta=num(eta),
                batch=batch,
                iterations=st["iterations"],
                seed=seed,
            )
            jobs.append(Job("mori2022-stationary", path, spec))
    return jobs


def first_passage_jobs(config: dict[str, Any]) -> list[Job]:
    fp = config["mori2022"]["first_passage"]
    if not _on(fp):
        return []
    jobs = []
    for dynamics in fp["dynamics"]:
        for dim in fp["dims"]:
            for seed in fp["seeds"]:
                spec = {
                    "dynamics": dynamics,
                    "dim": dim,
                    "n_samples": fp["n_samples"],
                    "batch": fp["batch"],
                    "eta": float(fp["eta"]),
                    "cs": [float(c) for c in fp["cs"]],
                    "chains": fp["chains"],
                    "max_steps": fp["max_steps"],
                    "block": fp["block"],
                    "warmup_time": float(fp["warmup_time"]),
                    "seed": seed,
                }
                path = FIRST_PASSAGE_RUN.format(
                    dynamics=dynamics,
                    dim=dim,
                    eta=num(fp["eta"]),
                    batch=fp["batch"],
                    steps=fp["max_steps"],
                    seed=seed,
                )
                jobs.append(Job("mori2022-first-passage", path, spec))
    return jobs


def jobs(config: dict[str, Any]) -> list[Job]:
    return (
        decoupling_jobs(config)
        + noise_jobs(config)
        + stationary_jobs(config)
        + first_passage_jobs(config)
    )


def figures(config: dict[str, Any]) -> list[str]:
    """Figure ids the mori2022 plot job writes (those of disabled experiments are skipped)."""
    m = config["mori2022"]
    ids = []
    if decoupling_jobs(config):
        ids.append("fig1_decoupling")
    if noise_jobs(config):
        ids.append("fig2_noise")
    if _on(m["stationary"]):
        ids.append("fig3a_stationary_phi")
    if _on(m["first_passage"]):
        ids += ["fig3b_first_passage", "first_passage_arrhenius"]
    return ids


def _features(spec: dict[str, Any]) -> tuple[int, int]:
    """(channels, side) of the images, after block-averaging."""
    channels, side = (3, 32) if spec["dataset"] == "cifar10" else (1, 28)
    return channels, spec.get("image_size") or side


def decoupling_memory(spec: dict[str, Any]) -> float:
    """N × N Gram matrices (the NTK and its decoupled parts) and ≈ 20 copies of the weights of
    the MLP (one output)."""
    channels, side = _features(spec)
    n = spec["n_samples"]
    params = dense_params([channels * side * side, *spec["hidden"], 1])
    return F64 * (3 * n * n + 20 * params) + F32 * n * channels * side * side


def noise_memory(spec: dict[str, Any]) -> float:
    """Per-sample gradients of one minibatch (B × P), the weights, and the training images."""
    channels, side = _features(spec)
    if spec["net"] == "fc":
        params = dense_params([channels * side * side, *spec["widths"], 10])
    else:
        layers = [layer for w in spec["widths"] for layer in [w] * spec["convs_per_stack"] + ["M"]]
        convs, _, last, last_side = conv_stack(channels, side, layers)
        params = convs + dense_params([last * last_side**2, 10])
    images = spec["n_samples"] * channels * side * side
    return F32 * ((spec["batch"] + 10) * params + 2 * images)


def stationary_memory(spec: dict[str, Any]) -> float:
    """The regression data and every chain's kept samples."""
    kept = spec["iterations"] // spec["sample_every"]
    return F64 * (2 * spec["n_samples"] + spec["chains"] * kept)


def first_passage_memory(spec: dict[str, Any]) -> float:
    """The draws of one block (bounded by ``max_draw_mb``) and the data set."""
    return spec.get("max_draw_mb", 256.0) * 2**20 + F64 * 2 * spec["n_samples"] * spec["dim"]


TASKS = {
    "mori2022-decoupling": Task(
        spec="curvlab.experiments.mori2022:DecouplingSpec",
        run="curvlab.experiments.mori2022:run_decoupling",
        table=MORI2022_DECOUPLING,
        uses_torch=True,
        memory=decoupling_memory,
    ),
    "mori2022-noise": Task(
        spec="curvlab.experiments.mori2022:NoiseSpec",
        run="curvlab.experiments.mori2022:run_noise",
        table=MORI2022_NOISE,
        uses_torch=True,
        memory=noise_memory,
    ),
    "mori2022-stationary": Task(
        spec="curvlab.experiments.mori2022:StationarySpec",
        run="curvlab.experiments.mori2022:run_stationary",
        table=MORI2022_STATIONARY,
        uses_torch=False,
        memory=stationary_memory,
    ),
    "mori2022-first-passage": Task(
        spec="curvlab.experiments.mori2022:FirstPassageSpec",
        run="curvlab.experiments.mori2022:run_first_passage",
        table=MORI2022_FIRST_PASSAGE,
        uses_torch=False,
        memory=first_passage_memory,
    ),
}
