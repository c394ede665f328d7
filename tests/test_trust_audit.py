"""The audit log (issue 9, section 3): every change with who, when, what and before/after,
hash-chained so that ``spm audit verify`` finds an edited, deleted or forged entry (the
database is tampered with directly through duckdb)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import duckdb
import pandas as pd
import pytest
import yaml
from typer.testing import CliRunner

import spm_kernel.plans  # noqa: F401 - import order: plans before plan types
from spm_kernel.auth.users import add_user, set_password, set_role
from spm_kernel.cli import build_app
from spm_kernel.engine.audit import GENESIS, default_actor, entry_hash, verify_audit
from spm_kernel.errors import ImportValidationError, PermissionDenied, ReadOnlyQueryError
from spm_kernel.workspace import DATABASE_FILE, Workspace, open_workspace
from tests.engine_company import REP_PLAN, build_template_with_plans, copy_of


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = build_template_with_plans(tmp_path_factory.mktemp("audit") / "ws")
    with open_workspace(folder) as ws:
        for username, role, payee in (("ada", "admin", None), ("ana", "analyst", None), ("rob", "rep", "R2"),
                                      ("ria", "rep", "R1")):
            add_user(ws, username, role, payee_id=payee, actor="setup")
    return folder


@pytest.fixture
def ws(template: Path, tmp_path: Path) -> Iterator[Workspace]:
    with copy_of(template, tmp_path / "ws") as w:
        yield w


def entries(ws: Workspace, after: int = 0) -> list[dict[str, Any]]:
    frame = ws.sql("SELECT seq, occurred_at, actor, action, entity, detail FROM audit_log WHERE seq > ? ORDER BY seq",
                   [after])
    return [{**r, "detail": json.loads(r["detail"])} for r in frame.to_dict("records")]


def head(ws: Workspace) -> int:
    return int(ws.sql("SELECT coalesce(max(seq), 0) AS s FROM audit_log")["s"][0])


def tamper(folder: Path, *statements: str) -> None:
    """Change the database behind the kernel's back, as someone with the file would."""
    con = duckdb.connect(str(folder / DATABASE_FILE))
    try:
        for sql in statements:
            con.execute(sql)
    finally:
        con.close()


