"""Key markets and segments: where to aim, with a transparent weighted score.

>>> ranking = rank_markets(ws, by="segment", fiscal_year=2026,
...                        weights={"revenue": 2, "growth": 1, "headroom": 2})   # doctest: +SKIP
>>> ranking.table            # rank, market, score, every criterion, its score and contribution
>>> ranking.explain("Enterprise")

**Markets** are the values of ``by``: ``segment`` (the deal's segment, else its account's),
``region`` (the deal's account's region, else the owner's) or ``product`` (the deal's).
**Criteria** for fiscal year *Y* (every amount converted to the base currency at the close
date's rate, :mod:`spm_kernel.planning.fx`):

========== ==================================================================  ==========
criterion  definition                                                           better
========== ==================================================================  ==========
revenue    sum of closed-won deal amounts closed in Y                            higher
growth     revenue of Y / revenue of Y-1 - 1 (none when Y-1 had no revenue)     higher
win_rate   won deals / closed deals (by count) closed in Y                      higher
deal_size  revenue / number of won deals                                        higher
cycle_days mean days from created to close of the deals won in Y                lower
headroom   potential - revenue; potential = sum of ``accounts.potential`` in     higher
           the market (planning rates at Y's end), or the ``potential`` given
========== ==================================================================  ==========

**Score.** Each criterion is rescaled over the markets to 0..1 (min-max: the best market 1,
the worst 0; reversed where lower is better; 0.5 for all when every market has the same
value); a market without a value for a criterion scores 0 on it. The analyst's weights are
normalised to sum to 1 (a criterion no market has a value for is dropped and the others
renormalised, with a note). ``contribution = weight x criterion score``; the market's score
is the sum of its contributions (0..1), and markets are ranked by it (ties by revenue, then
name). :meth:`MarketRanking.explain` says in a sentence which criteria put a market where it
is and which held it back.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import pandas as pd

from spm_kernel.periods import fiscal_year_of, parse_period
from spm_kernel.planning.errors import PlanningError
from spm_kernel.planning.fx import planning_rates, to_base_sql

if TYPE_CHECKING:
    from spm_kernel.workspace import Workspace

CRITERIA: tuple[str, ...] = ("revenue", "growth", "win_rate", "deal_size", "cycle_days", "headroom")
LOWER_IS_BETTER = frozenset({"cycle_days"})
DEFAULT_WEIGHTS: dict[str, float] = {"revenue": 0.25, "growth": 0.2, "win_rate": 0.15, "deal_size": 0.1,
                                     "cycle_days": 0.1, "headroom": 0.2}
LABELS = {"revenue": "revenue", "growth": "growth", "win_rate": "win rate", "deal_size": "deal size",
          "cycle_days": "sales cycle", "headroom": "headroom"}
MONEY_CRITERIA = ("revenue", "deal_size", "headroom")
NO_MARKET = "(none)"


@dataclass(frozen=True)
class MarketRanking:
    """``table``: one row per market, best first: ``rank, market, score``, the raw criteria,
    ``score_<criterion>`` (0..1), ``contribution_<criterion>`` and ``explanation``."""

    by: str
    fiscal_year: int
    weights: dict[str, float]
    table: pd.DataFrame
    notes: list[str] = field(default_factory=list)

    def explain(self, market: str) -> str:
        rows = self.table.loc[self.table["market"] == market]
        if rows.empty:
            raise PlanningError(f"no {self.by} {market!r}; {self.by}s: {', '.join(self.table['market'])}")
        return str(rows.iloc[0]["explanation"])

    def contributions(self) -> pd.DataFrame:
        """Market x criterion contributions (the bars of a stacked chart)."""
        cols = [f"contribution_{c}" for c in self.weights]
        frame = self.table.set_index("market")[cols]
        frame.columns = list(self.weights)
        return frame

    def chart(self) -> Any:
        """A plotly stacked bar chart of each market's score by criterion."""
        import plotly.graph_objects as go

        contrib = self.contributions()
        fig = go.Figure([go.Bar(name=LABELS[c], x=contrib.index, y=contrib[c]) for c in contrib.columns])
        fig.update_layout(barmode="stack", title=f"Markets by {self.by}, FY{self.fiscal_year}: weighted score",
                          yaxis_title="score (0..1)")
        return fig


def _market_sql(by: str) -> str:
    if by == "segment":
        return f"coalesce(o.segment, a.segment, '{NO_MARKET}')"
    if by == "region":
        return f"coalesce(a.region_id, p.region_id, '{NO_MARKET}')"
    if by == "product":
        return f"coalesce(o.product, '{NO_MARKET}')"
    raise PlanningError(f"markets are ranked by segment, region or product, not {by!r}")


