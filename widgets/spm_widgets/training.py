"""Training widgets: a rep's learning page and a manager's completion overview.

* :class:`LearnerModel` (traitlets): one payee's modules (assigned ones with their status and
  due date, then the optional modules of their role's learning paths), the module open and a
  message. :meth:`LearnerModel.complete` records a completion with a timestamp through the
  validated importer (opening the workspace for writing only for that moment).
* :class:`LearnerView`: the module list (a button per module, ``spm-module-open`` and
  ``spm-module-<id>``), the open module's Markdown rendered as HTML (``spm-module-content``)
  and a "Mark complete" button (``spm-complete``); the time of completion shows in
  ``spm-completed-at``.
* :class:`ManagerModel` / :class:`ManagerView`: for a manager's organisation on a day, the
  assignment counts (tiles ``spm-training-assigned``, ``-completed``, ``-overdue``,
  ``-open``), one row per person (``tr[data-payee]``), who is overdue, and the latest stored
  training-effect estimates with their credible interval (``spm-training-effect``).
* :func:`learning_app` is what the Voila learning app displays for the signed-in user.

Models keep nothing open: they open the workspace (read-only to read), read and close it, so
several app kernels and the command line can share one workspace.
"""

from __future__ import annotations

import html
import os
import time
from datetime import date, datetime
from pathlib import Path
from typing import Any

import ipywidgets as widgets
import pandas as pd
from traitlets import Dict, HasTraits, List, Unicode

STATUS_ORDER = {"overdue": 0, "open": 1, "completed late": 2, "completed": 3, "optional": 4}
CSS = """
<style>
.spm-training { font-family: -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif;
  color: #1f2937; max-width: 1180px; margin: 0 auto; padding: 8px 4px 32px; }
.spm-training-header { background: linear-gradient(120deg, #14532d 0%, #1d4e89 100%); color: #fff;
  border-radius: 10px; padding: 16px 22px; }
.spm-training-header .spm-eyebrow { font-size: 11px; text-transform: uppercase; letter-spacing: 1.2px; opacity: .75; }
.spm-training-header .spm-who { font-size: 24px; font-weight: 650; }
.spm-module-list { gap: 6px; min-width: 330px; max-width: 380px; }
.spm-module-open { width: 100%; height: auto !important; text-align: left; white-space: normal;
  border-radius: 8px; border: 1px solid #e5e7eb; background: #fff; padding: 8px 10px; }
.spm-module-open.mod-selected { border-color: #1d4e89; box-shadow: 0 0 0 2px rgba(29,78,137,.2); }
.spm-module-pane { flex: 1 1 auto; border: 1px solid #e5e7eb; border-radius: 10px; padding: 4px 18px 14px;
  background: #fff; margin-left: 14px; }
.spm-module-content h1 { font-size: 22px; } .spm-module-content h2 { font-size: 16px; }
.spm-training .spm-badge { display: inline-block; padding: 1px 8px; border-radius: 999px; font-size: 12px; font-weight: 600; }
.spm-training .spm-st-overdue { background: #fdecec; color: #a61b1b; } .spm-training .spm-st-open { background: #eef4fb; color: #1d4e89; }
.spm-training .spm-st-completed { background: #e7f6ec; color: #17663a; } .spm-training .spm-st-late { background: #fff4e5; color: #9a4a00; }
.spm-training .spm-st-optional { background: #eef0f3; color: #4b5563; }
.spm-complete { background: #17663a !important; color: #fff !important; border-radius: 6px; }
.spm-message { font-size: 13px; color: #374151; margin-top: 6px; }
.spm-training .spm-kpis { gap: 14px; margin: 14px 0 8px; flex-wrap: wrap; }
.spm-training .spm-kpi { background: #fff; border: 1px solid #e5e7eb; border-radius: 10px; padding: 12px 16px; }
.spm-training .spm-kpi-label { font-size: 12px; text-transform: uppercase; color: #6b7280; font-weight: 600; }
.spm-training .spm-kpi-value { font-size: 28px; font-weight: 700; color: #0f2a4a; }
.spm-training .spm-section-title { font-size: 15px; font-weight: 650; color: #0f2a4a; margin: 18px 0 8px; }
.spm-training .spm-grid { width: 100%; border-collapse: collapse; background: #fff; font-size: 13px; border: 1px solid #e5e7eb; }
.spm-training .spm-grid th { text-align: left; background: #f3f5f8; padding: 7px 10px; }
.spm-training .spm-grid td { padding: 6px 10px; border-bottom: 1px solid #f0f2f5; }
.spm-training .spm-grid td.spm-num, .spm-training .spm-grid th.spm-num { text-align: right; font-variant-numeric: tabular-nums; }
.spm-training-error { border: 1px solid #f5c2c2; background: #fff5f5; color: #7f1d1d; border-radius: 10px;
  padding: 16px 20px; max-width: 900px; margin: 16px auto; font-size: 14px; }
</style>
"""


