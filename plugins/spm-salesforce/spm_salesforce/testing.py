"""A local Salesforce REST API for tests and benchmarks: real HTTP(S) on 127.0.0.1.

It answers the documented shapes of the REST query resources, so the real
``simple_salesforce`` client can be pointed at it:

* ``GET /services/data/vXX.X/query/?q=SOQL`` (and ``/queryAll/``, which includes records
  with ``IsDeleted = true``) -> ``{"totalSize", "done", "nextRecordsUrl"?, "records"}``;
  records carry ``attributes`` ``{type, url}`` and related records as nested objects;
* ``GET /services/data/vXX.X/query/<locator>-<offset>`` -> the next page (``queryMore``);
* errors as Salesforce sends them: a JSON list ``[{"message", "errorCode"}]``, e.g. 401
  ``INVALID_SESSION_ID``, 403 ``REQUEST_LIMIT_EXCEEDED``, 503 ``SERVER_UNAVAILABLE``.

The SOQL understood is what a sync sends: ``SELECT f, Rel.f FROM Object [WHERE c AND c ...]
[ORDER BY f] [LIMIT n]`` with conditions ``Field op value`` (op ``=``, ``>=``, ``>``, ``<``, ``<=``,
``!=``; a quoted string, a number, true/false or a datetime literal) and ``Field IN ('a', ...)``.

Faults are scripted with :meth:`FakeSalesforce.fail` (status and body for the next N
requests matching a path fragment) and :meth:`FakeSalesforce.drop` (close the connection
without answering).
"""

from __future__ import annotations

import itertools
import json
import re
import ssl
import threading
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, unquote_plus, urlparse

API = "59.0"
_COND = re.compile(r"^\s*([\w.]+)\s*(>=|<=|!=|=|>|<)\s*(.+?)\s*$", re.S)
_IN = re.compile(r"^\s*([\w.]+)\s+IN\s*\((.*)\)\s*$", re.S | re.I)


@dataclass
class _Fault:
    fragment: str
    remaining: int
    status: int = 0
    body: Any = None
    headers: dict[str, str] | None = None
    drop: bool = False


def _literal(text: str) -> Any:
    text = text.strip()
    if text.startswith("'"):
        return text[1:-1].replace("\\'", "'")
    if text.lower() in ("true", "false"):
        return text.lower() == "true"
    if text.lower() == "null":
        return None
    if re.match(r"^\d{4}-\d{2}-\d{2}T", text):
        return _norm_time(text)
    if re.match(r"^\d{4}-\d{2}-\d{2}$", text):
        return text
    return float(text)


def _norm_time(text: str) -> str:
    """A datetime as a sortable 'YYYY-MM-DDTHH:MM:SS.ffffff' (UTC)."""
    text = text.replace("+0000", "Z").replace("+00:00", "Z").rstrip("Z")
    if "." not in text:
        text += ".0"
    head, frac = text.split(".")
    return f"{head}.{frac:0<6}"


_NORMALISED: dict[str, str] = {}


def _compare(value: Any, op: str, target: Any) -> bool:
    if isinstance(target, str) and isinstance(value, str) and len(value) > 10 and value[10] == "T":
        norm = _NORMALISED.get(value)
        if norm is None:
            norm = _NORMALISED[value] = _norm_time(value)
        value = norm
    if value is None:
        return op == "=" and target is None or op == "!=" and target is not None
    try:
        return {"=": value == target, "!=": value != target, ">=": value >= target, ">": value > target,
                "<=": value <= target, "<": value < target}[op]
    except TypeError:
        return False


def parse_soql(soql: str) -> tuple[list[str], str, list[tuple[str, str, Any]], str | None, int | None]:
    """(fields, object, conditions, order by, limit) of a simple SOQL query."""
    m = re.match(r"^\s*SELECT\s+(.+?)\s+FROM\s+(\w+)(?:\s+WHERE\s+(.+?))?(?:\s+ORDER\s+BY\s+([\w.]+)(?:\s+ASC)?)?(?:\s+LIMIT\s+(\d+))?\s*$",
                 soql, re.S | re.I)
    if not m:
        raise ValueError(f"unsupported SOQL: {soql}")
    fields = [f.strip() for f in m.group(1).split(",")]
    conditions = []
    if m.group(3):
        for part in re.split(r"\s+AND\s+", m.group(3), flags=re.I):
            inm = _IN.match(part)
            if inm:
                values = [_literal(v) for v in re.findall(r"'(?:[^'\\]|\\.)*'|[^,\s]+", inm.group(2))]
                conditions.append((inm.group(1), "IN", values))
                continue
            cm = _COND.match(part)
            if not cm:
                raise ValueError(f"unsupported SOQL condition: {part}")
            conditions.append((cm.group(1), cm.group(2), _literal(cm.group(3))))
    return fields, m.group(2), conditions, m.group(4), int(m.group(5)) if m.group(5) else None


