"""spm_kernel.app_kernels.AppKernelManager, without a browser: a kernel with no connection is
culled only after a whole idle timeout counted from the first check that found it without one
(a preheated kernel handed to a page, whose last activity may be minutes old, survives until
the page connects). The race it closes was seen in the browser suite: 'Culling idle kernel
... with 0 connections due to 672 seconds of inactivity' while its page was loading."""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from jupyter_server.services.kernels.kernelmanager import AsyncMappingKernelManager

from spm_kernel import app_kernels, app_server
from spm_kernel.app_kernels import AppKernelManager


def test_a_kernel_is_culled_only_after_a_whole_timeout_without_a_connection(monkeypatch: pytest.MonkeyPatch) -> None:
    culled: list[str] = []

    async def base_cull(self: Any, kernel_id: str) -> None:  # jupyter_server's rule: idle, no connection
        if not self._kernel_connections.get(kernel_id, 0):
            culled.append(kernel_id)

    monkeypatch.setattr(AsyncMappingKernelManager, "cull_kernel_if_idle", base_cull)
    clock = [1000.0]
    monkeypatch.setattr(app_kernels.time, "monotonic", lambda: clock[0])
    km = AppKernelManager(cull_idle_timeout=60)

    def check(at: float, kernel: str = "k1") -> list[str]:
        clock[0] = at
        # in a thread of its own: the session's Playwright browser may own this thread's event loop
        with ThreadPoolExecutor(1) as pool:
            pool.submit(asyncio.run, km.cull_kernel_if_idle(kernel)).result()
        return culled

    assert check(1000) == []            # handed to a page, not connected yet: the grace starts
    assert check(1030) == []
    km._kernel_connections["k1"] = 1    # the page connected
    assert check(1060) == []
    km._kernel_connections["k1"] = 0    # the page closed
    assert check(1090) == []            # a new grace from here
    assert check(1120) == []
    assert check(1150) == ["k1"]        # 60 s without a connection: culled
    assert "--VoilaConfiguration.multi_kernel_manager_class=spm_kernel.app_kernels.AppKernelManager" in \
        app_server.voila_command(app_server.find_apps_dir(), 8999)
