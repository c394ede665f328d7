"""A pytest plugin for spm plugin authors (and this project): fixtures that build workspaces.

Installed with spm-kernel and activated automatically (entry point ``pytest11``)::

    def test_my_metric(spm_workspace_factory):
        ws = spm_workspace_factory(plugins=[my_plugin_module])
        assert "my_metric" in ws.registry.metrics

Fixtures:

* ``spm_workspace``: an empty, migrated workspace in a temporary folder, with the built-ins
  and installed plugins; closed after the test.
* ``spm_workspace_factory``: call it with ``plugins=[...]``, ``disable=[...]``,
  ``load_entry_points=False`` to build workspaces with exactly the plugins a test needs.
  Warnings about broken plugins are turned into errors unless ``allow_broken=True``.
* ``spm_demo_template`` (session): the folder of the scale-1 demo company (Northwind
  Analytics, seed 7, built through the validated importer), built once per test session.
  Treat it as read-only; tests that write use ``spm_demo_workspace``.
* ``spm_demo_workspace``: a private copy of that folder (``shutil.copytree``), opened with
  the built-ins and installed plugins and closed after the test, so tests that write never
  share state::

      def test_win_rate(spm_demo_workspace):
          won = spm_demo_workspace.sql("SELECT avg(is_won::INT) AS r FROM opportunities WHERE is_closed")
          assert 0.15 < won["r"][0] < 0.45
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from spm_kernel.plugins import PluginLoadWarning
from spm_kernel.workspace import Workspace, open_workspace


@pytest.fixture
def spm_workspace_factory(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Callable[..., Workspace]]:
    opened: list[Workspace] = []

    def make(path: Path | None = None, allow_broken: bool = False, **kwargs: Any) -> Workspace:
        folder = path or tmp_path_factory.mktemp("spm-ws") / "workspace"
        with warnings.catch_warnings():
            if not allow_broken:
                warnings.simplefilter("error", PluginLoadWarning)
            ws = open_workspace(folder, **kwargs)
        opened.append(ws)
        return ws

    yield make
    for ws in opened:
        try:
            ws.close()
        except Exception:  # noqa: BLE001 - already closed by the test
            pass


@pytest.fixture
def spm_workspace(spm_workspace_factory: Callable[..., Workspace]) -> Workspace:
    return spm_workspace_factory()


@pytest.fixture(scope="session")
def spm_demo_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The folder of the scale-1 demo workspace (seed 7), built once per session."""
    from spm_kernel.demo import build_demo

    folder = tmp_path_factory.mktemp("spm-demo-template") / "northwind"
    build_demo(folder, scale=1, seed=7, progress=False).close()
    return folder


@pytest.fixture
def spm_demo_workspace(spm_demo_template: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Workspace]:
    """A private, writable copy of the demo workspace, closed after the test."""
    import shutil

    copy = tmp_path_factory.mktemp("spm-demo") / "northwind"
    shutil.copytree(spm_demo_template, copy)
    ws = open_workspace(copy)
    yield ws
    try:
        ws.close()
    except Exception:  # noqa: BLE001 - already closed by the test
        pass
