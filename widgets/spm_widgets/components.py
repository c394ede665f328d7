"""Shared building blocks of every workbench app: styles, a loading indicator, a data grid,
KPI tiles, a friendly error display, formatting, and who the app is showing data for.

Contracts (stable: other apps import these names):

* :data:`STYLE` / :func:`style` — the workbench stylesheet (``spm-*`` classes), as a
  string / an ``HTML`` widget to put first in an app.
* :class:`LoadingIndicator` — an ``HTML`` widget with a ``busy`` trait. ``with
  indicator.working("Loading…"):`` sets ``busy`` for the duration of the block. The spinner
  is only *visible* once the block has lasted :data:`LOADING_DELAY_S` (0.5 s; a CSS
  animation delay in the browser), so quick updates never flash it.
* :class:`DataTable` — a real data grid (``ipydatagrid.DataGrid``: sortable, filterable,
  scrolls large frames on a canvas) over a pandas frame. ``.frame`` keeps the exact data
  (``Decimal`` money); the grid shows money columns as numbers formatted to the cent.
  ``selected_rows`` holds the selected row positions (in ``.frame``) when the table is
  selectable.
* :class:`KpiTile` — an ``HTML`` widget drawing a label, a value, a trend (versus the
  previous period) and a benchmark line from its traits.
* :class:`ErrorDisplay` / :func:`error_panel` / :func:`guarded` — an error shown to app users
  as a short sentence and an error id; the traceback goes to the server log (logger
  ``spm_widgets``) under the same id, never to the page. An :class:`~spm_kernel.errors.SPMError`
  (a user-level problem: bad input, missing data) shows its message; anything else shows
  "Something went wrong".
* :func:`current_user` — the one place an app learns *whose* data to show: behind sign-in the
  page request's signed-in user (:mod:`spm_kernel.auth.app_user`), else a notebook variable
  ``SPM_USER`` or the ``SPM_USER`` environment variable; never the URL. With a workspace, it
  must name a payee.
* :func:`workspace_path` — the workspace folder ``spm app`` passes in ``SPM_WORKSPACE``.
* :func:`read_workspace` / :func:`write_workspace` — open the workspace for one action and close
  it again (a write retries while another process holds the file for a moment).
"""

from __future__ import annotations

import html
import logging
import os
import sys
import traceback
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from decimal import ROUND_HALF_UP, Decimal
from functools import wraps
from typing import Any, TypeVar

import ipywidgets as widgets
import pandas as pd
from traitlets import Bool, Enum, List, Unicode

from .grid_paint import GridPaint

log = logging.getLogger("spm_widgets")
if not log.handlers:  # the kernel's own stderr (the server log), never the page's output area
    _handler = logging.StreamHandler(sys.__stderr__)
    _handler.setFormatter(logging.Formatter("%(asctime)s %(name)s %(levelname)s %(message)s"))
    log.addHandler(_handler)
    log.propagate = False

LOADING_DELAY_S = 0.5
USER_VARIABLE = "SPM_USER"
WORKSPACE_ENV = "SPM_WORKSPACE"

