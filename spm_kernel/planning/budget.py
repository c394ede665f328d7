"""Compensation budget: what a plan will cost with a quota set, computed by the engine.

>>> budget = compensation_budget(ws, "budget-plan", qs, samples=200)     # doctest: +SKIP
>>> budget.total        # expected cost, revenue, cost of sales, P10/P50/P90, previous year
>>> budget.by_team      # the same per team (and by_region, by_payee)

**How.** The plan is run by the compensation engine itself (:func:`spm_kernel.plans`
through :func:`spm_kernel.engine.calculate.period_lines`, month by month through the plan
year with each month's lines as the next month's prior lines, exactly as ``ws.compare``
does), on *hypothetical credits*, with the quota set's quotas, and nothing is written:

* **Expected bookings** per payee and month (base currency):

  - ``bookings="forecast"`` (default): the installed forecaster's monthly **means** give the
    point estimate, and its joint **samples** the distribution (P10/P50/P90). Payees it has
    no series for (new hires) are budgeted at 100% of their quota. With no forecaster
    installed, a :class:`PlanningWarning` says so and the budget falls back to ``"quota"``;
  - ``bookings="quota"``: every payee books exactly their quota rows (spread evenly over
    each period's months): the cost of the plan at 100% attainment, no distribution;
  - a DataFrame ``payee_id, month, value`` (optional ``sample``) of your own.

* **Hypothetical credits**: each payee-month amount is converted to the payee's currency
  at the planning rate (:mod:`spm_kernel.planning.fx`) and split, by largest remainder on
  cents, into one credit per *mix cell*: the values of ``mix`` columns (default
  ``("deal_type",)``) in the proportions of the payee's segment's won deals of the previous
  fiscal year (the company's when the segment has none). At quota, only the deal types the
  quota set counts (its ``deal_types``) are in the mix, so the whole quota is booked where
  the plan's measure looks. Each credit is a ``booking``, dated
  the 15th of its month, credited ``direct`` to the payee and rolled up (``rollup``) to every
  manager above them in the hierarchy in force on that date, in each manager's currency.
  Components that count deals (a SPIFF per deal) see one deal per payee, month and mix cell:
  budget them with care.
* **Samples** run in ONE engine pass: every payee is replicated once per sample (``P1#s7``)
  with their quotas, hierarchy and assignments, so the engine computes all samples
  vectorised.
* **Cost** is the sum of each payee's payout lines (their currency) but holds, releases and
  carry-forwards (which only move a payment to another period: the cost accrues when it is
  earned), converted to the base currency at the planning rate per payee; ``total["cash"]``
  is the sum of every line (what would be paid within the year). **Cost of sales** = cost /
  expected bookings.
  Team and region totals follow the payees table; quantiles are taken over the samples of
  each total (team, region and company totals of a sample are sums of the same draw).
* **Previous year**: cost and bookings of the fiscal year before, with cost from the ledger
  (the effective runs of its months) when every month was calculated, else recomputed by
  running the plans in force that year on the actual credits (nothing written); bookings
  are won deals (:mod:`spm_kernel.planning.history`), of the quota set's deal types when the
  budget is at quota, so cost of sales compares like with like.
"""

from __future__ import annotations

import dataclasses
import warnings
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from spm_kernel.money import decimals_to_minor, minor_to_decimals, minor_units, round_div
from spm_kernel.planning.allocation import allocate_by_group
from spm_kernel.planning.errors import PlanningError, PlanningWarning
from spm_kernel.planning.forecast import forecast_bookings
from spm_kernel.planning.fx import planning_rates, to_base_sql
from spm_kernel.planning.history import credited_won_deals, monthly_bookings
from spm_kernel.planning.roster import PlanYear, plan_year

if TYPE_CHECKING:
    from spm_kernel.planning.quota_sets import QuotaSet
    from spm_kernel.planning.quotas import QuotaPlan
    from spm_kernel.plans import Plan
    from spm_kernel.workspace import Workspace

SAMPLE_SEP = "#s"
QUANTILES = (0.1, 0.5, 0.9)


@dataclass
class CompensationBudget:
    """The result of :func:`compensation_budget`. Money is ``Decimal`` in the base currency
    unless a column says otherwise; P10/P50/P90 (and ``total["mean"]``) are over the forecast
    samples (None without samples). ``total["cost"]`` is the cost at the mean bookings: with
    accelerators and thresholds pay is not linear in bookings, so it can sit below the mean
    (even the P10) of the sampled costs, which is the better estimate of what the year will
    cost."""

    plan: str
    quota_set: str | None
    fiscal_year: int
    base_currency: str
    bookings_source: str
    samples: int
    total: dict[str, Any]
    by_payee: pd.DataFrame
    by_team: pd.DataFrame
    by_region: pd.DataFrame
    distribution: pd.DataFrame
    previous: dict[str, Any]
    lines: pd.DataFrame
    notes: list[str] = field(default_factory=list)

    def comparison(self) -> pd.DataFrame:
        """Budget against the previous fiscal year: cost, bookings and cost of sales."""
        p, t = self.previous, self.total
        rows = []
        for label, key in (("compensation cost", "cost"), ("bookings", "bookings"), ("cost of sales", "cost_of_sales")):
            budget, before = t.get(key), p.get(key)
            change = None
            if budget is not None and before not in (None, 0):
                change = float(budget) / float(before) - 1.0
            rows.append({"figure": label, f"FY{self.fiscal_year} budget": budget,
                         f"FY{self.fiscal_year - 1} actual": before, "change": change})
        return pd.DataFrame(rows)

    def __repr__(self) -> str:
        t = self.total
        spread = "" if t.get("p50") is None else \
            f", P10 {t['p10']:,.0f} / P50 {t['p50']:,.0f} / P90 {t['p90']:,.0f}"
        return (f"<CompensationBudget {self.plan} FY{self.fiscal_year}: cost {t['cost']:,.2f} {self.base_currency} "
                f"on bookings {t['bookings']:,.2f} ({t['cost_of_sales']:.2%}){spread}>")


