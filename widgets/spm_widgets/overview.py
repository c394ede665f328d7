"""The workspace overview: what a workspace holds (tables, row counts, date ranges) and which
plugins it runs with.

* :class:`OverviewModel` is the state (traitlets), filled from a workspace and testable
  without a browser. It keeps nothing open: :meth:`OverviewModel.from_path` and
  :meth:`OverviewModel.refresh` open the workspace read-only, read, and close it again, so
  several app kernels can read while an ``spm import`` writes in between.
* :class:`OverviewView` draws a model with ipywidgets: a header with the company name, KPI
  tiles (payees, opportunities, transactions, FX rows), an HTML table of every table with
  its row count and date range, and the plugin list. Every part carries a CSS class
  (``spm-overview-*``, ``spm-kpi-<table>``; table rows have ``data-table="<name>"``) so
  browser tests and stylesheets select them reliably.
* :func:`overview_app` is what the Voila notebook displays: the view, or a readable error
  panel when there is no workspace to show.
"""

from __future__ import annotations

import html
from datetime import date, datetime
from pathlib import Path
from typing import Any

import ipywidgets as widgets
import pandas as pd
from traitlets import Dict, HasTraits, Int, List, Unicode

KPI_TABLES: tuple[tuple[str, str], ...] = (
    ("payees", "Payees"),
    ("opportunities", "Opportunities"),
    ("transactions", "Transactions"),
    ("fx_rates", "FX rates"),
)

CSS = """
<style>
.spm-overview { font-family: -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif;
  color: #1f2937; max-width: 1180px; margin: 0 auto; padding: 8px 4px 32px; }
.spm-overview-header { background: linear-gradient(120deg, #0f2a4a 0%, #1d4e89 100%);
  color: #fff; border-radius: 10px; padding: 18px 24px; }
.spm-overview-header .spm-eyebrow { font-size: 11px; text-transform: uppercase; letter-spacing: 1.2px;
  opacity: .75; margin-bottom: 2px; }
.spm-overview-header .spm-company { font-size: 26px; font-weight: 650; letter-spacing: .2px; }
.spm-overview-header .spm-subtitle { font-size: 13px; opacity: .85; margin-top: 4px; }
.spm-overview-header .spm-subtitle code { color: #fff; background: rgba(255,255,255,.12);
  padding: 1px 6px; border-radius: 4px; }
.spm-toolbar { align-items: center; justify-content: flex-end; gap: 12px; margin: 6px 0 0; }
.spm-status { font-size: 12px; color: #6b7280; }
.spm-refresh { background: #fff; border: 1px solid #d0d5dd; border-radius: 6px; color: #1d4e89; }
.spm-kpis { gap: 14px; margin: 14px 0 8px; flex-wrap: wrap; }
.spm-kpi { background: #fff; border: 1px solid #e5e7eb; border-radius: 10px;
  box-shadow: 0 1px 2px rgba(16,24,40,.06); padding: 14px 18px; }
.spm-kpi .spm-kpi-label { font-size: 12px; text-transform: uppercase; letter-spacing: .6px;
  color: #6b7280; font-weight: 600; }
.spm-kpi .spm-kpi-value { font-size: 30px; font-weight: 700; color: #0f2a4a; margin-top: 4px;
  font-variant-numeric: tabular-nums; }
.spm-kpi .spm-kpi-range { font-size: 12px; color: #6b7280; margin-top: 2px; }
.spm-section-title { font-size: 15px; font-weight: 650; color: #0f2a4a; margin: 18px 0 8px; }
.spm-grid { width: 100%; border-collapse: collapse; background: #fff; font-size: 13px;
  line-height: 1.4; border: 1px solid #e5e7eb; border-radius: 10px; overflow: hidden; }
.spm-grid th { text-align: left; background: #f3f5f8; color: #374151; font-weight: 600;
  padding: 8px 12px; border-bottom: 1px solid #e5e7eb; }
.spm-grid td { padding: 7px 12px; border-bottom: 1px solid #f0f2f5; vertical-align: top; }
.spm-grid tr:last-child td { border-bottom: none; }
.spm-grid td.spm-num, .spm-grid th.spm-num { text-align: right; font-variant-numeric: tabular-nums; }
.spm-grid td.spm-name { font-family: ui-monospace, SFMono-Regular, Menlo, monospace; color: #0f2a4a; }
.spm-grid td.spm-desc { color: #6b7280; }
.spm-grid td.spm-date, .spm-grid td.spm-num, .spm-grid td.spm-name { white-space: nowrap; }
.spm-grid tr.spm-empty td { color: #9ca3af; }
.spm-badge { display: inline-block; padding: 1px 8px; border-radius: 999px; font-size: 12px;
  font-weight: 600; }
.spm-badge-active { background: #e7f6ec; color: #17663a; }
.spm-badge-disabled { background: #eef0f3; color: #4b5563; }
.spm-badge-failed { background: #fdecec; color: #a61b1b; }
.spm-badge-error { background: #fff4e5; color: #9a4a00; }
.spm-error-text { color: #a61b1b; font-size: 12px; margin-top: 2px; }
.spm-error { border: 1px solid #f5c2c2; background: #fff5f5; color: #7f1d1d; border-radius: 10px;
  padding: 16px 20px; max-width: 900px; margin: 16px auto; font-size: 14px; }
</style>
"""


