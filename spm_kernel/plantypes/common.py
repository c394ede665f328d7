"""What the built-in plan types share: measures, windows, quotas, prior lines, exact sums,
and the payout-line frame.

Conventions used by every built-in plan type (documented in docs/plans.md):

* A **measure** sums the credits of some kinds and credit types (and an optional filter
  expression) over a **window**: ``period``, ``quarter`` (fiscal) or ``plan_year``,
  window-to-date at the end of the period being calculated.
* A **quota** for a window is the sum of the payee's quota rows for the measure whose
  ``period_start`` falls inside the window (an annual row, four quarterly rows or twelve
  monthly rows all give the annual quota).
* Lines are paid **window-to-date minus already paid**: the line of a period is the rounded
  window-to-date total minus the lines of the same component and type already paid in that
  window (``prior_lines``). So totals are sums of rounded lines, retroactive rates true up,
  and recalculating a period gives the same lines.
* Amounts are exact: integer minor units, rates as integers scaled by a power of ten, and
  ``Fraction`` only where a division cannot be avoided (interpolation).
"""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import date
from decimal import Decimal
from fractions import Fraction
from typing import Any, Literal

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, field_validator, model_validator

from spm_kernel.money import decimals_to_minor, fits_int64, minor_to_decimals, round_div
from spm_kernel.plans.expressions import Expression, compile_expression
from spm_kernel.plantypes.contract import CREDIT_COLUMNS, LINE_COLUMNS, CalcInput, CalcPeriod

Kind = Literal["booking", "invoice", "payment", "cancellation", "refund"]
CreditType = Literal["direct", "split", "overlay", "rollup", "rule"]
Window = Literal["period", "quarter", "plan_year"]
Basis = Literal["amount", "attainment"]
CREDIT_FILTER_NAMES = (
    "kind", "credit_type", "product", "segment", "deal_type", "region_id", "amount", "credit_date",
    "opportunity_id", "transaction_id", "payee_id", "discount",
)
NEGATIVE_KINDS = ("cancellation", "refund")


