"""Reading API answers: status, JSON body and the API's own error message (no imports of
``requests`` here, so that sources load without it)."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from recommender.intensity.model import SourceFault

if TYPE_CHECKING:
    import requests


def status_reason(response: requests.Response) -> str:
    return f"HTTP {response.status_code}"


def json_body(response: requests.Response) -> Any:
    """The decoded JSON body, or a fault saying it was not JSON."""
    try:
        return response.json()
    except (ValueError, json.JSONDecodeError):
        raise SourceFault("malformed JSON") from None


def error_text(response: requests.Response) -> str:
    """The API's own error message, if the body carries one (used to classify, not printed)."""
    try:
        body = response.json()
    except ValueError:
        return response.text[:500] if response.text else ""
    if isinstance(body, dict):
        parts = []
        for key in ("error", "message"):
            value = body.get(key)
            if isinstance(value, dict):
                value = value.get("message")
            if isinstance(value, str):
                parts.append(value)
        return " ".join(parts)
    return ""