# ---- formatting ----
def format_count(n: int) -> str:
    """A row count with thousands separators: 1234567 -> '1,234,567'."""
    return f"{int(n):,}"


def format_date(value: str | date | None) -> str:
    """An ISO date as '5 Jan 2023'; '' when missing."""
    if value is None or value == "" or (not isinstance(value, (str, date)) and pd.isna(value)):
        return ""
    day = date.fromisoformat(str(value)[:10]) if not isinstance(value, date) else value
    return f"{day.day} {day:%b %Y}"


def format_range(first: str | None, last: str | None) -> str:
    """'5 Jan 2023 – 30 Dec 2025', one date when both are equal, '' when unknown."""
    lo, hi = format_date(first), format_date(last)
    if not lo and not hi:
        return ""
    return lo if lo == hi else f"{lo} – {hi}"


def _text(value: Any) -> str | None:
    return None if value is None or (not isinstance(value, str) and pd.isna(value)) else str(value)


# ---- model ----
class OverviewModel(HasTraits):
    """What one workspace holds, as plain data (no open connection)."""

    workspace_path = Unicode("", help="the workspace folder")
    company_name = Unicode("", help="the workspace's configured name")
    base_currency = Unicode("")
    schema_version = Int(0)
    tables = List(Dict(), help="one dict per table: table, description, rows, first_date, last_date")
    plugins = List(Dict(), help="one dict per plugin: name, distribution, version, hooks, status")
    extensions = List(Dict(), help="one dict per registered extension: kind, name, plugin")
    loaded_at = Unicode("", help="when the figures were read (ISO, local time)")

    @classmethod
    def from_workspace(cls, ws: Any) -> OverviewModel:
        model = cls()
        model.update_from(ws)
        return model

    @classmethod
    def from_path(cls, path: str | Path) -> OverviewModel:
        """Open the workspace at ``path`` read-only, read it, close it."""
        model = cls(workspace_path=str(Path(path).expanduser().resolve()))
        model.refresh()
        return model

    def refresh(self) -> None:
        """Re-read :attr:`workspace_path` (read-only); raises SPMError if it cannot be opened."""
        import spm_kernel

        with spm_kernel.open(self.workspace_path, read_only=True) as ws:
            self.update_from(ws)

    def update_from(self, ws: Any) -> None:
        """Fill every field from an open workspace; observers see one consistent update."""
        from spm_kernel.builtin.commands import extension_rows

        summary = ws.summary()
        tables = [
            {"table": str(rec.table_name), "description": str(rec.description),
             "rows": int(rec.rows), "first_date": _text(rec.first_date),
             "last_date": _text(rec.last_date)}
            for rec in summary.itertuples(index=False)
        ]
        plugins = [dict(row, hooks=list(row["hooks"])) for row in ws.plugins.describe()]
        extensions = extension_rows(ws.registry)
        with self.hold_trait_notifications():
            self.workspace_path = str(ws.path)
            self.company_name = ws.config.name
            self.base_currency = ws.config.base_currency
            self.schema_version = int(ws.schema_version)
            self.plugins = plugins
            self.extensions = extensions
            self.loaded_at = datetime.now().isoformat(timespec="seconds")
            self.tables = tables

    def table_row(self, table: str) -> dict[str, Any]:
        for row in self.tables:
            if row["table"] == table:
                return row
        raise KeyError(f"the overview has no table {table!r}")

    def rows(self, table: str) -> int:
        return int(self.table_row(table)["rows"])

    @property
    def kpis(self) -> list[dict[str, Any]]:
        """The tiles: label, rows and date range of the key tables."""
        out = []
        for table, label in KPI_TABLES:
            row = self.table_row(table)
            out.append({"table": table, "label": label, "rows": row["rows"],
                        "first_date": row["first_date"], "last_date": row["last_date"]})
        return out

    @property
    def total_rows(self) -> int:
        return sum(int(r["rows"]) for r in self.tables)


