"""The HTML report (``reports/index.html``) and the deliverables manifest (``reports/all``).

The report is one page that opens from disk. It opens with the verdict counts (papers ×
verdicts), then has a section per paper with every figure (linked relatively, PDF beside it)
and its caption, and the paper's claims with measured and expected values, each linked to its
entry in the paper's documentation page (``docs/papers/<paper>.md``, rendered beside the report
as ``reports/docs/<paper>.html``), and a provenance line (curvlab version and commit, config
hash, torch version, devices, date). Every figure and claim row has an anchor
(``#fig-<paper>-<id>``, ``#claim-<paper>-<claim id>``); each section links its result tables
and the resolved config; the claims tables sort and filter with the page's own script (no
CDN); a ci-scale run opens with a smoke-test banner.
"""

from __future__ import annotations

import hashlib
import html
import json
import os
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd

from curvlab import __version__
from curvlab.claims import summary
from curvlab.claims.render import claim_anchor, counts_html, mentioned_claims, rows_html
from curvlab.config import ConfigError
from curvlab.io import (
    config_hash,
    git_state,
    read_provenance,
    read_table,
    write_table,
    write_text_atomic,
)
from curvlab.plots.common import read_manifest
from curvlab.registry import PAPERS, TITLES
from curvlab.tables import CLAIMS, RUNTIME

STYLE = """
body { font-family: system-ui, -apple-system, 'Segoe UI', sans-serif; margin: 2rem auto;
       max-width: 1200px; padding: 0 1rem; color: #1b1b1b; line-height: 1.45; }
h1 { margin-bottom: 0.2rem; } h2 { border-bottom: 2px solid #ddd; padding-bottom: 0.2rem; }
.provenance { color: #555; font-size: 0.85rem; }
figure { margin: 1.5rem 0; } figure img { max-width: 100%; border: 1px solid #eee; }
figcaption { font-size: 0.9rem; color: #333; max-width: 1000px; }
table { border-collapse: collapse; font-size: 0.85rem; margin: 1rem 0; width: 100%; }
th, td { border: 1px solid #ddd; padding: 0.3rem 0.5rem; vertical-align: top; text-align: left; }
th { background: #f4f4f4; } td.num { text-align: right; font-variant-numeric: tabular-nums; }
figure img { max-width: min(100%, 1100px); }
td.verdict { font-weight: 600; white-space: nowrap; } td.verdict small { font-weight: 400; }
.reproduced { color: #146c2e; } .contradiction-confirmed { color: #5b3a8a; }
.discrepancy { color: #b00020; } .out-of-calibration { color: #a04000; }
.inconclusive, .reported, .not-run { color: #555; }
table.verdicts { width: auto; } table.verdicts td.n { text-align: right; }
table.verdicts td.zero { color: #bbb; }
nav a { margin-right: 1rem; }
.banner { background: #fff4d6; border: 1px solid #e0b84a; padding: 0.5rem 0.8rem; }
a.self { color: #aaa; text-decoration: none; font-size: 0.8rem; }
input.claims-filter { width: 24rem; max-width: 100%; padding: 0.25rem; }
table.claims th { cursor: pointer; } table.claims th[aria-sort]::after { content: " ▴"; }
table.claims th[aria-sort="descending"]::after { content: " ▾"; }
p.data { font-size: 0.85rem; }
"""

