# Huh (ICML 2020): curvature-corrected learning dynamics in a deep linear teacher–student.
from curvlab.papers import huh2020 as HUH2020


wildcard_constraints:
    run=HUH2020.RUN_NAME,
    seeds=r"\d+(-\d+)*",


rule huh2020_train:
    output:
        HUH2020.RUN,
    log:
        "logs/huh2020/{run}/eta~{eta}/horizon~{horizon}/seeds~{seeds}.log",
    benchmark:
        "results/benchmarks/huh2020_train/{run}/eta~{eta}/horizon~{horizon}/seeds~{seeds}.tsv"
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


rule huh2020_aggregate:
    input:
        train=job_paths("huh2020-train"),
        modes=job_paths("huh2020-modes"),
    output:
        train="results/huh2020/train.parquet",
        modes="results/huh2020/modes.parquet",
    log:
        "logs/huh2020/aggregate.log",
    benchmark:
        "results/benchmarks/huh2020_aggregate.tsv"
    conda:
        ENV
    params:
        curvlab=CURVLAB,
    shell:
        "({params.curvlab} concat --schema huh2020.train --out {output.train:q} {input.train:q}"
        " && {params.curvlab} concat --schema huh2020.modes --out {output.modes:q}"
        " {input.modes:q}) > {log:q} 2>&1"


rule huh2020_figures:
    input:
        rules.huh2020_aggregate.output,
    output:
        figures=figure_files("huh2020", HUH2020.figures(config)),
        manifest="reports/figures/huh2020/figures.json",
    log:
        "logs/huh2020/figures.log",
    benchmark:
        "results/benchmarks/huh2020_figures.tsv"
    conda:
        ENV
    params:
        curvlab=CURVLAB,
        scale=SCALE,
        outdir=output_dir,
    shell:
        "{params.curvlab} plot huh2020 --scale {params.scale:q} --outdir {params.outdir:q}"
        " {input:q} > {log:q} 2>&1"


rule huh2020_claims:
    input:
        rules.huh2020_aggregate.output,
    output:
        "results/huh2020/claims.parquet",
    log:
        "logs/huh2020/claims.log",
    benchmark:
        "results/benchmarks/huh2020_claims.tsv"
    conda:
        ENV
    params:
        curvlab=CURVLAB,
        scale=SCALE,
    shell:
        "{params.curvlab} claims huh2020 --scale {params.scale:q} --out {output:q} {input:q}"
        " > {log:q} 2>&1"


if "huh2020" in SELECTED:
    PAPER_OUTPUTS["huh2020"] = dict(
        claims=rules.huh2020_claims.output[0],
        figures=rules.huh2020_figures.output.figures,
        manifest=rules.huh2020_figures.output.manifest,
        tables=list(rules.huh2020_aggregate.output),
    )