# ---- view ----
def _status_badge(status: str) -> str:
    kind, _, detail = status.partition(":")
    kind = kind.strip() if kind.strip() in ("active", "disabled", "failed", "error") else "failed"
    badge = f'<span class="spm-badge spm-badge-{kind}">{html.escape(kind)}</span>'
    if detail.strip():
        badge += f'<div class="spm-error-text">{html.escape(detail.strip())}</div>'
    return badge


def tables_html(model: OverviewModel) -> str:
    """Every table with its row count and date range, as an HTML table."""
    body = []
    for row in model.tables:
        empty = " spm-empty" if not row["rows"] else ""
        name = html.escape(row["table"])
        body.append(
            f'<tr class="spm-table-row{empty}" data-table="{name}">'
            f'<td class="spm-name">{name}</td>'
            f'<td class="spm-num spm-rows">{format_count(row["rows"])}</td>'
            f'<td class="spm-date spm-first">{format_date(row["first_date"])}</td>'
            f'<td class="spm-date spm-last">{format_date(row["last_date"])}</td>'
            f'<td class="spm-desc">{html.escape(row["description"])}</td></tr>'
        )
    return (
        '<table class="spm-grid spm-tables-grid"><thead><tr><th>Table</th>'
        '<th class="spm-num">Rows</th><th>From</th><th>To</th><th>Contents</th></tr></thead>'
        f'<tbody>{"".join(body)}</tbody></table>'
    )


def plugins_html(model: OverviewModel) -> str:
    """Plugins (distribution, version, hooks, status) and the extensions they register."""
    body = []
    for row in model.plugins:
        name = html.escape(row["name"])
        body.append(
            f'<tr class="spm-plugin-row" data-plugin="{name}"><td class="spm-name">{name}</td>'
            f'<td>{html.escape(row["distribution"] or "")}</td>'
            f'<td>{html.escape(row["version"] or "")}</td>'
            f'<td class="spm-desc">{html.escape(", ".join(row["hooks"]) or "–")}</td>'
            f'<td class="spm-status-cell">{_status_badge(row["status"])}</td></tr>'
        )
    out = (
        '<table class="spm-grid spm-plugins-grid"><thead><tr><th>Plugin</th><th>Distribution</th>'
        '<th>Version</th><th>Hooks</th><th>Status</th></tr></thead>'
        f'<tbody>{"".join(body)}</tbody></table>'
    )
    if model.extensions:
        ext = "".join(
            f'<tr data-extension="{html.escape(e["name"])}"><td>{html.escape(e["kind"])}</td>'
            f'<td class="spm-name">{html.escape(e["name"])}</td>'
            f'<td class="spm-desc">{html.escape(e["plugin"])}</td></tr>'
            for e in model.extensions
        )
        out += (
            '<div class="spm-section-title">Registered extensions</div>'
            '<table class="spm-grid spm-extensions-grid"><thead><tr><th>Kind</th><th>Name</th>'
            f'<th>Provided by</th></tr></thead><tbody>{ext}</tbody></table>'
        )
    return out


def _tile_html(kpi: dict[str, Any]) -> str:
    return (
        f'<div class="spm-kpi-label">{html.escape(kpi["label"])}</div>'
        f'<div class="spm-kpi-value">{format_count(kpi["rows"])}</div>'
        f'<div class="spm-kpi-range">{format_range(kpi["first_date"], kpi["last_date"]) or "&nbsp;"}</div>'
    )


