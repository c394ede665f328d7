"""The demo company generator: pure functions from ``(seed, scale)`` to table contents.

The company is built from *divisions*. A division holds one regional unit in each of the
four regions (a director, three segment teams with their managers and reps, two overlay
specialists) with its accounts, deals, subscriptions, transactions, quotas and training;
``scale`` is the number of divisions, so scale 1 is about 200 payees and scale 50 about
10,000. Division ``i`` is generated from ``numpy.random.default_rng([seed, 1, i])`` alone, so
it is the same whatever the scale and whatever order divisions are generated in: the
scale-1 company is exactly the first division of every larger one. Company-wide tables
(regions, FX, spend, the training catalogue, the VP) come from their own streams.

Internally a table is a set of columns named like the canonical table's (lineage columns
excluded) holding numpy arrays or Arrow strings: dates as integer days since 1970-01-01 (a
negative or ``NO_END`` value means no date), timestamps as integer seconds, and DECIMAL
columns as integers in units of the column's last decimal place (cents for money).
:func:`to_arrow` turns them into an Arrow table typed exactly like the DuckDB table, with
exact decimals; that is what every function here returns.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

from spm_kernel.demo import company as co
from spm_kernel.demo.market import fx_rates, spend
from spm_kernel.demo.org import VP_ID, build_org
from spm_kernel.demo.quotas import director_usd, quota_table, vp_quotas
from spm_kernel.demo.sales import build_sales
from spm_kernel.demo.training import modules_frame, paths_frames, rules_frame, training_tables
from spm_kernel.demo.util import NO_END, to_dates
from spm_kernel.store.schema import LINEAGE, TableSpec, get_table

# Load order: every referenced table before the tables that reference it.
TABLE_ORDER: tuple[str, ...] = (
    "regions", "teams", "payees", "hierarchy", "accounts", "opportunities",
    "opportunity_stage_history", "opportunity_splits", "transactions", "quotas", "fx_rates",
    "spend", "subscriptions", "training_modules", "training_paths", "training_path_modules", "training_rules",
    "training_assignments", "training_completions",
)
_LINEAGE = {c.name for c in LINEAGE}
_ARROW_TYPES = {"DATE": pa.date32(), "TIMESTAMP": pa.timestamp("us"), "BOOLEAN": pa.bool_(),
                "INTEGER": pa.int32(), "BIGINT": pa.int64(), "VARCHAR": pa.string()}


def arrow_type(sql_type: str) -> pa.DataType:
    """The Arrow type that DuckDB reads as ``sql_type`` without conversion."""
    if sql_type.startswith("DECIMAL("):
        precision, scale = (int(x) for x in sql_type[len("DECIMAL("):-1].split(","))
        return pa.decimal128(precision, scale)
    return _ARROW_TYPES[sql_type]
VP_HIRE = co.day("2011-04-04")


@dataclass
class Division:
    """One division's tables plus what the company-wide VP quota needs from it."""

    index: int
    tables: dict[str, pa.Table]
    director_usd: pd.DataFrame

    @property
    def rows(self) -> int:
        return sum(t.num_rows for t in self.tables.values())


def division_rng(seed: int, index: int) -> np.random.Generator:
    return np.random.default_rng([seed, 1, index])


def company_rng(seed: int, part: int) -> np.random.Generator:
    return np.random.default_rng([seed, 0, part])


def generate_division(seed: int, index: int) -> Division:
    """Every table of division ``index`` (pure: depends on ``seed`` and ``index`` only)."""
    rng = division_rng(seed, index)
    org = build_org(rng, index)
    assignments, completions, neg_done = training_tables(rng, index, org.payees, org.stints)
    sales = build_sales(rng, org, neg_done)
    quotas = quota_table(rng, org)
    p = org.payees
    payees = pd.DataFrame({
        "payee_id": p["payee_id"], "name": p["name"], "email": p["email"], "role": p["role"],
        "team_id": np.where(p["team"].to_numpy() >= 0, org.teams["team_id"].to_numpy()[np.maximum(p["team"], 0)], None),
        "region_id": np.array([r[0] for r in co.REGIONS], dtype=object)[p["region"].to_numpy()],
        "segment": np.where(p["segment"].to_numpy() >= 0,
                            np.array([s[1] for s in co.SEGMENTS], dtype=object)[np.maximum(p["segment"], 0)], None),
        "currency": p["currency"], "hire_date": p["hire"], "termination_date": p["term"],
    })
    teams = pd.DataFrame({"team_id": org.teams["team_id"], "name": org.teams["name"],
                          "region_id": np.array([r[0] for r in co.REGIONS], dtype=object)[org.teams["region"]]})
    tables = {
        "teams": teams, "payees": payees, "hierarchy": org.hierarchy, "accounts": sales.accounts,
        "opportunities": sales.opportunities,
        "opportunity_stage_history": sales.opportunity_stage_history,
        "opportunity_splits": sales.opportunity_splits, "transactions": sales.transactions,
        "quotas": quotas, "subscriptions": sales.subscriptions,
        "training_assignments": assignments, "training_completions": completions,
    }
    return Division(index, {name: to_arrow(cols, name) for name, cols in tables.items()},
                    director_usd(quotas, org))


