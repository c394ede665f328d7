"""A local HubSpot CRM API for tests: real HTTP on 127.0.0.1, answering the documented v3/v4
shapes so the real ``hubspot-api-client`` can be pointed at it (``host=``).

* ``GET /crm/v3/owners/`` -> ``{"results": [...], "paging": {"next": {"after", "link"}}}``
* ``GET /crm/v3/pipelines/deals`` -> ``{"results": [pipeline with stages]}``
* ``GET /crm/v3/objects/{companies,deals}?limit&after&properties&associations&archived``
* ``POST /crm/v3/objects/{companies,deals}/search`` -> ``{"total", "results", "paging"?}``
  (filters ``GTE``/``GT``/``LTE``/``LT``/``EQ`` on properties, one sort)
* ``POST /crm/v4/associations/deals/companies/batch/read``
* errors as HubSpot sends them: ``{"status": "error", "message", "correlationId",
  "category"}`` (401 ``INVALID_AUTHENTICATION``, 429 ``RATE_LIMITS`` with ``Retry-After``).
"""

from __future__ import annotations

import json
import threading
import uuid
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlparse


@dataclass
class _Fault:
    fragment: str
    remaining: int
    status: int = 0
    body: Any = None
    headers: dict[str, str] | None = None
    drop: bool = False


def error(status: int, message: str, category: str) -> dict[str, Any]:
    return {"status": "error", "message": message, "correlationId": str(uuid.uuid4()), "category": category}


