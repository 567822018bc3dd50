"""The one exception the data layer raises for missing, corrupt or unusable data.

It lives in its own module because the parsers (:mod:`.formats`), the resolver (:mod:`.fetch`)
and the cache (:mod:`.prepare`) all raise it, and callers catch it from :mod:`curvlab.data`.
"""

from __future__ import annotations


class DataError(RuntimeError):
    """Data could not be found, verified or parsed.

    The message always names the file (or every place that was looked at) and, where the user
    can act, says how to fix it.
    """
