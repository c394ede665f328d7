"""Plan modeler: edit a plan's rate table (tiers, rates, caps, gates, threshold) and see what
it would pay, per payee, against the plan as it stands.

* :class:`PlanModelerModel` is the state (traitlets), testable without a browser. It keeps
  the base plan's parsed document and the edits as exact decimal strings; :meth:`edited_plan`
  validates the edited document with the workspace's plan types (a gap or an overlap between
  tiers is the kernel's own validation error); :meth:`compute` opens the workspace read-only,
  runs ``ws.compare(base, edited, period)`` (nothing is written) and closes it again, so an
  import is never blocked by an open app. Money stays ``Decimal`` from ``ws.compare`` to the
  page.
* :func:`payout_curve` draws earnings against attainment (or amount) from a tier table, in
  numpy: it is what the page redraws at once on every slider move, before the exact what-if
  comes back. It is an illustration of the table at period end (the component's gate is
  assumed to measure the same thing; caps, which depend on each payee's target incentive,
  are not drawn); the totals and the per-payee figures always come from ``ws.compare``.
* :class:`PlanModelerView` draws the model: sliders and an editable tier table, the payout
  curve (plotly ``Chart``), totals per currency, winners and losers, and every payee
  in a data grid. The exact what-if runs in a background thread; while it runs the loading
  indicator is on, and moves made meanwhile are coalesced (the latest edit wins).
* :func:`plan_modeler_app` is what the Voila notebook displays.

CSS classes for tests and styles: ``spm-pm-rate-<i>`` (rate slider of tier *i*),
``spm-pm-to-<i>`` (upper bound of tier *i*), ``spm-pm-cap``, ``spm-pm-gate``,
``spm-pm-threshold``, ``spm-pm-period``, ``spm-pm-plan``; totals rows
``tr[data-currency=XXX]`` with cells ``td.spm-current``, ``td.spm-whatif``,
``td.spm-difference``; KPI tiles ``spm-pm-winners``/``spm-pm-losers``/``spm-pm-payees``.
"""

from __future__ import annotations

import copy
import hashlib
import threading
import time
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

import ipywidgets as widgets
import numpy as np
import pandas as pd
import yaml
from traitlets import Bool, Dict, Float, HasTraits, List, Unicode

from spm_widgets.components import (
    DataTable, ErrorDisplay, read_workspace, KpiTile, LoadingIndicator, build_app, esc, format_money, format_pct, header,
    section_title, style, workspace_path,
)

RATE_TABLE = "rate_table"
CURVE_POINTS = 241
TOP_MOVERS = 8

PM_CSS = """
<style>
.spm-pm-editor { min-width: 440px; flex: 1 1 46%; }
.spm-pm-chart { flex: 1 1 54%; min-width: 420px; }
.spm-pm-tier-row { align-items: center; gap: 8px; border-bottom: 1px solid #f0f2f5; padding: 2px 0; }
.spm-pm-tier-row .spm-pm-tier-label { width: 170px; font-size: 13px; color: #374151; }
.spm-pm-tier-head { font-size: 11px; text-transform: uppercase; letter-spacing: .5px; color: #6b7280;
  font-weight: 600; gap: 8px; }
.spm-pm-editor .widget-readout { font-variant-numeric: tabular-nums; }
.spm-pm-note { font-size: 12px; color: #6b7280; margin: 4px 0 0; }
.spm-pm-totals td.spm-up { color: #17663a; font-weight: 600; }
.spm-pm-totals td.spm-down { color: #a61b1b; font-weight: 600; }
.spm-pm-movers { flex: 1 1 50%; }
.spm-pm-yaml textarea { font-family: ui-monospace, SFMono-Regular, Menlo, monospace; font-size: 12px; }
</style>
"""


# ---- plan documents ----
class _DecimalDumper(yaml.SafeDumper):
    """Dumps Decimal as a plain YAML number (the plan loader reads it back exactly)."""


_DecimalDumper.add_representer(Decimal, lambda d, v: d.represent_scalar("tag:yaml.org,2002:float", str(v)))


def _dec(value: Any) -> Decimal | None:
    if value is None or value == "":
        return None
    return Decimal(str(value))


def _text(value: Any) -> str | None:
    return None if value is None else str(value)


def percent_to_decimal(value: float, places: int = 3) -> Decimal:
    """A slider's percentage as an exact ratio: 12.1 -> Decimal('0.121')."""
    return (Decimal(repr(round(float(value), places))) / 100).normalize()


def rate_table_components(plan: Any) -> list[str]:
    """Ids of the plan's ``rate_table`` components, in plan order."""
    return [c.id for c in plan.components if c.type == RATE_TABLE]


