"""Appending to the audit log: who did what to which entity, and when.

Each row links to the previous one (``prev_hash``) and carries the SHA-256 of its own content
plus that link (``hash``), so that the engine's records form a chain. Verification and the
rest of the trust features live elsewhere; this module only appends, inside the caller's
transaction.
"""

from __future__ import annotations

import hashlib
import json
from datetime import datetime, timezone
from typing import Any

import duckdb

GENESIS = "0" * 64


def now() -> datetime:
    """The current UTC time without tzinfo (how TIMESTAMP columns are stored)."""
    return datetime.now(timezone.utc).replace(tzinfo=None)


def append_audit(con: duckdb.DuckDBPyConnection, actor: str, action: str, entity: str,
                 detail: dict[str, Any] | None = None, at: datetime | None = None) -> int:
    """Append one audit row and return its sequence number."""
    last = con.execute("SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1").fetchall()
    seq, prev = (int(last[0][0]) + 1, str(last[0][1])) if last else (1, GENESIS)
    when = at or now()
    body = json.dumps(detail or {}, sort_keys=True, default=str)
    digest = hashlib.sha256(
        "\x1f".join([prev, str(seq), when.isoformat(), actor, action, entity, body]).encode()
    ).hexdigest()
    con.execute("INSERT INTO audit_log VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                [seq, when, actor, action, entity, body, prev, digest])
    return seq
