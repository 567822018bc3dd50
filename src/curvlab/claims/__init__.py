"""Checkable claims: each paper's statements turned into measured-vs-expected rows.

A paper module exposes ``evaluate(tables..., scale) -> list[Claim]``. The rows go to
``reports/claims.parquet`` (schema :data:`curvlab.tables.CLAIMS`, the contract external checks
read) and ``reports/claims.md``.

Expectations and tolerances come from ``papers.md`` (its "Verified by simulation" subsections
win over the papers' text where they disagree). Where the expectation is such a measured
correction, ``agrees_with_paper`` is False and the description says what the paper claimed: the
row then reports that the paper's statement was contradicted, it is never loosened to pass.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass

import pandas as pd

from curvlab.papers import TITLES


@dataclass(frozen=True)
class Claim:
    paper: str
    claim_id: str
    description: str
    measured: float
    expected: str
    tolerance: str
    passed: bool
    agrees_with_paper: bool = True
    source: str = ""


def at_most(value: float, bound: float) -> bool:
    return math.isfinite(value) and value <= bound


def at_least(value: float, bound: float) -> bool:
    return math.isfinite(value) and value >= bound


def within(value: float, low: float, high: float) -> bool:
    return math.isfinite(value) and low <= value <= high


def not_measured(paper: str, claim_id: str, description: str, why: str, source: str) -> Claim:
    """A claim whose data this run did not produce (e.g. the experiment was disabled)."""
    return Claim(
        paper,
        claim_id,
        f"{description} — not measured: {why}",
        math.nan,
        "-",
        "-",
        False,
        True,
        source,
    )


@dataclass(frozen=True)
class ClaimMaker:
    """One paper's row constructor: ``make(cid, description, measured, expected, tolerance,
    passed)`` fills in the paper key and its default source; ``make.missing(cid, description,
    why)`` is :func:`not_measured` for the same paper."""

    paper: str
    source: str

    def __call__(
        self,
        cid: str,
        description: str,
        measured: float,
        expected: str,
        tolerance: str,
        passed: bool,
        agrees: bool = True,
        source: str | None = None,
    ) -> Claim:
        return Claim(
            self.paper,
            cid,
            description,
            float(measured),
            expected,
            tolerance,
            bool(passed),
            agrees,
            source or self.source,
        )

    def missing(self, cid: str, description: str, why: str, source: str | None = None) -> Claim:
        return not_measured(self.paper, cid, description, why, source or self.source)


def claims_frame(claims: Iterable[Claim], scale: str) -> pd.DataFrame:
    frame = pd.DataFrame([asdict(c) for c in claims])
    if frame.empty:
        frame = pd.DataFrame(columns=[f for f in Claim.__dataclass_fields__])
    frame["scale"] = scale
    frame["measured"] = frame["measured"].astype(float)
    return frame[
        [
            "paper",
            "claim_id",
            "description",
            "measured",
            "expected",
            "tolerance",
            "passed",
            "agrees_with_paper",
            "scale",
            "source",
        ]
    ]


def format_value(value: float) -> str:
    if not math.isfinite(value):
        return str(value)
    if value != 0 and (abs(value) < 1e-3 or abs(value) >= 1e4):
        return f"{value:.3g}"
    return f"{value:.4g}"


def verdict(row: pd.Series) -> str:
    if not math.isfinite(row["measured"]) and row["expected"] == "-":
        return "not measured"
    status = "PASS" if row["passed"] else "FAIL"
    if not row["agrees_with_paper"]:
        status += " (paper's claim contradicted)" if row["passed"] else ""
    return status


def summary(rows: pd.DataFrame) -> str:
    """'n of m measured claims pass' (+ how many were not measured at this scale)."""
    unmeasured = int((rows["expected"] == "-").sum())
    measured = len(rows) - unmeasured
    text = f"{int(rows['passed'].sum())} of {measured} measured claims pass"
    return text + (f"; {unmeasured} not measured at this scale." if unmeasured else ".")


def to_markdown(frame: pd.DataFrame, papers: Sequence[str] | None = None) -> str:
    """claims.md: one section per paper, one table row per claim, verdicts counted."""
    scale = ", ".join(sorted(frame["scale"].unique())) if len(frame) else "-"
    lines = [
        "# Claims checked by this run",
        "",
        f"Scale: **{scale}**. Each row is computed from this run's Parquet tables "
        "(`reports/claims.parquet`). *Contradicted* marks an expectation taken from a measured "
        "correction (papers.md, 'Verified by simulation') that disagrees with the paper's text.",
        "",
    ]
    for paper in papers or sorted(frame["paper"].unique()):
        rows = frame[frame["paper"] == paper]
        if rows.empty:
            continue
        lines += [
            f"## {TITLES.get(paper, paper)}",
            "",
            summary(rows),
            "",
            "| claim | description | measured | expected | tolerance (source) | result |",
            "|---|---|---|---|---|---|",
        ]
        for _, row in rows.iterrows():
            cells = [
                f"`{row['claim_id']}`",
                row["description"],
                format_value(row["measured"]),
                row["expected"],
                f"{row['tolerance']} ({row['source']})" if row["source"] else row["tolerance"],
                verdict(row),
            ]
            lines.append("| " + " | ".join(str(c).replace("|", "\\|") for c in cells) + " |")
        lines.append("")
    return "\n".join(lines)