class FakeSalesforce:
    """An in-memory org served over HTTP(S). ``records[object]`` holds flat dicts (dotted
    keys for related fields, e.g. ``"UserRole.Name"``); ``Id`` and ``SystemModstamp`` are
    expected on every record, ``IsDeleted`` where the object has it."""

    def __init__(self, records: dict[str, list[dict[str, Any]]] | None = None, token: str = "test-token",
                 batch_size: int = 2000, ssl_context: ssl.SSLContext | None = None) -> None:
        self.records: dict[str, list[dict[str, Any]]] = {k: list(v) for k, v in (records or {}).items()}
        self.token = token
        self.batch_size = batch_size
        self.requests: list[str] = []  # every request path, decoded (``?q=SELECT Id FROM ...``)
        self.queries: list[tuple[str, str]] = []  # (query or queryAll, SOQL) of each new query
        self.pages_served = 0
        self.faults: list[_Fault] = []
        self._cursors: dict[str, list[dict[str, Any]]] = {}
        self._indexes: dict[tuple[str, str], tuple[Any, dict[Any, list[dict[str, Any]]]]] = {}
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        if ssl_context is not None:
            self._server.socket = ssl_context.wrap_socket(self._server.socket, server_side=True)
        self.scheme = "https" if ssl_context is not None else "http"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    # ---- lifecycle ----
    @property
    def port(self) -> int:
        return self._server.server_address[1]

    @property
    def instance_url(self) -> str:
        return f"{self.scheme}://127.0.0.1:{self.port}"

    def start(self) -> FakeSalesforce:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> FakeSalesforce:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # ---- scripting ----
    def fail(self, status: int, body: Any, times: int = 1, path: str = "",
             headers: dict[str, str] | None = None) -> None:
        """Answer the next ``times`` requests whose decoded path (``/services/data/v59.0/query/?q=
        SELECT ...``) contains ``path`` with an error."""
        self.faults.append(_Fault(path, times, status, body, headers))

    def drop(self, times: int = 1, path: str = "") -> None:
        """Close the connection, without an answer, on the next ``times`` matching requests."""
        self.faults.append(_Fault(path, times, drop=True))

    def upsert(self, obj: str, record: dict[str, Any]) -> None:
        rows = self.records.setdefault(obj, [])
        for i, old in enumerate(rows):
            if old["Id"] == record["Id"]:
                rows[i] = {**old, **record}
                return
        rows.append(record)

    # ---- serving ----
    def _fault_for(self, path: str) -> _Fault | None:
        with self._lock:
            for fault in self.faults:
                if fault.remaining > 0 and fault.fragment in path:
                    fault.remaining -= 1
                    return fault
        return None

    def run_query(self, soql: str, include_deleted: bool) -> list[dict[str, Any]]:
        fields, obj, conditions, order, limit = parse_soql(soql)
        if obj not in self.records:
            raise LookupError(obj)
        conditions = [(f, op, frozenset(t) if op == "IN" else t) for f, op, t in conditions]
        candidates = self.records[obj]
        for field, op, target in conditions:
            if op == "IN":  # look the ids up in an index instead of scanning every record
                index = self._index(obj, field)
                candidates = [r for v in target for r in index.get(v, ())]
                break
        out = []
        for rec in candidates:
            if not include_deleted and rec.get("IsDeleted"):
                continue
            ok = True
            for field, op, target in conditions:
                value = rec.get(field)
                if op == "IN":
                    ok = value in target
                else:
                    ok = _compare(value, op, target)
                if not ok:
                    break
            if ok:
                out.append(rec)
        if order:
            out.sort(key=lambda r: (r.get(order) is None, str(r.get(order))))
        return [self._shape(obj, rec, fields) for rec in out[:limit]]

    def _shape(self, obj: str, rec: dict[str, Any], fields: Iterable[str]) -> dict[str, Any]:
        out: dict[str, Any] = {"attributes": {"type": obj, "url": f"/services/data/v{API}/sobjects/{obj}/{rec['Id']}"}}
        for field in fields:
            if "." in field:
                rel, sub = field.split(".", 1)
                if rel not in out or out[rel] is None:
                    present = any(k.startswith(rel + ".") and rec.get(k) is not None for k in rec)
                    out[rel] = {"attributes": {"type": rel}} if present else None
                if out[rel] is not None:
                    out[rel][sub] = rec.get(field)
            else:
                out[field] = rec.get(field)
        return out

    def prepare_times(self, field: str = "SystemModstamp") -> None:
        """Normalise every ``field`` time once, ahead of the first query that compares them
        (a benchmark calls this so that no timed query pays for it)."""
        for rows in self.records.values():
            for rec in rows:
                value = rec.get(field)
                if isinstance(value, str) and value not in _NORMALISED:
                    _NORMALISED[value] = _norm_time(value)

    def prepare_index(self, obj: str, field: str) -> None:
        """Build the lookup index of ``obj`` by ``field`` (what ``field IN (...)`` queries use)
        now, ahead of the first such query (a benchmark calls this so that no timed query
        pays for the server's own bookkeeping)."""
        self._index(obj, field)

    def _index(self, obj: str, field: str) -> dict[Any, list[dict[str, Any]]]:
        """Records of ``obj`` by the value of ``field``, rebuilt when records are added or
        removed (an in-place change of ``field`` itself needs a new FakeSalesforce)."""
        rows = self.records[obj]
        key = (obj, field, id(rows), len(rows))
        cached = self._indexes.get((obj, field))
        if cached is None or cached[0] != key:
            index: dict[Any, list[dict[str, Any]]] = {}
            for rec in rows:
                index.setdefault(rec.get(field), []).append(rec)
            cached = self._indexes[(obj, field)] = (key, index)
        return cached[1]

    def _page(self, locator: str, offset: int) -> dict[str, Any]:
        rows = self._cursors[locator]
        end = offset + self.batch_size
        page: dict[str, Any] = {"totalSize": len(rows), "done": end >= len(rows), "records": rows[offset:end]}
        if end < len(rows):
            page["nextRecordsUrl"] = f"/services/data/v{API}/query/{locator}-{end}"
        else:
            self._cursors.pop(locator, None)
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
                self.send_header("Content-Type", "application/json;charset=UTF-8")
                self.send_header("Content-Length", str(len(data)))
                for k, v in (headers or {}).items():
                    self.send_header(k, v)
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self) -> None:  # noqa: N802
                decoded = unquote_plus(self.path)
                fake.requests.append(decoded)
                fault = fake._fault_for(decoded)
                if fault is not None and fault.drop:
                    self.close_connection = True
                    self.connection.close()
                    return
                if fault is not None:
                    self._send(fault.status, fault.body, fault.headers)
                    return
                if self.headers.get("Authorization") != f"Bearer {fake.token}":
                    self._send(401, [{"message": "Session expired or invalid", "errorCode": "INVALID_SESSION_ID"}])
                    return
                url = urlparse(self.path)
                m = re.match(rf"^/services/data/v{re.escape(API)}/(query|queryAll)/([^/]*)$", url.path)
                if not m:
                    self._send(404, [{"message": "The requested resource does not exist", "errorCode": "NOT_FOUND"}])
                    return
                if m.group(2):
                    locator, _, offset = m.group(2).rpartition("-")
                    if locator not in fake._cursors:
                        self._send(400, [{"message": "invalid query locator", "errorCode": "INVALID_QUERY_LOCATOR"}])
                        return
                    fake.pages_served += 1
                    self._send(200, fake._page(locator, int(offset)))
                    return
                soql = parse_qs(url.query).get("q", [""])[0]
                try:
                    rows = fake.run_query(soql, include_deleted=m.group(1) == "queryAll")
                except LookupError as exc:
                    self._send(400, [{"message": f"sObject type '{exc.args[0]}' is not supported.",
                                      "errorCode": "INVALID_TYPE"}])
                    return
                except ValueError as exc:
                    self._send(400, [{"message": str(exc), "errorCode": "MALFORMED_QUERY"}])
                    return
                fake.queries.append((m.group(1), soql))
                fake.pages_served += 1
                locator = uuid.uuid4().hex[:15] + next(_counter)
                fake._cursors[locator] = rows
                self._send(200, fake._page(locator, 0))

        return Handler


_counter = (f"{i:03d}" for i in itertools.count())
