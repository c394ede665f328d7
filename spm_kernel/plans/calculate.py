"""Run plans: every component of every assigned plan version for one period.

The engine gathers whole-workspace frames (credits, quotas, payees, prior lines, scores) and
calls :func:`calculate_period`; it returns the payout lines of the period for every payee,
each with ``plan_id``, ``plan_version`` and ``currency``. Nothing here touches the database.

Per plan version, components run in file order; each receives the lines its predecessors
produced in this period (``current_lines``: draws and pay caps need them) and the prior lines
of the plan narrowed to what this version must count as already paid: lines of periods that
end on or after the payee's assignment start, and, for a period that straddles that start,
only this version's own lines. Payees are calculated in groups by currency, each with its
currency's minor units.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Literal

import numpy as np
import pandas as pd

from spm_kernel.money import minor_units as currency_minor_units
from spm_kernel.plans.book import PlanBook, resolve_assignments
from spm_kernel.plantypes.common import prepare_base, regroup
from spm_kernel.plans.model import Plan
from spm_kernel.plantypes.reference import reference_calculate
from spm_kernel.plantypes.contract import (
    LINE_COLUMNS,
    PAYEE_COLUMNS,
    PRIOR_LINE_COLUMNS,
    CalcInput,
    CalcPeriod,
    check_lines,
    empty_frame,
)

RESULT_COLUMNS = ("plan_id", "plan_version", "currency", *LINE_COLUMNS)


def _empty_result() -> pd.DataFrame:
    return empty_frame(RESULT_COLUMNS)


def _narrow_prior(prior: pd.DataFrame, plan: Plan, assigned: pd.DataFrame) -> pd.DataFrame:
    if len(prior) == 0:
        return prior
    part = prior.loc[prior["plan_id"] == plan.plan_id] if "plan_id" in prior.columns else prior
    if len(part) == 0:
        return part
    af = part["payee_id"].map(dict(zip(assigned["payee_id"], pd.to_datetime(assigned["assigned_from"]))))
    start = pd.to_datetime(part["period_start"])
    end = pd.to_datetime(part["period_end"])
    keep = af.notna() & (end >= af) & ((part["plan_version"].astype(int) == plan.version) | (start >= af))
    return part.loc[keep.to_numpy(dtype=bool)]


def calculate_plan(plan: Plan, period: CalcPeriod, plan_year: CalcPeriod, *, credits: pd.DataFrame,
                   payees: pd.DataFrame, quotas: pd.DataFrame | None = None,
                   prior_lines: pd.DataFrame | None = None, scores: pd.DataFrame | None = None,
                   implementation: Literal["vectorised", "reference"] = "vectorised") -> pd.DataFrame:
    """The period's lines of one plan version for the payees in ``payees``.

    ``implementation="reference"`` runs the plain Decimal reference of each plan type instead
    (:mod:`spm_kernel.plantypes.reference`; a plugin plan type may provide its own as a
    ``reference_calculate(inp)`` method): slow, for tests and benchmarks.

    ``payees`` holds one row per assigned payee with :data:`PAYEE_COLUMNS` and ``currency``
    (as :func:`resolve_assignments` and the payees table give them). ``credits`` may hold
    other payees and dates; it is prepared once (see
    :func:`spm_kernel.plantypes.common.prepare_base`) and handed to every component without
    copying rows, with the component's ``credit_window``. Payees are calculated in groups of
    the same minor unit (USD, EUR and GBP together; JPY apart); every line carries the
    payee's own currency.
    """
    quotas = quotas if quotas is not None else empty_frame(("payee_id", "measure", "period_start", "period_end", "amount"))
    prior_lines = prior_lines if prior_lines is not None else empty_frame(("plan_id", *PRIOR_LINE_COLUMNS))
    scores = scores if scores is not None else empty_frame(("payee_id", "objective", "period_id", "score"))
    if len(payees) == 0:
        return _empty_result()
    currency_col = payees["currency"] if "currency" in payees else pd.Series([plan.spec.currency or "USD"] * len(payees))
    if plan.spec.currency is not None:
        wrong = payees.loc[currency_col.to_numpy() != plan.spec.currency, "payee_id"]
        if len(wrong):
            from spm_kernel.plantypes.rate_table import PlanCalculationError
            raise PlanCalculationError(f"plan {plan.plan_id} v{plan.version} pays in {plan.spec.currency}, but "
                                       f"{len(wrong)} assigned payee(s) are paid in another currency: "
                                       f"{', '.join(map(str, wrong.head(10)))}")
    prior = _narrow_prior(prior_lines, plan, payees)
    # the credits prepared once (positions, day numbers, walk order), never copied per group
    base = credits if credits.attrs.get("spm_base_ids") is not None else prepare_base(credits, payees)
    windows = [c.plan_type.credit_window(c.config, period, plan_year) for c in plan.components]
    minor = currency_col.map(currency_minor_units).to_numpy()
    results = []
    for mu in sorted(set(minor.tolist())):  # payees grouped by minor units (2 for USD, EUR, GBP...)
        in_group = minor == mu
        group = payees.loc[in_group].sort_values("payee_id", kind="stable").reset_index(drop=True)
        currencies = sorted(set(currency_col[in_group]))
        ids = set(group["payee_id"])
        group_credits = regroup(base, group, mu)
        current = empty_frame(LINE_COLUMNS)
        for comp, window in zip(plan.components, windows):
            hist = comp.plan_type.history_start(comp.config, period, plan_year)
            comp_prior = prior.loc[(pd.to_datetime(prior["period_start"]) >= pd.Timestamp(hist)).to_numpy()
                                   & prior["payee_id"].isin(ids).to_numpy()] if len(prior) else prior
            inp = CalcInput(
                plan_id=plan.plan_id, plan_version=plan.version, component=comp.id, config=comp.config,
                period=period, plan_year=plan_year, credits=group_credits,
                quotas=quotas.loc[quotas["payee_id"].isin(ids)].reset_index(drop=True) if len(quotas) else quotas,
                payees=group.loc[:, [c for c in PAYEE_COLUMNS if c in group.columns]],
                prior_lines=comp_prior.reset_index(drop=True), current_lines=current,
                scores=scores.loc[scores["payee_id"].isin(ids)].reset_index(drop=True) if len(scores) else scores,
                currency=currencies[0] if len(currencies) == 1 else "", rounding=plan.spec.rounding,
                minor_units=mu, credit_window=window,
            )
            lines = comp.plan_type.calculate(inp) if implementation == "vectorised" else _reference(comp.type, comp.plan_type, inp)
            try:
                lines = check_lines(lines, mu)
            except ValueError as exc:
                raise ValueError(f"plan type {comp.type!r} (component {comp.id!r} of plan {plan.plan_id} "
                                 f"v{plan.version}) broke the payout-line contract: {exc}") from None
            current = pd.concat([current, lines], ignore_index=True) if len(lines) else current
        if len(current):
            paid_in = dict(zip(payees["payee_id"], currency_col))
            results.append(current.assign(plan_id=plan.plan_id, plan_version=plan.version,
                                          currency=current["payee_id"].map(paid_in)))
    if not results:
        return _empty_result()
    return pd.concat(results, ignore_index=True).loc[:, list(RESULT_COLUMNS)]


def _reference(type_name: str, plan_type: object, inp: CalcInput) -> pd.DataFrame:
    own = getattr(plan_type, "reference_calculate", None)
    if own is not None:
        return own(inp)
    return reference_calculate(type_name, inp)


def calculate_period(book: PlanBook, period: CalcPeriod, plan_year: CalcPeriod, *, credits: pd.DataFrame,
                     payees: pd.DataFrame, quotas: pd.DataFrame | None = None,
                     prior_lines: pd.DataFrame | None = None, scores: pd.DataFrame | None = None,
                     assignments: pd.DataFrame | None = None, statuses: tuple[str, ...] = ("active",),
                     plans: Iterable[tuple[str, int]] | None = None,
                     implementation: Literal["vectorised", "reference"] = "vectorised") -> pd.DataFrame:
    """Every line of ``period`` for every assigned payee of every plan in ``book``.

    ``payees`` is the payees table (payee_id, role, team_id, region_id, hire_date,
    termination_date, currency; ``manager_id`` optional). ``assignments`` is the
    ``plan_assignments`` table (optional). ``prior_lines`` carries ``plan_id`` and
    :data:`PRIOR_LINE_COLUMNS`. ``plans`` limits the run to some (plan_id, version) keys.
    """
    assigned = resolve_assignments(book, payees, period, plan_year, assignments, statuses)
    if len(assigned) == 0:
        return _empty_result()
    people = payees.copy()
    people["payee_id"] = people["payee_id"].astype(str)
    for col in ("manager_id", "region_id", "team_id", "termination_date"):
        if col not in people:
            people[col] = None
    wanted = set(plans) if plans is not None else None
    base = prepare_base(credits, assigned)  # once for every plan: positions, days, walk order
    out = []
    for (plan_id, version), rows in assigned.groupby(["plan_id", "plan_version"]):  # one per plan version
        if wanted is not None and (plan_id, int(version)) not in wanted:
            continue
        plan = book.get(plan_id, int(version))
        merged = rows.drop(columns=["plan_id", "plan_version"]).merge(people, on="payee_id", how="left")
        out.append(calculate_plan(plan, period, plan_year, credits=base, payees=merged, quotas=quotas,
                                  prior_lines=prior_lines, scores=scores, implementation=implementation))
    out = [o for o in out if len(o)]
    if not out:
        return _empty_result()
    return pd.concat(out, ignore_index=True)
