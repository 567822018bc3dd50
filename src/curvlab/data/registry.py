"""Which datasets curvlab knows: where to download them, their exact files and their shape.

Every archive is pinned by byte size and MD5 (the values torchvision checks), so a file found
anywhere (our own download directory, a mirror, a fresh download) is used only if it is the
original byte for byte. Datasets that are deliberately not supported are listed with the
reason, so that asking for one gives an explanation rather than a bare "unknown name".

Tests and users with private data can build their own :class:`DatasetSpec` and pass it wherever
a dataset name is accepted (``resolve_archive``, ``load_dataset``); the registry itself is
immutable.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Format = Literal["idx", "cifar-python"]

#: Roles of the files of an IDX dataset; a CIFAR-python dataset has one file of role "archive".
IDX_ROLES = ("train_images", "train_labels", "test_images", "test_labels")


class UnknownDatasetError(KeyError):
    """A dataset name that the registry does not hold (or refuses to hold)."""

    def __str__(self) -> str:
        # KeyError would show the repr of the message, quotes and escaped newlines included.
        return str(self.args[0]) if self.args else ""


@dataclass(frozen=True)
class ArchiveFile:
    """One original archive file, pinned by size and MD5."""

    filename: str
    size: int
    md5: str
    role: str


@dataclass(frozen=True)
class DatasetSpec:
    """Everything needed to fetch, verify and parse one dataset.

    ``urls`` are base URLs tried in order (each file is ``base + filename``). ``aliases`` are
    other spellings of the name, also accepted as subfolders of a mirror. ``image_shape`` is
    the shape of one stored image: (H, W) for greyscale, (C, H, W) for colour.
    """

    name: str
    urls: tuple[str, ...]
    files: tuple[ArchiveFile, ...]
    format: Format
    num_classes: int
    image_shape: tuple[int, ...]
    train_size: int
    test_size: int
    aliases: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        roles = tuple(f.role for f in self.files)
        expected = IDX_ROLES if self.format == "idx" else ("archive",)
        if sorted(roles) != sorted(expected):
            raise ValueError(f"dataset {self.name!r}: file roles {roles}, expected {expected}")

    def file(self, filename: str) -> ArchiveFile:
        for f in self.files:
            if f.filename == filename:
                return f
        known = ", ".join(f.filename for f in self.files)
        raise UnknownDatasetError(
            f"dataset {self.name!r} has no archive {filename!r}; its files are: {known}"
        )

    def by_role(self, role: str) -> ArchiveFile:
        return next(f for f in self.files if f.role == role)


def _idx_files(sizes_md5s: dict[str, tuple[int, str]]) -> tuple[ArchiveFile, ...]:
    names = {
        "train_images": "train-images-idx3-ubyte.gz",
        "train_labels": "train-labels-idx1-ubyte.gz",
        "test_images": "t10k-images-idx3-ubyte.gz",
        "test_labels": "t10k-labels-idx1-ubyte.gz",
    }
    return tuple(ArchiveFile(names[r], *sizes_md5s[r], role=r) for r in IDX_ROLES)


_DATASETS: dict[str, DatasetSpec] = {
    spec.name: spec
    for spec in (
        DatasetSpec(
            name="mnist",
            urls=(
                "https://ossci-datasets.s3.amazonaws.com/mnist/",
                "http://yann.lecun.com/exdb/mnist/",
            ),
            files=_idx_files(
                {
                    "train_images": (9_912_422, "f68b3c2dcbeaaa9fbdd348bbdeb94873"),
                    "train_labels": (28_881, "d53e105ee54ea40749a09fcbcd1e9432"),
                    "test_images": (1_648_877, "9fb629c4189551a2d022fa330f9573f3"),
                    "test_labels": (4_542, "ec29112dd5afa0611ce80d1b7f02629c"),
                }
            ),
            format="idx",
            num_classes=10,
            image_shape=(28, 28),
            train_size=60_000,
            test_size=10_000,
        ),
        DatasetSpec(
            name="fashion-mnist",
            urls=("http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",),
            files=_idx_files(
                {
                    "train_images": (26_421_880, "8d4fb7e6c68d591d4c3dfef9ec88bf0d"),
                    "train_labels": (29_515, "25c81989df183df01b3e8a0aad5dffbe"),
                    "test_images": (4_422_102, "bef4ecab320f06d8554ea6380940ec79"),
                    "test_labels": (5_148, "bb300cfdad3c16e7a12a480ee83cd310"),
                }
            ),
            format="idx",
            num_classes=10,
            image_shape=(28, 28),
            train_size=60_000,
            test_size=10_000,
            aliases=("fashion_mnist", "fashionmnist"),
        ),
        DatasetSpec(
            name="cifar10",
            urls=("https://www.cs.toronto.edu/~kriz/",),
            files=(
                ArchiveFile(
                    "cifar-10-python.tar.gz",
                    170_498_071,
                    "c58f30108f718f92721af3b95e74349a",
                    role="archive",
                ),
            ),
            format="cifar-python",
            num_classes=10,
            image_shape=(3, 32, 32),
            train_size=50_000,
            test_size=10_000,
            aliases=("cifar-10", "cifar_10"),
        ),
    )
}

_ALIASES = {alias: spec.name for spec in _DATASETS.values() for alias in spec.aliases}

_IMAGENET_REASON = (
    "ImageNet is not supported: it is out of scope for curvlab. There is no offline mirror "
    "of it (about 150 GB, behind a registration wall), and the reduced scales this project "
    "reproduces the papers at need only MNIST, Fashion-MNIST and CIFAR-10."
)
# Name prefixes (so "imagenet-1k", "ilsvrc2012" etc. are caught too) -> why they are refused.
_UNSUPPORTED = {"imagenet": _IMAGENET_REASON, "ilsvrc": _IMAGENET_REASON}


def names() -> list[str]:
    """The canonical names of all supported datasets."""
    return sorted(_DATASETS)


def get(name: str) -> DatasetSpec:
    """The spec of dataset ``name`` (case-insensitive; aliases such as ``cifar-10`` accepted).

    Raises :class:`UnknownDatasetError` (a ``KeyError``) listing the known names, or saying
    why a known-but-unsupported dataset (ImageNet) is refused.
    """
    key = name.strip().lower()
    key = _ALIASES.get(key, key)
    if key in _DATASETS:
        return _DATASETS[key]
    for prefix, reason in _UNSUPPORTED.items():
        if key.startswith(prefix):
            raise UnknownDatasetError(f"dataset {name!r}: {reason}")
    raise UnknownDatasetError(f"unknown dataset {name!r}; known datasets: {', '.join(names())}")


def resolve_spec(dataset: str | DatasetSpec) -> DatasetSpec:
    """Accept either a name or a ready-made spec (how tests inject small fake datasets)."""
    return dataset if isinstance(dataset, DatasetSpec) else get(dataset)
