# Claims table, HTML report and the reports/all manifest over every paper.

PAPER_CLAIMS = [paper["claims"] for paper in PAPER_OUTPUTS.values()]
PAPER_MANIFESTS = [paper["manifest"] for paper in PAPER_OUTPUTS.values()]
PAPER_FIGURES = [f for paper in PAPER_OUTPUTS.values() for f in paper["figures"]]
RESULT_TABLES = [t for paper in PAPER_OUTPUTS.values() for t in paper["tables"]]
# Each paper's documentation page: what its claims state and how their tolerances were set.
# From the workflow's own checkout, so that a run in another --directory finds them.
PAPER_DOCS = [
    str(Path(workflow.basedir) / "docs" / "papers" / f"{paper}.md")
    for paper in PAPER_OUTPUTS
]


rule claims:
    input:
        PAPER_CLAIMS,
    output:
        parquet="reports/claims.parquet",
        markdown="reports/claims.md",
    log:
        "logs/report/claims.log",
    conda:
        ENV
    params:
        curvlab=CURVLAB,
    shell:
        "{params.curvlab} claims-merge --parquet {output.parquet:q} --markdown {output.markdown:q}"
        " {input:q} > {log:q} 2>&1"


# The resolved config goes to the report as a file: as one command-line argument it would hit
# Linux's 128 KiB cap on a single argument. Written in Python (no shell, no conda env needed);
# the params entry is tracked, so a changed config rewrites it and thus reruns the report.
localrules:
    report_config,


rule report_config:
    output:
        config="reports/config.json",
    log:
        "logs/report/config.log",
    params:
        config=json.dumps(config, sort_keys=True, indent=2),
    run:
        from curvlab.io import write_text_atomic

        write_text_atomic(output.config, f"{params.config}\n")


rule html_report:
    input:
        config=rules.report_config.output.config,
        claims=rules.claims.output.parquet,
        manifests=PAPER_MANIFESTS,
        figures=PAPER_FIGURES,
        tables=RESULT_TABLES,
        docs=PAPER_DOCS,
    output:
        html="reports/index.html",
        runtime="reports/runtime.parquet",
        docs=[f"reports/docs/{paper}.html" for paper in PAPER_OUTPUTS],
    log:
        "logs/report/index.log",
    conda:
        ENV
    params:
        curvlab=CURVLAB,
    shell:
        "{params.curvlab} report --claims {input.claims:q} --out {output.html:q}"
        " --config-file {input.config:q} --tables {input.tables:q}"
        " --benchmarks results/benchmarks --runtime-out {output.runtime:q}"
        " --docs {input.docs:q} -- {input.manifests:q}"
        " > {log:q} 2>&1"


rule deliverables:
    input:
        rules.claims.output,
        rules.html_report.output,
        PAPER_FIGURES,
    output:
        "reports/all",
    log:
        "logs/report/all.log",
    conda:
        ENV
    params:
        curvlab=CURVLAB,
    shell:
        "{params.curvlab} manifest --out {output:q} {input:q} > {log:q} 2>&1"
