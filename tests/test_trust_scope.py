"""Roles and row-level access (issue 9, section 1): ``ws.as_user(user)``.

The company is tests/engine_company.py (runs of 2026-02 and 2026-03 with its two plans):
today R1 reports to M2 and R2 to M1 (R1 moved on 2026-02-15), M1 and M2 to VP. Users:
ada admin, ana analyst, fin finance, mia manager (M1), max manager (M2), ria rep (R1),
rob rep (R2). Rob has raised an inquiry on his March line. Deal D2 is shared by R1 (60%)
and R2 (40%): Ria sees the deal and its transactions, but not Rob's split row.

The central test tries every public API of the Workspace as Ria against Rob's data. The
API is enumerated programmatically: a new Workspace (or disputes / quota sets) method
without a scope rule and an attack case here fails the test.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

import spm_kernel.plans  # noqa: F401 - import order: plans before plan types
from spm_kernel.auth import ScopedDisputes, ScopedQuotaSets, ScopedTraining, ScopedWorkspace
from spm_kernel.auth.scope import HIDDEN_TABLES, REFERENCE_TABLES, SPECIAL_FILTERS, table_filter
from spm_kernel.auth.users import add_user
from spm_kernel.engine.disputes import Disputes
from spm_kernel.errors import PermissionDenied, ReadOnlyQueryError, SPMError
from spm_kernel.planning.quota_sets import QuotaSets
from spm_kernel.store.schema import TABLES
from spm_kernel.training import Training
from spm_kernel.workspace import DATABASE_FILE, Workspace, open_workspace
from tests.engine_company import REP_PLAN, build_template_with_plans, copy_of

D = Decimal
USERS = [("ada", "admin", None), ("ana", "analyst", None), ("fin", "finance", None),
         ("mia", "manager", "M1"), ("max", "manager", "M2"), ("ria", "rep", "R1"), ("rob", "rep", "R2")]
PASSWORD = "pw-{}-secret"


def build_trust_company(folder: Path) -> Path:
    """The engine company with two runs, the users above and Rob's open inquiry."""
    build_template_with_plans(folder)
    with open_workspace(folder) as ws:
        ws.calculate("2026-02", actor="setup", progress=False)
        ws.calculate("2026-03", actor="setup", progress=False)
        for username, role, payee in USERS:
            add_user(ws, username, role, payee_id=payee, password=PASSWORD.format(username), actor="setup")
        line = ws.sql("SELECT line_id FROM payout_lines WHERE payee_id = 'R2' AND period_id = '2026-03'")
        ws.disputes.raise_inquiry(line["line_id"][0], "my EUR deal D4 is missing", actor="rob")
    return folder


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_trust_company(tmp_path_factory.mktemp("trust") / "ws")


@pytest.fixture
def ws(template: Path, tmp_path: Path) -> Iterator[Workspace]:
    with copy_of(template, tmp_path / "ws") as w:
        yield w


def _cells(frame: pd.DataFrame) -> set[str]:
    return {str(v) for col in frame.columns for v in frame[col].tolist()}


def _no_rob(frame: pd.DataFrame, where: str) -> None:
    found = _cells(frame) & {"R2", "rob"}
    assert not found, f"{where} shows {found}"


def _snapshot(ws: Workspace) -> dict[str, int]:
    return {spec.name: ws.count(spec.name) for spec in TABLES}


# ---- every public API, as Ria against Rob's data --------------------------------------------
class Ctx:
    def __init__(self, real: Workspace, scoped: ScopedWorkspace) -> None:
        self.real = real
        self.scoped = scoped
        self.rob_line = real.sql("SELECT line_id FROM payout_lines WHERE payee_id = 'R2' "
                                 "AND period_id = '2026-03'")["line_id"][0]
        self.rob_dispute = real.sql("SELECT dispute_id FROM disputes WHERE payee_id = 'R2'")["dispute_id"][0]
        self.run_id = real.sql("SELECT run_id FROM calc_runs WHERE period_id = '2026-03'")["run_id"][0]


def _meta(name: str) -> Callable[[Ctx], None]:
    def attack(c: Ctx) -> None:
        assert getattr(c.scoped, name) == getattr(c.real, name)
    return attack


