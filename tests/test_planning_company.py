"""A small company for the planning tests, loaded through ``ws.load``; every number the
planning tests expect is worked out by hand from what is here.

Org (base currency USD; planning year FY2027 = calendar 2027):

    V0 vp (USD)
    ├── D1 director R1 (USD)
    │   ├── M1 manager T1 (USD): A rep SMB USD, B rep SMB USD, X rep (left 2026-06-30)
    │   └── M2 manager T2 (EUR): C rep SMB EUR
    └── D2 director R2 (USD)
        └── M3 manager T3 (USD): D rep ENT USD, E rep ENT USD hired 2027-04-01 (new hire)

History: every month of 2026 each rep closes ONE won deal on the month's last day (created
30 days before): A 10,000 USD, B 5,000 USD, C 5,000 EUR, D 20,000 USD; plus one lost deal
per rep and quarter (amount 1,000 in their currency). FX: 1 EUR = 1.25 USD on every day from
2025-12-01 to 2027-12-31 (daily EUR->USD quotes, as the crediting engine needs). So in USD:
A 120,000, B 60,000, C 75,000, D 240,000 a year, i.e. run rates per month A 10,000, B 5,000,
C 6,250, D 20,000; E has no history.
The last won deal closes 2026-12-31, so history ends with December 2026.

Accounts (owner, potential): AC1 A 300,000 USD, AC2 A 100,000 USD, AC3 B 200,000 USD,
AC4 C 100,000 EUR (= 125,000 USD), AC5 D 500,000 USD; AC6 unowned 50,000 USD (SMB, R1).
Each won deal is a booking transaction of the same amount and date.
"""

from __future__ import annotations

import calendar
from collections.abc import Callable
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path

import pandas as pd
import pytest

from spm_kernel.workspace import Workspace, open_workspace

REPS = {"A": ("T1", "R1", "SMB", "USD", "10000.00"), "B": ("T1", "R1", "SMB", "USD", "5000.00"),
        "C": ("T2", "R1", "SMB", "EUR", "5000.00"), "D": ("T3", "R2", "ENT", "USD", "20000.00")}
BUDGET_PLAN = """\
plan_id: budget-plan
version: 1
name: FY2027 rep plan
effective_from: 2027-01-01
effective_to: 2027-12-31
assignments:
  - role: rep
components:
  - id: commission
    type: rate_table
    measure: {name: bookings, kinds: [booking, cancellation, refund], credit_types: [direct, split, rule],
              window: plan_year, quota_measure: bookings}
    basis: attainment
    application: step
    scope: cumulative
    tiers:
      - {from: 0, to: 1.0, rate: 0.05}
      - {from: 1.0, rate: 0.10}
"""
PREVIOUS_PLAN = BUDGET_PLAN.replace("plan_id: budget-plan", "plan_id: previous-plan").replace(
    "2027-01-01", "2026-01-01").replace("2027-12-31", "2026-12-31").replace("FY2027", "FY2026").replace(
    "window: plan_year, quota_measure: bookings}", "window: plan_year}").replace(
    "basis: attainment", "basis: amount").replace(
    "      - {from: 0, to: 1.0, rate: 0.05}\n      - {from: 1.0, rate: 0.10}\n", "      - {from: 0, rate: 0.04}\n")


def month_ends(year: int) -> list[date]:
    return [date(year, m, calendar.monthrange(year, m)[1]) for m in range(1, 13)]


