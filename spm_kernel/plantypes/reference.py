"""A plain ``Decimal``/``Fraction`` reference implementation of every built-in plan type.

It follows the same documented semantics as the vectorised plan types, written the obvious
way: payee by payee, credit by credit, with exact rational arithmetic and one rounding per
line. It is slow on purpose. It exists so that a property test can require the vectorised
plan types to equal it to the cent on random plans and credits, and it is the baseline of
the calculation benchmark. Use it through ``calculate_plan(..., implementation="reference")``
or :func:`reference_calculate`.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Callable
from datetime import date
from decimal import Decimal
from fractions import Fraction
from typing import Any

import pandas as pd

from spm_kernel.money import round_money
from spm_kernel.plantypes.common import window_bounds, window_spec
from spm_kernel.plantypes.contract import LINE_COLUMNS, CalcInput

F = Fraction
FAR = date(9999, 12, 31)


# ---- small scalar helpers ----
def _d(value: Any) -> date:
    if isinstance(value, pd.Timestamp):
        return value.date()
    if isinstance(value, date):
        return value
    return pd.Timestamp(value).date()


def _opt_date(value: Any) -> date | None:
    if value is None or (not isinstance(value, date) and pd.isna(value)):
        return None
    return _d(value)


def _frac(value: Any) -> Fraction:
    return F(Decimal(str(value)))


def _key(day: date, window: str, inp: CalcInput) -> int:
    anchor, months = window_spec(window, inp.period, inp.plan_year)
    rel = (day.year * 12 + day.month - 1) - (anchor.year * 12 + anchor.month - 1)
    end = inp.period.end
    cur = ((end.year * 12 + end.month - 1) - (anchor.year * 12 + anchor.month - 1)) // months
    return rel // months - cur


def _round(value: Fraction, inp: CalcInput) -> Fraction:
    return F(round_money(value, inp.minor_units, inp.rounding))


def _ceil_minor(value: Fraction, mu: int) -> Fraction:
    return F(math.ceil(value * 10**mu), 10**mu)


def _floor_minor(value: Fraction, mu: int) -> Fraction:
    return F(math.floor(value * 10**mu), 10**mu)


def _rows(frame: pd.DataFrame) -> list[dict[str, Any]]:
    return frame.to_dict("records") if len(frame) else []


def _prior(inp: CalcInput, pid: str, line_types: tuple[str, ...], since: date, reference: str | None = None,
           component: str | None = None) -> Fraction:
    total = F(0)
    for row in _rows(inp.prior_lines):
        if row["payee_id"] != pid or row["component"] != (component or inp.component):
            continue
        if row["line_type"] not in line_types or _d(row["period_start"]) < since:
            continue
        if reference is not None and (row.get("reference") or "") != reference:
            continue
        total += _frac(row["amount"])
    return total


def _quota(inp: CalcInput, pid: str, measure: str, window: str, key: int) -> Fraction | None:
    total, found = F(0), False
    for row in _rows(inp.quotas):
        if row["payee_id"] == pid and row["measure"] == measure and _key(_d(row["period_start"]), window, inp) == key:
            total += _frac(row["amount"])
            found = True
    return total if found else None


def _ti(payee: dict[str, Any], mu: int) -> Fraction | None:
    value = payee.get("target_incentive")
    if value is None or (not isinstance(value, Decimal) and pd.isna(value)):
        return None
    return _floor_minor(_frac(value), mu)


def _line(pid: str, comp: str, line_type: str, amount: Fraction, reference: str = "", status: str = "payable") -> dict:
    return {"payee_id": pid, "component": comp, "line_type": line_type, "amount": amount, "status": status,
            "reference": reference}


def _selected(inp: CalcInput, measure: Any) -> list[dict[str, Any]]:
    credits = inp.own_credits()
    if len(credits) == 0:
        return []
    mask = measure.mask(credits) if measure is not None else [True] * len(credits)
    return [r for r, keep in zip(_rows(credits), mask) if keep]


def _in_assignment(payee: dict[str, Any], day: date) -> bool:
    af = _opt_date(payee.get("assigned_from")) or date(1, 1, 1)
    at = _opt_date(payee.get("assigned_to")) or FAR
    return af <= day <= at


# ---- rate table ----
def _tier_index(bounds: list[Fraction], x: Fraction) -> int:
    return sum(1 for b in bounds[1:] if x >= b)


def _base(cfg: Any, bounds: list[Fraction], rates: list[Fraction], payouts: list[Fraction]) -> Callable[[Fraction], Fraction]:
    app = cfg.application

    def step(x: Fraction) -> Fraction:
        if x < 0:
            return rates[0] * x
        total = F(0)
        for k, rate in enumerate(rates):
            lo = bounds[k]
            hi = bounds[k + 1] if k + 1 < len(bounds) else None
            top = x if hi is None else min(x, hi)
            if top > lo:
                total += rate * (top - lo)
        return total

    def flat(x: Fraction) -> Fraction:
        return rates[_tier_index(bounds, x)] * x

    def interpolated(x: Fraction) -> Fraction:
        k = _tier_index(bounds, x)
        if k == len(bounds) - 1:
            return payouts[k] + (x - bounds[k]) * rates[-1]
        width = bounds[k + 1] - bounds[k]
        if width == 0:
            return payouts[k]
        return payouts[k] + (x - bounds[k]) * (payouts[k + 1] - payouts[k]) / width

    return {"step": step, "flat": flat, "interpolated": interpolated}[app]


def _marginal(inner: Callable[[Fraction], Fraction], bands: list[Fraction], mults: list[Fraction]) -> Callable[[Fraction], Fraction]:
    def fn(x: Fraction) -> Fraction:
        total = F(0)
        for j, m in enumerate(mults):
            lo = bands[j]
            hi = bands[j + 1] if j + 1 < len(bands) else None
            if j == 0:
                c = x if hi is None else min(x, hi)
                total += m * (inner(c) - inner(F(0)))
            else:
                c = max(x, lo)
                if hi is not None:
                    c = min(c, hi)
                total += m * (inner(c) - inner(lo))
        return total
    return fn


def _bounds(froms: list[Decimal], basis: str, q: Fraction | None, mu: int) -> list[Fraction]:
    if basis == "amount":
        return [_ceil_minor(_frac(f), mu) for f in froms]
    assert q is not None
    return [_ceil_minor(_frac(f) * q, mu) for f in froms]


def _earnings_fn(cfg: Any, q: Fraction | None, ti: Fraction | None, mu: int, max_rate: Fraction | None = None,
                 zero: bool = False, mult: Fraction | None = None) -> Callable[[Fraction], Fraction]:
    bounds = _bounds([t.from_ for t in cfg.tiers], cfg.basis, q, mu)
    rates = [_frac(t.rate) if t.rate is not None else F(0) for t in cfg.tiers]
    if max_rate is not None:
        rates = [min(r, max_rate) for r in rates]
    if cfg.payout_unit == "target_incentive":
        payouts = [_frac(t.payout or 0) * (ti or 0) for t in cfg.tiers]
    else:
        payouts = [_frac(t.payout or 0) for t in cfg.tiers]
    fn = _base(cfg, bounds, rates, payouts)
    if zero:
        def nothing(x: Fraction) -> Fraction:
            return F(0)
        fn = nothing
    if cfg.multipliers is not None:
        mb = cfg.multipliers
        basis = mb.basis or cfg.basis
        bb = _bounds([b.from_ for b in mb.bands], basis, q, mu)
        ms = [_frac(b.multiplier) for b in mb.bands]
        if mb.retroactive:
            inner = fn

            def retro(x: Fraction, inner=inner) -> Fraction:
                return ms[_tier_index(bb, x)] * inner(x)
            fn = retro
        else:
            fn = _marginal(fn, bb, ms)
    if cfg.threshold is not None and not cfg.threshold.retroactive:
        th = cfg.threshold
        tb = _bounds([Decimal(0), th.value], th.basis or cfg.basis, q, mu)
        fn = _marginal(fn, tb, [_frac(th.below_multiplier), F(1)])
    if mult is not None:
        inner2 = fn

        def scaled(x: Fraction, inner=inner2) -> Fraction:
            return mult * inner(x)
        fn = scaled
    return fn


def ref_rate_table(inp: CalcInput) -> list[dict]:
    cfg = inp.config
    mu = inp.minor_units
    window = cfg.measure.window
    w_start, _ = window_bounds(window, inp.period, inp.plan_year)
    out: list[dict] = []
    measured = [r for r in _selected(inp, cfg.measure) if _d(r["credit_date"]) <= inp.period.end]
    by_payee: dict[str, list[dict]] = defaultdict(list)
    for r in measured:
        by_payee[str(r["payee_id"])].append(r)
    gate = next((g for g in cfg.gates if g.measure is not None), None)
    gate_rows: dict[str, list[dict]] = defaultdict(list)
    if gate is not None:
        for r in _selected(inp, gate.measure):
            if _d(r["credit_date"]) <= inp.period.end:
                gate_rows[str(r["payee_id"])].append(r)
    paid_day: dict[Any, date] = {}
    if cfg.hold is not None:
        for r in _rows(inp.credits):
            if r["kind"] == cfg.hold.until:
                day = _d(r["credit_date"])
                if r["opportunity_id"] not in paid_day or day < paid_day[r["opportunity_id"]]:
                    paid_day[r["opportunity_id"]] = day
    for payee in _rows(inp.payees):
        pid = str(payee["payee_id"])
        ti = _ti(payee, mu)
        rows = sorted(by_payee.get(pid, []), key=lambda r: (_d(r["credit_date"]), str(r["credit_id"])))
        cb_kinds = set(cfg.clawback.kinds) if cfg.clawback is not None else set()
        walk = [r for r in rows if r["kind"] not in cb_kinds]
        cancels = [r for r in rows if r["kind"] in cb_kinds]
        # the walk, window instance by window instance
        info: list[dict] = []
        groups: dict[int, list[dict]] = defaultdict(list)
        for r in walk:
            groups[_key(_d(r["credit_date"]), window, inp)].append(r)
        if cfg.payout_unit == "target_incentive" and walk and ti is None:
            from spm_kernel.plantypes.rate_table import PlanCalculationError
            raise PlanCalculationError(f"payee {pid} has no target incentive")
        needs_quota = cfg.basis == "attainment" or (cfg.multipliers is not None and (cfg.multipliers.basis or cfg.basis) == "attainment") \
            or (cfg.threshold is not None and (cfg.threshold.basis or cfg.basis) == "attainment")
        for key, members in groups.items():
            q = _quota(inp, pid, cfg.measure.quota_name, window, key)
            if needs_quota and (q is None or q <= 0):
                from spm_kernel.plantypes.rate_table import PlanCalculationError
                raise PlanCalculationError(f"payee {pid} has no positive {cfg.measure.quota_name!r} quota")
            f_open = _earnings_fn(cfg, q, ti, mu)
            f_closed = None
            if gate is not None:
                if gate.effect == "cap_rate":
                    f_closed = _earnings_fn(cfg, q, ti, mu, max_rate=_frac(gate.max_rate))
                elif gate.effect == "no_pay":
                    f_closed = _earnings_fn(cfg, q, ti, mu, zero=True)
                else:
                    f_closed = _earnings_fn(cfg, q, ti, mu, mult=_frac(gate.multiplier))
            w_end = min(window_bounds(window, inp.period, inp.plan_year, key)[1], inp.period.end)
            cum = F(0)
            peak: Fraction | None = None
            steps = []
            for r in members:
                x = _frac(r["amount"])
                before, cum = cum, cum + x
                peak = cum if peak is None else max(peak, cum)
                steps.append((r, x, before, cum))
            factor = F(1)
            crossed = True
            if cfg.threshold is not None and cfg.threshold.retroactive:
                th = cfg.threshold
                tq = _bounds([Decimal(0), th.value], th.basis or cfg.basis, q, mu)[1]
                crossed = peak is not None and peak >= tq
                factor = F(1) if crossed else _frac(th.below_multiplier)
            for r, x, before, after in steps:
                day = _d(r["credit_date"])
                is_open = True
                if gate is not None:
                    met = _gate_met_day(inp, gate, gate_rows.get(pid, []), pid, day, mu)
                    is_open = met is not None and (met <= (w_end if gate.retroactive else day))
                fn = f_open if is_open or f_closed is None else f_closed
                e = fn(x) if cfg.scope == "per_transaction" else fn(after) - fn(before)
                e *= factor
                whole = fn(after) * factor
                info.append({"row": r, "key": key, "x": x, "after": after, "e": e, "whole": whole,
                             "earns": _in_assignment(payee, day), "day": day, "open": is_open, "crossed": crossed})
        cur = [i for i in info if i["key"] == 0]
        sel = [i for i in cur if i["earns"]]
        e_cur = sum((i["e"] for i in sel), F(0))
        total = _round(e_cur, inp)
        earning = total - _prior(inp, pid, ("earning",), w_start)
        if cur or earning != 0:
            out.append(_line(pid, inp.component, "earning", earning))
        net = earning
        tx = next((c for c in cfg.caps if c.scope == "transaction"), None)
        if tx is not None:
            limit = _cap_limit(tx, ti, mu)
            forfeit = _round(sum((max(i["e"] - limit, F(0)) for i in sel), F(0)), inp)
            line = -(forfeit + _prior(inp, pid, ("cap_forfeit",), w_start, "cap:transaction"))
            if line != 0:
                out.append(_line(pid, inp.component, "cap_forfeit", line, "cap:transaction"))
            net += line
        if cfg.clawback is not None:
            claw = F(0)
            found = False
            refs = []
            for r in cancels:
                day = _d(r["credit_date"])
                orig_id = r.get("original_transaction_id")
                if orig_id is None or (not isinstance(orig_id, str) and pd.isna(orig_id)):
                    continue
                if not (inp.period.start <= day <= inp.period.end) or not _in_assignment(payee, day):
                    continue
                orig = next((i for i in info if i["row"]["transaction_id"] == orig_id
                             and i["row"]["credit_type"] == r["credit_type"]), None)
                if orig is None or orig["x"] == 0 or not (0 <= (day - orig["day"]).days <= cfg.clawback.window_days):
                    continue
                if cfg.application == "flat" and cfg.scope == "cumulative":
                    rate = orig["whole"] / orig["after"] if orig["after"] != 0 else F(0)
                else:
                    rate = orig["e"] / orig["x"]
                claw += _frac(r["amount"]) * rate
                found = True
                refs.append(str(orig_id))
            line = _round(claw, inp) if found else F(0)
            if line != 0:
                out.append(_line(pid, inp.component, "clawback", line, ",".join(sorted(set(refs)))))
            net += line
        for g in (g for g in cfg.gates if g.score is not None):
            met = _ref_score_met(inp, pid, g)
            if met:
                adj = F(0)
            elif g.effect == "no_pay":
                adj = -earning
            else:
                adj = _round(earning * (_frac(g.multiplier) - 1), inp)
            if adj != 0:
                out.append(_line(pid, inp.component, "gate_adjustment", adj, f"gate:{g.name}"))
            net += adj
        pc = next((c for c in cfg.caps if c.scope == "period"), None)
        if pc is not None:
            limit = _cap_limit(pc, ti, mu)
            excess = max(net - limit, F(0))
            if pc.excess == "forfeit":
                if excess:
                    out.append(_line(pid, inp.component, "cap_forfeit", -excess, "cap:period"))
                net -= excess
            else:
                balance = max(-_prior(inp, pid, ("carry_forward",), inp.plan_year.start)
                              - _prior(inp, pid, ("carry_forward_release",), inp.plan_year.start), F(0))
                release = min(balance, max(limit - net, F(0)))
                if excess:
                    out.append(_line(pid, inp.component, "carry_forward", -excess, "cap:period"))
                if release:
                    out.append(_line(pid, inp.component, "carry_forward_release", release, "cap:period"))
                net = net - excess + release
        yc = next((c for c in cfg.caps if c.scope == "plan_year"), None)
        if yc is not None:
            limit = _cap_limit(yc, ti, mu)
            before = _prior(inp, pid, ("earning", "cap_forfeit", "clawback", "gate_adjustment", "carry_forward",
                                       "carry_forward_release"), inp.plan_year.start)
            excess = min(max(before + net - limit, F(0)), max(net, F(0)))
            if excess:
                out.append(_line(pid, inp.component, "cap_forfeit", -excess, "cap:plan_year"))
            net -= excess
        if cfg.hold is not None and sel:
            ever, released = F(0), F(0)
            year_end = inp.period.end == inp.plan_year.end and cfg.hold.at_plan_year_end == "release"
            for i in sel:
                paid = paid_day.get(i["row"]["opportunity_id"], FAR)
                own_end = min(window_bounds("period", inp.period, inp.plan_year, _key(i["day"], "period", inp))[1],
                              inp.period.end)
                if paid > own_end:
                    ever += i["e"]
                    if paid <= inp.period.end or year_end:
                        released += i["e"]
            hold = -(_round(ever, inp) + _prior(inp, pid, ("hold",), w_start))
            rel = _round(released, inp) - _prior(inp, pid, ("release",), w_start)
            if hold:
                out.append(_line(pid, inp.component, "hold", hold, "hold", status="held"))
            if rel:
                out.append(_line(pid, inp.component, "release", rel, "hold"))
    return out


def _cap_limit(cap: Any, ti: Fraction | None, mu: int) -> Fraction:
    if cap.amount is not None:
        return _floor_minor(_frac(cap.amount), mu)
    return _floor_minor(_frac(cap.multiple_of_target_incentive) * (ti if ti is not None else F(0)), mu)


def _gate_met_day(inp: CalcInput, gate: Any, rows: list[dict], pid: str, day: date, mu: int) -> date | None:
    gm = gate.measure
    key = _key(day, gm.window, inp)
    members = sorted((r for r in rows if _key(_d(r["credit_date"]), gm.window, inp) == key),
                     key=lambda r: (_d(r["credit_date"]), str(r["credit_id"])))
    if gate.min_amount is not None:
        thr = _ceil_minor(_frac(gate.min_amount), mu)
    else:
        q = _quota(inp, pid, gm.quota_name, gm.window, key)
        if q is None or q <= 0:
            return None
        thr = _ceil_minor(_frac(gate.min_attainment) * q, mu)
    cum = F(0)
    for r in members:
        cum += _frac(r["amount"])
        if cum >= thr:
            return _d(r["credit_date"])
    return None


def _ref_score_met(inp: CalcInput, pid: str, gate: Any) -> bool:
    met = gate.missing_score == "met"
    for row in _rows(inp.scores):
        if row["payee_id"] == pid and row["objective"] == gate.score and row["period_id"] == inp.period.period_id:
            met = _frac(row["score"]) >= _frac(gate.min_score)
    return met


# ---- bonuses ----
def ref_milestone_bonus(inp: CalcInput) -> list[dict]:
    cfg = inp.config
    mu = inp.minor_units
    w_start, _ = window_bounds(cfg.measure.window, inp.period, inp.plan_year)
    rows = [r for r in _selected(inp, cfg.measure)
            if _d(r["credit_date"]) <= inp.period.end and _key(_d(r["credit_date"]), cfg.measure.window, inp) == 0]
    payees = _rows(inp.payees)

    def unit(p: dict) -> str:
        if cfg.scope == "team":
            team = p.get("team_id")
            return str(team) if team is not None and not (isinstance(team, float) and math.isnan(team)) else str(p["payee_id"])
        return str(p["payee_id"])
    unit_of = {str(p["payee_id"]): unit(p) for p in payees}
    out = []
    for p in payees:
        pid = str(p["payee_id"])
        u = unit_of[pid]
        members = [str(x["payee_id"]) for x in payees if unit_of[str(x["payee_id"])] == u]
        credits = sorted((r for r in rows if str(r["payee_id"]) in members),
                         key=lambda r: (_d(r["credit_date"]), str(r["credit_id"])))
        q = None
        if cfg.basis == "attainment":
            q = sum((max(_quota(inp, m, cfg.measure.quota_name, cfg.measure.window, 0) or F(0), F(0)) for m in members), F(0))
        total = F(0)
        final = sum((_frac(r["amount"]) for r in credits), F(0))
        for m in cfg.milestones:
            if cfg.basis == "attainment":
                if not q:
                    continue
                thr = _ceil_minor(_frac(m.at) * q, mu)
            else:
                thr = _ceil_minor(_frac(m.at), mu)
            cum, first = F(0), None
            for r in credits:
                cum += _frac(r["amount"])
                if cum >= thr:
                    first = _d(r["credit_date"])
                    break
            reached = first is not None and (cfg.keep_once_reached or final >= thr)
            if reached and _in_assignment(p, first):
                total += _frac(m.amount)
        line = total - _prior(inp, pid, ("bonus",), w_start)
        if line != 0 or total != 0:
            out.append(_line(pid, inp.component, "bonus", line))
    return out


def ref_spiff(inp: CalcInput) -> list[dict]:
    cfg = inp.config
    mu = inp.minor_units
    out = []
    if inp.period.end < cfg.start:
        return out
    rows = [r for r in _selected(inp, cfg.measure) if cfg.start <= _d(r["credit_date"]) <= inp.period.end]
    for p in _rows(inp.payees):
        pid = str(p["payee_id"])
        mine = [r for r in rows if str(r["payee_id"]) == pid]
        booked = {r["opportunity_id"] for r in mine
                  if r["kind"] not in ("cancellation", "refund") and _d(r["credit_date"]) <= cfg.end}
        counted = [r for r in mine if _in_assignment(p, _d(r["credit_date"])) and (
            (r["kind"] not in ("cancellation", "refund") and _d(r["credit_date"]) <= cfg.end)
            or (r["kind"] in ("cancellation", "refund") and r["opportunity_id"] in booked))]
        if cfg.pay == "rate":
            total = _round(sum((_frac(r["amount"]) for r in counted), F(0)) * _frac(cfg.rate), inp)
        else:
            net: dict[Any, Fraction] = defaultdict(F)
            for r in counted:
                net[r["opportunity_id"]] += _frac(r["amount"])
            minimum = _ceil_minor(_frac(cfg.min_deal_amount), mu)
            total = sum(1 for v in net.values() if v > 0 and v >= minimum) * _frac(cfg.amount)
        line = total - _prior(inp, pid, ("spiff",), min(inp.plan_year.start, cfg.start))
        if line != 0 or total != 0:
            out.append(_line(pid, inp.component, "spiff", line))
    return out


def ref_mbo(inp: CalcInput) -> list[dict]:
    cfg = inp.config
    mu = inp.minor_units
    months = window_spec("period", inp.period, inp.plan_year)[1]
    out = []
    for p in _rows(inp.payees):
        pid = str(p["payee_id"])
        if cfg.amount is not None:
            target = _frac(cfg.amount)
        else:
            ti = _ti(p, mu)
            if ti is None:
                from spm_kernel.plantypes.rate_table import PlanCalculationError
                raise PlanCalculationError(f"payee {pid} has no target incentive")
            target = ti * _frac(cfg.share_of_target_incentive) * F(months, 12)
        weighted = F(0)
        for obj in cfg.objectives:
            score = _frac(obj.default_score) if obj.default_score is not None else None
            for s in cfg.scores:
                if s.objective == obj.id and s.period == inp.period.period_id and s.payee == "*":
                    score = _frac(s.score)
            for s in cfg.scores:
                if s.objective == obj.id and s.period == inp.period.period_id and s.payee == pid:
                    score = _frac(s.score)
            for row in _rows(inp.scores):
                if row["payee_id"] == pid and row["objective"] == obj.id and row["period_id"] == inp.period.period_id:
                    score = _frac(row["score"])
            weighted += _frac(obj.weight) * min(score if score is not None else F(0), _frac(cfg.max_score))
        proration = _frac(p["proration"]) if p.get("proration") is not None and not pd.isna(p.get("proration")) else F(1)
        amount = _round(target * weighted * proration, inp)
        if amount != 0:
            out.append(_line(pid, inp.component, "mbo", amount))
    return out


# ---- pay ----
PAY_TYPES = ("earning", "bonus", "spiff", "mbo", "clawback", "cap_forfeit", "carry_forward", "carry_forward_release",
             "gate_adjustment", "hold", "release", "adjustment")


def _current(inp: CalcInput, pid: str, components: list[str] | None) -> Fraction:
    total = F(0)
    for row in _rows(inp.current_lines):
        if row["payee_id"] == pid and row["line_type"] in PAY_TYPES and (components is None or row["component"] in components):
            total += _frac(row["amount"])
    return total


def ref_draw(inp: CalcInput) -> list[dict]:
    cfg = inp.config
    out = []
    for p in _rows(inp.payees):
        pid = str(p["payee_id"])
        earned = _current(inp, pid, cfg.components)
        proration = _frac(p["proration"]) if p.get("proration") is not None and not pd.isna(p.get("proration")) else F(1)
        draw = _round(_frac(cfg.amount) * proration, inp)
        active = draw > 0
        if cfg.eligible_months_after_hire is not None:
            hire = pd.Timestamp(p["hire_date"]) + pd.DateOffset(months=cfg.eligible_months_after_hire)
            active = active and pd.Timestamp(inp.period.start) < hire
        topup = max(draw - earned, F(0)) if active else F(0)
        if topup:
            out.append(_line(pid, inp.component, "draw_topup", topup))
        if cfg.recoverable:
            balance = max(_prior(inp, pid, ("draw_topup",), inp.plan_year.start)
                          + _prior(inp, pid, ("draw_recovery",), inp.plan_year.start), F(0))
            keep = max(_frac(cfg.floor), draw if active else F(0))
            starts = cfg.recovery_start is None or inp.period.start >= cfg.recovery_start
            recovery = min(balance, max(earned - keep, F(0))) if topup == 0 and starts else F(0)
            if recovery:
                out.append(_line(pid, inp.component, "draw_recovery", -recovery))
    return out


def ref_pay_cap(inp: CalcInput) -> list[dict]:
    cfg = inp.config
    mu = inp.minor_units
    out = []
    for p in _rows(inp.payees):
        pid = str(p["payee_id"])
        if cfg.amount is not None:
            limit = _frac(cfg.amount)
        else:
            limit = _floor_minor(_frac(cfg.multiple_of_target_incentive) * (_ti(p, mu) or F(0)), mu)
        this = _current(inp, pid, cfg.components)
        if cfg.scope == "period":
            excess = max(this - limit, F(0))
        else:
            before = F(0)
            for row in _rows(inp.prior_lines):
                if row["payee_id"] != pid or _d(row["period_start"]) < inp.plan_year.start:
                    continue
                if row["component"] == inp.component:
                    if row["line_type"] == "cap_forfeit":
                        before += _frac(row["amount"])
                    continue
                if row["line_type"] in PAY_TYPES and (cfg.components is None or row["component"] in cfg.components):
                    before += _frac(row["amount"])
            excess = min(max(before + this - limit, F(0)), max(this, F(0)))
        if excess:
            out.append(_line(pid, inp.component, "cap_forfeit", -excess, f"cap:{cfg.scope}"))
    return out


def ref_formula(inp: CalcInput) -> list[dict]:
    import decimal

    from spm_kernel.money import EXACT
    from spm_kernel.plans.expressions import compile_expression
    from spm_kernel.plantypes.pay import FORMULA_NAMES
    cfg = inp.config
    mu = inp.minor_units
    expr = compile_expression(cfg.formula, FORMULA_NAMES)
    rows = [r for r in _selected(inp, cfg.measure)
            if _d(r["credit_date"]) <= inp.period.end and _key(_d(r["credit_date"]), cfg.measure.window, inp) == 0
            and (cfg.cumulative or _d(r["credit_date"]) >= inp.period.start)]
    out = []
    for p in _rows(inp.payees):
        pid = str(p["payee_id"])
        mine = [r for r in rows if str(r["payee_id"]) == pid]
        with decimal.localcontext(EXACT):
            measure = sum((Decimal(str(r["amount"])) for r in mine), Decimal(0)).quantize(Decimal(1).scaleb(-mu))
            q = _quota(inp, pid, cfg.measure.quota_name, cfg.measure.window, 0)
            quota = None if q is None else Decimal(q.numerator) / Decimal(q.denominator)
            if quota is not None:
                quota = quota.quantize(Decimal(1).scaleb(-mu))
            ti = _ti(p, mu)
            value = expr.evaluate({
                "measure": measure, "quota": quota,
                "attainment": None if not quota else measure / quota,
                "target_incentive": None if ti is None else (Decimal(ti.numerator) / Decimal(ti.denominator)).quantize(Decimal(1).scaleb(-mu)),
                "period_months": window_spec("period", inp.period, inp.plan_year)[1], "credit_count": len(mine)})
            total = F(round_money(Decimal(value), mu, inp.rounding)) if value is not None else F(0)
        since = window_bounds(cfg.measure.window, inp.period, inp.plan_year)[0] if cfg.cumulative else inp.period.start
        line = total - _prior(inp, pid, (cfg.line_type,), since) if cfg.cumulative else total
        if line != 0 or total != 0:
            out.append(_line(pid, inp.component, cfg.line_type, line))
    return out


REFERENCE: dict[str, Callable[[CalcInput], list[dict]]] = {
    "rate_table": ref_rate_table, "milestone_bonus": ref_milestone_bonus, "spiff": ref_spiff, "mbo": ref_mbo,
    "draw": ref_draw, "pay_cap": ref_pay_cap, "formula": ref_formula,
}


def reference_calculate(plan_type: str, inp: CalcInput) -> pd.DataFrame:
    """The reference lines of one component (:data:`LINE_COLUMNS`; explanations left empty)."""
    try:
        fn = REFERENCE[plan_type]
    except KeyError:
        raise KeyError(f"no reference implementation of plan type {plan_type!r}; have {sorted(REFERENCE)}") from None
    rows = fn(inp)
    mu = inp.minor_units
    frame = pd.DataFrame(rows, columns=["payee_id", "component", "line_type", "amount", "status", "reference"])
    frame["amount"] = pd.Series([round_money(a, mu, inp.rounding) for a in frame["amount"]], dtype=object)
    for col in LINE_COLUMNS:
        if col not in frame:
            frame[col] = pd.Series([[] if col == "credit_ids" else ("" if col in ("measure", "tier", "formula") else None)
                                    for _ in range(len(frame))], dtype=object)
    return frame.loc[:, list(LINE_COLUMNS)]
