"""Archive resolution: own downloads, mirrors, local HTTP downloads, and the failure report."""

from __future__ import annotations

import dataclasses
import errno
import hashlib
import os
import shutil
import socket
from pathlib import Path

import pytest

from curvlab.data import DataError, md5sum, raw_path, resolve_archive
from curvlab.data import fetch as fetch_module
from curvlab.data.fetch import ENV_MIRROR

LABELS = "train-labels-idx1-ubyte.gz"


def test_md5sum(tmp_path: Path) -> None:
    data = bytes(range(256)) * 5000  # 1.28 MB: more than one 1 MiB read chunk
    (tmp_path / "f").write_bytes(data)
    assert md5sum(tmp_path / "f") == hashlib.md5(data).hexdigest()


def test_mirror_file_is_used_in_place(tiny_idx, tmp_path: Path, list_files) -> None:
    root = tmp_path / "root"
    found = resolve_archive(tiny_idx.spec, LABELS, root=root, mirror=tiny_idx.mirror)
    assert found == tiny_idx.mirror / "tiny" / LABELS
    assert list_files(root) == []  # not copied


def test_flat_mirror_and_environment_variable(
    tiny_idx, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    flat = tmp_path / "flat"
    flat.mkdir()
    (tiny_idx.mirror / "tiny" / LABELS).rename(flat / LABELS)
    monkeypatch.setenv(ENV_MIRROR, str(flat))
    found = resolve_archive(tiny_idx.spec, LABELS, root=tmp_path / "root", download=False)
    assert found == flat / LABELS


def test_mirror_alias_folder(tiny_idx, tmp_path: Path) -> None:
    spec = dataclasses.replace(tiny_idx.spec, aliases=("tiny-alias",))
    (tiny_idx.mirror / "tiny").rename(tiny_idx.mirror / "tiny-alias")
    found = resolve_archive(spec, LABELS, root=tmp_path / "root", mirror=tiny_idx.mirror)
    assert found == tiny_idx.mirror / "tiny-alias" / LABELS


def test_own_download_comes_first(tiny_idx, tmp_path: Path) -> None:
    root = tmp_path / "root"
    local = raw_path(tiny_idx.spec, LABELS, root=root)
    local.parent.mkdir(parents=True)
    local.write_bytes((tiny_idx.mirror / "tiny" / LABELS).read_bytes())
    found = resolve_archive(tiny_idx.spec, LABELS, root=root, mirror=None, download=False)
    assert found == local


def test_corrupt_mirror_file_is_never_used(tiny_idx, tmp_path: Path, list_files) -> None:
    bad = tiny_idx.mirror / "tiny" / LABELS
    bad.write_bytes(b"corrupted" + bad.read_bytes())
    actual = md5sum(bad)
    root = tmp_path / "root"
    with pytest.raises(DataError) as err:
        resolve_archive(tiny_idx.spec, LABELS, root=root, mirror=tiny_idx.mirror, download=False)
    message = str(err.value)
    assert f"{bad}: wrong MD5 {actual}" in message
    assert f"MD5 {tiny_idx.spec.file(LABELS).md5}" in message
    assert list_files(root) == []


def test_nothing_found_says_where_it_looked_and_how_to_fix(tiny_idx, tmp_path: Path) -> None:
    root = tmp_path / "root"
    archive = tiny_idx.spec.file(LABELS)
    empty = tmp_path / "empty-mirror"
    empty.mkdir()
    with pytest.raises(DataError) as err:
        resolve_archive(tiny_idx.spec, LABELS, root=root, mirror=empty, download=False)
    message = str(err.value)
    assert f"expected {archive.size} bytes, MD5 {archive.md5}" in message
    assert f"{root / 'raw' / 'tiny' / LABELS}: absent" in message
    assert f"{empty / 'tiny' / LABELS}: absent" in message
    assert f"{empty / LABELS}: absent" in message
    assert "download: disabled" in message
    assert ENV_MIRROR in message and "data.mirror" in message and "config.yaml" in message
    assert "enable downloads" in message


def test_unset_or_missing_mirror_is_reported(tiny_idx, tmp_path: Path) -> None:
    with pytest.raises(DataError, match=f"mirror: none configured.*{ENV_MIRROR} unset"):
        resolve_archive(tiny_idx.spec, LABELS, root=tmp_path / "r", download=False)
    with pytest.raises(DataError, match="mirror directory does not exist"):
        resolve_archive(
            tiny_idx.spec, LABELS, root=tmp_path / "r", mirror=tmp_path / "nowhere", download=False
        )


# --------------------------------------------------------------------------- downloads


def _served_spec(tiny_idx, base_urls: tuple[str, ...]):
    return dataclasses.replace(tiny_idx.spec, urls=base_urls)


def test_download_verifies_and_renames(
    tiny_idx, http_server, tmp_path: Path, list_files, capsys: pytest.CaptureFixture
) -> None:
    base, serve = http_server
    body = (tiny_idx.mirror / "tiny" / LABELS).read_bytes()
    serve(f"/a/{LABELS}", body)
    spec = _served_spec(tiny_idx, (f"{base}/a/",))
    root = tmp_path / "root"
    found = resolve_archive(spec, LABELS, root=root, download=True)
    assert found == root / "raw" / "tiny" / LABELS
    assert found.read_bytes() == body
    assert list_files(root) == [found]  # no temporary file left beside it
    assert LABELS in capsys.readouterr().err  # progress bar on stderr
    # a second call finds it locally, without the server
    serve(f"/a/{LABELS}", b"")
    assert resolve_archive(spec, LABELS, root=root, download=True) == found


def test_download_falls_back_to_the_next_url(tiny_idx, http_server, tmp_path: Path) -> None:
    base, serve = http_server
    body = (tiny_idx.mirror / "tiny" / LABELS).read_bytes()
    serve(f"/good/{LABELS}", body)
    spec = _served_spec(tiny_idx, (f"{base}/missing/", f"{base}/good/"))
    found = resolve_archive(spec, LABELS, root=tmp_path / "root")
    assert md5sum(found) == spec.file(LABELS).md5


@pytest.mark.parametrize(
    ("variant", "reason"),
    [
        ("wrong-md5", "wrong MD5 {md5}, discarded"),
        ("truncated", "got {short} bytes, expected {size}"),
        ("too-long", "server announced"),
        ("too-long-undeclared", "more than the expected"),
    ],
)
def test_bad_downloads_leave_nothing(
    tiny_idx, http_server, tmp_path: Path, list_files, variant: str, reason: str
) -> None:
    base, serve = http_server
    good = (tiny_idx.mirror / "tiny" / LABELS).read_bytes()
    flipped = bytes([good[0] ^ 0xFF]) + good[1:]  # same size, different MD5
    if variant == "wrong-md5":
        serve(f"/{LABELS}", flipped)
    elif variant == "truncated":
        serve(f"/{LABELS}", good[:-10], declared=len(good))
    elif variant == "too-long":
        serve(f"/{LABELS}", good + b"junk")
    else:
        serve(f"/{LABELS}", good + b"junk", declared=-1)  # no Content-Length to check
    # the corrupt mirror copy must not be used either
    (tiny_idx.mirror / "tiny" / LABELS).write_bytes(flipped)
    spec = _served_spec(tiny_idx, (f"{base}/",))
    root = tmp_path / "root"
    with pytest.raises(DataError) as err:
        resolve_archive(spec, LABELS, root=root, mirror=tiny_idx.mirror)
    message = str(err.value)
    assert f"{base}/{LABELS}: download failed" in message
    expected = reason.format(
        md5=hashlib.md5(flipped).hexdigest(), short=len(good) - 10, size=len(good)
    )
    assert expected in message
    assert list_files(root) == []


def test_download_failures_are_all_reported(tiny_idx, http_server, tmp_path: Path) -> None:
    base, _ = http_server
    with socket.socket() as sock:  # a port nobody listens on once this closes
        sock.bind(("127.0.0.1", 0))
        closed_port = sock.getsockname()[1]
    dead = f"http://127.0.0.1:{closed_port}/"
    spec = _served_spec(tiny_idx, (f"{base}/nothing-here/", dead))
    with pytest.raises(DataError) as err:
        resolve_archive(spec, LABELS, root=tmp_path / "root")
    message = str(err.value)
    assert f"{base}/nothing-here/{LABELS}: download failed: HTTP 404" in message
    assert f"{dead}{LABELS}: download failed: cannot connect" in message
    assert "run where one of the download URLs above is reachable" in message


def test_corrupt_own_copy_is_replaced_by_a_download(tiny_idx, http_server, tmp_path) -> None:
    base, serve = http_server
    body = (tiny_idx.mirror / "tiny" / LABELS).read_bytes()
    serve(f"/{LABELS}", body)
    root = tmp_path / "root"
    local = raw_path(tiny_idx.spec, LABELS, root=root)
    local.parent.mkdir(parents=True)
    local.write_bytes(b"half a file")
    assert resolve_archive(_served_spec(tiny_idx, (f"{base}/",)), LABELS, root=root) == local
    assert local.read_bytes() == body


# --------------------------------------------------------------------------- unreadable files


def _deny_reading(monkeypatch: pytest.MonkeyPatch, denied: Path) -> None:
    """Make reading ``denied`` fail with EACCES; ``chmod 000`` does not stop root, who runs CI."""
    real_md5sum = fetch_module.md5sum

    def md5sum_or_deny(path: str | os.PathLike[str]) -> str:
        if Path(path) == denied:
            raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), str(path))
        return real_md5sum(path)

    monkeypatch.setattr(fetch_module, "md5sum", md5sum_or_deny)