class OverviewView(widgets.VBox):
    """The overview page for an :class:`OverviewModel`; redraws when the model changes."""

    def __init__(self, model: OverviewModel, **kwargs: Any) -> None:
        self.model = model
        self.header = widgets.HTML()
        self.header.add_class("spm-overview-header")
        self.status = widgets.HTML()
        self.status.add_class("spm-status")
        self.refresh_button = widgets.Button(description="Refresh", icon="refresh",
                                             tooltip="read the workspace again")
        self.refresh_button.add_class("spm-refresh")
        self.refresh_button.on_click(self._on_refresh)
        toolbar = widgets.HBox([self.status, self.refresh_button])
        toolbar.add_class("spm-toolbar")
        self.tiles: dict[str, widgets.HTML] = {}
        for table, _label in KPI_TABLES:
            tile = widgets.HTML(layout=widgets.Layout(flex="1 1 0", min_width="190px"))
            tile.add_class("spm-kpi")
            tile.add_class(f"spm-kpi-{table.replace('_', '-')}")
            self.tiles[table] = tile
        tiles = widgets.HBox(list(self.tiles.values()))
        tiles.add_class("spm-kpis")
        self.tables = widgets.HTML()
        self.tables.add_class("spm-overview-tables")
        self.plugins = widgets.HTML()
        self.plugins.add_class("spm-overview-plugins")
        self.tables_title = widgets.HTML()
        self.plugins_title = widgets.HTML()
        super().__init__(
            [widgets.HTML(CSS), self.header, toolbar, tiles, self.tables_title, self.tables,
             self.plugins_title, self.plugins],
            **kwargs,
        )
        self.add_class("spm-overview")
        model.observe(self._render, names=["tables", "plugins", "extensions", "company_name",
                                           "workspace_path", "loaded_at"])
        self._render()

    def _render(self, change: Any = None) -> None:
        m = self.model
        self.header.value = (
            '<div class="spm-eyebrow">Workspace overview</div>'
            f'<div class="spm-company">{html.escape(m.company_name)}</div>'
            f'<div class="spm-subtitle">Workspace <code>{html.escape(m.workspace_path)}</code>'
            f' · base currency {html.escape(m.base_currency)} · schema v{m.schema_version}</div>'
        )
        if m.tables:
            for kpi in m.kpis:
                self.tiles[kpi["table"]].value = _tile_html(kpi)
        loaded = m.loaded_at.replace("T", " ") if m.loaded_at else "never"
        self.status.value = f"{format_count(m.total_rows)} rows in {len(m.tables)} tables · read {loaded}"
        self.tables_title.value = '<div class="spm-section-title">Tables</div>'
        self.tables.value = tables_html(m)
        self.plugins_title.value = f'<div class="spm-section-title">Plugins ({len(m.plugins)})</div>'
        self.plugins.value = plugins_html(m)

    def _on_refresh(self, button: widgets.Button) -> None:
        from spm_kernel.errors import SPMError

        try:
            self.model.refresh()
        except (SPMError, RuntimeError, OSError) as exc:
            self.status.value = f'<span class="spm-error-text">could not refresh: {html.escape(str(exc))}</span>'


def error_panel(message: str) -> widgets.HTML:
    """A readable message in place of an app that cannot be shown."""
    panel = widgets.HTML(CSS + f'<div class="spm-error"><b>The overview cannot be shown.</b><br>'
                         f'{html.escape(message)}</div>')
    panel.add_class("spm-error-panel")
    return panel


def overview_app(path: str | Path | None) -> widgets.Widget | None:
    """The overview of the workspace at ``path`` (opened read-only), or an error panel (fresh
    for the page in a pre-heated kernel: ``spm_widgets.components.app_on_request``)."""
    from spm_kernel.errors import SPMError
    from spm_widgets.components import app_on_request

    if not path:
        return error_panel("No workspace was given: start the workbench with "
                           "`spm app --workspace DIR` (it sets SPM_WORKSPACE).")

    def build() -> widgets.Widget:
        try:
            return OverviewView(OverviewModel.from_path(path))
        except (SPMError, RuntimeError, OSError) as exc:
            return error_panel(str(exc))

    return app_on_request(build)
