"""Completions: recorded in the app (a rep marks a module complete) or imported from an LMS
export, both through the validated importer (``ws.load("training_completions", ...)``).

**LMS exports** (CSV, TSV, Parquet or Excel: whatever ``ws.load`` reads) are matched by
header, case and spacing ignored (:data:`LMS_COLUMNS`):

* the learner: a payee id column (``User ID``, ``Employee ID``, ``Learner ID``,
  ``payee_id``), else an e-mail column (``Email``, ``User Email``, ...) looked up in
  ``payees.email`` (case-insensitive);
* the course: ``Course ID`` / ``Course Code`` / ``Module ID`` / ``module_id``, else the
  course title (``Course Title``, ``Course Name``) matched to ``training_modules.title``;
* ``Completion Date`` / ``Completed At`` / ``Completed On``; parsed with ``date_format``
  (``strptime``) when given, else as ISO 8601;
* optional ``Score`` / ``Grade`` (0-100) and ``Status`` / ``Completion Status``: rows whose
  status is not one of :data:`DONE_STATUSES` (``completed``, ``passed``, ...) are skipped and
  counted, never imported.

Every problem (unknown learner, unknown course, bad date, bad score) is reported at once
with the export's file name, its data row number (as in the file) and its column header,
and nothing is written.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd

from spm_kernel.errors import ImportValidationError
from spm_kernel.ingest.loader import LoadResult
from spm_kernel.training.catalogue import TrainingError

if TYPE_CHECKING:
    from spm_kernel.workspace import Workspace

LMS_COLUMNS: dict[str, tuple[str, ...]] = {
    "payee_id": ("payee_id", "user id", "userid", "employee id", "employee number", "learner id", "user"),
    "email": ("email", "user email", "learner email", "email address", "e-mail"),
    "module_id": ("module_id", "course id", "course code", "module id", "course number", "activity id"),
    "title": ("course title", "course name", "title", "course", "activity name"),
    "completed_at": ("completed_at", "completion date", "completed at", "completed on", "completion time",
                     "date completed"),
    "score": ("score", "grade", "final score", "score (%)"),
    "status": ("status", "completion status", "course status"),
}
DONE_STATUSES = ("completed", "complete", "passed", "pass", "finished", "done", "attended")


@dataclass(frozen=True)
class CompletionImport:
    """What an LMS import did: the importer's result and the rows skipped for their status."""

    load: LoadResult
    skipped: int

    def __str__(self) -> str:
        return f"{self.load}; {self.skipped} row(s) skipped (status not completed)"


def _norm(name: str) -> str:
    return re.sub(r"[\s_]+", " ", str(name).strip().lower())


def _find(columns: list[str], field: str) -> str | None:
    wanted = {_norm(a) for a in LMS_COLUMNS[field]}
    for col in columns:
        if _norm(col) in wanted:
            return col
    return None


def _read(ws: Workspace, path: Path) -> pd.DataFrame:
    from spm_kernel.builtin.file_readers import frame_to_strings
    from spm_kernel.errors import FileReadError

    if not path.is_file():
        raise FileReadError(f"{path}: no such file")
    frame = ws._read_file(path)
    if frame is None:
        raise FileReadError(f"{path.name}: no installed reader handles {path.suffix!r} files")
    return frame_to_strings(frame)


def _timestamps(values: pd.Series, date_format: str | None) -> pd.Series:
    """Completion times as ISO text for the importer (parsed with ``date_format``, else as ISO
    8601); an unparseable value stays as it is, so the importer reports it as not a timestamp."""
    text = values.fillna("").astype(str).str.strip()
    parsed = pd.to_datetime(text.where(text != ""), format=date_format or "ISO8601", errors="coerce")
    iso = parsed.dt.strftime("%Y-%m-%d %H:%M:%S")
    return iso.where(parsed.notna(), text.replace("", None))


def import_completions(ws: Workspace, path: str | Path, *, date_format: str | None = None,
                       source: str | None = None) -> CompletionImport:
    """Import an LMS export into ``training_completions`` (see the module docstring)."""
    path = Path(path)
    raw = _read(ws, path)
    columns = list(raw.columns)
    found = {field: _find(columns, field) for field in LMS_COLUMNS}
    learner = found["payee_id"] or found["email"]
    course = found["module_id"] or found["title"]
    missing = [label for label, col in (("a learner id or e-mail", learner), ("a course id or title", course),
                                        ("a completion date", found["completed_at"])) if col is None]
    if missing:
        raise TrainingError(f"{path.name}: not an LMS completion export: no column for {', '.join(missing)} "
                            f"(headers: {', '.join(columns)})")
    rows = pd.Series(range(1, len(raw) + 1), index=raw.index)
    if found["status"] is not None:
        done = raw[found["status"]].fillna("").map(_norm).isin(DONE_STATUSES)
    else:
        done = pd.Series(True, index=raw.index)
    kept = raw[done]
    out = pd.DataFrame(index=kept.index)
    if found["payee_id"] is not None:
        out["payee_id"] = kept[found["payee_id"]].str.strip()
    else:
        emails = ws.sql("SELECT lower(email) AS email, payee_id FROM payees WHERE email IS NOT NULL")
        lookup = dict(zip(emails["email"], emails["payee_id"]))
        given = kept[found["email"]].fillna("").str.strip()
        # an unknown e-mail stays as it is, so the importer reports it as an unknown payee
        out["payee_id"] = given.str.lower().map(lookup).fillna(given).replace("", None)
    if found["module_id"] is not None:
        out["module_id"] = kept[found["module_id"]].str.strip()
    else:
        titles = ws.sql("SELECT lower(title) AS title, module_id FROM training_modules")
        lookup = dict(zip(titles["title"], titles["module_id"]))
        given = kept[found["title"]].fillna("").str.strip()
        out["module_id"] = given.str.lower().map(lookup).fillna(given).replace("", None)
    out["completed_at"] = _timestamps(kept[found["completed_at"]], date_format)
    if found["score"] is not None:
        out["score"] = kept[found["score"]].fillna("").str.strip().str.rstrip("%").replace("", None)
    label = source or path.name
    header = {"payee_id": learner, "module_id": course, "completed_at": found["completed_at"],
              "score": found["score"]}
    try:
        result = ws.load("training_completions", out.reset_index(drop=True), source=label)
    except ImportValidationError as exc:
        file_rows = rows[kept.index].to_numpy()
        errors = exc.errors.copy()
        errors["file"] = path.name
        errors["row"] = [None if pd.isna(r) else int(file_rows[int(r) - 1]) for r in errors["row"]]
        errors["column"] = errors["column"].map(lambda c: header.get(c) or c)
        raise ImportValidationError("training_completions", path.name, errors) from None
    return CompletionImport(result, int((~done).sum()))


def record_completion(ws: Workspace, payee_id: str, module_id: str, *, at: datetime | None = None,
                      score: float | None = None, source: str = "app") -> LoadResult:
    """Record that ``payee_id`` completed ``module_id`` at ``at`` (now, to the second, by
    default), through the validated importer: an unknown payee or module is refused."""
    when = (at or datetime.now()).replace(microsecond=0)
    frame = pd.DataFrame({"payee_id": [payee_id], "module_id": [module_id],
                          "completed_at": [when.isoformat(sep=" ")],
                          "score": [None if score is None else f"{score:.2f}"]})
    return ws.load("training_completions", frame, source=source)


__all__ = ["CompletionImport", "DONE_STATUSES", "LMS_COLUMNS", "import_completions", "record_completion"]
