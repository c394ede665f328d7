"""The ``sql`` source against a real PostgreSQL server started for these tests.

The fixture runs Debian's server binaries (``/usr/lib/postgresql/*/bin``, else ``initdb`` on
the PATH): ``initdb`` a
throwaway cluster in a temporary folder (as the ``postgres`` user when the tests run as
root, since PostgreSQL refuses to run as root), ``pg_ctl start`` it on a free port of
127.0.0.1 with password authentication, and stop it and delete the folder at the end.
Without the binaries the tests skip saying how to get them, except under CI (``CI`` set),
where they fail: CI must run them.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import yaml

from spm_kernel.sync import SourceError, configured_source, list_rejects

pytestmark = pytest.mark.slow  # starts a PostgreSQL cluster (initdb, pg_ctl): about 15 s

PASSWORD = "pg-s3cret-for-tests"
HOW = ("PostgreSQL server binaries not found under /usr/lib/postgresql/*/bin: install them with "
       "`apt-get install -y postgresql` (Debian/Ubuntu), or run `make test` as root, which does")


@dataclass
class Postgres:
    port: int
    user: str

    def url(self) -> str:
        return f"postgresql+psycopg2://{self.user}@127.0.0.1:{self.port}/postgres"

    def execute(self, sql: str) -> None:
        import psycopg2

        con = psycopg2.connect(host="127.0.0.1", port=self.port, user=self.user, password=PASSWORD,
                               dbname="postgres")
        try:
            with con, con.cursor() as cur:
                cur.execute(sql)
        finally:
            con.close()


def _bindir() -> Path | None:
    """Debian's newest server binaries, else an ``initdb`` on the PATH (e.g. conda's)."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(p.split("/")[4]))
    if found:
        return Path(found[-1]).parent
    on_path = shutil.which("initdb")
    return Path(on_path).parent if on_path else None


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="module")
def postgres() -> Iterator[Postgres]:
    bindir = _bindir()
    if bindir is None:
        if os.environ.get("CI"):
            pytest.fail(HOW + " (CI is set: these tests must run)")
        pytest.skip(HOW)
    folder = Path(tempfile.mkdtemp(prefix="spm-pg-"))
    data, log, pwfile = folder / "data", folder / "server.log", folder / "pw"
    pwfile.write_text(PASSWORD + "\n")
    prefix: list[str] = []
    if os.geteuid() == 0:  # PostgreSQL will not run as root: run it as an unprivileged user
        runner = next((u for u in ("postgres", "nobody") if _has_user(u)), None)
        if runner is None:
            pytest.fail("running as root, but neither a 'postgres' nor a 'nobody' user exists to run PostgreSQL")
        entry = pwd.getpwnam(runner)
        for path in (folder, pwfile):
            os.chown(path, entry.pw_uid, entry.pw_gid)
        prefix = ["runuser", "-u", runner, "--"]
    port = _free_port()
    run = lambda *cmd: subprocess.run([*prefix, *cmd], check=True, capture_output=True, text=True)  # noqa: E731
    run(str(bindir / "initdb"), "-D", str(data), "-U", "spm", f"--pwfile={pwfile}", "--auth-host=scram-sha-256",
        "--auth-local=trust", "-E", "UTF8", "--no-sync")
    run(str(bindir / "pg_ctl"), "-D", str(data), "-l", str(log), "-w", "-t", "60", "-o",
        f"-p {port} -k {folder} -c listen_addresses=127.0.0.1 -c fsync=off", "start")
    try:
        yield Postgres(port, "spm")
    finally:
        subprocess.run([*prefix, str(bindir / "pg_ctl"), "-D", str(data), "-m", "fast", "-w", "stop"],
                       capture_output=True)
        shutil.rmtree(folder, ignore_errors=True)


def _has_user(name: str) -> bool:
    try:
        pwd.getpwnam(name)
        return True
    except KeyError:
        return False


@pytest.fixture
def crm(postgres: Postgres) -> Postgres:
    postgres.execute("""
        DROP SCHEMA IF EXISTS crm CASCADE;
        CREATE SCHEMA crm;
        CREATE TABLE crm.reps (rep_id text PRIMARY KEY, full_name text NOT NULL, hired date NOT NULL);
        INSERT INTO crm.reps VALUES ('R1', 'Ann', '2020-01-06'), ('R2', 'Bob', '2021-02-01');
        CREATE TABLE crm.deals (deal_id text PRIMARY KEY, rep_id text, amount numeric(18,2), currency char(3),
                                stage text, created timestamptz, closed date, won boolean,
                                updated_at timestamp NOT NULL, is_deleted boolean NOT NULL DEFAULT false);
        INSERT INTO crm.deals VALUES
          ('D1', 'R1', 1000.10, 'USD', 'Won', '2024-01-02 09:30+00', '2024-02-01', true, '2024-03-01 10:00', false),
          ('D2', 'R2', 1234567890123456.78, 'EUR', 'Won', '2024-01-03 12:00+00', '2024-02-02', true, '2024-03-01 11:00', false),
          ('D3', 'R2', 10.00, 'XYZ', 'Open', '2024-01-04 12:00+00', NULL, false, '2024-03-01 12:00', false);
    """)
    return postgres


