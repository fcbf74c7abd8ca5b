"""The public API is annotated: every public function and method of ``imbacl`` (module level, or
of a public class; names without a leading underscore) annotates each argument and its return
value. The package imports ``from __future__ import annotations``, so annotations cost nothing at
run time; the API page leaves them out of its signatures (``autodoc_typehints: none``)."""

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
MODULES = sorted(p for p in (ROOT / "imbacl").glob("*.py") if not p.stem.startswith("_"))


def unannotated(tree) -> list:
    """'name: what' for every public function or method of ``tree`` missing an annotation."""
    out = []

    def check(fn, owner=""):
        args = fn.args
        params = args.posonlyargs + args.args + args.kwonlyargs
        if owner and params and params[0].arg in ("self", "cls"):
            params = params[1:]
        params += [a for a in (args.vararg, args.kwarg) if a is not None]
        missing = [a.arg for a in params if a.annotation is None]
        if fn.returns is None and fn.name != "__init__":
            missing.append("return")
        if missing:
            out.append(f"{owner}{fn.name}: {', '.join(missing)}")

    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and not node.name.startswith(
            "_"
        ):
            check(node)
        elif isinstance(node, ast.ClassDef) and not node.name.startswith("_"):
            for item in node.body:
                if isinstance(item, (ast.FunctionDef, ast.AsyncFunctionDef)) and (
                    not item.name.startswith("_") or item.name == "__init__"
                ):
                    check(item, node.name + ".")
    return out


@pytest.mark.parametrize("path", MODULES, ids=lambda p: p.stem)
def test_public_api_is_annotated(path):
    missing = unannotated(ast.parse(path.read_text()))
    assert not missing, f"{path.name}: unannotated " + "; ".join(missing)


def test_the_check_finds_a_missing_annotation():
    tree = ast.parse(
        "def f(a: int, b):\n    pass\nclass C:\n    def g(self) -> int:\n        pass\n"
        "    def h(self, x: int):\n        pass\n"
    )
    assert unannotated(tree) == ["f: b, return", "C.h: return"]
