"""The kernel manager ``spm app`` gives Voila (``--VoilaConfiguration.multi_kernel_manager_class``;
its own module so that app kernels, which import :mod:`spm_kernel.app_server`, do not import
jupyter_server)."""

from __future__ import annotations

import time

from jupyter_server.services.kernels.kernelmanager import AsyncMappingKernelManager


class AppKernelManager(AsyncMappingKernelManager):  # type: ignore[misc]
    """Voila's kernel manager base for ``spm app``: idle culling that never takes a kernel a
    page was just given.

    Voila keeps its preheated kernels out of culling while they wait in the pool, but a kernel
    taken by a page leaves the pool before the page's websocket connects; its last activity is
    the end of its notebook run, possibly many minutes earlier, so the next cull check could
    shut it down while the page is still loading ("Kernel does not exist" for the page; seen
    when a kernel waited over a minute in the pool and the page took seconds to connect).
    Here a kernel with no connection is only culled once it has had none for a whole
    ``cull_idle_timeout`` counted from the first check that found it without one (and is
    idle by jupyter_server's own rule as well)."""

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)
        self._unconnected_since: dict[str, float] = {}

    async def cull_kernel_if_idle(self, kernel_id: str) -> None:
        if self._kernel_connections.get(kernel_id, 0) > 0:
            self._unconnected_since.pop(kernel_id, None)
        else:
            since = self._unconnected_since.setdefault(kernel_id, time.monotonic())
            if time.monotonic() - since < self.cull_idle_timeout:
                return
        await super().cull_kernel_if_idle(kernel_id)
        if kernel_id not in self:
            self._unconnected_since.pop(kernel_id, None)
