"""What a metric query asks for, and the shared relations every metric computes from.

A query names a **grain** (who the numbers are about), one or more **windows** (the date
ranges they cover), an optional **scope** (which payees are looked at) and an ``as_of`` date
(today, for the pipeline snapshot). :class:`MetricContext` turns it into temp tables on a
private DuckDB cursor of the workspace (so concurrent queries never see each other's tables,
and everything vanishes when the query ends) and offers lazily built, shared relations:

==================  ========================================================================
``ctx.windows``     ``period, period_start, period_end, snapshot, days``: one row per window
``ctx.members``     ``period, payee_id, key, active``: which group key each in-scope payee
                    counts for in each window (``active``: employed during the window)
``ctx.grid``        ``period, key, gi``: every (window, group) the answer has a row for
                    (``gi``: its place in the answer, by window then key)
``ctx.window_days()``  ``day, period, ord, snapshot``: every day of every window, to join
                    dated rows to their windows by an exact match (``window_days(first,
                    last)``: from another first or last day, e.g. ``"snapshot"``)
``ctx.deals()``     opportunities in base currency: ``cents`` (integer minor units)
``ctx.credits()``   closed-won deals credited to payees (revenue splits, else the owner)
``ctx.payee_bookings()``  ``period, payee_id, direct_cents, rollup_cents``
``ctx.payee_quotas()``    ``period, payee_id, quota_cents`` (prorated, base currency)
``ctx.payee_payouts()``   ``period, payee_id, payout_cents`` from the current run's lines
==================  ========================================================================

Grain keys: ``payee`` (the payee), ``manager`` (every manager's subtree, themselves
included, through the hierarchy effective on the window's last day), ``team``, ``region``
(the payee's, else their team's), ``segment`` (the payee's), ``product`` (the deal's or the
subscription's) and ``company`` (everyone). A payee with no team, region or segment counts
under ``(none)``.

Attribution: deal metrics (win rates, deal size, closing time, pipeline) count each
opportunity for its **owner**. Bookings (attainment, compensation cost, ramp) are closed-won
opportunities **credited** by their revenue splits (largest-remainder cents), else wholly
to the owner; overlay credit is not revenue. A manager's own bookings at the payee grain
include those rolled up from their subtree through the hierarchy effective on the close
date; a group (team, region, ...) sums its members' direct credit, each deal once, and its
quota-based metrics count the reps (``options.rep_roles``) only, because a manager's quota
restates their reps'. Accounts and subscriptions count for the account's owner.

Currency: every amount is converted to the workspace's base currency with ``fx_rates`` (a
quote either way round; an inverse quote is divided by, exactly) at the rate of the day that
matters (a deal's close date, a quota's window end, a spend month, a payout period's end),
or the latest rate before it, or, when the series starts later, its first rate; the result
is rounded half up to the cent. A currency with no rate to the base currency at all is a
:class:`MetricError`.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import date
from typing import TYPE_CHECKING, Any, Literal, Sequence

import pandas as pd
import pyarrow as pa

from spm_kernel.errors import SPMError
from spm_kernel.periods import (
    Period,
    PeriodKind,
    parse_period,
    period_containing,
    periods_between,
    quarter_to_date_start,
    year_to_date_start,
)
from spm_kernel.workspace import arrow_frame

if TYPE_CHECKING:
    import duckdb

    from spm_kernel.workspace import Workspace

GRAINS: dict[str, str] = {
    "payee": "payee_id",
    "manager": "manager_id",
    "team": "team_id",
    "region": "region_id",
    "segment": "segment",
    "product": "product",
    "company": "company",
}
WINDOW_KINDS = ("period", "QTD", "YTD")
SCOPE_KINDS = ("payee", "manager", "team", "region", "segment")
NONE_KEY = "(none)"
RATE_UNITS = 100_000_000  # fx_rates.rate is DECIMAL(18,8)
FAR_FUTURE = "DATE '9999-12-31'"

Window = Literal["period", "QTD", "YTD"]


class MetricError(SPMError):
    """A metric query that cannot be answered: unknown metric, grain, period or scope, a
    metric that does not support the grain, or a currency with no FX rate."""


@dataclass(frozen=True)
class MetricWindow:
    """One date range a query covers: ``label`` is what the ``period`` column shows."""

    label: str
    start: date
    end: date
    period_id: str

    @property
    def days(self) -> int:
        return (self.end - self.start).days + 1


@dataclass(frozen=True)
class MetricOptions:
    """Tunable definitions (documented in docs/metrics.md)."""

    quota_measure: str = "bookings"
    tenure_days: int = 365          # a rep counts as tenured after this many days
    ramp_share: float = 0.8         # ramped: trailing-3-month bookings >= this share of tenured peers' median
    ramp_max_months: int = 24       # a rep not ramped within this many months is not counted
    rep_roles: tuple[str, ...] = ("rep",)

    def __post_init__(self) -> None:
        from spm_kernel.store.schema import get_table

        allowed = get_table("payees").column("role").choices or ()
        wrong = [r for r in self.rep_roles if r not in allowed]
        if wrong:  # a whitelist: the roles go into SQL text
            raise MetricError(f"unknown role(s) {wrong} in rep_roles; payee roles are: {', '.join(allowed)}")

    @classmethod
    def of(cls, options: MetricOptions | dict[str, Any] | None) -> MetricOptions:
        if options is None:
            return cls()
        if isinstance(options, MetricOptions):
            return options
        unknown = set(options) - set(cls.__dataclass_fields__)
        if unknown:
            raise MetricError(f"unknown metric option(s) {sorted(unknown)}; known: "
                              f"{sorted(cls.__dataclass_fields__)}")
        return cls(**options)


def parse_periods(period: str | Period | Sequence[str | Period] | None, *, freq: PeriodKind | None,
                  window: Window, as_of: date, fiscal_year_start_month: int) -> list[MetricWindow]:
    """The windows of a query.

    ``period``: ``"2026-Q3"``, ``"FY2026"``, ``"2026-08"``, a range ``"2024-01..2026-12"``
    (every period of that kind), a list of those, or None (the fiscal quarter containing
    ``as_of``). ``freq`` splits each period into months, quarters or years (a time series).
    ``window``: ``period`` (each period itself), ``QTD`` or ``YTD`` (from the start of the
    fiscal quarter or year containing the period's last day to that day).
    """
    fsm = fiscal_year_start_month
    if window not in WINDOW_KINDS:
        raise MetricError(f"unknown window {window!r}; expected one of {', '.join(WINDOW_KINDS)}")
    if period is None:
        items: list[str | Period] = [period_containing(as_of, "quarter", fsm)]
    elif isinstance(period, (str, Period)):
        items = [period]
    else:
        items = list(period)
    periods: list[Period] = []
    try:
        for item in items:
            if isinstance(item, str) and ".." in item:
                first, last = (parse_period(part.strip(), fsm) for part in item.split("..", 1))
                periods.extend(periods_between(first, last, fsm))
            else:
                periods.append(parse_period(item, fsm))
        if freq is not None:
            if freq not in ("month", "quarter", "year"):
                raise MetricError(f"unknown freq {freq!r}; expected month, quarter or year")
            split: list[Period] = []
            for p in periods:
                split.extend(q for q in periods_between(period_containing(p.start, freq, fsm),
                                                        period_containing(p.end, freq, fsm), fsm))
            periods = split
    except SPMError as exc:
        if isinstance(exc, MetricError):
            raise
        raise MetricError(str(exc)) from None
    out: dict[str, MetricWindow] = {}
    for p in sorted(set(periods)):
        if window == "QTD":
            start, label = quarter_to_date_start(p, fsm), f"{p.period_id} QTD"
        elif window == "YTD":
            start, label = year_to_date_start(p, fsm), f"{p.period_id} YTD"
        else:
            start, label = p.start, p.period_id
        out.setdefault(label, MetricWindow(label, start, p.end, p.period_id))
    if not out:
        raise MetricError(f"no period in {period!r}")
    return list(out.values())


def parse_scope(scope: str | None) -> tuple[str, str] | None:
    """``"team:EMEA"`` -> ``("team", "EMEA")``; None or ``"company"`` -> None."""
    if scope is None or scope.strip() in ("", "company"):
        return None
    kind, sep, value = scope.partition(":")
    kind, value = kind.strip(), value.strip()
    if not sep or kind not in SCOPE_KINDS or not value:
        raise MetricError(f"unknown scope {scope!r}: expected company or KIND:ID with KIND one of "
                          f"{', '.join(SCOPE_KINDS)} (e.g. team:EMEA)")
    return kind, value


def sql_str(value: str) -> str:
    """A SQL string literal."""
    return "'" + str(value).replace("'", "''") + "'"


def round_div_sql(num: str, den: str) -> str:
    """SQL: ``num / den`` rounded half up (away from zero) to an integer, exactly; ``den``
    must be positive (NULL when it is not)."""
    return (f"(CASE WHEN ({den}) > 0 THEN sign({num}) * ((abs(CAST({num} AS HUGEINT)) * 2 + ({den})) "
            f"// (2 * CAST({den} AS HUGEINT))) END)")


def money_sql(cents: str) -> str:
    """SQL: integer minor units as DECIMAL(38,2) (exact)."""
    return f"(CAST(CAST({cents} AS HUGEINT) AS DECIMAL(38,0)) * 0.01)"


def ratio_sql(num: str, den: str) -> str:
    """SQL: ``num / den`` as DOUBLE, NULL when ``den`` is 0 or NULL."""
    return f"(CASE WHEN ({den}) <> 0 THEN CAST({num} AS DOUBLE) / CAST({den} AS DOUBLE) END)"


@dataclass
class MetricContext:
    """The temp tables and shared relations of one metric query (see the module docstring).

    Create it with :meth:`open`; close it (or use it as a context manager) to drop everything.
    """

    ws: Workspace
    con: duckdb.DuckDBPyConnection
    grain: str
    windows_list: list[MetricWindow]
    scope: tuple[str, str] | None
    as_of: date
    options: MetricOptions
    prefix: str = ""
    _built: dict[str, str] = field(default_factory=dict)
    _labels: pa.Table | None = None

    # ---- construction ----
    @classmethod
    def open(cls, ws: Workspace, grain: str = "company", period: Any = None, *,
             freq: PeriodKind | None = None, window: Window = "period", scope: str | None = None,
             as_of: date | None = None, options: MetricOptions | dict[str, Any] | None = None) -> MetricContext:
        if grain not in GRAINS:
            raise MetricError(f"unknown grain {grain!r}; expected one of {', '.join(GRAINS)}")
        as_of = as_of or date.today()
        fsm = ws.config.fiscal_year_start_month
        windows = parse_periods(period, freq=freq, window=window, as_of=as_of, fiscal_year_start_month=fsm)
        ctx = cls(ws=ws, con=ws.con.cursor(), grain=grain, windows_list=windows,
                  scope=parse_scope(scope), as_of=as_of, options=MetricOptions.of(options),
                  prefix=f"__spm_m_{uuid.uuid4().hex[:8]}_")
        try:
            ctx._create_base_tables()
        except BaseException:
            ctx.close()
            raise
        return ctx

    def close(self) -> None:
        """Drop the query's temp tables (they live on a private cursor, closed here)."""
        try:
            self.con.close()
        except Exception:  # noqa: BLE001 - already closed
            pass

    def __enter__(self) -> MetricContext:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ---- names and helpers ----
    def t(self, name: str) -> str:
        """The temp table called ``name`` in this query."""
        return self.prefix + name

    @property
    def windows(self) -> str:
        return self.t("windows")

    @property
    def members(self) -> str:
        return self.t("members")

    @property
    def grid(self) -> str:
        return self.t("grid")

    @property
    def payees(self) -> str:
        """In-scope payees: ``payee_id, name, role, team_id, region_id, segment, currency,
        hire_date, termination_date``."""
        return self.t("payees")

    @property
    def key_column(self) -> str:
        return GRAINS[self.grain]

    @property
    def base_currency(self) -> str:
        return self.ws.config.base_currency

    @property
    def company_key(self) -> str:
        return self.ws.config.name

    @property
    def min_start(self) -> date:
        return min(w.start for w in self.windows_list)

    @property
    def max_end(self) -> date:
        return max(w.end for w in self.windows_list)

    @property
    def is_rep(self) -> str:
        """SQL condition on a payees alias ``p``: the payee carries an individual quota."""
        return f"p.role IN ({', '.join(sql_str(r) for r in self.options.rep_roles)})"

    def frame(self, sql: str, params: list[Any] | None = None) -> pd.DataFrame:
        """The result of ``sql`` as pandas, DECIMAL as ``Decimal``."""
        return arrow_frame(self.con.sql(sql, params=params) if params is None else
                           self.con.execute(sql, params))

    def execute(self, sql: str, params: list[Any] | None = None) -> None:
        self.con.execute(sql, params or [])

    def shared(self, name: str, sql: str) -> str:
        """A temp table holding the result of ``sql``, built once per query and shared by
        every metric that asks for ``name`` (return ``f"SELECT * FROM {ctx.shared(...)}"``)."""
        return self._once(name, lambda table: self.execute(f"CREATE TEMP TABLE {table} AS {sql}"))

    def _once(self, name: str, build: Any) -> str:
        table = self.t(name)
        if name not in self._built:
            build(table)
            self._built[name] = table
        return table

    # ---- the base tables: windows, in-scope payees, members, grid ----
    def _create_base_tables(self) -> None:
        rows = pd.DataFrame({
            "period": [w.label for w in self.windows_list],
            "period_start": [w.start for w in self.windows_list],
            "period_end": [w.end for w in self.windows_list],
            "ord": list(range(len(self.windows_list))),
        })
        rows["period_start"] = pd.to_datetime(rows["period_start"]).dt.date
        rows["period_end"] = pd.to_datetime(rows["period_end"]).dt.date
        self.con.register("__spm_m_window_rows", rows)
        as_of = self.as_of.isoformat()
        self.execute(f"""
            CREATE TEMP TABLE {self.windows} AS
            SELECT period, CAST(period_start AS DATE) AS period_start, CAST(period_end AS DATE) AS period_end,
                   CAST(CASE WHEN CAST(period_end AS DATE) < DATE '{as_of}' THEN period_start
                             ELSE greatest(CAST(period_start AS DATE), DATE '{as_of}') END AS DATE) AS snapshot,
                   CAST(datediff('day', CAST(period_start AS DATE), CAST(period_end AS DATE)) + 1 AS BIGINT) AS days,
                   ord
            FROM __spm_m_window_rows""")
        self.con.unregister("__spm_m_window_rows")
        self._create_payees()
        self._create_members()
        if self.grain == "product":
            self.execute(f"""
                CREATE TEMP TABLE {self.grid} AS
                SELECT w.period, k.key, row_number() OVER (ORDER BY w.ord, k.key) AS gi FROM {self.windows} w,
                  (SELECT DISTINCT coalesce(o.product, '{NONE_KEY}') AS key FROM opportunities o
                   WHERE o.owner_id IN (SELECT payee_id FROM {self.payees})
                   UNION SELECT DISTINCT coalesce(s.product, '{NONE_KEY}') FROM subscriptions s) k""")
        else:
            self.execute(f"""
                CREATE TEMP TABLE {self.grid} AS
                SELECT period, key, row_number() OVER (ORDER BY ord, key) AS gi
                FROM (SELECT DISTINCT m.period, m.key, w.ord FROM {self.members} m
                      JOIN {self.windows} w ON w.period = m.period WHERE m.active)""")

    def _create_payees(self) -> None:
        where = ""
        params: list[Any] = []
        if self.scope is not None:
            kind, value = self.scope
            if kind == "payee":
                where, params = "WHERE p.payee_id = ? OR p.name = ?", [value, value]
            elif kind == "team":
                where, params = "WHERE p.team_id = ? OR t.name = ?", [value, value]
            elif kind == "region":
                where, params = ("WHERE coalesce(p.region_id, t.region_id) = ? OR r.name = ?", [value, value])
            elif kind == "segment":
                where, params = "WHERE p.segment = ?", [value]
            elif kind == "manager":
                manager = self.con.execute("SELECT payee_id FROM payees WHERE payee_id = ? OR name = ?",
                                           [value, value]).fetchall()
                if not manager:
                    raise MetricError(f"scope {kind}:{value}: no payee with that id or name")
                closure = self.closure()
                day = min(self.max_end, max(self.as_of, self.min_start)).isoformat()
                where = (f"WHERE p.payee_id = ? OR p.payee_id IN (SELECT payee_id FROM {closure} "
                         f"WHERE ancestor_id = ? AND valid_from <= DATE '{day}' AND DATE '{day}' < valid_to)")
                params = [manager[0][0], manager[0][0]]
        self.execute(f"""
            CREATE TEMP TABLE {self.payees} AS
            SELECT p.payee_id, p.name, p.role, p.team_id, coalesce(p.region_id, t.region_id) AS region_id,
                   p.segment, p.currency, p.hire_date, p.termination_date
            FROM payees p LEFT JOIN teams t ON t.team_id = p.team_id
            LEFT JOIN regions r ON r.region_id = coalesce(p.region_id, t.region_id)
            {where}""", params)
        if self.scope is not None and not self.con.execute(f"SELECT count(*) FROM {self.payees}").fetchall()[0][0]:
            kind, value = self.scope
            raise MetricError(f"scope {kind}:{value} matches no payee (use an id or a name)")

    def _create_members(self) -> None:
        w, p = self.windows, self.payees
        active = (f"(p.hire_date <= w.period_end AND (p.termination_date IS NULL OR "
                  f"p.termination_date >= w.period_start))")
        if self.grain == "manager":
            closure = self.closure()
            self.execute(f"""
                CREATE TEMP TABLE {self.members} AS
                WITH valid AS (
                    SELECT w.period, c.payee_id, c.ancestor_id FROM {w} w JOIN {closure} c
                      ON c.valid_from <= w.period_end AND w.period_end < c.valid_to)
                SELECT v.period, v.payee_id, v.ancestor_id AS key, {active} AS active
                FROM valid v JOIN {w} w USING (period) JOIN {p} p ON p.payee_id = v.payee_id
                WHERE v.ancestor_id IN (SELECT payee_id FROM {p})
                UNION ALL
                SELECT w.period, p.payee_id, p.payee_id AS key, {active} AS active
                FROM (SELECT DISTINCT period, ancestor_id FROM valid) a JOIN {w} w USING (period)
                JOIN {p} p ON p.payee_id = a.ancestor_id""")
            return
        key = {
            "payee": "p.payee_id",
            "team": f"coalesce(p.team_id, '{NONE_KEY}')",
            "region": f"coalesce(p.region_id, '{NONE_KEY}')",
            "segment": f"coalesce(p.segment, '{NONE_KEY}')",
            "product": "CAST(NULL AS VARCHAR)",
            "company": sql_str(self.company_key),
        }[self.grain]
        self.execute(f"""
            CREATE TEMP TABLE {self.members} AS
            SELECT w.period, p.payee_id, {key} AS key, {active} AS active FROM {w} w CROSS JOIN {p} p""")

    def window_days(self, first: str = "period_start", last: str = "period_end") -> str:
        """Temp table ``day, period, ord, snapshot``: one row for every day of every window
        from its ``first`` to its ``last`` day (SQL over the windows' columns, e.g.
        ``"snapshot"`` or ``"snapshot - 1"``; both inclusive; none when ``last`` is earlier).

        Joining dated rows to it on ``day`` (an exact match against a table of a few thousand
        rows) gives what a range join on ``BETWEEN first AND last`` gives, far cheaper; a day
        in several windows (YTD or overlapping periods) meets each of them."""
        def build(table: str) -> None:
            self.execute(f"""
                CREATE TEMP TABLE {table} AS
                SELECT CAST(unnest(generate_series(CAST(({first}) AS TIMESTAMP), CAST(({last}) AS TIMESTAMP),
                                                   INTERVAL 1 DAY)) AS DATE) AS day, period, ord, snapshot
                FROM {self.windows} WHERE ({first}) <= ({last})""")
        label = "".join(ch if ch.isalnum() else "_" for ch in f"{first}_{last}")
        return self._once(f"days_{label}", build)

    def closure(self) -> str:
        """Every (payee, manager above them, level) with the dates the chain holds
        (``valid_from`` inclusive, ``valid_to`` exclusive)."""
        from spm_kernel.crediting import build_hierarchy_closure

        return self._once("closure", lambda table: build_hierarchy_closure(self.con, table))

    # ---- currency ----
    def fx(self) -> str:
        """``currency, day, num, den``: for every day from a currency's first to its last
        quote against the base currency, the rate in force (the day's, else the latest
        before); multiply minor units by ``num / den`` to get base. The quote's first and
        last days are in :meth:`fx_bounds`."""
        def build(table: str) -> None:
            base = sql_str(self.base_currency)
            quotes = self.t("fx_quotes")
            self.execute(f"""
                CREATE TEMP TABLE {quotes} AS
                SELECT currency, rate_date, num, den FROM (
                    SELECT from_currency AS currency, rate_date, CAST(rate * {RATE_UNITS} AS HUGEINT) AS num,
                           CAST({RATE_UNITS} AS HUGEINT) AS den, 0 AS pref
                    FROM fx_rates WHERE to_currency = {base} AND from_currency <> {base}
                    UNION ALL
                    SELECT to_currency, rate_date, CAST({RATE_UNITS} AS HUGEINT), CAST(rate * {RATE_UNITS} AS HUGEINT), 1
                    FROM fx_rates WHERE from_currency = {base} AND to_currency <> {base} AND rate > 0)
                QUALIFY row_number() OVER (PARTITION BY currency, rate_date ORDER BY pref) = 1""")
            self.execute(f"""
                CREATE TEMP TABLE {self.t('fx_bounds')} AS
                SELECT currency, min(rate_date) AS lo, max(rate_date) AS hi FROM {quotes} GROUP BY currency""")
            self.execute(f"""
                CREATE TEMP TABLE {table} AS
                WITH days AS (
                    SELECT currency, CAST(unnest(generate_series(lo, hi, INTERVAL 1 DAY)) AS DATE) AS day
                    FROM {self.t('fx_bounds')})
                SELECT d.currency, d.day, q.num, q.den
                FROM days d ASOF JOIN {quotes} q ON q.currency = d.currency AND d.day >= q.rate_date""")
        return self._once("fx", build)

    def fx_bounds(self) -> str:
        """``currency, lo, hi``: the first and last day each currency is quoted against base."""
        self.fx()
        return self.t("fx_bounds")

    def to_base(self, select_sql: str, what: str) -> str:
        """SQL: the rows of ``select_sql`` (which must have the columns ``cur``, ``fx_date`` and
        ``cents``) with ``base_cents``, the amount in base-currency minor units (NULL when
        the currency has no quote at all: see :meth:`materialize_in_base`).

        ``what`` names the amounts in the error raised when a currency has no rate."""
        fx, bounds = self.fx(), self.fx_bounds()
        base = sql_str(self.base_currency)
        return f"""
            SELECT s.*, CASE WHEN s.cur = {base} OR s.cents IS NULL THEN s.cents
                        ELSE {round_div_sql('s.cents * f.num', 'f.den')} END AS base_cents
            FROM ({select_sql}) s
            LEFT JOIN {bounds} b ON b.currency = s.cur
            LEFT JOIN {fx} f ON f.currency = s.cur AND f.day = least(greatest(s.fx_date, b.lo), b.hi)"""

    def window_rates(self, at: str = "period_start") -> str:
        """``period, cur, num, den``: for every window and currency, the rate to base on the
        window's ``at`` day (``period_start`` or ``period_end``), as :meth:`to_base` applies
        it. The base currency converts at 1."""
        def build(table: str) -> None:
            fx, bounds = self.fx(), self.fx_bounds()
            base = sql_str(self.base_currency)
            self.execute(f"""
                CREATE TEMP TABLE {table} AS
                SELECT w.period, b.currency AS cur, f.num, f.den
                FROM {self.windows} w CROSS JOIN {bounds} b
                JOIN {fx} f ON f.currency = b.currency AND f.day = least(greatest(w.{at}, b.lo), b.hi)
                UNION ALL
                SELECT period, {base}, CAST(1 AS HUGEINT), CAST(1 AS HUGEINT) FROM {self.windows}""")
        return self._once(f"window_rates_{at}", build)

    def check_currencies(self, table: str, column: str, what: str) -> None:
        """Raise :class:`MetricError` if a currency in ``table.column`` has no quote against
        the base currency."""
        missing = [r[0] for r in self.con.execute(
            f"SELECT DISTINCT {column} FROM {table} WHERE {column} IS NOT NULL AND {column} <> "
            f"{sql_str(self.base_currency)} AND {column} NOT IN (SELECT currency FROM {self.fx_bounds()}) "
            f"ORDER BY 1").fetchall()]
        if missing:
            raise MetricError(f"cannot convert {what} to the base currency {self.base_currency}: "
                              f"fx_rates has no rate for {', '.join(missing)} against {self.base_currency}")

    def materialize_in_base(self, table: str, select_sql: str, what: str) -> None:
        """Create temp ``table`` from :meth:`to_base` and raise :class:`MetricError` if any
        amount could not be converted."""
        self.execute(f"CREATE TEMP TABLE {table} AS {self.to_base(select_sql, what)}")
        missing = self.con.execute(
            f"SELECT cur, min(fx_date) FROM {table} WHERE base_cents IS NULL AND cents IS NOT NULL "
            f"GROUP BY cur ORDER BY cur").fetchall()
        if missing:
            shown = ", ".join(f"{cur} (first needed for {day})" for cur, day in missing)
            raise MetricError(f"cannot convert {what} to the base currency {self.base_currency}: "
                              f"fx_rates has no {'/'.join(c for c, _ in missing)} rate against "
                              f"{self.base_currency} at all: {shown}")

    # ---- deals, credits, bookings ----
    def lookback_start(self) -> date:
        """The earliest date any built-in needs data from (ramp looks back)."""
        months = self.options.ramp_max_months + 3
        start = self.min_start
        index = start.year * 12 + start.month - 1 - months
        return date(index // 12, index % 12 + 1, 1)

    def deals(self, scoped: bool = True) -> str:
        """Opportunities relevant to the query (owned by, or split to, an in-scope payee;
        created before the last window ends; not closed before the look-back), with
        ``base_cents`` in base currency at the close date (created date when it has none).
        ``scoped=False``: every payee's closed-won ones (for company-wide benchmarks)."""
        if self.scope is None:
            scoped = True
        if scoped and self.scope is not None:
            where = (f"AND (o.owner_id IN (SELECT payee_id FROM {self.payees}) OR o.opportunity_id IN "
                     f"(SELECT opportunity_id FROM opportunity_splits WHERE payee_id IN "
                     f"(SELECT payee_id FROM {self.payees})))")
        else:
            where = "" if scoped else "AND o.is_won AND o.is_closed"
        return self._once("deals" if scoped else "deals_all", lambda table: self._build_deals(table, where))

    def _build_deals(self, table: str, where: str, *, narrow: bool = False) -> None:
        """Temp ``table``: the opportunities :meth:`deals` describes, narrowed by ``where``
        (``AND ...`` over alias ``o``); ``narrow``: only the columns credits are made of."""
        columns = ["o.opportunity_id", "o.account_id", "o.owner_id", "o.created_date", "o.close_date",
                   "o.is_closed", "o.is_won", f"coalesce(o.product, '{NONE_KEY}') AS product", "o.segment",
                   "o.deal_type", "o.stage", "o.currency AS cur",
                   "coalesce(o.close_date, o.created_date) AS fx_date", "CAST(o.amount * 100 AS HUGEINT) AS cents",
                   "CAST(datediff('day', o.created_date, o.close_date) AS BIGINT) AS cycle_days"]
        if narrow:
            unused = ("o.account_id", "o.created_date", "o.segment", "o.deal_type", "o.stage")
            columns = [c for c in columns if c not in unused and not c.endswith("cycle_days")]
        select = f"""
            SELECT {', '.join(columns)}
            FROM opportunities o
            WHERE o.created_date <= DATE '{self.max_end.isoformat()}'
              AND (o.close_date IS NULL OR NOT o.is_closed OR o.close_date >= DATE '{self.lookback_start().isoformat()}')
              {where}"""
        self.materialize_in_base(table, select, "opportunity amounts")

    def credits(self, scoped: bool = True) -> str:
        """Closed-won deals credited to payees: ``opportunity_id, payee_id, close_date,
        product, cents`` (base currency). A deal with revenue splits is shared by their
        percents (largest-remainder cents, so the shares add up to the deal); otherwise its
        owner gets it all. Overlay credit is not revenue and is left out."""
        if self.scope is None:
            scoped = True
        return self._once("credits" if scoped else "credits_all",
                          lambda table: self._build_credits(table, self.deals(scoped)))

    def credits_of(self, name: str, payees_sql: str, start: date, end: date) -> str:
        """Temp table ``name`` with the rows :meth:`credits` would hold for every payee
        (in scope or not) whose id ``payees_sql`` (a SELECT of one column) returns, for the
        deals closed between ``start`` and ``end``: the same cents (a deal's whole split is
        allocated), computed from those deals only, so a scoped query that needs a few
        company-wide figures does not convert every deal of the company."""
        if self.scope is None:  # every payee is in scope: the query's own credits hold them
            return self.credits()

        def build(table: str) -> None:
            deals = self.t(f"{name}_deals")
            self._build_deals(deals, f"""AND o.is_won AND o.is_closed
                AND o.close_date BETWEEN DATE '{start.isoformat()}' AND DATE '{end.isoformat()}'
                AND (o.owner_id IN ({payees_sql}) OR o.opportunity_id IN (SELECT opportunity_id
                     FROM opportunity_splits WHERE split_type = 'revenue' AND payee_id IN ({payees_sql})))""",
                              narrow=True)
            self._build_credits(table, deals)
        return self._once(name, build)

    def _build_credits(self, table: str, d: str) -> None:
        """Temp ``table``: the credits (see :meth:`credits`) of the deals in table ``d``."""
        self.execute(f"""
            CREATE TEMP TABLE {table} AS
            WITH won AS (SELECT opportunity_id, owner_id, close_date, product, base_cents FROM {d}
                         WHERE is_won AND is_closed AND close_date IS NOT NULL),
            split AS (
                SELECT w.opportunity_id, s.payee_id, w.close_date, w.product, w.base_cents,
                       CAST(s.percent * 1000000 AS HUGEINT) AS micro
                FROM won w JOIN opportunity_splits s
                  ON s.opportunity_id = w.opportunity_id AND s.split_type = 'revenue'),
            alloc AS (
                SELECT *, (abs(base_cents) * micro) // 100000000 AS lo,
                       (abs(base_cents) * micro) % 100000000 AS rest FROM split),
            ranked AS (
                SELECT *, abs(base_cents) - sum(lo) OVER (PARTITION BY opportunity_id) AS leftover,
                       row_number() OVER (PARTITION BY opportunity_id ORDER BY rest DESC, payee_id) AS rk
                FROM alloc)
            SELECT opportunity_id, payee_id, close_date, product,
                   sign(base_cents) * (lo + CASE WHEN rk <= leftover THEN 1 ELSE 0 END) AS cents
            FROM ranked
            UNION ALL
            SELECT w.opportunity_id, w.owner_id, w.close_date, w.product, w.base_cents FROM won w
            WHERE NOT EXISTS (SELECT 1 FROM opportunity_splits s WHERE s.opportunity_id = w.opportunity_id
                              AND s.split_type = 'revenue')""")

    def payee_bookings(self) -> str:
        """``period, payee_id, direct_cents, rollup_cents``: closed-won bookings credited to
        each payee in each window, and those rolled up to them as a manager (through the
        hierarchy effective on the close date)."""
        def build(table: str) -> None:
            c, w, closure = self.credits(), self.window_days(), self.closure()
            self.execute(f"""
                CREATE TEMP TABLE {table} AS
                WITH direct AS (
                    SELECT w.period, c.payee_id, sum(c.cents) AS cents FROM {c} c
                    JOIN {w} w ON w.day = c.close_date GROUP BY ALL),
                rolled AS (
                    SELECT w.period, h.ancestor_id AS payee_id, sum(c.cents) AS cents FROM {c} c
                    JOIN {closure} h ON h.payee_id = c.payee_id AND h.valid_from <= c.close_date AND c.close_date < h.valid_to
                    JOIN {w} w ON w.day = c.close_date GROUP BY ALL)
                SELECT coalesce(d.period, r.period) AS period, coalesce(d.payee_id, r.payee_id) AS payee_id,
                       coalesce(d.cents, 0) AS direct_cents, coalesce(r.cents, 0) AS rollup_cents
                FROM direct d FULL JOIN rolled r ON r.period = d.period AND r.payee_id = d.payee_id""")
        return self._once("payee_bookings", build)

    def payee_quotas(self) -> str:
        """``period, payee_id, quota_cents``: each in-scope payee's quota for the measure
        ``options.quota_measure`` in each window, in base currency (at the window's last
        day). Quota rows are taken as entered (planning prorates and ramps a new hire's
        quota); a row's amount is spread evenly over the days of its period on which the
        payee is employed, so a window covering the whole row gets all of it and a shorter
        window gets the share of those days it covers (a rep hired mid-quarter carries
        nothing in the months before their hire date)."""
        def build(table: str) -> None:
            w, p = self.windows, self.payees
            select = f"""
                SELECT w.period, q.payee_id, q.currency AS cur, w.period_end AS fx_date,
                       {round_div_sql(
                           "CAST(q.amount * 100 AS HUGEINT) * greatest(0, datediff('day', "
                           "greatest(q.period_start, w.period_start, p.hire_date), "
                           f"least(q.period_end, w.period_end, coalesce(p.termination_date, {FAR_FUTURE}))) + 1)",
                           "(datediff('day', greatest(q.period_start, p.hire_date), "
                           f"least(q.period_end, coalesce(p.termination_date, {FAR_FUTURE}))) + 1)")} AS cents
                FROM quotas q JOIN {p} p ON p.payee_id = q.payee_id
                JOIN {w} w ON q.period_start <= w.period_end AND q.period_end >= w.period_start
                WHERE q.measure = {sql_str(self.options.quota_measure)}"""
            raw = self.t("quota_rows")
            self.materialize_in_base(raw, select, "quotas")
            self.execute(f"""CREATE TEMP TABLE {table} AS
                SELECT period, payee_id, sum(base_cents) AS quota_cents FROM {raw} GROUP BY ALL""")
        return self._once("payee_quotas", build)

    def payee_payouts(self) -> str:
        """``period, payee_id, payout_cents``: the payout lines of the **effective** run of
        each calculated period (the run a closed period was closed on, else its latest
        succeeded run in ``calc_runs``), for the line periods inside each window, in base
        currency at the line period's last day. Held lines count (they are earned);
        prior-period adjustments count in the period they are booked in."""
        def build(table: str) -> None:
            ids = [r[0] for r in self.con.execute("SELECT DISTINCT period_id FROM payout_lines").fetchall()]
            fsm = self.ws.config.fiscal_year_start_month
            spans = []
            for period_id in ids:
                try:
                    p = parse_period(period_id, fsm)
                except SPMError:
                    continue
                spans.append((period_id, p.start, p.end))
            frame = pd.DataFrame(spans, columns=["period_id", "line_start", "line_end"])
            self.con.register("__spm_m_line_periods", frame)
            select = f"""
                WITH latest AS (
                    SELECT period_id, run_id FROM calc_runs WHERE status = 'succeeded'
                    QUALIFY row_number() OVER (PARTITION BY period_id ORDER BY finished_at DESC, run_id DESC) = 1),
                runs AS (
                    SELECT coalesce(c.closed_run_id, l.run_id) AS run_id
                    FROM latest l FULL JOIN (SELECT period_id, closed_run_id FROM periods
                                             WHERE status = 'closed') c ON c.period_id = l.period_id)
                SELECT w.period, l.payee_id, l.currency AS cur, CAST(lp.line_end AS DATE) AS fx_date,
                       CAST(l.amount * 100 AS HUGEINT) AS cents
                FROM payout_lines l JOIN runs r ON r.run_id = l.run_id
                JOIN __spm_m_line_periods lp ON lp.period_id = l.period_id
                JOIN {self.windows} w ON CAST(lp.line_start AS DATE) >= w.period_start
                                     AND CAST(lp.line_end AS DATE) <= w.period_end
                WHERE l.payee_id IN (SELECT payee_id FROM {self.payees})"""
            raw = self.t("payout_rows")
            try:
                self.materialize_in_base(raw, select, "payout lines")
            finally:
                self.con.unregister("__spm_m_line_periods")
            self.execute(f"""CREATE TEMP TABLE {table} AS
                SELECT period, payee_id, sum(base_cents) AS payout_cents FROM {raw} GROUP BY ALL""")
        return self._once("payee_payouts", build)

    def rep_attainment(self) -> str:
        """``period, payee_id, role, bookings_cents, quota_cents``: every in-scope payee with
        a quota or bookings in a window; bookings include roll-ups for managers."""
        def build(table: str) -> None:
            b, q = self.payee_bookings(), self.payee_quotas()
            self.execute(f"""
                CREATE TEMP TABLE {table} AS
                SELECT coalesce(q.period, b.period) AS period, coalesce(q.payee_id, b.payee_id) AS payee_id,
                       p.role, coalesce(b.direct_cents, 0) AS direct_cents,
                       coalesce(b.direct_cents, 0) + coalesce(b.rollup_cents, 0) AS bookings_cents,
                       coalesce(q.quota_cents, 0) AS quota_cents
                FROM {q} q FULL JOIN {b} b ON b.period = q.period AND b.payee_id = q.payee_id
                JOIN {self.payees} p ON p.payee_id = coalesce(q.payee_id, b.payee_id)""")
        return self._once("rep_attainment", build)

    def group_by_members(self, table: str, value_columns: str, *, reps_only: bool = False,
                         payee_col: str = "payee_id") -> str:
        """SQL: ``period, key, <aggregates>`` of a per-(period, payee) ``table`` summed over
        each group's members (``value_columns`` are aggregate expressions over alias ``x``)."""
        reps = f" AND {self.is_rep}" if reps_only else ""
        return f"""
            SELECT m.period, m.key, {value_columns}
            FROM {table} x JOIN {self.members} m ON m.period = x.period AND m.payee_id = x.{payee_col}
            JOIN {self.payees} p ON p.payee_id = m.payee_id{reps}
            GROUP BY m.period, m.key"""

    def payee_keys(self) -> str:
        """``payee_id, key``: the group key of each in-scope payee, for the grains whose key
        does not change from window to window (all but ``manager``)."""
        return self.shared("payee_keys", f"SELECT DISTINCT payee_id, key FROM {self.members}")

    def owner_join(self, alias: str, owner_col: str = "owner_id", product_col: str = "product") -> tuple[str, str]:
        """(JOIN clause, key expression) attaching rows of alias ``alias`` (already joined with
        the windows as ``w``) to their group through the payee in ``owner_col``.

        At the product grain the key is the row's ``product_col``; at the company grain with
        no scope every row counts (no join, so rows without an owner count too). Only the
        manager grain looks the key up per window (the hierarchy of each window's last day)."""
        owner = f"{alias}.{owner_col}"
        if self.grain == "manager":
            return (f"JOIN {self.members} m ON m.period = w.period AND m.payee_id = {owner}", "m.key")
        if self.scope is None:
            if self.grain == "company":
                return "", sql_str(self.company_key)
            if self.grain == "product":
                return "", f"{alias}.{product_col}"
            if self.grain == "payee":
                return "", owner
        join = f"JOIN {self.payee_keys()} m ON m.payee_id = {owner}"
        return join, (f"{alias}.{product_col}" if self.grain == "product" else "m.key")

    def on_grid(self, sql: str, columns: str, *, arrow: bool = False) -> pd.DataFrame:
        """Left-join ``sql`` (columns ``period, key, ...``) onto the grid, so every (window,
        group) has a row, and return it as a frame ordered by window then key.

        ``columns`` is the SELECT list over alias ``r`` (the result) producing ``value``,
        ``numerator`` and ``denominator``. ``arrow=True`` returns Arrow-backed columns
        (``pd.ArrowDtype``, no per-value Python objects): :func:`compute_metrics` turns them
        into the same values (``Decimal``, ``float``, ``int``) far faster, so a metric that
        hands the frame straight back should ask for it; one that works on the frame in
        pandas keeps the default (``Decimal`` objects)."""
        joined = f"FROM {self.grid} g LEFT JOIN ({sql}) r ON r.period = g.period AND r.key = g.key ORDER BY g.gi"
        if arrow:  # the grid's own labels (read once per query) beside the metric's columns
            values = self.con.sql(f"SELECT {columns} {joined}").to_arrow_table()
            labels = self.grid_labels()
            if values.num_rows == labels.num_rows and not {"period", "key"} & set(values.column_names):
                for i in range(values.num_columns):
                    labels = labels.append_column(values.schema.field(i), values.column(i))
                return labels.to_pandas(types_mapper=pd.ArrowDtype)
            # SQL with several rows for one (period, key): its own labels, as it asked
            return self.con.sql(f"SELECT g.period, g.key, {columns} {joined}").to_arrow_table().to_pandas(
                types_mapper=pd.ArrowDtype)
        return self.frame(f"SELECT g.period, g.key, {columns} {joined}")

    def grid_labels(self) -> pa.Table:
        """``period, key`` of the grid in answer order (``gi``), read once per query."""
        if self._labels is None:
            self._labels = self.con.sql(f"SELECT period, key FROM {self.grid} ORDER BY gi").to_arrow_table()
        return self._labels