def _weights(weights: dict[str, float] | None) -> dict[str, float]:
    given = dict(DEFAULT_WEIGHTS if weights is None else weights)
    unknown = sorted(set(given) - set(CRITERIA))
    if unknown:
        raise PlanningError(f"unknown criteria {unknown}; the criteria are {', '.join(CRITERIA)}")
    if any(float(v) < 0 for v in given.values()):
        raise PlanningError("criterion weights must not be negative")
    total = sum(float(v) for v in given.values())
    if total <= 0:
        raise PlanningError("at least one criterion needs a positive weight")
    return {c: float(given[c]) / total for c in CRITERIA if c in given and float(given[c]) > 0}


def _rescale(values: np.ndarray, lower_is_better: bool) -> np.ndarray:
    known = ~np.isnan(values)
    out = np.zeros(len(values))
    if not known.any():
        return out
    lo, hi = np.nanmin(values), np.nanmax(values)
    if hi == lo:
        out[known] = 0.5
        return out
    scaled = (values - lo) / (hi - lo)
    out[known] = (1.0 - scaled if lower_is_better else scaled)[known]
    return out


def _fmt(criterion: str, value: Any, currency: str) -> str:
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return "no data"
    if criterion in MONEY_CRITERIA:
        return f"{float(value):,.0f} {currency}"
    if criterion in ("growth", "win_rate"):
        return f"{float(value):+.1%}" if criterion == "growth" else f"{float(value):.1%}"
    return f"{float(value):.0f} days"


def _explain(row: pd.Series, weights: dict[str, float], n: int, by: str, currency: str) -> str:
    parts = sorted(weights, key=lambda c: -row[f"contribution_{c}"])
    lifts = [c for c in parts if row[f"contribution_{c}"] > 0][:2]
    drags = sorted(weights, key=lambda c: row[f"score_{c}"])
    drag = next((c for c in drags if row[f"score_{c}"] < 0.5), None)
    text = f"{row['market']} ranks {int(row['rank'])} of {n} {by}s with a score of {row['score']:.2f}"
    if lifts:
        text += ", lifted by " + " and ".join(
            f"{LABELS[c]} ({_fmt(c, row[c], currency)}: {row[f'contribution_{c}']:.2f} of {weights[c]:.2f})"
            for c in lifts)
    if drag is not None and drag not in lifts:
        text += (f"; held back by {LABELS[drag]} ({_fmt(drag, row[drag], currency)}: "
                 f"{row[f'contribution_{drag}']:.2f} of {weights[drag]:.2f})")
    return text + "."


def market_criteria(ws: Workspace, by: Literal["segment", "region", "product"], fiscal_year: int,
                    potential: dict[str, Decimal] | None = None) -> pd.DataFrame:
    """The raw criteria per market (money as Decimal, base currency); see the module docstring."""
    fsm = ws.config.fiscal_year_start_month
    year = parse_period(f"FY{fiscal_year}", fsm)
    prev = parse_period(f"FY{fiscal_year - 1}", fsm)
    base = ws.config.base_currency
    deals = f"""(SELECT o.opportunity_id, o.amount, o.currency, o.close_date, o.created_date, o.is_won,
                        {_market_sql(by)} AS market
                 FROM opportunities o LEFT JOIN accounts a ON a.account_id = o.account_id
                 LEFT JOIN payees p ON p.payee_id = o.owner_id
                 WHERE o.is_closed AND o.close_date BETWEEN DATE '{prev.start}' AND DATE '{year.end}')"""
    frame = ws.sql(f"""
        WITH d AS ({to_base_sql(deals, base)})
        SELECT market,
               CAST(coalesce(sum(base_amount) FILTER (WHERE is_won AND close_date >= DATE '{year.start}'), 0)
                    AS DECIMAL(18,2)) AS revenue,
               CAST(coalesce(sum(base_amount) FILTER (WHERE is_won AND close_date < DATE '{year.start}'), 0)
                    AS DECIMAL(18,2)) AS previous_revenue,
               count(*) FILTER (WHERE is_won AND close_date >= DATE '{year.start}') AS won,
               count(*) FILTER (WHERE close_date >= DATE '{year.start}') AS closed,
               avg(date_diff('day', created_date, close_date))
                   FILTER (WHERE is_won AND close_date >= DATE '{year.start}') AS cycle_days,
               count(*) FILTER (WHERE base_rate IS NULL) AS unrated
        FROM d GROUP BY market ORDER BY market""")
    if int(frame["unrated"].sum()):
        raise PlanningError(f"some deals' currencies have no fx_rates quote to {base}; load fx_rates for them")
    frame = frame.drop(columns=["unrated"])
    prev_rev = frame["previous_revenue"].astype(float).to_numpy()
    rev = frame["revenue"].astype(float).to_numpy()
    with np.errstate(divide="ignore", invalid="ignore"):
        frame["growth"] = np.where(prev_rev > 0, rev / np.where(prev_rev > 0, prev_rev, 1) - 1.0, np.nan)
        frame["win_rate"] = np.where(frame["closed"] > 0, frame["won"] / frame["closed"].clip(lower=1), np.nan)
    frame["deal_size"] = [(r / w).quantize(Decimal("0.01")) if w else None
                          for r, w in zip(frame["revenue"], frame["won"])]
    frame["cycle_days"] = frame["cycle_days"].astype(float)
    frame["potential"] = _potential(ws, by, year.end, potential).reindex(frame["market"]).to_numpy()
    frame["headroom"] = [p - r if isinstance(p, Decimal) else None
                         for p, r in zip(frame["potential"], frame["revenue"])]
    return frame.loc[:, ["market", "revenue", "previous_revenue", "growth", "won", "closed", "win_rate", "deal_size",
                         "cycle_days", "potential", "headroom"]]


