"""A payee's statement: lines with their explanations, an attainment gauge, draws and
balances, PDF/XLSX downloads, and "raise an inquiry" on a line.

* :class:`StatementModel` is the state (traitlets), built from ``ws.statement(payee, period)``
  (the closed or latest run) and ``run.explain(payee)`` (each line's credits), testable
  without a browser. It opens the workspace only for each action: read-only to read, for
  writing only while an inquiry is raised (``ws.disputes.raise_inquiry``, with the payee as
  the actor).
* :class:`StatementView` draws it: a summary banner, KPI tiles (paid, year to date,
  attainment), a plotly gauge, the lines in a selectable data grid, the selected line's
  explanation and credits, balances, download links, and the inquiry form with the payee's
  inquiries and their status.
* :func:`statement_app` is what the Voila notebook displays: the statement of
  :func:`~spm_widgets.components.current_user` (never a URL parameter).

Money stays ``Decimal`` in the model; the page formats it with the currency's places.
"""

from __future__ import annotations

import base64
import tempfile
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import ipywidgets as widgets
import pandas as pd
from traitlets import Dict, HasTraits, Int, List, Unicode

from spm_widgets.components import (
    STYLE, DataTable, ErrorDisplay, KeptUntilChanged, KpiTile, LoadingIndicator, UserFacingError,
    build_app, current_user, esc, format_money, format_pct, guarded, header, read_workspace,
    section_title, workspace_path, write_workspace,
)

# one thread writes every statement's PDF and XLSX, one after the other (WeasyPrint and pango
# are not run side by side), off the kernel's main thread
_DOWNLOADS_WRITER = ThreadPoolExecutor(max_workers=1, thread_name_prefix="spm-statement-downloads")

LINE_COLUMNS = ("line_id", "line_no", "section", "component", "component_label", "line_type",
                "description", "amount", "currency", "status", "measure", "measure_value",
                "attainment", "tier", "rate", "formula", "credit_count", "explanation",
                "corrects_line_id", "corrects_period_id")


def _plain(value: Any) -> Any:
    """A cell as a plain Python value (None for missing; Decimal kept)."""
    if isinstance(value, (list, dict, Decimal)):
        return value
    if hasattr(value, "tolist") and not hasattr(value, "item"):
        return value.tolist()
    if isinstance(value, (tuple, set)) or getattr(value, "ndim", 0):
        return list(value)
    if value is None or pd.isna(value):
        return None
    if hasattr(value, "item"):
        return value.item()
    return value


def _records(frame: pd.DataFrame, columns: tuple[str, ...] | None = None) -> list[dict[str, Any]]:
    cols = [c for c in (columns or tuple(frame.columns)) if c in frame.columns]
    return [{c: _plain(v) for c, v in zip(cols, row)} for row in frame[cols].itertuples(index=False)]


