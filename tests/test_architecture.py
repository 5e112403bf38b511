"""The import structure DESIGN.md describes, read from the source with ``ast`` (imports inside
functions count; imports under ``if TYPE_CHECKING:`` do not, as they never run):

- the planner imports only the catalog, units, errors, assumptions and itself;
- no import cycle among recommender's modules;
- the application layer (recommender.api) is the only module that wires the planner together
  with the intensity sources.

A package's module-level ``__getattr__`` (``recommender.suggest``, imported from
recommender.api on first use) is not an edge of the package: ``from recommender import
__version__`` never runs it, and the API it reaches is imported by no module below it.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "recommender"


def _modules() -> dict[str, Path]:
    found = {}
    for path in PACKAGE.rglob("*.py"):
        parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        found[".".join(parts)] = path
    return found


MODULES = _modules()


def _imported(name: str, path: Path) -> set[str]:
    """The recommender modules ``name`` imports (a ``from package import submodule`` is the
    submodule; ``from package import attribute`` is the package)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    lazy_ok = path.name == "__init__.py"
    out: set[str] = set()

    def visit(node: ast.AST) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and "TYPE_CHECKING" in ast.unparse(child.test):
                visit_else(child)
                continue
            if isinstance(child, ast.FunctionDef) and child.name == "__getattr__" and lazy_ok:
                continue  # a package's lazy re-exports (see the module docstring)
            if isinstance(child, ast.Import):
                out.update(alias.name for alias in child.names)
            elif isinstance(child, ast.ImportFrom):
                if child.level:
                    base = package.split(".")[: len(package.split(".")) - child.level + 1]
                    module = ".".join([*base, *([child.module] if child.module else [])])
                else:
                    module = child.module or ""
                for alias in child.names:
                    sub = f"{module}.{alias.name}"
                    out.add(sub if sub in MODULES else module)
            visit(child)

    def visit_else(node: ast.If) -> None:
        for child in node.orelse:
            visit(ast.Module(body=[child], type_ignores=[]))

    visit(tree)
    resolved = set()
    for module in out:
        while module and module not in MODULES:
            module = module.rpartition(".")[0]
        if module and module != name:
            resolved.add(module)
    return resolved


GRAPH = {name: _imported(name, path) for name, path in MODULES.items()}


def test_the_graph_is_read():
    # guards the reader itself: these edges exist in the source
    assert "recommender" in GRAPH["recommender.catalog.load"]  # from recommender import __version__
    assert "recommender.planner.model" in GRAPH["recommender.planner.core"]
    assert "recommender.intensity.shifting" in GRAPH["recommender.api"]
    assert "recommender.reports.report" in GRAPH["recommender.reports.html"]
    assert len(GRAPH) > 60


PLANNER_MAY_IMPORT = ("catalog", "units", "errors", "assumptions", "planner")


@pytest.mark.parametrize(
    "module", sorted(m for m in MODULES if m.startswith("recommender.planner"))
)
def test_the_planner_imports_nothing_but_the_core(module):
    allowed = {f"recommender.{name}" for name in PLANNER_MAY_IMPORT}
    outside = {
        imported
        for imported in GRAPH[module]
        if not any(imported == a or imported.startswith(a + ".") for a in allowed)
    }
    assert not outside, f"{module} imports {sorted(outside)}"


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def connect(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph.get(v, ()):
            if w not in index:
                connect(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            connect(v)
    return found


def test_the_cycle_finder_finds_a_cycle():
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_no_import_cycle_among_recommenders_modules():
    assert _cycles(GRAPH) == []


def test_intensity_registry_imports_no_source():
    sources = {"csvfile", "electricitymaps", "static", "ukgrid", "watttime", "sources"}
    assert (
        not {f"recommender.intensity.{s}" for s in sources}
        & GRAPH["recommender.intensity.registry"]
    )


def test_report_imports_none_of_its_renderers():
    renderers = {"html", "markdown", "text", "charts"}
    assert not {f"recommender.reports.{r}" for r in renderers} & GRAPH["recommender.reports.report"]


def test_only_the_api_wires_planner_and_intensity():
    # besides the intensity package's own adapter to the planner's window search
    wiring = {
        name
        for name, imported in GRAPH.items()
        if any(i.startswith("recommender.planner") for i in imported)
        and any(i.startswith("recommender.intensity") for i in imported)
        and not name.startswith("recommender.intensity")
    }
    assert wiring == {"recommender.api"}


def test_nothing_below_the_api_imports_it():
    # the lazy re-export in recommender/__init__.py is safe only while this holds
    users = {name for name, imported in GRAPH.items() if "recommender.api" in imported}
    layer = {n for n in users if n.startswith(("recommender.cli", "recommender.commands"))}
    assert users - layer == set(), sorted(users - layer)
