"""HTTP for the grid APIs: one pooled ``requests`` session with urllib3's ``Retry`` (429 with
``Retry-After``, 5xx, connection errors; bounded, with backoff), an overall deadline per
request, bodies read in chunks under a cap, and one function that turns every way a request
can fail into a :class:`SourceFault` whose reason is safe to print.

Reasons never carry query strings, headers or exception text: a URL's query could hold a key,
and requests' messages repeat the whole URL. A timeout names the endpoint (host and path).

The deadline (``deadline_s``, ``CARBONPLAN_HTTP_DEADLINE``) bounds everything a request does:
DNS, connect, TLS, retries and their waits, and the whole body. urllib3's timeouts cannot:
they bound each socket operation, so a server that sends one byte a second holds a request
forever (``Timeout(total=...)`` too: it is spent before the body is read). So each request
runs in a helper thread that the caller waits for until the deadline; at the deadline the
caller gives up and shuts the request's socket down, which ends the helper's read.
"""

from __future__ import annotations

import contextlib
import logging
import socket
import threading
import time
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

import requests
from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool
from urllib3.util.retry import Retry

from recommender.intensity.model import SourceFault
from recommender.intensity.settings import IntensitySettings

# urllib3 logs each retry at WARNING with the URL; the summary warning is ours to print.
logging.getLogger("urllib3").setLevel(logging.ERROR)

USER_AGENT = "carbonplan (grid intensity; +https://github.com/carbonplan)"
# Headers that carry a credential: never sent on to another host after a redirect.
CREDENTIAL_HEADERS = ("authorization", "auth-token", "x-api-key", "proxy-authorization")
# All answers being read at once (one per zone, up to `workers` in parallel) share a budget of
# this many times the per-answer cap (max_body_bytes, 8 MB by default: 48 MB), and at least
# MIN_INFLIGHT_BYTES, so many large answers together cannot add up to gigabytes either.
INFLIGHT_ANSWERS = 6
MIN_INFLIGHT_BYTES = 48 * 1024 * 1024
_CHUNK = 64 * 1024


class _Session(requests.Session):
    """A session that drops every credential header, not only ``Authorization``, when a
    redirect leads to another host (requests itself strips just ``Authorization``; the
    Electricity Maps key travels in ``auth-token``)."""

    def rebuild_auth(self, prepared_request: Any, response: Any) -> None:
        if self.should_strip_auth(response.request.url, prepared_request.url):
            for name in list(prepared_request.headers):
                if name.lower() in CREDENTIAL_HEADERS:
                    del prepared_request.headers[name]
        super().rebuild_auth(prepared_request, response)


class _BoundedRetry(Retry):
    """``Retry`` whose wait on ``Retry-After`` is capped, so a throttled API cannot stall
    the command: past the cap we give up and fall back instead."""

    retry_after_cap = 5.0

    def parse_retry_after(self, retry_after: str) -> float:
        return min(super().parse_retry_after(retry_after), self.retry_after_cap)


# -- the deadline: which connections a request uses, so they can be shut at its deadline ------

_current = threading.local()  # .call: the _Call the helper thread running it works for
_owners = threading.Lock()  # guards _Call.cancelled, _Call.socks and each connection's owner


class _Cancelled(Exception):
    """Raised in a helper thread whose request is past its deadline, when it would connect or
    send again (a retry): not an ``OSError``, so urllib3 does not retry it."""


class _Call:
    """One request: its outcome, and the sockets it has used (to shut at the deadline), each
    with its connection. The socket itself is kept: once an answer that closes the connection
    (HTTP/1.0, ``Connection: close``) has its headers, the connection lets go of the socket and
    only the answer being read holds it."""

    def __init__(self) -> None:
        self.done = threading.Event()
        self.response: requests.Response | None = None
        self.fault: SourceFault | None = None
        self.cancelled = False
        self.socks: list[tuple[Any, socket.socket]] = []

    def attach(self, conn: Any, sock: socket.socket | None) -> None:
        with _owners:
            if self.cancelled:
                raise _Cancelled
            conn.carbonplan_call = self
            if sock is not None and all(sock is not known for _, known in self.socks):
                self.socks.append((conn, sock))

    def detach(self) -> None:
        """The answer is read: its connection may go back to the pool, to serve others."""
        with _owners:
            for conn, _sock in self.socks:
                if getattr(conn, "carbonplan_call", None) is self:
                    conn.carbonplan_call = None
            self.socks.clear()

    def cancel(self) -> None:
        """Past the deadline: no more connecting or sending, and the sockets the request uses
        are shut down (a read from them ends at once; the helper thread then exits). A
        connection that has gone on to serve another request is left alone."""
        with _owners:
            self.cancelled = True
            for conn, sock in self.socks:
                if getattr(conn, "carbonplan_call", None) is self:
                    with contextlib.suppress(OSError):  # already closed
                        sock.shutdown(socket.SHUT_RDWR)