# ---- inputs ----
def _quota_rows(ws: Workspace, quota_set: QuotaSet | QuotaPlan | str | None, year: PlanYear
                ) -> tuple[pd.DataFrame, str | None, str]:
    """Quota rows (payee_id, measure, period_start, period_end, amount, currency), the set's
    label and its period measure."""
    from spm_kernel.planning.quota_sets import QuotaSet
    from spm_kernel.planning.quotas import QuotaPlan

    if isinstance(quota_set, str):
        quota_set = ws.quota_sets.get(quota_set)
    if isinstance(quota_set, QuotaSet):
        return quota_set.quotas(), quota_set.key, quota_set.measure
    if isinstance(quota_set, QuotaPlan):
        cols = ["payee_id", "measure", "period_start", "period_end", "amount", "currency"]
        return quota_set.lines.loc[:, cols].copy(), "draft allocation", quota_set.settings.measure
    rows = ws.sql("SELECT payee_id, measure, period_start, period_end, amount, currency FROM quotas "
                  "WHERE period_start BETWEEN ? AND ?", [year.start, year.end])
    return rows, None, "bookings"


def _spread_quota(quotas: pd.DataFrame, measure: str, year: PlanYear) -> pd.DataFrame:
    """Each payee's ``measure`` rows spread evenly over their months: payee_id, month,
    minor (payee currency), currency."""
    rows = quotas.loc[quotas["measure"] == measure].reset_index(drop=True)
    if rows.empty:
        raise PlanningError(f"the quotas have no rows of measure {measure!r} in FY{year.fiscal_year} to budget at")
    months = pd.DataFrame({"month": list(year.months)})
    cross = rows.assign(row=np.arange(len(rows))).merge(months, how="cross")
    inside = (cross["month"] >= pd.to_datetime(cross["period_start"]).dt.date) & \
             (cross["month"] <= pd.to_datetime(cross["period_end"]).dt.date)
    cross = cross.loc[inside.to_numpy()].reset_index(drop=True)
    places = np.array([minor_units(c) for c in rows["currency"]])
    total_minor = np.array([int(a.scaleb(int(p))) for a, p in zip(rows["amount"], places)], dtype=np.int64)
    minor = allocate_by_group(total_minor, cross["row"].to_numpy(), np.ones(len(cross), dtype=np.int64))
    return pd.DataFrame({"payee_id": cross["payee_id"].astype(str), "month": cross["month"],
                         "minor": minor, "currency": cross["currency"]})


def _mix(ws: Workspace, year: PlanYear, mix: tuple[str, ...], deal_types: tuple[str, ...] | None = None
         ) -> pd.DataFrame:
    """Mix weights per segment: ``segment, cell, <mix columns>, weight`` (cents of the
    previous year's won deals of ``deal_types``); segment ``*`` is the company's mix."""
    prev_start = date(year.start.year - 1, year.start.month, 1)
    won = credited_won_deals(ws, prev_start, year.start - timedelta(days=1), deal_types)
    deals = ws.sql(f"""WITH d AS ({to_base_sql(f"({won})",
                                              ws.config.base_currency)})
                       SELECT segment, {', '.join(mix) + ',' if mix else ''} sum(base_amount) AS amount
                       FROM d GROUP BY ALL""")
    cols = list(mix)
    if deals.empty or not cols:
        return pd.DataFrame({"segment": ["*"], "cell": [0], **{c: [None] for c in cols}, "weight": [1]})
    deals["weight"] = [max(int(Decimal(a) * 100), 0) if a is not None else 0 for a in deals["amount"]]
    company = deals.groupby(cols, as_index=False, dropna=False)["weight"].sum().assign(segment="*")
    by_segment = deals.groupby(["segment", *cols], as_index=False, dropna=False)["weight"].sum()
    out = pd.concat([by_segment, company], ignore_index=True)
    out = out.loc[out["weight"] > 0].reset_index(drop=True)
    out["cell"] = out.groupby("segment").cumcount()
    return out.loc[:, ["segment", "cell", *cols, "weight"]]


def _ancestors(hierarchy: pd.DataFrame, payees: np.ndarray, day: date) -> pd.DataFrame:
    """(payee_id, ancestor, level) for the reporting lines in force on ``day`` (level 1 =
    the manager); ``hierarchy`` is the hierarchy table."""
    valid = (pd.to_datetime(hierarchy["valid_from"]) <= pd.Timestamp(day)) & \
        (hierarchy["valid_to"].isna() | (pd.to_datetime(hierarchy["valid_to"]) > pd.Timestamp(day)))
    h = hierarchy.loc[valid.to_numpy() & hierarchy["manager_id"].notna().to_numpy()]
    up = dict(zip(h["payee_id"], h["manager_id"]))
    frame = pd.DataFrame({"payee_id": payees, "current": payees})
    out, level = [], 0
    while len(frame) and level < 50:  # one vectorised step per level of the tree
        level += 1
        frame = frame.assign(current=frame["current"].map(up)).dropna(subset=["current"])
        frame = frame.loc[frame["current"] != frame["payee_id"]]
        out.append(frame.assign(level=level))
    if not out:
        return pd.DataFrame({"payee_id": [], "ancestor": [], "level": []})
    return pd.concat(out, ignore_index=True).rename(columns={"current": "ancestor"})


