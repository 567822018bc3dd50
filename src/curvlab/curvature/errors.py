"""The error for curvature requests that cannot be met as asked, and the checks raising it.

It is a ``ValueError`` (what callers caught before it existed) whose message says what to
change; ``curvlab`` prints it as one line instead of a traceback, since the fix is the caller's.
"""

from __future__ import annotations


class CurvatureInputError(ValueError):
    """A count, size, model or batch that the caller must change."""


def check_counts(**counts: int) -> None:
    """Refuse a zero or negative count by name: left alone it becomes an empty or negative
    tensor dimension and fails far from the cause (an IndexError in the Ritz step)."""
    for name, value in counts.items():
        if value < 1:
            raise CurvatureInputError(f"{name} must be a positive integer, got {value}")


def check_choice(name: str, value: object, allowed: tuple[object, ...]) -> None:
    """Refuse an option outside its ``Literal`` set, listing the allowed values: left alone, a
    typo such as ``mode="Train"`` silently takes the other branch of an ``if``."""
    if value not in allowed:
        choices = ", ".join(map(repr, allowed))
        raise CurvatureInputError(f"{name} must be one of {choices}; got {value!r}")