class StatementModel(HasTraits):
    """One payee's statement for one period, as plain data."""

    workspace_path = Unicode("")
    payee_id = Unicode("")
    payee_name = Unicode("")
    role = Unicode("")
    team = Unicode("")
    manager = Unicode("")
    company = Unicode("")
    currency = Unicode("")
    period_options = List(Unicode(), help="periods with a run for this payee, newest first")
    period = Unicode("")
    period_status = Unicode("")
    run_id = Unicode("")
    plans = List(Unicode())
    paid = Unicode("", help="amount paid in the period (exact decimal text)")
    year_to_date = Unicode("", help="paid so far in the plan year (exact decimal text)")
    attainment = Dict(help="the main component's attainment: component_label, measure, measure_value, attainment, tier")
    lines = List(Dict(), help="the statement's lines (see LINE_COLUMNS), money as Decimal")
    totals = List(Dict())
    balances = List(Dict())
    selected_line = Unicode("", help="line_id of the line looked at")
    line_credits = List(Dict(), help="credits behind the selected line (from run.explain)")
    inquiries = List(Dict(), help="the payee's disputes on lines of this period, newest first")
    downloads = Dict(help="kind -> {'filename', 'data' (base64)} for 'pdf' and 'xlsx'")
    notice = Unicode("")
    loaded_at = Unicode("")
    revision = Int(0, help="incremented each time a statement is shown (views redraw on it)")

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._credits = pd.DataFrame()
        self._statement: Any = None
        # statements already shown, by period, until the workspace changes on disk
        self._shown = KeptUntilChanged()  # period -> (statement, explanation, inquiries, downloads)

    @classmethod
    def from_path(cls, path: str | Path, payee: str, period: str | None = None,
                  with_downloads: bool = True) -> StatementModel:
        model = cls(workspace_path=str(Path(path).expanduser().resolve()), payee_id=payee)
        model.load(period, with_downloads=with_downloads)
        return model

    def load(self, period: str | None = None, with_downloads: bool = True) -> None:
        """Read the periods this payee has results for, then the statement of ``period``
        (default: the newest)."""
        with read_workspace(self.workspace_path) as ws:
            found = ws.sql("SELECT payee_id FROM payees WHERE payee_id = ?", [self.payee_id])
            if found.empty:
                raise UserFacingError(f"No payee {self.payee_id!r} in this workspace.")
            periods = ws.sql("""SELECT DISTINCT l.period_id FROM payout_lines l
                                JOIN calc_runs r ON r.run_id = l.run_id AND r.status = 'succeeded'
                                WHERE l.payee_id = ? ORDER BY 1 DESC""", [self.payee_id])
        options = [str(p) for p in periods["period_id"]]
        if not options:
            raise UserFacingError("There is no statement for you yet: no calculation has paid you.")
        if period is not None and period not in options:
            raise UserFacingError(f"There is no statement for period {period}.")
        self.period_options = options
        self.show(period or options[0], with_downloads=with_downloads)

    def show(self, period: str, with_downloads: bool = True) -> None:
        """Build and hold the statement of ``period`` (a period shown before is taken from
        memory, with its downloads, unless the workspace changed on disk since)."""
        self._shown.check(self.workspace_path)
        if period in self._shown.answers:
            st, explanation, inquiries, downloads = self._shown.answers[period]
        else:
            with read_workspace(self.workspace_path) as ws:
                st = ws.statement(self.payee_id, period)
                explanation = ws.run(st.run_id).explain(self.payee_id)
                inquiries = self._inquiries(ws, st)
            downloads = {}
        if with_downloads and not downloads:
            downloads = self._downloads(st)
        self._shown.answers[period] = (st, explanation, inquiries, downloads)
        self._statement = st
        main = st.attainment[st.attainment["period_id"] == st.period.period_id]
        attainment = _records(main.head(1))[0] if len(main) else {}
        self._credits = explanation.credits
        with self.hold_trait_notifications():
            self.company, self.payee_name, self.role = st.company, st.payee_name, st.role
            self.team, self.manager, self.currency = st.team or "", st.manager or "", st.currency
            self.period, self.period_status, self.run_id = st.period.period_id, st.period_status, st.run_id
            self.plans = list(st.plans)
            self.paid, self.year_to_date = str(st.paid), str(st.year_to_date)
            self.attainment = attainment
            self.lines = _records(st.lines, LINE_COLUMNS)
            self.totals = _records(st.totals)
            self.balances = _records(st.balances)
            self.inquiries = inquiries
            self.downloads = downloads
            self.selected_line = ""
            self.line_credits = []
            self.notice = ""
            self.loaded_at = datetime.now().isoformat(timespec="seconds")
            self.revision += 1

    def _inquiries(self, ws: Any, st: Any) -> list[dict[str, Any]]:
        frame = ws.disputes.list(payee_id=self.payee_id)
        frame = frame[frame["line_id"].isin(set(st.lines["line_id"]))]
        return _records(frame, ("dispute_id", "line_id", "status", "description", "raised_at",
                                "resolution", "adjustment_id"))

    def prepare_downloads(self) -> None:
        """Write the statement shown as PDF and XLSX (the kernel's renderers) into
        :attr:`downloads` (base64), for the page's download links."""
        if self._statement is not None and not self.downloads:
            self.set_downloads(self._statement, self._downloads(self._statement))

    def set_downloads(self, statement: Any, downloads: dict[str, dict[str, str]]) -> None:
        """Keep ``downloads`` with ``statement`` (if it is still the one kept for its period)
        and show them if it is the statement shown."""
        period = statement.period.period_id
        kept = self._shown.answers.get(period)
        if kept is not None and kept[0] is statement:
            self._shown.answers[period] = (kept[0], kept[1], kept[2], downloads)
        if statement is self._statement:
            self.downloads = downloads

    def _downloads(self, st: Any) -> dict[str, dict[str, str]]:
        out = {}
        with tempfile.TemporaryDirectory(prefix="spm-statement-") as tmp:
            for kind, write in (("pdf", st.to_pdf), ("xlsx", st.to_xlsx)):
                path = Path(write(Path(tmp) / f"{st.file_stem()}.{kind}"))
                out[kind] = {"filename": path.name, "data": base64.b64encode(path.read_bytes()).decode()}
        return out

    # ---- lines ----
    def line(self, line_id: str) -> dict[str, Any]:
        for row in self.lines:
            if row["line_id"] == line_id:
                return row
        raise KeyError(f"the statement has no line {line_id!r}")

    def select_line(self, line_id: str) -> None:
        """Look at one line: its explanation and the credits behind it (``""`` clears)."""
        if not line_id:
            self.selected_line, self.line_credits = "", []
            return
        self.line(line_id)
        credits = self._credits[self._credits["line_id"] == line_id] if len(self._credits) else self._credits
        with self.hold_trait_notifications():
            self.line_credits = _records(credits, ("credit_date", "transaction_id", "kind", "credit_type",
                                                   "rule", "share", "source_amount", "source_currency",
                                                   "fx_rate", "amount", "currency")) if len(credits) else []
            self.selected_line = line_id

    @property
    def paid_amount(self) -> Decimal:
        return Decimal(self.paid or "0")

    # ---- inquiries ----
    def raise_inquiry(self, description: str, line_id: str | None = None) -> str:
        """Raise an inquiry on ``line_id`` (default: the selected line) as this payee; returns
        the dispute id and refreshes the list of inquiries."""
        target = line_id or self.selected_line
        if not target:
            raise UserFacingError("Choose the line your question is about first.")
        if not description or not description.strip():
            raise UserFacingError("Say what looks wrong on the line (a sentence is enough).")
        self.line(target)
        with write_workspace(self.workspace_path) as ws:
            dispute_id = ws.disputes.raise_inquiry(target, description.strip(), actor=self.payee_id)
        with read_workspace(self.workspace_path) as ws:
            st = ws.statement(self.payee_id, self.period)
            inquiries = self._inquiries(ws, st)
        with self.hold_trait_notifications():
            self.inquiries = inquiries
            self.notice = (f"Inquiry {dispute_id} raised on line {self.line(target)['line_no']} "
                           f"({self.line(target)['description']}). An analyst will review it.")
        return dispute_id


