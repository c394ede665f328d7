"""``draw``, ``pay_cap`` and ``formula``: components that act on what the plan pays.

* ``draw``: a guaranteed minimum per period. If the earnings of the components listed before
  it (``components``, default all) are below ``amount`` in a period where the draw applies,
  a ``draw_topup`` line pays the difference. ``recoverable: true`` makes the top-ups a
  balance recovered (``draw_recovery``, negative) from later earnings above
  ``max(floor, draw)`` in periods starting on or after ``recovery_start``; the balance is
  per plan year (what is unrecovered at plan-year end is forgiven). ``eligible_months_after_hire``
  limits the draw to new hires (periods starting within that many months of the hire date).
  The draw amount is multiplied by the payee's ``proration``.
* ``pay_cap``: a cap on the total the plan pays (``amount`` or
  ``multiple_of_target_incentive``) per ``period`` or ``plan_year``; the excess of the
  components before it is forfeited (a ``cap_forfeit`` line).
* ``formula``: any amount computed per payee by a restricted expression over ``measure``,
  ``quota``, ``attainment``, ``target_incentive``, ``period_months`` and ``credit_count``
  (window-to-date), paid window-to-date minus already paid (``cumulative: true``) or per
  period.
"""

from __future__ import annotations

import decimal
from datetime import date
from decimal import Decimal
from typing import Literal

import numpy as np
import pandas as pd
from pydantic import Field, field_validator, model_validator

from spm_kernel.extensions import PlanType
from spm_kernel.hookspecs import hookimpl
from spm_kernel.money import EXACT, decimals_to_minor, minor_to_decimals, round_money
from spm_kernel.plans.expressions import compile_expression
from spm_kernel.plantypes.bonuses import exact_minor
from spm_kernel.plantypes.common import (
    MeasureSpec,
    Strict,
    concat_lines,
    credit_frame,
    day_number,
    fmt_money,
    lines_frame,
    payee_frame,
    prior_sum,
    quota_minor,
    window_bounds,
    window_keys_days,
    window_spec,
)
from spm_kernel.plantypes.contract import CalcInput
from spm_kernel.plantypes.rate_table import _target_incentive_minor

PAY_LINE_TYPES = ("earning", "bonus", "spiff", "mbo", "clawback", "cap_forfeit", "carry_forward",
                  "carry_forward_release", "gate_adjustment", "hold", "release", "adjustment")


def _current_total(inp: CalcInput, payees: pd.DataFrame, components: list[str] | None,
                   line_types: tuple[str, ...] = PAY_LINE_TYPES) -> np.ndarray:
    cur = inp.current_lines
    out = np.zeros(len(payees), dtype=np.int64)
    if len(cur) == 0:
        return out
    keep = cur["line_type"].isin(list(line_types))
    if components is not None:
        keep &= cur["component"].isin(components)
    part = cur.loc[keep]
    idx = pd.Index(payees["payee_id"]).get_indexer(part["payee_id"])
    minor = decimals_to_minor(part["amount"], inp.minor_units, "line amount")
    ok = idx >= 0
    np.add.at(out, idx[ok], minor[ok])
    return out


def _proration_units(payees: pd.DataFrame, amount_minor: int, mode: str) -> np.ndarray:
    """amount x proration per payee, rounded to whole minor units."""
    raw = payees["proration"] if "proration" in payees else pd.Series([None] * len(payees), dtype=object)
    with decimal.localcontext(EXACT):
        values = raw.map(lambda v: Decimal(1) if v is None or pd.isna(v) else Decimal(str(v)))
        return np.array([int(round_money(Decimal(amount_minor) * p, 0, mode)) for p in values], dtype=np.int64)


class DrawConfig(Strict):
    amount: Decimal = Field(ge=0)
    recoverable: bool
    recovery_start: date | None = None
    floor: Decimal = Field(Decimal(0), ge=0)
    eligible_months_after_hire: int | None = Field(None, ge=1)
    components: list[str] | None = None


