"""Scale-out (issue 11) on the demo company: the Dask executor on a 2-worker LocalCluster
gives the local executor's results to the cent (the same lines, numbered alike, the same
credits and input hash), survives a worker killed mid-run or fails without writing, computes
metrics by partition with the same rows, and runs on transactions that live in Parquet."""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator
from datetime import date
from decimal import Decimal
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from spm_kernel.executors import DaskExecutor, ExecutorError, LocalExecutor, ParquetInputError, resolve_executor
from spm_kernel.executors.partition import assign_partitions
from spm_kernel.workspace import Workspace
from tests.scaleout_helpers import assert_same_run, cluster, copy_of, fingerprint, run_lines

PERIOD = "2026-Q1"


@pytest.fixture(scope="module")
def client() -> Iterator[object]:
    yield from cluster()


@pytest.fixture(scope="module")
def local(spm_demo_template: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Workspace, object]]:
    """The demo company calculated for 2026-Q1 by the local executor (the reference)."""
    ws = copy_of(spm_demo_template, tmp_path_factory.mktemp("scaleout-local") / "ws")
    run = ws.calculate(PERIOD, progress=False)
    yield ws, run
    ws.close()


def _kill_one_worker(client: object) -> None:
    pids = client.run(os.getpid)
    os.kill(sorted(pids.values())[0], signal.SIGKILL)


def test_partitions_keep_teams_whole_and_balance_by_credits() -> None:
    people = pd.DataFrame({"payee_id": ["A", "B", "C", "D", "E", "F"],
                           "team_id": ["T1", "T1", "T2", "T2", None, "T3"]})
    weights = pd.Series({"A": 50, "B": 49, "C": 30, "D": 10, "E": 45, "F": 5})
    part = assign_partitions(people, weights, 2)
    # units by weight (+1 per payee): T1 101, T2 42, E 46, T3 6 -> snake: T1->0, E->1, T2->1, T3->0
    assert part.to_dict() == {"A": 0, "B": 0, "C": 1, "D": 1, "E": 1, "F": 0}
    assert set(assign_partitions(people, weights, 1)) == {0}


def test_resolve_executor_settings(spm_workspace: Workspace, client: object) -> None:
    assert isinstance(resolve_executor(spm_workspace), LocalExecutor)
    chosen = resolve_executor(spm_workspace, client)
    assert isinstance(chosen, DaskExecutor) and chosen.partitions() == 4  # 2 workers x 2
    by_address = resolve_executor(spm_workspace, client.scheduler.address)
    assert isinstance(by_address, DaskExecutor) and by_address.owns_client and by_address.workers() >= 1
    by_address.close()
    with pytest.raises(ExecutorError, match="unknown executor 'spark'"):
        resolve_executor(spm_workspace, "spark")


def test_dask_calculation_equals_local_to_the_cent(local: tuple[Workspace, object], spm_demo_template: Path,
                                                   tmp_path: Path, client: object) -> None:
    local_ws, local_run = local
    ws = copy_of(spm_demo_template, tmp_path / "ws")
    try:
        run = ws.calculate(PERIOD, progress=False, executor=client)
        assert run.status == "succeeded"
        assert_same_run(local_ws, local_run, ws, run)
        totals = ws.sql(f"SELECT sum(amount) AS s FROM payout_lines WHERE run_id = '{run.run_id}'")["s"][0]
        assert isinstance(totals, Decimal) and totals == local_ws.sql(
            f"SELECT sum(amount) AS s FROM payout_lines WHERE run_id = '{local_run.run_id}'")["s"][0]
        # a manager is paid on roll-up credit computed before the fan-out: some roll-up lines exist
        assert ws.sql(f"SELECT count(*) AS n FROM credits WHERE run_id = '{run.run_id}' "
                      "AND credit_type = 'rollup'")["n"][0] > 0
    finally:
        ws.close()


@pytest.mark.parametrize("by", ["team", "manager"])
def test_metrics_by_partition_equal_local(local: tuple[Workspace, object], client: object, by: str) -> None:
    ws, _ = local
    query = {"by": by, "period": "2026-Q1", "as_of": date(2026, 3, 31)}
    mine = ws.metrics(**query)
    spread = ws.metrics(**query, executor=client)
    key = mine.columns[1]
    assert len(mine) > 20 and mine[key].nunique() > 3
    order = ["metric", "period", key]
    mine = mine.sort_values(order).reset_index(drop=True)
    spread = spread.sort_values(order).reset_index(drop=True)
    # money (Decimal) and counts are identical; a ratio computed in floating point may differ in its
    # last bits, because a partition sums its groups in another order
    exact = [c for c in mine.columns if c != "value"]
    pd.testing.assert_frame_equal(mine[exact].astype(str), spread[exact].astype(str))
    for a, b, metric in zip(mine["value"], spread["value"], mine["metric"]):
        if isinstance(a, float) and isinstance(b, float):
            assert a == pytest.approx(b, rel=1e-12, nan_ok=True), metric
        else:
            assert str(a) == str(b), metric


