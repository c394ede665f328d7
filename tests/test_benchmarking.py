"""Benchmarking on the hand-worked company (tests/test_metrics_company.py), 2026-Q3.

Reps' values used below: win rate R1 2/3, R2 1, R3 3/4, R4 none (no closed deals); average
closing time R1 47, R2 21, R3 50 days; quota attainment R1 0.5, R2 14,000/9,200, R3 0.89,
R4 none (zero quota)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pandas as pd
import pytest

from spm_kernel.benchmarking import (
    BenchmarkError,
    areas_for_improvement,
    compare_with_external,
    load_external_benchmarks,
    peer_benchmarks,
    team_benchmarks,
    tenure_band,
)
from spm_kernel.workspace import Workspace
from tests.test_metrics_company import AS_OF, Q3, acme  # noqa: F401 - fixture


def pick(df: pd.DataFrame, key: str, metric: str) -> pd.Series:
    hit = df[(df.iloc[:, 0] == key) & (df["metric"] == metric)]
    assert len(hit) == 1
    return hit.iloc[0]


def test_tenure_bands() -> None:
    days = pd.Series([0, 182, 183, 364, 365, 729, 730, 5000])
    assert list(tenure_band(days)) == ["under 6 months", "under 6 months", "6-12 months", "6-12 months",
                                       "1-2 years", "1-2 years", "2+ years", "2+ years"]


def test_peers_share_role_tenure_band_and_segment(acme: Workspace) -> None:  # noqa: F811
    df = peer_benchmarks(acme, Q3, ["win_rate"], as_of=AS_OF)
    assert set(df["payee_id"]) == {"R1", "R2", "R3", "R4"}  # reps only
    r1 = pick(df, "R1", "win_rate")
    # R1: 2+ years, SMB; R2 (SMB) is under 6 months: R1 has no peer but themselves
    assert (r1["tenure_band"], r1["segment"], r1["peers"], r1["percentile"]) == ("2+ years", "SMB", 1, 50.0)
    assert pick(df, "R4", "win_rate")["tenure_band"] == "1-2 years"


def test_percentile_rank_median_top_quartile_and_gaps(acme: Workspace) -> None:  # noqa: F811
    df = peer_benchmarks(acme, Q3, ["win_rate", "avg_closing_time"], peer_keys=("role",), as_of=AS_OF)
    r1 = pick(df, "R1", "win_rate")
    assert r1["peers"] == 3                                   # R4 has no value
    assert r1["percentile"] == pytest.approx(100 * 0.5 / 3)   # worst of three
    assert pick(df, "R3", "win_rate")["percentile"] == pytest.approx(50.0)
    assert pick(df, "R2", "win_rate")["percentile"] == pytest.approx(100 * 2.5 / 3)
    assert r1["peer_median"] == 0.75
    assert r1["peer_top_quartile"] == pytest.approx(0.875)    # 0.75 + (1 - 0.75) / 2
    assert r1["gap_to_median"] == pytest.approx(0.75 - 2 / 3)
    assert r1["gap_to_top_quartile"] == pytest.approx(0.875 - 2 / 3)
    r4 = pick(df, "R4", "win_rate")
    assert pd.isna(r4["percentile"]) and pd.isna(r4["value"])
    # lower is better: the slowest closer ranks lowest, the top quartile is the 25th percentile
    slow = pick(df, "R3", "avg_closing_time")
    assert slow["percentile"] == pytest.approx(100 * 0.5 / 3)
    assert slow["peer_top_quartile"] == pytest.approx(34.0)   # 21 + (47 - 21) / 2
    assert slow["gap_to_median"] == pytest.approx(3.0)        # 50 - 47, positive = behind
    assert pick(df, "R2", "avg_closing_time")["gap_to_median"] == pytest.approx(-26.0)


def test_scope_filters_the_payees_not_the_peers(acme: Workspace) -> None:  # noqa: F811
    df = peer_benchmarks(acme, Q3, ["win_rate"], peer_keys=("role",), scope="team:T_NA", as_of=AS_OF)
    assert set(df["payee_id"]) == {"R1", "R2"}
    assert pick(df, "R1", "win_rate")["peers"] == 3


def test_areas_for_improvement_ranked_by_revenue_impact(acme: Workspace) -> None:  # noqa: F811
    areas = areas_for_improvement(acme, Q3, level="payee", peer_keys=("role",), top=None, as_of=AS_OF)
    r1 = areas[areas["payee_id"] == "R1"].set_index("metric")
    # quota attainment: (0.89 - 0.5) x quota 40,000 = 15,600
    assert r1.loc["quota_attainment", "revenue_impact"] == pytest.approx(15600.0)
    # median closing time 47 vs 35 days: won value 30,000 x 12 / 47
    assert r1.loc["median_closing_time", "revenue_impact"] == pytest.approx(30000 * 12 / 47)
    # win rate: (0.75 - 2/3) x 3 closed deals x 15,000 average size = 3,750
    assert r1.loc["win_rate", "revenue_impact"] == pytest.approx(3750.0)
    assert list(r1.index[:3]) == ["quota_attainment", "median_closing_time", "win_rate"]
    assert list(r1["rank"][:3]) == [1, 2, 3]
    # behind, but no revenue estimate: listed after the estimable ones
    assert "cost_of_sales_compensation" in r1.index
    assert r1.loc["cost_of_sales_compensation", "rank"] > 3
    assert pd.isna(r1.loc["cost_of_sales_compensation", "revenue_impact"])
    # R1 is at or ahead of the median on these: not areas for improvement
    assert not {"avg_deal_size", "pipeline_coverage", "win_rate_value"} & set(r1.index)
    why = r1.loc["quota_attainment", "why"]
    assert why == ("Quota attainment is 50.0%, below the median of 89.0% among peers (reps; 3), "
                   "17th percentile; reaching it is worth about USD 15,600 of revenue in the period.")
    default = areas_for_improvement(acme, Q3, metrics=["avg_deal_size"], as_of=AS_OF)
    assert default.empty  # with role, tenure band and segment, every rep here is alone
    smb = areas_for_improvement(acme, Q3, metrics=["quota_attainment"], peer_keys=("role", "segment"),
                                as_of=AS_OF)
    assert list(smb["payee_id"]) == ["R1"]  # behind R2, their only SMB peer
    assert "among peers (reps, SMB; 2), 25th percentile" in smb.loc[0, "why"]
    assert "cannot be estimated" in r1.loc["cost_of_sales_compensation", "why"]
    top3 = areas_for_improvement(acme, Q3, peer_keys=("role",), top=3, as_of=AS_OF)
    assert top3.groupby("payee_id").size().max() == 3


def test_areas_for_improvement_per_team(acme: Workspace) -> None:  # noqa: F811
    # by default teams are ranked within their segment: Americas sells SMB, EMEA Enterprise
    by_segment = team_benchmarks(acme, Q3, ["quota_attainment"], as_of=AS_OF)
    assert pick(by_segment, "T_NA", "quota_attainment")[["segment", "peers", "percentile"]].tolist() == ["SMB", 1, 50.0]
    teams = team_benchmarks(acme, Q3, ["quota_attainment", "win_rate"], peer_keys=(), as_of=AS_OF)
    assert pick(teams, "T_NA", "quota_attainment")["percentile"] == 25.0
    areas = areas_for_improvement(acme, Q3, level="team", metrics=["quota_attainment", "win_rate"],
                                  team_peer_keys=(), as_of=AS_OF)
    assert list(areas["team_id"]) == ["T_NA"]  # equal win rates: nothing to improve there
    median = (0.89 + 34000 / 49200) / 2
    assert areas.loc[0, "revenue_impact"] == pytest.approx((median - 34000 / 49200) * 49200)
    assert areas.loc[0, "why"].startswith("Quota attainment is 69.1%, below the median of 79.1% among peers (2)")
    assert areas_for_improvement(acme, Q3, level="team", as_of=AS_OF).empty  # no team has a peer


BENCHMARKS_YAML = """\
benchmarks:
  - {metric: win_rate, p25: 0.6, median: 0.7, p75: 0.8, source: "Industry survey 2026"}
  - {metric: avg_closing_time, p25: 30, median: 50, p75: 60}
  - {metric: customer_acquisition_cost, value: 1500}
  - {metric: quota_attainment, segment: SMB, p25: 0.7, median: 0.8, p75: 0.9}
