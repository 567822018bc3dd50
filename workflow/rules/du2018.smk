# Du, Hu & Lee (NeurIPS 2018): GD on homogeneous ReLU networks and matrix factorization.
from curvlab.papers import du2018 as DU2018

# Every rule below takes these (Snakemake applies constraints per rule).
DU2018_WILDCARDS = dict(
    experiment="|".join(DU2018.EXPERIMENTS),
    study="|".join(DU2018.STUDIES),
    init=r"balanced|unbalanced|small",
    seed=r"\d+",
    steps=r"\d+",
)


rule du2018_network:
    output:
        DU2018.NETWORK_RUN,
    log:
        "logs/du2018/{experiment}/init~{init}/eta~{eta}/steps~{steps}/seed~{seed}.log",
    benchmark:
        "results/benchmarks/du2018_network/{experiment}/init~{init}/eta~{eta}/steps~{steps}/seed~{seed}.tsv"
    wildcard_constraints:
        **DU2018_WILDCARDS,
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
    wildcard_constraints:
        **DU2018_WILDCARDS,
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
