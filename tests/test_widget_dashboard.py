"""The shared components and the KPI dashboard, headless: set widget values, click, and
compare the model with the kernel's own APIs on the demo company."""

from __future__ import annotations

import logging
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

import spm_kernel
from spm_kernel.benchmarking import areas_for_improvement, team_benchmarks
from spm_kernel.errors import SPMError
from spm_widgets import components
from spm_widgets.components import (
    DataTable, ErrorDisplay, KpiTile, LoadingIndicator, UserFacingError, current_user, format_money,
    format_pct, guarded,
)
from spm_widgets.dashboard import (
    AREA_METRICS, TILE_METRICS, DashboardModel, DashboardView, attainment_buckets, dashboard_app,
    format_metric, trend_text,
)

AS_OF = date(2026, 11, 27)
PERIOD = "2026-Q3"


# ---- components ----
def test_loading_indicator_is_busy_only_inside_the_block() -> None:
    spinner = LoadingIndicator()
    assert not spinner.busy and "spm-busy" not in spinner._dom_classes
    with spinner.working("Crunching…"):
        assert spinner.busy and "spm-busy" in spinner._dom_classes
        assert "Crunching…" in spinner.value
        with spinner.working("Inner"):
            assert spinner.busy
        assert spinner.busy and spinner.message == "Crunching…"  # nested blocks restore
    assert not spinner.busy and "spm-busy" not in spinner._dom_classes
    # The half-second delay is the stylesheet's: the spinner fades in after 0.5 s of busy.
    assert "animation: spm-appear 0s linear 0.5s forwards" in components.STYLE
    assert components.LOADING_DELAY_S == 0.5


def test_data_table_keeps_exact_money_and_selects_rows() -> None:
    frame = pd.DataFrame({"name": ["Ann", "Bob", "Cy"],
                          "amount": [Decimal("1234.50"), Decimal("-0.05"), Decimal("10")],
                          "share": [0.5, 1.25, None]})
    table = DataTable(frame, money=["amount"], percent=["share"], headers={"amount": "Amount"},
                      selectable=True, css_class="spm-test-grid")
    assert "spm-test-grid" in table._dom_classes
    assert list(table.frame["amount"]) == [Decimal("1234.50"), Decimal("-0.05"), Decimal("10")]
    shown = table.grid.data
    assert list(shown.columns) == ["name", "Amount", "share"]
    assert list(shown["Amount"]) == [1234.5, -0.05, 10.0]
    assert table.grid.renderers["Amount"].format == ",.2f"
    assert table.grid.renderers["share"].format == ".1%"
    table.select_row(1)
    assert table.selected_rows == [1]
    assert table.grid.selections == [{"r1": 1, "c1": 0, "r2": 1, "c2": 2}]
    # A selection made in the browser (the grid's synced trait) maps to rows of .frame.
    table.grid.selections = [{"r1": 2, "c1": 0, "r2": 0, "c2": 2}]
    assert table.selected_rows == [0, 1, 2]
    grid = table.grid
    table.set_frame(frame.iloc[:0])
    assert table.selected_rows == [] and table.children[0].value == "Nothing to show."
    # the grid stays on the page with its headers and no rows (taken off and put back, the
    # browser lays it out and paints it from nothing again)
    assert table.children[1] is grid and len(grid.data) == 0 and grid.selections == []
    assert table.children[0].layout.display is None  # the message shows
    children = table.children
    table.set_frame(frame)
    assert table.children == children and table.children[1] is grid and list(grid.data["Amount"]) == [1234.5, -0.05, 10.0]
    assert table.children[0].layout.display == "none"  # the same children: the grid's view is kept


def test_data_table_widths_are_set_from_python_and_only_grow() -> None:
    frame = pd.DataFrame({"node": ["North", "South"], "payees": [12, 140],
                          "amount": [Decimal("1234.50"), Decimal("-0.05")], "share": [0.5, None]})
    table = DataTable(frame, money=["amount"], percent=["share"], headers={"amount": "Amount"})
    grid = table.grid
    assert not grid.auto_fit_columns  # the browser's auto-fit resizes every column on every change
    widths = {col: grid.column_widths.get(col, grid.base_column_size) for col in grid.data.columns}
    assert widths == table._shown_widths
    # a column fits its header and its longest value ("-1,234.50" drawn, not "1234.5")
    assert widths["Amount"] >= 9 * components.GRID_BODY_CHAR_PX + 24
    assert widths["node"] >= len("North") * components.GRID_BODY_CHAR_PX
    # most columns share the base width: fewer columns are resized when the rows are replaced
    assert sum(w != grid.base_column_size for w in widths.values()) <= 1
    longer = frame.assign(node=["A much longer region name", "South"])
    table.set_frame(longer)
    grown = {col: grid.column_widths.get(col, grid.base_column_size) for col in grid.data.columns}
    assert grown["node"] > widths["node"]
    table.set_frame(frame)  # back to short names: the column keeps its width (no resize)
    assert {col: grid.column_widths.get(col, grid.base_column_size) for col in grid.data.columns} == grown
    assert table.grid is grid
    # widths given by the app win
    fixed = DataTable(frame, column_widths={"node": 300})
    assert fixed.grid.column_widths.get("node", fixed.grid.base_column_size) == 300


