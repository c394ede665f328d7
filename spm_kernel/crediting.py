"""Crediting: which share of each transaction counts for which payee, in their currency.

Everything here is one set of DuckDB SQL statements over whole tables (no loop over rows or
payees). For the transactions dated in a window it produces one **credit** per (transaction,
payee, reason), each recording the ``rule`` that made it:

===============  ==========================================================================
``credit_type``  made by
===============  ==========================================================================
``direct``       the deal has no revenue splits: its owner (``opportunities.owner_id``) gets
                 100% (``rule='owner'``).
``split``        the deal has revenue splits: each split payee gets their percent
                 (``rule='revenue_split'``). The percents must sum to exactly 100, else
                 :class:`CreditingError` names every deal that does not.
``overlay``      an ``overlay`` row in ``opportunity_splits`` (``rule='overlay_split'``), or a
                 crediting rule whose ``credit_type`` is ``overlay``. Overlay percents may sum
                 to more than 100; overlay credit is labelled so that plans leave it out of
                 revenue attainment unless they ask for it.
``rule``         a row of ``crediting_rules`` matching the transaction's region (territory),
                 segment, product and deal type, effective on the credit date
                 (``rule='rule:<rule_id>'``).
``rollup``       every manager above the payee of a credit of a rolled-up type (``direct`` and
                 ``split`` by default), through the hierarchy **effective on the credit
                 date**, all levels up (``rule='hierarchy'``; ``rollup_level`` 1 is the direct
                 manager; ``source_payee_id`` is whose credit rolled up).
===============  ==========================================================================

Amounts are exact. A transaction's amount is split in integer minor units of its currency
(cents; whole yen for JPY): revenue split credits of one transaction always add up to the
transaction amount (largest-remainder allocation of the odd units, ties to the lower payee
id); overlay and rule credits are rounded half up. Each credit is then converted to the
**payee's currency** (``payees.currency``) at the FX rate of the credit date, or the average
of the daily rates over the month (or quarter, or fiscal year) containing it, as configured
(the average is rounded half up to 8 decimals, the scale of ``fx_rates.rate``); the
converted amount is rounded half up to the payee currency's minor unit. A rate may be quoted either way round (``EUR->USD`` or ``USD->EUR``; the inverse is
applied as an exact division). A missing rate is a :class:`CreditingError` naming the
currency pair and the date (or period). Cancellations and refunds are negative
transactions: they are credited exactly like bookings, with their sign, to the payees of the
deal (found through ``original_transaction_id`` when the cancellation has no deal of its
own), so that a full cancellation reverses every credit of the booking to the cent.

Settings live in ``crediting.yaml`` in the workspace folder (all optional), see
:class:`CreditingConfig`.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Literal

import duckdb
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from spm_kernel.errors import SPMError
from spm_kernel.money import MINOR_UNITS

CONFIG_FILE = "crediting.yaml"
CreditType = Literal["direct", "split", "overlay", "rule", "rollup"]
CREDIT_TYPES: tuple[str, ...] = ("direct", "split", "overlay", "rule", "rollup")
CREDITS = "__spm_credits"
TX = f"{CREDITS}_tx"
NARROW = f"{CREDITS}_n"
CLOSURE = "__spm_hierarchy_closure"
_FULL = 100_000_000  # 100% in millionths of a percent (the scale of DECIMAL(18,6))
_RATE_UNITS = 100_000_000  # FX rates are DECIMAL(18,8)
_MAX_LEVELS = 64


class CreditingError(SPMError):
    """Credits could not be computed: bad splits, a missing FX rate, a hierarchy cycle."""


class CreditingConfig(BaseModel):
    """How transactions become credits (``crediting.yaml`` in the workspace folder)."""

    model_config = ConfigDict(extra="forbid")

    fx_rate: Literal["credit_date", "period_average"] = Field(
        "credit_date", description="convert at the rate of the credit date, or the average of "
        "the daily rates over the period containing it")
    fx_average_period: Literal["month", "quarter", "year"] = Field(
        "month", description="the period averaged when fx_rate is period_average")
    rollup: bool = Field(True, description="credit managers up the hierarchy")
    rollup_credit_types: tuple[Literal["direct", "split", "overlay", "rule"], ...] = Field(
        ("direct", "split"), description="which credits roll up to managers")
    max_rollup_levels: int | None = Field(None, ge=1, description="None = every level up")
    transaction_kinds: tuple[Literal["booking", "invoice", "payment", "cancellation", "refund"], ...] | None = Field(
        None, description="credit only these transaction kinds (None = all)")


def read_crediting_config(folder: Path) -> CreditingConfig:
    """The settings in ``folder/crediting.yaml``, or the defaults when there is no file."""
    path = Path(folder) / CONFIG_FILE
    if not path.exists():
        return CreditingConfig()
    try:
        return CreditingConfig.model_validate(yaml.safe_load(path.read_text("utf-8")) or {})
    except yaml.YAMLError as exc:
        raise CreditingError(f"{path}: not valid YAML: {exc}") from None
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc'])) or '(top)'}: {e['msg']}" for e in exc.errors())
        raise CreditingError(f"{path}: {problems}") from None


@dataclass(frozen=True)
class CreditSummary:
    """What a crediting pass produced (the credits are in the temp table ``table``)."""

    table: str
    start: date
    end: date
    transactions: int
    credits: int
    uncredited: int  # transactions in the window that no payee received credit for


def _round_div(numerator: str, denominator: str | int) -> str:
    """SQL for round-half-up of ``numerator / denominator`` for a non-negative HUGEINT
    numerator and a positive denominator (exact integer arithmetic)."""
    return f"(({numerator}) * 2 + ({denominator})) // (2 * ({denominator}))"


def _signed(sign: str, magnitude: str) -> str:
    return f"CAST(({sign}) * ({magnitude}) AS BIGINT)"


def _cents_to_money(cents: str) -> str:
    return f"CAST(CAST({cents} AS DECIMAL(18,0)) * 0.01 AS DECIMAL(18,2))"


def compute_credits(con: duckdb.DuckDBPyConnection, start: date, end: date,
                    config: CreditingConfig | None = None, table: str = CREDITS,
                    fiscal_year_start_month: int = 1) -> CreditSummary:
    """Credit every transaction dated ``start``..``end`` (inclusive); the credits are the
    temp view ``table``.

    The view has one row per credit with the columns of the ``credits`` table (without
    ``credit_no`` and ``run_id``) plus ``cents`` and ``source_cents`` (the amounts as
    integer hundredths) and ``unit`` (hundredths per minor unit of the payee's currency: 1,
    or 100 for JPY). It reads two temp tables, kept narrow so that millions of credits stay
    cheap: ``<table>_tx`` (one row per transaction, its attributes, keyed by ``tx_idx``)
    and ``<table>_n`` (one row per credit: ``tx_idx``, payee, type, rule, amounts, FX).
    Drop all three with :func:`drop_credits`.

    Raises :class:`CreditingError` for revenue splits that do not sum to 100%, a missing FX
    rate, an amount with a fraction of its currency's minor unit, a crediting rule with
    ``valid_to`` not after ``valid_from``, or a cycle in the hierarchy (and then leaves no
    temp table behind). Runs inside the caller's transaction, if any; it writes only temp
    tables.
    """
    cfg = config or CreditingConfig()
    tx, narrow = f"{table}_tx", f"{table}_n"
    kinds = ""
    params: list[object] = [start, end, start, end]
    if cfg.transaction_kinds is not None:
        kinds = f" AND t.kind IN ({', '.join('?' for _ in cfg.transaction_kinds)})"
        params += list(cfg.transaction_kinds)
    drop_credits(con, table)
    # without a crediting rule in force, a transaction with no deal credits no one: skip it
    rules = con.execute("SELECT count(*) FROM crediting_rules WHERE valid_from <= ? AND (valid_to IS NULL OR valid_to > ?)",
                        [end, start]).fetchall()[0][0]
    creditable = "" if rules else " AND o.opportunity_id IS NOT NULL"
    _materialise(
        con, table, tx,
        f"""
        SELECT t.tx_idx, t.transaction_id, t.original_transaction_id, t.kind, t.transaction_date AS credit_date,
               CAST(t.amount * 100 AS BIGINT) // {_unit_sql('t.currency')} AS units,
               {_unit_sql('t.currency')} AS src_unit, CAST(t.amount * 100 AS BIGINT) AS cents,
               t.currency AS source_currency,
               o.opportunity_id, o.account_id, o.owner_id,
               coalesce(t.product, o.product) AS product,
               coalesce(t.segment, o.segment, a.segment) AS segment,
               coalesce(t.region_id, a.region_id) AS region_id,
               o.deal_type
        FROM (SELECT rowid AS tx_idx, * FROM transactions WHERE transaction_date BETWEEN ? AND ?) t
        LEFT JOIN (SELECT transaction_id, opportunity_id FROM transactions
                   WHERE transaction_id IN (SELECT original_transaction_id FROM transactions
                                            WHERE transaction_date BETWEEN ? AND ? AND opportunity_id IS NULL
                                              AND original_transaction_id IS NOT NULL)) orig
               ON orig.transaction_id = t.original_transaction_id
        LEFT JOIN opportunities o ON o.opportunity_id = coalesce(t.opportunity_id, orig.opportunity_id)
        LEFT JOIN accounts a ON a.account_id = o.account_id
        WHERE true{kinds}{creditable}
        """,
        params,
    )
    try:
        _check_minor_units(con, tx)
        _check_splits(con, tx)
        _check_rules(con)
        if cfg.rollup:
            build_hierarchy_closure(con)
        con.register("__spm_rates", _candidate_rates(con, cfg, fiscal_year_start_month, tx))
        codes = _register_codes(con)
        _materialise(con, table, narrow, _converted_sql(_credits_sql(cfg, tx)), row_numbers=True, decode=codes)
        _check_rates(con, narrow, tx, cfg)
        con.execute(f"CREATE TEMP VIEW {table} AS {_full_sql(narrow, tx)}")
        in_window = con.execute(f"SELECT count(*) FROM transactions t WHERE transaction_date BETWEEN ? AND ?{kinds}",
                                [start, end, *params[4:]]).fetchall()[0][0]
        tx_idx = credit_tables(con, table)[0].column("tx_idx").to_numpy()
        seen = np.zeros(int(tx_idx.max()) + 1 if len(tx_idx) else 1, dtype=bool)
        seen[tx_idx] = True
        counts = (in_window, len(tx_idx), in_window - int(seen.sum()))
    except BaseException:
        drop_credits(con, table)
        raise
    finally:
        con.execute(f"DROP TABLE IF EXISTS {CLOSURE}")
        for name in ("__spm_rates", _PAYEE_CODES, _RULE_CODES):
            con.unregister(name)
    return CreditSummary(table, start, end, int(counts[0]), int(counts[1]), int(counts[2]))


# The narrow credits and their transactions live as Arrow tables registered on the
# connection (a DuckDB temp table would cost about twice as much to build, and the plan
# types' frame is built from the Arrow data directly). Kept here, by connection and name.
_ARROW: dict[tuple[int, str], pa.Table] = {}


def _materialise(con: duckdb.DuckDBPyConnection, table: str, name: str, sql: str,
                 params: list[object] | None = None, row_numbers: bool = False,
                 decode: dict[str, pa.Array] | None = None) -> pa.Table:
    """Run ``sql`` into an Arrow table registered as ``name`` (``n_row`` = 0, 1, ... if asked).
    ``decode`` maps a column of int32 codes to its dictionary: the column becomes a
    dictionary array (DuckDB reads it as VARCHAR; no string is copied per row)."""
    result = con.sql(sql, params=params).to_arrow_table()
    for column, dictionary in (decode or {}).items():
        at = result.schema.get_field_index(column)
        indices = result.column(at).combine_chunks()
        result = result.set_column(at, column, pa.DictionaryArray.from_arrays(indices, dictionary))
    if row_numbers:
        result = result.append_column("n_row", pa.array(np.arange(result.num_rows, dtype=np.int64)))
    con.register(name, result)
    _ARROW[(id(con), name)] = result
    return result


def credit_tables(con: duckdb.DuckDBPyConnection, table: str = CREDITS) -> tuple[pa.Table, pa.Table]:
    """The Arrow tables behind credits view ``table``: (narrow credits, transactions)."""
    try:
        return _ARROW[(id(con), f"{table}_n")], _ARROW[(id(con), f"{table}_tx")]
    except KeyError:
        raise CreditingError(f"no credits computed as {table!r} on this connection") from None


@contextmanager
def insertion_order(con: duckdb.DuckDBPyConnection, preserve: bool) -> Iterator[None]:
    """DuckDB's ``preserve_insertion_order`` set to ``preserve`` for the duration, then put back."""
    before = con.execute("SELECT current_setting('preserve_insertion_order')").fetchall()[0][0]
    con.execute(f"SET preserve_insertion_order = {'true' if preserve else 'false'}")
    try:
        yield
    finally:
        con.execute(f"SET preserve_insertion_order = {'true' if before else 'false'}")