def _credits(ws: Workspace, bookings: pd.DataFrame, people: pd.DataFrame, rates: dict[str, Decimal],
             mix: pd.DataFrame, mix_cols: tuple[str, ...], year: PlanYear,
             rollup_to: set[str] | None = None) -> pd.DataFrame:
    """The hypothetical credits (engine credit frame) of ``bookings``: payee_id (maybe a
    sample clone), origin (the real payee), month, minor (payee currency)."""
    info = people.set_index("payee_id")
    seg = info["segment"].reindex(bookings["origin"]).to_numpy(dtype=object)
    known = set(mix["segment"])
    seg_key = np.where(pd.Series(seg).isin(known).to_numpy(), seg, "*")
    b = bookings.assign(segment=seg_key, row=np.arange(len(bookings)))
    cells = b.merge(mix, on="segment", how="left").sort_values("row", kind="stable").reset_index(drop=True)
    minor = allocate_by_group(b["minor"].to_numpy(dtype=np.int64), cells["row"].to_numpy(), cells["weight"].to_numpy(
        dtype=np.int64))
    cells["minor"] = minor
    cells = cells.loc[cells["minor"] != 0].reset_index(drop=True)
    ids = (cells["payee_id"].astype(str) + "/" + cells["month"].astype(str) + "/" + cells["cell"].astype(str))
    region = info["region_id"].reindex(cells["origin"]).to_numpy(dtype=object)
    direct = pd.DataFrame({
        "credit_id": "budget/" + ids + "/direct", "payee_id": cells["payee_id"].astype(str),
        "transaction_id": "budget/" + ids, "opportunity_id": "budget/" + ids,
        "credit_date": pd.to_datetime(cells["month"]) + pd.Timedelta(days=14), "credit_type": "direct",
        "kind": "booking", "minor": cells["minor"].to_numpy(dtype=np.int64), "currency": cells["currency"],
        "product": cells["product"] if "product" in mix_cols else None,
        "segment": info["segment"].reindex(cells["origin"]).to_numpy(dtype=object),
        "deal_type": cells["deal_type"] if "deal_type" in mix_cols else "new",
        "region_id": region, "original_transaction_id": None, "rule": "owner", "share": Decimal(100),
        "origin": cells["origin"].to_numpy(dtype=object), "sample": cells["sample"].to_numpy(dtype=np.int64),
    })
    parts = [direct]
    currency_of = info["currency"]
    hierarchy = ws.sql("SELECT payee_id, valid_from, valid_to, manager_id FROM hierarchy")
    for month in year.months:  # roll-ups along the hierarchy in force on each credit date
        day = month + timedelta(days=14)
        part = direct.loc[(direct["credit_date"] == pd.Timestamp(day)).to_numpy()]
        if part.empty:
            continue
        anc = _ancestors(hierarchy, part["origin"].unique(), day)
        if rollup_to is not None:  # only managers the plan pays need their roll-up credits
            anc = anc.loc[anc["ancestor"].isin(rollup_to)]
        if anc.empty:
            continue
        up = part.merge(anc, left_on="origin", right_on="payee_id", suffixes=("", "_a"))
        if up.empty:
            continue
        target_cur = currency_of.reindex(up["ancestor"]).to_numpy(dtype=object)
        src_rate = np.array([rates[c] for c in up["currency"]], dtype=object)
        dst_rate = np.array([rates[c] for c in target_cur], dtype=object)
        # minor (source) -> base -> target minor, half up, exact with integer ratios
        num = np.array([r.as_integer_ratio() for r in src_rate], dtype=object)
        den = np.array([r.as_integer_ratio() for r in dst_rate], dtype=object)
        src_scale = np.array([10 ** minor_units(c) for c in up["currency"]], dtype=object)
        dst_scale = np.array([10 ** minor_units(c) for c in target_cur], dtype=object)
        numerator = up["minor"].to_numpy(dtype=object) * num[:, 0] * den[:, 1] * dst_scale
        denominator = num[:, 1] * den[:, 0] * src_scale
        converted = round_div(numerator, denominator).astype(np.int64)
        clone = up["payee_id"].astype(str).str.contains(SAMPLE_SEP, regex=False).to_numpy()
        suffix = np.where(clone, SAMPLE_SEP + up["sample"].astype(str), "")
        parts.append(pd.DataFrame({
            "credit_id": up["credit_id"].str.replace("/direct", "", regex=False) + "/rollup/" + up["ancestor"],
            "payee_id": up["ancestor"].astype(str) + suffix, "transaction_id": up["transaction_id"],
            "opportunity_id": up["opportunity_id"], "credit_date": up["credit_date"], "credit_type": "rollup",
            "kind": "booking", "minor": converted, "currency": target_cur, "product": up["product"],
            "segment": up["segment"], "deal_type": up["deal_type"], "region_id": up["region_id"],
            "original_transaction_id": None, "rule": "hierarchy", "share": Decimal(100),
            "origin": up["ancestor"].to_numpy(dtype=object), "sample": up["sample"].to_numpy(dtype=np.int64)}))
    credits = pd.concat(parts, ignore_index=True)
    amount = np.empty(len(credits), dtype=object)
    for cur in pd.unique(credits["currency"]):  # a few currencies
        rows = (credits["currency"] == cur).to_numpy()
        amount[rows] = minor_to_decimals(credits.loc[rows, "minor"].to_numpy(dtype=np.int64), minor_units(str(cur)))
    credits["amount"] = amount
    credits["amount_minor"] = credits["minor"].astype(np.int64)
    credits["credit_date"] = credits["credit_date"].astype("datetime64[ms]")
    return credits.drop(columns=["minor"]).sort_values(["payee_id", "credit_date", "credit_id"]).reset_index(drop=True)


