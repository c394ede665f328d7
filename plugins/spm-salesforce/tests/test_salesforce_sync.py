"""The salesforce source through the real simple_salesforce client against a local HTTPS
Salesforce (spm_salesforce.testing.FakeSalesforce), page size 3."""

from __future__ import annotations

import json
from datetime import date
from decimal import Decimal
from typing import Any

import pandas as pd
import pytest
import yaml
from sf_org import TOKEN, stamp
from typer.testing import CliRunner

from spm_kernel import hookimpl
from spm_kernel.cli import build_app
from spm_kernel.sync import SourceError, configured_source, list_rejects, sync_history
from spm_salesforce import stage_durations
from spm_salesforce.source import stage_entries
from spm_salesforce.testing import FakeSalesforce

pytestmark = pytest.mark.usefixtures("credentials")


def workspace(factory: Any, settings: dict[str, Any]) -> Any:
    ws = factory()
    (ws.path / "sources.yaml").write_text(yaml.safe_dump({"salesforce": settings}), "utf-8")
    return ws


def run(ws: Any, **kw: Any) -> Any:
    return configured_source(ws, "salesforce").sync(ws, progress=False, **kw)


def counts(ws: Any) -> dict[str, int]:
    return {t: ws.count(t) for t in ("payees", "hierarchy", "accounts", "opportunities",
                                     "opportunity_splits", "opportunity_stage_history")}


def test_first_full_sync_reads_every_page_and_writes_exact_rows(spm_workspace_factory, settings, salesforce):
    ws = workspace(spm_workspace_factory, settings)
    result = run(ws)
    assert result.mode == "full" and result.status == "succeeded"
    assert counts(ws) == {"payees": 3, "hierarchy": 3, "accounts": 2, "opportunities": 7,
                          "opportunity_splits": 3, "opportunity_stage_history": 4}
    # 7 deals in pages of 3: one query and two queryMore calls
    assert [q for kind, q in salesforce.queries if q.endswith("FROM Opportunity")] == [
        "SELECT Id, SystemModstamp, IsDeleted, AccountId, Amount, CloseDate, CreatedDate, IsClosed, IsWon, Name, "
        "OwnerId, Product_Family__c, StageName, Type, Contract_Years__c FROM Opportunity"]
    more = sorted(p.rsplit("-", 1)[1] for p in salesforce.requests if "?q=" not in p)
    assert more == ["3", "3", "6"]  # queryMore: deals (7) twice, stage history (5) once
    opps = ws.table("opportunities").set_index("opportunity_id")
    assert opps.loc["0064", "amount"] == Decimal("1234567890123.45")
    assert opps.loc["0066", "amount"] == Decimal("0.01")
    assert opps.loc["0061", "amount"] == Decimal("333.37")  # 1000.10 / 3 years, half-up
    assert opps.loc["0062", "deal_type"] == "expansion" and opps.loc["0063", "deal_type"] == "new"
    assert opps.loc["0061", "product"] == "Platform"
    assert opps.loc["0061", "created_date"] == date(2024, 1, 1)
    assert set(opps["source"]) == {"salesforce"} and opps.loc["0061", "source_id"] == "0061"
    payees = ws.table("payees").set_index("payee_id")
    assert payees.loc["005A", "role"] == "manager" and payees.loc["005B", "role"] == "rep"
    assert payees.loc["005B", "hire_date"] == date(2021, 2, 1) and "005I" not in payees.index
    hierarchy = ws.table("hierarchy").set_index("payee_id")
    assert hierarchy.loc["005B", "manager_id"] == "005A" and pd.isna(hierarchy.loc["005B", "valid_to"])
    assert hierarchy.loc["005B", "valid_from"] == date(2021, 2, 1)
    splits = ws.table("opportunity_splits")
    revenue = splits[splits["split_type"] == "revenue"]
    assert sorted(revenue["percent"]) == [Decimal("40"), Decimal("60")]
    log = sync_history(ws, "salesforce").iloc[0]
    assert log["status"] == "succeeded" and log["inserted"] == 22 and log["rejected"] == 0
    marks = json.loads(log["watermark"])
    assert marks["Opportunity"] == stamp(3, 7) and marks["User"] == stamp(1)