def test_data_table_puts_the_grid_paint_beside_its_grid() -> None:
    """Each grid comes with the invisible GridPaint that finds lumino's DataGrid through it (the
    browser test test_grid_paint_same_pixels checks what it does to the pixels)."""
    from spm_widgets.grid_paint import GridPaint

    table = DataTable(pd.DataFrame({"node": ["North"], "payees": [12]}))
    painter = table.children[-1]
    assert isinstance(painter, GridPaint) and painter.grid is table.grid
    assert painter.layout.display == "none"
    assert painter.get_state()["grid"] == f"IPY_MODEL_{table.grid.model_id}"  # sent as a widget reference
    children = table.children
    table.set_frame(pd.DataFrame({"node": ["South"], "payees": [3]}))  # same columns: same grid, same children
    assert table.children == children
    table.set_frame(pd.DataFrame({"team": ["T1"]}))  # other columns: a new grid and its own GridPaint
    assert table.children[-1].grid is table.grid is not painter.grid


def test_shared_widths_resize_the_fewest_columns_within_the_budget() -> None:
    # narrow columns take the base width: replacing the rows resizes no column
    assert components.shared_widths([80, 70, 90, 90, 90, 120, 120, 120, 80]) == (120, [120] * 9)
    # ... while the table stays within the budget: the widest column is left to resize
    base, shown = components.shared_widths([100, 140, 110, 100, 110, 110, 100, 110, 100])
    assert (base, shown) == (110, [110, 140, 110, 110, 110, 110, 110, 110, 110])
    assert sum([110] * 8 + [140]) <= components.TABLE_BUDGET_PX < 9 * 140
    # the app's own widths are kept
    assert components.shared_widths([60, 120, 120], fixed=[True, False, False]) == (120, [60, 120, 120])
    # a table already wider than the budget is not widened
    assert components.shared_widths([400, 400, 300, 200]) == (200, [400, 400, 300, 200])
    assert components.shared_widths([]) == (120, [])


def test_kpi_tile_draws_escaped_texts_and_tone() -> None:
    tile = KpiTile("Win <rate>", css_class="spm-kpi-win", display_value="41.2%", trend="+1.0 pts vs Q2",
                   tone="good", benchmark="Median team 45.2%")
    assert {"spm-kpi", "spm-kpi-win"} <= set(tile._dom_classes)
    assert "Win &lt;rate&gt;" in tile.value
    assert '<div class="spm-kpi-value">41.2%</div>' in tile.value
    assert 'spm-trend-good">▲ +1.0 pts vs Q2' in tile.value
    tile.update(tone="bad", trend="-3.0 pts vs Q2")
    assert 'spm-trend-bad">▼ -3.0 pts vs Q2' in tile.value


def test_errors_show_an_id_and_never_the_traceback(caplog: pytest.LogCaptureFixture) -> None:
    shown = ErrorDisplay()
    components.log.propagate = True  # let caplog see the record this once
    try:
        with caplog.at_level(logging.ERROR, logger="spm_widgets"):
            @guarded(shown, "test action")
            def boom() -> None:
                raise KeyError("internal-detail-4711")

            boom()
    finally:
        components.log.propagate = False
    assert shown.error_id and len(shown.error_id) == 8
    assert "internal-detail-4711" not in shown.value and "Traceback" not in shown.value
    assert "Something went wrong" in shown.value and shown.error_id in shown.value
    assert shown.error_id in caplog.text and "internal-detail-4711" in caplog.text
    # A user-level error (SPMError) shows its own message; a success clears the display.
    shown.show(SPMError("period 2031-13 is not a period"))
    assert "period 2031-13 is not a period" in shown.value

    @guarded(shown)
    def fine() -> int:
        return 1

    assert fine() == 1 and shown.value == "" and shown.error_id == ""


def test_current_user_comes_from_the_notebook_variable_then_the_environment(
        monkeypatch: pytest.MonkeyPatch, spm_demo_template: Path) -> None:
    import __main__

    monkeypatch.delenv("SPM_USER", raising=False)
    monkeypatch.delattr(__main__, "SPM_USER", raising=False)
    with pytest.raises(UserFacingError, match="nobody is signed in"):
        current_user()
    monkeypatch.setenv("SPM_USER", "P0000022")
    assert current_user() == "P0000022"
    monkeypatch.setattr(__main__, "SPM_USER", "P0000023", raising=False)
    assert current_user() == "P0000023"  # the server-set notebook variable wins
    with spm_kernel.open(spm_demo_template, read_only=True) as ws:
        assert current_user(ws) == "P0000023"
        monkeypatch.setattr(__main__, "SPM_USER", "NOBODY")
        with pytest.raises(UserFacingError, match="No payee 'NOBODY'"):
            current_user(ws)


