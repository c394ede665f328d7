"""Import that loses nothing: every bad input is refused with all its problems, the store
unchanged; good input is exact and idempotent."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pandas as pd
import pytest

import spm_kernel
from spm_kernel import FileReadError, ImportValidationError, Workspace


def snapshot(ws: Workspace) -> dict[str, list[tuple]]:
    """Every row of every table in the database, to compare before and after."""
    names = [r[0] for r in ws.con.execute(
        "SELECT table_name FROM information_schema.tables WHERE table_schema = 'main' ORDER BY 1").fetchall()]
    return {n: ws.con.execute(f'SELECT * FROM "{n}" ORDER BY ALL').fetchall() for n in names}


@pytest.fixture
def ws(spm_workspace: Workspace) -> Workspace:
    w = spm_workspace
    w.load("regions", pd.DataFrame({"region_id": ["NA", "EMEA"], "name": ["North America", "Europe"]}))
    w.load("teams", pd.DataFrame({"team_id": ["T1"], "name": ["West"], "region_id": ["NA"]}))
    w.load("payees", pd.DataFrame({
        "payee_id": ["P1", "P2", "P3"], "name": ["Ana", "Ben", "Chen"], "role": ["rep", "rep", "manager"],
        "team_id": ["T1", "T1", "T1"], "currency": ["USD", "USD", "USD"],
        "hire_date": ["2024-01-01", "2024-03-15", "2023-01-01"],
    }))
    w.load("opportunities", pd.DataFrame({
        "opportunity_id": ["O1", "O2"], "owner_id": ["P1", "P2"], "amount": ["1000.00", "250.50"],
        "currency": ["USD", "USD"], "stage": ["Closed Won", "Closed Won"],
        "created_date": ["2025-01-05", "2025-02-01"], "close_date": ["2025-03-01", "2025-03-20"],
        "is_closed": ["true", "true"], "is_won": ["true", "true"],
    }))
    return w


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def refused(ws: Workspace, table: str, data: pd.DataFrame | Path) -> pd.DataFrame:
    before = snapshot(ws)
    with pytest.raises(ImportValidationError) as err:
        ws.load(table, data)
    assert snapshot(ws) == before, "a refused import changed the store"
    return err.value.errors


PAYEES_HEADER = "payee_id,name,role,team_id,currency,hire_date\n"


@pytest.mark.parametrize(("text", "row", "column", "reason"), [
    ("payee_id,name,role,currency\nP9,Dee,rep,USD\n", None, "hire_date", "required column is missing"),
    (PAYEES_HEADER + "P9,Dee,rep,T1,USD,2025-02-30\n", 2, "hire_date", "is not a date"),
    (PAYEES_HEADER + "P9,Dee,rep,T1,USD,last tuesday\n", 2, "hire_date", "is not a date"),
    (PAYEES_HEADER + "P9,Dee,rep,T1,USD,1066-10-14\n", 2, "hire_date", "out of range"),
    (PAYEES_HEADER + "P9,Dee,wizard,T1,USD,2025-01-01\n", 2, "role", "must be one of"),
    (PAYEES_HEADER + "P9,Dee,rep,T9,USD,2025-01-01\n", 2, "team_id", "unknown team: no row in teams"),
    (PAYEES_HEADER + "P9,Dee,rep,T1,USD,2025-01-01\nP9,Dee,rep,T1,USD,2025-01-01\n", 3, "payee_id",
     "duplicate key: the same payee_id is also on row 2"),
    (PAYEES_HEADER + "P9,,rep,T1,USD,2025-01-01\n", 2, "name", "required value is missing"),
    (PAYEES_HEADER + "P9,Dee,rep,T1,USD\n", 2, None, "has 5 fields, the header has 6"),
    ("payee_id,name,role,currency,hire_date,salary\nP9,Dee,rep,USD,2025-01-01,1\n", None, "salary",
     "unknown column for table 'payees'"),
])
def test_bad_payee_files_are_refused_with_the_row_column_and_reason(
        ws: Workspace, tmp_path: Path, text: str, row: int | None, column: str | None, reason: str) -> None:
    errors = refused(ws, "payees", write(tmp_path, "payees.csv", text))
    hit = errors[errors["reason"].str.contains(reason, regex=False)]
    assert len(hit) == 1, errors.to_string()
    rec = hit.iloc[0]
    assert rec["file"] == "payees.csv"
    assert (None if pd.isna(rec["row"]) else int(rec["row"])) == row
    assert (rec["column"] if isinstance(rec["column"], str) else None) == column


def test_money_types_and_signs(ws: Workspace, tmp_path: Path) -> None:
    text = ("payee_id,measure,period_start,period_end,amount,currency\n"
            "P1,bookings,2025-01-01,2025-03-31,-5000,USD\n"
            "P1,revenue,2025-01-01,2025-03-31,12.345,USD\n"
            "P1,margin,2025-01-01,2025-03-31,1e400,USD\n"
            "P1,units,2025-01-01,2025-03-31,NaN,USD\n"
            "P1,arr,2025-01-01,2025-03-31,100000000000000000,USD\n"
            "P1,calls,2025-04-01,2025-03-31,10,USD\n")
    errors = refused(ws, "quotas", write(tmp_path, "quotas.csv", text))
    got = {(int(r.row), r.column): r.reason for r in errors.itertuples()}
    assert got == {
        (2, "amount"): "must not be negative",
        (3, "amount"): "has more than 2 decimal places",
        (4, "amount"): "is too large for DECIMAL(18,2)",  # a number, just not one that fits
        (5, "amount"): "is not a number",
        (6, "amount"): "is too large for DECIMAL(18,2)",
        (7, "period_end"): "period_end is before period_start",
    }


def test_all_problems_are_reported_at_once_and_the_message_shows_the_first_50(
        ws: Workspace, tmp_path: Path) -> None:
    rows = "".join(f"X{i},Rep {i},rep,T1,USD,not-a-date\n" for i in range(120))
    errors = refused(ws, "payees", write(tmp_path, "many.csv", PAYEES_HEADER + rows))
    assert len(errors) == 120
    with pytest.raises(ImportValidationError) as err:
        ws.load("payees", write(tmp_path, "many.csv", PAYEES_HEADER + rows))
    message = str(err.value)
    assert "120 problem(s); nothing was written" in message
    assert "many.csv, row 51, column 'hire_date'" in message
    assert "row 52," not in message
    assert "... and 70 more" in message


def test_revenue_splits_must_sum_to_100_per_deal(ws: Workspace, tmp_path: Path) -> None:
    text = ("opportunity_id,payee_id,split_type,percent\n"
            "O1,P1,revenue,60\nO1,P2,revenue,30\n"       # 90%: refused
            "O2,P2,revenue,50\nO2,P1,revenue,50\n"       # fine
            "O2,P3,overlay,100\n")                      # overlay may add on top
    errors = refused(ws, "opportunity_splits", write(tmp_path, "splits.csv", text))
    assert errors["reason"].unique().tolist() == ["revenue splits of deal O1 sum to 90.0000%, not 100%"]
    assert errors["row"].tolist() == [2, 3]

    good = write(tmp_path, "splits.csv", text.replace("O1,P2,revenue,30", "O1,P2,revenue,40"))
    assert ws.load("opportunity_splits", good).inserted == 5
    # a later import that breaks an existing deal's 100% is refused as a whole
    errors = refused(ws, "opportunity_splits",
                     write(tmp_path, "fix.csv", "opportunity_id,payee_id,split_type,percent\nO2,P1,revenue,40\n"))
    assert errors["reason"].tolist() == ["revenue splits of deal O2 sum to 90.0000%, not 100%"]


def test_file_level_problems(ws: Workspace, tmp_path: Path) -> None:
    latin1 = tmp_path / "latin1.csv"
    latin1.write_bytes("region_id,name\nFR,Île-de-France\n".encode("latin-1"))
    with pytest.raises(FileReadError, match=r"latin1.csv is not UTF-8 text \(byte 0xce"):
        ws.load("regions", latin1)
    with pytest.raises(FileReadError, match="duplicated column header.*'name'"):
        ws.load("regions", write(tmp_path, "dup.csv", "region_id,name,name\nFR,a,b\n"))
    with pytest.raises(FileReadError, match="empty.csv is empty"):
        ws.load("regions", write(tmp_path, "empty.csv", ""))
    with pytest.raises(FileReadError, match="no installed reader handles '.xml'"):
        ws.load("regions", write(tmp_path, "r.xml", "<r/>"))
    with pytest.raises(FileReadError, match="no such file"):
        ws.load("regions", tmp_path / "missing.csv")
    with pytest.raises(KeyError, match="unknown table 'region'; the canonical tables are: .*regions"):
        ws.load("region", write(tmp_path, "ok.csv", "region_id,name\nFR,France\n"))
    with pytest.raises(ValueError, match="written by the engine"):
        ws.load("payout_lines", pd.DataFrame({"line_id": ["x"]}))


def test_bom_quotes_blank_lines_and_unicode_are_read_correctly(ws: Workspace, tmp_path: Path) -> None:
    path = tmp_path / "regions.csv"
    path.write_bytes("\ufeffregion_id,name\n\nAPAC,\"Asia, Pacific\"\nMENA,\"الشرق الأوسط\"\n".encode())
    assert ws.load("regions", path).inserted == 2
    names = dict(zip(ws.table("regions")["region_id"], ws.table("regions")["name"]))
    assert names["APAC"] == "Asia, Pacific" and names["MENA"] == "الشرق الأوسط"


def test_import_is_idempotent_and_upserts_changed_rows(ws: Workspace, tmp_path: Path) -> None:
    text = ("opportunity_id,owner_id,amount,currency,stage,created_date,close_date,is_closed,is_won\n"
            "O3,P1,0.10,USD,Negotiation,2025-04-01,,false,false\n"
            "O4,P2,0.20,USD,Closed Won,2025-04-02,2025-05-01,true,true\n")
    path = write(tmp_path, "opps.csv", text)
    first = ws.load("opportunities", path)
    assert (first.inserted, first.updated, first.unchanged) == (2, 0, 0)
    data_before = ws.table("opportunities")
    again = ws.load("opportunities", path)
    assert (again.inserted, again.updated, again.unchanged) == (0, 0, 2)
    pd.testing.assert_frame_equal(ws.table("opportunities"), data_before)

    changed = write(tmp_path, "opps.csv", text.replace("0.10,USD,Negotiation", "0.15,USD,Proposal"))
    third = ws.load("opportunities", changed)
    assert (third.inserted, third.updated, third.unchanged) == (0, 1, 1)
    opp = ws.table("opportunities").set_index("opportunity_id")
    assert opp.loc["O3", "amount"] == Decimal("0.15") and opp.loc["O3", "stage"] == "Proposal"
    assert opp.loc["O3", "source"] == "opps.csv" and opp.loc["O3", "source_id"] == "O3"
    total = ws.sql("SELECT sum(amount) AS s FROM opportunities")["s"][0]
    assert total == Decimal("1250.85")  # 1000.00 + 250.50 + 0.15 + 0.20, exactly
    log = ws.sql("SELECT inserted, updated, unchanged FROM import_log WHERE source = 'opps.csv' ORDER BY started_at")
    assert log.values.tolist() == [[2, 0, 0], [0, 0, 2], [0, 1, 1]]


def test_columns_absent_from_an_update_are_kept(ws: Workspace) -> None:
    ws.load("payees", pd.DataFrame({"payee_id": ["P1"], "name": ["Ana"], "role": ["rep"], "currency": ["USD"],
                                    "hire_date": ["2024-01-01"], "email": ["ana@example.com"]}))
    ws.load("payees", pd.DataFrame({"payee_id": ["P1"], "name": ["Ana Lopez"], "role": ["rep"],
                                    "currency": ["USD"], "hire_date": ["2024-01-01"]}))
    row = ws.table("payees").set_index("payee_id").loc["P1"]
    assert (row["name"], row["email"], row["team_id"]) == ("Ana Lopez", "ana@example.com", "T1")


def test_excel_and_parquet_files(ws: Workspace, tmp_path: Path) -> None:
    frame = pd.DataFrame({"month": pd.to_datetime(["2025-01-01", "2025-02-01"]), "category": ["sales", "marketing"],
                          "channel": ["events", "search"], "amount": [Decimal("1200.50"), Decimal("99.99")],
                          "currency": ["USD", "EUR"]})
    frame.to_parquet(tmp_path / "spend.parquet")
    assert ws.load("spend", tmp_path / "spend.parquet").inserted == 2
    excel = frame.assign(amount=["1200.5", "99.99"], channel=["events", "social"])
    excel.to_excel(tmp_path / "spend.xlsx", index=False)
    result = ws.load("spend", tmp_path / "spend.xlsx")
    # the January row has the same values but now comes from another file: its lineage is updated
    assert (result.inserted, result.updated, result.unchanged) == (1, 1, 0)
    assert sorted(ws.table("spend")["amount"].tolist()) == [Decimal("99.99"), Decimal("99.99"), Decimal("1200.50")]
    bad = excel.assign(amount=["-3", "x"])
    bad.to_excel(tmp_path / "bad.xlsx", index=False)
    errors = refused(ws, "spend", tmp_path / "bad.xlsx")
    assert errors[["row", "column"]].values.tolist() == [[2, "amount"], [3, "amount"]]


def test_self_references_resolve_within_one_import(ws: Workspace) -> None:
    hierarchy = pd.DataFrame({"payee_id": ["P1", "P2"], "valid_from": ["2024-01-01", "2024-01-01"],
                              "manager_id": ["P3", "P3"]})
    assert ws.load("hierarchy", hierarchy).inserted == 2
    errors = refused(ws, "hierarchy", pd.DataFrame({"payee_id": ["P3"], "valid_from": ["2024-01-01"],
                                                    "manager_id": ["P3"]}))
    assert errors["reason"].tolist() == ["a payee cannot be their own manager"]
    errors = refused(ws, "hierarchy", pd.DataFrame({"payee_id": ["P1"], "valid_from": ["2024-01-01"],
                                                    "valid_to": ["2023-01-01"], "manager_id": ["ZZ"]}))
    assert sorted(errors["reason"]) == ["unknown payee: no row in payees has payee_id = ZZ",
                                        "valid_to must be after valid_from"]


def test_a_failure_inside_the_write_rolls_everything_back(ws: Workspace, monkeypatch: pytest.MonkeyPatch) -> None:
    from spm_kernel.ingest import loader

    def explode(con, spec):  # noqa: ANN001, ANN202 - runs after the upsert, inside the transaction
        raise RuntimeError("disk full")

    before = snapshot(ws)
    monkeypatch.setattr(loader, "merged_problems", explode)
    with pytest.raises(RuntimeError, match="disk full"):
        ws.load("regions", pd.DataFrame({"region_id": ["APAC"], "name": ["Asia Pacific"]}))
    assert snapshot(ws) == before


def test_read_only_workspace_refuses_writes(ws: Workspace) -> None:
    path = ws.path
    ws.close()
    with spm_kernel.open(path, read_only=True) as ro:
        assert ro.count("payees") == 3
        with pytest.raises(spm_kernel.SPMError, match="read-only"):
            ro.load("regions", pd.DataFrame({"region_id": ["X"], "name": ["X"]}))
