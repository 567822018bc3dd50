"""Ghorbani, Krishnan & Xiao (ICML 2019) plug-in: tables, result paths, job planning, registry.

Light on purpose (no torch): the command line and the workflow's parse step import it.

Three tasks: ``ghorbani2019-train`` (one run per architecture × BN mode × seed; writes its
checkpoints into a directory beside the result tables), ``ghorbani2019-curvature`` (one job per
checkpoint by default, so that training and measurement scale independently on a cluster;
``curvature.checkpoints_per_job`` groups cheap ones to save the ~3 s torch import per job) and
``ghorbani2019-validation`` (SLQ vs the explicit Hessian of a small MLP).
"""

from __future__ import annotations

from typing import Any

from curvlab.footprint import F32, F64, arch_size
from curvlab.io import Column, TableSchema
from curvlab.plugin import RESULTS, Job, Task, check_image_size, num
from curvlab.tables import RUN_STATUS, VALUE

TITLE = "Ghorbani, Krishnan & Xiao (ICML 2019): Hessian eigenvalue density"

_KEYS = (
    Column("dataset", "string", "image data set (a class-stratified training subset)"),
    Column("n_samples", "int64", "size N of the training subset"),
    Column("arch", "string", "architecture string, e.g. resnet8-w8, vgg-8-M-16-M, mlp-32-32"),
)

GHORBANI2019_TRAIN = TableSchema(
    name="ghorbani2019.train",
    description=(
        "Training runs (Ghorbani et al. 2019; protocol in docs/papers/ghorbani2019.md): SGD with "
        "momentum, step learning-rate schedule, cross-entropy. Per step: lr and batch_loss "
        "(minibatch loss before the update, after augmentation); every eval_every steps: "
        "full_loss and full_accuracy on the un-augmented subset in the objective training "
        "follows (no BN: plain; BN: minibatch statistics over a fixed partition; population "
        "BN: whole-subset statistics at θ)."
    ),
    columns=(
        *_KEYS,
        Column("bn", "string", "BatchNorm mode: none, batch or population"),
        Column("eta", "float64", "initial SGD step size η"),
        Column("seed", "int64", "seed of the initialization, minibatch order and augmentation"),
        Column("step", "int64", "SGD steps done (0 = initialization)"),
        Column("quantity", "string", "lr, batch_loss, full_loss or full_accuracy"),
        VALUE,
        RUN_STATUS,
    ),
)

GHORBANI2019_CURVATURE = TableSchema(
    name="ghorbani2019.curvature",
    description=(
        "Full-batch Hessian of the un-augmented training subset at one checkpoint, float64, "
        "after filter normalization of BN-fed layers, per BN Hessian mode (none; batch = "
        "mean of minibatch Hessians over a fixed partition; full = whole-subset statistics "
        "differentiated; frozen = whole-subset statistics held constant). Quantities: node / "
        "weight (SLQ Gauss-quadrature nodes and weights, per draw), eig / residual (top "
        "eigenpairs, largest first, Ritz residual norms), rho (index K: fraction "
        "‖P_K g‖²/‖g‖² of the full-batch gradient g in the top-K eigenspace), loss, "
        "grad_norm, n_params, n_hessian, and timings setup_s, hvp_s, slq_s, topk_s."
    ),
    columns=(
        *_KEYS,
        Column("bn", "string", "BatchNorm mode of the network: none, batch or population"),
        Column("eta", "float64", "initial SGD step size η of the training run"),
        Column("seed", "int64", "seed of the training run"),
        Column("step", "int64", "checkpoint: SGD steps done"),
        Column("hessian_mode", "string", "BN mode of the Hessian: none, batch, full, frozen"),
        Column("quantity", "string", "name of the quantity (see description)"),
        Column("draw", "int64", "SLQ draw (−1 where not applicable)"),
        Column("index", "int64", "node / eigenvalue rank, or K for rho; 0 for scalars"),
        VALUE,
        RUN_STATUS,
    ),
)

GHORBANI2019_VALIDATION = TableSchema(
    name="ghorbani2019.validation",
    description=(
        "SLQ vs the explicit Hessian (double backprop, eigvalsh) of a small MLP without BN, "
        "at initialization and after SGD (state). Quantities: exact_eig (ascending), node / "
        "weight per draw, l1 (∫|φ̂_σ − φ_σ| with kernel variance σ²·max(1, range), all "
        "draws) and l1_k1 (draw 0 only) per σ², ritz_err (max over draws of the top-10 "
        "|θ_i − λ_i|/λmax), topk_err (core top-10 Lanczos eigenvalues vs exact, /λmax), "
        "loss, n_params, exact_s, slq_s."
    ),
    columns=(
        *_KEYS,
        Column("seed", "int64", "seed of the initialization and minibatches"),
        Column("state", "string", "init or trained"),
        Column("quantity", "string", "name of the quantity (see description)"),
        Column("draw", "int64", "SLQ draw (−1 where not applicable)"),
        Column("index", "int64", "eigenvalue / node index; 0 for scalars"),
        Column("sigma2", "float64", "σ² of the smoothing (NaN where not applicable)"),
        VALUE,
    ),
)

