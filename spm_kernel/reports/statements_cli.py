"""``spm statements``: payee statements from the command line, registered through
``spm_cli_commands`` (a built-in plugin listed in ``DEFAULT_PLUGINS``)."""

from __future__ import annotations

import time
from decimal import Decimal
from pathlib import Path

import typer

from spm_kernel.builtin.commands import WORKSPACE_OPTION, cli_errors, open_ws, text_table
from spm_kernel.errors import SPMError
from spm_kernel.hookspecs import hookimpl
from spm_kernel.money import minor_units

FORMATS = ("pdf", "xlsx", "html", "csv")
SHOWN = 20


def write_statement(st: object, fmt: str, out: Path) -> Path:
    """Write one statement in ``fmt`` into folder ``out``; return the file written."""
    path = out / f"{st.file_stem()}.{fmt}"  # type: ignore[attr-defined]
    if fmt == "pdf":
        return st.to_pdf(path)  # type: ignore[attr-defined]
    if fmt == "xlsx":
        return st.to_xlsx(path)  # type: ignore[attr-defined]
    if fmt == "csv":
        return st.to_csv(path)  # type: ignore[attr-defined]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(st.to_html(), encoding="utf-8")  # type: ignore[attr-defined]
    return path


@hookimpl(trylast=True)
def spm_cli_commands(app: typer.Typer) -> None:
    @app.command()
    def statements(
        period: str = typer.Argument(..., help="the period, e.g. 2026-03 (its closed or latest run)"),
        payee: list[str] = typer.Option(None, "--payee", "-p", help="payee id (repeat for several; default: "
                                                                     "every payee with a line in the period)"),
        fmt: str = typer.Option("pdf", "--format", "-f", help="pdf, xlsx, html or csv"),
        out: Path = typer.Option(Path("statements"), "--out", "-o", help="folder to write the files into"),
        workspace: Path = WORKSPACE_OPTION,
        quiet: bool = typer.Option(False, "--quiet", "-q", help="no progress bar"),
    ) -> None:
        """Write payee statements of a period: earnings by component, draws and recoveries,
        adjustments, holds and releases, the amount paid, balances, every line with its
        explanation, and an attainment chart. One file per payee:
        OUT/statement-PERIOD-PAYEE.FORMAT.

        Example: spm statements 2026-03 --payee P0000166 --format pdf --out statements
        """
        from tqdm.auto import tqdm

        with cli_errors():
            fmt_l = fmt.lower()
            if fmt_l not in FORMATS:
                raise SPMError(f"unknown format {fmt!r}; expected one of {', '.join(FORMATS)}")
            started = time.perf_counter()
            with open_ws(workspace, read_only=True) as ws:
                from spm_kernel.reports.statements import build_statements

                found = build_statements(ws, period, payees=payee or None)
            if not found:
                raise SPMError(f"period {period} has no payout lines, so there is no statement to write")
            rows = []
            for st in tqdm(found, desc="spm statements", unit="statement", disable=quiet or len(found) < 2):
                path = write_statement(st, fmt_l, out)
                rows.append([st.payee_id, st.payee_name, st.currency, f"{st.paid:,.{st.places}f}", path.name])
            typer.echo(text_table(["payee", "name", "currency", "paid", "file"], rows[:SHOWN],
                                  right=["paid"]))
            if len(rows) > SHOWN:
                typer.echo(f"... and {len(rows) - SHOWN} more")
            totals: dict[str, Decimal] = {}
            for st in found:
                totals[st.currency] = totals.get(st.currency, Decimal(0)) + st.paid
            status = "final" if found[0].final else "preliminary (period open)"
            typer.echo(f"wrote {len(found)} {fmt_l} statement(s) of {period}, {status}, into {out} in "
                       f"{time.perf_counter() - started:.1f} s; paid "
                       + ", ".join(f"{cur} {amount:,.{minor_units(cur)}f}" for cur, amount in sorted(totals.items())))