def test_formatting_is_exact() -> None:
    assert format_money(Decimal("1234567.005"), "USD") == "1,234,567.01 USD"  # half up, no float
    assert format_money(Decimal("-0.5"), "JPY", 0) == "-1 JPY"
    assert format_money(None) == "–"
    assert format_pct(0.98765) == "98.8%"
    assert format_metric(Decimal("81726.95"), "currency", "USD") == "81,727 USD"
    assert format_metric(67.94, "days") == "67.9 days"
    assert format_metric(None, "ratio") == "–"


# ---- dashboard pieces worked by hand ----
def test_attainment_buckets_are_half_open() -> None:
    values = pd.Series([0.49, 0.5, 0.75, 1.0, 1.2499, 1.25, 1.5, None, Decimal("0.8")], dtype=object)
    assert [b["count"] for b in attainment_buckets(values)] == [1, 1, 2, 2, 1, 1]


def test_trend_in_points_or_percent_and_tone_by_direction() -> None:
    assert trend_text(0.9, 0.8, "ratio", True, "2026-Q2") == ("+10.0 pts vs 2026-Q2", "good")
    assert trend_text(Decimal("90"), Decimal("100"), "currency", True, "Q2") == ("-10.0% vs Q2", "bad")
    assert trend_text(90.0, 100.0, "days", False, "Q2") == ("-10.0% vs Q2", "good")  # faster closing
    assert trend_text(0.5, None, "ratio", True, "Q2") == ("no figure for Q2", "flat")
    assert trend_text(0.5, 0.5, "ratio", True, "Q2") == ("+0.0 pts vs Q2", "flat")


# ---- the dashboard on the demo company ----
@pytest.fixture(scope="module")
def dashboard(spm_demo_template: Path) -> DashboardView:
    return DashboardView(DashboardModel.from_path(spm_demo_template, period=PERIOD, as_of=AS_OF))


def _kernel_tiles(ws: Any, period: str, previous: str, scope: str | None) -> pd.DataFrame:
    return ws.metrics(list(TILE_METRICS), by="company", period=[previous, period], scope=scope, as_of=AS_OF)


def test_company_tiles_equal_the_kernel_metrics(dashboard: DashboardView, spm_demo_template: Path) -> None:
    m = dashboard.model
    assert m.company_name == "Northwind Analytics" and m.base_currency == "USD"
    assert m.period == PERIOD and m.previous_period == "2026-Q2" and m.scope == ""
    assert m.period_options[:2] == ["2026-Q4", "2026-Q3"] and "FY2025" in m.period_options
    with spm_kernel.open(spm_demo_template, read_only=True) as ws:
        kernel = _kernel_tiles(ws, PERIOD, "2026-Q2", None)
        median_team = team_benchmarks(ws, PERIOD, list(TILE_METRICS), peer_keys=(), as_of=AS_OF)
    values = {(r.metric, r.period): r.value for r in kernel.itertuples()}
    assert [k["metric"] for k in m.kpis] == list(TILE_METRICS)
    for k in m.kpis:
        assert k["value"] == values[(k["metric"], PERIOD)], k["metric"]
        assert k["previous"] == values[(k["metric"], "2026-Q2")], k["metric"]
        med = median_team[median_team["metric"] == k["metric"]]["peer_median"].iloc[0]
        assert k["benchmark"] == f"Median team {format_metric(med, k['unit'], 'USD')}"
        tile = dashboard.tiles[k["metric"]]
        assert f'<div class="spm-kpi-value">{k["display"]}</div>' in tile.value
    att = m.kpi("quota_attainment")
    assert isinstance(att["numerator"], Decimal) and att["display"] == format_pct(att["value"])
    assert att["value"] == pytest.approx(float(att["numerator"] / att["denominator"]), rel=1e-9)
    reps = [r for r in m.leaderboard if r["attainment"] is not None]
    assert sum(b["count"] for b in m.distribution) == len(reps)
    assert list(dashboard.chart.data[0].y) == [b["count"] for b in m.distribution]


