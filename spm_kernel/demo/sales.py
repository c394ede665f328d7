"""Selling in one division: accounts, opportunities with stage history, revenue and overlay
splits, subscriptions with renewals and churn, and the transactions they produce.

The model, vectorised over (rep stint x month) cells and then over opportunities:

* **Demand.** Each month a rep creates new-business and expansion opportunities at a
  Poisson rate that grows each year, follows the calendar (:data:`~.company.SEASONALITY`),
  ramps up over a new hire's first months and rises mildly with the rep's skill.
* **Outcome.** The win probability depends on segment and deal type, rises with skill, is
  lower while ramping, and is raised by :data:`~.company.TRAINING_EFFECT` on deals created
  after the rep completed the negotiation module. Cycle lengths are lognormal by segment;
  a share of won deals is pulled into the last 15 days of its quarter (quarter-end spike).
  Deal sizes are lognormal (right-skewed), scaled by the account's size, the product's
  price and a little by skill. A new-business deal on an account that is already a
  customer is an expansion.
* **Ownership.** A deal belongs to whoever holds the account's seat when it closes (or on
  the as-of day if open); if the seat is vacant, to the team's manager.
* **Subscriptions.** A won new or expansion deal starts a 12-month subscription; existing
  customers start FY2024 with a subscription that began in 2023. Each term ends with a
  renewal opportunity (opened 60-120 days before), won at the segment's renewal rate with
  a price uplift (renewal) or lost (churn: the subscription is not renewed).
* **Transactions.** A booking per won deal on its close date; invoices over each term
  (monthly, quarterly or annually per account) and their payments (net 30 or so, a few
  never paid); a few cancellations (negative, referencing the booking, ending the
  subscription) and refunds (negative, referencing a payment).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from spm_kernel.demo import company as co
from spm_kernel.demo.org import Org
from spm_kernel.demo.util import (
    NO_END, add_months, cents, choice_rows, company_names, ids, interval_lookup, join, month_of,
    month_starts, quarter_end, split_cents, take,
)

DEAL_TYPES = ("new", "expansion", "renewal")
NEW, EXPANSION, RENEWAL = 0, 1, 2
REGION_CURRENCY = np.array([co.CURRENCIES.index(r[2]) for r in co.REGIONS])
CURRENCY_RATE = np.array([co.BUDGET_RATES[c] for c in co.CURRENCIES])
TX_KINDS = ("booking", "cancellation", "invoice", "payment", "refund")
TX_PREFIX = ("TB", "TC", "TI", "TP", "TR")
BOOKING, CANCELLATION, INVOICE, PAYMENT, REFUND = range(5)
Columns = dict[str, Any]


@dataclass
class Sales:
    """The selling tables of one division, as columns (see :mod:`spm_kernel.demo.generator`)."""

    accounts: Columns
    opportunities: Columns
    opportunity_stage_history: Columns
    opportunity_splits: Columns
    subscriptions: Columns
    transactions: Columns


def _lookup_owner(org: Org, seat: np.ndarray, team: np.ndarray, when: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(payee index, stint index or -1): the seat's occupant on ``when``, else the team's
    manager on that day."""
    st = org.stints
    stint = interval_lookup(st["seat"].to_numpy(), st["start"].to_numpy(), st["end"].to_numpy(), seat, when)
    m = org.managers
    mgr = interval_lookup(m["team"].to_numpy(), m["start"].to_numpy(), m["end"].to_numpy(), team, when)
    payee = np.where(stint >= 0, st["payee"].to_numpy()[np.maximum(stint, 0)],
                     m["payee"].to_numpy()[np.maximum(mgr, 0)])
    return payee, stint


