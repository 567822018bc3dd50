"""The command line the rules call: determinism of jobs, one-line errors."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pandas as pd

from curvlab.io import read_table
from curvlab.papers.du2018 import DU2018_NETWORK

SPEC = {
    "experiment": "network",
    "init": "unbalanced",
    "init_sq_norms": [10, 1, 0.1],
    "input_dim": 12,
    "hidden_dims": [6, 6],
    "output_dim": 2,
    "n_samples": 30,
    "target": "relu",
    "eta": 0.2,
    "steps": 150,
    "seed": 4,
    "log_every": 1,
    "neuron_every": 50,
}


def curvlab(*args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "MPLCONFIGDIR": os.environ.get("MPLCONFIGDIR", "/tmp/curvlab-mpl")}
    return subprocess.run(
        [sys.executable, "-m", "curvlab", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )


def test_same_spec_and_seed_give_identical_parquet_data(tmp_path):
    outputs = []
    for name in ("a", "b"):
        out = tmp_path / f"{name}.parquet"
        result = curvlab(
            "job",
            "du2018-network",
            "--spec",
            json.dumps(SPEC),
            "--out",
            str(out),
            "--device",
            "cpu",
        )
        assert result.returncode == 0, result.stderr
        assert "wrote" in result.stderr  # progress and summary go to the job log
        outputs.append(read_table(out, DU2018_NETWORK))
    pd.testing.assert_frame_equal(outputs[0], outputs[1])
    assert outputs[0].attrs["provenance"]["config"]["seed"] == 4


def test_a_bad_spec_gives_one_clear_line_and_no_output(tmp_path):
    out = tmp_path / "x.parquet"
    result = curvlab(
        "job",
        "du2018-network",
        "--spec",
        json.dumps({**SPEC, "init_sq_norms": [1]}),
        "--out",
        str(out),
    )
    assert result.returncode == 1
    assert (
        result.stderr.strip()
        .splitlines()[-1]
        .startswith("curvlab job: error: du2018-network: init_sq_norms has 1 entries for 3 layers")
    )
    assert not out.exists()


def test_help_lists_the_workflow_commands():
    result = curvlab("--help")
    for command in ("job", "concat", "plot", "claims", "report", "manifest", "data"):
        assert command in result.stdout


def error_line(result: subprocess.CompletedProcess) -> str:
    """The whole of stderr for a user mistake: one line, no traceback."""
    assert result.returncode != 0
    assert "Traceback" not in result.stderr, result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    return lines[0]


def test_concat_of_an_unknown_schema_names_the_known_ones(tmp_path):
    out = tmp_path / "x.parquet"
    result = curvlab("concat", "--schema", "du2018.netwrok", "--out", str(out), str(out))
    line = error_line(result)
    assert line.startswith("curvlab concat: error: unknown table schema 'du2018.netwrok'; known: ")
    assert "claims" in line and "du2018.network" in line
    assert not out.exists()


def test_claims_of_a_table_with_an_unknown_schema_give_one_line(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    table = tmp_path / "odd.parquet"
    pq.write_table(
        pa.table({"x": [1]}).replace_schema_metadata({"curvlab.schema": "du2018.odd"}), table
    )
    result = curvlab(
        "claims", "du2018", "--scale", "ci", "--out", str(tmp_path / "c.parquet"), str(table)
    )
    assert error_line(result).startswith("curvlab claims: error: unknown table schema 'du2018.odd'")


def test_concat_without_inputs_is_refused(tmp_path):
    """A forgotten input list is a mistake; the empty table of a study switched off comes from
    `curvlab aggregate` (tested below)."""
    out = tmp_path / "x.parquet"
    result = curvlab("concat", "--schema", "du2018.network", "--out", str(out))
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert result.stderr.splitlines()[-1].endswith("the following arguments are required: inputs")
    assert not out.exists()


def _empty_table(path, schema):
    from curvlab.io import write_table

    write_table(schema.empty(), path, schema, {})


def _report_inputs(tmp_path) -> list[str]:
    """Claims (an empty table) and one paper's manifest without figures: enough for a page."""
    claims = tmp_path / "claims.parquet"
    from curvlab.tables import CLAIMS

    _empty_table(claims, CLAIMS)
    manifest = tmp_path / "figures.json"
    manifest.write_text(json.dumps({"paper": "du2018", "title": "Du", "figures": []}))
    return ["--claims", str(claims), "--out", str(tmp_path / "index.html"), str(manifest)]