def test_choosing_a_team_scopes_tiles_leaderboard_and_areas(dashboard: DashboardView,
                                                            spm_demo_template: Path) -> None:
    m = dashboard.model
    team = "NAE-ENT-001"
    dashboard.team.value = team
    assert m.team == team and m.scope == f"team:{team}" and dashboard.errors.value == ""
    assert m.scope_label == "Team North America East Enterprise 1"
    with spm_kernel.open(spm_demo_template, read_only=True) as ws:
        kernel = _kernel_tiles(ws, PERIOD, "2026-Q2", f"team:{team}")
        peers = team_benchmarks(ws, PERIOD, list(TILE_METRICS), as_of=AS_OF)
        people = ws.metrics(["quota_attainment", "win_rate"], by="payee", period=PERIOD, scope=f"team:{team}",
                            as_of=AS_OF)
        roles = dict(ws.sql("SELECT payee_id, role FROM payees").itertuples(index=False))
        areas = areas_for_improvement(ws, PERIOD, metrics=list(AREA_METRICS), scope=f"team:{team}", top=1,
                                      as_of=AS_OF)
    values = {(r.metric, r.period): r.value for r in kernel.itertuples()}
    for k in m.kpis:
        assert k["value"] == values[(k["metric"], PERIOD)], k["metric"]
        row = peers[(peers["team_id"] == team) & (peers["metric"] == k["metric"])].iloc[0]
        assert k["percentile"] == row["percentile"] and k["peer_median"] == row["peer_median"]
        assert f"{row['percentile']:.0f}th percentile" in k["benchmark"]
    # Leaderboard: the team's reps, by attainment, with the kernel's per-payee numbers.
    att = people[people["metric"] == "quota_attainment"].set_index("payee_id")
    reps = [p for p in att.index if roles[p] == "rep"]
    assert sorted(r["payee_id"] for r in m.leaderboard) == sorted(reps)
    for r in m.leaderboard:
        assert r["attainment"] == att.loc[r["payee_id"], "value"]
        assert r["bookings"] == att.loc[r["payee_id"], "numerator"]
    shown = [r["attainment"] for r in m.leaderboard]
    assert shown == sorted(shown, reverse=True)
    assert len(dashboard.leaders.frame) == len(reps)
    # Areas for improvement: the kernel's, for the same payees and KPIs.
    assert {(a["payee_id"], a["metric"]) for a in m.improvements} == set(zip(areas["payee_id"], areas["metric"]))
    assert all(f'data-payee="{a["payee_id"]}"' in dashboard.areas.value for a in m.improvements[:8])


def test_region_and_segment_narrow_the_teams_and_the_period_changes(dashboard: DashboardView,
                                                                     spm_demo_template: Path) -> None:
    m = dashboard.model
    dashboard.region.value = "EUC"  # the chosen team is in another region: back to all teams
    assert dashboard.team.value == "" and m.scope == "region:EUC"
    teams = [v for _, v in dashboard.team.options if v]
    assert teams and all(t.startswith("EUC-") for t in teams)
    dashboard.segment.value = "SMB"
    assert [v for _, v in dashboard.team.options if v] == ["EUC-SMB-001"]
    assert m.leaderboard and all(r["segment"] == "SMB" for r in m.leaderboard)
    dashboard.period.value = "2026-Q2"
    assert m.period == "2026-Q2" and m.previous_period == "2026-Q1"
    with spm_kernel.open(spm_demo_template, read_only=True) as ws:
        kernel = ws.metrics(["quota_attainment"], by="company", period="2026-Q2", scope="region:EUC", as_of=AS_OF)
    assert m.kpi("quota_attainment")["value"] == kernel["value"].iloc[0]


def test_a_missing_workspace_is_a_friendly_panel(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SPM_WORKSPACE", raising=False)
    panel = dashboard_app()
    assert "spm-error-panel" in panel._dom_classes and "spm app --workspace" in panel.value
    broken = dashboard_app(tmp_path / "nowhere" / "file.txt")
    assert "spm-error-panel" in broken._dom_classes and "Traceback" not in broken.value


def test_answers_are_kept_until_the_workspace_changes(spm_demo_template: Path, tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    """A period change is answered from memory without opening the workspace; a write to the
    workspace (another process) is seen at the next change without pressing Refresh."""
    import shutil

    from tests.widget_checks import count_workspace_opens, write_from_another_connection

    folder = tmp_path / "company"
    shutil.copytree(spm_demo_template, folder)
    model = DashboardModel.from_path(folder, period=PERIOD, as_of=AS_OF)
    first = model.leaderboard[0]
    opened = count_workspace_opens(monkeypatch)
    model.set_filters(period=model.period_options[1])
    model.set_filters(period=PERIOD)
    assert opened == []  # both periods from memory
    assert model.leaderboard[0] == first
    write_from_another_connection(folder, "UPDATE payees SET name = 'Renamed Rep' WHERE payee_id = ?",
                                  [first["payee_id"]])
    model.set_filters(period=PERIOD)
    assert len(opened) == 1  # the change on disk is noticed: read again
    assert model.leaderboard[0]["name"] == "Renamed Rep"
