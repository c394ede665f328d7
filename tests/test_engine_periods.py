"""The fiscal calendar: period ids, fiscal years named by the year they end in, nesting."""

from __future__ import annotations

from datetime import date

import pytest

from spm_kernel.periods import (
    PeriodError,
    fiscal_year_of,
    months_in,
    next_period,
    parse_period,
    period_containing,
    periods_between,
    previous_period,
    quarter_to_date_start,
    year_to_date_start,
)


def test_calendar_fiscal_year() -> None:
    m = parse_period("2026-03")
    assert (m.kind, m.start, m.end, m.days, m.fiscal_year) == ("month", date(2026, 3, 1), date(2026, 3, 31), 31, 2026)
    q = parse_period("2026-Q1")
    assert (q.start, q.end, q.days) == (date(2026, 1, 1), date(2026, 3, 31), 90)
    y = parse_period("FY2026")
    assert (y.start, y.end, y.days) == (date(2026, 1, 1), date(2026, 12, 31), 365)
    assert parse_period("2024-02").end == date(2024, 2, 29)


def test_fiscal_year_starting_in_february_is_named_by_its_end() -> None:
    y = parse_period("FY2026", 2)
    assert (y.start, y.end) == (date(2025, 2, 1), date(2026, 1, 31))
    q1, q4 = parse_period("2026-Q1", 2), parse_period("2026-Q4", 2)
    assert (q1.start, q1.end) == (date(2025, 2, 1), date(2025, 4, 30))
    assert (q4.start, q4.end) == (date(2025, 11, 1), date(2026, 1, 31))
    assert fiscal_year_of(date(2025, 2, 1), 2) == 2026 and fiscal_year_of(date(2026, 1, 31), 2) == 2026
    assert parse_period("2025-03", 2).fiscal_year == 2026
    assert period_containing(date(2025, 12, 15), "quarter", 2).period_id == "2026-Q4"
    assert period_containing(date(2026, 2, 1), "year", 2).period_id == "FY2027"
    assert year_to_date_start(parse_period("2025-06", 2), 2) == date(2025, 2, 1)
    assert quarter_to_date_start(parse_period("2025-06", 2), 2) == date(2025, 5, 1)
    july = parse_period("2026-Q1", 7)
    assert (july.start, july.end) == (date(2025, 7, 1), date(2025, 9, 30))


def test_navigation() -> None:
    assert next_period(parse_period("2026-12")).period_id == "2027-01"
    assert previous_period(parse_period("2026-Q1")).period_id == "2025-Q4"
    assert next_period(parse_period("FY2026", 4), 4).period_id == "FY2027"
    assert [m.period_id for m in months_in(parse_period("2026-Q2"))] == ["2026-04", "2026-05", "2026-06"]
    assert len(months_in(parse_period("FY2026", 10), 10)) == 12
    assert [p.period_id for p in periods_between(parse_period("2026-11"), parse_period("2027-02"))] == [
        "2026-11", "2026-12", "2027-01", "2027-02"]
    assert parse_period("2026-02").overlaps(parse_period("2026-Q1"))
    assert not parse_period("2026-04").overlaps(parse_period("2026-Q1"))
    assert sorted([parse_period("2026-Q1"), parse_period("2026-01"), parse_period("2025-12")])[1].period_id == "2026-01"


@pytest.mark.parametrize(("text", "message"), [
    ("2026-13", "unknown period '2026-13': month must be 1..12"),
    ("2026-Q5", "unknown period '2026-Q5'"),
    ("March", "expected a month like 2026-03, a fiscal quarter like 2026-Q1 or a fiscal year like FY2026"),
])
def test_bad_ids(text: str, message: str) -> None:
    with pytest.raises(PeriodError, match=message):
        parse_period(text)
    with pytest.raises(PeriodError, match="fiscal_year_start_month must be 1..12"):
        parse_period("2026-01", 13)
