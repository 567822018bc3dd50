"""The claims vocabulary: one verdict per row, derived from outcome, target and calibration;
bounds whose text and check are one object; every declared claim present at every scale and
documented in the project's own pages."""

from __future__ import annotations

import math
import re
from pathlib import Path

import pandas as pd
import pytest

from curvlab.claims import (
    AtLeast,
    AtMost,
    Between,
    Calibration,
    ClaimSet,
    ClaimSpec,
    Near,
    Outcome,
    Precondition,
    Target,
    Verdict,
    claim_set,
    claims_frame,
    verdict_counts,
    verdict_of,
)
from curvlab.claims.render import counts_html, rows_html, to_markdown
from curvlab.io import write_table
from curvlab.registry import PAPERS
from curvlab.tables import CLAIMS

ROOT = Path(__file__).resolve().parents[1]

SPEC = ClaimSpec("toy", "ratio", "the ratio stays near one", calibrated_at=("default",))
FIXED = ClaimSpec("toy", "fixed", "the corrected sign", target=Target.PAPER_CONTRADICTED)
OFF = ClaimSpec("toy", "off", "a study that is switched off", target=Target.RECONSTRUCTION)
TOY = ClaimSet("toy", [SPEC, FIXED, OFF])


@pytest.mark.parametrize(
    ("outcome", "target", "calibration", "verdict"),
    [
        (Outcome.PASS, Target.PAPER, Calibration.THIS_SCALE, Verdict.REPRODUCED),
        (Outcome.PASS, Target.PAPER_NOTATION_FIXED, Calibration.A_PRIORI, Verdict.REPRODUCED),
        (
            Outcome.PASS,
            Target.PAPER_CONTRADICTED,
            Calibration.OTHER_SCALE,
            Verdict.CONTRADICTION_CONFIRMED,
        ),
        (Outcome.FAIL, Target.PAPER, Calibration.THIS_SCALE, Verdict.DISCREPANCY),
        (Outcome.FAIL, Target.RECONSTRUCTION, Calibration.A_PRIORI, Verdict.DISCREPANCY),
        (Outcome.FAIL, Target.PAPER, Calibration.OTHER_SCALE, Verdict.OUT_OF_CALIBRATION),
        (Outcome.INCONCLUSIVE, Target.PAPER, Calibration.THIS_SCALE, Verdict.INCONCLUSIVE),
        (Outcome.REPORTED, Target.PAPER, Calibration.A_PRIORI, Verdict.REPORTED),
        (Outcome.NOT_RUN, Target.PAPER, Calibration.THIS_SCALE, Verdict.NOT_RUN),
    ],
)
def test_one_verdict_per_combination(outcome, target, calibration, verdict):
    assert verdict_of(outcome, target, calibration) is verdict


@pytest.mark.parametrize(
    ("bound", "inside", "outside", "text"),
    [
        (AtMost(0.005), 0.005, 0.0051, "≤ 0.005"),
        (AtLeast(5.0, unit="standard errors"), 5.0, 4.9, "≥ 5 standard errors"),
        (Between(1.03, 1.12), 1.1, 1.13, "in [1.03, 1.12]"),
        (Near(10.45, 0.05, relative=True), 10.0, 9.9, "10.45 ± 5%"),
        (Near(1.0, 0.2), 0.8, 1.21, "1 ± 0.2"),
    ],
)
def test_a_bound_is_its_own_text(bound, inside, outside, text):
    assert bound.holds(inside) and not bound.holds(outside)
    assert str(bound) == text
    assert not bound.holds(math.nan) and not bound.holds(math.inf)


def test_an_unmet_precondition_gives_inconclusive_never_fail():
    short = [Precondition("at least 10 initializations (5 ran)", False)]
    for value in (0.001, 0.5):  # inside and outside the band
        row = SPEC.check(value, AtMost(0.01), preconditions=short)
        assert row.outcome is Outcome.INCONCLUSIVE
    frame = claims_frame(TOY.complete([SPEC.check(0.5, AtMost(0.01), preconditions=short)]), "ci")
    row = frame.set_index("claim_id").loc["ratio"]
    assert row["verdict"] == "INCONCLUSIVE" and not row["preconditions_met"]
    assert row["measured"] == 0.5  # the value is still shown
    assert "NOT met" in row["preconditions"]


def test_met_preconditions_judge_by_the_bound():
    met = [Precondition("the run trained", True)]
    assert SPEC.check(0.001, AtMost(0.01), preconditions=met).outcome is Outcome.PASS
    assert SPEC.check(0.5, AtMost(0.01), preconditions=met).outcome is Outcome.FAIL


def test_calibration_follows_the_scale():
    assert SPEC.calibration("default") is Calibration.THIS_SCALE
    assert SPEC.calibration("ci") is Calibration.OTHER_SCALE
    assert FIXED.calibration("ci") is Calibration.A_PRIORI
    frame = claims_frame([SPEC.check(0.5, AtMost(0.01))], "ci")
    assert frame.loc[0, "verdict"] == "OUT OF CALIBRATION"
    assert claims_frame([SPEC.check(0.5, AtMost(0.01))], "default").loc[0, "verdict"] == (
        "DISCREPANCY"
    )


