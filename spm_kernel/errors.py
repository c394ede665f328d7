"""Errors a user sees. Each names the file, row, field or plugin it is about."""

from __future__ import annotations

import pandas as pd


class SPMError(Exception):
    """Base of every error spm_kernel raises on purpose."""


class FileReadError(SPMError):
    """A file could not be read at all (unknown format, wrong encoding, not a table)."""


class ImportValidationError(SPMError):
    """An import was refused; nothing was written.

    ``errors`` is a DataFrame with the columns ``file``, ``row``, ``column``, ``value`` and
    ``reason`` holding *every* problem found (``row`` is the 1-based data row; the CSV line
    is row + 1 because of the header). The message shows the first 50 and the count.
    """

    SHOWN = 50

    def __init__(self, table: str, source: str, errors: pd.DataFrame) -> None:
        self.table = table
        self.source = source
        self.errors = errors.reset_index(drop=True)
        super().__init__(self._message())

    @property
    def count(self) -> int:
        return len(self.errors)

    def _message(self) -> str:
        head = f"import into {self.table!r} from {self.source} refused: {self.count} problem(s); nothing was written"
        lines = [head]
        for rec in self.errors.head(self.SHOWN).itertuples(index=False):
            where = f"{rec.file}" + (f", row {rec.row}" if pd.notna(rec.row) else "")
            where += f", column {rec.column!r}" if rec.column else ""
            value = "" if rec.value is None or (isinstance(rec.value, float) and pd.isna(rec.value)) else f" (value {str(rec.value)[:60]!r})"
            lines.append(f"  {where}: {rec.reason}{value}")
        if self.count > self.SHOWN:
            lines.append(f"  ... and {self.count - self.SHOWN} more")
        return "\n".join(lines)


class PluginError(SPMError):
    """A plugin broke a contract (misspelt hook, bad registration)."""


class WorkspaceLockedError(SPMError, RuntimeError):
    """The workspace database is open for writing in another process."""


class ReadOnlyQueryError(SPMError):
    """``ws.sql`` was given a statement that would change the workspace."""


class PermissionDenied(SPMError, PermissionError):
    """A signed-in user asked for something their role does not allow (see
    :mod:`spm_kernel.auth`). The message names the user, their role and what was refused;
    nothing was read or written."""