class FakeHubSpot:
    """``owners``: owner dicts as the API returns them; ``pipelines``: pipeline dicts;
    ``objects["deals" | "companies"]``: dicts with ``id``, ``properties`` (strings),
    ``createdAt``, ``updatedAt``, ``archived`` (and ``archivedAt``), and for deals
    ``companies`` (associated company ids)."""

    def __init__(self, owners: list[dict[str, Any]], pipelines: list[dict[str, Any]],
                 objects: dict[str, list[dict[str, Any]]], token: str = "pat-test", page_size: int | None = None) -> None:
        self.owners = owners
        self.pipelines = pipelines
        self.objects = objects
        self.token = token
        self.page_size = page_size  # caps every page (to test paging with small data)
        self.requests: list[tuple[str, str, Any]] = []
        self.faults: list[_Fault] = []
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def __enter__(self) -> FakeHubSpot:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()

    def fail(self, status: int, body: Any, times: int = 1, path: str = "", headers: dict[str, str] | None = None) -> None:
        self.faults.append(_Fault(path, times, status, body, headers))

    def drop(self, times: int = 1, path: str = "") -> None:
        self.faults.append(_Fault(path, times, drop=True))

    def _fault_for(self, path: str) -> _Fault | None:
        with self._lock:
            for fault in self.faults:
                if fault.remaining > 0 and fault.fragment in path:
                    fault.remaining -= 1
                    return fault
        return None

    def _paged(self, rows: list[Any], limit: int, after: str | None, path: str) -> dict[str, Any]:
        limit = min(limit, self.page_size or limit)
        start = int(after or 0)
        out: dict[str, Any] = {"results": rows[start:start + limit]}
        if start + limit < len(rows):
            nxt = str(start + limit)
            out["paging"] = {"next": {"after": nxt, "link": f"{self.url}{path}?after={nxt}"}}
        return out

    def _object(self, kind: str, rec: dict[str, Any], properties: list[str], associations: list[str]) -> dict[str, Any]:
        out = {"id": rec["id"], "properties": {p: rec["properties"].get(p) for p in properties},
               "createdAt": rec["createdAt"], "updatedAt": rec["updatedAt"], "archived": rec.get("archived", False)}
        out["properties"]["hs_object_id"] = rec["id"]
        if rec.get("archived"):
            out["archivedAt"] = rec.get("archivedAt")
        if "companies" in associations and rec.get("companies"):
            out["associations"] = {"companies": {"results": [
                {"id": c, "type": "deal_to_company"} for c in rec["companies"]]}}
        return out

    def _search(self, kind: str, body: dict[str, Any]) -> dict[str, Any]:
        rows = [r for r in self.objects[kind] if not r.get("archived")]
        for group in body.get("filterGroups") or []:
            for f in group.get("filters") or []:
                prop, op, value = f["propertyName"], f["operator"], f.get("value")

                def ok(r: dict[str, Any], prop: str = prop, op: str = op, value: Any = value) -> bool:
                    have = r["properties"].get(prop)
                    if have is None:
                        return False
                    a, b = (_ms(have), _ms(value)) if prop.startswith(("hs_lastmodifieddate", "createdate")) else (have, value)
                    return {"GTE": a >= b, "GT": a > b, "LTE": a <= b, "LT": a < b, "EQ": a == b}[op]
                rows = [r for r in rows if ok(r)]
        for sort in body.get("sorts") or []:
            prop = sort if isinstance(sort, str) else sort.get("propertyName")
            rows = sorted(rows, key=lambda r, p=prop: _ms(r["properties"].get(p) or "0"))
        props = body.get("properties") or []
        page = self._paged([self._object(kind, r, props, []) for r in rows], int(body.get("limit") or 10),
                           body.get("after"), f"/crm/v3/objects/{kind}/search")
        page["total"] = len(rows)
        return page

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def _send(self, status: int, body: Any, headers: dict[str, str] | None = None) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json;charset=utf-8")
                self.send_header("Content-Length", str(len(data)))
                for k, v in (headers or {}).items():
                    self.send_header(k, v)
                self.end_headers()
                self.wfile.write(data)

            def _handle(self, method: str) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = json.loads(self.rfile.read(length)) if length else None
                fake.requests.append((method, self.path, body))
                fault = fake._fault_for(f"{method} {self.path}")
                if fault is not None and fault.drop:
                    self.close_connection = True
                    self.connection.close()
                    return
                if fault is not None:
                    self._send(fault.status, fault.body, fault.headers)
                    return
                if self.headers.get("Authorization") != f"Bearer {fake.token}":
                    self._send(401, error(401, "Authentication credentials not found. This API supports OAuth 2.0 "
                                              "authentication and you can find more details at "
                                              "https://developers.hubspot.com/docs/methods/auth/oauth-overview",
                                          "INVALID_AUTHENTICATION"))
                    return
                url = urlparse(self.path)
                qs = parse_qs(url.query)
                limit = int(qs.get("limit", ["100"])[0])
                after = qs.get("after", [None])[0]
                archived = qs.get("archived", ["false"])[0].lower() == "true"
                parts = url.path.rstrip("/").split("/")
                if url.path.rstrip("/") == "/crm/v3/owners" and method == "GET":
                    rows = [o for o in fake.owners if bool(o.get("archived")) == archived]
                    self._send(200, fake._paged(rows, limit, after, "/crm/v3/owners/"))
                elif url.path.rstrip("/") == "/crm/v3/pipelines/deals":
                    self._send(200, {"results": fake.pipelines})
                elif len(parts) == 5 and parts[3] == "objects" and method == "GET":
                    kind = parts[4]
                    props = ",".join(qs.get("properties", [])).split(",")
                    assoc = ",".join(qs.get("associations", [])).split(",")
                    rows = [fake._object(kind, r, [p for p in props if p], assoc)
                            for r in fake.objects[kind] if bool(r.get("archived")) == archived]
                    self._send(200, fake._paged(rows, limit, after, f"/crm/v3/objects/{kind}"))
                elif len(parts) == 6 and parts[5] == "search" and method == "POST":
                    self._send(200, fake._search(parts[4], body or {}))
                elif url.path == "/crm/v4/associations/deals/companies/batch/read" and method == "POST":
                    wanted = {i["id"] for i in (body or {}).get("inputs", [])}
                    results = [{"from": {"id": d["id"]},
                                "to": [{"toObjectId": int(c), "associationTypes": [
                                    {"category": "HUBSPOT_DEFINED", "typeId": 5, "label": "Primary"}]}
                                       for c in d.get("companies") or []]}
                               for d in fake.objects["deals"] if d["id"] in wanted and d.get("companies")]
                    self._send(200, {"status": "COMPLETE", "results": results,
                                     "startedAt": "2024-01-01T00:00:00Z", "completedAt": "2024-01-01T00:00:01Z"})
                else:
                    self._send(404, error(404, f"no route for {method} {url.path}", "OBJECT_NOT_FOUND"))

            def do_GET(self) -> None:  # noqa: N802
                self._handle("GET")

            def do_POST(self) -> None:  # noqa: N802
                self._handle("POST")

        return Handler


def _ms(value: str) -> float:
    """A HubSpot time (ISO 8601 or epoch milliseconds) in epoch milliseconds."""
    text = str(value)
    if text.isdigit():
        return float(text)
    from datetime import datetime
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp() * 1000
