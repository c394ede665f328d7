"""Quota sets: drafts, approval into quotas through the importer, immutability, replacement,
closed periods, all-or-nothing."""

from __future__ import annotations

from decimal import Decimal

import pandas as pd
import pytest

from spm_kernel.planning import PlanningError, Ramp, allocate_quotas
from tests.test_planning_company import BUDGET_PLAN, planning_template, planning_ws  # noqa: F401

D = Decimal


def _plan(ws, target: str = "665000.00", **kw):
    return allocate_quotas(ws, fiscal_year=2027, target=target, ramp=Ramp(factors=[D("0.5")]), seasonality="even",
                           **kw)


def _terminate(ws, payee: str, day: str) -> None:
    row = ws.sql("SELECT payee_id, name, role, team_id, region_id, segment, currency, hire_date FROM payees "
                 "WHERE payee_id = ?", [payee])
    ws.load("payees", row.assign(termination_date=day))


def _quotas(ws, year: int = 2027) -> pd.DataFrame:
    return ws.sql("SELECT payee_id, measure, period_start, amount, currency, source FROM quotas "
                  "WHERE year(period_start) = ? ORDER BY payee_id, measure, period_start", [year])


def test_a_saved_draft_keeps_the_allocation_and_its_report(planning_ws) -> None:
    ws = planning_ws()
    plan = _plan(ws)
    qs = ws.quota_sets.create(plan, name="FY2027 first cut", actor="ana")
    assert (qs.quota_set_id, qs.version, qs.status, qs.created_by) == ("FY2027-bookings", 1, "draft", "ana")
    assert qs.target == D("665000.00") and qs.method_used == "historical" and qs.measures == [
        "bookings", "bookings_annual"]
    lines = qs.lines()
    # (5 reps + 3 managers + 2 directors + the VP) x (4 quarters + 1 year), less E's Q1
    assert len(lines) == len(plan.lines) == 54
    assert lines.loc[(lines["payee_id"] == "C") & (lines["measure"] == "bookings_annual"), "amount"].item() == D(
        "60000.00")
    nodes = qs.nodes()
    company = nodes.loc[nodes["level"] == "company"].iloc[0]
    assert (company.top_down, company.bottom_up, company.gap) == (D("665000.00"), D("635000.00"), D("30000.00"))
    assert qs.fairness().summary["ratio_gini"] == pytest.approx(plan.fairness().summary["ratio_gini"])
    assert _quotas(ws).empty  # a draft writes nothing into quotas
    assert ws.quota_sets.create(plan).version == 2
    assert ws.quota_sets.list()["version"].tolist() == [1, 2]


def test_approving_writes_the_quotas_the_engine_reads_through_the_importer(planning_ws) -> None:
    ws = planning_ws()
    qs = ws.quota_sets.create(_plan(ws))
    approved = ws.quota_sets.approve(qs.quota_set_id, actor="cfo")
    assert approved.status == "approved" and approved.approved_by == "cfo"
    assert approved.approval["inserted"] == 54 and approved.approval["deleted"] == 0
    rows = _quotas(ws)
    assert len(rows) == 54 and set(rows["source"]) == {"quota_set:FY2027-bookings@1"}
    a = rows.loc[(rows["payee_id"] == "A") & (rows["measure"] == "bookings"), "amount"].tolist()
    assert a == [D("30000.00")] * 4
    log = ws.sql("SELECT table_name, source, inserted FROM import_log WHERE table_name = 'quotas'")
    assert log.iloc[-1].tolist() == ["quotas", "quota_set:FY2027-bookings@1", 54]
    audit = ws.sql("SELECT action, entity FROM audit_log WHERE action <> 'import' ORDER BY seq")  # issue 9
    assert audit["action"].tolist() == ["create_quota_set", "approve_quota_set"]
    assert ws.quota_sets.in_force(2027)[["quota_set_id", "version"]].iloc[0].tolist() == ["FY2027-bookings", 1]


