"""The performance report on the hand-worked company (tests/test_metrics_company.py): its
content, HTML, PDF (WeasyPrint), XLSX (read back with openpyxl), the `spm report` command, and
the page in real Chromium."""

from __future__ import annotations

from pathlib import Path

import openpyxl
import pytest
from typer.testing import CliRunner

from spm_kernel.cli import build_app
from spm_kernel.reports.performance import (
    PerformanceReport,
    ReportError,
    build_performance_report,
    write_performance_report,
    write_report,
)
from spm_kernel.reports.performance_html import fmt_value, render_html
from spm_kernel.workspace import Workspace
from tests.test_metrics_company import AS_OF, Q3, acme  # noqa: F401 - fixture

BENCHMARKS = """\
benchmarks:
  - {metric: win_rate, p25: 0.6, median: 0.7, p75: 0.8, source: "Industry survey"}
  - {metric: quota_attainment, p25: 0.7, median: 0.8, p75: 0.9}
"""
ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts"


@pytest.fixture(scope="module")
def bench_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("bench") / "industry.yaml"
    path.write_text(BENCHMARKS)
    return path


@pytest.fixture(scope="module")
def report(acme: Workspace, bench_file: Path) -> PerformanceReport:  # noqa: F811
    return build_performance_report(acme, Q3, benchmarks=bench_file, as_of=AS_OF)


def test_the_report_holds_the_hand_worked_numbers(report: PerformanceReport) -> None:
    kpis = report.kpis.set_index("metric")
    assert kpis.loc["quota_attainment", "value"] == pytest.approx(56250 / 74200)
    assert kpis.loc["win_rate", "value"] == 0.75 and kpis.loc["win_rate", "benchmark"] == 0.7
    assert kpis.loc["win_rate", "position"] == "above median"
    assert kpis.loc["avg_deal_size", "value"] == 9375.0
    assert kpis.loc["avg_deal_size", "prior"] != kpis.loc["avg_deal_size", "prior"]  # no deal won in Q2: NaN
    board = report.leaderboard
    assert list(board["payee_id"]) == ["R2", "R3", "R1", "R4"]  # by attainment; R4 has none
    assert list(board["rank"]) == [1, 2, 3, 4]
    assert board.loc[0, "bookings"] == 14000.0 and board.loc[0, "quota"] == 9200.0
    assert set(report.teams["name"]) == {"Americas", "EMEA"}
    assert report.trend["period"].nunique() == 12 and report.trend["period"].iloc[-1] == "2026-09"
    assert report.scope_label == "Whole company" and report.period == "2026-Q3"
    assert report.pipeline_date == report.period_end  # a past quarter: its pipeline on its last day


def test_quota_attainment_against_a_band_sits_in_the_right_quartile(report: PerformanceReport) -> None:
    # 56,250 / 74,200 = 0.758: above the industry p25 (0.7), below the median (0.8)
    assert report.external.set_index("metric").loc["quota_attainment", "position"] == "below median"


def test_a_scoped_report(acme: Workspace, tmp_path: Path) -> None:  # noqa: F811
    scoped = build_performance_report(acme, Q3, "team:EMEA", as_of=AS_OF)
    assert scoped.scope_label == "Team EMEA"
    assert set(scoped.leaderboard["payee_id"]) == {"R3", "R4"}
    assert scoped.kpis.set_index("metric").loc["quota_attainment", "value"] == pytest.approx(0.89)
    assert list(scoped.teams["team_id"]) == ["T_EU"]
    # the open pipeline on 2026-09-30 due within six months: none of EMEA's deals
    assert scoped.pipeline.empty
    pdf = write_report(scoped, tmp_path / "emea.pdf")  # through performance_pdf.write_pdf
    assert pdf.read_bytes().startswith(b"%PDF-")


def test_html_has_every_section_chart_and_number(report: PerformanceReport) -> None:
    html = render_html(report)
    assert html.startswith("<!DOCTYPE html>")
    assert html.count("<svg") >= 4  # distribution, leaderboard, trends, bands (+ pipeline)
    for text in ("Headline KPIs", "Quota attainment", "Trends", "Benchmark bands", "Pipeline health",
                 "Areas for improvement", "Leaderboard", "Ray Two", "USD 9.4k", "75.0%",
                 "Industry survey", "above median"):
        assert text in html, text
    assert 'font-family="DejaVu Sans' not in html or "svg" in html
    assert "{{" not in html and "{%" not in html