STYLE = """
<style>
.spm-app { font-family: -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif;
  color: #1f2937; width: 100%; box-sizing: border-box; max-width: 1240px; margin: 0 auto; padding: 8px 6px 40px; }
.spm-app-header { background: linear-gradient(120deg, #0f2a4a 0%, #1d4e89 100%); color: #fff;
  border-radius: 10px; padding: 16px 24px; }
.spm-app-header .spm-eyebrow { font-size: 11px; text-transform: uppercase; letter-spacing: 1.2px;
  opacity: .75; margin-bottom: 2px; }
.spm-app-header .spm-title { font-size: 24px; font-weight: 650; letter-spacing: .2px; }
.spm-app-header .spm-subtitle { font-size: 13px; opacity: .85; margin-top: 4px; }
.spm-filters { gap: 12px; align-items: flex-end; flex-wrap: wrap; margin: 12px 0 4px;
  background: #fff; border: 1px solid #e5e7eb; border-radius: 10px; padding: 10px 14px; }
.spm-filters .widget-label { font-size: 12px; color: #6b7280; font-weight: 600; }
.spm-kpis { gap: 14px; margin: 14px 0 8px; flex-wrap: wrap; }
.spm-kpi { background: #fff; border: 1px solid #e5e7eb; border-radius: 10px;
  box-shadow: 0 1px 2px rgba(16,24,40,.06); padding: 12px 16px; }
.spm-kpi .spm-kpi-label { font-size: 12px; text-transform: uppercase; letter-spacing: .6px;
  color: #6b7280; font-weight: 600; }
.spm-kpi .spm-kpi-value { font-size: 28px; font-weight: 700; color: #0f2a4a; margin-top: 4px;
  font-variant-numeric: tabular-nums; white-space: nowrap; }
.spm-kpi .spm-kpi-caption { font-size: 12px; color: #6b7280; margin-top: 2px; }
.spm-kpi .spm-kpi-trend { font-size: 12px; font-weight: 600; margin-top: 6px; }
.spm-kpi .spm-trend-good { color: #17663a; }
.spm-kpi .spm-trend-bad { color: #a61b1b; }
.spm-kpi .spm-trend-flat { color: #6b7280; }
.spm-kpi .spm-kpi-benchmark { font-size: 12px; color: #4b5563; margin-top: 2px; }
.spm-section-title { font-size: 15px; font-weight: 650; color: #0f2a4a; margin: 18px 0 8px; }
.spm-chart { flex: 1 1 auto; width: 100%; min-width: 0; }  /* plotly sizes a chart to its box */
.spm-card { background: #fff; border: 1px solid #e5e7eb; border-radius: 10px; padding: 8px 10px;
  box-shadow: 0 1px 2px rgba(16,24,40,.04); }
.spm-row { gap: 14px; }
.spm-loading { min-height: 22px; }
.spm-loading .spm-spinner-wrap { display: none; }
.spm-loading.spm-busy .spm-spinner-wrap { display: inline-flex; align-items: center; gap: 8px;
  font-size: 12px; color: #1d4e89; opacity: 0; animation: spm-appear 0s linear 0.5s forwards; }
.spm-spinner { width: 14px; height: 14px; border: 2px solid #c7d6ea; border-top-color: #1d4e89;
  border-radius: 50%; animation: spm-spin .8s linear infinite; }
@keyframes spm-appear { to { opacity: 1; } }
@keyframes spm-spin { to { transform: rotate(360deg); } }
.spm-table { background: #fff; border: 1px solid #e5e7eb; border-radius: 10px; overflow: hidden; }
.spm-table-empty { color: #9ca3af; font-size: 13px; padding: 10px 14px; }
.spm-grid { width: 100%; border-collapse: collapse; background: #fff; font-size: 13px;
  line-height: 1.4; border: 1px solid #e5e7eb; border-radius: 10px; overflow: hidden; }
.spm-grid th { text-align: left; background: #f3f5f8; color: #374151; font-weight: 600;
  padding: 7px 12px; border-bottom: 1px solid #e5e7eb; }
.spm-grid td { padding: 6px 12px; border-bottom: 1px solid #f0f2f5; vertical-align: top; }
.spm-grid td.spm-num, .spm-grid th.spm-num { text-align: right; font-variant-numeric: tabular-nums;
  white-space: nowrap; }
.spm-badge { display: inline-block; padding: 1px 8px; border-radius: 999px; font-size: 12px;
  font-weight: 600; background: #eef0f3; color: #4b5563; }
.spm-badge-open { background: #fff4e5; color: #9a4a00; }
.spm-badge-in_review { background: #e8f0fb; color: #1d4e89; }
.spm-badge-resolved { background: #e7f6ec; color: #17663a; }
.spm-badge-rejected { background: #fdecec; color: #a61b1b; }
.spm-error { border: 1px solid #f5c2c2; background: #fff5f5; color: #7f1d1d; border-radius: 10px;
  padding: 14px 18px; margin: 12px 0; font-size: 14px; }
.spm-error .spm-error-id { font-family: ui-monospace, SFMono-Regular, Menlo, monospace;
  font-size: 12px; color: #9b2c2c; margin-top: 4px; }
.spm-notice { border: 1px solid #b7e4c7; background: #f0fbf4; color: #14532d; border-radius: 10px;
  padding: 10px 14px; margin: 8px 0; font-size: 13px; }
.spm-muted { color: #6b7280; font-size: 12px; }
.spm-primary button, button.spm-primary { background: #1d4e89; color: #fff; border-radius: 6px; }
.spm-app .widget-button { border-radius: 6px; }
</style>
"""


# ---- formatting ----
def format_money(value: Any, currency: str = "", places: int = 2) -> str:
    """An amount with thousands separators and ``places`` decimals: '1,234.50 USD'; '–' when
    missing. ``Decimal`` values are rounded half up and formatted exactly (no float on the way)."""
    if value is None or (not isinstance(value, (str, Decimal)) and pd.isna(value)):
        return "–"
    amount = Decimal(str(value)).quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP)
    text = f"{amount:,.{places}f}"
    return f"{text} {currency}".strip()


