"""Plan files: validation errors that name the file, path, line and expectation; versions;
assignments; mid-period changes; whole periods through calculate_period."""

from __future__ import annotations

from datetime import date
from decimal import Decimal as D
from pathlib import Path

import pandas as pd
import pytest

from spm_kernel.plans import (
    PlanBook,
    PlanValidationError,
    calculate_period,
    load_plan_file,
    load_plan_text,
    resolve_assignments,
)
from spm_kernel.plantypes.contract import CalcPeriod

DEMO_PLANS = Path(__file__).resolve().parents[1] / "spm_kernel" / "demo" / "plans"
YEAR = CalcPeriod("FY2026", date(2026, 1, 1), date(2026, 12, 31))
Q1 = CalcPeriod("2026-Q1", date(2026, 1, 1), date(2026, 3, 31))
Q2 = CalcPeriod("2026-Q2", date(2026, 4, 1), date(2026, 6, 30))

MINIMAL = """\
plan_id: ae
version: 1
name: AE plan
effective_from: 2026-01-01
assignments:
  - role: rep
components:
  - id: commission
    type: rate_table
    application: step
    tiers:
      - {from: 0, to: 10000, rate: 0.04}
      - {from: 10000, rate: 0.06}
"""


@pytest.fixture
def types(spm_workspace):
    return spm_workspace.registry.plan_types


def problems(text: str, types) -> list[str]:
    with pytest.raises(PlanValidationError) as exc:
        load_plan_text(text, types, "plans/ae.yaml")
    return [str(p) for p in exc.value.problems]


def test_demo_plans_load(types) -> None:
    book = PlanBook.load_folder(DEMO_PLANS, types)
    assert {p.key for p in book} == {("ae-plan", 1), ("ae-plan", 2), ("manager-plan", 1), ("overlay-plan", 1)}
    ae = book.get("ae-plan", 1)
    assert [c.type for c in ae.components] == ["rate_table", "spiff", "milestone_bonus", "draw"]
    proposed = book.get("ae-plan", 2)
    assert proposed.spec.status == "proposed" and proposed.spec.effective_from == date(2027, 1, 1)
    # version 1 governs FY2026, the proposal FY2027
    assert [(g.plan.version, g.start) for g in book.governing("ae-plan")] == [(1, date(2026, 1, 1)), (2, date(2027, 1, 1))]


def test_minimal_plan_and_exact_decimals(types) -> None:
    plan = load_plan_text(MINIMAL, types, "plans/ae.yaml")
    cfg = plan.component("commission").config
    assert cfg.tiers[0].rate == D("0.04") and isinstance(cfg.tiers[0].rate, D)   # never a binary float
    assert cfg.scope == "cumulative" and cfg.basis == "amount"                 # documented defaults
    assert plan.spec.rounding == "ROUND_HALF_UP" and plan.spec.mid_period == "by_credit_date"
    assert len(plan.content_hash) == 64


def test_wrong_value_names_file_line_path_and_expectation(types) -> None:
    text = MINIMAL.replace("rate: 0.06", "rate: six percent")
    assert problems(text, types) == [
        "plans/ae.yaml:13: components[0].tiers[1].rate: Input should be a valid decimal (got 'six percent')"]


def test_numbers_beyond_any_amount_are_refused_with_their_place(types) -> None:
    """1e999999999 is a valid decimal but no rate or threshold: refused, not overflowed later."""
    text = MINIMAL.replace("rate: 0.06", "rate: 1e999999999").replace("from: 10000, rate", "from: 1e15, rate")
    text = text.replace("    application: step", "    application: step").replace("  - role: rep", "  - role: rep\n    target_incentive: 1e20")
    found = problems(text.replace("to: 10000", "to: 1e15"), types)
    assert any("components[0].tiers[1].rate: 1.000E+999999999 is too large" in p for p in found), found
    assert any("components[0].tiers[1].from: 1.000E+15 is too large" in p for p in found), found
    assert any("assignments[0].target_incentive: 1.000E+20 is too large" in p for p in found), found
    # just below the bound, and tiny numbers, load
    plan = load_plan_text(MINIMAL.replace("rate: 0.06", "rate: 1e-400").replace("to: 10000", "to: 999999999999999")
                          .replace("from: 10000,", "from: 999999999999999,"), types, "plans/ae.yaml")
    assert plan.component("commission").config.tiers[1].rate == D("1e-400")


