"""Bookings history for planning, in the base currency (DuckDB SQL, vectorised).

**Bookings** of a payee in a month: the amounts of closed-won opportunities whose
``close_date`` falls in that month, credited to the payees of the deal's revenue splits in
proportion to their percent (to the owner in full when the deal has no revenue split),
converted to the base currency at the close date's rate (:mod:`spm_kernel.planning.fx`) and
rounded half up to the cent per deal and payee. This is the same definition the forecasting
plugin uses, so a forecast and the history it extends agree. ``deal_types`` narrows it to
some deal types (a plan that pays on new and expansion bookings gets quotas on those).
"""

from __future__ import annotations

from datetime import date
from typing import TYPE_CHECKING

import pandas as pd

from spm_kernel.planning.errors import PlanningError
from spm_kernel.planning.fx import to_base_sql

if TYPE_CHECKING:
    from spm_kernel.workspace import Workspace


def _deal_type_filter(deal_types: tuple[str, ...] | None) -> str:
    if not deal_types:
        return ""
    listed = ", ".join("'" + str(t).replace("'", "''") + "'" for t in deal_types)
    return f" AND o.deal_type IN ({listed})"


def credited_won_deals(ws: Workspace, start: date, end: date, deal_types: tuple[str, ...] | None = None) -> str:
    """SQL of closed-won deals closed in ``start``..``end`` (inclusive), of ``deal_types``
    (default: every type), one row per deal and credited payee: ``opportunity_id, payee_id,
    close_date, created_date, segment, product, deal_type, amount (DECIMAL, deal currency,
    the payee's share), currency``."""
    return f"""
        SELECT o.opportunity_id, coalesce(s.payee_id, o.owner_id) AS payee_id, o.close_date, o.created_date,
               o.segment, o.product, o.deal_type, o.currency,
               CAST(round(o.amount * coalesce(s.percent, 100) / 100, 2) AS DECIMAL(18,2)) AS amount
        FROM opportunities o
        LEFT JOIN opportunity_splits s ON s.opportunity_id = o.opportunity_id AND s.split_type = 'revenue'
        WHERE o.is_won AND o.close_date BETWEEN DATE '{start}' AND DATE '{end}'{_deal_type_filter(deal_types)}
    """


def monthly_bookings(ws: Workspace, start: date, end: date, deal_types: tuple[str, ...] | None = None
                     ) -> pd.DataFrame:
    """Bookings per payee and month in ``start``..``end``: ``payee_id``, ``month`` (first day,
    a date), ``amount`` (Decimal, base currency). Months without bookings have no row."""
    base = ws.config.base_currency
    sql = to_base_sql(f"({credited_won_deals(ws, start, end, deal_types)})", base)
    frame = ws.sql(f"""
        WITH c AS ({sql})
        SELECT payee_id, CAST(date_trunc('month', close_date) AS DATE) AS month,
               CAST(sum(base_amount) AS DECIMAL(18,2)) AS amount, count(*) FILTER (WHERE base_rate IS NULL) AS missing,
               string_agg(DISTINCT currency, ', ') FILTER (WHERE base_rate IS NULL) AS missing_currencies
        FROM c GROUP BY ALL ORDER BY payee_id, month
    """)
    bad = frame.loc[frame["missing"] > 0]
    if len(bad):
        raise PlanningError(f"no fx_rates quote converts {', '.join(sorted(set(bad['missing_currencies'])))} to "
                            f"{base}; load fx_rates for them")
    frame["month"] = pd.to_datetime(frame["month"]).dt.date
    return frame.loc[:, ["payee_id", "month", "amount"]].reset_index(drop=True)


def bookings_totals(ws: Workspace, start: date, end: date, deal_types: tuple[str, ...] | None = None
                    ) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Bookings in ``start``..``end`` summed per payee (``payee_id, amount``) and per month
    (``month, amount``), in one SQL pass (the same definition as :func:`monthly_bookings`)."""
    base = ws.config.base_currency
    sql = to_base_sql(f"({credited_won_deals(ws, start, end, deal_types)})", base)
    frame = ws.sql(f"""
        WITH c AS ({sql})
        SELECT payee_id, CAST(date_trunc('month', close_date) AS DATE) AS month,
               CAST(sum(base_amount) AS DECIMAL(18,2)) AS amount, count(*) FILTER (WHERE base_rate IS NULL) AS missing,
               string_agg(DISTINCT currency, ', ') FILTER (WHERE base_rate IS NULL) AS missing_currencies
        FROM c GROUP BY GROUPING SETS ((payee_id), (month))
    """)
    bad = frame.loc[frame["missing"] > 0]
    if len(bad):
        raise PlanningError(f"no fx_rates quote converts {', '.join(sorted(set(bad['missing_currencies'].dropna())))} "
                            f"to {base}; load fx_rates for them")
    per_payee = frame.loc[frame["payee_id"].notna(), ["payee_id", "amount"]].reset_index(drop=True)
    per_month = frame.loc[frame["payee_id"].isna() & frame["month"].notna(), ["month", "amount"]]
    per_month = per_month.assign(month=pd.to_datetime(per_month["month"]).dt.date).sort_values("month")
    return per_payee, per_month.reset_index(drop=True)
