"""The price APIs' HTTP: the project's grid-API client (:mod:`recommender.intensity.http`:
bounded bodies, retries with backoff, ``Retry-After`` honoured up to a cap, credentials
stripped on redirects to another host), plus status and JSON checks whose reasons are safe
to print (never a URL, a key or a token)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import Any
from urllib.parse import urlsplit

from recommender.intensity.http import Http
from recommender.intensity.model import SourceFault

# Price answers are larger than grid answers (a GCP Billing Catalog page of 5,000 SKUs is
# ~10 MB); a few requests run at once, one per region.
WORKERS = 8


def make_http() -> Http:
    """One client for a refresh: the [intensity] HTTP settings and their CARBONPLAN_HTTP_*
    variables (timeout, retries, backoff, Retry-After cap) apply here too."""
    from recommender.intensity.settings import load_settings

    return Http(replace(load_settings(), workers=WORKERS))


def get_json(
    http: Http,
    url: str,
    *,
    params: Mapping[str, Any] | None = None,
    headers: Mapping[str, str] | None = None,
) -> Any:
    """GET ``url`` and return its JSON body; raise :class:`SourceFault` otherwise."""
    response = http.get(url, params=params, headers=headers)
    status = response.status_code
    if status == 429:
        raise SourceFault("rate limited (HTTP 429) after retries")
    if status in (401, 403):
        raise SourceFault(f"credentials refused (HTTP {status})", auth=True)
    if status != 200:
        raise SourceFault(f"HTTP {status}")
    try:
        return response.json()
    except ValueError:
        raise SourceFault("malformed JSON in the answer") from None


def same_origin(url: str, base: str) -> bool:
    """Whether a next-page link stays on the API's host (a link elsewhere is not followed:
    an answer must not steer the client to another server)."""
    a, b = urlsplit(url), urlsplit(base)
    default = {"http": 80, "https": 443}
    try:
        port_a = a.port or default.get(a.scheme)
        port_b = b.port or default.get(b.scheme)
    except ValueError:
        return False
    return (a.scheme, a.hostname, port_a) == (b.scheme, b.hostname, port_b)
