"""A statement as PDF: its HTML page printed by WeasyPrint (A4, page X of Y in the footer).

WeasyPrint needs Debian's pango, harfbuzz and fontconfig libraries and a font (the page asks
for DejaVu Sans, then Liberation Sans): ``libpango-1.0-0 libpangoft2-1.0-0 libharfbuzz0b
fonts-dejavu-core fonts-liberation``.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from spm_kernel.reports.statements import Statement


def pdf_bytes(st: Statement) -> bytes:
    """The statement as PDF bytes."""
    import weasyprint

    from spm_kernel.reports.statements_html import render_html

    return weasyprint.HTML(string=render_html(st)).write_pdf()


def write_pdf(st: Statement, path: str | Path) -> Path:
    """Write the statement as a PDF file (its folder is created if missing)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(pdf_bytes(st))
    return path
