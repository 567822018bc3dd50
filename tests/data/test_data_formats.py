"""IDX and CIFAR-10-python readers and writers on small files in the original formats."""

from __future__ import annotations

import gzip
import io
import pickle
import struct
import tarfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from curvlab.data import DataError, read_cifar_python, read_idx, write_cifar_python, write_idx


@settings(max_examples=60, deadline=None)
@given(
    array=hnp.arrays(np.uint8, hnp.array_shapes(min_dims=1, max_dims=4, min_side=0, max_side=6)),
    compressed=st.booleans(),
)
def test_idx_round_trip(tmp_path_factory: pytest.TempPathFactory, array, compressed) -> None:
    path = tmp_path_factory.mktemp("idx") / ("a.idx.gz" if compressed else "a.idx")
    write_idx(path, array)
    back = read_idx(path, ndim=array.ndim)
    assert back.dtype == np.uint8
    assert back.shape == array.shape
    np.testing.assert_array_equal(back, array)


def test_idx_bytes_follow_the_format(tmp_path: Path) -> None:
    images = np.arange(2 * 3 * 4, dtype=np.uint8).reshape(2, 3, 4)
    write_idx(tmp_path / "raw", images)
    write_idx(tmp_path / "labels", np.array([7, 1], dtype=np.uint8))
    raw = (tmp_path / "raw").read_bytes()
    assert raw[:16] == bytes.fromhex("00000803000000020000000300000004")
    assert raw[16:] == images.tobytes()
    assert (tmp_path / "labels").read_bytes() == bytes.fromhex("00000801000000020701")
    # gzip output is deterministic (no time stamp) and decompresses to the raw bytes
    write_idx(tmp_path / "a.gz", images)
    first = (tmp_path / "a.gz").read_bytes()
    write_idx(tmp_path / "a.gz", images)
    assert (tmp_path / "a.gz").read_bytes() == first
    assert gzip.decompress(first) == raw
    assert not list(tmp_path.glob(".*partial"))


def test_write_idx_rejects_non_bytes(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="uint8"):
        write_idx(tmp_path / "x", np.zeros(3, dtype=np.int64))
    assert not list(tmp_path.iterdir())


def _write(path: Path, data: bytes, compress: bool = False) -> Path:
    path.write_bytes(gzip.compress(data) if compress else data)
    return path


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (struct.pack(">I", 0x00000903) + bytes(16), "bad IDX magic number 0x00000903"),
        (struct.pack(">I", 0x01000801) + bytes(8), "bad IDX magic number"),
        (b"\x00\x00", "not an IDX file"),
        (struct.pack(">II", 0x803, 2), "header truncated"),
        (struct.pack(">IIII", 0x803, 2, 2, 2) + bytes(7), "truncated"),
        (struct.pack(">II", 0x801, 2) + bytes(3), "trailing data"),
    ],
)
@pytest.mark.parametrize("compress", [False, True])
def test_corrupt_idx_names_the_file(tmp_path: Path, data: bytes, message: str, compress) -> None:
    path = _write(tmp_path / "broken-idx.gz", data, compress)
    with pytest.raises(DataError, match=message) as err:
        read_idx(path)
    assert str(path) in str(err.value)


def test_idx_dimension_mismatch(tmp_path: Path) -> None:
    write_idx(tmp_path / "labels.gz", np.zeros(5, dtype=np.uint8))
    with pytest.raises(DataError, match="declares 1 dimensions, expected 3") as err:
        read_idx(tmp_path / "labels.gz", ndim=3)
    assert "labels.gz" in str(err.value)


