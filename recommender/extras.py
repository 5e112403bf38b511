"""Optional parts of carbonplan and the packages each needs (pyproject's optional
dependencies).

The base install plans (``suggest``, ``estimate``, ``regions``, ``gpus``, ``size``,
``replay``, ``intensity``); ``[launch]`` adds the cloud SDKs, ``[report]`` the chart
library and ``[track]`` NVML (``nvidia-ml-py``) for ``carbonplan track``. Code that needs
one of them calls :func:`require` before importing it, so a missing
extra is one ``error:`` line and a ``hint:`` with the install line, never an ImportError.
"""

from __future__ import annotations

import importlib.machinery
import os
import sys

from recommender.errors import CarbonplanError, ExitCode

#: The distribution's name on the package index (the command stays ``carbonplan`` and the
#: import package ``recommender``). Checked against pyproject.toml by the tests.
DISTRIBUTION = "gpu-carbon-planner"

#: extra -> (who needs it, the modules it provides). The modules must match
#: pyproject's ``[project.optional-dependencies]`` (the tests check that too).
EXTRAS: dict[str, tuple[str, tuple[str, ...]]] = {
    "launch": (
        "carbonplan launch, instances and down need",
        ("boto3", "botocore", "google.cloud.compute_v1", "google.api_core", "google.auth"),
    ),
    "report": ("carbonplan report needs", ("matplotlib",)),
    "track": ("carbonplan track needs", ("pynvml",)),
}


def install_line(extra: str) -> str:
    """The pip command that adds ``extra`` to an installed carbonplan."""
    return f"pip install '{DISTRIBUTION}[{extra}]'"


class MissingExtraError(CarbonplanError):
    """An optional part of carbonplan is used without its packages installed.

    Not a :class:`~recommender.errors.BadInputError`: code that skips a cloud on a bad-input
    or backend error must not mistake a missing SDK for a missing credential."""

    exit_code = ExitCode.BAD_INPUT

    def __init__(self, extra: str, module: str) -> None:
        super().__init__(
            f"{EXTRAS[extra][0]} the optional package {module!r} (the '{extra}' extra), "
            "which is not installed",
            # pip takes the extra's packages from the installed carbonplan's metadata, so this
            # works for an install from a clone too (the distribution is not on PyPI yet)
            install_line(extra),
        )
        self.extra = extra
        self.module = module


def require(extra: str, *modules: str) -> None:
    """Raise :class:`MissingExtraError` unless ``modules`` (default: every module of
    ``extra``) are installed. Looks them up without importing them (google-cloud-compute
    takes seconds to import); call it before the code that imports them. An installed but
    broken package still fails at its import, and the CLI maps that ImportError to the same
    message (:func:`extra_of`)."""
    for module in modules or EXTRAS[extra][1]:
        if not _installed(module):
            raise MissingExtraError(extra, module)


def extra_of(module: str | None) -> str | None:
    """The extra that provides ``module`` (one of its modules, a submodule of one, or a parent
    package such as ``google`` that only the extra brings), if any."""
    if not module:
        return None
    for extra, (_, provided) in EXTRAS.items():
        for m in provided:
            if module == m or module.startswith(m + ".") or m.startswith(module + "."):
                return extra
    return None


def _installed(module: str) -> bool:
    """Whether ``module`` can be found, without importing it or its parent packages (unlike
    importlib.util.find_spec, which imports the parents: constructing a launch backend must
    not even import the ``google`` namespace). A ``None`` in sys.modules means "absent", as
    for the import system."""
    parts = module.split(".")
    search: list[str] | None = None  # where the next part is looked for (None: top level)
    for depth, part in enumerate(parts, start=1):
        name = ".".join(parts[:depth])
        if name in sys.modules:
            loaded = sys.modules[name]
            if loaded is None:
                return False
            search = list(getattr(loaded, "__path__", None) or [])
            continue
        if search is None:  # top level: every finder (editable installs have their own)
            finders = [getattr(f, "find_spec", None) for f in sys.meta_path]
            spec = next((found for find in finders if find and (found := find(name, None))), None)
        else:  # inside a package's directories, by its last part (a dotted name would make
            # the path finder look up the parent in sys.modules)
            spec = importlib.machinery.PathFinder.find_spec(part, search)
        if spec is None:
            return False
        locations = spec.submodule_search_locations
        if locations is None:  # a module: it has no submodules
            return depth == len(parts)
        if isinstance(locations, list):  # a regular package
            search = list(locations)
        else:  # a namespace package: its portions (iterating its own path would import it)
            base = sys.path if search is None else search
            search = [os.path.join(d, part) for d in base if os.path.isdir(os.path.join(d, part))]
    return True
