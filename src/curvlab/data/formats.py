"""Readers and writers for the datasets' original file formats.

* IDX (MNIST, Fashion-MNIST): a big-endian header ``0x00 0x00 <type> <ndim>``, then ``ndim``
  big-endian uint32 sizes, then the data. Only the unsigned-byte type (0x08) occurs in these
  datasets (0x801 labels, 0x803 images), so it is the only one accepted. Files may be
  gzip-compressed (as distributed) or raw.
* CIFAR-10 "python version": a ``tar.gz`` holding ``cifar-10-batches-py/data_batch_1..5`` and
  ``test_batch``, each a pickled dict with ``b"data"`` (N x 3072 uint8, channel-major) and
  ``b"labels"``. The pickles are read with an unpickler that only admits the numpy classes an
  array needs, so even an unverified archive cannot run code.

Readers check everything they can (magic, dimensions, byte counts, label ranges) and raise
:class:`DataError` naming the file. The writers produce files in exactly these formats, so
tests can exercise the readers and the whole pipeline on small generated data.
"""

from __future__ import annotations

import gzip
import io
import os
import pickle
import struct
import tarfile
import zlib
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from curvlab.data.errors import DataError

_GZIP_MAGIC = b"\x1f\x8b"
_IDX_UBYTE = 0x08
_CIFAR_DIR = "cifar-10-batches-py"
_CIFAR_TRAIN = tuple(f"{_CIFAR_DIR}/data_batch_{i}" for i in range(1, 6))
_CIFAR_TEST = f"{_CIFAR_DIR}/test_batch"
_CIFAR_IMAGE = (3, 32, 32)
_CIFAR_CLASSES = (
    "airplane",
    "automobile",
    "bird",
    "cat",
    "deer",
    "dog",
    "frog",
    "horse",
    "ship",
    "truck",
)


# --------------------------------------------------------------------------- IDX


def _read_maybe_gzip(path: Path) -> bytes:
    raw = path.read_bytes()
    if not raw.startswith(_GZIP_MAGIC):
        return raw
    try:
        return gzip.decompress(raw)
    except (OSError, EOFError, zlib.error) as err:
        raise DataError(f"{path}: corrupt gzip stream ({err})") from err


def read_idx(path: str | os.PathLike[str], *, ndim: int | None = None) -> np.ndarray:
    """Read an unsigned-byte IDX file (gzip-compressed or raw) into a uint8 array.

    With ``ndim`` (1 for labels, 3 for images) the header must declare that many dimensions.
    """
    path = Path(path)
    data = _read_maybe_gzip(path)
    if len(data) < 4:
        raise DataError(f"{path}: not an IDX file (only {len(data)} bytes)")
    zero, dtype_code, n_dims = struct.unpack(">HBB", data[:4])
    magic = int.from_bytes(data[:4], "big")
    if zero != 0 or dtype_code != _IDX_UBYTE or n_dims == 0:
        raise DataError(
            f"{path}: bad IDX magic number 0x{magic:08x} "
            "(expected 0x00000801 for labels or 0x00000803 for images: unsigned bytes)"
        )
    if ndim is not None and n_dims != ndim:
        raise DataError(
            f"{path}: IDX magic 0x{magic:08x} declares {n_dims} dimensions, expected {ndim} "
            f"(magic 0x{0x800 + ndim:08x})"
        )
    header_len = 4 + 4 * n_dims
    if len(data) < header_len:
        raise DataError(f"{path}: IDX header truncated ({len(data)} of {header_len} bytes)")
    shape = struct.unpack(f">{n_dims}I", data[4:header_len])
    expected = int(np.prod(shape, dtype=np.int64))
    found = len(data) - header_len
    if found != expected:
        raise DataError(
            f"{path}: IDX header declares shape {shape} ({expected} data bytes) but the file "
            f"holds {found} data bytes ({'truncated' if found < expected else 'trailing data'})"
        )
    return np.frombuffer(data, dtype=np.uint8, offset=header_len).reshape(shape).copy()


def write_idx(path: str | os.PathLike[str], array: np.ndarray) -> None:
    """Write a uint8 array as an IDX file, gzip-compressed if ``path`` ends in ``.gz``.

    The gzip header carries no name or time stamp, so the same array gives the same bytes.
    """
    from curvlab.io import atomic_path  # lazy: curvlab.io pulls in pandas and pyarrow

    array = np.asarray(array)
    if array.dtype != np.uint8 or array.ndim == 0:
        raise ValueError(f"write_idx needs a uint8 array with ndim >= 1, got {array.dtype}")
    header = struct.pack(f">HBB{array.ndim}I", 0, _IDX_UBYTE, array.ndim, *array.shape)
    payload = header + np.ascontiguousarray(array).tobytes()
    with atomic_path(path) as tmp:
        if str(path).endswith(".gz"):
            with (
                open(tmp, "wb") as fh,
                gzip.GzipFile(filename="", mode="wb", fileobj=fh, mtime=0) as gz,
            ):
                gz.write(payload)
        else:
            tmp.write_bytes(payload)


# --------------------------------------------------------------------------- CIFAR-10 python


class _ArrayOnlyUnpickler(pickle.Unpickler):
    """Unpickles dicts, lists, bytes, numbers and numpy arrays, and nothing that runs code.

    The original batches were written by Python 2 with numpy 1 (``numpy.core``); files written
    here by numpy 2 name ``numpy._core``. Both spellings map to the same reconstructor.
    """

    _ALLOWED = {
        ("numpy.core.multiarray", "_reconstruct"): ("numpy._core.multiarray", "_reconstruct"),
        ("numpy._core.multiarray", "_reconstruct"): ("numpy._core.multiarray", "_reconstruct"),
        ("numpy", "ndarray"): ("numpy", "ndarray"),
        ("numpy", "dtype"): ("numpy", "dtype"),
    }

    def find_class(self, module: str, name: str) -> Any:
        target = self._ALLOWED.get((module, name))
        if target is None:
            raise pickle.UnpicklingError(f"refusing to load global {module}.{name}")
        return super().find_class(*target)


