"""Adversarial data for the built-in sync sources: ``files`` (a folder of CSV/Excel/Parquet)
and ``sql`` (any SQLAlchemy database; SQLite here, whose columns hold any type).

A sync either succeeds, storing exactly the valid records (checked against the same Decimal
reference as the importers, :func:`tests.test_fuzz_importers.expected`) and quarantining the
invalid ones in ``sync_rejects``, or fails with an :class:`SPMError` and leaves every
canonical table as it was. It never ends in a raw Python exception.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st

import spm_kernel
from spm_kernel.errors import SPMError
from spm_kernel.sync import configured_source
from spm_kernel.workspace import Workspace
from tests.test_fuzz_importers import FUZZ, _date_texts, _decimal_texts, counted, expected, fingerprint

BOOKKEEPING = {"sync_log", "sync_rejects", "audit_log", "import_log"}  # a sync records its attempts


def canonical(con: Any) -> dict[str, tuple[int, int]]:
    return {t: v for t, v in fingerprint(con).items() if t not in BOOKKEEPING}


@pytest.fixture(scope="module")
def ws(tmp_path_factory: pytest.TempPathFactory) -> Any:
    workspace = spm_kernel.open(tmp_path_factory.mktemp("fuzz-sources") / "ws")
    yield workspace
    workspace.close()


def sync(ws: Workspace, name: str, entry: dict[str, Any]) -> Any:
    (ws.path / "sources.yaml").write_text(yaml.safe_dump({name: entry}), "utf-8")
    before = canonical(ws.con)
    try:
        return configured_source(ws, name).sync(ws, progress=False, full=True)
    except SPMError as exc:
        assert canonical(ws.con) == before, f"a failed sync changed the store: {exc}"
        return exc


SQL_VALUES = st.one_of(
    _decimal_texts(), st.floats(allow_nan=False, allow_infinity=True), st.integers(min_value=-2**63, max_value=2**63 - 1),
    st.binary(max_size=8), st.none())


@FUZZ
@given(rows=st.lists(st.fixed_dictionaries({
    "month": _date_texts() | st.sampled_from(["2026-01-01"]),
    "category": st.sampled_from(["sales", "marketing", "x"]),
    "amount": SQL_VALUES,
    "currency": st.sampled_from(["USD", "EUR", "usd", ""]),
}), max_size=6))
def test_sql_source_stores_valid_records_exactly_and_quarantines_the_rest(
        ws: Workspace, tmp_path_factory: pytest.TempPathFactory, rows: list[dict[str, Any]]) -> None:
    counted("sql source")
    db = tmp_path_factory.mktemp("sql") / "crm.sqlite"
    con = sqlite3.connect(db)
    con.execute("CREATE TABLE spend_src (rid TEXT, month ANY, category ANY, channel TEXT, amount ANY, currency ANY)")
    con.executemany("INSERT INTO spend_src VALUES (?, ?, ?, ?, ?, ?)",
                    [(f"r{i}", r["month"], r["category"], f"sql-{i}", r["amount"], r["currency"])
                     for i, r in enumerate(rows)])
    con.commit()
    con.close()
    name = f"crm{len(list(db.parent.parent.iterdir()))}"  # a new source each time: its own rejects
    outcome = sync(ws, name, {"type": "sql", "url": f"sqlite:///{db}",
                               "tables": {"spend": {"table": "spend_src", "id": "rid"}}})
    if isinstance(outcome, SPMError):
        counted(f"sql source: {type(outcome).__name__}")
        return
    texts = [{"month": r["month"], "category": r["category"], "channel": f"sql-{i}",
              "amount": "" if r["amount"] is None else str(r["amount"]), "currency": r["currency"]}
             for i, r in enumerate(rows)]
    bad, stored = expected(texts)
    table = ws.sql("SELECT month, category, channel, amount, currency FROM spend WHERE source = ?", [name])
    got = {(m, c, ch): (a, cur) for m, c, ch, a, cur in table.itertuples(index=False)}
    assert got == stored, f"stored {got}, expected {stored} from {rows}"
    rejected = set(ws.sql("SELECT source_id FROM sync_rejects WHERE source = ? AND resolved_at IS NULL",
                          [name])["source_id"])
    assert rejected == {f"r{i - 1}" for i in bad}, (rejected, bad, rows)
    counted(f"sql source: {len(stored)} stored, {len(bad)} quarantined")


@FUZZ
@given(data=st.binary(max_size=400), prefix=st.sampled_from([b"", b"\xff\xfe", b"month,month\n", b"PK\x03\x04"]),
       suffix=st.sampled_from([".csv", ".xlsx", ".parquet"]))
def test_files_source_refuses_unreadable_files_and_changes_nothing(
        ws: Workspace, tmp_path_factory: pytest.TempPathFactory, data: bytes, prefix: bytes, suffix: str) -> None:
    counted("files source")
    folder = tmp_path_factory.mktemp("files")
    (folder / f"spend{suffix}").write_bytes(prefix + data)
    (folder / "mapping.yaml").write_text(f'spend:\n  files: "spend*{suffix}"\n', "utf-8")
    outcome = sync(ws, "exports", {"type": "files", "folder": str(folder), "mapping": str(folder / "mapping.yaml")})
    assert isinstance(outcome, SPMError) or sum(c.inserted for c in outcome.counts.values()) == 0, outcome
    counted(f"files source: {type(outcome).__name__}")


@pytest.mark.parametrize("mapping", [
    "spend: [1, 2]", "spend:\n  files: 1\n", "nope:\n  files: '*.csv'\n", ": :", "\x00",
    "spend:\n  files: '*.csv'\n  fields: {amount: '=1+1'}\n", "a: &a [*a]",
])
def test_files_source_refuses_bad_mapping_files(ws: Workspace, tmp_path: Path, mapping: str) -> None:
    counted("files source: mappings")
    (tmp_path / "spend.csv").write_text("month,category,channel,amount,currency\n2026-01-01,sales,x,1,USD\n")
    (tmp_path / "mapping.yaml").write_text(mapping, "utf-8")
    outcome = sync(ws, "exports", {"type": "files", "folder": str(tmp_path), "mapping": str(tmp_path / "mapping.yaml")})
    assert isinstance(outcome, SPMError), outcome