def test_every_change_is_recorded_with_who_when_what_and_before_after(ws: Workspace) -> None:
    start = head(ws)
    # import
    ws.load("regions", pd.DataFrame({"region_id": ["APAC"], "name": ["Asia Pacific"]}), actor="ana")
    # sync (the files source; run by whoever is logged in to the machine)
    (ws.path / "exports").mkdir()
    (ws.path / "exports" / "teams.csv").write_text("team_id,name,region_id\nT9,East,APAC\n", "utf-8")
    (ws.path / "exports" / "mapping.yaml").write_text(yaml.safe_dump({"teams": {"files": "teams.csv"}}), "utf-8")
    (ws.path / "sources.yaml").write_text(yaml.safe_dump(
        {"exports": {"type": "files", "folder": "exports", "mapping": "exports/mapping.yaml"}}), "utf-8")
    from spm_kernel.sync import configured_source

    configured_source(ws, "exports").sync(ws, progress=False)
    # plan edit
    edited = REP_PLAN.replace("rate: 0.06", "rate: 0.07")
    ws.save_plan(edited, "rep-plan-v1.yaml", actor="ana")
    # run, close
    ws.calculate("2026-02", actor="ana", progress=False)
    ws.close_period("2026-02", actor="ana")
    # inquiry steps and the adjustment they approve
    line = ws.sql("SELECT line_id FROM payout_lines WHERE payee_id = 'R2'")["line_id"][0]
    dispute = ws.disputes.raise_inquiry(line, "D2 split is wrong", actor="rob")
    ws.disputes.start_review(dispute, actor="ana")
    ws.disputes.resolve(dispute, amount="12.50", resolution="split corrected", actor="ana")
    # role and password changes
    set_role(ws, "ria", "manager", actor="ada")
    set_password(ws, "rob", "a-new-password", actor="ada")

    log = entries(ws, start)
    assert [(e["actor"], e["action"], e["entity"]) for e in log] == [
        ("ana", "import", "table:regions"),
        (default_actor(), "sync", "source:exports"),
        ("ana", "plan_saved", "plan:rep-plan@1"),
        ("ana", "calculate", log[3]["entity"]),
        ("ana", "close_period", "period:2026-02"),
        ("rob", "dispute_raised", f"dispute:{dispute}"),
        ("ana", "dispute_in_review", f"dispute:{dispute}"),
        ("ana", "dispute_resolved", f"dispute:{dispute}"),
        ("ana", "adjustment_approved", f"adjustment:ADJ-{dispute}"),
        ("ada", "user_role_changed", "user:ria"),
        ("ada", "user_password_changed", "user:rob"),
    ]
    assert all(e["occurred_at"] is not None for e in log)
    assert [e["occurred_at"] for e in log] == sorted(e["occurred_at"] for e in log)
    by_action = {e["action"]: e["detail"] for e in log}
    assert by_action["import"]["before"] == {"rows": 2} and by_action["import"]["after"] == {"rows": 3}
    assert by_action["import"]["inserted"] == 1
    assert by_action["sync"]["counts"]["teams"]["inserted"] == 1
    assert by_action["plan_saved"]["before"] == REP_PLAN and by_action["plan_saved"]["after"] == edited
    assert log[3]["entity"] == f"run:{ws.run(period='2026-02').run_id}"
    assert by_action["dispute_resolved"]["amount"] == "12.50"
    assert by_action["dispute_in_review"]["from"] == "open" and by_action["dispute_in_review"]["to"] == "in_review"
    assert by_action["user_role_changed"]["before"]["role"] == "rep"
    assert by_action["user_role_changed"]["after"]["role"] == "manager"
    assert "password_hash" not in json.dumps(by_action["user_password_changed"])
    assert "argon2" not in ws.sql("SELECT string_agg(detail, '') AS d FROM audit_log")["d"][0]
    assert verify_audit(ws.con).ok


def test_a_refused_change_leaves_no_entry(ws: Workspace) -> None:
    start = head(ws)
    with pytest.raises(ImportValidationError):
        ws.load("regions", pd.DataFrame({"region_id": ["X"], "name": [None]}), actor="ana")
    with ws.as_user("rob") as rob, pytest.raises(PermissionDenied):
        rob.calculate("2026-02", progress=False)
    with pytest.raises(Exception):  # noqa: B017 - an invalid plan is refused whole
        ws.save_plan(REP_PLAN.replace("application: step", "application: sideways"), "rep-plan-v1.yaml", actor="ana")
    assert (ws.plans_dir / "rep-plan-v1.yaml").read_text() == REP_PLAN
    assert head(ws) == start
    with pytest.raises(ReadOnlyQueryError):
        ws.sql("DELETE FROM audit_log WHERE seq = 1")


def test_verify_finds_an_edited_entry(ws: Workspace, tmp_path: Path) -> None:
    ws.calculate("2026-02", actor="ana", progress=False)
    assert verify_audit(ws.con).ok
    folder = ws.path
    ws.close()
    tamper(folder, "UPDATE audit_log SET actor = 'someone-else' WHERE seq = 3")
    with open_workspace(folder) as again:
        report = verify_audit(again.con)
    assert not report.ok
    assert [(p.seq, "edited" in p.problem) for p in report.problems] == [(3, True)]