def _attach(conn: Any) -> None:
    call = getattr(_current, "call", None)
    if call is not None:
        call.attach(conn, conn.sock)


class _Connection(HTTPConnection):
    def connect(self) -> None:
        _attach(self)  # refused once past the deadline
        super().connect()
        _attach(self)  # the new socket

    def request(self, *args: Any, **kwargs: Any) -> None:
        _attach(self)  # every request, also on a kept-alive connection from the pool
        super().request(*args, **kwargs)


class _TlsConnection(HTTPSConnection):
    def connect(self) -> None:
        _attach(self)
        super().connect()
        _attach(self)

    def request(self, *args: Any, **kwargs: Any) -> None:
        _attach(self)
        super().request(*args, **kwargs)


class _Pool(HTTPConnectionPool):
    ConnectionCls = _Connection


class _TlsPool(HTTPSConnectionPool):
    ConnectionCls = _TlsConnection


_POOLS = {"http": _Pool, "https": _TlsPool}


class _Adapter(HTTPAdapter):
    """``HTTPAdapter`` whose connections (direct or through an HTTP proxy) can be found by
    the request using them."""

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = dict(_POOLS)

    def proxy_manager_for(self, proxy: str, **proxy_kwargs: Any) -> Any:
        manager = super().proxy_manager_for(proxy, **proxy_kwargs)
        if not proxy.lower().startswith("socks"):
            manager.pool_classes_by_scheme = dict(_POOLS)
        return manager


def make_session(settings: IntensitySettings) -> requests.Session:
    retry_cls = type("Retry", (_BoundedRetry,), {"retry_after_cap": settings.retry_after_max_s})
    retry = retry_cls(
        total=settings.retries,
        connect=settings.retries,
        read=min(settings.retries, 1),
        status=settings.retries,
        backoff_factor=settings.backoff_s,
        backoff_max=10.0,
        status_forcelist=(429, 500, 502, 503, 504),
        allowed_methods=frozenset({"GET"}),
        respect_retry_after_header=True,
        raise_on_status=False,
    )
    adapter = _Adapter(
        max_retries=retry,
        pool_connections=8,
        pool_maxsize=max(settings.workers, 1),
    )
    session = _Session()
    session.trust_env = True
    session.headers.update({"User-Agent": USER_AGENT, "Accept": "application/json"})
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    return session


def endpoint(url: str) -> str:
    """``host[:port]/path`` of ``url``: what a message may name (never the query string, a
    fragment or user:password@)."""
    parts = urlsplit(url)
    host = parts.hostname or "?"
    if ":" in host:
        host = f"[{host}]"
    try:
        port = f":{parts.port}" if parts.port else ""
    except ValueError:
        port = ""
    return f"{host}{port}{parts.path or '/'}"


