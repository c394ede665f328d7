"""Every built-in metric against numbers worked by hand on the company in
``tests/test_metrics_company.py`` (2026-Q3 unless said otherwise), including the edge cases:
no closed deals (R4), zero quota (R4), a payee who joined mid-period (R2, hired 2026-08-16:
46 of the quarter's 92 days), currency mix (EUR deals at their close-date rate, a GBP deal
through an inverse quote)."""

from __future__ import annotations

import math
import statistics
from datetime import date
from decimal import Decimal

import pandas as pd
import pytest

from spm_kernel.workspace import Workspace
from tests.test_metrics_company import AS_OF, Q3, acme  # noqa: F401 - fixture

D = Decimal


def row(df: pd.DataFrame, metric: str, key: str, period: str | None = None) -> pd.Series:
    key_col = df.columns[1]
    hit = df[(df["metric"] == metric) & (df[key_col] == key)]
    if period is not None:
        hit = hit[hit["period"] == period]
    assert len(hit) == 1, f"{metric} {key} {period}: {len(hit)} rows"
    return hit.iloc[0]


def value(df: pd.DataFrame, metric: str, key: str, period: str | None = None) -> object:
    return row(df, metric, key, period)["value"]


@pytest.fixture(scope="module")
def by_payee(acme: Workspace) -> pd.DataFrame:  # noqa: F811
    return acme.metrics(by="payee", period=Q3, as_of=AS_OF)


@pytest.fixture(scope="module")
def by_team(acme: Workspace) -> pd.DataFrame:  # noqa: F811
    return acme.metrics(by="team", period=Q3, as_of=AS_OF)


@pytest.fixture(scope="module")
def company(acme: Workspace) -> pd.DataFrame:  # noqa: F811
    return acme.metrics(by="company", period=Q3, as_of=AS_OF)


def test_the_frame_is_tidy_with_every_builtin(by_team: pd.DataFrame) -> None:
    assert list(by_team.columns) == ["metric", "team_id", "period", "period_start", "period_end",
                                     "value", "numerator", "denominator", "unit"]
    assert by_team["metric"].nunique() == 15
    assert set(by_team["team_id"]) == {"T_NA", "T_EU"}
    assert (by_team["period"] == "2026-Q3").all()
    assert by_team.groupby(["metric", "team_id"]).size().eq(1).all()
    assert set(by_team.loc[by_team["metric"] == "avg_deal_size", "unit"]) == {"currency"}


# ---- quota attainment: bookings credited by revenue splits, quotas prorated ----
def test_quota_attainment_per_payee(by_payee: pd.DataFrame) -> None:
    # R1: O1 10,000 + half of O2 10,000 = 20,000 over 40,000
    r1 = row(by_payee, "quota_attainment", "R1")
    assert (r1["numerator"], r1["denominator"], r1["value"]) == (D("20000.00"), D("40000.00"), 0.5)
    # R2 joined 2026-08-16 with a prorated Q3 quota of 9,200 (taken as entered, not prorated
    # again); bookings: half of O2 10,000 + O6 4,000 = 14,000
    r2 = row(by_payee, "quota_attainment", "R2")
    assert (r2["numerator"], r2["denominator"]) == (D("14000.00"), D("9200.00"))
    assert r2["value"] == pytest.approx(14000 / 9200)
    # R3: O7 EUR 10,000 x 1.10 + O8 EUR 8,000 x 1.25 + O10 GBP 1,000 / 0.80 = 22,250;
    # quota EUR 20,000 at the window end's rate 1.25 = 25,000
    r3 = row(by_payee, "quota_attainment", "R3")
    assert (r3["numerator"], r3["denominator"], r3["value"]) == (D("22250.00"), D("25000.00"), 0.89)
    # R4: zero quota -> undefined, not infinite nor zero
    r4 = row(by_payee, "quota_attainment", "R4")
    assert r4["value"] is None and r4["denominator"] == D("0.00")
    # managers: their subtree's bookings roll up to them
    m1 = row(by_payee, "quota_attainment", "M1")
    assert (m1["numerator"], m1["denominator"]) == (D("34000.00"), D("60000.00"))
    m2 = row(by_payee, "quota_attainment", "M2")
    assert (m2["numerator"], m2["denominator"]) == (D("22250.00"), D("37500.00"))


def test_quota_attainment_per_team_and_company_counts_reps_only(by_team: pd.DataFrame,
                                                                company: pd.DataFrame) -> None:
    na = row(by_team, "quota_attainment", "T_NA")
    assert (na["numerator"], na["denominator"]) == (D("34000.00"), D("49200.00"))
    assert na["value"] == pytest.approx(34000 / 49200)
    assert value(by_team, "quota_attainment", "T_EU") == pytest.approx(0.89)
    assert value(company, "quota_attainment", "Acme") == pytest.approx(56250 / 74200)


