"""Training: catalogue, assignment rules, status and overdue, LMS import, the CLI.

Every number is worked by hand from the tiny company below.

* Manager M1 manages reps P1..P5 (segment mid, hired 2020, team T1); manager M2 manages P6
  (segment ent, alone in their peer group) and P7 (hired 2026-01-10, a new hire).
* In 2025-Q4 the reps closed 10 deals each; P1 won 1, P2 2, P3 3, P4 4, P5 5, P6 0.
  The mid reps' win rates 0.1 .. 0.5 have a 25th percentile of 0.2 (linear), so only P1 is
  below it; P6 has no peers and is never judged.
* Catalogue: NEG1, NEG2 (path PATH-NEG), CMP (PATH-CMP, every role), ONB1 (PATH-ONB, reps).
  Rules: R-NEG (kpi_gap win_rate < p25, due 45 days), R-CMP (role, everyone, due 30, again
  after 300 days), R-ONB (new_hire reps, due 30).
"""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

import spm_kernel
from spm_kernel.cli import build_app
from spm_kernel.errors import ImportValidationError
from spm_kernel.training import TrainingError
from spm_kernel.workspace import Workspace



MID = ["P1", "P2", "P3", "P4", "P5"]


def _org() -> dict[str, pd.DataFrame]:
    payees = [("M1", "Mia Manager", "manager", "mid", "2018-01-01"), ("M2", "Max Manager", "manager", "ent", "2018-01-01")]
    payees += [(p, f"Rep {p}", "rep", "mid", "2020-01-01") for p in MID]
    payees += [("P6", "Rep P6", "rep", "ent", "2020-01-01"), ("P7", "Rep P7", "rep", "ent", "2026-01-10")]
    frame = pd.DataFrame(payees, columns=["payee_id", "name", "role", "segment", "hire_date"])
    frame["email"] = frame["payee_id"].str.lower() + "@acme.example"
    frame["team_id"] = ["T1", "T2", *["T1"] * 5, "T2", "T2"]
    frame["region_id"] = "R1"
    frame["currency"] = "USD"
    hierarchy = pd.DataFrame({"payee_id": [*MID, "P6", "P7"], "valid_from": "2019-01-01",
                              "manager_id": [*["M1"] * 5, "M2", "M2"]})
    return {"regions": pd.DataFrame({"region_id": ["R1"], "name": ["North"]}),
            "teams": pd.DataFrame({"team_id": ["T1", "T2"], "name": ["Mid", "Ent"], "region_id": "R1"}),
            "payees": frame, "hierarchy": hierarchy}


def _deals() -> pd.DataFrame:
    rows = []
    for owner, won in [*zip(MID, [1, 2, 3, 4, 5]), ("P6", 0)]:
        for i in range(10):
            rows.append({"opportunity_id": f"O-{owner}-{i}", "owner_id": owner, "amount": "1000.00",
                         "currency": "USD", "stage": "Closed Won" if i < won else "Closed Lost",
                         "created_date": "2025-09-01", "close_date": f"2025-11-{i + 1:02d}",
                         "is_closed": True, "is_won": i < won, "deal_type": "new"})
    return pd.DataFrame(rows)


