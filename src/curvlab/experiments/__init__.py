"""One module per paper: pure functions from a spec to a tidy table (one workflow job each).

Defaults live in one place, the config schema (``workflow/schemas/<paper>.schema.yaml``). A
spec dataclass field that the paper's plug-in fills from the config (directly or derived from
config values) has no default: the plug-in passes every such key, and a missing one is an
error, not a silent fallback. Only a field that is no config key (an internal knob such as a
memory bound) may keep a default, and only if no key of the paper's schema has its name.
``tests/test_spec_defaults.py`` checks both. Specs are keyword-only (``kw_only=True``); unit
tests build them with ``tests/specutil.py:tiny_spec``.
"""