# ---- view ----
def _gauge(model: StatementModel) -> Any:
    import plotly.graph_objects as go

    from spm_widgets.charts import Chart

    fig = Chart(layout=go.Layout(
        height=210, margin=dict(l=40, r=40, t=36, b=8), paper_bgcolor="#ffffff",
        font=dict(family="-apple-system, Segoe UI, Roboto, Arial, sans-serif", size=12)))
    fig.add_indicator(mode="gauge+number", value=0, number=dict(suffix="%", valueformat=".1f"),
                      title=dict(text="Attainment", font=dict(size=13)),
                      gauge=dict(axis=dict(range=[0, 150], ticksuffix="%"), bar=dict(color="#1d4e89"),
                                 steps=[dict(range=[0, 50], color="#fdecec"), dict(range=[50, 100], color="#fff4e5"),
                                        dict(range=[100, 150], color="#e7f6ec")],
                                 threshold=dict(line=dict(color="#17663a", width=3), value=100)))
    return fig


class StatementView(widgets.VBox):
    """The statement page of a :class:`StatementModel`."""

    def __init__(self, model: StatementModel, **kwargs: Any) -> None:
        self.model = model
        self.header = header("", "", "Compensation statement")
        self.loading = LoadingIndicator("Loading the statement…")
        self.errors = ErrorDisplay()
        self.period = widgets.Dropdown(description="Period", options=model.period_options,
                                       value=model.period or None, layout=widgets.Layout(width="220px"))
        self.period.style.description_width = "60px"
        self.period.add_class("spm-filter-period")
        self.downloads = widgets.HTML()
        self.downloads.add_class("spm-downloads")
        bar = widgets.HBox([self.period, self.loading, self.downloads])
        bar.add_class("spm-filters")
        self.tile_paid = KpiTile("Paid this period", css_class="spm-kpi-paid")
        self.tile_ytd = KpiTile("Paid this plan year", css_class="spm-kpi-ytd")
        self.tile_att = KpiTile("Attainment", css_class="spm-kpi-attainment")
        self.tile_status = KpiTile("Statement", css_class="spm-kpi-status")
        tiles = widgets.HBox([self.tile_paid, self.tile_ytd, self.tile_att, self.tile_status])
        tiles.add_class("spm-kpis")
        self.gauge = _gauge(model)
        gauge_box = widgets.VBox([self.gauge])
        gauge_box.add_class("spm-card")
        gauge_box.add_class("spm-gauge")
        gauge_box.layout = widgets.Layout(flex="0 0 320px")
        self.summary = widgets.HTML()
        self.summary.add_class("spm-summary")
        summary_box = widgets.VBox([section_title("Summary"), self.summary])
        summary_box.add_class("spm-card")
        summary_box.layout = widgets.Layout(flex="1 1 0")
        self.balances = widgets.HTML()
        self.balances.add_class("spm-balances")
        balances_box = widgets.VBox([section_title("Draws and balances"), self.balances])
        balances_box.add_class("spm-card")
        balances_box.layout = widgets.Layout(flex="1 1 0")
        top = widgets.HBox([gauge_box, summary_box, balances_box])
        top.add_class("spm-row")
        self.grid = DataTable(
            money=("amount",), css_class="spm-lines", selectable=True,
            headers={"line_no": "Line", "section": "Section", "description": "Description",
                     "amount": "Amount", "status": "Status", "attainment": "Attainment", "tier": "Tier"},
            column_widths={"line_no": 60, "section": 100, "description": 330, "amount": 120,
                           "status": 90, "attainment": 100, "tier": 110},
            height="220px", empty_message="No lines on this statement.")
        self.grid.observe(self._on_grid_select, names="selected_rows")
        self.line_picker = widgets.Dropdown(description="Line", layout=widgets.Layout(width="520px"))
        self.line_picker.style.description_width = "40px"
        self.line_picker.add_class("spm-line-picker")
        self.line_picker.observe(self._on_pick, names="value")
        self.detail = widgets.HTML()
        self.detail.add_class("spm-line-detail")
        self.inquiry_text = widgets.Textarea(placeholder="What looks wrong on this line?",
                                             layout=widgets.Layout(width="100%", height="70px"))
        self.inquiry_text.add_class("spm-inquiry-text")
        self.inquiry_button = widgets.Button(description="Raise an inquiry", icon="comment",
                                             tooltip="ask an analyst to review the selected line")
        self.inquiry_button.add_class("spm-raise-inquiry")
        self.inquiry_button.add_class("spm-primary")
        self.inquiry_button.on_click(self._on_raise)
        self.notice = widgets.HTML()
        self.notice.add_class("spm-inquiry-notice")
        self.inquiries = widgets.HTML()
        self.inquiries.add_class("spm-inquiries")
        inquiry_box = widgets.VBox([section_title("Question a line"), self.inquiry_text,
                                    self.inquiry_button, self.notice, section_title("Your inquiries"),
                                    self.inquiries])
        inquiry_box.add_class("spm-card")
        inquiry_box.layout = widgets.Layout(flex="1 1 0", min_width="320px")
        detail_box = widgets.VBox([self.line_picker, self.detail])
        detail_box.add_class("spm-card")
        detail_box.layout = widgets.Layout(flex="1.6 1 0")
        bottom = widgets.HBox([detail_box, inquiry_box])
        bottom.add_class("spm-row")
        super().__init__([widgets.HTML(STYLE + _STATEMENT_CSS), self.header, bar, self.errors, tiles, top,
                          section_title("Lines"), self.grid, bottom], **kwargs)
        self.add_class("spm-app")
        self.add_class("spm-statement")
        self._picking = False
        self.period.observe(self._on_period, names="value")
        model.observe(self._render, names=["revision"])
        model.observe(self._render_line, names=["selected_line", "line_credits"])
        model.observe(self._render_inquiries, names=["inquiries", "notice"])
        model.observe(self._render_downloads, names=["downloads"])
        self._render()

    def _render_downloads(self, change: Any = None) -> None:
        self.downloads.value = _downloads_html(self.model) if self.model.downloads else ""

    # ---- events ----
    def _on_period(self, change: Any) -> None:
        @guarded(self.errors, "statement period")
        def run() -> None:
            if change["new"] and change["new"] != self.model.period:
                with self.loading.working("Loading the statement…"):
                    self.model.show(change["new"], with_downloads=False)
                self.schedule_downloads()

        run()

    def schedule_downloads(self) -> None:
        """Prepare the PDF/XLSX links in a worker thread, so the kernel keeps answering the
        page (a period change while they are written is not queued behind them); their result
        is applied on the kernel's event loop if the statement shown is still the same one. At
        once when there is no running loop (headless use) or nobody has asked for the page yet
        (a pre-heated kernel: done before the request, not while the page loads)."""
        import asyncio

        from spm_kernel.auth.app_user import preheating

        @guarded(self.errors, "statement downloads")
        def prepare() -> None:
            self.model.prepare_downloads()

        if self.model.downloads:
            return
        self.downloads.value = '<span class="spm-muted">Preparing PDF and XLSX…</span>'
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            loop = None
        if loop is None or preheating():
            prepare()
            return
        model, statement = self.model, self.model._statement
        if statement is None:
            return
        written = loop.run_in_executor(_DOWNLOADS_WRITER, model._downloads, statement)

        @guarded(self.errors, "statement downloads")
        def apply(done: Any) -> None:
            model.set_downloads(statement, done.result())  # ignored if another statement is shown now

        written.add_done_callback(apply)

    def _on_grid_select(self, change: Any) -> None:
        rows = change["new"]
        if rows and not self._picking:
            line_id = self.model.lines[rows[0]]["line_id"]
            self.line_picker.value = line_id

    def _on_pick(self, change: Any) -> None:
        @guarded(self.errors, "statement line")
        def run() -> None:
            self._picking = True
            try:
                self.model.select_line(change["new"] or "")
            finally:
                self._picking = False

        run()

    def _on_raise(self, button: widgets.Button) -> None:
        @guarded(self.errors, "raise inquiry")
        def run() -> None:
            with self.loading.working("Sending your inquiry…"):
                self.model.raise_inquiry(self.inquiry_text.value)
            self.inquiry_text.value = ""

        run()

    # ---- drawing ----
    def _render(self, change: Any = None) -> None:
        m = self.model
        money = lambda v: format_money(v, m.currency, _places(m.currency))  # noqa: E731
        self.header.value = (
            '<div class="spm-eyebrow">Compensation statement</div>'
            f'<div class="spm-title">{esc(m.payee_name)}</div>'
            f'<div class="spm-subtitle">{esc(m.role.title())} · {esc(m.team)}'
            f'{" · reports to " + esc(m.manager) if m.manager else ""} · {esc(", ".join(m.plans))}</div>')
        if self.period.options != tuple(m.period_options):
            self.period.options = m.period_options
        if self.period.value != m.period:
            self.period.value = m.period
        self.tile_paid.update(display_value=money(m.paid), caption=f"{m.period} · {len(m.lines)} lines")
        self.tile_ytd.update(display_value=money(m.year_to_date), caption="plan year to date")
        att = m.attainment.get("attainment")
        self.tile_att.update(display_value=format_pct(att) if att is not None else "–",
                             caption=(f"{m.attainment.get('component_label', '')} · tier "
                                      f"{m.attainment.get('tier') or '–'}") if m.attainment else "no quota measured")
        final = m.period_status == "closed"
        self.tile_status.update(display_value="Final" if final else "Preliminary",
                                caption=f"period {m.period_status} · run {m.run_id}")
        with self.gauge.batch_update():
            self.gauge.data[0].value = round(float(att) * 100, 1) if att is not None else 0
        self.summary.value = _totals_html(m, money)
        self.balances.value = _balances_html(m, money)
        frame = pd.DataFrame(m.lines, columns=list(LINE_COLUMNS))[
            ["line_no", "section", "description", "amount", "status", "attainment", "tier"]]
        frame["attainment"] = frame["attainment"].map(lambda v: "" if v is None else format_pct(v))
        frame["tier"] = frame["tier"].map(lambda v: v or "")
        self.grid.set_frame(frame)
        self._picking = True
        try:
            self.line_picker.options = [("Choose a line…", "")] + [
                (f"{r['line_no']}. {r['description']} — {money(r['amount'])}", r["line_id"]) for r in m.lines]
            self.line_picker.value = ""
        finally:
            self._picking = False
        self._render_downloads()
        self._render_line()
        self._render_inquiries()

    def _render_line(self, change: Any = None) -> None:
        m = self.model
        if not m.selected_line:
            self.detail.value = ('<div class="spm-muted">Choose a line (in the list or the table) to see '
                                 'how it was calculated and the credits behind it.</div>')
            self.inquiry_button.disabled = True
            return
        self.inquiry_button.disabled = False
        if self.line_picker.value != m.selected_line:
            self._picking = True
            try:
                self.line_picker.value = m.selected_line
            finally:
                self._picking = False
        self.detail.value = _line_html(m, m.line(m.selected_line))

    def _render_inquiries(self, change: Any = None) -> None:
        m = self.model
        self.notice.value = f'<div class="spm-notice">{esc(m.notice)}</div>' if m.notice else ""
        self.inquiries.value = _inquiries_html(m)


