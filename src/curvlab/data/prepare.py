"""Load a dataset as numpy arrays, cached once, and the pure helpers that shape the papers' inputs.

:func:`load_dataset` resolves the original archives (:mod:`.fetch`), parses them
(:mod:`.formats`) and saves the arrays as ``<root>/<name>.npz`` together with the MD5s of the
archives they came from. Later calls load the ``.npz`` directly (no archive needed) as long as
those MD5s still match the registry; otherwise the cache is rebuilt. The cache is written
atomically, so a killed job never leaves a half-written one, and rebuilt under a lock of its
own, so of several jobs that find it missing or stale at once (Snakemake with ``--cores`` > 1)
one rebuilds it and the others load the result.

The helpers (subsets, scaling, block-average downscaling, label encodings, standardization and
exact whitening) are pure functions of their inputs; the random ones take an explicit
``np.random.Generator``.
"""

from __future__ import annotations

import json
import logging
import os
import zipfile
from pathlib import Path

import numpy as np
import numpy.typing as npt

from curvlab.data import formats
from curvlab.data.errors import DataError
from curvlab.data.fetch import resolve_archive
from curvlab.data.registry import DatasetSpec, resolve_spec

#: Bump when the cached layout or the parsing changes, so old caches are rebuilt.
CACHE_VERSION = 1
SPLIT_KEYS = ("x_train", "y_train", "x_test", "y_test")

log = logging.getLogger(__name__)


# --------------------------------------------------------------------------- loading and cache


def cache_path(dataset: str | DatasetSpec, *, root: str | os.PathLike[str] = "data") -> Path:
    """Where :func:`load_dataset` keeps the parsed arrays of ``dataset``."""
    return Path(root) / f"{resolve_spec(dataset).name}.npz"


def _source_md5s(spec: DatasetSpec) -> dict[str, str]:
    return {f.filename: f.md5 for f in spec.files}


def _validate(spec: DatasetSpec, arrays: dict[str, np.ndarray], source: str) -> None:
    """Raise DataError unless the arrays have the registry's sizes, shapes, dtypes and labels."""
    for split, size in (("train", spec.train_size), ("test", spec.test_size)):
        x, y = arrays[f"x_{split}"], arrays[f"y_{split}"]
        if x.dtype != np.uint8 or x.shape != (size, *spec.image_shape):
            raise DataError(
                f"{source}: {split} images have shape {x.shape} and dtype {x.dtype}, "
                f"expected {(size, *spec.image_shape)} uint8"
            )
        if y.dtype != np.int64 or y.shape != (size,):
            raise DataError(
                f"{source}: {split} labels have shape {y.shape} and dtype {y.dtype}, "
                f"expected ({size},) int64"
            )
        if size and (y.min() < 0 or y.max() >= spec.num_classes):
            raise DataError(f"{source}: {split} labels outside 0..{spec.num_classes - 1}")


def _load_cache(
    spec: DatasetSpec, path: Path, *, report: bool = True
) -> dict[str, np.ndarray] | None:
    """The cached arrays if ``path`` is a complete, current cache of ``spec``, else None.

    With ``report`` a stale or unreadable cache is logged; :func:`load_dataset` reports only
    what it finds under the rebuild lock, so each problem is logged once.
    """
    if not path.is_file():
        return None
    try:
        # Our own handle: np.load leaks the one it opens when the zip turns out to be corrupt.
        with open(path, "rb") as fh, np.load(fh, allow_pickle=False) as cache:
            version = int(cache["cache_version"])
            sources = json.loads(str(cache["source_md5"]))
            if version != CACHE_VERSION or sources != _source_md5s(spec):
                if report:
                    log.info("%s is stale (other archives or cache version); rebuilding", path)
                return None
            arrays = {key: cache[key] for key in SPLIT_KEYS}
        _validate(spec, arrays, str(path))
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile, DataError) as err:
        if report:
            log.warning("%s is unreadable (%s); rebuilding it", path, err)
        return None
    return arrays


def _save_cache(spec: DatasetSpec, path: Path, arrays: dict[str, np.ndarray]) -> None:
    from curvlab.io import atomic_path  # lazy: curvlab.io pulls in pandas and pyarrow

    with atomic_path(path) as tmp, open(tmp, "wb") as fh:
        # A file object, not a name: np.savez would append ".npz" to the temporary name.
        # Uncompressed, because loading must be fast and the archives are the compact copy.
        np.savez(
            fh,
            **arrays,
            source_md5=np.array(json.dumps(_source_md5s(spec), sort_keys=True)),
            cache_version=np.array(CACHE_VERSION),
        )


