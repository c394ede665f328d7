"""Plan type ``margin``: commission on gross margin, decelerated by the deal's discount."""
from decimal import Decimal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from spm_kernel import hookimpl
from spm_kernel.extensions import CalcInput, PlanType
from spm_kernel.money import round_money
from spm_kernel.plantypes.common import MeasureSpec, lines_frame


class Band(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)
    from_: Decimal = Field(alias="from", ge=0)  # discount (0.1 = 10%): the band is [from, next from)
    multiplier: Decimal = Field(ge=0)


class MarginConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")
    measure: MeasureSpec = Field(default_factory=MeasureSpec)
    rate: Decimal = Field(ge=0)  # commission rate on gross margin
    margin: dict[str, Decimal]  # gross-margin share by product; "*" for any other product
    decelerator: list[Band] = Field(min_length=1)  # discount bands, the first from 0


class Margin(PlanType):
    name = "margin"
    label = "Gross-margin commission"
    description = "Per period: amount x margin share x rate x the multiplier of the deal's discount band."
    config_model = MarginConfig

    def calculate(self, inp: CalcInput):
        cfg, pay = inp.config, inp.payees.set_index("payee_id")
        c = inp.own_credits()
        c = c.loc[cfg.measure.mask(c)]
        day, start = c["credit_date"].dt.date, c["payee_id"].map(pay["assigned_from"])
        end = c["payee_id"].map(pay["assigned_to"]).fillna(inp.period.end)
        c = c.loc[((day >= inp.period.start) & (day <= inp.period.end) & (day >= start) & (day <= end)).to_numpy()]
        share = c["product"].map(cfg.margin).fillna(cfg.margin.get("*", Decimal(0))).to_numpy(dtype=object)
        discount = c["discount"].fillna(Decimal(0)).to_numpy(dtype=object) if "discount" in c else share * 0
        froms = np.array([b.from_ for b in cfg.decelerator], dtype=object)  # exact Decimal comparisons
        mult = np.array([b.multiplier for b in cfg.decelerator], dtype=object)[np.searchsorted(froms, discount, "right") - 1]
        c = c.assign(pay=c["amount"].map(Decimal).to_numpy(dtype=object) * share * cfg.rate * mult)
        total = c.groupby("payee_id")["pay"].sum()
        cents = [int(round_money(v, inp.minor_units, inp.rounding).scaleb(inp.minor_units)) for v in total]
        return lines_frame(total.index.to_numpy(), inp.component, "earning", np.array(cents, dtype=np.int64),
                           inp.minor_units, measure=cfg.measure.name, rate=[cfg.rate] * len(total),
                           formula=[f"sum of amount x margin share x {cfg.rate} x discount multiplier = {v}" for v in total])

    def validate_plan_config(self, config: MarginConfig):
        bad = config.decelerator[0].from_ != 0 or [b.from_ for b in config.decelerator] != sorted({b.from_ for b in config.decelerator})
        return [(("decelerator",), "bands must start at 0 and increase")] if bad else []


@hookimpl
def spm_register_plan_types():
    return [Margin()]
