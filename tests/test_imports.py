"""The package's import graph has no cycle: every ``from .x import`` and ``import imbacl.x``,
at module level, inside functions and under TYPE_CHECKING alike, read with ``ast``."""

import ast
from pathlib import Path

PKG = Path(__file__).resolve().parents[1] / "imbacl"
MODULES = {p.stem for p in PKG.glob("*.py")}


def imports_of(path: Path) -> set:
    deps = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            relative = node.level == 1 or (node.module or "").split(".")[0] == "imbacl"
            if not relative:
                continue
            parts = (node.module or "").split(".")
            name = parts[0] if node.level == 1 else (parts[1] if len(parts) > 1 else "")
            if name:
                deps.add(name)
            else:  # from . import x, y  /  from imbacl import x
                deps |= {a.name for a in node.names if a.name in MODULES} or {"__init__"}
        elif isinstance(node, ast.Import):
            deps |= {a.name.split(".")[1] for a in node.names if a.name.startswith("imbacl.")}
    return deps - {path.stem}


def graph() -> dict:
    return {p.stem: imports_of(p) & (MODULES | {"__init__"}) for p in PKG.glob("*.py")}


def find_cycle(g: dict):
    state, stack = {}, []

    def visit(v):
        state[v] = "open"
        stack.append(v)
        for w in sorted(g.get(v, ())):
            if state.get(w) == "open":
                return stack[stack.index(w) :] + [w]
            if w not in state:
                found = visit(w)
                if found:
                    return found
        stack.pop()
        state[v] = "done"
        return None

    for v in sorted(g):
        if v not in state:
            found = visit(v)
            if found:
                return found
    return None


def test_the_import_graph_has_no_cycle():
    g = graph()
    assert len(g) >= 20 and "train" in g["sweep"] and "history" in g["io"]  # the graph is read
    assert find_cycle(g) is None, " -> ".join(find_cycle(g))


def test_the_cycle_finder_finds_one():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None


def test_submodules_import_nothing_of_the_package_root():
    """``from . import __version__`` in a submodule would be a cycle through __init__."""
    for name, deps in graph().items():
        if name not in ("__init__", "__main__"):
            assert "__init__" not in deps, name