def _clone(frame: pd.DataFrame, columns: list[str], samples: int) -> pd.DataFrame:
    """``frame`` once per sample, with ``columns`` suffixed ``#s<k>`` (missing values kept)."""
    k = np.repeat(np.arange(samples), len(frame))
    out = pd.concat([frame] * samples, ignore_index=True)
    for col in columns:
        values = out[col].astype(object)
        has = values.notna().to_numpy()
        out[col] = np.where(has, values.astype(str) + SAMPLE_SEP + k.astype(str), None)
    return out.assign(sample=k)


def _clone_plan(plan: Plan, samples: int) -> Plan:
    """``plan`` with every payee assignment repeated for each sample clone."""
    specs = []
    for a in plan.spec.assignments:
        if a.payee is None:
            specs.append(a)
        else:
            specs.extend(a.model_copy(update={"payee": f"{a.payee}{SAMPLE_SEP}{k}"}) for k in range(samples))
    return dataclasses.replace(plan, spec=plan.spec.model_copy(update={"assignments": specs}))


def run_plan_on(ws: Workspace, plan: Plan, year: PlanYear, credits: pd.DataFrame, quotas: pd.DataFrame,
                people: pd.DataFrame | None = None, hierarchy: pd.DataFrame | None = None,
                assignments: pd.DataFrame | None = None, progress: bool = False) -> pd.DataFrame:
    """Run ``plan`` (in force for the whole plan year) month by month on ``credits`` and
    ``quotas`` with the engine; nothing is written. Returns every payout line with
    ``period_id``."""
    from spm_kernel.engine.calculate import load_inputs, period_lines
    from spm_kernel.engine.compare import in_force
    from spm_kernel.periods import parse_period
    from spm_kernel.plans import PlanBook

    book = PlanBook([in_force(plan, year.start, year.end)])
    inputs = load_inputs(ws, book, credits)
    q = quotas.loc[:, ["payee_id", "measure", "period_start", "period_end", "amount"]].copy()
    for col in ("period_start", "period_end"):
        q[col] = pd.to_datetime(q[col]).dt.date
    inputs = dataclasses.replace(inputs, quotas=q.reset_index(drop=True), statuses=("active",))
    if people is not None:
        inputs = dataclasses.replace(inputs, people=people)
    if hierarchy is not None:
        inputs = dataclasses.replace(inputs, hierarchy=hierarchy)
    if assignments is not None:
        inputs = dataclasses.replace(inputs, assignments=assignments)
    done: list[pd.DataFrame] = []
    fsm = ws.config.fiscal_year_start_month
    months = [parse_period(f"{m.year:04d}-{m.month:02d}", fsm) for m in year.months]
    for period in tqdm(months, desc=f"budget {plan.plan_id}", unit="month", disable=not progress, leave=False):
        prior = pd.concat(done, ignore_index=True) if done else pd.DataFrame()
        lines = period_lines(inputs, period, prior)
        if len(lines):
            done.append(lines.assign(period_id=period.period_id, period_start=period.start, period_end=period.end))
    if not done:
        return pd.DataFrame({c: pd.Series([], dtype=object) for c in ("payee_id", "amount", "currency", "period_id")})
    return pd.concat(done, ignore_index=True)


DEFERRALS = ("hold", "release", "carry_forward", "carry_forward_release")


def accrued(lines: pd.DataFrame) -> pd.DataFrame:
    """The lines that make the cost: all but holds, releases and carry-forwards, which only
    move a payment to another period (the cost accrues when it is earned)."""
    if lines.empty or "line_type" not in lines.columns:
        return lines
    return lines.loc[~lines["line_type"].isin(DEFERRALS).to_numpy()]


def _to_base_cents(lines: pd.DataFrame, rates: dict[str, Decimal], keys: list[str]) -> pd.DataFrame:
    """Sum of lines per ``keys`` and currency (``cost_local``, Decimal), converted to base
    cents at the planning rate (``cost_cents``, half up)."""
    if lines.empty:
        return pd.DataFrame({**{k: [] for k in keys}, "currency": [], "cost_local": [], "cost_cents": []})
    parts = []
    for cur in pd.unique(lines["currency"]):  # a few currencies, each converted in C
        rows = lines.loc[(lines["currency"] == cur).to_numpy()]
        minor = decimals_to_minor(rows["amount"], minor_units(str(cur)), "payout line amount")
        parts.append(rows.loc[:, keys].assign(currency=cur, minor=minor))
    sums = pd.concat(parts, ignore_index=True).groupby([*keys, "currency"], as_index=False)["minor"].sum()
    sums["cost_cents"] = _base_cents(sums["minor"], sums["currency"], rates)
    local = np.empty(len(sums), dtype=object)
    for cur in pd.unique(sums["currency"]):
        rows = (sums["currency"] == cur).to_numpy()
        local[rows] = minor_to_decimals(sums.loc[rows, "minor"].to_numpy(dtype=np.int64), minor_units(str(cur)))
    sums["cost_local"] = local
    return sums.drop(columns=["minor"])


