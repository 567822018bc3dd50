"""Paper plug-ins: every public module here is one paper, found by :mod:`curvlab.registry`.

The contract a module keeps is described in :mod:`curvlab.plugin`. Plug-ins import no torch,
so that the command line and the workflow's parse step stay light.
"""