def settings(pg: Postgres) -> dict[str, Any]:
    return {"type": "sql", "url": pg.url(), "tables": {
        "payees": {"table": "crm.reps", "id": "rep_id", "fields": {"payee_id": "rep_id", "name": "full_name",
                                                                   "hire_date": "hired"},
                   "defaults": {"role": "rep", "currency": "USD"}},
        "opportunities": {"table": "crm.deals", "id": "deal_id", "updated_column": "updated_at",
                          "deleted_column": "is_deleted",
                          "fields": {"opportunity_id": "deal_id", "owner_id": "rep_id", "amount": "amount",
                                     "currency": "currency", "stage": "stage", "created_date": "created",
                                     "close_date": "closed", "is_closed": "won", "is_won": "won"}}}}


@pytest.fixture
def ws(spm_workspace: Any, crm: Postgres, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Any:
    monkeypatch.setenv("SPM_CREDENTIALS", str(tmp_path / "none.yaml"))
    monkeypatch.setenv("SPM_WAREHOUSE_PASSWORD", PASSWORD)
    (spm_workspace.path / "sources.yaml").write_text(yaml.safe_dump({"warehouse": settings(crm)}), "utf-8")
    return spm_workspace


def run(ws: Any, **kw: Any) -> Any:
    return configured_source(ws, "warehouse").sync(ws, progress=False, **kw)


def test_postgres_full_then_incremental_sync(ws, crm):
    assert configured_source(ws, "warehouse").check() == f"connected to {crm.url()}"
    first = run(ws)
    assert first.counts["opportunities"].inserted == 2 and first.counts["opportunities"].rejected == 1
    opps = ws.table("opportunities").set_index("opportunity_id")
    assert opps.loc["D2", "amount"] == Decimal("1234567890123456.78")  # NUMERIC arrives exact
    assert str(opps.loc["D1", "created_date"]) == "2024-01-02" and str(opps.loc["D1", "close_date"]) == "2024-02-01"
    assert list_rejects(ws)[["source_id", "field", "value"]].values.tolist() == [["D3", "currency", "XYZ"]]
    crm.execute("""
        UPDATE crm.deals SET amount = 1100.00, updated_at = '2024-03-02 08:00' WHERE deal_id = 'D1';
        UPDATE crm.deals SET is_deleted = true, updated_at = '2024-03-02 08:00' WHERE deal_id = 'D2';
        INSERT INTO crm.deals VALUES ('D4', 'R1', 0.01, 'USD', 'Won', '2024-03-01 12:00+00', '2024-03-02', true,
                                      '2024-03-02 09:00', false);
    """)
    second = run(ws)
    opp = second.counts["opportunities"]
    assert (opp.inserted, opp.updated, opp.deleted) == (1, 1, 1)
    amounts = ws.table("opportunities").set_index("opportunity_id")["amount"].to_dict()
    assert amounts == {"D1": Decimal("1100.00"), "D4": Decimal("0.01")}
    assert list(list_rejects(ws)["source_id"]) == ["D3"]  # still quarantined, offered again


def test_postgres_wrong_password_is_a_clear_error_that_writes_nothing(ws, monkeypatch):
    monkeypatch.setenv("SPM_WAREHOUSE_PASSWORD", "wrong-password")
    with pytest.raises(SourceError, match='password authentication failed for user "spm"') as failure:
        configured_source(ws, "warehouse").check()
    assert "wrong-password" not in str(failure.value)
    with pytest.raises(SourceError, match="password authentication failed"):
        run(ws)
    assert ws.count("payees") == 0 and ws.count("opportunities") == 0


def test_postgres_unreachable_server(ws, crm):
    closed = _free_port()
    entry = settings(crm) | {"url": f"postgresql+psycopg2://spm@127.0.0.1:{closed}/postgres", "connect_timeout": 2}
    (ws.path / "sources.yaml").write_text(yaml.safe_dump({"warehouse": entry}), "utf-8")
    with pytest.raises(SourceError, match=f"cannot reach postgresql\\+psycopg2://spm@127.0.0.1:{closed}/postgres"):
        configured_source(ws, "warehouse").check()