def unordered(con: duckdb.DuckDBPyConnection) -> AbstractContextManager[None]:
    """Let DuckDB write results in any row order (parallel sinks) for the duration; the
    engine never relies on the order of rows it did not sort."""
    return insertion_order(con, False)


def drop_credits(con: duckdb.DuckDBPyConnection, table: str = CREDITS) -> None:
    """Drop the view of credits ``table`` and the tables behind it (if they exist)."""
    con.execute(f"DROP VIEW IF EXISTS {table}")
    for name in (f"{table}_n", f"{table}_tx"):
        if _ARROW.pop((id(con), name), None) is not None:
            con.unregister(name)


def _full_sql(narrow: str, tx: str, extra: str = "") -> str:
    """Every column of a credit: the narrow credit joined with its transaction."""
    extra = f", {extra}" if extra else ""
    return f"""
        SELECT t.transaction_id || '/' || n.payee_id || '/' || n.credit_type ||
               CASE WHEN n.credit_type = 'rollup' THEN '/' || n.source_payee_id
                    WHEN n.credit_type IN ('rule', 'overlay') THEN '/' || n.rule ELSE '' END AS credit_id,
               t.transaction_id, t.original_transaction_id, t.opportunity_id, t.account_id, n.payee_id,
               n.credit_type, n.rule, CAST(n.rollup_level AS INTEGER) AS rollup_level, n.source_payee_id,
               CAST(CAST(n.micro AS DECIMAL(18,0)) * 0.000001 AS DECIMAL(18,6)) AS share, t.source_currency,
               CAST(n.unit AS INTEGER) AS unit, p.currency, n.credit_date, t.kind, t.product, t.segment, t.region_id,
               t.deal_type, n.cents, {_cents_to_money('n.cents')} AS amount,
               {_cents_to_money('n.source_cents')} AS source_amount, n.source_cents,
               CASE WHEN n.rate_units IS NULL THEN CAST(1 AS DECIMAL(18,8))
                    ELSE CAST(CAST(n.rate_units AS DECIMAL(18,0)) * 0.00000001 AS DECIMAL(18,8)) END AS fx_rate,
               n.fx_quote, n.tx_idx{extra}
        FROM {narrow} n JOIN {tx} t ON t.tx_idx = n.tx_idx JOIN payees p ON p.payee_id = n.payee_id"""