def _money(cents: Any) -> Any:
    if cents is None or (isinstance(cents, float) and np.isnan(cents)):
        return None
    return Decimal(int(round(float(cents)))).scaleb(-2) if not isinstance(cents, (int, np.integer)) else \
        Decimal(int(cents)).scaleb(-2)


def _share(cost: Any, revenue: Any) -> float | None:
    return float(cost) / float(revenue) if revenue not in (None, 0) and float(revenue) != 0 else None


def previous_year(ws: Workspace, fiscal_year: int, plan: Plan | None = None,
                  rates: dict[str, Decimal] | None = None, progress: bool = False,
                  deal_types: tuple[str, ...] | None = None) -> dict[str, Any]:
    """Cost, bookings and cost of sales of ``fiscal_year`` (base currency): cost from the
    ledger when every month of it was calculated, else recomputed with the engine (the plans
    in force that year, or ``plan``) on the actual credits, nothing written. Bookings are the
    year's won deals (of ``deal_types`` when given, to compare like with like)."""
    from spm_kernel.crediting import compute_credits, drop_credits, read_crediting_config
    from spm_kernel.engine.calculate import credits_frame, load_book
    from spm_kernel.engine.ledger import effective_runs, ledger_lines

    fsm = ws.config.fiscal_year_start_month
    year = plan_year(fiscal_year, fsm)
    booked = monthly_bookings(ws, year.start, year.end, deal_types)
    bookings = sum(booked["amount"], Decimal(0)) if len(booked) else Decimal(0)
    runs = effective_runs(ws.con)
    months = runs.loc[(runs["kind"] == "month") & (pd.to_datetime(runs["start_date"]).dt.date >= year.start)
                      & (pd.to_datetime(runs["start_date"]).dt.date <= year.end)]
    currencies = set(ws.sql("SELECT DISTINCT currency FROM payees")["currency"])
    fx = planning_rates(ws, currencies, year.end, rates)
    if len(months) == 12 and plan is None:
        lines = ledger_lines(ws.con, [str(r) for r in months["run_id"]], "month", accounting_from=year.start,
                             accounting_before=year.end + timedelta(days=1))
        source = "ledger"
    else:
        plans = [plan] if plan is not None else [p for p in load_book(ws) if p.spec.status == "active"
                                                 and p.overlaps(year.start, year.end)]
        if not plans:
            return {"fiscal_year": fiscal_year, "cost": None, "bookings": bookings, "cost_of_sales": None,
                    "source": "none: no run and no plan in force that year"}
        try:  # the engine's own crediting, as ws.compare runs it (nothing is written)
            compute_credits(ws.con, year.start, year.end, read_crediting_config(ws.path), fiscal_year_start_month=fsm)
            credits = credits_frame(ws.con)
        finally:
            drop_credits(ws.con)
        quotas = ws.sql("SELECT payee_id, measure, period_start, period_end, amount FROM quotas "
                        "WHERE period_end >= ? AND period_start <= ?", [year.start, year.end])
        lines = pd.concat([run_plan_on(ws, p, year, credits, quotas, progress=progress) for p in plans],
                          ignore_index=True)
        source = "recomputed: " + ", ".join(f"{p.plan_id} v{p.version}" for p in plans)
    cost = _to_base_cents(accrued(lines), fx, [])
    cost_cents = int(cost["cost_cents"].sum()) if len(cost) else 0
    return {"fiscal_year": fiscal_year, "cost": _money(cost_cents), "bookings": bookings,
            "cost_of_sales": _share(cost_cents / 100, bookings), "source": source}


