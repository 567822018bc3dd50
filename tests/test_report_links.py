"""Figure ↔ claim cross-links of the report, and the stamp every PNG carries."""

from __future__ import annotations

import pandas as pd

from curvlab.claims.render import mentioned_claims, rows_html
from curvlab.plots.common import stamp_text

IDS = ["outliers_nobn", "bn_suppresses_ratio_mlp", "bn_rho_mlp", "bn_rho_conv", "neg_mass"]


def test_captions_name_claims_directly_and_by_pattern():
    caption = "Expected (claims outliers_nobn, bn_*_mlp): … measured on the quadrature (neg_mass)."
    assert mentioned_claims(caption, IDS) == [
        "outliers_nobn",
        "bn_suppresses_ratio_mlp",
        "bn_rho_mlp",
        "neg_mass",
    ]
    assert mentioned_claims("no claim here, only snake_case words", IDS) == []


def test_claim_rows_link_back_to_their_figures():
    rows = pd.DataFrame(
        [
            {
                "paper": "p",
                "claim_id": "neg_mass",
                "source": "docs/papers/p.md#neg_mass",
                "verdict": "REPRODUCED",
                "preconditions": "",
                "preconditions_met": True,
                "description": "d",
                "measured": 0.5,
                "measured_se": float("nan"),
                "expected": "≤ 1",
                "tolerance": "t",
            }
        ]
    )
    page = rows_html(rows, "docs", figures={"neg_mass": [("fig-p-fig2", "Fig. 2")]})
    assert 'href="#fig-p-fig2">Fig. 2</a>' in page


def test_stamp_names_code_scale_and_data():
    table = pd.DataFrame({"value": [1.0]})
    table.attrs["provenance"] = {"aggregate_of": {"a": {"config": {"dataset": "mnist"}}}}
    stamp = stamp_text({"t": table, "missing": None}, "ci")
    assert stamp.startswith("curvlab") and "ci scale" in stamp and "data: mnist" in stamp
    assert stamp_text({"t": pd.DataFrame()}, "default").endswith("data: synthetic")
