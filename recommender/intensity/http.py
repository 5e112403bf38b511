"""HTTP for the grid APIs: one pooled ``requests`` session with urllib3's ``Retry`` (429 with
``Retry-After``, 5xx, connection errors; bounded, with backoff), and one function that turns
every way a request can fail into a :class:`SourceFault` whose reason is safe to print.

Reasons never carry URLs, headers or exception text: a URL could hold a key, and requests'
messages repeat the URL.
"""

from __future__ import annotations

import logging
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
    session = requests.Session()
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
            return self.session.get(
                url,
                params=params,
                headers=dict(headers or {}),
                auth=auth,
                timeout=(min(self.settings.timeout_s, 5.0), self.settings.timeout_s),
            )
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
