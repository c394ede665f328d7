"""``ws.save_plan``: a plan edit as one audited step.

The plan text is validated first (a :class:`~spm_kernel.plans.loader.PlanValidationError`
names every problem, and nothing is written). The file in ``plans/`` is then replaced
atomically (written beside it, then renamed) inside the transaction that appends the audit
entry, whose detail holds the file, the plan id and version, and the text and SHA-256 before
and after; if the audit entry cannot be written the old file is put back.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import TYPE_CHECKING

from spm_kernel.engine.audit import append_audit
from spm_kernel.errors import SPMError

if TYPE_CHECKING:
    from spm_kernel.workspace import Workspace


def save_plan(ws: Workspace, plan: str | Path, file_name: str | None = None, *, actor: str) -> Path:
    """Validate ``plan`` (YAML text, or a path to a plan file) and save it as
    ``plans/<file_name>`` (default: the source file's name, else ``<plan_id>_v<version>.yaml``).
    Returns the saved path."""
    from spm_kernel.plans.loader import load_plan_text

    ws._check_writable()
    source = Path(plan) if isinstance(plan, Path) or (isinstance(plan, str) and "\n" not in plan
                                                      and plan.endswith((".yaml", ".yml"))) else None
    text = source.read_text("utf-8") if source is not None else str(plan)
    parsed = load_plan_text(text, ws.registry.plan_types, file=str(source or file_name or "<plan>"))
    name = file_name or (source.name if source is not None else f"{parsed.plan_id}_v{parsed.version}.yaml")
    if Path(name).name != name or not name.endswith((".yaml", ".yml")):
        raise SPMError(f"plan file name {name!r}: a plain file name ending in .yaml")
    ws.plans_dir.mkdir(parents=True, exist_ok=True)
    target = ws.plans_dir / name
    before = target.read_text("utf-8") if target.exists() else None
    staged = target.with_name(f".{name}.saving")
    staged.write_text(text, "utf-8")
    con = ws.con
    con.execute("BEGIN TRANSACTION")
    try:
        append_audit(con, actor, "plan_saved", f"plan:{parsed.plan_id}@{parsed.version}", {
            "file": name, "before": before, "after": text,
            "before_sha256": hashlib.sha256(before.encode()).hexdigest() if before is not None else None,
            "after_sha256": hashlib.sha256(text.encode()).hexdigest()})
        os.replace(staged, target)
        try:
            con.execute("COMMIT")
        except BaseException:
            if before is None:
                target.unlink(missing_ok=True)
            else:
                target.write_text(before, "utf-8")
            raise
    except BaseException:
        staged.unlink(missing_ok=True)
        try:
            con.execute("ROLLBACK")
        except Exception:  # noqa: BLE001 - already rolled back by a failed COMMIT
            pass
        raise
    return target
