"""What planning raises and warns."""

from __future__ import annotations

from spm_kernel.errors import SPMError


class PlanningError(SPMError):
    """A planning request that cannot be carried out as asked; the message says why."""


class PlanningWarning(UserWarning):
    """Planning did something other than what was asked (a fallback); the message says what."""