def format_pct(value: Any, places: int = 1) -> str:
    """A ratio as a percentage: 0.9312 -> '93.1%'; '–' when missing."""
    if value is None or (not isinstance(value, (str, Decimal)) and pd.isna(value)):
        return "–"
    return f"{float(value) * 100:,.{places}f}%"


def format_number(value: Any, places: int = 1) -> str:
    """A plain number with separators; '–' when missing."""
    if value is None or (not isinstance(value, (str, Decimal)) and pd.isna(value)):
        return "–"
    return f"{float(value):,.{places}f}"


def esc(value: Any) -> str:
    """HTML-escaped text of any value ('' for None)."""
    return "" if value is None else html.escape(str(value))


# ---- layout helpers ----
def style() -> widgets.HTML:
    """The workbench stylesheet as a widget (put it first in an app)."""
    return widgets.HTML(STYLE)


def header(title: str, subtitle: str = "", eyebrow: str = "") -> widgets.HTML:
    """The banner at the top of an app."""
    out = widgets.HTML(
        (f'<div class="spm-eyebrow">{esc(eyebrow)}</div>' if eyebrow else "")
        + f'<div class="spm-title">{esc(title)}</div>'
        + (f'<div class="spm-subtitle">{esc(subtitle)}</div>' if subtitle else "")
    )
    out.add_class("spm-app-header")
    return out


def section_title(text: str, css_class: str | None = None) -> widgets.HTML:
    out = widgets.HTML(f'<div class="spm-section-title">{esc(text)}</div>')
    if css_class:
        out.add_class(css_class)
    return out


