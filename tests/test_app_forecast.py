"""The forecast app in real Chromium on the forecasting plugin's small synthetic company, with
the plugin's tiny sampler (SPM_FORECAST_CONFIG): the tiles and the team P(quota) on the page
are the forecaster's joint samples summed by hand (read back through the same disk cache)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

import spm_kernel
from tests.apps_server import apps_folder, open_app, start_server, stop_server
from tests.apps_support import drawn_line_points
from tests.conftest import ARTIFACTS, AppServer

pytestmark = [pytest.mark.browser, pytest.mark.slow]  # one real (tiny) PyMC fit in the app's kernel
FIT_MS = 900_000
TINY = {"sampler": {"tune": 40, "draws": 40, "chains": 2, "cores": 1, "progressbar": False}, "history_months": 24}
READY = ("() => { const v = document.querySelector('.spm-fx-expected .spm-kpi-value');"
         " return v && /[0-9]/.test(v.innerText); }")


@pytest.fixture(scope="module")
def company(tmp_path_factory: pytest.TempPathFactory) -> Path:
    pytest.importorskip("spm_forecast_pymc", reason="the forecaster plugin spm-forecast-pymc is not installed")
    from spm_forecast_pymc.synthetic import load_into, synthetic_company

    folder = tmp_path_factory.mktemp("app-forecast") / "company"
    with spm_kernel.open(folder) as ws:
        load_into(ws, synthetic_company(n_payees=12, months=24, n_teams=3, n_regions=2, seed=11))
    return folder


@pytest.fixture(scope="module")
def server(company: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[AppServer]:
    root = tmp_path_factory.mktemp("app-forecast-server")
    cache = Path(__file__).resolve().parents[1] / ".cache" / "pytensor"
    running = start_server(company, apps_folder(root / "apps", ["forecast.ipynb"]), root / "server.log",
                           env={"SPM_FORECAST_CONFIG": json.dumps(TINY), "PYTENSOR_FLAGS": f"base_compiledir={cache}"})
    yield running
    stop_server(running)


def _money0(value: float) -> str:
    return f"{round(value):,}"


def test_outlook_and_team_probabilities_are_the_samples(server: AppServer, browser: Any, company: Path) -> None:
    from spm_widgets.forecast_explorer import ForecastExplorerModel

    page = open_app(browser, server, "forecast.ipynb", ".spm-fx-expected", FIT_MS, height=1900)
    page.wait_for_function(READY, timeout=FIT_MS)
    # the fan chart is drawn with data: the actuals, the median and the band edges as lines
    points = drawn_line_points(page, ".spm-fx-fan", minimum=6, timeout=120_000)
    assert sum(1 for n in points if n >= 3) >= 5, points
    model = ForecastExplorerModel.from_path(company, config=TINY)
    model.fit()
    assert model.from_cache  # the app's fit, read back: the same samples
    start, end = model.window_bounds()
    p = model.predictions
    inside = p.loc[(p["period"] >= pd.Timestamp(start)) & (p["period"] <= pd.Timestamp(end))]
    per = inside.groupby(["sample", "series_id"])["value"].sum().unstack(fill_value=0.0)
    total = per.sum(axis=1).to_numpy()
    assert page.inner_text(".spm-fx-expected .spm-kpi-value") == _money0(total.mean())
    assert page.inner_text(".spm-fx-commit .spm-kpi-value") == _money0(np.percentile(total, 10))
    assert page.inner_text(".spm-fx-best .spm-kpi-value") == _money0(np.percentile(total, 90))
    q = model.quotas.loc[(pd.to_datetime(model.quotas["period_start"]) <= pd.Timestamp(start))
                         & (pd.to_datetime(model.quotas["period_end"]) >= pd.Timestamp(start))]
    quota = q.drop_duplicates("payee_id", keep="last").set_index("payee_id")["quota"]
    reps = model.people.loc[model.people["role"] == "rep"].set_index("payee_id")
    with_quota = [c for c in per.columns if c in quota.index and c in reps.index and quota[c] > 0]
    for team, members in reps.loc[with_quota].groupby("team").groups.items():
        team_total = per[list(members)].sum(axis=1).to_numpy()
        chance = float((team_total >= quota[list(members)].sum()).mean())
        cell = page.locator(f'.spm-fx-teams tr[data-team="{team}"] td.spm-pquota').inner_text()
        assert cell.startswith(f"{chance * 100:,.0f}%"), (team, cell, chance)

    # the next quarter: the tiles follow the filter
    page.select_option(".spm-fx-window select", model.windows[1])
    model.window = model.windows[1]
    model.compute()
    page.wait_for_function(
        "v => document.querySelector('.spm-fx-expected .spm-kpi-value').innerText === v",
        arg=_money0(model.outlook["expected"]), timeout=60_000)
    page.wait_for_selector(".spm-card .js-plotly-plot")  # plotly's bundle loads once per page
    assert page.locator(".spm-card .js-plotly-plot").count() >= 1
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "forecast.png"), full_page=True)
