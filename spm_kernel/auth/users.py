"""The ``users`` table: who may sign in, with which role, as which payee.

Every change (add, role change, password change, activation) is one transaction that also
appends an audit entry with who made it and the row before and after (the password hash is
never written to the audit log: only that it changed). Passwords are stored as
``jupyter_server.auth.passwd`` hashes (argon2), checked with ``passwd_check``.

A manager or rep must name an existing payee; admins, analysts and finance users may name
one (their own statement) but see every row regardless.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

import pandas as pd

from spm_kernel.auth.roles import PAYEE_ROLES, ROLES, User
from spm_kernel.engine.audit import append_audit, now
from spm_kernel.errors import SPMError

if TYPE_CHECKING:
    from spm_kernel.workspace import Workspace

_USERNAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$")
PUBLIC_COLUMNS = ("username", "role", "payee_id", "display_name", "active", "created_at", "created_by",
                  "updated_at")


class UserError(SPMError):
    """A user could not be added or changed (bad name, unknown role or payee, duplicate)."""


def hash_password(password: str) -> str:
    """The ``jupyter_server.auth.passwd`` hash of ``password`` (argon2)."""
    from jupyter_server.auth import passwd

    if not password or len(password) < 8:
        raise UserError("a password needs at least 8 characters")
    return str(passwd(password))


def check_password(stored_hash: str | None, password: str) -> bool:
    """Whether ``password`` matches ``stored_hash`` (False when there is no hash)."""
    from jupyter_server.auth import passwd_check

    if not stored_hash or not password:
        return False
    return bool(passwd_check(stored_hash, password))


def _row(ws: Workspace, username: str) -> dict[str, Any] | None:
    rows = ws.con.execute(
        f"SELECT {', '.join(PUBLIC_COLUMNS)}, password_hash FROM users WHERE username = ?", [username]).fetchall()
    if not rows:
        return None
    return dict(zip([*PUBLIC_COLUMNS, "password_hash"], rows[0]))


def _public(row: dict[str, Any] | None) -> dict[str, Any] | None:
    if row is None:
        return None
    return {k: (str(v) if k.endswith("_at") and v is not None else v) for k, v in row.items()
            if k != "password_hash"}


def _check_payee(ws: Workspace, role: str, payee_id: str | None) -> None:
    if role not in ROLES:
        raise UserError(f"unknown role {role!r}; the roles are: {', '.join(ROLES)}")
    if role in PAYEE_ROLES and not payee_id:
        raise UserError(f"a {role} must be linked to their payee (--payee)")
    if payee_id:
        found = ws.con.execute("SELECT count(*) FROM payees WHERE payee_id = ?", [payee_id]).fetchall()[0][0]
        if not found:
            raise UserError(f"no payee {payee_id!r} in this workspace")


def _write(ws: Workspace, actor: str, action: str, username: str, before: dict[str, Any] | None,
           sql: str, params: list[Any], extra: dict[str, Any] | None = None) -> None:
    con = ws.con
    con.execute("BEGIN TRANSACTION")
    try:
        con.execute(sql, params)
        after = _public(_row(ws, username))
        append_audit(con, actor, action, f"user:{username}",
                     {"before": _public(before), "after": after, **(extra or {})})
        con.execute("COMMIT")
    except BaseException:
        con.execute("ROLLBACK")
        raise


def add_user(ws: Workspace, username: str, role: str, *, payee_id: str | None = None,
             password: str | None = None, display_name: str | None = None, actor: str) -> User:
    """Add an active user; raises :class:`UserError` for a bad name, role or payee or a duplicate."""
    ws._check_writable()
    if not _USERNAME.match(username or ""):
        raise UserError(f"username {username!r}: use 1-64 letters, digits, '.', '_', '@' or '-'")
    _check_payee(ws, role, payee_id)
    if _row(ws, username) is not None:
        raise UserError(f"user {username!r} already exists; change it with `spm users set-role`")
    hashed = hash_password(password) if password is not None else None
    at = now()
    _write(ws, actor, "user_added", username, None,
           "INSERT INTO users VALUES (?, ?, ?, ?, ?, true, ?, ?, ?)",
           [username, role, payee_id, display_name, hashed, at, actor, at],
           {"password_set": hashed is not None})
    return User(username, role, payee_id, display_name)


def set_role(ws: Workspace, username: str, role: str, *, payee_id: str | None = None, actor: str) -> User:
    """Change ``username``'s role (and payee, when given); the audit entry holds before and after."""
    ws._check_writable()
    before = _require(ws, username)
    payee = payee_id if payee_id is not None else before["payee_id"]
    _check_payee(ws, role, payee)
    _write(ws, actor, "user_role_changed", username, before,
           "UPDATE users SET role = ?, payee_id = ?, updated_at = ? WHERE username = ?",
           [role, payee, now(), username])
    return get_user(ws, username)


def set_password(ws: Workspace, username: str, password: str, *, actor: str) -> None:
    """Replace ``username``'s password (audited without the hash)."""
    ws._check_writable()
    before = _require(ws, username)
    _write(ws, actor, "user_password_changed", username, before,
           "UPDATE users SET password_hash = ?, updated_at = ? WHERE username = ?",
           [hash_password(password), now(), username])


def set_active(ws: Workspace, username: str, active: bool, *, actor: str) -> None:
    """Allow or stop ``username`` signing in (the row and its history stay)."""
    ws._check_writable()
    before = _require(ws, username)
    _write(ws, actor, "user_activated" if active else "user_deactivated", username, before,
           "UPDATE users SET active = ?, updated_at = ? WHERE username = ?", [active, now(), username])


def _require(ws: Workspace, username: str) -> dict[str, Any]:
    row = _row(ws, username)
    if row is None:
        raise UserError(f"no user {username!r}; add one with `spm users add`")
    return row


def get_user(ws: Workspace, username: str) -> User:
    """The active user ``username``; :class:`UserError` when unknown or deactivated."""
    row = _require(ws, username)
    if not row["active"]:
        raise UserError(f"user {username!r} is deactivated")
    return User(row["username"], row["role"], row["payee_id"], row["display_name"])


def list_users(ws: Workspace) -> pd.DataFrame:
    """Every user (without password hashes), by username."""
    from spm_kernel.workspace import arrow_frame

    return arrow_frame(ws.con.sql(f"SELECT {', '.join(PUBLIC_COLUMNS)}, password_hash IS NOT NULL AS has_password "
                                  "FROM users ORDER BY username"))


def authenticate(ws: Workspace, username: str, password: str) -> User | None:
    """The user when ``username`` is active and ``password`` matches, else None."""
    row = _row(ws, username)
    if row is None or not row["active"] or not check_password(row["password_hash"], password):
        return None
    return User(row["username"], row["role"], row["payee_id"], row["display_name"])
