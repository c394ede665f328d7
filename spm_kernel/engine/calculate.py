"""``ws.calculate(period)``: credits, attainment and payout lines for every payee, in one
transaction, recorded as a run.

What a run does, in order, inside ONE database transaction (all or nothing: an error, an
exception from a plugin or a killed process leaves no trace but a ``failed`` run record):

1. ``spm_before_run(ws, run)``; the period is registered (open).
2. **Restatement.** For every closed period that this period is the first open period after
   (the closed periods of the same kind immediately before it), the inputs of its window are
   hashed; if they differ from the hash last accounted for, the closed period is
   recalculated with today's data and plans, without touching its stored results, and each
   difference from what was already accounted for it (its frozen lines plus adjustments
   booked since) becomes a **prior-period adjustment line** in this period, linked to the
   line it corrects (``corrects_line_id``) and the period (``corrects_period_id``). Such a
   line keeps the corrected line's component and line type, so a year-to-date component sees
   it as already paid for that period and does not pay it twice.
3. **Credits** for every transaction in the union of the windows the plans ask for
   (:mod:`spm_kernel.crediting`).
4. **Payout lines** of the period for every assigned payee of every active plan
   (:func:`spm_kernel.plans.calculate_period`), with the lines of earlier periods of the
   same kind (and their adjustments) as prior lines; then approved manual adjustments of the
   period.
5. Lines, the credits dated in the period (and in the closed periods it restated) and the
   run record (input hash, plan versions, timings, counts) are written;
   ``spm_after_run(ws, run)``; commit.

Runs are values: a recalculation is a new run, and the latest succeeded run of an open
period is its result. Recalculating unchanged inputs gives identical credits and lines (the
same ids, amounts and explanations) and the same input hash.
"""

from __future__ import annotations

import getpass
import hashlib
import json
import resource
import time
import uuid
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal, localcontext
from fractions import Fraction
from typing import TYPE_CHECKING, Any

import duckdb
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
from tqdm.auto import tqdm

from spm_kernel.crediting import (
    CreditingConfig,
    compute_credits,
    credit_tables,
    drop_credits,
    insertion_order,
    unordered,
    read_crediting_config,
)
from spm_kernel.engine.audit import append_audit, now
from spm_kernel.engine.ledger import (
    LEDGER_LINE_COLUMNS,
    EngineError,
    closed_block_before,
    effective_runs,
    ensure_period,
    last_accounted_hash,
    ledger_lines,
    refuse_closed,
)
from spm_kernel.engine.runs import Run
from spm_kernel.periods import Period, parse_period, year
from spm_kernel.periods import fiscal_year_of as _fy
from spm_kernel.plantypes.contract import SCORE_COLUMNS, CalcPeriod, empty_frame
from spm_kernel.store.schema import LINEAGE, get_table

if TYPE_CHECKING:
    from spm_kernel.plans import PlanBook
    from spm_kernel.workspace import Workspace

ENGINE_VERSION = "1"
MANUAL_PLAN = "manual"
KEY_COLUMNS = ("payee_id", "plan_id", "component", "line_type", "reference")
HASHED_TABLES = ("payees", "hierarchy", "accounts", "opportunities", "opportunity_splits", "crediting_rules",
                 "quotas", "plan_assignments")
CATEGORY_COLUMNS = ("kind", "product", "segment", "deal_type", "region_id")
_LINE_SCHEMA = pa.schema([
    ("line_id", pa.string()), ("run_id", pa.string()), ("period_id", pa.string()), ("line_no", pa.int32()),
    ("line_key", pa.string()), ("payee_id", pa.string()), ("plan_id", pa.string()), ("plan_version", pa.int32()),
    ("component", pa.string()), ("line_type", pa.string()), ("amount", pa.decimal128(18, 2)),
    ("currency", pa.string()), ("status", pa.string()), ("measure", pa.string()),
    ("measure_value", pa.decimal128(38, 10)), ("attainment", pa.decimal128(38, 10)), ("tier", pa.string()),
    ("rate", pa.decimal128(38, 10)), ("formula", pa.string()), ("credit_ids", pa.list_(pa.string())),
    ("reference", pa.string()), ("unprorated_amount", pa.decimal128(18, 2)), ("proration", pa.decimal128(18, 10)),
    ("explanation", pa.string()), ("corrects_line_id", pa.string()), ("corrects_period_id", pa.string()),
])
WRITE_COLUMNS = tuple(_LINE_SCHEMA.names)
_TEN = Decimal("1e-10")


def load_book(ws: Workspace) -> PlanBook:
    """Every plan file in the workspace's plans folder, validated by the registered plan types."""
    from spm_kernel.plans import PlanBook

    return PlanBook.load_folder(ws.plans_dir, ws.registry.plan_types)


def calc_period(period: Period) -> CalcPeriod:
    return CalcPeriod(period.period_id, period.start, period.end)