def test_typo_is_an_error_with_a_suggestion(types) -> None:
    text = MINIMAL.replace("    application: step", "    aplication: step\n    application: step")
    [message] = problems(text, types)
    assert message.startswith("plans/ae.yaml:10: components[0].aplication: unknown option 'aplication'; "
                              "did you mean 'application'?")
    [message] = problems(MINIMAL.replace("name: AE plan", "name: AE plan\nnmae: x"), types)
    assert message.startswith("plans/ae.yaml:4: nmae: unknown option 'nmae'; did you mean 'name'?")


def test_unknown_plan_type_lists_the_available_ones(types) -> None:
    [message] = problems(MINIMAL.replace("type: rate_table", "type: rate_tabel"), types)
    assert message.startswith("plans/ae.yaml:9: components[0].type: unknown plan type 'rate_tabel'; "
                              "did you mean 'rate_table'?; available plan types: ")
    for name in ("draw", "formula", "mbo", "milestone_bonus", "pay_cap", "rate_table", "spiff"):
        assert name in message


@pytest.mark.parametrize(("tiers", "expected"), [
    ("      - {from: 0, to: 10000, rate: 0.04}\n      - {from: 12000, rate: 0.06}\n",
     "plans/ae.yaml:13: components[0].tiers[1].from: gap between tiers[0].to = 10000 and tiers[1].from = 12000"),
    ("      - {from: 0, to: 10000, rate: 0.04}\n      - {from: 9000, rate: 0.06}\n",
     "plans/ae.yaml:13: components[0].tiers[1].from: overlap: tiers[1].from = 9000 is below tiers[0].to = 10000"),
    ("      - {from: 0, to: 10000, rate: 0.04}\n      - {from: 10000, to: 20000, rate: 0.06}\n",
     "plans/ae.yaml:13: components[0].tiers[1].to: the last row must leave 'to' open (values from 20000 up would "
     "match no row)"),
    ("      - {from: 100, to: 10000, rate: 0.04}\n      - {from: 10000, rate: 0.06}\n",
     "plans/ae.yaml:12: components[0].tiers[0].from: the first row must start at 0, not 100"),
])
def test_gaps_and_overlaps_are_errors_never_a_silent_zero(types, tiers: str, expected: str) -> None:
    text = MINIMAL.split("    tiers:\n")[0] + "    tiers:\n" + tiers
    assert problems(text, types) == [expected]


def test_application_must_be_named(types) -> None:
    [message] = problems(MINIMAL.replace("    application: step\n", ""), types)
    assert message == "plans/ae.yaml:8: components[0].application: Field required"


def test_filters_are_validated_when_the_plan_is_loaded(types) -> None:
    text = MINIMAL.replace("    application: step", "    application: step\n    measure: {filter: \"__import__('os')\"}")
    [message] = problems(text, types)
    assert message.startswith("plans/ae.yaml:11: components[0].measure.filter: function '__import__' is not allowed")
    text = MINIMAL.replace("    application: step", "    application: step\n    measure: {filter: \"colour == 'red'\"}")
    [message] = problems(text, types)
    assert "unknown name 'colour'; available names: amount, credit_date, credit_type" in message


def test_every_problem_of_a_file_at_once(types) -> None:
    text = MINIMAL.replace("version: 1", "version: 0").replace("rate: 0.06", "rate: x") + \
        "  - id: commission\n    type: nope\n"
    found = problems(text, types)
    assert len(found) == 4
    assert found[0].startswith("plans/ae.yaml:2: version: Input should be greater than or equal to 1")
    assert any("components[1].id: component id 'commission' is already used by components[0]" in p for p in found)
    assert any("components[1].type: unknown plan type 'nope'" in p for p in found)


