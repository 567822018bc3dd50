"""Parquet I/O: schema checks that name the column, provenance, atomic writes."""

from __future__ import annotations

import os
import tempfile
import threading
import time

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from curvlab import io as io_module
from curvlab.io import (
    Column,
    SchemaError,
    TableSchema,
    atomic_path,
    concat_tables,
    config_hash,
    exclusive_lock,
    provenance,
    read_provenance,
    read_table,
    write_table,
)

SCHEMA = TableSchema(
    "test.table",
    "a test table",
    (
        Column("step", "int64", "step"),
        Column("name", "string", "n"),
        Column("value", "float64", "v"),
    ),
)


def frame(n: int = 4) -> pd.DataFrame:
    return pd.DataFrame({"step": np.arange(n), "name": ["a"] * n, "value": np.linspace(0, 1, n)})


def test_round_trip_keeps_data_and_provenance(tmp_path):
    path = tmp_path / "t.parquet"
    write_table(frame(), path, SCHEMA, provenance({"eta": 0.2}, seed=3, dtype="float64"))
    back = read_table(path, SCHEMA)
    pd.testing.assert_frame_equal(back, frame(), check_dtype=False)
    prov = back.attrs["provenance"]
    assert prov["seed"] == 3 and prov["config"] == {"eta": 0.2}
    assert prov["config_hash"] == config_hash({"eta": 0.2})
    assert prov["curvlab_version"] and prov["python_version"]
    assert read_provenance(path) == prov


def test_write_rejects_missing_and_extra_columns(tmp_path):
    with pytest.raises(SchemaError, match=r"missing columns \['value'\]"):
        write_table(frame().drop(columns="value"), tmp_path / "x.parquet", SCHEMA, {})
    with pytest.raises(SchemaError, match=r"unexpected columns \['extra'\]"):
        write_table(frame().assign(extra=1), tmp_path / "x.parquet", SCHEMA, {})
    assert not list(tmp_path.iterdir())


def test_write_names_the_column_that_cannot_be_cast(tmp_path):
    bad = frame().assign(step=["x", "y", "z", "w"])
    with pytest.raises(SchemaError, match="column 'step' cannot be stored as int64"):
        write_table(bad, tmp_path / "x.parquet", SCHEMA, {})


def test_read_names_the_column_with_the_wrong_type(tmp_path):
    path = tmp_path / "x.parquet"
    table = pa.table({"step": ["0"], "name": ["a"], "value": [1.0]})
    pq.write_table(table, path)
    with pytest.raises(SchemaError, match="column 'step' has type string, expected int64"):
        read_table(path, SCHEMA)


def test_read_reports_a_table_of_another_schema(tmp_path):
    path = tmp_path / "x.parquet"
    other = TableSchema("other", "", SCHEMA.columns)
    write_table(frame(), path, other, {})
    with pytest.raises(SchemaError, match="holds table 'other', expected 'test.table'"):
        read_table(path, SCHEMA)


def test_read_missing_file_says_so(tmp_path):
    with pytest.raises(FileNotFoundError, match="no such table"):
        read_table(tmp_path / "absent.parquet", SCHEMA)


def test_atomic_path_leaves_nothing_when_the_block_fails(tmp_path):
    target = tmp_path / "out.parquet"
    with pytest.raises(RuntimeError), atomic_path(target) as tmp:
        tmp.write_text("partial")
        raise RuntimeError("killed")
    assert list(tmp_path.iterdir()) == []


def test_atomic_path_replaces_and_removes_stale_partials(tmp_path):
    target = tmp_path / "out.txt"
    stale = tmp_path / ".out.txt.abc123.partial"  # what a SIGKILLed writer leaves behind
    stale.write_text("half")
    target.write_text("old")
    with atomic_path(target) as tmp:
        tmp.write_text("new")
    assert target.read_text() == "new"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.txt"]
    assert target.stat().st_mode & 0o044  # readable by others, like any output


def test_concat_keeps_each_inputs_provenance(tmp_path):
    paths = []
    for seed in range(2):
        path = tmp_path / f"seed{seed}.parquet"
        write_table(frame(3), path, SCHEMA, provenance({"seed": seed}, seed=seed))
        paths.append(path)
    out = tmp_path / "all.parquet"
    concat_tables(paths, SCHEMA, out)
    back = read_table(out, SCHEMA)
    assert len(back) == 6
    inputs = back.attrs["provenance"]["aggregate_of"]
    assert [inputs[str(p)]["seed"] for p in paths] == [0, 1]


def test_config_hash_ignores_key_order():
    assert config_hash({"a": 1, "b": [1, 2]}) == config_hash({"b": [1, 2], "a": 1})
    assert config_hash({"a": 1}) != config_hash({"a": 2})


def test_atomic_path_keeps_a_live_writers_partial(tmp_path):
    """A second writer of the same file must not delete the first one's partial mid-write."""
    target = tmp_path / "out.txt"
    with atomic_path(target) as first:
        first.write_text("first")
        with atomic_path(target) as second:
            second.write_text("second")
        assert first.read_text() == "first"
    assert target.read_text() == "first"  # the last writer to finish wins
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.txt"]


def test_atomic_path_starts_over_if_its_partial_is_taken_before_it_is_locked(tmp_path, monkeypatch):
    """Another writer's cleanup may remove a partial between its creation and its lock."""
    real_mkstemp, made = tempfile.mkstemp, []

    def mkstemp_then_lose_it(**kwargs):
        fd, name = real_mkstemp(**kwargs)
        made.append(name)
        if len(made) == 1:
            os.unlink(name)  # as the cleanup of a concurrent writer would
        return fd, name

    monkeypatch.setattr(tempfile, "mkstemp", mkstemp_then_lose_it)
    target = tmp_path / "out.txt"
    with atomic_path(target) as tmp:
        tmp.write_text("new")
    assert len(made) == 2 and str(tmp) == made[1]
    assert target.read_text() == "new"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.txt"]


def test_exclusive_lock_admits_one_holder_at_a_time_and_leaves_no_file(tmp_path):
    target = tmp_path / "cache.npz"
    guard, holders, most = threading.Lock(), [0], [0]

    def hold() -> None:
        with exclusive_lock(target):
            with guard:
                holders[0] += 1
                most[0] = max(most[0], holders[0])
            time.sleep(0.05)
            with guard:
                holders[0] -= 1

    threads = [threading.Thread(target=hold) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert most[0] == 1
    assert list(tmp_path.iterdir()) == []


def test_without_fcntl_writes_still_work_and_leftovers_are_kept(tmp_path, monkeypatch):
    """Where nothing can be locked, a partial might be a live writer's, so none is removed."""
    monkeypatch.setattr(io_module, "fcntl", None)
    target = tmp_path / "out.txt"
    leftover = tmp_path / ".out.txt.abc123.partial"
    leftover.write_text("half")
    with exclusive_lock(target), atomic_path(target) as tmp:
        tmp.write_text("new")
    assert target.read_text() == "new"
    assert sorted(p.name for p in tmp_path.iterdir()) == [leftover.name, "out.txt"]