def _catalogue() -> dict[str, pd.DataFrame]:
    modules = pd.DataFrame({
        "module_id": ["NEG1", "NEG2", "CMP", "ONB1"],
        "title": ["Negotiation essentials", "Negotiating renewals", "Compliance", "Onboarding"],
        "skill": ["negotiation", "negotiation", "compliance", "product"],
        "format": ["workshop", "coaching", "elearning", "video"],
        "duration_minutes": [240, 60, 40, 90],
        "content": ["# Negotiation essentials\n\n**Trade, don't concede.**\n\n- anchor on value\n- know your walk-away",
                    "# Renewals\n\nMulti-year terms.", "# Compliance\n\nThe rules.", None],
        "link": [None, None, None, "https://learn.example/onboarding"]})
    paths = pd.DataFrame({"path_id": ["PATH-NEG", "PATH-CMP", "PATH-ONB"],
                          "name": ["Negotiation", "Compliance", "Onboarding"], "role": ["rep", None, "rep"]})
    members = pd.DataFrame({"path_id": ["PATH-NEG", "PATH-NEG", "PATH-CMP", "PATH-ONB"],
                            "module_id": ["NEG1", "NEG2", "CMP", "ONB1"], "position": [1, 2, 1, 1]})
    rules = pd.DataFrame({
        "rule_id": ["R-NEG", "R-CMP", "R-ONB"], "path_id": ["PATH-NEG", "PATH-CMP", "PATH-ONB"],
        "kind": ["kpi_gap", "role", "new_hire"], "role": ["rep", None, "rep"],
        "metric": ["win_rate", None, None], "percentile": ["25", None, None], "min_peers": ["4", None, None],
        "due_days": [45, 30, 30], "repeat_days": [None, "300", None]})
    return {"training_modules": modules, "training_paths": paths, "training_path_modules": members,
            "training_rules": rules}


def fill(ws: Workspace) -> None:
    """Load the company (no assignments or completions)."""
    for table, frame in {**_org(), "opportunities": _deals(), **_catalogue()}.items():
        ws.load(table, frame)


# Assignments and completions for the status tests (see tests/test_training.py).
ASSIGNMENTS = pd.DataFrame([
    ("A1", "P1", "NEG1", "2026-01-15", "2026-03-01"),
    ("A2", "P1", "NEG2", "2026-01-15", "2026-03-01"),
    ("A3", "P2", "CMP", "2025-02-01", "2025-03-31"),
    ("A4", "P2", "CMP", "2026-02-01", "2026-03-31"),
    ("A5", "P3", "NEG1", "2026-03-01", "2026-04-15"),
    ("A6", "P6", "CMP", "2026-02-01", "2026-02-20"),
], columns=["assignment_id", "payee_id", "module_id", "assigned_date", "due_date"])
COMPLETIONS = pd.DataFrame([
    ("P1", "NEG1", "2026-02-10 10:00:00", "90"),
    ("P1", "NEG2", "2026-03-05 16:30:00", None),   # after the due date: late
    ("P2", "CMP", "2026-02-05 09:00:00", "75"),    # after A4 was assigned: counts for A4, not A3
    ("P3", "NEG1", "2026-02-20 11:00:00", None),   # before A5 was assigned: does not count
], columns=["payee_id", "module_id", "completed_at", "score"])


# ---- fixtures: the company built once, a private copy per test ----
@pytest.fixture(scope="module")
def training_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("training") / "acme"
    with spm_kernel.open(folder) as ws:
        fill(ws)
    return folder


@pytest.fixture
def tws(training_template: Path, tmp_path: Path):
    import shutil

    copy = tmp_path / "acme"
    shutil.copytree(training_template, copy)
    ws = spm_kernel.open(copy)
    yield ws
    ws.close()


def with_history(ws: Workspace) -> Workspace:
    ws.load("training_assignments", ASSIGNMENTS)
    ws.load("training_completions", COMPLETIONS)
    return ws


# ---- catalogue ----
def test_paths_list_their_modules_in_order_for_a_role(tws: Workspace) -> None:
    rep = tws.training.paths("rep")
    assert list(zip(rep["path_id"], rep["module_id"])) == [
        ("PATH-CMP", "CMP"), ("PATH-NEG", "NEG1"), ("PATH-NEG", "NEG2"), ("PATH-ONB", "ONB1")]
    assert list(tws.training.paths("manager")["path_id"]) == ["PATH-CMP"]  # the path for every role
    assert tws.training.module("ONB1")["link"] == "https://learn.example/onboarding"
    with pytest.raises(TrainingError, match="unknown training module 'NOPE'"):
        tws.training.module("NOPE")


