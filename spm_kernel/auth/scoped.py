"""``ws.as_user(user)``: the workspace as one signed-in user may see and change it.

Contracts:

* **Reads are filtered in the kernel.** For a manager, rep or finance user, every read
  (``table``, ``sql``, ``count``, ``summary``, ``metrics``, ``run`` and its explanations,
  ``statement`` and its exports, ``compare``, disputes, quota sets, and ``con`` itself) runs
  against a sandbox holding only the rows the user may see (:mod:`spm_kernel.auth.scope`),
  so no SQL can reach other rows. Admins and analysts see every row of the real workspace.
* **Writes are checked against the role** (:mod:`spm_kernel.auth.roles`) before anything
  is touched and raise :class:`~spm_kernel.errors.PermissionDenied`; an allowed write goes
  to the real workspace with the user as its actor (an ``actor=`` naming someone else is
  refused), and the sandbox is rebuilt afterwards.
* **Deny by default.** :data:`SCOPE_RULES` names every public attribute of
  :class:`~spm_kernel.workspace.Workspace` and how it is scoped; an attribute without a rule
  raises PermissionDenied (a test fails when a new Workspace API has no rule).
* The sandbox is a snapshot taken when the scoped workspace is made (or ``refresh()``\\ ed);
  the manager's subtree is the hierarchy in force on ``as_of`` (default: today).
"""

from __future__ import annotations

from datetime import date
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any, ClassVar

import pandas as pd

from spm_kernel.auth.roles import User, require
from spm_kernel.auth.scope import build_sandbox, visible_payees
from spm_kernel.errors import PermissionDenied

if TYPE_CHECKING:
    from spm_kernel.workspace import Workspace

READ = "read: runs against the user's rows only"
WRITE = "write: checked against the role, actor forced to the user"
META = "metadata: no row-level data"


