"""Bookings quotas for the demo company: quarterly and annual, for reps, overlay specialists,
managers, directors and the VP, in each payee's currency.

* A rep's quarterly quota is the segment's annual quota for the year times the
  quarter's weight, prorated by the days the rep held a seat in the quarter, ramped for new
  hires (25% to 100% over the segment's ramp) and varied by territory (+/- about 8%).
* A manager's quota is :data:`~spm_kernel.demo.company.MANAGER_OVERASSIGNMENT` of their
  team's rep quotas, split between managers by days when a team changes manager.
* An overlay specialist's quota is a share of the Mid-Market and Enterprise rep quotas of
  their region, weighted by their product's share of the mix.
* A director's quota is the sum of their managers' quotas; the VP's is the sum of the
  directors' quotas converted to USD at the budget rates.

Quarterly amounts are rounded to whole hundreds of the currency; an annual quota is the
exact sum of its four quarters.

Measures: the quarterly quotas are ``bookings``; the annual ones are ``bookings_annual``.
They cannot share a measure: the ``quotas`` key is (payee, measure, period start), which
an annual and a first-quarter row would share, and every consumer that prorates the rows of
a measure over a window (metrics, plans) would count the year twice. Summing a year's
``bookings`` rows gives its ``bookings_annual`` row exactly.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from spm_kernel.demo import company as co
from spm_kernel.demo.org import VP_ID, Org

MEASURE = "bookings"
ANNUAL_MEASURE = "bookings_annual"
QUARTER_STARTS = np.array([co.day(f"{y}-{m:02d}-01") for y in co.FISCAL_YEARS for m in (1, 4, 7, 10)])
QUARTER_ENDS = np.append(QUARTER_STARTS[1:], co.day(f"{co.FISCAL_YEARS[-1] + 1}-01-01")) - 1


def _hundreds(raw_cents: np.ndarray) -> np.ndarray:
    """Round cents to whole hundreds of the currency (10,000 cents)."""
    return (np.floor(raw_cents / 10_000.0 + 0.5) * 10_000).astype(np.int64)


def _cross(frame: pd.DataFrame) -> pd.DataFrame:
    quarters = pd.DataFrame({"q": np.arange(len(QUARTER_STARTS)), "q_start": QUARTER_STARTS,
                             "q_end": QUARTER_ENDS})
    return frame.merge(quarters, how="cross")


def _overlap(start: np.ndarray, end: np.ndarray, q_start: np.ndarray, q_end: np.ndarray) -> np.ndarray:
    days = np.minimum(end, q_end + 1) - np.maximum(start, q_start)
    return np.clip(days, 0, None) / (q_end + 1 - q_start)


def _rows(payee_ids: np.ndarray, q: np.ndarray, amount: np.ndarray, currency: np.ndarray) -> pd.DataFrame:
    quarterly = pd.DataFrame({"payee_id": payee_ids, "q": q, "amount": amount, "currency": currency})
    quarterly = quarterly[quarterly["amount"] > 0]
    quarterly = quarterly.assign(period_start=QUARTER_STARTS[quarterly["q"].to_numpy()],
                                 period_end=QUARTER_ENDS[quarterly["q"].to_numpy()],
                                 year=quarterly["q"].to_numpy() // 4)
    annual = quarterly.groupby(["payee_id", "year", "currency"], as_index=False)["amount"].sum()
    annual = annual.assign(period_start=QUARTER_STARTS[annual["year"].to_numpy() * 4],
                           period_end=QUARTER_ENDS[annual["year"].to_numpy() * 4 + 3])
    cols = ["payee_id", "measure", "period_start", "period_end", "amount", "currency"]
    return pd.concat([annual.assign(measure=ANNUAL_MEASURE)[cols], quarterly.assign(measure=MEASURE)[cols]],
                     ignore_index=True)


def quota_table(rng: np.random.Generator, org: Org) -> pd.DataFrame:
    """The quotas of one division (every role but the VP)."""
    payees, stints = org.payees, org.stints
    pid = payees["payee_id"].to_numpy()
    cur = payees["currency"].to_numpy()
    rate = np.array([co.BUDGET_RATES[c] for c in cur])
    territory = np.exp(rng.normal(0.0, co.QUOTA_TERRITORY_SIGMA, (len(payees), len(co.FISCAL_YEARS))))

    # reps, per stint and quarter
    parts = _cross(stints[["payee", "team", "segment", "region", "start", "end", "hire"]])
    seg, q, payee = parts["segment"].to_numpy(), parts["q"].to_numpy(), parts["payee"].to_numpy()
    year = q // 4
    frac = _overlap(parts["start"].to_numpy(), parts["end"].to_numpy(),
                    parts["q_start"].to_numpy(), parts["q_end"].to_numpy())
    mid = (parts["q_start"].to_numpy() + parts["q_end"].to_numpy()) / 2
    months = (mid - parts["hire"].to_numpy()) / 30.44
    ramp = np.clip(months / np.asarray(co.RAMP_MONTHS)[seg], 0.25, 1.0)
    annual_usd = np.asarray(co.QUOTA_USD)[seg, year]
    raw = (annual_usd / rate[payee] * np.asarray(co.QUOTA_QUARTER_WEIGHTS)[q % 4] * frac * ramp
           * territory[payee, year] * 100.0)
    parts = parts.assign(raw=raw)
    rep_raw = parts.groupby(["payee", "q"], as_index=False)["raw"].sum()
    rep_amount = _hundreds(rep_raw["raw"].to_numpy())
    out = [_rows(pid[rep_raw["payee"]], rep_raw["q"].to_numpy(), rep_amount, cur[rep_raw["payee"]])]

    # managers: their share of the team's quota by days managed in the quarter
    team_raw = parts.groupby(["team", "q"], as_index=False)["raw"].sum()
    mq = org.managers.merge(team_raw, on="team")
    mq = mq.assign(q_start=QUARTER_STARTS[mq["q"].to_numpy()], q_end=QUARTER_ENDS[mq["q"].to_numpy()])
    share = _overlap(mq["start"].to_numpy(), mq["end"].to_numpy(), mq["q_start"].to_numpy(),
                     mq["q_end"].to_numpy())
    mgr_amount = _hundreds(mq["raw"].to_numpy() * co.MANAGER_OVERASSIGNMENT * share)
    out.append(_rows(pid[mq["payee"]], mq["q"].to_numpy(), mgr_amount, cur[mq["payee"]]))

    # directors: the sum of their managers' quotas
    mgr_region = payees["region"].to_numpy()[mq["payee"].to_numpy()]
    dq = pd.DataFrame({"region": mgr_region, "q": mq["q"].to_numpy(), "amount": mgr_amount})
    dq = dq.groupby(["region", "q"], as_index=False)["amount"].sum()
    directors = payees[payees["role"] == "director"].set_index("region")["payee"]
    d_payee = directors.reindex(dq["region"]).to_numpy()
    out.append(_rows(pid[d_payee], dq["q"].to_numpy(), dq["amount"].to_numpy(), cur[d_payee]))

    # overlays: their product's share of the region's Mid-Market and Enterprise quotas
    big = parts[parts["segment"] > 0]
    overlays = payees[payees["role"] == "overlay"]
    product_index = np.array([co.PRODUCTS.index(p) for p in co.OVERLAY_PRODUCTS])
    mix = np.asarray(co.PRODUCT_MIX)
    oq = big.merge(overlays[["payee", "region", "product"]].rename(columns={"payee": "overlay"}), on="region")
    weight = mix[oq["segment"].to_numpy(), product_index[oq["product"].to_numpy()]]
    oq = oq.assign(raw=oq["raw"].to_numpy() * weight * co.OVERLAY_QUOTA_SHARE)
    oq = oq.groupby(["overlay", "q"], as_index=False)["raw"].sum()
    out.append(_rows(pid[oq["overlay"]], oq["q"].to_numpy(), _hundreds(oq["raw"].to_numpy()),
                     cur[oq["overlay"]]))
    return pd.concat(out, ignore_index=True)


def director_usd(quotas: pd.DataFrame, org: Org) -> pd.DataFrame:
    """The directors' quotas of a division in USD cents at budget rates, per period (the
    VP's quota is their sum over every division)."""
    directors = org.payees[org.payees["role"] == "director"]
    rows = quotas[quotas["payee_id"].isin(directors["payee_id"]) & (quotas["measure"] == MEASURE)]
    rate = rows["currency"].map(co.BUDGET_RATES).to_numpy()
    usd = _hundreds(rows["amount"].to_numpy() * rate)
    return pd.DataFrame({"period_start": rows["period_start"].to_numpy(),
                         "period_end": rows["period_end"].to_numpy(), "usd": usd})


def vp_quotas(director_usd_parts: list[pd.DataFrame]) -> pd.DataFrame:
    """The VP's quotas: the directors' quarterly quotas of every division, summed in USD
    (the annual quota is the sum of the quarters)."""
    total = pd.concat(director_usd_parts, ignore_index=True).groupby("period_start", as_index=False)["usd"].sum()
    q = np.searchsorted(QUARTER_STARTS, total["period_start"].to_numpy())
    return _rows(np.full(len(total), VP_ID, dtype=object), q, total["usd"].to_numpy(),
                 np.full(len(total), "USD", dtype=object))
