"""The audit log: who did what to which entity, when, with the state before and after.

Append-only and hash-chained. Row ``seq`` (1, 2, 3, ... without gaps) stores ``prev_hash``,
the hash of row ``seq - 1`` (64 zeros for the first), and ``hash``, the SHA-256 of its own
content and that link (:func:`entry_hash`). Editing any field of a row breaks its hash;
deleting a row leaves a gap in ``seq`` and breaks the next row's link; re-hashing an edited
row breaks the next row's link, and so on to the end. :func:`verify_audit` (``spm audit
verify``) finds each such break. Deleting the *last* rows leaves a shorter but valid chain:
to detect that too, record the head (``spm audit head``) somewhere else and pass it to
``verify_audit(anchor=...)`` / ``spm audit verify --anchor SEQ:HASH``.

:func:`append_audit` appends inside the caller's transaction, so an entry exists exactly
when the change it records was committed. Every write path of the kernel calls it: imports
(``import``), syncs (``sync``), plan edits (``plan_saved``), runs (``calculate``), closes
(``close_period``), dispute steps and adjustments (``dispute_*``, ``adjustment_approved``),
quota sets (``*_quota_set``) and users and roles (``user_*``).
"""

from __future__ import annotations

import getpass
import hashlib
import json
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

import duckdb
import pandas as pd

GENESIS = "0" * 64


def now() -> datetime:
    """The current UTC time without tzinfo (how TIMESTAMP columns are stored)."""
    return datetime.now(timezone.utc).replace(tzinfo=None)


def default_actor() -> str:
    """Who is acting when no signed-in user is given: the operating-system login name."""
    try:
        return getpass.getuser()
    except Exception:  # noqa: BLE001 - no login name in some containers
        return "unknown"


def current_actor(ws: Any) -> str:
    """Who is acting on ``ws``: the signed-in user while a scoped workspace writes through it
    (:mod:`spm_kernel.auth.scoped` sets ``ws._acting_user``), else :func:`default_actor`."""
    return getattr(ws, "_acting_user", None) or default_actor()


def entry_hash(prev: str, seq: int, when: datetime, actor: str, action: str, entity: str, body: str) -> str:
    """The SHA-256 (hex) of one entry's content and its link to the previous entry."""
    return hashlib.sha256(
        "\x1f".join([prev, str(seq), when.isoformat(), actor, action, entity, body]).encode()
    ).hexdigest()


def append_audit(con: duckdb.DuckDBPyConnection, actor: str, action: str, entity: str,
                 detail: dict[str, Any] | None = None, at: datetime | None = None) -> int:
    """Append one audit row and return its sequence number."""
    if not actor:
        raise ValueError("an audit entry needs an actor (who made the change)")
    last = con.execute("SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1").fetchall()
    seq, prev = (int(last[0][0]) + 1, str(last[0][1])) if last else (1, GENESIS)
    when = at or now()
    body = json.dumps(detail or {}, sort_keys=True, default=str)
    digest = entry_hash(prev, seq, when, actor, action, entity, body)
    con.execute("INSERT INTO audit_log VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                [seq, when, actor, action, entity, body, prev, digest])
    return seq


@dataclass(frozen=True)
class AuditProblem:
    """One break in the chain: the entry (``seq``) and what is wrong with it."""

    seq: int
    problem: str

    def __str__(self) -> str:
        return f"entry {self.seq}: {self.problem}"


@dataclass(frozen=True)
class AuditReport:
    """What :func:`verify_audit` found: entries checked, the head, and every problem."""

    entries: int
    head_seq: int
    head_hash: str
    problems: tuple[AuditProblem, ...]

    @property
    def ok(self) -> bool:
        return not self.problems

    def __str__(self) -> str:
        if self.ok:
            return f"audit log intact: {self.entries} entries, head {self.head_seq}:{self.head_hash}"
        lines = [f"audit log TAMPERED: {len(self.problems)} problem(s) in {self.entries} entries"]
        lines += [f"  {p}" for p in self.problems[:50]]
        if len(self.problems) > 50:
            lines.append(f"  ... and {len(self.problems) - 50} more")
        return "\n".join(lines)


def verify_audit(con: duckdb.DuckDBPyConnection, anchor: tuple[int, str] | None = None) -> AuditReport:
    """Recompute the chain and report every edited, inserted, deleted or re-ordered entry.

    ``anchor=(seq, hash)``: a head recorded earlier; the entry ``seq`` must still exist with
    that hash (catches deleting the newest entries)."""
    rows = con.execute("SELECT seq, occurred_at, actor, action, entity, detail, prev_hash, hash "
                       "FROM audit_log ORDER BY seq").fetchall()
    problems: list[AuditProblem] = []
    prev, expected_seq = GENESIS, 1
    for seq, when, actor, action, entity, detail, prev_hash, digest in rows:
        seq = int(seq)
        if seq != expected_seq:
            missing = f"entries {expected_seq}..{seq - 1} are missing" if seq > expected_seq else "duplicated or out of order"
            problems.append(AuditProblem(seq, f"sequence jumps from {expected_seq - 1} to {seq}: {missing}"))
        if prev_hash != prev:
            problems.append(AuditProblem(seq, "its link to the previous entry does not match (an entry before it "
                                              "was edited or deleted)"))
        if entry_hash(str(prev_hash), seq, when, str(actor), str(action), str(entity), str(detail or "")) != digest:
            problems.append(AuditProblem(seq, "its content does not match its hash (the entry was edited)"))
        prev, expected_seq = str(digest), seq + 1
    head_seq = int(rows[-1][0]) if rows else 0
    if anchor is not None:
        a_seq, a_hash = anchor
        found = [r for r in rows if int(r[0]) == a_seq]
        if not found:
            problems.append(AuditProblem(a_seq, f"the anchored entry is gone (the log ends at {head_seq}): "
                                                "the newest entries were deleted"))
        elif found[0][7] != a_hash:
            problems.append(AuditProblem(a_seq, "its hash differs from the anchored hash (the chain was rewritten)"))
    return AuditReport(len(rows), head_seq, prev if rows else GENESIS, tuple(problems))


def audit_entries(con: duckdb.DuckDBPyConnection, entity: str | None = None, action: str | None = None,
                  actor: str | None = None, limit: int | None = None) -> pd.DataFrame:
    """Audit entries, newest first, optionally of one entity, action or actor (``detail`` as text)."""
    sql = ("SELECT seq, occurred_at, actor, action, entity, detail FROM audit_log "
           "WHERE (? IS NULL OR entity = ?) AND (? IS NULL OR action = ?) AND (? IS NULL OR actor = ?) "
           "ORDER BY seq DESC" + (f" LIMIT {int(limit)}" if limit else ""))
    return con.execute(sql, [entity, entity, action, action, actor, actor]).df()
