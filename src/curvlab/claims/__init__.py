"""Checkable claims: each paper's statements as measured-versus-expected rows with one verdict.

Every paper declares its claims once, in a :class:`ClaimSet` of :class:`ClaimSpec` (the id, the
statement, what the expectation rests on, where its tolerance was calibrated), and documents
each one in ``docs/papers/<paper>.md`` under an anchor of the same id. Its ``evaluate(tables,
scale)`` turns the run's tables into one :class:`Claim` row per id; :meth:`ClaimSet.complete`
adds a NOT RUN row for every declared id the run produced no data for, so the set of ids is the
same at every scale.

A row carries four facts, and readers see one verdict derived from them:

* ``outcome`` — what the check gave: ``pass``, ``fail``, ``inconclusive`` (a precondition of the
  measurement is not met; the value is still shown), ``reported`` (a number shown, not judged),
  ``not_run`` (the study is switched off at this scale);
* ``target`` — what the expectation is: ``paper`` (the paper's statement as printed),
  ``paper_notation_fixed`` (the paper's statement with a typo or convention slip fixed),
  ``paper_contradicted`` (a measured correction that contradicts the paper's statement),
  ``reconstruction`` (a reading of ours where the paper states nothing checkable);
* ``calibration`` — where the tolerance was measured: ``this_scale``, ``other_scale`` or
  ``a_priori`` (set from the maths or the measurement's own error, before any run);
* ``preconditions`` — what must hold for the number to mean anything (a run that trained, enough
  initializations); an unmet precondition makes the outcome ``inconclusive``, never ``fail``.

========================  ============================================================
verdict                   when
========================  ============================================================
REPRODUCED                pass, and the expectation is the paper's (or a notation fix)
CONTRADICTION CONFIRMED   pass, and the expectation is a correction that contradicts the
                          paper: the run shows, with numbers, that the paper is wrong here
DISCREPANCY               fail, with a tolerance calibrated at this scale or a priori: the
                          measurement disagrees with the expectation and needs explaining
OUT OF CALIBRATION        fail, with a tolerance calibrated at another scale: the band may
                          not transfer; the row says where it was measured
INCONCLUSIVE              a precondition is not met (the value is still shown)
REPORTED                  a number shown beside the paper's, not judged
NOT RUN                   the study that measures it is off at this scale (with the reason)
========================  ============================================================

Bounds (:class:`AtMost`, :class:`AtLeast`, :class:`Between`, :class:`Near`) make a row's
expected text and its check from one object, so the two cannot drift apart.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from enum import StrEnum

import pandas as pd

from curvlab.tables import CLAIMS


class Outcome(StrEnum):
    PASS = "pass"
    FAIL = "fail"
    INCONCLUSIVE = "inconclusive"
    REPORTED = "reported"
    NOT_RUN = "not_run"


class Target(StrEnum):
    PAPER = "paper"
    PAPER_NOTATION_FIXED = "paper_notation_fixed"
    PAPER_CONTRADICTED = "paper_contradicted"
    RECONSTRUCTION = "reconstruction"


class Calibration(StrEnum):
    THIS_SCALE = "this_scale"
    OTHER_SCALE = "other_scale"
    A_PRIORI = "a_priori"


class Verdict(StrEnum):
    REPRODUCED = "REPRODUCED"
    CONTRADICTION_CONFIRMED = "CONTRADICTION CONFIRMED"
    DISCREPANCY = "DISCREPANCY"
    OUT_OF_CALIBRATION = "OUT OF CALIBRATION"
    INCONCLUSIVE = "INCONCLUSIVE"
    REPORTED = "REPORTED"
    NOT_RUN = "NOT RUN"


def verdict_of(outcome: Outcome, target: Target, calibration: Calibration) -> Verdict:
    """The one word a reader sees (table in the module docstring)."""
    if outcome is Outcome.PASS:
        if target is Target.PAPER_CONTRADICTED:
            return Verdict.CONTRADICTION_CONFIRMED
        return Verdict.REPRODUCED
    if outcome is Outcome.FAIL:
        if calibration is Calibration.OTHER_SCALE:
            return Verdict.OUT_OF_CALIBRATION
        return Verdict.DISCREPANCY
    return {
        Outcome.INCONCLUSIVE: Verdict.INCONCLUSIVE,
        Outcome.REPORTED: Verdict.REPORTED,
        Outcome.NOT_RUN: Verdict.NOT_RUN,
    }[outcome]


# --------------------------------------------------------------------------- bounds


def format_value(value: float) -> str:
    if not math.isfinite(value):
        return str(value)
    if value != 0 and (abs(value) < 1e-3 or abs(value) >= 1e4):
        return f"{value:.3g}"
    return f"{value:.4g}"


@dataclass(frozen=True)
class Bound:
    """An expectation on one number: ``holds(x)`` is its check, ``str()`` its text. Non-finite
    values never hold."""

    unit: str = field(default="", kw_only=True)

    def holds(self, value: float) -> bool:
        return math.isfinite(value) and self._holds(value)

    def _holds(self, value: float) -> bool:
        raise NotImplementedError

    def _text(self) -> str:
        raise NotImplementedError

    def __str__(self) -> str:
        return self._text() + (f" {self.unit}" if self.unit else "")


@dataclass(frozen=True)
class AtMost(Bound):
    limit: float

    def _holds(self, value: float) -> bool:
        return value <= self.limit

    def _text(self) -> str:
        return f"≤ {format_value(self.limit)}"


@dataclass(frozen=True)
class AtLeast(Bound):
    limit: float

    def _holds(self, value: float) -> bool:
        return value >= self.limit

    def _text(self) -> str:
        return f"≥ {format_value(self.limit)}"


@dataclass(frozen=True)
class Between(Bound):
    low: float
    high: float

    def _holds(self, value: float) -> bool:
        return self.low <= value <= self.high

    def _text(self) -> str:
        return f"in [{format_value(self.low)}, {format_value(self.high)}]"


@dataclass(frozen=True)
class Near(Bound):
    """``|x − center| ≤ tol``, or ``≤ tol·|center|`` with ``relative=True``."""

    center: float
    tol: float
    relative: bool = False

    def _holds(self, value: float) -> bool:
        width = self.tol * abs(self.center) if self.relative else self.tol
        return abs(value - self.center) <= width

    def _text(self) -> str:
        width = f"{100 * self.tol:.3g}%" if self.relative else format_value(self.tol)
        return f"{format_value(self.center)} ± {width}"


# --------------------------------------------------------------------------- declarations


@dataclass(frozen=True)
class Precondition:
    """Something that must hold for a measurement to mean anything, and whether it does."""

    text: str
    met: bool


@dataclass(frozen=True)
class ClaimSpec:
    """One checkable claim of a paper, declared once.

    ``statement`` says what is claimed (in the paper's terms); ``calibrated_at`` lists the
    scales (preset names) at which the tolerance of its bound was measured, empty when it was
    set a priori. Its entry in ``docs/papers/<paper>.md`` has the anchor ``id``.
    """

    paper: str
    id: str
    statement: str
    target: Target = Target.PAPER
    calibrated_at: tuple[str, ...] = ()

    @property
    def doc(self) -> str:
        """The claim's entry in the project's documentation, relative to the repository."""
        return f"docs/papers/{self.paper}.md#{self.id}"

    def calibration(self, scale: str) -> Calibration:
        if not self.calibrated_at:
            return Calibration.A_PRIORI
        if scale in self.calibrated_at:
            return Calibration.THIS_SCALE
        return Calibration.OTHER_SCALE

    # Row constructors: every row of a paper's table is made by one of these.

    def check(
        self,
        measured: float,
        bound: Bound,
        details: str = "",
        *,
        se: float = math.nan,
        preconditions: Sequence[Precondition] = (),
    ) -> Claim:
        """A judged row: ``pass``/``fail`` by ``bound``, ``inconclusive`` if a precondition
        is not met."""
        if all(p.met for p in preconditions):
            outcome = Outcome.PASS if bound.holds(measured) else Outcome.FAIL
        else:
            outcome = Outcome.INCONCLUSIVE
        return Claim(self, outcome, float(measured), str(bound), details, se, tuple(preconditions))

    def report(
        self,
        measured: float,
        details: str = "",
        *,
        expected: str = "reported, not judged",
        se: float = math.nan,
    ) -> Claim:
        """A number shown beside the paper's (``expected`` says what it is compared with)."""
        return Claim(self, Outcome.REPORTED, float(measured), expected, details, se, ())

    def inconclusive(
        self, measured: float, why: str, details: str = "", *, expected: str = "-"
    ) -> Claim:
        """A measurement that cannot decide the claim, for a reason other than a listed
        precondition (the value is still shown)."""
        pre = (Precondition(why, False),)
        return Claim(self, Outcome.INCONCLUSIVE, float(measured), expected, details, math.nan, pre)

    def not_run(self, reason: str) -> Claim:
        """The study that measures this claim did not run at this scale."""
        return Claim(self, Outcome.NOT_RUN, math.nan, "-", reason, math.nan, ())


@dataclass(frozen=True)
class Claim:
    """One row of the claims table (see :func:`claims_frame` for the columns)."""

    spec: ClaimSpec
    outcome: Outcome
    measured: float
    expected: str
    details: str
    se: float
    preconditions: tuple[Precondition, ...]

    @property
    def description(self) -> str:
        return f"{self.spec.statement} — {self.details}" if self.details else self.spec.statement


class ClaimSet:
    """A paper's declared claims, in order, by id."""

    def __init__(self, paper: str, specs: Iterable[ClaimSpec]) -> None:
        self.paper = paper
        self.specs: dict[str, ClaimSpec] = {}
        for spec in specs:
            if spec.paper != paper:
                raise ValueError(f"{spec.id}: declared for {spec.paper}, listed under {paper}")
            if spec.id in self.specs:
                raise ValueError(f"{paper}: claim id {spec.id!r} declared twice")
            self.specs[spec.id] = spec

    def __getitem__(self, claim_id: str) -> ClaimSpec:
        return self.specs[claim_id]

    def __iter__(self) -> Iterator[ClaimSpec]:
        return iter(self.specs.values())

    def __len__(self) -> int:
        return len(self.specs)

    def complete(self, rows: Iterable[Claim]) -> list[Claim]:
        """The rows in declaration order, one per declared id: a NOT RUN row for each id the
        run measured nothing for. An undeclared or repeated id is a programming error."""
        by_id: dict[str, Claim] = {}
        for row in rows:
            cid = row.spec.id
            if self.specs.get(cid) is not row.spec:
                raise ValueError(f"{self.paper}: row {cid!r} does not come from this claim set")
            if cid in by_id:
                raise ValueError(f"{self.paper}: two rows for claim {cid!r}")
            by_id[cid] = row
        return [
            by_id.get(cid) or spec.not_run("this run produced no data for it")
            for cid, spec in self.specs.items()
        ]


def claim_set(paper: str) -> ClaimSet:
    """The declared claims of a paper plug-in (``CLAIMS`` beside its ``evaluate``)."""
    from curvlab.registry import PAPERS

    return PAPERS[paper].claims_module().CLAIMS


def evaluate(paper: str, tables: dict[str, pd.DataFrame], scale: str) -> pd.DataFrame:
    """A paper's claims table at ``scale``: its ``evaluate`` on its aggregated tables, one row
    per declared claim (NOT RUN where the run measured nothing)."""
    from curvlab.registry import PAPERS

    rows = PAPERS[paper].claims_module().evaluate(tables, scale)
    return claims_frame(claim_set(paper).complete(rows), scale)


# --------------------------------------------------------------------------- the table


def claims_frame(claims: Iterable[Claim], scale: str) -> pd.DataFrame:
    """The rows as the ``claims`` table (:data:`curvlab.tables.CLAIMS`) at ``scale``."""
    records = []
    for c in claims:
        calibration = c.spec.calibration(scale)
        records.append(
            {
                "paper": c.spec.paper,
                "claim_id": c.spec.id,
                "description": c.description,
                "measured": c.measured,
                "measured_se": c.se,
                "expected": c.expected,
                "tolerance": _tolerance_text(c.spec, calibration),
                "outcome": str(c.outcome),
                "passed": c.outcome is Outcome.PASS,
                "target": str(c.spec.target),
                "agrees_with_paper": c.spec.target is not Target.PAPER_CONTRADICTED,
                "calibration": str(calibration),
                "preconditions": "; ".join(
                    f"{p.text} ({'met' if p.met else 'NOT met'})" for p in c.preconditions
                ),
                "preconditions_met": all(p.met for p in c.preconditions),
                "verdict": str(verdict_of(c.outcome, c.spec.target, calibration)),
                "scale": scale,
                "source": c.spec.doc,
            }
        )
    return pd.DataFrame(records, columns=CLAIMS.names).astype(
        {"measured": float, "measured_se": float}
    )


def _tolerance_text(spec: ClaimSpec, calibration: Calibration) -> str:
    if calibration is Calibration.A_PRIORI:
        return "set a priori"
    where = ", ".join(spec.calibrated_at)
    if calibration is Calibration.THIS_SCALE:
        return f"calibrated at this scale ({where})"
    return f"calibrated at another scale ({where})"


def verdict_counts(frame: pd.DataFrame) -> pd.DataFrame:
    """Papers × verdicts: how many rows of each, in the vocabulary's order."""
    order = [str(v) for v in Verdict]
    counts = frame.groupby(["paper", "verdict"]).size().unstack(fill_value=0)
    return counts.reindex(columns=order, fill_value=0).astype(int)


def summary(rows: pd.DataFrame) -> str:
    """'12 REPRODUCED, 1 DISCREPANCY, 2 NOT RUN' for a set of rows (zero counts left out)."""
    counts = rows["verdict"].value_counts()
    parts = [f"{counts[str(v)]} {v}" for v in Verdict if counts.get(str(v), 0)]
    return ", ".join(parts) + f" ({len(rows)} claims)" if parts else "no claims"
