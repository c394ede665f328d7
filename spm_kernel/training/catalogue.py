"""The training catalogue: modules (title, skill, format, duration, Markdown content or an
external link) and learning paths (ordered modules for a role).

Both are ordinary importable tables (``training_modules``, ``training_paths``,
``training_path_modules``), loaded with ``ws.load``; this module only reads them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pandas as pd

from spm_kernel.errors import SPMError

if TYPE_CHECKING:
    from spm_kernel.workspace import Workspace


class TrainingError(SPMError):
    """A training request that cannot be met (unknown module, path, rule or payee)."""


def modules(ws: Workspace) -> pd.DataFrame:
    """Every module: module_id, title, skill, format, duration_minutes, content, link."""
    return ws.sql("""SELECT module_id, title, skill, format, duration_minutes, content, link
                     FROM training_modules ORDER BY module_id""")


def module(ws: Workspace, module_id: str) -> dict[str, object]:
    """One module as a dict; :class:`TrainingError` if there is none with that id."""
    found = ws.sql("""SELECT module_id, title, skill, format, duration_minutes, content, link
                      FROM training_modules WHERE module_id = ?""", [module_id])
    if found.empty:
        raise TrainingError(f"unknown training module {module_id!r}")
    return found.iloc[0].to_dict()


def paths(ws: Workspace, role: str | None = None) -> pd.DataFrame:
    """Learning paths with their modules in order: path_id, name, role, position, module_id,
    title, duration_minutes. ``role`` keeps the paths for that role and those for every role."""
    return ws.sql("""
        SELECT p.path_id, p.name, p.role, pm.position, pm.module_id, m.title, m.duration_minutes
        FROM training_paths p
        JOIN training_path_modules pm USING (path_id)
        JOIN training_modules m USING (module_id)
        WHERE $role IS NULL OR p.role IS NULL OR p.role = $role
        ORDER BY p.path_id, pm.position, pm.module_id""", {"role": role})


def path_modules(ws: Workspace, path_id: str) -> list[str]:
    """The module ids of ``path_id`` in order; :class:`TrainingError` if the path is unknown
    or has no module."""
    rows = ws.con.execute("SELECT module_id FROM training_path_modules WHERE path_id = ? "
                          "ORDER BY position, module_id", [path_id]).fetchall()
    if not rows:
        raise TrainingError(f"unknown learning path {path_id!r} (or it has no module)")
    return [r[0] for r in rows]


__all__ = ["TrainingError", "module", "modules", "path_modules", "paths"]