def payout_curve(tiers: list[dict[str, Any]], application: str, x: np.ndarray, *,
                 threshold: dict[str, Any] | None = None, gate: dict[str, Any] | None = None) -> np.ndarray:
    """Earnings of the tier table at measure ``x`` (period end, one payee), vectorised.

    ``tiers``: rows with ``from``, ``to`` (None for the last) and ``rate`` (or ``payout`` for
    ``interpolated``). ``step`` pays each portion at its tier's rate; ``flat`` pays all of
    ``x`` at the rate of the tier ``x`` falls in (half-open tiers: a boundary belongs to the
    higher tier); ``interpolated`` interpolates the tiers' ``payout`` linearly (the last tier
    continues at its ``rate``, if any). A ``gate`` (``min_attainment`` with ``effect``
    ``cap_rate``/``no_pay``/``multiplier``) applies below its minimum; a ``threshold`` pays
    ``below_multiplier`` of the earnings below its ``value`` (and, when not retroactive,
    of the part earned below it once crossed). Floats: an illustration, never paid money.
    """
    x = np.asarray(x, dtype=np.float64)
    lo = np.array([float(t["from"]) for t in tiers])
    hi = np.array([np.inf if t.get("to") in (None, "") else float(t["to"]) for t in tiers])
    rates = np.array([float(t.get("rate") or 0) for t in tiers])
    gate_met = np.ones_like(x, dtype=bool)
    if gate and gate.get("min_attainment") not in (None, ""):
        gate_met = x >= float(gate["min_attainment"])

    def earn(values: np.ndarray, r: np.ndarray) -> np.ndarray:
        if application == "step":
            portion = np.clip(values[:, None] - lo[None, :], 0.0, (hi - lo)[None, :])
            return (portion * r[None, :]).sum(axis=1)
        if application == "flat":
            tier = np.clip(np.searchsorted(lo, values, side="right") - 1, 0, len(lo) - 1)
            return values * r[tier]
        payouts = np.array([float(t.get("payout") or 0) for t in tiers])
        out = np.interp(values, lo, payouts)
        beyond = values > lo[-1]
        return np.where(beyond, payouts[-1] + r[-1] * (values - lo[-1]), out)

    full = earn(x, rates)
    if gate and gate.get("effect") == "cap_rate" and gate.get("max_rate") not in (None, ""):
        capped = earn(x, np.minimum(rates, float(gate["max_rate"])))
        full = np.where(gate_met, full, capped)
    elif gate and gate.get("effect") == "no_pay":
        full = np.where(gate_met, full, 0.0)
    elif gate and gate.get("effect") == "multiplier" and gate.get("multiplier") not in (None, ""):
        full = np.where(gate_met, full, full * float(gate["multiplier"]))
    if threshold and threshold.get("value") not in (None, ""):
        v = float(threshold["value"])
        below = float(threshold.get("below_multiplier") or 0)
        if threshold.get("retroactive"):
            full = np.where(x < v, full * below, full)
        else:
            at_v = earn(np.minimum(x, v), rates)
            full = full - (1.0 - below) * at_v
    return full


