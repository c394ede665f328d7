"""The analysts' disputes queue: filter inquiries, review one (the disputed line, its
explanation and the dispute's history), then resolve it with an approved adjustment or
reject it.

* :class:`DisputesModel` is the state (traitlets) over ``ws.disputes``
  (:mod:`spm_kernel.engine.disputes`), testable without a browser. Reading opens the
  workspace read-only for a moment; each step (start review, resolve, reject) opens it for
  writing only while the step runs. Every step is recorded in the audit log by the kernel,
  with the analyst as the actor.
* :class:`DisputesView` draws it: status and payee filters, counts per status, the queue in
  a data grid, and a review panel with the line, its explanation, the history and the
  resolve / reject form.
* :func:`disputes_app` is what the Voila notebook displays.

Resolving starts the review first when the dispute is still ``open`` (the kernel's states
are ``open`` -> ``in_review`` -> ``resolved`` | ``rejected``), so an analyst can answer in one
step; both moves are in the audit log.
"""

from __future__ import annotations

import json
import os
from datetime import datetime
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

import ipywidgets as widgets
import pandas as pd
from traitlets import Dict, HasTraits, Int, List, Unicode

from spm_widgets.components import (
    STYLE, DataTable, ErrorDisplay, KpiTile, LoadingIndicator, UserFacingError, build_app, esc,
    format_money, guarded, header, read_workspace, section_title, workspace_path, write_workspace,
)

STATUSES = ("open", "in_review", "resolved", "rejected")
ANALYST_ENV = "SPM_ANALYST"


def _plain(value: Any) -> Any:
    if isinstance(value, (list, dict, Decimal)):
        return value
    if hasattr(value, "tolist") and not hasattr(value, "item"):
        return value.tolist()
    if isinstance(value, (tuple, set)) or getattr(value, "ndim", 0):
        return list(value)
    if value is None or pd.isna(value):
        return None
    if isinstance(value, pd.Timestamp):
        return value.to_pydatetime().replace(microsecond=0).isoformat(sep=" ")
    if hasattr(value, "item"):
        return value.item()
    return value


def analyst_name() -> str:
    """Who acts in the disputes app (recorded in the audit log): the notebook variable
    ``SPM_USER`` (set by the server for the signed-in user), else the ``SPM_ANALYST`` or
    ``SPM_USER`` environment variable, else ``analyst``. Never from the URL."""
    import sys

    from spm_widgets.components import USER_VARIABLE

    main = sys.modules.get("__main__")
    signed_in = getattr(main, USER_VARIABLE, None) if main is not None else None
    for candidate in (signed_in, os.environ.get(ANALYST_ENV), os.environ.get(USER_VARIABLE)):
        if candidate and str(candidate).strip():
            return str(candidate).strip()
    return "analyst"