def _accounts(rng: np.random.Generator, org: Org) -> tuple[pd.DataFrame, np.ndarray, np.ndarray, np.ndarray]:
    """Accounts seat by seat (prospects first, then existing customers), the index of each
    seat's first account, and each seat's number of prospects and of existing customers.
    Numeric columns only; ``name`` (Arrow) is kept in ``frame.attrs``."""
    seats = org.seats
    seg = seats["segment"].to_numpy()
    n_pros = np.asarray(co.PROSPECTS_PER_SEAT)[seg]
    n_exist = np.asarray(co.EXISTING_CUSTOMERS_PER_SEAT)[seg]
    per_seat = n_pros + n_exist
    seat = np.repeat(seats["seat"].to_numpy(), per_seat)
    rank = np.arange(len(seat)) - np.repeat(np.cumsum(per_seat) - per_seat, per_seat)
    a_seg = seg[seat]
    region = seats["region"].to_numpy()[seat]
    cur = REGION_CURRENCY[region]
    rate = CURRENCY_RATE[cur]
    factor = np.exp(rng.normal(0.0, 0.4, len(seat)))
    potential = (np.asarray(co.DEAL_MEDIAN_USD)[a_seg] / rate * co.POTENTIAL_MULTIPLE * factor
                 * np.exp(rng.normal(0.0, 0.25, len(seat))))
    frame = pd.DataFrame({
        "account": np.arange(len(seat)), "seat": seat, "team": seats["team"].to_numpy()[seat],
        "segment": a_seg, "region": region, "cur": cur, "rate": rate,
        "existing": rank >= n_pros[seat], "factor": factor, "potential": cents(potential),
        "billing": choice_rows(rng, np.asarray(co.BILLING_MIX)[a_seg]),
        "industry": rng.integers(0, len(co.INDUSTRIES), len(seat)),
    })
    frame.attrs["name"] = company_names(rng, cur)
    return frame, np.cumsum(per_seat) - per_seat, n_pros, n_exist


