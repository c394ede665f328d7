"""Trust: users and roles, row-level scope, identity in the apps (see docs/trust.md).

>>> scoped = ws.as_user("ana")            # doctest: +SKIP
>>> scoped.table("payout_lines")          # only the lines ana may see
>>> scoped.calculate("2026-03")           # PermissionDenied unless ana is an analyst or admin
"""

from __future__ import annotations

from datetime import date
from typing import TYPE_CHECKING

from spm_kernel.auth.roles import PERMISSIONS, ROLES, User, require
from spm_kernel.auth.scoped import ScopedDisputes, ScopedQuotaSets, ScopedTraining, ScopedWorkspace
from spm_kernel.errors import PermissionDenied

if TYPE_CHECKING:
    from spm_kernel.workspace import Workspace


def scoped_workspace(ws: Workspace, user: str | User, as_of: date | str | None = None) -> ScopedWorkspace:
    """``ws`` as ``user`` sees it. The role and payee are always read from the ``users`` table
    (a :class:`User` passed in is looked up by its username)."""
    from spm_kernel.auth.users import get_user

    if isinstance(user, ScopedWorkspace):
        raise TypeError("as_user takes a username")
    username = user.username if isinstance(user, User) else str(user)
    day = date.fromisoformat(as_of) if isinstance(as_of, str) else as_of
    return ScopedWorkspace(ws, get_user(ws, username), as_of=day)


__all__ = ["PERMISSIONS", "PermissionDenied", "ROLES", "ScopedDisputes", "ScopedQuotaSets", "ScopedTraining",
           "ScopedWorkspace",
           "User", "require", "scoped_workspace"]
