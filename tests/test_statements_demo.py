"""The demo company's compensation: its plan files registered and assigned by role, a year of
runs with all but the last months closed, and statements on real demo payouts."""

from __future__ import annotations

import shutil
from datetime import date
from decimal import Decimal
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

import spm_kernel.plans  # noqa: F401 - import order: plans before plan types
from spm_kernel.cli import build_app
from spm_kernel.demo.compensation import PLAN_SOURCE, calculate_demo, demo_months, demo_plan_files
from spm_kernel.engine.calculate import load_book
from spm_kernel.periods import parse_period
from spm_kernel.plans.book import resolve_assignments
from spm_kernel.plantypes.contract import CalcPeriod
from spm_kernel.workspace import Workspace


def test_the_demo_registers_its_plans(spm_demo_workspace: Workspace) -> None:
    ws = spm_demo_workspace
    shipped = {p.name: p.read_bytes() for p in demo_plan_files()}
    assert len(shipped) >= 2  # this year's AE plan and the proposed version at least
    assert {p.name: p.read_bytes() for p in ws.plans_dir.glob("*.yaml")} == shipped
    book = load_book(ws)
    table = ws.table("plans")
    assert set(zip(table["plan_id"], table["version"], table["content_hash"])) == \
        {(p.plan_id, p.version, p.content_hash) for p in book}
    assert set(table["source"]) == {PLAN_SOURCE}
    statuses = {(p.plan_id, p.version): p.spec.status for p in book}
    assert statuses[("ae-plan", 1)] == "active" and "proposed" in statuses.values()
    assignments = ws.table("plan_assignments")
    assert ("ae-plan", "role", "rep") in set(zip(assignments["plan_id"], assignments["assignee_type"],
                                                  assignments["assignee"]))


def test_the_assignment_table_agrees_with_the_plan_files(spm_demo_workspace: Workspace) -> None:
    """Who is on which version, with which target incentive, is the same whether the mirrored
    table rows are read or not."""
    ws = spm_demo_workspace
    book = load_book(ws)
    people = ws.table("payees")
    year = CalcPeriod("FY2026", date(2026, 1, 1), date(2026, 12, 31))
    table = ws.table("plan_assignments")
    for month in ("2026-03", "2026-11"):
        p = parse_period(month)
        period = CalcPeriod(p.period_id, p.start, p.end)
        with_table = resolve_assignments(book, people, period, year, table)
        files_only = resolve_assignments(book, people, period, year, None)
        pd.testing.assert_frame_equal(with_table, files_only)
        roles = set(people.set_index("payee_id").loc[with_table["payee_id"], "role"])
        assert {"rep", "manager", "overlay"} <= roles


@pytest.mark.slow
def test_calculate_demo_closes_all_but_the_last_months(spm_demo_workspace: Workspace) -> None:
    ws = spm_demo_workspace
    assert [m.period_id for m in demo_months(ws)][:1] == ["2026-01"] and len(demo_months(ws)) == 12
    done = calculate_demo(ws, open_months=1, through=date(2026, 2, 28), progress=False)
    assert done.calculated == ["2026-01", "2026-02"] and done.closed == ["2026-01"] and done.open == ["2026-02"]
    assert "2026-01..2026-02 (2 months" in str(done)
    status = dict(ws.sql("SELECT period_id, status FROM periods").itertuples(index=False))
    assert status == {"2026-01": "closed", "2026-02": "open"}
    again = calculate_demo(ws, open_months=1, through=date(2026, 2, 28), progress=False)
    assert again.closed == ["2026-01"] and list(again.seconds) == ["2026-02"]  # closed months are skipped

    from spm_kernel.reports.statements import build_statements

    for period in ("2026-01", "2026-02"):
        run_id = ws.run(period=period).run_id
        ledger = dict(ws.con.execute(
            "SELECT payee_id, sum(amount) FROM payout_lines WHERE run_id = ? GROUP BY ALL", [run_id]).fetchall())
        found = build_statements(ws, period)
        assert {s.payee_id: s.paid for s in found} == ledger
        by_currency = dict(ws.con.execute(
            "SELECT currency, sum(amount) FROM payout_lines WHERE run_id = ? GROUP BY ALL", [run_id]).fetchall())
        mine: dict[str, Decimal] = {}
        for st in found:
            mine[st.currency] = mine.get(st.currency, Decimal(0)) + st.paid
        assert mine == by_currency and len(by_currency) == 3  # USD, EUR, GBP
        roles = {s.role for s in found}
        assert {"rep", "manager", "director", "vp", "overlay"} <= roles
        assert all(s.final == (period == "2026-01") for s in found)


@pytest.mark.slow
def test_spm_statements_on_the_demo(spm_demo_template: Path, tmp_path: Path) -> None:
    folder = tmp_path / "northwind"
    shutil.copytree(spm_demo_template, folder)
    runner = CliRunner()
    calc = runner.invoke(build_app(), ["calc", "2026-01", "-w", str(folder), "-q"])
    assert calc.exit_code == 0, calc.output
    out = tmp_path / "html"
    result = runner.invoke(build_app(), ["statements", "2026-01", "--format", "html", "--out", str(out),
                                         "-w", str(folder), "-q"])
    assert result.exit_code == 0, result.output
    pages = sorted(out.glob("statement-2026-01-*.html"))
    assert len(pages) >= 100 and all("Compensation statement" in p.read_text() for p in pages[:5])
    assert f"wrote {len(pages)} html statement(s) of 2026-01, preliminary" in result.output
    rep = pages[0].name.removeprefix("statement-2026-01-").removesuffix(".html")
    one = runner.invoke(build_app(), ["statements", "2026-01", "-p", rep, "--out", str(tmp_path / "pdf"),
                                      "-w", str(folder)])
    assert one.exit_code == 0, one.output
    assert (tmp_path / "pdf" / f"statement-2026-01-{rep}.pdf").read_bytes().startswith(b"%PDF")


def test_spm_demo_has_a_calc_switch() -> None:
    result = CliRunner().invoke(build_app(), ["demo", "--help"])
    assert result.exit_code == 0 and "--no-calc" in result.output
