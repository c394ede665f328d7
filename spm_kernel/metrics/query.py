"""``ws.metrics(...)``: run registered metrics over one query and return a tidy frame."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from dataclasses import dataclass
from decimal import Context, Decimal
from itertools import repeat
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from spm_kernel.crediting import unordered
from spm_kernel.extensions import Metric
from spm_kernel.metrics.context import GRAINS, MetricContext, MetricError, MetricOptions, Window
from spm_kernel.periods import Period, PeriodKind

if TYPE_CHECKING:
    from spm_kernel.workspace import Workspace

RESULT_COLUMNS = ("value", "numerator", "denominator")


EXACT = Context(prec=60)  # a 64-bit integer times 10^-scale is never rounded in it


@dataclass
class PendingDecimals:
    """A decimal128 column whose ``Decimal`` objects are made later, together with every
    other such column of the answer (:func:`resolve_decimals`): each distinct value once."""

    unscaled: np.ndarray  # int64, the valid values' unscaled integers
    valid: np.ndarray     # bool, one per row
    scale: int


def _pending(array: pa.Array) -> PendingDecimals | None:
    """``array`` (decimal128) as :class:`PendingDecimals`; None when a value does not fit in
    64 bits (or there are no values)."""
    n = len(array)
    if n == 0 or array.buffers()[1] is None:
        return None
    raw = np.frombuffer(array.buffers()[1], dtype=np.int64)[2 * array.offset: 2 * (array.offset + n)]
    lo, hi = raw[0::2], raw[1::2]
    valid = ~array.is_null().to_numpy(zero_copy_only=False) if array.null_count else np.ones(n, dtype=bool)
    if not np.array_equal(hi[valid], lo[valid] >> 63):
        return None
    return PendingDecimals(lo[valid], valid, array.type.scale)


def resolve_decimals(pending: list[PendingDecimals]) -> list[np.ndarray]:
    """The object arrays of ``pending`` columns: ``Decimal`` (None where null), each distinct
    (scale, unscaled value) built once over all of them, as ``Decimal(n) * 10^-scale`` in an
    exact context (the same digits and exponent as pyarrow's own conversion)."""
    out: list[np.ndarray] = [np.full(len(p.valid), None, dtype=object) for p in pending]
    for scale in sorted({p.scale for p in pending}):
        members = [i for i, p in enumerate(pending) if p.scale == scale]
        values = np.concatenate([pending[i].unscaled for i in members])
        if not len(values):
            continue
        codes, uniques = pd.factorize(values)
        made = np.empty(len(uniques), dtype=object)
        made[:] = list(map(EXACT.multiply, map(Decimal, uniques.tolist()), repeat(Decimal(1).scaleb(-scale))))
        at = 0
        for i in members:
            size = len(pending[i].unscaled)
            out[i][pending[i].valid] = made[codes[at: at + size]]
            at += size
    return out


def _objects(values: pd.Series) -> np.ndarray | PendingDecimals:
    """A column as an object array with None (not NaN/NA) where a value is missing, or, for
    an Arrow decimal column, as :class:`PendingDecimals` to be made into ``Decimal`` with
    the others (:func:`resolve_decimals`)."""
    if isinstance(values.dtype, pd.ArrowDtype):
        return _arrow_objects(values.array.__arrow_array__())
    array = values.to_numpy(dtype=object, na_value=None) if values.dtype != object else values.to_numpy()
    if values.dtype == object and values.hasnans:
        array = np.where(pd.isna(values).to_numpy(), None, array)
    return array


def _arrow_objects(column: pa.ChunkedArray | pa.Array) -> np.ndarray | PendingDecimals:
    """An Arrow column as the object array :func:`_objects` makes of its pandas conversion:
    ``Decimal`` for DECIMAL (pending, see :class:`PendingDecimals`), ``float`` for DOUBLE
    (None for NULL and NaN), ``int`` for an integer column without NULLs (``float`` and None
    with them, as pandas does), without the per-value pandas round trip."""
    array = column.combine_chunks() if isinstance(column, pa.ChunkedArray) else column
    kind = array.type
    if pa.types.is_decimal128(kind):
        made = _pending(array)
        if made is not None:
            return made
    elif pa.types.is_floating(kind) or (pa.types.is_integer(kind) and array.null_count):
        values = array.cast(pa.float64()).to_numpy(zero_copy_only=False)
        out = values.astype(object)
        out[np.isnan(values)] = None
        return out
    elif pa.types.is_integer(kind):
        return array.to_numpy(zero_copy_only=False).astype(np.int64).astype(object)
    return _objects(array.to_pandas())


def _strings(values: pd.Series) -> pa.Array:
    """A column as an Arrow string array (what ``pd.array(..., dtype="str")`` holds)."""
    if isinstance(values.dtype, pd.ArrowDtype):
        array = values.array.__arrow_array__().combine_chunks()
        if pa.types.is_string(array.type) or pa.types.is_large_string(array.type):
            return array.cast(pa.large_string())
    return pa.array(pd.array(values.to_numpy(dtype=object), dtype="str")).cast(pa.large_string())


def metric_columns(grain: str) -> list[str]:
    """The columns of a ``ws.metrics`` frame at ``grain``, in order."""
    return ["metric", GRAINS[grain], "period", "period_start", "period_end", "value", "numerator",
            "denominator", "unit"]


def resolve_metrics(ws: Workspace, names: str | Sequence[str] | None, grain: str) -> list[Metric]:
    """The metrics named (all registered ones supporting ``grain`` when None)."""
    if grain not in GRAINS:
        raise MetricError(f"unknown grain {grain!r}; expected one of {', '.join(GRAINS)}")
    catalogue = ws.registry.metrics
    if names is None:
        return [catalogue[n] for n in catalogue.names() if grain in catalogue[n].grains]
    if isinstance(names, str):
        names = [names]
    out = []
    for name in names:
        try:
            metric = catalogue[name]
        except KeyError as exc:
            raise MetricError(str(exc.args[0])) from None
        if grain not in metric.grains:
            raise MetricError(f"metric {name!r} cannot be computed by {grain}; it supports: "
                              f"{', '.join(metric.grains)}")
        out.append(metric)
    return out


def compute_metrics(ws: Workspace, names: str | Sequence[str] | None = None, by: str = "company",
                    period: str | Period | Sequence[str | Period] | None = None, *,
                    freq: PeriodKind | None = None, window: Window = "period", scope: str | None = None,
                    as_of: date | None = None, options: MetricOptions | dict[str, Any] | None = None,
                    executor: Any = None, partition: tuple[int, int] | None = None) -> pd.DataFrame:
    """KPIs as a tidy DataFrame: one row per (metric, group, window).

    * ``names``: a metric name or a list (None: every registered metric that supports ``by``);
    * ``by``: the grain, one of ``payee``, ``manager``, ``team``, ``region``, ``segment``,
      ``product``, ``company``;
    * ``period``: ``"2026-Q3"``, ``"FY2026"``, ``"2026-08"``, a range ``"2024-01..2026-12"``
      or a list (default: the fiscal quarter containing ``as_of``); ``freq`` splits each into
      months, quarters or years (a time series); ``window="QTD"``/``"YTD"`` makes each window
      run from the start of its fiscal quarter/year;
    * ``scope``: ``"team:EMEA"``, ``"region:EU"``, ``"manager:P001"``, ``"payee:P007"``,
      ``"segment:SMB"`` (ids or names) restricts the payees looked at;
    * ``as_of``: "today" for the pipeline snapshot (default: today);
    * ``options``: :class:`MetricOptions` or a dict of its fields;
    * ``executor``: ``"local"``, ``"dask"``, a scheduler address or a ``distributed.Client``
      (default: the workspace's setting): on Dask, groups are computed by partition on the
      workers (:mod:`spm_kernel.executors.metrics`), with the same rows;
    * ``partition``: ``(i, n)``, used by the Dask executor: only the groups whose key hashes
      to ``i`` modulo ``n``.

    Columns: ``metric``, the grain's key column (``payee_id``, ``manager_id``, ``team_id``,
    ``region_id``, ``segment``, ``product`` or ``company``), ``period`` (its label),
    ``period_start``, ``period_end``, ``value``, ``numerator``, ``denominator``, ``unit``.
    Money is ``decimal.Decimal``; ratios, days and correlations are floats; ``value`` is
    None where undefined. Every query reads the tables as they are now: newly loaded data
    shows at the next call.
    """
    if partition is None and (executor is not None or ws.config.executor != "local"):
        from spm_kernel.executors.metrics import distributed_metrics

        spread = distributed_metrics(ws, names, by, executor, period=period, freq=freq, window=window, scope=scope,
                                     as_of=as_of, options=options)
        if spread is not None:
            return spread
    metrics = resolve_metrics(ws, names, by)
    key_col = GRAINS[by]
    columns = metric_columns(by)
    with MetricContext.open(ws, by, period, freq=freq, window=window, scope=scope, as_of=as_of,
                            options=options) as ctx, unordered(ctx.con):  # every answer is sorted by gi
        if partition is not None:  # keep this partition's groups only
            for table in (ctx.members, ctx.grid):
                ctx.execute(f"DELETE FROM {table} WHERE hash(key) % {int(partition[1])} <> {int(partition[0])}")
        windows = ctx.frame(f"SELECT period, period_start, period_end FROM {ctx.windows} ORDER BY ord")
        parts = []
        for metric in metrics:
            frame = metric.compute(ctx)
            missing = {"period", "key", *RESULT_COLUMNS} - set(frame.columns)
            if missing:
                raise MetricError(f"metric {metric.name!r} returned no column(s) {sorted(missing)}")
            n = len(frame)
            part: dict[str, Any] = {"metric": pa.array([metric.name], pa.large_string()).take(np.zeros(n, np.int64)),
                                    "period": _strings(frame["period"]), "key": _strings(frame["key"])}
            for col in RESULT_COLUMNS:
                part[col] = _objects(frame[col])
            part["unit"] = pa.array([metric.unit], pa.large_string()).take(np.zeros(n, np.int64))
            parts.append(part)
            del frame
    if not parts:
        return pd.DataFrame(columns=columns)
    pending = [(p, col) for p in parts for col in RESULT_COLUMNS if isinstance(p[col], PendingDecimals)]
    for (p, col), made in zip(pending, resolve_decimals([p[col] for p, col in pending])):
        p[col] = made
    out = pd.DataFrame({
        col: (np.concatenate([p[col] for p in parts]) if col in RESULT_COLUMNS
              else pd.array(pa.chunked_array([p[col] for p in parts], pa.large_string()), dtype="str"))
        for col in parts[0]})
    labels = pa.array(windows["period"].tolist(), pa.large_string())
    index = pc.index_in(pa.chunked_array([p["period"] for p in parts], pa.large_string()), value_set=labels)
    found = index.is_valid().to_numpy(zero_copy_only=False)
    positions = index.fill_null(0).to_numpy(zero_copy_only=False)
    for at, name in ((2, "period_start"), (3, "period_end")):
        dates = np.empty(len(windows), dtype=object)
        dates[:] = windows[name].tolist()
        column = dates[positions] if len(dates) else np.full(len(positions), np.nan, dtype=object)
        if not found.all():
            column[~found] = np.nan
        out.insert(at, name, column)
    out = out.rename(columns={"key": key_col})[columns]
    return out.reset_index(drop=True)
