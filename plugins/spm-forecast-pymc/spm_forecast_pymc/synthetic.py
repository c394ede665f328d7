"""A small deterministic synthetic sales company in the workspace's table shapes.

For tests and for trying the models without real data: reps in teams in regions, deals
created every month with a new-hire ramp, segment-dependent sizes, cycle lengths and win
rates, a quarter-end push (deals due early in a quarter tend to close in its last month),
stage histories, quarterly quotas, and a few payees paid in EUR (with daily fx rates).
Everything is drawn from one seeded generator, vectorised (no loop over payees or deals).
"""

from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd

STAGES = ("Prospecting", "Qualification", "Proposal", "Negotiation")
SEGMENTS = ("SMB", "Mid-Market", "Enterprise")
_SEG_SIZE = np.array([8_000.0, 30_000.0, 120_000.0])
_SEG_CYCLE = np.array([35.0, 70.0, 140.0])      # median days created -> close
_SEG_WIN = np.array([0.35, 0.28, 0.22])
_SEG_MIX = np.array([0.55, 0.30, 0.15])


def synthetic_company(n_payees: int = 40, months: int = 36, end: date = date(2024, 12, 31),
                      seed: int = 7, n_teams: int = 6, n_regions: int = 2,
                      deals_per_month: float = 3.0) -> dict[str, pd.DataFrame]:
    """Tables keyed by name (load them in this order: regions, teams, payees, fx_rates,
    opportunities, opportunity_stage_history, quotas). Dates run from ``months`` months
    before ``end`` to ``end``; deals still open at ``end`` are ``is_closed = False`` with the
    CRM's expected ``close_date``."""
    rng = np.random.default_rng(seed)
    end_ts = pd.Timestamp(end)
    start_ts = (end_ts.to_period("M") - (months - 1)).to_timestamp()
    regions = pd.DataFrame({"region_id": [f"R{r + 1}" for r in range(n_regions)],
                            "name": [f"Region {r + 1}" for r in range(n_regions)]})
    teams = pd.DataFrame({"team_id": [f"T{t + 1:02d}" for t in range(n_teams)],
                          "name": [f"Team {t + 1}" for t in range(n_teams)],
                          "region_id": [f"R{t % n_regions + 1}" for t in range(n_teams)]})

    ids = np.array([f"P{i + 1:04d}" for i in range(n_payees)])
    team_idx = rng.integers(0, n_teams, n_payees)
    # most reps were hired before the window; about a quarter join during it
    hire_offset = np.where(rng.random(n_payees) < 0.25, rng.integers(0, months * 30 - 90, n_payees),
                           -rng.integers(60, 1500, n_payees))
    hire = (start_ts + pd.to_timedelta(hire_offset, unit="D")).normalize()
    leaves = rng.random(n_payees) < 0.08
    term = pd.Series(hire + pd.to_timedelta(rng.integers(200, 900, n_payees), unit="D"))
    term = term.where(leaves & (term < end_ts - pd.Timedelta(days=60)))
    currency = np.where(rng.random(n_payees) < 0.15, "EUR", "USD")
    payees = pd.DataFrame({
        "payee_id": ids, "name": [f"Rep {i}" for i in ids], "role": "rep",
        "team_id": teams["team_id"].to_numpy()[team_idx],
        "region_id": teams["region_id"].to_numpy()[team_idx],
        "segment": np.array(SEGMENTS)[rng.choice(3, n_payees, p=_SEG_MIX)],
        "currency": currency, "hire_date": hire.date, "termination_date": term.dt.date,
    })

    skill = np.exp(rng.normal(0, 0.35, n_payees) + rng.normal(0, 0.15, n_teams)[team_idx])
    # deals: a Poisson count per payee-month of employment, ramping up over ~4 months
    month_starts = pd.date_range(start_ts - pd.DateOffset(months=6), end_ts, freq="MS")
    pm_payee = np.repeat(np.arange(n_payees), len(month_starts))
    pm_month = np.tile(month_starts, n_payees)
    tenure = (pm_month - hire[pm_payee]).days.to_numpy() / 30.4
    employed = (tenure >= 0) & (pd.Series(term.to_numpy()[pm_payee]).isna().to_numpy()
                                | (pm_month < term.to_numpy()[pm_payee]))
    rate = deals_per_month * skill[pm_payee] * (1 - np.exp(-np.clip(tenure, 0, None) / 4.0))
    counts = rng.poisson(np.where(employed, rate, 0.0))
    owner = np.repeat(pm_payee, counts)
    created = (np.repeat(pm_month, counts)
               + pd.to_timedelta(rng.integers(0, 28, counts.sum()), unit="D"))
    n = len(owner)
    seg = rng.choice(3, n, p=_SEG_MIX)
    amount = np.round(_SEG_SIZE[seg] * np.exp(rng.normal(0, 0.6, n)) / 50) * 50
    cycle = np.maximum(5, _SEG_CYCLE[seg] * np.exp(rng.normal(0, 0.5, n))).round()
    close = created + pd.to_timedelta(cycle, unit="D")
    p_win = np.clip(_SEG_WIN[seg] * skill[owner] ** 0.5, 0.02, 0.9)
    won = rng.random(n) < p_win
    # quarter-end push: a won deal due in the first two months of a quarter often slips
    month_in_q = (close.month.to_numpy() - 1) % 3
    push = won & (month_in_q < 2) & (rng.random(n) < 0.35)
    q_end = close.to_period("Q").to_timestamp(how="end").normalize() - pd.to_timedelta(
        rng.integers(0, 5, n), unit="D")
    close = pd.DatetimeIndex(np.where(push, q_end, close))
    expected = created + pd.to_timedelta((cycle * np.exp(rng.normal(-0.2, 0.3, n))).round(), unit="D")
    is_closed = close <= end_ts
    keep = (created <= end_ts) & (created >= start_ts - pd.DateOffset(months=6))
    opp_ids = np.array([f"O{i + 1:06d}" for i in range(n)])
    opportunities = pd.DataFrame({
        "opportunity_id": opp_ids, "owner_id": ids[owner], "name": [f"Deal {i}" for i in opp_ids],
        "amount": amount, "currency": currency[owner], "stage": np.where(
            is_closed, np.where(won, "Closed Won", "Closed Lost"), ""),
        "created_date": created.date,
        "close_date": np.where(is_closed, close.date, np.maximum(expected, end_ts + pd.Timedelta(days=1)).date),
        "is_closed": is_closed, "is_won": is_closed & won,
        "segment": np.array(SEGMENTS)[seg], "deal_type": "new",
    })
    # stage history: stage k entered at fraction k/4 of the deal's life
    life = (close - created).days.to_numpy()
    k = np.arange(len(STAGES))
    entered = created.to_numpy()[:, None] + (life[:, None] * k[None, :] / len(STAGES)).astype(
        "timedelta64[D]")
    hist = pd.DataFrame({"opportunity_id": np.repeat(opp_ids, len(STAGES)),
                         "stage": np.tile(STAGES, n), "entered_date": entered.reshape(-1)})
    hist = hist[hist["entered_date"] <= end_ts]
    open_mask = ~is_closed
    last_stage = hist.groupby("opportunity_id")["stage"].last()
    opportunities.loc[open_mask, "stage"] = last_stage.reindex(opp_ids[open_mask]).fillna(STAGES[0]).to_numpy()
    closed_hist = pd.DataFrame({"opportunity_id": opp_ids[is_closed],
                                "stage": opportunities.loc[is_closed, "stage"].to_numpy(),
                                "entered_date": close[is_closed]})
    hist = pd.concat([hist, closed_hist], ignore_index=True)
    opportunities = opportunities[keep].reset_index(drop=True)
    hist = hist[hist["opportunity_id"].isin(opportunities["opportunity_id"])]
    hist = hist.assign(entered_date=pd.to_datetime(hist["entered_date"]).dt.date)
    hist = hist.drop_duplicates(["opportunity_id", "stage", "entered_date"]).reset_index(drop=True)

    # quarterly quotas (measure "bookings"), set from each rep's skill and ramp
    quarters = pd.period_range(start_ts, end_ts + pd.DateOffset(months=6), freq="Q")
    qp = np.repeat(np.arange(n_payees), len(quarters))
    qq = np.tile(np.arange(len(quarters)), n_payees)
    q_start = quarters.start_time[qq]
    typical = deals_per_month * 3 * float((_SEG_SIZE * _SEG_WIN * _SEG_MIX).sum()) * 1.1
    q_amount = np.round(typical * skill[qp] ** 0.7 / 1000) * 1000
    active = q_start >= hire[qp].to_period("Q").start_time
    quotas = pd.DataFrame({"payee_id": ids[qp], "measure": "bookings", "period_start": q_start.date,
                           "period_end": quarters.end_time[qq].normalize().date,
                           "amount": q_amount, "currency": currency[qp]})[active].reset_index(drop=True)

    days = pd.date_range(start_ts - pd.DateOffset(months=7), end_ts + pd.DateOffset(months=12), freq="D")
    fx = pd.DataFrame({"rate_date": days.date, "from_currency": "EUR", "to_currency": "USD",
                       "rate": np.round(1.08 + 0.04 * np.sin(np.arange(len(days)) / 90.0), 6)})
    return {"regions": regions, "teams": teams, "payees": payees, "fx_rates": fx,
            "opportunities": opportunities, "opportunity_stage_history": hist, "quotas": quotas}


LOAD_ORDER = ("regions", "teams", "payees", "fx_rates", "opportunities",
              "opportunity_stage_history", "quotas")


def load_into(ws: object, tables: dict[str, pd.DataFrame]) -> None:
    """Load the synthetic tables into a workspace through ``ws.load`` (validated)."""
    for name in LOAD_ORDER:
        ws.load(name, tables[name], source="synthetic")  # type: ignore[attr-defined]