TABLES = (GHORBANI2019_TRAIN, GHORBANI2019_CURVATURE, GHORBANI2019_VALIDATION)

RUN_KEYS = "{dataset}/n~{n}/{arch}/bn~{bn}/eta~{eta}/steps~{steps}/drops~{drops}/seed~{seed}"
TRAIN_RUN = RESULTS + "/ghorbani2019/train/" + RUN_KEYS + ".parquet"
CHECKPOINT_DIR = RESULTS + "/ghorbani2019/checkpoints/" + RUN_KEYS
CURVATURE_RUN = RESULTS + "/ghorbani2019/curvature/" + RUN_KEYS + "/ckpt~{ckpts}.parquet"
VALIDATION_RUN = (
    RESULTS + "/ghorbani2019/validation/{dataset}/n~{n}/{arch}/steps~{steps}/seed~{seed}.parquet"
)
BN_MODES = ("none", "batch", "population")
ARCH_PATTERN = r"resnet\d+-w\d+|vgg(-(\d+|M))+|mlp(-\d+)+"


def _drops(train: dict[str, Any]) -> str:
    drops = sorted(int(d) for d in train["drops"])
    if not drops:
        return "none"
    return "-".join(map(str, drops)) + "x" + num(train["drop_factor"])


def _run_keys(g: dict[str, Any], arch: str, bn: str, seed: int) -> dict[str, Any]:
    t = g["train"]
    return dict(
        dataset=g["dataset"],
        n=g["n_samples"],
        arch=arch,
        bn=bn,
        eta=num(t["eta"]),
        steps=t["steps"],
        drops=_drops(t),
        seed=seed,
    )


def checkpoints(config: dict[str, Any]) -> list[int]:
    t = config["ghorbani2019"]["train"]
    return sorted({int(c) for c in t["checkpoints"] if int(c) <= int(t["steps"])})


def runs(config: dict[str, Any]) -> list[tuple[str, str, int]]:
    g = config["ghorbani2019"]
    return [(arch, bn, seed) for arch in g["models"] for bn in g["bn_modes"] for seed in g["seeds"]]


def train_jobs(config: dict[str, Any]) -> list[Job]:
    g = config["ghorbani2019"]
    t = g["train"]
    check_image_size("ghorbani2019.image_size", g["dataset"], g["image_size"])
    jobs = []
    for arch, bn, seed in runs(config):
        keys = _run_keys(g, arch, bn, seed)
        spec = {
            "dataset": g["dataset"],
            "data_root": config["data"]["root"],
            "n_samples": g["n_samples"],
            "subset_seed": g["subset_seed"],
            "image_size": g["image_size"],
            "arch": arch,
            "bn": bn,
            "eta": float(t["eta"]),
            "momentum": float(t["momentum"]),
            "weight_decay": float(t["weight_decay"]),
            "batch": t["batch"],
            "steps": t["steps"],
            "drops": sorted(int(d) for d in t["drops"]),
            "drop_factor": float(t["drop_factor"]),
            "augment": list(t["augment"]),
            "eval_every": t["eval_every"],
            "checkpoints": checkpoints(config),
            "checkpoint_dir": CHECKPOINT_DIR.format(**keys),
            "seed": seed,
        }
        jobs.append(Job("ghorbani2019-train", TRAIN_RUN.format(**keys), spec))
    return jobs


def curvature_jobs(config: dict[str, Any]) -> list[Job]:
    g = config["ghorbani2019"]
    c = g["curvature"]
    jobs = []
    for arch, bn, seed in runs(config):
        keys = _run_keys(g, arch, bn, seed)
        modes = ["none"] if bn == "none" else list(c["hessian_modes"][bn])
        steps = checkpoints(config)
        size = c["checkpoints_per_job"] or len(steps)
        for group in [steps[i : i + size] for i in range(0, len(steps), size)]:
            spec = {
                "dataset": g["dataset"],
                "data_root": config["data"]["root"],
                "n_samples": g["n_samples"],
                "subset_seed": g["subset_seed"],
                "image_size": g["image_size"],
                "arch": arch,
                "bn": bn,
                "eta": float(g["train"]["eta"]),
                "seed": seed,
                "steps": group,
                "checkpoint_dir": CHECKPOINT_DIR.format(**keys),
                "hessian_modes": modes,
                "hessian_samples": c["hessian_samples"],
                "batch": g["train"]["batch"],
                "hessian_batch": c["hessian_batch"],
                "lanczos_steps": c["lanczos_steps"],
                "draws": c["draws"],
                "top_eigs": c["top_eigs"],
                "topk_steps": c["topk_steps"],
                "ks": sorted({int(k) for k in c["ks"]}),
                "filter_normalize": bool(c["filter_normalize"]),
                "cache": bool(c["cache"]),
                "vectorize": bool(c["vectorize"]),
                "dtype": c["dtype"],
            }
            jobs.append(
                Job(
                    "ghorbani2019-curvature",
                    CURVATURE_RUN.format(**keys, ckpts="-".join(map(str, group))),
                    spec,
                )
            )
    return jobs


