"""The layers hold (issue 8): nothing below the API imports it, and no two packages of facade/ import each other,
directly or around a loop. Imports are read from the source (ast), lazy ones inside functions included."""

from __future__ import annotations

import ast
from collections.abc import Iterator, Mapping
from pathlib import Path

FACADE = Path(__file__).resolve().parents[1] / "facade"
API_USERS = ("facade.api", "facade.app", "facade.cli")  # the web layer and what starts it
# package -> package edges allowed to close a loop, each with the issue that removes it (none today)
KNOWN_CYCLE_EDGES: frozenset[tuple[str, str]] = frozenset()


def _module_name(path: Path) -> str:
    parts = path.relative_to(FACADE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path) -> Iterator[str]:
    """Every facade module or package named by an import statement of ``path`` (relative imports resolved)."""
    module = _module_name(path)
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            yield base
            yield from (f"{base}.{alias.name}" for alias in node.names)


def _package(name: str) -> str | None:
    """``facade.soap.envelope`` -> ``facade.soap``; ``facade.runtime`` -> itself; outside facade -> None."""
    parts = name.split(".")
    return ".".join(parts[:2]) if parts[0] == "facade" else None


def import_graph() -> dict[str, dict[str, set[str]]]:
    """package -> imported package -> the modules that import it."""
    graph: dict[str, dict[str, set[str]]] = {}
    for path in sorted(FACADE.rglob("*.py")):
        module = _module_name(path)
        source = _package(module)
        assert source is not None
        for name in _imports(path):
            target = _package(name)
            if target not in (None, "facade", source):  # "facade" alone: ``from facade import x`` (x is seen)
                graph.setdefault(source, {}).setdefault(str(target), set()).add(module)
    return graph


def cycles(edges: Mapping[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one node (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for nxt in edges.get(node, ()):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component: list[str] = []
            while True:
                member = stack.pop()
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(edges):
        if node not in index:
            visit(node)
    return found


def test_only_the_web_layer_imports_facade_api() -> None:
    offenders = sorted(
        module
        for source, targets in import_graph().items()
        if source not in API_USERS
        for module in targets.get("facade.api", ())
    )
    assert offenders == [], f"modules below the API import facade.api: {offenders}"


def test_no_two_packages_import_each_other() -> None:
    graph = import_graph()
    edges = {
        source: {target for target in targets if (source, target) not in KNOWN_CYCLE_EDGES}
        for source, targets in graph.items()
    }
    loops = cycles(edges)
    detail = [
        f"{source} -> {target} ({', '.join(sorted(graph[source][target]))})"
        for loop in loops
        for source in loop
        for target in sorted(edges[source] & set(loop))
    ]
    assert loops == [], "package cycles:\n" + "\n".join(detail)


def test_the_cycle_finder_sees_direct_and_longer_loops() -> None:
    assert cycles({"a": {"b"}, "b": {"a"}, "c": {"a"}}) == [["a", "b"]]
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": set()}) == [["a", "b", "c"]]
    assert cycles({"a": {"b"}, "b": {"c"}}) == []


def test_lazy_and_from_package_imports_are_seen() -> None:
    graph = import_graph()
    assert "facade.api" in graph["facade.app"]
    assert "facade.xmldoc" in graph["facade.soap"]  # ``from facade import xmldoc``
    assert "facade.settings" in graph["facade.cli"]  # imported inside the command functions