class Strict(BaseModel):
    """Base of every option block: unknown keys are errors."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)


def column_isin(column: pd.Series, values: Sequence[str]) -> np.ndarray:
    """``column.isin(values)`` as a boolean array; a categorical column is tested once per
    category and indexed by its codes (millions of credits, a handful of kinds)."""
    if isinstance(column.dtype, pd.CategoricalDtype):
        per_category = np.append(column.cat.categories.isin(list(values)), False)  # code -1 (missing): False
        return per_category[column.cat.codes.to_numpy()]
    return column.isin(list(values)).to_numpy(dtype=bool)


class MeasureSpec(Strict):
    """What a component measures.

    ``kinds`` default: bookings and their cancellations and refunds. ``credit_types``
    default: ``direct``, ``split`` and ``rule`` credit (not ``overlay``, not ``rollup``: a
    manager plan asks for ``rollup``). ``filter`` is an expression over the credit columns
    (:data:`CREDIT_FILTER_NAMES`). ``window`` default ``plan_year``. ``quota_measure``: the
    ``quotas.measure`` that attainment divides by (default: ``name``).
    """

    name: str = "bookings"
    kinds: list[Kind] = Field(default_factory=lambda: ["booking", "cancellation", "refund"], min_length=1)
    credit_types: list[CreditType] = Field(default_factory=lambda: ["direct", "split", "rule"], min_length=1)
    filter: str | None = None
    window: Window = "plan_year"
    quota_measure: str | None = None
    _expression: Expression | None = PrivateAttr(None)

    @field_validator("filter")
    @classmethod
    def _check_filter(cls, value: str | None) -> str | None:
        if value is not None:
            compile_expression(value, CREDIT_FILTER_NAMES, "filter")
        return value

    def model_post_init(self, context: Any) -> None:
        if self.filter is not None:
            self._expression = compile_expression(self.filter, CREDIT_FILTER_NAMES, "filter")

    @property
    def quota_name(self) -> str:
        return self.quota_measure or self.name

    def mask(self, credits: pd.DataFrame) -> np.ndarray:
        """Which rows of ``credits`` this measure counts."""
        keep = column_isin(credits["kind"], self.kinds) & column_isin(credits["credit_type"], self.credit_types)
        if self._expression is not None and len(credits):
            keep = keep & self._expression.mask(credits)
        return keep


class CapSpec(Strict):
    """A cap on what a component pays.

    ``scope``: ``transaction`` (each credit's earnings), ``period`` (the component's line in
    one period) or ``plan_year`` (everything the component paid in the plan year). The limit
    is ``amount`` (plan currency) or ``multiple_of_target_incentive`` (times the payee's
    annual target incentive). ``excess``: ``forfeit`` (default) or ``carry_forward`` (period
    caps only: the excess is deferred and paid in later periods with headroom under the cap).
    """

    scope: Literal["transaction", "period", "plan_year"]
    amount: Decimal | None = Field(None, ge=0)
    multiple_of_target_incentive: Decimal | None = Field(None, ge=0)
    excess: Literal["forfeit", "carry_forward"] = "forfeit"

    @model_validator(mode="after")
    def _one_limit(self) -> CapSpec:
        if (self.amount is None) == (self.multiple_of_target_incentive is None):
            raise ValueError("a cap needs exactly one of amount or multiple_of_target_incentive")
        if self.excess == "carry_forward" and self.scope != "period":
            raise ValueError("excess: carry_forward needs scope: period (a transaction or plan-year "
                             "cap's excess can only be forfeited)")
        return self


class TierRow(Strict):
    """A row of a half-open [from, to) table; ``to`` omitted on the last row means no upper end."""

    from_: Decimal = Field(alias="from", ge=0)
    to: Decimal | None = None
    label: str | None = None


def check_contiguous(rows: Sequence[TierRow], name: str) -> list[tuple[tuple[str | int, ...], str]]:
    """Gaps, overlaps, a first row not starting at 0 and a bounded last row are errors."""
    problems: list[tuple[tuple[str | int, ...], str]] = []
    if not rows:
        return [((name,), "needs at least one row")]
    if rows[0].from_ != 0:
        problems.append(((name, 0, "from"), f"the first row must start at 0, not {rows[0].from_}"))
    for i, row in enumerate(rows):
        if row.to is not None and row.to <= row.from_:
            problems.append(((name, i, "to"), f"to ({row.to}) must be greater than from ({row.from_})"))
        if i + 1 < len(rows):
            nxt = rows[i + 1]
            if row.to is None:
                problems.append(((name, i, "to"), f"only the last row may leave 'to' open; row {i} overlaps row {i + 1}"))
            elif nxt.from_ > row.to:
                problems.append(((name, i + 1, "from"), f"gap between {name}[{i}].to = {row.to} and "
                                                        f"{name}[{i + 1}].from = {nxt.from_}"))
            elif nxt.from_ < row.to:
                problems.append(((name, i + 1, "from"), f"overlap: {name}[{i + 1}].from = {nxt.from_} is below "
                                                        f"{name}[{i}].to = {row.to}"))
    if rows[-1].to is not None:
        problems.append(((name, len(rows) - 1, "to"), f"the last row must leave 'to' open (values from "
                                                       f"{rows[-1].to} up would match no row)"))
    return problems


# ---- windows ----
WINDOW_MONTHS = {"plan_year": 12, "quarter": 3}


def _months(dates: pd.Series | pd.DatetimeIndex) -> np.ndarray:
    d = pd.DatetimeIndex(dates)
    return (d.year.to_numpy().astype(np.int64) * 12 + d.month.to_numpy().astype(np.int64) - 1)


def _add_months(day: date, months: int) -> date:
    index = day.year * 12 + day.month - 1 + months
    return date(index // 12, index % 12 + 1, 1)


def window_spec(window: str, period: CalcPeriod, plan_year: CalcPeriod) -> tuple[date, int]:
    """(anchor, months per window instance) of a window kind."""
    if window == "period":
        months = (period.end.year * 12 + period.end.month) - (period.start.year * 12 + period.start.month) + 1
        return period.start, max(months, 1)
    return plan_year.start, WINDOW_MONTHS[window]


def window_keys(dates: pd.Series, window: str, period: CalcPeriod, plan_year: CalcPeriod) -> np.ndarray:
    """The window instance of each date: 0 for the one containing the period, -1 before, ..."""
    if len(dates) == 0:
        return np.zeros(0, dtype=np.int64)
    return window_keys_days(day_numbers(dates), window, period, plan_year)


def window_keys_days(days: np.ndarray, window: str, period: CalcPeriod, plan_year: CalcPeriod) -> np.ndarray:
    """:func:`window_keys` for int day numbers."""
    anchor, months = window_spec(window, period, plan_year)
    if len(days) == 0:
        return np.zeros(0, dtype=np.int64)
    month_index = np.asarray(days, dtype=np.int64).astype("datetime64[D]").astype("datetime64[M]").astype(np.int64)
    rel = month_index - ((anchor.year - 1970) * 12 + anchor.month - 1)
    keys = np.floor_divide(rel, months)
    return keys - current_key(window, period, plan_year)


def current_key(window: str, period: CalcPeriod, plan_year: CalcPeriod) -> int:
    anchor, months = window_spec(window, period, plan_year)
    rel = (period.end.year * 12 + period.end.month - 1) - (anchor.year * 12 + anchor.month - 1)
    return rel // months


def window_bounds(window: str, period: CalcPeriod, plan_year: CalcPeriod, key: int = 0) -> tuple[date, date]:
    """First and last day of window instance ``key`` (0 = the one containing the period)."""
    anchor, months = window_spec(window, period, plan_year)
    start = _add_months(anchor, (current_key(window, period, plan_year) + key) * months)
    end = pd.Timestamp(_add_months(start, months)) - pd.Timedelta(days=1)
    return start, end.date()


# ---- inputs ----
def day_numbers(values: Any) -> np.ndarray:
    """Dates as int64 days since 1970-01-01 (NaT becomes a very large number)."""
    d = pd.to_datetime(pd.Series(values) if not isinstance(values, pd.Series) else values)
    out = d.to_numpy(dtype="datetime64[D]").astype(np.int64)
    out[pd.isna(d).to_numpy()] = np.iinfo(np.int64).max // 4
    return out


def day_number(value: date) -> int:
    return int(np.datetime64(value, "D").astype(np.int64))


def payee_frame(inp: CalcInput) -> pd.DataFrame:
    """The payees with a positional index and their assignment window as day numbers."""
    payees = inp.payees.reset_index(drop=True).copy()
    payees["pidx"] = np.arange(len(payees), dtype=np.int64)
    payees["af"] = day_numbers(payees["assigned_from"]) if "assigned_from" in payees and len(payees) else 0
    if "assigned_from" in payees and len(payees):
        payees.loc[payees["assigned_from"].isna(), "af"] = -(np.iinfo(np.int64).max // 4)
    payees["at"] = day_numbers(payees["assigned_to"]) if "assigned_to" in payees and len(payees) else 0
    return payees


PREPARED_COLUMNS = ("payee_pos", "credit_day", "amount_minor", "walk_perm")


class _Shared:
    """A value kept in ``DataFrame.attrs`` that pandas must not deep-copy on every operation."""

    def __init__(self, value: Any) -> None:
        self.value = value

    def __deepcopy__(self, memo: dict) -> _Shared:
        return self

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _Shared) and other.value is self.value

    __hash__ = object.__hash__


def _payee_fingerprint(payees: pd.DataFrame) -> int:
    return hash(tuple(payees["payee_id"].astype(str)))


def _arrow_strings(values: pd.Series) -> pa.Array:
    """A string column as one Arrow array (zero-copy for Arrow-backed pandas strings)."""
    if isinstance(values.dtype, pd.CategoricalDtype):
        values = values.astype(str)
    array = values.array
    if hasattr(array, "__arrow_array__"):
        out = pa.array(array)
        if isinstance(out, pa.ChunkedArray):
            out = out.combine_chunks()
        if pa.types.is_dictionary(out.type):
            out = out.dictionary_decode()
        if pa.types.is_string(out.type) or pa.types.is_large_string(out.type):
            return out
    return pa.array(values.astype(str).to_numpy(dtype=object), type=pa.string())


def _packed_walk_order(pos: np.ndarray, day: np.ndarray, walk_order: np.ndarray) -> np.ndarray | None:
    """``np.lexsort((walk_order, day, pos))`` computed as sorts of one packed integer key,
    several times faster on millions of credits; ``None`` when the three do not fit in 63 bits.

    The rows of payees in the plan (``pos >= 0``) have unique keys (one credit id each), so an
    unstable sort gives the stable order; a repeated key falls back to a stable sort. The rows
    of anyone else (``pos < 0``, where several payees share a position) sort stably first."""
    spans = [int(a.max()) - int(a.min()) for a in (pos, day, walk_order)]
    bits = [span.bit_length() for span in spans]
    if sum(bits) > 63:
        return None
    key = ((pos - pos.min()).astype(np.uint64) << np.uint64(bits[1] + bits[2])) \
        | ((day - day.min()).astype(np.uint64) << np.uint64(bits[2])) | (walk_order - walk_order.min()).astype(np.uint64)
    outside = np.flatnonzero(pos < 0)
    if len(outside):
        inside = np.flatnonzero(pos >= 0)
        keys = key[inside]
        first = outside[np.argsort(key[outside], kind="stable")]
    else:
        inside, keys, first = np.arange(len(pos), dtype=np.int64), key, outside
    order = _argsort_in_halves(keys)
    ranked = keys[order]
    if len(ranked) > 1 and bool(np.any(ranked[1:] == ranked[:-1])):
        order = np.argsort(keys, kind="stable")
    return np.concatenate([first, inside[order]]).astype(np.int64)


_HALVES_FROM = 1_000_000  # below this, one sort is as fast


def _argsort_in_halves(keys: np.ndarray) -> np.ndarray:
    """``np.argsort(keys)`` (an unstable sort: for unique keys) as two sorts on two threads:
    the keys below the median value and the rest (NumPy sorts without holding the GIL)."""
    if len(keys) < _HALVES_FROM:
        return np.argsort(keys)
    sample = keys[:: len(keys) // 4096]
    low = keys < np.partition(sample, len(sample) // 2)[len(sample) // 2]  # about half the keys
    halves = [np.flatnonzero(low), np.flatnonzero(~low)]
    with ThreadPoolExecutor(max_workers=2) as pool:
        sorted_halves = list(pool.map(lambda rows: rows[np.argsort(keys[rows])], halves))
    return np.concatenate(sorted_halves)


def walk_permutation(pos: np.ndarray, day: np.ndarray, credit_id: pd.Series,
                     walk_order: np.ndarray | None = None) -> np.ndarray:
    """Row numbers in walk order: payee position, credit day, credit id (the stable tie-break).

    ``walk_order`` (optional, from the engine: any integers that order like ``credit_id``,
    e.g. ``row_number() OVER (ORDER BY credit_id)``) replaces the string comparisons. Rows
    that already come in walk order cost one comparison pass."""
    n = len(pos)
    if n == 0:
        return np.zeros(0, dtype=np.int64)
    if walk_order is not None:
        ordered = np.all((pos[1:] > pos[:-1]) | ((pos[1:] == pos[:-1]) & (
            (day[1:] > day[:-1]) | ((day[1:] == day[:-1]) & (walk_order[1:] > walk_order[:-1])))))
        if ordered:
            return np.arange(n, dtype=np.int64)
        packed = _packed_walk_order(pos, day, walk_order)
        return packed if packed is not None else np.lexsort((walk_order, day, pos)).astype(np.int64)
    same = (pos[1:] == pos[:-1]) & (day[1:] == day[:-1])
    in_order = bool(np.all((pos[1:] > pos[:-1]) | ((pos[1:] == pos[:-1]) & (day[1:] >= day[:-1]))))
    ids = _arrow_strings(credit_id)
    if in_order:
        if not same.any():
            return np.arange(n, dtype=np.int64)
        le = pc.less_equal(ids.slice(0, n - 1), ids.slice(1)).to_numpy(zero_copy_only=False)
        if bool(np.all(le[same])):
            return np.arange(n, dtype=np.int64)
    table = pa.table({"pos": pos, "day": day, "id": ids})
    return pc.sort_indices(table, sort_keys=[("pos", "ascending"), ("day", "ascending"), ("id", "ascending")]) \
        .to_numpy().astype(np.int64)


def payee_positions(values: pd.Series, ids: pd.Series) -> np.ndarray:
    """Each row's position in ``ids`` (-1 if absent); a categorical column costs one lookup
    per category, not per row."""
    if isinstance(values.dtype, pd.CategoricalDtype):
        per_category = pd.Index(ids.astype(str)).get_indexer(values.cat.categories.astype(str))
        codes = values.cat.codes.to_numpy()
        return np.where(codes >= 0, np.append(per_category, -1)[codes], -1).astype(np.int64)
    return pd.Index(ids.astype(str)).get_indexer(values.astype(str)).astype(np.int64)


def prepare_credits(credits: pd.DataFrame, payees: pd.DataFrame, minor_units: int | None) -> pd.DataFrame:
    """The credits with the integer columns every plan type walks on (a shallow copy: the
    rows are neither copied nor reordered).

    Adds ``payee_pos`` (the payee's row in ``payees``, -1 for anyone else), ``credit_day``
    (days since 1970-01-01), ``amount_minor`` (minor units; kept if the engine gave it, else
    converted with ``minor_units`` when given) and ``walk_perm`` (row numbers in walk order:
    payee, credit date, credit id; an engine-given ``walk_order`` column, integers ordered
    like ``credit_id``, spares the string sort). Call it once per calculation; :func:`credit_frame` reuses
    it while the payees are the same, and :func:`regroup` re-aims it at a subset of payees.
    """
    out = credits.copy(deep=False)
    n = len(out)
    if n == 0:
        out = out.reindex(columns=list(dict.fromkeys([*CREDIT_COLUMNS, *out.columns])))
        for column in PREPARED_COLUMNS:
            out[column] = np.zeros(0, dtype=np.int64)
        out.attrs["spm_prepared"] = (_payee_fingerprint(payees), minor_units)
        return out
    out["payee_pos"] = payee_positions(out["payee_id"], payees["payee_id"])
    out["credit_day"] = day_numbers(out["credit_date"])
    if "amount_minor" not in out.columns and minor_units is not None:
        out["amount_minor"] = decimals_to_minor(out["amount"], minor_units, "credit amount")
    pos = out["payee_pos"].to_numpy(dtype=np.int64)
    given = out["walk_order"].to_numpy(dtype=np.int64) if "walk_order" in out.columns else None
    out["walk_perm"] = walk_permutation(pos, out["credit_day"].to_numpy(dtype=np.int64), out["credit_id"], given)
    out.attrs["spm_prepared"] = (_payee_fingerprint(payees), minor_units)
    return out


def regroup(base: pd.DataFrame, payees: pd.DataFrame, minor_units: int) -> pd.DataFrame:
    """``base`` (prepared for a superset of ``payees``, both in payee-id order) re-aimed at
    ``payees``: positions in ``payees``, minor units converted for their rows if the engine
    did not give ``amount_minor``. No row is copied, so the walk order still holds."""
    out = base.copy(deep=False)
    n = len(out)
    if n == 0:
        out.attrs["spm_prepared"] = (_payee_fingerprint(payees), minor_units)
        return out
    base_ids = base.attrs["spm_base_ids"].value
    mapping = pd.Index(payees["payee_id"].astype(str)).get_indexer(base_ids)
    mapping = np.append(mapping, -1)  # position -1 (not a payee) stays -1
    pos = mapping[base["payee_pos"].to_numpy(dtype=np.int64)]
    out["payee_pos"] = pos
    if "amount_minor" not in base.columns:
        minor = np.zeros(n, dtype=np.int64)
        rows = np.flatnonzero(pos >= 0)
        minor[rows] = decimals_to_minor(base["amount"].take(rows), minor_units, "credit amount")
        out["amount_minor"] = minor
    out.attrs["spm_prepared"] = (_payee_fingerprint(payees), minor_units)
    return out


def prepare_base(credits: pd.DataFrame, payees: pd.DataFrame) -> pd.DataFrame:
    """:func:`prepare_credits` for every payee of a calculation (in payee-id order), ready to
    be :func:`regroup`-ed per plan and currency without copying rows."""
    ids = pd.Series(sorted(set(payees["payee_id"].astype(str))), dtype=object)
    base = prepare_credits(credits, pd.DataFrame({"payee_id": ids}), None)
    base.attrs["spm_base_ids"] = _Shared(ids.to_numpy(dtype=object))
    return base


def prepared(inp: CalcInput, payees: pd.DataFrame) -> pd.DataFrame:
    """``inp.credits`` prepared for ``payees`` (reused when the orchestrator already did it)."""
    credits = inp.credits
    if credits.attrs.get("spm_prepared") == (_payee_fingerprint(payees), inp.minor_units) \
            and all(c in credits.columns for c in PREPARED_COLUMNS):
        return credits
    return prepare_credits(credits, payees, inp.minor_units)


def credit_frame(inp: CalcInput, payees: pd.DataFrame, measure: MeasureSpec | None = None,
                 kinds: Sequence[str] | None = None, credits: pd.DataFrame | None = None) -> pd.DataFrame:
    """A lean frame of the credits of the payees (optionally only those ``measure`` counts):
    ``pidx`` (payee position), ``day`` (int day number), ``x`` (minor units) and ``row`` (the
    row in the prepared credits, see :func:`fetch`), in walk order: payee, credit date,
    credit id."""
    credits = prepared(inp, payees) if credits is None else credits
    if len(credits) == 0:
        return pd.DataFrame({c: np.zeros(0, dtype=np.int64) for c in ("pidx", "day", "x", "order", "row")})
    keep = credits["payee_pos"].to_numpy() >= 0
    day = credits["credit_day"].to_numpy(dtype=np.int64)
    if inp.credit_window is not None:
        keep &= (day >= day_number(inp.credit_window[0])) & (day <= day_number(inp.credit_window[1]))
    if measure is not None:
        keep &= measure.mask(credits)
    if kinds is not None:
        keep &= column_isin(credits["kind"], kinds)
    perm = credits["walk_perm"].to_numpy(dtype=np.int64)
    rows = perm[keep[perm]]
    order = np.empty(len(perm), dtype=np.int64)
    order[perm] = np.arange(len(perm), dtype=np.int64)
    return pd.DataFrame({"pidx": credits["payee_pos"].to_numpy(dtype=np.int64)[rows],
                         "day": day[rows],
                         "x": credits["amount_minor"].to_numpy(dtype=np.int64)[rows],
                         "order": order[rows],
                         "row": rows})


def segment_cumsum(values: np.ndarray, groups: np.ndarray) -> np.ndarray:
    """Running sums of ``values`` restarting at each change of ``groups`` (contiguous groups)."""
    if len(values) == 0:
        return values.copy()
    total = np.cumsum(values)
    starts = np.r_[0, np.flatnonzero(np.diff(groups)) + 1]
    lengths = np.diff(np.r_[starts, len(values)])
    return total - np.repeat(total[starts] - values[starts], lengths)


def segment_ids(*keys: np.ndarray) -> np.ndarray:
    """Consecutive ids of runs of equal ``keys`` (rows sorted so that each run is one group)."""
    n = len(keys[0])
    if n == 0:
        return np.zeros(0, dtype=np.int64)
    change = np.zeros(n, dtype=bool)
    for k in keys:
        change[1:] |= k[1:] != k[:-1]
    return np.cumsum(change)


def fetch(inp: CalcInput, payees: pd.DataFrame, frame: pd.DataFrame, column: str) -> np.ndarray:
    """The values of a credits column for the rows of a :func:`credit_frame` result."""
    credits = prepared(inp, payees)
    return credits[column].take(frame["row"].to_numpy(dtype=np.int64)).to_numpy(dtype=object)


def fetch_codes(inp: CalcInput, payees: pd.DataFrame, frame: pd.DataFrame, column: str) -> np.ndarray:
    """Integer codes (equal values, equal codes; missing values -1) of a credits column for the
    rows of a :func:`credit_frame` result, without turning strings into Python objects."""
    credits = prepared(inp, payees)
    codes, _ = pd.factorize(credits[column].take(frame["row"].to_numpy(dtype=np.int64)))
    return np.asarray(codes, dtype=np.int64)


def full_mask(inp: CalcInput, payees: pd.DataFrame, frame: pd.DataFrame, column: str, values: Sequence[str]) -> np.ndarray:
    """``column in values`` for the rows of a :func:`credit_frame` result (computed column-wise)."""
    credits = prepared(inp, payees)
    return column_isin(credits[column], values)[frame["row"].to_numpy(dtype=np.int64)]


def quota_minor(inp: CalcInput, payees: pd.DataFrame, measure_name: str, window: str,
                keys: Sequence[int] = (0,)) -> dict[int, np.ndarray]:
    """Per window instance key: each payee's quota in minor units (-1 where there is none)."""
    q = inp.quotas
    out: dict[int, np.ndarray] = {}
    for key in keys:
        out[key] = np.full(len(payees), -1, dtype=np.int64)
    if len(q) == 0:
        return out
    q = q.loc[q["measure"] == measure_name]
    if len(q) == 0:
        return out
    qkeys = window_keys(pd.to_datetime(q["period_start"]), window, inp.period, inp.plan_year)
    minor = decimals_to_minor(q["amount"], inp.minor_units, "quota amount")
    pidx = pd.Index(payees["payee_id"]).get_indexer(q["payee_id"])
    frame = pd.DataFrame({"pidx": pidx, "key": qkeys, "q": minor})
    frame = frame.loc[frame["pidx"] >= 0]
    sums = frame.groupby(["key", "pidx"])["q"].sum()
    for key in keys:
        if key in sums.index.get_level_values(0):
            part = sums.loc[key]
            out[key][part.index.to_numpy()] = part.to_numpy()
    return out


def prior_sum(inp: CalcInput, payees: pd.DataFrame, line_types: Sequence[str], since: date,
              reference: str | None = None, component: str | None = None) -> np.ndarray:
    """Per payee (positional): the minor-unit sum of prior lines of ``component`` (default:
    this one) with one of ``line_types`` in periods starting on or after ``since``."""
    prior = inp.prior_lines
    out = np.zeros(len(payees), dtype=np.int64)
    if len(prior) == 0:
        return out
    keep = (prior["component"] == (component or inp.component)) & prior["line_type"].isin(list(line_types))
    if reference is not None:
        keep &= prior["reference"].fillna("") == reference
    keep &= pd.to_datetime(prior["period_start"]) >= pd.Timestamp(since)
    part = prior.loc[keep]
    if len(part) == 0:
        return out
    pidx = pd.Index(payees["payee_id"]).get_indexer(part["payee_id"])
    minor = decimals_to_minor(part["amount"], inp.minor_units, "prior line amount")
    sel = pidx >= 0
    np.add.at(out, pidx[sel], minor[sel])
    return out


# ---- exact numbers ----
def exact_dtype(*bounds: int) -> Any:
    """int64 when every bound is safely inside 64 bits, else object (Python ints)."""
    return np.int64 if fits_int64(*bounds) else object


def as_dtype(values: np.ndarray, dtype: Any) -> np.ndarray:
    if dtype is object and values.dtype != object:
        out = np.empty(len(values), dtype=object)
        out[:] = [int(v) for v in values]
        return out
    return values


def round_exact(values: np.ndarray, scale: int, mode: str) -> np.ndarray:
    """Exact amounts in units of 10**-scale minor units (ints or Fractions) rounded to whole
    minor units with ``mode``; returns int64."""
    if len(values) == 0:
        return np.zeros(0, dtype=np.int64)
    if values.dtype == object and any(isinstance(v, Fraction) for v in values):
        nums = np.array([Fraction(v).numerator for v in values], dtype=object)
        dens = np.array([Fraction(v).denominator * 10**scale for v in values], dtype=object)
        return np.array(round_div(nums, dens, mode), dtype=np.int64)
    out = round_div(values, 10**scale, mode)
    return np.asarray(out, dtype=np.int64) if out.dtype == object else out


def group_sum(values: np.ndarray, groups: np.ndarray, n: int) -> np.ndarray:
    """Sum ``values`` into ``n`` buckets (exact; keeps object dtype)."""
    if values.dtype == object:
        out = np.zeros(n, dtype=object)
        out[:] = [0] * n
        np.add.at(out, groups, values)
        return out
    out = np.zeros(n, dtype=values.dtype)
    np.add.at(out, groups, values)
    return out


def scale_of(value: Decimal) -> int:
    exponent = value.normalize().as_tuple().exponent
    return max(0, -exponent) if isinstance(exponent, int) else 0


def to_scaled(value: Decimal, scale: int) -> int:
    return int(value.scaleb(scale))


def ceil_mul(values: np.ndarray, factor: Decimal) -> np.ndarray:
    """ceil(values * factor) for integer ``values`` (exact), as int64."""
    s = scale_of(factor)
    f = to_scaled(factor, s)
    prod = values.astype(object) * f
    out = -((-prod) // (10**s))
    return np.asarray(out, dtype=np.int64)


# ---- output ----
def fmt_money(minor: np.ndarray | Sequence[int], places: int) -> list[str]:
    return [f"{v:,.{places}f}" for v in minor_to_decimals(np.asarray(minor, dtype=np.int64), places)]


def fmt_rate(rate: Decimal | None) -> str:
    if rate is None:
        return ""
    pct = (rate * 100).normalize()
    return f"{pct:f}%"


def lines_frame(payee_ids: Sequence[str] | np.ndarray, component: str, line_type: str,
                amount_minor: np.ndarray, places: int, *, status: str = "payable", measure: str = "",
                measure_value: np.ndarray | None = None, attainment: Sequence[Any] | None = None,
                tier: Sequence[str] | None = None, rate: Sequence[Any] | None = None,
                formula: Sequence[str] | None = None, credit_ids: Sequence[list[str]] | None = None,
                reference: str | Sequence[str] = "") -> pd.DataFrame:
    """A payout-line frame (:data:`LINE_COLUMNS`) from per-payee arrays."""
    n = len(payee_ids)
    frame = pd.DataFrame({
        "payee_id": pd.Series(list(payee_ids), dtype=object),
        "component": component,
        "line_type": line_type,
        "amount": pd.Series(minor_to_decimals(np.asarray(amount_minor, dtype=np.int64), places), dtype=object),
        "status": status,
        "measure": measure,
        "measure_value": pd.Series(minor_to_decimals(measure_value, places) if measure_value is not None
                                   else [None] * n, dtype=object),
        "attainment": pd.Series(list(attainment) if attainment is not None else [None] * n, dtype=object),
        "tier": pd.Series(list(tier) if tier is not None else [""] * n, dtype=object),
        "rate": pd.Series(list(rate) if rate is not None else [None] * n, dtype=object),
        "formula": pd.Series(list(formula) if formula is not None else [""] * n, dtype=object),
        "credit_ids": pd.Series(list(credit_ids) if credit_ids is not None else [[] for _ in range(n)], dtype=object),
        "reference": pd.Series([reference] * n if isinstance(reference, str) else list(reference), dtype=object),
    })
    return frame.loc[:, list(LINE_COLUMNS)]


def concat_lines(frames: Sequence[pd.DataFrame]) -> pd.DataFrame:
    frames = [f for f in frames if len(f)]
    if not frames:
        return pd.DataFrame({c: pd.Series([], dtype=object) for c in LINE_COLUMNS})
    return pd.concat(frames, ignore_index=True).loc[:, list(LINE_COLUMNS)]


def ids_by_payee(inp: CalcInput, payees: pd.DataFrame, frame: pd.DataFrame, mask: np.ndarray, n: int) -> list[list[str]]:
    """The credit ids of the selected rows of a :func:`credit_frame` result, per payee position."""
    if len(frame) == 0 or not mask.any():
        return [[] for _ in range(n)]
    part = frame.loc[mask]
    ids = prepared(inp, payees)["credit_id"].take(part["row"].to_numpy(dtype=np.int64)).astype(str).to_numpy(dtype=object)
    pidx = part["pidx"].to_numpy(dtype=np.int64)
    if np.any(pidx[1:] < pidx[:-1]):
        order = np.argsort(pidx, kind="stable")
        pidx, ids = pidx[order], ids[order]
    starts = np.searchsorted(pidx, np.arange(n), side="left")
    ends = np.searchsorted(pidx, np.arange(n), side="right")
    flat = ids.tolist()
    return [flat[a:b] for a, b in zip(starts.tolist(), ends.tolist())]
