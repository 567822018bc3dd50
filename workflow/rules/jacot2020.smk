# Jacot, Gabriel & Hongler (ICLR 2020): moments of the Hessian through training vs Corollary 1.
from curvlab.papers import jacot2020 as JACOT2020


wildcard_constraints:
    nonlinearity="|".join(JACOT2020.NONLINEARITIES),
    n=r"\d+",
    width=r"\d+",
    seeds=r"\d+-\d+",
    seed=r"\d+",


rule jacot2020_kernels:
    input:
        JACOT2020.dataset_file(config),
    output:
        JACOT2020.KERNELS_RUN,
    log:
        "logs/jacot2020/kernels/{nonlinearity}/N~{n}.log",
    benchmark:
        "results/benchmarks/jacot2020_kernels/{nonlinearity}/N~{n}.tsv"
    conda:
        ENV
    threads: 1
    resources:
        runtime=30,
        mem_mb=2000,
    params:
        spec=job_spec(JACOT2020.KERNELS_RUN),
        curvlab=CURVLAB,
    shell:
        "{params.curvlab} job jacot2020-kernels --spec {params.spec:q} --out {output:q}"
        " --threads {threads} > {log:q} 2>&1"


rule jacot2020_lambda:
    input:
        JACOT2020.dataset_file(config),
    output:
        JACOT2020.LAMBDA_RUN,
    log:
        "logs/jacot2020/lambda/{nonlinearity}/N~{n}/width~{width}/seeds~{seeds}.log",
    benchmark:
        "results/benchmarks/jacot2020_lambda/{nonlinearity}/N~{n}/width~{width}/seeds~{seeds}.tsv"
    conda:
        ENV
    threads: 1
    resources:
        runtime=120,
        mem_mb=4000,
        gpu=GPU,
    params:
        spec=job_spec(JACOT2020.LAMBDA_RUN),
        curvlab=CURVLAB,
        device=config["device"],
    shell:
        "{params.curvlab} job jacot2020-lambda --spec {params.spec:q} --out {output:q}"
        " --threads {threads} --device {params.device:q} > {log:q} 2>&1"


rule jacot2020_init:
    input:
        data=JACOT2020.dataset_file(config),
        kernels=JACOT2020.spec_value(JOBS, JACOT2020.INIT_RUN, "kernels_path"),
    output:
        JACOT2020.INIT_RUN,
    log:
        "logs/jacot2020/init/{nonlinearity}/N~{n}/width~{width}/seeds~{seeds}.log",
    benchmark:
        "results/benchmarks/jacot2020_init/{nonlinearity}/N~{n}/width~{width}/seeds~{seeds}.tsv"
    conda:
        ENV
    threads: 1
    resources:
        runtime=120,
        mem_mb=4000,
        gpu=GPU,
    params:
        spec=job_spec(JACOT2020.INIT_RUN),
        curvlab=CURVLAB,
        device=config["device"],
    shell:
        "{params.curvlab} job jacot2020-init --spec {params.spec:q} --out {output:q}"
        " --threads {threads} --device {params.device:q} > {log:q} 2>&1"


rule jacot2020_trial:
    input:
        JACOT2020.dataset_file(config),
    output:
        JACOT2020.TRIAL_RUN,
    log:
        "logs/jacot2020/trial/{nonlinearity}/N~{n}/width~{width}/eta~{eta}/seeds~{seeds}.log",
    benchmark:
        "results/benchmarks/jacot2020_trial/{nonlinearity}/N~{n}/width~{width}/eta~{eta}/seeds~{seeds}.tsv"
    conda:
        ENV
    threads: 1
    resources:
        runtime=240,
        mem_mb=4000,
        gpu=GPU,
    params:
        spec=job_spec(JACOT2020.TRIAL_RUN),
        curvlab=CURVLAB,
        device=config["device"],
    shell:
        "{params.curvlab} job jacot2020-trial --spec {params.spec:q} --out {output:q}"
        " --threads {threads} --device {params.device:q} > {log:q} 2>&1"