def _unit_sql(currency: str) -> str:
    """SQL: how many cents make one minor unit of ``currency`` (100 for JPY, else 1)."""
    whens = " ".join(f"WHEN '{code}' THEN {10 ** (2 - mu)}" for code, mu in sorted(MINOR_UNITS.items()) if mu < 2)
    return f"CAST(CASE {currency} {whens} ELSE 1 END AS BIGINT)"


def _check_minor_units(con: duckdb.DuckDBPyConnection, tx: str = TX) -> None:
    bad = con.execute(
        f"SELECT transaction_id, CAST(CAST(cents AS DECIMAL(18,0)) * 0.01 AS DECIMAL(18,2)), source_currency "
        f"FROM {tx} WHERE cents % src_unit <> 0 ORDER BY transaction_id LIMIT 20"
    ).fetchall()
    if bad:
        shown = "; ".join(f"transaction {t}: {a} {c}" for t, a, c in bad)
        raise CreditingError(f"amounts with a fraction of their currency's smallest unit cannot be credited "
                             f"exactly: {shown}")


def _check_splits(con: duckdb.DuckDBPyConnection, tx: str = TX) -> None:
    bad = con.execute(
        f"""
        SELECT opportunity_id, CAST(sum(percent) AS VARCHAR) AS total
        FROM opportunity_splits
        WHERE split_type = 'revenue'
          AND opportunity_id IN (SELECT opportunity_id FROM {tx} WHERE opportunity_id IS NOT NULL)
        GROUP BY opportunity_id HAVING sum(percent) <> 100 ORDER BY opportunity_id
        """
    ).fetchall()
    if bad:
        shown = "; ".join(f"deal {deal}: revenue splits sum to {total}%, not 100%" for deal, total in bad[:20])
        more = f" (and {len(bad) - 20} more deals)" if len(bad) > 20 else ""
        raise CreditingError(f"cannot credit {len(bad)} deal(s) whose revenue splits do not sum to "
                             f"exactly 100%: {shown}{more}")