def test_truncated_gzip_names_the_file(tmp_path: Path) -> None:
    write_idx(tmp_path / "x.gz", np.arange(200, dtype=np.uint8).reshape(2, 10, 10))
    data = (tmp_path / "x.gz").read_bytes()
    path = _write(tmp_path / "cut.gz", data[: len(data) // 2])
    with pytest.raises(DataError, match="corrupt gzip") as err:
        read_idx(path)
    assert str(path) in str(err.value)


def test_cifar_round_trip(tiny_cifar) -> None:
    (archive,) = tiny_cifar.spec.files
    arrays = read_cifar_python(tiny_cifar.mirror / "tinycifar" / archive.filename)
    assert set(arrays) == {"x_train", "y_train", "x_test", "y_test"}
    for key, expected in tiny_cifar.arrays.items():
        assert arrays[key].dtype == expected.dtype
        np.testing.assert_array_equal(arrays[key], expected)
    assert arrays["x_train"].shape == (10, 3, 32, 32)


def test_cifar_layout_is_channel_major(tmp_path: Path) -> None:
    """Row r of b"data" is 1024 red, then 1024 green, then 1024 blue values (row-major)."""
    image = np.zeros((1, 3, 32, 32), dtype=np.uint8)
    image[0, 1, 2, 3] = 9  # green channel, row 2, column 3
    labels = np.array([4])
    write_cifar_python(tmp_path / "c.tar.gz", [(image, labels)] * 5, (image, labels))
    with tarfile.open(tmp_path / "c.tar.gz") as tar:
        names = tar.getnames()
        fh = tar.extractfile("cifar-10-batches-py/test_batch")
        assert fh is not None
        batch = pickle.load(fh, encoding="bytes")
    assert "cifar-10-batches-py/batches.meta" in names
    assert batch[b"data"].shape == (1, 3072) and batch[b"labels"] == [4]
    assert np.flatnonzero(batch[b"data"][0]).tolist() == [1024 + 2 * 32 + 3]
    assert read_cifar_python(tmp_path / "c.tar.gz")["x_test"][0, 1, 2, 3] == 9


def _tar_with(path: Path, members: dict[str, bytes]) -> Path:
    with tarfile.open(path, "w:gz") as tar:
        for name, payload in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(payload)
            tar.addfile(info, io.BytesIO(payload))
    return path


def _batch(data: np.ndarray | None = None, labels: list[int] | None = None) -> bytes:
    batch = {
        b"data": np.zeros((2, 3072), dtype=np.uint8) if data is None else data,
        b"labels": [0, 0] if labels is None else labels,
    }
    return pickle.dumps(batch, protocol=3)


def _all_batches(test: bytes) -> dict[str, bytes]:
    members = {f"cifar-10-batches-py/data_batch_{i}": _batch() for i in range(1, 6)}
    return {**members, "cifar-10-batches-py/test_batch": test}


def test_cifar_missing_member(tmp_path: Path) -> None:
    members = _all_batches(_batch())
    del members["cifar-10-batches-py/test_batch"]
    path = _tar_with(tmp_path / "c.tar.gz", members)
    with pytest.raises(DataError, match="test_batch'] are missing") as err:
        read_cifar_python(path)
    assert str(path) in str(err.value)


@pytest.mark.parametrize(
    ("test_batch", "message"),
    [
        (_batch(labels=[0, 10]), "labels outside 0..9"),
        (_batch(labels=[0]), "1 labels for 2 images"),
        (_batch(data=np.zeros((2, 100), dtype=np.uint8)), r"shape \(2, 100\)"),
        (pickle.dumps({b"labels": []}, protocol=3), "not a CIFAR batch"),
        (b"not a pickle", "not a CIFAR batch"),
    ],
)
def test_cifar_bad_batches(tmp_path: Path, test_batch: bytes, message: str) -> None:
    path = _tar_with(tmp_path / "c.tar.gz", _all_batches(test_batch))
    with pytest.raises(DataError, match=message) as err:
        read_cifar_python(path)
    assert str(path) in str(err.value) and "test_batch" in str(err.value)


class _Exploit:
    def __reduce__(self):
        return (print, ("this must never run",))


def test_cifar_pickles_cannot_run_code(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    evil = pickle.dumps({b"data": _Exploit(), b"labels": []}, protocol=3)
    path = _tar_with(tmp_path / "c.tar.gz", _all_batches(evil))
    with pytest.raises(DataError, match="refusing to load global builtins.print"):
        read_cifar_python(path)
    assert "must never run" not in capsys.readouterr().out


def test_cifar_truncated_archive_names_the_file(tiny_cifar, tmp_path: Path) -> None:
    (archive,) = tiny_cifar.spec.files
    data = (tiny_cifar.mirror / "tinycifar" / archive.filename).read_bytes()
    path = _write(tmp_path / "cut.tar.gz", data[: len(data) // 2])
    with pytest.raises(DataError, match="not a readable tar.gz") as err:
        read_cifar_python(path)
    assert str(path) in str(err.value)
