"""Parquet tables with declared schemas, provenance metadata and atomic writes.

Every table curvlab writes is described by a :class:`TableSchema` (all of them live in
:mod:`curvlab.tables`). Writing checks the frame against the schema and casts it; reading checks
the file against the schema and says which column is wrong. Provenance (config subset and its
hash, package version and git commit, torch version, device, dtype, seed, wall time) is stored
as JSON in the Parquet file metadata under ``curvlab.provenance``.

Writes go to a hidden temporary file in the target directory and are renamed into place, so a
job killed at any moment leaves either the old file, no file, or the complete new one.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import json
import os
import platform
import socket
import subprocess
import sys
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from curvlab import __version__

try:
    import fcntl
except ImportError:  # Windows: see atomic_path and exclusive_lock
    fcntl = None  # type: ignore[assignment]

PROVENANCE_KEY = b"curvlab.provenance"
SCHEMA_KEY = b"curvlab.schema"

_ARROW_TYPES: dict[str, pa.DataType] = {
    "bool": pa.bool_(),
    "int8": pa.int8(),
    "int32": pa.int32(),
    "int64": pa.int64(),
    "float32": pa.float32(),
    "float64": pa.float64(),
    "string": pa.string(),
}


class SchemaError(ValueError):
    """A table does not match its declared schema."""


@dataclass(frozen=True)
class Column:
    name: str
    dtype: str
    description: str
    nullable: bool = False

    def __post_init__(self) -> None:
        if self.dtype not in _ARROW_TYPES:
            raise ValueError(f"column {self.name!r}: unknown dtype {self.dtype!r}")


@dataclass(frozen=True)
class TableSchema:
    """Name, description and typed columns of one kind of table."""

    name: str
    description: str
    columns: tuple[Column, ...]

    @property
    def names(self) -> list[str]:
        return [c.name for c in self.columns]

    @property
    def short_name(self) -> str:
        """The name within its paper (``huh2020.train`` → ``train``), which also names the
        paper's aggregated file."""
        return self.name.partition(".")[2]

    def empty(self) -> pd.DataFrame:
        """A frame with this table's columns and no rows."""
        return pd.DataFrame({c: pd.Series(dtype="object") for c in self.names})

    def arrow(self) -> pa.Schema:
        return pa.schema(
            [pa.field(c.name, _ARROW_TYPES[c.dtype], c.nullable) for c in self.columns]
        )

    def conform(self, frame: pd.DataFrame, where: str = "table") -> pa.Table:
        """Cast ``frame`` to this schema, or raise naming the first offending column."""
        missing = [n for n in self.names if n not in frame.columns]
        extra = [n for n in frame.columns if n not in self.names]
        if missing or extra:
            raise SchemaError(
                f"{where} does not match schema {self.name!r}: "
                f"missing columns {missing}, unexpected columns {extra}"
            )
        arrays = []
        for col in self.columns:
            values = frame[col.name]
            if not col.nullable and values.isna().any() and col.dtype not in ("float32", "float64"):
                raise SchemaError(f"{where}: column {col.name!r} has missing values")
            try:
                arrays.append(pa.array(values.to_numpy(), type=_ARROW_TYPES[col.dtype]))
            except (pa.ArrowInvalid, pa.ArrowTypeError, TypeError, ValueError) as err:
                raise SchemaError(
                    f"{where}: column {col.name!r} cannot be stored as {col.dtype} ({err})"
                ) from err
        return pa.Table.from_arrays(arrays, schema=self.arrow())

    def check(self, table_schema: pa.Schema, where: str) -> None:
        for col in self.columns:
            idx = table_schema.get_field_index(col.name)
            if idx < 0:
                raise SchemaError(f"{where}: column {col.name!r} is missing (schema {self.name!r})")
            found = table_schema.field(idx).type
            expected = _ARROW_TYPES[col.dtype]
            if not found.equals(expected):
                raise SchemaError(
                    f"{where}: column {col.name!r} has type {found}, expected {expected} "
                    f"(schema {self.name!r})"
                )
        extra = [n for n in table_schema.names if n not in self.names]
        if extra:
            raise SchemaError(f"{where}: unexpected columns {extra} (schema {self.name!r})")


# --------------------------------------------------------------------------- atomic writes


def _current_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


_UMASK = _current_umask()