def compensation_budget(ws: Workspace, plan: Any, quota_set: QuotaSet | QuotaPlan | str | None = None, *,
                        fiscal_year: int | None = None, bookings: str | pd.DataFrame = "forecast",
                        samples: int = 200, forecaster: str | None = None,
                        fit_options: dict[str, Any] | None = None, mix: tuple[str, ...] = ("deal_type",),
                        rates: dict[str, Decimal] | None = None, compare_previous: bool = True,
                        previous_plan: Any = None, progress: bool = True) -> CompensationBudget:
    """The expected cost of ``plan`` (id, ``id@version``, a Plan or a plan file) with
    ``quota_set`` (a QuotaSet, its ``id@version``, a QuotaPlan, or None for the quotas
    table) for the plan year; see the module docstring for every step. ``previous_plan``
    (default: every plan in force then) is what last year is recomputed with when the ledger
    does not hold all of its months."""
    from spm_kernel.engine.calculate import load_book
    from spm_kernel.engine.compare import resolve_plan

    try:
        book = load_book(ws)
    except Exception:  # noqa: BLE001 - a broken plan file elsewhere must not block budgeting a given plan
        book = None
    the_plan = resolve_plan(ws, book, plan)
    fsm = ws.config.fiscal_year_start_month
    base = ws.config.base_currency
    fy = fiscal_year or getattr(quota_set, "fiscal_year", None) or \
        getattr(getattr(quota_set, "year", None), "fiscal_year", None)
    if fy is None:
        from spm_kernel.periods import fiscal_year_of

        fy = fiscal_year_of(the_plan.spec.effective_from, fsm)
    year = plan_year(int(fy), fsm)
    notes: list[str] = []
    if isinstance(quota_set, str):
        quota_set = ws.quota_sets.get(quota_set)
    quotas, qs_label, measure = _quota_rows(ws, quota_set, year)
    people = ws.sql("SELECT p.payee_id, p.name, p.role, coalesce(p.team_id, '(none)') AS team_id, "
                    "coalesce(p.region_id, t.region_id, '(none)') AS region_id, p.segment, p.currency "
                    "FROM payees p LEFT JOIN teams t ON t.team_id = p.team_id")
    fx = planning_rates(ws, set(people["currency"]), year.start, rates)
    currency_of = people.set_index("payee_id")["currency"]

    # ---- expected bookings per payee and month, in each payee's minor units ----
    at_quota = _spread_quota(quotas, measure, year)
    source = "quota"
    forecast_samples = None
    if isinstance(bookings, pd.DataFrame):
        frame = bookings.rename(columns={"period": "month"})
        means = frame.groupby(["payee_id", "month"], as_index=False)["value"].mean()
        forecast_samples = frame if "sample" in frame.columns else None
        source = "given"
    elif bookings == "forecast":
        fc = forecast_bookings(ws, year, forecaster=forecaster, samples=samples, fit_options=fit_options)
        if fc is None:
            message = ("no forecaster is installed (ws.registry.forecasters is empty): the budget is the cost at "
                       "100% of quota, without a distribution")
            warnings.warn(PlanningWarning(message), stacklevel=2)
            notes.append(message)
            means = None
        else:
            means = fc.means.rename(columns={"mean": "value"})
            forecast_samples = fc.samples
            source = f"forecast ({fc.forecaster}, {fc.sample_count} samples)"
    elif bookings == "quota":
        means = None
    else:
        raise PlanningError(f"bookings must be 'forecast', 'quota' or a DataFrame, not {bookings!r}")

    def to_local(frame: pd.DataFrame) -> pd.DataFrame:
        """base floats -> payee minor units at the planning rate (cents first, then half up)."""
        cur = currency_of.reindex(frame["payee_id"]).to_numpy(dtype=object)
        keep = pd.notna(cur)
        frame, cur = frame.loc[keep].reset_index(drop=True), cur[keep]
        cents = np.rint(frame["value"].astype(float).to_numpy() * 100).astype(np.int64).astype(object)
        ratio = np.array([fx[c].as_integer_ratio() for c in cur], dtype=object)
        scale = np.array([10 ** minor_units(c) for c in cur], dtype=object)
        minor = round_div(cents * ratio[:, 1] * scale, ratio[:, 0] * 100).astype(np.int64)
        return frame.assign(minor=minor, currency=cur)

    quota_payees = set(at_quota["payee_id"])
    holders = set(_holders(quota_set, people))  # managers and above earn from roll-ups
    if means is None:
        point = at_quota
    else:
        point = to_local(means.loc[:, ["payee_id", "month", "value"]])
        missing = sorted(quota_payees - holders - set(point["payee_id"]))
        if missing:
            notes.append(f"{len(missing)} payee(s) have no forecast series ({', '.join(missing[:10])}"
                         f"{', ...' if len(missing) > 10 else ''}): they are budgeted at 100% of quota")
            point = pd.concat([point.loc[:, ["payee_id", "month", "minor", "currency"]],
                               at_quota.loc[at_quota["payee_id"].isin(missing)]], ignore_index=True)
    point = point.loc[~point["payee_id"].isin(holders), ["payee_id", "month", "minor", "currency"]]
    point = point.assign(origin=point["payee_id"], sample=-1).reset_index(drop=True)
    # at quota, every credit falls in what the quota counts (its deal types); a forecast is of
    # every booking, split like last year's
    quota_types = _quota_deal_types(quota_set)
    mix_frame = _mix(ws, year, mix, quota_types if means is None else None)
    if means is None and quota_types:
        notes.append(f"at quota: bookings are {', '.join(quota_types)} deals, as the quota set counts them")

    # ---- the point estimate ----
    paid = _assigned(ws, the_plan, year)
    credits = _credits(ws, point, people, fx, mix_frame, mix, year, rollup_to=paid)
    lines = run_plan_on(ws, the_plan, year, credits, quotas, progress=progress)
    cost = _to_base_cents(accrued(lines), fx, ["payee_id"]) if len(lines) else None
    cash = _to_base_cents(lines, fx, []) if len(lines) else None
    booked = point.groupby(["payee_id", "currency"], as_index=False)["minor"].sum()
    booked_base = booked.assign(bookings_cents=_base_cents(booked["minor"], booked["currency"], fx)).drop(
        columns=["minor", "currency"])
    by_payee = people.merge(booked_base, on="payee_id", how="left")
    if cost is not None:
        by_payee = by_payee.merge(cost.drop(columns=["currency"]), on="payee_id", how="left")
    else:
        by_payee = by_payee.assign(cost_local=None, cost_cents=np.nan)
    by_payee = by_payee.loc[by_payee["bookings_cents"].notna() | by_payee["cost_cents"].notna()].copy()
    by_payee["bookings_cents"] = by_payee["bookings_cents"].fillna(0).astype(np.int64)
    by_payee["cost_cents"] = by_payee["cost_cents"].fillna(0).astype(np.int64)

    # ---- the distribution ----
    dist = pd.DataFrame()
    n_samples = 0
    if forecast_samples is not None and len(forecast_samples):
        fs = forecast_samples.rename(columns={"period": "month"})
        n_samples = int(fs["sample"].nunique())
        sample_ids = {s: i for i, s in enumerate(sorted(fs["sample"].unique()))}
        local = to_local(fs.loc[:, ["payee_id", "month", "value", "sample"]]).assign(
            sample=lambda f: f["sample"].map(sample_ids))
        missing_fc = sorted(quota_payees - holders - set(local["payee_id"]))
        if missing_fc:  # new hires: at quota in every sample
            extra = at_quota.loc[at_quota["payee_id"].isin(missing_fc)]
            local = pd.concat([local.loc[:, ["payee_id", "month", "minor", "currency", "sample"]],
                               extra.loc[extra.index.repeat(n_samples)].assign(
                                   sample=np.tile(np.arange(n_samples), len(extra)))], ignore_index=True)
        local = local.loc[~local["payee_id"].isin(holders)]
        clones = local.assign(origin=local["payee_id"],
                              payee_id=local["payee_id"].astype(str) + SAMPLE_SEP + local["sample"].astype(str))
        s_credits = _credits(ws, clones.loc[:, ["payee_id", "month", "minor", "currency", "origin", "sample"]],
                             people, fx, mix_frame, mix, year, rollup_to=paid)
        from spm_kernel.engine.calculate import load_inputs
        from spm_kernel.plans import PlanBook

        base_inputs = load_inputs(ws, PlanBook([]), s_credits.iloc[0:0])
        c_people = _clone(base_inputs.people, ["payee_id"], n_samples).drop(columns=["sample"])
        c_hier = _clone(base_inputs.hierarchy, ["payee_id", "manager_id"], n_samples).drop(columns=["sample"])
        table = base_inputs.assignments
        payee_rows = table.loc[table["assignee_type"] == "payee"]
        c_assign = pd.concat([table.loc[table["assignee_type"] != "payee"],
                              _clone(payee_rows, ["assignee", "assignment_id"], n_samples).drop(columns=["sample"])],
                             ignore_index=True)
        c_quotas = _clone(quotas, ["payee_id"], n_samples).drop(columns=["sample"])
        s_lines = run_plan_on(ws, _clone_plan(the_plan, n_samples), year, s_credits, c_quotas, people=c_people,
                              hierarchy=c_hier, assignments=c_assign, progress=progress)
        s_cost = _to_base_cents(accrued(s_lines), fx, ["payee_id"]) if len(s_lines) else \
            pd.DataFrame({"payee_id": [], "cost_cents": []})
        split = s_cost["payee_id"].astype(str).str.rsplit(SAMPLE_SEP, n=1, expand=True) if len(s_cost) else None
        s_cost = s_cost.assign(origin=split[0] if split is not None else [],
                               sample=split[1].astype(int) if split is not None else [])
        s_book = local.groupby(["payee_id", "sample", "currency"], as_index=False)["minor"].sum()
        s_book["bookings_cents"] = _base_cents(s_book["minor"], s_book["currency"], fx)
        dist = _sample_totals(s_cost, s_book, people, n_samples)

    total, by_team, by_region = _summaries(by_payee, dist)
    total["cash"] = _money(int(cash["cost_cents"].sum())) if cash is not None and len(cash) else Decimal("0.00")
    previous = {}
    if compare_previous:
        before = resolve_plan(ws, book, previous_plan) if previous_plan is not None else None
        previous = previous_year(ws, year.fiscal_year - 1, plan=before, rates=rates, progress=progress,
                                 deal_types=quota_types if means is None else None)
    by_payee["bookings"] = [_money(v) for v in by_payee["bookings_cents"]]
    by_payee["cost"] = [_money(v) for v in by_payee["cost_cents"]]
    by_payee["cost_of_sales"] = [_share(c, b) for c, b in zip(by_payee["cost"], by_payee["bookings"])]
    by_payee = by_payee.drop(columns=["bookings_cents", "cost_cents"]).sort_values("payee_id").reset_index(drop=True)
    label = f"{the_plan.plan_id} v{the_plan.version}"
    return CompensationBudget(label, qs_label, year.fiscal_year, base, source, n_samples, total, by_payee, by_team,
                              by_region, dist, previous, lines, notes)


