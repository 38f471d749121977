"""Architecture rules checked on the source: no import circles among napari_hdn modules, counting every import
(inside functions and under ``TYPE_CHECKING`` too), and no private name imported from outside its package."""

from __future__ import annotations

import ast
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src"
PACKAGE = "napari_hdn"


def _modules() -> dict[str, Path]:
    modules = {}
    for path in sorted((SRC / PACKAGE).rglob("*.py")):
        parts = list(path.relative_to(SRC).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        modules[".".join(parts)] = path
    return modules


def _imports(tree: ast.Module):
    """Every import statement: at module level, inside functions, under ``TYPE_CHECKING``. A lazy import
    still ties two modules together; only the package's own modules are counted (torch, napari and the
    optional extras may be loaded lazily as they like)."""
    for node in ast.walk(tree):
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            yield node


def _imported(name: str, path: Path, modules: dict[str, Path]):
    """(module imported, name taken from it or None) for every import in module ``name``."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    for node in _imports(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name, None
            continue
        base = node.module or ""
        if node.level:
            anchor = package.split(".")[: len(package.split(".")) - (node.level - 1)]
            base = ".".join(anchor + ([base] if base else []))
        for alias in node.names:
            submodule = f"{base}.{alias.name}"
            yield (submodule, None) if submodule in modules else (base, alias.name)


def _import_graph() -> dict[str, set[str]]:
    modules = _modules()
    graph: dict[str, set[str]] = {name: set() for name in modules}
    for name, path in modules.items():
        graph[name].update(t for t, _ in _imported(name, path, modules) if t in modules and t != name)
    return graph


def _home(module: str, modules: dict[str, Path]) -> str:
    """The package a module's private names belong to (a package's own ``__init__`` is its home)."""
    return module if modules[module].name == "__init__.py" else module.rpartition(".")[0]


def _private_imports_across_packages() -> list[str]:
    """Imports of a private name (``_x``) or module from outside the package that holds it."""
    modules = _modules()
    found = []
    for name, path in modules.items():
        for target, taken in _imported(name, path, modules):
            if target not in modules:
                continue
            private_module = target.rpartition(".")[2].startswith("_") and not target.endswith("__init__")
            private_name = taken is not None and taken.startswith("_") and not taken.startswith("__")
            home = _home(target, modules) if private_name else target.rpartition(".")[0]
            if (private_name or private_module) and not (name == home or name.startswith(home + ".")):
                found.append(f"{name} imports {taken or target} from {target}")
    return found


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
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

    for v in graph:
        if v not in index:
            visit(v)
    return found


def test_import_graph_sees_the_package():
    graph = _import_graph()
    assert "napari_hdn.config" in graph["napari_hdn.model.bundle"]
    assert "napari_hdn.model.bundle" in graph["napari_hdn.training"] or any(
        m.startswith("napari_hdn.training.") for m in graph
    )


def test_no_import_circles():
    assert _cycles(_import_graph()) == []


def test_lazy_imports_count():
    """An import inside a function is an edge too (a lazy import hides a circle, it does not remove it)."""
    graph = _import_graph()
    assert "napari_hdn.direct.concurrent" in graph["napari_hdn.training.loop"]  # imported inside a method


def test_no_private_names_imported_across_packages():
    assert _private_imports_across_packages() == []


def test_cycle_finder_finds_a_circle():
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_config_is_the_bottom_layer():
    graph = _import_graph()
    allowed = {"napari_hdn.foundation.errors", "napari_hdn.config.validated"}
    for name, targets in graph.items():
        if name == "napari_hdn.config" or name.startswith("napari_hdn.config."):
            above = {t for t in targets if not t.startswith("napari_hdn.config")} - allowed
            assert not above, f"{name} imports {sorted(above)}"