def test_yaml_syntax_and_empty_files(types, tmp_path: Path) -> None:
    [message] = problems("plan_id: ae\nname: [unclosed\n", types)
    assert message.startswith("plans/ae.yaml:3: (top): not valid YAML")
    [message] = problems("", types)
    assert "the file is empty" in message
    missing = tmp_path / "nope.yaml"
    with pytest.raises(PlanValidationError, match="cannot read the file"):
        load_plan_file(missing, types)


def test_assignment_needs_exactly_one_kind(types) -> None:
    [message] = problems(MINIMAL.replace("  - role: rep", "  - role: rep\n    team: T1"), types)
    assert message == "plans/ae.yaml:6: assignments[0]: an assignment names exactly one of payee, role or team " \
                      "(got ['role', 'team'])"


# ---- versions ----
def versioned(version: int, start: str, end: str | None = None, rate: str = "0.10", mid: str = "by_credit_date",
              extra: str = "") -> str:
    return (f"plan_id: ae\nversion: {version}\nname: AE v{version}\neffective_from: {start}\n"
            + (f"effective_to: {end}\n" if end else "") + f"mid_period: {mid}\n"
            "assignments: [{role: rep}]\ncomponents:\n  - id: commission\n    type: rate_table\n"
            f"    application: flat\n    tiers: [{{from: 0, rate: {rate}}}]\n" + extra)


def test_plan_book_versions_and_governing_windows(types, tmp_path: Path) -> None:
    (tmp_path / "v1.yaml").write_text(versioned(1, "2026-01-01", "2026-12-31"))
    (tmp_path / "v2.yaml").write_text(versioned(2, "2026-07-01", "2026-12-31"))
    book = PlanBook.load_folder(tmp_path, types)
    gov = {g.plan.version: (g.start, g.end) for g in book.governing("ae")}
    assert gov == {1: (date(2026, 1, 1), date(2026, 6, 30)), 2: (date(2026, 7, 1), date(2026, 12, 31))}
    assert book.get("ae").version == 2
    # a fix with the same dates replaces version 1 entirely
    (tmp_path / "v3.yaml").write_text(versioned(3, "2026-07-01", "2026-12-31"))
    assert [g.plan.version for g in PlanBook.load_folder(tmp_path, types).governing("ae")] == [1, 3]


def test_plan_book_reports_every_file_and_bad_version_order(types, tmp_path: Path) -> None:
    (tmp_path / "a.yaml").write_text(versioned(1, "2026-01-01").replace("rate: 0.10", "rate: ten"))
    (tmp_path / "b.yaml").write_text("plan_id: [")
    with pytest.raises(PlanValidationError) as exc:
        PlanBook.load_folder(tmp_path, types)
    files = {Path(p.file).name for p in exc.value.problems}
    assert files == {"a.yaml", "b.yaml"}
    for f in tmp_path.iterdir():
        f.unlink()
    (tmp_path / "a.yaml").write_text(versioned(1, "2026-03-01"))
    (tmp_path / "b.yaml").write_text(versioned(2, "2026-01-01"))
    with pytest.raises(PlanValidationError, match="version 2 of ae starts 2026-01-01, before version 1"):
        PlanBook.load_folder(tmp_path, types)
    (tmp_path / "b.yaml").write_text(versioned(1, "2026-03-01"))
    with pytest.raises(PlanValidationError, match="plan ae version 1 is also defined in"):
        PlanBook.load_folder(tmp_path, types)


# ---- assignments ----
PEOPLE = pd.DataFrame([
    {"payee_id": "p1", "role": "rep", "team_id": "T1", "hire_date": date(2020, 1, 1), "termination_date": None, "currency": "USD"},
    {"payee_id": "p2", "role": "rep", "team_id": "T2", "hire_date": date(2026, 2, 1), "termination_date": None, "currency": "USD"},
    {"payee_id": "p3", "role": "manager", "team_id": "T1", "hire_date": date(2020, 1, 1),
     "termination_date": date(2026, 3, 10), "currency": "USD"},
    {"payee_id": "p4", "role": "analyst", "team_id": None, "hire_date": date(2020, 1, 1), "termination_date": None, "currency": "USD"},
])


def book_of(types, *texts: str) -> PlanBook:
    return PlanBook([load_plan_text(t, types, f"v{i}.yaml") for i, t in enumerate(texts)])


