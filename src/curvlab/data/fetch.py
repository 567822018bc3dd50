"""Find a dataset's original archive: our own download, a local mirror, or the internet.

Resolution order for one archive file (every candidate must match the registry's MD5):

1. ``<root>/raw/<dataset>/<filename>``, downloaded earlier;
2. a mirror directory (the ``mirror`` argument, else ``$CURVLAB_DATA_MIRROR``), at
   ``<mirror>/<dataset>/<filename>`` (or an alias of the name) and ``<mirror>/<filename>``;
   a valid mirror file is used in place, never copied;
3. a download from each canonical URL in turn into ``<root>/raw/<dataset>/<filename>``.

Machines without internet (cluster nodes, CI) rely on step 2. A file with the wrong MD5 is never
used, wherever it is, and one that cannot be read is reported and skipped. Downloads stream into
a temporary file that is renamed into place only after its size and MD5 check out, so no partial
or wrong file is ever left under ``root``. If nothing works, one :class:`DataError` lists every
place looked at, what was found there, and how to fix it.
"""

from __future__ import annotations

import hashlib
import http.client
import logging
import os
import sys
import urllib.error
import urllib.request
from pathlib import Path

from curvlab import __version__
from curvlab.data.errors import DataError
from curvlab.data.registry import ArchiveFile, DatasetSpec, resolve_spec

ENV_MIRROR = "CURVLAB_DATA_MIRROR"
_CHUNK = 1 << 20
_TIMEOUT_S = 60.0

log = logging.getLogger(__name__)


class _DownloadFailed(Exception):
    """A download that arrived but is not the expected file (size or MD5)."""


def md5sum(path: str | os.PathLike[str]) -> str:
    """Hex MD5 of a file, read in chunks (archives are up to 170 MB)."""
    digest = hashlib.md5(usedforsecurity=False)
    with open(path, "rb") as fh:
        while chunk := fh.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def raw_path(dataset: str | DatasetSpec, filename: str, *, root: str | os.PathLike[str]) -> Path:
    """Where a downloaded archive lives under the data root."""
    return Path(root) / "raw" / resolve_spec(dataset).name / filename


def mirror_dir(mirror: str | os.PathLike[str] | None = None) -> Path | None:
    """The mirror directory in effect: the argument if given, else ``$CURVLAB_DATA_MIRROR``."""
    chosen = os.fspath(mirror) if mirror is not None else os.environ.get(ENV_MIRROR, "")
    return Path(chosen).expanduser() if chosen else None


def _check(path: Path, archive: ArchiveFile) -> str | None:
    """None if ``path`` is the archive, else what is wrong with it.

    A file that cannot be read (no permission, a directory in its place, an I/O error) is a
    finding like a wrong MD5, so the search goes on to the next place and reports it. Special
    files (a FIFO would block the read forever) are refused without opening them.
    """
    try:
        if path.exists() and not (path.is_file() or path.is_dir()):
            return "unreadable: not a regular file"
        actual = md5sum(path)
        size = path.stat().st_size
    except FileNotFoundError:
        return "absent"
    except OSError as err:
        return f"unreadable: {_reason(err)}"
    if actual == archive.md5:
        return None
    return f"wrong MD5 {actual} ({size} bytes), not used"


def _reason(err: OSError) -> str:
    """The OS's words for ``err`` ("permission denied"), without the path we report anyway."""
    return (err.strerror or str(err)).lower()


