"""Payee statements: totals equal the ledger to the cent, hand-worked draws, holds and
prior-period adjustments, and the HTML, PDF, XLSX and CSV outputs read back.

The scenario (the small company of tests/engine_company.py, plans below), calculated once:

    2026-01  calculated; 2026-02 calculated and CLOSED; then a late deal T20 (1,000.00 on D1,
    owner R1, dated 2026-02-25) arrives; 2026-03 calculated; R1 disputes a March line and the
    dispute is resolved with a 25.00 manual adjustment; 2026-03 recalculated (open).

Rep plan (R1 USD, R2 EUR): step commission 4% to 5,000, 6% above on year-to-date bookings,
then a recoverable draw of 300 a month (recovery from 2026-01-01, floor 0).

    R1 Jan  no credits: earnings 0 -> draw top-up 300.00; paid 300.00; draw balance 0 -> 300.00
    R1 Feb  commission 536.00 (engine_company); no top-up; recovery min(300, 536 - 300) = 236.00
            paid 536.00 - 236.00 = 300.00; draw balance 300.00 -> 64.00
    R1 Mar  Feb restated with T20: commission 596.00 (+60.00), recovery min(300, 596 - 300) = 296
            (-60.00 more): two prior-period adjustment lines, +60.00 and -60.00, linked to the
            closed Feb lines (536.00 and -236.00).
            Own March: YTD 1,540.00 x 4% = 61.60 - 596.00 already = -534.40; draw top-up
            300 - (-534.40) = 834.40; manual adjustment +25.00.
            paid -534.40 + 834.40 + 60.00 - 60.00 + 25.00 = 325.00
            draw balance: opening 64.00, change 834.40 - 60.00 = 774.40, closing 838.40
            paid plan year to date 300.00 + 300.00 + 325.00 = 925.00

Overlay plan (OV USD, SP GBP): 10% flat on year-to-date overlay credit, held until the deal
is paid.

    OV Feb  D2 overlay 1,000.01 -> earning 100.00 (100.001); D2 unpaid: hold -100.00 (held)
            paid 0.00; held balance 0 -> 100.00
    OV Mar  refund -100.01 -> YTD 900.00 -> 90.00 - 100.00 = -10.00; D2 paid 2026-03-15:
            release +100.00; paid 90.00; held balance 100.00 -> 0.00
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import openpyxl
import pandas as pd
import pytest
from typer.testing import CliRunner

import spm_kernel.plans  # noqa: F401 - import order: plans before plan types
from spm_kernel.cli import build_app
from spm_kernel.engine import EngineError
from spm_kernel.reports.statements import Statement, summarise
from spm_kernel.reports.statements_xlsx import neutralise
from spm_kernel.workspace import Workspace, open_workspace
from tests.engine_company import MGR_PLAN, build, copy_of, late_deal

D = Decimal

REP_PLAN = """\
plan_id: rep-plan
version: 1
name: Rep plan
effective_from: 2026-01-01
effective_to: 2026-12-31
assignments:
  - role: rep
components:
  - id: commission
    type: rate_table
    label: Bookings commission
    measure: {name: bookings, kinds: [booking, cancellation, refund], credit_types: [direct, split, rule],
              window: plan_year}
    basis: amount
    application: step
    scope: cumulative
    tiers:
      - {from: 0, to: 5000, rate: 0.04, label: base}
      - {from: 5000, rate: 0.06, label: accelerator}
  - id: draw
    type: draw
    label: Monthly draw
    amount: 300
    recoverable: true
    recovery_start: 2026-01-01
    floor: 0
"""
OVERLAY_PLAN = """\
plan_id: overlay-plan
version: 1
name: Overlay plan
effective_from: 2026-01-01
effective_to: 2026-12-31
assignments:
  - role: overlay
components:
  - id: overlay
    type: rate_table
    label: Overlay commission
    measure: {name: overlay credit, kinds: [booking, refund], credit_types: [overlay], window: plan_year}
    basis: amount
    application: flat
    tiers:
      - {from: 0, rate: 0.10}
    hold: {until: payment}