class DisputesModel(HasTraits):
    """The queue and the dispute under review, as plain data."""

    workspace_path = Unicode("")
    actor = Unicode("analyst", help="recorded in the audit log as who took each step")
    status = Unicode("", help="filter: one of STATUSES, '' for all")
    payee = Unicode("", help="filter: a payee id, '' for all")
    counts = Dict(help="status -> number of disputes (all payees)")
    payee_options = List(Dict(), help="{'id','name'} of payees with disputes")
    queue = List(Dict(), help="the filtered disputes, newest first, with the line and payee")
    selected = Unicode("", help="dispute_id under review")
    detail = Dict(help="the selected dispute with its line")
    history = List(Dict(), help="the selected dispute's steps from the audit log")
    notice = Unicode("")
    loaded_at = Unicode("")
    revision = Int(0, help="incremented by every refresh (views redraw on it)")

    @classmethod
    def from_path(cls, path: str | Path, actor: str = "analyst", status: str = "") -> DisputesModel:
        model = cls(workspace_path=str(Path(path).expanduser().resolve()), actor=actor, status=status)
        model.refresh()
        return model

    def set_filters(self, status: str | None = None, payee: str | None = None) -> None:
        """Change the filters and reload the queue."""
        if status is not None and status and status not in STATUSES:
            raise UserFacingError(f"Unknown status {status!r}: one of {', '.join(STATUSES)}.")
        with self.hold_trait_notifications():
            if status is not None:
                self.status = status
            if payee is not None:
                self.payee = payee
        self.refresh()

    def refresh(self) -> None:
        """Reload counts, payees and the filtered queue (and the selected dispute)."""
        with read_workspace(self.workspace_path) as ws:
            everything = ws.disputes.list()
            queue = self._queue(ws, everything)
            people = ws.sql("SELECT payee_id AS id, name FROM payees WHERE payee_id IN "
                            "(SELECT DISTINCT payee_id FROM disputes) ORDER BY name")
            detail, history = self._detail(ws, self.selected) if self.selected else ({}, [])
        counts = {s: int((everything["status"] == s).sum()) for s in STATUSES}
        with self.hold_trait_notifications():
            self.counts = counts
            self.payee_options = [{"id": str(r["id"]), "name": str(r["name"])} for r in people.to_dict("records")]
            self.queue = queue
            self.detail, self.history = detail, history
            self.loaded_at = datetime.now().isoformat(timespec="seconds")
            self.revision += 1

    def _queue(self, ws: Any, everything: pd.DataFrame) -> list[dict[str, Any]]:
        frame = everything
        if self.status:
            frame = frame[frame["status"] == self.status]
        if self.payee:
            frame = frame[frame["payee_id"] == self.payee]
        if frame.empty:
            return []
        ids = list(frame["dispute_id"])
        lines = ws.sql("""
            SELECT d.dispute_id, p.name AS payee_name, l.period_id, l.line_no, l.component, l.line_type,
                   l.amount, l.currency
            FROM disputes d JOIN payout_lines l ON l.line_id = d.line_id
            JOIN payees p ON p.payee_id = d.payee_id
            WHERE list_contains(?, d.dispute_id)""", [ids])
        merged = frame.merge(lines, on="dispute_id", how="left")
        cols = ["dispute_id", "status", "payee_id", "payee_name", "period_id", "line_no", "component",
                "line_type", "amount", "currency", "description", "raised_at", "resolution", "adjustment_id",
                "line_id"]
        return [{c: _plain(v) for c, v in zip(cols, row)} for row in merged[cols].itertuples(index=False)]

    def _detail(self, ws: Any, dispute_id: str) -> tuple[dict[str, Any], list[dict[str, Any]]]:
        dispute = ws.disputes.get(dispute_id)
        line = ws.sql("""SELECT l.*, p.name AS payee_name FROM payout_lines l JOIN payees p USING (payee_id)
                         WHERE l.line_id = ?""", [dispute["line_id"]])
        rec = {k: _plain(v) for k, v in line.iloc[0].items()} if len(line) else {}
        adjustment = None
        if dispute.get("adjustment_id"):
            adj = ws.sql("SELECT amount, currency, period_id FROM adjustments WHERE adjustment_id = ?",
                         [dispute["adjustment_id"]])
            adjustment = {k: _plain(v) for k, v in adj.iloc[0].items()} if len(adj) else None
        detail = {**{f"line_{k}": v for k, v in rec.items()},
                  **{k: _plain(v) for k, v in dispute.items()}, "adjustment": adjustment}
        steps = ws.disputes.history(dispute_id)
        history = []
        for row in steps.to_dict("records"):
            info = row["detail"]
            if isinstance(info, str):
                try:
                    info = json.loads(info)
                except ValueError:
                    info = {"detail": info}
            history.append({"at": _plain(row["occurred_at"]), "actor": row["actor"], "action": row["action"],
                            "detail": info if isinstance(info, dict) else {}})
        return detail, history

    def select(self, dispute_id: str) -> None:
        """Review ``dispute_id`` (``""`` clears): its line and its history."""
        if not dispute_id:
            with self.hold_trait_notifications():
                self.selected, self.detail, self.history = "", {}, []
            return
        with read_workspace(self.workspace_path) as ws:
            detail, history = self._detail(ws, dispute_id)
        with self.hold_trait_notifications():
            self.selected, self.detail, self.history = dispute_id, detail, history
            self.notice = ""

    # ---- steps ----
    def _need_selection(self) -> str:
        if not self.selected:
            raise UserFacingError("Choose a dispute in the queue first.")
        return self.selected

    def start_review(self, note: str = "") -> None:
        dispute_id = self._need_selection()
        with write_workspace(self.workspace_path) as ws:
            ws.disputes.start_review(dispute_id, actor=self.actor, note=note)
        self.notice = f"{dispute_id} is now in review."
        self.refresh()

    def resolve(self, amount: Decimal | str, resolution: str) -> str:
        """Resolve the selected dispute with an approved adjustment of ``amount`` (the payee's
        currency); returns the adjustment id."""
        dispute_id = self._need_selection()
        try:
            value = Decimal(str(amount).replace(",", "").strip())
        except InvalidOperation:
            raise UserFacingError(f"{amount!r} is not an amount (write it like 120.00 or -45.50).") from None
        if not resolution or not resolution.strip():
            raise UserFacingError("Write the resolution the payee will read.")
        with write_workspace(self.workspace_path) as ws:
            if ws.disputes.get(dispute_id)["status"] == "open":
                ws.disputes.start_review(dispute_id, actor=self.actor)
            adjustment_id = ws.disputes.resolve(dispute_id, amount=value, resolution=resolution.strip(),
                                                actor=self.actor)
            adj = ws.sql("SELECT amount, currency, period_id FROM adjustments WHERE adjustment_id = ?",
                         [adjustment_id]).iloc[0]
        self.notice = (f"{dispute_id} resolved: adjustment {adjustment_id} of "
                       f"{format_money(adj['amount'], adj['currency'])} approved, paid with {adj['period_id']}.")
        self.refresh()
        return adjustment_id

    def reject(self, resolution: str) -> None:
        """Reject the selected dispute, saying why."""
        dispute_id = self._need_selection()
        if not resolution or not resolution.strip():
            raise UserFacingError("Say why the dispute is rejected; the payee will read it.")
        with write_workspace(self.workspace_path) as ws:
            if ws.disputes.get(dispute_id)["status"] == "open":
                ws.disputes.start_review(dispute_id, actor=self.actor)
            ws.disputes.reject(dispute_id, resolution=resolution.strip(), actor=self.actor)
        self.notice = f"{dispute_id} rejected."
        self.refresh()