def _download(url: str, dest: Path, archive: ArchiveFile) -> None:
    """Stream ``url`` into ``dest`` atomically; raise unless size and MD5 match."""
    # Lazy imports: curvlab.io pulls in pandas/pyarrow, and tqdm is only needed here.
    from tqdm import tqdm

    from curvlab.io import atomic_path

    # Some hosts (yann.lecun.com) refuse urllib's default User-Agent.
    request = urllib.request.Request(url, headers={"User-Agent": f"curvlab/{__version__}"})
    with (
        atomic_path(dest) as tmp,
        urllib.request.urlopen(request, timeout=_TIMEOUT_S) as response,
    ):
        announced = response.headers.get("Content-Length")
        if announced is not None and int(announced) != archive.size:
            raise _DownloadFailed(f"server announced {announced} bytes, expected {archive.size}")
        digest = hashlib.md5(usedforsecurity=False)
        received = 0
        with (
            open(tmp, "wb") as out,
            tqdm(
                total=archive.size,
                desc=archive.filename,
                unit="B",
                unit_scale=True,
                unit_divisor=1024,
                file=sys.stderr,
                mininterval=1.0,  # job logs, not only terminals, receive this bar
            ) as bar,
        ):
            while chunk := response.read(_CHUNK):
                received += len(chunk)
                if received > archive.size:
                    raise _DownloadFailed(f"more than the expected {archive.size} bytes")
                digest.update(chunk)
                out.write(chunk)
                bar.update(len(chunk))
        if received != archive.size:
            raise _DownloadFailed(f"got {received} bytes, expected {archive.size}")
        if digest.hexdigest() != archive.md5:
            raise _DownloadFailed(f"wrong MD5 {digest.hexdigest()}, discarded")


def _describe(err: BaseException) -> str:
    if isinstance(err, urllib.error.HTTPError):
        return f"HTTP {err.code} {err.reason}"
    if isinstance(err, urllib.error.URLError):
        return f"cannot connect ({err.reason})"
    if isinstance(err, _DownloadFailed):
        return str(err)
    return f"{type(err).__name__}: {err}"


def resolve_archive(
    dataset: str | DatasetSpec,
    filename: str,
    *,
    root: str | os.PathLike[str],
    mirror: str | os.PathLike[str] | None = None,
    download: bool = True,
) -> Path:
    """Path to a verified copy of one original archive file of ``dataset``.

    ``dataset`` is a registry name or a :class:`DatasetSpec`. See the module docstring for the
    order in which places are tried. Raises :class:`DataError` if none holds the file.
    """
    spec = resolve_spec(dataset)
    archive = spec.file(filename)
    looked: list[tuple[str, str]] = []

    local = raw_path(spec, filename, root=root)
    problem = _check(local, archive)
    if problem is None:
        return local
    looked.append((str(local), problem))

    mirror_root = mirror_dir(mirror)
    if mirror_root is None:
        looked.append(("mirror", f"none configured (no mirror argument, ${ENV_MIRROR} unset)"))
    elif not mirror_root.is_dir():
        looked.append((str(mirror_root), "mirror directory does not exist"))
    else:
        for folder in (spec.name, *spec.aliases, ""):
            candidate = mirror_root / folder / filename
            if folder in spec.aliases and not candidate.parent.is_dir():
                continue  # an alias folder that is not there is not worth a line
            problem = _check(candidate, archive)
            if problem is None:
                log.info("using mirror copy %s", candidate)
                return candidate
            looked.append((str(candidate), problem))

    if not download:
        looked.append(("download", f"disabled (would try {', '.join(spec.urls)})"))
    else:
        for base in spec.urls:
            url = base + filename
            log.info("downloading %s", url)
            try:
                _download(url, local, archive)
            except (_DownloadFailed, OSError, http.client.HTTPException, ValueError) as err:
                # URLError, HTTPError and timeouts are OSErrors; ValueError covers bad URLs.
                looked.append((url, f"download failed: {_describe(err)}"))
                continue
            return local

    raise DataError(_failure_message(spec, archive, looked, download))


def _failure_message(
    spec: DatasetSpec, archive: ArchiveFile, looked: list[tuple[str, str]], download: bool
) -> str:
    places = "\n".join(f"  - {place}: {finding}" for place, finding in looked)
    fix_download = (
        "or run where one of the download URLs above is reachable"
        if download
        else "or enable downloads (download=True) on a machine with internet access"
    )
    return (
        f"{spec.name}: no valid copy of {archive.filename} "
        f"(expected {archive.size} bytes, MD5 {archive.md5}).\n"
        f"Looked in:\n{places}\n"
        f"How to fix: put the original {archive.filename} in a mirror directory, as "
        f"<mirror>/{spec.name}/{archive.filename} or <mirror>/{archive.filename}, and set "
        f"${ENV_MIRROR}=<mirror> or `data.mirror` in config.yaml; {fix_download}."
    )