def _con(c: Ctx) -> None:
    con = c.scoped.con
    assert con is not c.real.con
    assert con.execute("SELECT count(*) FROM payout_lines WHERE payee_id = 'R2'").fetchall()[0][0] == 0
    assert con.execute("SELECT count(*) FROM payout_lines").fetchall()[0][0] == 2
    databases = {r[0] for r in con.execute("SELECT database_name FROM duckdb_databases()").fetchall()}
    assert databases <= {"memory", "system", "temp"}
    with pytest.raises(Exception, match="disabled"):
        con.execute("SELECT * FROM read_blob(?)", [str(c.real.path / DATABASE_FILE)]).fetchall()
    with pytest.raises(Exception, match="disabled"):
        con.execute(f"ATTACH '{c.real.path / DATABASE_FILE}' AS stolen (READ_ONLY)")


def _table(c: Ctx) -> None:
    for spec in TABLES:
        frame = c.scoped.table(spec.name)
        if spec.name == "opportunity_splits":  # the deal Ria shares shows its splits, Rob's 40% too
            assert set(frame["opportunity_id"]) == {"D2"}
            continue
        _no_rob(frame, f"table {spec.name}")
    assert set(c.scoped.table("payout_lines")["payee_id"]) == {"R1"}
    assert list(c.scoped.table("users")["username"]) == ["ria"]
    assert c.scoped.table("users")["password_hash"].isna().all()


def _sql(c: Ctx) -> None:
    s = c.scoped
    assert s.sql("SELECT * FROM payout_lines WHERE payee_id = 'R2'").empty
    assert s.sql("SELECT * FROM main.payout_lines WHERE payee_id = 'R2'").empty
    assert s.sql("SELECT * FROM memory.main.disputes").empty
    assert s.sql("SELECT * FROM credits WHERE payee_id = 'R2' OR source_payee_id = 'R2'").empty
    assert s.sql("WITH x AS (SELECT * FROM payees) SELECT * FROM x WHERE payee_id = 'R2'").empty
    for attempt in (f"SELECT * FROM read_blob('{c.real.path / DATABASE_FILE}')",
                    f"SELECT * FROM read_csv('{c.real.path / 'workspace.yaml'}')",
                    f"SELECT * FROM '{c.real.path / DATABASE_FILE}'"):
        with pytest.raises(Exception):  # noqa: B017 - any refusal will do; no rows may come back
            s.sql(attempt)
    with pytest.raises(ReadOnlyQueryError):
        s.sql(f"ATTACH '{c.real.path / DATABASE_FILE}' AS stolen")
    with pytest.raises(ReadOnlyQueryError):
        s.sql("SET disabled_filesystems = ''")


def _count(c: Ctx) -> None:
    assert c.scoped.count("payout_lines") == 2
    assert c.scoped.count("disputes") == 0
    assert c.scoped.count("payees") == 1


def _summary(c: Ctx) -> None:
    rows = dict(zip(c.scoped.summary()["table_name"], c.scoped.summary()["rows"]))
    assert rows["payout_lines"] == 2 and rows["payees"] == 1 and rows["disputes"] == 0


def _metrics(c: Ctx) -> None:
    frame = c.scoped.metrics(["quota_attainment", "avg_deal_size", "win_rate"], by="payee", period="2026-03")
    assert set(frame["payee_id"]) <= {"R1"}
    company = c.scoped.metrics("avg_deal_size", by="company", period="FY2026")
    real = c.real.metrics("avg_deal_size", by="company", period="FY2026")
    assert company["denominator"].sum() < real["denominator"].sum()  # Rob's D4 is not counted


def _run(c: Ctx) -> None:
    run = c.scoped.run(period="2026-03")
    assert set(run.lines()["payee_id"]) == {"R1"}
    assert set(run.credits()["payee_id"]) == {"R1"}
    assert set(c.scoped.run(c.run_id).totals()["payee_id"]) == {"R1"}
    try:
        explained = run.explain("R2")
    except SPMError:
        pass
    else:
        assert explained.lines.empty and "No payout lines" in str(explained)


def _compare(c: Ctx) -> None:
    result = c.scoped.compare("rep-plan", "mgr-plan", "2026-03")
    assert set(result.by_payee["payee_id"]) == {"R1"}


def _statement(c: Ctx) -> None:
    with pytest.raises(PermissionDenied, match="R2"):
        c.scoped.statement("R2", "2026-03")
    mine = c.scoped.statement("R1", "2026-03")
    assert "R2" not in mine.to_text() and "Rob" not in mine.to_html()