def test_unreadable_mirror_file_is_skipped_for_the_next_place(
    tiny_idx, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    denied = tiny_idx.mirror / "tiny" / LABELS
    flat = tiny_idx.mirror / LABELS
    shutil.copyfile(denied, flat)
    _deny_reading(monkeypatch, denied)
    found = resolve_archive(
        tiny_idx.spec, LABELS, root=tmp_path / "root", mirror=tiny_idx.mirror, download=False
    )
    assert found == flat


def test_unreadable_mirror_file_is_named_in_the_one_error(
    tiny_idx, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    denied = tiny_idx.mirror / "tiny" / LABELS
    _deny_reading(monkeypatch, denied)
    with pytest.raises(DataError) as err:
        resolve_archive(
            tiny_idx.spec, LABELS, root=tmp_path / "root", mirror=tiny_idx.mirror, download=False
        )
    message = str(err.value)
    assert f"{denied}: unreadable: permission denied" in message
    assert f"{tiny_idx.mirror / LABELS}: absent" in message  # the places after it were tried
    assert "download: disabled" in message


@pytest.mark.skipif(
    not hasattr(os, "geteuid") or os.geteuid() == 0, reason="root reads files whatever their mode"
)
def test_mirror_file_without_read_permission(tiny_idx, tmp_path: Path) -> None:
    denied = tiny_idx.mirror / "tiny" / LABELS
    denied.chmod(0)
    try:
        with pytest.raises(DataError, match=f"{denied}: unreadable: permission denied"):
            resolve_archive(
                tiny_idx.spec,
                LABELS,
                root=tmp_path / "root",
                mirror=tiny_idx.mirror,
                download=False,
            )
    finally:
        denied.chmod(0o644)


def test_directory_in_place_of_a_mirror_file(tiny_idx, tmp_path: Path) -> None:
    odd = tiny_idx.mirror / "tiny" / LABELS
    odd.unlink()
    odd.mkdir()
    with pytest.raises(DataError) as err:
        resolve_archive(
            tiny_idx.spec, LABELS, root=tmp_path / "root", mirror=tiny_idx.mirror, download=False
        )
    assert f"{odd}: unreadable: is a directory" in str(err.value)