# ---- model ----
class PlanModelerModel(HasTraits):
    """A what-if of one plan's rate table against the plan as it stands.

    Edits (``tiers``, ``cap_multiple``, ``gate_min_attainment``, ``gate_max_rate``,
    ``threshold_value``) hold exact decimal strings; None means "as in the plan" for an option
    the plan does not have. Results (``totals``, ``winners``, ``losers``, ``by_payee``) are
    filled by :meth:`compute` from ``ws.compare``.
    """

    workspace_path = Unicode("", help="the workspace folder")
    plans = List(Unicode(), help="'plan_id@version' of every plan with a rate_table component")
    plan = Unicode("", help="the base plan, 'plan_id@version'")
    plan_name = Unicode("")
    component = Unicode("", help="the rate_table component being edited")
    component_label = Unicode("")
    basis = Unicode("amount")
    application = Unicode("step")
    periods = List(Unicode())
    period = Unicode("", help="what the what-if is calculated over (FY2026, 2026-Q2, ...)")
    tiers = List(Dict(), help="rows: from, to (None for the last), rate, payout, label (decimal strings)")
    cap_multiple = Unicode(None, allow_none=True, help="plan-year cap as a multiple of target incentive")
    gate_min_attainment = Unicode(None, allow_none=True)
    gate_max_rate = Unicode(None, allow_none=True)
    threshold_value = Unicode(None, allow_none=True)
    # results
    totals = List(Dict(), help="per currency: currency, current, what_if, difference, change, payees")
    winners = List(Dict())
    losers = List(Dict())
    counts = Dict(help="payees, winners, losers, unchanged")
    computed_for = Unicode("", help="digest of the edits the results belong to")
    seconds = Float(0.0, help="how long the last ws.compare took")
    busy = Bool(False)

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.by_payee = pd.DataFrame()
        self._base_data: dict[str, Any] = {}
        self._base_text = ""

    # ---- loading ----
    @classmethod
    def from_path(cls, path: str | Path, plan: str | None = None, period: str | None = None) -> PlanModelerModel:
        """Open the workspace read-only, list its plans, load ``plan`` (default: the first
        active plan with a rate table, ``ae-plan`` first), close the workspace."""
        from spm_kernel.engine.calculate import load_book
        from spm_kernel.errors import SPMError

        model = cls(workspace_path=str(Path(path).expanduser().resolve()))
        with read_workspace(model.workspace_path) as ws:
            book = load_book(ws)
            choices, active = [], []
            for pid in book.plan_ids():
                for p in book.versions(pid):
                    if rate_table_components(p):
                        choices.append(f"{p.plan_id}@{p.version}")
                        if p.spec.status == "active":
                            active.append(f"{p.plan_id}@{p.version}")
            if not choices:
                raise SPMError(f"no plan in {ws.plans_dir} has a rate_table component to model")
            model.plans = choices
            preferred = [c for c in active if c.startswith("ae-plan@")] + active + choices
            model._load(book, plan or preferred[0], period)
        return model

    def select_plan(self, plan: str, period: str | None = None) -> None:
        """Switch to another base plan (edits are reset to it)."""
        from spm_kernel.engine.calculate import load_book

        with read_workspace(self.workspace_path) as ws:
            self._load(load_book(ws), plan, period)

    def _load(self, book: Any, plan: str, period: str | None) -> None:
        from spm_kernel.errors import SPMError
        from spm_kernel.plans.loader import parse_yaml

        pid, _, version = plan.partition("@")
        try:
            p = book.get(pid, int(version) if version else None)
        except KeyError as exc:
            raise SPMError(str(exc).strip("'\"")) from None
        comps = rate_table_components(p)
        if not comps:
            raise SPMError(f"plan {p.plan_id} v{p.version} has no rate_table component to model")
        data, _ = parse_yaml(p.text, str(p.path or plan))
        year = p.spec.effective_from.year
        periods = [f"FY{year}", *(f"{year}-Q{q}" for q in range(1, 5))]
        with self.hold_trait_notifications():
            self._base_data = data
            self._base_text = p.text
            self.plan = f"{p.plan_id}@{p.version}"
            self.plan_name = p.name
            self.periods = periods
            self.period = period if period else periods[0]
            self.component = comps[0]
            self.reset()

    def _base_component(self) -> dict[str, Any]:
        for comp in self._base_data.get("components", []):
            if comp.get("id") == self.component:
                return comp
        raise KeyError(self.component)

    def reset(self) -> None:
        """Edits back to the base plan's values."""
        comp = self._base_component()
        gate = next((g for g in comp.get("gates", []) if g.get("min_attainment") is not None), None)
        cap = next((c for c in comp.get("caps", []) if c.get("scope") == "plan_year"
                    and c.get("multiple_of_target_incentive") is not None), None)
        threshold = comp.get("threshold")
        with self.hold_trait_notifications():
            self.component_label = str(comp.get("label") or comp.get("id"))
            self.basis = str(comp.get("basis", "amount"))
            self.application = str(comp.get("application", "step"))
            self.tiers = [{"from": _text(t.get("from")), "to": _text(t.get("to")), "rate": _text(t.get("rate")),
                           "payout": _text(t.get("payout")), "label": str(t.get("label") or f"tier {i + 1}")}
                          for i, t in enumerate(comp.get("tiers", []))]
            self.cap_multiple = _text(cap.get("multiple_of_target_incentive")) if cap else None
            self.gate_min_attainment = _text(gate.get("min_attainment")) if gate else None
            self.gate_max_rate = _text(gate.get("max_rate")) if gate else None
            self.threshold_value = _text(threshold.get("value")) if threshold else None

    # ---- edits ----
    def set_rate(self, tier: int, rate: Decimal | str) -> None:
        """Tier ``tier``'s rate (a ratio: 0.12 is 12%)."""
        rows = copy.deepcopy(self.tiers)
        rows[tier]["rate"] = str(Decimal(str(rate)))
        self.tiers = rows

    def set_boundary(self, tier: int, value: Decimal | str) -> None:
        """Move the upper bound of tier ``tier`` and, with it, the lower bound of the next
        tier, so the table stays contiguous (the kernel rejects a gap or an overlap)."""
        rows = copy.deepcopy(self.tiers)
        if tier >= len(rows) - 1:
            raise IndexError("the last tier is open-ended: it has no upper bound to move")
        text = str(Decimal(str(value)))
        rows[tier]["to"] = text
        rows[tier + 1]["from"] = text
        self.tiers = rows

    @property
    def edits_key(self) -> str:
        """A digest of everything the what-if depends on."""
        parts = [self.workspace_path, self.plan, self.component, self.period, repr(self.tiers), repr(self.cap_multiple),
                 repr(self.gate_min_attainment), repr(self.gate_max_rate), repr(self.threshold_value)]
        return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()[:16]

    def edited_data(self) -> dict[str, Any]:
        """The base plan document with the edits applied (a proposed version after the base)."""
        data = copy.deepcopy(self._base_data)
        data["version"] = int(data.get("version", 1)) + 1000
        data["status"] = "proposed"
        data["name"] = f"{data.get('name', data.get('plan_id'))} (what-if)"
        for comp in data["components"]:
            if comp.get("id") != self.component:
                continue
            tiers = []
            for row, old in zip(self.tiers, comp.get("tiers", [])):
                new = dict(old)
                new["from"] = _dec(row["from"])
                if row.get("to") is not None:
                    new["to"] = _dec(row["to"])
                if row.get("rate") is not None:
                    new["rate"] = _dec(row["rate"])
                if row.get("payout") is not None:
                    new["payout"] = _dec(row["payout"])
                tiers.append(new)
            comp["tiers"] = tiers
            for cap in comp.get("caps", []):
                if self.cap_multiple is not None and cap.get("scope") == "plan_year" \
                        and cap.get("multiple_of_target_incentive") is not None:
                    cap["multiple_of_target_incentive"] = _dec(self.cap_multiple)
            for gate in comp.get("gates", []):
                if gate.get("min_attainment") is not None and self.gate_min_attainment is not None:
                    gate["min_attainment"] = _dec(self.gate_min_attainment)
                    if gate.get("max_rate") is not None and self.gate_max_rate is not None:
                        gate["max_rate"] = _dec(self.gate_max_rate)
                    break
            if comp.get("threshold") and self.threshold_value is not None:
                comp["threshold"]["value"] = _dec(self.threshold_value)
        return data

    def edited_yaml(self) -> str:
        """The what-if plan as a plan file (save it in the plans folder to keep it)."""
        return yaml.dump(self.edited_data(), Dumper=_DecimalDumper, sort_keys=False, allow_unicode=True)

    def edited_plan(self, plan_types: Any) -> Any:
        """The what-if plan, validated by ``plan_types`` (PlanValidationError names the field)."""
        from spm_kernel.plans import Plan
        from spm_kernel.plans.loader import validate_plan_data

        text = self.edited_yaml()
        spec, components = validate_plan_data(self.edited_data(), plan_types, f"what-if of {self.plan}")
        return Plan(spec, components, None, hashlib.sha256(text.encode()).hexdigest(), text)

    def base_plan(self, plan_types: Any) -> Any:
        from spm_kernel.plans import load_plan_text

        return load_plan_text(self._base_text, plan_types, self.plan)

    # ---- the payout curve (instant) ----
    def curve(self) -> dict[str, list[float]]:
        """x and earnings of the base and the edited table (see :func:`payout_curve`)."""
        comp = self._base_component()
        base_tiers = [{"from": t.get("from"), "to": t.get("to"), "rate": t.get("rate"), "payout": t.get("payout")}
                      for t in comp.get("tiers", [])]
        gate = next((g for g in comp.get("gates", []) if g.get("min_attainment") is not None), None)
        new_gate = dict(gate) if gate else None
        if new_gate is not None:
            new_gate["min_attainment"] = self.gate_min_attainment
            if self.gate_max_rate is not None:
                new_gate["max_rate"] = self.gate_max_rate
        threshold = comp.get("threshold")
        new_threshold = dict(threshold) if threshold else None
        if new_threshold is not None:
            new_threshold["value"] = self.threshold_value
        starts = [float(t["from"]) for t in self.tiers] + [float(t["from"]) for t in base_tiers]
        top = max(starts) * 1.35 if max(starts) > 0 else 1.0
        top = max(top, 2.0) if self.basis == "attainment" else top
        x = np.linspace(0.0, top, CURVE_POINTS)
        base = payout_curve(base_tiers, self.application, x, threshold=threshold, gate=gate)
        edited = payout_curve(self.tiers, self.application, x, threshold=new_threshold, gate=new_gate)
        return {"x": x.tolist(), "current": base.tolist(), "what_if": edited.tolist()}

    # ---- the exact what-if ----
    def compute(self) -> Any:
        """Run ``ws.compare(base, edited, period)`` on the workspace (read-only) and fill the
        results; returns the :class:`spm_kernel.engine.compare.Comparison`."""

        key = self.edits_key
        with read_workspace(self.workspace_path) as ws:
            types = ws.registry.plan_types
            edited = self.edited_plan(types)
            clock = time.perf_counter()
            cmp = ws.compare(self.base_plan(types), edited, self.period)
            seconds = time.perf_counter() - clock
        self.apply_comparison(cmp, key, seconds)
        return cmp

    def apply_comparison(self, cmp: Any, key: str = "", seconds: float = 0.0) -> None:
        """Fill the result traits from a Comparison (money kept as Decimal)."""
        by_payee = cmp.by_payee.rename(columns={"a": "current", "b": "what_if"}).copy()
        totals = [{"currency": str(r.currency), "current": r.a, "what_if": r.b, "difference": r.difference,
                   "change": r.change, "payees": int(r.payees)} for r in cmp.totals.itertuples(index=False)]
        diff = by_payee["difference"]
        up = by_payee.loc[diff.map(lambda d: d > 0)].sort_values("difference", ascending=False,
                                                                  key=lambda s: s.map(float))
        down = by_payee.loc[diff.map(lambda d: d < 0)].sort_values("difference", ascending=True,
                                                                    key=lambda s: s.map(float))
        cols = ["payee_id", "name", "currency", "current", "what_if", "difference", "change"]
        with self.hold_trait_notifications():
            self.by_payee = by_payee.reset_index(drop=True)
            self.winners = up.loc[:, cols].head(TOP_MOVERS).to_dict("records")
            self.losers = down.loc[:, cols].head(TOP_MOVERS).to_dict("records")
            self.counts = {"payees": int(len(by_payee)), "winners": int(len(up)), "losers": int(len(down)),
                           "unchanged": int(len(by_payee) - len(up) - len(down))}
            self.seconds = float(seconds)
            self.computed_for = key
            self.totals = totals


