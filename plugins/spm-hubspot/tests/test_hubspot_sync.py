"""The hubspot source through the real hubspot-api-client against a local HubSpot
(spm_hubspot.testing.FakeHubSpot), pages of 3."""

from __future__ import annotations

import json
import time
from datetime import date
from decimal import Decimal
from typing import Any

import pandas as pd
import pytest
import yaml
from hs_account import modified

from spm_kernel.sync import SourceError, configured_source, list_rejects, sync_history


def workspace(factory: Any, settings: dict[str, Any]) -> Any:
    ws = factory()
    (ws.path / "sources.yaml").write_text(yaml.safe_dump({"hubspot": settings}), "utf-8")
    return ws


def run(ws: Any, **kw: Any) -> Any:
    return configured_source(ws, "hubspot").sync(ws, progress=False, **kw)


def counts(ws: Any) -> dict[str, int]:
    return {t: ws.count(t) for t in ("regions", "teams", "payees", "accounts", "opportunities",
                                     "opportunity_stage_history")}


def test_first_full_sync(spm_workspace_factory, settings, hubspot):
    ws = workspace(spm_workspace_factory, settings)
    result = run(ws)
    assert result.mode == "full" and result.total("rejected") == 0
    assert counts(ws) == {"regions": 1, "teams": 1, "payees": 3, "accounts": 2, "opportunities": 7,
                          "opportunity_stage_history": 7 + 4 * 2}
    deal_pages = [p for m, p, _ in hubspot.requests if p.startswith("/crm/v3/objects/deals?")]
    assert len(deal_pages) == 3 and "after=3" in deal_pages[1] and "after=6" in deal_pages[2]
    opps = ws.table("opportunities").set_index("opportunity_id")
    assert opps.loc["904", "amount"] == Decimal("1234567890123.45") and opps.loc["906", "amount"] == Decimal("0.01")
    assert opps.loc["901", "stage"] == "Closed Won" and opps.loc["901", "is_won"] and opps.loc["901", "is_closed"]
    assert opps.loc["905", "stage"] == "Appointment Scheduled" and not opps.loc["905", "is_closed"]
    assert opps.loc["901", "account_id"] == "501" and opps.loc["902", "account_id"] == "502"
    assert opps.loc["902", "deal_type"] == "expansion" and opps.loc["901", "close_date"] == date(2024, 2, 1)
    payees = ws.table("payees").set_index("payee_id")
    assert payees.loc["101", "name"] == "Ann Lee" and payees.loc["101", "team_id"] == "T1"
    assert payees.loc["103", "termination_date"] == date(2024, 2, 15)  # archived owner
    assert ws.table("teams").iloc[0][["team_id", "name", "region_id"]].tolist() == ["T1", "Enterprise East", "hubspot"]
    history = ws.table("opportunity_stage_history").query("opportunity_id == '901'").sort_values("entered_date")
    assert list(history["stage"]) == ["Appointment Scheduled", "Contract Sent", "Closed Won"]
    assert json.loads(sync_history(ws, "hubspot").iloc[0]["watermark"])["deals"] == modified(3, 7)


def test_incremental_sync_uses_search_and_reads_only_changes(spm_workspace_factory, settings, hubspot):
    ws = workspace(spm_workspace_factory, settings)
    run(ws)
    hubspot.objects["deals"][4]["properties"].update({"amount": "150.5", "hs_lastmodifieddate": modified(20)})
    hubspot.requests.clear()
    result = run(ws)
    opp = result.counts["opportunities"]
    assert (opp.inserted, opp.updated) == (0, 1) and opp.read == 2  # the change + the boundary record
    searches = [b for m, p, b in hubspot.requests if p == "/crm/v3/objects/deals/search"]
    assert searches[0]["filterGroups"][0]["filters"][0] == {
        "propertyName": "hs_lastmodifieddate", "operator": "GTE", "value": "1709449200000"}  # 2024-03-03T07:00Z
    assert ws.table("opportunities").set_index("opportunity_id").loc["905", "amount"] == Decimal("150.50")
    assert ws.table("opportunities").set_index("opportunity_id").loc["905", "account_id"] == "501"
    assert any(p == "/crm/v4/associations/deals/companies/batch/read" for _, p, _ in hubspot.requests)


def test_incremental_search_pages_by_after(spm_workspace_factory, settings, hubspot):
    ws = workspace(spm_workspace_factory, settings)
    run(ws)
    for d in hubspot.objects["deals"]:
        d["properties"].update({"hs_lastmodifieddate": modified(21), "dealname": d["properties"]["dealname"] + "!"})
    result = run(ws)
    assert result.counts["opportunities"].updated == 7
    afters = [b.get("after") for m, p, b in hubspot.requests if p == "/crm/v3/objects/deals/search"][-3:]
    assert afters == [None, "3", "6"]


def test_archived_deals_are_deleted(spm_workspace_factory, settings, hubspot):
    ws = workspace(spm_workspace_factory, settings)
    run(ws)
    gone = hubspot.objects["deals"][0]
    gone.update({"archived": True, "archivedAt": "2024-03-25T00:00:00.000Z"})
    result = run(ws)
    assert result.counts["opportunities"].deleted == 1
    assert "901" not in set(ws.table("opportunities")["opportunity_id"])
    assert "901" not in set(ws.table("opportunity_stage_history")["opportunity_id"])