def test_a_path_module_must_exist(tws: Workspace) -> None:
    with pytest.raises(ImportValidationError, match="unknown"):
        tws.load("training_path_modules", pd.DataFrame({"path_id": ["PATH-NEG"], "module_id": ["NOPE"],
                                                        "position": [3]}))
    assert tws.count("training_path_modules") == 4


# ---- status and overdue ----
def test_status_of_each_assignment_worked_by_hand(tws: Workspace) -> None:
    status = with_history(tws).training.status("2026-03-10").set_index("assignment_id")
    assert status["status"].to_dict() == {
        "A1": "completed",        # 10 Feb, due 1 Mar
        "A2": "completed late",   # 5 Mar, due 1 Mar
        "A3": "overdue",          # last year's: this year's completion comes after A4 was assigned
        "A4": "completed",        # 5 Feb
        "A5": "open",             # the 20 Feb completion predates the assignment (1 Mar)
        "A6": "overdue",          # due 20 Feb, never done
    }
    # 31 Mar 2025 -> 10 Mar 2026: 275 days to 31 Dec, then 31 + 28 + 10 = 344
    assert status.loc["A3", "days_overdue"] == 344
    assert status.loc["A6", "days_overdue"] == 18   # 20 Feb -> 10 Mar 2026 (8 + 10)
    assert status.loc["A1", "days_overdue"] == 0
    assert str(status.loc["A4", "completed_at"]) == "2026-02-05 09:00:00"
    # on 15 Jan 2026 only A1..A3 exist; A3 was already 290 days overdue (275 + 15)
    early = tws.training.status("2026-01-15").set_index("assignment_id")
    assert list(early.index) == ["A1", "A2", "A3"]
    assert early["status"].tolist() == ["open", "open", "overdue"]
    assert early.loc["A3", "days_overdue"] == 290


def test_managers_see_who_is_overdue_in_their_organisation(tws: Workspace) -> None:
    ws = with_history(tws)
    late = ws.training.overdue("2026-03-10", manager="M1")
    assert list(zip(late["payee_id"], late["module_id"], late["days_overdue"])) == [("P2", "CMP", 344)]
    assert list(ws.training.overdue("2026-03-10", manager="M2")["assignment_id"]) == ["A6"]
    assert len(ws.training.overdue("2026-03-10")) == 2
    counts = ws.training.counts("2026-03-10", manager="M1").set_index("payee_id")
    assert counts[["assigned", "completed", "completed_late", "overdue", "open"]].to_dict("index") == {
        "P1": {"assigned": 2, "completed": 2, "completed_late": 1, "overdue": 0, "open": 0},
        "P2": {"assigned": 2, "completed": 1, "completed_late": 0, "overdue": 1, "open": 0},
        "P3": {"assigned": 1, "completed": 0, "completed_late": 0, "overdue": 0, "open": 1},
    }
    assert counts.loc["P2", "completion_rate"] == 0.5
    by_module = ws.training.counts("2026-03-10", by="module_id").set_index("module_id")
    assert by_module.loc["CMP", ["assigned", "completed", "overdue"]].tolist() == [3, 1, 2]


def test_a_payee_who_left_is_not_overdue(tws: Workspace) -> None:
    ws = with_history(tws)
    p6 = ws.table("payees").query("payee_id == 'P6'").drop(columns=["source", "source_id", "loaded_at"])
    ws.load("payees", p6.assign(termination_date="2026-03-01"))
    assert list(ws.training.overdue("2026-03-10")["payee_id"]) == ["P2"]
    assert list(ws.training.overdue("2026-02-28")["payee_id"]) == ["P2", "P6"]


# ---- rules ----
def test_kpi_gap_finds_reps_below_the_peers_25th_percentile(tws: Workspace) -> None:
    gaps = tws.training.kpi_gaps("win_rate", 25, period="2025-Q4")
    assert gaps[["payee_id", "value", "threshold", "peers"]].values.tolist() == [["P1", 0.1, pytest.approx(0.2), 5]]
    half = tws.training.kpi_gaps("win_rate", 50, period="2025-Q4")   # median 0.3: P1 and P2
    assert list(half["payee_id"]) == ["P1", "P2"]
    assert tws.training.kpi_gaps("win_rate", 25, period="2025-Q4", min_peers=6).empty