# ---- helpers ----
def render_markdown(text: str | None) -> str:
    """Markdown as HTML (CommonMark with tables; raw HTML in the content is escaped)."""
    from markdown_it import MarkdownIt

    return MarkdownIt("commonmark", {"html": False}).enable("table").render(text or "")


def _text(value: Any) -> str | None:
    if value is None or (not isinstance(value, str) and pd.isna(value)):
        return None
    return str(value)


def _open(path: str, read_only: bool, attempts: int = 20, wait_s: float = 0.25) -> Any:
    """Open the workspace, retrying while another process holds it (a writer, or readers
    when we want to write)."""
    import spm_kernel
    from spm_kernel.errors import SPMError

    last: Exception | None = None
    for _ in range(attempts):
        try:
            return spm_kernel.open(path, read_only=read_only)
        except (SPMError, RuntimeError, OSError) as exc:
            if "no workspace" in str(exc):
                raise
            last = exc
            time.sleep(wait_s)
    raise RuntimeError(f"the workspace is busy, try again in a moment ({last})")


def signed_in_user(ws: Any) -> str:
    """The signed-in payee: ``spm_widgets.components.current_user`` when the workbench has
    it, else the ``SPM_USER`` environment variable (never the URL)."""
    try:
        from spm_widgets.components import current_user
    except ImportError:
        current_user = None
    if current_user is not None:
        return str(current_user(ws))
    user = os.environ.get("SPM_USER", "").strip()
    if not user:
        raise RuntimeError("This app shows one person's training, and nobody is signed in (SPM_USER).")
    return user


# ---- a rep's modules ----
class LearnerModel(HasTraits):
    """One payee's modules, as plain data."""

    workspace_path = Unicode("")
    payee_id = Unicode("")
    payee_name = Unicode("")
    as_of = Unicode("", help="ISO day the statuses are computed for (default today)")
    modules = List(Dict(), help="module_id, title, skill, format, duration_minutes, content, link, "
                                "status, due_date, completed_at, reason")
    selected = Unicode("", help="the module open in the view")
    message = Unicode("")

    @classmethod
    def from_path(cls, path: str | Path, payee_id: str, as_of: date | str | None = None) -> LearnerModel:
        model = cls(workspace_path=str(Path(path).expanduser().resolve()), payee_id=payee_id,
                    as_of=str(as_of or ""))
        model.refresh()
        return model

    def _day(self) -> date:
        return date.fromisoformat(self.as_of) if self.as_of else date.today()

    def refresh(self) -> None:
        ws = _open(self.workspace_path, read_only=True)
        try:
            self.update_from(ws)
        finally:
            ws.close()

    def update_from(self, ws: Any) -> None:
        day = self._day()
        person = ws.sql("SELECT name, role FROM payees WHERE payee_id = ?", [self.payee_id])
        if person.empty:
            raise RuntimeError(f"no payee {self.payee_id!r} in this workspace")
        status = ws.training.status(day, payee=self.payee_id)
        status = status.sort_values("assigned_date").drop_duplicates("module_id", keep="last")
        catalogue = ws.training.modules().set_index("module_id")
        rows = []
        for rec in status.itertuples(index=False):
            rows.append({"module_id": rec.module_id, "status": rec.status,
                         "due_date": _text(rec.due_date), "completed_at": _text(rec.completed_at),
                         "reason": _text(rec.reason)})
        assigned = {r["module_id"] for r in rows}
        role_paths = ws.training.paths(str(person["role"].iloc[0]))
        for module_id in dict.fromkeys(role_paths["module_id"]):
            if module_id not in assigned:
                done = ws.sql("SELECT max(completed_at) AS at FROM training_completions "
                              "WHERE payee_id = ? AND module_id = ? AND CAST(completed_at AS DATE) <= ?",
                              [self.payee_id, module_id, day])["at"].iloc[0]
                rows.append({"module_id": module_id, "status": "completed" if _text(done) else "optional",
                             "due_date": None, "completed_at": _text(done), "reason": "learning path"})
        for row in rows:
            info = catalogue.loc[row["module_id"]]
            row.update({"title": str(info["title"]), "skill": str(info["skill"]), "format": str(info["format"]),
                        "duration_minutes": int(info["duration_minutes"]), "content": _text(info["content"]),
                        "link": _text(info["link"])})
        rows.sort(key=lambda r: (STATUS_ORDER.get(r["status"], 9), r["due_date"] or "9999", r["module_id"]))
        with self.hold_trait_notifications():
            self.payee_name = str(person["name"].iloc[0])
            self.modules = rows
            if self.selected not in {r["module_id"] for r in rows}:
                self.selected = rows[0]["module_id"] if rows else ""

    def module(self, module_id: str) -> dict[str, Any]:
        for row in self.modules:
            if row["module_id"] == module_id:
                return row
        raise KeyError(f"{self.payee_id} has no module {module_id!r}")

    def counts(self) -> dict[str, int]:
        out = {k: 0 for k in STATUS_ORDER}
        for row in self.modules:
            out[row["status"]] = out.get(row["status"], 0) + 1
        return out

    def complete(self, module_id: str, at: datetime | None = None) -> datetime:
        """Record ``module_id`` as completed now (or ``at``), then re-read; returns the time."""
        when = (at or datetime.now()).replace(microsecond=0)
        ws = _open(self.workspace_path, read_only=False)
        try:
            ws.training.complete(self.payee_id, module_id, at=when)
        finally:
            ws.close()  # closed before observers (a manager view) re-read it
        self.refresh()
        self.message = f"Completed {self.module(module_id)['title']} at {when:%Y-%m-%d %H:%M:%S}."
        return when


