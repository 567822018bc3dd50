# Ghorbani, Krishnan & Xiao (ICML 2019): training with checkpoints, curvature per checkpoint.
from curvlab.papers import ghorbani2019 as GHORBANI2019

GHORBANI2019_WILDCARDS = dict(
    dataset=DATASET_PATTERN,
    n=r"\d+",
    arch=GHORBANI2019.ARCH_PATTERN,
    bn="|".join(GHORBANI2019.BN_MODES),
    steps=r"\d+",
    drops=r"none|\d+(-\d+)*x[0-9.e+-]+",
    seed=r"\d+",
)


rule ghorbani2019_train:
    input:
        dataset_input,
    output:
        table=GHORBANI2019.TRAIN_RUN,
        checkpoints=directory(GHORBANI2019.CHECKPOINT_DIR),
    log:
        "logs/ghorbani2019/train/{dataset}/n~{n}/{arch}/bn~{bn}/eta~{eta}/steps~{steps}/drops~{drops}/seed~{seed}.log",
    benchmark:
        "results/benchmarks/ghorbani2019_train/{dataset}/n~{n}/{arch}/bn~{bn}/eta~{eta}/steps~{steps}/drops~{drops}/seed~{seed}.tsv"
    wildcard_constraints:
        **GHORBANI2019_WILDCARDS,
    conda:
        ENV
    threads: 1
    resources:
        runtime=120,
        mem_mb=4000,
        gpu=GPU,
    params:
        spec=job_spec(GHORBANI2019.TRAIN_RUN),
        curvlab=CURVLAB,
        device=config["device"],
    shell:
        "{params.curvlab} job ghorbani2019-train --spec {params.spec:q} --out {output.table:q}"
        " --threads {threads} --device {params.device:q} > {log:q} 2>&1"


rule ghorbani2019_curvature:
    input:
        data=dataset_input,
        # the checkpoints of the training run this job's wildcards name
        checkpoints=formatted(GHORBANI2019.CHECKPOINT_DIR),
    output:
        GHORBANI2019.CURVATURE_RUN,
    log:
        "logs/ghorbani2019/curvature/{dataset}/n~{n}/{arch}/bn~{bn}/eta~{eta}/steps~{steps}/drops~{drops}/seed~{seed}/ckpt~{ckpts}.log",
    benchmark:
        "results/benchmarks/ghorbani2019_curvature/{dataset}/n~{n}/{arch}/bn~{bn}/eta~{eta}/steps~{steps}/drops~{drops}/seed~{seed}/ckpt~{ckpts}.tsv"
    wildcard_constraints:
        **GHORBANI2019_WILDCARDS,
        ckpts=r"\d+(-\d+)*",
    conda:
        ENV
    threads: 1
    resources:
        runtime=240,
        mem_mb=6000,
        gpu=GPU,
    params:
        spec=job_spec(GHORBANI2019.CURVATURE_RUN),
        curvlab=CURVLAB,
        device=config["device"],
    shell:
        "{params.curvlab} job ghorbani2019-curvature --spec {params.spec:q} --out {output:q}"
        " --threads {threads} --device {params.device:q} > {log:q} 2>&1"


rule ghorbani2019_validation:
    input:
        dataset_input,
    output:
        GHORBANI2019.VALIDATION_RUN,
    log:
        "logs/ghorbani2019/validation/{dataset}/n~{n}/{arch}/steps~{steps}/seed~{seed}.log",
    benchmark:
        "results/benchmarks/ghorbani2019_validation/{dataset}/n~{n}/{arch}/steps~{steps}/seed~{seed}.tsv"
    wildcard_constraints:
        **GHORBANI2019_WILDCARDS,
    conda:
        ENV
    threads: 1
    resources:
        runtime=60,
        mem_mb=4000,
    params:
        spec=job_spec(GHORBANI2019.VALIDATION_RUN),
        curvlab=CURVLAB,
    shell:
        "{params.curvlab} job ghorbani2019-validation --spec {params.spec:q} --out {output:q}"
        " --threads {threads} --device cpu > {log:q} 2>&1"