def test_rules_assign_paths_with_due_dates_once(tws: Workspace) -> None:
    new = tws.training.assign("2026-01-15").set_index("assignment_id")
    # R-CMP: the 9 people employed on 15 Jan (M1, M2, P1..P7), due 14 Feb; R-NEG: P1 (win rate 10%
    # < p25 20% in 2025-Q4, the quarter before), both modules due 1 Mar; R-ONB: P7 hired 10 Jan, due 9 Feb
    assert len(new) == 9 + 2 + 1
    neg = new[new["module_id"].isin(["NEG1", "NEG2"])]
    assert list(neg.index) == ["R-NEG-20260115-P1-NEG1", "R-NEG-20260115-P1-NEG2"]
    assert set(neg["due_date"]) == {date(2026, 3, 1)}
    assert neg["reason"].iloc[0] == "kpi gap: win_rate 10.0% in 2025-Q4 below the peers' p25 20.0% (rule R-NEG)"
    onb = new.loc["R-ONB-20260110-P7-ONB1"]
    assert (onb["assigned_date"], onb["due_date"]) == (date(2026, 1, 10), date(2026, 2, 9))
    cmp_ = new[new["module_id"] == "CMP"]
    assert len(cmp_) == 9 and set(cmp_["due_date"]) == {date(2026, 2, 14)}
    assert tws.count("training_assignments") == 12
    assert tws.training.assign("2026-01-15").empty                  # nothing twice
    assert tws.training.assign("2026-06-01", rules=["R-CMP"]).empty  # 137 days < repeat_days 300
    again = tws.training.assign("2026-11-20", rules=["R-CMP"])      # 309 days later
    assert len(again) == 9 and set(again["due_date"]) == {date(2026, 12, 20)}


def test_a_dry_run_writes_nothing_and_unknown_rules_are_refused(tws: Workspace) -> None:
    assert len(tws.training.assign("2026-01-15", dry_run=True)) == 12
    assert tws.count("training_assignments") == 0
    with pytest.raises(TrainingError, match="unknown training rule"):
        tws.training.assign("2026-01-15", rules=["R-NOPE"])


def test_assign_a_path_by_hand(tws: Workspace) -> None:
    new = tws.training.assign_path(["P4", "P5"], "PATH-NEG", as_of="2026-04-01", due_days=10)
    assert new["module_id"].tolist() == ["NEG1", "NEG2", "NEG1", "NEG2"]
    assert set(new["due_date"]) == {date(2026, 4, 11)}
    with pytest.raises(TrainingError, match="unknown learning path"):
        tws.training.assign_path(["P4"], "PATH-NOPE")


# ---- completions ----
def test_record_a_completion_with_a_timestamp(tws: Workspace) -> None:
    ws = with_history(tws)
    ws.training.complete("P3", "NEG1", at=datetime(2026, 3, 9, 14, 5, 7))
    row = ws.training.status("2026-03-10").set_index("assignment_id").loc["A5"]
    assert row["status"] == "completed" and str(row["completed_at"]) == "2026-03-09 14:05:07"
    with pytest.raises(ImportValidationError, match="unknown"):
        ws.training.complete("P99", "NEG1")


LMS_GOOD = """User Email,Course Code,Course Title,Completion Date,Status,Score
P1@ACME.example,NEG1,Negotiation essentials,03/05/2026 14:30,Completed,88
p2@acme.example,CMP,Compliance,,In Progress,
p4@acme.example,CMP,Compliance,02/07/2026 09:00,Passed,91.5%
"""
LMS_BAD = """User Email,Course Code,Completion Date,Status
p1@acme.example,NEG1,03/01/2026 10:00,In Progress
ghost@acme.example,NEG1,03/02/2026 10:00,Completed
p2@acme.example,NOPE,03/03/2026 10:00,Completed
p3@acme.example,CMP,31/31/2026 10:00,Completed
"""