# ---- background runs: the latest request wins ----
class LatestRunner:
    """Runs ``work`` in one background thread; requests made while it runs are coalesced
    into one more run afterwards. ``background=False`` runs in the caller (tests)."""

    def __init__(self, work: Callable[[], None], background: bool = True) -> None:
        self.work = work
        self.background = background
        self._lock = threading.Lock()
        self._pending = False
        self._thread: threading.Thread | None = None

    def request(self) -> None:
        if not self.background:
            self.work()
            return
        with self._lock:
            self._pending = True
            if self._thread is not None and self._thread.is_alive():
                return
            self._thread = threading.Thread(target=self._loop, daemon=True)
            self._thread.start()

    def _loop(self) -> None:
        while True:
            with self._lock:
                if not self._pending:
                    self._thread = None
                    return
                self._pending = False
            self.work()

    def wait(self, timeout: float = 120.0) -> None:
        """Block until no run is pending (tests)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._lock:
                thread = self._thread
            if thread is None:
                return
            thread.join(0.05)
        raise TimeoutError("the what-if did not finish")


# ---- view ----
def show_figure(figure: Any, css_class: str = "spm-chart") -> widgets.Widget:
    """The chart widget of ``figure`` (a ``go.Figure``): a :class:`spm_widgets.charts.Chart`,
    built once and then updated in place (``with chart.batch_update(): ...``)."""
    from spm_widgets.charts import Chart

    return Chart(figure, css_class=css_class)


def _money_cell(value: Any, css: str) -> str:
    return f'<td class="spm-num {css}">{format_money(value)}</td>'


def _signed(value: Decimal) -> str:
    return ("+" if value > 0 else "") + format_money(value)


def totals_html(model: PlanModelerModel) -> str:
    """One row per currency: the current plan, the what-if, the difference and change."""
    body = []
    for t in model.totals:
        d = t["difference"]
        tone = "spm-up" if d > 0 else "spm-down" if d < 0 else ""
        body.append(
            f'<tr data-currency="{esc(t["currency"])}"><td>{esc(t["currency"])}</td>'
            + _money_cell(t["current"], "spm-current") + _money_cell(t["what_if"], "spm-whatif")
            + f'<td class="spm-num spm-difference {tone}">{_signed(d)}</td>'
            f'<td class="spm-num spm-change {tone}">{"–" if t["change"] is None else format_pct(t["change"])}</td>'
            f'<td class="spm-num spm-payees">{t["payees"]:,}</td></tr>')
    return ('<table class="spm-grid spm-pm-totals"><thead><tr><th>Currency</th>'
            '<th class="spm-num">Current plan</th><th class="spm-num">What-if</th><th class="spm-num">Difference</th>'
            '<th class="spm-num">Change</th><th class="spm-num">Payees</th></tr></thead>'
            f'<tbody>{"".join(body)}</tbody></table>')


def movers_html(rows: list[dict[str, Any]], css: str, empty: str) -> str:
    """Winners or losers: payee, current, what-if, difference (payee currency)."""
    if not rows:
        return f'<div class="spm-muted {css}">{esc(empty)}</div>'
    body = "".join(
        f'<tr data-payee="{esc(r["payee_id"])}"><td>{esc(r["name"])}<div class="spm-muted">{esc(r["payee_id"])}</div></td>'
        + _money_cell(r["current"], "spm-current") + _money_cell(r["what_if"], "spm-whatif")
        + f'<td class="spm-num spm-difference">{_signed(r["difference"])} {esc(r["currency"])}</td></tr>'
        for r in rows)
    return (f'<table class="spm-grid {css}"><thead><tr><th>Payee</th><th class="spm-num">Current</th>'
            f'<th class="spm-num">What-if</th><th class="spm-num">Difference</th></tr></thead><tbody>{body}</tbody></table>')


def _pct_slider(value: float, maximum: float, css: str, description: str, step: float = 0.1) -> widgets.FloatSlider:
    s = widgets.FloatSlider(value=value, min=0.0, max=maximum, step=step, readout_format=".1f",
                            continuous_update=False, description=description,
                            style={"description_width": "150px"}, layout=widgets.Layout(width="420px"))
    s.add_class(css)
    return s


class PlanModelerView(widgets.VBox):
    """The plan modeler page for a :class:`PlanModelerModel`."""

    def __init__(self, model: PlanModelerModel, background: bool = True, **kwargs: Any) -> None:
        self.model = model
        self.error = ErrorDisplay()
        self.loading = LoadingIndicator("Calculating the what-if…")
        self.header = header("Plan modeler", "", "What-if")
        self.plan_choice = widgets.Dropdown(options=model.plans, value=model.plan, description="Plan",
                                            style={"description_width": "40px"}, layout=widgets.Layout(width="260px"))
        self.plan_choice.add_class("spm-pm-plan")
        self.period_choice = widgets.Dropdown(options=model.periods, value=model.period, description="Period",
                                              style={"description_width": "50px"}, layout=widgets.Layout(width="200px"))
        self.period_choice.add_class("spm-pm-period")
        self.reset_button = widgets.Button(description="Reset edits", icon="undo")
        self.reset_button.add_class("spm-pm-reset")
        self.status = widgets.HTML()
        self.status.add_class("spm-muted")
        filters = widgets.HBox([self.plan_choice, self.period_choice, self.reset_button, self.loading, self.status])
        filters.add_class("spm-filters")

        self.editor = widgets.VBox()
        self.editor.add_class("spm-pm-editor")
        self.editor.add_class("spm-card")
        self.figure = show_figure(self._figure(), "spm-pm-curve")
        self.figure_box = widgets.Box([self.figure], layout=widgets.Layout(width="100%"))
        chart = widgets.VBox([self.figure_box, widgets.HTML(
            '<div class="spm-pm-note">Commission at period end against the measure, before caps '
            '(each payee\'s cap depends on their target incentive). The totals below are the '
            'engine\'s exact what-if.</div>')])
        chart.add_class("spm-pm-chart")
        chart.add_class("spm-card")
        top = widgets.HBox([self.editor, chart])
        top.add_class("spm-row")

        self.tiles = {name: KpiTile(label, css_class=f"spm-pm-{name}")
                      for name, label in (("payees", "Payees compared"), ("winners", "Earn more"),
                                          ("losers", "Earn less"), ("unchanged", "Unchanged"))}
        tiles = widgets.HBox(list(self.tiles.values()))
        tiles.add_class("spm-kpis")
        self.totals = widgets.HTML()
        self.totals.add_class("spm-pm-totals-box")
        self.winners = widgets.HTML()
        self.winners.add_class("spm-pm-movers")
        self.losers = widgets.HTML()
        self.losers.add_class("spm-pm-movers")
        movers = widgets.HBox([widgets.VBox([section_title("Biggest winners"), self.winners]),
                               widgets.VBox([section_title("Biggest losers"), self.losers])],
                              layout=widgets.Layout(width="100%"))
        movers.add_class("spm-row")
        self.grid = DataTable(money=("current", "what_if", "difference"), percent=("change",),
                              headers={"payee_id": "Payee", "name": "Name", "role": "Role", "currency": "Currency",
                                       "current": "Current", "what_if": "What-if", "difference": "Difference",
                                       "change": "Change"},
                              css_class="spm-pm-grid", height="360px")
        self.yaml_text = widgets.Textarea(layout=widgets.Layout(width="100%", height="260px"), disabled=True)
        self.yaml_box = widgets.Accordion(children=[self.yaml_text], titles=("The what-if as a plan file",))
        self.yaml_box.selected_index = None
        self.yaml_box.add_class("spm-pm-yaml")

        super().__init__([style(), widgets.HTML(PM_CSS), self.header, filters, self.error, top,
                          section_title("What-if against the current plan"), tiles, self.totals, movers,
                          section_title("Every payee"), self.grid, self.yaml_box], **kwargs)
        self.add_class("spm-app")
        self.add_class("spm-plan-modeler")
        self.runner = LatestRunner(self._run, background=background)
        self._building = False
        self.plan_choice.observe(self._on_plan, names="value")
        self.period_choice.observe(self._on_period, names="value")
        self.reset_button.on_click(self._on_reset)
        model.observe(self._render_results, names=["totals"])
        self._build_editor()
        self._render_header()
        self._render_curve()
        if model.totals:
            self._render_results()
        self._run()  # the first what-if in the caller: a (preheated) page arrives with its numbers

    # ---- building blocks ----
    def _figure(self) -> Any:
        import plotly.graph_objects as go

        fig = go.Figure()
        fig.add_scatter(name="Current plan", mode="lines", line={"color": "#94a3b8", "width": 2, "dash": "dash"})
        fig.add_scatter(name="What-if", mode="lines", line={"color": "#1d4e89", "width": 3})
        fig.update_layout(height=340, margin={"l": 60, "r": 16, "t": 40, "b": 46}, template="plotly_white",
                          title={"text": "Payout curve", "font": {"size": 15}},
                          legend={"orientation": "h", "y": 1.12, "x": 1, "xanchor": "right"})
        return fig

    def _unit(self) -> tuple[float, str]:
        return (100.0, "%") if self.model.basis == "attainment" else (1.0, "")

    def _build_editor(self) -> None:
        m = self.model
        self._building = True
        scale, unit = self._unit()
        head = widgets.HBox([widgets.HTML("<b>Tier</b>", layout=widgets.Layout(width="170px")),
                             widgets.HTML(f"<b>From{unit and ' (%)'}</b>", layout=widgets.Layout(width="90px")),
                             widgets.HTML(f"<b>To{unit and ' (%)'}</b>", layout=widgets.Layout(width="90px")),
                             widgets.HTML("<b>Rate (%)</b>")])
        head.add_class("spm-pm-tier-head")
        self.rate_sliders: list[widgets.FloatSlider] = []
        self.to_inputs: list[widgets.FloatText] = []
        self.from_labels: list[widgets.HTML] = []
        rows: list[widgets.Widget] = [section_title(f"{m.component_label} · {m.application} tiers on {m.basis}"), head]
        for i, tier in enumerate(m.tiers):
            rate = float(Decimal(tier["rate"] or "0") * 100)
            slider = widgets.FloatSlider(value=rate, min=0.0, max=max(30.0, round(rate * 2, 1)), step=0.1,
                                         readout_format=".1f", continuous_update=False,
                                         layout=widgets.Layout(width="240px"))
            slider.add_class(f"spm-pm-rate-{i}")
            slider.observe(self._edit(lambda v, i=i: m.set_rate(i, percent_to_decimal(v))), names="value")
            self.rate_sliders.append(slider)
            start = widgets.HTML(layout=widgets.Layout(width="90px"))
            start.add_class(f"spm-pm-from-{i}")
            self.from_labels.append(start)
            if tier.get("to") is not None:
                upper: widgets.Widget = widgets.FloatText(value=float(Decimal(tier["to"]) * Decimal(str(scale))),
                                                          step=5.0 if scale == 100 else 1000.0,
                                                          layout=widgets.Layout(width="90px"))
                upper.add_class(f"spm-pm-to-{i}")
                upper.observe(self._edit(lambda v, i=i: m.set_boundary(i, self._from_unit(v))), names="value")
                self.to_inputs.append(upper)  # type: ignore[arg-type]
            else:
                upper = widgets.HTML("and above", layout=widgets.Layout(width="90px"))
            label = widgets.HTML(esc(tier["label"]))
            label.add_class("spm-pm-tier-label")
            row = widgets.HBox([label, start, upper, slider])
            row.add_class("spm-pm-tier-row")
            rows.append(row)
        self.cap_slider = self.gate_slider = self.gate_rate_slider = self.threshold_slider = None
        extra: list[widgets.Widget] = []
        if m.cap_multiple is not None:
            self.cap_slider = widgets.FloatSlider(value=float(m.cap_multiple), min=0.5, max=max(5.0, float(m.cap_multiple)),
                                                  step=0.1, readout_format=".1f", continuous_update=False,
                                                  description="Cap (× target incentive)",
                                                  style={"description_width": "170px"}, layout=widgets.Layout(width="420px"))
            self.cap_slider.add_class("spm-pm-cap")
            self.cap_slider.observe(self._edit(lambda v: setattr(m, "cap_multiple", str(Decimal(repr(round(v, 2)))))),
                                    names="value")
            extra.append(self.cap_slider)
        if m.gate_min_attainment is not None:
            self.gate_slider = _pct_slider(float(Decimal(m.gate_min_attainment) * 100), 200.0, "spm-pm-gate",
                                           "Gate: accelerators from (% of quota)", step=1.0)
            self.gate_slider.style = {"description_width": "230px"}
            self.gate_slider.observe(self._edit(lambda v: setattr(m, "gate_min_attainment", str(percent_to_decimal(v)))),
                                     names="value")
            extra.append(self.gate_slider)
            if m.gate_max_rate is not None:
                self.gate_rate_slider = _pct_slider(float(Decimal(m.gate_max_rate) * 100), 30.0, "spm-pm-gate-rate",
                                                    "Gate: rate until met (%)")
                self.gate_rate_slider.style = {"description_width": "230px"}
                self.gate_rate_slider.observe(
                    self._edit(lambda v: setattr(m, "gate_max_rate", str(percent_to_decimal(v)))), names="value")
                extra.append(self.gate_rate_slider)
        if m.threshold_value is not None:
            mx = 100.0 if m.basis == "attainment" else max(1.0, float(m.threshold_value) * 3)
            value = float(Decimal(m.threshold_value) * Decimal(str(scale)))
            self.threshold_slider = _pct_slider(value, mx, "spm-pm-threshold", f"Threshold{unit and ' (%)'}", step=1.0)
            self.threshold_slider.style = {"description_width": "230px"}
            self.threshold_slider.observe(
                self._edit(lambda v: setattr(m, "threshold_value", str(self._from_unit(v)))), names="value")
            extra.append(self.threshold_slider)
        if extra:
            rows += [section_title("Caps, gates and threshold"), *extra]
        self.editor.children = rows
        self._render_from()
        self._building = False

    def _from_unit(self, value: float) -> Decimal:
        scale, _ = self._unit()
        return percent_to_decimal(value) if scale == 100 else Decimal(repr(round(float(value), 2)))

    def _render_from(self) -> None:
        scale, unit = self._unit()
        for label, tier in zip(self.from_labels, self.model.tiers):
            value = Decimal(tier["from"]) * Decimal(str(scale))
            label.value = f'<span class="spm-num">{value.normalize():,f}</span>'

    def _edit(self, apply: Callable[[float], None]) -> Callable[[Any], None]:
        def handler(change: Any) -> None:
            if self._building:
                return
            try:
                apply(change["new"])
            except Exception as exc:  # noqa: BLE001 - shown to the user, traced in the log
                self.error.show(exc, "plan modeler edit")
                return
            self._render_from()
            self._render_curve()
            self.request()

        return handler

    # ---- rendering ----
    def _render_header(self) -> None:
        m = self.model
        self.header.value = ('<div class="spm-eyebrow">What-if</div><div class="spm-title">Plan modeler</div>'
                             f'<div class="spm-subtitle">{esc(m.plan_name)} ({esc(m.plan)}) · {esc(m.component_label)}'
                             f' · compared over {esc(m.period)} on the same credits, nothing is saved</div>')

    def _render_curve(self) -> None:
        curve = self.model.curve()
        scale, unit = self._unit()
        x = [v * scale for v in curve["x"]]
        ys = [[v * scale for v in curve[k]] for k in ("current", "what_if")]
        attainment = self.model.basis == "attainment"
        with self.figure.batch_update():  # one message, the same widget
            for trace, y in zip(self.figure.data, ys):
                trace.x, trace.y = x, y
            self.figure.layout.xaxis.title = "Attainment (% of quota)" if attainment else "Measure (amount)"
            self.figure.layout.yaxis.title = "Commission (% of quota)" if attainment else "Commission"

    def _render_results(self, change: Any = None) -> None:
        m = self.model
        c = m.counts
        self.tiles["payees"].update(display_value=f"{c.get('payees', 0):,}", caption=f"over {m.period}")
        self.tiles["winners"].update(display_value=f"{c.get('winners', 0):,}", caption="payees paid more",
                                     tone="good", trend="")
        self.tiles["losers"].update(display_value=f"{c.get('losers', 0):,}", caption="payees paid less")
        self.tiles["unchanged"].update(display_value=f"{c.get('unchanged', 0):,}", caption="payees paid the same")
        self.totals.value = totals_html(m)
        self.winners.value = movers_html(m.winners, "spm-pm-winners-table", "Nobody earns more.")
        self.losers.value = movers_html(m.losers, "spm-pm-losers-table", "Nobody earns less.")
        self.grid.set_frame(m.by_payee)
        self.status.value = f"what-if calculated in {m.seconds:.2f} s"

    # ---- actions ----
    def request(self) -> None:
        """Ask for the exact what-if of the current edits (coalesced, in the background)."""
        self.runner.request()

    def _run(self) -> None:
        m = self.model
        key = m.edits_key
        if key == m.computed_for:
            return
        with self.loading.working("Calculating the what-if…"):
            try:
                m.compute()
            except Exception as exc:  # noqa: BLE001 - shown to the user, traced in the log
                self.error.show(exc, "plan modeler what-if", title="The what-if could not be calculated.")
                return
        if m.computed_for == m.edits_key:
            self.error.clear()
            self.yaml_text.value = m.edited_yaml()

    def _on_plan(self, change: Any) -> None:
        try:
            self.model.select_plan(change["new"], self.period_choice.value)
        except Exception as exc:  # noqa: BLE001 - shown to the user, traced in the log
            self.error.show(exc, "plan modeler plan")
            return
        self._building = True
        self.period_choice.options = self.model.periods
        self.period_choice.value = self.model.period
        self._building = False
        self._rebuild()

    def _on_period(self, change: Any) -> None:
        if self._building:
            return
        self.model.period = change["new"]
        self._render_header()
        self.request()

    def _on_reset(self, button: Any = None) -> None:
        self.model.reset()
        self._rebuild()

    def _rebuild(self) -> None:
        self._build_editor()
        self._render_header()
        self._render_curve()
        self.request()

    def wait(self, timeout: float = 120.0) -> None:
        """Block until the what-if in flight (if any) is done (tests)."""
        self.runner.wait(timeout)


def plan_modeler_app(path: str | None = None, plan: str | None = None,
                     period: str | None = None) -> widgets.Widget | None:
    """The plan modeler on the workspace at ``path`` (default: ``SPM_WORKSPACE``), or a
    friendly error panel (its traceback in the server log under the error id)."""
    return build_app(lambda: PlanModelerView(PlanModelerModel.from_path(path or workspace_path(), plan, period)),
                     "plan modeler")
