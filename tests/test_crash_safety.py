"""Crash safety: a calculation and a sync killed with SIGKILL mid-way leave the workspace as it
was before they started, usable, and the next run gives what a clean run gives.

Each test runs the real ``spm`` command in a subprocess on its own copy of a workspace, watches
its progress bar on stderr and sends SIGKILL once the process is inside its write transaction
(after the calculation stored the run's credits; once the sync started writing). DuckDB never
commits a half-written transaction, so on reopening, every table's row count and content hash
(the store's fingerprint) must equal the fingerprint taken before the run.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from decimal import Decimal
from pathlib import Path

import pandas as pd
import pytest

import spm_kernel
from tests.test_fuzz_importers import fingerprint

SPM = str(Path(sys.executable).parent / "spm")
PERIOD = "2026-02"
TIMEOUT = 600.0


def store_fingerprint(folder: Path) -> dict[str, tuple[int, int]]:
    with spm_kernel.open(folder, read_only=True) as ws:
        return fingerprint(ws.con)


def kill_when(args: list[str], marker: bytes, delay: float = 0.0) -> tuple[bytes, float]:
    """Run ``args``; SIGKILL it ``delay`` seconds after ``marker`` shows on its stderr.
    Returns the stderr read and when the kill was sent (seconds after the start). Fails if the
    process ended on its own before the marker, since then nothing was interrupted."""
    started = time.perf_counter()
    proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            env={**os.environ, "COLUMNS": "200"})
    seen = threading.Event()
    err = bytearray()

    def read() -> None:
        assert proc.stderr is not None
        while chunk := proc.stderr.read1(4096):  # type: ignore[attr-defined]
            err.extend(chunk)
            if marker in err:
                seen.set()
        seen.set()

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    try:
        assert seen.wait(TIMEOUT), f"{marker!r} never appeared: {bytes(err)[-400:]!r}"
        assert proc.poll() is None and marker in err, (
            f"the process ended (rc {proc.returncode}) before {marker!r}: {bytes(err)[-600:]!r}")
        if delay:
            time.sleep(delay)
        assert proc.poll() is None, f"the process finished within {delay} s of {marker!r}: raise the work size"
        proc.send_signal(signal.SIGKILL)
        killed_at = time.perf_counter() - started
        assert proc.wait(60) == -signal.SIGKILL
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    reader.join(10)
    return bytes(err), killed_at


def run_ok(args: list[str]) -> str:
    done = subprocess.run(args, capture_output=True, text=True, timeout=TIMEOUT)
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


def lines_of(folder: Path, period: str) -> pd.DataFrame:
    """The payout lines of ``period``'s latest run, without run ids and timestamps."""
    with spm_kernel.open(folder, read_only=True) as ws:
        frame = ws.run(period=period).lines()
    keep = ["payee_id", "component", "line_type", "amount", "currency", "period_id", "status"]
    return frame[keep].sort_values(keep, kind="stable").reset_index(drop=True)


def test_a_killed_calculation_leaves_the_store_as_it_was_and_the_next_run_matches_a_clean_one(
        spm_demo_template: Path, tmp_path: Path) -> None:
    crashed, clean = tmp_path / "crashed", tmp_path / "clean"
    shutil.copytree(spm_demo_template, crashed)
    shutil.copytree(spm_demo_template, clean)
    before = store_fingerprint(crashed)

    err, _ = kill_when([SPM, "calc", PERIOD, "--workspace", str(crashed)], b"store_credits")
    assert b"store_credits" in err  # killed after the run's credits were written, before the commit

    assert store_fingerprint(crashed) == before, "a killed calculation left rows behind"
    with spm_kernel.open(crashed) as ws:  # usable: opens for writing, migrations are no-ops
        assert ws.sql("SELECT count(*) AS n FROM calc_runs WHERE period_id = ?", [PERIOD])["n"][0] == 0
    run_ok([SPM, "calc", PERIOD, "--workspace", str(crashed), "--quiet"])
    run_ok([SPM, "calc", PERIOD, "--workspace", str(clean), "--quiet"])
    recovered, reference = lines_of(crashed, PERIOD), lines_of(clean, PERIOD)
    assert len(reference) > 0
    pd.testing.assert_frame_equal(recovered, reference)
    assert sum(recovered["amount"], Decimal(0)) == sum(reference["amount"], Decimal(0))


def _files_source(folder: Path, rows: int) -> None:
    """A ``files`` source of ``rows`` spend records (one CSV, a couple of seconds to sync)."""
    exports = folder / "exports"
    exports.mkdir()
    channels = pd.Series(range(rows)).map(lambda i: f"channel-{i:07d}")
    frame = pd.DataFrame({"month": "2026-01-01", "category": "marketing", "channel": channels,
                          "amount": (pd.Series(range(rows)) % 100_000).map(lambda c: f"{c // 100}.{c % 100:02d}"),
                          "currency": "USD"})
    frame.to_csv(exports / "spend.csv", index=False)
    (exports / "mapping.yaml").write_text('spend:\n  files: "spend*.csv"\n')
    (folder / "sources.yaml").write_text("exports:\n  type: files\n  folder: exports\n  mapping: exports/mapping.yaml\n")


def _spend(folder: Path) -> pd.DataFrame:
    with spm_kernel.open(folder, read_only=True) as ws:
        frame = ws.sql("SELECT month, category, channel, amount, currency, source, source_id FROM spend "
                       "ORDER BY channel")
    return frame


def test_a_killed_sync_leaves_the_store_as_it_was_and_the_next_sync_matches_a_clean_one(tmp_path: Path) -> None:
    crashed, clean = tmp_path / "crashed", tmp_path / "clean"
    for folder in (crashed, clean):
        spm_kernel.open(folder).close()
        _files_source(folder, rows=150_000)
    before = store_fingerprint(crashed)

    kill_when([SPM, "sync", "exports", "--workspace", str(crashed), "--full"], b"writing", delay=0.1)

    assert store_fingerprint(crashed) == before, "a killed sync left rows behind"
    run_ok([SPM, "sync", "exports", "--workspace", str(crashed), "--full", "--no-progress"])
    run_ok([SPM, "sync", "exports", "--workspace", str(clean), "--full", "--no-progress"])
    recovered, reference = _spend(crashed), _spend(clean)
    assert len(reference) == 150_000
    pd.testing.assert_frame_equal(recovered, reference)
    with spm_kernel.open(crashed, read_only=True) as ws:
        log = ws.sql("SELECT status FROM sync_log")
    assert log["status"].tolist() == ["succeeded"]  # the killed attempt left no log row either
