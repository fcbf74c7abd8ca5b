"""Chapters only call: every chapter code cell filters, calls the package and states a verdict.

No chapter defines a function, lambda or class (they belong in ``imbacl``, with tests), no code
cell is longer than 25 lines of code (comments and blank lines aside), and the names ``M`` (the
dictionary) and ``W`` (the weights) are never bound to a module. Code cells read as prose: no
line is wider than 100 characters (comments included) and no ``;`` joins two statements on one
line (a ``;`` inside a string is text, not a separator).
"""

import ast
import importlib
import io
import json
import tokenize
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
CHAPTERS = sorted((ROOT / "chapters").glob("*.ipynb"))
MAX_LINES = 25
MAX_WIDTH = 100  # characters per line of a code cell
RESERVED = {"M", "W"}  # the dictionary and the weights


def code_cells(path):
    """(index, source) of every code cell; IPython lines (``%magic``, ``!shell``) are blanked."""
    nb = json.loads(path.read_text())
    for i, cell in enumerate(nb["cells"]):
        if cell["cell_type"] == "code":
            src = "".join(cell["source"])
            yield (
                i,
                "\n".join(
                    "" if line.lstrip().startswith(("%", "!")) else line
                    for line in src.splitlines()
                ),
            )


def lines_of_code(src: str) -> int:
    return sum(1 for line in src.splitlines() if line.strip() and not line.strip().startswith("#"))


def long_lines(src: str) -> list:
    """(line, width) of every line of ``src`` wider than ``MAX_WIDTH`` characters."""
    return [(n, len(line)) for n, line in enumerate(src.splitlines(), 1) if len(line) > MAX_WIDTH]


def semicolons(src: str) -> list:
    """Lines of ``src`` where a ``;`` token of Python's tokenizer separates statements (a ``;``
    inside a string literal or a comment is not such a token)."""
    tokens = tokenize.generate_tokens(io.StringIO(src).readline)
    return [t.start[0] for t in tokens if t.type == tokenize.OP and t.string == ";"]


def definitions(tree) -> list:
    """(kind, line) of every def, async def, lambda and class in ``tree``."""
    kinds = {
        ast.FunctionDef: "def",
        ast.AsyncFunctionDef: "async def",
        ast.Lambda: "lambda",
        ast.ClassDef: "class",
    }
    return [(kinds[type(n)], n.lineno) for n in ast.walk(tree) if type(n) in kinds]


def _dotted(node):
    parts = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if isinstance(node, ast.Name):
        return ".".join([node.id] + parts[::-1])
    return None


def _is_module(dotted: str, modules: dict) -> bool:
    """Whether a dotted name refers to a module, given the names imports bound to modules."""
    head, _, rest = dotted.partition(".")
    if head not in modules:
        return False
    full = modules[head] + ("." + rest if rest else "")
    try:
        importlib.import_module(full)
        return True
    except ImportError:
        return False


def reserved_module_bindings(trees) -> list:
    """Messages for every import aliased to M or W and every assignment binding M or W to a
    module, over the cells of one notebook in order (imports of earlier cells count)."""
    modules, found = {}, []
    for tree in trees:
        for n in ast.walk(tree):
            if isinstance(n, (ast.Import, ast.ImportFrom)):
                for a in n.names:
                    bound = a.asname or a.name.split(".")[0]
                    if bound in RESERVED and a.asname:
                        found.append(f"line {n.lineno}: import aliased to {bound}")
                    if isinstance(n, ast.Import):
                        modules[bound] = a.name if a.asname else a.name.split(".")[0]
                    elif n.module and n.level == 0:
                        modules[bound] = f"{n.module}.{a.name}"
            elif isinstance(n, (ast.Assign, ast.AnnAssign, ast.NamedExpr)):
                targets = n.targets if isinstance(n, ast.Assign) else [n.target]
                names = {t.id for tgt in targets for t in ast.walk(tgt) if isinstance(t, ast.Name)}
                dotted = _dotted(n.value) if n.value is not None else None
                for name in sorted(names & RESERVED):
                    if dotted and _is_module(dotted, modules):
                        found.append(f"line {n.lineno}: {name} = {dotted} (a module)")
    return found


@pytest.mark.parametrize("path", CHAPTERS, ids=lambda p: p.stem)
def test_chapter_cells_only_call(path):
    problems, trees = [], []
    for i, src in code_cells(path):
        tree = ast.parse(src, filename=f"{path.name} cell {i}")
        trees.append(tree)
        problems += [f"cell {i}, line {line}: {kind}" for kind, line in definitions(tree)]
        n = lines_of_code(src)
        if n > MAX_LINES:
            problems.append(f"cell {i}: {n} lines of code (at most {MAX_LINES})")
    problems += reserved_module_bindings(trees)
    assert not problems, f"{path.name}:\n" + "\n".join(problems)


@pytest.mark.parametrize("path", CHAPTERS, ids=lambda p: p.stem)
def test_chapter_lines_fit_100_characters(path):
    problems = [
        f"cell {i}, line {line}: {width} characters (at most {MAX_WIDTH})"
        for i, src in code_cells(path)
        for line, width in long_lines(src)
    ]
    assert not problems, f"{path.name}:\n" + "\n".join(problems)


@pytest.mark.parametrize("path", CHAPTERS, ids=lambda p: p.stem)
def test_chapter_statements_not_joined_by_semicolons(path):
    problems = [
        f"cell {i}, line {line}: ';' joins statements"
        for i, src in code_cells(path)
        for line in semicolons(src)
    ]
    assert not problems, f"{path.name}:\n" + "\n".join(problems)


def test_the_checks_catch_what_they_forbid():
    bad = ast.parse("def f(x):\n    return x\ng = lambda y: y\nclass C:\n    pass\n")
    assert sorted(k for k, _ in definitions(bad)) == ["class", "def", "lambda"]
    assert definitions(ast.parse("[x for x in range(3)]")) == []
    assert lines_of_code("# c\n\nx = 1\n  # d\ny = 2\n") == 2
    cells = [ast.parse("import imbacl\nfrom imbacl import metrics\nimport numpy as np")]
    assert reserved_module_bindings(cells + [ast.parse("M = imbacl.metrics")])
    assert reserved_module_bindings(cells + [ast.parse("W = metrics")])
    assert reserved_module_bindings([ast.parse("import ipywidgets as W")])
    assert reserved_module_bindings([ast.parse("from imbacl import metrics as M")])
    assert not reserved_module_bindings(cells + [ast.parse("M = sample['M']\nW = np.zeros(3)")])
    assert not reserved_module_bindings(cells + [ast.parse("W = imbacl.metrics.cos2")])
    assert long_lines("x = 1\n" + "y = " + "1" * 97 + "\n" + "# " + "z" * 98) == [(2, 101)]
    assert long_lines("# " + "z" * 98) == []
    assert semicolons("a = 1; b = 2\nc = 3\nd = 4;\n") == [1, 3]
    assert semicolons("s = 'a; b'  # c; d\nt = f\"{s};\"\n") == []
