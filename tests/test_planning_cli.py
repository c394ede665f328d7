"""``spm quota ...`` on the small planning company (numbers from test_planning_quotas)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
from typer.testing import CliRunner

from spm_kernel.cli import build_app
from tests.test_planning_company import BUDGET_PLAN, planning_template, planning_ws  # noqa: F401

runner = CliRunner()


def _spm(folder: Path, *args: str):  # noqa: ANN202
    return runner.invoke(build_app(), [*args[:2], *args[2:], "--workspace", str(folder)])


def test_allocate_list_show_approve(planning_ws) -> None:
    ws = planning_ws()
    folder = ws.path
    ws.close()
    app = build_app()
    out = runner.invoke(app, ["quota", "allocate", "--year", "2027", "--target", "665000", "--ramp", "0.5",
                              "--seasonality", "even", "-o", "team=0.8", "--workspace", str(folder)])
    assert out.exit_code == 0, out.output
    # the company row: 665,000 top-down against 635,000 x 0.8 = 508,000 bottom-up
    assert "company  company  V0           5  665,000.00  508,000.00  157,000.00  +30.9%" in out.output
    assert "saved draft FY2027-bookings@1 (54 quota rows)" in out.output
    assert "quota/potential Gini 0.161" in out.output
    listed = runner.invoke(app, ["quota", "list", "--workspace", str(folder)])
    assert "FY2027-bookings@1" in listed.output and "draft" in listed.output
    shown = runner.invoke(app, ["quota", "show", "FY2027-bookings@1", "--level", "payee", "--workspace", str(folder)])
    assert "payee  A     A            1  150,000.00   75,000.00  75,000.00  +100.0%" in shown.output
    approved = runner.invoke(app, ["quota", "approve", "FY2027-bookings@1", "--actor", "cfo",
                                   "--workspace", str(folder)])
    assert approved.exit_code == 0 and "54 inserted" in approved.output
    again = runner.invoke(app, ["quota", "approve", "FY2027-bookings@1", "--workspace", str(folder)])
    assert again.exit_code == 1 and "immutable" in again.output


def test_bad_arguments_are_one_line_errors(planning_ws) -> None:
    ws = planning_ws()
    folder = ws.path
    ws.close()
    app = build_app()
    out = runner.invoke(app, ["quota", "allocate", "--year", "2027", "--target", "1.005", "--workspace", str(folder)])
    assert out.exit_code == 1 and "fraction of a cent" in out.output
    out = runner.invoke(app, ["quota", "allocate", "--year", "2027", "--target", "100", "-o", "team",
                              "--workspace", str(folder)])
    assert out.exit_code == 1 and "name=value" in out.output
    out = runner.invoke(app, ["quota", "show", "nope", "--workspace", str(folder)])
    assert out.exit_code == 1 and "no quota set 'nope'" in out.output


def test_markets_and_territories(planning_ws, tmp_path: Path) -> None:
    ws = planning_ws()
    folder = ws.path
    ws.close()
    app = build_app()
    out = runner.invoke(app, ["quota", "markets", "--by", "segment", "--year", "2026", "--weight", "revenue=2",
                              "--weight", "headroom=1", "--workspace", str(folder)])
    assert out.exit_code == 0, out.output
    # SMB: 255,000 revenue and 775,000 - 255,000 = 520,000 headroom beat ENT on both
    assert "- SMB ranks 1 of 2 segments with a score of 1.00" in out.output
    moves = tmp_path / "moves.csv"
    out = runner.invoke(app, ["quota", "territories", "--on", "2026-12-31", "--out", str(moves),
                              "--workspace", str(folder)])
    assert out.exit_code == 0, out.output
    assert "1 account(s) moved, 1 unassigned account(s) given an owner" in out.output
    written = pd.read_csv(moves).fillna("")  # the unowned AC6 is listed with no previous owner
    assert written[["account_id", "from_rep", "to_rep"]].values.tolist() == [["AC2", "A", "C"], ["AC6", "", "B"]]


def test_budget_at_quota(planning_ws) -> None:
    ws = planning_ws()
    (ws.plans_dir / "budget-plan.yaml").write_text(BUDGET_PLAN, encoding="utf-8")
    folder = ws.path
    ws.close()
    app = build_app()
    runner.invoke(app, ["quota", "allocate", "--year", "2027", "--target", "665000", "--ramp", "0.5",
                        "--seasonality", "even", "--workspace", str(folder)])
    out = runner.invoke(app, ["quota", "budget", "budget-plan", "--set", "FY2027-bookings@1", "--bookings", "quota",
                              "--quiet", "--workspace", str(folder)])
    assert out.exit_code == 0, out.output
    # 5% of every quota: 33,250 on 665,000; T1 = A + B = 9,000
    assert "cost 33,250.00 USD on bookings 665,000.00 (5.00%)" in out.output
    assert "T1    180,000.00   9,000.00          5.00%" in out.output
    # no run and no plan in force in FY2026: last year's cost is unknown, its bookings are not
    assert "previous year (none: no run and no plan in force that year)" in out.output
    assert "bookings           665,000.00     495,000.00     +34.3%" in out.output