class ScopedWorkspace:
    """A :class:`~spm_kernel.workspace.Workspace` seen by one user; make it with
    ``ws.as_user(username)``. Use as a context manager, or call ``close()`` (the real
    workspace stays open)."""

    SCOPE_RULES: ClassVar[dict[str, str]] = {
        "path": META, "config": META, "plugins": META, "registry": META, "plans_dir": META,
        "schema_version": META, "read_only": META,
        "con": "read: the sandbox connection (admin/analyst: the real one)",
        "table": READ, "sql": READ, "count": READ, "summary": READ, "metrics": READ, "run": READ,
        "compare": READ, "statement": READ + "; another payee's is refused",
        "disputes": "read and write: see ScopedDisputes",
        "quota_sets": "read and write: see ScopedQuotaSets",
        "training": "read and write: see ScopedTraining",
        "load": WRITE, "calculate": WRITE, "close_period": WRITE, "save_plan": WRITE,
        "as_user": "admin only: another user's view",
        "close": "closes the sandbox only",
    }

    def __init__(self, real: Workspace, user: User, as_of: date | None = None) -> None:
        self._real = real
        self.user = user
        self.as_of = as_of or date.today()
        self._box: Workspace | None = None
        self.visible_payees: frozenset[str] | None = None
        self.refresh()

    # ---- the view ----
    @property
    def _sandboxed(self) -> bool:
        return self.user.role in ("finance", "manager", "rep")

    def refresh(self) -> None:
        """Re-read the user's rows (the hierarchy, and everything else) from the workspace."""
        from spm_kernel.workspace import Workspace

        payees = visible_payees(self._real.con, self.user, self.as_of)
        self.visible_payees = None if payees is None else frozenset(payees)
        old = self._box
        if self._sandboxed:
            con = build_sandbox(self._real, self.user, payees)
            self._box = Workspace(self._real.path, con, self._real.config, self._real.plugins, read_only=True)
        else:
            self._box = None
        if old is not None:
            old.close()

    @property
    def _view(self) -> Workspace:
        return self._box if self._box is not None else self._real

    def can_see_payee(self, payee_id: str) -> bool:
        return self.visible_payees is None or str(payee_id) in self.visible_payees

    def _actor(self, actor: str | None) -> str:
        """The user's username; ``actor`` may be None, the username or the user's payee id."""
        if actor is not None and actor not in (self.user.username, self.user.payee_id):
            raise PermissionDenied(f"user {self.user.username!r} cannot act as {actor!r}")
        return self.user.username

    # ---- metadata ----
    @property
    def path(self) -> Path:
        return self._real.path

    @property
    def config(self) -> Any:
        return self._real.config

    @property
    def plugins(self) -> Any:
        return self._real.plugins

    @property
    def registry(self) -> Any:
        return self._real.registry

    @property
    def plans_dir(self) -> Path:
        return self._real.plans_dir

    @property
    def schema_version(self) -> int:
        return self._real.schema_version

    @property
    def read_only(self) -> bool:
        return self._real.read_only or self.user.role == "finance"

    @property
    def con(self) -> Any:
        """The sandbox's connection (only the user's rows); the real one for admin/analyst."""
        if self._box is None:
            require(self.user, "raw_connection")
        return self._view.con

    # ---- reading ----
    def table(self, name: str) -> pd.DataFrame:
        frame = self._view.table(name)
        if name == "users" and "password_hash" in frame.columns:
            frame["password_hash"] = None
        return frame

    def sql(self, query: str, params: list[Any] | dict[str, Any] | None = None) -> pd.DataFrame:
        return self._view.sql(query, params)

    def count(self, name: str) -> int:
        return self._view.count(name)

    def summary(self) -> pd.DataFrame:
        return self._view.summary()

    def metrics(self, names: str | list[str] | None = None, by: str = "company", period: Any = None,
                **query: Any) -> pd.DataFrame:
        return self._view.metrics(names, by=by, period=period, **query)

    def run(self, run_id: str | None = None, *, period: str | None = None) -> Any:
        return self._view.run(run_id, period=period)

    def compare(self, plan_a: Any, plan_b: Any, periods: Any, **options: Any) -> Any:
        return self._view.compare(plan_a, plan_b, periods, **options)

    def statement(self, payee: str, period: str) -> Any:
        if not self.can_see_payee(payee):
            raise PermissionDenied(f"user {self.user.username!r} ({self.user.role}) may not see payee "
                                   f"{payee!r}'s statement")
        return self._view.statement(payee, period)

    @property
    def disputes(self) -> ScopedDisputes:
        return ScopedDisputes(self)

    @property
    def quota_sets(self) -> ScopedQuotaSets:
        return ScopedQuotaSets(self)

    # ---- writing ----
    @property
    def training(self) -> ScopedTraining:
        return ScopedTraining(self)

    def _write(self, action: str, what: str, call: Any) -> Any:
        require(self.user, action, what)
        self._real._acting_user = self.user.username  # type: ignore[attr-defined] # audited as the user
        try:
            result = call()
        finally:
            self._real._acting_user = None  # type: ignore[attr-defined]
        self.refresh()
        return result

    def load(self, table: str, data: Any, source: str | None = None, extra: str = "error") -> Any:
        return self._write("import", f"into {table}",
                           lambda: self._real.load(table, data, source=source, extra=extra, actor=self.user.username))

    def calculate(self, period: str, *, actor: str | None = None, progress: bool = True, executor: Any = None) -> Any:
        who = self._actor(actor)
        return self._write("calculate", str(period), lambda: self._real.calculate(
            period, actor=who, progress=progress, executor=executor))

    def close_period(self, period: str, *, actor: str | None = None, force: bool = False) -> Any:
        who = self._actor(actor)
        return self._write("close_period", str(period), lambda: self._real.close_period(period, actor=who, force=force))

    def save_plan(self, plan: str | Path, file_name: str | None = None, *, actor: str | None = None) -> Path:
        who = self._actor(actor)
        return self._write("plan_edit", str(file_name or plan)[:80],
                           lambda: self._real.save_plan(plan, file_name, actor=who))

    def as_user(self, user: str | User, as_of: date | None = None) -> ScopedWorkspace:
        require(self.user, "manage_users", "view the workspace as another user")
        return self._real.as_user(user, as_of=as_of)

    # ---- lifecycle ----
    def close(self) -> None:
        if self._box is not None:
            self._box.close()
            self._box = None

    def __enter__(self) -> ScopedWorkspace:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    def __getattr__(self, name: str) -> Any:
        from spm_kernel.workspace import Workspace

        if not name.startswith("_") and hasattr(Workspace, name):
            raise PermissionDenied(f"ws.{name} has no scope rule yet, so it is refused on a scoped workspace "
                                   f"(user {self.user.username!r})")
        raise AttributeError(name)

    def __repr__(self) -> str:
        return f"<ScopedWorkspace {self._real.config.name!r} as {self.user}>"


