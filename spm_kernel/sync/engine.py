"""The sync engine: read everything a source offers, then write it in ONE transaction.

A sync has two phases. The *read* phase calls :meth:`DataSource.fetch` and keeps its batches
in memory; nothing is written, so a source that fails half-way (a dropped connection,
refused credentials) leaves the workspace exactly as it was. The *write* phase, in a single
DuckDB transaction:

1. per canonical table, in dependency order (``TABLES``), upserts the batch through the
   importer (:func:`spm_kernel.ingest.load_table`, same validation as ``ws.load``), keyed by
   the table's key, with ``source`` = the configured source and ``source_id`` = the
   record's id there, so running a sync twice changes nothing;
2. a record the importer refuses (a bad value, an unknown reference, a duplicate key, a key
   already owned by another source) is *quarantined*: taken out of the batch, kept in
   ``sync_rejects`` with every reason, and the rest of the batch is imported. Quarantined
   records are offered again on every later sync (a fixed reference lets them in) until one
   imports them or the source sends a newer version;
3. (before the upserts, children first) deletes the records the source reports deleted (an
   opportunity takes its stage history and splits with it) and, for a *complete* batch (a
   full read), this source's records that are no longer there;
4. writes its ``sync_log`` row (counts, watermark) and commits.

Any other error rolls the whole sync back and is recorded as a failed ``sync_log`` row; the
watermark then stays where it was, so the next sync reads the same changes again.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Iterable
from datetime import date, datetime, timezone
from typing import TYPE_CHECKING, Any

import pandas as pd
import pyarrow as pa

from spm_kernel.engine.audit import append_audit, current_actor
from spm_kernel.errors import ImportValidationError
from spm_kernel.ingest.loader import LoadResult, load_table
from spm_kernel.ingest.validate import q
from spm_kernel.store.schema import TABLES, get_table
from spm_kernel.sync.batch import Batch, SourceError, SyncContext, SyncResult, TableCounts, parse_time
from spm_kernel.sync.mapping import as_text
from spm_kernel.workspace import arrow_frame

if TYPE_CHECKING:
    from spm_kernel.extensions import DataSource
    from spm_kernel.workspace import Workspace

MAX_PASSES = 25
# Deleting a parent deletes this source's rows of these child tables that point to it.
CASCADE: dict[str, tuple[tuple[str, str], ...]] = {
    "opportunities": (("opportunity_stage_history", "opportunity_id"),
                      ("opportunity_splits", "opportunity_id")),
}
_ORDER = {spec.name: i for i, spec in enumerate(TABLES)}


class _Restart(Exception):
    """A rule on the merged table failed after rows were written: roll back, try again."""


def _now() -> datetime:
    return datetime.now(timezone.utc).replace(tzinfo=None)


def last_watermark(ws: Workspace, source: str) -> dict[str, str]:
    """Per stream, the watermark of the last successful sync of ``source`` ({} if none)."""
    rows = ws.con.execute(
        "SELECT watermark FROM sync_log WHERE source = ? AND status = 'succeeded' "
        "ORDER BY finished_at DESC, started_at DESC LIMIT 1", [source]).fetchall()
    return json.loads(rows[0][0]) if rows and rows[0][0] else {}


def run_sync(ws: Workspace, source: DataSource, since: datetime | None = None, *,
             full: bool = False, progress: bool = True) -> SyncResult:
    """Bring ``ws`` up to date with the configured ``source``.

    ``since=None`` continues from the watermark of the last successful sync (a full read
    when there is none); a datetime reads changes after it; ``full=True`` reads everything
    and removes this source's records that are gone. Raises what the source raised (a
    :class:`SourceError` for an unreachable system or refused credentials) after recording
    the failed sync; the workspace is then unchanged.
    """
    from tqdm.auto import tqdm

    ws._check_writable()
    name = source.instance or source.name
    source.settings()
    previous = last_watermark(ws, name)
    mode = "full" if full or (since is None and not previous) else "incremental"
    sync_id = uuid.uuid4().hex[:12]
    started, clock = _now(), time.perf_counter()
    since_json = json.dumps({"*": since.isoformat()} if since else ({} if mode == "full" else previous))
    bar = tqdm(desc=f"sync {name}", unit=" records", disable=not progress, leave=False)

    lock = threading.Lock()  # sources may read several streams at once

    def advance(n: int = 0, total: int | None = None) -> None:
        with lock:
            if total:
                bar.total = (bar.total or 0) + total
                bar.refresh()
            if n:
                bar.update(n)

    context = SyncContext(source=name, full=mode == "full", watermarks=previous,
                          override=since if mode == "incremental" else None, advance=advance)
    shown = ws.con.execute("SELECT current_setting('enable_progress_bar')").fetchall()[0][0]
    try:
        batches = list(source.fetch(context))
        bar.set_description(f"sync {name}: writing")
        ws.con.execute("SET enable_progress_bar = false")  # the sync's own bar says it all
        result = _write(ws, name, source.name, sync_id, mode, started, clock, since_json,
                        previous, batches)
    except BaseException as exc:
        _record_failure(ws, name, source.name, sync_id, mode, started, since_json, exc)
        raise
    finally:
        ws.con.execute(f"SET enable_progress_bar = {'true' if shown else 'false'}")
        bar.close()
    for table, counts in result.counts.items():
        if counts.inserted or counts.updated or counts.deleted:
            ws.plugins.hook.spm_after_load(
                ws=ws, table=table,
                result=LoadResult(table, name, counts.read, counts.inserted, counts.updated,
                                  counts.unchanged, sync_id))
    return result


def _record_failure(ws: Workspace, name: str, source_type: str, sync_id: str, mode: str,
                    started: datetime, since_json: str, exc: BaseException) -> None:
    message = f"{type(exc).__name__}: {exc}"[:4000]
    ws.con.execute(
        "INSERT INTO sync_log VALUES (?, ?, ?, ?, 'failed', ?, ?, ?, NULL, 0, 0, 0, 0, 0, 0, NULL, ?)",
        [sync_id, name, source_type, mode, started, _now(), since_json, message])


def _merge_watermarks(previous: dict[str, str], batches: Iterable[Batch]) -> dict[str, str]:
    out = dict(previous)
    for batch in batches:
        if batch.stream and batch.watermark:
            old = out.get(batch.stream)
            if old is None or parse_time(batch.watermark) > parse_time(old):
                out[batch.stream] = batch.watermark
    return out


class _TablePlan:
    """Everything the write phase does to one table."""

    def __init__(self, table: str) -> None:
        self.table = table
        self.frames: list[pd.DataFrame] = []
        self.deleted: set[str] = set()
        self.complete = False
        self.as_of: date | None = None
        self.read = 0
        self.rows = pd.DataFrame()

    def add(self, batch: Batch) -> None:
        if not batch.rows.empty:
            self.frames.append(batch.rows)
        self.deleted.update(str(i) for i in batch.deleted)
        self.complete = self.complete or batch.complete
        self.as_of = batch.as_of or self.as_of
        self.read += batch.records_read if batch.records_read is not None else len(batch.rows) + len(batch.deleted)

    def finish(self) -> None:
        frame = pd.concat(self.frames, ignore_index=True) if self.frames else pd.DataFrame()
        if not frame.empty:
            if "source_id" not in frame.columns:
                raise SourceError(f"rows for {self.table!r} have no 'source_id' column")
            frame["source_id"] = as_text(frame["source_id"])
            frame = frame.drop_duplicates("source_id", keep="last")
            frame = frame[~frame["source_id"].isin(self.deleted)].reset_index(drop=True)
        self.rows = frame


def _plans(batches: list[Batch]) -> list[_TablePlan]:
    plans: dict[str, _TablePlan] = {}
    for batch in batches:
        spec = get_table(batch.table)
        if not spec.importable:
            raise SourceError(f"table {spec.name!r} is written by the engine; a source cannot sync it")
        plans.setdefault(spec.name, _TablePlan(spec.name)).add(batch)
    for plan in plans.values():
        plan.finish()
    return sorted(plans.values(), key=lambda p: _ORDER[p.table])


def _pending_rejects(ws: Workspace, name: str) -> pd.DataFrame:
    return ws.con.execute(
        "SELECT table_name, source_id, any_value(record) AS record FROM sync_rejects "
        "WHERE source = ? AND resolved_at IS NULL GROUP BY table_name, source_id", [name]).df()


def _with_pending(plan: _TablePlan, rows: pd.DataFrame, pending: pd.DataFrame) -> pd.DataFrame:
    """``rows`` plus quarantined records of earlier syncs that this sync does not supersede."""
    mine = pending[pending["table_name"] == plan.table]
    if mine.empty:
        return rows
    offered = plan.rows["source_id"] if not plan.rows.empty else pd.Series([], dtype=object)
    mine = mine[~mine["source_id"].isin(offered) & ~mine["source_id"].isin(plan.deleted)]
    if mine.empty:
        return rows
    retried = pd.DataFrame([json.loads(r) for r in mine["record"]])
    return pd.concat([rows, retried], ignore_index=True)


def _effective_dated(con: Any, name: str, current: pd.DataFrame, as_of: date) -> pd.DataFrame:
    """Reporting lines from the current managers: unchanged lines are left alone, a changed
    one is closed on ``as_of`` and a new one opens then; a payee first seen starts at its
    ``valid_from``."""
    if current.empty:
        return current
    open_rows = arrow_frame(con.sql(
        "SELECT payee_id, CAST(valid_from AS VARCHAR) AS old_from, manager_id AS old_manager, "
        f"source_id AS old_source_id FROM hierarchy WHERE source = '{name.replace(chr(39), chr(39) * 2)}' "
        "AND valid_to IS NULL"))
    cur = current.copy()
    cur["payee_id"] = cur["payee_id"].astype(object).map(str)
    cur["manager_id"] = cur["manager_id"].astype(object).where(cur["manager_id"].notna(), None)
    merged = cur.merge(open_rows, on="payee_id", how="left")
    day = as_of.isoformat()
    is_new = merged["old_from"].isna()
    new_m, old_m = merged["manager_id"].astype(object), merged["old_manager"].astype(object)
    same = ~is_new & ((new_m == old_m) | (new_m.isna() & old_m.isna()))
    changed = ~is_new & ~same
    same_day = changed & (merged["old_from"] >= day)
    later = changed & ~same_day
    base = merged["source_id"].str.split("@").str[0]
    parts = [
        pd.DataFrame({"payee_id": merged.loc[is_new, "payee_id"], "valid_from": merged.loc[is_new, "valid_from"],
                      "valid_to": None, "manager_id": merged.loc[is_new, "manager_id"],
                      "source_id": base[is_new] + "@" + merged.loc[is_new, "valid_from"].astype(str)}),
        pd.DataFrame({"payee_id": merged.loc[same_day, "payee_id"], "valid_from": merged.loc[same_day, "old_from"],
                      "valid_to": None, "manager_id": merged.loc[same_day, "manager_id"],
                      "source_id": merged.loc[same_day, "old_source_id"]}),
        pd.DataFrame({"payee_id": merged.loc[later, "payee_id"], "valid_from": merged.loc[later, "old_from"],
                      "valid_to": day, "manager_id": merged.loc[later, "old_manager"],
                      "source_id": merged.loc[later, "old_source_id"]}),
        pd.DataFrame({"payee_id": merged.loc[later, "payee_id"], "valid_from": day, "valid_to": None,
                      "manager_id": merged.loc[later, "manager_id"], "source_id": base[later] + "@" + day}),
    ]
    return pd.concat([p for p in parts if not p.empty], ignore_index=True) if any(
        not p.empty for p in parts) else current.iloc[0:0]


def _owned_elsewhere(con: Any, table: str, name: str, frame: pd.DataFrame) -> pd.DataFrame:
    """Rows whose key already belongs to a record of another source (never overwritten)."""
    spec = get_table(table)
    if frame.empty or not all(k in frame.columns for k in spec.key):
        return frame.iloc[0:0]
    others = con.execute(f"SELECT count(*) FROM {q(table)} WHERE source <> ?", [name]).fetchall()[0][0]
    if not others:
        return pd.DataFrame({"__pos": [], "source": []})
    keys = frame[list(spec.key)].astype(object).map(lambda v: None if v is None else str(v))
    keys["__pos"] = range(len(frame))
    con.register("__spm_sync_keys", keys)
    try:
        join = " AND ".join(f"CAST(t.{q(k)} AS VARCHAR) = k.{q(k)}" for k in spec.key)
        found = con.execute(
            f"SELECT k.__pos, t.source FROM __spm_sync_keys k JOIN {q(table)} t ON {join} "
            "WHERE t.source <> ?", [name]).df()
    finally:
        con.unregister("__spm_sync_keys")
    return found


def _write(ws: Workspace, name: str, source_type: str, sync_id: str, mode: str, started: datetime,
           clock: float, since_json: str, previous: dict[str, str], batches: list[Batch]) -> SyncResult:
    con = ws.con
    plans = _plans(batches)
    pending = _pending_rejects(ws, name)
    for table in sorted(set(pending["table_name"]) - {p.table for p in plans}):
        plan = _TablePlan(table)  # quarantined records are offered again even if nothing new came
        plan.finish()
        plans.append(plan)
    plans.sort(key=lambda p: _ORDER[p.table])
    watermark = _merge_watermarks(previous, batches)
    rejected: dict[str, dict[str, list[dict[str, Any]]]] = {}  # table -> source_id -> problems
    records: dict[tuple[str, str], dict[str, Any]] = {}
    for _ in range(MAX_PASSES):  # a pass ends early (_Restart) only to quarantine more records
        counts: dict[str, TableCounts] = {}
        con.execute("BEGIN TRANSACTION")
        try:
            deleted = {plan.table: _delete(con, name, plan) for plan in reversed(plans)}
            for plan in plans:
                c = _load_plan(ws, name, plan, pending, rejected, records)
                counts[plan.table] = TableCounts(c.read, c.inserted, c.updated, c.unchanged,
                                                 deleted[plan.table], c.rejected)
            _store_rejects(con, name, sync_id, rejected, records)
            finished = _now()
            result = SyncResult(sync_id, name, mode, "succeeded", counts, watermark,
                                time.perf_counter() - clock)
            con.execute(
                "INSERT INTO sync_log VALUES (?, ?, ?, ?, 'succeeded', ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, NULL)",
                [sync_id, name, source_type, mode, started, finished, since_json, json.dumps(watermark),
                 result.total("read"), result.total("inserted"), result.total("updated"),
                 result.total("unchanged"), result.total("deleted"), result.total("rejected"),
                 json.dumps({t: c.as_dict() for t, c in counts.items()})])
            append_audit(con, current_actor(ws), "sync", f"source:{name}", {  # issue 9: every change audited
                "sync_id": sync_id, "mode": mode, "since": since_json, "watermark": watermark,
                "counts": {t: c.as_dict() for t, c in counts.items()}})
            con.execute("COMMIT")
            return result
        except _Restart:
            con.execute("ROLLBACK")
            continue
        except BaseException:
            con.execute("ROLLBACK")
            raise
    raise SourceError(f"sync of {name!r} gave up after {MAX_PASSES} passes of quarantining records")


def _load_plan(ws: Workspace, name: str, plan: _TablePlan, pending: pd.DataFrame,
               rejected: dict[str, dict[str, list[dict[str, Any]]]],
               records: dict[tuple[str, str], dict[str, Any]]) -> TableCounts:
    con = ws.con
    spec = get_table(plan.table)
    frame = plan.rows
    if plan.as_of is not None:
        frame = _effective_dated(con, name, frame, plan.as_of)
    frame = _with_pending(plan, frame, pending)
    bad = rejected.setdefault(plan.table, {})
    if not frame.empty and bad:
        frame = frame[~frame["source_id"].isin(bad)].reset_index(drop=True)
    owned = _owned_elsewhere(con, plan.table, name, frame)
    if not owned.empty:
        for pos, other in owned.itertuples(index=False):
            _reject(plan.table, frame.iloc[int(pos)], None, None,
                    f"its key is already owned by a record of source {other!r}", rejected, records)
        frame = frame.drop(index=owned["__pos"].astype(int).tolist()).reset_index(drop=True)
    result = None
    while not frame.empty:
        try:
            result = load_table(con, spec, frame, ws._read_file, source=name, transaction=False)
            break
        except ImportValidationError as exc:
            errors = exc.errors
            if errors["row"].isna().any():
                raise SourceError(f"source {name!r} sends data that does not fit table {plan.table!r} "
                                  f"(fix its field mapping): {exc}") from None
            positions = errors["row"].astype(int) - 1
            for pos, err in zip(positions, errors.itertuples(index=False)):
                _reject(plan.table, frame.iloc[pos], err.column, err.value, err.reason, rejected, records)
            if getattr(exc, "during_write", False):
                raise _Restart from None
            frame = frame.drop(index=sorted(set(positions))).reset_index(drop=True)
    n_rejected = len(bad)
    if result is None:
        return TableCounts(plan.read, 0, 0, 0, 0, n_rejected)
    return TableCounts(plan.read, result.inserted, result.updated, result.unchanged, 0, n_rejected)


def _reject(table: str, row: pd.Series, column: Any, value: Any, reason: str,
            rejected: dict[str, dict[str, list[dict[str, Any]]]],
            records: dict[tuple[str, str], dict[str, Any]]) -> None:
    source_id = str(row["source_id"])
    problems = rejected.setdefault(table, {}).setdefault(source_id, [])
    problem = {"field": None if pd.isna(column) else str(column),
               "value": None if value is None or (isinstance(value, float) and pd.isna(value)) else str(value),
               "reason": str(reason)}
    if problem not in problems:
        problems.append(problem)
    records[(table, source_id)] = {k: (None if v is None or (isinstance(v, float) and pd.isna(v)) else str(v))
                                   for k, v in row.items()}


def _delete(con: Any, name: str, plan: _TablePlan) -> int:
    """Delete what the source deleted and, for a complete batch, what it no longer has.
    Runs before the upserts, so that a record replaced at the source (a split re-created
    under a new id) never counts twice in a rule on the merged table."""
    table = q(plan.table)
    doomed = set(plan.deleted)
    if plan.complete:  # and this source's records the full read no longer has (an anti-join)
        keep = plan.rows["source_id"] if not plan.rows.empty else pd.Series([], dtype=object)
        con.register("__spm_sync_keep", pa.table({"source_id": pa.array(keep, type=pa.string(), from_pandas=True)}))
        try:
            doomed.update(r[0] for r in con.execute(
                f"SELECT source_id FROM {table} WHERE source = ? AND source_id NOT IN "
                "(SELECT source_id FROM __spm_sync_keep)", [name]).fetchall())
        finally:
            con.unregister("__spm_sync_keep")
    if not doomed:
        return 0
    ids = pa.table({"source_id": pa.array(sorted(doomed), type=pa.string())})
    con.register("__spm_sync_doomed", ids)
    try:
        key = get_table(plan.table).key
        gone = con.execute(
            f"DELETE FROM {table} WHERE source = ? AND source_id IN (SELECT source_id FROM __spm_sync_doomed) "
            f"RETURNING {', '.join(q(k) for k in key)}", [name]).fetchall()
        for child, column in CASCADE.get(plan.table, ()):
            parents = pd.DataFrame({"parent": [r[0] for r in gone]})
            con.register("__spm_sync_parents", parents)
            try:
                con.execute(f"DELETE FROM {q(child)} WHERE source = ? AND {q(column)} IN "
                            "(SELECT parent FROM __spm_sync_parents)", [name])
            finally:
                con.unregister("__spm_sync_parents")
    finally:
        con.unregister("__spm_sync_doomed")
    return len(gone)


def _store_rejects(con: Any, name: str, sync_id: str,
                   rejected: dict[str, dict[str, list[dict[str, Any]]]],
                   records: dict[tuple[str, str], dict[str, Any]]) -> None:
    now = _now()
    # every unresolved record was offered again (or superseded) by this sync: those that are
    # still bad get new rows below
    con.execute("UPDATE sync_rejects SET resolved_at = ?, resolved_by = ? WHERE source = ? AND resolved_at IS NULL",
                [now, sync_id, name])
    rows = [
        (uuid.uuid4().hex[:16], sync_id, name, table, source_id, p["field"], p["value"], p["reason"],
         json.dumps(records[(table, source_id)]), now)
        for table, by_id in rejected.items() for source_id, problems in by_id.items() for p in problems
    ]
    if rows:
        con.executemany("INSERT INTO sync_rejects VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, NULL, NULL)", rows)


def list_rejects(ws: Workspace, source: str | None = None, include_resolved: bool = False) -> pd.DataFrame:
    """Quarantined records with their reasons (unresolved only, unless ``include_resolved``)."""
    where = ["1 = 1"]
    params: list[Any] = []
    if source:
        where.append("source = ?")
        params.append(source)
    if not include_resolved:
        where.append("resolved_at IS NULL")
    return ws.con.execute(
        "SELECT source, table_name, source_id, field, value, reason, rejected_at, sync_id, resolved_at, record "
        f"FROM sync_rejects WHERE {' AND '.join(where)} ORDER BY source, table_name, source_id, field",
        params).df()


def sync_history(ws: Workspace, source: str | None = None) -> pd.DataFrame:
    """The ``sync_log`` rows (newest first), optionally of one source."""
    if source:
        return ws.con.execute("SELECT * FROM sync_log WHERE source = ? ORDER BY started_at DESC", [source]).df()
    return ws.con.execute("SELECT * FROM sync_log ORDER BY started_at DESC").df()