def _places(currency: str) -> int:
    from spm_kernel.money import minor_units

    try:
        return minor_units(currency)
    except Exception:  # noqa: BLE001 - an unknown code formats with cents
        return 2


def _totals_html(m: StatementModel, money: Any) -> str:
    rows = []
    for r in m.totals:
        if r.get("currency") not in (None, m.currency):
            continue
        kind = r.get("kind") or "item"
        rows.append(f'<tr class="spm-total-{esc(kind)}" data-item="{esc(r["item"])}"><td>{esc(r["label"])}</td>'
                    f'<td class="spm-num">{money(r["amount"])}</td></tr>')
    return f'<table class="spm-grid spm-totals"><tbody>{"".join(rows)}</tbody></table>'


def _balances_html(m: StatementModel, money: Any) -> str:
    if not m.balances:
        return '<div class="spm-muted">No draw, hold or carry-forward balance.</div>'
    rows = "".join(
        f'<tr data-balance="{esc(b["balance"])}"><td>{esc(b["label"])}</td>'
        f'<td class="spm-num">{money(b["opening"])}</td><td class="spm-num">{money(b["change"])}</td>'
        f'<td class="spm-num spm-closing">{money(b["closing"])}</td></tr>'
        + (f'<tr class="spm-note"><td colspan="4">{esc(b.get("note"))}</td></tr>' if b.get("note") else "")
        for b in m.balances)
    return ('<table class="spm-grid spm-balance-table"><thead><tr><th>Balance</th><th class="spm-num">Opening</th>'
            f'<th class="spm-num">Change</th><th class="spm-num">Closing</th></tr></thead><tbody>{rows}</tbody></table>')