def _lock(fd: int, *, wait: bool) -> bool:
    """Take an exclusive ``flock`` on ``fd``; False if ``wait`` is off and another holds one.

    ``flock`` locks belong to the open file and vanish when its holder dies, so a held lock is
    how a live writer is told from a dead one. Without :mod:`fcntl` every call succeeds.
    """
    if fcntl is None:
        return True
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
    except BlockingIOError:
        return False
    return True


def _names(path: Path, fd: int) -> bool:
    """Whether ``path`` still names the file open as ``fd``.

    A lock on a file that was unlinked (or replaced) meanwhile guards nothing, so whoever takes
    a lock checks this and starts over with a fresh file if it fails.
    """
    try:
        named = path.stat()
    except FileNotFoundError:
        return False
    held = os.fstat(fd)
    return (named.st_dev, named.st_ino) == (held.st_dev, held.st_ino)


def _stale_partials(path: Path) -> list[Path]:
    return list(path.parent.glob(f".{path.name}.*.partial"))


def _remove_if_dead(partial: Path) -> None:
    """Delete ``partial`` if no live writer holds its lock (its writer was killed)."""
    if fcntl is None:
        return  # a dead writer's partial cannot be told from a live one's: keep them all
    try:
        fd = os.open(partial, os.O_RDWR)  # write access: NFS emulates flock with write locks
    except OSError:
        return  # already renamed or removed, or not ours to remove
    try:
        if _lock(fd, wait=False) and _names(partial, fd):
            partial.unlink(missing_ok=True)
    finally:
        os.close(fd)


