"""The fiscal calendar: period ids, their date ranges and how they nest.

Period ids (``fiscal_year_start_month`` from the workspace settings, 1 = January):

* ``2026-03``: a calendar month (March 2026), whatever the fiscal year;
* ``2026-Q1``: the first fiscal quarter of fiscal year 2026;
* ``FY2026``: fiscal year 2026.

A fiscal year is named by the calendar year in which it **ends** (the convention of most
companies whose year does not start in January): with ``fiscal_year_start_month=2``,
``FY2026`` runs from 2025-02-01 to 2026-01-31 and ``2026-Q1`` is February to April 2025.
With the default (January) fiscal and calendar years coincide.

Every period has an inclusive ``start`` and an inclusive ``end`` (its last day), which is
how they are stored in the ``periods`` table.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Literal

from spm_kernel.errors import SPMError

PeriodKind = Literal["month", "quarter", "year"]

_MONTH = re.compile(r"^(\d{4})-(\d{2})$")
_QUARTER = re.compile(r"^(\d{4})-Q([1-4])$")
_YEAR = re.compile(r"^FY(\d{4})$")


class PeriodError(SPMError):
    """A period id that cannot be read, or an operation a period's state forbids."""


@dataclass(frozen=True, order=True)
class Period:
    """One fiscal period. Ordered by start date, then by length (a month before its quarter)."""

    start: date
    end: date
    period_id: str
    kind: PeriodKind
    fiscal_year: int

    def __str__(self) -> str:
        return self.period_id

    @property
    def days(self) -> int:
        return (self.end - self.start).days + 1

    def contains(self, day: date) -> bool:
        return self.start <= day <= self.end

    def overlaps(self, other: Period) -> bool:
        return self.start <= other.end and other.start <= self.end

    @property
    def end_exclusive(self) -> date:
        """The day after the last day (handy for half-open SQL ranges)."""
        return self.end + timedelta(days=1)


def _add_months(year: int, month: int, months: int) -> tuple[int, int]:
    index = year * 12 + (month - 1) + months
    return index // 12, index % 12 + 1


def _month_end(year: int, month: int) -> date:
    ny, nm = _add_months(year, month, 1)
    return date(ny, nm, 1) - timedelta(days=1)


def fiscal_year_of(day: date, fiscal_year_start_month: int = 1) -> int:
    """The fiscal year ``day`` belongs to (named by the calendar year it ends in)."""
    if fiscal_year_start_month == 1:
        return day.year
    return day.year + 1 if day.month >= fiscal_year_start_month else day.year


def fiscal_year_start(fiscal_year: int, fiscal_year_start_month: int = 1) -> date:
    """The first day of fiscal year ``fiscal_year``."""
    if fiscal_year_start_month == 1:
        return date(fiscal_year, 1, 1)
    return date(fiscal_year - 1, fiscal_year_start_month, 1)


def _check_fsm(fiscal_year_start_month: int) -> None:
    if not 1 <= fiscal_year_start_month <= 12:
        raise PeriodError(f"fiscal_year_start_month must be 1..12, got {fiscal_year_start_month}")


def month(year: int, month_number: int, fiscal_year_start_month: int = 1) -> Period:
    """The calendar month ``year``-``month_number``."""
    if not 1 <= month_number <= 12:
        raise PeriodError(f"month must be 1..12, got {month_number}")
    start = date(year, month_number, 1)
    return Period(start, _month_end(year, month_number), f"{year:04d}-{month_number:02d}", "month",
                  fiscal_year_of(start, fiscal_year_start_month))


def quarter(fiscal_year: int, number: int, fiscal_year_start_month: int = 1) -> Period:
    """Fiscal quarter ``number`` (1-4) of ``fiscal_year``."""
    if not 1 <= number <= 4:
        raise PeriodError(f"quarter must be 1..4, got {number}")
    first = fiscal_year_start(fiscal_year, fiscal_year_start_month)
    sy, sm = _add_months(first.year, first.month, 3 * (number - 1))
    ey, em = _add_months(sy, sm, 2)
    return Period(date(sy, sm, 1), _month_end(ey, em), f"{fiscal_year:04d}-Q{number}", "quarter", fiscal_year)