# ---- view ----
class DisputesView(widgets.VBox):
    """The disputes queue page of a :class:`DisputesModel`."""

    def __init__(self, model: DisputesModel, **kwargs: Any) -> None:
        self.model = model
        self.header = header("Disputes", "", "Compensation operations")
        self.loading = LoadingIndicator("Loading…")
        self.errors = ErrorDisplay()
        self.status = widgets.Dropdown(description="Status", layout=widgets.Layout(width="220px"),
                                       options=[("All", "")] + [(s.replace("_", " ").capitalize(), s) for s in STATUSES],
                                       value=model.status)
        self.status.add_class("spm-filter-status")
        self.payee = widgets.Dropdown(description="Payee", layout=widgets.Layout(width="300px"))
        self.payee.add_class("spm-filter-payee")
        for dd in (self.status, self.payee):
            dd.style.description_width = "55px"
        self.refresh_button = widgets.Button(description="Refresh", icon="refresh")
        self.refresh_button.add_class("spm-refresh")
        self.refresh_button.on_click(lambda _b: self._act(self.model.refresh, "refresh"))
        bar = widgets.HBox([self.status, self.payee, self.refresh_button, self.loading])
        bar.add_class("spm-filters")
        self.tiles = {s: KpiTile(s.replace("_", " ").capitalize(), css_class=f"spm-kpi-{s.replace('_', '-')}")
                      for s in STATUSES}
        tiles = widgets.HBox(list(self.tiles.values()))
        tiles.add_class("spm-kpis")
        self.grid = DataTable(
            money=("amount",), css_class="spm-queue", selectable=True, height="260px",
            headers={"dispute_id": "Dispute", "status": "Status", "payee_name": "Payee", "period_id": "Period",
                     "line_no": "Line", "component": "Component", "amount": "Line amount",
                     "currency": "Cur.", "description": "Inquiry", "raised_at": "Raised"},
            column_widths={"dispute_id": 100, "status": 85, "payee_name": 140, "period_id": 70, "line_no": 50,
                           "component": 120, "amount": 100, "currency": 50, "description": 260, "raised_at": 150},
            empty_message="No disputes match these filters.")
        self.grid.observe(self._on_grid, names="selected_rows")
        self.picker = widgets.Dropdown(description="Review", layout=widgets.Layout(width="520px"))
        self.picker.style.description_width = "55px"
        self.picker.add_class("spm-dispute-picker")
        self.picker.observe(self._on_pick, names="value")
        self.detail = widgets.HTML()
        self.detail.add_class("spm-dispute-detail")
        self.amount = widgets.Text(description="Adjustment", placeholder="e.g. 120.00 or -45.50",
                                   layout=widgets.Layout(width="300px"))
        self.amount.style.description_width = "80px"
        self.amount.add_class("spm-adjustment-amount")
        self.resolution = widgets.Textarea(placeholder="The answer the payee will read",
                                           layout=widgets.Layout(width="100%", height="64px"))
        self.resolution.add_class("spm-resolution")
        self.review_button = widgets.Button(description="Start review", icon="search")
        self.review_button.add_class("spm-start-review")
        self.review_button.on_click(lambda _b: self._act(self.model.start_review, "start review"))
        self.resolve_button = widgets.Button(description="Resolve with adjustment", icon="check",
                                             button_style="success")
        self.resolve_button.add_class("spm-resolve")
        self.resolve_button.on_click(self._on_resolve)
        self.reject_button = widgets.Button(description="Reject", icon="times", button_style="danger")
        self.reject_button.add_class("spm-reject")
        self.reject_button.on_click(self._on_reject)
        self.actions = widgets.VBox([self.amount, self.resolution,
                                     widgets.HBox([self.review_button, self.resolve_button, self.reject_button])])
        self.actions.add_class("spm-dispute-actions")
        self.notice = widgets.HTML()
        self.notice.add_class("spm-dispute-notice")
        self.history = widgets.HTML()
        self.history.add_class("spm-dispute-history")
        review = widgets.VBox([section_title("Review"), self.picker, self.detail, self.actions, self.notice])
        review.add_class("spm-card")
        review.layout = widgets.Layout(flex="1.5 1 0")
        history = widgets.VBox([section_title("History"), self.history])
        history.add_class("spm-card")
        history.layout = widgets.Layout(flex="1 1 0", min_width="300px")
        lower = widgets.HBox([review, history])
        lower.add_class("spm-row")
        super().__init__([widgets.HTML(STYLE + _DISPUTES_CSS), self.header, bar, self.errors, tiles,
                          section_title("Queue"), self.grid, lower], **kwargs)
        self.add_class("spm-app")
        self.add_class("spm-disputes")
        self._quiet = False
        self.status.observe(self._on_filter, names="value")
        self.payee.observe(self._on_filter, names="value")
        model.observe(self._render, names=["revision"])  # one redraw per refresh
        model.observe(self._render_detail, names=["detail", "history", "notice", "selected"])
        self._render()

    # ---- events ----
    def _act(self, fn: Any, context: str, *args: Any) -> Any:
        @guarded(self.errors, context)
        def run() -> Any:
            with self.loading.working("Working…"):
                return fn(*args)

        return run()

    def _on_filter(self, change: Any) -> None:
        if not self._quiet:
            self._act(self.model.set_filters, "disputes filter", self.status.value or "", self.payee.value or "")

    def _on_grid(self, change: Any) -> None:
        rows = change["new"]
        if rows and not self._quiet:
            self.picker.value = self.model.queue[rows[0]]["dispute_id"]

    def _on_pick(self, change: Any) -> None:
        if not self._quiet:
            self._act(self.model.select, "review dispute", change["new"] or "")

    def _on_resolve(self, button: widgets.Button) -> None:
        if self._act(self.model.resolve, "resolve dispute", self.amount.value, self.resolution.value):
            self.amount.value, self.resolution.value = "", ""

    def _on_reject(self, button: widgets.Button) -> None:
        self._act(self.model.reject, "reject dispute", self.resolution.value)
        if self.model.detail.get("status") == "rejected":
            self.resolution.value = ""

    # ---- drawing ----
    def _render(self, change: Any = None) -> None:
        m = self.model
        total = sum(m.counts.values())
        waiting = m.counts.get("open", 0) + m.counts.get("in_review", 0)
        self.header.value = ('<div class="spm-eyebrow">Compensation operations</div>'
                             '<div class="spm-title">Disputes queue</div>'
                             f'<div class="spm-subtitle">{total} disputes · {waiting} waiting for an answer'
                             f' · signed in as {esc(m.actor)}</div>')
        for s, tile in self.tiles.items():
            tile.update(display_value=f"{m.counts.get(s, 0):,}",
                        caption={"open": "new, not yet looked at", "in_review": "being looked at",
                                 "resolved": "adjustment approved", "rejected": "answered, no change"}[s])
        self._quiet = True
        try:
            self.payee.options = [("All payees", "")] + [(f'{p["name"]} ({p["id"]})', p["id"]) for p in m.payee_options]
            self.payee.value = m.payee if m.payee in [p["id"] for p in m.payee_options] else ""
            self.status.value = m.status
            frame = pd.DataFrame(m.queue, columns=["dispute_id", "status", "payee_name", "period_id", "line_no",
                                                   "component", "amount", "currency", "description", "raised_at"])
            self.grid.set_frame(frame)
            options = [("Choose a dispute…", "")] + [
                (f'{d["dispute_id"]} · {d["payee_name"]} · {d["period_id"]} line {d["line_no"]} · '
                 f'{str(d["status"]).replace("_", " ")}', d["dispute_id"]) for d in m.queue]
            if m.selected and m.selected not in [o[1] for o in options]:
                options.append((f"{m.selected} (outside the filters)", m.selected))
            self.picker.options = options
            self.picker.value = m.selected
        finally:
            self._quiet = False
        self._render_detail()

    def _render_detail(self, change: Any = None) -> None:
        m = self.model
        self.notice.value = f'<div class="spm-notice">{esc(m.notice)}</div>' if m.notice else ""
        if not m.selected or not m.detail:
            self.detail.value = '<div class="spm-muted">Choose a dispute to review it.</div>'
            self.history.value = '<div class="spm-muted">–</div>'
            self.actions.layout.display = "none"
            return
        d = m.detail
        status = str(d.get("status"))
        self.actions.layout.display = None if status in ("open", "in_review") else "none"
        self.review_button.disabled = status != "open"
        self.detail.value = _detail_html(d)
        self.history.value = _history_html(m.history)
        if self.picker.value != m.selected:
            self._quiet = True
            try:
                if m.selected in [o[1] for o in self.picker.options]:
                    self.picker.value = m.selected
            finally:
                self._quiet = False


