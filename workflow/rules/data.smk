# Datasets: original archives (prepared → mirror → download, MD5-checked) to cached arrays.


rule prepare_dataset:
    output:
        f"{config['data']['root']}/{{dataset}}.npz",
    log:
        "logs/data/{dataset}.log",
    benchmark:
        "results/benchmarks/prepare_dataset/{dataset}.tsv"
    wildcard_constraints:
        dataset=DATASET_PATTERN,
    conda:
        ENV
    params:
        curvlab=CURVLAB,
        root=output_dir,
        # A shell fragment, so the value is quoted here: a mirror path may hold spaces, ";" or "#".
        mirror=(
            f"--mirror {shlex.quote(config['data']['mirror'])}"
            if config["data"]["mirror"]
            else ""
        ),
        download="" if config["data"]["download"] else "--no-download",
    shell:
        "{params.curvlab} data prepare {wildcards.dataset:q} --root {params.root:q}"
        " {params.mirror} {params.download} > {log:q} 2>&1"
