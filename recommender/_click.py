"""The click that typer runs on.

Typer >= 0.26 carries its own copy of click (``typer._click``) instead of depending on click;
older versions use click itself. The CLI needs click's exception classes and ParameterSource
to turn usage errors into carbonplan's one-line errors, so it takes them from here.
"""

from __future__ import annotations

try:  # typer with a vendored click
    from typer._click import exceptions
    from typer._click.core import Context, ParameterSource
except ImportError:  # pragma: no cover - typer that depends on click
    from click import exceptions  # type: ignore[no-redef]
    from click.core import Context, ParameterSource  # type: ignore[no-redef]

__all__ = ["Context", "ParameterSource", "exceptions"]