def test_share_at_quota(by_team: pd.DataFrame, company: pd.DataFrame, by_payee: pd.DataFrame) -> None:
    # T_NA: R2 (152%) is at quota, R1 (50%) is not; T_EU: R3 (89%) is not, R4 has no quota
    na = row(by_team, "share_at_quota", "T_NA")
    assert (na["numerator"], na["denominator"], na["value"]) == (1, 2, 0.5)
    eu = row(by_team, "share_at_quota", "T_EU")
    assert (eu["numerator"], eu["denominator"], eu["value"]) == (0, 1, 0.0)
    assert value(company, "share_at_quota", "Acme") == pytest.approx(1 / 3)
    assert value(by_payee, "share_at_quota", "R2") == 1.0
    assert value(by_payee, "share_at_quota", "R4") is None


# ---- deals: closing time, win rates, deal size ----
def test_closing_time(by_payee: pd.DataFrame, company: pd.DataFrame) -> None:
    # R1 won O1 (06-01 -> 07-15: 44 days) and O2 (07-01 -> 08-20: 50 days)
    r1 = row(by_payee, "avg_closing_time", "R1")
    assert (r1["numerator"], r1["denominator"], r1["value"]) == (94, 2, 47.0)
    # R3 won O7 (35 days), O8 (81), O10 (34): mean 50, median 35
    assert value(by_payee, "avg_closing_time", "R3") == 50.0
    assert value(by_payee, "median_closing_time", "R3") == 35.0
    # company: 44, 50, 21, 35, 81, 34
    assert value(company, "avg_closing_time", "Acme") == pytest.approx(265 / 6)
    assert value(company, "median_closing_time", "Acme") == 39.5
    # R4 closed nothing: undefined
    assert value(by_payee, "avg_closing_time", "R4") is None
    assert value(by_payee, "median_closing_time", "R4") is None


def test_win_rates(by_payee: pd.DataFrame, by_team: pd.DataFrame) -> None:
    r1 = row(by_payee, "win_rate", "R1")  # O1, O2 won, O3 lost
    assert (r1["numerator"], r1["denominator"]) == (2, 3)
    assert value(by_payee, "win_rate", "R3") == 0.75
    r1v = row(by_payee, "win_rate_value", "R1")
    assert (r1v["numerator"], r1v["denominator"]) == (D("30000.00"), D("35000.00"))
    # R3: won 22,250 of closed 22,250 + O9 EUR 5,000 x 1.20 = 6,000
    r3v = row(by_payee, "win_rate_value", "R3")
    assert (r3v["numerator"], r3v["denominator"]) == (D("22250.00"), D("28250.00"))
    assert r3v["value"] == pytest.approx(22250 / 28250)
    r4 = row(by_payee, "win_rate", "R4")
    assert (r4["value"], r4["numerator"], r4["denominator"]) == (None, 0, 0)
    assert value(by_team, "win_rate", "T_NA") == 0.75  # O1, O2, O6 won; O3 lost


def test_average_deal_size_is_exact_money(by_payee: pd.DataFrame, by_team: pd.DataFrame,
                                          company: pd.DataFrame) -> None:
    assert value(by_payee, "avg_deal_size", "R1") == D("15000.00")
    assert value(by_payee, "avg_deal_size", "R3") == D("7416.67")   # 22,250 / 3, half up
    assert value(by_team, "avg_deal_size", "T_NA") == D("11333.33")  # 34,000 / 3
    assert value(company, "avg_deal_size", "Acme") == D("9375.00")
    assert isinstance(value(company, "avg_deal_size", "Acme"), Decimal)
    assert value(by_payee, "avg_deal_size", "R4") is None


# ---- pipeline ----
def test_pipeline_coverage_at_the_start_of_a_past_quarter(by_payee: pd.DataFrame,
                                                          by_team: pd.DataFrame) -> None:
    # snapshot 2026-07-01: open then and due in Q3: O1 10,000, O2 20,000, O5 8,000 (R1);
    # O7 11,000 and O8 10,000 (R3). Nothing booked before the snapshot.
    r1 = row(by_payee, "pipeline_coverage", "R1")
    assert (r1["numerator"], r1["denominator"], r1["value"]) == (D("38000.00"), D("40000.00"), 0.95)
    r3 = row(by_payee, "pipeline_coverage", "R3")
    assert (r3["numerator"], r3["denominator"], r3["value"]) == (D("21000.00"), D("25000.00"), 0.84)
    assert value(by_payee, "pipeline_coverage", "R2") == 0.0
    assert value(by_payee, "pipeline_coverage", "R4") is None  # nothing left to book
    assert value(by_team, "pipeline_coverage", "T_NA") == pytest.approx(38000 / 49200)