def _line_html(m: StatementModel, line: dict[str, Any]) -> str:
    money = lambda v: format_money(v, line.get("currency") or m.currency, _places(m.currency))  # noqa: E731
    explanation = esc(line.get("explanation") or line.get("formula") or "").replace("\n", "<br>")
    facts = [("Component", line.get("component_label")), ("Type", line.get("line_type")),
             ("Status", line.get("status")), ("Tier", line.get("tier")),
             ("Rate", None if line.get("rate") is None else f"{float(line['rate']) * 100:g}%"),
             ("Attainment", None if line.get("attainment") is None else format_pct(line["attainment"]))]
    facts_html = "".join(f'<span class="spm-fact"><span>{esc(k)}</span> {esc(v)}</span>' for k, v in facts if v)
    credits = ""
    if m.line_credits:
        rows = "".join(
            f'<tr><td>{esc(str(c["credit_date"])[:10])}</td><td>{esc(c["transaction_id"])}</td>'
            f'<td>{esc(c["kind"])}</td><td>{esc(c["credit_type"])}</td>'
            f'<td class="spm-num">{float(c["share"]):g}%</td>'
            f'<td class="spm-num">{money(c["amount"])}</td></tr>' for c in m.line_credits)
        credits = ('<div class="spm-section-title">Credits behind this line</div>'
                   '<table class="spm-grid spm-line-credits"><thead><tr><th>Date</th><th>Transaction</th>'
                   '<th>Kind</th><th>Credit</th><th class="spm-num">Share</th><th class="spm-num">Amount</th>'
                   f'</tr></thead><tbody>{rows}</tbody></table>')
    return (f'<div class="spm-line-head" data-line="{esc(line["line_id"])}">'
            f'<span class="spm-line-title">Line {esc(line["line_no"])}: {esc(line["description"])}</span>'
            f'<span class="spm-line-amount">{money(line["amount"])}</span></div>'
            f'<div class="spm-facts">{facts_html}</div>'
            f'<div class="spm-explanation">{explanation}</div>{credits}')