def plan_year_of(period: Period, fiscal_year_start_month: int) -> CalcPeriod:
    """The fiscal year that contains the period's last day (the plan year of the contract)."""
    return calc_period(year(_fy(period.end, fiscal_year_start_month), fiscal_year_start_month))


def plan_windows(book: PlanBook, period: Period, plan_year: CalcPeriod,
                 statuses: tuple[str, ...] = ("active",)) -> tuple[date, date, date]:
    """(first credit date, last credit date, first prior-line date) that the components of
    the plans in force in ``period`` ask for (at least the plan year to the period end)."""
    cp = calc_period(period)
    starts, ends, hist = [plan_year.start], [period.end], [plan_year.start]
    for plan in book:
        if plan.spec.status not in statuses or not plan.overlaps(plan_year.start, period.end):
            continue
        for comp in plan.components:
            s, e = comp.plan_type.credit_window(comp.config, cp, plan_year)
            starts.append(s)
            ends.append(e)
            hist.append(comp.plan_type.history_start(comp.config, cp, plan_year))
    return min(starts), max(ends), min(hist)


def data_hash(con: duckdb.DuckDBPyConnection, start: date, end: date, book: PlanBook,
              config: CreditingConfig) -> str:
    """A hash of everything a period's results depend on: the transactions dated in
    ``start``..``end``, FX rates around them, the people, deals, splits, rules, quotas and
    assignments, the plan files in force and the crediting settings."""
    parts: list[str] = [ENGINE_VERSION, config.model_dump_json()]
    lineage = {c.name for c in LINEAGE}
    queries = []
    for name in ("transactions", "fx_rates", *HASHED_TABLES):
        cols = ", ".join(f'"{c.name}"' for c in get_table(name).columns if c.name not in lineage)
        where = ""
        if name == "transactions":
            where = f" WHERE transaction_date BETWEEN DATE '{start}' AND DATE '{end}'"
        elif name == "fx_rates":
            where = (f" WHERE rate_date BETWEEN DATE '{start - timedelta(days=400)}' "
                     f"AND DATE '{end + timedelta(days=400)}'")
        queries.append(f"SELECT '{name}', count(*), CAST(coalesce(sum(CAST(hash({cols}) AS HUGEINT)), 0) AS VARCHAR) "
                       f"FROM \"{name}\"{where}")
    for row in sorted(con.execute(" UNION ALL ".join(queries)).fetchall()):  # union order is not guaranteed
        parts.append(f"{row[0]}:{row[1]}:{row[2]}")
    parts.extend(sorted(f"{p.plan_id}@{p.version}:{p.spec.status}:{p.content_hash}" for p in book))
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()[:32]


@dataclass
class _Inputs:
    """What every period calculated in a run shares."""

    book: PlanBook
    credits: pd.DataFrame
    people: pd.DataFrame
    hierarchy: pd.DataFrame
    assignments: pd.DataFrame
    quotas: pd.DataFrame
    scores: pd.DataFrame
    fiscal_year_start_month: int
    statuses: tuple[str, ...] = ("active",)


def load_inputs(ws: Workspace, book: PlanBook, credits: pd.DataFrame, statuses: tuple[str, ...] = ("active",)) -> _Inputs:
    from spm_kernel.workspace import arrow_frame

    con = ws.con
    people = arrow_frame(con.sql(
        "SELECT payee_id, name, role, team_id, region_id, hire_date, termination_date, currency FROM payees "
        "ORDER BY payee_id"))
    hierarchy = arrow_frame(con.sql("SELECT payee_id, valid_from, valid_to, manager_id FROM hierarchy "
                                    "ORDER BY payee_id, valid_from"))
    assignments = arrow_frame(con.sql(
        "SELECT assignment_id, plan_id, assignee_type, assignee, effective_from, effective_to, target_incentive "
        "FROM plan_assignments ORDER BY assignment_id"))
    quotas = arrow_frame(con.sql(
        "SELECT q.payee_id, q.measure, q.period_start, q.period_end, q.amount, q.currency, p.currency AS paid_in "
        "FROM quotas q JOIN payees p USING (payee_id) ORDER BY q.payee_id, q.measure, q.period_start"))
    wrong = quotas.loc[quotas["currency"] != quotas["paid_in"]]
    if len(wrong):
        shown = "; ".join(f"{r.payee_id} {r.measure} from {r.period_start}: {r.currency} (paid in {r.paid_in})"
                          for r in wrong.head(10).itertuples(index=False))
        raise EngineError(f"{len(wrong)} quota row(s) are not in the payee's currency, so attainment would mix "
                          f"currencies: {shown}")
    return _Inputs(book, credits, people, hierarchy, assignments,
                   quotas.drop(columns=["currency", "paid_in"]), empty_frame(SCORE_COLUMNS),
                   ws.config.fiscal_year_start_month, statuses)