def build(ws: Workspace) -> Workspace:
    ws.load("regions", pd.DataFrame({"region_id": ["R1", "R2"], "name": ["Region one", "Region two"]}))
    ws.load("teams", pd.DataFrame({"team_id": ["T1", "T2", "T3"], "name": ["Team 1", "Team 2", "Team 3"],
                                   "region_id": ["R1", "R1", "R2"]}))
    people = [
        ("V0", "vp", None, None, None, "USD", "2015-01-01", None),
        ("D1", "director", None, "R1", None, "USD", "2015-01-01", None),
        ("D2", "director", None, "R2", None, "USD", "2015-01-01", None),
        ("M1", "manager", "T1", "R1", "SMB", "USD", "2016-01-01", None),
        ("M2", "manager", "T2", "R1", "SMB", "EUR", "2016-01-01", None),
        ("M3", "manager", "T3", "R2", "ENT", "USD", "2016-01-01", None),
        ("A", "rep", "T1", "R1", "SMB", "USD", "2020-01-01", None),
        ("B", "rep", "T1", "R1", "SMB", "USD", "2020-01-01", None),
        ("C", "rep", "T2", "R1", "SMB", "EUR", "2020-01-01", None),
        ("D", "rep", "T3", "R2", "ENT", "USD", "2020-01-01", None),
        ("E", "rep", "T3", "R2", "ENT", "USD", "2027-04-01", None),
        ("X", "rep", "T1", "R1", "SMB", "USD", "2019-01-01", "2026-06-30"),
    ]
    ws.load("payees", pd.DataFrame(people, columns=["payee_id", "role", "team_id", "region_id", "segment",
                                                    "currency", "hire_date", "termination_date"])
            .assign(name=lambda f: "Person " + f["payee_id"]))
    managers = {"D1": "V0", "D2": "V0", "M1": "D1", "M2": "D1", "M3": "D2", "A": "M1", "B": "M1", "X": "M1",
                "C": "M2", "D": "M3", "E": "M3"}
    hires = {p[0]: p[6] for p in people}
    ws.load("hierarchy", pd.DataFrame({"payee_id": list(managers), "valid_from": [hires[p] for p in managers],
                                       "manager_id": list(managers.values())}))
    ws.load("accounts", pd.DataFrame({
        "account_id": ["AC1", "AC2", "AC3", "AC4", "AC5", "AC6"],
        "name": ["Alpha", "Beta", "Gamma", "Delta", "Epsilon", "Zeta"],
        "segment": ["SMB", "SMB", "SMB", "SMB", "ENT", "SMB"],
        "region_id": ["R1", "R1", "R1", "R1", "R2", "R1"],
        "owner_id": ["A", "A", "B", "C", "D", None],
        "potential": ["300000.00", "100000.00", "200000.00", "100000.00", "500000.00", "50000.00"],
        "currency": ["USD", "USD", "USD", "EUR", "USD", "USD"],
    }))
    account = {"A": "AC1", "B": "AC3", "C": "AC4", "D": "AC5"}
    deals, lost = [], []
    for rep, (_, _, segment, currency, amount) in REPS.items():
        for month, end in enumerate(month_ends(2026), start=1):
            deals.append((f"W-{rep}-{month:02d}", account[rep], rep, amount, currency, "Closed Won",
                          end - timedelta(days=30), end, True, True, segment))
            if month % 3 == 0:
                lost.append((f"L-{rep}-{month:02d}", account[rep], rep, "1000.00", currency, "Closed Lost",
                             end - timedelta(days=60), end, True, False, segment))
    opps = pd.DataFrame(deals + lost, columns=["opportunity_id", "account_id", "owner_id", "amount", "currency",
                                               "stage", "created_date", "close_date", "is_closed", "is_won",
                                               "segment"]).assign(product="Core", deal_type="new")
    ws.load("opportunities", opps)
    won = opps.loc[opps["is_won"]]
    ws.load("transactions", pd.DataFrame({
        "transaction_id": "T" + won["opportunity_id"], "opportunity_id": won["opportunity_id"], "kind": "booking",
        "amount": won["amount"], "currency": won["currency"], "transaction_date": won["close_date"],
        "product": "Core", "segment": won["segment"]}))
    days = pd.date_range("2025-12-01", "2027-12-31", freq="D").strftime("%Y-%m-%d")
    ws.load("fx_rates", pd.DataFrame({"rate_date": days, "from_currency": "EUR", "to_currency": "USD",
                                      "rate": "1.25"}))
    return ws


