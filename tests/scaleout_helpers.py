"""Shared by the scale-out tests: a 2-worker LocalCluster, workspace copies, comparisons and
a fingerprint of the whole store."""

from __future__ import annotations

import hashlib
import logging
import shutil
from collections.abc import Iterator
from pathlib import Path

import pandas as pd

from spm_kernel.workspace import Workspace, open_workspace

LINE_COLUMNS = ("line_no", "line_key", "payee_id", "plan_id", "plan_version", "component", "line_type", "amount",
                "currency", "status", "measure", "measure_value", "attainment", "tier", "rate", "formula",
                "credit_ids", "reference", "unprorated_amount", "proration", "explanation", "corrects_period_id")
CREDIT_COLUMNS = ("credit_id", "transaction_id", "payee_id", "credit_type", "amount", "credit_date", "share",
                  "rollup_level", "source_payee_id")
FINGERPRINT_TABLES = ("payout_lines", "credits", "calc_runs", "audit_log", "periods", "transactions")


def cluster() -> Iterator[object]:
    """A LocalCluster of 2 worker processes (1 thread each) and its client."""
    from distributed import Client, LocalCluster

    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None,
                      silence_logs=logging.ERROR) as lc, Client(lc) as client:
        yield client


def copy_of(source: Path, target: Path) -> Workspace:
    shutil.copytree(source, target)
    return open_workspace(target)


def run_lines(ws: Workspace, run_id: str) -> pd.DataFrame:
    """A run's lines, comparable across runs (no run or line ids; decimals as text)."""
    frame = ws.sql(f"SELECT {', '.join(LINE_COLUMNS)}, CAST(corrects_line_id IS NOT NULL AS INT) AS corrects "
                   f"FROM payout_lines WHERE run_id = '{run_id}' ORDER BY line_no")
    frame["credit_ids"] = frame["credit_ids"].map(lambda v: "|".join(v))
    return frame.astype(str)


def run_credits(ws: Workspace, run_id: str) -> pd.DataFrame:
    return ws.sql(f"SELECT {', '.join(CREDIT_COLUMNS)} FROM credits WHERE run_id = '{run_id}' "
                  f"ORDER BY credit_id").astype(str)


def fingerprint(ws: Workspace) -> str:
    """A hash of every row of the tables a run writes (and of the inputs)."""
    parts = []
    for table in FINGERPRINT_TABLES:
        n, h = ws.con.execute(f"SELECT count(*), CAST(coalesce(sum(CAST(hash(t) AS HUGEINT)), 0) AS VARCHAR) "
                              f"FROM {table} t").fetchall()[0]
        parts.append(f"{table}:{n}:{h}")
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()


def assert_same_run(local_ws: Workspace, local_run: object, other_ws: Workspace, other_run: object,
                    same_history: bool = True) -> None:
    """The same lines (numbered alike), credits and data hashes; the same input hash too when
    both workspaces share their earlier runs (it names the prior runs' ids)."""
    a, b = run_lines(local_ws, local_run.run_id), run_lines(other_ws, other_run.run_id)
    assert len(a) > 0
    pd.testing.assert_frame_equal(a, b)
    pd.testing.assert_frame_equal(run_credits(local_ws, local_run.run_id), run_credits(other_ws, other_run.run_id))
    assert other_run.restated == local_run.restated
    if same_history:
        assert other_run.input_hash == local_run.input_hash
    assert (other_run.line_count, other_run.credit_count) == (local_run.line_count, local_run.credit_count)