def _disputes(c: Ctx) -> None:
    d = c.scoped.disputes
    assert d.list().empty
    with pytest.raises(SPMError):
        d.get(c.rob_dispute)
    with pytest.raises(SPMError):
        d.history(c.rob_dispute)
    with pytest.raises(PermissionDenied):
        d.raise_inquiry(c.rob_line, "I want Rob's money")
    with pytest.raises(PermissionDenied):
        d.start_review(c.rob_dispute)
    with pytest.raises(PermissionDenied):
        d.reject(c.rob_dispute, resolution="no")
    with pytest.raises(PermissionDenied):
        d.resolve(c.rob_dispute, amount="1.00", resolution="yes")
    with pytest.raises(PermissionDenied):
        d.raise_inquiry(c.real.sql("SELECT line_id FROM payout_lines WHERE payee_id = 'R1'")["line_id"][0],
                        "as rob", actor="rob")


def _quota_sets(c: Ctx) -> None:
    q = c.scoped.quota_sets
    assert q.list().empty and q.in_force().empty
    with pytest.raises(SPMError):
        q.get("FY2026-bookings")
    with pytest.raises(PermissionDenied):
        q.create(None, quota_set_id="X")  # refused before the plan is looked at
    with pytest.raises(PermissionDenied):
        q.approve("X", 1)
    with pytest.raises(PermissionDenied):
        q.delete("X", 1)


def _training(c: Ctx) -> None:
    t = c.scoped.training
    for frame in (t.status(), t.overdue(), t.counts(), t.effects(), t.modules(), t.paths()):
        _no_rob(frame, "training")
    assert t.effects().empty  # stored estimates are not a rep's to read
    for attempt in (lambda: t.complete("R2", "M-1"), lambda: t.assign(), lambda: t.assign_path(["R2"], "P-1"),
                    lambda: t.import_completions(c.real.path / "lms.csv"), lambda: t.effect(store=True)):
        with pytest.raises(PermissionDenied):
            attempt()


def _load(c: Ctx) -> None:
    with pytest.raises(PermissionDenied, match="ria"):
        c.scoped.load("payees", pd.DataFrame({"payee_id": ["R2"], "name": ["Robbed"], "role": ["rep"],
                                              "currency": ["EUR"], "hire_date": ["2020-01-01"]}))


def _calculate(c: Ctx) -> None:
    with pytest.raises(PermissionDenied, match="calculate"):
        c.scoped.calculate("2026-03", progress=False)


def _close_period(c: Ctx) -> None:
    with pytest.raises(PermissionDenied, match="close period"):
        c.scoped.close_period("2026-03", force=True)


def _save_plan(c: Ctx) -> None:
    with pytest.raises(PermissionDenied, match="plan edit"):
        c.scoped.save_plan(REP_PLAN.replace("0.06", "0.60"), "rep-plan-v1.yaml")


def _as_user(c: Ctx) -> None:
    with pytest.raises(PermissionDenied):
        c.scoped.as_user("rob")


def _close(c: Ctx) -> None:
    other = c.real.as_user("ria")
    other.close()
    assert c.real.count("payout_lines") == 8  # the real workspace is still open (4 payees x 2 months)


ATTACKS: dict[str, Callable[[Ctx], None]] = {
    **{name: _meta(name) for name in ("path", "config", "plugins", "registry", "plans_dir", "schema_version")},
    "read_only": lambda c: None, "con": _con, "table": _table, "sql": _sql, "count": _count,
    "summary": _summary, "metrics": _metrics, "run": _run, "compare": _compare, "statement": _statement,
    "disputes": _disputes, "quota_sets": _quota_sets, "training": _training, "load": _load, "calculate": _calculate,
    "close_period": _close_period, "save_plan": _save_plan, "as_user": _as_user, "close": _close,
}


def public_api(ws: Workspace) -> set[str]:
    """Every public attribute of a Workspace: methods and properties of the class, and the
    attributes its instances carry."""
    return {n for n in dir(type(ws)) if not n.startswith("_")} | {n for n in vars(ws) if not n.startswith("_")}


def _public_methods(cls: type) -> set[str]:
    return {n for n, _ in inspect.getmembers(cls, inspect.isfunction) if not n.startswith("_")}


