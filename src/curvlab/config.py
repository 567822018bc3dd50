"""Loading, merging and validating the workflow configuration.

The JSON Schema (``workflow/schemas/config.schema.yaml``) is the single description of every key.
Validation fills in defaults (recursively: every object in the schema has a default, so a
missing section is created and then filled) and turns jsonschema's errors into one message per
problem that names the key, what was found and what is allowed.

Where the schema says ``integer``, only integers pass: ``3000.0`` and ``true`` are refused (plain
JSON Schema counts a whole-number float as an integer, which would put ``steps~3000.0`` into
result paths and fail later, inside jobs). Nothing is coerced: what a file says is what runs.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import jsonschema
import yaml


class ConfigError(ValueError):
    """The configuration is invalid; the message names every offending key and the fix."""


def merge(base: Mapping[str, Any], overlay: Mapping[str, Any]) -> dict[str, Any]:
    """Recursive overlay of mappings, as Snakemake does for ``--configfile`` (lists replace)."""
    merged = copy.deepcopy(dict(base))
    for key, value in overlay.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), Mapping):
            merged[key] = merge(merged[key], value)
        else:
            merged[key] = copy.deepcopy(value)
    return merged


def load_yaml(path: str | Path) -> dict[str, Any]:
    """A YAML mapping from ``path``; a syntax error, an empty file or a non-mapping top level
    raises :class:`ConfigError` naming the file (and the line, where YAML knows it)."""
    try:
        with open(path, encoding="utf-8") as fh:
            data = yaml.safe_load(fh)
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f"{path}, line {mark.line + 1}, column {mark.column + 1}" if mark else str(path)
        problem = getattr(err, "problem", None) or str(err)
        raise ConfigError(f"{where}: not valid YAML ({problem})") from None
    if data is None:
        raise ConfigError(
            f"{path}: the file is empty or holds only comments; a config file is a mapping of "
            "keys, e.g. `papers: [du2018]`"
        )
    if not isinstance(data, dict):
        raise ConfigError(
            f"{path}: the top level must be a mapping of keys, got {type(data).__name__}"
        )
    return data


def load_schema(path: str | Path) -> dict[str, Any]:
    """The config schema with every ``$ref: <file>.yaml`` replaced by that file's content.

    Each paper's section lives in its own file (``workflow/schemas/<paper>.schema.yaml``); its
    ``$defs`` are hoisted into the root so that ``#/$defs/...`` references resolve as usual.
    Definition names must be unique across files.
    """
    path = Path(path)
    hoisted: dict[str, Any] = {}

    def include(node: Any, base: Path) -> Any:
        if isinstance(node, dict):
            ref = node.get("$ref")
            if isinstance(ref, str) and ref.endswith((".yaml", ".yml")):
                target = base / ref
                included = load_yaml(target)
                for name, definition in included.pop("$defs", {}).items():
                    if name in hoisted:
                        raise ConfigError(f"{target}: $defs name {name!r} is already defined")
                    hoisted[name] = include(definition, target.parent)
                rest = {k: v for k, v in node.items() if k != "$ref"}
                return include({**included, **rest}, target.parent)
            return {k: include(v, base) for k, v in node.items()}
        if isinstance(node, list):
            return [include(v, base) for v in node]
        return node

    root = load_yaml(path)
    # Every <section>.schema.yaml beside the root describes the config section of that name,
    # and "papers" may name every discovered plug-in.
    properties = root.setdefault("properties", {})
    for part in sorted(path.parent.glob("*.schema.yaml")):
        section = part.name.removesuffix(".schema.yaml")
        if part != path and section not in properties:
            properties[section] = {"$ref": part.name}
    if "papers" in properties:
        from curvlab.registry import PAPERS

        properties["papers"]["anyOf"][1]["items"]["enum"] = list(PAPERS)
    schema = include(root, path.parent)
    defs = schema.setdefault("$defs", {})
    clash = sorted(set(defs) & set(hoisted))
    if clash:
        raise ConfigError(f"{path}: $defs names defined twice: {clash}")
    defs.update(hoisted)
    return schema


def load_config(paths: Iterable[str | Path], schema_path: str | Path) -> dict[str, Any]:
    """Merge config files left to right and validate the result."""
    config: dict[str, Any] = {}
    for path in paths:
        config = merge(config, load_yaml(path))
    return validate_config(config, schema_path)


def _is_strict_integer(checker: Any, instance: Any) -> bool:
    """``integer`` means a Python int: not a whole-number float (3000.0), not a bool."""
    return isinstance(instance, int) and not isinstance(instance, bool)


def _with_defaults(cls: type[jsonschema.protocols.Validator]) -> type:
    """A validator class that inserts each missing property's ``default`` before checking it,
    and whose ``integer`` type admits ints only."""
    validate_properties = cls.VALIDATORS["properties"]

    def set_defaults(validator, properties, instance, schema):
        if isinstance(instance, dict):
            for name, sub in properties.items():
                if name not in instance and "default" in sub:
                    instance[name] = copy.deepcopy(sub["default"])
        yield from validate_properties(validator, properties, instance, schema)

    return jsonschema.validators.extend(
        cls,
        {"properties": set_defaults},
        type_checker=cls.TYPE_CHECKER.redefine("integer", _is_strict_integer),
    )


def _key(path: Iterable[Any]) -> str:
    parts = [str(p) if not isinstance(p, int) else f"[{p}]" for p in path]
    return ".".join(parts).replace(".[", "[") or "<top level>"


def _allowed(schema: Mapping[str, Any]) -> str:
    """What a schema node allows, in words."""
    if "enum" in schema:
        return "one of " + ", ".join(repr(v) for v in schema["enum"])
    if "anyOf" in schema:
        return " or ".join(_allowed(alternative) for alternative in schema["anyOf"])
    if schema.get("type") == "array" and "items" in schema:
        return f"a list, each item {_allowed(schema['items'])}"
    parts = []
    kind = schema.get("type")
    if kind:
        parts.append(kind if isinstance(kind, str) else " or ".join(kind))
    for bound, word in (
        ("minimum", ">="),
        ("exclusiveMinimum", ">"),
        ("maximum", "<="),
        ("exclusiveMaximum", "<"),
    ):
        if bound in schema:
            parts.append(f"{word} {schema[bound]}")
    if "pattern" in schema:
        parts.append(f"matching {schema['pattern']}")
    if "minItems" in schema:
        parts.append(f"at least {schema['minItems']} item(s)")
    if schema.get("additionalProperties") is False and "properties" in schema:
        parts.append("keys: " + ", ".join(sorted(schema["properties"])))
    return " ".join(parts) or "see the schema"


def _hint(instance: Any, schema: Mapping[str, Any]) -> str:
    """Why a value that looks right was refused: YAML typing surprises."""
    if isinstance(instance, bool):
        return "true/false are booleans, not numbers"
    if isinstance(instance, float) and instance.is_integer() and "integer" in _allowed(schema):
        return f"Write {int(instance)}, not {instance!r}: this key takes a whole number"
    if isinstance(instance, str):
        try:
            number = float(instance)
        except ValueError:
            return ""
        return (
            f"YAML reads {instance!r} as text, not a number: write {number!r} (exponent "
            "notation needs a decimal point and a signed exponent, e.g. 1.0e-1)"
        )
    return ""


def _branch_errors(error: jsonschema.ValidationError) -> list[jsonschema.ValidationError]:
    """For an ``anyOf``/``oneOf`` failure, the errors of the alternative the value was meant
    for (the one whose type it has), so a bad list item is named instead of the whole list."""
    branches: dict[int, list[jsonschema.ValidationError]] = {}
    for sub in error.context or ():
        branches.setdefault(sub.schema_path[0], []).append(sub)
    meant = [
        subs
        for subs in branches.values()
        if not any(s.validator in ("type", "enum", "const") and not s.path for s in subs)
    ]
    return meant[0] if len(meant) == 1 else []


def _problems(error: jsonschema.ValidationError) -> list[str]:
    """One line per problem: a failed alternative is explained by its own item errors."""
    inner = _branch_errors(error) if error.validator in ("anyOf", "oneOf") else []
    return [line for e in inner for line in _problems(e)] if inner else [_describe(error)]


def _describe(error: jsonschema.ValidationError) -> str:
    key = _key(error.absolute_path)
    if error.validator == "additionalProperties":
        allowed = sorted(error.schema.get("properties", {}))
        unknown = sorted(set(error.instance) - set(allowed))
        return (
            f"{key}: unknown key(s) {', '.join(map(repr, unknown))}; "
            f"allowed keys are {', '.join(allowed)}"
        )
    if error.validator == "required":
        return f"{key}: {error.message}"
    description = error.schema.get("description", "")
    found = repr(error.instance)
    if len(found) > 80:
        found = found[:77] + "..."
    text = f"{key}: got {found}; allowed: {_allowed(error.schema)}"
    if error.validator not in ("type", "enum", "anyOf"):
        text += f" ({error.message})"
    notes = [n for n in (description, _hint(error.instance, error.schema)) if n]
    return ". ".join([text, *(n.rstrip(".") for n in notes)]) + ("." if notes else "")


def validate_config(config: Mapping[str, Any], schema_path: str | Path) -> dict[str, Any]:
    """Return a validated copy of ``config`` with defaults filled in, or raise :class:`ConfigError`."""
    schema = load_schema(schema_path)
    validator_cls = _with_defaults(jsonschema.Draft202012Validator)
    instance = copy.deepcopy(dict(config))
    errors = sorted(
        validator_cls(schema).iter_errors(instance), key=lambda e: list(map(str, e.absolute_path))
    )
    if errors:
        problems = list(dict.fromkeys(line for e in errors for line in _problems(e)))
        lines = "\n".join(f"  - {p}" for p in problems)
        raise ConfigError(
            f"invalid configuration ({len(problems)} problem(s)):\n{lines}\n"
            "Fix these keys in config.yaml or in the file given with --configfile; every key is "
            f"documented in {schema_path}."
        )
    return instance
