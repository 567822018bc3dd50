"""Fixtures for the data-layer tests: small datasets in the original formats, a local HTTP
server, and the location of the shared offline mirror. Nothing here touches the internet."""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pytest

from curvlab.data import ArchiveFile, DatasetSpec, md5sum, write_cifar_python, write_idx
from curvlab.data.fetch import ENV_MIRROR

# Read at import, before the autouse fixture below clears the variable for each test.
SHARED_DATASETS = (
    Path(os.environ[ENV_MIRROR])
    if os.environ.get(ENV_MIRROR)
    else Path(__file__).resolve().parents[3] / "shared" / "datasets"
)


@pytest.fixture(autouse=True)
def _no_ambient_mirror(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests choose their mirror explicitly; a developer's own setting must not leak in."""
    monkeypatch.delenv(ENV_MIRROR, raising=False)


@pytest.fixture
def shared_root() -> Path:
    """The shared offline mirror (it may not exist on every machine)."""
    return SHARED_DATASETS


@pytest.fixture
def shared_mnist() -> Path:
    folder = SHARED_DATASETS / "mnist"
    if not folder.is_dir():
        pytest.skip(f"no offline MNIST mirror at {folder} (set {ENV_MIRROR} to one)")
    return SHARED_DATASETS


def archive_entry(path: Path, role: str) -> ArchiveFile:
    return ArchiveFile(path.name, path.stat().st_size, md5sum(path), role)


@dataclass
class TinyDataset:
    spec: DatasetSpec
    mirror: Path  # holds <name>/<archive files>
    arrays: dict[str, np.ndarray]


IDX_NAMES = {
    "train_images": "train-images-idx3-ubyte.gz",
    "train_labels": "train-labels-idx1-ubyte.gz",
    "test_images": "t10k-images-idx3-ubyte.gz",
    "test_labels": "t10k-labels-idx1-ubyte.gz",
}


def make_tiny_idx(folder: Path, name: str = "tiny", seed: int = 0, **spec_kw) -> TinyDataset:
    """A 3-class, 4x4-pixel dataset as four gzipped IDX files under ``folder/<name>/``."""
    rng = np.random.default_rng(seed)
    arrays = {
        "x_train": rng.integers(0, 256, (12, 4, 4), dtype=np.uint8),
        "y_train": rng.integers(0, 3, 12).astype(np.int64),
        "x_test": rng.integers(0, 256, (6, 4, 4), dtype=np.uint8),
        "y_test": rng.integers(0, 3, 6).astype(np.int64),
    }
    keys = {
        "train_images": "x_train",
        "train_labels": "y_train",
        "test_images": "x_test",
        "test_labels": "y_test",
    }
    files = []
    for role, filename in IDX_NAMES.items():
        path = folder / name / filename
        write_idx(path, arrays[keys[role]].astype(np.uint8))
        files.append(archive_entry(path, role))
    spec = DatasetSpec(
        name=name,
        urls=spec_kw.pop("urls", ()),
        files=tuple(files),
        format="idx",
        num_classes=3,
        image_shape=(4, 4),
        train_size=12,
        test_size=6,
        **spec_kw,
    )
    return TinyDataset(spec, folder, arrays)


@pytest.fixture
def tiny_idx(tmp_path: Path) -> TinyDataset:
    return make_tiny_idx(tmp_path / "mirror")


@pytest.fixture(name="make_tiny_idx")
def _make_tiny_idx() -> Callable[..., TinyDataset]:
    """The factory itself, for tests that need several variants of the tiny dataset."""
    return make_tiny_idx


@pytest.fixture(name="archive_entry")
def _archive_entry() -> Callable[[Path, str], ArchiveFile]:
    return archive_entry


@pytest.fixture
def tiny_cifar(tmp_path: Path) -> TinyDataset:
    """Five 2-image training batches and a 3-image test batch in the original tar.gz layout."""
    rng = np.random.default_rng(1)
    train = [
        (rng.integers(0, 256, (2, 3, 32, 32), dtype=np.uint8), rng.integers(0, 10, 2))
        for _ in range(5)
    ]
    test = (rng.integers(0, 256, (3, 3, 32, 32), dtype=np.uint8), rng.integers(0, 10, 3))
    path = tmp_path / "mirror" / "tinycifar" / "cifar-10-python.tar.gz"
    write_cifar_python(path, train, test)
    spec = DatasetSpec(
        name="tinycifar",
        urls=(),
        files=(archive_entry(path, "archive"),),
        format="cifar-python",
        num_classes=10,
        image_shape=(3, 32, 32),
        train_size=10,
        test_size=3,
    )
    arrays = {
        "x_train": np.concatenate([x for x, _ in train]),
        "y_train": np.concatenate([y for _, y in train]).astype(np.int64),
        "x_test": test[0],
        "y_test": test[1].astype(np.int64),
    }
    return TinyDataset(spec, tmp_path / "mirror", arrays)


@dataclass
class Served:
    """A file the local server answers with.

    ``declared`` overrides Content-Length; ``-1`` sends none (the client then reads until the
    server closes the connection).
    """

    body: bytes
    declared: int | None = None


class _Handler(BaseHTTPRequestHandler):
    routes: dict[str, Served]

    def do_GET(self) -> None:
        served = self.routes.get(self.path)
        if served is None:
            self.send_error(404, "Not Found")
            return
        self.send_response(200)
        length = served.declared if served.declared is not None else len(served.body)
        if length >= 0:
            self.send_header("Content-Length", str(length))
        self.end_headers()
        self.wfile.write(served.body)

    def log_message(self, format: str, *args: object) -> None:  # keep test output clean
        pass


@pytest.fixture
def http_server() -> Iterator[tuple[str, Callable[..., None]]]:
    """A server on 127.0.0.1: yields (base URL, serve(path, body, declared=None))."""
    routes: dict[str, Served] = {}
    handler = type("Handler", (_Handler,), {"routes": routes})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    # A short poll interval: shutdown() waits up to one interval.
    thread = threading.Thread(target=server.serve_forever, args=(0.01,), daemon=True)
    thread.start()

    def serve(path: str, body: bytes, declared: int | None = None) -> None:
        routes[path] = Served(body, declared)

    try:
        yield f"http://127.0.0.1:{server.server_port}", serve
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def files_under(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.is_file()) if root.exists() else []


@pytest.fixture
def list_files() -> Callable[[Path], list[Path]]:
    return files_under
