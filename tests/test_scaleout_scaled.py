"""Scale-out (issue 11) on a scaled workspace: the demo company at scale 2 (about 400
payees), built in the test's own folder. The Dask executor on a 2-worker LocalCluster gives
the local executor's results to the cent for a month, and for the next month after the first
was closed and its quotas changed, so the prior-period adjustments (the closed period
recalculated) are fanned out too."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from spm_kernel.workspace import open_workspace
from tests.scaleout_helpers import assert_same_run, cluster, run_lines

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def client() -> Iterator[object]:
    yield from cluster()


@pytest.fixture(scope="module")
def scaled(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from spm_kernel.demo import build_demo

    folder = tmp_path_factory.mktemp("scaleout-scale2") / "ws"
    build_demo(folder, scale=2, seed=11, progress=False).close()
    return folder


def test_scaled_workspace_same_results_with_restatement(scaled: Path, tmp_path: Path, client: object) -> None:
    runs = {}
    for name, executor in (("local", "local"), ("dask", client)):
        shutil.copytree(scaled, tmp_path / name)
        ws = open_workspace(tmp_path / name)
        first = ws.calculate("2026-04", progress=False, executor=executor)
        ws.close_period("2026-04")
        # a changed quota touches the closed April: May must book the difference
        ws.con.execute("UPDATE quotas SET amount = amount * 2 WHERE period_start <= DATE '2026-04-30' "
                       "AND period_end >= DATE '2026-04-01'")
        second = ws.calculate("2026-05", progress=False, executor=executor)
        runs[name] = (ws, first, second)
    try:
        (lws, l1, l2), (dws, d1, d2) = runs["local"], runs["dask"]
        assert l1.line_count > 300
        assert_same_run(lws, l1, dws, d1)
        assert_same_run(lws, l2, dws, d2, same_history=False)  # the April runs' ids differ
        adjustments = run_lines(dws, d2.run_id)
        assert (adjustments["corrects_period_id"] == "2026-04").sum() > 0  # restatement lines exist and match
    finally:
        for ws, _, _ in runs.values():
            ws.close()
