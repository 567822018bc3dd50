# Mori, Ziyin, Liu & Ueda (ICML 2022): decoupling, noise strength, stationary exponent, escape.
from curvlab.papers import mori2022 as MORI2022


rule mori2022_decoupling:
    input:
        dataset_input,
    output:
        MORI2022.DECOUPLING_RUN,
    log:
        "logs/mori2022/decoupling/{dataset}/n~{n}/eta~{eta}/epochs~{epochs}/seed~{seed}.log",
    benchmark:
        "results/benchmarks/mori2022_decoupling/{dataset}/n~{n}/eta~{eta}/epochs~{epochs}/seed~{seed}.tsv"
    wildcard_constraints:
        dataset=DATASET_PATTERN,
        n=r"\d+",
        epochs=r"\d+(-\d+)*",
        seed=r"\d+",
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
        dataset_input,
    output:
        MORI2022.NOISE_RUN,
    log:
        "logs/mori2022/noise/{net}/{dataset}/n~{n}/eta~{eta}/epochs~{epochs}/seed~{seed}.log",
    benchmark:
        "results/benchmarks/mori2022_noise/{net}/{dataset}/n~{n}/eta~{eta}/epochs~{epochs}/seed~{seed}.tsv"
    wildcard_constraints:
        net="|".join(MORI2022.NETS),
        dataset=DATASET_PATTERN,
        n=r"\d+",
        epochs=r"\d+",
        seed=r"\d+",
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
        seed=r"\d+",
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
        steps=r"\d+",
        seed=r"\d+",
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
