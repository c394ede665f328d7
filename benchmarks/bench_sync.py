"""Benchmark: a full Salesforce sync of 100,000 opportunities with their stage history, and
an incremental sync of 1,000 changes, from a local HTTPS Salesforce in another process.

Each is shown beside the time the client library alone (simple_salesforce ``query`` +
``query_more``, money parsed as Decimal) needs to page through the same records: the ratio
is what the sync adds (mapping, validation, the DuckDB transaction). Targets: full sync
under 60 s, incremental under 5 s. The last line is JSON.

    python benchmarks/bench_sync.py            # 100,000 deals, 1,000 changes
    python benchmarks/bench_sync.py --quick    # 10,000 deals, 1,000 changes
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import ssl
import sys
import tempfile
import time
from decimal import Decimal
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
FULL_TARGET, INCREMENTAL_TARGET = 60.0, 5.0
TOKEN = "bench-token"
STAGES = ["Prospecting", "Qualification", "Negotiation", "Closed Won"]


def org(n_deals: int) -> dict[str, list[dict[str, Any]]]:
    """A deterministic org: 200 users under 20 managers, n/20 accounts, n deals each with 3
    stage-history rows."""
    def stamp(i: int) -> str:  # each record last modified at its own second of 2024-03-01/02
        return f"2024-03-0{1 + i // 86400}T{i // 3600 % 24:02d}:{i // 60 % 60:02d}:{i % 60:02d}.000+0000"
    users = [{"Id": f"005{i:05d}", "Name": f"User {i}", "Email": f"u{i}@example.com",
              "ManagerId": None if i < 20 else f"005{i % 20:05d}", "CreatedDate": "2020-01-06T09:00:00.000+0000",
              "UserType": "Standard", "SystemModstamp": stamp(i)} for i in range(200)]
    accounts = [{"Id": f"001{i:07d}", "Name": f"Account {i}", "Industry": "Retail", "OwnerId": f"005{20 + i % 180:05d}",
                 "IsDeleted": False, "SystemModstamp": stamp(i)} for i in range(max(1, n_deals // 20))]
    deals, history = [], []
    for i in range(n_deals):
        day = 1 + i % 28
        won = i % 3 == 0
        deals.append({"Id": f"006{i:07d}", "AccountId": f"001{i % len(accounts):07d}", "OwnerId": f"005{20 + i % 180:05d}",
                      "Name": f"Deal {i}", "Amount": float(Decimal(1000 + i % 50000) + Decimal(i % 100) / 100),
                      "StageName": "Closed Won" if won else "Negotiation", "CreatedDate": f"2024-01-{day:02d}T12:00:00.000+0000",
                      "CloseDate": f"2024-02-{day:02d}", "IsClosed": won, "IsWon": won, "Type": "New Customer",
                      "IsDeleted": False, "SystemModstamp": stamp(i)})
        for k, stage in enumerate(STAGES[: 4 if won else 3]):
            history.append({"Id": f"008{i:07d}{k}", "OpportunityId": f"006{i:07d}", "StageName": stage,
                                "CreatedDate": f"2024-01-{day:02d}T1{k}:00:00.000+0000", "IsDeleted": False,
                                "SystemModstamp": stamp(i)})
    return {"User": users, "Account": accounts, "Opportunity": deals, "OpportunityHistory": history}


def serve(n_deals: int, cert_pem: bytes, key_pem: bytes, conn: Any) -> None:
    """The server process: build the org, serve it, apply changes on command."""
    sys.path.insert(0, str(ROOT / "plugins" / "spm-salesforce"))
    from spm_salesforce.testing import FakeSalesforce

    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    folder = Path(tempfile.mkdtemp())
    (folder / "cert.pem").write_bytes(cert_pem + key_pem)
    context.load_cert_chain(str(folder / "cert.pem"))
    fake = FakeSalesforce(org(n_deals), token=TOKEN, batch_size=2000, ssl_context=context).start()
    fake.prepare_times()  # the server's own bookkeeping, outside every timed run
    fake.prepare_index("OpportunityHistory", "OpportunityId")
    conn.send(fake.port)
    while True:
        command = conn.recv()
        if command == "stop":
            fake.stop()
            conn.send("stopped")
            return
        n_changes = int(command)
        stamp = "2024-03-05T00:00:00.000+0000"
        deals = fake.records["Opportunity"]
        step = max(1, len(deals) // n_changes)
        for j, deal in enumerate(deals[::step][:n_changes]):
            deal.update({"Amount": deal["Amount"] + 1.0, "SystemModstamp": stamp})
            if j % 2 == 0:  # half of them also moved to a new stage
                deal.update({"StageName": "Closed Won", "IsClosed": True, "IsWon": True})
                fake.records["OpportunityHistory"].append(
                    {"Id": f"008{deal['Id'][3:]}9", "OpportunityId": deal["Id"], "StageName": "Closed Won",
                     "CreatedDate": "2024-03-05T00:00:00.000+0000", "IsDeleted": False, "SystemModstamp": stamp})
        fake.prepare_times()
        fake.prepare_index("OpportunityHistory", "OpportunityId")  # rows were added: index them now
        conn.send("changed")


def client_only(url: str, ca_bundle: str, queries: list[tuple[str, bool]]) -> tuple[float, int]:
    """The client library alone paging through the given queries (money as Decimal)."""
    from simple_salesforce import Salesforce

    from spm_salesforce.source import _PinnedCASession

    sf = Salesforce(instance_url=url, session_id=TOKEN, session=_PinnedCASession(Path(ca_bundle)),
                    parse_float=Decimal, object_pairs_hook=dict)
    started, n = time.perf_counter(), 0
    for soql, include_deleted in queries:
        page = sf.query(soql, include_deleted=include_deleted)
        while True:
            n += len(page["records"])
            if page["done"]:
                break
            page = sf.query_more(page["nextRecordsUrl"], identifier_is_url=True)
    return time.perf_counter() - started, n


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="10,000 deals instead of 100,000")
    parser.add_argument("--deals", type=int, default=None)
    parser.add_argument("--changes", type=int, default=1000)
    args = parser.parse_args()
    n_deals = args.deals or (10_000 if args.quick else 100_000)

    import trustme
    import yaml

    import spm_kernel
    from spm_kernel.sync import configured_source

    ca = trustme.CA()
    cert = ca.issue_cert("127.0.0.1")
    work = Path(tempfile.mkdtemp(prefix="bench-sync-"))
    ca_bundle = work / "ca.pem"
    ca.cert_pem.write_to_path(str(ca_bundle))
    parent, child = mp.Pipe()
    server = mp.get_context("spawn").Process(
        target=serve, args=(n_deals, b"".join(b.bytes() for b in cert.cert_chain_pems), cert.private_key_pem.bytes(), child),
        daemon=True)
    server.start()
    port = parent.recv()
    url = f"https://127.0.0.1:{port}"
    os.environ["SPM_SALESFORCE_ACCESS_TOKEN"] = TOKEN
    ws = spm_kernel.open(work / "ws")
    (ws.path / "sources.yaml").write_text(yaml.safe_dump({"salesforce": {
        "instance_url": url, "ca_bundle": str(ca_bundle), "opportunity_splits": {"enabled": False}}}), "utf-8")
    source = configured_source(ws, "salesforce")
    rows = []

    started = time.perf_counter()
    full = source.sync(ws, progress=False)
    full_s = time.perf_counter() - started
    full_queries = [  # the queries the sync sends
                    ("SELECT Id, SystemModstamp, CreatedDate, Email, ManagerId, Name FROM User WHERE UserType = 'Standard'", False),
                    ("SELECT Id, SystemModstamp, IsDeleted, Industry, Name, OwnerId FROM Account", False),
                    ("SELECT Id, SystemModstamp, IsDeleted, AccountId, Amount, CloseDate, CreatedDate, IsClosed, IsWon, "
                     "Name, OwnerId, StageName, Type FROM Opportunity", False),
                    ("SELECT Id, SystemModstamp, IsDeleted, OpportunityId, StageName, CreatedDate FROM OpportunityHistory", False)]
    base_full_s, n_full = client_only(url, str(ca_bundle), full_queries)
    rows.append(("full sync", full.total("read"), n_full, full_s, base_full_s, FULL_TARGET))

    parent.send(str(args.changes))
    parent.recv()
    started = time.perf_counter()
    incremental = source.sync(ws, progress=False)
    inc_s = time.perf_counter() - started
    from spm_kernel.sync import iso_utc, parse_time
    marks = json.loads(ws.sql("SELECT since FROM sync_log ORDER BY started_at DESC LIMIT 1")["since"].iloc[0])
    changed = [d for d in ws.sql("SELECT opportunity_id FROM opportunities WHERE loaded_at = "
                                 "(SELECT max(loaded_at) FROM opportunities)")["opportunity_id"]]
    inc_queries = []
    for q, _ in full_queries:
        obj = q.split(" FROM ")[1].split()[0]
        mark = iso_utc(parse_time(marks[obj]))
        where = " AND " if " WHERE " in q else " WHERE "
        inc_queries.append((f"{q}{where}SystemModstamp >= {mark}", obj != "User"))
    history_ids = sorted(changed)
    for i in range(0, len(history_ids), 200):
        ids = ", ".join(f"'{d}'" for d in history_ids[i:i + 200])
        inc_queries.append((f"SELECT Id, SystemModstamp, OpportunityId, StageName, CreatedDate FROM OpportunityHistory "
                            f"WHERE OpportunityId IN ({ids})", False))
    base_inc_s, n_inc = client_only(url, str(ca_bundle), inc_queries)
    changes = incremental.counts["opportunities"].updated
    rows.append(("incremental sync", incremental.total("read"), n_inc, inc_s, base_inc_s, INCREMENTAL_TARGET))
    parent.send("stop")
    parent.recv()
    server.join(10)
    ws.close()

    load = os.getloadavg()[0]
    print(f"Salesforce sync benchmark: {n_deals:,} opportunities, {args.changes:,} changes "
          f"({'quick' if args.quick else 'full size'}); {os.cpu_count()} CPUs, load average {load:.1f}")
    print(f"{'run':<18}{'records':>10}{'client recs':>12}{'sync s':>9}{'client s':>10}{'ratio':>7}{'target s':>10}  ok")
    for name, n, nc, s, b, target in rows:
        print(f"{name:<18}{n:>10,}{nc:>12,}{s:>9.2f}{b:>10.2f}{s / b:>7.2f}{target:>10.0f}  {'yes' if s < target else 'NO'}")
    print(f"incremental: {changes} opportunities updated, "
          f"{incremental.counts['opportunity_stage_history'].inserted} stage entries added")
    print(json.dumps({"benchmark": "sync", "quick": args.quick, "deals": n_deals, "changes": args.changes,
                      "full_s": round(full_s, 3), "full_client_s": round(base_full_s, 3),
                      "full_ratio": round(full_s / base_full_s, 2), "full_records": full.total("read"),
                      "incremental_s": round(inc_s, 3), "incremental_client_s": round(base_inc_s, 3),
                      "incremental_ratio": round(inc_s / base_inc_s, 2), "incremental_updated": changes,
                      "full_ok": full_s < FULL_TARGET, "incremental_ok": inc_s < INCREMENTAL_TARGET,
                      "load_average": round(load, 2)}))


if __name__ == "__main__":
    main()
