"""load_dataset: parsing from archives, the npz cache, and the real MNIST when it is at hand."""

from __future__ import annotations

import dataclasses
import multiprocessing
import os
import time
from pathlib import Path

import numpy as np
import pytest

from curvlab.data import DataError, cache_path, load_dataset, write_idx
from curvlab.data import prepare as prepare_module


def _rebuild_in_child(
    spec, root: Path, mirror: Path, barrier, results, write_delay_s: float = 0.3
) -> None:
    """One job of the race: load ``spec`` as soon as all jobs are ready, with a slow cache write
    (so the writers overlap), and report (rebuilt?, arrays or error) on ``results``."""
    real_parse, real_savez = prepare_module._parse_archives, np.savez
    parsed = []

    def parse(*args, **kwargs):
        parsed.append(True)
        return real_parse(*args, **kwargs)

    def slow_savez(*args, **kwargs):
        time.sleep(write_delay_s)
        real_savez(*args, **kwargs)

    prepare_module._parse_archives = parse
    np.savez = slow_savez
    barrier.wait()
    try:
        arrays = load_dataset(spec, root=root, mirror=mirror, download=False)
    except BaseException as err:  # reported to the parent, which fails the test with it
        results.put((bool(parsed), f"{type(err).__name__}: {err}"))
    else:
        results.put((bool(parsed), arrays))


def _forbid_parsing(monkeypatch: pytest.MonkeyPatch) -> None:
    def fail(*args, **kwargs):
        raise AssertionError("archives were parsed again although the cache is valid")

    monkeypatch.setattr(prepare_module, "_parse_archives", fail)


@pytest.mark.parametrize("fixture", ["tiny_idx", "tiny_cifar"])
def test_load_and_reuse_cache(
    fixture: str, request: pytest.FixtureRequest, tmp_path: Path, monkeypatch, list_files
) -> None:
    tiny = request.getfixturevalue(fixture)
    root = tmp_path / "root"
    arrays = load_dataset(tiny.spec, root=root, mirror=tiny.mirror, download=False)
    assert set(arrays) == {"x_train", "y_train", "x_test", "y_test"}
    for key, expected in tiny.arrays.items():
        assert arrays[key].dtype == (np.int64 if key.startswith("y") else np.uint8)
        np.testing.assert_array_equal(arrays[key], expected)
    cache = cache_path(tiny.spec, root=root)
    assert list_files(root) == [cache]  # only the cache; the mirror was used in place

    # The second call needs neither the parser nor the archives.
    _forbid_parsing(monkeypatch)
    for path in tiny.mirror.rglob("*.gz"):
        path.unlink()
    again = load_dataset(tiny.spec, root=root, download=False)
    for key in arrays:
        np.testing.assert_array_equal(again[key], arrays[key])