_PAYEE_CODES = "__spm_payee_codes"
_RULE_CODES = "__spm_rule_codes"
# the rules the engine itself credits by, in the order of their codes (a crediting rule's
# code follows them: ``len(_BUILTIN_RULES)`` + its position by rule_id)
_BUILTIN_RULES = ("revenue_split", "owner", "overlay_split", "hierarchy")


def _type_code(credit_type: str) -> int:
    return CREDIT_TYPES.index(credit_type)


def _register_codes(con: duckdb.DuckDBPyConnection) -> dict[str, pa.Array]:
    """Register the small code tables the credits SQL joins (payee ids, crediting rules) and
    return the dictionaries of the narrow credits' coded columns: the credits carry int32
    codes out of DuckDB and :func:`_materialise` turns them into dictionary arrays, so no
    payee id, type or rule string is copied (or hashed) per credit."""
    payees = con.sql(
        "SELECT payee_id FROM payees UNION SELECT payee_id FROM hierarchy "
        "UNION SELECT manager_id FROM hierarchy WHERE manager_id IS NOT NULL ORDER BY payee_id"
    ).to_arrow_table().column(0).combine_chunks()
    rule_ids = con.sql("SELECT rule_id FROM crediting_rules ORDER BY rule_id").to_arrow_table().column(0).combine_chunks()
    con.register(_PAYEE_CODES, pa.table({"payee_id": payees, "payee_code": pa.array(np.arange(len(payees), dtype=np.int32))}))
    con.register(_RULE_CODES, pa.table({
        "rule_id": rule_ids,
        "rule_code": pa.array(np.arange(len(_BUILTIN_RULES), len(_BUILTIN_RULES) + len(rule_ids), dtype=np.int32)),
    }))
    rules = pa.concat_arrays([pa.array(_BUILTIN_RULES, pa.string()),
                              pc.binary_join_element_wise(pa.scalar("rule:"), rule_ids.cast(pa.string()), "")])
    return {"payee_id": payees.cast(pa.string()), "credit_type": pa.array(CREDIT_TYPES, pa.string()),
            "rule": rules, "source_payee_id": payees.cast(pa.string())}