def _parquet_workspace(template: Path, target: Path, table: pa.Table) -> tuple[Workspace, Path]:
    ws = copy_of(template, target)
    path = target.parent / "transactions.parquet"
    pq.write_table(table, path, row_group_size=5000)
    ws.con.execute("DELETE FROM transactions")
    ws.config = ws.config.model_copy(update={"parquet_inputs": {"transactions": str(path)}})
    return ws, path


def _transactions(ws: Workspace) -> pa.Table:
    return ws.con.sql("SELECT transaction_id, opportunity_id, kind, amount, currency, transaction_date, product, "
                      "segment, region_id, original_transaction_id FROM transactions").to_arrow_table()


def test_transactions_from_parquet_give_the_same_run(local: tuple[Workspace, object], spm_demo_template: Path,
                                                     tmp_path: Path, client: object) -> None:
    local_ws, local_run = local
    ws, path = _parquet_workspace(spm_demo_template, tmp_path / "ws", _transactions(local_ws))
    try:
        run = ws.calculate(PERIOD, progress=False, executor=client)
        assert_same_run(local_ws, local_run, ws, run)  # input hash too: the staged rows hash alike
        assert ws.sql("SELECT count(*) AS n FROM transactions")["n"][0] == 0  # stored table untouched
        assert ws.sql(f"SELECT count(*) AS n FROM credits WHERE run_id = '{run.run_id}'")["n"][0] == run.credit_count
    finally:
        ws.close()


def test_bad_parquet_input_names_the_problem_and_writes_nothing(local: tuple[Workspace, object],
                                                                 spm_demo_template: Path, tmp_path: Path) -> None:
    table = _transactions(local[0])
    floats = table.set_column(3, "amount", table.column("amount").cast(pa.float64()))
    ws, path = _parquet_workspace(spm_demo_template, tmp_path / "ws", floats)
    try:
        before = fingerprint(ws)
        with pytest.raises(ParquetInputError, match=r"column\(s\) amount hold binary floats"):
            ws.calculate("2026-01", progress=False, executor=LocalExecutor())
        earliest = table.column("transaction_date").to_pylist().index(min(table.column("transaction_date").to_pylist()))
        kinds = table.column("kind").to_pylist()
        kinds[earliest] = "gift"  # a row the January run reads
        pq.write_table(table.set_column(2, "kind", pa.array(kinds)), path)
        first_id = table.column("transaction_id")[earliest].as_py()
        with pytest.raises(ParquetInputError, match=f"kind: not an allowed value .*transaction_id='{first_id}'"):
            ws.calculate("2026-01", progress=False)
        ws.con.execute("DELETE FROM calc_runs WHERE status = 'failed'")
        assert fingerprint(ws) == before
        assert "transactions" not in {r[0] for r in ws.con.execute(
            "SELECT table_name FROM duckdb_tables() WHERE temporary").fetchall()}
    finally:
        ws.close()


# the killing tests come last: a killed worker's replacement may take a while to start
@pytest.mark.slow
def test_worker_killed_mid_run_completes_with_the_same_results(local: tuple[Workspace, object],
                                                               spm_demo_template: Path, tmp_path: Path,
                                                               client: object) -> None:
    local_ws, local_run = local
    ws = copy_of(spm_demo_template, tmp_path / "ws")
    killed: list[bool] = []

    def kill_once() -> None:
        if not killed:
            killed.append(True)
            _kill_one_worker(client)

    try:
        run = ws.calculate(PERIOD, progress=False, executor=DaskExecutor(client, on_submitted=kill_once))
        assert killed == [True]
        assert run.status == "succeeded"
        assert_same_run(local_ws, local_run, ws, run)
    finally:
        ws.close()


@pytest.mark.slow
def test_worker_killed_without_retries_fails_cleanly(spm_demo_template: Path, tmp_path: Path, client: object) -> None:
    ws = copy_of(spm_demo_template, tmp_path / "ws")
    try:
        before = fingerprint(ws)
        runs_before = ws.sql("SELECT count(*) AS n FROM calc_runs")["n"][0]
        executor = DaskExecutor(client, attempts=1, on_submitted=lambda: _kill_one_worker(client))
        with pytest.raises(ExecutorError, match="workers were lost 1 time"):
            ws.calculate("2026-01", progress=False, executor=executor)
        runs = ws.sql("SELECT status, error FROM calc_runs")
        assert len(runs) == runs_before + 1 and (runs["status"] == "failed").sum() == 1
        assert "ExecutorError" in runs.loc[runs["status"] == "failed", "error"].iloc[0]
        ws.con.execute("DELETE FROM calc_runs WHERE status = 'failed'")  # the only trace it may leave
        assert fingerprint(ws) == before
    finally:
        ws.close()
