"""``rate_table``: commission from a tier table, with every option a comp plan needs.

Options (all named in the plan file; defaults in brackets):

* ``measure`` what is measured (kinds, credit types, filter, window) [bookings, plan year];
* ``basis``: tiers on the ``amount`` or on ``attainment`` (measure / quota) [amount];
* ``application``: ``flat`` (retroactive: the whole measure at the rate of the tier reached),
  ``step`` (marginal: each portion at its tier's rate) or ``interpolated`` (earnings grow
  linearly between the ``payout`` of each tier boundary) [required, no default];
* ``scope``: ``cumulative`` (credits walk up the table in credit-date order, ties by credit
  id) or ``per_transaction`` (each credit starts at the first tier) [cumulative];
* ``tiers``: half-open ``[from, to)`` rows, contiguous from 0, the last open-ended;
* ``multipliers``: accelerators/decelerators as multipliers of the base rate in bands,
  ``retroactive: true`` (the band the measure reaches applies to all of it) or ``false``
  (each band's portion at its own multiplier) [none];
* ``threshold``: below ``value`` pay ``below_multiplier`` (0 = nothing) of the normal
  earnings; ``retroactive: true`` pays the full amount on everything once the measure has
  crossed the threshold (once crossed, a later dip does not take it back) [none];
* ``gates``: a condition on another measure (``measure`` + ``min_attainment`` or
  ``min_amount``) or on a manager score (``score`` + ``min_score``); while it is not met the
  component pays with ``effect`` ``cap_rate`` (no rate above ``max_rate``: no accelerators),
  ``multiplier`` or ``no_pay``. A measure gate is ``retroactive`` [true]: once met, earlier
  credits of the window are re-rated; with ``false`` only credits dated on or after the day it
  was met. A score gate adjusts the period's earnings (a ``gate_adjustment`` line);
* ``caps``: ``transaction``, ``period`` and ``plan_year`` caps, as an ``amount`` or a
  ``multiple_of_target_incentive``, with ``excess: forfeit`` or ``carry_forward`` (period);
* ``clawback``: cancellations and refunds whose original transaction was credited within
  ``window_days`` are reversed at the rate originally paid, as a negative ``clawback`` line in
  the period the cancellation is dated; they never enter the measure. Without ``clawback``,
  negative credits simply walk the table like any other credit [none];
* ``hold``: earnings on deals whose invoice is not yet paid (``until: payment``) or not yet
  invoiced (``until: invoice``) are held and released in the period it happens; anything
  still held at plan-year end is released (``at_plan_year_end: release``) or kept [none].
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from fractions import Fraction
from typing import Literal

import numpy as np
import pandas as pd
from pydantic import Field, model_validator

from spm_kernel.errors import SPMError
from spm_kernel.extensions import PlanType
from spm_kernel.hookspecs import hookimpl
from spm_kernel.plantypes.common import (
    Basis,
    CapSpec,
    Kind,
    MeasureSpec,
    Strict,
    TierRow,
    as_dtype,
    ceil_mul,
    check_contiguous,
    concat_lines,
    credit_frame,
    day_number,
    exact_dtype,
    fmt_money,
    fmt_rate,
    group_sum,
    ids_by_payee,
    lines_frame,
    payee_frame,
    prior_sum,
    quota_minor,
    round_exact,
    scale_of,
    to_scaled,
    fetch,
    full_mask,
    prepared,
    segment_cumsum,
    segment_ids,
    window_bounds,
    window_keys_days,
)
from spm_kernel.plantypes.contract import CalcInput
from spm_kernel.plantypes.schedule import (
    Table,
    Values,
    band_multiplier,
    boundaries,
    compile_table,
    marginal_bands,
    rescale,
)


class PlanCalculationError(SPMError):
    """Inputs a plan cannot be calculated from (a missing quota or target incentive)."""


class Tier(TierRow):
    """A tier: ``rate`` for flat and step tables; ``payout`` (earnings at ``from``) for
    interpolated tables, whose open last tier may give a ``rate`` (the slope beyond it)."""

    rate: Decimal | None = Field(None, ge=0)
    payout: Decimal | None = None


class MultiplierBand(TierRow):
    multiplier: Decimal = Field(ge=0)


class Multipliers(Strict):
    retroactive: bool
    basis: Basis | None = None
    bands: list[MultiplierBand] = Field(min_length=1)


class Threshold(Strict):
    value: Decimal = Field(ge=0)
    basis: Basis | None = None
    below_multiplier: Decimal = Field(Decimal(0), ge=0)
    retroactive: bool = False


class Gate(Strict):
    name: str
    measure: MeasureSpec | None = None
    min_attainment: Decimal | None = Field(None, ge=0)
    min_amount: Decimal | None = Field(None, ge=0)
    score: str | None = None
    min_score: Decimal | None = None
    missing_score: Literal["met", "not_met"] = "not_met"
    effect: Literal["cap_rate", "no_pay", "multiplier"]
    max_rate: Decimal | None = Field(None, ge=0)
    multiplier: Decimal | None = Field(None, ge=0)
    retroactive: bool = True

    @model_validator(mode="after")
    def _consistent(self) -> Gate:
        if (self.measure is None) == (self.score is None):
            raise ValueError("a gate needs either a measure (with min_attainment or min_amount) or a score "
                             "(with min_score)")
        if self.measure is not None and (self.min_attainment is None) == (self.min_amount is None):
            raise ValueError("a measure gate needs exactly one of min_attainment or min_amount")
        if self.score is not None:
            if self.min_score is None:
                raise ValueError("a score gate needs min_score")
            if self.effect == "cap_rate":
                raise ValueError("a score gate adjusts the period's earnings: use effect multiplier or no_pay")
        if self.effect == "cap_rate" and self.max_rate is None:
            raise ValueError("effect cap_rate needs max_rate")
        if self.effect == "multiplier" and self.multiplier is None:
            raise ValueError("effect multiplier needs multiplier")
        return self


class Clawback(Strict):
    window_days: int = Field(ge=0)
    kinds: list[Kind] = Field(default_factory=lambda: ["cancellation", "refund"], min_length=1)


class Hold(Strict):
    until: Literal["payment", "invoice"] = "payment"
    at_plan_year_end: Literal["release", "keep"] = "release"


class RateTableConfig(Strict):
    measure: MeasureSpec = Field(default_factory=MeasureSpec)
    basis: Basis = "amount"
    application: Literal["flat", "step", "interpolated"]
    scope: Literal["per_transaction", "cumulative"] = "cumulative"
    tiers: list[Tier] = Field(min_length=1)
    payout_unit: Literal["currency", "target_incentive"] = "currency"
    multipliers: Multipliers | None = None
    threshold: Threshold | None = None
    gates: list[Gate] = Field(default_factory=list)
    caps: list[CapSpec] = Field(default_factory=list)
    clawback: Clawback | None = None
    hold: Hold | None = None


def validate_rate_table(cfg: RateTableConfig) -> list[tuple[tuple[str | int, ...], str]]:
    problems = check_contiguous(cfg.tiers, "tiers")
    for i, tier in enumerate(cfg.tiers):
        last = i == len(cfg.tiers) - 1
        if cfg.application in ("flat", "step"):
            if tier.rate is None:
                problems.append((("tiers", i, "rate"), f"a {cfg.application} table needs a rate on every tier"))
            if tier.payout is not None:
                problems.append((("tiers", i, "payout"), f"payout is for interpolated tables; a {cfg.application} "
                                                          "table has rates"))
        else:
            if tier.payout is None:
                problems.append((("tiers", i, "payout"), "an interpolated table needs a payout on every tier"))
            if tier.rate is not None and not last:
                problems.append((("tiers", i, "rate"), "in an interpolated table only the open last tier may "
                                                        "have a rate (the slope beyond it)"))
    if cfg.application == "interpolated" and cfg.tiers and cfg.tiers[0].payout not in (None, Decimal(0)):
        problems.append((("tiers", 0, "payout"), "the payout at 0 must be 0 (nothing earned on nothing)"))
    if cfg.payout_unit == "target_incentive" and cfg.application != "interpolated":
        problems.append((("payout_unit",), "payout_unit target_incentive is for interpolated tables"))
    if cfg.multipliers is not None:
        problems.extend((("multipliers", *p), m) for p, m in check_contiguous(cfg.multipliers.bands, "bands"))
    measure_gates = [i for i, g in enumerate(cfg.gates) if g.measure is not None]
    if len(measure_gates) > 1:
        problems.append((("gates", measure_gates[1]), "at most one gate on a measure per component"))
    for i, gate in enumerate(cfg.gates):
        if gate.effect == "cap_rate" and cfg.application == "interpolated":
            problems.append((("gates", i, "effect"), "cap_rate needs a flat or step table"))
    scopes = [c.scope for c in cfg.caps]
    for i, scope in enumerate(scopes):
        if scopes.index(scope) != i:
            problems.append((("caps", i, "scope"), f"two caps with scope {scope}"))
    return problems


def _fraction_div(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    out = np.empty(len(num), dtype=object)
    out[:] = [Fraction(n) / Fraction(d) for n, d in zip(num, den)]
    return out


class RateTable(PlanType):
    name = "rate_table"
    label = "Rate table commission"
    description = ("Commission from a tier table (flat, step or interpolated; per transaction or cumulative; "
                   "on amount or attainment) with multipliers, thresholds, gates, caps, clawbacks and holds.")
    config_model = RateTableConfig

    def validate_plan_config(self, config: RateTableConfig) -> list[tuple[tuple[str | int, ...], str]]:  # type: ignore[override]
        return validate_rate_table(config)

    def credit_window(self, config, period, plan_year):  # type: ignore[no-untyped-def]
        start, end = super().credit_window(config, period, plan_year)
        if config.clawback is not None:
            earliest = (pd.Timestamp(period.start) - pd.Timedelta(days=config.clawback.window_days)).date()
            key = min(0, int(window_keys_days(np.array([day_number(earliest)]), config.measure.window, period,
                                              plan_year)[0]))
            start = min(start, window_bounds(config.measure.window, period, plan_year, key)[0])
        return start, end

    def calculate(self, inp: CalcInput) -> pd.DataFrame:
        return _calculate(inp)


def _calculate(inp: CalcInput) -> pd.DataFrame:
    cfg: RateTableConfig = inp.config  # type: ignore[assignment]
    mu, mode = inp.minor_units, inp.rounding
    payees = payee_frame(inp)
    n = len(payees)
    if n == 0:
        return concat_lines([])
    window = cfg.measure.window
    w_start, w_end = window_bounds(window, inp.period, inp.plan_year)
    p_start, p_end = day_number(inp.period.start), day_number(inp.period.end)
    credits_all = prepared(inp, payees)
    credits = credit_frame(inp, payees, cfg.measure, credits=credits_all)
    credits = credits.loc[credits["day"].to_numpy() <= p_end].reset_index(drop=True)
    credits["w"] = window_keys_days(credits["day"].to_numpy(), window, inp.period, inp.plan_year)
    if cfg.clawback is not None:
        is_cb = full_mask(inp, payees, credits, "kind", cfg.clawback.kinds)
    else:
        is_cb = np.zeros(len(credits), dtype=bool)
    walk = credits.loc[~is_cb].reset_index(drop=True)
    cbc = credits.loc[is_cb].reset_index(drop=True)

    # groups: one per (payee, window instance) with credits, plus every payee's current window.
    # The walk is sorted by payee and date, so each group's credits are contiguous.
    wv = walk["w"].to_numpy(dtype=np.int64)
    pv = walk["pidx"].to_numpy(dtype=np.int64)
    all_w = np.concatenate([wv, np.zeros(n, dtype=np.int64)])
    all_p = np.concatenate([pv, np.arange(n, dtype=np.int64)])
    wmin = int(all_w.min())
    span = int(all_w.max()) - wmin + 1
    uniq, inverse = np.unique(all_p * span + (all_w - wmin), return_inverse=True)
    g_of_walk = inverse[:len(walk)]
    g_cur = inverse[len(walk):]
    groups = pd.DataFrame({"pidx": uniq // span, "w": uniq % span + wmin})
    gp = groups["pidx"].to_numpy()
    gw = groups["w"].to_numpy()

    # quotas per group (attainment bases)
    need_quota = cfg.basis == "attainment" or (cfg.multipliers is not None and (cfg.multipliers.basis or cfg.basis) == "attainment") \
        or (cfg.threshold is not None and (cfg.threshold.basis or cfg.basis) == "attainment")
    q_group = np.full(len(groups), -1, dtype=np.int64)
    quotas_by_key = quota_minor(inp, payees, cfg.measure.quota_name, window, sorted(set(gw.tolist())))
    for key, arr in quotas_by_key.items():
        sel = gw == key
        q_group[sel] = arr[gp[sel]]
    if need_quota and len(walk):
        has_credit = np.zeros(len(groups), dtype=bool)
        has_credit[g_of_walk] = True
        missing = np.unique(gp[has_credit & (q_group <= 0)])
        if len(missing):
            who = ", ".join(payees["payee_id"].iloc[missing].astype(str).head(10))
            raise PlanCalculationError(
                f"component {inp.component!r} of plan {inp.plan_id} v{inp.plan_version} pays on attainment but "
                f"{len(missing)} payee(s) have no positive {cfg.measure.quota_name!r} quota for the window: {who}")
    q_safe = np.where(q_group > 0, q_group, 1)

    ti_minor = _target_incentive_minor(payees, mu)
    payout_factor = None
    if cfg.payout_unit == "target_incentive":
        if len(walk) and (ti_minor[np.unique(walk["pidx"])] < 0).any():
            raise PlanCalculationError(f"component {inp.component!r} pays multiples of the target incentive, "
                                       "but some payees have none")
        payout_factor = np.maximum(ti_minor[gp], 0)

    extra_rates = [g.max_rate for g in cfg.gates if g.max_rate is not None]
    table = compile_table(cfg.application, [t.from_ for t in cfg.tiers], [t.rate for t in cfg.tiers],
                          [t.payout for t in cfg.tiers], cfg.basis, q_safe if cfg.basis == "attainment" else None,
                          mu, payout_factor, extra_rates, n_groups=len(groups))

    x = walk["x"].to_numpy(dtype=np.int64)
    g = g_of_walk
    after = segment_cumsum(x, g_of_walk)
    before = after - x
    bound = int(max(np.abs(after).max(initial=0), np.abs(before).max(initial=0), np.abs(x).max(initial=0),
                    np.abs(table.bounds).max(initial=0)))

    # the earnings function, composed: table -> multipliers -> non-retroactive threshold
    def compose(base: Table | None, gate_mult: int | None = None, gate_scale: int = 0) -> Callable[[np.ndarray, np.ndarray], Values]:
        def f0(xx: np.ndarray, gg: np.ndarray) -> Values:
            if base is None:
                return np.zeros(len(xx), dtype=xx.dtype), table.rate_scale
            return base.value(xx, gg)
        f = f0
        if cfg.multipliers is not None:
            mb = cfg.multipliers
            ms = max(scale_of(b.multiplier) for b in mb.bands)
            mints = [to_scaled(b.multiplier, ms) for b in mb.bands]
            mbasis = mb.basis or cfg.basis
            mbounds = boundaries([b.from_ for b in mb.bands], mbasis, q_safe if mbasis == "attainment" else None, mu)
            if mbasis == "amount":
                mbounds = np.tile(mbounds[:1], (len(groups), 1))
            inner = f
            if mb.retroactive:
                def f1(xx: np.ndarray, gg: np.ndarray, inner=inner) -> Values:
                    v, s = inner(xx, gg)
                    return v * band_multiplier(mbounds, mints, xx, gg), s + ms
            else:
                def f1(xx: np.ndarray, gg: np.ndarray, inner=inner) -> Values:
                    return marginal_bands(inner, mbounds, mints, ms, xx, gg)
            f = f1
        if cfg.threshold is not None and not cfg.threshold.retroactive:
            th = cfg.threshold
            ts = scale_of(th.below_multiplier)
            tbasis = th.basis or cfg.basis
            thr = boundaries([Decimal(0), th.value], tbasis, q_safe if tbasis == "attainment" else None, mu)
            if tbasis == "amount":
                thr = np.tile(thr[:1], (len(groups), 1))
            inner2 = f
            mults = [to_scaled(th.below_multiplier, ts), 10**ts]

            def f2(xx: np.ndarray, gg: np.ndarray, inner=inner2) -> Values:
                return marginal_bands(inner, thr, mults, ts, xx, gg)
            f = f2
        if gate_mult is not None:
            inner3 = f

            def f3(xx: np.ndarray, gg: np.ndarray, inner=inner3) -> Values:
                v, s = inner(xx, gg)
                return v * gate_mult, s + gate_scale
            f = f3
        return f

    measure_gate = next((gt for gt in cfg.gates if gt.measure is not None), None)
    f_open = compose(table)
    f_closed = None
    if measure_gate is not None:
        if measure_gate.effect == "cap_rate":
            assert measure_gate.max_rate is not None
            f_closed = compose(table.with_max_rate(to_scaled(measure_gate.max_rate, table.rate_scale)))
        elif measure_gate.effect == "no_pay":
            f_closed = compose(None)
        else:
            assert measure_gate.multiplier is not None
            gs = scale_of(measure_gate.multiplier)
            f_closed = compose(table, to_scaled(measure_gate.multiplier, gs), gs)

    # choose exact integer width once: int64 if the largest product surely fits
    mult_bound = 1
    for gt in cfg.gates:
        if gt.multiplier is not None:
            mult_bound *= to_scaled(gt.multiplier, scale_of(gt.multiplier)) + 1
    if cfg.multipliers is not None:
        mult_bound *= max(to_scaled(b.multiplier, max(scale_of(c.multiplier) for c in cfg.multipliers.bands))
                          for b in cfg.multipliers.bands) + 1
    if cfg.threshold is not None:
        mult_bound *= 10 ** (scale_of(cfg.threshold.below_multiplier) + 1)
    # every position and every sum of earnings stays within one group's sum of |amounts|
    if len(x):
        starts = np.r_[0, np.flatnonzero(np.diff(g)) + 1]
        bound = max(bound, int(np.add.reduceat(np.abs(x).astype(object) if bound > 2**40 else np.abs(x), starts).max()) + 1)
    dtype = exact_dtype(bound * (max(table.rates) + 1) * mult_bound * 10 * (table.k + 2) * 16)
    xa, ba, aa = as_dtype(x, dtype), as_dtype(after, dtype), as_dtype(before, dtype)
    if dtype is object:
        table.bounds = table.bounds  # bounds stay int64; mixing with object arrays is exact

    def earn(fn: Callable[[np.ndarray, np.ndarray], Values]) -> Values:
        if cfg.scope == "per_transaction":
            return fn(xa, g)
        hi, lo = fn(ba, g), fn(aa, g)
        s = max(hi[1], lo[1])
        return rescale(hi, s) - rescale(lo, s), s

    e_open = earn(f_open)
    scale = e_open[1]
    gate_open = np.ones(len(walk), dtype=bool)
    gate_met_cur = np.ones(n, dtype=bool)
    if measure_gate is not None and f_closed is not None:
        e_closed = earn(f_closed)
        scale = max(scale, e_closed[1])
        gate_open, gate_met_cur = _gate_state(inp, payees, measure_gate, walk, w_end)
        e = np.where(gate_open, rescale(e_open, scale), rescale(e_closed, scale))
    else:
        e = e_open[0]
    e = np.asarray(e)
    if e.dtype != object and dtype is object:
        e = as_dtype(e, object)
    # flat, cumulative: a clawback reverses at the whole-measure rate right after the original
    whole = None
    if cfg.clawback is not None and cfg.application == "flat" and cfg.scope == "cumulative" and len(walk):
        w_open = f_open(ba, g)
        if f_closed is not None:
            w_closed = f_closed(ba, g)
            whole = np.where(gate_open, rescale(w_open, scale), rescale(w_closed, scale))
        else:
            whole = rescale(w_open, scale)
        whole = np.asarray(whole, dtype=object)

    # retroactive threshold: a factor per group, once the running measure has crossed it
    crossed_cur = np.ones(n, dtype=bool)
    if cfg.threshold is not None and cfg.threshold.retroactive:
        th = cfg.threshold
        ts = scale_of(th.below_multiplier)
        tbasis = th.basis or cfg.basis
        thr = boundaries([Decimal(0), th.value], tbasis, q_safe if tbasis == "attainment" else None, mu)[:, 1]
        thr_g = thr if tbasis == "attainment" else np.full(len(groups), thr[0])
        peak = np.full(len(groups), np.iinfo(np.int64).min // 4, dtype=np.int64)
        if len(walk):
            np.maximum.at(peak, g, after)
        crossed = peak >= thr_g
        crossed_cur = crossed[g_cur]
        factor = np.where(crossed[g] if len(walk) else np.zeros(0, dtype=bool), 10**ts, to_scaled(th.below_multiplier, ts))
        e = e * (factor.astype(object) if e.dtype == object else factor)
        if whole is not None:
            whole = whole * factor.astype(object)
        scale += ts

    # which credits earn for this version: dated inside the payee's assignment
    af = payees["af"].to_numpy()[walk["pidx"].to_numpy(dtype=np.int64)] if len(walk) else np.zeros(0, dtype=np.int64)
    at = payees["at"].to_numpy()[walk["pidx"].to_numpy(dtype=np.int64)] if len(walk) else np.zeros(0, dtype=np.int64)
    wday = walk["day"].to_numpy(dtype=np.int64)
    earns = (wday >= af) & (wday <= at)
    cur = walk["w"].to_numpy(dtype=np.int64) == 0 if len(walk) else np.zeros(0, dtype=bool)
    pidx_walk = walk["pidx"].to_numpy(dtype=np.int64)
    sel = cur & earns
    zero = np.zeros(0, dtype=e.dtype)
    E_cur = group_sum(e[sel] if len(e) else zero, pidx_walk[sel], n)
    earning_total = round_exact(E_cur, scale, mode)
    earning_line = earning_total - prior_sum(inp, payees, ["earning"], w_start)
    X_cur = np.zeros(n, dtype=np.int64)
    np.add.at(X_cur, pidx_walk[cur], x[cur])
    q_cur = quotas_by_key.get(0, np.full(n, -1, dtype=np.int64))

    out_lines = []
    in_period = cur & earns & (wday >= p_start)
    ids = ids_by_payee(inp, payees, walk, in_period, n)
    has_any = np.zeros(n, dtype=bool)
    has_any[pidx_walk[cur]] = True
    expl = _explain(cfg, table, g_cur, X_cur, q_cur, mu)
    formula = [f"{base}; window-to-date {tot} - already earned {prev} = {line}"
               for base, tot, prev, line in zip(expl["formula"], fmt_money(earning_total, mu),
                                               fmt_money(earning_total - earning_line, mu), fmt_money(earning_line, mu))]
    notes = [""] * n
    if measure_gate is not None:
        notes = [f"; gate {measure_gate.name!r} {'met' if m else 'not met'}" for m in gate_met_cur]
    if cfg.threshold is not None and cfg.threshold.retroactive:
        notes = [nt + (f"; threshold {'crossed' if c else 'not crossed'}") for nt, c in zip(notes, crossed_cur)]
    formula = [f + nt for f, nt in zip(formula, notes)]
    common = dict(measure=cfg.measure.name, measure_value=X_cur, attainment=expl["attainment"],
                  tier=expl["tier"], rate=expl["rate"])
    ids_all = np.array(payees["payee_id"].astype(str), dtype=object)
    keep = has_any | (earning_line != 0)
    out_lines.append(lines_frame(ids_all[keep], inp.component, "earning", earning_line[keep], mu,
                                 formula=np.array(formula, dtype=object)[keep], credit_ids=[ids[i] for i in np.flatnonzero(keep)],
                                 **_subset(common, keep)))
    net = earning_line.copy()

    # transaction cap
    tx_cap = next((c for c in cfg.caps if c.scope == "transaction"), None)
    if tx_cap is not None and len(walk):
        limit = _cap_units(tx_cap, ti_minor, mu, scale)[pidx_walk]
        over = np.maximum(e.astype(object) - limit, 0)
        forfeit_total = round_exact(group_sum(over[sel], pidx_walk[sel], n), scale, mode)
        line = -(forfeit_total - (-prior_sum(inp, payees, ["cap_forfeit"], w_start, "cap:transaction")))
        nz = line != 0
        cap_txt = _cap_text(tx_cap)
        out_lines.append(lines_frame(ids_all[nz], inp.component, "cap_forfeit", line[nz], mu,
                                     formula=[f"earnings above {cap_txt} per transaction are forfeited"] * int(nz.sum()),
                                     reference="cap:transaction", **_subset(common, nz)))
        net = net + line

    # clawbacks at the rate originally paid
    if cfg.clawback is not None and len(cbc):
        claw, claw_ids, claw_refs = _clawbacks(cfg, inp, payees, walk, cbc, e, whole, after, n, p_start, p_end)
        line = round_exact(claw, scale, mode)
        nz = line != 0
        out_lines.append(lines_frame(ids_all[nz], inp.component, "clawback", line[nz], mu,
                                     formula=[f"cancelled or refunded within {cfg.clawback.window_days} days: reversed at "
                                              "the rate originally paid"] * int(nz.sum()),
                                     credit_ids=[claw_ids[i] for i in np.flatnonzero(nz)],
                                     reference=[claw_refs[i] for i in np.flatnonzero(nz)], **_subset(common, nz)))
        net = net + line

    # score gates: adjust this period's earnings
    for gate in (gt for gt in cfg.gates if gt.score is not None):
        met = _score_met(inp, payees, gate)
        if gate.effect == "no_pay":
            adj = np.where(met, 0, -earning_line)
        else:
            assert gate.multiplier is not None
            gs = scale_of(gate.multiplier)
            mint = to_scaled(gate.multiplier, gs)
            adj = np.where(met, 0, round_exact(earning_line.astype(object) * (mint - 10**gs), gs, mode))
        adj = np.asarray(adj, dtype=np.int64)
        nz = adj != 0
        out_lines.append(lines_frame(ids_all[nz], inp.component, "gate_adjustment", adj[nz], mu,
                                     formula=[f"score {gate.score!r} below {gate.min_score}: {gate.effect}"
                                              + (f" x{gate.multiplier}" if gate.effect == "multiplier" else "")] * int(nz.sum()),
                                     reference=f"gate:{gate.name}", **_subset(common, nz)))
        net = net + adj

    # period cap
    p_cap = next((c for c in cfg.caps if c.scope == "period"), None)
    if p_cap is not None:
        limit = _cap_minor(p_cap, ti_minor, mu)
        excess = np.maximum(net - limit, 0)
        if p_cap.excess == "forfeit":
            nz = excess != 0
            out_lines.append(lines_frame(ids_all[nz], inp.component, "cap_forfeit", -excess[nz], mu,
                                         formula=[f"period cap {_cap_text(p_cap)}: excess forfeited"] * int(nz.sum()),
                                         reference="cap:period", **_subset(common, nz)))
            net = net - excess
        else:
            deferred = -prior_sum(inp, payees, ["carry_forward"], inp.plan_year.start)
            released = prior_sum(inp, payees, ["carry_forward_release"], inp.plan_year.start)
            balance = np.maximum(deferred - released, 0)
            headroom = np.maximum(limit - net, 0)
            release = np.minimum(balance, headroom)
            nz = excess != 0
            out_lines.append(lines_frame(ids_all[nz], inp.component, "carry_forward", -excess[nz], mu,
                                         formula=[f"period cap {_cap_text(p_cap)}: excess carried forward"] * int(nz.sum()),
                                         reference="cap:period", **_subset(common, nz)))
            nz = release != 0
            out_lines.append(lines_frame(ids_all[nz], inp.component, "carry_forward_release", release[nz], mu,
                                         formula=[f"carried-forward excess paid within the period cap {_cap_text(p_cap)}"] * int(nz.sum()),
                                         reference="cap:period", **_subset(common, nz)))
            net = net - excess + release

    # plan-year cap
    y_cap = next((c for c in cfg.caps if c.scope == "plan_year"), None)
    if y_cap is not None:
        limit = _cap_minor(y_cap, ti_minor, mu)
        paid_before = prior_sum(inp, payees, ["earning", "cap_forfeit", "clawback", "gate_adjustment", "carry_forward",
                                              "carry_forward_release"], inp.plan_year.start)
        excess = np.minimum(np.maximum(paid_before + net - limit, 0), np.maximum(net, 0))
        nz = excess != 0
        out_lines.append(lines_frame(ids_all[nz], inp.component, "cap_forfeit", -excess[nz], mu,
                                     formula=[f"plan-year cap {_cap_text(y_cap)}: paid before {a}, this period {b}"
                                              for a, b in zip(fmt_money(paid_before[nz], mu), fmt_money(net[nz], mu))],
                                     reference="cap:plan_year", **_subset(common, nz)))
        net = net - excess

    # holds until the invoice is paid (or issued)
    if cfg.hold is not None and len(walk):
        out_lines.extend(_holds(cfg, inp, payees, walk, e, scale, sel, ids_all, common, w_start))
    return concat_lines(out_lines)


def _subset(common: dict, keep: np.ndarray) -> dict:
    out = {}
    for key, value in common.items():
        if isinstance(value, str):
            out[key] = value
        else:
            arr = np.asarray(value, dtype=object) if not isinstance(value, np.ndarray) else value
            out[key] = arr[keep]
    return out


def _target_incentive_minor(payees: pd.DataFrame, mu: int) -> np.ndarray:
    """Each payee's annual target incentive in minor units (floor), -1 where missing."""
    out = np.full(len(payees), -1, dtype=np.int64)
    if "target_incentive" not in payees:
        return out
    ti = payees["target_incentive"]
    have = ti.notna().to_numpy()
    if have.any():
        vals = [int((Decimal(v) * (Decimal(10) ** mu)).to_integral_value(rounding="ROUND_FLOOR")) for v in ti[have]]
        out[have] = vals
    return out