def test_cache_is_rebuilt_when_the_archives_change(
    make_tiny_idx, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = tmp_path / "root"
    old = make_tiny_idx(tmp_path / "old", seed=0)
    load_dataset(old.spec, root=root, mirror=old.mirror)
    new = make_tiny_idx(tmp_path / "new", seed=1)  # same name, other archives and MD5s
    arrays = load_dataset(new.spec, root=root, mirror=new.mirror)
    np.testing.assert_array_equal(arrays["x_train"], new.arrays["x_train"])
    # and the rebuilt cache is now the one that is reused
    _forbid_parsing(monkeypatch)
    np.testing.assert_array_equal(load_dataset(new.spec, root=root)["y_test"], new.arrays["y_test"])


def test_unreadable_cache_is_rebuilt(tiny_idx, tmp_path: Path) -> None:
    root = tmp_path / "root"
    cache = cache_path(tiny_idx.spec, root=root)
    cache.parent.mkdir(parents=True)
    cache.write_bytes(b"PK\x03\x04 this is no zip archive")
    arrays = load_dataset(tiny_idx.spec, root=root, mirror=tiny_idx.mirror)
    np.testing.assert_array_equal(arrays["x_test"], tiny_idx.arrays["x_test"])
    with np.load(cache) as rebuilt:
        assert rebuilt["x_test"].shape == (6, 4, 4)


@pytest.mark.skipif(
    "fork" not in multiprocessing.get_all_start_methods(), reason="needs fork to start the jobs"
)
def test_concurrent_rebuilds_of_a_corrupt_cache(tiny_idx, tmp_path: Path, list_files) -> None:
    """Three jobs find the same corrupt cache at once: one rebuilds it, the others load it."""
    root = tmp_path / "root"
    cache = cache_path(tiny_idx.spec, root=root)
    cache.parent.mkdir(parents=True)
    cache.write_bytes(b"PK\x03\x04 this is no zip archive")
    context = multiprocessing.get_context("fork")
    barrier, results = context.Barrier(3), context.Queue()
    jobs = [
        context.Process(
            target=_rebuild_in_child, args=(tiny_idx.spec, root, tiny_idx.mirror, barrier, results)
        )
        for _ in range(3)
    ]
    for job in jobs:
        job.start()
    outcomes = [results.get(timeout=60) for _ in jobs]
    for job in jobs:
        job.join(timeout=60)
    errors = [found for _, found in outcomes if isinstance(found, str)]
    assert errors == []
    assert sum(rebuilt for rebuilt, _ in outcomes) == 1
    for _, arrays in outcomes:
        for key, expected in tiny_idx.arrays.items():
            np.testing.assert_array_equal(arrays[key], expected)
    assert list_files(root) == [cache]  # no partial or lock file left behind


def test_all_missing_archives_in_one_error(tiny_idx, tmp_path: Path, list_files) -> None:
    for filename in ("train-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"):
        (tiny_idx.mirror / "tiny" / filename).unlink()
    root = tmp_path / "root"
    with pytest.raises(DataError) as err:
        load_dataset(tiny_idx.spec, root=root, mirror=tiny_idx.mirror, download=False)
    message = str(err.value)
    assert message.startswith("tiny: no valid copy of 2 of 4 archive(s).")
    assert "no valid copy of train-images-idx3-ubyte.gz" in message
    assert "no valid copy of t10k-labels-idx1-ubyte.gz" in message
    assert "train-labels" not in message
    assert list_files(root) == []


def test_summary_does_not_call_a_wrong_copy_missing(tiny_idx, tmp_path: Path) -> None:
    bad = tiny_idx.mirror / "tiny" / "train-labels-idx1-ubyte.gz"
    bad.write_bytes(b"corrupted" + bad.read_bytes())
    with pytest.raises(DataError) as err:
        load_dataset(tiny_idx.spec, root=tmp_path / "root", mirror=tiny_idx.mirror, download=False)
    message = str(err.value)
    assert message.startswith("tiny: no valid copy of 1 of 4 archive(s).")
    assert f"{bad}: wrong MD5" in message
    assert "not found" not in message


def test_parse_failure_leaves_no_cache(tiny_idx, archive_entry, tmp_path: Path, list_files):
    """A file that matches its (here: wrong) registry MD5 but does not parse: no cache."""
    labels = tiny_idx.mirror / "tiny" / "train-labels-idx1-ubyte.gz"
    write_idx(labels, np.zeros(5, dtype=np.uint8))  # 5 labels for 12 images
    files = tuple(
        archive_entry(labels, f.role) if f.filename == labels.name else f
        for f in tiny_idx.spec.files
    )
    spec = dataclasses.replace(tiny_idx.spec, files=files)
    root = tmp_path / "root"
    with pytest.raises(DataError, match=r"train labels have shape \(5,\)"):
        load_dataset(spec, root=root, mirror=tiny_idx.mirror)
    assert list_files(root) == []


def test_fashion_mnist_without_images_explains(shared_root: Path, tmp_path: Path) -> None:
    if not (shared_root / "fashion-mnist").is_dir():
        pytest.skip(f"no Fashion-MNIST labels at {shared_root / 'fashion-mnist'}")
    with pytest.raises(DataError) as err:
        load_dataset("fashion-mnist", root=tmp_path, mirror=shared_root, download=False)
    message = str(err.value)
    assert message.startswith("fashion-mnist: no valid copy of 2 of 4 archive(s).")
    assert f"{shared_root / 'fashion-mnist' / 'train-images-idx3-ubyte.gz'}: absent" in message
    assert "MD5 bef4ecab320f06d8554ea6380940ec79" in message


def test_real_mnist(shared_mnist: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root = tmp_path / "data"
    data = load_dataset("mnist", root=root, mirror=shared_mnist, download=False)
    assert data["x_train"].shape == (60000, 28, 28) and data["x_train"].dtype == np.uint8
    assert data["x_test"].shape == (10000, 28, 28) and data["x_test"].dtype == np.uint8
    assert data["y_train"].dtype == data["y_test"].dtype == np.int64
    train_counts = [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]
    test_counts = [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]
    assert np.bincount(data["y_train"]).tolist() == train_counts
    assert np.bincount(data["y_test"]).tolist() == test_counts
    assert data["x_train"].max() == 255 and data["x_train"].min() == 0
    assert data["y_train"][:5].tolist() == [5, 0, 4, 1, 9]  # the well-known first labels

    cache = cache_path("mnist", root=root)
    stamp = os.stat(cache).st_mtime_ns
    _forbid_parsing(monkeypatch)
    again = load_dataset("mnist", root=root, mirror=shared_mnist, download=False)
    assert os.stat(cache).st_mtime_ns == stamp
    np.testing.assert_array_equal(again["x_test"], data["x_test"])
