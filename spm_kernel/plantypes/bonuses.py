"""``milestone_bonus``, ``spiff`` and ``mbo``: fixed amounts for reaching something.

* ``milestone_bonus``: fixed ``amount`` when the measure (``individual``) or the team's
  measure (``team``: the sum over the payees of the same team on the plan, against the sum of
  their quotas) reaches each milestone ``at`` (attainment or amount; reaching means ``>=``).
  With ``keep_once_reached: true`` (default) a milestone stays earned when later
  cancellations pull the measure back below it; with ``false`` the bonus follows the
  window-to-date measure and is reversed (a negative line) if it falls back.
* ``spiff``: a time-boxed incentive on filtered deals, ``pay: per_deal`` (a fixed amount for
  each deal whose net credit in the box is positive, and at least ``min_deal_amount``) or
  ``pay: rate`` (a rate on the credits). Cancellations and refunds of a deal booked in the box
  are netted whenever they come, so a cancelled SPIFF deal is reversed in the period of the
  cancellation.
* ``mbo``: weighted objectives scored by a manager: ``target x sum(weight x min(score,
  max_score))`` per period, the target being ``amount`` per period or
  ``share_of_target_incentive`` of the annual target incentive spread over the year by months.
  Scores come from the workspace (``scores`` input), else from the plan (``scores:`` rows,
  ``payee: "*"`` for everyone), else the objective's ``default_score``, else 0.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from fractions import Fraction
from typing import Literal

import numpy as np
import pandas as pd
from pydantic import Field, model_validator

from spm_kernel.extensions import PlanType
from spm_kernel.hookspecs import hookimpl
from spm_kernel.plantypes.common import (
    Basis,
    MeasureSpec,
    Strict,
    ceil_mul,
    concat_lines,
    credit_frame,
    day_number,
    fmt_money,
    fmt_rate,
    ids_by_payee,
    lines_frame,
    payee_frame,
    prior_sum,
    quota_minor,
    round_exact,
    scale_of,
    to_scaled,
    fetch,
    fetch_codes,
    full_mask,
    segment_cumsum,
    window_bounds,
    window_keys_days,
    window_spec,
)
from spm_kernel.plantypes.contract import CalcInput
from spm_kernel.plantypes.rate_table import PlanCalculationError, _target_incentive_minor

NEVER = np.iinfo(np.int64).max // 4


def exact_minor(value: Decimal, mu: int, what: str) -> int:
    scaled = value.scaleb(mu)
    if scaled != scaled.to_integral_value():
        raise PlanCalculationError(f"{what} {value} has more decimals than the currency ({mu})")
    return int(scaled)


class Milestone(Strict):
    at: Decimal = Field(ge=0)
    amount: Decimal = Field(ge=0)
    label: str | None = None


class MilestoneConfig(Strict):
    measure: MeasureSpec = Field(default_factory=MeasureSpec)
    basis: Basis = "attainment"
    scope: Literal["individual", "team"] = "individual"
    milestones: list[Milestone] = Field(min_length=1)
    keep_once_reached: bool = True

    @model_validator(mode="after")
    def _increasing(self) -> MilestoneConfig:
        ats = [m.at for m in self.milestones]
        if any(b <= a for a, b in zip(ats, ats[1:])):
            raise ValueError(f"milestones must be in increasing order of 'at', got {[str(a) for a in ats]}")
        return self


class MilestoneBonus(PlanType):
    name = "milestone_bonus"
    label = "Milestone bonus"
    description = "Fixed amounts when the measure (individual or team) reaches milestones."
    config_model = MilestoneConfig

    def calculate(self, inp: CalcInput) -> pd.DataFrame:
        cfg: MilestoneConfig = inp.config  # type: ignore[assignment]
        mu = inp.minor_units
        payees = payee_frame(inp)
        n = len(payees)
        if n == 0:
            return concat_lines([])
        w_start, _ = window_bounds(cfg.measure.window, inp.period, inp.plan_year)
        p_end = day_number(inp.period.end)
        credits = credit_frame(inp, payees, cfg.measure)
        credits = credits.loc[credits["day"].to_numpy() <= p_end]
        credits = credits.loc[window_keys_days(credits["day"].to_numpy(), cfg.measure.window, inp.period, inp.plan_year) == 0]
        # the unit that must reach the milestones: the payee, or their team
        if cfg.scope == "team":
            team = payees["team_id"].astype(object).where(payees["team_id"].notna(), payees["payee_id"]).astype(str)
            unit_codes, units = pd.factorize(team)
        else:
            unit_codes, units = np.arange(n), payees["payee_id"].astype(str).to_numpy()
        u_count = len(units)
        c_unit = unit_codes[credits["pidx"].to_numpy(dtype=np.int64)] if len(credits) else np.zeros(0, dtype=np.int64)
        if cfg.scope == "team" and len(credits):  # team walk: date, then credit id across members
            id_rank = np.empty(len(credits), dtype=np.int64)
            id_rank[np.argsort(fetch(inp, payees, credits, "credit_id").astype(str), kind="stable")] = np.arange(len(credits))
            order = np.lexsort((id_rank, credits["day"].to_numpy(), c_unit))
        else:  # already in walk order: payee, day, credit id
            order = np.arange(len(credits))
        frame = pd.DataFrame({"u": c_unit[order], "day": credits["day"].to_numpy()[order],
                              "x": credits["x"].to_numpy(dtype=np.int64)[order]})
        cum = segment_cumsum(frame["x"].to_numpy(dtype=np.int64), frame["u"].to_numpy(dtype=np.int64))
        value = np.zeros(u_count, dtype=np.int64)
        np.add.at(value, frame["u"].to_numpy(dtype=np.int64), frame["x"].to_numpy(dtype=np.int64))
        q = np.full(u_count, -1, dtype=np.int64)
        if cfg.basis == "attainment":
            qp = quota_minor(inp, payees, cfg.measure.quota_name, cfg.measure.window)[0]
            q = np.zeros(u_count, dtype=np.int64)
            np.add.at(q, unit_codes, np.maximum(qp, 0))
            q = np.where(q > 0, q, -1)
        total = np.zeros(n, dtype=np.int64)
        reached_text = np.full(n, "", dtype=object)
        af = payees["af"].to_numpy()
        at = payees["at"].to_numpy()
        fu = frame["u"].to_numpy(dtype=np.int64)
        fday = frame["day"].to_numpy(dtype=np.int64)
        for m in cfg.milestones:  # a handful of milestones, vectorised over units
            if cfg.basis == "attainment":
                thr = np.where(q > 0, ceil_mul(np.maximum(q, 0), m.at), NEVER)
            else:
                thr = np.full(u_count, int(ceil_mul(np.array([1]), m.at * Decimal(10) ** mu)[0]), dtype=np.int64)
            hit = cum >= thr[fu]
            first = np.full(u_count, NEVER, dtype=np.int64)
            if hit.any():
                np.minimum.at(first, fu[hit], fday[hit])
            reached = first < NEVER if cfg.keep_once_reached else (value >= thr) & (first < NEVER)
            reach_day = first[unit_codes]
            earned = reached[unit_codes] & (reach_day >= af) & (reach_day <= at)
            total += np.where(earned, exact_minor(m.amount, mu, "milestone amount"), 0)
            label = m.label or (f"{(m.at * 100).normalize():f}%" if cfg.basis == "attainment" else f"{m.at:,}")
            reached_text = np.where(earned, np.where(reached_text == "", label, reached_text + ", " + label),
                                    reached_text)
        line = total - prior_sum(inp, payees, ["bonus"], w_start)
        measure_value = value[unit_codes]
        att = [None if qq <= 0 else (Decimal(int(v)) / Decimal(int(qq))).quantize(Decimal("0.000001"))
               for v, qq in zip(measure_value, q[unit_codes])]
        who = "team" if cfg.scope == "team" else "measure"
        formula = [f"{who} {mv} reached " + (r or "no milestone") + f": bonus to date {t}, "
                   f"already paid {t0}" for mv, r, t, t0 in zip(fmt_money(measure_value, mu), reached_text,
                                                                fmt_money(total, mu), fmt_money(total - line, mu))]
        keep = (line != 0) | (total != 0)
        ids = np.array(payees["payee_id"].astype(str), dtype=object)
        return lines_frame(ids[keep], inp.component, "bonus", line[keep], mu, measure=cfg.measure.name,
                           measure_value=measure_value[keep], attainment=np.array(att, dtype=object)[keep],
                           tier=reached_text[keep],
                           formula=np.array(formula, dtype=object)[keep])


class SpiffConfig(Strict):
    start: date
    end: date
    measure: MeasureSpec = Field(default_factory=MeasureSpec)
    pay: Literal["per_deal", "rate"]
    amount: Decimal | None = Field(None, ge=0)
    rate: Decimal | None = Field(None, ge=0)
    min_deal_amount: Decimal = Field(Decimal(0), ge=0)

    @model_validator(mode="after")
    def _check(self) -> SpiffConfig:
        if self.end < self.start:
            raise ValueError(f"end {self.end} is before start {self.start}")
        if self.pay == "per_deal" and (self.amount is None or self.rate is not None):
            raise ValueError("pay: per_deal needs amount (and no rate)")
        if self.pay == "rate" and (self.rate is None or self.amount is not None):
            raise ValueError("pay: rate needs rate (and no amount)")
        return self


class Spiff(PlanType):
    name = "spiff"
    label = "SPIFF"
    description = "Time-boxed pay on filtered deals: a fixed amount per deal or a rate."
    config_model = SpiffConfig

    def credit_window(self, config, period, plan_year):  # type: ignore[no-untyped-def]
        return min(plan_year.start, config.start), period.end

    def history_start(self, config, period, plan_year):  # type: ignore[no-untyped-def]
        return min(plan_year.start, config.start)

    def calculate(self, inp: CalcInput) -> pd.DataFrame:
        cfg: SpiffConfig = inp.config  # type: ignore[assignment]
        mu, mode = inp.minor_units, inp.rounding
        payees = payee_frame(inp)
        n = len(payees)
        if n == 0 or inp.period.end < cfg.start:
            return concat_lines([])
        s_day, e_day, p_end = day_number(cfg.start), day_number(cfg.end), day_number(inp.period.end)
        cr = credit_frame(inp, payees, cfg.measure)
        cr = cr.loc[(cr["day"].to_numpy() <= p_end) & (cr["day"].to_numpy() >= s_day)].reset_index(drop=True)
        negative = full_mask(inp, payees, cr, "kind", ["cancellation", "refund"])
        in_box = ~negative & (cr["day"].to_numpy() <= e_day)
        # a deal is (payee, opportunity), as integer codes
        opp_codes = fetch_codes(inp, payees, cr, "opportunity_id")
        deal, _ = pd.factorize(cr["pidx"].to_numpy(dtype=np.int64) * (int(opp_codes.max(initial=0)) + 2) + opp_codes + 1)
        deal = np.asarray(deal, dtype=np.int64)
        booked_deal = np.zeros(int(deal.max(initial=-1)) + 1, dtype=bool)
        booked_deal[deal[in_box]] = True
        of_booked = booked_deal[deal]
        af = payees["af"].to_numpy()[cr["pidx"].to_numpy(dtype=np.int64)] if len(cr) else np.zeros(0)
        at = payees["at"].to_numpy()[cr["pidx"].to_numpy(dtype=np.int64)] if len(cr) else np.zeros(0)
        earns = (cr["day"].to_numpy() >= af) & (cr["day"].to_numpy() <= at)
        counted = (in_box | (negative & of_booked)) & earns
        part = cr.loc[counted]
        pidx = part["pidx"].to_numpy(dtype=np.int64)
        if cfg.pay == "rate":
            assert cfg.rate is not None
            rs = scale_of(cfg.rate)
            units = np.zeros(n, dtype=object)
            units[:] = [0] * n
            np.add.at(units, pidx, part["x"].to_numpy().astype(object) * to_scaled(cfg.rate, rs))
            total = round_exact(units, rs, mode)
            deals = np.zeros(n, dtype=np.int64)
            np.add.at(deals, pidx, 1)
            what = [f"{fmt_rate(cfg.rate)} of {m} SPIFF-eligible credit" for m in fmt_money(_sum_minor(part, n), mu)]
        else:
            assert cfg.amount is not None
            d = deal[counted]
            net = np.zeros(len(booked_deal), dtype=np.int64)
            np.add.at(net, d, part["x"].to_numpy(dtype=np.int64))
            owner = np.zeros(len(booked_deal), dtype=np.int64)
            owner[d] = part["pidx"].to_numpy(dtype=np.int64)
            seen = np.zeros(len(booked_deal), dtype=bool)
            seen[d] = True
            min_minor = int(ceil_mul(np.array([1]), cfg.min_deal_amount * Decimal(10) ** mu)[0])
            qualifying = seen & (net > 0) & (net >= min_minor)
            deals = np.bincount(owner[qualifying], minlength=n)
            total = deals * exact_minor(cfg.amount, mu, "SPIFF amount")
            what = [f"{d} qualifying deal(s) x {cfg.amount:,}" for d in deals]
        line = total - prior_sum(inp, payees, ["spiff"], min(inp.plan_year.start, cfg.start))
        box = f"SPIFF {cfg.start} to {cfg.end}: "
        formula = [box + w + f"; to date {t}, already paid {t0}" for w, t, t0 in
                   zip(what, fmt_money(total, mu), fmt_money(total - line, mu))]
        in_period = counted & (cr["day"].to_numpy() >= day_number(inp.period.start))
        ids = ids_by_payee(inp, payees, cr, in_period, n)
        keep = (line != 0) | (total != 0)
        pid = np.array(payees["payee_id"].astype(str), dtype=object)
        return lines_frame(pid[keep], inp.component, "spiff", line[keep], mu, measure=cfg.measure.name,
                           measure_value=_sum_minor(part, n)[keep], formula=np.array(formula, dtype=object)[keep],
                           credit_ids=[ids[i] for i in np.flatnonzero(keep)],
                           rate=[cfg.rate] * int(keep.sum()) if cfg.rate is not None else None)


def _sum_minor(part: pd.DataFrame, n: int) -> np.ndarray:
    out = np.zeros(n, dtype=np.int64)
    np.add.at(out, part["pidx"].to_numpy(dtype=np.int64), part["x"].to_numpy(dtype=np.int64))
    return out


def _show(value: Fraction) -> str:
    return f"{(Decimal(value.numerator) / Decimal(value.denominator)).normalize():f}"


class Objective(Strict):
    id: str
    weight: Decimal = Field(ge=0, le=1)
    default_score: Decimal | None = Field(None, ge=0)


class InlineScore(Strict):
    payee: str = "*"
    period: str
    objective: str
    score: Decimal = Field(ge=0)


class MboConfig(Strict):
    amount: Decimal | None = Field(None, ge=0)
    share_of_target_incentive: Decimal | None = Field(None, ge=0)
    objectives: list[Objective] = Field(min_length=1)
    max_score: Decimal = Field(Decimal(1), ge=0)
    scores: list[InlineScore] = Field(default_factory=list)

    @model_validator(mode="after")
    def _check(self) -> MboConfig:
        if (self.amount is None) == (self.share_of_target_incentive is None):
            raise ValueError("an MBO needs exactly one of amount (per period) or share_of_target_incentive")
        total = sum((o.weight for o in self.objectives), Decimal(0))
        if total != 1:
            raise ValueError(f"objective weights must sum to 1, they sum to {total}")
        known = {o.id for o in self.objectives}
        for s in self.scores:
            if s.objective not in known:
                raise ValueError(f"score for unknown objective {s.objective!r}; objectives: {sorted(known)}")
        return self


class Mbo(PlanType):
    name = "mbo"
    label = "MBO"
    description = "Weighted objectives scored by a manager, paid per period."
    config_model = MboConfig

    def calculate(self, inp: CalcInput) -> pd.DataFrame:
        cfg: MboConfig = inp.config  # type: ignore[assignment]
        mu, mode = inp.minor_units, inp.rounding
        payees = payee_frame(inp)
        n = len(payees)
        if n == 0:
            return concat_lines([])
        months = window_spec("period", inp.period, inp.plan_year)[1]
        if cfg.amount is not None:
            target = np.full(n, Fraction(exact_minor(cfg.amount, mu, "MBO amount")), dtype=object)
        else:
            ti = _target_incentive_minor(payees, mu)
            if (ti < 0).any():
                missing = ", ".join(payees.loc[ti < 0, "payee_id"].astype(str).head(10))
                raise PlanCalculationError(f"MBO {inp.component!r} is a share of the target incentive, but these "
                                           f"payees have none: {missing}")
            assert cfg.share_of_target_incentive is not None
            target = ti.astype(object) * Fraction(cfg.share_of_target_incentive) * Fraction(months, 12)
        raw = payees["proration"] if "proration" in payees else pd.Series([None] * n, dtype=object)
        proration = raw.map(lambda v: Fraction(1) if v is None or pd.isna(v) else Fraction(Decimal(str(v)))).to_numpy(dtype=object)
        pid = payees["payee_id"].astype(str)
        weighted = np.zeros(n, dtype=object)
        weighted[:] = [Fraction(0)] * n
        texts = np.full(n, "", dtype=object)
        for obj in cfg.objectives:  # a few objectives, vectorised over payees
            score = self._scores(inp, cfg, obj, pid)
            missing = pd.isna(score)
            capped = np.minimum(np.where(missing, Fraction(0), score), Fraction(cfg.max_score))
            weighted = weighted + capped * Fraction(obj.weight)
            shown = pd.Series(score, dtype=object).map(lambda v: "no score" if v is None else _show(v)).to_numpy(dtype=object)
            part = f"{obj.id} {obj.weight} x " + shown
            texts = np.where(texts == "", part, texts + " + " + part)
        amount = target * weighted * proration
        line = round_exact(amount, 0, mode)
        formula = [f"target {t} x ({tx})" + ("" if p == 1 else f" x proration {_show(p)}") + f" = {a}" for t, tx, p, a in
                   zip(fmt_money(round_exact(target, 0, mode), mu), texts, proration, fmt_money(line, mu))]
        keep = line != 0
        return lines_frame(np.array(pid, dtype=object)[keep], inp.component, "mbo", line[keep], mu, measure="mbo",
                           formula=np.array(formula, dtype=object)[keep])

    @staticmethod
    def _scores(inp: CalcInput, cfg: MboConfig, obj: Objective, pid: pd.Series) -> np.ndarray:
        n = len(pid)
        out = np.full(n, None, dtype=object)
        if obj.default_score is not None:
            out[:] = Fraction(obj.default_score)
        rows = [s for s in cfg.scores if s.objective == obj.id and s.period == inp.period.period_id]
        for s in (r for r in rows if r.payee == "*"):
            out[:] = Fraction(s.score)
        for s in (r for r in rows if r.payee != "*"):
            out[(pid == s.payee).to_numpy()] = Fraction(s.score)
        table = inp.scores
        if len(table):
            part = table.loc[(table["objective"] == obj.id) & (table["period_id"] == inp.period.period_id)]
            idx = pd.Index(pid).get_indexer(part["payee_id"].astype(str))
            ok = idx >= 0
            vals = np.array([Fraction(Decimal(str(v))) for v in part["score"]], dtype=object)
            out[idx[ok]] = vals[ok]
        return out


@hookimpl(trylast=True)
def spm_register_plan_types() -> list[PlanType]:
    return [MilestoneBonus(), Spiff(), Mbo()]
