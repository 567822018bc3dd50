"""Config schema: defaults, presets, and errors that name the key and what is allowed."""

from __future__ import annotations

from pathlib import Path

import pytest

from curvlab.config import ConfigError, load_config, load_schema, merge, validate_config

ROOT = Path(__file__).resolve().parents[1]
SCHEMA = ROOT / "workflow" / "schemas" / "config.schema.yaml"


def test_config_yaml_equals_the_schema_defaults():
    """config.yaml documents the defaults: validating {} must give the same config."""
    assert load_config([ROOT / "config.yaml"], SCHEMA) == validate_config({}, SCHEMA)


@pytest.mark.parametrize("preset", ["ci", "paper", "offline"])
def test_presets_overlay_and_validate(preset):
    config = load_config([ROOT / "config.yaml", ROOT / "presets" / f"{preset}.yaml"], SCHEMA)
    assert config["preset"] == preset


def _properties(node, path=""):
    """Every configurable key: (dotted path, schema node), following properties only."""
    for name, sub in node.get("properties", {}).items():
        yield f"{path}{name}", sub
        yield from _properties(sub, f"{path}{name}.")


def test_every_key_has_a_description_and_a_default():
    schema = load_schema(SCHEMA)
    defs = schema["$defs"]
    missing = []
    for path, node in _properties(schema):
        resolved = {**defs[node["$ref"].rsplit("/", 1)[1]], **node} if "$ref" in node else node
        if "description" not in resolved:
            missing.append(f"{path}: description")
        if "default" not in resolved:
            missing.append(f"{path}: default")
    assert not missing, missing


@pytest.mark.parametrize(
    ("overlay", "expected"),
    [
        (
            {"du2018": {"network": {"steps": "many"}}},
            r"du2018\.network\.steps: got 'many'; allowed: integer >= 1",
        ),
        (
            {"du2018": {"network": {"stepz": 3}}},
            r"du2018\.network: unknown key\(s\) 'stepz'; allowed keys are etas, inits",
        ),
        (
            {"du2018": {"network": {"etas": [0.2, -1]}}},
            r"du2018\.network\.etas\[1\]: got -1; allowed: number > 0",
        ),
        ({"device": "tpu"}, r"device: got 'tpu'; allowed: string matching"),
        (
            {"preset": "huge"},
            r"preset: got 'huge'; allowed: one of 'default', 'ci', 'paper', 'offline', 'custom'",
        ),
        (
            {"du2018": {"network": {"inits": ["warm"]}}},
            r"inits\[0\]: got 'warm'; allowed: one of 'balanced', 'unbalanced'",
        ),
    ],
)
def test_bad_values_are_named_with_what_is_allowed(overlay, expected):
    base = load_config([ROOT / "config.yaml"], SCHEMA)
    with pytest.raises(ConfigError, match=expected) as err:
        validate_config(merge(base, overlay), SCHEMA)
    assert "Fix these keys in config.yaml" in str(err.value)


def test_all_problems_are_reported_at_once():
    with pytest.raises(ConfigError, match=r"2 problem\(s\)"):
        validate_config({"device": "tpu", "du2018": {"network": {"steps": 0}}}, SCHEMA)


@pytest.mark.parametrize(
    ("overlay", "expected"),
    [
        (
            {"du2018": {"network": {"steps": 3000.0}}},
            r"du2018\.network\.steps: got 3000\.0; allowed: integer >= 1\..*Write 3000, not 3000\.0",
        ),
        (
            {"du2018": {"model": {"n_samples": 200.0}}},
            r"du2018\.model\.n_samples: got 200\.0; allowed: integer",
        ),
        (
            {"du2018": {"network": {"seeds": [True]}}},
            r"seeds\[0\]: got True; allowed: integer >= 0\. true/false are booleans",
        ),
        (
            {"du2018": {"network": {"etas": ["1e-1"]}}},
            r"etas\[0\]: got '1e-1'; allowed: number > 0\. YAML reads '1e-1' as text, not a "
            r"number: write 0\.1",
        ),
        (
            {"papers": ["du2018", "nature2030", 3]},
            r"(?s)2 problem\(s\).*papers\[1\]: got 'nature2030'; allowed: one of 'du2018'.*"
            r"papers\[2\]: got 3",
        ),
    ],
)
def test_yaml_typing_surprises_are_refused_and_explained(overlay, expected):
    """A whole-number float or a bool is not an integer (it would reach result paths as
    steps~3000.0); YAML's 1e-1 is a string. Nothing is coerced."""
    base = load_config([ROOT / "config.yaml"], SCHEMA)
    with pytest.raises(ConfigError, match=expected):
        validate_config(merge(base, overlay), SCHEMA)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", r"empty or holds only comments"),
        ("# nothing here\n", r"empty or holds only comments"),
        ("du2018:\n  network: {steps: 3\n", r"line 3, column 1: not valid YAML"),
        ("- a\n- b\n", r"the top level must be a mapping of keys, got list"),
    ],
)
def test_unreadable_overlays_name_the_file_and_line(tmp_path, text, expected):
    overlay = tmp_path / "overlay.yaml"
    overlay.write_text(text)
    with pytest.raises(ConfigError, match=rf"{overlay}.*{expected}"):
        load_config([ROOT / "config.yaml", overlay], SCHEMA)


def test_merge_is_recursive_and_lists_replace():
    merged = merge({"a": {"b": 1, "c": [1, 2]}, "d": 1}, {"a": {"c": [3]}})
    assert merged == {"a": {"b": 1, "c": [3]}, "d": 1}


def test_papers_selects_the_plugins_a_run_includes():
    from curvlab.registry import PAPERS, all_jobs, selected

    base = load_config([ROOT / "config.yaml"], SCHEMA)
    assert selected(base) == list(PAPERS)
    only = validate_config(merge(base, {"papers": ["du2018"]}), SCHEMA)
    assert {job.task.split("-")[0] for job in all_jobs(only).values()} == {"du2018"}
    with pytest.raises(
        ConfigError,
        match=r"papers\[0\]: got 'nature2030'; allowed: one of 'du2018'",
    ):
        validate_config(merge(base, {"papers": ["nature2030"]}), SCHEMA)
    with pytest.raises(ConfigError, match="not implemented yet"):
        selected({"papers": ["nature2030"]})  # a config that skipped the schema


def test_image_size_that_cannot_be_block_averaged_is_refused_when_planning():
    from curvlab.registry import all_jobs

    base = load_config([ROOT / "config.yaml"], SCHEMA)
    bad = validate_config(merge(base, {"ghorbani2019": {"dataset": "mnist"}}), SCHEMA)
    with pytest.raises(ConfigError, match=r"ghorbani2019\.image_size: .*must divide 28; got 16"):
        all_jobs(bad)
    offline = load_config(
        [ROOT / "config.yaml", ROOT / "presets" / "offline.yaml"], SCHEMA
    )  # the preset that swaps CIFAR-10 for MNIST picks a size MNIST allows
    assert all_jobs(offline)
