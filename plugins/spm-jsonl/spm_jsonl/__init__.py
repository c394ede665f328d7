"""Read JSON Lines files (one JSON object per line) for ``ws.load`` and ``spm import``.

Each line must be a JSON object; its keys are the columns. Values are kept as their exact
text (numbers as written in the file, so money never passes through a float). A line that is
not a JSON object is reported with its line number along with every other problem.
"""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

import pandas as pd

from spm_kernel import FileReadError, hookimpl

SUFFIXES = {".jsonl", ".ndjson"}


def _text(value: object) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _no_constant(name: str) -> object:
    raise ValueError(f"{name} is not a JSON number")


@hookimpl
def spm_read_table_file(path: Path) -> pd.DataFrame | None:
    if path.suffix.lower() not in SUFFIXES:
        return None
    try:
        lines = path.read_text("utf-8-sig").splitlines()
    except UnicodeDecodeError:
        raise FileReadError(f"{path.name} is not UTF-8 text") from None
    records: list[dict[str, str | None]] = []
    rows: list[int] = []
    errors: list[dict[str, object]] = []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line, parse_float=Decimal, parse_int=Decimal, parse_constant=_no_constant)
        except json.JSONDecodeError as exc:
            errors.append({"row": number, "column": None, "value": line[:80], "reason": f"not JSON: {exc.msg}"})
            continue
        except ValueError as exc:  # NaN / Infinity, which JSON does not have
            errors.append({"row": number, "column": None, "value": line[:80], "reason": f"not JSON: {exc}"})
            continue
        except RecursionError:
            errors.append({"row": number, "column": None, "value": line[:80],
                           "reason": "not a flat JSON object: nested too deeply to read"})
            continue
        if not isinstance(obj, dict):
            errors.append({"row": number, "column": None, "value": line[:80], "reason": "not a JSON object"})
            continue
        records.append({str(k): _text(v) for k, v in obj.items()})
        rows.append(number)
    frame = pd.DataFrame.from_records(records).astype(object)
    frame = frame.where(frame.notna(), None)
    frame.attrs["spm_rows"] = rows
    frame.attrs["spm_read_errors"] = errors
    return frame
