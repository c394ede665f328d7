"""The built-in ``sql`` source against SQLite (PostgreSQL: tests/test_postgres_source.py)."""

from __future__ import annotations

import sqlite3
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import yaml

from spm_kernel.errors import SPMError
from spm_kernel.sync import SourceError, configured_source, list_rejects

TABLES = {
    "payees": {"table": "reps", "id": "rep_id",
               "fields": {"payee_id": "rep_id", "name": "full_name", "hire_date": "hired"},
               "defaults": {"role": "rep", "currency": "USD"}},
    "opportunities": {"query": "SELECT d.*, 'USD' AS ccy FROM deals d WHERE d.pipeline = 'sales'", "id": "deal_id",
                      "updated_column": "updated_at", "deleted_column": "is_deleted",
                      "fields": {"opportunity_id": "deal_id", "owner_id": "rep_id", "amount": "amount",
                                 "currency": "ccy", "stage": "stage", "created_date": "created",
                                 "is_closed": "won", "is_won": "won"}},
}


def make_db(path: Path) -> None:
    con = sqlite3.connect(path)
    con.executescript("""
        CREATE TABLE reps (rep_id TEXT PRIMARY KEY, full_name TEXT, hired TEXT);
        INSERT INTO reps VALUES ('R1', 'Ann', '2020-01-06'), ('R2', 'Bob', '2021-02-01');
        CREATE TABLE deals (deal_id TEXT, rep_id TEXT, amount TEXT, stage TEXT, created TEXT, won INTEGER,
                            pipeline TEXT, updated_at TEXT, is_deleted INTEGER);
        INSERT INTO deals VALUES
          ('D1', 'R1', '1000.10', 'Won', '2024-01-02', 1, 'sales', '2024-03-01 10:00:00', 0),
          ('D2', 'R2', '99999999999.99', 'Won', '2024-01-03', 1, 'sales', '2024-03-01 11:00:00', 0),
          ('D3', 'R9', '5', 'Won', '2024-01-03', 1, 'sales', '2024-03-01 12:00:00', 0),
          ('D4', 'R1', '7', 'Won', '2024-01-03', 1, 'partner', '2024-03-01 12:00:00', 0);
    """)
    con.commit()
    con.close()


@pytest.fixture
def db(tmp_path: Path) -> Path:
    path = tmp_path / "crm.sqlite"
    make_db(path)
    return path


@pytest.fixture
def ws(spm_workspace: Any, db: Path) -> Any:
    (spm_workspace.path / "sources.yaml").write_text(yaml.safe_dump(
        {"crm": {"type": "sql", "url": f"sqlite:///{db}", "tables": TABLES}}), "utf-8")
    return spm_workspace


def run(ws: Any, **kw: Any) -> Any:
    return configured_source(ws, "crm").sync(ws, progress=False, **kw)


def test_sqlite_tables_and_queries(ws, db):
    assert configured_source(ws, "crm").check() == f"connected to sqlite:///{db}"
    result = run(ws)
    assert result.counts["payees"].inserted == 2 and result.counts["opportunities"].inserted == 2
    amounts = ws.table("opportunities").set_index("opportunity_id")["amount"]
    assert amounts.to_dict() == {"D1": Decimal("1000.10"), "D2": Decimal("99999999999.99")}
    assert list_rejects(ws)["reason"].tolist() == ["unknown payee: no row in payees has payee_id = R9"]


def test_incremental_by_updated_column_and_soft_deletes(ws, db):
    run(ws)
    con = sqlite3.connect(db)
    con.executescript("""
        UPDATE deals SET amount = '1500.00', updated_at = '2024-03-05 09:00:00' WHERE deal_id = 'D1';
        UPDATE deals SET is_deleted = 1, updated_at = '2024-03-05 09:00:00' WHERE deal_id = 'D2';
        INSERT INTO reps VALUES ('R9', 'Cy', '2022-01-01');
    """)
    con.commit()
    con.close()
    result = run(ws)
    opp = result.counts["opportunities"]
    assert (opp.updated, opp.deleted, opp.inserted) == (1, 1, 1)  # D1 changed, D2 deleted, D3 now has its rep
    amounts = ws.table("opportunities").set_index("opportunity_id")["amount"]
    assert amounts.to_dict() == {"D1": Decimal("1500.00"), "D3": Decimal("5.00")}
    assert list_rejects(ws).empty


def test_full_table_reads_delete_missing_rows(ws, db):
    run(ws)
    con = sqlite3.connect(db)
    con.execute("DELETE FROM reps WHERE rep_id = 'R2'")
    con.commit()
    con.close()
    assert run(ws).counts["payees"].deleted == 1


def test_sql_errors_are_clear(ws, tmp_path):
    (ws.path / "sources.yaml").write_text(yaml.safe_dump({
        "pw": {"type": "sql", "url": "postgresql://spm:secret@127.0.0.1/db", "tables": TABLES},
        "bad": {"type": "sql", "url": f"sqlite:///{tmp_path / 'crm.sqlite'}",
                "tables": {"payees": {"table": "no_such_table", "id": "x"}}},
        "col": {"type": "sql", "url": f"sqlite:///{tmp_path / 'crm.sqlite'}",
                "tables": {"payees": {"table": "reps", "id": "employee"}}}}), "utf-8")
    with pytest.raises(SPMError, match="the URL holds a password"):
        configured_source(ws, "pw")
    with pytest.raises(SourceError, match="reading sqlite:///.* failed: no such table: no_such_table"):
        configured_source(ws, "bad").sync(ws, progress=False)
    with pytest.raises(SourceError, match="column 'employee' is not in the result"):
        configured_source(ws, "col").sync(ws, progress=False)
    assert ws.count("payees") == 0