def test_stage_history_keeps_entries_and_durations(spm_workspace_factory, settings):
    ws = workspace(spm_workspace_factory, settings)
    run(ws)
    durations = stage_durations(ws)
    deal = durations[durations["opportunity_id"] == "0061"]
    assert list(deal["stage"]) == ["Prospecting", "Negotiation", "Closed Won"]
    assert list(deal["days"].iloc[:2]) == [9, 10]  # Jan 1 -> Jan 10 -> Jan 20
    assert pd.isna(deal["days"].iloc[2])


def test_stage_entries_ignore_rows_that_keep_the_stage():
    rows = pd.DataFrame({"Id": ["1", "2", "3", "4"], "OpportunityId": ["o", "o", "o", "o"],
                         "StageName": ["A", "A", "B", "A"],
                         "CreatedDate": ["2024-01-01T01:00", "2024-01-02T01:00", "2024-01-03T01:00", "2024-01-04T01:00"]})
    assert list(stage_entries(rows)["Id"]) == ["1", "3", "4"]


def test_second_sync_changes_nothing(spm_workspace_factory, settings):
    ws = workspace(spm_workspace_factory, settings)
    run(ws)
    before = ws.table("opportunities")
    again = run(ws)
    assert again.mode == "incremental"
    assert again.total("inserted") == again.total("updated") == again.total("deleted") == 0
    pd.testing.assert_frame_equal(before, ws.table("opportunities"))


def test_incremental_sync_reads_only_changes(spm_workspace_factory, settings, salesforce):
    ws = workspace(spm_workspace_factory, settings)
    run(ws)
    salesforce.upsert("Opportunity", {"Id": "0065", "Amount": 150.5, "SystemModstamp": stamp(20)})
    salesforce.upsert("Opportunity", {**salesforce.records["Opportunity"][6], "Id": "0068", "Name": "Deal 8",
                                      "Amount": 8.0, "SystemModstamp": stamp(21)})
    salesforce.requests.clear()
    result = run(ws)
    opp = result.counts["opportunities"]
    # the two changes, plus the boundary record at the old watermark (read again, unchanged)
    assert (opp.read, opp.inserted, opp.updated, opp.unchanged) == (3, 1, 1, 1)
    assert ws.table("opportunities").set_index("opportunity_id").loc["0065", "amount"] == Decimal("150.50")
    queries = [q for kind, q in salesforce.queries if kind == "queryAll" and "FROM Opportunity " in q]
    assert queries[0].endswith("FROM Opportunity WHERE SystemModstamp >= 2024-03-03T07:00:00.000000Z")
    assert json.loads(sync_history(ws, "salesforce").iloc[0]["watermark"])["Opportunity"] == stamp(21)


def test_deletions_remove_the_deal_with_its_splits_and_history(spm_workspace_factory, settings, salesforce):
    ws = workspace(spm_workspace_factory, settings)
    run(ws)
    salesforce.upsert("Opportunity", {"Id": "0061", "IsDeleted": True, "SystemModstamp": stamp(22)})
    for row in salesforce.records["OpportunitySplit"] + salesforce.records["OpportunityHistory"]:
        if row["OpportunityId"] == "0061":
            row.update({"IsDeleted": True, "SystemModstamp": stamp(22)})
    result = run(ws)
    assert result.counts["opportunities"].deleted == 1
    assert "0061" not in set(ws.table("opportunities")["opportunity_id"])
    assert ws.count("opportunity_splits") == 0
    assert set(ws.table("opportunity_stage_history")["opportunity_id"]) == {"0062"}