class Http:
    """The session shared by every fetch of one run (thread-safe for GETs)."""

    def __init__(self, settings: IntensitySettings) -> None:
        self.settings = settings
        self._session: requests.Session | None = None
        self._lock = threading.Lock()
        self.requests = 0  # how many requests this run made (for tests and the benchmark)
        limit = settings.max_body_bytes
        self._budget = _Budget(max(MIN_INFLIGHT_BYTES, INFLIGHT_ANSWERS * limit))

    @property
    def session(self) -> requests.Session:
        with self._lock:
            if self._session is None:
                self._session = make_session(self.settings)
            return self._session

    def get(
        self,
        url: str,
        *,
        params: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
        auth: tuple[str, str] | None = None,
    ) -> requests.Response:
        """GET ``url`` and read its whole body (at most ``max_body_bytes``), all within
        ``deadline_s``; every failure is a :class:`SourceFault`."""
        with self._lock:
            self.requests += 1
        session = self.session
        call = _Call()
        helper = threading.Thread(
            target=self._run,
            args=(call, session, url, params, dict(headers or {}), auth),
            name="carbonplan-http",
            daemon=True,  # one stuck past its deadline (say, in DNS) never holds up exit
        )
        helper.start()
        deadline = self.settings.deadline_s
        # Short waits: in the main thread, a SIGINT that lands just before a long wait starts
        # would only be acted on when the wait ends (up to the deadline).
        end = time.monotonic() + deadline
        while not call.done.wait(min(0.05, max(end - time.monotonic(), 0.0))):
            if time.monotonic() < end:
                continue
            call.cancel()
            raise SourceFault(
                f"timeout: {endpoint(url)} did not answer in full within the {deadline:g} s "
                "deadline"
            )
        if call.fault is not None:
            raise call.fault
        assert call.response is not None
        return call.response

    def _run(
        self,
        call: _Call,
        session: requests.Session,
        url: str,
        params: Mapping[str, Any] | None,
        headers: dict[str, str],
        auth: tuple[str, str] | None,
    ) -> None:
        """The request, in the helper thread: its answer or its fault goes into ``call``."""
        _current.call = call
        try:
            call.response = self._request(call, session, url, params, headers, auth)
        except SourceFault as fault:
            call.fault = fault
        except _Cancelled:
            pass  # the caller has given up already
        except Exception as exc:  # a helper thread must not die with a traceback on stderr
            call.fault = SourceFault(f"request failed ({type(exc).__name__})")
        finally:
            call.detach()
            _current.call = None
            call.done.set()

    def _request(
        self,
        call: _Call,
        session: requests.Session,
        url: str,
        params: Mapping[str, Any] | None,
        headers: dict[str, str],
        auth: tuple[str, str] | None,
    ) -> requests.Response:
        s = self.settings
        connect_s = min(s.timeout_s, 5.0)
        where = endpoint(url)
        host = where.split("/", 1)[0]
        try:
            response = session.get(
                url,
                params=params,
                headers=headers,
                auth=auth,
                timeout=(connect_s, s.timeout_s),  # per socket operation; see deadline_s
                stream=True,
            )
            return _read_bounded(response, s.max_body_bytes, self._budget, call)
        except UnicodeError:
            # A key or name with characters an HTTP header cannot carry (non-Latin-1): a bad
            # credential, not a crash. Which setting it is, the caller's warning says.
            raise SourceFault(
                "credentials hold characters an HTTP header cannot carry (non-ASCII?)", auth=True
            ) from None
        except requests.exceptions.InvalidHeader:
            raise SourceFault(
                "credentials hold characters an HTTP header cannot carry (control characters?)",
                auth=True,
            ) from None
        except requests.exceptions.RetryError:
            raise SourceFault("too many retries") from None
        except requests.exceptions.ConnectTimeout:
            raise SourceFault(f"timeout: no connection to {host} within {connect_s:g} s") from None
        except requests.exceptions.Timeout:
            raise SourceFault(f"timeout: {where} sent nothing for {s.timeout_s:g} s") from None
        except requests.exceptions.ConnectionError as exc:
            text = str(exc).lower()
            if "read timed out" in text:
                raise SourceFault(f"timeout: {where} sent nothing for {s.timeout_s:g} s") from None
            if "timed out" in text:
                raise SourceFault(
                    f"timeout: no connection to {host} within {connect_s:g} s"
                ) from None
            reason = "connection refused" if "refused" in text else "unreachable"
            raise SourceFault(reason) from None
        except requests.exceptions.RequestException as exc:
            raise SourceFault(f"request failed ({type(exc).__name__})") from None

    def close(self) -> None:
        if self._session is not None:
            self._session.close()


class _Budget:
    """Bytes of answer bodies being read at once, across threads."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.used = 0
        self._lock = threading.Lock()

    def take(self, n: int) -> bool:
        with self._lock:
            if self.used + n > self.limit:
                return False
            self.used += n
            return True

    def give(self, n: int) -> None:
        with self._lock:
            self.used -= n


def _read_bounded(
    response: requests.Response, limit: int, budget: _Budget, call: _Call | None = None
) -> requests.Response:
    """Read the body in chunks, refusing it past ``limit`` bytes, or when the answers being
    read at the same time would together pass the run's budget (the connection is closed and
    nothing more is read); then hand the response back with its content in place."""
    declared = response.headers.get("Content-Length", "")
    if declared.isdigit() and int(declared) > limit:
        response.close()
        raise SourceFault(f"answer too large ({_mb(int(declared))}; limit {_mb(limit)})")
    chunks: list[bytes] = []
    size = 0
    try:
        for chunk in response.iter_content(_CHUNK):
            size += len(chunk)
            if size > limit:
                raise SourceFault(f"answer too large (over {_mb(limit)})")
            if not budget.take(len(chunk)):
                raise SourceFault("answers too large (together, while read at once)")
            chunks.append(chunk)
    except BaseException:
        # The fault is kept (with its traceback, hence this frame) until the run ends: drop
        # what was read, or every refused answer would stay in memory.
        budget.give(size_taken(chunks))
        chunks.clear()
        raise
    else:
        budget.give(size_taken(chunks))
        if call is not None:
            call.detach()  # before the connection goes back to the pool
    finally:
        response.close()
    response._content = b"".join(chunks)  # what .json() and .text read
    setattr(response, "_content_consumed", True)  # noqa: B010 (private attribute of requests)
    return response


def _mb(n: int) -> str:
    return f"{n / 1e6:.0f} MB" if n >= 10**6 else f"{n:,} bytes"


def size_taken(chunks: list[bytes]) -> int:
    return sum(len(c) for c in chunks)