rule jacot2020_rayleigh:
    input:
        JACOT2020.dataset_file(config),
    output:
        JACOT2020.RAYLEIGH_RUN,
    log:
        "logs/jacot2020/rayleigh/{nonlinearity}/N~{n}/width~{width}/seed~{seed}.log",
    benchmark:
        "results/benchmarks/jacot2020_rayleigh/{nonlinearity}/N~{n}/width~{width}/seed~{seed}.tsv"
    conda:
        ENV
    threads: 1
    resources:
        runtime=60,
        mem_mb=6000,
        gpu=GPU,
    params:
        spec=job_spec(JACOT2020.RAYLEIGH_RUN),
        curvlab=CURVLAB,
        device=config["device"],
    shell:
        "{params.curvlab} job jacot2020-rayleigh --spec {params.spec:q} --out {output:q}"
        " --threads {threads} --device {params.device:q} > {log:q} 2>&1"


rule jacot2020_surface:
    output:
        JACOT2020.SURFACE_RUN,
    log:
        "logs/jacot2020/surface/{nonlinearity}/width~{width}/seed~{seed}.log",
    benchmark:
        "results/benchmarks/jacot2020_surface/{nonlinearity}/width~{width}/seed~{seed}.tsv"
    conda:
        ENV
    threads: 1
    resources:
        runtime=60,
        mem_mb=6000,
        gpu=GPU,
    params:
        spec=job_spec(JACOT2020.SURFACE_RUN),
        curvlab=CURVLAB,
        device=config["device"],
    shell:
        "{params.curvlab} job jacot2020-surface --spec {params.spec:q} --out {output:q}"
        " --threads {threads} --device {params.device:q} > {log:q} 2>&1"


rule jacot2020_aggregate:
    input:
        kernels=job_paths("jacot2020-kernels") + job_paths("jacot2020-lambda"),
        init=job_paths("jacot2020-init"),
        trial=job_paths("jacot2020-trial"),
        rayleigh=job_paths("jacot2020-rayleigh"),
        surface=job_paths("jacot2020-surface"),
    output:
        kernels="results/jacot2020/kernels.parquet",
        init="results/jacot2020/init.parquet",
        trial="results/jacot2020/trial.parquet",
        rayleigh="results/jacot2020/rayleigh.parquet",
        surface="results/jacot2020/surface.parquet",
    log:
        "logs/jacot2020/aggregate.log",
    benchmark:
        "results/benchmarks/jacot2020_aggregate.tsv"
    conda:
        ENV
    params:
        curvlab=CURVLAB,
    shell:
        "({params.curvlab} concat --schema jacot2020.kernels --out {output.kernels:q}"
        " {input.kernels:q}"
        " && {params.curvlab} concat --schema jacot2020.init --out {output.init:q} {input.init:q}"
        " && {params.curvlab} concat --schema jacot2020.trial --out {output.trial:q}"
        " {input.trial:q}"
        " && {params.curvlab} concat --schema jacot2020.rayleigh --out {output.rayleigh:q}"
        " {input.rayleigh:q}"
        " && {params.curvlab} concat --schema jacot2020.surface --out {output.surface:q}"
        " {input.surface:q}) > {log:q} 2>&1"


rule jacot2020_figures:
    input:
        rules.jacot2020_aggregate.output,
    output:
        figures=figure_files("jacot2020", JACOT2020.figures(config)),
        manifest="reports/figures/jacot2020/figures.json",
    log:
        "logs/jacot2020/figures.log",
    benchmark:
        "results/benchmarks/jacot2020_figures.tsv"
    conda:
        ENV
    params:
        curvlab=CURVLAB,
        scale=SCALE,
        outdir=output_dir,
    shell:
        "{params.curvlab} plot jacot2020 --scale {params.scale:q} --outdir {params.outdir:q}"
        " {input:q} > {log:q} 2>&1"


rule jacot2020_claims:
    input:
        rules.jacot2020_aggregate.output,
    output:
        "results/jacot2020/claims.parquet",
    log:
        "logs/jacot2020/claims.log",
    benchmark:
        "results/benchmarks/jacot2020_claims.tsv"
    conda:
        ENV
    params:
        curvlab=CURVLAB,
        scale=SCALE,
    shell:
        "{params.curvlab} claims jacot2020 --scale {params.scale:q} --out {output:q} {input:q}"
        " > {log:q} 2>&1"


if "jacot2020" in SELECTED:
    PAPER_OUTPUTS["jacot2020"] = dict(
        claims=rules.jacot2020_claims.output[0],
        figures=rules.jacot2020_figures.output.figures,
        manifest=rules.jacot2020_figures.output.manifest,
        tables=list(rules.jacot2020_aggregate.output),
    )
