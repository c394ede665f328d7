"""The store: versioned migrations from the first schema on, specs that match the database,
exact DECIMAL money, and read-only SQL for analysts."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import duckdb
import pandas as pd
import pytest

import spm_kernel
from spm_kernel.errors import ReadOnlyQueryError, SPMError
from spm_kernel.store import TABLES, current_version, migrate, migrations
from spm_kernel.store.database import SchemaTooNewError
from spm_kernel.store.schema import MONEY
from spm_kernel.workspace import DATABASE_FILE

TABLES_BY_NAME = {spec.name: spec for spec in TABLES}

LATEST = migrations()[-1].version


def _columns(con: duckdb.DuckDBPyConnection, table: str) -> dict[str, str]:
    rows = con.execute(
        "SELECT column_name, data_type FROM information_schema.columns WHERE table_name = ? ORDER BY ordinal_position",
        [table]).fetchall()
    return dict(rows)


def test_a_new_workspace_is_at_the_latest_schema_and_matches_every_spec(tmp_path: Path) -> None:
    with spm_kernel.open(tmp_path / "ws") as ws:
        assert ws.schema_version == LATEST
        for spec in TABLES:
            assert _columns(ws.con, spec.name) == {c.name: c.type for c in spec.columns}, spec.name
            key = ws.con.execute(
                "SELECT constraint_column_names FROM duckdb_constraints() "
                "WHERE table_name = ? AND constraint_type = 'PRIMARY KEY'", [spec.name]).fetchall()
            if spec.key:
                assert key and tuple(key[0][0]) == spec.key, spec.name
            else:  # an append-only ledger without an index (credits)
                assert not key, spec.name


def test_money_is_never_a_binary_float(tmp_path: Path) -> None:
    with spm_kernel.open(tmp_path / "ws") as ws:
        doubles = ws.con.execute(
            "SELECT table_name, column_name FROM information_schema.columns "
            "WHERE table_schema = 'main' AND data_type IN ('DOUBLE', 'FLOAT', 'REAL')").fetchall()
        assert doubles == []
        money = [c for spec in TABLES for c in spec.columns if c.name in ("amount", "arr", "potential")]
        assert money and all(c.type == MONEY for c in money)


def test_every_migration_is_applied_once_in_order(tmp_path: Path) -> None:
    con = duckdb.connect(str(tmp_path / "db.duckdb"))
    assert current_version(con) == 0
    assert migrate(con, target=1) == [1]
    assert current_version(con) == 1
    rest = migrate(con)
    assert rest == [m.version for m in migrations() if m.version > 1]
    assert migrate(con) == []
    applied = [r[0] for r in con.execute("SELECT version FROM schema_migrations ORDER BY version").fetchall()]
    assert applied == [m.version for m in migrations()]


def test_a_workspace_from_the_first_schema_is_migrated_and_keeps_its_data(tmp_path: Path) -> None:
    folder = tmp_path / "old"
    folder.mkdir()
    con = duckdb.connect(str(folder / DATABASE_FILE))
    migrate(con, target=1)
    # Version 1 had no account potential and no import log.
    assert "potential" not in _columns(con, "accounts")
    con.execute("INSERT INTO regions VALUES ('NA', 'North America', 'legacy.csv', 'NA', TIMESTAMP '2024-01-01')")
    con.execute("INSERT INTO accounts VALUES ('A1', 'Acme', 'enterprise', 'NA', 'software', NULL, "
                "'legacy.csv', 'A1', TIMESTAMP '2024-01-01')")
    con.close()
    with spm_kernel.open(folder) as ws:
        assert ws.schema_version == LATEST
        accounts = ws.table("accounts")
        assert accounts[["account_id", "name", "segment"]].values.tolist() == [["A1", "Acme", "enterprise"]]
        assert pd.isna(accounts["potential"][0])
        ws.load("accounts", pd.DataFrame({"account_id": ["A1"], "name": ["Acme"], "potential": ["2500000.00"],
                                          "currency": ["USD"]}))
        assert ws.table("accounts")["potential"][0] == Decimal("2500000.00")
        assert ws.count("import_log") == 1


@pytest.mark.parametrize("extra_columns", [False, True], ids=["released-0004", "early-0004-with-transaction-columns"])
def test_migration_0011_keeps_every_credit_and_drops_only_the_index(tmp_path: Path, extra_columns: bool) -> None:
    """Credits written before 0011 survive it value for value, including from a workspace whose
    credits table still carried the transaction attributes (0004 as first written)."""
    con = duckdb.connect(str(tmp_path / "old.duckdb"))
    migrate(con, target=10)
    if extra_columns:
        for column in ("original_transaction_id", "opportunity_id", "product"):
            con.execute(f"ALTER TABLE credits ADD COLUMN {column} VARCHAR")
    con.execute("INSERT INTO credits (credit_no, run_id, credit_id, transaction_id, payee_id, credit_type, rule, "
                "rollup_level, source_payee_id, share, amount, currency, source_amount, source_currency, fx_rate, "
                "fx_quote, credit_date, kind) VALUES (7, 'r1', 'T1/P1/direct', 'T1', 'P1', 'direct', 'owner', 0, NULL, "
                "100, 1234.56, 'EUR', 1000.01, 'USD', 1.23456789, 'USD->EUR', DATE '2026-03-31', 'booking')")
    before = con.execute("SELECT credit_no, credit_id, amount, source_amount, fx_rate, credit_date FROM credits").fetchall()
    assert migrate(con) == [v.version for v in migrations() if v.version > 10]
    assert con.execute("SELECT credit_no, credit_id, amount, source_amount, fx_rate, credit_date FROM credits").fetchall() == before
    assert before[0][2] == Decimal("1234.56")
    assert not con.execute("SELECT * FROM duckdb_constraints() WHERE table_name = 'credits' "
                           "AND constraint_type = 'PRIMARY KEY'").fetchall()
    assert [r[0] for r in con.execute("DESCRIBE credits").fetchall()] == [c.name for c in TABLES_BY_NAME["credits"].columns]
    con.close()


def test_migration_0012_generates_credit_ids_and_refuses_an_id_made_another_way(tmp_path: Path) -> None:
    """After 0012 the ledger no longer stores credit ids: they are read back, equal, from the
    credit's own columns. A workspace holding an id the engine would not make keeps version 11."""
    insert = ("INSERT INTO credits (credit_no, run_id, credit_id, transaction_id, payee_id, credit_type, rule, "
              "rollup_level, source_payee_id, share, amount, currency, source_amount, source_currency, fx_rate, "
              "fx_quote, credit_date, kind) VALUES (?, 'r1', ?, 'T1', 'P1', ?, ?, ?, ?, 100, 10, 'USD', 10, 'USD', 1, "
              "NULL, DATE '2026-03-31', 'booking')")
    rows = [(1, "T1/P1/direct", "direct", "owner", 0, None), (2, "T1/P1/rollup/P7", "rollup", "hierarchy", 1, "P7"),
            (3, "T1/P1/rule/rule:R9", "rule", "rule:R9", 0, None), (4, "T1/P1/overlay/overlay_split", "overlay",
                                                                    "overlay_split", 0, None)]
    con = duckdb.connect(str(tmp_path / "ok.duckdb"))
    migrate(con, target=11)
    con.executemany(insert, rows)
    migrate(con)
    assert con.execute("SELECT credit_no, credit_id FROM credits ORDER BY credit_no").fetchall() == [r[:2] for r in rows]
    assert con.execute("SELECT generated FROM (SELECT column_name, generation_expression IS NOT NULL AS generated "
                       "FROM duckdb_columns() WHERE table_name = 'credits') WHERE column_name = 'credit_id'"
                       ).fetchall() == [(True,)]
    con.close()
    con = duckdb.connect(str(tmp_path / "odd.duckdb"))
    migrate(con, target=11)
    con.execute(insert, [1, "T1-P1", "direct", "owner", 0, None])
    with pytest.raises(duckdb.InvalidInputException, match="0012: 1 stored credit ids .*differ"):
        migrate(con)
    assert current_version(con) == 11
    assert con.execute("SELECT credit_id FROM credits").fetchall() == [("T1-P1",)]
    con.close()


