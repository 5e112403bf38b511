"""Where carbonplan keeps things: settings read from the environment (CARBONPLAN_*)."""

from __future__ import annotations

import os
from pathlib import Path

CACHE_DIR_ENV = "CARBONPLAN_CACHE_DIR"


def cache_dir() -> Path:
    """The per-user cache directory (``$CARBONPLAN_CACHE_DIR`` overrides the platform's)."""
    override = os.environ.get(CACHE_DIR_ENV)
    if override:
        return Path(override)
    import platformdirs

    return Path(platformdirs.user_cache_dir("carbonplan", appauthor=False))
