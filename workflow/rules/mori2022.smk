# Mori, Ziyin, Liu & Ueda (ICML 2022): decoupling, noise strength, stationary exponent, escape.
from curvlab.papers import mori2022 as MORI2022


rule mori2022_decoupling:
    input:
        lambda wildcards: f"{config['data']['root']}/{wildcards.dataset}.npz",
    output:
        MORI2022.DECOUPLING_RUN,
    log:
        "logs/mori2022/decoupling/{dataset}/n~{n}/eta~{eta}/epochs~{epochs}/seed~{seed}.log",
    benchmark:
        "results/benchmarks/mori2022_decoupling/{dataset}/n~{n}/eta~{eta}/epochs~{epochs}/seed~{seed}.tsv"
    wildcard_constraints:
        dataset="|".join(MORI2022.DATASETS),
        n=r"\d+",
        epochs=r"\d+(-\d+)*",
    conda:
        ENV
    threads: 2
    resources:
        runtime=60,
        mem_mb=4000,
    params:
        spec=job_spec(MORI2022.DECOUPLING_RUN),
        curvlab=CURVLAB,
        device=config["device"],
    shell:
        "{params.curvlab} job mori2022-decoupling --spec {params.spec:q} --out {output:q}"
        " --threads {threads} --device {params.device:q} > {log:q} 2>&1"


rule mori2022_noise:
    input:
        lambda wildcards: f"{config['data']['root']}/{wildcards.dataset}.npz",
    output:
        MORI2022.NOISE_RUN,
    log:
        "logs/mori2022/noise/{net}/{dataset}/n~{n}/eta~{eta}/epochs~{epochs}/seed~{seed}.log",
    benchmark:
        "results/benchmarks/mori2022_noise/{net}/{dataset}/n~{n}/eta~{eta}/epochs~{epochs}/seed~{seed}.tsv"
    wildcard_constraints:
        net="|".join(MORI2022.NETS),
        dataset="|".join(MORI2022.DATASETS),
        n=r"\d+",
        epochs=r"\d+",
    conda:
        ENV
    threads: 2
    resources:
        runtime=120,
        mem_mb=4000,
    params:
        spec=job_spec(MORI2022.NOISE_RUN),
        curvlab=CURVLAB,
        device=config["device"],
    shell:
        "{params.curvlab} job mori2022-noise --spec {params.spec:q} --out {output:q}"
        " --threads {threads} --device {params.device:q} > {log:q} 2>&1"


rule mori2022_stationary:
    output:
        MORI2022.STATIONARY_RUN,
    log:
        "logs/mori2022/stationary/{sampling}/eta~{eta}/B~{batch}/iters~{iterations}/seed~{seed}.log",
    benchmark:
        "results/benchmarks/mori2022_stationary/{sampling}/eta~{eta}/B~{batch}/iters~{iterations}/seed~{seed}.tsv"
    wildcard_constraints:
        sampling="|".join(MORI2022.SAMPLINGS),
        batch=r"\d+",
        iterations=r"\d+",
    conda:
        ENV
    threads: 1
    resources:
        runtime=30,
        mem_mb=1500,
    params:
        spec=job_spec(MORI2022.STATIONARY_RUN),
        curvlab=CURVLAB,
    shell:
        "{params.curvlab} job mori2022-stationary --spec {params.spec:q} --out {output:q}"
        " --threads {threads} > {log:q} 2>&1"


rule mori2022_first_passage:
    output:
        MORI2022.FIRST_PASSAGE_RUN,
    log:
        "logs/mori2022/first_passage/{dynamics}/d~{dim}/eta~{eta}/B~{batch}/steps~{steps}/seed~{seed}.log",
    benchmark:
        "results/benchmarks/mori2022_first_passage/{dynamics}/d~{dim}/eta~{eta}/B~{batch}/steps~{steps}/seed~{seed}.tsv"
    wildcard_constraints:
        dynamics="|".join(MORI2022.DYNAMICS),
        dim=r"\d+",
        batch=r"\d+",
    conda:
        ENV
    threads: 1
    resources:
        runtime=60,
        mem_mb=2000,
    params:
        spec=job_spec(MORI2022.FIRST_PASSAGE_RUN),
        curvlab=CURVLAB,
    shell:
        "{params.curvlab} job mori2022-first-passage --spec {params.spec:q} --out {output:q}"
        " --threads {threads} > {log:q} 2>&1"


rule mori2022_aggregate:
    input:
        decoupling=job_paths("mori2022-decoupling"),
        noise=job_paths("mori2022-noise"),
        stationary=job_paths("mori2022-stationary"),
        first_passage=job_paths("mori2022-first-passage"),
    output:
        **MORI2022.TABLES,
    log:
        "logs/mori2022/aggregate.log",
    benchmark:
        "results/benchmarks/mori2022_aggregate.tsv"
    conda:
        ENV
    params:
        curvlab=CURVLAB,
    shell:
        "({params.curvlab} concat --schema mori2022.decoupling --out {output.decoupling:q}"
        " {input.decoupling:q}"
        " && {params.curvlab} concat --schema mori2022.noise --out {output.noise:q} {input.noise:q}"
        " && {params.curvlab} concat --schema mori2022.stationary --out {output.stationary:q}"
        " {input.stationary:q}"
        " && {params.curvlab} concat --schema mori2022.first_passage"
        " --out {output.first_passage:q} {input.first_passage:q}) > {log:q} 2>&1"


rule mori2022_figures:
    input:
        rules.mori2022_aggregate.output,
    output:
        figures=expand(
            "reports/figures/mori2022/{figure}.{ext}",
            figure=MORI2022.figures(config),
            ext=["png", "pdf"],
        ),
        manifest="reports/figures/mori2022/figures.json",
    log:
        "logs/mori2022/figures.log",
    benchmark:
        "results/benchmarks/mori2022_figures.tsv"
    conda:
        ENV
    params:
        curvlab=CURVLAB,
        scale=SCALE,
        outdir=output_dir,
    shell:
        "{params.curvlab} plot mori2022 --scale {params.scale:q} --outdir {params.outdir:q}"
        " {input:q} > {log:q} 2>&1"


rule mori2022_claims:
    input:
        rules.mori2022_aggregate.output,
    output:
        "results/mori2022/claims.parquet",
    log:
        "logs/mori2022/claims.log",
    benchmark:
        "results/benchmarks/mori2022_claims.tsv"
    conda:
        ENV
    params:
        curvlab=CURVLAB,
        scale=SCALE,
    shell:
        "{params.curvlab} claims mori2022 --scale {params.scale:q} --out {output:q} {input:q}"
        " > {log:q} 2>&1"


if "mori2022" in SELECTED:
    PAPER_OUTPUTS["mori2022"] = dict(
        claims=rules.mori2022_claims.output[0],
        figures=rules.mori2022_figures.output.figures,
        manifest=rules.mori2022_figures.output.manifest,
        tables=list(rules.mori2022_aggregate.output),
    )
