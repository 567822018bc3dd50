"""The dataset registry: names, refusals, and pinned sizes/MD5s against SOURCES.md."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from curvlab.data import ArchiveFile, DatasetSpec, UnknownDatasetError, get, names


def test_known_names_and_aliases() -> None:
    assert names() == ["cifar10", "fashion-mnist", "mnist"]
    assert get("MNIST").name == "mnist"
    assert get("fashion_mnist").name == "fashion-mnist"
    assert get("cifar-10").name == "cifar10"


def test_specs_describe_the_datasets() -> None:
    mnist, cifar = get("mnist"), get("cifar10")
    assert mnist.format == "idx" and mnist.image_shape == (28, 28) and mnist.num_classes == 10
    assert mnist.urls[0] == "https://ossci-datasets.s3.amazonaws.com/mnist/"
    assert "http://yann.lecun.com/exdb/mnist/" in mnist.urls
    assert cifar.format == "cifar-python" and cifar.image_shape == (3, 32, 32)
    (archive,) = cifar.files
    assert archive == ArchiveFile(
        "cifar-10-python.tar.gz", 170_498_071, "c58f30108f718f92721af3b95e74349a", "archive"
    )
    assert get("fashion-mnist").urls == (
        "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
    )


def test_unknown_name_lists_known_ones() -> None:
    with pytest.raises(KeyError) as err:
        get("svhn")
    assert isinstance(err.value, UnknownDatasetError)
    assert "unknown dataset 'svhn'" in str(err.value)
    assert "cifar10, fashion-mnist, mnist" in str(err.value)


@pytest.mark.parametrize("name", ["imagenet", "ImageNet-1k", "ilsvrc2012"])
def test_imagenet_is_refused_with_the_reason(name: str) -> None:
    with pytest.raises(UnknownDatasetError) as err:
        get(name)
    message = str(err.value)
    assert "not supported" in message
    assert "out of scope" in message and "offline mirror" in message


def test_spec_rejects_inconsistent_roles() -> None:
    with pytest.raises(ValueError, match="roles"):
        DatasetSpec("bad", (), (ArchiveFile("a", 1, "0" * 32, "archive"),), "idx", 2, (1,), 1, 1)
    with pytest.raises(KeyError, match="no archive"):
        get("mnist").file("nope.gz")


def _sources_md_entries(path: Path) -> dict[tuple[str, str], tuple[int, str]]:
    """(dataset, filename) -> (bytes, md5) from the tables and prose of SOURCES.md."""
    text = path.read_text()
    entries = {}
    for section in re.split(r"^## ", text, flags=re.M)[1:]:
        dataset = get(section.split("/")[0].strip()).name
        rows = re.findall(r"^\| (\S+) \| ([\d,]+) \| ([0-9a-f]{32}) \|", section, flags=re.M)
        prose = re.findall(r"`?([\w.-]+\.gz)`? \(([\d,]+) bytes, MD5 ([0-9a-f]{32})\)", section)
        for filename, size, md5 in rows + prose:
            entries[(dataset, filename)] = (int(size.replace(",", "")), md5)
    return entries


def test_pinned_sizes_and_md5s_match_sources_md(shared_root: Path) -> None:
    sources = shared_root / "SOURCES.md"
    if not sources.is_file():
        pytest.skip(f"no {sources} to compare with")
    documented = _sources_md_entries(sources)
    pinned = {
        (spec.name, f.filename): (f.size, f.md5) for spec in map(get, names()) for f in spec.files
    }
    assert len(documented) == len(pinned) == 9
    assert documented == pinned