class Draw(PlanType):
    name = "draw"
    label = "Draw"
    description = "A guaranteed minimum per period; recoverable (with recovery start and floor) or not."
    config_model = DrawConfig

    def calculate(self, inp: CalcInput) -> pd.DataFrame:
        cfg: DrawConfig = inp.config  # type: ignore[assignment]
        mu, mode = inp.minor_units, inp.rounding
        payees = payee_frame(inp)
        n = len(payees)
        if n == 0:
            return concat_lines([])
        earned = _current_total(inp, payees, cfg.components)
        draw = _proration_units(payees, exact_minor(cfg.amount, mu, "draw amount"), mode)
        active = draw > 0
        if cfg.eligible_months_after_hire is not None:
            hire = pd.to_datetime(payees["hire_date"])
            limit = (hire + pd.DateOffset(months=cfg.eligible_months_after_hire)).to_numpy(dtype="datetime64[D]")
            active &= np.datetime64(inp.period.start, "D") < limit
        topup = np.where(active, np.maximum(draw - earned, 0), 0)
        lines = []
        pid = np.array(payees["payee_id"].astype(str), dtype=object)
        nz = topup != 0
        lines.append(lines_frame(pid[nz], inp.component, "draw_topup", topup[nz], mu, measure="draw",
                                 formula=[f"draw {d} - earnings {e} = top-up {t}" for d, e, t in
                                          zip(fmt_money(draw[nz], mu), fmt_money(earned[nz], mu), fmt_money(topup[nz], mu))]))
        if cfg.recoverable:
            given = prior_sum(inp, payees, ["draw_topup"], inp.plan_year.start)
            recovered = -prior_sum(inp, payees, ["draw_recovery"], inp.plan_year.start)
            balance = np.maximum(given - recovered, 0)
            floor = exact_minor(cfg.floor, mu, "draw floor")
            keep_pay = np.maximum(floor, np.where(active, draw, 0))
            starts = cfg.recovery_start is None or inp.period.start >= cfg.recovery_start
            recovery = np.where((topup == 0) & starts, np.minimum(balance, np.maximum(earned - keep_pay, 0)), 0)
            nz = recovery != 0
            lines.append(lines_frame(pid[nz], inp.component, "draw_recovery", -recovery[nz], mu, measure="draw",
                                     formula=[f"recover from earnings {e} above {k}: balance {b}, recovered {r}"
                                              for e, k, b, r in zip(fmt_money(earned[nz], mu), fmt_money(keep_pay[nz], mu),
                                                                    fmt_money(balance[nz], mu), fmt_money(recovery[nz], mu))]))
        return concat_lines(lines)


class PayCapConfig(Strict):
    amount: Decimal | None = Field(None, ge=0)
    multiple_of_target_incentive: Decimal | None = Field(None, ge=0)
    scope: Literal["period", "plan_year"] = "plan_year"
    components: list[str] | None = None

    @model_validator(mode="after")
    def _one(self) -> PayCapConfig:
        if (self.amount is None) == (self.multiple_of_target_incentive is None):
            raise ValueError("a pay cap needs exactly one of amount or multiple_of_target_incentive")
        return self


class PayCap(PlanType):
    name = "pay_cap"
    label = "Total pay cap"
    description = "Caps what the plan pays per period or plan year (an amount or a multiple of target incentive)."
    config_model = PayCapConfig

    def calculate(self, inp: CalcInput) -> pd.DataFrame:
        cfg: PayCapConfig = inp.config  # type: ignore[assignment]
        mu = inp.minor_units
        payees = payee_frame(inp)
        n = len(payees)
        if n == 0:
            return concat_lines([])
        if cfg.amount is not None:
            limit = np.full(n, exact_minor(cfg.amount, mu, "cap amount"), dtype=np.int64)
        else:
            from spm_kernel.plantypes.rate_table import CapSpec, _cap_minor
            limit = _cap_minor(CapSpec(scope="plan_year", multiple_of_target_incentive=cfg.multiple_of_target_incentive),
                               _target_incentive_minor(payees, mu), mu)
        this = _current_total(inp, payees, cfg.components)
        if cfg.scope == "period":
            excess = np.maximum(this - limit, 0)
            before = np.zeros(n, dtype=np.int64)
        else:
            before = np.zeros(n, dtype=np.int64)
            prior = inp.prior_lines
            if len(prior):
                keep = prior["line_type"].isin(list(PAY_LINE_TYPES)) & (prior["component"] != inp.component)
                if cfg.components is not None:
                    keep &= prior["component"].isin(cfg.components)
                keep &= pd.to_datetime(prior["period_start"]) >= pd.Timestamp(inp.plan_year.start)
                part = prior.loc[keep]
                idx = pd.Index(payees["payee_id"]).get_indexer(part["payee_id"])
                ok = idx >= 0
                np.add.at(before, idx[ok], decimals_to_minor(part["amount"], mu)[ok])
            before = before + prior_sum(inp, payees, ["cap_forfeit"], inp.plan_year.start)
            excess = np.minimum(np.maximum(before + this - limit, 0), np.maximum(this, 0))
        pid = np.array(payees["payee_id"].astype(str), dtype=object)
        nz = excess != 0
        return lines_frame(pid[nz], inp.component, "cap_forfeit", -excess[nz], mu, measure="total pay",
                           formula=[f"total pay cap {l}: paid before {b}, this period {t}" for l, b, t in
                                    zip(fmt_money(limit[nz], mu), fmt_money(before[nz], mu), fmt_money(this[nz], mu))],
                           reference=f"cap:{cfg.scope}")