@pytest.fixture(scope="session")
def planning_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("planning-template") / "company"
    with open_workspace(folder, load_entry_points=False) as ws:
        build(ws)
    return folder


@pytest.fixture
def planning_ws(planning_template: Path, tmp_path: Path) -> Callable[..., Workspace]:
    """Open a private copy of the planning company (``plugins=[...]`` to add a forecaster)."""
    import shutil

    opened: list[Workspace] = []

    def make(**kwargs: object) -> Workspace:
        folder = tmp_path / f"company-{len(opened)}"
        shutil.copytree(planning_template, folder)
        kwargs.setdefault("load_entry_points", False)
        ws = open_workspace(folder, **kwargs)  # type: ignore[arg-type]
        opened.append(ws)
        return ws

    yield make  # type: ignore[misc]
    for ws in opened:
        ws.close()


def test_the_company_has_the_history_the_planning_tests_assume(planning_ws: Callable[..., Workspace]) -> None:
    from spm_kernel.planning.history import monthly_bookings

    ws = planning_ws()
    booked = monthly_bookings(ws, date(2026, 1, 1), date(2026, 12, 31))
    totals = booked.groupby("payee_id")["amount"].sum()
    assert totals.to_dict() == {"A": Decimal("120000.00"), "B": Decimal("60000.00"), "C": Decimal("75000.00"),
                                "D": Decimal("240000.00")}
    assert len(booked) == 48 and set(booked["month"]) == {date(2026, m, 1) for m in range(1, 13)}


# ---- a forecaster plugin for the tests: a real Forecaster registered through the hook ----
MULTIPLIERS = (0.5, 1.0, 1.5)


def _make_forecaster() -> object:
    from spm_kernel.extensions import Forecaster

    class _RunRate(Forecaster):
        """Forecasts each series' mean of its last 12 history months, times 0.5, 1.0 and 1.5 in
        samples 0, 1 and 2 (so the mean over samples is the run rate)."""

        name = "test-run-rate"
        label = "run rate x (0.5, 1, 1.5)"

        def history(self, ws: Workspace, as_of: date | None = None) -> pd.DataFrame:
            from spm_kernel.planning.forecast import bookings_history

            return bookings_history(ws, as_of or date(2027, 1, 1))

        def fit(self, history: pd.DataFrame, **options: object) -> object:
            last = history.sort_values("period").groupby("series_id").tail(12)
            return {"rate": last.groupby("series_id")["value"].mean(), "last": history["period"].max()}

        def predict(self, model: object, horizon: int, samples: int = 3, **options: object) -> pd.DataFrame:
            rate, last = model["rate"], model["last"]  # type: ignore[index]
            periods = pd.date_range(last + pd.offsets.MonthBegin(1), periods=horizon, freq="MS")
            grid = pd.MultiIndex.from_product([rate.index, periods, range(len(MULTIPLIERS))],
                                              names=["series_id", "period", "sample"]).to_frame(index=False)
            grid["value"] = grid["series_id"].map(rate) * grid["sample"].map(dict(enumerate(MULTIPLIERS)))
            return grid

        def payee_samples(self, ws: Workspace, start: date, end: date, samples: int = 1000,
                          **options: object) -> pd.DataFrame:
            history = self.history(ws)
            last = history["period"].max()
            horizon = (end.year - last.year) * 12 + end.month - last.month
            frame = self.predict(self.fit(history), horizon)
            frame = frame.loc[frame["period"] >= pd.Timestamp(start)]
            return frame.groupby(["series_id", "sample"], as_index=False)["value"].sum().rename(
                columns={"series_id": "payee_id"})

    return _RunRate()


class ForecasterPlugin:
    """Register with ``planning_ws(plugins=[ForecasterPlugin()])``."""

    from spm_kernel.hookspecs import hookimpl as _hookimpl

    @_hookimpl
    def spm_register_forecasters(self) -> list[object]:
        return [_make_forecaster()]
