# Toy (2026): the throw-away test plug-in's one experiment rule.
from curvlab.papers import toy as TOY


rule toy_draws:
    output:
        TOY.RUN,
    log:
        "logs/toy/draws/n~{n}/seed~{seed}.log",
    wildcard_constraints:
        n=r"\d+",
        seed=r"\d+",
    params:
        spec=job_spec(TOY.RUN),
        curvlab=CURVLAB,
    shell:
        "{params.curvlab} job toy-draws --spec {params.spec:q} --out {output:q} > {log:q} 2>&1"
