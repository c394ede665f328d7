"""Metrics by group, fanned out by group partition on the Dask executor.

A metric query at a grain whose groups are made of payees (``payee``, ``manager``, ``team``,
``region``, ``segment``) is cut into partitions of group keys (``hash(key) % n``): every
worker computes, with the same :func:`spm_kernel.metrics.compute_metrics`, the rows of its
own groups only (the query's members and grid keep just those keys), over a read-only
snapshot of the workspace's tables shipped once to every worker (workers never open the
DuckDB file). A group's numbers depend on its own members, and every relation a metric
reads beyond the members (deals, credits through the hierarchy, peers for ramp) is built
from the whole snapshot, so the rows are those of the local query. ``product`` and
``company`` have nothing to partition and run locally.

Row order: sorted by metric (in the order asked), window and group key.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import duckdb
import pandas as pd
import pyarrow as pa

from spm_kernel.config import WorkspaceConfig
from spm_kernel.executors.base import resolve_executor

if TYPE_CHECKING:
    from spm_kernel.extensions import Metric
    from spm_kernel.workspace import Workspace

PARTITIONED_GRAINS = ("payee", "manager", "team", "region", "segment")
NOT_SHIPPED = ("credits", "audit_log", "import_log", "sync_log", "sync_rejects")


@dataclass
class _Catalogue:
    items: dict[str, Metric]

    def names(self) -> list[str]:
        return list(self.items)

    def __getitem__(self, name: str) -> Metric:
        return self.items[name]


@dataclass
class _Registry:
    metrics: _Catalogue


@dataclass
class SnapshotWorkspace:
    """What a metric query needs of a workspace, on a worker: an in-memory DuckDB holding a
    copy of the tables, the settings and the metrics asked for."""

    con: duckdb.DuckDBPyConnection
    config: WorkspaceConfig
    registry: _Registry = field(default_factory=lambda: _Registry(_Catalogue({})))


@dataclass
class _Shared:
    token: str
    tables: dict[str, pa.Table]
    config: WorkspaceConfig
    metrics: list[Metric]
    by: str
    query: dict[str, Any]
    n: int


_CACHE: dict[str, duckdb.DuckDBPyConnection] = {}  # per worker process: the latest snapshot


def snapshot_tables(ws: Workspace) -> dict[str, pa.Table]:
    """Every table of the workspace a metric may read, as Arrow (exact decimals)."""
    names = [r[0] for r in ws.con.execute(
        "SELECT table_name FROM duckdb_tables() WHERE database_name = current_database() AND schema_name = 'main' "
        "AND NOT temporary ORDER BY table_name").fetchall()]
    return {n: ws.con.sql(f'SELECT * FROM main."{n}"').to_arrow_table() for n in names if n not in NOT_SHIPPED}


def _connection(shared: _Shared) -> duckdb.DuckDBPyConnection:
    con = _CACHE.get(shared.token)
    if con is None:
        for old in list(_CACHE):
            _CACHE.pop(old).close()
        con = duckdb.connect()
        for name, table in shared.tables.items():
            con.register("__spm_snapshot", table)
            con.execute(f'CREATE TABLE "{name}" AS SELECT * FROM __spm_snapshot')
            con.unregister("__spm_snapshot")
        _CACHE[shared.token] = con
    return con


def _metrics_partition(index: int, shared: _Shared) -> pd.DataFrame:
    """The rows of the groups in partition ``index`` (runs on a worker)."""
    from spm_kernel.metrics.query import compute_metrics

    snap = SnapshotWorkspace(_connection(shared), shared.config,
                             _Registry(_Catalogue({m.name: m for m in shared.metrics})))
    return compute_metrics(snap, [m.name for m in shared.metrics], by=shared.by, executor="local",  # type: ignore[arg-type]
                           partition=(index, shared.n), **shared.query)


def distributed_metrics(ws: Workspace, names: str | Sequence[str] | None, by: str, executor: Any,
                        **query: Any) -> pd.DataFrame | None:
    """``compute_metrics`` fanned out by group partition, or None when ``executor`` (or the
    workspace's setting) is local or the grain has nothing to partition."""
    from spm_kernel.metrics.context import GRAINS
    from spm_kernel.metrics.query import resolve_metrics

    ex = resolve_executor(ws, executor)
    if not ex.distributed or by not in PARTITIONED_GRAINS:
        return None
    metrics = resolve_metrics(ws, names, by)
    n = ex.partitions()
    shared = _Shared(uuid.uuid4().hex, snapshot_tables(ws), ws.config.model_copy(update={"executor": "local"}),
                     metrics, by, query, n)
    parts = [p for p in ex.map(_metrics_partition, list(range(n)), shared) if len(p)]
    if not parts:
        return _metrics_partition_local_empty(ws, metrics, by, query)
    out = pd.concat(parts, ignore_index=True)
    order = {m.name: i for i, m in enumerate(metrics)}
    key = GRAINS[by]
    out = out.assign(_m=out["metric"].map(order), _s=pd.to_datetime(out["period_start"]), _e=pd.to_datetime(out["period_end"]),
                     _k=out[key].astype(str))
    out = out.sort_values(["_m", "_s", "_e", "_k"], kind="stable").drop(columns=["_m", "_s", "_e", "_k"])
    return out.reset_index(drop=True)


def _metrics_partition_local_empty(ws: Workspace, metrics: list[Metric], by: str, query: dict[str, Any]) -> pd.DataFrame:
    from spm_kernel.metrics.query import compute_metrics

    return compute_metrics(ws, [m.name for m in metrics], by=by, executor="local", **query)