#: Plain JavaScript, inside the one self-contained page: every claims table sorts by the
#: heading clicked (numbers by their data-sort value) and keeps only the rows whose text holds
#: every word typed in the filter box above it.
SCRIPT = """
document.querySelectorAll("table.claims").forEach(function (table) {
  var body = table.tBodies[0];
  var box = table.previousElementSibling;
  box.addEventListener("input", function () {
    var words = box.value.toLowerCase().split(/\\s+/).filter(Boolean);
    Array.from(body.rows).forEach(function (row) {
      var text = row.textContent.toLowerCase();
      row.hidden = !words.every(function (w) { return text.indexOf(w) >= 0; });
    });
  });
  Array.from(table.tHead.rows[0].cells).forEach(function (th, col) {
    th.addEventListener("click", function () {
      var down = th.getAttribute("aria-sort") === "ascending";
      Array.from(table.tHead.rows[0].cells).forEach(function (c) { c.removeAttribute("aria-sort"); });
      th.setAttribute("aria-sort", down ? "descending" : "ascending");
      var key = function (row) {
        var cell = row.cells[col], raw = cell.getAttribute("data-sort");
        var x = raw === null ? NaN : parseFloat(raw);
        return isNaN(x) ? cell.textContent.trim().toLowerCase() : x;
      };
      Array.from(body.rows).sort(function (a, b) {
        var x = key(a), y = key(b);
        if (typeof x !== typeof y) { return typeof x === "number" ? -1 : 1; }
        return (x < y ? -1 : x > y ? 1 : 0) * (down ? -1 : 1);
      }).forEach(function (row) { body.appendChild(row); });
    });
  });
});
"""

#: Where each paper's documentation page is rendered, relative to the report.
DOCS_DIR = "docs"