def _quota_deal_types(quota_set: Any) -> tuple[str, ...] | None:
    from spm_kernel.planning.quota_sets import QuotaSet
    from spm_kernel.planning.quotas import QuotaPlan

    if isinstance(quota_set, QuotaPlan):
        return quota_set.settings.deal_types
    if isinstance(quota_set, QuotaSet):
        types = quota_set.settings.get("deal_types")
        return tuple(types) if types else None
    return None


def _assigned(ws: Workspace, plan: Plan, year: PlanYear) -> set[str]:
    """The payees ``plan`` (in force all year) pays at some point of the plan year."""
    from spm_kernel.engine.compare import in_force
    from spm_kernel.plans import PlanBook, resolve_assignments
    from spm_kernel.plantypes.contract import CalcPeriod

    people = ws.sql("SELECT payee_id, role, team_id, hire_date, termination_date FROM payees")
    table = ws.sql("SELECT assignment_id, plan_id, assignee_type, assignee, effective_from, effective_to, "
                   "target_incentive FROM plan_assignments WHERE plan_id = ?", [plan.plan_id])
    whole = CalcPeriod(f"FY{year.fiscal_year}", year.start, year.end)
    assigned = resolve_assignments(PlanBook([in_force(plan, year.start, year.end)]), people, whole, whole, table)
    return set(assigned["payee_id"].astype(str))


