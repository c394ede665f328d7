"""The objects a data source and the sync engine exchange: batches, context, result."""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from operator import itemgetter
from typing import Any

import pandas as pd

from spm_kernel.errors import SPMError


class SourceError(SPMError):
    """A source cannot be reached, refuses the credentials or answers something unusable.

    The message says what is wrong and what to do; it never contains a credential."""


@dataclass
class Batch:
    """Records of one canonical table from one source.

    ``rows`` has canonical column names plus ``source_id`` (the record's id at the source:
    what upserts, deletions and quarantine are keyed by). Cells may be text or values whose
    ``str()`` is their exact text (``Decimal``, ``int``, ``bool``); never binary floats for
    money. ``deleted`` lists source ids deleted at the source. ``stream`` names what the
    watermark tracks (e.g. a Salesforce object) and ``watermark`` is the newest change time
    (ISO 8601) among the records read for it, deleted ones included.

    ``complete=True`` says the batch holds every record of ``table`` the source has (a full
    read): rows of this source that it does not contain are deleted (except records being
    quarantined, whose previous version is kept).

    ``as_of`` (only for ``hierarchy``): ``rows`` hold each payee's *current* manager
    (``payee_id``, ``manager_id``, ``valid_from`` = the start of a payee first seen); the
    engine closes a changed reporting line on ``as_of`` and opens the new one from it.
    """

    table: str
    rows: pd.DataFrame = field(default_factory=pd.DataFrame)
    deleted: Sequence[str] = ()
    stream: str | None = None
    watermark: str | None = None
    complete: bool = False
    as_of: date | None = None
    records_read: int | None = None


@dataclass
class SyncContext:
    """What :meth:`DataSource.fetch` is given.

    ``since(stream)`` is the time to read changes after (``None``: read everything).
    ``full`` is True when every record is read. ``advance(n, total=None)`` moves the progress
    bar by ``n`` records (``total`` when the source learns it, e.g. ``totalSize``).
    """

    source: str
    full: bool
    watermarks: dict[str, str]
    override: datetime | None
    advance: Callable[..., None]
    log: Callable[[str], None] = lambda message: None

    def since(self, stream: str) -> datetime | None:
        if self.full:
            return None
        if self.override is not None:
            return self.override
        mark = self.watermarks.get(stream)
        return parse_time(mark) if mark else None


@dataclass(frozen=True)
class TableCounts:
    read: int = 0
    inserted: int = 0
    updated: int = 0
    unchanged: int = 0
    deleted: int = 0
    rejected: int = 0

    def as_dict(self) -> dict[str, int]:
        return dict(self.__dict__)


@dataclass(frozen=True)
class SyncResult:
    """What a sync did (also its row in ``sync_log``)."""

    sync_id: str
    source: str
    mode: str
    status: str
    counts: dict[str, TableCounts]
    watermark: dict[str, str]
    seconds: float
    error: str | None = None

    def total(self, what: str) -> int:
        return sum(getattr(c, what) for c in self.counts.values())

    def __str__(self) -> str:
        head = (f"sync {self.sync_id} of {self.source!r} ({self.mode}) {self.status} in "
                f"{self.seconds:.1f}s")
        lines = [head]
        for table, c in self.counts.items():
            lines.append(f"  {table}: {c.read} read, {c.inserted} inserted, {c.updated} updated, "
                         f"{c.unchanged} unchanged, {c.deleted} deleted, {c.rejected} rejected")
        if self.error:
            lines.append(f"  error: {self.error}")
        return "\n".join(lines)


def parse_time(text: str) -> datetime:
    """An ISO 8601 time (``2024-05-01T10:00:00.000+0000``, ``...Z``) as naive UTC."""
    value = pd.Timestamp(text)
    if value.tzinfo is not None:
        value = value.tz_convert("UTC").tz_localize(None)
    return value.to_pydatetime()


def iso_utc(value: datetime) -> str:
    """``value`` (naive = UTC) as ``YYYY-MM-DDTHH:MM:SS.ffffffZ``."""
    stamp = pd.Timestamp(value)
    if stamp.tzinfo is not None:
        stamp = stamp.tz_convert("UTC").tz_localize(None)
    return stamp.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


_DIGITS = str.maketrans("0123456789", "0000000000")
_ISO_SHAPE = re.compile(r"^0000-00-00T00:00:00(\.0+)?(Z|[+-]00:?00)?$")


def _same_layout(texts: list[str]) -> bool:
    """True when every text is an ISO 8601 time written the same way (same digits layout,
    same UTC offset), so that comparing the texts compares the times."""
    first = texts[0]
    shape = first.translate(_DIGITS)
    if not _ISO_SHAPE.match(shape) or set(map(len, texts)) != {len(first)}:
        return False
    if "".join(texts).translate(_DIGITS) != shape * len(texts):
        return False
    zone = 6 if shape[-3:-2] == ":" else 5 if shape[-5:-4] in ("+", "-") else 0
    return zone == 0 or set(map(itemgetter(slice(-zone, None)), texts)) == {first[-zone:]}


def newest(values: Any) -> str | None:
    """The latest of some ISO timestamps (as given), or None when there are none."""
    values = values.tolist() if isinstance(values, pd.Series) else list(values)
    kinds = set(map(type, values))
    if kinds <= {str, type(None)}:  # text (a CRM's own stamps) with perhaps some missing
        texts = values if type(None) not in kinds else [v for v in values if v is not None]
        if not texts:
            return None
        if _same_layout(texts):
            return max(texts)  # text order is time order: no parsing needed
    else:
        texts = [v for v in values if v is not None and v == v]
        if not texts:
            return None
    series = pd.Series(texts, dtype=object)
    stamps = pd.to_datetime(series, utc=True, format="ISO8601")
    return str(series.iloc[int(stamps.argmax())])
