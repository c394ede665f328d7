"""What-if: two plans through the same history, side by side, per payee. Nothing is written.

>>> cmp = ws.compare("ae-plan@1", "ae-plan@2", "FY2026")      # doctest: +SKIP
>>> cmp.by_payee          # payee_id, name, role, currency, a, b, difference, change
>>> cmp.totals            # per currency

A plan is given as ``"plan_id"`` (its highest version), ``"plan_id@version"``, a
``(plan_id, version)`` pair, a :class:`spm_kernel.plans.Plan` (e.g. built from edited YAML
text with ``load_plan_text``) or the path of a plan file. ``periods`` is a period id or a
list of them, calculated as given: ``"FY2026"`` runs the year as one period (fast: what each
payee would earn over the year; a draw or a period cap then applies once), while
``cadence="month"`` (or a list of months) reproduces a monthly pay cycle period by period.

Each plan is applied as if it were in force over the compared periods: its own dates and
its assignments' dates are ignored (who it pays is decided by its assignments' payees,
roles and teams, and by employment dates), and its status (``proposed``) does not matter.
Both plans see the same credits, computed once per call (and reused while the workspace's
data does not change), the same quotas and the same people. Prior lines are the plan's own
lines of the earlier compared periods, so year-to-date rates, caps and draws behave as in a
real sequence of runs starting with the first compared period.
"""

from __future__ import annotations

import dataclasses
import hashlib
import time
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import pandas as pd

from spm_kernel.crediting import CreditingConfig, compute_credits, drop_credits, read_crediting_config, unordered
from spm_kernel.engine.calculate import (
    _Inputs,
    calc_period,
    credits_frame,
    data_hash,
    load_book,
    load_inputs,
    period_lines,
    plan_windows,
    plan_year_of,
)
from spm_kernel.engine.ledger import EngineError
from spm_kernel.money import decimals_to_minor, minor_to_decimals
from spm_kernel.periods import Period, PeriodKind, months_in, parse_period, period_containing, periods_between
from spm_kernel.plans import PlanBook

if TYPE_CHECKING:
    from spm_kernel.plans import Plan
    from spm_kernel.workspace import Workspace

_CACHE: dict[tuple[str, str, str, str], pd.DataFrame] = {}
_CACHE_LIMIT = 4
_BOOKS: dict[str, tuple[tuple[Any, ...], PlanBook]] = {}
_INPUTS: dict[tuple[str, ...], _Inputs] = {}
_LINES: dict[tuple[str, ...], pd.DataFrame] = {}
_LINES_LIMIT = 16


@dataclass(frozen=True)
class Comparison:
    """The result of :func:`compare`. Money columns hold ``Decimal``; ``difference`` is
    ``b - a`` and ``change`` the relative difference (None where ``a`` is 0)."""

    plan_a: str
    plan_b: str
    periods: tuple[str, ...]
    by_payee: pd.DataFrame
    by_period: pd.DataFrame
    totals: pd.DataFrame
    lines_a: pd.DataFrame
    lines_b: pd.DataFrame
    seconds: float

    def __repr__(self) -> str:
        parts = [f"{r.currency}: {r.a:,.2f} -> {r.b:,.2f} ({r.difference:+,.2f})" for r in self.totals.itertuples()]
        return f"<Comparison {self.plan_a} vs {self.plan_b} over {len(self.periods)} periods: {'; '.join(parts)}>"


def resolve_plan(ws: Workspace, book: PlanBook | None, spec: Any) -> Plan:
    """A plan from a name, ``name@version``, ``(name, version)``, a Plan or a plan file path."""
    from spm_kernel.plans import Plan, load_plan_file

    if isinstance(spec, Plan):
        return spec
    if isinstance(spec, tuple) and len(spec) == 2:
        return _book(ws, book).get(str(spec[0]), int(spec[1]))
    if isinstance(spec, Path) or (isinstance(spec, str) and spec.endswith((".yaml", ".yml"))):
        path = Path(spec)
        if not path.is_absolute() and not path.exists():
            path = ws.plans_dir / path
        return load_plan_file(path, ws.registry.plan_types)
    if isinstance(spec, str):
        name, _, version = spec.partition("@")
        return _book(ws, book).get(name, int(version) if version else None)
    raise EngineError(f"cannot read a plan from {spec!r}: give 'plan_id', 'plan_id@version', a Plan or a file")


def _book(ws: Workspace, book: PlanBook | None) -> PlanBook:
    return book if book is not None else _cached_book(ws)


