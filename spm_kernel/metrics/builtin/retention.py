"""Logo retention and net revenue retention, from ``subscriptions``.

A subscription is active on a day between its ``start_date`` and its ``end_date`` (both
inclusive; open-ended when ``end_date`` is empty). The customers at a window's start are the
accounts (at the product grain: account and product) with an active subscription on its
first day; they are credited to the account's owner. ARR is converted to the base currency
at the rate of the window's first day for both ends, so currency moves do not show as
retention.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa

from spm_kernel.extensions import Metric
from spm_kernel.hookspecs import hookimpl
from spm_kernel.metrics.context import (
    FAR_FUTURE,
    NONE_KEY,
    MetricContext,
    money_sql,
    ratio_sql,
)


def _reduce(values: np.ndarray, starts: np.ndarray) -> np.ndarray:
    """Sums of ``values`` over the consecutive runs beginning at ``starts`` (non-empty)."""
    return np.add.reduceat(values, starts) if len(values) else np.zeros(0, dtype=values.dtype)


def _cohort_rows(subs: pa.Table, windows: pa.Table, rates: pa.Table) -> pd.DataFrame:
    """``ord, owner_idx, group, customers, kept, arr_start, arr_end`` for every (window,
    group) with customers at the window's start.

    ``subs``: ``owner_idx, group, customer, start, end, cur, cents``, sorted by group then
    customer (a customer belongs to one group); days are integers. ``windows``: ``ord,
    period_start, period_end`` (days); ``rates``: ``ord, cur, num, den`` (the rate of each
    window's first day, base currency 1/1). Each window is a few whole-array operations over
    the subscriptions (no per-row Python): which subscriptions are active on its first and
    last day, which customers therefore are, and the converted ARR (rounded half up per
    subscription, as :func:`round_div_sql` does) summed per group. Integer arithmetic is
    exact; amounts that could overflow 64 bits are computed with Python integers instead."""
    n = subs.num_rows
    col = {name: subs.column(name).to_numpy() for name in ("owner_idx", "group", "customer", "start", "end", "cur")}
    cents = subs.column("cents").to_numpy()
    new_customer = np.ones(n, dtype=bool)
    new_customer[1:] = ((col["customer"][1:] != col["customer"][:-1]) | (col["group"][1:] != col["group"][:-1])
                        | (col["owner_idx"][1:] != col["owner_idx"][:-1]))
    customer_starts = np.flatnonzero(new_customer)
    customer_of = np.cumsum(new_customer) - 1
    first_owner, first_group = col["owner_idx"][customer_starts], col["group"][customer_starts]
    new_group = np.ones(len(customer_starts), dtype=bool)
    new_group[1:] = (first_group[1:] != first_group[:-1]) | (first_owner[1:] != first_owner[:-1])
    group_starts_c = np.flatnonzero(new_group)          # in customer positions
    group_starts = customer_starts[group_starts_c]      # in subscription positions
    owners, groups = col["owner_idx"][group_starts], col["group"][group_starts]
    # rates[ord, cur]; exact in int64 when |cents| x num x 2 + den and every sum stay below 2^62
    n_cur = int(col["cur"].max()) + 1 if n else 1
    ords = windows.column("ord").to_numpy()
    num = np.ones((int(ords.max()) + 1 if len(ords) else 1, n_cur), dtype=np.int64)
    den = np.ones_like(num)
    r_ord, r_cur = rates.column("ord").to_numpy(), rates.column("cur").to_numpy()
    num[r_ord, r_cur] = rates.column("num").to_numpy()
    den[r_ord, r_cur] = rates.column("den").to_numpy()
    big = 1 << 62
    magnitude = np.abs(cents)
    biggest = int(magnitude.max()) if n else 0
    exact = (biggest * int(num.max()) * 2 + int(den.max()) < big
             and n * (biggest * (int((num // den).max()) + 1) + 1) < big)
    if not exact:  # Python integers: slower, never wrong
        magnitude, num, den = magnitude.astype(object), num.astype(object), den.astype(object)
    negative = cents < 0
    out = []
    for o, first, last in zip(ords, windows.column("period_start").to_numpy(),
                              windows.column("period_end").to_numpy()):
        at_start = (col["start"] <= first) & (col["end"] >= first)
        at_end = (col["start"] <= last) & (col["end"] >= last)
        customer_start = np.logical_or.reduceat(at_start, customer_starts) if n else at_start
        customer_end = np.logical_or.reduceat(at_end, customer_starts) if n else at_end
        customers = _reduce(customer_start.astype(np.int64), group_starts_c)
        keep = customers > 0
        if not keep.any():
            continue
        kept = _reduce((customer_start & customer_end).astype(np.int64), group_starts_c)
        w_num, w_den = num[o][col["cur"]], den[o][col["cur"]]
        size = (magnitude * w_num * 2 + w_den) // (2 * w_den)
        converted = np.where(negative, -size, size)
        zero = converted.dtype.type(0) if converted.dtype != object else 0
        arr_start = _reduce(np.where(at_start, converted, zero), group_starts)
        arr_end = _reduce(np.where(at_end & customer_start[customer_of], converted, zero), group_starts)
        out.append(pd.DataFrame({"ord": o, "owner_idx": owners[keep], "group": groups[keep],
                                 "customers": customers[keep], "kept": kept[keep],
                                 "arr_start": arr_start[keep], "arr_end": arr_end[keep]}))
    if not out:
        return pd.DataFrame({"ord": pd.Series(dtype="int64"), "owner_idx": pd.Series(dtype="int64"),
                             "group": pd.Series(dtype="int64"), "customers": pd.Series(dtype="int64"),
                             "kept": pd.Series(dtype="int64"), "arr_start": pd.Series(dtype="int64"),
                             "arr_end": pd.Series(dtype="int64")})
    frame = pd.concat(out, ignore_index=True)
    if not exact:  # back to integers DuckDB reads exactly (as text: they may pass 64 bits)
        for name in ("arr_start", "arr_end"):
            frame[name] = frame[name].map(str)
    return frame


def cohorts(ctx: MetricContext) -> str:
    """Temp table: ``period, key, customers, kept, arr_start_cents, arr_end_cents`` per window.

    Subscriptions are numbered by account (the account's row, so no sort of the ids), owner,
    product and currency in SQL, sorted by owner (and product at the product grain) then
    account, and read into arrays once. Each window is then a handful of whole-array
    operations (:func:`_cohort_rows`): no (window, subscription) or (window, customer) table
    is ever built; the small (window, owner) result goes back to SQL to meet the group keys."""
    def build(table: str) -> None:
        w, rates = ctx.windows, ctx.window_rates("period_start")
        ctx.check_currencies("subscriptions", "currency", "subscription ARR")
        raw, owners, currencies = ctx.t("subscription_rows"), ctx.t("subscription_owners"), ctx.t("subscription_currencies")
        scoped = "" if ctx.scope is None else f"AND a.owner_id IN (SELECT payee_id FROM {ctx.payees})"
        ctx.execute(f"""
            CREATE TEMP TABLE {raw} AS
            SELECT x.account_id, a.rowid AS account_row, a.owner_id,
                   coalesce(x.product, '{NONE_KEY}') AS product, x.start_date,
                   coalesce(x.end_date, {FAR_FUTURE}) AS end_date, x.currency AS cur,
                   CAST(x.arr * 100 AS BIGINT) AS cents
            FROM subscriptions x LEFT JOIN accounts a ON a.account_id = x.account_id
            WHERE x.start_date <= DATE '{ctx.max_end.isoformat()}'
              AND coalesce(x.end_date, {FAR_FUTURE}) >= DATE '{ctx.min_start.isoformat()}' {scoped}""")
        ctx.execute(f"""
            CREATE TEMP TABLE {owners} AS
            SELECT owner_id, CAST(row_number() OVER () AS INTEGER) AS owner_idx
            FROM (SELECT DISTINCT owner_id FROM {raw} WHERE owner_id IS NOT NULL)""")
        ctx.execute(f"""
            CREATE TEMP TABLE {currencies} AS
            SELECT cur, CAST(row_number() OVER () - 1 AS INTEGER) AS cur_idx FROM (SELECT DISTINCT cur FROM {raw})""")
        products = ctx.t("subscription_products")
        ctx.execute(f"""
            CREATE TEMP TABLE {products} AS
            SELECT product, CAST(row_number() OVER () - 1 AS INTEGER) AS product_idx
            FROM (SELECT DISTINCT product FROM {raw})""")
        by_product = ctx.grain == "product"
        group = "p.product_idx" if by_product else "0"
        # subscriptions whose account is not in accounts: numbered after every account row,
        # owner 0 (none); at the product grain a customer is an account and a product
        epoch = "DATE '1970-01-01'"
        subs = ctx.con.sql(f"""
            WITH orphans AS (
                SELECT account_id, dense_rank() OVER (ORDER BY account_id) AS n
                FROM (SELECT DISTINCT account_id FROM {raw} WHERE account_row IS NULL))
            SELECT CAST(coalesce(o.owner_idx, 0) AS BIGINT) AS owner_idx, CAST({group} AS BIGINT) AS "group",
                   CAST(coalesce(r.account_row, (SELECT coalesce(max(rowid), 0) + 1 FROM accounts) + x.n) AS BIGINT) AS customer,
                   CAST(datediff('day', {epoch}, r.start_date) AS BIGINT) AS start,
                   CAST(datediff('day', {epoch}, r.end_date) AS BIGINT) AS "end",
                   CAST(c.cur_idx AS BIGINT) AS cur, r.cents
            FROM {raw} r LEFT JOIN {owners} o ON o.owner_id = r.owner_id
            JOIN {currencies} c ON c.cur = r.cur JOIN {products} p ON p.product = r.product
            LEFT JOIN orphans x ON r.account_row IS NULL AND x.account_id IS NOT DISTINCT FROM r.account_id
            ORDER BY 1, 2, 3""").to_arrow_table()
        window_days = ctx.con.sql(f"""
            SELECT CAST(ord AS BIGINT) AS ord, CAST(datediff('day', {epoch}, period_start) AS BIGINT) AS period_start,
                   CAST(datediff('day', {epoch}, period_end) AS BIGINT) AS period_end FROM {w} ORDER BY ord""").to_arrow_table()
        window_rates = ctx.con.sql(f"""
            SELECT CAST(w.ord AS BIGINT) AS ord, CAST(c.cur_idx AS BIGINT) AS cur,
                   CAST(r.num AS BIGINT) AS num, CAST(r.den AS BIGINT) AS den
            FROM {rates} r JOIN {w} w USING (period) JOIN {currencies} c ON c.cur = r.cur""").to_arrow_table()
        rows = _cohort_rows(subs, window_days, window_rates)
        per_owner = ctx.t("retention_per_owner")
        ctx.con.register(f"{per_owner}_frame", rows)
        try:
            amount = "{}" if rows["arr_start"].dtype.kind == "i" else "CAST({} AS HUGEINT)"
            ctx.execute(f"""
                CREATE TEMP TABLE {per_owner} AS
                SELECT CAST(f.ord AS INTEGER) AS ord, CAST(f.owner_idx AS INTEGER) AS owner_idx, p.product,
                       f.customers, f.kept, {amount.format('f.arr_start')} AS arr_start, {amount.format('f.arr_end')} AS arr_end
                FROM "{per_owner}_frame" f LEFT JOIN {products} p ON p.product_idx = f."group" AND {'TRUE' if by_product else 'FALSE'}""")
        finally:
            ctx.con.unregister(f"{per_owner}_frame")
        join, key = ctx.owner_join("a")
        ctx.execute(f"""
            CREATE TEMP TABLE {table} AS
            WITH a AS (
                SELECT p.*, o.owner_id FROM {per_owner} p LEFT JOIN {owners} o ON o.owner_idx = p.owner_idx)
            SELECT w.period, {key} AS key, CAST(sum(a.customers) AS BIGINT) AS customers,
                   CAST(sum(a.kept) AS BIGINT) AS kept, sum(a.arr_start) AS arr_start_cents,
                   sum(a.arr_end) AS arr_end_cents
            FROM a JOIN {w} w ON w.ord = a.ord {join}
            GROUP BY ALL""")
    return ctx._once("retention_cohorts", build)


class LogoRetention(Metric):
    name = "logo_retention"
    label = "Logo retention"
    unit = "ratio"
    definition = "Customers at the start of the period still active at its end, over customers at the start."
    formula = "count(customers active on the first and the last day) / count(customers active on the first day)"
    tables = ("subscriptions", "accounts", "payees")
    higher_is_better = True

    def compute(self, ctx: MetricContext) -> pd.DataFrame:
        return ctx.on_grid(f"SELECT * FROM {cohorts(ctx)}", f"""{ratio_sql('r.kept', 'r.customers')} AS value,
            CAST(coalesce(r.kept, 0) AS BIGINT) AS numerator, CAST(coalesce(r.customers, 0) AS BIGINT) AS denominator""", arrow=True)

    def revenue_impact(self, gaps: pd.DataFrame) -> pd.Series:
        # customers kept at the average ARR of the starting book
        customers = pd.to_numeric(gaps["denominator"], errors="coerce")
        arr = pd.to_numeric(gaps.get("kpi_den__net_revenue_retention"), errors="coerce")
        return gaps["gap"].clip(lower=0) * arr.where(customers > 0)


class NetRevenueRetention(Metric):
    name = "net_revenue_retention"
    label = "Net revenue retention"
    unit = "ratio"
    definition = ("ARR at the end of the period from the customers active at its start (with their "
                  "expansions, net of downgrades and churn), over their ARR at the start.")
    formula = "sum(end ARR of the starting customers) / sum(start ARR of the starting customers)"
    tables = ("subscriptions", "accounts", "payees", "fx_rates")
    higher_is_better = True

    def compute(self, ctx: MetricContext) -> pd.DataFrame:
        return ctx.on_grid(f"SELECT * FROM {cohorts(ctx)}", f"""
            {ratio_sql('r.arr_end_cents', 'r.arr_start_cents')} AS value,
            {money_sql('coalesce(r.arr_end_cents, 0)')} AS numerator,
            {money_sql('coalesce(r.arr_start_cents, 0)')} AS denominator""", arrow=True)

    def revenue_impact(self, gaps: pd.DataFrame) -> pd.Series:
        arr = pd.to_numeric(gaps["denominator"], errors="coerce")
        return gaps["gap"].clip(lower=0) * arr


@hookimpl(trylast=True)
def spm_register_metrics() -> list[Metric]:
    return [LogoRetention(), NetRevenueRetention()]