def _badge(status: str) -> str:
    css = {"completed late": "late"}.get(status, status.replace(" ", "-"))
    return f'<span class="spm-badge spm-st-{css}">{html.escape(status)}</span>'


class LearnerView(widgets.VBox):
    """A rep's learning page for a :class:`LearnerModel`."""

    def __init__(self, model: LearnerModel, **kwargs: Any) -> None:
        self.model = model
        self.header = widgets.HTML()
        self.header.add_class("spm-training-header")
        self.list = widgets.VBox()
        self.list.add_class("spm-module-list")
        self.meta = widgets.HTML()
        self.meta.add_class("spm-module-meta")
        self.content = widgets.HTML()
        self.content.add_class("spm-module-content")
        self.complete_button = widgets.Button(description="Mark complete", icon="check")
        self.complete_button.add_class("spm-complete")
        self.complete_button.on_click(self._on_complete)
        self.completed_at = widgets.HTML()
        self.completed_at.add_class("spm-completed-at")
        self.message = widgets.HTML()
        self.message.add_class("spm-message")
        pane = widgets.VBox([self.meta, self.content, widgets.HBox([self.complete_button, self.completed_at]),
                             self.message])
        pane.add_class("spm-module-pane")
        self.buttons: dict[str, widgets.Button] = {}
        super().__init__([widgets.HTML(CSS), self.header, widgets.HBox([self.list, pane])], **kwargs)
        self.add_class("spm-training")
        self.add_class("spm-learner")
        model.observe(self._render_list, names=["modules", "payee_name"])
        model.observe(self._render_module, names=["selected", "modules"])
        model.observe(lambda c: setattr(self.message, "value", html.escape(c["new"])), names=["message"])
        self._render_list()
        self._render_module()

    def _render_list(self, change: Any = None) -> None:
        m = self.model
        counts = m.counts()
        self.header.value = (
            '<div class="spm-eyebrow">My learning</div>'
            f'<div class="spm-who">{html.escape(m.payee_name)}</div>'
            f'<div class="spm-summary">{counts["overdue"]} overdue · {counts["open"]} to do · '
            f'{counts["completed"] + counts["completed late"]} completed</div>')
        self.buttons = {}
        items = []
        for row in m.modules:
            due = f" · due {row['due_date']}" if row["due_date"] and row["status"] in ("open", "overdue") else ""
            button = widgets.Button(description=f"{row['title']} ({row['status']}{due})",
                                    tooltip=row["module_id"], layout=widgets.Layout(width="100%"))
            button.add_class("spm-module-open")
            button.add_class(f"spm-module-{row['module_id']}")
            button.add_class(f"spm-status-{row['status'].replace(' ', '-')}")
            if row["module_id"] == m.selected:
                button.add_class("mod-selected")
            button.on_click(lambda _b, mid=row["module_id"]: setattr(self.model, "selected", mid))
            self.buttons[row["module_id"]] = button
            items.append(button)
        self.list.children = items or [widgets.HTML("<i>No module assigned.</i>")]

    def _render_module(self, change: Any = None) -> None:
        m = self.model
        for mid, button in self.buttons.items():
            if mid == m.selected:
                button.add_class("mod-selected")
            else:
                button.remove_class("mod-selected")
        if not m.selected:
            self.meta.value, self.content.value, self.completed_at.value = "", "", ""
            self.complete_button.layout.display = "none"
            return
        row = m.module(m.selected)
        link = (f' · <a href="{html.escape(row["link"])}" target="_blank" rel="noopener">open the material</a>'
                if row["link"] else "")
        due = f" · due {row['due_date']}" if row["due_date"] else ""
        self.meta.value = (f'{_badge(row["status"])} <span class="spm-module-facts">{html.escape(row["skill"])} · '
                           f'{html.escape(row["format"])} · {row["duration_minutes"]} min{due}</span>{link}')
        body = row["content"] or f"# {row['title']}\n\nThe material is online: {row['link'] or 'ask your manager'}."
        self.content.value = render_markdown(body)
        done = row["status"] in ("completed", "completed late")
        self.complete_button.layout.display = "none" if done else None
        self.completed_at.value = (f'Completed {html.escape(row["completed_at"][:19])}'
                                   if done and row["completed_at"] else "")

    def _on_complete(self, button: widgets.Button) -> None:
        try:
            self.model.complete(self.model.selected)
        except Exception as exc:  # noqa: BLE001 - shown to the user
            self.message.value = f'<span class="spm-error-text">could not record it: {html.escape(str(exc))}</span>'


