"""The sync engine and the data-source contract, with a source written in the test (a real
plugin registered through ``spm_register_data_sources``): one transaction per sync,
idempotent upserts by (source, source id), quarantine, deletions, watermarks, sync_log."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import date, datetime
from decimal import Decimal
from typing import Any

import pandas as pd
import pytest
import yaml
from pydantic import BaseModel, ConfigDict, SecretStr
from typer.testing import CliRunner

from spm_kernel import hookimpl
from spm_kernel.cli import build_app
from spm_kernel.errors import SPMError
from spm_kernel.extensions import DataSource
from spm_kernel.sync import (
    Batch, RetryPolicy, SourceError, SyncContext, configured_source, last_watermark, list_rejects,
    sync_history, with_retries,
)

PAYEES = pd.DataFrame({"payee_id": ["P1", "P2", "P3"], "name": ["Ann", "Bob", "Cy"],
                       "role": ["manager", "rep", "rep"], "currency": "USD",
                       "hire_date": ["2020-01-01", "2021-02-01", "2021-03-01"], "source_id": ["u1", "u2", "u3"]})


def deals(*rows: tuple[str, str, str]) -> pd.DataFrame:
    return pd.DataFrame([{"opportunity_id": i, "owner_id": owner, "amount": amount, "currency": "USD",
                          "stage": "Won", "created_date": "2024-01-05", "is_closed": "true", "is_won": "true",
                          "source_id": "s-" + i} for i, owner, amount in rows])


class Config(BaseModel):
    model_config = ConfigDict(extra="forbid")

    label: str = "memory"
    token: SecretStr | None = None


class MemorySource(DataSource):
    """Batches scripted by the test; ``fail_after`` raises after that many batches."""

    name = "memory"
    tables = ("payees", "hierarchy", "opportunities", "opportunity_splits")
    config_model = Config

    def __init__(self) -> None:
        self.script: list[Batch] = []
        self.fail_after: int | None = None
        self.seen_since: list[Any] = []

    def check(self) -> str:
        if self.settings().token is None:
            raise SourceError("no token")
        return "ok"

    def fetch(self, context: SyncContext) -> Iterator[Batch]:
        self.seen_since.append((context.full, context.since("deals")))
        for i, batch in enumerate(self.script):
            if self.fail_after is not None and i == self.fail_after:
                raise SourceError("connection lost")
            yield batch


class Plugin:
    def __init__(self) -> None:
        self.source = MemorySource()
        self.loaded: list[tuple[str, int]] = []

    @hookimpl
    def spm_register_data_sources(self) -> list[DataSource]:
        return [self.source]

    @hookimpl
    def spm_after_load(self, ws: Any, table: str, result: Any) -> None:
        self.loaded.append((table, result.inserted))


@pytest.fixture
def setup(spm_workspace_factory: Any) -> tuple[Any, Plugin]:
    plugin = Plugin()
    ws = spm_workspace_factory(plugins=[plugin])
    (ws.path / "sources.yaml").write_text(yaml.safe_dump({"mem": {"type": "memory"}}), "utf-8")
    return ws, plugin


def sync(ws: Any, **kw: Any) -> Any:
    return configured_source(ws, "mem").sync(ws, progress=False, **kw)


def test_registered_through_the_hook_and_configured_by_name(setup):
    ws, plugin = setup
    assert ws.registry.data_sources.provider("memory") == "Plugin"
    source = configured_source(ws, "mem")
    assert source is not plugin.source and source.instance == "mem" and source.settings().label == "memory"
    assert {"files", "sql"} <= set(ws.registry.data_sources.names())


def test_full_then_idempotent_upserts_with_lineage(setup):
    ws, plugin = setup
    plugin.source.script = [Batch("payees", PAYEES, stream="users", watermark="2024-03-01T00:00:00Z"),
                            Batch("opportunities", deals(("O1", "P2", "10.10"), ("O2", "P3", "-5.00")),
                                  stream="deals", watermark="2024-03-02T00:00:00Z")]
    first = sync(ws)
    assert first.mode == "full" and (first.total("inserted"), first.total("read")) == (5, 5)
    table = ws.table("opportunities")
    assert list(table["amount"]) == [Decimal("10.10"), Decimal("-5.00")]
    assert set(table["source"]) == {"mem"} and list(table["source_id"]) == ["s-O1", "s-O2"]
    again = sync(ws)
    assert again.mode == "incremental" and again.total("unchanged") == 5 and again.total("inserted") == 0
    assert plugin.source.seen_since == [(True, None), (False, datetime(2024, 3, 2))]
    assert ("opportunities", 2) in plugin.loaded  # spm_after_load after the commit
    assert last_watermark(ws, "mem") == {"users": "2024-03-01T00:00:00Z", "deals": "2024-03-02T00:00:00Z"}


def test_explicit_since_and_full_override_the_watermark(setup):
    ws, plugin = setup
    plugin.source.script = [Batch("payees", PAYEES)]
    sync(ws)
    sync(ws, since=datetime(2023, 1, 1))
    sync(ws, full=True)
    assert plugin.source.seen_since[1:] == [(False, datetime(2023, 1, 1)), (True, None)]
    assert list(sync_history(ws, "mem")["mode"]) == ["full", "incremental", "full"]


def test_a_source_failing_mid_read_writes_nothing(setup):
    ws, plugin = setup
    plugin.source.script = [Batch("payees", PAYEES), Batch("opportunities", deals(("O1", "P2", "1")))]
    plugin.source.fail_after = 1
    with pytest.raises(SourceError, match="connection lost"):
        sync(ws)
    assert ws.count("payees") == 0
    log = sync_history(ws, "mem").iloc[0]
    assert log["status"] == "failed" and log["error"] == "SourceError: connection lost"
    plugin.source.fail_after = None
    assert sync(ws).mode == "full"  # the failed sync left no watermark


def test_an_error_while_writing_rolls_back_every_table(setup):
    ws, plugin = setup
    bad = deals(("O1", "P2", "1")).drop(columns=["source_id"])
    plugin.source.script = [Batch("payees", PAYEES), Batch("opportunities", bad)]
    with pytest.raises(SourceError, match="no 'source_id' column"):
        sync(ws)
    assert ws.count("payees") == 0
    plugin.source.script = [Batch("payees", PAYEES), Batch("opportunities", deals(("O1", "P2", "1")).assign(colour="red"))]
    with pytest.raises(SourceError, match="(?s)does not fit table 'opportunities'.*colour"):
        sync(ws)
    assert ws.count("payees") == 0 and ws.count("sync_rejects") == 0


def test_engine_tables_cannot_be_synced(setup):
    ws, plugin = setup
    plugin.source.script = [Batch("payout_lines", pd.DataFrame({"line_id": ["x"], "source_id": ["x"]}))]
    with pytest.raises(SourceError, match="written by the engine"):
        sync(ws)


def test_bad_records_are_quarantined_and_retried_when_their_reference_arrives(setup):
    ws, plugin = setup
    plugin.source.script = [Batch("payees", PAYEES.iloc[:2]),
                            Batch("opportunities", deals(("O1", "P2", "1"), ("O2", "P3", "2"), ("O3", "P2", "x")))]
    result = sync(ws)
    assert result.counts["opportunities"].rejected == 2 and ws.count("opportunities") == 1
    rejects = list_rejects(ws).set_index("source_id")
    assert rejects.loc["s-O2", "reason"] == "unknown payee: no row in payees has payee_id = P3"
    assert (rejects.loc["s-O3", "field"], rejects.loc["s-O3", "value"]) == ("amount", "x")
    # the next sync brings only the missing payee: the quarantined deal O2 gets in, O3 stays out
    plugin.source.script = [Batch("payees", PAYEES.iloc[2:])]
    second = sync(ws)
    assert second.counts["opportunities"].inserted == 1
    assert sorted(ws.table("opportunities")["opportunity_id"]) == ["O1", "O2"]
    assert list(list_rejects(ws)["source_id"]) == ["s-O3"]
    history = list_rejects(ws, include_resolved=True)
    assert history.set_index("source_id").loc["s-O2", "resolved_at"] is not None


def test_cascading_rejects_in_one_sync(setup):
    ws, plugin = setup
    bad_payee = PAYEES.assign(role=["manager", "wizard", "rep"])
    splits = pd.DataFrame({"opportunity_id": ["O1", "O2"], "payee_id": ["P2", "P3"], "split_type": "revenue",
                           "percent": ["100", "100"], "source_id": ["sp1", "sp2"]})
    plugin.source.script = [Batch("payees", bad_payee),
                            Batch("opportunities", deals(("O1", "P2", "1"), ("O2", "P3", "2"))),
                            Batch("opportunity_splits", splits)]
    result = sync(ws)
    assert {t: c.rejected for t, c in result.counts.items()} == {"payees": 1, "opportunities": 1,
                                                                 "opportunity_splits": 1}
    assert list(ws.table("opportunity_splits")["opportunity_id"]) == ["O2"]


def test_a_rule_on_the_merged_table_restarts_the_transaction(setup):
    ws, plugin = setup
    splits = pd.DataFrame({"opportunity_id": ["O1", "O1", "O2"], "payee_id": ["P2", "P3", "P3"],
                           "split_type": "revenue", "percent": ["60", "30", "100"], "source_id": ["a", "b", "c"]})
    plugin.source.script = [Batch("payees", PAYEES),
                            Batch("opportunities", deals(("O1", "P2", "1"), ("O2", "P3", "2"))),
                            Batch("opportunity_splits", splits)]
    result = sync(ws)
    assert result.counts["opportunity_splits"].rejected == 2 and result.counts["opportunity_splits"].inserted == 1
    assert set(list_rejects(ws)["reason"]) == {"revenue splits of deal O1 sum to 90.0000%, not 100%"}
    assert ws.count("opportunities") == 2 and ws.count("payees") == 3  # written once, by the pass that committed
    assert ws.count("import_log") == 3


def test_deletions_cascade_and_complete_batches_remove_what_is_gone(setup):
    ws, plugin = setup
    splits = pd.DataFrame({"opportunity_id": ["O1"], "payee_id": ["P2"], "split_type": "revenue",
                           "percent": ["100"], "source_id": ["a"]})
    plugin.source.script = [Batch("payees", PAYEES),
                            Batch("opportunities", deals(("O1", "P2", "1"), ("O2", "P3", "2"))),
                            Batch("opportunity_splits", splits)]
    sync(ws)
    plugin.source.script = [Batch("opportunities", deleted=["s-O1"])]
    result = sync(ws)
    assert result.counts["opportunities"].deleted == 1 and ws.count("opportunity_splits") == 0
    plugin.source.script = [Batch("payees", PAYEES.iloc[:2], complete=True)]
    assert sync(ws).counts["payees"].deleted == 1
    assert list(ws.table("payees")["payee_id"]) == ["P1", "P2"]


def test_keys_owned_by_another_source_are_not_overwritten(setup):
    ws, plugin = setup
    ws.load("payees", PAYEES.drop(columns=["source_id"]).iloc[:1], source="hr.csv")
    plugin.source.script = [Batch("payees", PAYEES)]
    result = sync(ws)
    assert result.counts["payees"].rejected == 1
    assert list_rejects(ws)["reason"].tolist() == ["its key is already owned by a record of source 'hr.csv'"]
    assert ws.table("payees").set_index("payee_id").loc["P1", "source"] == "hr.csv"


def test_effective_dated_hierarchy_from_current_managers(setup):
    ws, plugin = setup
    current = pd.DataFrame({"payee_id": ["P2", "P3"], "manager_id": ["P1", "P1"],
                            "valid_from": ["2021-02-01", "2021-03-01"], "source_id": ["u2", "u3"]})
    plugin.source.script = [Batch("payees", PAYEES), Batch("hierarchy", current, as_of=date(2024, 6, 1))]
    sync(ws)
    changed = current.assign(manager_id=["P1", "P2"])
    plugin.source.script = [Batch("hierarchy", changed, as_of=date(2024, 6, 10))]
    result = sync(ws)
    assert (result.counts["hierarchy"].inserted, result.counts["hierarchy"].updated) == (1, 1)
    h = ws.table("hierarchy").sort_values(["payee_id", "valid_from"])
    rows = h[["payee_id", "valid_from", "valid_to", "manager_id"]].astype(object)
    assert rows.where(rows.notna(), None).values.tolist() == [
        ["P2", date(2021, 2, 1), None, "P1"], ["P3", date(2021, 3, 1), date(2024, 6, 10), "P1"],
        ["P3", date(2024, 6, 10), None, "P2"]]
    plugin.source.script = [Batch("hierarchy", changed, as_of=date(2024, 6, 11))]
    assert sync(ws).counts["hierarchy"].inserted == 0 and ws.count("hierarchy") == 3


def test_sources_yaml_errors_are_clear(setup, monkeypatch, tmp_path):
    ws, _ = setup
    with pytest.raises(SPMError, match="no source 'nope' in sources.yaml; configured sources: mem"):
        configured_source(ws, "nope")
    (ws.path / "sources.yaml").write_text(yaml.safe_dump({"x": {"type": "ftp"}, "y": {"type": "memory", "labl": 1},
                                                          "z": {"type": "memory", "token": "abc"}}))
    with pytest.raises(SPMError, match="unknown data source 'ftp'; available: .*memory"):
        configured_source(ws, "x")
    with pytest.raises(SPMError, match="source 'y' is not configured correctly: labl: Extra inputs"):
        configured_source(ws, "y")
    with pytest.raises(SPMError, match="must not hold credentials \\(token\\).*SPM_Z_TOKEN"):
        configured_source(ws, "z")
    monkeypatch.setenv("SPM_CREDENTIALS", str(tmp_path / "none.yaml"))
    monkeypatch.setenv("SPM_Y_TOKEN", "t0k")
    (ws.path / "sources.yaml").write_text(yaml.safe_dump({"y": {"type": "memory"}}))
    source = configured_source(ws, "y")
    assert source.check() == "ok" and "t0k" not in repr(source.settings())


def test_spm_sync_lists_sources_and_runs_one(setup):
    ws, plugin = setup
    path = ws.path
    ws.close()
    runner = CliRunner()
    listed = runner.invoke(build_app(), ["sync", "-w", str(path)])
    assert listed.output.strip() == "mem (memory): never synced"
    shown = runner.invoke(build_app(), ["sync", "--show-rejects", "-w", str(path)])
    assert shown.output.strip() == "no quarantined records"
    missing = runner.invoke(build_app(), ["sync", "other", "-w", str(path)])
    assert missing.exit_code != 0


def test_retry_policy_backs_off_and_honours_the_server():
    policy = RetryPolicy(attempts=4, base_seconds=0.5, cap_seconds=3)
    assert [policy.delay(i) for i in range(4)] == [0.5, 1.0, 2.0, 3.0]
    assert policy.delay(0, asked=2.5) == 2.5 and policy.delay(0, asked=99) == 3
    waits: list[float] = []
    calls = iter([ConnectionError("a"), ConnectionError("b"), "done"])

    def call() -> str:
        item = next(calls)
        if isinstance(item, Exception):
            raise item
        return item

    assert with_retries(call, policy, lambda e: True, sleep=waits.append) == "done" and waits == [0.5, 1.0]
    with pytest.raises(ValueError):
        with_retries(lambda: (_ for _ in ()).throw(ValueError("no")), policy, lambda e: None, sleep=waits.append)
    assert waits == [0.5, 1.0]


def test_watermark_json_is_recorded(setup):
    ws, plugin = setup
    plugin.source.script = [Batch("payees", PAYEES, stream="users", watermark="2024-03-01T00:00:00.000+0000")]
    sync(ws)
    plugin.source.script = [Batch("payees", PAYEES, stream="users", watermark="2024-02-01T00:00:00.000+0000")]
    sync(ws)  # an older mark never moves the watermark back
    log = sync_history(ws, "mem")
    assert json.loads(log.iloc[0]["watermark"]) == {"users": "2024-03-01T00:00:00.000+0000"}
    assert json.loads(log.iloc[0]["counts"])["payees"]["unchanged"] == 3