class ScopedDisputes:
    """``ws.disputes`` of a scoped workspace: reads on the user's rows; raising an inquiry on a
    visible line (reps, managers, analysts, admins); reviewing, resolving and rejecting
    (analysts, admins)."""

    RULES: ClassVar[dict[str, str]] = {
        "get": READ, "list": READ, "history": READ + " (of a visible dispute)",
        "raise_inquiry": WRITE + " (a visible line)", "start_review": WRITE, "reject": WRITE, "resolve": WRITE,
    }

    def __init__(self, scoped: ScopedWorkspace) -> None:
        self._s = scoped
        self._read = scoped._view.disputes

    def get(self, dispute_id: str) -> dict[str, Any]:
        return self._read.get(dispute_id)

    def list(self, status: str | None = None, payee_id: str | None = None) -> pd.DataFrame:
        return self._read.list(status=status, payee_id=payee_id)

    def history(self, dispute_id: str) -> pd.DataFrame:
        self._read.get(dispute_id)  # an invisible dispute is "no dispute" here
        return self._s._real.disputes.history(dispute_id)

    def raise_inquiry(self, line_id: str, description: str, *, actor: str | None = None) -> str:
        s = self._s
        who = s._actor(actor)
        require(s.user, "dispute_raise", f"line {line_id}")
        found = s._view.con.execute("SELECT payee_id FROM payout_lines WHERE line_id = ?", [line_id]).fetchall()
        if not found or not s.can_see_payee(found[0][0]):
            raise PermissionDenied(f"user {s.user.username!r} may not raise an inquiry on line {line_id!r}")
        return s._write("dispute_raise", f"line {line_id}",
                        lambda: s._real.disputes.raise_inquiry(line_id, description, actor=who))

    def start_review(self, dispute_id: str, *, actor: str | None = None, note: str = "") -> None:
        who = self._s._actor(actor)
        self._s._write("dispute_review", dispute_id,
                       lambda: self._s._real.disputes.start_review(dispute_id, actor=who, note=note))

    def reject(self, dispute_id: str, *, resolution: str, actor: str | None = None) -> None:
        who = self._s._actor(actor)
        self._s._write("dispute_review", dispute_id,
                       lambda: self._s._real.disputes.reject(dispute_id, resolution=resolution, actor=who))

    def resolve(self, dispute_id: str, *, amount: Any, resolution: str, actor: str | None = None,
                component: str | None = None) -> str:
        who = self._s._actor(actor)
        require(self._s.user, "adjustment", dispute_id)
        return self._s._write("dispute_review", dispute_id, lambda: self._s._real.disputes.resolve(
            dispute_id, amount=amount, resolution=resolution, actor=who, component=component))