def test_every_workspace_api_has_a_scope_rule_and_an_attack_case(ws: Workspace) -> None:
    api = public_api(ws)
    assert not api - set(ScopedWorkspace.SCOPE_RULES), "Workspace API without a scope rule in ScopedWorkspace"
    assert not api - set(ATTACKS), "Workspace API that the rep-against-rep test does not try"
    assert not _public_methods(Disputes) - set(ScopedDisputes.RULES)
    assert not _public_methods(QuotaSets) - set(ScopedQuotaSets.RULES)
    assert not _public_methods(Training) - set(ScopedTraining.RULES)
    for cls in (ScopedDisputes, ScopedQuotaSets, ScopedTraining):
        assert set(cls.RULES) <= _public_methods(cls)


def test_a_rep_cannot_reach_another_reps_data_through_any_api(ws: Workspace) -> None:
    before = _snapshot(ws)
    files = sorted((p.name, p.read_bytes()) for p in ws.plans_dir.iterdir())
    with ws.as_user("ria") as scoped:
        ctx = Ctx(ws, scoped)
        for name in sorted(public_api(ws)):
            ATTACKS[name](ctx)
    assert _snapshot(ws) == before  # every refused write left the store as it was
    assert sorted((p.name, p.read_bytes()) for p in ws.plans_dir.iterdir()) == files


