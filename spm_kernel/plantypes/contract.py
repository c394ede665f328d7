"""The plan-type contract: what a plan type receives and what it must return.

A plan type is called once per (plan version, component, period) with **every payee** the
component pays, as DataFrames (vectorised: never loop over payees or credits in Python).

Input (:class:`CalcInput`)
--------------------------
``config``        the component's options, validated by the plan type's ``config_model``.
``plan_id``, ``plan_version``, ``component`` identify the component.
``period``        the period being calculated (id, first day, last day, inclusive).
``plan_year``     the plan (fiscal) year that contains the period.
``credits``       the credits of every payee the component pays dated in
                  ``PlanType.credit_window(config, period, plan_year)`` (by default
                  plan-year start .. period end, both inclusive; given as ``credit_window``).
                  To avoid copying millions of rows the orchestrator may pass a larger frame
                  (other payees, other dates): ``inp.own_credits()`` gives exactly the rows
                  above; the built-in plan types skip the others themselves. Columns:
                  :data:`CREDIT_COLUMNS`. ``amount`` is a ``Decimal`` already converted to the
                  plan currency (cancellations and refunds are negative); the engine may add
                  ``amount_minor`` (int64, the amount in minor units) to save a conversion.
                  ``credit_date`` is a pandas datetime64 column. Cumulative walks go in
                  (payee, credit_date, credit_id) order; a caller that passes the rows
                  already in that order (``ORDER BY payee_id, credit_date, credit_id``) and
                  with ``amount_minor`` saves the plan types a sort and a conversion; an
                  int64 ``walk_order`` column ordered like ``credit_id`` (e.g. DuckDB's
                  ``row_number() OVER (ORDER BY credit_id)``) saves the string sort.
``quotas``        :data:`QUOTA_COLUMNS`: every quota row of these payees whose period
                  intersects the credit window (``amount`` Decimal, plan currency).
``payees``        :data:`PAYEE_COLUMNS`: one row per payee the component pays.
                  ``target_incentive`` (Decimal, annual, may be missing). ``assigned_from`` /
                  ``assigned_to`` (dates, ``assigned_to`` may be missing): the payee's
                  assignment to this plan version (not clipped to the period). Every credit
                  of the measure counts toward the measure and attainment, but only credits
                  dated inside the assignment *earn* for this version (``by_credit_date``).
                  ``proration`` (Decimal in [0, 1]): the factor a plan type applies to its
                  fixed per-period amounts (draws, MBO targets): the share of the period's
                  days the payee is on this version under ``prorate_by_days``, and 1 or 0
                  under ``by_credit_date`` (1 for the version in effect on the payee's last
                  assigned day of the period).
``prior_lines``   :data:`PRIOR_LINE_COLUMNS`: the payout lines already produced for these
                  payees by *this plan* (any version, every component: filter on
                  ``component``) in earlier periods from
                  ``PlanType.history_start(config, period, plan_year)`` (default: plan-year
                  start), already narrowed by the orchestrator to the lines this version must
                  count as "already paid". This is what lets a
                  retroactive rate pay "new year-to-date total minus already earned", a
                  plan-year cap see what was paid, a draw know its balance, a hold be released.
``current_lines`` :data:`LINE_COLUMNS`: lines already produced *in this period* by the
                  components listed earlier in the same plan (draws and total-pay caps look
                  at them).
``scores``        :data:`SCORE_COLUMNS`: manager scores (0..1 or more) per payee, objective
                  and period, for MBOs and score gates (may be empty; the plan may also
                  supply scores inline).
``currency``, ``rounding`` (a ``decimal`` rounding-mode name) and ``minor_units`` (2 for USD,
0 for JPY): every returned ``amount`` is rounded to ``minor_units`` with ``rounding``.

Output: payout lines
--------------------
A DataFrame with :data:`LINE_COLUMNS`, one row per (payee, line) for *this period only*:

``payee_id``, ``component``; ``line_type`` one of :data:`LINE_TYPES`; ``amount`` a
``Decimal`` rounded to the minor unit (negative for clawbacks, recoveries, cap forfeits,
holds and carry-forward deferrals); ``status`` ``payable`` or ``held``.
Explanation: ``measure`` (name), ``measure_value`` (Decimal, window-to-date at period end),
``attainment`` (Decimal or None), ``tier`` (label or ""), ``rate`` (Decimal or None),
``formula`` (text with its numbers, e.g. ``"step: 10,000.00 x 4% + 4,000.00 x 6% = 640.00"``),
``credit_ids`` (list of the credit ids behind the line), ``reference`` (what the line refers
to: the original transaction of a clawback, the period of a hold being released; "" if none).

Sign conventions: the amount paid for a period is the sum of its lines. A ``hold`` line is
negative with status ``held`` (money earned but withheld); the matching ``release`` line in a
later period is positive and ``payable``. ``cap_forfeit`` and ``carry_forward`` (deferred
excess) are negative; ``carry_forward_release`` pays a deferred excess later. ``draw_topup``
is positive, ``draw_recovery`` negative. ``gate_adjustment`` reduces (or raises) one
period's earnings when a per-period gate such as a quality score applies.

A plan type returns no line for a payee with nothing to say (zero lines may be omitted,
except that an ``earning`` line of 0 is kept when the payee has credits, so a statement can
explain why nothing was earned).

Orchestration
-------------
:func:`spm_kernel.plans.calculate_period` (every plan of a :class:`spm_kernel.plans.PlanBook`)
and :func:`spm_kernel.plans.calculate_plan` (one plan version) run the components in file
order for one period: they resolve assignments (by payee, role or team, effective-dated,
from the plan files and the ``plan_assignments`` table), build each component's
``CalcInput`` from whole-workspace frames (credits, quotas, payees, prior lines, scores),
call the plan types, check their output and return every line with ``plan_id`` and
``plan_version`` added. The engine calls them; a plan type never needs to.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal

import pandas as pd
from pydantic import BaseModel

CREDIT_COLUMNS: tuple[str, ...] = (
    "credit_id", "payee_id", "transaction_id", "opportunity_id", "credit_date", "credit_type",
    "kind", "amount", "product", "segment", "deal_type", "region_id", "original_transaction_id",
)
# Optional credit columns a plan type may use when present: ``amount_minor`` (int64 minor
# units), ``walk_order`` (int64, ordered like ``credit_id``), ``share`` (Decimal, the payee's
# share of the transaction), ``discount`` (Decimal fraction off list price, from the deal),
# ``rule`` (the crediting rule).
OPTIONAL_CREDIT_COLUMNS: tuple[str, ...] = ("amount_minor", "walk_order", "share", "discount", "rule")
CREDIT_TYPES: tuple[str, ...] = ("direct", "split", "overlay", "rollup", "rule")
TRANSACTION_KINDS: tuple[str, ...] = ("booking", "invoice", "payment", "cancellation", "refund")
QUOTA_COLUMNS: tuple[str, ...] = ("payee_id", "measure", "period_start", "period_end", "amount")
PAYEE_COLUMNS: tuple[str, ...] = (
    "payee_id", "role", "team_id", "region_id", "manager_id", "hire_date", "termination_date",
    "target_incentive", "proration", "assigned_from", "assigned_to",
)
SCORE_COLUMNS: tuple[str, ...] = ("payee_id", "objective", "period_id", "score")
LINE_COLUMNS: tuple[str, ...] = (
    "payee_id", "component", "line_type", "amount", "status",
    "measure", "measure_value", "attainment", "tier", "rate", "formula", "credit_ids", "reference",
)
PRIOR_LINE_COLUMNS: tuple[str, ...] = ("period_id", "period_start", "period_end", "plan_version",
                                       *LINE_COLUMNS)
LINE_TYPES: tuple[str, ...] = (
    "earning", "bonus", "spiff", "mbo", "draw_topup", "draw_recovery", "clawback",
    "cap_forfeit", "carry_forward", "carry_forward_release", "hold", "release", "gate_adjustment",
    "adjustment",
)
LINE_STATUSES: tuple[str, ...] = ("payable", "held")


@dataclass(frozen=True)
class CalcPeriod:
    """A calculation period or plan year: ``start`` and ``end`` are both inclusive."""

    period_id: str
    start: date
    end: date

    def __post_init__(self) -> None:
        if self.end < self.start:
            raise ValueError(f"period {self.period_id!r} ends ({self.end}) before it starts ({self.start})")

    @property
    def days(self) -> int:
        return (self.end - self.start).days + 1


def empty_frame(columns: tuple[str, ...]) -> pd.DataFrame:
    """An empty DataFrame with ``columns`` (object dtype), for inputs a caller does not have."""
    return pd.DataFrame({c: pd.Series([], dtype=object) for c in columns})


@dataclass(frozen=True)
class CalcInput:
    """Everything a plan type needs to pay one component of one plan for one period.

    See the module docstring for each field's contract.
    """

    plan_id: str
    plan_version: int
    component: str
    config: BaseModel
    period: CalcPeriod
    plan_year: CalcPeriod
    credits: pd.DataFrame
    quotas: pd.DataFrame = field(default_factory=lambda: empty_frame(QUOTA_COLUMNS))
    payees: pd.DataFrame = field(default_factory=lambda: empty_frame(PAYEE_COLUMNS))
    prior_lines: pd.DataFrame = field(default_factory=lambda: empty_frame(PRIOR_LINE_COLUMNS))
    current_lines: pd.DataFrame = field(default_factory=lambda: empty_frame(LINE_COLUMNS))
    scores: pd.DataFrame = field(default_factory=lambda: empty_frame(SCORE_COLUMNS))
    currency: str = "USD"
    rounding: str = "ROUND_HALF_UP"
    minor_units: int = 2
    credit_window: tuple[date, date] | None = None

    @property
    def quantum(self) -> Decimal:
        """The smallest amount of the currency, e.g. ``Decimal('0.01')``."""
        return Decimal(1).scaleb(-self.minor_units)

    def own_credits(self) -> pd.DataFrame:
        """Exactly the credits of ``payees`` dated inside ``credit_window``.

        The orchestrator may hand every plan type the same, larger frame (all payees of the
        calculation, the union of the components' windows) so that nothing is copied;
        ``credits`` then also holds rows a plan type must ignore. Plan types that work on
        the full columns call this; the built-ins walk integer columns instead.
        """
        credits = self.credits
        if len(credits) == 0:
            return credits
        keep = credits["payee_id"].astype(str).isin(set(self.payees["payee_id"].astype(str))).to_numpy()
        if self.credit_window is not None:
            when = pd.to_datetime(credits["credit_date"])
            keep = keep & ((when >= pd.Timestamp(self.credit_window[0])) & (when <= pd.Timestamp(self.credit_window[1]))).to_numpy()
        return credits if keep.all() else credits.loc[keep]


def check_lines(lines: pd.DataFrame, minor_units: int = 2) -> pd.DataFrame:
    """Check that ``lines`` honours the output contract; return it with columns in order.

    Raises ``ValueError`` naming the first problem: a missing column, an unknown line type or
    status, or an amount that is not a ``Decimal`` rounded to ``minor_units``.
    """
    missing = [c for c in LINE_COLUMNS if c not in lines.columns]
    if missing:
        raise ValueError(f"payout lines lack column(s) {missing}")
    bad_type = set(lines["line_type"]) - set(LINE_TYPES)
    if bad_type:
        raise ValueError(f"unknown line_type(s) {sorted(bad_type)}; expected one of {LINE_TYPES}")
    bad_status = set(lines["status"]) - set(LINE_STATUSES)
    if bad_status:
        raise ValueError(f"unknown status(es) {sorted(bad_status)}; expected one of {LINE_STATUSES}")
    quantum = Decimal(1).scaleb(-minor_units)
    for value in lines["amount"]:
        if not isinstance(value, Decimal) or value != value.quantize(quantum):
            raise ValueError(f"payout line amount {value!r} is not a Decimal rounded to {quantum}")
    return lines.loc[:, list(LINE_COLUMNS)]
