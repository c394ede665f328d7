"""Roles and what each may do.

Five roles (the ``users.role`` column):

========== ==================================================== ===========================
role       sees                                                 may change
========== ==================================================== ===========================
admin      everything                                           everything, users and roles
analyst    everything (a compensation analyst)                  imports, syncs, plans, runs,
                                                                closes, adjustments, dispute
                                                                reviews, quota sets
finance    everything, read only                                nothing
manager    their subtree of payees, as of the scope date        raise inquiries on lines of
                                                                their subtree
rep        their own rows                                       raise inquiries on their
                                                                own lines
========== ==================================================== ===========================

:func:`require` is the single check every write path of a scoped workspace goes through; it
raises :class:`~spm_kernel.errors.PermissionDenied` naming the user, the role and the action.
"""

from __future__ import annotations

from dataclasses import dataclass

from spm_kernel.errors import PermissionDenied

ROLES: tuple[str, ...] = ("admin", "analyst", "finance", "manager", "rep")
PAYEE_ROLES: frozenset[str] = frozenset({"manager", "rep"})  # scoped to a payee subtree
ALL_ROWS_ROLES: frozenset[str] = frozenset({"admin", "analyst", "finance"})

# action -> roles allowed to perform it
PERMISSIONS: dict[str, frozenset[str]] = {
    "import": frozenset({"admin", "analyst"}),
    "sync": frozenset({"admin", "analyst"}),
    "plan_edit": frozenset({"admin", "analyst"}),
    "calculate": frozenset({"admin", "analyst"}),
    "close_period": frozenset({"admin", "analyst"}),
    "adjustment": frozenset({"admin", "analyst"}),
    "dispute_raise": frozenset({"admin", "analyst", "manager", "rep"}),
    "dispute_review": frozenset({"admin", "analyst"}),
    "quota_set_edit": frozenset({"admin", "analyst"}),
    "training_edit": frozenset({"admin", "analyst"}),
    "training_complete": frozenset({"admin", "analyst", "manager", "rep"}),
    "manage_users": frozenset({"admin"}),
    "raw_connection": frozenset({"admin", "analyst"}),
    "read_audit_log": frozenset({"admin", "analyst", "finance"}),
}


@dataclass(frozen=True)
class User:
    """A signed-in person: ``username``, ``role`` and, for a manager or rep, ``payee_id``."""

    username: str
    role: str
    payee_id: str | None = None
    display_name: str | None = None

    @property
    def sees_all_rows(self) -> bool:
        return self.role in ALL_ROWS_ROLES

    def can(self, action: str) -> bool:
        """Whether this user's role allows ``action`` (a key of :data:`PERMISSIONS`)."""
        return self.role in PERMISSIONS[action]

    def __str__(self) -> str:
        return f"{self.username} ({self.role})"


def require(user: User, action: str, what: str | None = None) -> None:
    """Raise :class:`PermissionDenied` unless ``user`` may perform ``action``."""
    if action not in PERMISSIONS:
        raise KeyError(f"unknown action {action!r}; known: {', '.join(sorted(PERMISSIONS))}")
    if not user.can(action):
        allowed = ", ".join(r for r in ROLES if r in PERMISSIONS[action])
        target = f" ({what})" if what else ""
        raise PermissionDenied(
            f"user {user.username!r} (role {user.role}) may not {action.replace('_', ' ')}{target}; "
            f"that needs one of the roles: {allowed}")