def test_pipeline_coverage_in_the_current_quarter(acme: Workspace) -> None:  # noqa: F811
    # as of 2026-08-15: R1's O2 (08-20), O3 (09-01) and O5 (09-25) are open and due: 33,000;
    # booked since 07-01: O1 10,000, so 30,000 of the 40,000 quota remains
    df = acme.metrics("pipeline_coverage", by="payee", period=Q3, as_of=date(2026, 8, 15))
    r1 = row(df, "pipeline_coverage", "R1")
    assert (r1["numerator"], r1["denominator"], r1["value"]) == (D("33000.00"), D("30000.00"), 1.1)


def test_pipeline_velocity(by_payee: pd.DataFrame) -> None:
    # R1: 3 open at the snapshot x win rate 2/3 x deal size 15,000 / 47 days = 638.2978... a day
    r1 = row(by_payee, "pipeline_velocity", "R1")
    assert r1["value"] == D("638.30")
    assert r1["numerator"] == D("30000.00") and r1["denominator"] == 47.0
    assert value(by_payee, "pipeline_velocity", "R4") is None


# ---- customers ----
def test_customer_acquisition_cost(company: pd.DataFrame, by_team: pd.DataFrame) -> None:
    # spend: 3,000 + EUR 1,000 x 1.20 + 1,800 = 6,000 (June's 9,999 is outside Q3);
    # new customers: A1, A2 (R1), A3 (R2), A4, A6 (R3); A5 bought before (O11, 2025)
    c = row(company, "customer_acquisition_cost", "Acme")
    assert (c["numerator"], c["denominator"], c["value"]) == (D("6000.00"), 5, D("1200.00"))
    # rep-days: R1 92 + R2 46 = 138 in T_NA, R3 92 + R4 92 = 184 in T_EU (of 322)
    na = row(by_team, "customer_acquisition_cost", "T_NA")
    assert (na["numerator"], na["denominator"], na["value"]) == (D("2571.43"), 3, D("857.14"))
    eu = row(by_team, "customer_acquisition_cost", "T_EU")
    assert (eu["numerator"], eu["denominator"], eu["value"]) == (D("3428.57"), 2, D("1714.29"))


def test_retention(company: pd.DataFrame, by_team: pd.DataFrame, acme: Workspace) -> None:  # noqa: F811
    # customers on 07-01: A5 (S1, churns 08-31), A8 (S2), A10 (S5); A9 left in June
    logo = row(company, "logo_retention", "Acme")
    assert (logo["numerator"], logo["denominator"]) == (2, 3)
    # ARR at the 07-01 rate (EUR 1.10): start 1,100 + 5,000 + 2,200 = 8,300;
    # end: A8 5,000 + 2,000 (expansion S3) + A10 2,200 = 9,200
    nrr = row(company, "net_revenue_retention", "Acme")
    assert (nrr["numerator"], nrr["denominator"]) == (D("9200.00"), D("8300.00"))
    assert nrr["value"] == pytest.approx(9200 / 8300)
    assert value(by_team, "net_revenue_retention", "T_NA") == 1.4
    assert value(by_team, "logo_retention", "T_EU") == 0.5
    by_product = acme.metrics(["logo_retention", "net_revenue_retention"], by="product", period=Q3)
    assert value(by_product, "logo_retention", "A") == pytest.approx(2 / 3)
    assert value(by_product, "logo_retention", "B") is None  # no product-B customer on 07-01


# ---- compensation ----
def test_cost_of_sales_compensation_uses_the_current_run(by_payee: pd.DataFrame,
                                                         by_team: pd.DataFrame,
                                                         company: pd.DataFrame) -> None:
    # R1: run2 1,000 (not the superseded run1 999) + run4 600 (not the failed run3) = 1,600
    r1 = row(by_payee, "cost_of_sales_compensation", "R1")
    assert (r1["numerator"], r1["denominator"], r1["value"]) == (D("1600.00"), D("20000.00"), 0.08)
    # R3: EUR 500 x 1.10 + EUR 400 x 1.20 = 1,030 over 22,250
    r3 = row(by_payee, "cost_of_sales_compensation", "R3")
    assert r3["numerator"] == D("1030.00")
    # M1: 300 over the 34,000 rolled up to them
    assert value(by_payee, "cost_of_sales_compensation", "M1") == pytest.approx(300 / 34000)
    na = row(by_team, "cost_of_sales_compensation", "T_NA")
    assert (na["numerator"], na["denominator"]) == (D("2300.00"), D("34000.00"))
    assert value(company, "cost_of_sales_compensation", "Acme") == pytest.approx(3330 / 56250)


