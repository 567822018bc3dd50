# Huh (ICML 2020): curvature-corrected learning dynamics in a deep linear teacher–student.
from curvlab.papers import huh2020 as HUH2020

# Every rule below takes these (Snakemake applies constraints per rule).
HUH2020_WILDCARDS = dict(
    run=HUH2020.RUN_NAME,
    seeds=r"\d+(-\d+)*",
)


rule huh2020_train:
    output:
        HUH2020.RUN,
    log:
        "logs/huh2020/{run}/eta~{eta}/horizon~{horizon}/seeds~{seeds}.log",
    benchmark:
        "results/benchmarks/huh2020_train/{run}/eta~{eta}/horizon~{horizon}/seeds~{seeds}.tsv"
    wildcard_constraints:
        **HUH2020_WILDCARDS,
    conda:
        ENV
    threads: 1
    resources:
        runtime=30,
        mem_mb=1000,
    params:
        spec=job_spec(HUH2020.RUN),
        curvlab=CURVLAB,
    shell:
        "{params.curvlab} job huh2020-train --spec {params.spec:q} --out {output:q}"
        " --threads {threads} > {log:q} 2>&1"


rule huh2020_modes:
    output:
        HUH2020.MODES_RUN,
    log:
        "logs/huh2020/modes/eta~{eta}/seeds~{seeds}.log",
    benchmark:
        "results/benchmarks/huh2020_modes/eta~{eta}/seeds~{seeds}.tsv"
    wildcard_constraints:
        **HUH2020_WILDCARDS,
    conda:
        ENV
    threads: 1
    resources:
        runtime=30,
        mem_mb=1000,
    params:
        spec=job_spec(HUH2020.MODES_RUN),
        curvlab=CURVLAB,
    shell:
        "{params.curvlab} job huh2020-modes --spec {params.spec:q} --out {output:q}"
        " --threads {threads} > {log:q} 2>&1"
