"""The forecast explorer, headless, on the forecasting plugin's small synthetic company with
its tiny sampler settings (a real fit through ``ws.registry.forecasters``; the chains are
too short to converge, which these tests do not need): the origin and quarters, the disk
cache, and commit / expected / best case and P(quota) recomputed by hand from the samples."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import spm_kernel
from spm_kernel.pytensor_setup import keep_compiled_code_in

# compiled models cached in the repo (before PyTensor is first imported)
keep_compiled_code_in(Path(__file__).resolve().parents[1] / ".cache" / "pytensor")

from spm_widgets.forecast_explorer import (  # noqa: E402
    ForecastExplorerModel, ForecastExplorerView, add_months, quarter_start, teams_html,
)

pytestmark = pytest.mark.slow  # one real (tiny) PyMC fit for the module

# the plugin's tiny settings (plugins/spm-forecast-pymc/tests/forecast_pymc_tiny.py)
TINY = {"sampler": {"tune": 40, "draws": 40, "chains": 2, "cores": 1, "progressbar": False}, "history_months": 24}
SAMPLES = 80


def test_quarter_helpers() -> None:
    assert quarter_start(date(2026, 8, 17), 1) == date(2026, 7, 1)
    assert quarter_start(date(2026, 8, 17), 2) == date(2026, 8, 1)
    assert quarter_start(date(2026, 1, 5), 2) == date(2025, 11, 1)
    assert add_months(date(2026, 11, 1), 3) == date(2027, 2, 1)


@pytest.fixture(scope="module")
def company(tmp_path_factory: pytest.TempPathFactory) -> Path:
    pytest.importorskip("spm_forecast_pymc", reason="the forecaster plugin spm-forecast-pymc is not installed")
    from spm_forecast_pymc.synthetic import load_into, synthetic_company

    folder = tmp_path_factory.mktemp("forecast-explorer") / "company"
    with spm_kernel.open(folder) as ws:
        load_into(ws, synthetic_company(n_payees=12, months=24, n_teams=3, n_regions=2, seed=11))
    return folder


@pytest.fixture(scope="module")
def fitted(company: Path) -> ForecastExplorerModel:
    model = ForecastExplorerModel.from_path(company, config=TINY, samples=SAMPLES)
    model.fit()
    return model


def test_origin_quarters_and_scopes(company: Path, fitted: ForecastExplorerModel) -> None:
    with spm_kernel.open(company, read_only=True) as ws:
        last_won = ws.sql("SELECT max(close_date) AS d FROM opportunities WHERE is_won")["d"][0]
        limit = quarter_start(last_won + pd.Timedelta(days=1), 1)
        last_quota = ws.sql("SELECT max(period_start) AS d FROM quotas WHERE measure = 'bookings' AND period_start <= ?",
                            [limit])["d"][0]
    assert fitted.forecaster == "pymc_bookings"
    expected = quarter_start(last_quota, 1)  # the latest quarter with quotas, not after the data
    assert fitted.as_of == expected.isoformat()
    assert len(fitted.windows) == 4 and fitted.window == fitted.windows[0]
    assert [s["value"] for s in fitted.scopes][:3] == ["company", "region:R1", "region:R2"]
    p = fitted.predictions
    assert set(p.columns) == {"series_id", "period", "sample", "value"} and (p["value"] >= 0).all()
    assert p["period"].min() == pd.Timestamp(fitted.as_of)  # the first month ahead is the origin's
    assert p["period"].nunique() == 12 and p["sample"].nunique() == SAMPLES


def test_figures_are_the_samples_summed_by_hand(fitted: ForecastExplorerModel) -> None:
    m = fitted
    m.window, m.scope = m.windows[0], "company"
    m.compute()
    start, end = m.window_bounds()
    p = m.predictions
    inside = p.loc[(p["period"] >= pd.Timestamp(start)) & (p["period"] <= pd.Timestamp(end))]
    per = inside.groupby(["sample", "series_id"])["value"].sum().unstack(fill_value=0.0)
    total = per.sum(axis=1).to_numpy()
    assert m.outlook["expected"] == pytest.approx(total.mean())
    assert m.outlook["commit"] == pytest.approx(np.percentile(total, 10))
    assert m.outlook["best_case"] == pytest.approx(np.percentile(total, 90))
    assert m.outlook["commit"] <= m.outlook["expected"] <= m.outlook["best_case"]
    # P(quota) of one rep: share of samples at or above their quota of the quarter
    q = m.quotas.loc[(pd.to_datetime(m.quotas["period_start"]) <= pd.Timestamp(start))
                     & (pd.to_datetime(m.quotas["period_end"]) >= pd.Timestamp(start))].set_index("payee_id")["quota"]
    rep = m.payees.iloc[0]
    assert rep.quota == q[rep.payee_id]
    assert rep.p_quota == pytest.approx(float((per[rep.payee_id].to_numpy() >= q[rep.payee_id]).mean()))
    # a team: the probability of the team's total (joint samples), not an average
    team = m.teams.iloc[0]
    members = m.payees.loc[m.payees["team"] == team.team, "payee_id"].tolist()
    team_total = per[members].sum(axis=1).to_numpy()
    assert team.quota == pytest.approx(float(q[members].sum()))
    assert team.p_quota == pytest.approx(float((team_total >= team.quota).mean()))
    assert f'<tr data-team="{team.team}">' in teams_html(m.teams)
    # a scope narrows the outlook to a team's reps
    m.scope = f"team:{team.team}"
    m.compute()
    scoped = per[[c for c in per.columns if c in set(m.people.loc[m.people["team"] == team.team, "payee_id"])]]
    assert m.outlook["expected"] == pytest.approx(scoped.sum(axis=1).mean())
    assert m.outlook["p_quota"] == pytest.approx(team.p_quota)


def test_predictions_are_cached_on_disk(company: Path, fitted: ForecastExplorerModel) -> None:
    again = ForecastExplorerModel.from_path(company, config=TINY, samples=SAMPLES)
    again.fit()
    assert again.from_cache and not fitted.from_cache
    assert again.predictions.equals(fitted.predictions)
    assert list((company / ".cache" / "spm-widgets").glob("forecast-pymc_bookings-*.parquet"))


def test_view_filters_and_fan_chart(company: Path, fitted: ForecastExplorerModel) -> None:
    model = ForecastExplorerModel.from_path(company, config=TINY, samples=SAMPLES)
    view = ForecastExplorerView(model, background=False)  # from the disk cache
    assert model.fitted and model.from_cache and "read from the cache" in view.status.value
    fan = view.figure.data
    assert len(fan[4].x) == 12 and len(fan[5].x) > 12  # median ahead, actuals behind
    assert all(lo <= hi for lo, hi in zip(fan[1].y, fan[0].y))  # P10 under P90
    view.window.value = model.windows[1]
    assert model.outlook["start"] == model.window_bounds(model.windows[1])[0].isoformat()
    assert f"{round(model.outlook['expected']):,}" in view.tiles["expected"].value
    view.scope.value = "region:R1"
    assert "Region R1" in view.header.value and model.scope == "region:R1"


def test_fan_is_the_samples_grouped_by_hand_and_kept_per_scope(fitted: ForecastExplorerModel) -> None:
    m = fitted
    p = m.predictions
    meta = m.people.set_index("payee_id")
    team = str(m.people["team"].iloc[0])
    for scope in ("company", "region:R2", f"team:{team}"):
        kind, _, value = scope.partition(":")
        rows = p if scope == "company" else p.loc[(meta[kind].reindex(p["series_id"]).astype(str) == value).to_numpy()]
        by_hand = rows.groupby(["period", "sample"])["value"].sum().unstack(fill_value=0.0)
        fan = m.fan(scope)
        assert [pd.Timestamp(x) for x in fan["x"]] == list(by_hand.index)
        for q in (10, 25, 50, 75, 90):
            assert fan[f"p{q}"] == pytest.approx(np.percentile(by_hand.to_numpy(), q, axis=1).tolist())
        assert fan["mean"] == pytest.approx(by_hand.mean(axis=1).tolist())
        assert m.fan(scope) is fan  # a window change redraws the same fan
    # new predictions (a refit) are summed again
    before = m.predictions
    try:
        m.predictions = before.assign(value=before["value"] * 2)
        per_month = before.groupby("period")["value"].sum() / before["sample"].nunique()
        assert m.fan("company")["mean"] == pytest.approx((2 * per_month).tolist())
        ids, matrix = m.window_matrix(m.windows[0])
        assert matrix.sum() == pytest.approx(2 * before.loc[before["period"] <= pd.Timestamp(
            m.window_bounds(m.windows[0])[1]), "value"].sum())
    finally:
        m.predictions = before