def test_full_sync_removes_records_gone_from_the_org(spm_workspace_factory, settings, salesforce):
    ws = workspace(spm_workspace_factory, settings)
    run(ws)
    salesforce.records["Account"] = [a for a in salesforce.records["Account"] if a["Id"] != "001B"]
    result = run(ws, full=True)
    assert result.mode == "full" and result.counts["accounts"].deleted == 1
    assert list(ws.table("accounts")["account_id"]) == ["001A"]


def test_manager_change_closes_the_old_reporting_line(spm_workspace_factory, settings, salesforce):
    ws = workspace(spm_workspace_factory, settings)
    run(ws)
    salesforce.upsert("User", {"Id": "005C", "ManagerId": "005B", "SystemModstamp": stamp(25)})
    run(ws)
    cy = ws.table("hierarchy").query("payee_id == '005C'").sort_values("valid_from")
    today = date.today()
    assert list(cy["manager_id"]) == ["005A", "005B"]
    assert list(cy["valid_from"]) == [date(2021, 3, 1), today]
    assert cy["valid_to"].iloc[0] == today and pd.isna(cy["valid_to"].iloc[1])


def test_rate_limits_and_outages_are_retried(spm_workspace_factory, settings, salesforce):
    ws = workspace(spm_workspace_factory, settings)
    salesforce.fail(403, [{"message": "TotalRequests Limit exceeded.", "errorCode": "REQUEST_LIMIT_EXCEEDED"}],
                    path="FROM User")
    salesforce.fail(429, [{"message": "Too many requests", "errorCode": "REQUEST_LIMIT_EXCEEDED"}],
                    path="FROM Account")
    salesforce.fail(503, [{"message": "Server unavailable", "errorCode": "SERVER_UNAVAILABLE"}], times=2,
                    path="-3")  # the second page of whichever query comes first
    salesforce.drop(times=1, path="FROM Opportunity")
    result = run(ws)
    assert result.status == "succeeded" and counts(ws)["opportunities"] == 7
    assert all(f.remaining == 0 for f in salesforce.faults)


def test_bad_credentials_fail_clearly_and_write_nothing(spm_workspace_factory, settings, monkeypatch):
    monkeypatch.setenv("SPM_SALESFORCE_ACCESS_TOKEN", "expired-token")
    ws = workspace(spm_workspace_factory, settings)
    source = configured_source(ws, "salesforce")
    with pytest.raises(SourceError, match="refused the credentials of source 'salesforce'.*INVALID_SESSION_ID"
                                          ".*SPM_SALESFORCE_ACCESS_TOKEN") as failure:
        source.check()
    assert "expired-token" not in str(failure.value)
    with pytest.raises(SourceError, match="INVALID_SESSION_ID"):
        source.sync(ws, progress=False)
    assert sum(counts(ws).values()) == 0
    log = sync_history(ws, "salesforce")
    assert list(log["status"]) == ["failed"] and "INVALID_SESSION_ID" in log["error"].iloc[0]
    assert "expired-token" not in log["error"].iloc[0]


def test_missing_credentials_say_where_to_put_them(spm_workspace_factory, settings, monkeypatch):
    monkeypatch.delenv("SPM_SALESFORCE_ACCESS_TOKEN")
    ws = workspace(spm_workspace_factory, settings)
    with pytest.raises(SourceError, match="no Salesforce credentials.*SPM_SALESFORCE_ACCESS_TOKEN"):
        configured_source(ws, "salesforce").check()


