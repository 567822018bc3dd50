"""curvlab: curvature and learning-dynamics measurements for neural networks.

The package is deliberately light at import time (no torch, numpy or pandas here), because the
Snakemake workflow imports :mod:`curvlab.config` while it parses and every job pays for what
``import curvlab`` pulls in.
"""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("curvlab")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0.0.0+unknown"

__all__ = ["__version__"]
