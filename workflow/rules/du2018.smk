# Du, Hu & Lee (NeurIPS 2018): GD on homogeneous ReLU networks and matrix factorization.
from curvlab.papers import du2018 as DU2018


wildcard_constraints:
    experiment="|".join(DU2018.EXPERIMENTS),
    study="|".join(DU2018.STUDIES),
    init=r"balanced|unbalanced|small",
    seed=r"\d+",
    steps=r"\d+",


rule du2018_network:
    output:
        DU2018.NETWORK_RUN,
    log:
        "logs/du2018/{experiment}/init~{init}/eta~{eta}/steps~{steps}/seed~{seed}.log",
    benchmark:
        "results/benchmarks/du2018_network/{experiment}/init~{init}/eta~{eta}/steps~{steps}/seed~{seed}.tsv"
    conda:
        ENV
    threads: 1
    resources:
        runtime=60,
        mem_mb=2000,
        gpu=GPU,
    params:
        spec=job_spec(DU2018.NETWORK_RUN),
        curvlab=CURVLAB,
        device=config["device"],
    shell:
        "{params.curvlab} job du2018-network --spec {params.spec:q} --out {output:q}"
        " --threads {threads} --device {params.device:q} > {log:q} 2>&1"


rule du2018_factorization:
    output:
        DU2018.FACTORIZATION_RUN,
    log:
        "logs/du2018/factorization/{study}/init~{init}/eta0~{eta0}/steps~{steps}/seed~{seed}.log",
    benchmark:
        "results/benchmarks/du2018_factorization/{study}/init~{init}/eta0~{eta0}/steps~{steps}/seed~{seed}.tsv"
    conda:
        ENV
    threads: 1
    resources:
        runtime=30,
        mem_mb=1000,
    params:
        spec=job_spec(DU2018.FACTORIZATION_RUN),
        curvlab=CURVLAB,
    shell:
        "{params.curvlab} job du2018-factorization --spec {params.spec:q} --out {output:q}"
        " --threads {threads} > {log:q} 2>&1"


rule du2018_aggregate:
    input:
        network=job_paths("du2018-network"),
        factorization=job_paths("du2018-factorization"),
    output:
        network="results/du2018/network.parquet",
        factorization="results/du2018/factorization.parquet",
    log:
        "logs/du2018/aggregate.log",
    benchmark:
        "results/benchmarks/du2018_aggregate.tsv"
    conda:
        ENV
    params:
        curvlab=CURVLAB,
    shell:
        "({params.curvlab} concat --schema du2018.network --out {output.network:q} {input.network:q}"
        " && {params.curvlab} concat --schema du2018.factorization --out {output.factorization:q}"
        " {input.factorization:q}) > {log:q} 2>&1"


rule du2018_figures:
    input:
        rules.du2018_aggregate.output,
    output:
        figures=figure_files("du2018", DU2018.figures(config)),
        manifest="reports/figures/du2018/figures.json",
    log:
        "logs/du2018/figures.log",
    benchmark:
        "results/benchmarks/du2018_figures.tsv"
    conda:
        ENV
    params:
        curvlab=CURVLAB,
        scale=SCALE,
        outdir=output_dir,
    shell:
        "{params.curvlab} plot du2018 --scale {params.scale:q} --outdir {params.outdir:q}"
        " {input:q} > {log:q} 2>&1"


rule du2018_claims:
    input:
        rules.du2018_aggregate.output,
    output:
        "results/du2018/claims.parquet",
    log:
        "logs/du2018/claims.log",
    benchmark:
        "results/benchmarks/du2018_claims.tsv"
    conda:
        ENV
    params:
        curvlab=CURVLAB,
        scale=SCALE,
    shell:
        "{params.curvlab} claims du2018 --scale {params.scale:q} --out {output:q} {input:q}"
        " > {log:q} 2>&1"


if "du2018" in SELECTED:
    PAPER_OUTPUTS["du2018"] = dict(
        claims=rules.du2018_claims.output[0],
        figures=rules.du2018_figures.output.figures,
        manifest=rules.du2018_figures.output.manifest,
        tables=list(rules.du2018_aggregate.output),
    )