def _inquiries_html(m: StatementModel) -> str:
    if not m.inquiries:
        return '<div class="spm-muted">You have no inquiries on this statement.</div>'
    nos = {r["line_id"]: r["line_no"] for r in m.lines}
    rows = "".join(
        f'<tr data-dispute="{esc(d["dispute_id"])}"><td>{esc(d["dispute_id"])}</td>'
        f'<td>line {esc(nos.get(d["line_id"], "?"))}</td>'
        f'<td><span class="spm-badge spm-badge-{esc(d["status"])} spm-dispute-status">'
        f'{esc(str(d["status"]).replace("_", " "))}</span></td>'
        f'<td class="spm-desc">{esc(d["description"])}'
        + (f'<div class="spm-muted">Answer: {esc(d["resolution"])}</div>' if d.get("resolution") else "")
        + '</td></tr>' for d in m.inquiries)
    return f'<table class="spm-grid spm-inquiry-table"><tbody>{rows}</tbody></table>'


def _downloads_html(m: StatementModel) -> str:
    mime = {"pdf": "application/pdf",
            "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"}
    links = "".join(
        f'<a class="spm-download spm-download-{kind}" download="{esc(d["filename"])}" '
        f'href="data:{mime[kind]};base64,{d["data"]}">⤓ {kind.upper()}</a>'
        for kind, d in m.downloads.items())
    return f'<div class="spm-download-bar">{links}</div>' if links else ""