def test_an_api_without_a_rule_is_refused_at_run_time(ws: Workspace, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(Workspace, "export_everything", lambda self: self.table("payout_lines"), raising=False)
    with ws.as_user("ria") as scoped, pytest.raises(PermissionDenied, match="no scope rule"):
        scoped.export_everything()


def test_every_table_has_a_decision_and_unknown_tables_are_hidden() -> None:
    for spec in TABLES:
        rule = table_filter(spec)
        assert (spec.name in REFERENCE_TABLES) == (rule is None), spec.name
        if spec.name in HIDDEN_TABLES:
            assert rule == "false"
        if spec.name not in SPECIAL_FILTERS and spec.name not in REFERENCE_TABLES and "payee_id" in spec.column_names:
            assert rule == "payee_id IN (SELECT payee_id FROM __spm_scope)"


def test_a_manager_sees_their_subtree_as_of_today(ws: Workspace) -> None:
    with ws.as_user("mia") as mia:  # M1: R2 reports to her today; R1 left her team on 2026-02-15
        assert mia.visible_payees == {"M1", "R2"}
        assert set(mia.table("payout_lines")["payee_id"]) == {"M1", "R2"}
        assert set(mia.table("payees")["payee_id"]) == {"M1", "R2"}
        mia.statement("R2", "2026-03")
        with pytest.raises(PermissionDenied):
            mia.statement("R1", "2026-02")
        assert list(mia.disputes.list()["payee_id"]) == ["R2"]
    with ws.as_user("mia", as_of="2026-02-01") as past:  # before the move, R1 was hers
        assert past.visible_payees == {"M1", "R1", "R2"}
    with ws.as_user("max") as max_:
        assert max_.visible_payees == {"M2", "R1"}
        assert max_.sql("SELECT DISTINCT payee_id FROM payout_lines ORDER BY 1")["payee_id"].tolist() == ["M2", "R1"]


def test_finance_sees_everything_and_changes_nothing(ws: Workspace) -> None:
    before = _snapshot(ws)
    with ws.as_user("fin") as fin:
        assert fin.read_only
        assert fin.count("payout_lines") == ws.count("payout_lines") == 8
        assert fin.table("users")["password_hash"].isna().all()
        assert fin.sql("SELECT count(*) AS n FROM users WHERE password_hash IS NOT NULL")["n"][0] == 0
        assert fin.count("audit_log") == ws.count("audit_log")
        fin.statement("R2", "2026-03")
        for attempt in (lambda: fin.calculate("2026-03", progress=False), lambda: fin.close_period("2026-02"),
                        lambda: fin.load("regions", pd.DataFrame({"region_id": ["X"], "name": ["X"]})),
                        lambda: fin.disputes.raise_inquiry(fin.table("payout_lines")["line_id"][0], "x"),
                        lambda: fin.save_plan(REP_PLAN)):
            with pytest.raises(PermissionDenied, match="finance"):
                attempt()
        fin.con.execute("DELETE FROM payout_lines")  # the sandbox is a private copy ...
    assert _snapshot(ws) == before  # ... so the store is untouched


def test_an_analyst_writes_as_themselves_and_cannot_act_as_someone_else(ws: Workspace) -> None:
    with ws.as_user("ana") as ana:
        assert ana.con is ws.con
        with pytest.raises(PermissionDenied, match="cannot act as"):
            ana.calculate("2026-03", actor="ada", progress=False)
        run = ana.calculate("2026-03", progress=False)
        assert run.created_by == "ana"
        ana.disputes.start_review(ana.disputes.list()["dispute_id"][0])
        with pytest.raises(PermissionDenied, match="manage users"):
            ana.as_user("ria")
    log = ws.sql("SELECT actor, action FROM audit_log ORDER BY seq DESC LIMIT 2")
    assert list(zip(log["actor"], log["action"])) == [("ana", "dispute_in_review"), ("ana", "calculate")]


def test_a_rep_raises_an_inquiry_on_their_own_line_and_sees_it(ws: Workspace) -> None:
    with ws.as_user("ria") as ria:
        line = ria.table("payout_lines").query("period_id == '2026-03'")["line_id"].iloc[0]
        dispute = ria.disputes.raise_inquiry(line, "the refund on D2 was not mine")
        assert list(ria.disputes.list()["dispute_id"]) == [dispute]  # the view was refreshed
        history = ria.disputes.history(dispute)
        assert list(history["actor"]) == ["ria"]
    assert ws.disputes.get(dispute)["raised_by"] == "ria"


def test_admin_sees_all_and_can_view_as_another_user(ws: Workspace) -> None:
    with ws.as_user("ada") as ada:
        assert ada.count("payout_lines") == 8
        with ada.as_user("rob") as rob:
            assert set(rob.table("payout_lines")["payee_id"]) == {"R2"}


def test_unknown_or_deactivated_users_get_no_workspace(ws: Workspace) -> None:
    from spm_kernel.auth.users import set_active

    with pytest.raises(SPMError, match="no user 'eve'"):
        ws.as_user("eve")
    set_active(ws, "rob", False, actor="ada")
    with pytest.raises(SPMError, match="deactivated"):
        ws.as_user("rob")


def test_users_are_validated(ws: Workspace) -> None:
    from spm_kernel.auth.users import UserError, authenticate, set_role

    with pytest.raises(UserError, match="unknown role"):
        add_user(ws, "zed", "superuser", actor="ada")
    with pytest.raises(UserError, match="linked to their payee"):
        add_user(ws, "zed", "rep", actor="ada")
    with pytest.raises(UserError, match="no payee 'NOPE'"):
        add_user(ws, "zed", "rep", payee_id="NOPE", actor="ada")
    with pytest.raises(UserError, match="already exists"):
        add_user(ws, "ria", "rep", payee_id="R1", actor="ada")
    with pytest.raises(UserError, match="8 characters"):
        add_user(ws, "zed", "finance", password="short", actor="ada")
    assert authenticate(ws, "ria", PASSWORD.format("ria")).payee_id == "R1"
    assert authenticate(ws, "ria", "wrong-password") is None
    assert authenticate(ws, "nobody", "whatever-password") is None
    set_role(ws, "ria", "manager", actor="ada")
    with ws.as_user("ria") as ria:  # R1 manages nobody: the same rows, a different role
        assert ria.visible_payees == {"R1"} and ria.user.role == "manager"


def test_app_widgets_read_and_write_as_the_signed_in_user(ws: Workspace, monkeypatch: pytest.MonkeyPatch) -> None:
    """spm_widgets opens the workspace through read_workspace/write_workspace: behind sign-in
    (the prelaunch hook set SPM_USERNAME in the notebook) they hand out ws.as_user(...)."""
    import sys

    from spm_widgets.components import read_workspace, write_workspace

    folder = ws.path
    rob_line = ws.sql("SELECT line_id FROM payout_lines WHERE payee_id = 'R2'")["line_id"][0]
    ria_line = ws.sql("SELECT line_id FROM payout_lines WHERE payee_id = 'R1'")["line_id"][0]
    ws.close()
    with read_workspace(str(folder)) as plain:  # no sign-in: the whole workspace, as before
        assert plain.count("payout_lines") == 8
    monkeypatch.setattr(sys.modules["__main__"], "SPM_USERNAME", "ria", raising=False)
    with read_workspace(str(folder)) as view:
        assert isinstance(view, ScopedWorkspace)
        assert set(view.table("payout_lines")["payee_id"]) == {"R1"}
    with write_workspace(str(folder)) as view:
        with pytest.raises(PermissionDenied):
            view.disputes.raise_inquiry(rob_line, "not mine", actor="R1")
        dispute = view.disputes.raise_inquiry(ria_line, "the statement viewer passes my payee id", actor="R1")
    with open_workspace(folder, read_only=True) as again:
        assert again.disputes.get(dispute)["raised_by"] == "ria"