def test_a_study_that_is_off_gives_not_run_rows_and_nothing_vanishes():
    rows = TOY.complete([SPEC.check(0.001, AtMost(0.01)), OFF.not_run("the study is disabled")])
    assert [r.spec.id for r in rows] == ["ratio", "fixed", "off"]
    frame = claims_frame(rows, "ci").set_index("claim_id")
    assert frame.loc["off", "verdict"] == "NOT RUN"
    assert "the study is disabled" in frame.loc["off", "description"]
    assert frame.loc["fixed", "verdict"] == "NOT RUN"  # no row produced: filled in


def test_undeclared_or_repeated_rows_are_refused():
    stranger = ClaimSpec("toy", "ratio", "same id, another declaration")
    with pytest.raises(ValueError, match="does not come from this claim set"):
        TOY.complete([stranger.check(1.0, AtMost(2.0))])
    with pytest.raises(ValueError, match="two rows"):
        TOY.complete([SPEC.check(1.0, AtMost(2.0)), SPEC.check(1.0, AtMost(2.0))])
    with pytest.raises(ValueError, match="declared twice"):
        ClaimSet("toy", [SPEC, SPEC])


def test_the_frame_is_the_contract_and_passed_equals_pass(tmp_path):
    rows = TOY.complete(
        [SPEC.check(0.001, AtMost(0.01), se=0.0002), FIXED.check(-0.07, AtMost(0.0))]
    )
    frame = claims_frame(rows, "ci")
    write_table(frame, tmp_path / "claims.parquet", CLAIMS, {})  # conforms to the schema
    assert list(frame.columns) == CLAIMS.names
    assert (frame["passed"] == (frame["outcome"] == "pass")).all()
    assert frame.set_index("claim_id").loc["fixed", "verdict"] == "CONTRADICTION CONFIRMED"
    assert not frame.set_index("claim_id").loc["fixed", "agrees_with_paper"]
    assert frame.loc[0, "source"] == "docs/papers/toy.md#ratio"


def test_verdict_summary_is_rendered_in_markdown_and_html():
    frame = claims_frame(
        TOY.complete([SPEC.check(0.5, AtMost(0.01)), FIXED.check(-0.07, AtMost(0.0))]), "default"
    )
    counts = verdict_counts(frame)
    assert list(counts.columns) == [str(v) for v in Verdict]
    assert counts.loc["toy", "DISCREPANCY"] == 1 and counts.loc["toy", "NOT RUN"] == 1
    text = to_markdown(frame, {"toy": "Toy (2026)"})
    assert "| Toy (2026) | 1 | 1 | 1 | 3 |" in text  # the verdict columns that occur, then total
    assert "[`ratio`](../docs/papers/toy.md#ratio)" in text
    page = counts_html(frame, {"toy": "Toy (2026)"}) + rows_html(frame, docs_dir="docs")
    assert '<a href="#toy">Toy (2026)</a>' in page
    assert 'href="docs/toy.html#ratio"' in page
    assert re.search(r"<th[^>]*>OUT OF CALIBRATION</th>", page)


# --------------------------------------------------------------------------- the papers


@pytest.mark.parametrize("paper", sorted(PAPERS))
def test_every_declared_claim_is_documented(paper):
    """Each claim id has an entry (an HTML anchor of the same id) in docs/papers/<paper>.md."""
    page = ROOT / "docs" / "papers" / f"{paper}.md"
    assert page.is_file(), f"{page} is missing"
    anchors = set(re.findall(r'<a id="([^"]+)"></a>', page.read_text(encoding="utf-8")))
    declared = [spec.id for spec in claim_set(paper)]
    assert declared, f"{paper} declares no claims"
    missing = [cid for cid in declared if cid not in anchors]
    assert not missing, f"{page}: no entry for {missing}"
    assert all(spec.doc == f"docs/papers/{paper}.md#{spec.id}" for spec in claim_set(paper))


CITATION = re.compile(
    r"papers\.md|\.\./shared|specs/|anchors\.md|DESIGN\.md|slurm-local|paper-extracts|gpu\.md"
)


def test_the_product_cites_only_itself():
    """Users have the repository, not the notes it was built from."""
    offenders = []
    for folder in ("src", "docs", "workflow", "presets", "profiles", "benchmarks", "tests"):
        for path in (ROOT / folder).rglob("*"):
            if path == Path(__file__) or "egg-info" in str(path):
                continue
            if path.suffix in {".py", ".md", ".smk", ".yaml", ".rst", ".sh"} and path.is_file():
                text = path.read_text(encoding="utf-8", errors="replace")
                if CITATION.search(text):
                    offenders.append(str(path.relative_to(ROOT)))
    for name in ("README.md", "CONTRIBUTING.md", "Snakefile", "config.yaml"):
        if CITATION.search((ROOT / name).read_text()):
            offenders.append(name)
    assert not offenders, offenders


def test_claim_ids_do_not_depend_on_the_scale():
    """The ids come from each paper's declaration, never from the config: an id must not
    encode a seed, an epoch or a width that a preset sets."""
    for paper in PAPERS:
        for spec in claim_set(paper):
            assert not re.search(r"_seed\d|_epoch\d", spec.id), f"{paper}: {spec.id}"


def test_ci_claims_table_has_every_declared_id_once(tmp_path):
    """From any tables (here none at all), evaluate gives exactly the declared ids."""
    from curvlab.claims import evaluate

    for paper in PAPERS:
        frame = evaluate(paper, {}, "ci")
        assert list(frame["claim_id"]) == [spec.id for spec in claim_set(paper)]
        assert isinstance(frame, pd.DataFrame)