def in_force(plan: Plan, start: Any, end: Any) -> Plan:
    """A copy of ``plan`` in force from ``start`` to ``end`` whatever its own dates and status,
    with its assignments undated."""
    assignments = [a.model_copy(update={"effective_from": None, "effective_to": None}) for a in plan.spec.assignments]
    spec = plan.spec.model_copy(update={"effective_from": start, "effective_to": end, "status": "active",
                                        "assignments": assignments})
    return dataclasses.replace(plan, spec=spec)


def expand_periods(periods: Any, cadence: PeriodKind | None, fiscal_year_start_month: int) -> list[Period]:
    """The periods to calculate: as given, or each split into ``cadence`` periods."""
    items = [periods] if isinstance(periods, (str, Period)) else list(periods)
    if not items:
        raise EngineError("compare needs at least one period")
    out: list[Period] = []
    for item in items:
        p = parse_period(item, fiscal_year_start_month)
        if cadence is None or p.kind == cadence:
            out.append(p)
        elif cadence == "month":
            out.extend(months_in(p, fiscal_year_start_month))
        else:
            first = period_containing(p.start, cadence, fiscal_year_start_month)
            last = period_containing(p.end, cadence, fiscal_year_start_month)
            out.extend(periods_between(first, last, fiscal_year_start_month))
    out = sorted(set(out))
    for earlier, later in zip(out, out[1:]):
        if earlier.overlaps(later):
            raise EngineError(f"compare periods {earlier} and {later} overlap")
    return out


def _credits(ws: Workspace, start: Any, end: Any, config: CreditingConfig) -> tuple[tuple[str, str, str, str],
                                                                                pd.DataFrame]:
    """The credits of ``start``..``end`` and their cache key, cached while the workspace's
    data is unchanged (the key holds a hash of every input table)."""
    key = (str(ws.path), f"{start}..{end}", config.model_dump_json(),
           data_hash(ws.con, start, end, PlanBook([]), config))
    if key in _CACHE:
        return key, _CACHE[key]
    try:
        with unordered(ws.con):
            compute_credits(ws.con, start, end, config, fiscal_year_start_month=ws.config.fiscal_year_start_month)
            frame = credits_frame(ws.con)
    finally:
        drop_credits(ws.con)
    while len(_CACHE) >= _CACHE_LIMIT:
        _CACHE.pop(next(iter(_CACHE)))
    _CACHE[key] = frame
    return key, frame


def _cached_book(ws: Workspace) -> PlanBook:
    """The workspace's plan book, re-read only when a plan file is added, removed or changed."""
    folder = ws.plans_dir
    files = sorted([*folder.glob("*.yaml"), *folder.glob("*.yml")]) if folder.exists() else []
    stamp = tuple((p.name, p.stat().st_mtime_ns, p.stat().st_size) for p in files)
    held = _BOOKS.get(str(folder))
    if held is not None and held[0] == stamp:
        return held[1]
    book = load_book(ws)
    _BOOKS[str(folder)] = (stamp, book)
    return book


def plan_fingerprint(plan: Plan) -> str:
    """What a plan computes from: its spec and every component's validated options (a plan
    edited in memory, e.g. by the plan modeler, gets a new fingerprint)."""
    parts = [plan.plan_id, str(plan.version), plan.spec.model_dump_json()]
    parts.extend(f"{c.id}:{c.type}:{c.config.model_dump_json()}" for c in plan.components)
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()


def _remember(cache: dict[Any, Any], key: Any, value: Any, limit: int) -> None:
    while len(cache) >= limit:
        cache.pop(next(iter(cache)))
    cache[key] = value


def _run_plan(inputs: _Inputs, periods: list[Period]) -> pd.DataFrame:
    done: list[pd.DataFrame] = []
    for p in periods:
        prior = pd.concat(done, ignore_index=True) if done else pd.DataFrame()
        lines = period_lines(inputs, p, prior)
        if len(lines):
            done.append(lines.assign(period_id=p.period_id, period_start=p.start, period_end=p.end))
    if not done:
        return pd.DataFrame({c: pd.Series([], dtype=object) for c in
                             ("period_id", "payee_id", "plan_id", "plan_version", "component", "line_type",
                              "amount", "currency", "status")})
    return pd.concat(done, ignore_index=True)