def _potential(ws: Workspace, by: str, on: date, given: dict[str, Decimal] | None) -> pd.Series:
    if given:
        return pd.Series({k: Decimal(str(v)) for k, v in given.items()}, dtype=object)
    if by == "product":
        return pd.Series(dtype=object)
    column = "segment" if by == "segment" else "region_id"
    currencies = set(ws.sql("SELECT DISTINCT currency FROM accounts WHERE currency IS NOT NULL")["currency"])
    rates = planning_rates(ws, currencies, on)
    rate_rows = pd.DataFrame({"currency": list(rates), "rate": [str(v) for v in rates.values()]})  # noqa: F841
    base = ws.config.base_currency
    frame = ws.con.sql(f"""
        SELECT coalesce(a.{column}, '{NO_MARKET}') AS market,
               sum(CAST(round(a.potential * CAST(r.rate AS DECIMAL(38,18)), 2) AS DECIMAL(18,2))) AS potential
        FROM accounts a JOIN rate_rows r ON r.currency = coalesce(a.currency, '{base}')
        WHERE a.potential IS NOT NULL GROUP BY 1""").to_arrow_table().to_pandas()
    return frame.set_index("market")["potential"]


def default_fiscal_year(ws: Workspace) -> int:
    """The fiscal year of the latest won deal's close date."""
    rows = ws.con.execute("SELECT max(close_date) FROM opportunities WHERE is_won").fetchall()
    if not rows or rows[0][0] is None:
        raise PlanningError("the workspace has no closed-won opportunity to rank markets by")
    return fiscal_year_of(rows[0][0], ws.config.fiscal_year_start_month)


def rank_markets(ws: Workspace, by: Literal["segment", "region", "product"] = "segment",
                 fiscal_year: int | None = None, weights: dict[str, float] | None = None,
                 potential: dict[str, Decimal] | None = None) -> MarketRanking:
    """Rank the markets of ``by`` for ``fiscal_year`` (default: the year of the latest won
    deal) by the weighted score of the module docstring. ``weights`` (criterion -> weight,
    default :data:`DEFAULT_WEIGHTS`) are normalised; ``potential`` (market -> amount, base
    currency) replaces account potential (products have none otherwise)."""
    fy = fiscal_year or default_fiscal_year(ws)
    w = _weights(weights)
    table = market_criteria(ws, by, fy, potential)
    if table.empty:
        raise PlanningError(f"no deal closed in FY{fy - 1} or FY{fy}: nothing to rank")
    notes: list[str] = []
    for criterion in list(w):
        values = pd.to_numeric(table[criterion].map(lambda v: None if v is None else float(v)), errors="coerce")
        if values.isna().all():
            notes.append(f"no {by} has a value for {LABELS[criterion]}: its weight is shared by the other criteria")
            del w[criterion]
    if not w:
        raise PlanningError("none of the weighted criteria has a value for any market")
    total = sum(w.values())
    w = {c: v / total for c, v in w.items()}
    score = np.zeros(len(table))
    for criterion in CRITERIA:
        values = pd.to_numeric(table[criterion].map(lambda v: None if v is None else float(v)),
                               errors="coerce").to_numpy(dtype=np.float64)
        scaled = _rescale(values, criterion in LOWER_IS_BETTER)
        table[f"score_{criterion}"] = scaled
        table[f"contribution_{criterion}"] = scaled * w.get(criterion, 0.0)
        score += table[f"contribution_{criterion}"].to_numpy()
    table["score"] = score
    table = table.assign(_rev=table["revenue"].astype(float)).sort_values(
        ["score", "_rev", "market"], ascending=[False, False, True]).drop(columns="_rev").reset_index(drop=True)
    table.insert(0, "rank", np.arange(1, len(table) + 1))
    currency = ws.config.base_currency
    table["explanation"] = [_explain(row, w, len(table), by, currency) for _, row in table.iterrows()]
    order = ["rank", "market", "score", *[c for c in table.columns if c not in ("rank", "market", "score")]]
    return MarketRanking(by, fy, w, table.loc[:, order], notes)