def _holders(quota_set: Any, people: pd.DataFrame) -> list[str]:
    """Payees whose quota is a node's (team, region, company) rather than their own sales:
    from a quota set's lines, else every manager, director and VP."""
    from spm_kernel.planning.quota_sets import QuotaSet
    from spm_kernel.planning.quotas import QuotaPlan

    if isinstance(quota_set, QuotaPlan):
        lines = quota_set.lines
        return sorted(set(lines.loc[lines["level"] != "payee", "payee_id"]))
    if isinstance(quota_set, QuotaSet):
        lines = quota_set.lines()
        return sorted(set(lines.loc[lines["level"] != "payee", "payee_id"]))
    return sorted(set(people.loc[people["role"].isin(["manager", "director", "vp"]), "payee_id"]))


def _base_cents(minor: pd.Series, currencies: pd.Series, fx: dict[str, Decimal]) -> np.ndarray:
    """Minor units of each row's currency -> base cents at the planning rate (half up)."""
    ratio = np.array([fx[c].as_integer_ratio() for c in currencies], dtype=object).reshape(-1, 2)
    scale = np.array([10 ** minor_units(c) for c in currencies], dtype=object)
    return round_div(np.asarray(minor, dtype=object) * ratio[:, 0] * 100, ratio[:, 1] * scale).astype(np.int64)


def _sample_totals(s_cost: pd.DataFrame, s_book: pd.DataFrame, people: pd.DataFrame, n: int) -> pd.DataFrame:
    """One row per (sample, level, key): bookings_cents and cost_cents."""
    info = people.set_index("payee_id")
    cost = s_cost.assign(team_id=info["team_id"].reindex(s_cost["origin"]).to_numpy(),
                         region_id=info["region_id"].reindex(s_cost["origin"]).to_numpy())
    book = s_book.assign(origin=s_book["payee_id"],
                         team_id=info["team_id"].reindex(s_book["payee_id"]).to_numpy(),
                         region_id=info["region_id"].reindex(s_book["payee_id"]).to_numpy())
    parts = []
    for level, key in (("company", None), ("team", "team_id"), ("region", "region_id")):
        keys = ["sample"] + ([key] if key else [])
        c = cost.groupby(keys, as_index=False)["cost_cents"].sum() if len(cost) else pd.DataFrame(columns=keys + [
            "cost_cents"])
        b = book.groupby(keys, as_index=False)["bookings_cents"].sum()
        both = b.merge(c, on=keys, how="outer").fillna({"cost_cents": 0, "bookings_cents": 0})
        grid = pd.DataFrame({"sample": np.arange(n)})
        if key:
            grid = grid.merge(pd.DataFrame({key: sorted(set(both[key].dropna()))}), how="cross")
        both = grid.merge(both, on=keys, how="left").fillna({"cost_cents": 0, "bookings_cents": 0})
        parts.append(both.assign(level=level, key=both[key] if key else "company").loc[
            :, ["sample", "level", "key", "bookings_cents", "cost_cents"]])
    out = pd.concat(parts, ignore_index=True)
    out["bookings_cents"] = out["bookings_cents"].astype(np.int64)
    out["cost_cents"] = out["cost_cents"].astype(np.int64)
    return out


def _quantiles(values: np.ndarray) -> list[Decimal | None]:
    if len(values) == 0:
        return [None] * len(QUANTILES)
    return [_money(round(float(q))) for q in np.quantile(values.astype(np.float64), QUANTILES)]


def _summaries(by_payee: pd.DataFrame, dist: pd.DataFrame) -> tuple[dict[str, Any], pd.DataFrame, pd.DataFrame]:
    def block(frame: pd.DataFrame, level: str, key: str | None) -> pd.DataFrame:
        keys = [key] if key else []
        if key:
            g = frame.groupby(key, as_index=False)[["bookings_cents", "cost_cents"]].sum()
        else:
            g = pd.DataFrame({"bookings_cents": [frame["bookings_cents"].sum()],
                              "cost_cents": [frame["cost_cents"].sum()]})
        g["bookings"] = [_money(v) for v in g["bookings_cents"]]
        g["cost"] = [_money(v) for v in g["cost_cents"]]
        g["cost_of_sales"] = [_share(c, b) for c, b in zip(g["cost"], g["bookings"])]
        for name in ("p10", "p50", "p90"):
            g[name] = None
        if len(dist):
            part = dist.loc[dist["level"] == level]
            for i, row in g.iterrows():  # a few teams or regions
                values = part.loc[part["key"] == (row[key] if key else "company"), "cost_cents"].to_numpy()
                g.loc[i, ["p10", "p50", "p90"]] = _quantiles(values)
        return g.drop(columns=["bookings_cents", "cost_cents"]).loc[:, [*keys, "bookings", "cost", "cost_of_sales",
                                                                      "p10", "p50", "p90"]]

    company = block(by_payee, "company", None).iloc[0].to_dict()
    company["mean"] = None
    if len(dist):  # the mean cost over samples: above the cost at mean bookings when pay is convex
        company["mean"] = _money(round(float(dist.loc[dist["level"] == "company", "cost_cents"].mean())))
    return company, block(by_payee, "team", "team_id"), block(by_payee, "region", "region_id")