def test_an_approved_set_is_immutable_and_a_new_version_replaces_its_quotas(planning_ws) -> None:
    ws = planning_ws()
    v1 = ws.quota_sets.approve(ws.quota_sets.create(_plan(ws)).key)
    with pytest.raises(PlanningError, match="immutable"):
        ws.quota_sets.approve(v1.key)
    with pytest.raises(PlanningError, match="immutable"):
        ws.quota_sets.delete(v1.quota_set_id, v1.version)
    # B leaves before FY2027 starts: version 2 has no B, so B's FY2027 quotas must go
    _terminate(ws, "B", "2026-12-31")
    v2 = ws.quota_sets.approve(ws.quota_sets.create(_plan(ws, target="605000.00")).key)
    assert v2.version == 2
    # B's 4 quarters and annual row are deleted; everything else is updated
    assert v2.approval["deleted"] == 5 and v2.approval["inserted"] == 0
    rows = _quotas(ws)
    assert "B" not in set(rows["payee_id"]) and set(rows["source"]) == {"quota_set:FY2027-bookings@2"}
    # A keeps 120,000 (665,000 - B's 60,000 = 605,000 for the same weights)
    annual = rows.loc[rows["measure"] == "bookings_annual"].set_index("payee_id")["amount"]
    assert annual["A"] == D("120000.00") and annual["M1"] == D("120000.00") and annual["V0"] == D("605000.00")
    assert ws.quota_sets.get(v1.quota_set_id, 1).status == "approved"  # the record stays
    assert ws.quota_sets.in_force(2027)["version"].tolist() == [2]


def test_a_draft_can_be_deleted(planning_ws) -> None:
    ws = planning_ws()
    qs = ws.quota_sets.create(_plan(ws))
    ws.quota_sets.delete(qs.quota_set_id, qs.version)
    assert ws.quota_sets.list().empty and ws.count("quota_set_lines") == 0 and ws.count("quota_set_nodes") == 0
    with pytest.raises(PlanningError, match="no quota set 'FY2027-bookings'"):
        ws.quota_sets.get("FY2027-bookings")


def test_approval_never_rewrites_a_closed_period(planning_ws) -> None:
    ws = planning_ws()
    (ws.plans_dir / "budget-plan.yaml").write_text(BUDGET_PLAN, encoding="utf-8")
    ws.quota_sets.approve(ws.quota_sets.create(_plan(ws)).key)
    ws.calculate("2027-01", progress=False)
    ws.close_period("2027-01")
    before = _quotas(ws)
    draft = ws.quota_sets.create(_plan(ws, target="700000.00"))
    with pytest.raises(PlanningError, match="closed period.*2027-01.*never rewritten"):
        ws.quota_sets.approve(draft.key)
    pd.testing.assert_frame_equal(_quotas(ws), before)
    assert ws.quota_sets.get(draft.key).status == "draft"


def test_a_refused_approval_leaves_quotas_and_the_set_unchanged(planning_ws) -> None:
    ws = planning_ws()
    ws.quota_sets.approve(ws.quota_sets.create(_plan(ws)).key)
    _terminate(ws, "B", "2026-12-31")
    draft = ws.quota_sets.create(_plan(ws, target="605000.00"))
    # a row naming a payee the workspace does not have: the importer refuses it inside the
    # approval's transaction, after the stale rows (B's) were deleted
    ws.con.execute("UPDATE quota_set_lines SET payee_id = 'NOBODY' WHERE payee_id = 'A' AND version = 2 "
                   "AND measure = 'bookings_annual'")
    before = _quotas(ws)
    with pytest.raises(Exception, match="NOBODY") as info:
        ws.quota_sets.approve(draft.key)
    assert type(info.value).__name__ == "ImportValidationError"
    pd.testing.assert_frame_equal(_quotas(ws), before)  # B's rows are back: nothing half-written
    assert ws.quota_sets.get(draft.key).status == "draft"
    assert ws.sql("SELECT count(*) AS n FROM audit_log WHERE action = 'approve_quota_set'")["n"][0] == 1


def test_the_engine_uses_the_approved_quotas(planning_ws) -> None:
    ws = planning_ws()
    (ws.plans_dir / "budget-plan.yaml").write_text(BUDGET_PLAN, encoding="utf-8")
    ws.load("opportunities", pd.DataFrame({
        "opportunity_id": ["N1"], "account_id": ["AC1"], "owner_id": ["A"], "amount": ["60000.00"],
        "currency": ["USD"], "stage": ["Closed Won"], "created_date": ["2027-01-02"], "close_date": ["2027-01-20"],
        "is_closed": ["true"], "is_won": ["true"], "product": ["Core"], "segment": ["SMB"], "deal_type": ["new"]}))
    ws.load("transactions", pd.DataFrame({
        "transaction_id": ["TN1"], "opportunity_id": ["N1"], "kind": ["booking"], "amount": ["60000.00"],
        "currency": ["USD"], "transaction_date": ["2027-01-20"]}))
    ws.quota_sets.approve(ws.quota_sets.create(_plan(ws)).key)
    run = ws.calculate("2027-01", progress=False)
    line = run.lines().set_index("payee_id").loc["A"]
    # A's annual quota is the sum of the four bookings rows: 120,000; 60,000 is 50% attainment
    # and earns 60,000 x 5% = 3,000.00
    assert line["amount"] == D("3000.00") and float(line["attainment"]) == pytest.approx(0.5)
