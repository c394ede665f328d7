"""The measured effect of training on the demo company, whose negotiation module raises the
win probability of deals created after completion by a known 15% (relative): the model's
90% credible interval must contain it. One fit (small sampler settings) serves every test."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

import spm_kernel
from spm_kernel.demo import company as co
from spm_kernel.reports.performance import _training_effects, build_performance_report
from spm_kernel.reports.performance_html import render_html
from spm_kernel.training import EffectEstimate, TrainingEffectError
from spm_kernel.workspace import Workspace


@pytest.fixture(scope="module")
def demo(spm_demo_template: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Workspace]:
    copy = tmp_path_factory.mktemp("training-effect") / "northwind"
    shutil.copytree(spm_demo_template, copy)
    ws = spm_kernel.open(copy)
    yield ws
    ws.close()


@pytest.fixture(scope="module")
def fitted(demo: Workspace) -> EffectEstimate:
    return demo.training.effect(module_id=co.NEGOTIATION_MODULE, draws=300, tune=300, chains=2, seed=11,
                                store=True, actor="test")


@pytest.mark.slow
def test_the_90_percent_interval_contains_the_injected_effect(fitted: EffectEstimate) -> None:
    assert fitted.interval == 0.9
    assert fitted.lower < co.TRAINING_EFFECT < fitted.upper, fitted.summary()
    assert fitted.upper - fitted.lower < 0.5          # informative, not a shrug
    assert fitted.lower > -0.25
    assert fitted.diagnostics["r_hat_max"] < 1.1 and fitted.diagnostics["divergences"] < 10
    # the demo assigns the negotiation path to the weakest quarter of reps, in two cohorts
    assert 25 <= fitted.trained_payees <= 60 and fitted.control_payees > 2 * fitted.trained_payees
    assert 0.1 < fitted.baseline < 0.3                  # the weakest reps win less than the 26% average
    assert fitted.effect_points == pytest.approx(fitted.baseline * fitted.effect)
    teams = fitted.teams
    assert len(teams) == 12 and teams["trained_payees"].sum() == fitted.trained_payees
    assert (teams["lower"] < teams["effect"]).all() and (teams["effect"] < teams["upper"]).all()


@pytest.mark.slow
def test_the_estimate_is_stored_and_shown_in_the_performance_report(demo: Workspace, fitted: EffectEstimate,
                                                                   tmp_path: Path) -> None:
    stored = demo.training.effects()
    assert len(stored) == 1
    row = stored.iloc[0]
    assert row["module_id"] == co.NEGOTIATION_MODULE and row["title"] == "Negotiation essentials"
    assert row["effect"] == pytest.approx(fitted.effect, abs=1e-6)
    assert (row["lower"], row["upper"]) == (pytest.approx(fitted.lower, abs=1e-6), pytest.approx(fitted.upper, abs=1e-6))
    assert len(json.loads(row["teams"])) == 12 and row["created_by"] == "test"
    report = build_performance_report(demo, "2026-Q1")
    assert len(report.training) == 1
    page = render_html(report)
    assert 'id="training"' in page and "Training effect" in page
    assert f"{fitted.effect * 100:+.1f}%" in page
    assert f"90%: {fitted.lower * 100:+.1f}% to {fitted.upper * 100:+.1f}%" in page
    from openpyxl import load_workbook

    from spm_kernel.reports.performance_xlsx import write_xlsx

    sheet = load_workbook(write_xlsx(report, tmp_path / "report.xlsx"))["Training effect"]
    assert [c.value for c in sheet[1]][:4] == ["Module", "Title", "KPI", "Effect"]
    assert sheet["A2"].value == co.NEGOTIATION_MODULE and sheet["D2"].value == pytest.approx(fitted.effect, abs=1e-6)


def test_without_an_estimate_the_report_says_how_to_get_one(spm_demo_template: Path) -> None:
    with spm_kernel.open(spm_demo_template, read_only=True) as ws:
        notes: list[str] = []
        assert _training_effects(ws, notes).empty
    assert notes == ["Training completions are recorded but no training effect has been estimated yet "
                     "(spm training effect)."]


def test_an_effect_needs_trained_reps_and_a_supported_metric(demo: Workspace) -> None:
    with pytest.raises(TrainingEffectError, match="no deal was created after completing TRN-PRO-01"):
        demo.training.effect(module_id="TRN-PRO-01")
    with pytest.raises(TrainingEffectError, match="measured on win_rate"):
        demo.training.effect(metric="avg_deal_size")