def test_report_reads_the_config_from_a_file(tmp_path):
    """The config goes in a file: as one argument it would hit Linux's 128 KiB cap."""
    from curvlab.io import config_hash

    config = {"preset": "ci", "padding": "x" * 200_000}
    path = tmp_path / "config.json"
    path.write_text(json.dumps(config))
    result = curvlab("report", "--config-file", str(path), *_report_inputs(tmp_path))
    assert result.returncode == 0, result.stderr
    page = (tmp_path / "index.html").read_text()
    assert f"config {config_hash(config)} (preset ci)" in page


def test_report_config_file_that_is_not_json_gives_one_line(tmp_path):
    path = tmp_path / "config.json"
    path.write_text("preset: ci\n")
    result = curvlab("report", "--config-file", str(path), *_report_inputs(tmp_path))
    assert error_line(result).startswith(f"curvlab report: error: {path}: not a JSON object")


def test_check_config_names_the_file_and_line_snakemake_cannot(tmp_path):
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    schema = os.path.join(root, "workflow", "schemas", "config.schema.yaml")
    base = os.path.join(root, "config.yaml")
    good = curvlab(
        "check-config", base, os.path.join(root, "presets", "ci.yaml"), "--schema", schema
    )
    assert good.returncode == 0 and "valid; preset ci" in good.stdout
    broken = tmp_path / "overlay.yaml"
    broken.write_text("du2018:\n  network: {steps: 3\n")
    line = error_line(curvlab("check-config", base, str(broken), "--schema", schema))
    assert line.startswith(
        f"curvlab check-config: error: {broken}, line 3, column 1: not valid YAML"
    )
    broken.write_text("# all commented out\n")
    assert "empty or holds only comments" in error_line(
        curvlab("check-config", base, str(broken), "--schema", schema)
    )


def test_aggregate_groups_a_papers_tables_by_their_schema_and_refuses_others(tmp_path):
    """`curvlab aggregate` (the <paper>_aggregate rules): every input goes to the table its
    metadata names, in the order given; a table the paper lacks has an empty file; an input of
    another paper is refused in one line."""
    from curvlab.papers.du2018 import DU2018_FACTORIZATION

    rows = [
        curvlab("job", "du2018-network", "--spec", json.dumps({**SPEC, "seed": s}), "--out",
                str(tmp_path / f"n{s}.parquet"), "--device", "cpu")
        for s in (5, 4)
    ]  # fmt: skip
    assert all(r.returncode == 0 for r in rows), rows[0].stderr
    inputs = [str(tmp_path / "n5.parquet"), str(tmp_path / "n4.parquet")]
    result = curvlab("aggregate", "--outdir", str(tmp_path / "agg"), "du2018", *inputs)
    assert result.returncode == 0, result.stderr
    network = read_table(tmp_path / "agg" / "network.parquet", DU2018_NETWORK)
    assert network["seed"].unique().tolist() == [5, 4]
    assert read_table(tmp_path / "agg" / "factorization.parquet", DU2018_FACTORIZATION).empty

    foreign = tmp_path / "huh.parquet"
    from curvlab.papers.huh2020 import HUH2020_MODES

    _empty_table(foreign, HUH2020_MODES)
    result = curvlab("aggregate", "--outdir", str(tmp_path / "x"), "du2018", str(foreign))
    assert error_line(result).startswith(
        f"curvlab aggregate: error: {foreign}: holds table 'huh2020.modes', not one of du2018's"
    )
