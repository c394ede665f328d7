"""New-hire ramp and active months: how much of a plan year a payee can sell.

A payee's **effective months** in month *m* of the plan year is

    active share of m  x  ramp factor(months since hire at m)

* *active share*: the days of *m* between the hire date and the termination date (both
  inclusive) over the days of *m* (1 for a whole month, 0 before hire or after leaving);
* *months since hire*: 0 in the hire month, 1 in the next, ...; the ramp factor of month *k*
  is ``factors[k]`` while *k* is inside the schedule and 1 after it (fully ramped).

Example: ``Ramp(factors=[0.25, 0.5, 0.75])`` and a rep hired on 16 March (31 days) of a
January plan year: January and February 0, March 16/31 x 0.25, April 0.5, May 0.75, June to
December 1 each: 7 + 0.75 + 0.5 + 0.129032... = 8.379032 effective months.

Schedules may differ by segment (``by_segment``); payees in other segments use ``factors``.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field, field_validator


class Ramp(BaseModel):
    """Ramp factors by months since hire (month 0 = the hire month); 1 after the schedule."""

    model_config = ConfigDict(extra="forbid")

    factors: list[Decimal] = Field(default_factory=list)
    by_segment: dict[str, list[Decimal]] = Field(default_factory=dict)

    @field_validator("factors")
    @classmethod
    def _factors_in_range(cls, value: list[Decimal]) -> list[Decimal]:
        return _check(value)

    @field_validator("by_segment")
    @classmethod
    def _segments_in_range(cls, value: dict[str, list[Decimal]]) -> dict[str, list[Decimal]]:
        return {k: _check(v) for k, v in value.items()}

    def schedule(self, segment: object) -> list[Decimal]:
        if isinstance(segment, str) and segment in self.by_segment:
            return self.by_segment[segment]
        return self.factors


def _check(values: list[Decimal]) -> list[Decimal]:
    for v in values:
        if v < 0 or v > 1:
            raise ValueError(f"a ramp factor must be between 0 and 1, got {v}")
    return values


def month_starts(start: date, count: int) -> list[date]:
    """``count`` first-of-month dates from ``start``'s month on."""
    index = start.year * 12 + start.month - 1
    return [date((index + i) // 12, (index + i) % 12 + 1, 1) for i in range(count)]


def effective_months(people: pd.DataFrame, months: list[date], ramp: Ramp | None = None) -> np.ndarray:
    """The (payees x months) matrix of effective months (floats in [0, 1]).

    ``people`` has ``hire_date``, ``termination_date`` (may be missing) and ``segment``;
    ``months`` are first-of-month dates.
    """
    n = len(people)
    if n == 0:
        return np.zeros((0, len(months)))
    m0 = np.array(months, dtype="datetime64[D]")
    m1 = np.array([month_starts(m, 2)[1] for m in months], dtype="datetime64[D]")  # exclusive ends
    hire = pd.to_datetime(people["hire_date"]).to_numpy().astype("datetime64[D]")
    term_raw = pd.to_datetime(people["termination_date"])
    term = term_raw.fillna(pd.Timestamp("2262-01-01")).to_numpy().astype("datetime64[D]") + 1  # exclusive
    lo = np.maximum(hire[:, None], m0[None, :])
    hi = np.minimum(term[:, None], m1[None, :])
    days = np.clip((hi - lo).astype(np.int64), 0, None)
    active = days / (m1 - m0).astype(np.int64)[None, :]
    hire_index = pd.DatetimeIndex(hire).year.to_numpy() * 12 + pd.DatetimeIndex(hire).month.to_numpy()
    month_index = np.array([m.year * 12 + m.month for m in months])
    since = month_index[None, :] - hire_index[:, None]
    factor = np.ones((n, len(months)))
    ramp = ramp or Ramp()
    segments = people["segment"] if "segment" in people else pd.Series([None] * n)
    seg_values = segments.astype(object).where(segments.notna(), None).to_numpy()
    for seg in pd.unique(seg_values):  # a few segments, each vectorised over its payees
        schedule = np.array([float(f) for f in ramp.schedule(seg)], dtype=np.float64)
        if len(schedule) == 0:
            continue
        rows = np.flatnonzero(seg_values == seg) if seg is not None else \
            np.flatnonzero(pd.isna(pd.Series(seg_values)).to_numpy())
        k = since[rows]
        inside = (k >= 0) & (k < len(schedule))
        factor[rows] = np.where(inside, schedule[np.clip(k, 0, len(schedule) - 1)], 1.0)
    return np.round(active * factor, 9)
