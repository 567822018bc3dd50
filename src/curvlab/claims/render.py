"""The claims table for readers: ``reports/claims.md`` and the claims parts of ``index.html``.

Both open with papers × verdict counts, and every row links to its claim's entry in the
project's documentation (``docs/papers/<paper>.md#<claim id>``), which says what the claim is,
how its tolerance was calibrated and what a failure would mean.
"""

from __future__ import annotations

import fnmatch
import html
import math
import re
from collections.abc import Iterable, Mapping, Sequence

import pandas as pd

from curvlab.claims import Verdict, format_value, summary, verdict_counts

#: From reports/ (where claims.md and index.html are written) to the repository root.
TO_ROOT = "../"

EXPLAINED = {
    Verdict.REPRODUCED: "the run meets the paper's claim (or its notation-fixed form)",
    Verdict.CONTRADICTION_CONFIRMED: (
        "the run meets a measured correction that contradicts the paper's text"
    ),
    Verdict.DISCREPANCY: "the run misses an expectation calibrated at this scale or a priori",
    Verdict.OUT_OF_CALIBRATION: ("the run misses a tolerance that was calibrated at another scale"),
    Verdict.INCONCLUSIVE: "a precondition of the measurement is not met; the value is shown",
    Verdict.REPORTED: "a number shown beside the paper's, not judged",
    Verdict.NOT_RUN: "the study that measures it is off at this scale",
}


def measured_text(row: pd.Series) -> str:
    if not math.isfinite(row["measured"]):
        return "-" if row["verdict"] == Verdict.NOT_RUN else str(row["measured"])
    text = format_value(row["measured"])
    if math.isfinite(row["measured_se"]):
        text += f" ± {format_value(row['measured_se'])}"
    return text


def _cell(value: object) -> str:
    return str(value).replace("|", "\\|").replace("\n", " ")


def _counts_markdown(frame: pd.DataFrame, titles: dict[str, str]) -> list[str]:
    counts = verdict_counts(frame)
    columns = [v for v in counts.columns if counts[v].sum()]
    lines = [
        "| paper | " + " | ".join(columns) + " | claims |",
        "|---|" + "---:|" * (len(columns) + 1),
    ]
    for paper, row in counts.iterrows():
        cells = [str(row[v]) for v in columns]
        lines.append(f"| {titles.get(paper, paper)} | " + " | ".join(cells) + f" | {row.sum()} |")
    return lines


def to_markdown(
    frame: pd.DataFrame, titles: dict[str, str], papers: Sequence[str] | None = None
) -> str:
    """claims.md: the verdict counts, then one section per paper with a row per claim."""
    scale = ", ".join(sorted(frame["scale"].unique())) if len(frame) else "-"
    lines = [
        "# Claims checked by this run",
        "",
        f"Scale: **{scale}**. Every row is computed from this run's Parquet tables "
        "(`reports/claims.parquet`) and links to its entry in `docs/papers/`, which states the "
        "claim, how its tolerance was calibrated and what a failure would mean.",
        "",
        *_counts_markdown(frame, titles),
        "",
        *(f"- **{v}**: {text}." for v, text in EXPLAINED.items()),
        "",
    ]
    for paper in papers or list(dict.fromkeys(frame["paper"])):
        rows = frame[frame["paper"] == paper]
        if rows.empty:
            continue
        lines += [
            f"## {titles.get(paper, paper)}",
            "",
            summary(rows) + ".",
            "",
            "| claim | description | measured | expected | verdict | calibration |",
            "|---|---|---|---|---|---|",
        ]
        for _, row in rows.iterrows():
            verdict = row["verdict"]
            if row["preconditions"] and not row["preconditions_met"]:
                verdict += f" ({row['preconditions']})"
            cells = [
                f"[`{row['claim_id']}`]({TO_ROOT}{row['source']})",
                row["description"],
                measured_text(row),
                row["expected"],
                f"**{verdict}**",
                row["tolerance"],
            ]
            lines.append("| " + " | ".join(_cell(c) for c in cells) + " |")
        lines.append("")
    return "\n".join(lines)