class ScopedQuotaSets:
    """``ws.quota_sets`` of a scoped workspace: reads on the user's rows; creating, deleting
    and approving quota sets needs the analyst or admin role."""

    RULES: ClassVar[dict[str, str]] = {
        "list": READ, "get": READ, "in_force": READ, "create": WRITE, "delete": WRITE, "approve": WRITE,
    }

    def __init__(self, scoped: ScopedWorkspace) -> None:
        self._s = scoped
        self._read = scoped._view.quota_sets

    def list(self) -> pd.DataFrame:
        return self._read.list()

    def get(self, quota_set_id: str, version: int | None = None) -> Any:
        return self._read.get(quota_set_id, version)

    def in_force(self, fiscal_year: int | None = None) -> pd.DataFrame:
        return self._read.in_force(fiscal_year)

    def create(self, plan: Any, quota_set_id: str | None = None, name: str | None = None,
               actor: str | None = None) -> Any:
        who = self._s._actor(actor)
        return self._s._write("quota_set_edit", str(quota_set_id or name or "new"), lambda: self._s._real.quota_sets.create(
            plan, quota_set_id=quota_set_id, name=name, actor=who))

    def delete(self, quota_set_id: str, version: int, actor: str | None = None) -> None:
        who = self._s._actor(actor)
        self._s._write("quota_set_edit", quota_set_id,
                       lambda: self._s._real.quota_sets.delete(quota_set_id, version, actor=who))

    def approve(self, quota_set_id: str, version: int | None = None, actor: str | None = None) -> Any:
        who = self._s._actor(actor)
        return self._s._write("quota_set_edit", quota_set_id,
                              lambda: self._s._real.quota_sets.approve(quota_set_id, version, actor=who))


class ScopedTraining:
    """``ws.training`` of a scoped workspace: catalogue, status and effects on the user's rows;
    assigning, importing completions and storing effect estimates need the analyst or admin
    role; recording a completion is allowed for a visible payee (a rep: their own)."""

    RULES: ClassVar[dict[str, str]] = {
        "modules": READ, "module": READ, "paths": READ, "status": READ, "overdue": READ, "counts": READ,
        "kpi_gaps": READ, "effects": READ, "effect": READ + "; store=True is a write",
        "assign": WRITE, "assign_path": WRITE, "import_completions": WRITE,
        "complete": WRITE + " (a visible payee)",
    }

    def __init__(self, scoped: ScopedWorkspace) -> None:
        self._s = scoped
        self._read = scoped._view.training

    def modules(self) -> pd.DataFrame:
        return self._read.modules()

    def module(self, module_id: str) -> dict[str, object]:
        return self._read.module(module_id)

    def paths(self, role: str | None = None) -> pd.DataFrame:
        return self._read.paths(role)

    def status(self, as_of: Any = None, *, manager: str | None = None, payee: str | None = None) -> pd.DataFrame:
        return self._read.status(as_of, manager=manager, payee=payee)

    def overdue(self, as_of: Any = None, *, manager: str | None = None) -> pd.DataFrame:
        return self._read.overdue(as_of, manager=manager)

    def counts(self, as_of: Any = None, *, manager: str | None = None, by: str = "payee_id") -> pd.DataFrame:
        return self._read.counts(as_of, manager=manager, by=by)

    def kpi_gaps(self, metric: str, percentile: float, **kw: Any) -> pd.DataFrame:
        return self._read.kpi_gaps(metric, percentile, **kw)

    def effects(self) -> pd.DataFrame:
        return self._read.effects()

    def effect(self, *, store: bool = False, actor: str | None = None, **settings: Any) -> Any:
        if not store:
            return self._read.effect(**settings)
        who = self._s._actor(actor)
        return self._s._write("training_edit", "store an effect estimate",
                              lambda: self._s._real.training.effect(store=True, actor=who, **settings))

    def assign(self, as_of: Any = None, **kw: Any) -> pd.DataFrame:
        return self._s._write("training_edit", "assign training", lambda: self._s._real.training.assign(as_of, **kw))

    def assign_path(self, payees: list[str], path_id: str, **kw: Any) -> pd.DataFrame:
        return self._s._write("training_edit", f"assign {path_id}",
                              lambda: self._s._real.training.assign_path(payees, path_id, **kw))

    def import_completions(self, path: Any, **kw: Any) -> Any:
        return self._s._write("training_edit", "import completions",
                              lambda: self._s._real.training.import_completions(path, **kw))

    def complete(self, payee_id: str, module_id: str, **kw: Any) -> Any:
        require(self._s.user, "training_complete", f"{payee_id} {module_id}")
        if not self._s.can_see_payee(payee_id):
            raise PermissionDenied(f"user {self._s.user.username!r} may not record training for payee {payee_id!r}")
        return self._s._write("training_complete", f"{payee_id} {module_id}",
                              lambda: self._s._real.training.complete(payee_id, module_id, **kw))