def _payees_on(inputs: _Inputs, day: date) -> pd.DataFrame:
    """The payees with the manager each reports to on ``day``."""
    h = inputs.hierarchy
    on = h.loc[(pd.to_datetime(h["valid_from"]) <= pd.Timestamp(day))
               & (h["valid_to"].isna() | (pd.to_datetime(h["valid_to"]) > pd.Timestamp(day)))]
    managers = dict(zip(on["payee_id"], on["manager_id"]))
    people = inputs.people.copy()
    people["manager_id"] = people["payee_id"].map(managers)
    return people


def period_lines(inputs: _Inputs, period: Period, prior: pd.DataFrame) -> pd.DataFrame:
    """The payout lines of ``period`` for every assigned payee (nothing is written)."""
    from spm_kernel.plans import calculate_period

    plan_year = plan_year_of(period, inputs.fiscal_year_start_month)
    lines = calculate_period(
        inputs.book, calc_period(period), plan_year, credits=inputs.credits,
        payees=_payees_on(inputs, period.end), quotas=inputs.quotas, prior_lines=prior, scores=inputs.scores,
        assignments=inputs.assignments, statuses=inputs.statuses)
    lines = lines.reset_index(drop=True)
    lines["reference"] = lines["reference"].fillna("").astype(object)
    return lines


def scaled_decimal(values: pa.Array, scale: int) -> pa.Array:
    """An Arrow decimal128(18, ``scale``) array holding ``values / 10**scale`` exactly, built
    from the int64 ``values`` without a Python object per row."""
    low = values.to_numpy(zero_copy_only=False).astype(np.int64, copy=False)
    words = np.empty(len(low) * 2, dtype=np.int64)
    words[0::2] = low
    words[1::2] = low >> 63
    validity = values.buffers()[0] if values.null_count else None
    return pa.Array.from_buffers(pa.decimal128(18, scale), len(low), [validity, pa.py_buffer(words)],
                                 null_count=values.null_count)


FRAME_COLUMNS = ("credit_id", "payee_id", "transaction_id", "opportunity_id", "credit_date", "credit_type", "kind",
                 "amount", "product", "segment", "deal_type", "region_id", "original_transaction_id", "amount_minor",
                 "walk_order", "rule")


def _rank(strings: pa.Array | pa.ChunkedArray) -> np.ndarray:
    """Each string's position in the sorted order of all of them (byte order, like ``<``)."""
    order = pc.sort_indices(strings).to_numpy()
    rank = np.empty(len(order), dtype=np.int64)
    rank[order] = np.arange(len(order), dtype=np.int64)
    return rank


def _dictionary(column: pa.ChunkedArray | pa.DictionaryArray) -> pa.DictionaryArray:
    """One dictionary array of a coded narrow credits column (see
    :func:`spm_kernel.crediting.compute_credits`)."""
    return column.combine_chunks() if isinstance(column, pa.ChunkedArray) else column