def render_docs(
    pages: Sequence[str | os.PathLike[str]], outdir: str | os.PathLike[str]
) -> list[Path]:
    """``docs/papers/<paper>.md`` → ``<outdir>/<paper>.html``, anchors kept, so that the
    report's claim links open the claim's entry from disk."""
    import markdown

    written = []
    for page in map(Path, pages):
        body = markdown.markdown(
            page.read_text(encoding="utf-8"), extensions=["tables", "fenced_code", "toc"]
        )
        title = html.escape(page.stem)
        out = Path(outdir) / f"{page.stem}.html"
        write_text_atomic(
            out,
            f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>curvlab: {title}</title>
<style>{STYLE}</style></head><body>
<p><a href="../index.html#{title}">← back to the report</a></p>
{body}
</body></html>
""",
        )
        written.append(out)
    return written


def _provenance_summary(tables: Iterable[str | os.PathLike[str]]) -> dict[str, Any]:
    """Devices, dtypes and torch versions that produced the result tables."""
    devices, dtypes, torch_versions = set(), set(), set()
    for path in tables:
        record = read_provenance(path)
        runs = record.get("aggregate_of", {path: record}).values()
        for run in runs:
            devices.add(str(run.get("device")))
            dtypes.add(str(run.get("dtype")))
            torch_versions.add(str(run.get("torch_version")))
    return {
        "devices": sorted(devices - {"None"}),
        "dtypes": sorted(dtypes - {"None"}),
        "torch": sorted(torch_versions - {"None"}),
    }


def provenance_line(config: dict[str, Any] | None, tables: Sequence[str | os.PathLike[str]]) -> str:
    commit, dirty = git_state()
    summary = _provenance_summary(tables)
    parts = [
        f"curvlab {__version__}",
        f"commit {commit[:10] + ('+dirty' if dirty else '') if commit else 'unknown'}",
        f"config {config_hash(config) if config is not None else 'unknown'}"
        + (f" (preset {config.get('preset')})" if config else ""),
        f"torch {', '.join(summary['torch']) or 'n/a'}",
        f"device {', '.join(summary['devices']) or 'n/a'}",
        f"dtype {', '.join(summary['dtypes']) or 'n/a'}",
        datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
    ]
    return " · ".join(parts)


def runtime_table(benchmarks: str | os.PathLike[str]) -> pd.DataFrame:
    """One row per Snakemake benchmark file under ``benchmarks`` (``<rule>/.../<job>.tsv``)."""
    root = Path(benchmarks)
    rows = []
    for path in sorted(root.rglob("*.tsv")):
        bench = pd.read_csv(path, sep="\t")
        if bench.empty:
            continue
        relative = path.relative_to(root)
        rows.append(
            {
                "rule": relative.parts[0].removesuffix(".tsv"),
                "job": str(relative),
                "wall_s": float(bench["s"].iloc[-1]),
                "cpu_s": float(bench["cpu_time"].iloc[-1]),
                "max_rss_mb": float(pd.to_numeric(bench["max_rss"], errors="coerce").iloc[-1]),
                "finished_utc": datetime.fromtimestamp(path.stat().st_mtime, UTC).isoformat(
                    timespec="seconds"
                ),
            }
        )
    columns = ["rule", "job", "wall_s", "cpu_s", "max_rss_mb", "finished_utc"]
    return pd.DataFrame(rows, columns=columns)


def _runtime_section(frame: pd.DataFrame) -> str:
    if frame.empty:
        return "<p>No benchmark files yet.</p>"
    per_rule = (
        frame.groupby("rule")
        .agg(
            jobs=("job", "count"),
            wall_total=("wall_s", "sum"),
            wall_mean=("wall_s", "mean"),
            wall_max=("wall_s", "max"),
            cpu_total=("cpu_s", "sum"),
            rss_max=("max_rss_mb", "max"),
        )
        .sort_values("wall_total", ascending=False)
    )
    rows = "".join(
        f"<tr><td><code>{html.escape(rule)}</code></td><td class='num'>{int(r.jobs)}</td>"
        f"<td class='num'>{r.wall_total:.1f}</td><td class='num'>{r.wall_mean:.1f}</td>"
        f"<td class='num'>{r.wall_max:.1f}</td><td class='num'>{r.cpu_total:.1f}</td>"
        f"<td class='num'>{r.rss_max:.0f}</td></tr>"
        for rule, r in per_rule.iterrows()
    )
    return (
        f"<p>{len(frame)} jobs, {frame['wall_s'].sum() / 60:.1f} min of job wall time and "
        f"{frame['cpu_s'].sum() / 60:.1f} min of CPU time in all (the latest run of every job "
        "benchmarked in this working directory; <a href='runtime.parquet'>runtime.parquet</a> "
        "has one row per job).</p><table><thead><tr><th>rule</th><th>jobs</th>"
        "<th>wall total [s]</th><th>wall mean [s]</th><th>wall max [s]</th>"
        "<th>CPU total [s]</th><th>peak RSS [MB]</th></tr></thead><tbody>"
        f"{rows}</tbody></table>"
    )


def read_config(path: str | os.PathLike[str]) -> dict[str, Any]:
    """The resolved workflow config that the ``report_config`` rule wrote as JSON.

    A file rather than a command-line argument: Linux caps one argument at 128 KiB, and the
    config grows with every paper. A file that is not a JSON object is a ConfigError naming it.
    """
    try:
        config = json.loads(Path(path).read_text(encoding="utf-8"))
    except json.JSONDecodeError as err:
        raise ConfigError(f"{path}: not a JSON object ({err})") from err
    if not isinstance(config, dict):
        raise ConfigError(f"{path}: not a JSON object (a {type(config).__name__})")
    return config


def build_report(
    claims_path: str | os.PathLike[str],
    manifests: Sequence[str | os.PathLike[str]],
    out: str | os.PathLike[str],
    config: dict[str, Any] | None = None,
    tables: Sequence[str | os.PathLike[str]] = (),
    benchmarks: str | os.PathLike[str] | None = None,
    runtime_out: str | os.PathLike[str] | None = None,
    docs: Sequence[str | os.PathLike[str]] = (),
) -> None:
    out = Path(out)
    render_docs(docs, out.parent / DOCS_DIR)
    runtime = runtime_table(benchmarks) if benchmarks else pd.DataFrame()
    if runtime_out is not None:
        write_table(runtime, runtime_out, RUNTIME, {"benchmarks": str(benchmarks)})
    claims = read_table(claims_path, CLAIMS)
    sections, nav = [], []
    for manifest_path in manifests:
        manifest = read_manifest(manifest_path)
        paper = manifest["paper"]
        rel = os.path.relpath(Path(manifest_path).parent, out.parent)
        title = PAPERS[paper].title if paper in PAPERS else manifest["title"]
        nav.append(f"<a href='#{paper}'>{html.escape(title.split(':')[0])}</a>")
        body = [f"<section id='{paper}'><h2>{html.escape(manifest['title'])}</h2>"]
        body.append(_data_links(paper, tables, out.parent))
        rows = claims[claims["paper"] == paper]
        shown_in: dict[str, list[tuple[str, str]]] = {}
        for i, fig in enumerate(manifest["figures"], start=1):
            src, pdf = f"{rel}/{fig['png']}", f"{rel}/{fig['pdf']}"
            anchor = html.escape(f"fig-{paper}-{fig['id']}")
            named = mentioned_claims(f"{fig['caption']} {fig.get('protocol', '')}", rows.claim_id)
            for claim_id in named:
                shown_in.setdefault(claim_id, []).append((f"fig-{paper}-{fig['id']}", f"Fig. {i}"))
            claim_links = " ".join(
                f"<a href='#{html.escape(claim_anchor(paper, c))}'><code>{html.escape(c)}</code></a>"
                for c in named
            )
            body.append(
                f"<figure id='{anchor}'><img src='{html.escape(src)}' "
                f"alt='{html.escape(fig['title'])}'>"
                f"<figcaption><b>Figure {i}. {html.escape(fig['title'])}.</b> "
                f"{html.escape(fig['caption'])} "
                f"<a href='{html.escape(pdf)}'>PDF</a> "
                f"<a class='self' href='#{anchor}' title='link to this figure'>#</a>"
                + (f" <span class='claim-links'>Claims: {claim_links}</span>" if named else "")
                + (
                    f"<details><summary>Protocol</summary>{html.escape(fig['protocol'])}</details>"
                    if fig.get("protocol")
                    else ""
                )
                + "</figcaption></figure>"
            )
        body.append(f"<h3 id='claims-{paper}'>Claims</h3><p>{html.escape(summary(rows))}.</p>")
        body.append(rows_html(rows, docs_dir=DOCS_DIR, figures=shown_in))
        body.append("</section>")
        sections.append("\n".join(body))
    scale = ", ".join(sorted(claims["scale"].unique())) if len(claims) else "-"
    page = f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>curvlab report</title><style>{STYLE}</style></head>
<body>
<h1>curvlab: reproduced figures and checked claims</h1>
<p class="provenance">{html.escape(provenance_line(config, tables))}</p>
{_banner(scale)}
<p>Scale <b>{html.escape(scale)}</b>. Verdicts of the papers' claims
(<a href="claims.md">claims.md</a>, <a href="claims.parquet">claims.parquet</a>); each claim
links to its documentation: what it states, how its tolerance was calibrated, what a failure
would mean.</p>
{counts_html(claims, TITLES)}
<nav>{" ".join(nav)} <a href="#runtime">runtime</a></nav>
{"".join(sections)}
<section id="runtime"><h2>Runtime</h2>{_runtime_section(runtime)}</section>
<script>{SCRIPT}</script>
</body></html>
"""
    write_text_atomic(out, page)


def _banner(scale: str) -> str:
    """A warning above everything when the run is the ci smoke test."""
    if scale != "ci":
        return ""
    return (
        '<p class="banner"><b>Smoke test.</b> This is the ci scale: small models, few seeds and '
        "steps, chosen to exercise every step in minutes. Its verdicts check the machinery; "
        "for the science, run the default scale (<code>snakemake --cores all reports/all</code>)."
        "</p>"
    )


def _data_links(paper: str, tables: Sequence[str | os.PathLike[str]], root: Path) -> str:
    """Links to the paper's aggregated result tables (Parquet, with provenance) and to the
    resolved config the workflow writes beside the report, relative to the report."""
    own = [Path(t) for t in tables if Path(t).name.endswith(".parquet") and paper in Path(t).parts]
    links = [
        f"<a href='{html.escape(os.path.relpath(t, root))}'>{html.escape(t.name)}</a>" for t in own
    ]
    if (root / "config.json").exists():
        links.append("<a href='config.json'>resolved config</a>")
    if not links:
        return ""
    return f"<p class='data'>Data: {', '.join(links)}.</p>"


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def write_deliverables_manifest(
    inputs: Sequence[str | os.PathLike[str]], out: str | os.PathLike[str]
) -> None:
    """reports/all: every deliverable with size and SHA-256, so a run's outputs can be compared."""
    lines = ["# curvlab deliverables: path, bytes, sha256"]
    for path in sorted(map(Path, inputs)):
        lines.append(f"{path}\t{path.stat().st_size}\t{_sha256(path)}")
    write_text_atomic(out, "\n".join(lines) + "\n")
