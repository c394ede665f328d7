"""The training widgets' models and views, without a browser, on the hand-worked company of
tests/test_training.py (statuses on 10 March 2026)."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pytest

import spm_kernel
from spm_widgets.training import (
    LearnerModel,
    LearnerView,
    ManagerModel,
    ManagerView,
    effect_html,
    learning_app,
    render_markdown,
)
from tests.test_training import ASSIGNMENTS, COMPLETIONS, fill

DAY = "2026-03-10"


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    path = tmp_path / "acme"
    with spm_kernel.open(path) as ws:
        fill(ws)
        ws.load("training_assignments", ASSIGNMENTS)
        ws.load("training_completions", COMPLETIONS)
    return path


def test_a_rep_sees_assigned_modules_first_then_their_paths(folder: Path) -> None:
    model = LearnerModel.from_path(folder, "P3", as_of=DAY)
    assert model.payee_name == "Rep P3"
    assert [(m["module_id"], m["status"]) for m in model.modules] == [
        ("NEG1", "open"), ("CMP", "optional"), ("NEG2", "optional"), ("ONB1", "optional")]
    assert model.module("NEG1")["due_date"] == "2026-04-15"
    assert model.selected == "NEG1"
    view = LearnerView(model)
    assert "<h1>Negotiation essentials</h1>" in view.content.value
    assert "<strong>Trade, don't concede.</strong>" in view.content.value
    assert "1 to do" in view.header.value and "0 overdue" in view.header.value
    model.selected = "ONB1"   # no content: a link to the material
    assert 'href="https://learn.example/onboarding"' in view.meta.value


def test_mark_complete_records_a_timestamp_and_the_manager_counts_it(folder: Path) -> None:
    manager = ManagerModel.from_path(folder, "M1", as_of=DAY)
    assert manager.totals == {"assigned": 5, "completed": 3, "completed_late": 1, "overdue": 1, "open": 1}
    assert [(o["payee_id"], o["module_id"], o["days_overdue"]) for o in manager.overdue] == [("P2", "CMP", 344)]
    manager_view = ManagerView(manager)
    assert '<div class="spm-kpi-value">3</div>' in manager_view.tiles["completed"].value

    model = LearnerModel.from_path(folder, "P3", as_of=DAY)
    view = LearnerView(model)
    when = model.complete("NEG1", at=datetime(2026, 3, 9, 16, 45, 12))
    assert when == datetime(2026, 3, 9, 16, 45, 12)
    assert model.module("NEG1")["status"] == "completed"
    assert view.completed_at.value == "Completed 2026-03-09 16:45:12"
    assert view.complete_button.layout.display == "none"
    assert model.message == "Completed Negotiation essentials at 2026-03-09 16:45:12."
    with spm_kernel.open(folder, read_only=True) as ws:
        row = ws.sql("SELECT CAST(completed_at AS VARCHAR) AS at, source FROM training_completions "
                     "WHERE payee_id = 'P3' AND completed_at > TIMESTAMP '2026-03-01'")
    assert row.values.tolist() == [["2026-03-09 16:45:12", "app"]]

    manager.refresh()
    assert manager.totals["completed"] == 4 and manager.totals["open"] == 0
    assert '<div class="spm-kpi-value">4</div>' in manager_view.tiles["completed"].value
    p3 = [p for p in manager.people if p["payee_id"] == "P3"][0]
    assert (p3["completed"], p3["open"], p3["completion_rate"]) == (1, 0, 1.0)


def test_the_learning_app_shows_a_manager_their_team(folder: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SPM_USER", "M1")
    app = learning_app(str(folder), as_of=DAY)
    kinds = [type(c).__name__ for c in app.children]
    assert kinds == ["LearnerView", "ManagerView"]
    rep_app = learning_app(str(folder), user="P1", as_of=DAY)
    assert [type(c).__name__ for c in rep_app.children] == ["LearnerView"]
    missing = learning_app(str(folder), user="NOBODY", as_of=DAY)
    assert "spm-error-panel" in missing._dom_classes and "NOBODY" in missing.value


def test_markdown_is_rendered_and_raw_html_escaped() -> None:
    assert render_markdown("# T\n\n- a\n- b") == "<h1>T</h1>\n<ul>\n<li>a</li>\n<li>b</li>\n</ul>\n"
    assert "<script>" not in render_markdown("<script>alert(1)</script>")
    assert "No training effect has been estimated yet" in effect_html([])
    one = effect_html([{"module_id": "M", "title": "Negotiation", "metric": "win_rate", "effect": 0.12,
                        "lower": -0.02, "upper": 0.27, "interval_prob": 0.9, "prob_positive": 0.93,
                        "trained_payees": 30, "control_payees": 100, "estimated_at": "2026-11-27T10:00:00"}])
    assert "+12.0%" in one and "90% interval" in one and "-2.0% to +27.0%" in one


def test_the_dashboard_panel_covers_the_whole_company(folder: Path) -> None:
    from spm_widgets.training import training_panel

    panel = training_panel(folder, as_of=DAY)
    assert isinstance(panel, ManagerView)
    # M1's five assignments plus P6's overdue compliance course (A6, due 20 Feb: 18 days)
    assert panel.model.totals == {"assigned": 6, "completed": 3, "completed_late": 1, "overdue": 2, "open": 1}
    assert "whole company" in panel.title.value
    assert "No training effect has been estimated yet" in panel.effect.value
    assert "spm-error-panel" in training_panel(folder.parent / "missing")._dom_classes
