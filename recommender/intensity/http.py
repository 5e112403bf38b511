"""HTTP for the grid APIs: one pooled ``requests`` session with urllib3's ``Retry`` (429 with
``Retry-After``, 5xx, connection errors; bounded, with backoff), and one function that turns
every way a request can fail into a :class:`SourceFault` whose reason is safe to print.

Reasons never carry URLs, headers or exception text: a URL could hold a key, and requests'
messages repeat the URL.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Mapping
from typing import Any

import requests
from requests.adapters import HTTPAdapter
from urllib3.util.retry import Retry

from recommender.intensity.model import SourceFault
from recommender.intensity.settings import IntensitySettings

# urllib3 logs each retry at WARNING with the URL; the summary warning is ours to print.
logging.getLogger("urllib3").setLevel(logging.ERROR)

USER_AGENT = "carbonplan (grid intensity; +https://github.com/carbonplan)"
# Headers that carry a credential: never sent on to another host after a redirect.
CREDENTIAL_HEADERS = ("authorization", "auth-token", "x-api-key", "proxy-authorization")
# A grid API answer is a few kB to a few hundred kB; past this cap the answer is refused (read
# in chunks, so a huge or endless body never sits in memory). CARBONPLAN_HTTP_MAX_BYTES
# overrides it.
MAX_BODY_BYTES = 8 * 1024 * 1024
# All answers being read at once (one per zone, up to `workers` in parallel) share this budget,
# so many large answers together cannot add up to gigabytes either.
MAX_INFLIGHT_BYTES = 48 * 1024 * 1024
_CHUNK = 64 * 1024


def max_body_bytes() -> int:
    raw = os.environ.get("CARBONPLAN_HTTP_MAX_BYTES", "")
    try:
        value = int(raw) if raw.strip() else MAX_BODY_BYTES
    except ValueError:
        return MAX_BODY_BYTES
    return value if value > 0 else MAX_BODY_BYTES


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
    adapter = HTTPAdapter(
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


class Http:
    """The session shared by every fetch of one run (thread-safe for GETs)."""

    def __init__(self, settings: IntensitySettings) -> None:
        self.settings = settings
        self._session: requests.Session | None = None
        self._lock = threading.Lock()
        self.requests = 0  # how many requests this run made (for tests and the benchmark)
        self._budget = _Budget(MAX_INFLIGHT_BYTES)

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
        with self._lock:
            self.requests += 1
        try:
            response = self.session.get(
                url,
                params=params,
                headers=dict(headers or {}),
                auth=auth,
                timeout=(min(self.settings.timeout_s, 5.0), self.settings.timeout_s),
                stream=True,
            )
            return _read_bounded(response, max_body_bytes(), self._budget)
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
        except requests.exceptions.Timeout:
            raise SourceFault("timeout") from None
        except requests.exceptions.ConnectionError as exc:
            text = str(exc).lower()
            if "timed out" in text:
                raise SourceFault("timeout") from None
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


def _read_bounded(response: requests.Response, limit: int, budget: _Budget) -> requests.Response:
    """Read the body in chunks, refusing it past ``limit`` bytes, or when the answers being
    read at the same time would together pass the run's budget (the connection is closed and
    nothing more is read); then hand the response back with its content in place."""
    declared = response.headers.get("Content-Length", "")
    if declared.isdigit() and int(declared) > limit:
        response.close()
        raise SourceFault(
            f"answer too large ({int(declared) / 1e6:.0f} MB; limit {limit / 1e6:.0f} MB)"
        )
    chunks: list[bytes] = []
    size = 0
    try:
        for chunk in response.iter_content(_CHUNK):
            size += len(chunk)
            if size > limit:
                raise SourceFault(f"answer too large (over {limit / 1e6:.0f} MB)")
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
    finally:
        response.close()
    response._content = b"".join(chunks)  # what .json() and .text read
    setattr(response, "_content_consumed", True)  # noqa: B010 (private attribute of requests)
    return response


def size_taken(chunks: list[bytes]) -> int:
    return sum(len(c) for c in chunks)
