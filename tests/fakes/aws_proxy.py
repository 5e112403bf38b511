"""A recording, fault-injecting HTTP proxy in front of moto's EC2 server.

moto cannot produce capacity errors, so this proxy answers chosen EC2 calls with the error
AWS would send (same XML shape, same status) and forwards everything else. It records every
request (action + parameters) so tests can assert what was, and was not, called.

Like EC2 (and unlike moto), a RunInstances with a ClientToken already seen is answered with the
first answer and starts nothing: a retried call after a lost answer finds what it started.
"""

from __future__ import annotations

import re
import threading
import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import ThreadingHTTPServer
from urllib.parse import parse_qsl, urlencode
from xml.etree import ElementTree

from fakes import QuietHandler, send, serve

MUTATING = {"RunInstances", "TerminateInstances", "CreateTags", "StopInstances", "ImportKeyPair"}


@dataclass
class Rule:
    """Answer ``action`` requests matching ``when`` with an AWS error, or (``lose=True``)
    forward them and then terminate what was started, as when AWS reclaims the capacity
    before the instance runs."""

    action: str
    when: Callable[[dict[str, str]], bool] = lambda params: True
    code: str = "InsufficientInstanceCapacity"
    message: str = "We currently do not have sufficient capacity in the Availability Zone."
    status: int = 500
    lose: bool = False
    times: int | None = None  # answer this many matching requests, then pass them through
    hits: int = 0
    # a slow endpoint: forward the request, set ``reached``, then hold the answer ``slow_s``
    # seconds (the request has taken effect; the client does not know yet). No error answer.
    slow_s: float = 0.0
    reached: threading.Event = field(default_factory=threading.Event)
    forward: bool = True  # with slow_s: False holds the request without carrying it out
    # forward, then show every instance in the answer in this state (e.g. stuck in "pending")
    state: str | None = None
    # answer 200 with this body instead of forwarding (e.g. an empty DescribeImages)
    body: bytes | None = None


@dataclass
class Ec2Proxy:
    upstream: str
    requests: list[dict[str, object]] = field(default_factory=list)
    rules: list[Rule] = field(default_factory=list)
    server: ThreadingHTTPServer | None = None
    tokens: dict[str, tuple[int, bytes]] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def url(self) -> str:
        assert self.server is not None
        host, port = self.server.server_address[:2]
        return f"http://{host}:{port}"

    def calls(self, action: str | None = None) -> list[dict[str, str]]:
        return [
            r["params"]  # type: ignore[misc]
            for r in self.requests
            if action is None or r["action"] == action
        ]

    def mutating(self) -> list[str]:
        return [str(r["action"]) for r in self.requests if r["action"] in MUTATING]

    def start(self) -> Ec2Proxy:
        proxy = self

        class Handler(QuietHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                params = dict(parse_qsl(body.decode()))
                action = params.get("Action", "")
                proxy.requests.append({"action": action, "params": params})
                headers = {
                    k: v
                    for k, v in self.headers.items()
                    if k.lower() not in ("content-length", "host")
                }
                for rule in proxy.rules:
                    spent = rule.times is not None and rule.hits >= rule.times
                    if rule.action == action and not spent and rule.when(params):
                        rule.hits += 1
                        if rule.slow_s:
                            status, data = (
                                proxy.forward(body, headers, params)
                                if rule.forward
                                else (500, error_xml("InternalError", "never carried out"))
                            )
                            rule.reached.set()
                            time.sleep(rule.slow_s)
                            return self.reply(status, data)
                        if rule.body is not None:
                            return self.reply(200, rule.body)
                        if rule.state is not None:
                            status, data = proxy.forward(body, headers, params)
                            data = re.sub(
                                rb"(<instanceState>\s*<code>)\d+(</code>\s*<name>)[a-z-]+(</name>)",
                                rb"\g<1>0\g<2>" + rule.state.encode() + rb"\g<3>",
                                data,
                            )
                            return self.reply(status, data)
                        if rule.lose:
                            status, data = proxy.forward(body, headers)
                            ids = [
                                e.text
                                for e in ElementTree.fromstring(data).iter()
                                if e.tag.endswith("instanceId")
                            ]
                            proxy.forward(
                                urlencode(
                                    {
                                        "Action": "TerminateInstances",
                                        "Version": params.get("Version", "2016-11-15"),
                                        **{f"InstanceId.{i}": v for i, v in enumerate(ids, 1)},
                                    }
                                ).encode(),
                                headers,
                            )
                            return self.reply(status, data)
                        return self.reply(rule.status, error_xml(rule.code, rule.message))
                self.reply(*proxy.forward(body, headers, params))

            def reply(self, status: int, data: bytes) -> None:
                send(self, status, data, "text/xml")

        self.server, _ = serve(Handler)
        return self

    def forward(
        self, body: bytes, headers: dict[str, str], params: dict[str, str] | None = None
    ) -> tuple[int, bytes]:
        token = (
            (params or {}).get("ClientToken")
            if (params or {}).get("Action") == ("RunInstances")
            else None
        )
        if token is None:
            return self._send(body, headers)
        with self._lock:  # EC2's idempotency: one token, one launch, the same answer
            if token not in self.tokens:
                status, data = self._send(body, headers)
                if status != 200:
                    return status, data
                self.tokens[token] = (status, data)
            return self.tokens[token]

    def _send(self, body: bytes, headers: dict[str, str]) -> tuple[int, bytes]:
        request = urllib.request.Request(self.upstream + "/", data=body, headers=headers)
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                return response.status, response.read()
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read()

    def stop(self) -> None:
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()


def error_xml(code: str, message: str) -> bytes:
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n<Response><Errors><Error>'
        f"<Code>{code}</Code><Message>{message}</Message></Error></Errors>"
        "<RequestID>00000000-0000-0000-0000-000000000000</RequestID></Response>"
    ).encode()