def _load_batch(path: Path, member: str, payload: bytes) -> tuple[np.ndarray, np.ndarray]:
    try:
        batch = _ArrayOnlyUnpickler(io.BytesIO(payload), encoding="bytes").load()
        data = np.asarray(batch[b"data"])
        labels = np.asarray(batch[b"labels"])
    except (pickle.UnpicklingError, EOFError, KeyError, TypeError, ValueError) as err:
        raise DataError(f"{path}: member {member!r} is not a CIFAR batch ({err!r})") from err
    n_pixels = int(np.prod(_CIFAR_IMAGE))
    if data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != n_pixels:
        raise DataError(
            f"{path}: member {member!r} has data of shape {data.shape} and dtype {data.dtype}, "
            f"expected (N, {n_pixels}) uint8"
        )
    if labels.shape != (data.shape[0],):
        raise DataError(
            f"{path}: member {member!r} has {labels.size} labels for {data.shape[0]} images"
        )
    if labels.size and (labels.min() < 0 or labels.max() >= len(_CIFAR_CLASSES)):
        raise DataError(f"{path}: member {member!r} has labels outside 0..9")
    return data.reshape(-1, *_CIFAR_IMAGE), labels.astype(np.int64)


def read_cifar_python(path: str | os.PathLike[str]) -> dict[str, np.ndarray]:
    """Read ``cifar-10-python.tar.gz`` into ``x_train, y_train, x_test, y_test``.

    Images are (N, 3, 32, 32) uint8 (the stored channel-major layout), labels int64.
    """
    path = Path(path)
    wanted = {*_CIFAR_TRAIN, _CIFAR_TEST}
    batches: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    try:
        # One sequential pass in archive order: random access into a .tar.gz re-decompresses
        # from the start on every backward seek.
        with tarfile.open(path, "r:gz") as tar:
            for member in tar:
                if member.name in wanted and member.isfile():
                    fh = tar.extractfile(member)
                    assert fh is not None  # regular files always have a stream
                    # Read first, so a broken archive is reported as such, not as a bad pickle.
                    with fh:
                        payload = fh.read()
                    batches[member.name] = _load_batch(path, member.name, payload)
    except (tarfile.TarError, OSError, EOFError, zlib.error) as err:
        raise DataError(f"{path}: not a readable tar.gz archive ({err})") from err
    missing = sorted(wanted - batches.keys())
    if missing:
        raise DataError(f"{path}: members {missing} are missing from the archive")
    train = [batches[m] for m in _CIFAR_TRAIN]
    x_test, y_test = batches[_CIFAR_TEST]
    return {
        "x_train": np.concatenate([x for x, _ in train]),
        "y_train": np.concatenate([y for _, y in train]),
        "x_test": x_test,
        "y_test": y_test,
    }


def _batch_bytes(label: str, images: np.ndarray, labels: np.ndarray) -> bytes:
    images = np.asarray(images)
    if images.dtype != np.uint8 or images.shape[1:] != _CIFAR_IMAGE:
        raise ValueError(f"CIFAR images must be (N, 3, 32, 32) uint8, got {images.shape}")
    batch = {
        b"batch_label": label.encode(),
        b"labels": [int(v) for v in labels],
        b"data": np.ascontiguousarray(images.reshape(len(images), -1)),
        b"filenames": [f"image_{i:05d}.png".encode() for i in range(len(images))],
    }
    # Protocol 3 stores bytes natively; protocol 2 would route them through _codecs.encode.
    return pickle.dumps(batch, protocol=3)


def write_cifar_python(
    path: str | os.PathLike[str],
    train_batches: Sequence[tuple[np.ndarray, np.ndarray]],
    test_batch: tuple[np.ndarray, np.ndarray],
) -> None:
    """Write a ``cifar-10-python.tar.gz``-style archive from five (images, labels) batches.

    Images are (N, 3, 32, 32) uint8. The layout (directory, ``batches.meta``, batch members,
    pickled dicts with bytes keys) is that of the original archive.
    """
    from curvlab.io import atomic_path  # lazy: curvlab.io pulls in pandas and pyarrow

    if len(train_batches) != len(_CIFAR_TRAIN):
        raise ValueError(f"CIFAR-10 has {len(_CIFAR_TRAIN)} training batches")
    meta = pickle.dumps(
        {b"label_names": [c.encode() for c in _CIFAR_CLASSES], b"num_vis": 3072}, protocol=3
    )
    members = [(f"{_CIFAR_DIR}/batches.meta", meta)]
    for i, (member, (x, y)) in enumerate(zip(_CIFAR_TRAIN, train_batches, strict=True)):
        members.append((member, _batch_bytes(f"training batch {i + 1} of 5", x, y)))
    members.append((_CIFAR_TEST, _batch_bytes("testing batch 1 of 1", *test_batch)))
    with atomic_path(path) as tmp, tarfile.open(tmp, "w:gz") as tar:
        folder = tarfile.TarInfo(_CIFAR_DIR)
        folder.type = tarfile.DIRTYPE
        folder.mode = 0o755
        tar.addfile(folder)
        for name, payload in members:
            info = tarfile.TarInfo(name)
            info.size = len(payload)
            info.mode = 0o644
            tar.addfile(info, io.BytesIO(payload))
