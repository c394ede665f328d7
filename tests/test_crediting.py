"""Crediting: direct, splits, overlay, rules, roll-ups through the dated hierarchy, FX, and
cancellations with their sign. Expected numbers are worked by hand in tests/engine_company.py."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from decimal import Decimal
from pathlib import Path

import pandas as pd
import pytest

import spm_kernel.plans  # noqa: F401 - import order: plans before plan types
from spm_kernel.crediting import CreditingConfig, CreditingError, compute_credits, credits_frame
from spm_kernel.workspace import Workspace
from tests.engine_company import build_template, copy_of

FEB1, MAR31 = date(2026, 2, 1), date(2026, 3, 31)


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_template(tmp_path_factory.mktemp("company") / "ws")


@pytest.fixture
def ws(template: Path, tmp_path: Path) -> Iterator[Workspace]:
    with copy_of(template, tmp_path / "ws") as w:
        yield w


def credits(ws: Workspace, config: CreditingConfig | None = None, start: date = FEB1, end: date = MAR31) -> pd.DataFrame:
    compute_credits(ws.con, start, end, config)
    return credits_frame(ws.con)


def one(frame: pd.DataFrame, **where: object) -> pd.Series:
    rows = frame
    for col, value in where.items():
        rows = rows[rows[col] == value]
    assert len(rows) == 1, f"expected one credit for {where}, got {len(rows)}"
    return rows.iloc[0]


def test_every_credit_of_the_quarter(ws: Workspace) -> None:
    c = credits(ws)
    assert len(c) == 24
    # T1: the owner, then M1 (R1's manager on 2026-02-10) and VP
    r = one(c, transaction_id="T1", payee_id="R1")
    assert (r.credit_type, r.rule, r.amount, r.share) == ("direct", "owner", Decimal("10000.00"), Decimal("100"))
    m1 = one(c, transaction_id="T1", payee_id="M1")
    assert (m1.credit_type, m1.rule, m1.rollup_level, m1.source_payee_id, m1.amount) == (
        "rollup", "hierarchy", 1, "R1", Decimal("10000.00"))
    assert one(c, transaction_id="T1", payee_id="VP").rollup_level == 2
    assert c[(c.transaction_id == "T1") & (c.payee_id == "M2")].empty


def test_revenue_split_allocates_the_odd_cent_and_sums_to_the_deal(ws: Workspace) -> None:
    c = credits(ws)
    # 1,000.01 x 60% = 600.006 and x 40% = 400.004: the odd cent goes to the larger remainder
    r1 = one(c, transaction_id="T2", payee_id="R1", credit_type="split")
    r2 = one(c, transaction_id="T2", payee_id="R2", credit_type="split")
    assert (r1.source_amount, r2.source_amount) == (Decimal("600.01"), Decimal("400.00"))
    assert r1.source_amount + r2.source_amount == Decimal("1000.01")
    assert (r1.rule, r1.share, r2.share) == ("revenue_split", Decimal("60"), Decimal("40"))


def test_fx_to_the_payee_currency_at_the_credit_date(ws: Workspace) -> None:
    c = credits(ws)
    r2 = one(c, transaction_id="T2", payee_id="R2")
    # 400.00 USD x 0.91234567 = 364.938268 -> 364.94 EUR
    assert (r2.amount, r2.currency, r2.fx_rate, r2.fx_quote) == (
        Decimal("364.94"), "EUR", Decimal("0.91234567"), "USD->EUR 2026-02-20")
    # EUR -> USD with only USD->EUR quoted: 5,000.00 / 0.9 = 5,555.555... -> 5,555.56
    m1 = one(c, transaction_id="T4", payee_id="M1")
    assert (m1.amount, m1.currency, m1.fx_quote) == (Decimal("5555.56"), "USD", "USD->EUR 2026-03-05")
    # EUR -> GBP for the rule credit: 5,000.00 x 0.84567891 = 4,228.39455 -> 4,228.39
    sp = one(c, transaction_id="T4", payee_id="SP")
    assert (sp.amount, sp.currency) == (Decimal("4228.39"), "GBP")


def test_overlay_is_labelled_and_may_exceed_100(ws: Workspace) -> None:
    c = credits(ws)
    t2 = c[c.transaction_id == "T2"]
    direct_shares = t2[t2.credit_type.isin(["direct", "split"])].share.sum()
    overlay = one(t2, payee_id="OV")
    assert (overlay.credit_type, overlay.rule, overlay.amount) == ("overlay", "overlay_split", Decimal("1000.01"))
    assert direct_shares + overlay.share == Decimal("200")  # 100% revenue + 100% overlay
    # overlay credit does not roll up by default
    assert t2[(t2.credit_type == "rollup") & (t2.source_payee_id == "OV")].empty


def test_rule_based_credit_records_its_rule(ws: Workspace) -> None:
    c = credits(ws)
    sp = one(c, payee_id="SP")
    assert (sp.credit_type, sp.rule, sp.transaction_id) == ("overlay", "rule:R-AN", "T4")
    # the rule is effective-dated: starting it after the deal removes the credit
    ws.load("crediting_rules", pd.DataFrame({"rule_id": ["R-AN"], "payee_id": ["SP"], "credit_type": ["overlay"],
                                             "percent": ["100"], "valid_from": ["2026-03-06"]}))
    assert credits(ws)[lambda f: f.payee_id == "SP"].empty


def test_rule_by_segment_with_rule_type(ws: Workspace) -> None:
    ws.load("crediting_rules", pd.DataFrame({"rule_id": ["SEG"], "payee_id": ["M2"], "credit_type": ["rule"],
                                             "percent": ["10"], "segment": ["enterprise"],
                                             "valid_from": ["2026-01-01"]}))
    c = credits(ws)
    seg = c[c.rule == "rule:SEG"].sort_values("transaction_id")
    # enterprise = account A1 = deals D1, D2: T1 10,000.00, T2 1,000.01, T5 -10,000.00, T6 -100.01
    assert list(seg.transaction_id) == ["T1", "T2", "T5", "T6"]
    assert list(seg.amount) == [Decimal("1000.00"), Decimal("100.00"), Decimal("-1000.00"), Decimal("-10.00")]
    assert set(seg.credit_type) == {"rule"}


def test_rollups_follow_the_hierarchy_of_the_credit_date(ws: Workspace) -> None:
    c = credits(ws)
    # R1 moved from M1 to M2 on 2026-02-15: T1 (02-10) rolls to M1, T2 (02-20) to M2
    assert one(c, transaction_id="T2", payee_id="M2").amount == Decimal("600.01")
    assert one(c, transaction_id="T2", payee_id="M1").source_payee_id == "R2"
    vp = c[(c.transaction_id == "T2") & (c.payee_id == "VP")]
    assert sorted(vp.source_payee_id) == ["R1", "R2"] and set(vp.rollup_level) == {2}
    assert vp.amount.sum() == Decimal("1000.01")


def test_totals_per_payee(ws: Workspace) -> None:
    c = credits(ws)
    totals = c.groupby("payee_id")["amount"].sum().to_dict()
    assert totals == {
        "R1": Decimal("540.00"),   # 10,000.00 + 600.01 - 10,000.00 - 60.01
        "R2": Decimal("5328.14"),  # 364.94 + 5,000.00 - 36.80 (EUR)
        "M1": Decimal("15915.56"),  # 10,000.00 + 400.00 + 5,555.56 - 40.00
        "M2": Decimal("-9460.00"),  # 600.01 - 10,000.00 - 60.01
        "VP": Decimal("6455.56"),
        "OV": Decimal("900.00"),   # 1,000.01 - 100.01
        "SP": Decimal("4228.39"),  # GBP
    }


def test_cancellation_flows_with_its_sign(ws: Workspace) -> None:
    c = credits(ws)
    # T5 has no deal of its own: found through original_transaction_id T1 (deal D1, owner R1)
    t5 = c[c.transaction_id == "T5"].set_index("payee_id")
    assert t5.loc["R1", "amount"] == Decimal("-10000.00") and t5.loc["R1", "kind"] == "cancellation"
    assert t5.loc["R1", "original_transaction_id"] == "T1"
    # on 2026-03-10 R1 reports to M2: the reversal rolls to M2 and VP
    assert sorted(t5.index) == ["M2", "R1", "VP"]
    # the refund of 100.01 splits with the same largest-remainder rule: -60.01 / -40.00
    t6 = c[(c.transaction_id == "T6") & (c.credit_type == "split")].set_index("payee_id")
    assert t6.loc["R1", "source_amount"] == Decimal("-60.01")
    assert (t6.loc["R2", "source_amount"], t6.loc["R2", "amount"]) == (Decimal("-40.00"), Decimal("-36.80"))


def test_full_cancellation_nets_to_zero_for_every_payee(ws: Workspace) -> None:
    ws.load("transactions", pd.DataFrame({
        "transaction_id": ["T7", "T8"], "opportunity_id": ["D2", "D2"], "kind": ["booking", "cancellation"],
        "amount": ["333.33", "-333.33"], "currency": ["USD", "USD"],
        "transaction_date": ["2026-03-20", "2026-03-20"], "original_transaction_id": [None, "T7"],
    }))
    ws.load("fx_rates", pd.DataFrame({"rate_date": ["2026-03-20"], "from_currency": ["USD"],
                                      "to_currency": ["EUR"], "rate": ["0.93333333"]}))
    c = credits(ws)
    pair = c[c.transaction_id.isin(["T7", "T8"])]
    assert len(pair) == 14
    assert all(v == 0 for v in pair.groupby(["payee_id", "credit_type", "source_payee_id"], dropna=False)
               ["amount"].sum())


def test_revenue_splits_not_summing_to_100_name_the_deal(ws: Workspace) -> None:
    # the importer refuses such splits; a store written another way must still be caught
    ws.con.execute("""INSERT INTO opportunity_splits VALUES
        ('D4', 'R1', 'revenue', 50, 'x', 'x', now()), ('D4', 'R2', 'revenue', 30, 'x', 'x', now())""")
    with pytest.raises(CreditingError, match=r"deal D4: revenue splits sum to 80\.000000%, not 100%"):
        compute_credits(ws.con, FEB1, MAR31)
    # a window without D4's transactions is unaffected
    assert compute_credits(ws.con, FEB1, date(2026, 2, 28)).credits == 10


def test_missing_fx_rate_names_pair_and_date(ws: Workspace) -> None:
    ws.load("transactions", pd.DataFrame({
        "transaction_id": ["T9"], "opportunity_id": ["D1"], "kind": ["booking"], "amount": ["50.00"],
        "currency": ["GBP"], "transaction_date": ["2026-03-20"]}))
    with pytest.raises(CreditingError, match=r"GBP->USD on 2026-03-20") as err:
        compute_credits(ws.con, FEB1, MAR31)
    assert "EUR" not in str(err.value).split("fx_rates")[0].replace("GBP->USD", "")


def test_period_average_fx(ws: Workspace) -> None:
    ws.load("fx_rates", pd.DataFrame({"rate_date": ["2026-03-25"], "from_currency": ["USD"],
                                      "to_currency": ["EUR"], "rate": ["0.9350"]}))
    c = credits(ws, CreditingConfig(fx_rate="period_average"))
    # March USD->EUR: (0.90 + 0.92 + 0.935) / 3 = 0.918333333... -> 0.91833333
    r2 = one(c, transaction_id="T6", payee_id="R2")
    assert (r2.amount, r2.fx_rate, r2.fx_quote) == (Decimal("-36.73"), Decimal("0.91833333"), "USD->EUR avg 2026-03")
    assert one(c, transaction_id="T4", payee_id="M1").amount == Decimal("5444.65")  # 5,000 / 0.91833333
    # February has one rate: the average is that rate
    assert one(c, transaction_id="T2", payee_id="R2").amount == Decimal("364.94")
    with pytest.raises(CreditingError, match=r"EUR->GBP averaged over 2026-04"):
        ws.load("transactions", pd.DataFrame({
            "transaction_id": ["T10"], "opportunity_id": ["D4"], "kind": ["booking"], "amount": ["1.00"],
            "currency": ["EUR"], "transaction_date": ["2026-04-02"]}))
        compute_credits(ws.con, FEB1, date(2026, 4, 30), CreditingConfig(fx_rate="period_average"))


def test_rollup_options(ws: Workspace) -> None:
    c = credits(ws, CreditingConfig(max_rollup_levels=1))
    assert c[c.payee_id == "VP"].empty
    c = credits(ws, CreditingConfig(rollup=False))
    assert set(c.credit_type) == {"direct", "split", "overlay"}
    c = credits(ws, CreditingConfig(rollup_credit_types=("direct", "split", "overlay")))
    vp_from_ov = c[(c.payee_id == "VP") & (c.source_payee_id == "OV")]
    assert list(vp_from_ov.amount) == [Decimal("1000.01"), Decimal("-100.01")]


def test_transaction_kinds_filter(ws: Workspace) -> None:
    c = credits(ws, CreditingConfig(transaction_kinds=("booking",)))
    assert set(c.kind) == {"booking"} and "T5" not in set(c.transaction_id)


def test_hierarchy_cycle_is_an_error(ws: Workspace) -> None:
    ws.load("hierarchy", pd.DataFrame({"payee_id": ["VP"], "valid_from": ["2026-01-01"], "manager_id": ["R2"]}))
    with pytest.raises(CreditingError, match="cycle"):
        compute_credits(ws.con, FEB1, MAR31)


def test_credit_ids_are_stable(ws: Workspace) -> None:
    first = credits(ws)
    second = credits(ws)
    pd.testing.assert_frame_equal(first, second)
    assert first.credit_id.is_unique
    assert one(first, transaction_id="T2", payee_id="VP", source_payee_id="R1").credit_id == "T2/VP/rollup/R1"


def test_uncredited_transactions_are_counted(ws: Workspace) -> None:
    ws.load("transactions", pd.DataFrame({
        "transaction_id": ["T11"], "kind": ["payment"], "amount": ["5.00"], "currency": ["USD"],
        "transaction_date": ["2026-03-01"]}))
    summary = compute_credits(ws.con, FEB1, MAR31)
    assert (summary.transactions, summary.uncredited, summary.credits) == (6, 1, 24)


def test_currencies_without_cents(ws: Workspace) -> None:
    ws.load("payees", pd.DataFrame({"payee_id": ["JP"], "name": ["Jun"], "role": ["overlay"],
                                    "currency": ["JPY"], "hire_date": ["2020-01-01"]}))
    ws.load("crediting_rules", pd.DataFrame({"rule_id": ["JPR"], "payee_id": ["JP"], "credit_type": ["rule"],
                                             "percent": ["100"], "product": ["Core"], "valid_from": ["2026-02-01"],
                                             "valid_to": ["2026-02-11"]}))
    ws.load("transactions", pd.DataFrame({
        "transaction_id": ["T12"], "opportunity_id": ["D2"], "kind": ["booking"], "amount": ["1001"],
        "currency": ["JPY"], "transaction_date": ["2026-03-20"]}))
    ws.load("fx_rates", pd.DataFrame({
        "rate_date": ["2026-02-10", "2026-03-20", "2026-03-20"], "from_currency": ["USD", "JPY", "JPY"],
        "to_currency": ["JPY", "USD", "EUR"], "rate": ["149.87654321", "0.0066", "0.0061"]}))
    c = credits(ws)
    # into yen: 10,000.00 USD x 149.87654321 = 1,498,765.4321 -> 1,498,765 (no fractions of a yen)
    assert one(c, payee_id="JP").amount == Decimal("1498765.00")
    # 1,001 JPY split 60/40 in whole yen: 600.6 and 400.4 -> 601 and 400
    r1 = one(c, transaction_id="T12", payee_id="R1")
    r2 = one(c, transaction_id="T12", payee_id="R2")
    assert (r1.source_amount, r2.source_amount) == (Decimal("601.00"), Decimal("400.00"))
    assert (r1.amount, r2.amount) == (Decimal("3.97"), Decimal("2.44"))  # 601 x 0.0066 = 3.9666; 400 x 0.0061
    ws.load("transactions", pd.DataFrame({
        "transaction_id": ["T13"], "opportunity_id": ["D2"], "kind": ["booking"], "amount": ["10.50"],
        "currency": ["JPY"], "transaction_date": ["2026-03-20"]}))
    with pytest.raises(CreditingError, match=r"transaction T13: 10.50 JPY"):
        compute_credits(ws.con, FEB1, MAR31)