def generate_company_tables(seed: int, scale: int) -> dict[str, pa.Table]:
    """The company-wide tables: regions, FX, spend, the training catalogue, and the VP (payee,
    hierarchy row, compliance training). The VP's quotas need every division: see
    :func:`vp_quota_table`."""
    regions = pd.DataFrame({"region_id": [r[0] for r in co.REGIONS], "name": [r[1] for r in co.REGIONS]})
    vp = pd.DataFrame({"payee_id": [VP_ID], "name": ["Morgan Ellis"],
                       "email": ["morgan.ellis@northwind-analytics.example"], "role": ["vp"],
                       "team_id": [None], "region_id": [None], "segment": [None], "currency": ["USD"],
                       "hire_date": [VP_HIRE], "termination_date": [-1]})
    hierarchy = pd.DataFrame({"payee_id": [VP_ID], "valid_from": [VP_HIRE], "valid_to": [NO_END],
                              "manager_id": [None]})
    years = np.asarray(co.FISCAL_YEARS)
    assigned = np.array([co.day(f"{y}-02-01") for y in years])
    rng = company_rng(seed, 3)
    done_day = assigned + rng.integers(3, 40, len(years))
    assignments = pd.DataFrame({
        "assignment_id": [f"TAVP{y}" for y in years], "payee_id": VP_ID, "module_id": "TRN-CMP-01",
        "assigned_date": assigned, "due_date": [co.day(f"{y}-03-31") for y in years],
        "reason": "compliance"})
    completions = pd.DataFrame({
        "payee_id": VP_ID, "module_id": "TRN-CMP-01",
        "completed_at": done_day * 86400 + rng.integers(8 * 3600, 19 * 3600, len(years)),
        "score": pd.array(np.round(8000 + 2000 * rng.random(len(years))).astype(np.int64), dtype="Int64")})
    tables = {
        "regions": regions, "payees": vp, "hierarchy": hierarchy,
        "fx_rates": fx_rates(company_rng(seed, 1)), "spend": spend(company_rng(seed, 2), scale),
        "training_modules": modules_frame(), "training_paths": paths_frames()[0],
        "training_path_modules": paths_frames()[1], "training_rules": rules_frame(),
        "training_assignments": assignments,
        "training_completions": completions,
    }
    return {name: to_arrow(cols, name) for name, cols in tables.items()}


def vp_quota_table(divisions_director_usd: list[pd.DataFrame]) -> pa.Table:
    """The VP's quotas from every division's directors' quotas."""
    return to_arrow(vp_quotas(divisions_director_usd), "quotas")


def generate(seed: int = 7, scale: int = 1) -> Iterator[dict[str, pa.Table]]:
    """The whole company, as a stream of table batches: the company-wide tables, then each
    division, then the VP's quotas. Memory holds one division at a time."""
    if scale < 1:
        raise ValueError("scale must be at least 1")
    yield generate_company_tables(seed, scale)
    usd = []
    for index in range(scale):
        division = generate_division(seed, index)
        usd.append(division.director_usd)
        yield division.tables
    yield {"quotas": vp_quota_table(usd)}


def _decimal(values: Any, spec_type: str) -> pa.Array:
    """Integers in units of the last decimal place -> exact decimals (no float involved:
    the 128-bit integer is reinterpreted with the column's scale)."""
    ints = pa.array(values, type=pa.int64(), from_pandas=True)
    return ints.cast(pa.decimal128(19, 0)).view(arrow_type(spec_type))


def to_arrow(columns: Mapping[str, Any] | pd.DataFrame, spec: TableSpec | str) -> pa.Table:
    """Generator columns as an Arrow table with exactly the table's data columns and types
    (DECIMAL from integer minor units, exact; dates from integer days; missing -> null).
    A column the table has but ``columns`` lacks is all null."""
    spec = get_table(spec) if isinstance(spec, str) else spec
    if isinstance(columns, pd.DataFrame):
        length = len(columns)
    else:
        length = len(next(iter(columns.values()))) if columns else 0
    arrays, names = [], []
    for col in spec.columns:
        if col.name in _LINEAGE:
            continue
        if col.name not in columns:
            arrays.append(pa.nulls(length, arrow_type(col.type)))
            names.append(col.name)
            continue
        values = columns[col.name]
        if isinstance(values, (pa.Array, pa.ChunkedArray)):
            arr = values if values.type == arrow_type(col.type) else values.cast(arrow_type(col.type))
        elif col.type.startswith("DECIMAL"):
            arr = _decimal(values, col.type)
        elif col.type == "DATE":
            arr = pa.array(to_dates(values), type=pa.date32())
        elif col.type == "TIMESTAMP":
            arr = pa.array(np.asarray(values, dtype=np.int64).astype("datetime64[s]"), type=pa.timestamp("us"))
        elif col.type == "BOOLEAN":
            arr = pa.array(values, type=pa.bool_(), from_pandas=True)
        elif col.type in ("INTEGER", "BIGINT"):
            arr = pa.array(values, type=pa.int32() if col.type == "INTEGER" else pa.int64(), from_pandas=True)
        else:
            arr = pa.array(np.asarray(values, dtype=object), type=pa.string(), from_pandas=True)
        arrays.append(arr)
        names.append(col.name)
    return pa.Table.from_arrays(arrays, names=names)


def tables(seed: int = 7, scale: int = 1) -> dict[str, pa.Table]:
    """The whole company as one Arrow table per canonical table, in :data:`TABLE_ORDER`.
    Meant for scale 1 and tests; larger builds stream with :func:`generate`."""
    collected: dict[str, list[pa.Table]] = {}
    for batch in generate(seed, scale):
        for name, table in batch.items():
            collected.setdefault(name, []).append(table)
    return {name: pa.concat_tables(collected[name]) for name in TABLE_ORDER if name in collected}