def test_assignment_by_role_team_and_payee_with_employment_dates(types) -> None:
    text = versioned(1, "2026-01-01").replace("assignments: [{role: rep}]", (
        "target_incentive: 50000\nassignments:\n  - {role: rep}\n  - {team: T1}\n"
        "  - {payee: p1, target_incentive: 80000, effective_from: 2026-02-01}"))
    out = resolve_assignments(book_of(types, text), PEOPLE, Q1, YEAR).set_index("payee_id")
    assert sorted(out.index) == ["p1", "p2", "p3"]          # p4 (analyst, no team) is on no plan
    # p1: the payee row is the most specific and wins (from Feb 1, target incentive 80,000)
    assert out.loc["p1", "assigned_from"] == date(2026, 2, 1) and out.loc["p1", "target_incentive"] == D("80000")
    # p2: by role, from the hire date
    assert out.loc["p2", "assigned_from"] == date(2026, 2, 1) and out.loc["p2", "target_incentive"] == D("50000")
    # p3: by team (a manager), until the termination date
    assert out.loc["p3", "assigned_to"] == date(2026, 3, 10)


def test_mid_period_version_change_prorates_by_days_or_follows_the_last_day(types) -> None:
    draw = "  - id: draw\n    type: draw\n    amount: 3000\n    recoverable: false\n"
    for mid, expected in (("prorate_by_days", {1: D(46) / D(90), 2: D(44) / D(90)}), ("by_credit_date", {1: D(0), 2: D(1)})):
        book = book_of(types, versioned(1, "2026-01-01", mid=mid, extra=draw), versioned(2, "2026-02-16", mid=mid, extra=draw))
        out = resolve_assignments(book, PEOPLE.iloc[:1], Q1, YEAR)
        assert dict(zip(out["plan_version"], out["proration"])) == expected
        assert dict(zip(out["plan_version"], out["assigned_from"])) == {1: date(2026, 1, 1), 2: date(2026, 2, 16)}


def test_proposed_plans_are_not_assigned(types) -> None:
    text = versioned(1, "2026-01-01").replace("name: AE v1", "name: AE v1\nstatus: proposed")
    assert len(resolve_assignments(book_of(types, text), PEOPLE, Q1, YEAR)) == 0
    assert len(resolve_assignments(book_of(types, text), PEOPLE, Q1, YEAR, statuses=("proposed",))) == 2


# ---- whole periods ----
def credits(*rows: tuple[str, str, str]) -> pd.DataFrame:
    return pd.DataFrame([{"credit_id": c, "payee_id": "p1", "transaction_id": "t" + c, "opportunity_id": "o" + c,
                          "credit_date": pd.Timestamp(d), "credit_type": "direct", "kind": "booking", "amount": D(a),
                          "product": "Platform", "segment": "mid", "deal_type": "new", "region_id": "r1",
                          "original_transaction_id": None} for c, d, a in rows])


def test_version_change_by_credit_date_through_two_quarters(types) -> None:
    # v1 flat 10% until Feb 15, v2 flat 12% from Feb 16.
    book = book_of(types, versioned(1, "2026-01-01"), versioned(2, "2026-02-16", rate="0.12"))
    cr = credits(("1", "2026-01-10", "10000"), ("2", "2026-03-01", "10000"), ("3", "2026-05-01", "10000"))
    q1 = calculate_period(book, Q1, YEAR, credits=cr, payees=PEOPLE.iloc[:1])
    # v1 pays the January credit: 1,000. v2 pays March at 12%: 20,000 x 12% - 10,000 x 12% = 1,200
    assert dict(zip(q1["plan_version"], q1["amount"])) == {1: D("1000.00"), 2: D("1200.00")}
    prior = q1.assign(period_id="2026-Q1", period_start=Q1.start, period_end=Q1.end)
    q2 = calculate_period(book, Q2, YEAR, credits=cr, payees=PEOPLE.iloc[:1], prior_lines=prior)
    # only v2 runs: its credits since Feb 16 earn 2,400 to date, minus its own 1,200 already paid
    assert dict(zip(q2["plan_version"], q2["amount"])) == {2: D("1200.00")}