def _resolve_all(
    spec: DatasetSpec,
    root: str | os.PathLike[str],
    mirror: str | os.PathLike[str] | None,
    download: bool,
) -> dict[str, Path]:
    """Every archive of ``spec`` by role; one DataError covering all without a valid copy
    (absent, unreadable or with the wrong MD5: each one's report says which)."""
    paths: dict[str, Path] = {}
    failures: list[str] = []
    for archive in spec.files:
        try:
            paths[archive.role] = resolve_archive(
                spec, archive.filename, root=root, mirror=mirror, download=download
            )
        except DataError as err:
            failures.append(str(err))
    if failures:
        header = f"{spec.name}: no valid copy of {len(failures)} of {len(spec.files)} archive(s)."
        raise DataError("\n\n".join([header, *failures]))
    return paths


def _parse_archives(spec: DatasetSpec, paths: dict[str, Path]) -> dict[str, np.ndarray]:
    if spec.format == "cifar-python":
        return formats.read_cifar_python(paths["archive"])
    return {
        "x_train": formats.read_idx(paths["train_images"], ndim=3),
        "y_train": formats.read_idx(paths["train_labels"], ndim=1).astype(np.int64),
        "x_test": formats.read_idx(paths["test_images"], ndim=3),
        "y_test": formats.read_idx(paths["test_labels"], ndim=1).astype(np.int64),
    }


def _rebuild_cache(
    spec: DatasetSpec,
    path: Path,
    root: str | os.PathLike[str],
    mirror: str | os.PathLike[str] | None,
    download: bool,
) -> dict[str, np.ndarray]:
    """Parse the archives into a new cache at ``path``, unless another job did so meanwhile.

    Holding the cache's lock throughout means concurrent jobs neither parse the archives (or
    download them) in parallel nor overwrite each other's cache; the check under the lock lets
    the ones that waited load what the first one wrote.
    """
    from curvlab.io import exclusive_lock  # lazy: curvlab.io pulls in pandas and pyarrow

    with exclusive_lock(path):
        cached = _load_cache(spec, path)
        if cached is not None:
            return cached
        paths = _resolve_all(spec, root, mirror, download)
        arrays = _parse_archives(spec, paths)
        _validate(spec, arrays, f"{spec.name} archives {sorted(str(p) for p in paths.values())}")
        _save_cache(spec, path, arrays)
    return arrays


def load_dataset(
    name: str | DatasetSpec,
    *,
    root: str | os.PathLike[str] = "data",
    mirror: str | os.PathLike[str] | None = None,
    download: bool = True,
) -> dict[str, np.ndarray]:
    """``x_train, y_train, x_test, y_test`` of a registry dataset (or a given spec).

    Images are uint8 as stored: (N, 28, 28) for the MNISTs, (N, 3, 32, 32) for CIFAR-10;
    labels are int64. ``mirror`` and ``download`` are passed to
    :func:`curvlab.data.resolve_archive`, which is only consulted when the cache
    ``<root>/<name>.npz`` is missing or stale. A valid cache is read without taking the lock,
    so a read-only data root serves it.
    """
    spec = resolve_spec(name)
    path = cache_path(spec, root=root)
    cached = _load_cache(spec, path, report=False)
    if cached is not None:
        return cached
    return _rebuild_cache(spec, path, root, mirror, download)


# --------------------------------------------------------------------------- subsets


