"""Defaults in one place: the config schema, not the spec dataclasses (:mod:`curvlab.experiments`).

Every job planned from config.yaml and from each preset builds its spec exactly as
``curvlab job`` does; no field that a plug-in fills from the config has a default of its own;
a default left on a dataclass (an internal knob) never contradicts a schema key of the same
name; and :func:`specutil.tiny_spec` gives every field of every spec.
"""

from __future__ import annotations

import dataclasses
import functools
import importlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from specutil import TINY

from curvlab.config import load_config, load_schema
from curvlab.experiments.huh2020 import Problem
from curvlab.jobs import build_spec
from curvlab.plugin import Job, load
from curvlab.registry import PAPERS, TASKS, all_jobs

ROOT = Path(__file__).resolve().parents[1]
SCHEMA = ROOT / "workflow" / "schemas" / "config.schema.yaml"
CONFIGS = {
    "config.yaml": [ROOT / "config.yaml"],
    **{
        f"presets/{p.name}": [ROOT / "config.yaml", p]
        for p in sorted((ROOT / "presets").glob("*.yaml"))
    },
}


@pytest.fixture(scope="module")
def planned() -> dict[str, list[Job]]:
    """The jobs of every paper, per config file set."""
    return {
        name: list(all_jobs(load_config(files, SCHEMA)).values()) for name, files in CONFIGS.items()
    }


def _has_default(f: dataclasses.Field) -> bool:
    return f.default is not dataclasses.MISSING or f.default_factory is not dataclasses.MISSING


def _default(f: dataclasses.Field) -> Any:
    return f.default if f.default is not dataclasses.MISSING else f.default_factory()


def _plain(value: Any) -> Any:
    """Tuples as lists (how the schema writes sequences), recursively."""
    if isinstance(value, tuple | list):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    return value


def spec_dataclasses(paper: str) -> list[type]:
    """Every dataclass defined in ``curvlab.experiments.<paper>`` (the task specs and the
    specs they are built from, e.g. huh2020's Problem)."""
    module = importlib.import_module(f"curvlab.experiments.{paper}")
    return [
        obj
        for obj in vars(module).values()
        if isinstance(obj, type)
        and dataclasses.is_dataclass(obj)
        and obj.__module__ == module.__name__
    ]


def _resolve(node: dict[str, Any], defs: dict[str, Any]) -> dict[str, Any]:
    ref = node.get("$ref")
    if isinstance(ref, str) and ref.startswith("#/$defs/"):
        rest = {k: v for k, v in node.items() if k != "$ref"}
        return {**_resolve(defs[ref.removeprefix("#/$defs/")], defs), **rest}
    return node


def _values_in(default: Any, path: str) -> Iterator[tuple[str, str, Any]]:
    """The keys inside an object default (huh2020.methods.gd = {structure: full, ...})."""
    if isinstance(default, dict):
        for key, value in default.items():
            yield key, f"{path}.{key}", value
            yield from _values_in(value, f"{path}.{key}")
    elif isinstance(default, list):
        for i, item in enumerate(default):
            yield from _values_in(item, f"{path}[{i}]")


def schema_keys(
    node: dict[str, Any], path: str, defs: dict[str, Any]
) -> Iterator[tuple[str, str, Any]]:
    """(name, dotted path, default or MISSING) of every key under ``node``, through ``$ref``s,
    array items and the values written inside object defaults."""
    node = _resolve(node, defs)
    for name, sub in node.get("properties", {}).items():
        sub = _resolve(sub, defs)
        where = f"{path}.{name}"
        yield name, where, sub.get("default", dataclasses.MISSING)
        yield from _values_in(sub.get("default"), where)
        yield from schema_keys(sub, where, defs)
    if isinstance(node.get("items"), dict):
        yield from schema_keys(node["items"], f"{path}[]", defs)


@functools.cache
def paper_keys(paper: str) -> dict[str, list[tuple[str, Any]]]:
    """Name -> [(path, default or MISSING)] for every key of the paper's config section."""
    schema = load_schema(SCHEMA)
    keys: dict[str, list[tuple[str, Any]]] = {}
    for name, path, default in schema_keys(schema["properties"][paper], paper, schema["$defs"]):
        keys.setdefault(name, []).append((path, default))
    return keys