def test_a_failing_migration_leaves_the_previous_version(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from spm_kernel.store import database

    con = duckdb.connect(str(tmp_path / "db.duckdb"))
    migrate(con, target=1)
    broken = [m if m.version == 1 else database.Migration(m.version, m.name, m.sql + "\nCREATE TABLE regions (x INT);")
              for m in migrations()]
    monkeypatch.setattr(database, "migrations", lambda: broken)
    with pytest.raises(duckdb.CatalogException):
        migrate(con)
    assert current_version(con) == 1
    assert "potential" not in _columns(con, "accounts")


def test_a_workspace_from_a_newer_version_is_refused(tmp_path: Path) -> None:
    with spm_kernel.open(tmp_path / "ws") as ws:
        ws.con.execute("INSERT INTO schema_migrations VALUES (9999, 'from_the_future', now()::TIMESTAMP)")
    with pytest.raises(SchemaTooNewError, match="schema version 9999.*upgrade spm-kernel"):
        spm_kernel.open(tmp_path / "ws")


def test_opening_a_missing_workspace_without_create_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(SPMError, match="no workspace at .*spm init"):
        spm_kernel.open(tmp_path / "nowhere", create=False)


def test_a_locked_workspace_names_the_problem(tmp_path: Path) -> None:
    import subprocess
    import sys
    import textwrap

    spm_kernel.open(tmp_path / "ws").close()
    holder = subprocess.Popen([sys.executable, "-c", textwrap.dedent(f"""
        import sys, time, spm_kernel
        ws = spm_kernel.open({str(tmp_path / 'ws')!r})
        print('open', flush=True)
        time.sleep(30)
    """)], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout and holder.stdout.readline().strip() == "open"
        with pytest.raises(spm_kernel.SPMError, match="open for writing in another process"):
            spm_kernel.open(tmp_path / "ws")
    finally:
        holder.kill()
        holder.wait()


def test_sql_is_read_only(spm_workspace: spm_kernel.Workspace) -> None:
    ws = spm_workspace
    ws.load("regions", pd.DataFrame({"region_id": ["NA"], "name": ["North America"]}))
    assert ws.sql("WITH r AS (SELECT * FROM regions) SELECT count(*) AS n FROM r")["n"][0] == 1
    for statement in ["DELETE FROM regions", "DROP TABLE regions", "UPDATE regions SET name = 'x'",
                      "INSERT INTO regions VALUES ('a','b','c','d', now())", "CREATE TABLE x (a INT)",
                      "ATTACH 'other.db'", "SELECT 1; DELETE FROM regions", "COPY regions TO 'x.csv'"]:
        with pytest.raises(ReadOnlyQueryError):
            ws.sql(statement)
    assert ws.count("regions") == 1


def test_tables_come_back_with_exact_decimals(spm_workspace: spm_kernel.Workspace) -> None:
    ws = spm_workspace
    ws.load("spend", pd.DataFrame({"month": ["2025-01-01"] * 3, "category": ["sales"] * 3,
                                   "channel": ["a", "b", "c"], "amount": ["0.10", "0.20", "0.70"],
                                   "currency": ["USD"] * 3}))
    amounts = ws.table("spend")["amount"].tolist()
    assert amounts == [Decimal("0.10"), Decimal("0.20"), Decimal("0.70")]
    assert sum(amounts) == Decimal("1.00")
    assert ws.sql("SELECT sum(amount) AS s FROM spend")["s"][0] == Decimal("1.00")


def test_summary_lists_every_table_with_counts_and_date_ranges(spm_workspace: spm_kernel.Workspace) -> None:
    ws = spm_workspace
    ws.load("fx_rates", pd.DataFrame({"rate_date": ["2025-01-02", "2025-03-31"], "from_currency": ["EUR", "EUR"],
                                      "to_currency": ["USD", "USD"], "rate": ["1.03412", "1.08123"]}))
    summary = ws.summary().set_index("table_name")
    assert set(summary.index) == {t.name for t in TABLES}
    assert summary.loc["fx_rates", "rows"] == 2
    assert (summary.loc["fx_rates", "first_date"], summary.loc["fx_rates", "last_date"]) == ("2025-01-02", "2025-03-31")
    assert summary.loc["payees", "rows"] == 0
