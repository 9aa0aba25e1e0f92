"""The app's modules depend on each other one way: no cycle among their module-level imports.

A cycle makes the import order matter (a name missing while its module is half-initialised) and hides which
part is the lower layer. The first test reads the imports run when a module loads (imports under
`if TYPE_CHECKING:` never run); the second also those inside functions, which only hide a cycle, except in the
app factory (app/__init__.py), which imports every blueprint and command late by design.
"""

from __future__ import annotations

import ast
from pathlib import Path

APP = Path(__file__).resolve().parent.parent / "app"


def _module_name(path: Path, root: Path) -> str:
    parts = list(path.relative_to(root.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _top_level_imports(tree: ast.Module):
    """Import statements run when the module is loaded: at top level, or inside top-level if/try blocks."""
    pending = list(tree.body)
    while pending:
        node = pending.pop(0)
        if isinstance(node, ast.Import | ast.ImportFrom):
            yield node
        elif isinstance(node, ast.If) and not _is_type_checking(node):
            pending.extend(node.body + node.orelse)
        elif isinstance(node, ast.Try):
            pending.extend(node.body + node.orelse + node.finalbody + [n for h in node.handlers for n in h.body])


def _all_imports(tree: ast.Module):
    for node in ast.walk(tree):
        if isinstance(node, ast.Import | ast.ImportFrom):
            yield node


def import_graph(root: Path = APP, *, lazy: bool = False) -> dict[str, set[str]]:
    """module -> the app modules it imports at load time (`from a.b import c` names a.b.c when c is a module);
    with `lazy`, also the imports inside functions."""
    paths = {_module_name(p, root): p for p in root.rglob("*.py")}
    graph: dict[str, set[str]] = {name: set() for name in paths}
    for name, path in paths.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        imports = _all_imports if lazy else _top_level_imports
        for node in imports(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            else:
                base = node.module or ""
                if node.level:
                    anchor = package.split(".")
                    anchor = anchor[: len(anchor) - (node.level - 1)]
                    base = ".".join(anchor + ([base] if base else []))
                targets = [f"{base}.{alias.name}" if f"{base}.{alias.name}" in paths else base for alias in node.names]
            graph[name].update(t for t in targets if t in paths and t != name)
    return graph


def find_cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """One cycle per strongly connected component of more than one module (Tarjan), as a readable path."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in sorted(graph[node]):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                components.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return [_path_through(graph, component) for component in components]


def _path_through(graph: dict[str, set[str]], component: list[str]) -> list[str]:
    """A concrete cycle inside a strongly connected component: from its first module back to it."""
    members = set(component)
    start = component[0]
    paths = {start: [start]}
    queue = [start]
    while queue:
        node = queue.pop(0)
        for target in sorted(graph[node] & members):
            if target == start:
                return paths[node] + [start]
            if target not in paths:
                paths[target] = paths[node] + [target]
                queue.append(target)
    return component


def test_no_import_cycle_between_app_modules():
    cycles = find_cycles(import_graph())
    assert not cycles, "import cycles: " + "; ".join(" → ".join(cycle) for cycle in cycles)


def test_no_cycle_hidden_in_an_import_inside_a_function():
    graph = import_graph(lazy=True)
    graph["app"] = set()  # the app factory
    cycles = find_cycles(graph)
    assert not cycles, "import cycles through late imports: " + "; ".join(" → ".join(cycle) for cycle in cycles)


def test_the_cycle_finder_sees_a_cycle(tmp_path):
    package = tmp_path / "app"
    (package / "feature").mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "feature" / "__init__.py").write_text("")
    (package / "feature" / "services.py").write_text("from app.feature.views import helper\n")
    (package / "feature" / "views.py").write_text("from app.feature import services\n\ndef helper(): ...\n")
    (package / "lazy.py").write_text("def f():\n    from app.feature import views\n")
    graph = import_graph(package)
    assert graph["app.feature.views"] == {"app.feature.services"}
    assert graph["app.lazy"] == set()  # an import inside a function runs late: not an edge
    assert find_cycles(graph) == [["app.feature.services", "app.feature.views", "app.feature.services"]]
    assert import_graph(package, lazy=True)["app.lazy"] == {"app.feature.views"}
