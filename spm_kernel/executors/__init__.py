"""Executors: run a workspace's calculations and metrics in this process (``local``, the
default) or on a ``dask.distributed`` cluster (``dask``), with the same results.

    run = ws.calculate("2026-Q4", executor="dask")          # workspace's dask_address
    run = ws.calculate("2026-Q4", executor=Client(...))     # an existing client
    kpis = ws.metrics(by="team", executor=client)

See ``docs/scale.md``.
"""

from spm_kernel.executors.base import DaskExecutor, Executor, ExecutorError, LocalExecutor, resolve_executor
from spm_kernel.executors.calc import executor_period_lines, split_inputs
from spm_kernel.executors.parquet import (
    ParquetInputError,
    read_parquet_input,
    stage_parquet_inputs,
    unstage_inputs,
)

__all__ = [
    "DaskExecutor", "Executor", "ExecutorError", "LocalExecutor", "ParquetInputError", "executor_period_lines",
    "read_parquet_input", "resolve_executor", "split_inputs", "stage_parquet_inputs", "unstage_inputs",
]