# ---- a manager's overview ----
class ManagerModel(HasTraits):
    """Completion and overdue counts of a manager's organisation, and the measured effect."""

    workspace_path = Unicode("")
    manager_id = Unicode("")
    manager_name = Unicode("")
    as_of = Unicode("")
    totals = Dict(help="assigned, completed, completed_late, overdue, open")
    people = List(Dict(), help="per payee: payee_id, name, assigned, completed, overdue, open, completion_rate")
    overdue = List(Dict(), help="payee_id, name, module_id, title, due_date, days_overdue")
    effects = List(Dict(), help="latest stored estimates: module_id, title, metric, effect, lower, upper, ...")
    loaded_at = Unicode("")

    @classmethod
    def from_path(cls, path: str | Path, manager_id: str, as_of: date | str | None = None) -> ManagerModel:
        model = cls(workspace_path=str(Path(path).expanduser().resolve()), manager_id=manager_id,
                    as_of=str(as_of or ""))
        model.refresh()
        return model

    def refresh(self) -> None:
        ws = _open(self.workspace_path, read_only=True)
        try:
            self.update_from(ws)
        finally:
            ws.close()

    def update_from(self, ws: Any) -> None:
        day = date.fromisoformat(self.as_of) if self.as_of else date.today()
        name = ws.sql("SELECT name FROM payees WHERE payee_id = ?", [self.manager_id])
        manager = self.manager_id or None   # no manager: the whole company
        counts = ws.training.counts(day, manager=manager)
        late = ws.training.overdue(day, manager=manager)
        effects = ws.training.effects()
        cols = ["assigned", "completed", "completed_late", "overdue", "open"]
        totals = {c: int(counts[c].sum()) if len(counts) else 0 for c in cols}
        people = [{"payee_id": r.payee_id, "name": r.name, "assigned": int(r.assigned), "completed": int(r.completed),
                   "overdue": int(r.overdue), "open": int(r.open), "completion_rate": float(r.completion_rate)}
                  for r in counts.itertuples(index=False)]
        overdue_rows = [{"payee_id": r.payee_id, "name": r.name, "module_id": r.module_id, "title": r.title,
                         "due_date": str(r.due_date), "days_overdue": int(r.days_overdue)}
                        for r in late.itertuples(index=False)]
        effect_rows = [{k: (None if pd.isna(v) else (v.isoformat() if hasattr(v, "isoformat") else v))
                        for k, v in rec.items()} for rec in effects.to_dict("records")]
        with self.hold_trait_notifications():
            self.manager_name = (str(name["name"].iloc[0]) if len(name) else self.manager_id) or "whole company"
            self.people = people
            self.overdue = overdue_rows
            self.effects = effect_rows
            self.loaded_at = datetime.now().isoformat(timespec="seconds")
            self.totals = totals