def _check_rules(con: duckdb.DuckDBPyConnection) -> None:
    types = ", ".join(f"'{t}'" for t in CREDIT_TYPES)
    unknown = con.execute(
        f"SELECT rule_id, credit_type FROM crediting_rules WHERE credit_type NOT IN ({types}) ORDER BY rule_id"
    ).fetchall()
    if unknown:
        raise CreditingError("crediting rule(s) with an unknown credit_type (expected one of "
                             f"{', '.join(CREDIT_TYPES)}): " + ", ".join(f"{r} ({t!r})" for r, t in unknown))
    bad = con.execute(
        "SELECT rule_id FROM crediting_rules WHERE valid_to IS NOT NULL AND valid_to <= valid_from "
        "ORDER BY rule_id"
    ).fetchall()
    if bad:
        raise CreditingError("crediting rule(s) with valid_to not after valid_from: "
                             + ", ".join(r[0] for r in bad))


def build_hierarchy_closure(con: duckdb.DuckDBPyConnection, table: str = CLOSURE) -> None:
    """Temp table ``table``: every (payee, manager above them, level) with the dates the
    chain holds (``valid_from`` inclusive, ``valid_to`` exclusive), intersected level by
    level. Raises :class:`CreditingError` naming the payees of a reporting cycle."""
    con.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE {table} AS
        WITH RECURSIVE h AS (
            SELECT payee_id, manager_id, valid_from, coalesce(valid_to, DATE '9999-12-31') AS valid_to
            FROM hierarchy WHERE manager_id IS NOT NULL
        ),
        up(payee_id, ancestor_id, level, valid_from, valid_to, path) AS (
            SELECT payee_id, manager_id, 1, valid_from, valid_to, [payee_id, manager_id] FROM h
            UNION ALL
            SELECT up.payee_id, h.manager_id, up.level + 1,
                   greatest(up.valid_from, h.valid_from), least(up.valid_to, h.valid_to),
                   list_append(up.path, h.manager_id)
            FROM up JOIN h ON h.payee_id = up.ancestor_id
             AND h.valid_from < up.valid_to AND up.valid_from < h.valid_to
            WHERE up.level < {_MAX_LEVELS}
              AND NOT list_contains(list_slice(up.path, 1, len(up.path) - 1), up.ancestor_id)
        )
        SELECT payee_id, ancestor_id, level, valid_from, valid_to, path FROM up
        """
    )
    cycles = con.execute(
        f"SELECT payee_id, path FROM {table} WHERE ancestor_id = payee_id ORDER BY payee_id LIMIT 5"
    ).fetchall()
    if cycles:
        shown = "; ".join(" -> ".join(path) for _, path in cycles)
        raise CreditingError(f"the reporting hierarchy has a cycle (a payee is their own manager, "
                             f"directly or through others): {shown}")


def _credits_sql(cfg: CreditingConfig, tx: str = TX) -> str:
    """SQL of every credit (narrow: ``tx_idx`` stands for the transaction's attributes),
    amounts in the transaction's currency (``source_cents``)."""
    tx_cols = "tx_idx, credit_date, units, src_unit, source_currency"
    TX = tx  # noqa: N806 - the branches below name the transactions table TX
    abs_c = "CAST(abs(units) AS HUGEINT)"
    split, direct, overlay = _type_code("split"), _type_code("direct"), _type_code("overlay")
    rule_type = "CASE r.credit_type " + " ".join(f"WHEN '{t}' THEN {i}" for i, t in enumerate(CREDIT_TYPES)) + " END"

    def rule(name: str) -> int:
        return _BUILTIN_RULES.index(name)

    rounded = _signed("sign(units)", _round_div(f"{abs_c} * micro", _FULL))
    parts = [
        # deals with revenue splits: largest-remainder allocation of the minor units
        f"""
        SELECT {tx_cols}, payee_id, {split} AS type_code, {rule('revenue_split')} AS rule_code, micro,
               {_signed('sign(units)', 'base + CASE WHEN rk <= leftover THEN 1 ELSE 0 END')} AS source_units,
               0 AS rollup_level, CAST(NULL AS INTEGER) AS source_code
        FROM (
            SELECT *, abs(units) - sum(base) OVER (PARTITION BY tx_idx) AS leftover,
                   row_number() OVER (PARTITION BY tx_idx ORDER BY rem DESC, payee_id) AS rk
            FROM (
                SELECT tx.*, s.payee_id, CAST(s.percent * 1000000 AS BIGINT) AS micro,
                       CAST(abs(tx.units) AS HUGEINT) * CAST(s.percent * 1000000 AS BIGINT) // {_FULL} AS base,
                       CAST(abs(tx.units) AS HUGEINT) * CAST(s.percent * 1000000 AS BIGINT) % {_FULL} AS rem
                FROM {TX} tx JOIN opportunity_splits s
                  ON s.opportunity_id = tx.opportunity_id AND s.split_type = 'revenue'
            )
        )
        """,
        # deals without revenue splits: the owner
        f"""
        SELECT {tx_cols}, owner_id AS payee_id, {direct}, {rule('owner')}, {_FULL}, units, 0, NULL
        FROM {TX} tx
        WHERE owner_id IS NOT NULL AND NOT EXISTS (
            SELECT 1 FROM opportunity_splits s
            WHERE s.opportunity_id = tx.opportunity_id AND s.split_type = 'revenue')
        """,
        # overlay splits
        f"""
        SELECT {tx_cols}, payee_id, {overlay}, {rule('overlay_split')}, micro, {rounded}, 0, NULL
        FROM (SELECT tx.*, s.payee_id, CAST(s.percent * 1000000 AS BIGINT) AS micro
              FROM {TX} tx JOIN opportunity_splits s
                ON s.opportunity_id = tx.opportunity_id AND s.split_type = 'overlay')
        """,
        # territory / segment / product rules
        f"""
        SELECT {tx_cols}, payee_id, type_code, rule_code, micro, {rounded}, 0, NULL
        FROM (SELECT tx.*, r.payee_id, r.rule_code, r.type_code, CAST(r.percent * 1000000 AS BIGINT) AS micro
              FROM {TX} tx JOIN (SELECT r.*, rc.rule_code, {rule_type} AS type_code
                                 FROM crediting_rules r JOIN {_RULE_CODES} rc ON rc.rule_id = r.rule_id) r
                ON tx.credit_date >= r.valid_from AND (r.valid_to IS NULL OR tx.credit_date < r.valid_to)
               AND (r.region_id IS NULL OR r.region_id IS NOT DISTINCT FROM tx.region_id)
               AND (r.segment IS NULL OR r.segment IS NOT DISTINCT FROM tx.segment)
               AND (r.product IS NULL OR r.product IS NOT DISTINCT FROM tx.product)
               AND (r.deal_type IS NULL OR r.deal_type IS NOT DISTINCT FROM tx.deal_type)
               AND (r.transaction_kind IS NULL OR r.transaction_kind = tx.kind))
        """,
    ]
    base = " UNION ALL ".join(parts)
    if not cfg.rollup:
        body = f"SELECT * FROM ({base})"
    else:
        types = ", ".join(str(_type_code(t)) for t in cfg.rollup_credit_types)
        level_cap = f" AND cl.level <= {cfg.max_rollup_levels}" if cfg.max_rollup_levels else ""
        body = f"""
        WITH base AS ({base})
        SELECT * FROM base
        UNION ALL
        SELECT b.tx_idx, b.credit_date, b.units, b.src_unit, b.source_currency,
               cl.ancestor_id, {_type_code('rollup')}, {rule('hierarchy')}, b.micro, b.source_units, cl.level,
               cl.source_code
        FROM base b JOIN (SELECT cl.*, pc.payee_code AS source_code
                          FROM {CLOSURE} cl JOIN {_PAYEE_CODES} pc ON pc.payee_id = cl.payee_id) cl
          ON cl.payee_id = b.payee_id AND b.credit_date >= cl.valid_from AND b.credit_date < cl.valid_to
        WHERE b.type_code IN ({types}){level_cap}
        """
    return f"""
    SELECT c.tx_idx, p.payee_code AS payee_id, CAST(c.type_code AS INTEGER) AS credit_type,
           CAST(c.rule_code AS INTEGER) AS rule, CAST(c.rollup_level AS TINYINT) AS rollup_level,
           CAST(c.source_code AS INTEGER) AS source_payee_id, CAST(c.micro AS BIGINT) AS micro,
           CAST(c.source_units * c.src_unit AS BIGINT) AS source_cents, c.source_currency,
           CAST({_unit_sql('p.currency')} AS SMALLINT) AS unit, p.currency, c.credit_date
    FROM ({body}) c JOIN (SELECT p.payee_id, p.currency, pc.payee_code
                          FROM payees p JOIN {_PAYEE_CODES} pc ON pc.payee_id = p.payee_id) p
      ON p.payee_id = c.payee_id
    """


def _converted_sql(credits_sql: str) -> str:
    """The narrow credits: ``cents`` in the payee's currency (NULL where a needed rate is
    missing), ``source_cents``, ``micro`` (the share in millionths of a percent) and, for a
    conversion, ``rate_units`` (the rate times 10^8) and ``fx_quote``."""
    direct = _round_div("CAST(abs(c.source_cents) AS HUGEINT) * r.rate_units", f"{_RATE_UNITS} * CAST(c.unit AS BIGINT)")
    inverse = _round_div(f"CAST(abs(c.source_cents) AS HUGEINT) * {_RATE_UNITS}", "r.rate_units * CAST(c.unit AS BIGINT)")
    converted = (f"CASE WHEN c.source_currency = c.currency THEN c.source_cents "
                 f"WHEN r.inverted THEN {_signed('sign(c.source_cents)', inverse)} * c.unit "
                 f"ELSE {_signed('sign(c.source_cents)', direct)} * c.unit END")
    return f"""
        SELECT x.tx_idx, x.payee_id, x.credit_type, x.rule, x.rollup_level, x.source_payee_id, x.micro,
               x.source_cents, x.cents, x.unit, x.credit_date,
               CASE WHEN x.source_currency = x.currency THEN NULL ELSE x.rate_units END AS rate_units,
               CASE WHEN x.source_currency = x.currency THEN NULL ELSE x.fx_quote END AS fx_quote
        FROM (SELECT c.*, r.rate_units, r.quote AS fx_quote, {converted} AS cents
              FROM ({credits_sql}) c
              -- a credit in its own currency needs no rate: a NULL key skips the lookup
              LEFT JOIN __spm_rates r
                ON r.source_currency = (CASE WHEN c.source_currency = c.currency THEN NULL ELSE c.source_currency END)
               AND r.currency = c.currency AND r.credit_date = c.credit_date) x"""


def _candidate_rates(con: duckdb.DuckDBPyConnection, cfg: CreditingConfig,
                     fiscal_year_start_month: int, tx: str = TX) -> pd.DataFrame:
    """A rate for every (transaction currency, credit date) of the window and every payee
    currency (a small superset of what the credits need); missing ones have no ``rate_units``."""
    needs = con.execute(
        f"SELECT DISTINCT t.source_currency, p.currency, t.credit_date "
        f"FROM (SELECT DISTINCT source_currency, credit_date FROM {tx}) t "
        f"CROSS JOIN (SELECT DISTINCT currency FROM payees) p WHERE t.source_currency <> p.currency"
    ).df()
    if needs.empty:
        return pd.DataFrame({"source_currency": pd.Series([], dtype=object), "currency": pd.Series([], dtype=object),
                             "credit_date": pd.Series([], dtype="datetime64[us]"),
                             "rate_units": pd.Series([], dtype="Int64"), "inverted": pd.Series([], dtype=bool),
                             "quote": pd.Series([], dtype=object)})
    needs["credit_date"] = pd.to_datetime(needs["credit_date"]).dt.date
    return _resolve_rates(con, needs, cfg, fiscal_year_start_month)


def _check_rates(con: duckdb.DuckDBPyConnection, narrow: str, tx: str, cfg: CreditingConfig) -> None:
    """Raise CreditingError naming every currency pair and date (or period) with no rate."""
    missing = con.execute(
        f"SELECT DISTINCT t.source_currency, p.currency, c.credit_date, r.quote "
        f"FROM (SELECT * FROM {narrow} WHERE cents IS NULL) c JOIN {tx} t ON t.tx_idx = c.tx_idx "
        f"JOIN payees p ON p.payee_id = c.payee_id "
        f"LEFT JOIN __spm_rates r ON r.source_currency = t.source_currency AND r.currency = p.currency "
        f"AND r.credit_date = c.credit_date"
    ).fetchall()
    if not missing:
        return
    what = "on" if cfg.fx_rate == "credit_date" else "averaged over"
    pairs = sorted({(src, dst, quote) for src, dst, _, quote in missing})
    shown = "; ".join(f"{src}->{dst} {what} {window}" for src, dst, window in pairs[:20])
    more = f" (and {len(pairs) - 20} more)" if len(pairs) > 20 else ""
    raise CreditingError(
        f"missing FX rate(s) needed to convert credits to the payee's currency: {shown}{more}. "
        f"Load them into fx_rates (either direction of the pair is accepted)"
    )


def _resolve_rates(con: duckdb.DuckDBPyConnection, needs: pd.DataFrame, cfg: CreditingConfig,
                   fiscal_year_start_month: int) -> pd.DataFrame:
    """One rate per (source currency, payee currency, credit date) asked for: ``rate_units``
    (the quoted rate times 10^8, missing when there is no rate), whether it is quoted the
    other way round, and ``quote``: the quote text for explanations, or (missing rate) the
    date or period that had none."""
    if cfg.fx_rate == "credit_date":
        con.register("__spm_needs", needs)
        found = con.sql(
            """
            SELECT n.source_currency, n.currency, n.credit_date,
                   coalesce(d.rate, i.rate) AS rate, d.rate IS NULL AND i.rate IS NOT NULL AS inverted
            FROM __spm_needs n
            LEFT JOIN fx_rates d ON d.rate_date = n.credit_date AND d.from_currency = n.source_currency
                                 AND d.to_currency = n.currency
            LEFT JOIN fx_rates i ON i.rate_date = n.credit_date AND i.from_currency = n.currency
                                 AND i.to_currency = n.source_currency
            """
        ).to_arrow_table().to_pandas()
        found["window"] = found["credit_date"].astype(str)
    else:
        from spm_kernel.periods import period_containing

        windows = {d: period_containing(d, cfg.fx_average_period, fiscal_year_start_month)
                   for d in needs["credit_date"].unique()}
        needs = needs.assign(
            w_start=[windows[d].start for d in needs["credit_date"]],
            w_end=[windows[d].end for d in needs["credit_date"]],
            window=[windows[d].period_id for d in needs["credit_date"]],
        )
        con.register("__spm_needs", needs)
        found = con.sql(
            f"""
            WITH w AS (SELECT DISTINCT source_currency, currency, w_start, w_end, "window" FROM __spm_needs),
            avg_d AS (
                SELECT w.source_currency, w.currency, w.w_start,
                       {_round_div('sum(CAST(f.rate * 100000000 AS HUGEINT))', 'count(*)')} AS units
                FROM w JOIN fx_rates f ON f.from_currency = w.source_currency AND f.to_currency = w.currency
                 AND f.rate_date BETWEEN w.w_start AND w.w_end GROUP BY ALL),
            avg_i AS (
                SELECT w.source_currency, w.currency, w.w_start,
                       {_round_div('sum(CAST(f.rate * 100000000 AS HUGEINT))', 'count(*)')} AS units
                FROM w JOIN fx_rates f ON f.from_currency = w.currency AND f.to_currency = w.source_currency
                 AND f.rate_date BETWEEN w.w_start AND w.w_end GROUP BY ALL)
            SELECT n.source_currency, n.currency, n.credit_date, n."window",
                   CAST(CAST(coalesce(d.units, i.units) AS DECIMAL(18,0)) * 0.00000001 AS DECIMAL(18,8)) AS rate,
                   d.units IS NULL AND i.units IS NOT NULL AS inverted
            FROM __spm_needs n
            LEFT JOIN avg_d d ON d.source_currency = n.source_currency AND d.currency = n.currency AND d.w_start = n.w_start
            LEFT JOIN avg_i i ON i.source_currency = n.source_currency AND i.currency = n.currency AND i.w_start = n.w_start
            """
        ).to_arrow_table().to_pandas()
    con.unregister("__spm_needs")
    bad = found[found["rate"].notna() & (found["rate"] <= 0)]
    if not bad.empty:
        r = bad.iloc[0]
        raise CreditingError(f"FX rate {r.source_currency}->{r.currency} on {r.window} is zero")
    has = found["rate"].notna()
    label = (" avg " if cfg.fx_rate == "period_average" else " ") + found["window"]
    quote = (found["currency"].where(found["inverted"], found["source_currency"]) + "->"
             + found["source_currency"].where(found["inverted"], found["currency"]) + label)
    found["quote"] = quote.where(has, found["window"])
    found["rate_units"] = pd.array([int(r * _RATE_UNITS) if h else None for r, h in zip(found["rate"], has)],
                                   dtype="Int64")
    return found[["source_currency", "currency", "credit_date", "rate_units", "inverted", "quote"]]


def credits_frame(con: duckdb.DuckDBPyConnection, table: str = CREDITS) -> pd.DataFrame:
    """The credits of view ``table`` as pandas (money as ``Decimal``), in a stable order."""
    return con.sql(
        f"SELECT * EXCLUDE (tx_idx) FROM {table} ORDER BY payee_id, credit_date, transaction_id, credit_id"
    ).to_arrow_table().to_pandas()
