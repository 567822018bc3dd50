"""Datasets for curvlab: registry, verified fetching, original-format parsers, preprocessing and
synthetic generators.

Image datasets (MNIST, Fashion-MNIST, CIFAR-10) come from their original archives, found in
``<root>/raw``, in a local mirror (``$CURVLAB_DATA_MIRROR`` or ``data.mirror``) or downloaded,
always checked against the registry's MD5 (:func:`resolve_archive`), and are cached as arrays by
:func:`load_dataset`. Importing this package needs numpy only (never torch), so that
workflow jobs that only prepare data stay cheap.
"""

from __future__ import annotations

from curvlab.data.errors import DataError
from curvlab.data.fetch import ENV_MIRROR, md5sum, mirror_dir, raw_path, resolve_archive
from curvlab.data.formats import read_cifar_python, read_idx, write_cifar_python, write_idx
from curvlab.data.prepare import (
    cache_path,
    downscale,
    even_odd_labels,
    first_n,
    flatten,
    load_dataset,
    one_hot,
    standardize_features,
    stratified_subset,
    to_float,
    whiten,
)
from curvlab.data.registry import (
    ArchiveFile,
    DatasetSpec,
    UnknownDatasetError,
    get,
    names,
)
from curvlab.data.synthetic import (
    LinearTeacherStudent,
    gaussian_regression,
    haar_orthogonal,
    linear_teacher_student,
    relu_teacher_regression,
)

__all__ = [
    "ENV_MIRROR",
    "ArchiveFile",
    "DataError",
    "DatasetSpec",
    "LinearTeacherStudent",
    "UnknownDatasetError",
    "cache_path",
    "downscale",
    "even_odd_labels",
    "first_n",
    "flatten",
    "gaussian_regression",
    "get",
    "haar_orthogonal",
    "linear_teacher_student",
    "load_dataset",
    "md5sum",
    "mirror_dir",
    "names",
    "one_hot",
    "raw_path",
    "read_cifar_python",
    "read_idx",
    "relu_teacher_regression",
    "resolve_archive",
    "standardize_features",
    "stratified_subset",
    "to_float",
    "whiten",
    "write_cifar_python",
    "write_idx",
]
