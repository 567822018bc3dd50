"""``python -m curvlab``: the same command line as the ``curvlab`` script."""

import sys

from curvlab.cli import main

sys.exit(main())