def first_n(x: np.ndarray, y: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """The first ``n`` samples, in stored order (e.g. Mori et al.: the first 10^4 MNIST images).

    Returns views, not copies.
    """
    if len(x) != len(y):
        raise ValueError(f"{len(x)} inputs but {len(y)} labels")
    if not 0 <= n <= len(x):
        raise ValueError(f"cannot take the first {n} of {len(x)} samples")
    return x[:n], y[:n]


def stratified_subset(
    x: np.ndarray, y: np.ndarray, n: int, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """``n`` samples drawn without replacement, balanced across the classes present in ``y``.

    Each class gets ``n // k`` samples; the remainder goes one each to the lowest labels. The
    chosen samples keep their stored order.
    """
    if len(x) != len(y):
        raise ValueError(f"{len(x)} inputs but {len(y)} labels")
    classes = np.unique(y)
    base, extra = divmod(n, len(classes))
    chosen = []
    for i, label in enumerate(classes):
        members = np.flatnonzero(y == label)
        take = base + (1 if i < extra else 0)
        if take > len(members):
            raise ValueError(f"class {label} has {len(members)} samples, {take} requested")
        chosen.append(rng.choice(members, size=take, replace=False))
    index = np.sort(np.concatenate(chosen))
    return x[index], y[index]


# --------------------------------------------------------------------------- inputs


def to_float(images: np.ndarray, dtype: npt.DTypeLike = np.float64) -> np.ndarray:
    """uint8 pixels to floats in [0, 1]. Refuses other dtypes, which would be scaled twice."""
    if images.dtype != np.uint8:
        raise TypeError(f"to_float expects uint8 pixels, got {images.dtype}")
    out = images.astype(dtype)
    out /= 255
    return out


def downscale(images: np.ndarray, size: int | tuple[int, int]) -> np.ndarray:
    """Area-average the last two axes down to ``size`` (e.g. 28x28 -> 14x14 by 2x2 block means).

    Both factors (old/new) must be integers, so every output pixel is the mean of a whole
    block and no interpolation choice is involved. Integer input gives float64; float input
    keeps its dtype.
    """
    height, width = images.shape[-2:]
    new_h, new_w = (size, size) if isinstance(size, int) else size
    if new_h <= 0 or new_w <= 0 or height % new_h or width % new_w:
        raise ValueError(
            f"cannot block-average {height}x{width} to {new_h}x{new_w}: "
            "each side must shrink by a positive integer factor"
        )
    blocks = images.reshape(*images.shape[:-2], new_h, height // new_h, new_w, width // new_w)
    dtype = images.dtype if np.issubdtype(images.dtype, np.floating) else np.float64
    return blocks.mean(axis=(-3, -1), dtype=dtype)


def flatten(images: np.ndarray) -> np.ndarray:
    """(N, ...) -> (N, prod(...)), a view where possible."""
    return images.reshape(len(images), -1)


def standardize_features(
    x: np.ndarray, *, eps: float = 1e-8, reference: np.ndarray | None = None
) -> np.ndarray:
    """Zero mean and unit variance per feature (column) of a (samples x features) array.

    Statistics come from ``reference`` (default: ``x`` itself), so a test set can be scaled
    with the training set's. ``eps`` is added to the variance, so constant features (MNIST's
    border pixels) map to 0 instead of dividing by zero.
    """
    ref = x if reference is None else reference
    mean = ref.mean(axis=0, dtype=np.float64)
    var = ref.var(axis=0, dtype=np.float64)
    return (x - mean) / np.sqrt(var + eps)


def whiten(x: np.ndarray) -> np.ndarray:
    """Whitened inputs: a linear transform of ``x`` (N features x P samples, P >= N) such that
    ``(1/P) X Xᵀ = I_N`` to rounding error.

    With ``xᵀ = Q R`` (thin QR, signs fixed so that ``R`` has a positive diagonal), the result is
    ``√P · Qᵀ``; equivalently ``√P · L⁻¹ x`` where ``L = Rᵀ`` is the Cholesky factor of
    ``x xᵀ``. For P = N this is the convention ``X = √P · Q`` with ``Q`` orthogonal (Huh 2020,
    after Lampinen & Ganguli 2018). No centering is done: the identity is about second moments.
    """
    x = np.asarray(x, dtype=np.float64)
    n_features, n_samples = x.shape
    if n_samples < n_features:
        raise ValueError(f"cannot whiten {n_features} features with only {n_samples} samples")
    q, r = np.linalg.qr(x.T)
    diag = np.diag(r)
    scale = np.abs(diag).max(initial=0.0)
    if n_features and np.abs(diag).min() <= max(x.shape) * np.finfo(np.float64).eps * scale:
        raise ValueError("cannot whiten: the inputs are (numerically) rank deficient")
    return np.sqrt(n_samples) * (q * np.sign(diag)).T


# --------------------------------------------------------------------------- targets


def even_odd_labels(y: np.ndarray) -> np.ndarray:
    """Binary targets: even digit -> +1.0, odd digit -> -1.0 (Mori et al. 2022, Fig. 1)."""
    if not np.issubdtype(y.dtype, np.integer):
        raise TypeError(f"labels must be integers, got {y.dtype}")
    return np.where(y % 2 == 0, 1.0, -1.0)


def one_hot(y: np.ndarray, num_classes: int) -> np.ndarray:
    """(N,) integer labels -> (N, num_classes) float64 one-hot targets."""
    if not np.issubdtype(y.dtype, np.integer):
        raise TypeError(f"labels must be integers, got {y.dtype}")
    if y.size and (y.min() < 0 or y.max() >= num_classes):
        raise ValueError(f"labels must lie in 0..{num_classes - 1}")
    out = np.zeros((len(y), num_classes))
    out[np.arange(len(y)), y] = 1.0
    return out
