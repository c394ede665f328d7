"""Currency for planning: amounts in the workspace's base currency, quotas in each payee's.

* **History** (bookings, revenue, deal sizes) is converted to the base currency at the rate of
  the deal's close date: the latest ``fx_rates`` quote on or before it, either way round (a
  quote ``base -> currency`` is divided by; a direct ``currency -> base`` quote is preferred
  when both exist on a date). A currency with no quote on or before the date falls back to
  its earliest quote; a currency with no quote at all is a :class:`PlanningError`.
* **Plans** (quotas, budgets) use **planning rates**: one rate per currency for the whole
  plan year, by default the rate in force on the plan year's first day (by the rule above),
  or the rates the analyst gives (``rates={"EUR": Decimal("1.08")}``: 1 EUR = 1.08 base).
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import TYPE_CHECKING

from spm_kernel.planning.errors import PlanningError

if TYPE_CHECKING:
    from spm_kernel.workspace import Workspace

QUOTES_SQL = """
    SELECT currency, rate_date, rate FROM (
        SELECT from_currency AS currency, rate_date, CAST(rate AS DECIMAL(38,18)) AS rate, 0 AS pref
        FROM fx_rates WHERE to_currency = '{base}' AND from_currency <> '{base}'
        UNION ALL
        SELECT to_currency, rate_date, CAST(1 AS DECIMAL(38,18)) / rate, 1
        FROM fx_rates WHERE from_currency = '{base}' AND to_currency <> '{base}' AND rate > 0)
    QUALIFY row_number() OVER (PARTITION BY currency, rate_date ORDER BY pref) = 1
"""


def quotes_sql(base: str) -> str:
    """SQL of every quote to ``base``: ``currency, rate_date, rate`` (1 currency = rate base)."""
    return QUOTES_SQL.format(base=base.replace("'", "''"))


def to_base_sql(relation: str, base: str, amount: str = "amount", currency: str = "currency",
                on: str = "close_date") -> str:
    """SQL selecting ``relation``'s columns plus ``base_amount`` (DECIMAL(18,2), half up)
    and ``base_rate``: ``amount`` converted to ``base`` at the rate in force on ``on``."""
    q = quotes_sql(base)
    return f"""
        WITH q AS ({q}),
        first_q AS (SELECT currency, arg_min(rate, rate_date) AS rate FROM q GROUP BY currency),
        r AS (SELECT * FROM {relation})
        SELECT r.*,
               CASE WHEN r.{currency} = '{base}' THEN CAST(1 AS DECIMAL(38,18))
                    ELSE coalesce(a.rate, f.rate) END AS base_rate,
               CAST(round(r.{amount} * CASE WHEN r.{currency} = '{base}' THEN 1
                    ELSE coalesce(a.rate, f.rate) END, 2) AS DECIMAL(18,2)) AS base_amount
        FROM r ASOF LEFT JOIN q a ON a.currency = r.{currency} AND r.{on} >= a.rate_date
        LEFT JOIN first_q f ON f.currency = r.{currency}
    """


def planning_rates(ws: Workspace, currencies: list[str] | set[str], on: date,
                   rates: dict[str, Decimal] | None = None) -> dict[str, Decimal]:
    """One rate per currency (1 unit = rate base units): ``rates`` where given, else the
    quote in force on ``on`` (else the earliest quote). The base currency is 1."""
    base = ws.config.base_currency
    given = {k.upper(): Decimal(str(v)) for k, v in (rates or {}).items()}
    out: dict[str, Decimal] = {base: Decimal(1)}
    wanted = sorted({c for c in currencies if c and c != base and c not in given})
    for cur, value in given.items():
        if value <= 0:
            raise PlanningError(f"planning rate for {cur} must be positive, got {value}")
        out[cur] = value
    if wanted:
        rows = ws.con.execute(f"""
            WITH q AS ({quotes_sql(base)})
            SELECT currency, coalesce(arg_max(rate, rate_date) FILTER (WHERE rate_date <= ?),
                                      arg_min(rate, rate_date)) AS rate
            FROM q WHERE list_contains(CAST(? AS VARCHAR[]), currency) GROUP BY currency""",
            [on, wanted]).fetchall()
        found = {str(c): Decimal(str(r)) for c, r in rows if r is not None}
        missing = [c for c in wanted if c not in found]
        if missing:
            raise PlanningError(f"no fx_rates quote converts {', '.join(missing)} to {base}: load fx_rates, "
                                f"or give planning rates (rates={{'{missing[0]}': ...}})")
        out.update(found)
    return out