"""
HOSTILE_NAME = '=HYPERLINK("http://evil.example","click")'


def _scenario(folder: Path) -> Path:
    with open_workspace(folder) as ws:
        build(ws)
        ws.load("transactions", pd.DataFrame({
            "transaction_id": ["T7"], "opportunity_id": ["D2"], "kind": ["payment"], "amount": ["1000.01"],
            "currency": ["USD"], "transaction_date": ["2026-03-15"]}))
        ws.load("fx_rates", pd.DataFrame({"rate_date": ["2026-03-15"], "from_currency": ["USD"],
                                          "to_currency": ["EUR"], "rate": ["0.92000000"]}))
        ws.load("quotas", pd.DataFrame({  # attainment: R1 10,600.01 / 20,000 = 53.0000% in Feb
            "payee_id": ["R1", "R2"], "measure": ["bookings", "bookings"], "period_start": ["2026-01-01"] * 2,
            "period_end": ["2026-12-31"] * 2, "amount": ["20000.00", "20000.00"], "currency": ["USD", "EUR"]}))
        ws.load("payees", pd.DataFrame({  # a rep whose name a spreadsheet would run as a formula
            "payee_id": ["RX"], "name": [HOSTILE_NAME], "role": ["rep"], "team_id": ["T1"],
            "currency": ["USD"], "hire_date": ["2026-03-01"]}))
        for name, text in (("rep-plan-v1.yaml", REP_PLAN), ("mgr-plan-v1.yaml", MGR_PLAN),
                           ("overlay-plan-v1.yaml", OVERLAY_PLAN)):
            (ws.plans_dir / name).write_text(text, encoding="utf-8")
        ws.calculate("2026-01", progress=False)
        ws.calculate("2026-02", progress=False)
        ws.close_period("2026-02", actor="controller")
        late_deal(ws)
        march = ws.calculate("2026-03", progress=False)
        line = march.lines("R1")
        line_id = line.loc[(line["component"] == "commission") & line["corrects_period_id"].isna(), "line_id"].iloc[0]
        dispute = ws.disputes.raise_inquiry(line_id, "my Acme deal is missing", actor="R1")
        ws.disputes.start_review(dispute, actor="ops")
        ws.disputes.resolve(dispute, amount="25.00", resolution="goodwill for the late deal", actor="ops")
        ws.calculate("2026-03", progress=False)
    return folder


@pytest.fixture(scope="module")
def scenario(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _scenario(tmp_path_factory.mktemp("statements") / "ws")


@pytest.fixture(scope="module")
def ws(scenario: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Workspace]:
    with copy_of(scenario, tmp_path_factory.mktemp("statements-copy") / "ws", read_only=True) as w:
        yield w


def amounts(st: Statement) -> dict[str, Decimal]:
    return {(r.item if r.item != "earnings" else f"earnings:{r.component}"): r.amount
            for r in st.totals.itertuples(index=False)}


def ledger_sum(ws: Workspace, payee: str, period: str) -> Decimal:
    run_id = ws.run(period=period).run_id
    rows = ws.con.execute("SELECT sum(amount) FROM payout_lines WHERE run_id = ? AND payee_id = ?",
                          [run_id, payee]).fetchall()
    return rows[0][0] if rows and rows[0][0] is not None else D("0.00")


# ---- totals equal the ledger ----
@pytest.mark.parametrize("period", ["2026-01", "2026-02", "2026-03"])
def test_every_statement_total_equals_the_ledger_to_the_cent(ws: Workspace, period: str) -> None:
    from spm_kernel.reports.statements import build_statements

    found = build_statements(ws, period)
    payees = {r[0] for r in ws.con.execute(
        "SELECT DISTINCT payee_id FROM payout_lines WHERE run_id = ?", [ws.run(period=period).run_id]).fetchall()}
    assert {st.payee_id for st in found} == payees and len(found) >= 2
    for st in found:
        assert st.paid == ledger_sum(ws, st.payee_id, period)
        assert st.paid == sum(st.lines["amount"], D(0))
        items = st.totals.loc[st.totals["kind"] == "item"]
        assert sum(items["amount"], D(0)) == st.paid  # every line counts in exactly one item
        assert items["lines"].sum() == len(st.lines)
        assert all(isinstance(v, Decimal) for v in st.lines["amount"])


def test_rep_march_hand_worked(ws: Workspace) -> None:
    st = ws.statement("R1", "2026-03")
    assert st.payee_name == "Ria" and st.currency == "USD" and not st.final
    assert amounts(st) == {"earnings:commission": D("-534.40"), "draw_topup": D("834.40"),
                           "prior_period": D("0.00"), "manual": D("25.00"), "paid": D("325.00")}
    assert st.paid == D("325.00")
    assert st.year_to_date == D("925.00")
    draw = st.balances.set_index("balance").loc["draw"]
    assert (draw["opening"], draw["change"], draw["closing"]) == (D("64.00"), D("774.40"), D("838.40"))
    assert st.balance("draw") == D("838.40") and st.balance("held") == D(0)
    text = st.to_text()
    assert "Amount paid" in text and "325.00" in text and "Draw balance (closing)" in text and "838.40" in text
    sections = st.lines.groupby("section")["amount"].apply(lambda s: sum(s, D(0))).to_dict()
    assert sections == {"earnings": D("-534.40"), "draws": D("834.40"), "adjustments": D("25.00")}


def test_prior_period_adjustments_link_to_the_lines_they_correct(ws: Workspace) -> None:
    st = ws.statement("R1", "2026-03")
    feb = ws.run(period="2026-02").lines("R1").set_index("component")
    adj = st.lines.loc[(st.lines["section"] == "adjustments") & (st.lines["plan_id"] != "manual")]
    got = {r.component: (r.amount, r.corrects_period_id, r.corrects_line_id, r.corrected_amount)
           for r in adj.itertuples(index=False)}
    assert got == {
        "commission": (D("60.00"), "2026-02", feb.loc["commission", "line_id"], D("536.00")),
        "draw": (D("-60.00"), "2026-02", feb.loc["draw", "line_id"], D("-236.00")),
    }
    text = adj.set_index("component").loc["commission"]
    assert text["description"] == "Prior-period adjustment for 2026-02: Bookings commission"
    assert "recalculated 596.00 - already accounted 536.00 = 60.00" in text["explanation"]
    assert f"corrects line {feb.loc['commission', 'line_id']} of 2026-02 (booked 536.00)" in text["explanation"]
    manual = st.lines.loc[st.lines["plan_id"] == "manual"].iloc[0]
    assert manual["amount"] == D("25.00") and manual["description"] == "Manual adjustment ADJ-DSP-000001"
    assert "goodwill for the late deal" in manual["explanation"]


def test_closed_period_statement_is_final_and_frozen(ws: Workspace) -> None:
    st = ws.statement("R1", "2026-02")
    assert st.final and st.run_id == ws.run(period="2026-02").run_id
    assert amounts(st) == {"earnings:commission": D("536.00"), "draw_recovery": D("-236.00"), "paid": D("300.00")}
    draw = st.balances.set_index("balance").loc["draw"]
    assert (draw["opening"], draw["change"], draw["closing"]) == (D("300.00"), D("-236.00"), D("64.00"))
    line = st.lines.set_index("component").loc["commission"]
    assert (line["tier"], line["rate"]) == ("accelerator", D("0.06"))
    assert "step: 5,000.00 x 4% + 5,600.01 x 6%" in line["explanation"] or "5,600.01" in line["explanation"]
    jan = ws.statement("R1", "2026-01")
    assert amounts(jan) == {"draw_topup": D("300.00"), "paid": D("300.00")}
    assert jan.balances.set_index("balance").loc["draw", "closing"] == D("300.00")


def test_holds_and_releases(ws: Workspace) -> None:
    feb = ws.statement("OV", "2026-02")
    assert amounts(feb) == {"earnings:overlay": D("100.00"), "held": D("-100.00"), "paid": D("0.00")}
    held = feb.balances.set_index("balance").loc["held"]
    assert (held["opening"], held["change"], held["closing"]) == (D("0"), D("100.00"), D("100.00"))
    assert list(feb.lines.loc[feb.lines["line_type"] == "hold", "status"]) == ["held"]
    mar = ws.statement("OV", "2026-03")
    assert amounts(mar) == {"earnings:overlay": D("-10.00"), "released": D("100.00"), "paid": D("90.00")}
    held = mar.balances.set_index("balance").loc["held"]
    assert (held["opening"], held["change"], held["closing"]) == (D("100.00"), D("-100.00"), D("0.00"))
    sp = ws.statement("SP", "2026-03")  # GBP, deal never paid: everything earned is held
    assert sp.currency == "GBP" and sp.paid == D("0.00")
    assert sp.balance("held") == -amounts(sp)["held"] > 0


def test_attainment_history_and_credits(ws: Workspace) -> None:
    st = ws.statement("R1", "2026-03")
    assert list(st.attainment["period_id"]) == ["2026-02", "2026-03"]  # no commission line in January
    assert list(st.attainment["measure_value"]) == [D("10600.01"), D("1540.00")]
    # of the 20,000.00 quota, as the engine states it (to 6 places): 10,600.01 / 20,000 = 0.5300005
    assert list(st.attainment["attainment"]) == [D("0.530000"), D("0.077")]
    assert "53%" in st.to_html()
    assert set(st.credits["transaction_id"]) >= {"T5", "T6"}
    assert st.credits["amount"].map(type).eq(Decimal).all()


def test_summarise_carry_forward_and_subtotals() -> None:
    """Synthetic lines: two components give an earnings subtotal; carry-forward counts in
    earnings; draw, hold and adjustment items; the items add up to paid."""
    rows = [("earnings", "commission", "Commission", "earning", "1000.00", "rep"),
            ("earnings", "commission", "Commission", "carry_forward", "-200.00", "rep"),
            ("earnings", "bonus", "Club", "bonus", "500.00", "rep"),
            ("draws", "draw", "Draw", "draw_recovery", "-100.00", "rep"),
            ("holds", "commission", "Commission", "hold", "-50.00", "rep"),
            ("adjustments", "commission", "Commission", "earning", "12.34", "rep"),
            ("adjustments", "manual_adjustment", "Manual adjustment", "adjustment", "-2.34", "manual")]
    lines = pd.DataFrame(rows, columns=["section", "component", "component_label", "line_type", "amount", "plan_id"])
    lines["amount"] = lines["amount"].map(D)
    lines["currency"] = "USD"
    totals = summarise(lines, "USD")
    got = [(r.item, r.label, r.amount) for r in totals.itertuples(index=False)]
    assert got == [("earnings", "Commission", D("800.00")), ("earnings", "Club", D("500.00")),
                   ("earnings_total", "Total earnings", D("1300.00")), ("draw_recovery", "Draw recoveries", D("-100.00")),
                   ("prior_period", "Prior-period adjustments", D("12.34")), ("manual", "Manual adjustments", D("-2.34")),
                   ("held", "Held this period", D("-50.00")), ("paid", "Amount paid", D("1160.00"))]
    empty = summarise(lines.iloc[0:0], "JPY")
    assert list(empty["amount"]) == [D("0")] and str(empty["amount"].iloc[0]) == "0"


# ---- outputs ----
def test_html_explains_every_line_with_totals_in_tbody(ws: Workspace) -> None:
    st = ws.statement("R1", "2026-03")
    html = st.to_html()
    assert html.startswith("<!DOCTYPE html>") and "<tfoot" not in html
    for line in st.lines.itertuples(index=False):
        for part in line.explanation.splitlines():
            assert part.replace("'", "&#39;") in html, part
    tbody = html[html.index('<table class="summary">'):]
    tbody = tbody[tbody.index("<tbody>"):tbody.index("</tbody>")]
    assert "Amount paid" in tbody and "325.00" in tbody
    assert "<svg" in html and "attainment to date" in html
    assert 'class="spm-statement"' in st._repr_html_() and "<html" not in st._repr_html_()


def test_html_escapes_payee_text(ws: Workspace) -> None:
    html = ws.statement("RX", "2026-03").to_html()
    assert HOSTILE_NAME not in html and "=HYPERLINK(&#34;http://evil.example&#34;" in html


def test_pdf_has_the_statement_text(ws: Workspace, tmp_path: Path) -> None:
    from pypdf import PdfReader

    st = ws.statement("R1", "2026-03")
    path = st.to_pdf(tmp_path / "r1.pdf")
    reader = PdfReader(str(path))
    text = "\n".join(page.extract_text() for page in reader.pages)
    flat = " ".join(text.split()).replace("- ", "-")  # ids may wrap after a hyphen
    for expected in ("Compensation statement", "Ria", "March 2026", "PRELIMINARY", "Amount paid", "325.00",
                     "838.40", "925.00", "Prior-period adjustment for 2026-02", "Manual adjustment ADJ-DSP-000001",
                     "Monthly draw: draw top-up", "834.40", f"Page 1 of {len(reader.pages)}"):
        assert expected in flat, expected


def test_xlsx_reads_back_as_the_rounded_lines(ws: Workspace, tmp_path: Path) -> None:
    st = ws.statement("R1", "2026-03")
    book = openpyxl.load_workbook(st.to_xlsx(tmp_path / "r1.xlsx"))
    assert book.sheetnames == ["Statement", "Lines", "Credits"]
    sheet = book["Lines"]
    header = [c.value for c in sheet[1]]
    col = header.index("Amount") + 1
    cells = [sheet.cell(row=i, column=col) for i in range(2, len(st.lines) + 2)]
    assert [D(str(round(c.value, 2))).quantize(D("0.01")) for c in cells] == list(st.lines["amount"])
    assert all(c.number_format == "#,##0.00" for c in cells)
    total = sheet.cell(row=len(st.lines) + 2, column=col)
    assert D(str(total.value)).quantize(D("0.01")) == D("325.00")
    expl = header.index("Explanation") + 1
    assert [sheet.cell(row=i, column=expl).value for i in range(2, len(st.lines) + 2)] == \
        [neutralise(e) for e in st.lines["explanation"]]
    summary = {r[0]: r[2] for r in book["Statement"].iter_rows(values_only=True) if r and r[0] and len(r) > 2}
    assert D(str(summary["Amount paid"])).quantize(D("0.01")) == D("325.00")
    credits = book["Credits"]
    assert credits.max_row == len(st.credits) + 1


def test_exports_neutralise_formula_cells(ws: Workspace, tmp_path: Path) -> None:
    st = ws.statement("RX", "2026-03")
    assert st.payee_name == HOSTILE_NAME and st.paid == D("300.00")  # a new hire's draw
    book = openpyxl.load_workbook(st.to_xlsx(tmp_path / "rx.xlsx"))
    values = [c for row in book["Statement"].iter_rows() for c in row if isinstance(c.value, str)]
    payee = [c for c in values if "HYPERLINK" in c.value]
    assert [c.value for c in payee] == ["'" + HOSTILE_NAME] and payee[0].data_type == "s"
    assert all(not (isinstance(c.value, str) and c.value.startswith(("=", "+", "-", "@")))
               for sheet in book for row in sheet.iter_rows() for c in row)
    rows = list(csv.reader(io.StringIO(st.to_csv(tmp_path / "rx.csv").read_text())))
    assert rows[0][:3] == ["payee_id", "period_id", "section"]
    amount = rows[0].index("amount")
    assert [D(r[amount]) for r in rows[1:]] == list(st.lines["amount"])
    assert neutralise("-1") == "'-1" and neutralise("@x") == "'@x" and neutralise("+x") == "'+x"
    assert neutralise("\tx") == "'\tx" and neutralise("plain") == "plain"


# ---- CLI and errors ----
def test_cli_writes_one_file_per_payee(scenario: Path, tmp_path: Path) -> None:
    runner = CliRunner()
    out = tmp_path / "out"
    result = runner.invoke(build_app(), ["statements", "2026-03", "--format", "xlsx", "--out", str(out),
                                         "-w", str(scenario), "-q"])
    assert result.exit_code == 0, result.output
    files = sorted(p.name for p in out.iterdir())
    assert "statement-2026-03-R1.xlsx" in files and "statement-2026-03-OV.xlsx" in files
    assert "preliminary" in result.output and "USD" in result.output
    one = runner.invoke(build_app(), ["statements", "2026-02", "--payee", "R1", "--format", "html", "--out",
                                      str(tmp_path / "one"), "-w", str(scenario)])
    assert one.exit_code == 0, one.output
    assert [p.name for p in (tmp_path / "one").iterdir()] == ["statement-2026-02-R1.html"]
    assert "final" in one.output and "300.00" in one.output
    bad = runner.invoke(build_app(), ["statements", "2026-03", "--format", "docx", "-w", str(scenario)])
    assert bad.exit_code == 1 and "unknown format 'docx'" in bad.output
    never = runner.invoke(build_app(), ["statements", "2026-07", "-w", str(scenario)])
    assert never.exit_code == 1 and "2026-07 has no succeeded run" in never.output


def test_errors(ws: Workspace) -> None:
    with pytest.raises(EngineError, match="no payee 'NOPE'"):
        ws.statement("NOPE", "2026-03")
    with pytest.raises(EngineError, match="has no succeeded run"):
        ws.statement("R1", "2026-05")
    quiet = ws.statement("VP", "2026-03")  # a payee with no plan: an empty statement, paid 0
    assert quiet.paid == D("0.00") and quiet.lines.empty and "No payout line" in quiet.to_html()


def test_a_zero_decimal_currency_statement(tmp_path: Path) -> None:
    """A statement in JPY (no minor unit), built from frames: whole yen everywhere."""
    from datetime import date

    from spm_kernel.periods import parse_period
    from spm_kernel.reports.statements import (
        ATTAINMENT_COLUMNS, BALANCE_COLUMNS, CREDIT_COLUMNS, LINE_COLUMNS, Statement, summarise,
    )

    def frame(columns: tuple[str, ...], rows: list[dict]) -> pd.DataFrame:
        return pd.DataFrame([{c: r.get(c) for c in columns} for r in rows], columns=list(columns))

    lines = frame(LINE_COLUMNS, [
        {"section": "earnings", "line_no": 1, "line_id": "L1", "plan_id": "jp", "plan_version": 1,
         "component": "commission", "component_label": "Commission", "line_type": "earning",
         "description": "Commission", "amount": D("123457"), "currency": "JPY", "status": "payable",
         "credit_count": 0, "reference": "", "explanation": "step: 3,086,425 x 4%"},
        {"section": "draws", "line_no": 2, "line_id": "L2", "plan_id": "jp", "plan_version": 1,
         "component": "draw", "component_label": "Draw", "line_type": "draw_recovery",
         "description": "Draw: draw recovery", "amount": D("-23457"), "currency": "JPY", "status": "payable",
         "credit_count": 0, "reference": "", "explanation": "recover 23,457"}])
    st = Statement(
        company="Kaisha", payee_id="JP1", payee_name="Aiko", role="rep", team="", region="", manager="",
        currency="JPY", period=parse_period("2026-03"), period_status="closed", run_id="R1",
        plan_year=parse_period("FY2026"), plans=["JP plan (v1)"], rounding="ROUND_HALF_UP", lines=lines,
        totals=summarise(lines, "JPY"),
        balances=pd.DataFrame([("draw", "Draw balance", D("50000"), D("-23457"), D("26543"), "JPY", "")],
                              columns=list(BALANCE_COLUMNS)),
        attainment=frame(ATTAINMENT_COLUMNS, [{"period_id": "2026-03", "period_start": date(2026, 3, 1),
                                               "component": "commission", "component_label": "Commission",
                                               "measure": "bookings", "measure_value": D("3086425"),
                                               "attainment": D("0.61")}]),
        credits=frame(CREDIT_COLUMNS, []), year_to_date=D("100000"))
    assert st.paid == D("100000") and st.places == 0 and st.final
    html = st.to_html()
    assert "100,000" in html and "100,000.00" not in html and "61.0%" in html and "FINAL" in html
    book = openpyxl.load_workbook(st.to_xlsx(tmp_path / "jp.xlsx"))
    sheet = book["Lines"]
    col = [c.value for c in sheet[1]].index("Amount") + 1
    cells = [sheet.cell(row=i, column=col) for i in (2, 3, 4)]
    assert [c.value for c in cells] == [123457, -23457, 100000]
    assert {c.number_format for c in cells} == {"#,##0"}
