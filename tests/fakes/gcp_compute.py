"""A local fake of the Compute Engine REST paths carbonplan uses, on 127.0.0.1.

It records every request (method, path, query, JSON body), keeps instances and zone
operations in memory (an operation is RUNNING until it is polled once; an accepted insert's
instance exists at once, PROVISIONING, and is RUNNING when its operation is DONE), honours requestId
like the real API, and injects errors: inside the operation (how ZONE_RESOURCE_POOL_EXHAUSTED
arrives) or synchronously as an HTTP error (how quota errors arrive); an operation that fails
but leaves its instance behind (``Fault(leave=True)``); operations that never finish
(``stuck``); failing lists, gets and deletes; and slow answers (``hold``: the request takes
effect, then the answer waits, as when the network or the API is slow).
"""

from __future__ import annotations

import itertools
import json
import re
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from fakes import QuietHandler, send, serve

BASE = "https://www.googleapis.com/compute/v1"
_ZONE_PATH = re.compile(r"^/compute/v1/projects/([^/]+)/zones/([^/]+)/(instances|operations)(.*)$")
_AGG_PATH = re.compile(r"^/compute/v1/projects/([^/]+)/aggregated/instances$")


@dataclass
class Fault:
    """Make inserts in ``zone`` (and of instance ``name``, if given) fail with ``code``:
    ``mode="operation"`` ends the operation in that error, ``"sync"`` answers HTTP ``status``."""

    zone: str
    code: str = "ZONE_RESOURCE_POOL_EXHAUSTED"
    message: str = "The zone does not have enough resources available to fulfill the request."
    mode: str = "operation"
    status: int = 503
    name: str | None = None
    machine: str | None = None  # only inserts of this machine type
    leave: bool = False  # the operation fails, yet the instance exists afterwards
    hits: int = 0