def test_lms_export_is_imported_through_the_validated_importer(tws: Workspace, tmp_path: Path) -> None:
    path = tmp_path / "lms.csv"
    path.write_text(LMS_GOOD)
    result = tws.training.import_completions(path, date_format="%m/%d/%Y %H:%M")
    assert (result.load.inserted, result.skipped) == (2, 1)
    got = tws.sql("SELECT payee_id, module_id, CAST(completed_at AS VARCHAR) AS at, CAST(score AS VARCHAR) AS s, "
                  "source FROM training_completions ORDER BY payee_id")
    assert got.values.tolist() == [["P1", "NEG1", "2026-03-05 14:30:00", "88.00", "lms.csv"],
                                   ["P4", "CMP", "2026-02-07 09:00:00", "91.50", "lms.csv"]]
    again = tws.training.import_completions(path, date_format="%m/%d/%Y %H:%M")
    assert (again.load.inserted, again.load.unchanged) == (0, 2)


def test_a_bad_lms_export_names_file_rows_and_columns_and_writes_nothing(tws: Workspace, tmp_path: Path) -> None:
    path = tmp_path / "export.csv"
    path.write_text(LMS_BAD)
    with pytest.raises(ImportValidationError) as caught:
        tws.training.import_completions(path, date_format="%m/%d/%Y %H:%M")
    errors = caught.value.errors
    assert set(errors["file"]) == {"export.csv"}
    found = {(int(r.row), r.column) for r in errors.itertuples()}
    # row 1 is skipped (in progress); rows are the file's data rows
    assert found == {(2, "User Email"), (3, "Course Code"), (4, "Completion Date")}
    assert tws.count("training_completions") == 0
    path.write_text("Name,Hours\nx,1\n")
    with pytest.raises(TrainingError, match="not an LMS completion export"):
        tws.training.import_completions(path)


# ---- the CLI ----
runner = CliRunner()


def test_cli_assign_overdue_and_import(tws: Workspace, tmp_path: Path) -> None:
    folder = tws.path
    with_history(tws).close()
    app = build_app()
    out = runner.invoke(app, ["training", "assign", "--as-of", "2026-01-15", "--rule", "R-NEG",
                              "--workspace", str(folder)])
    assert out.exit_code == 0, out.output
    assert "assigned 0 module(s) to 0 payee(s)" in out.output  # P1 already has NEG1 and NEG2 (A1, A2)
    out = runner.invoke(app, ["training", "assign", "--as-of", "2026-01-15", "--rule", "R-ONB",
                              "--workspace", str(folder)])
    assert out.exit_code == 0, out.output
    assert "assigned 1 module(s) to 1 payee(s)" in out.output
    assert "P7" in out.output and "2026-02-09" in out.output and "onboarding (rule R-ONB)" in out.output
    out = runner.invoke(app, ["training", "overdue", "--as-of", "2026-03-10", "--manager", "M1",
                              "--workspace", str(folder)])
    assert out.exit_code == 0, out.output
    assert "1 overdue assignment(s), 1 payee(s)" in out.output and "344" in out.output
    path = tmp_path / "lms.csv"
    path.write_text(LMS_GOOD)
    out = runner.invoke(app, ["training", "import-completions", str(path), "--date-format", "%m/%d/%Y %H:%M",
                              "--workspace", str(folder)])
    assert out.exit_code == 0, out.output
    assert "2 inserted" in out.output and "1 row(s) skipped" in out.output
    path.write_text(LMS_BAD)
    out = runner.invoke(app, ["training", "import-completions", str(path), "--date-format", "%m/%d/%Y %H:%M",
                              "--workspace", str(folder)])
    assert out.exit_code == 1 and "refused" in out.output and "row 2" in out.output
    out = runner.invoke(app, ["training", "effect", "--workspace", str(folder), "--no-store"])
    assert out.exit_code == 1 and "unknown training module 'TRN-NEG-01'" in out.output
