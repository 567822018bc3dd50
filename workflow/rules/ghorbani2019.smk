# Ghorbani, Krishnan & Xiao (ICML 2019): training with checkpoints, curvature per checkpoint.
from curvlab.papers import ghorbani2019 as GHORBANI2019

GHORBANI2019_WILDCARDS = dict(
    dataset="|".join(GHORBANI2019.DATASETS),
    n=r"\d+",
    arch=GHORBANI2019.ARCH_PATTERN,
    bn="|".join(GHORBANI2019.BN_MODES),
    steps=r"\d+",
    drops=r"none|\d+(-\d+)*x[0-9.e+-]+",
    seed=r"\d+",
)


rule ghorbani2019_train:
    input:
        lambda wildcards: f"{config['data']['root']}/{wildcards.dataset}.npz",
    output:
        table=GHORBANI2019.TRAIN_RUN,
        checkpoints=directory(GHORBANI2019.CHECKPOINT_DIR),
    log:
        GHORBANI2019.TRAIN_LOG,
    benchmark:
        GHORBANI2019.TRAIN_BENCH
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
        data=lambda wildcards: f"{config['data']['root']}/{wildcards.dataset}.npz",
        checkpoints=GHORBANI2019.checkpoint_dir,
    output:
        GHORBANI2019.CURVATURE_RUN,
    log:
        GHORBANI2019.CURVATURE_LOG,
    benchmark:
        GHORBANI2019.CURVATURE_BENCH
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
        lambda wildcards: f"{config['data']['root']}/{wildcards.dataset}.npz",
    output:
        GHORBANI2019.VALIDATION_RUN,
    log:
        GHORBANI2019.VALIDATION_LOG,
    benchmark:
        GHORBANI2019.VALIDATION_BENCH
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


rule ghorbani2019_aggregate:
    input:
        train=job_paths("ghorbani2019-train"),
        curvature=job_paths("ghorbani2019-curvature"),
        validation=job_paths("ghorbani2019-validation"),
    output:
        **GHORBANI2019.TABLES,
    log:
        "logs/ghorbani2019/aggregate.log",
    benchmark:
        "results/benchmarks/ghorbani2019_aggregate.tsv"
    conda:
        ENV
    params:
        curvlab=CURVLAB,
    shell:
        "({params.curvlab} concat --schema ghorbani2019.train --out {output.train:q}"
        " {input.train:q}"
        " && {params.curvlab} concat --schema ghorbani2019.curvature"
        " --out {output.curvature:q} {input.curvature:q}"
        " && {params.curvlab} concat --schema ghorbani2019.validation"
        " --out {output.validation:q} {input.validation:q}) > {log:q} 2>&1"


rule ghorbani2019_figures:
    input:
        rules.ghorbani2019_aggregate.output,
    output:
        figures=expand(
            "reports/figures/ghorbani2019/{figure}.{ext}",
            figure=GHORBANI2019.figures(config),
            ext=["png", "pdf"],
        ),
        manifest="reports/figures/ghorbani2019/figures.json",
    log:
        "logs/ghorbani2019/figures.log",
    benchmark:
        "results/benchmarks/ghorbani2019_figures.tsv"
    conda:
        ENV
    params:
        curvlab=CURVLAB,
        scale=SCALE,
        outdir=output_dir,
    shell:
        "{params.curvlab} plot ghorbani2019 --scale {params.scale:q} --outdir {params.outdir:q}"
        " {input:q} > {log:q} 2>&1"


rule ghorbani2019_claims:
    input:
        rules.ghorbani2019_aggregate.output,
    output:
        "results/ghorbani2019/claims.parquet",
    log:
        "logs/ghorbani2019/claims.log",
    benchmark:
        "results/benchmarks/ghorbani2019_claims.tsv"
    conda:
        ENV
    params:
        curvlab=CURVLAB,
        scale=SCALE,
    shell:
        "{params.curvlab} claims ghorbani2019 --scale {params.scale:q} --out {output:q} {input:q}"
        " > {log:q} 2>&1"


if "ghorbani2019" in SELECTED:
    PAPER_OUTPUTS["ghorbani2019"] = dict(
        claims=rules.ghorbani2019_claims.output[0],
        figures=rules.ghorbani2019_figures.output.figures,
        manifest=rules.ghorbani2019_figures.output.manifest,
        tables=list(rules.ghorbani2019_aggregate.output),
    )