def _detail_html(d: dict[str, Any]) -> str:
    money = lambda v: format_money(v, d.get("line_currency") or "")  # noqa: E731
    explanation = esc(d.get("line_explanation") or d.get("line_formula") or "").replace("\n", "<br>")
    adj = d.get("adjustment")
    adj_html = (f'<div class="spm-notice spm-adjustment">Adjustment {esc(d.get("adjustment_id"))}: '
                f'<b class="spm-adjustment-value">{money(adj["amount"])}</b>, paid with {esc(adj["period_id"])}</div>'
                if adj else "")
    answer = (f'<div class="spm-answer"><b>Answer:</b> {esc(d.get("resolution"))}</div>'
              if d.get("resolution") else "")
    return (
        f'<div class="spm-dispute-head" data-dispute="{esc(d.get("dispute_id"))}">'
        f'<span class="spm-dispute-title">{esc(d.get("dispute_id"))} · {esc(d.get("line_payee_name"))}</span>'
        f'<span class="spm-badge spm-badge-{esc(status_of(d))} spm-dispute-status">{esc(status_of(d).replace("_", " "))}</span></div>'
        f'<div class="spm-inquiry">“{esc(d.get("description"))}”'
        f'<div class="spm-muted">raised by {esc(d.get("raised_by"))} on {esc(str(d.get("raised_at"))[:16])}</div></div>'
        f'<table class="spm-grid spm-disputed-line"><tbody>'
        f'<tr><td>Line</td><td>{esc(d.get("line_period_id"))} · line {esc(d.get("line_line_no"))} · '
        f'{esc(d.get("line_component"))} ({esc(d.get("line_line_type"))})</td></tr>'
        f'<tr><td>Amount</td><td class="spm-line-amount">{money(d.get("line_amount"))}</td></tr>'
        f'<tr><td>Calculation</td><td class="spm-explanation">{explanation}</td></tr>'
        f'</tbody></table>{adj_html}{answer}')