@dataclass
class FakeCompute:
    requests: list[dict[str, Any]] = field(default_factory=list)
    instances: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    operations: dict[str, dict[str, Any]] = field(default_factory=dict)
    faults: list[Fault] = field(default_factory=list)
    fail_delete: bool = False
    fail_list: int | None = None  # answer aggregatedList with this HTTP error status
    fail_get: int | None = None  # answer GET instance with this HTTP error status
    stuck: bool = False  # insert operations stay RUNNING however often they are polled
    # kind of request ("insert", "wait", ...) -> seconds to hold its answer, once; ``reached`` is
    # set when a held request has taken effect
    hold: dict[str, float] = field(default_factory=dict)
    reached: threading.Event = field(default_factory=threading.Event)
    server: ThreadingHTTPServer | None = None
    _ids: Any = field(default_factory=lambda: itertools.count(1000))
    _by_request_id: dict[str, str] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def url(self) -> str:
        assert self.server is not None
        host, port = self.server.server_address[:2]
        return f"http://{host}:{port}"

    def inserts(self) -> list[dict[str, Any]]:
        return [r for r in self.requests if r["method"] == "POST" and r["kind"] == "insert"]

    def mutating(self) -> list[str]:
        return [
            f"{r['method']} {r['path']}"
            for r in self.requests
            if r["method"] in ("POST", "DELETE") and r["kind"] in ("insert", "delete")
        ]

    # -- behaviour --------------------------------------------------------------------------
    def _operation(self, project: str, zone: str, kind: str, target: str, **extra: Any) -> dict:
        number = next(self._ids)
        op = {
            "kind": "compute#operation",
            "id": str(number),
            "name": f"operation-{number}",
            "operationType": kind,
            "zone": f"{BASE}/projects/{project}/zones/{zone}",
            "targetLink": f"{BASE}/projects/{project}/zones/{zone}/instances/{target}",
            "status": "RUNNING",
            "progress": 0,
            "selfLink": f"{BASE}/projects/{project}/zones/{zone}/operations/operation-{number}",
        }
        self.operations[op["name"]] = {"op": op, **extra}
        return op

    def _finish(self, name: str) -> dict[str, Any]:
        entry = self.operations[name]
        op = entry["op"]
        if op["status"] != "DONE" and not (self.stuck and op["operationType"] == "insert"):
            op["status"], op["progress"] = "DONE", 100
            fault = entry.get("fault")
            if fault is not None and fault.leave:
                key, instance = entry["leftover"]
                self.instances[key] = instance
            if fault is not None:
                op["error"] = {"errors": [{"code": fault.code, "message": fault.message}]}
                op["httpErrorStatusCode"] = 503
                op["httpErrorMessage"] = "SERVICE UNAVAILABLE"
            elif entry.get("create") is not None:
                key, instance = entry["create"]
                if self.instances.get(key) is instance:  # not deleted meanwhile
                    instance["status"] = "RUNNING"
            elif entry.get("delete") is not None:
                self.instances.pop(entry["delete"], None)
        return op

    def _insert(self, project: str, zone: str, query: dict, body: dict) -> tuple[int, dict]:
        request_id = (query.get("requestId") or [None])[0]
        if request_id and request_id in self._by_request_id:
            return 200, self.operations[self._by_request_id[request_id]]["op"]
        name = body["name"]
        for fault in self.faults:
            machine = body.get("machineType", "").rsplit("/", 1)[-1]
            if (
                fault.zone == zone
                and fault.name in (None, name)
                and fault.machine
                in (
                    None,
                    machine,
                )
            ):
                fault.hits += 1
                if fault.mode == "sync":
                    return fault.status, _error(
                        fault.status, fault.message, fault.code, "usageLimits"
                    )
                leftover = ((zone, name), self._instance(project, zone, name, body))
                return 200, self._operation(
                    project, zone, "insert", name, fault=fault, leftover=leftover
                )
        if (zone, name) in self.instances:
            return 409, _error(409, f"The resource '{name}' already exists", "alreadyExists")
        instance = self._instance(project, zone, name, body)
        instance["status"] = "PROVISIONING"
        self.instances[(zone, name)] = instance
        op = self._operation(project, zone, "insert", name, create=((zone, name), instance))
        if request_id:
            self._by_request_id[request_id] = op["name"]
        return 200, op

    def _instance(self, project: str, zone: str, name: str, body: dict) -> dict[str, Any]:
        return {
            **body,
            "kind": "compute#instance",
            "id": str(next(self._ids)),
            "zone": f"{BASE}/projects/{project}/zones/{zone}",
            "machineType": f"{BASE}/projects/{project}/{body['machineType']}",
            "status": "RUNNING",
            "creationTimestamp": datetime.now(UTC).isoformat(timespec="milliseconds"),
            "selfLink": f"{BASE}/projects/{project}/zones/{zone}/instances/{name}",
        }

    def _aggregated(self, project: str, query: dict) -> dict[str, Any]:
        wanted = (query.get("filter") or [""])[0]
        items: dict[str, Any] = {}
        for (zone, _), instance in sorted(self.instances.items()):
            if _matches(instance.get("labels", {}), wanted):
                items.setdefault(f"zones/{zone}", {"instances": []})["instances"].append(instance)
        return {"kind": "compute#instanceAggregatedList", "id": project, "items": items}

    def handle(self, method: str, raw_path: str, body: bytes) -> tuple[int, dict[str, Any]]:
        status, payload, kind = self._handle(method, raw_path, body)
        with self._lock:
            seconds = self.hold.pop(kind, 0.0)
        if seconds:  # it has taken effect; the answer is late
            self.reached.set()
            time.sleep(seconds)
        return status, payload

    def _handle(self, method: str, raw_path: str, body: bytes) -> tuple[int, dict, str]:
        record = self._record(method, raw_path, body)
        return (*self._answer(record), record["kind"])

    def _record(self, method: str, raw_path: str, body: bytes) -> dict[str, Any]:
        parts = urlsplit(raw_path)
        query = parse_qs(parts.query)
        data = json.loads(body) if body else None
        record: dict[str, Any] = {
            "method": method,
            "path": parts.path,
            "query": {k: v[0] for k, v in query.items()},
            "body": data,
            "kind": "other",
            "raw_query": query,
        }
        with self._lock:
            self.requests.append(record)
        return record

    def _answer(self, record: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        method, query, data = record["method"], record.pop("raw_query"), record["body"]
        parts = urlsplit(record["path"])
        with self._lock:
            match = _AGG_PATH.match(parts.path)
            if match and method == "GET":
                record["kind"] = "aggregatedList"
                if self.fail_list is not None:
                    return self.fail_list, _error(self.fail_list, "list failed", "backendError")
                return 200, self._aggregated(match.group(1), query)
            match = _ZONE_PATH.match(parts.path)
            if not match:
                return 404, _error(404, f"no such path {parts.path}", "notFound")
            project, zone, collection, rest = match.groups()
            if collection == "instances" and rest == "" and method == "POST":
                record["kind"] = "insert"
                return self._insert(project, zone, query, data or {})
            if collection == "instances" and rest.startswith("/"):
                name = rest[1:]
                if method == "GET" and self.fail_get is not None:
                    record["kind"] = "get"
                    return self.fail_get, _error(self.fail_get, "get failed", "backendError")
                if (zone, name) not in self.instances:
                    return 404, _error(404, f"The resource '{name}' was not found", "notFound")
                if method == "GET":
                    record["kind"] = "get"
                    return 200, self.instances[(zone, name)]
                if method == "DELETE":
                    record["kind"] = "delete"
                    if self.fail_delete:
                        return 403, _error(403, "Required 'compute.instances.delete'", "forbidden")
                    return 200, self._operation(project, zone, "delete", name, delete=(zone, name))
            if collection == "operations":
                name = rest.strip("/").removesuffix("/wait")
                if name not in self.operations:
                    return 404, _error(404, f"operation {name} not found", "notFound")
                record["kind"] = "wait" if rest.endswith("/wait") else "getOperation"
                return 200, self._finish(name)
            return 400, _error(400, f"unsupported {method} {parts.path}", "badRequest")

    # -- server -----------------------------------------------------------------------------
    def start(self) -> FakeCompute:
        fake = self

        class Handler(QuietHandler):
            def _serve(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0) or 0))
                status, payload = fake.handle(self.command, self.path, body)
                send(self, status, json.dumps(payload).encode())

            do_GET = do_POST = do_DELETE = _serve

        self.server, _ = serve(Handler)
        return self

    def stop(self) -> None:
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()


def _error(status: int, message: str, reason: str, domain: str = "global") -> dict[str, Any]:
    return {
        "error": {
            "code": status,
            "message": message,
            "errors": [{"message": message, "domain": domain, "reason": reason}],
        }
    }


def _matches(labels: dict[str, str], expression: str) -> bool:
    """The two filter forms carbonplan sends: ``labels.K:*`` and ``labels.K = V``."""
    if not expression:
        return True
    has = re.fullmatch(r"labels\.([\w-]+):\*", expression.strip())
    if has:
        return has.group(1) in labels
    equal = re.fullmatch(r"labels\.([\w-]+)\s*=\s*(\S+)", expression.strip())
    if equal:
        return labels.get(equal.group(1)) == equal.group(2)
    raise AssertionError(f"filter the fake does not understand: {expression!r}")
