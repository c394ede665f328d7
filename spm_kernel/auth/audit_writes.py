"""Imports as audited steps: the rows and the audit entry are written in one transaction.

The entry (action ``import``, entity ``table:<name>``) records who, the source, the import
id (its row in ``import_log``), the counts, the input's content hash, and the table's row
count before and after.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd

from spm_kernel.engine.audit import append_audit, current_actor
from spm_kernel.ingest.loader import LoadResult, load_table
from spm_kernel.ingest.validate import q
from spm_kernel.store.schema import TableSpec

if TYPE_CHECKING:
    from spm_kernel.workspace import Workspace


def audited_load(ws: Workspace, spec: TableSpec, data: pd.DataFrame | Path | str, *, source: str | None,
                 extra: str, actor: str | None) -> LoadResult:
    """``load_table`` and its audit entry, all or nothing."""
    con = ws.con
    con.execute("BEGIN TRANSACTION")
    try:
        before = int(con.execute(f"SELECT count(*) FROM {q(spec.name)}").fetchall()[0][0])
        result = load_table(con, spec, data, ws._read_file, source=source, extra=extra, transaction=False)
        after = int(con.execute(f"SELECT count(*) FROM {q(spec.name)}").fetchall()[0][0])
        content = con.execute("SELECT content_hash FROM import_log WHERE import_id = ?",
                              [result.import_id]).fetchall()
        append_audit(con, actor or current_actor(ws), "import", f"table:{spec.name}", {
            "source": result.source, "import_id": result.import_id, "rows_read": result.rows_read,
            "inserted": result.inserted, "updated": result.updated, "unchanged": result.unchanged,
            "content_hash": content[0][0] if content else None,
            "before": {"rows": before}, "after": {"rows": after}})
        con.execute("COMMIT")
    except BaseException:
        con.execute("ROLLBACK")
        raise
    return result