def _demand(rng: np.random.Generator, org: Org, neg_done: np.ndarray, accounts: pd.DataFrame,
            seat_base: np.ndarray, n_pros: np.ndarray, n_exist: np.ndarray) -> pd.DataFrame:
    """New-business and expansion opportunities with their (hidden) outcome."""
    st = org.stints
    months = month_starts(co.PIPELINE_DAY, co.AS_OF_DAY)
    cell_stint = np.repeat(np.arange(len(st)), len(months))
    m0 = np.tile(months, len(st))
    m1 = add_months(m0, np.ones_like(m0))
    lo = np.maximum(st["start"].to_numpy()[cell_stint], m0)
    hi = np.minimum(np.minimum(st["end"].to_numpy()[cell_stint], m1), co.AS_OF_DAY + 1)
    ok = lo < hi
    cell_stint, m0, m1, lo, hi = cell_stint[ok], m0[ok], m1[ok], lo[ok], hi[ok]
    seg = st["segment"].to_numpy()[cell_stint]
    skill = st["skill"].to_numpy()[cell_stint]
    frac = (hi - lo) / (m1 - m0)
    ramp = np.clip(((lo + hi) / 2 - st["hire"].to_numpy()[cell_stint]) / 30.44
                   / np.asarray(co.RAMP_MONTHS)[seg], 0.1, 1.0)
    season = np.asarray(co.SEASONALITY)[month_of(m0) - 1]
    growth = (1 + co.GROWTH_PER_YEAR) ** ((m0 - co.START_DAY) / 365.25)
    lam_new = np.asarray(co.NEW_OPPS_PER_MONTH)[seg] * frac * ramp * season * growth * skill ** 0.3
    lam_exp = np.asarray(co.EXPANSION_OPPS_PER_MONTH)[seg] * frac * (0.5 + 0.5 * ramp) * season * growth
    counts = np.concatenate([rng.poisson(lam_new), rng.poisson(lam_exp)])
    cell = np.repeat(np.tile(np.arange(len(cell_stint)), 2), counts)
    kind = np.repeat(np.repeat([NEW, EXPANSION], len(cell_stint)), counts)

    stint = cell_stint[cell]
    seat = st["seat"].to_numpy()[stint]
    creator = st["payee"].to_numpy()[stint]
    seg = seg[cell]
    created = lo[cell] + np.floor(rng.random(len(cell)) * (hi[cell] - lo[cell])).astype(np.int64)
    # new business works through the seat's prospect list in order (a fifth of the deals
    # revisit a random prospect); expansions pick a random existing customer
    order = np.lexsort((created, kind, seat))
    group_start = np.r_[True, (seat[order][1:] != seat[order][:-1]) | (kind[order][1:] != kind[order][:-1])]
    run = np.arange(len(order)) - np.maximum.accumulate(np.where(group_start, np.arange(len(order)), 0))
    sequence = np.empty(len(order), dtype=np.int64)
    sequence[order] = run
    pick = rng.random(len(cell))
    revisit = rng.random(len(cell)) < 0.2
    prospect = np.where(revisit, np.floor(pick * n_pros[seat]).astype(np.int64), sequence % n_pros[seat])
    account = seat_base[seat] + np.where(kind == NEW, prospect,
                                         n_pros[seat] + np.floor(pick * n_exist[seat]).astype(np.int64))
    product = choice_rows(rng, np.asarray(co.PRODUCT_MIX)[seg])
    p_win = np.where(kind == NEW, np.asarray(co.WIN_NEW)[seg], np.asarray(co.WIN_EXPANSION)[seg])
    p_win = p_win * skill[cell] ** 1.2 * (0.6 + 0.4 * ramp[cell])
    p_win = np.where(created > neg_done[creator], p_win * (1 + co.TRAINING_EFFECT), p_win)
    won = rng.random(len(cell)) < np.clip(p_win, 0.02, 0.9)
    cycle_median = np.asarray(co.CYCLE_MEDIAN_DAYS)[seg] * np.where(kind == NEW, 1.0, 0.6) * np.where(won, 0.9, 1.15)
    cycle = np.maximum(1, np.ceil(cycle_median * np.exp(rng.normal(0.0, co.CYCLE_SIGMA, len(cell))))).astype(np.int64)
    natural = created + cycle
    qe = quarter_end(natural)
    pushed = won & (rng.random(len(cell)) < co.QUARTER_END_PUSH) & (natural < qe - 14)
    close = np.where(pushed, qe - rng.integers(0, 15, len(cell)), natural)
    size_noise = np.exp(rng.normal(0.0, 1.0, len(cell)) * np.sqrt(np.asarray(co.DEAL_SIGMA)[seg] ** 2 - 0.16))
    opps = pd.DataFrame({
        "account": account, "kind": kind, "product": product, "created": created, "close": close,
        "won": won, "creator_skill": skill[cell], "size_noise": size_noise,
        "lost_stage": choice_rows(rng, np.tile(co.LOST_AT_STAGE, (len(cell), 1))),
    })
    opps = opps[opps["close"] >= co.START_DAY].reset_index(drop=True)

    # a new-business deal on an account that is already a customer is an expansion
    wins = opps[(opps["kind"] == NEW) & opps["won"] & (opps["close"] <= co.AS_OF_DAY)]
    first_win = wins.groupby("account")["close"].min()
    since = first_win.reindex(opps["account"]).to_numpy()
    relabel = (opps["kind"].to_numpy() == NEW) & (opps["created"].to_numpy() > np.nan_to_num(since, nan=np.inf))
    opps.loc[relabel, "kind"] = EXPANSION

    a = accounts.loc[opps["account"].to_numpy()]
    size = (np.asarray(co.DEAL_MEDIAN_USD)[a["segment"].to_numpy()] / a["rate"].to_numpy()
            * a["factor"].to_numpy() * opps["size_noise"].to_numpy()
            * np.asarray(co.PRODUCT_PRICE)[opps["product"].to_numpy()]
            * opps["creator_skill"].to_numpy() ** 0.3
            * np.where(opps["kind"].to_numpy() == EXPANSION, co.EXPANSION_SIZE, 1.0))
    opps["amount"] = cents(size)
    return opps.drop(columns=["creator_skill", "size_noise"])


