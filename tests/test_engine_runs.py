"""Runs are all or nothing: the lifecycle hooks, an exception injected mid-run, a process
killed mid-run. Each failure must leave no credits, lines, periods or audit rows behind."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from decimal import Decimal
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from pydantic import BaseModel, ConfigDict

import spm_kernel.plans  # noqa: F401 - import order: plans before plan types
from spm_kernel import PlanType, hookimpl
from spm_kernel.engine import Run
from spm_kernel.workspace import Workspace, open_workspace
from tests.engine_company import build_template_with_plans, copy_of

ROOT = Path(__file__).resolve().parents[1]
RESULT_TABLES = ("credits", "payout_lines", "periods", "audit_log")


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_template_with_plans(tmp_path_factory.mktemp("company") / "ws")


@pytest.fixture
def folder(template: Path, tmp_path: Path) -> Path:
    copy_of(template, tmp_path / "ws").close()
    return tmp_path / "ws"


def nothing_written(ws: Workspace) -> None:
    for table in RESULT_TABLES:
        where = " WHERE action <> 'import'" if table == "audit_log" else ""  # the company's imports are audited
        count = ws.con.execute(f"SELECT count(*) FROM {table}{where}").fetchall()[0][0]
        assert count == 0, f"a failed run left rows in {table}"
    assert ws.con.execute("SELECT count(*) FROM calc_runs WHERE status = 'succeeded'").fetchall()[0][0] == 0


class Recorder:
    """Records what the lifecycle hooks saw."""

    def __init__(self) -> None:
        self.seen: list[tuple[str, Any]] = []

    @hookimpl
    def spm_before_run(self, ws: Workspace, run: Run) -> None:
        self.seen.append(("before", (run.status, str(run.period), ws.count("payout_lines"))))

    @hookimpl
    def spm_after_run(self, ws: Workspace, run: Run) -> None:
        lines = run.lines()
        self.seen.append(("after", (run.status, run.line_count, run.credit_count, len(lines),
                                    sum(lines["amount"]))))


def test_hooks_see_the_run_before_and_after(folder: Path) -> None:
    recorder = Recorder()
    with open_workspace(folder, plugins=[recorder]) as ws:
        run = ws.calculate("2026-02", progress=False)
    assert recorder.seen == [
        ("before", ("running", "2026-02", 0)),
        # inside the still-open transaction: the lines are there, 536 + 14.60 + 104 + 6
        ("after", ("succeeded", 4, 10, 4, Decimal("660.60"))),
    ]
    assert run.status == "succeeded"


class Veto:
    @hookimpl
    def spm_before_run(self, ws: Workspace, run: Run) -> None:
        raise RuntimeError(f"no calculations of {run.period} today")


class FailAfter:
    """Raises once everything has been written, before the commit: mid-run."""

    def __init__(self) -> None:
        self.rows_seen = 0

    @hookimpl
    def spm_after_run(self, ws: Workspace, run: Run) -> None:
        self.rows_seen = ws.count("payout_lines") + ws.count("credits")
        raise RuntimeError("budget check failed")


def test_before_run_veto_writes_nothing_but_a_failed_record(folder: Path) -> None:
    with open_workspace(folder, plugins=[Veto()]) as ws:
        with pytest.raises(RuntimeError, match="no calculations of 2026-02 today"):
            ws.calculate("2026-02", progress=False)
        nothing_written(ws)
        failed = ws.table("calc_runs")
        assert list(failed["status"]) == ["failed"]
        assert "RuntimeError: no calculations of 2026-02 today" in failed["error"].iloc[0]


def test_exception_injected_mid_run_rolls_everything_back(folder: Path) -> None:
    hook = FailAfter()
    with open_workspace(folder, plugins=[hook]) as ws:
        with pytest.raises(RuntimeError, match="budget check failed"):
            ws.calculate("2026-02", progress=False)
        assert hook.rows_seen == 14  # 4 lines and 10 credits had been written in the transaction
        nothing_written(ws)
        assert list(ws.table("calc_runs")["status"]) == ["failed"]
    with open_workspace(folder) as ws:  # and the workspace still calculates
        assert ws.calculate("2026-02", progress=False).line_count == 4


class NoOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Exploding(PlanType):
    name = "exploding"
    config_model = NoOptions

    def calculate(self, inp: Any) -> pd.DataFrame:
        raise ZeroDivisionError("the plan type failed on purpose")


class ExplodingPlugin:
    @hookimpl
    def spm_register_plan_types(self) -> list[PlanType]:
        return [Exploding()]


def test_a_failing_plan_type_leaves_no_partial_results(folder: Path) -> None:
    (folder / "plans" / "boom.yaml").write_text(textwrap.dedent("""\
        plan_id: boom
        version: 1
        name: Boom
        effective_from: 2026-01-01
        assignments: [{payee: VP}]
        components:
          - {id: boom, type: exploding}
        """))
    with open_workspace(folder, plugins=[ExplodingPlugin()]) as ws:
        with pytest.raises(ZeroDivisionError):
            ws.calculate("2026-02", progress=False)
        nothing_written(ws)


KILLED = """
import sys, time, pathlib
import spm_kernel.plans
import spm_kernel
from spm_kernel import hookimpl

marker = pathlib.Path(sys.argv[2])

class Stall:
    @hookimpl
    def spm_after_run(self, ws, run):
        marker.write_text(f"{ws.count('payout_lines')} {ws.count('credits')}")
        time.sleep(600)

ws = spm_kernel.open(sys.argv[1], plugins=[Stall()])
ws.calculate("2026-02", progress=False)
"""


def test_a_run_killed_mid_way_leaves_nothing(folder: Path, tmp_path: Path) -> None:
    script = tmp_path / "killed.py"
    script.write_text(KILLED)
    marker = tmp_path / "written"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen([sys.executable, str(script), str(folder), str(marker)], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 180
        while not marker.exists() or not marker.read_text():
            assert proc.poll() is None, proc.stderr.read().decode() if proc.stderr else ""
            assert time.monotonic() < deadline, "the run never reached its end"
            time.sleep(0.1)
        assert marker.read_text() == "4 10"  # lines and credits were written, not committed
        proc.send_signal(signal.SIGKILL)
        proc.wait(30)
    finally:
        if proc.poll() is None:
            proc.kill()
    with open_workspace(folder) as ws:
        nothing_written(ws)
        assert ws.count("calc_runs") == 0
        run = ws.calculate("2026-02", progress=False)
        assert run.line_count == 4 and ws.count("credits") == 10


@pytest.fixture
def ws(folder: Path) -> Iterator[Workspace]:
    with open_workspace(folder) as w:
        yield w


def test_crediting_errors_fail_the_run_cleanly(ws: Workspace) -> None:
    ws.con.execute("""INSERT INTO opportunity_splits VALUES
        ('D1', 'R2', 'revenue', 30, 'x', 'x', now())""")
    with pytest.raises(Exception, match="deal D1: revenue splits sum to 30"):
        ws.calculate("2026-02", progress=False)
    nothing_written(ws)
    assert "CreditingError" in ws.table("calc_runs")["error"].iloc[0]