_STATEMENT_CSS = """
<style>
.spm-download-bar { display: flex; gap: 8px; }
.spm-download { display: inline-block; padding: 5px 12px; border: 1px solid #d0d5dd; border-radius: 6px;
  color: #1d4e89; text-decoration: none; font-size: 13px; font-weight: 600; background: #fff; }
.spm-download:hover { background: #f3f5f8; }
.spm-totals td { padding: 6px 10px; }
.spm-totals tr.spm-total-subtotal td { font-weight: 600; border-top: 1px solid #e5e7eb; }
.spm-totals tr.spm-total-total td { font-weight: 700; color: #0f2a4a; border-top: 2px solid #0f2a4a; }
.spm-balance-table tr.spm-note td { color: #6b7280; font-size: 12px; }
.spm-line-head { display: flex; justify-content: space-between; font-size: 15px; font-weight: 650;
  color: #0f2a4a; margin: 8px 0 6px; }
.spm-facts { display: flex; flex-wrap: wrap; gap: 6px; margin-bottom: 8px; }
.spm-fact { background: #f3f5f8; border-radius: 6px; padding: 2px 8px; font-size: 12px; }
.spm-fact span { color: #6b7280; }
.spm-explanation { font-family: ui-monospace, SFMono-Regular, Menlo, monospace; font-size: 12px;
  background: #f8fafc; border: 1px solid #eef0f3; border-radius: 6px; padding: 8px 10px; line-height: 1.5;
  white-space: normal; }
.spm-statement .spm-kpi .spm-kpi-value { font-size: 24px; }
</style>
"""


def statement_app(path: str | Path | None = None, payee: str | None = None,
                  period: str | None = None) -> widgets.Widget | None:
    """The statement of ``payee`` (default: :func:`current_user`) in the workspace at ``path``
    (default ``SPM_WORKSPACE``), or a friendly error panel."""

    def build() -> widgets.Widget:
        folder = path or workspace_path()
        who = payee or current_user()
        view = StatementView(StatementModel.from_path(folder, who, period, with_downloads=False))
        view.schedule_downloads()
        return view

    return build_app(build, "rep statement")
