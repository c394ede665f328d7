"""The plan modeler, headless: the payout curve worked by hand, edits that stay valid plans,
and a what-if equal to ``ws.compare`` of the same edit made independently in the YAML text."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import numpy as np
import pytest

import spm_kernel
from spm_kernel.plans import PlanValidationError, load_plan_text
from tests.widget_checks import assert_sendable
from spm_widgets.plan_modeler import (
    LatestRunner, PlanModelerModel, PlanModelerView, payout_curve, percent_to_decimal, totals_html,
)

STEP = [{"from": "0", "to": "10000", "rate": "0.04"}, {"from": "10000", "to": None, "rate": "0.06"}]


def test_payout_curve_by_hand() -> None:
    x = np.array([0.0, 5_000.0, 10_000.0, 14_000.0])
    # step (marginal): 14,000 earns 4% of 10,000 + 6% of 4,000 = 400 + 240 = 640 (the guide's example)
    assert payout_curve(STEP, "step", x).tolist() == pytest.approx([0.0, 200.0, 400.0, 640.0])
    # flat (retroactive): all of it at the tier reached; a boundary belongs to the higher tier
    assert payout_curve(STEP, "flat", x).tolist() == pytest.approx([0.0, 200.0, 600.0, 840.0])
    # a retroactive threshold at 8,000 paying nothing below it
    thr = {"value": "8000", "below_multiplier": "0", "retroactive": True}
    assert payout_curve(STEP, "step", x, threshold=thr).tolist() == pytest.approx([0.0, 0.0, 400.0, 640.0])
    # not retroactive: the part earned below 8,000 (320) is paid at half once crossed
    thr = {"value": "8000", "below_multiplier": "0.5", "retroactive": False}
    assert payout_curve(STEP, "step", np.array([14_000.0])).tolist() == pytest.approx([640.0])
    assert payout_curve(STEP, "step", np.array([14_000.0]), threshold=thr).tolist() == pytest.approx([480.0])
    # a cap_rate gate: below 12,000 no rate above 5%: 14,000 is past it (640), 11,000 is not
    gate = {"min_attainment": "12000", "effect": "cap_rate", "max_rate": "0.05"}
    y = payout_curve(STEP, "step", np.array([11_000.0, 14_000.0]), gate=gate)
    assert y.tolist() == pytest.approx([400.0 + 50.0, 640.0])


def test_percent_to_decimal_is_exact() -> None:
    assert percent_to_decimal(12.1) == Decimal("0.121")
    assert percent_to_decimal(8.0) == Decimal("0.08")
    assert percent_to_decimal(0.1) == Decimal("0.001")


@pytest.fixture(scope="module")
def base_model(spm_demo_template: Path) -> PlanModelerModel:
    return PlanModelerModel.from_path(spm_demo_template)


def test_model_reads_the_active_plan_and_its_options(base_model: PlanModelerModel) -> None:
    m = base_model
    assert m.plan == "ae-plan@1" and "ae-plan@2" in m.plans and "manager-plan@1" in m.plans
    assert m.component == "commission" and m.basis == "attainment" and m.application == "step"
    assert [(t["from"], t["to"], t["rate"]) for t in m.tiers] == [
        ("0", "0.5", "0.04"), ("0.5", "1.0", "0.08"), ("1.0", "1.5", "0.12"), ("1.5", None, "0.15")]
    assert (m.cap_multiple, m.gate_min_attainment, m.gate_max_rate, m.threshold_value) == ("2", "1.0", "0.08", None)
    assert m.periods[0] == "FY2026" and m.period == "FY2026"
    # the curve at 120% attainment: 0.5 x 4% + 0.5 x 8% + 0.2 x 12% = 8.4% of quota
    curve = m.curve()
    i = int(np.argmin(np.abs(np.array(curve["x"]) - 1.2)))
    assert curve["x"][i] == pytest.approx(1.2, abs=0.01)
    assert curve["current"][i] == pytest.approx(0.02 + 0.04 + 0.12 * (curve["x"][i] - 1.0))


def test_what_if_equals_ws_compare_of_the_same_edit(spm_demo_template: Path) -> None:
    m = PlanModelerModel.from_path(spm_demo_template)
    m.set_rate(2, Decimal("0.14"))
    m.cap_multiple = "2.5"
    cmp = m.compute()
    with spm_kernel.open(spm_demo_template, read_only=True) as ws:
        base = ws.plans_dir / "fy2026-ae-plan.yaml"
        text = base.read_text("utf-8")
        assert text.count("rate: 0.12") == 1 and text.count("multiple_of_target_incentive: 2\n") == 1
        edited = load_plan_text(text.replace("rate: 0.12", "rate: 0.14")
                                .replace("multiple_of_target_incentive: 2\n", "multiple_of_target_incentive: 2.5\n"),
                                ws.registry.plan_types)
        expected = ws.compare("ae-plan@1", edited, "FY2026")
    assert expected.totals.loc[:, ["currency", "a", "b", "difference"]].equals(
        cmp.totals.loc[:, ["currency", "a", "b", "difference"]])
    for row, t in zip(expected.totals.itertuples(index=False), m.totals):
        assert (t["currency"], t["current"], t["what_if"], t["difference"]) == (row.currency, row.a, row.b, row.difference)
        assert isinstance(t["what_if"], Decimal)
    assert sum(t["difference"] for t in m.totals) > 0  # a higher accelerator pays more, never less
    by = expected.by_payee
    assert m.counts["payees"] == len(by)
    assert m.counts["winners"] == int((by["difference"] > 0).sum()) > 0
    assert m.counts["losers"] == int((by["difference"] < 0).sum()) == 0
    top = by.loc[by["difference"] > 0].sort_values("difference", ascending=False, key=lambda s: s.map(float)).iloc[0]
    assert (m.winners[0]["payee_id"], m.winners[0]["difference"]) == (top.payee_id, top.difference)
    html = totals_html(m)
    usd = next(t for t in m.totals if t["currency"] == "USD")
    assert f'<td class="spm-num spm-whatif">{usd["what_if"]:,.2f}</td>' in html


def test_boundaries_stay_contiguous_and_a_bad_table_is_the_kernels_error(spm_demo_template: Path) -> None:
    m = PlanModelerModel.from_path(spm_demo_template)
    m.set_boundary(1, "1.1")
    assert (m.tiers[1]["to"], m.tiers[2]["from"]) == ("1.1", "1.1")
    with spm_kernel.open(spm_demo_template, read_only=True) as ws:
        plan = m.edited_plan(ws.registry.plan_types)
        again = load_plan_text(m.edited_yaml(), ws.registry.plan_types)
    tiers = plan.component("commission").config.tiers
    assert [(t.from_, t.to) for t in tiers] == [(Decimal("0"), Decimal("0.5")), (Decimal("0.5"), Decimal("1.1")),
                                                (Decimal("1.1"), Decimal("1.5")), (Decimal("1.5"), None)]
    assert again.component("commission").config.model_dump() == plan.component("commission").config.model_dump()
    assert plan.spec.status == "proposed" and plan.version == 1001
    with pytest.raises(IndexError):
        m.set_boundary(3, "2")
    m.set_boundary(1, "1.6")  # tier 3 would run from 1.6 to 1.5: the loader refuses it
    with spm_kernel.open(spm_demo_template, read_only=True) as ws, pytest.raises(PlanValidationError):
        m.edited_plan(ws.registry.plan_types)


def test_view_sliders_edit_the_model_redraw_and_recompute(spm_demo_template: Path) -> None:
    m = PlanModelerModel.from_path(spm_demo_template)
    view = PlanModelerView(m, background=False)
    assert assert_sendable(view) > 20  # every widget, charts included, can reach the browser
    assert m.computed_for == m.edits_key and m.counts["winners"] == 0  # the plan against itself
    assert "spm-pm-rate-2" in view.rate_sliders[2]._dom_classes
    before = list(view.figure.data[1].y)
    view.rate_sliders[2].value = 13.0
    assert m.tiers[2]["rate"] == "0.13"
    after = list(view.figure.data[1].y)
    x = list(view.figure.data[1].x)
    i = int(np.argmin(np.abs(np.array(x) - 120.0)))
    assert after[i] - before[i] == pytest.approx(0.01 * (x[i] - 100.0), abs=1e-9)  # +1 point on 100-120%
    assert list(view.figure.data[0].y) == before  # the current plan's curve does not move
    assert m.computed_for == m.edits_key and m.counts["winners"] > 0
    assert 'data-currency="USD"' in view.totals.value and "spm-up" in view.totals.value
    assert view.grid.frame.shape[0] == m.counts["payees"]
    assert "rate: 0.13" in view.yaml_text.value
    view.period_choice.value = "2026-Q2"
    assert m.period == "2026-Q2" and m.computed_for == m.edits_key
    assert_sendable(view)
    view.reset_button.click()
    assert m.tiers[2]["rate"] == "0.12" and view.rate_sliders[2].value == pytest.approx(12.0)


def test_view_shows_a_friendly_error_for_an_invalid_edit(spm_demo_template: Path) -> None:
    m = PlanModelerModel.from_path(spm_demo_template)
    view = PlanModelerView(m, background=False)
    view.to_inputs[1].value = 160.0  # tier 2 ends at 160%, after tier 3's end: an overlap
    assert view.error.error_id and "spm-error" in view.error.value
    assert "Traceback" not in view.error.value
    assert "commission" in view.error.message or "tier" in view.error.message


def test_latest_runner_coalesces_requests() -> None:
    import threading

    calls = []
    gate, started = threading.Event(), threading.Event()

    def work() -> None:
        calls.append(1)
        started.set()
        gate.wait(5)

    runner = LatestRunner(work)
    runner.request()
    assert started.wait(5)
    for _ in range(5):
        runner.request()  # made while the first run is in flight: one more run, not five
    gate.set()
    runner.wait(10)
    assert len(calls) == 2