# ---- loading indicator ----
class LoadingIndicator(widgets.HTML):
    """A spinner with a message, visible while ``busy`` once :data:`LOADING_DELAY_S` passed.

    ``busy`` and ``message`` are the state; the browser delays showing the spinner with a CSS
    animation, so the kernel never needs a timer thread."""

    busy = Bool(False).tag(sync=True)
    message = Unicode("Loading…").tag(sync=True)

    def __init__(self, message: str = "Loading…", **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.message = message
        self.add_class("spm-loading")
        self.observe(self._render, names=["busy", "message"])
        self._render()

    def _render(self, change: Any = None) -> None:
        self.value = (f'<span class="spm-spinner-wrap"><span class="spm-spinner"></span>'
                      f'<span class="spm-loading-text">{esc(self.message)}</span></span>')
        if self.busy:
            self.add_class("spm-busy")
        else:
            self.remove_class("spm-busy")

    @contextmanager
    def working(self, message: str | None = None) -> Iterator[None]:
        """Mark the indicator busy for the duration of the ``with`` block (nestable)."""
        previous = (self.busy, self.message)
        with self.hold_trait_notifications():
            if message is not None:
                self.message = message
            self.busy = True
        try:
            yield
        finally:
            with self.hold_trait_notifications():
                self.busy, self.message = previous


# ---- data grid ----
def _grid_frame(frame: pd.DataFrame, money: Sequence[str]) -> pd.DataFrame:
    """The frame as the grid shows it: Decimal money as float (display only), the rest as is."""
    out = frame.reset_index(drop=True).copy()
    for col in out.columns:
        if col in money or out[col].map(lambda v: isinstance(v, Decimal)).any():
            out[col] = out[col].map(lambda v: None if v is None or (not isinstance(v, Decimal)
                                                                    and pd.isna(v)) else float(v))
        elif out[col].dtype == object:
            out[col] = out[col].map(lambda v: None if v is None else (v if isinstance(v, (int, float, bool)) else str(v)))
    return out


GRID_BODY_CHAR_PX = 7.0     # ipydatagrid draws cells in 12px sans-serif: about 7 px a character
GRID_HEADER_CHAR_PX = 8.0   # headers are bold, and carry the sort/filter menu's icon
GRID_WIDTH_STEP = 10        # widths are rounded up to this, so similar columns share one width
TABLE_BUDGET_PX = 1150      # narrow columns are widened while a table stays this wide (an app is 1,240 px)


def _longest_text(column: pd.Series, kind: str) -> int:
    """The length of the longest text the grid draws for ``column`` (shown as ``kind``: "money",
    "percent", "number" or "text"), from the column's extremes, not cell by cell."""
    values = column.dropna()
    if values.empty:
        return 1
    if kind == "text":
        return int(values.astype(str).str.len().max())
    numbers = pd.to_numeric(values, errors="coerce").dropna()
    if numbers.empty:
        return 1
    largest = float(numbers.abs().max())
    sign = 1 if bool((numbers < 0).any()) else 0
    text = f"{largest:,.2f}" if kind == "money" else f"{largest:.1%}" if kind == "percent" \
        else str(int(largest)) if largest.is_integer() else repr(largest)
    return len(text) + sign


def fitted_widths(shown: pd.DataFrame, kinds: dict[str, str]) -> dict[str, int]:
    """A width (px) per shown column that fits its header and its longest value, estimated in
    Python from the data (the browser's own auto-fit measures every cell and resizes every
    column again each time the rows are replaced, each resize repainting the grid)."""
    widths: dict[str, int] = {}
    for col in shown.columns:
        header_px = len(str(col)) * GRID_HEADER_CHAR_PX + 36
        body_px = _longest_text(shown[col], kinds.get(col, "text")) * GRID_BODY_CHAR_PX + 24
        px = min(max(header_px, body_px, 50.0), 400.0)
        widths[str(col)] = int(-(-px // GRID_WIDTH_STEP) * GRID_WIDTH_STEP)
    return widths


def shared_widths(widths: Sequence[int], fixed: Sequence[bool] = ()) -> tuple[int, list[int]]:
    """``(base, shown)``: the grid's base column width and the widths to draw.

    Replacing a grid's rows makes the browser reset every column to the base width and resize
    the others back, each resize repainting that column's cells (and without a GPU, each cell
    painted copies the whole canvas). Columns narrower than the base are therefore widened to
    it (not those in ``fixed``, the app's own widths) while the table stays within
    :data:`TABLE_BUDGET_PX`, and the base is the one leaving the fewest columns to resize (then
    the narrowest table)."""
    if not widths:
        return 120, []
    fixed = list(fixed) or [False] * len(widths)
    limit = max(TABLE_BUDGET_PX, sum(widths))
    best: tuple[tuple[int, int], int, list[int]] | None = None
    for base in sorted(set(widths)):
        shown = [w if keep else max(w, base) for w, keep in zip(widths, fixed)]
        if sum(shown) > limit:
            continue
        key = (sum(w != base for w in shown), sum(shown))
        if best is None or key < best[0]:
            best = (key, base, shown)
    assert best is not None  # the narrowest base widens nothing
    return best[1], best[2]


class DataTable(widgets.VBox):
    """A pandas frame in an ``ipydatagrid.DataGrid`` (sortable, filterable, virtualised).

    ``frame`` holds the exact rows (Decimal money); the grid shows ``money`` columns (and any
    Decimal column) as numbers with two decimals and separators, ``percent`` columns as
    percentages. Labels in ``headers`` rename columns for display only. When ``selectable``,
    selecting cells selects whole rows; ``selected_rows`` lists their positions in ``frame``.
    An invisible :class:`~spm_widgets.grid_paint.GridPaint` sits beside the grid: repaints
    copy each painted region once instead of once per cell.
    """

    selected_rows = List([], help="positions (0-based, in .frame) of the selected rows")
    empty_message = Unicode("Nothing to show.")

    def __init__(self, frame: pd.DataFrame | None = None, *, money: Sequence[str] = (),
                 percent: Sequence[str] = (), headers: dict[str, str] | None = None,
                 css_class: str | None = None, height: str = "320px", selectable: bool = False,
                 column_widths: dict[str, int] | None = None, empty_message: str = "Nothing to show.",
                 **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.money = tuple(money)
        self.percent = tuple(percent)
        self.headers = dict(headers or {})
        self.selectable = selectable
        self.grid_height = height
        self.column_widths = dict(column_widths or {})
        self.empty_message = empty_message
        self.frame = pd.DataFrame()
        self.grid: Any = None
        self._shown_widths: dict[str, int] = {}
        self._empty = widgets.HTML(layout=widgets.Layout(width="100%"))
        self._empty.add_class("spm-table-empty")
        self.children = [self._empty]
        self.add_class("spm-table")
        if css_class:
            self.add_class(css_class)
        self.set_frame(frame if frame is not None else pd.DataFrame())

    def _renderers(self, shown: pd.DataFrame) -> dict[str, Any]:
        from ipydatagrid import TextRenderer

        formats = {"percent": ".1%", "money": ",.2f", "number": None}
        return {col: TextRenderer(format=formats[kind], horizontal_alignment="right", missing="–")
                if formats[kind] else TextRenderer(horizontal_alignment="right", missing="–")
                for col, kind in self._kinds(shown).items()}

    def _source_column(self, shown: str) -> str:
        for src, label in self.headers.items():
            if label == shown:
                return src
        return shown

    def _kinds(self, shown: pd.DataFrame) -> dict[str, str]:
        """How each shown column is drawn: "percent", "money" (``money`` columns and Decimal
        ones, which the grid receives as floats), "number"; text columns are not listed."""
        kinds: dict[str, str] = {}
        for col in shown.columns:
            source = self._source_column(col)
            if source in self.percent:
                kinds[col] = "percent"
            elif source in self.money or (source in self.frame.columns and pd.api.types.is_float_dtype(shown[col])
                                          and not pd.api.types.is_float_dtype(self.frame[source])):
                kinds[col] = "money"
            elif pd.api.types.is_numeric_dtype(shown[col]):
                kinds[col] = "number"
        return kinds

    def _widths(self, shown: pd.DataFrame) -> tuple[int, dict[str, int]]:
        """The base width and each shown column's width: the one given in ``column_widths``,
        else fitted to the data and never narrower than before (switching back and forth does
        not resize), widened to the base where that costs nothing (:func:`shared_widths`)."""
        given = {self.headers.get(k, k): v for k, v in self.column_widths.items()}
        fitted = fitted_widths(shown, self._kinds(shown))
        before = self._shown_widths if list(self._shown_widths) == list(shown.columns) else {}
        columns = [str(c) for c in shown.columns]
        wanted = [given.get(col, max(fitted[col], before.get(col, 0))) for col in columns]
        base, widths = shared_widths(wanted, [col in given for col in columns])
        return base, dict(zip(columns, widths))

    def set_frame(self, frame: pd.DataFrame) -> None:
        """Show ``frame`` (a new grid when the columns change, else the data is replaced).

        Column widths are set from Python, not auto-fitted in the browser, and most columns
        share the grid's base width (:func:`shared_widths`): replacing the rows then resizes (and
        repaints) as few columns as possible, which is most of what a filter change costs the
        browser."""
        from ipydatagrid import DataGrid

        self.frame = frame.reset_index(drop=True)
        self.selected_rows = []
        shown = _grid_frame(self.frame, self.money).rename(columns=self.headers)
        # The children never change once the grid exists (the message is hidden or shown): a grid
        # taken off the page and put back, or moved in its box, gets a new view in the browser,
        # laid out and painted from nothing (a second or two of canvas work).
        self._empty.value = esc(self.empty_message)
        self._empty.layout.display = None if self.frame.empty else "none"
        if self.frame.empty:
            if self.grid is not None and list(self.grid.data.columns) == list(shown.columns):
                with self.grid.hold_sync():  # the grid keeps its headers, with no rows
                    if self.grid.selections:
                        self.grid.clear_selection()
                    self.grid.data = shown
            elif self.grid is not None:
                self.grid.layout.display = "none"
            return
        base, widths = self._widths(shown)
        resized = {col: w for col, w in widths.items() if w != base}
        if self.grid is not None and list(self.grid.data.columns) == list(shown.columns):
            with self.grid.hold_sync():  # one message: each message to ipydatagrid repaints its canvas
                if self.grid.selections:
                    self.grid.clear_selection()
                self.grid.data = shown
                if widths != self._shown_widths:
                    self.grid.base_column_size = base
                    self.grid.column_widths = resized
                self.grid.layout.display = None
        else:
            self.grid = DataGrid(
                shown, base_column_size=base, base_row_size=28, base_column_header_size=32,
                header_visibility="column", auto_fit_columns=False, column_widths=resized,
                renderers=self._renderers(shown), selection_mode="row" if self.selectable else "none",
                layout=widgets.Layout(height=self.grid_height, width="100%"),
                grid_style={"header_background_color": "#f3f5f8", "background_color": "#ffffff",
                            "grid_line_color": "#eef0f3", "header_grid_line_color": "#e5e7eb",
                            "selection_fill_color": "rgba(29,78,137,0.12)",
                            "selection_border_color": "#1d4e89"},
            )
            self.grid.observe(self._on_selection, names=["selections"])
            self.children = [self._empty, self.grid, GridPaint(self.grid)]
        self._shown_widths = widths

    def _on_selection(self, change: Any) -> None:
        rows: list[int] = []
        for sel in change["new"] or []:
            lo, hi = sorted((int(sel["r1"]), int(sel["r2"])))
            rows.extend(range(lo, hi + 1))
        self.selected_rows = sorted(set(r for r in rows if 0 <= r < len(self.frame)))

    def select_row(self, position: int) -> None:
        """Select one row (as a click on it would); clears the selection for ``-1``."""
        if self.grid is None or self.frame.empty:
            return
        self.grid.clear_selection()
        if position >= 0:
            self.grid.select(row1=position, column1=0, row2=position,
                             column2=len(self.frame.columns) - 1, clear_mode="all")
            self.selected_rows = [position]
        else:
            self.selected_rows = []


# ---- KPI tile ----
class KpiTile(widgets.HTML):
    """A KPI tile: label, value, caption, trend (versus the previous period) and benchmark.

    ``tone`` colours the trend: 'good', 'bad' or 'flat'. All texts are escaped."""

    label = Unicode("")
    display_value = Unicode("–")
    caption = Unicode("")
    trend = Unicode("")
    tone = Enum(["good", "bad", "flat"], default_value="flat")
    benchmark = Unicode("")

    def __init__(self, label: str = "", css_class: str | None = None, **kwargs: Any) -> None:
        super().__init__(layout=kwargs.pop("layout", widgets.Layout(flex="1 1 0", min_width="180px")))
        self.label = label
        for key, val in kwargs.items():
            setattr(self, key, val)
        self.add_class("spm-kpi")
        if css_class:
            self.add_class(css_class)
        self.observe(self._render, names=["label", "display_value", "caption", "trend", "tone",
                                          "benchmark"])
        self._render()

    def update(self, **values: Any) -> None:
        """Set several traits at once (one redraw)."""
        with self.hold_trait_notifications():
            for key, val in values.items():
                setattr(self, key, val)
        self._render()

    def _render(self, change: Any = None) -> None:
        arrow = {"good": "▲", "bad": "▼", "flat": "■"}[self.tone] if self.trend else ""
        self.value = (
            f'<div class="spm-kpi-label">{esc(self.label)}</div>'
            f'<div class="spm-kpi-value">{esc(self.display_value)}</div>'
            f'<div class="spm-kpi-caption">{esc(self.caption) or "&nbsp;"}</div>'
            + (f'<div class="spm-kpi-trend spm-trend-{self.tone}">{arrow} {esc(self.trend)}</div>'
               if self.trend else "")
            + (f'<div class="spm-kpi-benchmark">{esc(self.benchmark)}</div>' if self.benchmark else "")
        )


# ---- friendly errors ----
def _user_message(exc: BaseException) -> str:
    from spm_kernel.errors import SPMError

    if isinstance(exc, (SPMError, UserFacingError)):
        return str(exc)
    return "Something went wrong while preparing this view."


class UserFacingError(Exception):
    """An error whose message is meant for the app user (no internals in it)."""


def report_error(exc: BaseException, context: str = "") -> str:
    """Log ``exc`` with its traceback under a new error id (to the server log); return the id."""
    error_id = uuid.uuid4().hex[:8].upper()
    trace = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
    log.error("error %s%s\n%s", error_id, f" ({context})" if context else "", trace)
    return error_id


def error_html(message: str, error_id: str | None = None, title: str = "This view cannot be shown.") -> str:
    ref = (f'<div class="spm-error-id">Error id {esc(error_id)}: quote it to your administrator.</div>'
           if error_id else "")
    return f'<div class="spm-error"><b>{esc(title)}</b><br>{esc(message)}{ref}</div>'


class ErrorDisplay(widgets.HTML):
    """Where an app shows what went wrong; empty until :meth:`show`."""

    error_id = Unicode("", help="the id of the last error shown (logged with its traceback)")
    message = Unicode("")

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.add_class("spm-error-display")

    def show(self, exc: BaseException, context: str = "", title: str = "That did not work.") -> str:
        """Log ``exc`` and show a friendly message with its id; returns the id."""
        self.error_id = report_error(exc, context)
        self.message = _user_message(exc)
        self.value = error_html(self.message, self.error_id, title)
        return self.error_id

    def clear(self) -> None:
        self.error_id = ""
        self.message = ""
        self.value = ""


def error_panel(exc: BaseException | str, context: str = "", title: str = "This view cannot be shown.") -> widgets.HTML:
    """A whole-app error panel: a string is shown as is; an exception is logged with an id."""
    if isinstance(exc, str):
        body = error_html(exc, None, title)
    else:
        body = error_html(_user_message(exc), report_error(exc, context), title)
    panel = widgets.HTML(STYLE + body)
    panel.add_class("spm-error-panel")
    return panel


F = TypeVar("F", bound=Callable[..., Any])


def guarded(display: ErrorDisplay, context: str = "") -> Callable[[F], F]:
    """Decorate a callback so an exception is shown in ``display`` (and logged) instead of
    escaping into the kernel's output; a success clears the display."""

    def wrap(fn: F) -> F:
        @wraps(fn)
        def inner(*args: Any, **kwargs: Any) -> Any:
            try:
                out = fn(*args, **kwargs)
            except Exception as exc:  # noqa: BLE001 - shown to the user, traced in the log
                display.show(exc, context or fn.__name__)
                return None
            display.clear()
            return out

        return inner  # type: ignore[return-value]

    return wrap


def build_app(builder: Callable[[], widgets.Widget], context: str = "app") -> widgets.Widget | None:
    """Call ``builder``; on any exception an :func:`error_panel` instead of raising. In a
    pre-heated app kernel the app is shown and ``None`` returned (:func:`app_on_request`)."""

    def safe() -> widgets.Widget:
        try:
            return builder()
        except Exception as exc:  # noqa: BLE001 - shown to the user, traced in the log
            return error_panel(exc, context)

    return app_on_request(safe)


def workspace_fingerprint(path: str | os.PathLike[str] | None) -> tuple[Any, ...]:
    """Size and modification time of the workspace's database, its write-ahead log and its
    plan files: any write to the workspace changes it (a read does not)."""
    from pathlib import Path

    from spm_kernel.workspace import DATABASE_FILE

    if not path:
        return ()
    folder = Path(path)
    files = [folder / DATABASE_FILE, folder / f"{DATABASE_FILE}.wal", *sorted((folder / "plans").glob("*"))]
    out = []
    for file in files:
        try:
            stat = file.stat()
        except OSError:
            out.append((file.name, None))
        else:
            out.append((file.name, stat.st_size, stat.st_mtime_ns))
    return tuple(out)


class KeptUntilChanged:
    """Answers kept in memory until the workspace changes on disk (:func:`workspace_fingerprint`).
    Call :meth:`check` once per action, before reading ``answers``."""

    def __init__(self) -> None:
        self.answers: dict[Any, Any] = {}
        self._fingerprint: tuple[Any, ...] | None = None

    def check(self, path: str | os.PathLike[str] | None) -> None:
        """Forget every answer if the workspace at ``path`` changed since the last check."""
        fingerprint = workspace_fingerprint(path)
        if fingerprint != self._fingerprint:
            self.clear()
            self._fingerprint = fingerprint

    def clear(self) -> None:
        """Forget every answer."""
        self.answers.clear()

    def get(self, key: Any, compute: Callable[[], Any]) -> Any:
        """The answer kept under ``key``, computed first if there is none."""
        if key not in self.answers:
            self.answers[key] = compute()
        return self.answers[key]


def app_on_request(build: Callable[[], widgets.Widget]) -> widgets.Widget | None:
    """``build()``, fresh for the page that shows it.

    Outside a pre-heated Voila kernel this is just ``build()``. A pre-heated kernel runs its
    notebook before anybody asks for the page, possibly long before: here the app is built
    then, shown at once (in a box), and the kernel waits for the page request; if the
    workspace changed in between (:func:`workspace_fingerprint`), the app is built again in
    the same box before the page receives any widget. Returns ``None`` then (it is already
    shown). Behind sign-in the build itself waits for the request (it needs the user), so
    nothing is built twice."""
    from IPython.display import display

    from spm_kernel.auth.app_user import preheating, wait_for_page_request

    if not preheating():
        return build()
    path = os.environ.get(WORKSPACE_ENV, "")
    before = workspace_fingerprint(path)
    box = widgets.VBox([build()])
    box.add_class("spm-app-box")
    display(box)
    if wait_for_page_request() and workspace_fingerprint(path) != before:
        box.children = [build()]
    return None


# ---- who and where ----
def workspace_path() -> str:
    """The workspace folder from ``SPM_WORKSPACE``; a UserFacingError if it is not set."""
    path = os.environ.get(WORKSPACE_ENV, "")
    if not path:
        raise UserFacingError("No workspace was given: start the workbench with "
                              "`spm app --workspace DIR` (it sets SPM_WORKSPACE).")
    return path


def current_user(ws: Any = None) -> str:
    """Whose data this app shows. Behind sign-in: the signed-in user of the page request
    (:func:`spm_kernel.auth.app_user.signed_in`; a pre-heated kernel waits for the request
    here). Without sign-in: the notebook variable ``SPM_USER``, else the ``SPM_USER``
    environment variable of the server. Never from the URL.

    With ``ws``, the user must be a payee id of the workspace. Raises :class:`UserFacingError`
    when there is no user, or it is unknown."""
    signed = _signed_in()
    main = sys.modules.get("__main__")
    user = signed.user if signed is not None else (getattr(main, USER_VARIABLE, None) if main is not None else None)
    if not user and signed is None:
        user = os.environ.get(USER_VARIABLE, "")
    user = str(user or "").strip()
    if not user:
        raise UserFacingError("This app shows one person's data, and nobody is signed in.")
    if ws is not None:
        found = ws.sql("SELECT payee_id FROM payees WHERE payee_id = ?", [user])
        if found.empty:
            raise UserFacingError(f"No payee {user!r} in this workspace.")
    return user


# ---- opening the workspace briefly ----
def _open_retrying(path: str, read_only: bool, attempts: int, wait_s: float) -> Any:
    import time

    import spm_kernel
    from spm_kernel.errors import WorkspaceLockedError

    last: Exception | None = None
    for _ in range(max(1, attempts)):
        try:
            return spm_kernel.open(path, read_only=read_only)
        except WorkspaceLockedError as exc:
            last = exc
            time.sleep(wait_s)
    raise UserFacingError("The workspace is busy (another program is writing to it); "
                          "try again in a moment.") from last


USERNAME_VARIABLE = "SPM_USERNAME"


def _signed_in() -> Any:
    """The signed-in user of this page behind sign-in, else ``None`` (a missing user behind
    sign-in is a :class:`UserFacingError`)."""
    from spm_kernel.auth.app_user import signed_in
    from spm_kernel.errors import SPMError

    try:
        return signed_in()
    except SPMError as exc:
        raise UserFacingError(str(exc)) from None


@contextmanager
def signed_in_view(ws: Any) -> Iterator[Any]:
    """Behind sign-in, ``ws`` as the page's signed-in user may see and change it
    (``ws.as_user``: rows filtered and writes checked in the kernel, issue 9); a pre-heated
    kernel waits for the page request here. Without sign-in, ``ws`` itself, unless the
    notebook variable ``SPM_USERNAME`` names a user (a notebook run as someone)."""
    signed = _signed_in()
    main = sys.modules.get("__main__")
    username = signed.username if signed is not None else (
        getattr(main, USERNAME_VARIABLE, None) if main is not None else None)
    if not username:
        yield ws
        return
    scoped = ws.as_user(str(username))
    try:
        yield scoped
    finally:
        scoped.close()


@contextmanager
def read_workspace(path: str, attempts: int = 40, wait_s: float = 0.25) -> Iterator[Any]:
    """The workspace at ``path`` opened read-only for the ``with`` block, then closed (apps hold
    no lock between actions, so imports and other apps' writes can run in between). While
    another process writes, the open is retried ``attempts`` times, ``wait_s`` apart."""
    ws = _open_retrying(path, True, attempts, wait_s)
    try:
        with signed_in_view(ws) as view:
            yield view
    finally:
        ws.close()


class LazyWorkspace:
    """``with LazyWorkspace(path) as lazy:`` — ``lazy.ws`` opens the workspace read-only (as
    :func:`read_workspace`) the first time it is used, and the block closes it: a refresh
    answered from memory never opens the file."""

    def __init__(self, path: str) -> None:
        self.path = path
        self._context: Any = None
        self._ws: Any = None

    @property
    def ws(self) -> Any:
        if self._ws is None:
            self._context = read_workspace(self.path)
            self._ws = self._context.__enter__()
        return self._ws

    def __enter__(self) -> LazyWorkspace:
        return self

    def __exit__(self, *exc: object) -> None:
        if self._context is not None:
            self._context.__exit__(*exc)
        self._context = self._ws = None


@contextmanager
def write_workspace(path: str, attempts: int = 40, wait_s: float = 0.25) -> Iterator[Any]:
    """The workspace at ``path`` opened for writing for the ``with`` block, then closed; retried
    while another process holds the file for a moment (DuckDB allows one writer, or readers)."""
    ws = _open_retrying(path, False, attempts, wait_s)
    try:
        with signed_in_view(ws) as view:
            yield view
    finally:
        ws.close()