def _terms_and_renewals(rng: np.random.Generator, org: Org, accounts: pd.DataFrame,
                        opps: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Every subscription term and every renewal opportunity (appended to ``opps``' index)."""
    existing = accounts[accounts["existing"].to_numpy()]
    seg = existing["segment"].to_numpy()
    start = rng.integers(co.day("2023-01-25"), co.day("2023-12-31") + 1, len(existing))
    arr = cents(np.asarray(co.DEAL_MEDIAN_USD)[seg] / existing["rate"].to_numpy() * existing["factor"].to_numpy()
                * 1.3 * np.exp(rng.normal(0.0, 0.5, len(existing))))
    base_terms = pd.DataFrame({
        "account": existing["account"].to_numpy(), "product": choice_rows(rng, np.asarray(co.PRODUCT_MIX)[seg]),
        "arr": arr, "start": start, "end": add_months(start, np.full(len(start), 12)) - 1,
        "opp": -1, "cancelled": NO_END,
    })
    won = opps[opps["won"].to_numpy() & (opps["close"].to_numpy() <= co.AS_OF_DAY)]
    close = won["close"].to_numpy()
    cancel_day = close + rng.integers(co.CANCEL_DAYS[0], co.CANCEL_DAYS[1] + 1, len(won))
    cancelled = (rng.random(len(won)) < co.CANCEL_SHARE) & (cancel_day <= co.AS_OF_DAY)
    deal_terms = pd.DataFrame({
        "account": won["account"].to_numpy(), "product": won["product"].to_numpy(),
        "arr": won["amount"].to_numpy(), "start": close,
        "end": np.where(cancelled, cancel_day, add_months(close, np.full(len(close), 12)) - 1),
        "opp": won.index.to_numpy(), "cancelled": np.where(cancelled, cancel_day, NO_END),
    })
    terms = [base_terms, deal_terms]
    renewals = []
    next_opp = len(opps)
    pending = pd.concat(terms, ignore_index=True)
    pending = pending[pending["cancelled"] == NO_END]
    while len(pending):
        a = accounts.loc[pending["account"].to_numpy()]
        seg = a["segment"].to_numpy()
        auto = np.asarray(co.AUTO_RENEW)[seg]
        end = pending["end"].to_numpy()
        created = np.where(auto, end + 1, end + 1 - np.asarray(co.RENEWAL_LEAD_DAYS)[seg])
        keep = created <= co.AS_OF_DAY
        pending, a, seg, auto, end, created = (x[keep] for x in (pending, a, seg, auto, end, created))
        if not len(pending):
            break
        n = len(pending)
        _, stint = _lookup_owner(org, a["seat"].to_numpy(), a["team"].to_numpy(), created)
        skill = np.where(stint >= 0 & ~auto, org.stints["skill"].to_numpy()[np.maximum(stint, 0)], 1.0)
        renewed = rng.random(n) < np.clip(np.asarray(co.RENEWAL_RATE)[seg] * skill ** 0.3, 0.5, 0.99)
        close = np.maximum(created + 1, end - np.where(renewed, rng.integers(0, 21, n), rng.integers(0, 31, n)))
        uplift = co.RENEWAL_UPLIFT[0] * np.exp(rng.normal(0.0, co.RENEWAL_UPLIFT[1], n))
        amount = cents(pending["arr"].to_numpy() / 100.0 * uplift)
        negotiated = ~auto
        index = np.full(n, -1, dtype=np.int64)
        index[negotiated] = np.arange(next_opp, next_opp + negotiated.sum())
        next_opp += int(negotiated.sum())
        renewals.append(pd.DataFrame({
            "account": pending["account"].to_numpy(), "kind": RENEWAL, "product": pending["product"].to_numpy(),
            "created": created, "close": close, "won": renewed, "amount": amount,
            "lost_stage": choice_rows(rng, np.tile(co.LOST_AT_STAGE[::-1], (n, 1))),
        }, index=index)[negotiated])
        booked = renewed & (auto | (close <= co.AS_OF_DAY))
        new_start = end[booked] + 1
        pending = pd.DataFrame({
            "account": pending["account"].to_numpy()[booked], "product": pending["product"].to_numpy()[booked],
            "arr": amount[booked], "start": new_start,
            "end": add_months(new_start, np.full(len(new_start), 12)) - 1,
            "opp": index[booked], "cancelled": NO_END,
        })
        terms.append(pending)
    all_opps = pd.concat([opps, *renewals])
    return pd.concat(terms, ignore_index=True), all_opps


STAGES = (*co.OPEN_STAGES, co.WON, co.LOST)
WON_CODE, LOST_CODE = len(co.OPEN_STAGES), len(co.OPEN_STAGES) + 1


def _stage_history(rng: np.random.Generator, opps: pd.DataFrame) -> tuple[pd.DataFrame, np.ndarray]:
    """Stage rows (opportunity index, stage code, entered day) and each opportunity's current
    stage code (into :data:`STAGES`). Open stages are entered at sorted random fractions of
    the cycle; a lost deal stops at its last stage; nothing after the as-of day is shown."""
    n = len(opps)
    created, close = opps["created"].to_numpy(), opps["close"].to_numpy()
    won = opps["won"].to_numpy()
    fracs = np.sort(rng.random((n, 3)), axis=1)
    dates = np.column_stack([created, created[:, None] + np.floor(fracs * (close - created)[:, None]).astype(np.int64)])
    top = np.where(won, 3, opps["lost_stage"].to_numpy())
    reached = (np.arange(4)[None, :] <= top[:, None]) & (dates <= co.AS_OF_DAY)
    closed = close <= co.AS_OF_DAY
    current = np.where(closed, np.where(won, WON_CODE, LOST_CODE), reached.sum(axis=1) - 1)
    row, k = np.nonzero(reached)
    final = np.flatnonzero(closed)
    history = pd.DataFrame({
        "opp": np.concatenate([row, final]),
        "stage": np.concatenate([k, np.where(won[final], WON_CODE, LOST_CODE)]),
        "entered": np.concatenate([dates[row, k], close[final]]),
    })
    return history, current


def _splits(rng: np.random.Generator, org: Org, opps: pd.DataFrame, seat: np.ndarray, team: np.ndarray,
            owner: np.ndarray, owner_stint: np.ndarray) -> pd.DataFrame:
    """Revenue splits (owner + a teammate, summing to 100) on about 10% of won new and
    expansion deals, and overlay credit (100) for the product's overlay specialist."""
    eligible = (opps["won"].to_numpy() & (opps["close"].to_numpy() <= co.AS_OF_DAY)
                & (opps["kind"].to_numpy() != RENEWAL))
    chosen = np.flatnonzero(eligible & (owner_stint >= 0) & (rng.random(len(opps)) < co.SPLIT_SHARE))
    seats = org.seats.sort_values(["team", "seat"], kind="stable")
    order = seats["seat"].to_numpy()
    pos_of_seat = np.empty(len(order), dtype=np.int64)
    pos_of_seat[order] = np.arange(len(order))
    team_start = seats.groupby("team")["seat"].count().cumsum().shift(fill_value=0).to_numpy()
    team_count = seats.groupby("team")["seat"].count().to_numpy()
    t = team[chosen]
    own = pos_of_seat[seat[chosen]] - team_start[t]
    other = (own + 1 + rng.integers(0, 1 << 30, len(chosen)) % (team_count[t] - 1)) % team_count[t]
    partner_seat = order[team_start[t] + other]
    st = org.stints
    partner_stint = interval_lookup(st["seat"].to_numpy(), st["start"].to_numpy(), st["end"].to_numpy(),
                                    partner_seat, opps["close"].to_numpy()[chosen])
    partner = np.where(partner_stint >= 0, st["payee"].to_numpy()[np.maximum(partner_stint, 0)], -1)
    ok = (partner >= 0) & (partner != owner[chosen])
    chosen, partner = chosen[ok], partner[ok]
    pct = np.asarray(co.SPLIT_PERCENTS)[rng.integers(0, len(co.SPLIT_PERCENTS), len(chosen))]
    revenue = pd.DataFrame({
        "opp": np.concatenate([chosen, chosen]), "payee": np.concatenate([owner[chosen], partner]),
        "split_type": "revenue", "percent": np.concatenate([pct[:, 0], pct[:, 1]]).astype(np.int64),
    })
    overlay_products = np.array([co.PRODUCTS.index(p) for p in co.OVERLAY_PRODUCTS])
    overlays = org.payees[org.payees["role"] == "overlay"]
    overlay_of = np.full((len(co.REGIONS), len(co.PRODUCTS)), -1, dtype=np.int64)
    overlay_of[overlays["region"].to_numpy(), overlay_products[overlays["product"].to_numpy()]] = overlays["payee"].to_numpy()
    region = org.teams["region"].to_numpy()[team]
    who = overlay_of[region, opps["product"].to_numpy()]
    covered = np.flatnonzero(eligible & (who >= 0) & (org.teams["segment"].to_numpy()[team] > 0))
    overlay = pd.DataFrame({"opp": covered, "payee": who[covered], "split_type": "overlay", "percent": 100})
    return pd.concat([revenue, overlay], ignore_index=True)


def _tx_ids(chunk: int, kind: np.ndarray, number: np.ndarray, part: np.ndarray) -> pa.Array:
    """Transaction ids: ``TB``/``TC`` + the deal's number for a booking or cancellation,
    ``TI``/``TP``/``TR`` + the subscription's number + the instalment for an invoice,
    payment or refund."""
    head = join(take(TX_PREFIX, kind), f"{chunk:04d}")
    body = pc.utf8_lpad(pc.cast(pa.array(number), pa.string()), 7, "0")
    tail = pc.utf8_lpad(pc.cast(pa.array(np.maximum(part, 0)), pa.string()), 2, "0")
    return join(head, body, pc.if_else(pa.array(part > 0), tail, ""))


def _transactions(rng: np.random.Generator, opps: pd.DataFrame, terms: pd.DataFrame,
                  sub_numbers: np.ndarray, accounts: pd.DataFrame) -> pd.DataFrame:
    """Numeric transactions: kind, (number, part) making the id, the original's (kind,
    number, part) for a reversal (kind -1 when none), deal index (-1 when none), account,
    product, amount in cents and date; sorted by date, kind and id."""
    booked = np.flatnonzero(opps["won"].to_numpy() & (opps["close"].to_numpy() <= co.AS_OF_DAY))
    none = -np.ones(len(booked), dtype=np.int64)
    parts = [pd.DataFrame({
        "kind": BOOKING, "number": booked + 1, "part": 0, "o_kind": none, "o_number": 0, "o_part": 0,
        "opp": booked, "account": opps["account"].to_numpy()[booked], "product": opps["product"].to_numpy()[booked],
        "amount": opps["amount"].to_numpy()[booked], "date": opps["close"].to_numpy()[booked]})]

    cancelled = terms[terms["cancelled"].to_numpy() < NO_END]
    c_opp = cancelled["opp"].to_numpy()
    parts.append(pd.DataFrame({
        "kind": CANCELLATION, "number": c_opp + 1, "part": 0, "o_kind": BOOKING, "o_number": c_opp + 1,
        "o_part": 0, "opp": c_opp, "account": cancelled["account"].to_numpy(),
        "product": cancelled["product"].to_numpy(), "amount": -opps["amount"].to_numpy()[c_opp],
        "date": cancelled["cancelled"].to_numpy()}))

    billed = terms[terms["start"].to_numpy() <= co.AS_OF_DAY]
    count = np.asarray(co.BILLING_COUNTS)[accounts["billing"].to_numpy()[billed["account"].to_numpy()]]
    idx, k, amount = split_cents(billed["arr"].to_numpy(), count)
    inv_date = add_months(billed["start"].to_numpy()[idx], k * (12 // count[idx]))
    keep = ((inv_date <= co.AS_OF_DAY) & (inv_date >= co.START_DAY)
            & (inv_date < billed["cancelled"].to_numpy()[idx]))
    idx, k, amount, inv_date = idx[keep], k[keep], amount[keep], inv_date[keep]
    invoices = pd.DataFrame({
        "kind": INVOICE, "number": sub_numbers[billed.index.to_numpy()[idx]], "part": k + 1,
        "o_kind": -1, "o_number": 0, "o_part": 0, "opp": billed["opp"].to_numpy()[idx],
        "account": billed["account"].to_numpy()[idx], "product": billed["product"].to_numpy()[idx],
        "amount": amount, "date": inv_date})
    parts.append(invoices)

    paid = rng.random(len(invoices)) >= co.UNPAID_SHARE
    delay = np.floor(co.PAYMENT_DAYS[0] * np.exp(rng.normal(0.0, co.PAYMENT_DAYS[1], len(invoices)))).astype(np.int64)
    pay_date = inv_date + delay
    paid &= pay_date <= co.AS_OF_DAY
    payments = invoices[paid].assign(kind=PAYMENT, date=pay_date[paid])
    parts.append(payments)
    refund_date = payments["date"].to_numpy() + rng.integers(co.REFUND_DAYS[0], co.REFUND_DAYS[1] + 1, len(payments))
    refunded = (rng.random(len(payments)) < co.REFUND_SHARE) & (refund_date <= co.AS_OF_DAY)
    refunds = payments[refunded]
    parts.append(refunds.assign(kind=REFUND, o_kind=PAYMENT, o_number=refunds["number"].to_numpy(),
                                o_part=refunds["part"].to_numpy(), amount=-refunds["amount"].to_numpy(),
                                date=refund_date[refunded]))
    out = pd.concat(parts, ignore_index=True)
    order = np.lexsort((out["part"].to_numpy(), out["number"].to_numpy(), out["kind"].to_numpy(),
                        out["date"].to_numpy()))
    return out.iloc[order].reset_index(drop=True)


def build_sales(rng: np.random.Generator, org: Org, neg_done: np.ndarray) -> Sales:
    """Every selling table of one division."""
    chunk = org.chunk
    accounts, seat_base, n_pros, n_exist = _accounts(rng, org)
    demand = _demand(rng, org, neg_done, accounts, seat_base, n_pros, n_exist)
    terms, opps = _terms_and_renewals(rng, org, accounts, demand)

    # number deals by creation (then account, type, product), subscriptions by start
    opps = opps.sort_values(["created", "account", "kind", "product", "close"], kind="stable")
    position_of_label = pd.Series(np.arange(len(opps)), index=opps.index.to_numpy())
    opps = opps.reset_index(drop=True)
    term_opp = terms["opp"].to_numpy()
    terms = terms.assign(opp=np.where(term_opp >= 0, position_of_label.reindex(term_opp).fillna(-1)
                                      .to_numpy(dtype=np.int64), -1))
    sub_order = np.lexsort((terms["product"].to_numpy(), terms["account"].to_numpy(), terms["start"].to_numpy()))
    sub_numbers = np.empty(len(terms), dtype=np.int64)
    sub_numbers[sub_order] = np.arange(1, len(terms) + 1)
    opp_ids = ids("O", chunk, np.arange(1, len(opps) + 1), 7)
    account_ids = ids("A", chunk, accounts["account"].to_numpy() + 1, 6)
    pid = org.payees["payee_id"].to_numpy()
    seg_names = [s[1] for s in co.SEGMENTS]
    region_ids = [r[0] for r in co.REGIONS]

    acc = opps["account"].to_numpy()
    a_seat, a_team = accounts["seat"].to_numpy()[acc], accounts["team"].to_numpy()[acc]
    a_seg, a_region, a_cur = (accounts[c].to_numpy()[acc] for c in ("segment", "region", "cur"))
    owner, owner_stint = _lookup_owner(org, a_seat, a_team, np.minimum(opps["close"].to_numpy(), co.AS_OF_DAY))
    history, current = _stage_history(rng, opps)
    kind = opps["kind"].to_numpy()
    closed = opps["close"].to_numpy() <= co.AS_OF_DAY
    suffix = take(("", " (expansion)", " (renewal)"), kind)
    opportunities = {
        "opportunity_id": opp_ids, "account_id": account_ids.take(pa.array(acc)), "owner_id": pid[owner],
        "name": join(accounts.attrs["name"].take(pa.array(acc)), " - ", take(co.PRODUCTS, opps["product"].to_numpy()),
                     suffix),
        "amount": opps["amount"].to_numpy(), "currency": take(co.CURRENCIES, a_cur),
        "stage": take(STAGES, current), "created_date": opps["created"].to_numpy(),
        "close_date": opps["close"].to_numpy(), "is_closed": closed,
        "is_won": opps["won"].to_numpy() & closed, "product": take(co.PRODUCTS, opps["product"].to_numpy()),
        "segment": take(seg_names, a_seg), "deal_type": take(DEAL_TYPES, kind),
    }
    stage_history = {"opportunity_id": opp_ids.take(pa.array(history["opp"].to_numpy())),
                     "stage": take(STAGES, history["stage"].to_numpy()),
                     "entered_date": history["entered"].to_numpy()}
    split_rows = _splits(rng, org, opps, a_seat, a_team, owner, owner_stint)
    splits = {"opportunity_id": opp_ids.take(pa.array(split_rows["opp"].to_numpy())),
              "payee_id": pid[split_rows["payee"].to_numpy()],
              "split_type": split_rows["split_type"].to_numpy(),
              "percent": split_rows["percent"].to_numpy(dtype=np.int64) * 1_000_000}

    # account owner: whoever holds the seat today, else the team's manager
    acc_owner, _ = _lookup_owner(org, accounts["seat"].to_numpy(), accounts["team"].to_numpy(),
                                 np.full(len(accounts), co.AS_OF_DAY))
    accounts_out = {
        "account_id": account_ids, "name": accounts.attrs["name"],
        "segment": take(seg_names, accounts["segment"].to_numpy()),
        "region_id": take(region_ids, accounts["region"].to_numpy()),
        "industry": take(co.INDUSTRIES, accounts["industry"].to_numpy()), "owner_id": pid[acc_owner],
        "potential": accounts["potential"].to_numpy(), "currency": take(co.CURRENCIES, accounts["cur"].to_numpy()),
    }
    t_acc = terms["account"].to_numpy()
    subscriptions = {
        "subscription_id": ids("S", chunk, sub_numbers, 7), "account_id": account_ids.take(pa.array(t_acc)),
        "product": take(co.PRODUCTS, terms["product"].to_numpy()),
        "start_date": terms["start"].to_numpy(), "end_date": terms["end"].to_numpy(),
        "arr": terms["arr"].to_numpy(), "currency": take(co.CURRENCIES, accounts["cur"].to_numpy()[t_acc]),
    }
    tx = _transactions(rng, opps, terms, sub_numbers, accounts)
    x_acc = tx["account"].to_numpy()
    x_opp = tx["opp"].to_numpy()
    original = _tx_ids(chunk, np.maximum(tx["o_kind"].to_numpy(), 0), tx["o_number"].to_numpy(), tx["o_part"].to_numpy())
    transactions = {
        "transaction_id": _tx_ids(chunk, tx["kind"].to_numpy(), tx["number"].to_numpy(), tx["part"].to_numpy()),
        "opportunity_id": opp_ids.take(pa.array(np.maximum(x_opp, 0), mask=x_opp < 0)),
        "kind": take(TX_KINDS, tx["kind"].to_numpy()), "amount": tx["amount"].to_numpy(),
        "currency": take(co.CURRENCIES, accounts["cur"].to_numpy()[x_acc]),
        "transaction_date": tx["date"].to_numpy(), "product": take(co.PRODUCTS, tx["product"].to_numpy()),
        "segment": take(seg_names, accounts["segment"].to_numpy()[x_acc]),
        "region_id": take(region_ids, accounts["region"].to_numpy()[x_acc]),
        "original_transaction_id": pc.if_else(pa.array(tx["o_kind"].to_numpy() >= 0), original,
                                              pa.scalar(None, pa.string())),
    }
    return Sales(accounts_out, opportunities, stage_history, splits, subscriptions, transactions)