def _credit_ids(con: duckdb.DuckDBPyConnection, transaction_ids: pa.Array | pa.ChunkedArray,
                payee: pa.DictionaryArray, types: pa.DictionaryArray, details: pa.Array,
                detail: np.ndarray) -> pa.ChunkedArray:
    """``transaction_id/payee_id/credit_type[/detail]`` per credit (``detail`` indexes
    ``details``, -1 for none). The suffix after the transaction id is built once per distinct
    (payee, type, detail); DuckDB joins it to each credit's transaction id, in order, on
    every core (twice as fast as Arrow's one-threaded join)."""
    width = len(details) + 1
    key = (payee.indices.to_numpy(zero_copy_only=False).astype(np.int64) * len(types.dictionary)
           + types.indices.to_numpy(zero_copy_only=False)) * width + detail + 1
    codes, distinct = pd.factorize(key, sort=False)
    detail_of = distinct % width - 1
    suffixes = pc.binary_join_element_wise(
        payee.dictionary.take(pa.array(distinct // width // len(types.dictionary))),
        types.dictionary.take(pa.array(distinct // width % len(types.dictionary))),
        details.take(pa.array(detail_of, mask=detail_of < 0)), "/", null_handling="skip")
    parts = pa.table({"transaction_id": transaction_ids,
                      "suffix": pa.DictionaryArray.from_arrays(pa.array(codes.astype(np.int32)), suffixes)})
    name = "__spm_credit_id_parts"
    con.register(name, pa.Table.from_batches(parts.to_batches(max_chunksize=1 << 19), schema=parts.schema))
    try:
        with insertion_order(con, True):  # row i is credit i
            return con.sql(f"SELECT transaction_id || '/' || suffix FROM {name}").to_arrow_table().column(0)
    finally:
        con.unregister(name)


def credit_arrays(con: duckdb.DuckDBPyConnection) -> pa.Table:
    """Every credit of the computed credits as one Arrow table with the columns the plan
    types need plus ``n_row`` (numbers the credits) and ``tx_pos`` (the row of its
    transaction in the transactions table), built from the narrow credits and their
    transactions with Arrow ``take`` (no join of wide rows in SQL). Row order is
    unspecified. Low-cardinality text is dictionary-encoded; amounts are exact.

    ``walk_order`` (int64) orders like ``credit_id`` among the credits of one payee and day
    (where the plan types need it): the rank of ``transaction_id + '/'`` and then of the rest
    of the id (``type[/detail]``), so no string of ``credit_id`` is ever sorted.
    """
    narrow, tx = credit_tables(con)
    payee, types, rule, source = (_dictionary(narrow.column(name))
                                  for name in ("payee_id", "credit_type", "rule", "source_payee_id"))
    keys = tx.column("tx_idx").to_numpy()
    position = np.full(int(keys.max()) + 1 if len(keys) else 1, -1, dtype=np.int64)
    position[keys] = np.arange(len(keys), dtype=np.int64)
    tx_pos = position[narrow.column("tx_idx").to_numpy()]
    take = pa.array(tx_pos)
    columns: dict[str, Any] = {}
    for name in ("transaction_id", "opportunity_id", "original_transaction_id"):
        columns[name] = tx.column(name).take(take)
    for name in CATEGORY_COLUMNS:
        columns[name] = tx.column(name).dictionary_encode().take(take)
    columns["payee_id"], columns["credit_type"], columns["rule"] = payee, types, rule
    # The detail of the id: the source payee of a roll-up, the rule of a rule or overlay
    # credit, else none; as codes into the source payees' and then the rules' dictionary.
    type_code = types.indices.to_numpy(zero_copy_only=False).astype(np.int64)
    type_names = types.dictionary.to_pylist()
    rollup = np.isin(type_code, [i for i, t in enumerate(type_names) if t == "rollup"])
    by_rule = np.isin(type_code, [i for i, t in enumerate(type_names) if t in ("rule", "overlay")])
    details = pa.concat_arrays([source.dictionary, rule.dictionary])
    detail = np.where(rollup, source.indices.fill_null(-1).to_numpy(zero_copy_only=False).astype(np.int64),
                      np.where(by_rule, len(source.dictionary) + rule.indices.to_numpy(zero_copy_only=False), -1))
    columns["credit_id"] = _credit_ids(con, columns["transaction_id"], payee, types, details, detail)
    # the rest of the id, "type[/detail]", orders by type (no type name is a prefix of
    # another), then by detail with "no detail" first (a prefix sorts first)
    distinct, detail_rank = np.unique(np.array(details.to_pylist(), dtype=object), return_inverse=True)
    width = len(distinct) + 1
    suffix_rank = _rank(types.dictionary)[type_code] * width + np.append(detail_rank + 1, 0)[detail]
    tx_rank = _rank(pc.binary_join_element_wise(tx.column("transaction_id"), pa.scalar(""), "/"))
    columns["walk_order"] = pa.array(tx_rank[tx_pos] * (len(type_names) * width) + suffix_rank)
    cents = narrow.column("cents").combine_chunks()
    columns["amount"] = scaled_decimal(cents, 2)
    columns["amount_minor"] = pc.divide(cents, pc.cast(narrow.column("unit").combine_chunks(), pa.int64()))
    columns["credit_date"] = narrow.column("credit_date")
    columns["n_row"] = narrow.column("n_row")
    columns["tx_pos"] = take
    return pa.table(columns)


def credits_frame(con: duckdb.DuckDBPyConnection, arrays: pa.Table | None = None) -> pd.DataFrame:
    """The credits as the plan types want them (:data:`CREDIT_COLUMNS` plus ``amount_minor``,
    ``walk_order`` and ``rule``): ``credit_date`` as datetime64, ``amount`` exact
    (Arrow decimal: its scalars are ``Decimal``, with no Python object per row), the
    transaction's low-cardinality attributes as categories. Row order is unspecified (plan
    types order credits by payee, date and ``walk_order`` themselves)."""
    table = (arrays if arrays is not None else credit_arrays(con)).select(list(FRAME_COLUMNS))
    return table.to_pandas(date_as_object=False,
                           types_mapper=lambda t: pd.ArrowDtype(t) if pa.types.is_decimal(t) else None)


def _prior(lines: pd.DataFrame, before: date, since: date) -> pd.DataFrame:
    if len(lines) == 0:
        return lines
    start = pd.to_datetime(lines["period_start"])
    keep = (start >= pd.Timestamp(since)) & (start < pd.Timestamp(before))
    return lines.loc[keep.to_numpy()].reset_index(drop=True)


def _sum_by_key(frame: pd.DataFrame) -> pd.DataFrame:
    if len(frame) == 0:
        return pd.DataFrame({**{k: pd.Series([], dtype=object) for k in KEY_COLUMNS}, "amount": pd.Series([], dtype=object)})
    return frame.groupby(list(KEY_COLUMNS), sort=False, as_index=False)["amount"].agg(lambda s: sum(s, Decimal(0)))


def restatement_lines(period: Period, recomputed: pd.DataFrame, accounted: pd.DataFrame) -> pd.DataFrame:
    """Prior-period adjustments: per line key, recomputed minus already accounted, where not 0.

    ``accounted`` holds the closed period's lines and every adjustment booked for it since
    (``line_id``, ``corrects_line_id`` identify them). Each adjustment keeps the key (payee,
    plan, component, line type, reference) of the lines it corrects and links to the
    original line of that key (or, for a key the period never had, to nothing)."""
    new = _sum_by_key(recomputed).rename(columns={"amount": "new"})
    old = _sum_by_key(accounted).rename(columns={"amount": "old"})
    both = new.merge(old, on=list(KEY_COLUMNS), how="outer")
    both["new"] = both["new"].map(lambda v: Decimal(0) if v is None or (not isinstance(v, Decimal) and pd.isna(v)) else v)
    both["old"] = both["old"].map(lambda v: Decimal(0) if v is None or (not isinstance(v, Decimal) and pd.isna(v)) else v)
    both["diff"] = both["new"] - both["old"]
    both = both.loc[both["diff"] != 0]
    if both.empty:
        return recomputed.iloc[0:0].assign(corrects_line_id=pd.Series([], dtype=object),
                                           corrects_period_id=pd.Series([], dtype=object))
    first_new = recomputed.drop_duplicates(list(KEY_COLUMNS), keep="first")
    originals = accounted.loc[accounted["corrects_line_id"].isna()] if len(accounted) else accounted
    first_old = accounted.drop_duplicates(list(KEY_COLUMNS), keep="first") if len(accounted) else accounted
    link = originals.drop_duplicates(list(KEY_COLUMNS), keep="first")[[*KEY_COLUMNS, "line_id"]] \
        if len(originals) else pd.DataFrame(columns=[*KEY_COLUMNS, "line_id"])
    rows = both.merge(first_new, on=list(KEY_COLUMNS), how="left", suffixes=("", "_new"))
    if len(first_old):
        fallback = first_old[[*KEY_COLUMNS, "plan_version", "currency", "status", "measure"]]
        rows = rows.merge(fallback, on=list(KEY_COLUMNS), how="left", suffixes=("", "_old"))
        for col in ("plan_version", "currency", "status", "measure"):
            rows[col] = rows[col].where(rows[col].notna(), rows[f"{col}_old"])
    rows = rows.merge(link, on=list(KEY_COLUMNS), how="left")
    rows["formula"] = [
        f"prior-period adjustment for {period}: recalculated {n:,.2f} - already accounted {o:,.2f} = {d:,.2f}"
        + (f"\nrecalculated: {f}" if isinstance(f, str) and f else "")
        for n, o, d, f in zip(rows["new"], rows["old"], rows["diff"], rows["formula"])]
    rows["amount"] = rows["diff"]
    rows["credit_ids"] = [v if isinstance(v, list) else [] for v in rows["credit_ids"]]
    rows["corrects_line_id"] = rows["line_id"].where(rows["line_id"].notna(), None)
    rows["corrects_period_id"] = period.period_id
    rows["explanation"] = [json.dumps({"recalculated": str(n), "accounted": str(o)}) for n, o in zip(rows["new"], rows["old"])]
    return rows.drop(columns=["new", "old", "diff", "line_id"]).reset_index(drop=True)


def manual_lines(con: duckdb.DuckDBPyConnection, period: Period) -> pd.DataFrame:
    """Approved manual adjustments of ``period`` as payout lines (``plan_id='manual'``)."""
    from spm_kernel.workspace import arrow_frame

    adj = arrow_frame(con.sql(
        "SELECT * FROM adjustments WHERE period_id = ? AND status = 'approved' ORDER BY created_at, adjustment_id", params=[period.period_id]))
    if adj.empty:
        return pd.DataFrame()
    return pd.DataFrame({
        "payee_id": adj["payee_id"], "plan_id": MANUAL_PLAN, "plan_version": 0,
        "component": adj["component"].fillna("manual_adjustment"), "line_type": "adjustment",
        "amount": adj["amount"], "currency": adj["currency"], "status": "payable",
        "formula": [f"manual adjustment {a} approved by {b} on {c:%Y-%m-%d}: {r}" for a, b, c, r in
                    zip(adj["adjustment_id"], adj["approved_by"], adj["approved_at"], adj["reason"])],
        "reference": adj["adjustment_id"], "corrects_line_id": adj["original_line_id"],
        "credit_ids": [[] for _ in range(len(adj))],
        "explanation": [json.dumps({"dispute_id": d}) if isinstance(d, str) else None for d in adj["dispute_id"]],
    })


def _dec(value: Any, places: Decimal) -> Decimal | None:
    if value is None:
        return None
    if isinstance(value, Fraction):
        with localcontext() as ctx:
            ctx.prec = 60
            value = Decimal(value.numerator) / Decimal(value.denominator)
    if isinstance(value, (int, np.integer)) and not isinstance(value, bool):
        value = Decimal(int(value))
    if not isinstance(value, Decimal):
        if pd.isna(value):
            return None
        raise EngineError(f"payout line value {value!r} ({type(value).__name__}) is not exact")
    with localcontext() as ctx:
        ctx.prec = 60
        return value.quantize(places)


def assemble_lines(run: Run, parts: list[pd.DataFrame]) -> pd.DataFrame:
    """One frame of the run's lines, numbered, keyed and ready to write."""
    parts = [p for p in parts if len(p)]
    if not parts:
        return pd.DataFrame({c: pd.Series([], dtype=object) for c in WRITE_COLUMNS})
    lines = pd.concat(parts, ignore_index=True)
    for col in WRITE_COLUMNS:
        if col not in lines.columns:
            lines[col] = None
    n = len(lines)
    lines["run_id"] = run.run_id
    lines["period_id"] = run.period.period_id
    lines["line_no"] = np.arange(1, n + 1, dtype=np.int32)
    lines["line_id"] = [f"{run.run_id}-{i:06d}" for i in range(1, n + 1)]
    lines["reference"] = lines["reference"].fillna("").astype(object)
    base = (lines["payee_id"].astype(str) + "|" + lines["plan_id"].astype(str) + "|" + lines["component"].astype(str)
            + "|" + lines["line_type"].astype(str) + "|" + lines["reference"].astype(str)
            + "|" + lines["corrects_period_id"].fillna("").astype(str))
    nth = base.groupby(base).cumcount()
    lines["line_key"] = [b if k == 0 else f"{b}#{k + 1}" for b, k in zip(base, nth)]
    cent = Decimal("0.01")
    lines["amount"] = [_dec(v, cent) for v in lines["amount"]]
    lines["unprorated_amount"] = [_dec(v, cent) for v in lines["unprorated_amount"]]
    for col in ("measure_value", "attainment", "rate", "proration"):
        lines[col] = [_dec(v, _TEN) for v in lines[col]]
    lines["plan_version"] = lines["plan_version"].astype(int)
    for col in ("measure", "tier", "formula", "explanation", "corrects_line_id", "corrects_period_id"):
        lines[col] = [None if v is None or (not isinstance(v, str) and pd.isna(v)) else str(v) for v in lines[col]]
    lines["credit_ids"] = [list(v) if isinstance(v, (list, tuple, np.ndarray)) else [] for v in lines["credit_ids"]]
    return lines.loc[:, list(WRITE_COLUMNS)]


def write_lines(con: duckdb.DuckDBPyConnection, lines: pd.DataFrame) -> None:
    if len(lines) == 0:
        return
    new_lines = pa.Table.from_pandas(lines, schema=_LINE_SCHEMA, preserve_index=False)  # noqa: F841 - read by name
    con.execute(f"INSERT INTO payout_lines ({', '.join(WRITE_COLUMNS)}) SELECT * FROM new_lines")


def write_credits(con: duckdb.DuckDBPyConnection, run_id: str, periods: list[Period], arrays: pa.Table) -> int:
    """Store the credits dated in ``periods`` (the run's own and the closed ones it restated);
    credits of earlier dates that year-to-date measures used belong to their periods' runs
    and carry the same stable ``credit_id``. ``arrays`` is :func:`credit_arrays` (the narrow
    credits and transactions must still be registered: the columns only storage needs are
    built for the stored rows alone)."""
    narrow, tx = credit_tables(con)
    # credit_id is generated from the stored columns (migration 0012), never written
    cols = [c.name for c in get_table("credits").columns if c.name not in ("credit_no", "run_id", "credit_id")]
    base = con.execute("SELECT coalesce(max(credit_no), 0) FROM credits").fetchall()[0][0]
    dates = arrays.column("credit_date")
    keep = None
    for p in periods:
        inside = pc.and_(pc.greater_equal(dates, pa.scalar(p.start, pa.date32())),
                         pc.less_equal(dates, pa.scalar(p.end, pa.date32())))
        keep = inside if keep is None else pc.or_(keep, inside)
    rows = pc.indices_nonzero(keep.combine_chunks() if isinstance(keep, pa.ChunkedArray) else keep)
    picked = arrays.take(rows).select(["transaction_id", "payee_id", "credit_type", "rule", "amount",
                                       "credit_date", "kind", "n_row", "tx_pos"])
    small = narrow.take(rows)
    extra = {
        "share": scaled_decimal(small.column("micro").combine_chunks(), 6),
        "rollup_level": pc.cast(small.column("rollup_level"), pa.int32()),
        "source_payee_id": small.column("source_payee_id"),
        "source_amount": scaled_decimal(small.column("source_cents").combine_chunks(), 2),
        "fx_rate": scaled_decimal(pc.fill_null(small.column("rate_units"), 10**8).combine_chunks(), 8),
        "fx_quote": small.column("fx_quote"),
        "source_currency": tx.column("source_currency").take(picked.column("tx_pos")),
    }
    payees = con.sql("SELECT payee_id, currency FROM payees").to_arrow_table()
    payee = _dictionary(picked.column("payee_id"))
    currency_of = payees.column("currency").take(pc.index_in(payee.dictionary, value_set=payees.column("payee_id")))
    extra["currency"] = currency_of.take(payee.indices)
    stored = picked  # noqa: F841 - read by name below
    for name, values in extra.items():
        stored = stored.append_column(name, values)
    con.execute(
        f"INSERT INTO credits (credit_no, run_id, {', '.join(cols)}) "
        f"SELECT {int(base) + 1} + n_row, ?, {', '.join(cols)} FROM stored", [run_id])
    return int(stored.num_rows)


def _cpu() -> float:
    """CPU seconds (user + system, every thread) of this process so far."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def new_run_id() -> str:
    return f"R{now():%Y%m%d%H%M%S}-{uuid.uuid4().hex[:6]}"


def default_actor() -> str:
    try:
        return getpass.getuser()
    except Exception:  # noqa: BLE001 - no login name in some containers
        return "unknown"


def _plan_versions(book: PlanBook, plan_year: CalcPeriod, period: Period, lines: pd.DataFrame) -> dict[str, Any]:
    used = {(str(p), int(v)) for p, v in zip(lines["plan_id"], lines["plan_version"])} if len(lines) else set()
    out: dict[str, Any] = {}
    for plan in book:
        if plan.spec.status == "active" and plan.overlaps(plan_year.start, period.end):
            out.setdefault(plan.plan_id, []).append({
                "version": plan.version, "content_hash": plan.content_hash,
                "file": plan.path.name if plan.path else None, "used": (plan.plan_id, plan.version) in used})
    return out


def _record_failure(con: duckdb.DuckDBPyConnection, run: Run, exc: BaseException) -> None:
    run.status = "failed"
    run.finished_at = now()
    run.error = f"{type(exc).__name__}: {exc}"[:4000]
    try:
        con.execute("BEGIN TRANSACTION")
        con.execute(
            "INSERT INTO calc_runs (run_id, period_id, started_at, finished_at, status, created_by, error) "
            "VALUES (?, ?, ?, ?, 'failed', ?, ?)",
            [run.run_id, run.period.period_id, run.started_at, run.finished_at, run.created_by, run.error])
        con.execute("COMMIT")
    except Exception:  # noqa: BLE001 - the original error matters more
        try:
            con.execute("ROLLBACK")
        except Exception:  # noqa: BLE001
            pass


def calculate(ws: Workspace, period: str | Period, *, actor: str | None = None, progress: bool = True,
              crediting: CreditingConfig | None = None, executor: Any = None) -> Run:
    """Calculate ``period`` (``2026-03``, ``2026-Q1``, ``FY2026``) and record the run.

    ``executor``: where the payout lines are computed (``"local"``, ``"dask"``, a scheduler
    address or a ``distributed.Client``; default: the workspace's ``executor`` setting); see
    :mod:`spm_kernel.executors` and ``docs/scale.md``. Results are the same either way.

    Raises :class:`EngineError` if the period is closed (or overlaps a closed period), and
    whatever crediting, a plan or a plugin raised; in every failure case the workspace is
    left as it was, except for a ``failed`` row in ``calc_runs`` with the error.
    """
    from spm_kernel.executors import executor_period_lines, resolve_executor, stage_parquet_inputs, unstage_inputs

    ws._check_writable()
    fsm = ws.config.fiscal_year_start_month
    ex = resolve_executor(ws, executor)
    target = parse_period(period, fsm)
    con = ws.con
    refuse_closed(con, target)
    book = load_book(ws)
    config = crediting or read_crediting_config(ws.path)
    run = Run(run_id=new_run_id(), period=target, started_at=now(), created_by=actor or default_actor(), ws=ws)
    bar = tqdm(total=7, desc=f"spm calc {target}", unit="step", disable=not progress, leave=False)
    clock, cpu_clock = time.perf_counter(), _cpu()
    timings: dict[str, float] = {}
    last = [clock, cpu_clock]

    def step(name: str) -> None:
        """Record the wall and CPU seconds since the previous step; advance the bar."""
        wall, cpu = time.perf_counter(), _cpu()
        timings[name] = round(wall - last[0], 4)
        timings[f"{name}_cpu"] = round(cpu - last[1], 4)
        last[:] = [wall, cpu]
        bar.set_postfix_str(name)
        bar.update(1)

    try:  # staged outside the run's transaction (rows get ordinary row ids); dropped at the end
        staged = stage_parquet_inputs(ws, target)
    except BaseException as exc:
        bar.close()
        _record_failure(con, run, exc)
        raise
    order = unordered(con)
    order.__enter__()
    try:
        con.execute("BEGIN TRANSACTION")
    except BaseException:
        order.__exit__(None, None, None)
        bar.close()
        raise
    try:
        ws.plugins.hook.spm_before_run(ws=ws, run=run)
        ensure_period(con, target)
        effective = effective_runs(con, before=target.start, exclude=target.period_id)
        run_ids = [str(r) for r in effective["run_id"]]
        plan_year = plan_year_of(target, fsm)
        c_start, c_end, h_start = plan_windows(book, target, plan_year)
        restated = {target.period_id: data_hash(con, c_start, target.end, book, config)}
        todo: list[tuple[Period, date]] = []
        for closed in closed_block_before(con, target, fsm):
            py = plan_year_of(closed, fsm)
            cs, _, hs = plan_windows(book, closed, py)
            h = data_hash(con, cs, closed.end, book, config)
            if h != last_accounted_hash(con, run_ids, closed.period_id):
                todo.append((closed, hs))
                c_start, h_start = min(c_start, cs), min(h_start, hs)
            restated[closed.period_id] = h
        step("inputs")
        summary = compute_credits(con, c_start, max(c_end, target.end), config, fiscal_year_start_month=fsm)
        arrays = credit_arrays(con)
        step("credits")
        # store the run's credits now, then free everything but the plan types' frame
        run.credit_count = write_credits(con, run.run_id, [target, *[c for c, _ in todo]], arrays)
        drop_credits(con)
        step("store_credits")
        inputs = load_inputs(ws, book, credits_frame(con, arrays))
        del arrays
        step("frame")
        history = ledger_lines(con, run_ids, target.kind, accounting_from=h_start, accounting_before=target.start)
        adjustments: list[pd.DataFrame] = []
        for closed, hs in todo:
            prior = _prior(pd.concat([history, *adjustments], ignore_index=True), closed.start, hs)
            recomputed = executor_period_lines(ex, inputs, closed, prior.loc[:, [c for c in LEDGER_LINE_COLUMNS if c in prior]])
            accounted = history.loc[(history["period_id"] == closed.period_id)
                                    & (history["plan_id"] != MANUAL_PLAN)].reset_index(drop=True)
            adj = restatement_lines(closed, recomputed, accounted)
            if len(adj):
                adjustments.append(adj.assign(period_id=closed.period_id, period_start=closed.start,
                                              period_end=closed.end, line_id=None))
        step("restate")
        prior = _prior(pd.concat([history, *adjustments], ignore_index=True), target.start, h_start)
        own = executor_period_lines(ex, inputs, target, prior)
        del inputs
        step("calculate")
        lines = assemble_lines(run, [own, *[a.drop(columns=["period_start", "period_end", "line_id"]) for a in adjustments],
                                     manual_lines(con, target)])
        write_lines(con, lines)
        run.line_count = len(lines)
        run.restated = restated
        run.plan_versions = _plan_versions(book, plan_year, target, lines)
        run.input_hash = hashlib.sha256(json.dumps({
            "data": restated, "prior_runs": sorted(run_ids), "period": target.period_id,
            "manual": [str(x) for x in lines.loc[lines["plan_id"] == MANUAL_PLAN, "reference"]],
        }, sort_keys=True).encode()).hexdigest()[:32]
        step("write_lines")
        timings["total"] = round(time.perf_counter() - clock, 4)
        timings["total_cpu"] = round(_cpu() - cpu_clock, 4)
        timings["transactions"] = summary.transactions
        run.timings = timings
        run.status = "succeeded"
        run.finished_at = now()
        con.execute(
            "INSERT INTO calc_runs VALUES (?, ?, ?, ?, 'succeeded', ?, ?, ?, ?, ?, ?, ?, NULL)",
            [run.run_id, target.period_id, run.started_at, run.finished_at, run.input_hash,
             json.dumps(run.plan_versions, sort_keys=True), json.dumps(timings), run.created_by,
             run.credit_count, run.line_count, json.dumps(restated, sort_keys=True)])
        append_audit(con, run.created_by, "calculate", f"run:{run.run_id}", {
            "period": target.period_id, "lines": run.line_count, "credits": run.credit_count,
            "adjustments": int(sum(len(a) for a in adjustments)), "input_hash": run.input_hash})
        ws.plugins.hook.spm_after_run(ws=ws, run=run)
        con.execute("COMMIT")
    except BaseException as exc:
        con.execute("ROLLBACK")
        _record_failure(con, run, exc)
        raise
    finally:
        bar.close()
        try:
            drop_credits(con)
        except duckdb.Error:
            pass
        unstage_inputs(con, staged)
        order.__exit__(None, None, None)
    return run
