# What every paper does after its experiments, one pattern for all: concatenate its result
# files into one table per schema, draw its figures and judge its claims. The rules are named
# <paper>_aggregate, <paper>_figures and <paper>_claims (e.g. -R huh2020_claims).


for _paper in PAPERS:

    rule:
        name:
            f"{_paper}_aggregate"
        input:
            **aggregate_inputs(_paper),
        output:
            **PAPERS[_paper].aggregated(f"results/{_paper}"),
        log:
            f"logs/{_paper}/aggregate.log",
        benchmark:
            f"results/benchmarks/{_paper}_aggregate.tsv"
        conda:
            ENV
        params:
            curvlab=CURVLAB,
            paper=_paper,
            outdir=output_dir,
        shell:
            # Only params here: a shell string is evaluated again when the job runs, after
            # this loop has moved on, so it must not read the loop variable.
            "{params.curvlab} aggregate --outdir {params.outdir:q} {params.paper:q} {input:q}"
            " > {log:q} 2>&1"

    rule:
        name:
            f"{_paper}_figures"
        input:
            getattr(rules, f"{_paper}_aggregate").output,
        output:
            figures=figure_files(_paper, PAPERS[_paper].figures(config)),
            manifest=f"reports/figures/{_paper}/figures.json",
        log:
            f"logs/{_paper}/figures.log",
        benchmark:
            f"results/benchmarks/{_paper}_figures.tsv"
        conda:
            ENV
        params:
            curvlab=CURVLAB,
            paper=_paper,
            scale=SCALE,
            outdir=output_dir,
        shell:
            "{params.curvlab} plot {params.paper:q} --scale {params.scale:q}"
            " --outdir {params.outdir:q} {input:q} > {log:q} 2>&1"

    rule:
        name:
            f"{_paper}_claims"
        input:
            getattr(rules, f"{_paper}_aggregate").output,
        output:
            f"results/{_paper}/claims.parquet",
        log:
            f"logs/{_paper}/claims.log",
        benchmark:
            f"results/benchmarks/{_paper}_claims.tsv"
        conda:
            ENV
        params:
            curvlab=CURVLAB,
            paper=_paper,
            scale=SCALE,
        shell:
            "{params.curvlab} claims {params.paper:q} --scale {params.scale:q} --out {output:q}"
            " {input:q} > {log:q} 2>&1"

    if _paper in SELECTED:
        PAPER_OUTPUTS[_paper] = dict(
            claims=getattr(rules, f"{_paper}_claims").output[0],
            figures=getattr(rules, f"{_paper}_figures").output.figures,
            manifest=getattr(rules, f"{_paper}_figures").output.manifest,
            tables=list(getattr(rules, f"{_paper}_aggregate").output),
        )