def test_malformed_record_is_quarantined_and_the_rest_imported(spm_workspace_factory, settings, salesforce):
    ws = workspace(spm_workspace_factory, settings)
    salesforce.upsert("Opportunity", {"Id": "0063", "CloseDate": "2023-12-31"})  # before it was created
    salesforce.upsert("Opportunity", {"Id": "0065", "OwnerId": "005Z"})          # an unknown owner
    result = run(ws)
    assert result.counts["opportunities"].rejected == 2 and result.counts["opportunities"].inserted == 5
    rejects = list_rejects(ws, "salesforce").set_index("source_id")
    assert rejects.loc["0063", "reason"] == "close_date is before created_date"
    assert rejects.loc["0065", "reason"] == "unknown payee: no row in payees has payee_id = 005Z"
    assert json.loads(rejects.loc["0065", "record"])["owner_id"] == "005Z"
    path = ws.path
    ws.close()
    shown = CliRunner().invoke(build_app(), ["sync", "--show-rejects", "-w", str(path)])
    assert "close_date is before created_date" in shown.output and "2 record(s) quarantined" in shown.output
    ws = spm_workspace_factory(path=path)
    # fixed in the CRM: the next (incremental) sync imports it and resolves the quarantine
    salesforce.upsert("Opportunity", {"Id": "0063", "CloseDate": "2024-02-03", "SystemModstamp": stamp(26)})
    fixed = run(ws)
    assert fixed.counts["opportunities"].inserted == 1
    assert list(list_rejects(ws, "salesforce")["source_id"]) == ["0065"]


def test_connection_dropping_mid_sync_writes_nothing_then_next_sync_completes(
        spm_workspace_factory, settings, salesforce):
    ws = workspace(spm_workspace_factory, settings)
    salesforce.drop(times=100, path="-6")  # the third page of the opportunities, every retry
    with pytest.raises(SourceError, match="failed during the queryMore of Opportunity after 4 tries"):
        run(ws)
    assert sum(counts(ws).values()) == 0 and ws.count("sync_rejects") == 0
    salesforce.faults.clear()
    result = run(ws)
    assert result.mode == "full" and counts(ws)["opportunities"] == 7
    assert list(sync_history(ws, "salesforce")["status"]) == ["succeeded", "failed"]


def test_credentials_in_sources_yaml_are_refused(spm_workspace_factory, settings):
    ws = workspace(spm_workspace_factory, {**settings, "access_token": TOKEN})
    with pytest.raises(Exception, match="must not hold credentials .*access_token.*SPM_SALESFORCE_ACCESS_TOKEN"):
        configured_source(ws, "salesforce")


def test_credentials_file_outside_the_workspace(spm_workspace_factory, settings, monkeypatch, tmp_path):
    monkeypatch.delenv("SPM_SALESFORCE_ACCESS_TOKEN")
    creds = tmp_path / "creds.yaml"
    creds.write_text(yaml.safe_dump({"salesforce": {"access_token": TOKEN}}), "utf-8")
    monkeypatch.setenv("SPM_CREDENTIALS", str(creds))
    ws = workspace(spm_workspace_factory, settings)
    assert "connected to Salesforce" in configured_source(ws, "salesforce").check()
    inside = ws.path / "creds.yaml"
    inside.write_text(creds.read_text())
    monkeypatch.setenv("SPM_CREDENTIALS", str(inside))
    with pytest.raises(Exception, match="inside the workspace"):
        configured_source(ws, "salesforce")


def test_spm_sync_command(spm_workspace_factory, settings):
    ws = workspace(spm_workspace_factory, settings)
    path = ws.path
    ws.close()
    runner = CliRunner()
    checked = runner.invoke(build_app(), ["sync", "salesforce", "--check", "-w", str(path)])
    assert checked.exit_code == 0, checked.output
    assert "connected to Salesforce" in checked.output
    done = runner.invoke(build_app(), ["sync", "salesforce", "--no-progress", "-w", str(path)])
    assert done.exit_code == 0, done.output
    assert "opportunities: 7 read, 7 inserted" in done.output
    listed = runner.invoke(build_app(), ["sync", "-w", str(path)])
    assert "salesforce (salesforce): last sync succeeded" in listed.output