def test_draw_prorated_by_days_across_a_version_change(types) -> None:
    draw = "  - id: draw\n    type: draw\n    amount: 3000\n    recoverable: false\n"
    book = book_of(types, versioned(1, "2026-01-01", mid="prorate_by_days", extra=draw),
                   versioned(2, "2026-02-16", mid="prorate_by_days", extra=draw))
    lines = calculate_period(book, Q1, YEAR, credits=credits(), payees=PEOPLE.iloc[:1])
    topups = lines.loc[lines["line_type"] == "draw_topup"]
    # 3,000 x 46/90 = 1,533.33 and 3,000 x 44/90 = 1,466.67: the whole draw, split by days
    assert dict(zip(topups["plan_version"], topups["amount"])) == {1: D("1533.33"), 2: D("1466.67")}


def test_demo_plan_on_a_small_company(types) -> None:
    book = PlanBook([load_plan_file(DEMO_PLANS / "fy2026-ae-plan.yaml", types)])
    people = pd.DataFrame([
        {"payee_id": "r1", "role": "rep", "team_id": "T1", "hire_date": date(2020, 1, 1), "termination_date": None, "currency": "USD"},
        {"payee_id": "r2", "role": "rep", "team_id": "T1", "hire_date": date(2026, 1, 15), "termination_date": None, "currency": "USD"}])
    cr = pd.concat([credits(("1", "2026-01-20", "600000"), ("2", "2026-03-05", "500000")),
                    credits(("3", "2026-02-01", "40000")).assign(payee_id="r2")], ignore_index=True)
    cr.loc[cr["payee_id"] == "p1", "payee_id"] = "r1"
    quotas = pd.DataFrame([{"payee_id": p, "measure": "bookings", "period_start": date(2026, 1, 1),
                            "period_end": date(2026, 12, 31), "amount": D("1000000")} for p in ("r1", "r2")])
    lines = calculate_period(book, Q1, YEAR, credits=cr, payees=people, quotas=quotas)
    got = {(r.payee_id, r.component, r.line_type): r.amount for r in lines.itertuples()}
    # r1: 1,100,000 of 1,000,000 (110%), gate met (annual quota): 500,000 x 4% + 500,000 x 8% + 100,000 x 12%
    #     = 20,000 + 40,000 + 12,000 = 72,000; the 100% club pays 5,000; no cap hit (2 x 60,000 = 120,000)
    assert got[("r1", "commission", "earning")] == D("72000.00")
    assert got[("r1", "presidents_club", "bonus")] == D("5000.00")
    # r2: 40,000 x 4% = 1,600; hired Jan 15: the draw tops up to 3,000
    assert got[("r2", "commission", "earning")] == D("1600.00")
    assert got[("r2", "new_hire_draw", "draw_topup")] == D("1400.00")
    assert ("r1", "new_hire_draw", "draw_topup") not in got


def test_docs_show_the_margin_plugin_verbatim_and_the_demo_plan() -> None:
    docs = (Path(__file__).resolve().parents[1] / "docs" / "plans.md").read_text("utf-8")
    source = (Path(__file__).resolve().parents[1] / "plugins" / "spm-plan-margin" / "spm_plan_margin" / "__init__.py").read_text("utf-8")
    block = docs.split("with a discount-based decelerator:\n\n```python\n", 1)[1].split("```", 1)[0]
    assert block == source
    assert len([line for line in source.splitlines() if line.strip()]) < 50


def test_docs_full_plan_file_is_the_demo_plan(types) -> None:
    docs = (Path(__file__).resolve().parents[1] / "docs" / "plans.md").read_text("utf-8")
    block = docs.split("## A full plan file", 1)[1].split("```yaml\n", 1)[1].split("```", 1)[0]
    shown = load_plan_text(block, types, "docs/plans.md")
    demo = load_plan_file(DEMO_PLANS / "fy2026-ae-plan.yaml", types)
    assert [c.config.model_dump() for c in shown.components] == [c.config.model_dump() for c in demo.components]
    assert shown.spec.model_dump(exclude={"description"}) == demo.spec.model_dump(exclude={"description"})