def _cap_minor(cap: CapSpec, ti_minor: np.ndarray, mu: int) -> np.ndarray:
    """A cap per payee in whole minor units (a fraction of a cent is never paid)."""
    if cap.amount is not None:
        return np.full(len(ti_minor), int((cap.amount * Decimal(10) ** mu).to_integral_value(rounding="ROUND_FLOOR")),
                       dtype=np.int64)
    assert cap.multiple_of_target_incentive is not None
    m = cap.multiple_of_target_incentive
    s = scale_of(m)
    prod = np.maximum(ti_minor, 0).astype(object) * to_scaled(m, s)
    return np.asarray(prod // 10**s, dtype=np.int64)


def _cap_units(cap: CapSpec, ti_minor: np.ndarray, mu: int, scale: int) -> np.ndarray:
    return _cap_minor(cap, ti_minor, mu).astype(object) * 10**scale


def _cap_text(cap: CapSpec) -> str:
    if cap.amount is not None:
        return f"{cap.amount:,}"
    return f"{cap.multiple_of_target_incentive}x target incentive"


def _gate_state(inp: CalcInput, payees: pd.DataFrame, gate: Gate, walk: pd.DataFrame,
                w_end) -> tuple[np.ndarray, np.ndarray]:  # type: ignore[no-untyped-def]
    """(open per walk credit, met by period end per payee) for a gate on another measure."""
    assert gate.measure is not None
    n = len(payees)
    mu = inp.minor_units
    gm = gate.measure
    gcr = credit_frame(inp, payees, gm)
    gcr = gcr.loc[gcr["day"].to_numpy() <= day_number(inp.period.end)].reset_index(drop=True)
    gcr["gw"] = window_keys_days(gcr["day"].to_numpy(), gm.window, inp.period, inp.plan_year)
    walk_gw = window_keys_days(walk["day"].to_numpy(), gm.window, inp.period, inp.plan_year)
    keys = sorted(set(gcr["gw"].tolist()) | {0} | set(walk_gw.tolist()))
    if gate.min_amount is not None:
        thr_by_key = {k: np.full(n, int(ceil_mul(np.array([1]), gate.min_amount * Decimal(10) ** mu)[0]), dtype=np.int64)
                      for k in keys}
    else:
        assert gate.min_attainment is not None
        qk = quota_minor(inp, payees, gm.quota_name, gm.window, keys)
        thr_by_key = {}
        for k in keys:
            q = qk[k]
            thr = ceil_mul(np.where(q > 0, q, 0), gate.min_attainment)
            thr_by_key[k] = np.where(q > 0, thr, np.iinfo(np.int64).max // 4)  # no quota: never met
    never = np.iinfo(np.int64).max // 4
    met_day: dict[int, np.ndarray] = {k: np.full(n, never, dtype=np.int64) for k in keys}
    if len(gcr):
        gp_ = gcr["pidx"].to_numpy(dtype=np.int64)
        gw_ = gcr["gw"].to_numpy(dtype=np.int64)
        cum = segment_cumsum(gcr["x"].to_numpy(dtype=np.int64), segment_ids(gp_, gw_))
        gkey, gp = gw_, gp_
        thr = np.empty(len(gcr), dtype=np.int64)
        for k in keys:
            s = gkey == k
            thr[s] = thr_by_key[k][gp[s]]
        hit = cum >= thr
        first = gcr.loc[hit].groupby(["gw", "pidx"])["day"].min()
        for k in keys:  # a handful of window instances, never payees
            if k in first.index.get_level_values(0):
                part = first.loc[k]
                met_day[k][part.index.to_numpy(dtype=np.int64)] = part.to_numpy(dtype=np.int64)
    met_cur = met_day[0] <= day_number(inp.period.end)
    if len(walk) == 0:
        return np.zeros(0, dtype=bool), met_cur
    wk = walk_gw
    wp = walk["pidx"].to_numpy(dtype=np.int64)
    md = np.full(len(walk), never, dtype=np.int64)
    for k in keys:
        s = wk == k
        md[s] = met_day[k][wp[s]]
    if gate.retroactive:
        # met by the end of the credit's measure window (or the period end, if sooner)
        ends = _window_end_days(walk["w"].to_numpy(dtype=np.int64), inp.config.measure.window, inp)  # type: ignore[attr-defined]
        return md <= ends, met_cur
    return md <= walk["day"].to_numpy(dtype=np.int64), met_cur


def _window_end_days(keys: np.ndarray, window: str, inp: CalcInput) -> np.ndarray:
    """The last day (capped at the period end) of each element's window instance."""
    uniq, inverse = np.unique(keys, return_inverse=True)
    ends = np.array([day_number(min(window_bounds(window, inp.period, inp.plan_year, int(k))[1], inp.period.end))
                     for k in uniq], dtype=np.int64)  # one per window instance
    return ends[inverse] if len(keys) else np.zeros(0, dtype=np.int64)


def _score_met(inp: CalcInput, payees: pd.DataFrame, gate: Gate) -> np.ndarray:
    n = len(payees)
    scores = inp.scores
    met = np.full(n, gate.missing_score == "met")
    if len(scores) == 0:
        return met
    part = scores.loc[(scores["objective"] == gate.score) & (scores["period_id"] == inp.period.period_id)]
    if len(part) == 0:
        return met
    pidx = pd.Index(payees["payee_id"]).get_indexer(part["payee_id"])
    ok = pidx >= 0
    values = np.array([Decimal(str(v)) >= gate.min_score for v in part["score"]], dtype=bool)
    met[pidx[ok]] = values[ok]
    return met


def _clawbacks(cfg: RateTableConfig, inp: CalcInput, payees: pd.DataFrame, walk: pd.DataFrame, cbc: pd.DataFrame,
               e: np.ndarray, whole: np.ndarray | None, after: np.ndarray, n: int, p_start: int,
               p_end: int) -> tuple[np.ndarray, list[list[str]], list[str]]:
    """Per payee: the exact clawback (units of 10**-scale minor) of this period's cancellations."""
    assert cfg.clawback is not None
    total = np.zeros(n, dtype=object)
    total[:] = [0] * n
    ids: list[list[str]] = [[] for _ in range(n)]
    refs: list[str] = [""] * n
    cday = cbc["day"].to_numpy(dtype=np.int64)
    cp = cbc["pidx"].to_numpy(dtype=np.int64)
    af = payees["af"].to_numpy()[cp]
    at = payees["at"].to_numpy()[cp]
    cur = cbc.loc[(cday >= p_start) & (cday <= p_end) & (cday >= af) & (cday <= at)].copy()
    if len(cur) == 0:
        return total, ids, refs
    cur["original_transaction_id"] = fetch(inp, payees, cur, "original_transaction_id")
    cur = cur.loc[pd.notna(cur["original_transaction_id"]).to_numpy()]
    if len(cur) == 0:
        return total, ids, refs
    cur["credit_type"] = fetch(inp, payees, cur, "credit_type")
    cur["credit_id"] = fetch(inp, payees, cur, "credit_id")
    # only originals that some cancellation of this period points at (a small subset of the walk)
    # candidates: the walk credits of the payees who have a cancellation this period
    candidate = np.isin(walk["pidx"].to_numpy(dtype=np.int64), np.unique(cur["pidx"].to_numpy(dtype=np.int64)))
    orig = walk.loc[candidate, ["pidx", "day", "x", "row"]].copy()
    orig["walk_row"] = np.flatnonzero(candidate)
    orig["transaction_id"] = fetch(inp, payees, orig, "transaction_id")
    orig["credit_type"] = fetch(inp, payees, orig, "credit_type")
    orig = orig.drop_duplicates(["pidx", "transaction_id", "credit_type"], keep="first")
    m = cur.merge(orig.drop(columns=["row"]), how="inner", left_on=["pidx", "original_transaction_id", "credit_type"],
                  right_on=["pidx", "transaction_id", "credit_type"], suffixes=("", "_orig"))
    m = m.loc[(m["day"] - m["day_orig"] <= cfg.clawback.window_days) & (m["day"] >= m["day_orig"]) & (m["x_orig"] != 0)]
    if len(m) == 0:
        return total, ids, refs
    m = m.rename(columns={"walk_row": "row_in_walk"})
    rows = m["row_in_walk"].to_numpy(dtype=np.int64)
    if whole is not None:
        # flat: the rate in effect on the whole measure right after the original credit
        rate_num = np.asarray(whole[rows], dtype=object)
        rate_den = after[rows].astype(object)
        rate_num = np.where(rate_den == 0, 0, rate_num)
    else:
        rate_num = np.asarray(e[rows], dtype=object)
        rate_den = m["x_orig"].to_numpy().astype(object)
    rate_den = np.where(rate_den == 0, 1, rate_den)
    amounts = _fraction_div(m["x"].to_numpy().astype(object) * rate_num, rate_den)
    pidx = m["pidx"].to_numpy(dtype=np.int64)
    np.add.at(total, pidx, amounts)
    grouped = m.groupby("pidx").agg(ids=("credit_id", list),
                                    refs=("original_transaction_id", lambda s: ",".join(sorted(set(map(str, s))))))
    full = grouped.reindex(range(n))
    ids = [v if isinstance(v, list) else [] for v in full["ids"].to_list()]
    refs = [v if isinstance(v, str) else "" for v in full["refs"].to_list()]
    return total, ids, refs


def _holds(cfg: RateTableConfig, inp: CalcInput, payees: pd.DataFrame, walk: pd.DataFrame, e: np.ndarray, scale: int,
           sel: np.ndarray, ids_all: np.ndarray, common: dict, w_start) -> list[pd.DataFrame]:  # type: ignore[no-untyped-def]
    assert cfg.hold is not None
    n = len(payees)
    mu, mode = inp.minor_units, inp.rounding
    kind = cfg.hold.until
    never = np.iinfo(np.int64).max // 4
    credits_all = prepared(inp, payees)
    is_paid = (credits_all["kind"] == kind).to_numpy()
    first_paid = pd.Series(credits_all["credit_day"].to_numpy()[is_paid],
                           index=credits_all["opportunity_id"].to_numpy(dtype=object)[is_paid]).groupby(level=0).min()
    fp = np.full(len(walk), never, dtype=np.int64)
    if len(first_paid) and sel.any():
        opp = fetch(inp, payees, walk.loc[sel], "opportunity_id")
        found = first_paid.reindex(opp).to_numpy()
        fp[sel] = np.where(pd.isna(found), never, found).astype(np.int64)
    p_end = day_number(inp.period.end)
    # the end of the period each credit was first paid out in (periods of equal length)
    own_end = _window_end_days(window_keys_days(walk["day"].to_numpy(), "period", inp.period, inp.plan_year), "period", inp)
    ever = sel & (fp > own_end)
    released = ever & (fp <= p_end)
    if cfg.hold.at_plan_year_end == "release" and inp.period.end == inp.plan_year.end:
        released = ever.copy()
    pidx = walk["pidx"].to_numpy(dtype=np.int64)
    held_total = round_exact(group_sum(e[ever], pidx[ever], n), scale, mode)
    rel_total = round_exact(group_sum(e[released], pidx[released], n), scale, mode)
    hold_line = -(held_total - (-prior_sum(inp, payees, ["hold"], w_start)))
    release_line = rel_total - prior_sum(inp, payees, ["release"], w_start)
    new_hold = ever & ~released & (walk["day"].to_numpy() >= day_number(inp.period.start))
    hold_ids = ids_by_payee(inp, payees, walk, new_hold | (ever & ~released), n)
    rel_ids = ids_by_payee(inp, payees, walk, released, n)
    out = []
    nz = hold_line != 0
    word = "paid" if kind == "payment" else "invoiced"
    out.append(lines_frame(ids_all[nz], inp.component, "hold", hold_line[nz], mu, status="held",
                           formula=[f"earnings on deals not yet {word} are held"] * int(nz.sum()),
                           credit_ids=[hold_ids[i] for i in np.flatnonzero(nz)], reference="hold",
                           **_subset(common, nz)))
    nz = release_line != 0
    out.append(lines_frame(ids_all[nz], inp.component, "release", release_line[nz], mu,
                           formula=[f"held earnings released: deals now {word}"] * int(nz.sum()),
                           credit_ids=[rel_ids[i] for i in np.flatnonzero(nz)], reference="hold",
                           **_subset(common, nz)))
    return out


def _explain(cfg: RateTableConfig, table: Table, g_cur: np.ndarray, X: np.ndarray, q: np.ndarray,
             mu: int) -> dict[str, list]:
    """Per payee: attainment, the tier reached, its rate and the base formula with numbers."""
    n = len(X)
    idx = table.tier_index(X, g_cur)
    labels = [t.label or _tier_label(t, cfg.basis) for t in cfg.tiers]
    tier = [labels[i] for i in idx]
    rate = [cfg.tiers[i].rate for i in idx] if cfg.application != "interpolated" else [None] * n
    attainment = [None if qq <= 0 else (Decimal(int(xx)) / Decimal(int(qq))).quantize(Decimal("0.000001"))
                  for xx, qq in zip(X, q)]
    formula: list[str] = []
    bounds = table.bounds[g_cur]
    basis_txt = f"on {cfg.basis}"
    if cfg.application == "step":
        parts_by_tier = []
        for j in range(table.k):
            lo = bounds[:, j] if j > 0 else np.full(n, np.iinfo(np.int64).min // 4)
            part = X - lo if j > 0 else X.copy()
            if j > 0:
                part = np.maximum(part, 0)
            if j + 1 < table.k:
                part = np.minimum(part, bounds[:, j + 1] - (lo if j > 0 else 0)) if j > 0 else np.minimum(part, bounds[:, 1])
            parts_by_tier.append(part)
        money = [fmt_money(p, mu) for p in parts_by_tier]
        for i in range(n):
            pieces = [f"{money[j][i]} x {fmt_rate(cfg.tiers[j].rate)}" for j in range(table.k)
                      if parts_by_tier[j][i] != 0]
            formula.append(f"step {basis_txt}: " + (" + ".join(pieces) if pieces else "nothing measured"))
    elif cfg.application == "flat":
        money = fmt_money(X, mu)
        formula = [f"flat {basis_txt}: {m} x {fmt_rate(r)} (tier {t})" for m, r, t in zip(money, rate, tier)]
    else:
        money = fmt_money(X, mu)
        formula = [f"interpolated {basis_txt}: measure {m} in tier {t}" for m, t in zip(money, tier)]
    if cfg.scope == "per_transaction":
        money = fmt_money(X, mu)
        formula = [f"{cfg.application} per transaction {basis_txt}: {m} measured, each transaction priced from "
                   f"the first tier on its own" for m in money]
    return {"tier": tier, "rate": rate, "attainment": attainment, "formula": formula}


def _tier_label(tier: Tier, basis: str) -> str:
    def show(v: Decimal) -> str:
        return f"{(v * 100).normalize():f}%" if basis == "attainment" else f"{v:,}"
    return f"{show(tier.from_)}+" if tier.to is None else f"{show(tier.from_)}-{show(tier.to)}"


@hookimpl(trylast=True)
def spm_register_plan_types() -> list[PlanType]:
    return [RateTable()]