def test_429_with_retry_after_is_retried(spm_workspace_factory, settings, hubspot):
    ws = workspace(spm_workspace_factory, settings)
    hubspot.fail(429, {"status": "error", "message": "You have reached your secondly limit.",
                       "errorType": "RATE_LIMIT", "correlationId": "x", "policyName": "SECONDLY"},
                 path="GET /crm/v3/objects/deals?", headers={"Retry-After": "1"})
    started = time.perf_counter()
    result = run(ws)
    assert time.perf_counter() - started >= 1.0  # waited as asked
    assert result.counts["opportunities"].inserted == 7 and hubspot.faults[0].remaining == 0


def test_rate_limit_that_never_ends_fails_cleanly(spm_workspace_factory, settings, hubspot):
    ws = workspace(spm_workspace_factory, settings)
    hubspot.fail(429, {"status": "error", "message": "daily limit", "category": "RATE_LIMITS"}, times=10,
                 path="/crm/v3/objects/companies")
    with pytest.raises(SourceError, match=r"companies read \(HTTP 429, RATE_LIMITS: daily limit\) after 3 tries"):
        run(ws)
    assert sum(counts(ws).values()) == 0


def test_bad_token_fails_clearly_and_writes_nothing(spm_workspace_factory, settings, monkeypatch):
    monkeypatch.setenv("SPM_HUBSPOT_ACCESS_TOKEN", "pat-wrong")
    ws = workspace(spm_workspace_factory, settings)
    with pytest.raises(SourceError, match="refused the credentials of source 'hubspot' \\(INVALID_AUTHENTICATION"):
        configured_source(ws, "hubspot").check()
    with pytest.raises(SourceError, match="SPM_HUBSPOT_ACCESS_TOKEN") as failure:
        run(ws)
    assert "pat-wrong" not in str(failure.value)
    assert sum(counts(ws).values()) == 0
    assert list(sync_history(ws, "hubspot")["status"]) == ["failed"]


def test_malformed_deal_is_quarantined(spm_workspace_factory, settings, hubspot):
    ws = workspace(spm_workspace_factory, settings)
    hubspot.objects["deals"][2]["properties"]["amount"] = "12,5 EUR"
    result = run(ws)
    assert result.counts["opportunities"].rejected == 1 and result.counts["opportunities"].inserted == 6
    rejected = list_rejects(ws, "hubspot")
    deal = rejected[rejected["table_name"] == "opportunities"].iloc[0]
    assert (deal["source_id"], deal["field"], deal["value"], deal["reason"]) == ("903", "amount", "12,5 EUR",
                                                                                 "is not a number")
    # its stage entries refer to a deal that is not there: quarantined too, with that reason
    history = rejected[rejected["table_name"] == "opportunity_stage_history"]
    assert set(history["source_id"]) == {"903:appointmentscheduled", "903:contractsent", "903:closedwon"}
    assert set(history["reason"]) == {"unknown opportunity: no row in opportunities has opportunity_id = 903"}
    hubspot.objects["deals"][2]["properties"].update({"amount": "12.5", "hs_lastmodifieddate": modified(22)})
    fixed = run(ws)
    assert fixed.counts["opportunities"].inserted == 1
    assert fixed.counts["opportunity_stage_history"].inserted == 3
    assert list_rejects(ws, "hubspot").empty


def test_connection_dropping_mid_sync(spm_workspace_factory, settings, hubspot):
    ws = workspace(spm_workspace_factory, settings)
    hubspot.drop(times=50, path="after=6")  # the last page of deals, every retry
    with pytest.raises(SourceError, match="deals read after 3 tries"):
        run(ws)
    assert sum(counts(ws).values()) == 0
    hubspot.faults.clear()
    result = run(ws)
    assert result.mode == "full" and counts(ws)["opportunities"] == 7
    before = ws.table("opportunities")
    hubspot.drop(times=1, path="POST /crm/v3/objects/deals/search")  # one drop: retried, even a POST
    again = run(ws)
    assert again.status == "succeeded"
    pd.testing.assert_frame_equal(before, ws.table("opportunities"))


def test_past_the_search_window_the_source_lists_and_keeps_the_changes(spm_workspace_factory, settings, hubspot,
                                                                       monkeypatch):
    import spm_hubspot.source

    ws = workspace(spm_workspace_factory, settings)
    run(ws)
    monkeypatch.setattr(spm_hubspot.source, "SEARCH_WINDOW", 1)
    for d in hubspot.objects["deals"][:2]:
        d["properties"].update({"hs_lastmodifieddate": modified(23), "amount": "1.00"})
    hubspot.requests.clear()
    result = run(ws)
    opp = result.counts["opportunities"]
    assert (opp.read, opp.updated, opp.unchanged) == (3, 2, 1)  # with the boundary record, unchanged
    assert any(p.startswith("/crm/v3/objects/deals?") for _, p, _ in hubspot.requests)  # listed instead


def test_only_the_configured_pipelines(spm_workspace_factory, settings):
    ws = workspace(spm_workspace_factory, {**settings, "pipelines": ["partners"]})
    result = run(ws)
    assert result.counts["opportunities"].inserted == 0 and ws.count("opportunities") == 0
    assert ws.count("accounts") == 2
