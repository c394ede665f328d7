"""Executors: where fanned-out work runs.

* :class:`LocalExecutor` (``"local"``, the default): everything in this process, exactly as
  the kernel has always run it (no partitioning at all).
* :class:`DaskExecutor` (``"dask"``): partitions are sent to the workers of a
  ``dask.distributed`` cluster, computed there by the same functions, and gathered back in
  partition order. The driver (this process) keeps the workspace: it reads the inputs and
  writes every result in its own transaction; workers never touch the DuckDB file.

Contract of :meth:`Executor.map`: ``fn(part, shared)`` for every ``part``; results in the
order of ``parts``. An exception raised by ``fn`` propagates unchanged (as the original
type). A lost worker (killed, out of memory, network) makes the Dask executor submit the
whole map again, up to ``attempts`` times in total; after that it raises
:class:`ExecutorError`. Either way nothing is half-written: callers write results only after
``map`` returned them all.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

from spm_kernel.errors import SPMError

if TYPE_CHECKING:
    from spm_kernel.workspace import Workspace

P = TypeVar("P")
R = TypeVar("R")
S = TypeVar("S")


class ExecutorError(SPMError):
    """The executor could not be set up, or lost its workers more often than it retries."""


class Executor(Protocol):
    """Runs ``fn(part, shared)`` for each part; see the module docstring for the contract."""

    name: str
    distributed: bool

    def partitions(self) -> int:
        """How many partitions to cut work into (at least 1)."""
        ...

    def map(self, fn: Callable[[P, S], R], parts: Sequence[P], shared: S) -> list[R]:
        ...


@dataclass
class LocalExecutor:
    """Everything in this process; work is not partitioned (``partitions() == 1``)."""

    name: str = "local"
    distributed: bool = False

    def partitions(self) -> int:
        return 1

    def map(self, fn: Callable[[P, S], R], parts: Sequence[P], shared: S) -> list[R]:
        return [fn(part, shared) for part in parts]


def _lost_worker_errors() -> tuple[type[BaseException], ...]:
    from distributed.client import CancelledError, FutureCancelledError
    from distributed.comm.core import CommClosedError
    from distributed.scheduler import KilledWorker

    return (KilledWorker, CancelledError, FutureCancelledError, CommClosedError)


@dataclass
class DaskExecutor:
    """Work on a ``dask.distributed`` cluster.

    ``client``: a ``distributed.Client``, or a scheduler address (``"tcp://10.0.0.5:8786"``)
    to connect to (the executor then owns that client and closes it in :meth:`close`).
    ``partitions_per_worker``: how many partitions each worker gets (2 by default: one
    computing while the next one's data arrives). ``attempts``: total tries of a map when
    workers are lost.
    """

    client: Any
    partitions_per_worker: int = 2
    attempts: int = 2
    name: str = "dask"
    distributed: bool = True
    owns_client: bool = False
    on_submitted: Callable[[], None] | None = field(default=None, repr=False)  # tests: kill a worker here

    def __post_init__(self) -> None:
        if isinstance(self.client, str):
            from distributed import Client

            try:
                self.client = Client(self.client, timeout="20s")
            except OSError as exc:
                raise ExecutorError(f"cannot reach the Dask scheduler at {self.client}: {exc}") from None
            self.owns_client = True

    def workers(self) -> int:
        return max(1, len(self.client.scheduler_info(n_workers=-1).get("workers", {})))

    def partitions(self) -> int:
        return max(1, self.workers() * self.partitions_per_worker)

    def map(self, fn: Callable[[P, S], R], parts: Sequence[P], shared: S) -> list[R]:
        lost = _lost_worker_errors()
        last: BaseException | None = None
        for _ in range(max(1, self.attempts)):
            try:
                return self._map_once(fn, parts, shared)
            except lost as exc:
                last = exc
        raise ExecutorError(f"Dask workers were lost {self.attempts} time(s) in a row; nothing was written "
                            f"(last error: {type(last).__name__}: {last})") from last

    def _map_once(self, fn: Callable[[P, S], R], parts: Sequence[P], shared: S) -> list[R]:
        if not parts:
            return []
        client = self.client
        shared_future = client.scatter(shared, broadcast=True, hash=False)
        part_futures = client.scatter(list(parts), hash=False)
        futures = client.map(fn, part_futures, [shared_future] * len(part_futures), pure=False)
        try:
            if self.on_submitted is not None:
                self.on_submitted()
            return client.gather(futures)
        finally:
            client.cancel([*futures, *part_futures, shared_future])

    def close(self) -> None:
        if self.owns_client:
            self.client.close()


_CONNECTED: dict[str, DaskExecutor] = {}


def _connected(address: str) -> DaskExecutor:
    """One client per scheduler address for the life of the process (connecting takes a
    moment; the client closes when the process exits)."""
    known = _CONNECTED.get(address)
    if known is None or known.client.status not in ("running", "connecting"):
        known = _CONNECTED[address] = DaskExecutor(address)
    return known


def resolve_executor(ws: Workspace | None, executor: Any = None) -> Executor:
    """The executor for one call: ``executor`` if given, else the workspace's setting.

    Accepts an :class:`Executor`, a ``distributed.Client``, ``"local"``, ``"dask"`` (the
    workspace's ``dask_address``, else ``$SPM_DASK_ADDRESS``, else the current default
    client), or a scheduler address ``"tcp://host:8786"``.
    """
    if executor is None:
        executor = ws.config.executor if ws is not None else "local"
    if hasattr(executor, "map") and hasattr(executor, "partitions"):
        return executor
    if isinstance(executor, str):
        if executor == "local":
            return LocalExecutor()
        if executor == "dask":
            address = (ws.config.dask_address if ws is not None else None) or os.environ.get("SPM_DASK_ADDRESS")
            if address:
                return _connected(address)
            try:
                from distributed import get_client

                return DaskExecutor(get_client())
            except ValueError:
                raise ExecutorError("executor 'dask' needs a scheduler: set dask_address in workspace.yaml, "
                                    "$SPM_DASK_ADDRESS, or pass executor=Client(...)") from None
        if "://" in executor:
            return _connected(executor)
        raise ExecutorError(f"unknown executor {executor!r}: expected 'local', 'dask', a scheduler address "
                            "('tcp://host:8786') or a distributed.Client")
    from distributed import Client

    if isinstance(executor, Client):
        return DaskExecutor(executor)
    raise ExecutorError(f"unknown executor {executor!r}")