"""


def test_compare_with_external_benchmarks(acme: Workspace, tmp_path: Path) -> None:  # noqa: F811
    path = tmp_path / "industry.yaml"
    path.write_text(BENCHMARKS_YAML)
    out = compare_with_external(acme, path, Q3, as_of=AS_OF).set_index("metric")
    # win rate: 6 of 8 closed deals = 0.75, above the median 0.7 but under p75 0.8
    assert out.loc["win_rate", "value"] == 0.75
    assert out.loc["win_rate", "position"] == "above median"
    assert out.loc["win_rate", "gap_to_median"] == pytest.approx(-0.05)
    assert out.loc["win_rate", "source"] == "Industry survey 2026"
    # lower is better: 44.2 days beats the median of 50 but not the best quartile (30)
    assert out.loc["avg_closing_time", "position"] == "above median"
    assert out.loc["customer_acquisition_cost", "value"] == 1200.0
    assert out.loc["customer_acquisition_cost", "position"] == "above median"
    # SMB attainment 34,000 / 49,200 = 0.69 is under the industry's p25 of 0.7
    assert out.loc["quota_attainment", "segment"] == "SMB"
    assert out.loc["quota_attainment", "value"] == pytest.approx(34000 / 49200)
    assert out.loc["quota_attainment", "position"] == "bottom quartile"


def test_external_benchmarks_from_csv_and_their_errors(acme: Workspace, tmp_path: Path) -> None:  # noqa: F811
    good = tmp_path / "b.csv"
    good.write_text("metric,median,p25,p75,source\nwin_rate,0.8,0.7,0.9,survey\n")
    out = compare_with_external(acme, good, Q3, as_of=AS_OF)
    assert out.loc[0, "position"] == "below median"
    bad = tmp_path / "bad.csv"
    bad.write_text("metric,median,p25,p75\nwin_rate,0.8,0.9,0.7\nwin_ratio,0.5,,\navg_deal_size,,,\n")
    with pytest.raises(BenchmarkError) as err:
        load_external_benchmarks(bad, known=acme.registry.metrics.names())
    message = str(err.value)
    assert str(bad) in message
    assert "row 1" in message and "p25 (0.9) is above p75 (0.7)" in message
    assert "row 2: unknown metric 'win_ratio'" in message
    assert "row 3" in message and "give a value or a median" in message
    with pytest.raises(BenchmarkError, match="must be .yaml"):
        load_external_benchmarks(tmp_path / "b.csv.txt" if (tmp_path / "b.csv.txt").write_text("x") else "")


def test_several_periods_at_once_rank_each_period_as_alone(spm_demo_template: Path) -> None:
    """The dashboard asks for every period in one query: each period's rows must equal that
    period benchmarked alone (peers, percentiles, medians, impacts and ranks)."""
    import spm_kernel

    periods = ["2026-Q2", "2026-Q3", "FY2025"]
    metrics = ["quota_attainment", "win_rate", "avg_deal_size", "median_closing_time"]
    with spm_kernel.open(spm_demo_template, read_only=True) as ws:
        def same(together: pd.DataFrame, alone: Callable[[str], pd.DataFrame], keys: list[str]) -> None:
            assert set(together["period"]) == set(periods)
            for period in periods:
                mine = together[together["period"] == period].sort_values(keys).reset_index(drop=True)
                ref = alone(period).sort_values(keys).reset_index(drop=True)
                assert len(ref) > 10
                pd.testing.assert_frame_equal(mine, ref)

        same(peer_benchmarks(ws, periods, metrics, as_of=AS_OF),
             lambda p: peer_benchmarks(ws, p, metrics, as_of=AS_OF), ["payee_id", "metric"])
        same(team_benchmarks(ws, periods, metrics, peer_keys=(), as_of=AS_OF),
             lambda p: team_benchmarks(ws, p, metrics, peer_keys=(), as_of=AS_OF), ["team_id", "metric"])
        same(areas_for_improvement(ws, periods, metrics=metrics, top=1, as_of=AS_OF),
             lambda p: areas_for_improvement(ws, p, metrics=metrics, top=1, as_of=AS_OF), ["payee_id", "rank"])
        with pytest.raises(BenchmarkError, match="no period"):
            peer_benchmarks(ws, "1990-Q1", metrics, as_of=AS_OF)