def test_verify_finds_a_deleted_entry_and_a_reforged_chain(ws: Workspace) -> None:
    folder = ws.path
    total = head(ws)
    ws.close()
    tamper(folder, "DELETE FROM audit_log WHERE seq = 4")
    with open_workspace(folder) as again:
        report = verify_audit(again.con)
    assert {p.seq for p in report.problems} == {5}
    assert any("missing" in p.problem for p in report.problems)
    assert any("link" in p.problem for p in report.problems)

    # A forger who rewrites entry 2 and recomputes its hash still breaks entry 3's link.
    with open_workspace(folder) as again:
        row = again.con.execute("SELECT prev_hash, seq, occurred_at, actor, action, entity FROM audit_log "
                                "WHERE seq = 2").fetchall()[0]
    forged_detail = json.dumps({"note": "nothing happened"})
    forged_hash = entry_hash(row[0], 2, row[2], row[3], row[4], row[5], forged_detail)
    tamper(folder, f"UPDATE audit_log SET detail = '{forged_detail}', hash = '{forged_hash}' WHERE seq = 2")
    with open_workspace(folder) as again:
        report = verify_audit(again.con)
    assert {p.seq for p in report.problems} == {3, 5}
    assert total >= 5


def test_deleting_the_newest_entries_is_caught_by_an_anchor(ws: Workspace) -> None:
    folder = ws.path
    report = verify_audit(ws.con)
    anchor = (report.head_seq, report.head_hash)
    assert report.head_seq == head(ws) and len(report.head_hash) == 64 and report.head_hash != GENESIS
    ws.close()
    tamper(folder, f"DELETE FROM audit_log WHERE seq = {anchor[0]}")
    with open_workspace(folder) as again:
        assert verify_audit(again.con).ok  # a shorter chain is still a valid chain ...
        late = verify_audit(again.con, anchor=anchor)  # ... but not the one that was anchored
    assert not late.ok and "deleted" in late.problems[0].problem


def test_spm_audit_verify_head_and_log_on_the_command_line(ws: Workspace) -> None:
    folder = ws.path
    ws.close()
    runner = CliRunner()
    ok = runner.invoke(build_app(), ["audit", "verify", "-w", str(folder)])
    assert ok.exit_code == 0, ok.output
    assert "audit log intact" in ok.output
    pinned = runner.invoke(build_app(), ["audit", "head", "-w", str(folder)]).output.strip()
    log = runner.invoke(build_app(), ["audit", "log", "-w", str(folder), "--action", "user_added"])
    assert log.exit_code == 0 and "user:rob" in log.output and "setup" in log.output
    tamper(folder, "UPDATE audit_log SET detail = '{}' WHERE seq = 2")
    bad = runner.invoke(build_app(), ["audit", "verify", "-w", str(folder), "--anchor", pinned])
    assert bad.exit_code == 1
    assert "TAMPERED" in bad.output and "entry 2:" in bad.output


def test_spm_users_commands_are_audited(ws: Workspace) -> None:
    folder = ws.path
    ws.close()
    runner = CliRunner()
    add = runner.invoke(build_app(), ["users", "add", "fin", "--role", "finance", "--password-stdin",
                                      "--actor", "ada", "-w", str(folder)], input="finance-secret\n")
    assert add.exit_code == 0, add.output
    change = runner.invoke(build_app(), ["users", "set-role", "fin", "analyst", "--actor", "ada", "-w", str(folder)])
    assert change.exit_code == 0 and "fin is now analyst" in change.output
    listing = runner.invoke(build_app(), ["users", "list", "-w", str(folder)])
    assert "fin" in listing.output and "analyst" in listing.output and "argon2" not in listing.output
    refused = runner.invoke(build_app(), ["users", "add", "x", "--role", "rep", "-w", str(folder)])
    assert refused.exit_code == 1 and "linked to their payee" in refused.output
    with open_workspace(folder, read_only=True) as again:
        log = entries(again)
        assert [(e["actor"], e["action"]) for e in log[-2:]] == [("ada", "user_added"), ("ada", "user_role_changed")]
        from spm_kernel.auth.users import authenticate

        assert authenticate(again, "fin", "finance-secret") is not None
        assert verify_audit(again.con).ok