def effect_html(effects: list[dict[str, Any]]) -> str:
    """The stored estimates as sentences with an interval bar (relative change, -50%..+50%)."""
    if not effects:
        return ('<div class="spm-training-effect spm-no-effect">No training effect has been estimated yet '
                '(<code>spm training effect</code>).</div>')
    parts = []
    for e in effects:
        pct = round(float(e["interval_prob"]) * 100)

        def x(v: float) -> float:
            return max(0.0, min(300.0, 150.0 + 300.0 * float(v)))

        bar = (f'<svg width="310" height="22" role="img" aria-label="credible interval">'
               f'<line x1="150" y1="2" x2="150" y2="20" stroke="#9ca3af"/>'
               f'<rect x="{x(e["lower"]):.1f}" y="7" width="{max(1.0, x(e["upper"]) - x(e["lower"])):.1f}" '
               f'height="8" fill="#93c5fd"/><circle cx="{x(e["effect"]):.1f}" cy="11" r="4" fill="#1d4e89"/></svg>')
        parts.append(
            f'<div class="spm-training-effect" data-module="{html.escape(str(e["module_id"]))}">'
            f'<b>{html.escape(str(e.get("title") or e["module_id"]))}</b> on {html.escape(str(e["metric"]))}: '
            f'<span class="spm-effect-value">{float(e["effect"]):+.1%}</span> '
            f'({pct}% interval <span class="spm-effect-interval">{float(e["lower"]):+.1%} to '
            f'{float(e["upper"]):+.1%}</span>; P(&gt;0) {float(e["prob_positive"]):.2f}; '
            f'{int(e["trained_payees"])} trained vs {int(e["control_payees"])} untrained reps, '
            f'estimated {html.escape(str(e["estimated_at"])[:10])}){bar}</div>')
    return "".join(parts)


class ManagerView(widgets.VBox):
    """A manager's training overview for a :class:`ManagerModel`, with a Refresh button."""

    TILES = (("assigned", "Assigned"), ("completed", "Completed"), ("overdue", "Overdue"), ("open", "To do"))

    def __init__(self, model: ManagerModel, **kwargs: Any) -> None:
        self.model = model
        self.title = widgets.HTML()
        self.refresh_button = widgets.Button(description="Refresh", icon="refresh")
        self.refresh_button.add_class("spm-training-refresh")
        self.refresh_button.on_click(lambda _b: self.model.refresh())
        self.tiles = {}
        for key, _label in self.TILES:
            tile = widgets.HTML(layout=widgets.Layout(flex="1 1 0", min_width="150px"))
            tile.add_class("spm-kpi")
            tile.add_class(f"spm-training-{key}")
            self.tiles[key] = tile
        tiles = widgets.HBox(list(self.tiles.values()))
        tiles.add_class("spm-kpis")
        self.people = widgets.HTML()
        self.people.add_class("spm-training-people")
        self.overdue = widgets.HTML()
        self.overdue.add_class("spm-training-overdue-list")
        self.effect = widgets.HTML()
        self.effect.add_class("spm-training-effects")
        super().__init__([widgets.HTML(CSS), widgets.HBox([self.title, self.refresh_button]), tiles,
                          self.people, self.overdue, self.effect], **kwargs)
        self.add_class("spm-training")
        self.add_class("spm-training-manager")
        model.observe(self._render, names=["totals", "people", "overdue", "effects"])
        self._render()

    def _render(self, change: Any = None) -> None:
        m = self.model
        self.title.value = (f'<div class="spm-section-title">Team training: {html.escape(m.manager_name)}'
                            f' <span class="spm-status">read {html.escape(m.loaded_at.replace("T", " "))}</span></div>')
        for key, label in self.TILES:
            self.tiles[key].value = (f'<div class="spm-kpi-label">{label}</div>'
                                     f'<div class="spm-kpi-value">{int(m.totals.get(key, 0)):,}</div>')
        rows = "".join(
            f'<tr data-payee="{html.escape(p["payee_id"])}"><td>{html.escape(p["name"])}</td>'
            f'<td class="spm-num spm-assigned">{p["assigned"]}</td><td class="spm-num spm-done">{p["completed"]}</td>'
            f'<td class="spm-num spm-late">{p["overdue"]}</td><td class="spm-num spm-todo">{p["open"]}</td>'
            f'<td class="spm-num">{p["completion_rate"]:.0%}</td></tr>' for p in m.people)
        self.people.value = ('<div class="spm-section-title">People</div><table class="spm-grid"><thead><tr>'
                             '<th>Name</th><th class="spm-num">Assigned</th><th class="spm-num">Completed</th>'
                             '<th class="spm-num">Overdue</th><th class="spm-num">To do</th>'
                             f'<th class="spm-num">Rate</th></tr></thead><tbody>{rows}</tbody></table>')
        late = "".join(
            f'<tr data-overdue="{html.escape(o["payee_id"])}|{html.escape(o["module_id"])}">'
            f'<td>{html.escape(o["name"])}</td><td>{html.escape(o["title"])}</td><td>{o["due_date"]}</td>'
            f'<td class="spm-num">{o["days_overdue"]}</td></tr>' for o in m.overdue)
        self.overdue.value = (f'<div class="spm-section-title">Overdue ({len(m.overdue)})</div>'
                              '<table class="spm-grid"><thead><tr><th>Name</th><th>Module</th><th>Due</th>'
                              f'<th class="spm-num">Days overdue</th></tr></thead><tbody>{late}</tbody></table>')
        self.effect.value = '<div class="spm-section-title">Training effect</div>' + effect_html(m.effects)