def schema_disagreements(cls: type, keys: dict[str, list[tuple[str, Any]]]) -> list[str]:
    """Each default of ``cls`` whose name is one of the schema ``keys`` (:func:`paper_keys`) and
    that differs from a default the schema gives that key (or that the schema has none for)."""
    problems = []
    for f in dataclasses.fields(cls):
        if not _has_default(f) or f.name not in keys:
            continue
        value = _plain(_default(f))
        given = [(path, d) for path, d in keys[f.name] if d is not dataclasses.MISSING]
        if not given:
            paths = ", ".join(path for path, _ in keys[f.name])
            problems.append(f"{cls.__name__}.{f.name} = {value!r}, but {paths} has no default")
        problems += [
            f"{cls.__name__}.{f.name} = {value!r}, but the schema says {path} = {d!r}"
            for path, d in given
            if _plain(d) != value
        ]
    return problems


def test_every_planned_job_builds_its_spec_as_curvlab_job_does(planned):
    """No job of any preset leaves out a field that has no default (or passes an unknown one)."""
    for name, jobs in planned.items():
        for job in jobs:
            spec = build_spec(job.task, job.spec)
            assert isinstance(spec, load(TASKS[job.task].spec)), (name, job.path)
    tasks = {job.task for jobs in planned.values() for job in jobs}
    assert tasks == set(TASKS), "a task is planned by no config: its specs are not checked"


def test_fields_the_plugins_fill_from_the_config_have_no_default(planned):
    """A config key's only default is the schema's: a dataclass default beside it could only
    ever disagree (or be dead)."""
    paper_of = {task: key for key, paper in PAPERS.items() for task in paper.tasks}
    passed: dict[str, set[str]] = {}
    for jobs in planned.values():
        for job in jobs:
            passed.setdefault(paper_of[job.task], set()).update(job.spec)
    problems = [
        f"{cls.__name__}.{f.name} = {_default(f)!r}"
        for paper, keys in passed.items()
        for cls in spec_dataclasses(paper)
        for f in dataclasses.fields(cls)
        if f.name in keys and _has_default(f)
    ]
    assert not problems, "config keys with a dataclass default: " + "; ".join(problems)


def test_defaults_left_on_spec_dataclasses_agree_with_the_schema():
    problems = [
        problem
        for paper in PAPERS
        for cls in spec_dataclasses(paper)
        for problem in schema_disagreements(cls, paper_keys(paper))
    ]
    assert not problems, "\n".join(problems)


def test_the_schema_check_catches_a_default_that_contradicts_the_schema():
    """The bug this guards against: NoiseSpec.epochs defaulted to 30 while the schema (and
    config.yaml) train the fc net, NoiseSpec's own default net, for 40 epochs; the workflow
    passed 40, but a spec built from the dataclass defaults ran 30."""
    legacy = dataclasses.make_dataclass(
        "NoiseSpec",
        [("net", str, dataclasses.field(default="fc")), ("epochs", int, 30)],
        frozen=True,
    )
    problems = schema_disagreements(legacy, paper_keys("mori2022"))
    assert "NoiseSpec.epochs = 30, but the schema says mori2022.noise.fc.epochs = 40" in problems
    assert not any("cnn" in p or "NoiseSpec.net" in p for p in problems)  # 30 is cnn's; net no key
    # A default for a key that the schema leaves without one is refused too.
    required = {"epochs": [("x.epochs", dataclasses.MISSING)]}
    assert schema_disagreements(legacy, required) == [
        "NoiseSpec.epochs = 30, but x.epochs has no default"
    ]


def test_tiny_spec_gives_every_field_of_every_spec():
    classes = {load(task.spec) for task in TASKS.values()} | {Problem}
    assert set(TINY) == classes
    for cls, values in TINY.items():
        fields = {f.name for f in dataclasses.fields(cls) if f.init}
        assert set(values) == fields, cls.__name__
        cls(**values)