def _total(lines: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    """Sum of ``amount`` per ``keys`` in exact integer hundredths (``cents``)."""
    if len(lines) == 0:
        return pd.DataFrame({**{k: pd.Series([], dtype=object) for k in keys}, "cents": pd.Series([], dtype="int64")})
    frame = lines.loc[:, keys].assign(cents=decimals_to_minor(lines["amount"], 2, "payout line amount"))
    return frame.groupby(keys, as_index=False, observed=True)["cents"].sum()


def _side_by_side(a: pd.DataFrame, b: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    both = _total(a, keys).rename(columns={"cents": "a"}).merge(
        _total(b, keys).rename(columns={"cents": "b"}), on=keys, how="outer")
    a_cents = both["a"].fillna(0).to_numpy(dtype=np.int64)
    b_cents = both["b"].fillna(0).to_numpy(dtype=np.int64)
    both["a"] = minor_to_decimals(a_cents, 2)
    both["b"] = minor_to_decimals(b_cents, 2)
    both["difference"] = minor_to_decimals(b_cents - a_cents, 2)
    both["change"] = [None if x == 0 else (Decimal(int(d)) / Decimal(int(x))).quantize(Decimal("0.0001"))
                      for x, d in zip(a_cents, b_cents - a_cents)]
    return both.sort_values(keys).reset_index(drop=True)


def compare(ws: Workspace, plan_a: Any, plan_b: Any, periods: Any, *,
            cadence: Literal["month", "quarter", "year"] | None = None,
            crediting: CreditingConfig | None = None) -> Comparison:
    """Run ``plan_a`` and ``plan_b`` over ``periods`` on the same credits; persist nothing."""
    clock = time.perf_counter()
    fsm = ws.config.fiscal_year_start_month
    plist = expand_periods(periods, cadence, fsm)
    from spm_kernel.plans import resolve_assignments

    try:
        book = _cached_book(ws)
    except Exception:  # noqa: BLE001 - a broken plan file elsewhere must not block a what-if of given plans
        book = None
    a = resolve_plan(ws, book, plan_a)
    b = resolve_plan(ws, book, plan_b)
    first, last = plist[0].start, plist[-1].end
    books = [PlanBook([in_force(p, first, last)]) for p in (a, b)]
    start, end = first, last
    for bk in books:
        for p in plist:
            s, e, _ = plan_windows(bk, p, plan_year_of(p, fsm))
            start, end = min(start, s), max(end, e)
    config = crediting or read_crediting_config(ws.path)
    credits_key, credits = _credits(ws, start, end, config)
    shared = _INPUTS.get(credits_key)
    if shared is None:  # people, hierarchy, quotas: part of the data hash in the key
        shared = load_inputs(ws, PlanBook([]), credits)
        _remember(_INPUTS, credits_key, shared, _CACHE_LIMIT)
    period_ids = tuple(p.period_id for p in plist)
    results = []
    for plan, bk in zip((a, b), books):
        # a plan's lines depend on nothing but the plan, the data and the periods: a slider
        # that moves plan b leaves plan a's lines as they were
        lines_key = (*credits_key, plan_fingerprint(plan), *period_ids)
        if lines_key in _LINES:
            results.append(_LINES[lines_key].copy())  # a copy: callers may change theirs
            continue
        # only the credits of the payees the plan pays in the compared periods
        payees = set()
        for p in plist:
            assigned = resolve_assignments(bk, shared.people, calc_period(p), plan_year_of(p, fsm), shared.assignments)
            payees.update(assigned["payee_id"])
        mine = credits.loc[credits["payee_id"].isin(list(payees)).to_numpy()].reset_index(drop=True)
        lines = _run_plan(dataclasses.replace(shared, book=bk, credits=mine), plist)
        _remember(_LINES, lines_key, lines, _LINES_LIMIT)
        results.append(lines.copy())
    lines_a, lines_b = results
    people = shared.people.loc[:, ["payee_id", "name", "role"]]
    by_payee = _side_by_side(lines_a, lines_b, ["payee_id", "currency"]).merge(people, on="payee_id", how="left")
    by_payee = by_payee.loc[:, ["payee_id", "name", "role", "currency", "a", "b", "difference", "change"]]
    by_period = _side_by_side(lines_a, lines_b, ["period_id", "currency"])
    totals = _side_by_side(lines_a, lines_b, ["currency"])
    counts = by_payee.groupby("currency").size()
    totals["payees"] = [int(counts.get(c, 0)) for c in totals["currency"]]
    label = lambda p: f"{p.plan_id} v{p.version}"  # noqa: E731
    return Comparison(label(a), label(b), tuple(p.period_id for p in plist), by_payee, by_period, totals,
                      lines_a, lines_b, round(time.perf_counter() - clock, 4))