def test_value_formatting() -> None:
    assert fmt_value(0.4567, "ratio") == "45.7%"
    assert fmt_value(12345.6, "currency", "USD") == "USD 12,346"
    assert fmt_value(12345.6, "currency", "USD", short=True) == "USD 12.3k"
    assert fmt_value(638.3, "currency_per_day", "USD") == "USD 638 /day"
    assert fmt_value(None, "days") == "–"
    assert fmt_value(47.0, "days") == "47 days"


def test_pdf_is_a_multi_page_a4_document(report: PerformanceReport, tmp_path: Path) -> None:
    import weasyprint

    document = weasyprint.HTML(string=render_html(report)).render()  # what write_pdf prints, laid out
    assert len(document.pages) >= 2
    first = document.pages[0]
    assert (round(first.width * 0.75), round(first.height * 0.75)) == (595, 842)  # A4 in points
    path = tmp_path / "q3.pdf"
    path.write_bytes(document.write_pdf())
    assert path.read_bytes().startswith(b"%PDF-") and path.stat().st_size > 20_000



def test_xlsx_reads_back_with_numbers_and_formats(report: PerformanceReport, tmp_path: Path) -> None:
    path = write_report(report, tmp_path / "q3.xlsx")
    book = openpyxl.load_workbook(path)
    assert book.sheetnames == ["Summary", "Trend", "Leaderboard", "Teams", "Peers", "Improvement", "Pipeline"]
    board = book["Leaderboard"]
    header = [c.value for c in board[1]]
    first = dict(zip(header, [c.value for c in board[2]]))
    assert first["Rep"] == "Ray Two" and first["Bookings (USD)"] == 14000.0 and first["Quota (USD)"] == 9200.0
    assert round(first["Attainment"], 6) == round(14000 / 9200, 6)
    assert board.cell(2, header.index("Attainment") + 1).number_format == "0.0%"
    summary = book["Summary"]
    labels = [summary.cell(r, 1).value for r in range(5, 5 + len(report.kpis))]
    assert "Quota attainment" in labels and "Win rate (count)" in labels
    assert book["Leaderboard"]._charts and book["Trend"]._charts


def test_write_performance_report_refuses_an_unknown_format(acme: Workspace, tmp_path: Path) -> None:  # noqa: F811
    with pytest.raises(ReportError, match="unknown report format 'docx'"):
        write_performance_report(acme, Q3, tmp_path / "q3.docx")
    with pytest.raises(ReportError, match="unknown period"):
        build_performance_report(acme, "2026-Q7")


def test_spm_report_command(acme: Workspace, bench_file: Path, tmp_path: Path) -> None:  # noqa: F811
    acme.con.execute("CHECKPOINT")
    import shutil
    folder = tmp_path / "copy"
    shutil.copytree(acme.path, folder)  # the CLI opens the workspace itself
    runner = CliRunner()
    out = tmp_path / "emea.xlsx"
    result = runner.invoke(build_app(), ["report", "--period", Q3, "--scope", "team:EMEA", "--format", "xlsx",
                                         "--output", str(out), "--benchmarks", str(bench_file),
                                         "--as-of", AS_OF.isoformat(), "--workspace", str(folder)])
    assert result.exit_code == 0, result.output
    assert f"wrote {out}" in result.output
    assert openpyxl.load_workbook(out)["Leaderboard"].max_row == 3  # header + R3 + R4
    bad = runner.invoke(build_app(), ["report", "--period", Q3, "--format", "docx", "--workspace", str(folder)])
    assert bad.exit_code == 1 and "error: unknown format 'docx'" in bad.output
    bad_scope = runner.invoke(build_app(), ["report", "--period", Q3, "--scope", "team:Mars",
                                            "--workspace", str(folder), "--output", str(tmp_path / "x.html")])
    assert bad_scope.exit_code == 1 and "scope team:Mars matches no payee" in bad_scope.output


@pytest.mark.browser
def test_the_html_report_renders_in_chromium(report: PerformanceReport, browser, tmp_path: Path) -> None:
    path = write_report(report, tmp_path / "q3.html")
    page = browser.new_page(viewport={"width": 1200, "height": 900})
    page.goto(path.as_uri())
    page.wait_for_selector("svg.chart")
    assert page.locator(".card").count() == len(report.kpis)
    sizes = page.eval_on_selector_all("svg.chart", "els => els.map(e => [e.getBoundingClientRect().width, "
                                      "e.getBoundingClientRect().height])")
    assert len(sizes) >= 4 and all(w > 300 and h > 80 for w, h in sizes)
    assert page.locator("text=Ray Two").first.is_visible()
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "performance-report.png"), full_page=True)
