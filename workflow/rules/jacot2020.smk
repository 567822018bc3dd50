# Jacot, Gabriel & Hongler (ICLR 2020): moments of the Hessian through training vs Corollary 1.
from curvlab.papers import jacot2020 as JACOT2020

# Every rule below takes these (Snakemake applies constraints per rule).
JACOT2020_WILDCARDS = dict(
    nonlinearity="|".join(JACOT2020.NONLINEARITIES),
    n=r"\d+",
    width=r"\d+",
    seeds=r"\d+-\d+",
    seed=r"\d+",
)


rule jacot2020_kernels:
    input:
        data_file("mnist"),
    output:
        JACOT2020.KERNELS_RUN,
    log:
        "logs/jacot2020/kernels/{nonlinearity}/N~{n}.log",
    benchmark:
        "results/benchmarks/jacot2020_kernels/{nonlinearity}/N~{n}.tsv"
    wildcard_constraints:
        **JACOT2020_WILDCARDS,
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
        data_file("mnist"),
    output:
        JACOT2020.LAMBDA_RUN,
    log:
        "logs/jacot2020/lambda/{nonlinearity}/N~{n}/width~{width}/seeds~{seeds}.log",
    benchmark:
        "results/benchmarks/jacot2020_lambda/{nonlinearity}/N~{n}/width~{width}/seeds~{seeds}.tsv"
    wildcard_constraints:
        **JACOT2020_WILDCARDS,
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
        data=data_file("mnist"),
        kernels=spec_value(JACOT2020.INIT_RUN, "kernels_path"),
    output:
        JACOT2020.INIT_RUN,
    log:
        "logs/jacot2020/init/{nonlinearity}/N~{n}/width~{width}/seeds~{seeds}.log",
    benchmark:
        "results/benchmarks/jacot2020_init/{nonlinearity}/N~{n}/width~{width}/seeds~{seeds}.tsv"
    wildcard_constraints:
        **JACOT2020_WILDCARDS,
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
        data_file("mnist"),
    output:
        JACOT2020.TRIAL_RUN,
    log:
        "logs/jacot2020/trial/{nonlinearity}/N~{n}/width~{width}/eta~{eta}/seeds~{seeds}.log",
    benchmark:
        "results/benchmarks/jacot2020_trial/{nonlinearity}/N~{n}/width~{width}/eta~{eta}/seeds~{seeds}.tsv"
    wildcard_constraints:
        **JACOT2020_WILDCARDS,
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
        data_file("mnist"),
    output:
        JACOT2020.RAYLEIGH_RUN,
    log:
        "logs/jacot2020/rayleigh/{nonlinearity}/N~{n}/width~{width}/seed~{seed}.log",
    benchmark:
        "results/benchmarks/jacot2020_rayleigh/{nonlinearity}/N~{n}/width~{width}/seed~{seed}.tsv"
    wildcard_constraints:
        **JACOT2020_WILDCARDS,
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
    wildcard_constraints:
        **JACOT2020_WILDCARDS,
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