def year(fiscal_year: int, fiscal_year_start_month: int = 1) -> Period:
    """Fiscal year ``fiscal_year``."""
    first = fiscal_year_start(fiscal_year, fiscal_year_start_month)
    ey, em = _add_months(first.year, first.month, 11)
    return Period(first, _month_end(ey, em), f"FY{fiscal_year:04d}", "year", fiscal_year)


def parse_period(period: str | Period, fiscal_year_start_month: int = 1) -> Period:
    """The period named ``period`` (``2026-03``, ``2026-Q1``, ``FY2026``).

    Raises :class:`PeriodError` naming the id and the accepted forms.
    """
    _check_fsm(fiscal_year_start_month)
    if isinstance(period, Period):
        return period
    text = str(period).strip()
    try:
        if m := _MONTH.match(text):
            return month(int(m.group(1)), int(m.group(2)), fiscal_year_start_month)
        if m := _QUARTER.match(text):
            return quarter(int(m.group(1)), int(m.group(2)), fiscal_year_start_month)
        if m := _YEAR.match(text):
            return year(int(m.group(1)), fiscal_year_start_month)
    except (PeriodError, ValueError) as exc:
        raise PeriodError(f"unknown period {period!r}: {exc}") from None
    raise PeriodError(
        f"unknown period {period!r}: expected a month like 2026-03, a fiscal quarter like "
        f"2026-Q1 or a fiscal year like FY2026"
    )


def period_containing(day: date, kind: PeriodKind, fiscal_year_start_month: int = 1) -> Period:
    """The month, fiscal quarter or fiscal year that contains ``day``."""
    _check_fsm(fiscal_year_start_month)
    if kind == "month":
        return month(day.year, day.month, fiscal_year_start_month)
    fy = fiscal_year_of(day, fiscal_year_start_month)
    if kind == "year":
        return year(fy, fiscal_year_start_month)
    first = fiscal_year_start(fy, fiscal_year_start_month)
    offset = (day.year * 12 + day.month) - (first.year * 12 + first.month)
    return quarter(fy, offset // 3 + 1, fiscal_year_start_month)


def next_period(period: Period, fiscal_year_start_month: int = 1) -> Period:
    """The period of the same kind that follows ``period``."""
    return period_containing(period.end_exclusive, period.kind, fiscal_year_start_month)


def previous_period(period: Period, fiscal_year_start_month: int = 1) -> Period:
    """The period of the same kind that precedes ``period``."""
    return period_containing(period.start - timedelta(days=1), period.kind, fiscal_year_start_month)


def months_in(period: Period, fiscal_year_start_month: int = 1) -> list[Period]:
    """The calendar months that make up ``period``, in order."""
    out = []
    current = month(period.start.year, period.start.month, fiscal_year_start_month)
    while current.start <= period.end:
        out.append(current)
        current = next_period(current, fiscal_year_start_month)
    return out


def periods_between(first: Period, last: Period, fiscal_year_start_month: int = 1) -> list[Period]:
    """Every period of ``first``'s kind from ``first`` to ``last`` inclusive."""
    if first.kind != last.kind:
        raise PeriodError(f"{first} and {last} are not the same kind of period")
    out = []
    current = first
    while current.start <= last.start:
        out.append(current)
        current = next_period(current, fiscal_year_start_month)
    return out


def year_to_date_start(period: Period, fiscal_year_start_month: int = 1) -> date:
    """The first day of the fiscal year that ``period`` ends in."""
    return fiscal_year_start(fiscal_year_of(period.end, fiscal_year_start_month), fiscal_year_start_month)


def quarter_to_date_start(period: Period, fiscal_year_start_month: int = 1) -> date:
    """The first day of the fiscal quarter that ``period`` ends in."""
    return period_containing(period.end, "quarter", fiscal_year_start_month).start