def counts_html(frame: pd.DataFrame, titles: dict[str, str]) -> str:
    """The table index.html opens with: papers × verdict counts."""
    counts = verdict_counts(frame)
    head = "".join(
        f'<th title="{html.escape(EXPLAINED[Verdict(v)])}">{html.escape(v)}</th>'
        for v in counts.columns
    )
    body = []
    for paper, row in counts.iterrows():
        cells = "".join(
            f'<td class="n{"" if row[v] else " zero"}">{row[v]}</td>' for v in counts.columns
        )
        title = html.escape(titles.get(paper, paper))
        body.append(
            f'<tr><td><a href="#{html.escape(paper)}">{title}</a></td>{cells}'
            f'<td class="n">{row.sum()}</td></tr>'
        )
    return (
        '<table class="verdicts"><thead><tr><th>paper</th>'
        f"{head}<th>claims</th></tr></thead><tbody>{''.join(body)}</tbody></table>"
    )


def _rendered(source: str, docs_dir: str) -> str:
    """docs/papers/du2018.md#claim → <docs_dir>/du2018.html#claim."""
    page, _, anchor = source.partition("#")
    return f"{docs_dir}/{page.rsplit('/', 1)[-1].removesuffix('.md')}.html#{anchor}"


def claim_anchor(paper: str, claim_id: str) -> str:
    """The id of a claim's row in index.html (ids are unique per paper, not across papers)."""
    return f"claim-{paper}-{claim_id}"


def mentioned_claims(text: str, claim_ids: Iterable[str]) -> list[str]:
    """The claim ids a caption names, directly (``neg_mass``) or by a pattern (``bn_*_mlp``,
    ``population_outliers_*``), in the order of ``claim_ids``."""
    tokens = {t for t in re.findall(r"[a-z0-9_*]+", text) if "_" in t}
    return [c for c in claim_ids if any(fnmatch.fnmatchcase(c, t) for t in tokens)]


def rows_html(
    rows: pd.DataFrame, docs_dir: str, figures: Mapping[str, list[tuple[str, str]]] | None = None
) -> str:
    """One paper's claims, each row with its own anchor and linked to its entry in the rendered
    documentation page ``<docs_dir>/<paper>.html`` (relative to the report) and to the figures
    that show it (``figures``: claim id → [(anchor, label)]). The table is sortable (click a
    heading) and filterable (the box above it) by the report's script."""
    figures = figures or {}
    out = [
        '<input class="claims-filter" type="search" placeholder="filter claims: id, words or '
        'verdict" aria-label="filter claims">'
        '<table class="claims"><thead><tr><th>claim</th><th>description</th><th>measured</th>'
        "<th>expected</th><th>verdict</th><th>calibration</th></tr></thead><tbody>"
    ]
    for _, row in rows.iterrows():
        verdict = html.escape(row["verdict"])
        css = row["verdict"].lower().replace(" ", "-")
        if row["preconditions"] and not row["preconditions_met"]:
            verdict += f"<br><small>{html.escape(row['preconditions'])}</small>"
        anchor = html.escape(claim_anchor(row["paper"], row["claim_id"]))
        out.append(
            f'<tr id="{anchor}">'
            f'<td><a href="{html.escape(_rendered(row["source"], docs_dir))}">'
            f"<code>{html.escape(row['claim_id'])}</code></a> "
            f'<a class="self" href="#{anchor}" title="link to this row">#</a>'
            + "".join(
                f' <a class="fig-link" href="#{html.escape(a)}">{html.escape(label)}</a>'
                for a, label in figures.get(row["claim_id"], [])
            )
            + "</td>"
            f"<td>{html.escape(row['description'])}</td>"
            # the raw number, so that sorting by this column is numeric
            f'<td data-sort="{float(row["measured"])!r}">{html.escape(measured_text(row))}</td>'
            f"<td>{html.escape(row['expected'])}</td>"
            f'<td class="verdict {css}">{verdict}</td>'
            f"<td>{html.escape(row['tolerance'])}</td>"
            "</tr>"
        )
    out.append("</tbody></table>")
    return "".join(out)
