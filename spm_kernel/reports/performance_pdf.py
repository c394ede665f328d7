"""The performance report as PDF: the HTML page printed by WeasyPrint (A4, page X of Y).

WeasyPrint needs Debian's pango, harfbuzz and fontconfig libraries and a font (the report
asks for DejaVu Sans, then Liberation Sans): ``libpango-1.0-0 libpangoft2-1.0-0
libharfbuzz0b fonts-dejavu-core fonts-liberation``.
"""

from __future__ import annotations

from pathlib import Path

from spm_kernel.reports.performance import PerformanceReport
from spm_kernel.reports.performance_html import render_html


def pdf_bytes(report: PerformanceReport) -> bytes:
    """The report as PDF bytes."""
    import weasyprint

    return weasyprint.HTML(string=render_html(report)).write_pdf()


def write_pdf(report: PerformanceReport, path: str | Path) -> Path:
    """Write the report as a PDF file."""
    path = Path(path)
    path.write_bytes(pdf_bytes(report))
    return path