def test_pay_for_performance(company: pd.DataFrame, by_team: pd.DataFrame) -> None:
    # reps with a quota: R1 (0.5, 1,600), R2 (14,000/9,200, 400), R3 (0.89, 1,030)
    expected = statistics.correlation([0.5, 14000 / 9200, 0.89], [1600.0, 400.0, 1030.0])
    c = row(company, "pay_for_performance", "Acme")
    assert c["value"] == pytest.approx(expected) and c["denominator"] == 3
    assert value(by_team, "pay_for_performance", "T_NA") is None  # two reps are too few


# ---- periods and grains ----
def test_a_monthly_series_in_one_call(acme: Workspace) -> None:  # noqa: F811
    df = acme.metrics("win_rate", by="payee", period="2026-07..2026-09", as_of=AS_OF)
    r1 = df[df["payee_id"] == "R1"].set_index("period")
    assert list(r1.index) == ["2026-07", "2026-08", "2026-09"]
    assert list(r1["value"]) == [1.0, 1.0, 0.0]  # O1 won in July, O2 in August, O3 lost in September
    same = acme.metrics("win_rate", by="payee", period=Q3, freq="month", as_of=AS_OF)
    pd.testing.assert_frame_equal(df, same)


def test_year_and_quarter_to_date(acme: Workspace) -> None:  # noqa: F811
    ytd = acme.metrics("avg_deal_size", by="payee", period="2026-08", window="YTD", as_of=AS_OF)
    r3 = row(ytd, "avg_deal_size", "R3")
    assert r3["period"] == "2026-08 YTD" and r3["period_start"] == date(2026, 1, 1)
    assert r3["value"] == D("6125.00")  # O7 11,000 + O10 1,250 over 2
    qtd = acme.metrics("win_rate", by="team", period="2026-08", window="QTD", as_of=AS_OF)
    assert row(qtd, "win_rate", "T_NA")["period_start"] == date(2026, 7, 1)
    assert value(qtd, "win_rate", "T_NA") == 1.0  # O1 and O2 won, O3 closes in September
    fy = acme.metrics("win_rate", by="company", period="FY2025", as_of=AS_OF)
    assert value(fy, "win_rate", "Acme") == 1.0  # O11


def test_every_grain(acme: Workspace) -> None:  # noqa: F811
    by_manager = acme.metrics(["win_rate", "quota_attainment"], by="manager", period=Q3)
    assert set(by_manager["manager_id"]) == {"M1", "M2"}
    assert value(by_manager, "win_rate", "M1") == 0.75       # R1 and R2's deals
    assert value(by_manager, "quota_attainment", "M1") == pytest.approx(34000 / 49200)
    by_region = acme.metrics("win_rate", by="region", period=Q3)
    assert value(by_region, "win_rate", "EU") == 0.75
    by_segment = acme.metrics("avg_deal_size", by="segment", period=Q3)
    assert value(by_segment, "avg_deal_size", "SMB") == D("11333.33")
    assert value(by_segment, "avg_deal_size", "(none)") is None  # the managers sold nothing
    by_product = acme.metrics("win_rate", by="product", period=Q3)
    assert value(by_product, "win_rate", "A") == 0.8  # O1, O6, O8, O10 won; O3 lost
    assert value(by_product, "win_rate", "B") == pytest.approx(2 / 3)


def test_scope_restricts_the_payees(acme: Workspace) -> None:  # noqa: F811
    df = acme.metrics("win_rate", by="payee", period=Q3, scope="team:EMEA")
    assert set(df["payee_id"]) == {"M2", "R3", "R4"}
    subtree = acme.metrics("avg_deal_size", by="company", period=Q3, scope="manager:M1")
    assert value(subtree, "avg_deal_size", "Acme") == D("11333.33")
    region = acme.metrics("win_rate", by="team", period=Q3, scope="region:NA")
    assert set(region["team_id"]) == {"T_NA"}


def test_the_mid_period_joiner_is_not_in_earlier_windows(acme: Workspace) -> None:  # noqa: F811
    df = acme.metrics("quota_attainment", by="payee", period="2026-07..2026-09", as_of=AS_OF)
    r2 = df[df["payee_id"] == "R2"]
    assert list(r2["period"]) == ["2026-08", "2026-09"]  # not employed in July
    # the 9,200 spread over the 46 days employed: August 16 days = 3,200, September 30 = 6,000
    assert list(r2["denominator"]) == [D("3200.00"), D("6000.00")]
    assert not math.isnan(r2["value"].iloc[0])
