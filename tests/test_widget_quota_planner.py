"""The quota planner, headless: its figures are ``allocate_quotas`` and its fairness report for
the same settings, methods and the team factor change them, a bad target is refused."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

import spm_kernel
from spm_kernel.planning import allocate_quotas
from tests.widget_checks import assert_sendable
from spm_widgets.quota_planner import DEAL_TYPES, QuotaPlannerModel, QuotaPlannerView, _round_target, nodes_html


def test_round_target() -> None:
    assert _round_target(Decimal("54988410.12")) == Decimal("55000000.00")
    assert _round_target(Decimal("55000000.00")) == Decimal("55000000.00")
    assert _round_target(Decimal("12.00")) == Decimal("1000000.00")


@pytest.fixture(scope="module")
def planner(spm_demo_template: Path) -> QuotaPlannerModel:
    return QuotaPlannerModel.from_path(spm_demo_template)


def test_defaults_come_from_the_workspace(planner: QuotaPlannerModel, spm_demo_template: Path) -> None:
    with spm_kernel.open(spm_demo_template, read_only=True) as ws:
        last = ws.sql("SELECT max(period_end) AS d FROM quotas")["d"][0]
        forecasting = bool(ws.registry.forecasters.names())
    assert planner.fiscal_year == last.year + 1  # the year after the last quota
    assert planner.years == [last.year, last.year + 1, last.year + 2]
    assert ("forecast" in planner.methods) == forecasting
    assert planner.methods[0] == "historical" and "even" in planner.methods
    # the default target: bottom-up capacity rounded up to the next million
    bottom_up = planner.company["bottom_up"]
    assert Decimal(planner.target) == _round_target(bottom_up)
    assert Decimal(planner.target) - bottom_up < Decimal(1_000_000) and Decimal(planner.target) >= bottom_up


def test_figures_equal_allocate_quotas(planner: QuotaPlannerModel, spm_demo_template: Path) -> None:
    with spm_kernel.open(spm_demo_template, read_only=True) as ws:
        plan = allocate_quotas(ws, fiscal_year=planner.fiscal_year, target=planner.target, method="historical",
                               deal_types=DEAL_TYPES, overassignment={"team": Decimal("1.00")})
    assert planner.plan.nodes.equals(plan.nodes)
    company = plan.level("company").iloc[0]
    assert planner.company["top_down"] == company.top_down == Decimal(planner.target)
    assert (planner.company["bottom_up"], planner.company["gap"]) == (company.bottom_up, company.gap)
    assert planner.fairness_summary == pytest.approx(plan.fairness().summary, nan_ok=True)
    regions = planner.nodes("region")
    assert sum(regions["top_down"]) == Decimal(planner.target)  # largest remainder: exact to the cent
    html = nodes_html(regions)
    first = regions.iloc[0]
    assert f'<tr data-node="{first.node}">' in html
    assert f'<td class="spm-num spm-top-down">{first.top_down:,.2f}</td>' in html


def test_view_method_factor_level_and_target(spm_demo_template: Path) -> None:
    model = QuotaPlannerModel.from_path(spm_demo_template, fiscal_year=2027, target="60000000")
    view = QuotaPlannerView(model)
    assert assert_sendable(view) > 10  # every widget, charts included, can reach the browser
    assert model.target == "60000000.00" and "60,000,000" in view.tiles["target"].value
    view.method.value = "even"
    assert model.method_used == "even"
    with spm_kernel.open(spm_demo_template, read_only=True) as ws:
        even = allocate_quotas(ws, fiscal_year=2027, target="60000000", method="even", deal_types=DEAL_TYPES,
                               overassignment={"team": Decimal("1.00")})
        teams = allocate_quotas(ws, fiscal_year=2027, target="60000000", method="even", deal_types=DEAL_TYPES,
                                overassignment={"team": Decimal("0.95")})
    assert model.plan.nodes.equals(even.nodes)
    assert list(view.bars.data[0].x) == list(even.level("region")["node"])
    assert list(view.bars.data[0].y) == [float(v) for v in even.level("region")["top_down"]]
    view.factor.value = 0.95
    assert model.team_factor == "0.95" and model.plan.nodes.equals(teams.nodes)
    # the reps of a team carry 1/0.95 of the manager's number
    team = teams.level("team").iloc[0]
    reps = teams.nodes.loc[(teams.nodes["level"] == "payee") & (teams.nodes["parent"] == team.node)]
    assert abs(sum(reps["top_down"]) * Decimal("0.95") - team.top_down) < Decimal("0.05")
    view.level.value = "payee"
    assert view.table.value.count("<tr data-node=") == 12 and len(view.grid.frame) == len(even.level("payee"))
    before = model.company
    view.target.value = "lots"
    assert view.error.error_id and "not a positive amount" in view.error.value
    assert model.company == before
    view.target.value = "61,000,000.00"
    assert model.company["top_down"] == Decimal("61000000.00") and view.error.value == ""
    assert_sendable(view)


def test_a_second_visit_to_the_same_settings_is_cached(spm_demo_template: Path) -> None:
    model = QuotaPlannerModel.from_path(spm_demo_template, fiscal_year=2027, target="58000000")
    first = model.plan
    model.method = "even"
    model.compute()
    model.method = "historical"
    model.compute()
    assert model.plan is first and model.seconds < 0.5


def test_prepared_methods_are_lookups_until_the_workspace_changes(
        spm_demo_template: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import shutil

    from tests.widget_checks import count_workspace_opens, write_from_another_connection

    folder = tmp_path / "company"
    shutil.copytree(spm_demo_template, folder)
    model = QuotaPlannerModel.from_path(folder, fiscal_year=2027, target="58000000")
    assert model.prepare_methods() == [m for m in model.methods if m not in ("historical", "forecast")]
    opened = count_workspace_opens(monkeypatch)
    model.method = "even"
    model.compute()
    assert opened == [] and model.method_used == "even"  # prepared: no workspace opened
    with spm_kernel.open(folder, read_only=True) as ws:
        even = allocate_quotas(ws, fiscal_year=2027, target="58000000", method="even", deal_types=DEAL_TYPES,
                               overassignment={"team": Decimal("1.00")})
    assert model.plan.nodes.equals(even.nodes)
    # another program changes the data: the same settings are allocated again, on the new data
    bottom_up = model.company["bottom_up"]
    write_from_another_connection(folder, "UPDATE opportunities SET amount = amount * 2 WHERE is_won")
    model.compute()
    assert opened == [str(folder)] and model.company["bottom_up"] != bottom_up
