"""Key markets: criteria, the weighted score and its explanation, by hand on the small company.

FY2026 by segment (tests/test_planning_company.py):
    SMB: A 120,000 + B 60,000 + C 75,000 (60,000 EUR at 1.25) = 255,000 from 36 won deals;
         36 won of 48 closed (one lost a quarter each) = 75%; deal size 7,083.33; 30 days
         from created to won; potential 300k + 100k + 200k + 125k + 50k = 775,000 ->
         headroom 520,000; no FY2025 revenue, so no growth.
    ENT: D 240,000 from 12 won of 16 closed = 75%; deal size 20,000; 30 days; potential
         500,000 -> headroom 260,000.
"""

from __future__ import annotations

from decimal import Decimal

import pytest

from spm_kernel.planning import PlanningError, rank_markets
from spm_kernel.planning.markets import market_criteria
from tests.test_planning_company import planning_template, planning_ws  # noqa: F401

D = Decimal


def test_criteria_by_hand(planning_ws) -> None:
    ws = planning_ws()
    frame = market_criteria(ws, "segment", 2026).set_index("market")
    smb, ent = frame.loc["SMB"], frame.loc["ENT"]
    assert (smb["revenue"], smb["won"], smb["closed"]) == (D("255000.00"), 36, 48)
    assert smb["win_rate"] == pytest.approx(0.75) and smb["deal_size"] == D("7083.33")
    assert smb["cycle_days"] == pytest.approx(30.0) and smb["headroom"] == D("520000.00")
    assert smb["growth"] != smb["growth"]  # NaN: FY2025 had no revenue
    assert (ent["revenue"], ent["deal_size"], ent["headroom"]) == (D("240000.00"), D("20000.00"), D("260000.00"))


def test_the_score_is_the_sum_of_weighted_criterion_scores(planning_ws) -> None:
    ws = planning_ws()
    ranking = rank_markets(ws, by="segment", fiscal_year=2026)
    # growth has no value anywhere: its 0.2 is dropped and the other weights (0.8) renormalised:
    # revenue 0.3125, win rate 0.1875, deal size 0.125, cycle 0.125, headroom 0.25
    assert ranking.weights == pytest.approx({"revenue": 0.3125, "win_rate": 0.1875, "deal_size": 0.125,
                                             "cycle_days": 0.125, "headroom": 0.25})
    assert "no segment has a value for growth" in ranking.notes[0]
    table = ranking.table.set_index("market")
    # min-max per criterion: SMB best on revenue and headroom, ENT on deal size; equal win
    # rates and cycles score 0.5 each
    # SMB = 0.3125 + 0.1875 x 0.5 + 0 + 0.125 x 0.5 + 0.25 = 0.71875; ENT = 0.09375 + 0.125 + 0.0625
    assert table.loc["SMB", "score"] == pytest.approx(0.71875)
    assert table.loc["ENT", "score"] == pytest.approx(0.28125)
    assert table["rank"].tolist() == [1, 2]
    contrib = ranking.contributions()
    assert contrib.loc["SMB"].sum() == pytest.approx(0.71875) and contrib.loc["ENT", "deal_size"] == 0.125
    assert ranking.explain("SMB") == (
        "SMB ranks 1 of 2 segments with a score of 0.72, lifted by revenue (255,000 USD: 0.31 of 0.31) and "
        "headroom (520,000 USD: 0.25 of 0.25); held back by deal size (7,083 USD: 0.00 of 0.12).")
    assert ranking.explain("ENT").startswith("ENT ranks 2 of 2 segments with a score of 0.28, lifted by deal size")


def test_the_analyst_sets_the_weights(planning_ws) -> None:
    ws = planning_ws()
    ranking = rank_markets(ws, by="segment", fiscal_year=2026, weights={"deal_size": 3, "headroom": 1})
    # deal size 0.75 (ENT 1, SMB 0), headroom 0.25 (SMB 1, ENT 0): ENT 0.75, SMB 0.25
    assert ranking.table["market"].tolist() == ["ENT", "SMB"]
    assert ranking.table["score"].tolist() == pytest.approx([0.75, 0.25])
    products = rank_markets(ws, by="product", fiscal_year=2026, potential={"Core": D("1000000")})
    assert products.table.loc[0, "headroom"] == D("505000.00")  # 1,000,000 - 495,000
    with pytest.raises(PlanningError, match="unknown criteria"):
        rank_markets(ws, weights={"profit": 1})
    with pytest.raises(PlanningError, match="segment, region or product"):
        rank_markets(ws, by="country")  # type: ignore[arg-type]