def test_soap_login_with_username_password_and_token(spm_workspace_factory, settings, salesforce, monkeypatch):
    """Username/password login goes to https://<domain>.salesforce.com (SOAP); a session that
    routes that host to the local server shows the client logs in and then syncs."""
    import requests
    from requests.adapters import HTTPAdapter

    from spm_salesforce import SalesforceSource

    login_response = f"""<?xml version="1.0" encoding="UTF-8"?>
<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/"><soapenv:Body><loginResponse>
<result><serverUrl>{salesforce.instance_url}/services/Soap/u/59.0/00D</serverUrl><sessionId>{TOKEN}</sessionId>
<userInfo><organizationId>00D</organizationId></userInfo></result></loginResponse></soapenv:Body></soapenv:Envelope>"""
    seen: list[str] = []

    class Route(HTTPAdapter):
        def send(self, request, **kw):  # type: ignore[no-untyped-def]
            if request.url.startswith("https://login.salesforce.com/"):
                seen.append(request.body.decode() if isinstance(request.body, bytes) else request.body)
                response = requests.Response()
                response.status_code, response._content = 200, login_response.encode()
                response.url, response.request = request.url, request
                return response
            return super().send(request, **kw)

    def session() -> requests.Session:
        s = requests.Session()
        s.trust_env = False
        s.verify = settings["ca_bundle"]
        s.mount("https://", Route())
        return s

    monkeypatch.delenv("SPM_SALESFORCE_ACCESS_TOKEN")
    monkeypatch.setenv("SPM_SFSOAP_PASSWORD", "hunter2")
    monkeypatch.setenv("SPM_SFSOAP_SECURITY_TOKEN", "tok3n")
    ws = spm_workspace_factory(plugins=[_Plugin(SalesforceSource(session_factory=session))])
    config = {k: v for k, v in settings.items() if k not in ("instance_url",)}
    (ws.path / "sources.yaml").write_text(yaml.safe_dump({"sfsoap": {**config, "username": "ann@example.com"}}))
    result = configured_source(ws, "sfsoap").sync(ws, progress=False)
    assert result.counts["opportunities"].inserted == 7
    assert "<n1:username>ann@example.com</n1:username>" in seen[0] and "hunter2tok3n" in seen[0]
    assert set(ws.table("opportunities")["source"]) == {"sfsoap"}


class _Plugin:
    """Registers one source instance built in code (here: with a routing session)."""

    def __init__(self, source: Any) -> None:
        self.source = source

    @hookimpl
    def spm_register_data_sources(self) -> list[Any]:
        return [self.source]


def test_fake_server_speaks_plain_http_too():
    with FakeSalesforce({"User": []}) as fake:
        assert fake.instance_url.startswith("http://127.0.0.1:")


def test_multi_currency_org_reads_currencies_and_dated_fx(spm_workspace_factory, settings, salesforce):
    salesforce.upsert("Opportunity", {"Id": "0062", "CurrencyIsoCode": "EUR"})
    salesforce.records["DatedConversionRate"] = [
        {"Id": "04w1", "IsoCode": "USD", "ConversionRate": 1.0, "StartDate": "2024-01-01", "SystemModstamp": stamp(6)},
        {"Id": "04w2", "IsoCode": "EUR", "ConversionRate": 0.912345, "StartDate": "2024-01-01", "SystemModstamp": stamp(6)},
        {"Id": "04w3", "IsoCode": "GBP", "ConversionRate": 0.79, "StartDate": "2024-02-01", "SystemModstamp": stamp(6)},
    ]
    ws = workspace(spm_workspace_factory, {**settings, "multi_currency": True})
    result = run(ws)
    assert result.counts["fx_rates"].inserted == 2  # the corporate currency's own rate is not a rate
    fx = ws.table("fx_rates")
    assert fx[["rate_date", "from_currency", "to_currency", "rate"]].astype(str).values.tolist() == [
        ["2024-01-01", "USD", "EUR", "0.91234500"], ["2024-02-01", "USD", "GBP", "0.79000000"]]
    currencies = ws.table("opportunities").set_index("opportunity_id")["currency"]
    assert currencies["0062"] == "EUR" and currencies["0061"] == "USD"  # no CurrencyIsoCode: the default
    assert any("CurrencyIsoCode" in q and "FROM Opportunity" in q for _, q in salesforce.queries)