def status_of(d: dict[str, Any]) -> str:
    return str(d.get("status") or "")


def _history_html(steps: list[dict[str, Any]]) -> str:
    if not steps:
        return '<div class="spm-muted">No recorded steps.</div>'
    items = []
    for s in steps:
        info = s["detail"]
        extra = info.get("resolution") or info.get("description") or info.get("note") or ""
        if info.get("amount") and s["action"] != "dispute_raised":
            extra = f'{extra} ({info["amount"]} {info.get("currency", "")})'.strip()
        items.append(f'<li><span class="spm-step">{esc(s["action"].replace("_", " "))}</span> '
                     f'<span class="spm-muted">by {esc(s["actor"])} · {esc(str(s["at"])[:16])}</span>'
                     + (f'<div class="spm-step-detail">{esc(extra)}</div>' if extra else "") + "</li>")
    return f'<ol class="spm-timeline">{"".join(items)}</ol>'


_DISPUTES_CSS = """
<style>
.spm-dispute-head { display: flex; justify-content: space-between; align-items: center; margin: 6px 0; }
.spm-dispute-title { font-size: 15px; font-weight: 650; color: #0f2a4a; }
.spm-inquiry { background: #f8fafc; border-left: 3px solid #1d4e89; padding: 8px 12px; margin: 6px 0 10px;
  font-size: 14px; }
.spm-disputed-line td:first-child { color: #6b7280; width: 110px; }
.spm-explanation { font-family: ui-monospace, SFMono-Regular, Menlo, monospace; font-size: 12px; }
.spm-answer { margin-top: 8px; font-size: 13px; }
.spm-timeline { margin: 0; padding-left: 18px; font-size: 13px; }
.spm-timeline li { margin-bottom: 8px; }
.spm-step { font-weight: 600; text-transform: capitalize; }
.spm-step-detail { color: #374151; font-size: 12px; }
.spm-dispute-actions { margin-top: 10px; gap: 6px; }
.spm-disputes .spm-kpi .spm-kpi-value { font-size: 26px; }
</style>
"""


def disputes_app(path: str | Path | None = None, actor: str | None = None) -> widgets.Widget | None:
    """The disputes queue of the workspace at ``path`` (default ``SPM_WORKSPACE``), acting as
    ``actor`` (default :func:`analyst_name`), or a friendly error panel. Opens on the disputes
    waiting for an answer when there are any."""

    def build() -> widgets.Widget:
        model = DisputesModel.from_path(path or workspace_path(), actor or analyst_name())
        return DisputesView(model)

    return build_app(build, "disputes queue")