def training_panel(path: str | Path | None = None, manager_id: str = "",
                   as_of: date | str | None = None) -> widgets.Widget:
    """Training counts, who is overdue and the measured effect, for ``manager_id``'s
    organisation or (empty) the whole company, of the workspace at ``path`` (default
    ``SPM_WORKSPACE``): the manager dashboard's training section."""
    path = path or os.environ.get("SPM_WORKSPACE")
    if not path:
        return error_panel("No workspace was given: start the workbench with `spm app --workspace DIR`.")
    try:
        return ManagerView(ManagerModel.from_path(path, manager_id, as_of=as_of))
    except Exception as exc:  # noqa: BLE001 - a readable panel instead of a traceback
        return error_panel(str(exc))


def error_panel(message: str) -> widgets.HTML:
    panel = widgets.HTML(CSS + f'<div class="spm-training-error"><b>The learning app cannot be shown.</b><br>'
                         f'{html.escape(message)}</div>')
    panel.add_class("spm-error-panel")
    return panel


def manages_anyone(ws: Any, payee_id: str, as_of: date | None = None) -> bool:
    from spm_kernel.training.assignments import subtree

    return len(subtree(ws, payee_id, as_of or date.today())) > 1


def learning_app(path: str | Path | None, user: str | None = None,
                 as_of: date | str | None = None) -> widgets.Widget | None:
    """The learning app: the signed-in user's modules and, for a manager, their team's
    completion and overdue counts (refreshed after the manager completes a module). Fresh for
    the page in a pre-heated kernel (``spm_widgets.components.app_on_request``)."""
    from spm_widgets.components import app_on_request

    return app_on_request(lambda: _learning_app(path, user, as_of))


def _learning_app(path: str | Path | None, user: str | None, as_of: date | str | None) -> widgets.Widget:
    if not path:
        return error_panel("No workspace was given: start the workbench with `spm app --workspace DIR`.")
    try:
        ws = _open(str(path), read_only=True)
        try:
            payee = user or signed_in_user(ws)
            learner = LearnerModel(workspace_path=str(ws.path), payee_id=payee, as_of=str(as_of or ""))
            learner.update_from(ws)
            manager = None
            if manages_anyone(ws, payee, date.fromisoformat(str(as_of)) if as_of else None):
                manager = ManagerModel(workspace_path=str(ws.path), manager_id=payee, as_of=str(as_of or ""))
                manager.update_from(ws)
        finally:
            ws.close()
    except Exception as exc:  # noqa: BLE001 - a readable panel instead of a traceback
        return error_panel(str(exc))
    parts: list[widgets.Widget] = [LearnerView(learner)]
    if manager is not None:
        parts.append(ManagerView(manager))
        learner.observe(lambda _c: manager.refresh(), names=["modules"])
    app = widgets.VBox(parts)
    app.add_class("spm-learning-app")
    return app


__all__ = ["LearnerModel", "LearnerView", "ManagerModel", "ManagerView", "effect_html", "learning_app",
           "render_markdown", "signed_in_user", "training_panel"]