def validation_jobs(config: dict[str, Any]) -> list[Job]:
    v = config["ghorbani2019"]["validation"]
    if not v.get("enabled", True):
        return []
    check_image_size("ghorbani2019.validation.image_size", v["dataset"], v["image_size"])
    arch = "mlp-" + "-".join(str(h) for h in v["hidden"])
    spec = {
        "dataset": v["dataset"],
        "data_root": config["data"]["root"],
        "n_samples": v["n_samples"],
        "subset_seed": config["ghorbani2019"]["subset_seed"],
        "image_size": v["image_size"],
        "hidden": list(v["hidden"]),
        "train_steps": v["train_steps"],
        "eta": float(v["eta"]),
        "batch": v["batch"],
        "lanczos_steps": v["lanczos_steps"],
        "draws": v["draws"],
        "sigma2s": [float(s) for s in v["sigma2s"]],
        "seed": v["seed"],
    }
    path = VALIDATION_RUN.format(
        dataset=v["dataset"], n=v["n_samples"], arch=arch, steps=v["train_steps"], seed=v["seed"]
    )
    return [Job("ghorbani2019-validation", path, spec)]


def jobs(config: dict[str, Any]) -> list[Job]:
    return train_jobs(config) + curvature_jobs(config) + validation_jobs(config)


#: Steps after a learning-rate drop at which the spectrum is compared with the one at the drop.
AFTER_DROP = 50


def drop_pairs(drops: list[int], checkpoints: set[int] | list[int]) -> list[tuple[int, int]]:
    """(d, d + AFTER_DROP) for every drop d with checkpoints at both steps."""
    have = set(checkpoints)
    return [(d, d + AFTER_DROP) for d in drops if d in have and d + AFTER_DROP in have]


def figures(config: dict[str, Any]) -> list[str]:
    ids = []
    if validation_jobs(config):
        ids.append("fig1_slq_vs_exact")
    ids += ["fig2_early_density", "fig3_densities_bn", "fig4_gradient_lambda_max", "fig5_loss"]
    train = config["ghorbani2019"]["train"]
    if drop_pairs(train["drops"], train["checkpoints"]):
        ids.append("fig6_lr_drop")
    return ids


def _input(spec: dict[str, Any]) -> tuple[int, int]:
    """(channels, side) of the images a job trains on, after block-averaging."""
    channels, side = (3, 32) if spec["dataset"] == "cifar10" else (1, 28)
    return channels, spec.get("image_size") or side


def train_memory(spec: dict[str, Any]) -> float:
    """float32 weights, gradients and momentum, activations of one minibatch (kept for the
    backward pass), and the training images."""
    channels, side = _input(spec)
    params, activations = arch_size(spec["arch"], channels, side)
    images = spec["n_samples"] * channels * side * side
    return F32 * (4 * params + 3 * spec["batch"] * activations + images)


def curvature_memory(spec: dict[str, Any]) -> float:
    """The float64 Lanczos basis (P × steps × draws, kept whole for full reorthogonalization),
    one Hessian batch's activations for the product, and, with ``cache``, the linearized
    gradients of every batch (their activations, twice)."""
    channels, side = _input(spec)
    params, activations = arch_size(spec["arch"], channels, side)
    samples = spec.get("hessian_samples") or spec["n_samples"]
    basis = F64 * params * max(spec["lanczos_steps"], spec.get("topk_steps") or 0) * spec["draws"]
    product = F32 * 4 * spec["hessian_batch"] * activations
    cache = F32 * 2 * samples * activations if spec.get("cache") else 0
    return basis + product + cache + F32 * samples * channels * side * side


def validation_memory(spec: dict[str, Any]) -> float:
    """The explicit Hessian of a small MLP (P × P, and its eigendecomposition)."""
    side = spec.get("image_size") or 28
    params, _ = arch_size("mlp-" + "-".join(map(str, spec["hidden"])), 1, side)
    return F64 * 3 * params**2


TASKS = {
    "ghorbani2019-train": Task(
        spec="curvlab.experiments.ghorbani2019:TrainSpec",
        run="curvlab.experiments.ghorbani2019:run_train",
        table=GHORBANI2019_TRAIN,
        uses_torch=True,
        memory=train_memory,
    ),
    "ghorbani2019-curvature": Task(
        spec="curvlab.experiments.ghorbani2019:CurvatureSpec",
        run="curvlab.experiments.ghorbani2019:run_curvature",
        table=GHORBANI2019_CURVATURE,
        uses_torch=True,
        memory=curvature_memory,
    ),
    "ghorbani2019-validation": Task(
        spec="curvlab.experiments.ghorbani2019:ValidationSpec",
        run="curvlab.experiments.ghorbani2019:run_validation",
        table=GHORBANI2019_VALIDATION,
        uses_torch=True,
        memory=validation_memory,
    ),
}
