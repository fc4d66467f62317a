"""The shape of the package: shop_clip's module-level imports form no cycle, and a function-local
import that would close one says why on its line."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "shop_clip"


def _modules() -> dict[str, Path]:
    """Every module of shop_clip by dotted name (a package by its own name)."""
    modules = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        modules[".".join(parts)] = path
    return modules


MODULES = _modules()


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def _imports(tree: ast.Module) -> tuple[list[ast.stmt], list[ast.stmt]]:
    """The import statements that run when the module is imported (class bodies and ``if``/``try``
    blocks included, ``if TYPE_CHECKING:`` left out), and those inside functions."""
    at_import: list[ast.stmt] = []
    local: list[ast.stmt] = []

    def visit(statements: list[ast.stmt], in_function: bool) -> None:
        for node in statements:
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                (local if in_function else at_import).append(node)
            elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                visit(node.body, True)
            elif isinstance(node, ast.If) and _is_type_checking(node):
                visit(node.orelse, in_function)
            else:
                for name in ("body", "orelse", "finalbody", "handlers", "cases"):
                    for child in getattr(node, name, []) or []:
                        visit([child] if isinstance(child, ast.stmt) else child.body, in_function)

    visit(tree.body, False)
    return at_import, local


def _targets(module: str, node: ast.stmt) -> set[str]:
    """The shop_clip modules an import statement runs (each with its parent packages)."""
    if isinstance(node, ast.Import):
        names = [alias.name for alias in node.names]
    else:
        if node.level:
            base = module.split(".") if MODULES[module].name == "__init__.py" else module.split(".")[:-1]
            base = base[:len(base) - node.level + 1]
            prefix = ".".join(base + ([node.module] if node.module else []))
        else:
            prefix = node.module or ""
        names = [prefix] + [f"{prefix}.{alias.name}" for alias in node.names]
    targets = set()
    for name in names:
        parts = name.split(".")
        targets.update(".".join(parts[:i]) for i in range(1, len(parts) + 1))
    # A module's own packages are already being imported when it runs: no edge back to them.
    return {t for t in targets if t in MODULES and t != module and not module.startswith(t + ".")}


def _graph() -> tuple[dict[str, set[str]], list[tuple[str, ast.stmt, set[str]]]]:
    graph, local = {}, []
    for module, path in MODULES.items():
        at_import, inside = _imports(ast.parse(path.read_text(), str(path)))
        graph[module] = set().union(*(_targets(module, node) for node in at_import))
        local += [(module, node, _targets(module, node)) for node in inside]
    return graph, local


def _path(graph: dict[str, set[str]], start: str, goal: str) -> list[str] | None:
    """A chain of imports from ``start`` to ``goal``, or None."""
    seen, stack = {start}, [[start]]
    while stack:
        chain = stack.pop()
        if chain[-1] == goal:
            return chain
        for nxt in sorted(graph[chain[-1]] - seen):
            seen.add(nxt)
            stack.append([*chain, nxt])
    return None


def test_module_level_imports_form_no_cycle():
    graph, _ = _graph()
    cycles = []
    for module, targets in graph.items():
        for target in targets:
            back = _path(graph, target, module)
            if back:
                cycles.append(" -> ".join([module, *back]))
    assert not cycles, "import cycles:\n" + "\n".join(sorted(cycles))


def test_a_function_local_import_that_would_close_a_cycle_says_why():
    graph, local = _graph()
    unexplained = []
    for module, node, targets in local:
        lines = MODULES[module].read_text().splitlines()
        explained = "#" in lines[node.lineno - 1] or lines[node.lineno - 2].strip().startswith("#")
        for target in targets:
            if _path(graph, target, module) and not explained:
                unexplained.append(f"{module}:{node.lineno} imports {target}")
    assert not unexplained, "function-local imports closing a cycle without a comment saying why:\n" + \
        "\n".join(unexplained)


def test_the_pipeline_never_imports_the_tasks_or_the_store_facing_indexing_module():
    """Tasks are sent by name (``broker``); ``shop_clip.indexing`` is for store code only."""
    graph, local = _graph()
    for leaf in ("shop_clip.tasks", "shop_clip.indexing"):
        importers = {m for m, targets in graph.items() if leaf in targets}
        importers |= {m for m, _, targets in local if leaf in targets}
        assert not importers, f"{leaf} is imported by {sorted(importers)}"


def test_the_checker_sees_a_cycle_and_the_structures_it_must_skip():
    """The graph itself: relative imports resolved, TYPE_CHECKING and function bodies left out."""
    graph, local = _graph()
    assert "shop_clip.conf" in graph["shop_clip.encoders"]
    assert "shop_clip.encoders" in graph["shop_clip.spaces"]
    assert "shop_clip.knn" not in graph["shop_clip.scan_plan"]  # only under TYPE_CHECKING
    assert "shop_clip.tagging" in graph["shop_clip.tasks"]
    assert any(m == "shop_clip.scan_plan" and "shop_clip.keywords" in t for m, _, t in local)
    assert _path({"a": {"b"}, "b": {"a"}}, "b", "a") == ["b", "a"]
