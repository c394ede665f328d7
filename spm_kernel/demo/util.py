"""Small vectorised helpers the demo generator shares: day arithmetic, interval look-ups,
exact cents, and identifiers. Dates are integer days since 1970-01-01 throughout."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from spm_kernel.demo.company import (
    COMPANY_NOUNS, COMPANY_SUFFIX, COMPANY_WORDS, CURRENCIES as CURRENCY_ORDER, FIRST_NAMES, LAST_NAMES,
)

NO_END = np.iinfo(np.int64).max // 4  # an interval that never ends


def to_dates(days: np.ndarray | pd.Series) -> np.ndarray:
    """Integer days -> ``datetime64[D]``; ``NO_END`` and negative sentinels (no date) become NaT."""
    arr = np.asarray(days, dtype=np.int64)
    out = arr.astype("datetime64[D]")
    out[(arr >= NO_END) | (arr < 0)] = np.datetime64("NaT")
    return out


def month_starts(first_day: int, last_day: int) -> np.ndarray:
    """The first day of every month that intersects [first_day, last_day], as int days."""
    first = np.datetime64(int(first_day), "D").astype("datetime64[M]")
    last = np.datetime64(int(last_day), "D").astype("datetime64[M]")
    months = np.arange(first, last + 1)
    return months.astype("datetime64[D]").astype(np.int64)


def add_months(days: np.ndarray, months: np.ndarray) -> np.ndarray:
    """``days`` moved by ``months`` calendar months, keeping the day of month (clipped to the
    month's length: Jan 31 + 1 month = Feb 28/29)."""
    d = np.asarray(days, dtype=np.int64).astype("datetime64[D]")
    month = d.astype("datetime64[M]")
    dom = (d - month.astype("datetime64[D]")).astype(np.int64)
    target = month + np.asarray(months, dtype=np.int64)
    length = ((target + 1).astype("datetime64[D]") - target.astype("datetime64[D]")).astype(np.int64)
    return target.astype("datetime64[D]").astype(np.int64) + np.minimum(dom, length - 1)


def month_of(days: np.ndarray) -> np.ndarray:
    """Calendar month 1..12 of each day."""
    m = np.asarray(days, dtype=np.int64).astype("datetime64[D]").astype("datetime64[M]").astype(np.int64)
    return m % 12 + 1


def quarter_end(days: np.ndarray) -> np.ndarray:
    """The last day of the calendar quarter containing each day."""
    m = np.asarray(days, dtype=np.int64).astype("datetime64[D]").astype("datetime64[M]").astype(np.int64)
    next_q = (m // 3 + 1) * 3
    return next_q.astype("datetime64[M]").astype("datetime64[D]").astype(np.int64) - 1


def weekday(days: np.ndarray) -> np.ndarray:
    """0 = Monday .. 6 = Sunday (1970-01-01 was a Thursday)."""
    return (np.asarray(days, dtype=np.int64) + 3) % 7


def interval_lookup(owner_keys: np.ndarray, starts: np.ndarray, ends: np.ndarray,
                    query_keys: np.ndarray, query_days: np.ndarray) -> np.ndarray:
    """For each query (key, day), the index of the interval of that key with
    ``start <= day < end``, or -1. Intervals of one key must not overlap."""
    order = np.lexsort((starts, owner_keys))
    k, s, e = owner_keys[order], starts[order], ends[order]
    combined = k.astype(np.int64) * (1 << 32) + s
    q = query_keys.astype(np.int64) * (1 << 32) + query_days
    pos = np.searchsorted(combined, q, side="right") - 1
    pos_ok = pos >= 0
    safe = np.where(pos_ok, pos, 0)
    hit = pos_ok & (k[safe] == query_keys) & (query_days < e[safe])
    return np.where(hit, order[safe], -1)


def split_cents(total: np.ndarray, parts: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Split integer cents into ``parts`` instalments that add up exactly: (row index,
    instalment number from 0, cents). Every instalment but the last is ``total // parts``;
    the last takes the remainder."""
    idx = np.repeat(np.arange(len(total)), parts)
    k = np.arange(len(idx)) - np.repeat(np.cumsum(parts) - parts, parts)
    base = total // parts
    amount = base[idx].copy()
    last = k == parts[idx] - 1
    amount[last] = total[idx][last] - base[idx][last] * (parts[idx][last] - 1)
    return idx, k, amount


def cents(values: np.ndarray) -> np.ndarray:
    """Money rounded to cents, as int64 (half away from zero)."""
    v = np.asarray(values, dtype=np.float64) * 100.0
    return (np.sign(v) * np.floor(np.abs(v) + 0.5)).astype(np.int64)


def ids(prefix: str, chunk: int | None, numbers: np.ndarray, width: int) -> pa.Array:
    """Identifiers ``{prefix}{chunk:04d}{n:0width}`` as an Arrow string array (vectorised);
    ``chunk=None`` leaves the division number out."""
    head = prefix if chunk is None else f"{prefix}{chunk:04d}"
    digits = pc.utf8_lpad(pc.cast(pa.array(np.asarray(numbers, dtype=np.int64)), pa.string()), width, "0")
    return pc.binary_join_element_wise(head, digits, "")


def take(choices: tuple[str, ...] | list[str] | np.ndarray, codes: np.ndarray) -> pa.Array:
    """``choices[codes]`` as an Arrow string array (a negative code gives null)."""
    codes = np.asarray(codes, dtype=np.int64)
    return pa.array(list(choices), type=pa.string()).take(pa.array(codes, mask=codes < 0))


def join(*parts: pa.Array | str) -> pa.Array:
    """Element-wise concatenation of Arrow string arrays and literal strings."""
    return pc.binary_join_element_wise(*parts, "")


def person_names(rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray]:
    first = np.asarray(FIRST_NAMES, dtype=object)[rng.integers(0, len(FIRST_NAMES), n)]
    last = np.asarray(LAST_NAMES, dtype=object)[rng.integers(0, len(LAST_NAMES), n)]
    return first, last


def company_names(rng: np.random.Generator, currency_code: np.ndarray) -> pa.Array:
    """Company names like "Cedar Logistics GmbH"; the legal suffix follows the currency
    (index into ``CURRENCY_ORDER``)."""
    n = len(currency_code)
    word = take(COMPANY_WORDS, rng.integers(0, len(COMPANY_WORDS), n))
    noun = take(COMPANY_NOUNS, rng.integers(0, len(COMPANY_NOUNS), n))
    suffixes = [s for cur in CURRENCY_ORDER for s in COMPANY_SUFFIX[cur]]
    offsets = np.cumsum([0] + [len(COMPANY_SUFFIX[cur]) for cur in CURRENCY_ORDER])
    counts = np.diff(offsets)
    pick = offsets[currency_code] + rng.integers(0, 12, n) % counts[currency_code]
    return join(word, " ", noun, " ", take(suffixes, pick))


def choice_rows(rng: np.random.Generator, probs: np.ndarray) -> np.ndarray:
    """One categorical draw per row of a (rows x k) probability matrix."""
    cum = np.cumsum(probs, axis=1)
    u = rng.random(len(probs))[:, None] * cum[:, -1:]
    return (u >= cum).sum(axis=1)