def _new_partial(target: Path) -> tuple[int, Path]:
    """A fresh partial next to ``target`` and an open descriptor that holds its lock."""
    while True:
        fd, name = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".partial")
        partial = Path(name)
        _lock(fd, wait=True)
        if _names(partial, fd):
            return fd, partial
        os.close(fd)  # another writer took it for a dead one before it was locked


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary path next to ``path``; rename it onto ``path`` if the block succeeds.

    The temporary file is a hidden ``.<name>.<random>.partial`` sibling, locked (``flock``) by
    this process until it is renamed or removed. Before writing, partials of earlier writers are
    removed if their lock can be taken, i.e. their writer was killed, so an interrupted run leaves
    nothing behind once the job is rerun, while concurrent writers of the same file (jobs
    rebuilding a shared cache) keep theirs; the last one to finish wins. A lock, not a pid in the
    name, because it also works for writers on other hosts of a shared filesystem. The block must
    write the yielded path in place (open, truncate, write), not rename another file onto it.
    Without :mod:`fcntl` (Windows) nothing is locked and leftovers are kept.
    """
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    for stale in _stale_partials(target):
        _remove_if_dead(stale)
    fd, tmp = _new_partial(target)
    try:
        os.fchmod(fd, 0o666 & ~_UMASK)  # mkstemp makes 0600; results are shared like any output
        yield tmp
        with open(tmp, "rb") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp, target)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    finally:
        os.close(fd)  # releases the lock, after the rename


@contextlib.contextmanager
def exclusive_lock(path: str | os.PathLike[str]) -> Iterator[None]:
    """Hold the lock of ``path`` (a hidden ``.<name>.lock`` sibling) for the block.

    For work that only one process should do at a time, such as rebuilding a shared cache; the
    others wait, then should check whether it is still needed. The lock file is removed on
    release, so it exists only while someone holds or waits for it. Without :mod:`fcntl`
    (Windows) the block runs unlocked.
    """
    target = Path(path)
    if fcntl is None:
        yield
        return
    lock = target.parent / f".{target.name}.lock"
    lock.parent.mkdir(parents=True, exist_ok=True)
    while True:
        fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o666)
        _lock(fd, wait=True)
        if _names(lock, fd):
            break
        os.close(fd)  # its previous holder removed it while this process waited
    try:
        yield
    finally:
        lock.unlink(missing_ok=True)
        os.close(fd)


def write_text_atomic(path: str | os.PathLike[str], text: str) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")


# --------------------------------------------------------------------------- provenance


def config_hash(config: Any) -> str:
    """A short, order-independent hash of a JSON-serialisable config (sub)tree."""
    canonical = json.dumps(config, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()[:16]


@functools.lru_cache(maxsize=1)
def git_state() -> tuple[str | None, bool | None]:
    """(commit, dirty) of the source tree this package was imported from, if it is a git repo."""
    root = Path(__file__).resolve().parents[2]

    def git(*args: str) -> str:
        return subprocess.run(
            ["git", "-C", str(root), *args], capture_output=True, text=True, timeout=10, check=True
        ).stdout.strip()

    try:
        commit = git("rev-parse", "HEAD")
        dirty = bool(git("status", "--porcelain", "--untracked-files=no"))
    except (OSError, subprocess.SubprocessError):
        return None, None
    return commit, dirty


def _dist_version(name: str) -> str | None:
    try:
        return version(name)
    except PackageNotFoundError:
        return None


def provenance(
    config: Mapping[str, Any],
    *,
    seed: int | None = None,
    dtype: str | None = None,
    device: str | None = None,
    wall_time_s: float | None = None,
    **extra: Any,
) -> dict[str, Any]:
    """Everything needed to say where a table came from."""
    commit, dirty = git_state()
    record: dict[str, Any] = {
        "curvlab_version": __version__,
        "git_commit": commit,
        "git_dirty": dirty,
        "torch_version": _dist_version("torch"),
        "numpy_version": _dist_version("numpy"),
        "python_version": platform.python_version(),
        "platform": platform.platform(),
        "hostname": socket.gethostname(),
        "device": device,
        "dtype": dtype,
        "seed": seed,
        "config": dict(config),
        "config_hash": config_hash(config),
        "created_utc": datetime.now(UTC).isoformat(timespec="seconds"),
        "wall_time_s": wall_time_s,
        "argv": sys.argv,
    }
    record.update(extra)
    return record


# --------------------------------------------------------------------------- read / write


def write_table(
    frame: pd.DataFrame,
    path: str | os.PathLike[str],
    schema: TableSchema,
    provenance: Mapping[str, Any],
) -> None:
    """Check ``frame`` against ``schema`` and write it atomically with provenance metadata."""
    table = schema.conform(frame, where=str(path))
    metadata = dict(table.schema.metadata or {})
    metadata[SCHEMA_KEY] = schema.name.encode()
    metadata[PROVENANCE_KEY] = json.dumps(provenance, default=str).encode()
    table = table.replace_schema_metadata(metadata)
    with atomic_path(path) as tmp:
        pq.write_table(table, tmp, compression="zstd")


def read_provenance(path: str | os.PathLike[str]) -> dict[str, Any]:
    metadata = pq.read_schema(path).metadata or {}
    raw = metadata.get(PROVENANCE_KEY)
    return json.loads(raw) if raw else {}


def _stored_name(file_schema: pa.Schema) -> str:
    return (file_schema.metadata or {}).get(SCHEMA_KEY, b"").decode()


def stored_schema_name(path: str | os.PathLike[str]) -> str:
    """The name of the schema a table was written with ("" for a file curvlab did not write)."""
    try:
        return _stored_name(pq.read_schema(path))
    except (pa.ArrowInvalid, OSError) as err:
        raise SchemaError(f"{path}: not a readable Parquet file ({err})") from err


def read_table(path: str | os.PathLike[str], schema: TableSchema | None = None) -> pd.DataFrame:
    """Read a table; with ``schema``, check every column first and name the one that is wrong.

    The provenance record is attached as ``frame.attrs["provenance"]``.
    """
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path}: no such table (was the job that writes it run?)")
    try:
        file_schema = pq.read_schema(path)
    except (pa.ArrowInvalid, OSError) as err:
        raise SchemaError(f"{path}: not a readable Parquet file ({err})") from err
    if schema is not None:
        stored = _stored_name(file_schema)
        if stored and stored != schema.name:
            raise SchemaError(f"{path}: holds table {stored!r}, expected {schema.name!r}")
        schema.check(file_schema, str(path))
    frame = pq.read_table(path).to_pandas()
    frame.attrs["provenance"] = read_provenance(path)
    return frame


def with_run_keys(frame: pd.DataFrame, keys: Mapping[str, Any]) -> pd.DataFrame:
    """Put a run's key columns (one value each, in ``keys``' order) in front of its measured
    columns, as the table schemas list them; returns ``frame``, changed in place."""
    for i, (name, value) in enumerate(keys.items()):
        frame.insert(i, name, value)
    return frame


def concat_tables(
    paths: Sequence[str | os.PathLike[str]], schema: TableSchema, out: str | os.PathLike[str]
) -> pd.DataFrame:
    """Concatenate per-run tables into one, keeping each input's provenance by file name."""
    frames = [read_table(p, schema) for p in paths]
    frame = pd.concat(frames, ignore_index=True) if frames else schema.empty()
    inputs = {str(p): f.attrs["provenance"] for p, f in zip(paths, frames, strict=True)}
    write_table(frame, out, schema, {"aggregate_of": inputs, "config_hash": config_hash(inputs)})
    return frame
