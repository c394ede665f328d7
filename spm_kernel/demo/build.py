"""Writing the demo company into a workspace.

* **Scale 1** (about 200 payees) goes through ``ws.load``, the validated importer, table by
  table in reference order: the demo doubles as a realistic end-to-end test of the import
  path (types, choices, references, split sums, row rules).
* **Larger scales** stream division by division straight into DuckDB: each division's Arrow
  tables are appended with ``INSERT INTO t SELECT ... FROM arrow_chunk`` in one transaction
  per division, so memory holds one division at a time (see :func:`_insert_bulk` for why not
  one transaction for the whole build), with DuckDB's buffer pool capped meanwhile. A failed
  build leaves nothing behind (staging folder, or the open workspace emptied again).
  Row-level validation is skipped there on purpose: the generator produces valid data by
  construction (its first division *is* the scale-1 company, which the importer accepts),
  and the validator's per-cell text parsing would cost minutes on ten million rows. The test
  suite re-imports samples of a bulk build through ``ws.load`` and checks that the
  validator accepts them and finds them identical, and checks key invariants in SQL.

Both paths fill the lineage columns the same way (``source = 'spm demo'``, ``source_id`` =
the key joined with ``|``, ``loaded_at`` = when it was written) and record each table in
``import_log``. A path target is built in a hidden sibling folder and moved into place only
when complete, so an existing workspace is never left half-rebuilt.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Callable
from datetime import datetime, timezone
from functools import partial
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
from tqdm.auto import tqdm

from spm_kernel.config import CONFIG_FILE, WorkspaceConfig, write_config
from spm_kernel.demo import company as co
from spm_kernel.demo.generator import (
    TABLE_ORDER, generate_company_tables, generate_division, tables, vp_quota_table,
)
from spm_kernel.errors import SPMError
from spm_kernel.ingest.loader import LoadResult
from spm_kernel.ingest.validate import q
from spm_kernel.store.schema import TABLES, get_table
from spm_kernel.workspace import DATABASE_FILE, PLANS_DIR, Workspace, open_workspace

MAX_SCALE = 9999
BULK_MEMORY_LIMIT = "1GB"  # DuckDB's buffer pool during a bulk build (it spills beyond it)
_CHUNK_VIEW = "__spm_demo_chunk"


def build_demo(target: str | Path | Workspace, scale: int = 1, seed: int = 7, progress: bool = True,
               force: bool = False, **open_kwargs: Any) -> Workspace:
    """Generate the demo company (Northwind Analytics) and return its open workspace.

    ``target`` is a folder (created if missing) or an open, empty :class:`Workspace`.
    ``scale`` multiplies the company: 1 is about 200 payees through the validated importer;
    N is N divisions (about 205 payees and 215,000 transactions each) bulk-inserted division by
    division. ``seed`` fixes every random draw: the same seed gives identical tables on
    every machine. ``progress`` shows a ``tqdm.auto`` bar.

    A folder that already holds a workspace with data is refused with :class:`SPMError`
    unless ``force=True``, which rebuilds it from scratch: its database, settings and plan
    files are replaced once the new build is complete (other files in the folder are left
    alone). ``open_kwargs`` (``plugins``, ``disable``, ...) are passed to
    :func:`spm_kernel.open` for the workspace returned.
    """
    if not 1 <= scale <= MAX_SCALE:
        raise SPMError(f"scale must be between 1 and {MAX_SCALE}, got {scale}")
    if isinstance(target, Workspace):
        found = _rows_present(target.con)
        if found:
            raise SPMError(f"workspace {target.path} is not empty ({_describe(found)}); the demo is "
                           f"built into an empty workspace, or into a folder with force=True")
        target._check_writable()
        _fill(target, scale, seed, progress)
        return target

    folder = Path(target).expanduser().resolve()
    found = _existing_rows(folder)
    if found and not force:
        raise SPMError(f"{folder} already holds a workspace with data ({_describe(found)}); "
                       f"use --force (force=True) to delete it and rebuild the demo from scratch")
    folder.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{folder.name}.demo-", dir=folder.parent))
    try:
        config = WorkspaceConfig(name=co.COMPANY_NAME, base_currency=co.BASE_CURRENCY)
        with open_workspace(staging, config=config, **open_kwargs) as ws:
            _fill(ws, scale, seed, progress)
            ws.con.execute("CHECKPOINT")
        _move_into(staging, folder)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return open_workspace(folder, **open_kwargs)


def _describe(found: dict[str, int]) -> str:
    total = sum(found.values())
    return f"{total:,} rows in {len(found)} tables"


def _rows_present(con: duckdb.DuckDBPyConnection) -> dict[str, int]:
    """Row counts of the non-empty data tables (the importable canonical tables)."""
    existing = {r[0] for r in con.execute(
        "SELECT table_name FROM information_schema.tables WHERE table_schema = 'main'").fetchall()}
    names = [spec.name for spec in TABLES if spec.importable and spec.name in existing]
    if not names:
        return {}
    counts = con.execute(" UNION ALL ".join(
        f"SELECT '{n}', count(*) FROM {q(n)}" for n in names)).fetchall()
    return {name: int(n) for name, n in counts if n}


def _existing_rows(folder: Path) -> dict[str, int]:
    """Row counts of the non-empty tables of the workspace in ``folder`` ({} if none)."""
    db = folder / DATABASE_FILE
    if not db.exists():
        return {}
    try:
        con = duckdb.connect(str(db), read_only=True)
    except duckdb.Error as exc:
        raise SPMError(f"cannot read the workspace at {folder} (is it open in another process?): {exc}") from None
    try:
        return _rows_present(con)
    finally:
        con.close()


def _move_into(staging: Path, folder: Path) -> None:
    """Replace the workspace files in ``folder`` with the finished build in ``staging``."""
    folder.mkdir(parents=True, exist_ok=True)
    for stale in (folder / f"{DATABASE_FILE}.wal",):
        stale.unlink(missing_ok=True)
    for name in (DATABASE_FILE, CONFIG_FILE, PLANS_DIR):
        src, dst = staging / name, folder / name
        if dst.is_dir() and not dst.is_symlink():
            shutil.rmtree(dst)
        os.replace(src, dst)


def _fill(ws: Workspace, scale: int, seed: int, progress: bool) -> None:
    ws.config = ws.config.model_copy(update={"name": co.COMPANY_NAME, "base_currency": co.BASE_CURRENCY,
                                             "fiscal_year_start_month": 1})
    write_config(ws.path, ws.config)
    if scale == 1:
        _load_validated(ws, seed, progress)
    else:
        _insert_bulk(ws, scale, seed, progress)
    from spm_kernel.demo.compensation import register_demo_plans

    register_demo_plans(ws)  # the plan files (this year's and the proposed one), assigned by role


def _load_validated(ws: Workspace, seed: int, progress: bool) -> None:
    """Scale 1: every table through ``ws.load`` (validated, all-or-nothing per table)."""
    with tqdm(total=len(TABLE_ORDER) + 1, desc="spm demo", unit="table", disable=not progress) as bar:
        bar.set_postfix_str("generating")
        company = tables(seed, 1)
        bar.update(1)
        for name in TABLE_ORDER:
            bar.set_postfix_str(name)
            ws.load(name, company[name].to_pandas(), source=co.SOURCE)
            bar.update(1)


def _append(con: duckdb.DuckDBPyConnection, name: str, table: pa.Table, loaded_at: datetime) -> int:
    spec = get_table(name)
    cols = ", ".join(q(c) for c in table.column_names)
    key = ", ".join(q(k) for k in spec.key)
    con.register(_CHUNK_VIEW, table)
    try:
        con.execute(
            f"INSERT INTO {q(name)} ({cols}, source, source_id, loaded_at) "
            f"SELECT {cols}, ?, concat_ws('|', {key}), ? FROM {_CHUNK_VIEW}", [co.SOURCE, loaded_at])
    finally:
        con.unregister(_CHUNK_VIEW)
    return table.num_rows


def _insert_bulk(ws: Workspace, scale: int, seed: int, progress: bool) -> None:
    """Scale > 1: division by division straight into DuckDB, one transaction per division.

    One transaction for the whole build would keep every uncommitted row and every primary
    key index entry in memory until the end (about 100 MB a division, 5 GB at scale 50);
    committing each division lets DuckDB write it out, so memory stays flat. The build stays
    all or nothing: a folder target is built in a staging folder that is thrown away on
    failure, and an open workspace (empty when the build started) is emptied again.
    """
    con = ws.con
    started = datetime.now(timezone.utc).replace(tzinfo=None)
    counts: Counter[str] = Counter()
    import_ids = {name: uuid.uuid4().hex[:12] for name in TABLE_ORDER}
    director_usd = []

    def write(batch: dict[str, pa.Table]) -> None:
        for name in TABLE_ORDER:
            if name in batch:
                counts[name] += _append(con, name, batch[name], started)

    def finish() -> None:
        counts["quotas"] += _append(con, "quotas", vp_quota_table(director_usd), started)
        finished = datetime.now(timezone.utc).replace(tzinfo=None)
        for name in TABLE_ORDER:
            digest = hashlib.sha256(f"{co.SOURCE} seed={seed} scale={scale} table={name}".encode()).hexdigest()[:16]
            con.execute("INSERT INTO import_log VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                        [import_ids[name], name, co.SOURCE, started, finished, counts[name], counts[name], 0, 0,
                         digest])

    t0 = time.perf_counter()
    limit = con.execute("SELECT current_setting('memory_limit')").fetchall()[0][0]
    bar_setting = con.execute("SELECT current_setting('enable_progress_bar')").fetchall()[0][0]
    con.execute(f"SET memory_limit = '{BULK_MEMORY_LIMIT}'")
    con.execute("SET enable_progress_bar = false")  # our bar, not one per commit from DuckDB
    try:
        with tqdm(total=scale, desc="spm demo", unit="division", disable=not progress) as bar:
            _in_transaction(con, partial(write, generate_company_tables(seed, scale)))
            for index in range(scale):
                division = generate_division(seed, index)
                director_usd.append(division.director_usd)
                _in_transaction(con, partial(write, division.tables))
                del division
                bar.update(1)
                bar.set_postfix(transactions=f"{counts['transactions']:,}",
                                rate=f"{counts['transactions'] / (time.perf_counter() - t0):,.0f}/s")
            _in_transaction(con, finish)
    except BaseException:
        _in_transaction(con, lambda: [con.execute(f"DELETE FROM {q(name)}") for name in TABLE_ORDER])
        raise
    finally:
        _restore_memory_limit(con, limit)
        con.execute(f"SET enable_progress_bar = {str(bar_setting).lower() in ('true', '1')}")
    for name in TABLE_ORDER:
        result = LoadResult(name, co.SOURCE, counts[name], counts[name], 0, 0, import_ids[name])
        ws.plugins.hook.spm_after_load(ws=ws, table=name, result=result)


def _restore_memory_limit(con: duckdb.DuckDBPyConnection, before: str) -> None:
    """Put the memory limit back: the default exactly (``RESET``), else the value it showed."""
    con.execute("RESET memory_limit")
    if con.execute("SELECT current_setting('memory_limit')").fetchall()[0][0] != before:
        con.execute(f"SET memory_limit = '{before}'")


def _in_transaction(con: duckdb.DuckDBPyConnection, work: Callable[[], object]) -> None:
    con.execute("BEGIN TRANSACTION")
    try:
        work()
    except BaseException:
        con.execute("ROLLBACK")
        raise
    con.execute("COMMIT")