FORMULA_NAMES = ("measure", "quota", "attainment", "target_incentive", "period_months", "credit_count")


class FormulaConfig(Strict):
    measure: MeasureSpec = Field(default_factory=MeasureSpec)
    formula: str
    line_type: Literal["earning", "bonus", "spiff"] = "earning"
    cumulative: bool = True

    @field_validator("formula")
    @classmethod
    def _check(cls, value: str) -> str:
        compile_expression(value, FORMULA_NAMES, "formula")
        return value


class Formula(PlanType):
    name = "formula"
    label = "Formula"
    description = "An amount per payee from a restricted expression over the measure, quota and attainment."
    config_model = FormulaConfig

    def calculate(self, inp: CalcInput) -> pd.DataFrame:
        cfg: FormulaConfig = inp.config  # type: ignore[assignment]
        mu, mode = inp.minor_units, inp.rounding
        payees = payee_frame(inp)
        n = len(payees)
        if n == 0:
            return concat_lines([])
        expr = compile_expression(cfg.formula, FORMULA_NAMES, "formula")
        credits = credit_frame(inp, payees, cfg.measure)
        credits = credits.loc[credits["day"].to_numpy() <= day_number(inp.period.end)]
        keys = window_keys_days(credits["day"].to_numpy(), cfg.measure.window, inp.period, inp.plan_year)
        credits = credits.loc[keys == 0]
        if not cfg.cumulative:
            credits = credits.loc[credits["day"] >= day_number(inp.period.start)]
        measure = np.zeros(n, dtype=np.int64)
        np.add.at(measure, credits["pidx"].to_numpy(dtype=np.int64), credits["x"].to_numpy(dtype=np.int64))
        count = np.bincount(credits["pidx"].to_numpy(dtype=np.int64), minlength=n)
        q = quota_minor(inp, payees, cfg.measure.quota_name, cfg.measure.window)[0]
        ti = _target_incentive_minor(payees, mu)
        with decimal.localcontext(EXACT):
            m_dec = pd.Series(minor_to_decimals(measure, mu), dtype=object)
            q_dec = pd.Series([None if v < 0 else d for v, d in zip(q, minor_to_decimals(np.maximum(q, 0), mu))], dtype=object)
            att = pd.Series([None if qq is None or qq == 0 else m / qq for m, qq in zip(m_dec, q_dec)], dtype=object)
            frame = pd.DataFrame({
                "measure": m_dec, "quota": q_dec, "attainment": att,
                "target_incentive": pd.Series([None if v < 0 else d for v, d in zip(ti, minor_to_decimals(np.maximum(ti, 0), mu))], dtype=object),
                "period_months": window_spec("period", inp.period, inp.plan_year)[1],
                "credit_count": pd.Series(count, dtype=object),
            })
            values = expr.evaluate_frame(frame)
            total = np.array([int(round_money(Decimal(v), mu, mode).scaleb(mu)) if v is not None else 0
                              for v in values], dtype=np.int64)
        since = window_bounds(cfg.measure.window, inp.period, inp.plan_year)[0] if cfg.cumulative else inp.period.start
        line = total - prior_sum(inp, payees, [cfg.line_type], since) if cfg.cumulative else total
        keep = (line != 0) | (total != 0)
        pid = np.array(payees["payee_id"].astype(str), dtype=object)
        return lines_frame(pid[keep], inp.component, cfg.line_type, line[keep], mu, measure=cfg.measure.name,
                           measure_value=measure[keep],
                           formula=[f"{cfg.formula} with measure {m} = {t}" for m, t in
                                    zip(fmt_money(measure[keep], mu), fmt_money(total[keep], mu))])


@hookimpl(trylast=True)
def spm_register_plan_types() -> list[PlanType]:
    return [Draw(), PayCap(), Formula()]
