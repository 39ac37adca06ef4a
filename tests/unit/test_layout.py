"""The package's shape: no module over 600 lines, no function over 80 lines unless its docstring says
why in a sentence starting "Long because", and no circle among the modules' top-level imports."""

from __future__ import annotations

import ast
from pathlib import Path

import networkx as nx

# Files still being reworked elsewhere: their long modules and functions are allowed for now. Shrink
# this list as they are split; test_allow_list_is_not_stale fails when an entry is no longer needed.
# path -> names of the functions allowed to be long ("*": any function of the file, or the module's
# own length for ALLOWED_LONG_MODULES).
ALLOWED_LONG_FUNCTIONS: dict[str, frozenset[str]] = {}
ALLOWED_LONG_MODULES: frozenset[str] = frozenset()

MAX_MODULE_LINES = 600
MAX_FUNCTION_LINES = 80
REASON = "long because"

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "meshsim"


def _sources() -> list[tuple[str, str]]:
    return [(p.relative_to(ROOT).as_posix(), p.read_text()) for p in sorted(PACKAGE.rglob("*.py"))]


def _long_modules() -> set[str]:
    return {path for path, src in _sources() if src.count("\n") > MAX_MODULE_LINES}


def _long_functions(sources: list[tuple[str, str]] | None = None) -> set[tuple[str, str, int]]:
    """``(path, function name, lines)`` of every function (methods and nested ones too) over the limit
    whose docstring gives no reason, in ``sources`` (default: the package's)."""
    out = set()
    for path, src in _sources() if sources is None else sources:
        for node in ast.walk(ast.parse(src)):
            if not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                continue
            assert node.end_lineno is not None
            lines = node.end_lineno - node.lineno + 1
            if lines > MAX_FUNCTION_LINES and REASON not in (ast.get_docstring(node) or "").lower():
                out.add((path, node.name, lines))
    return out


def _allowed(path: str, name: str) -> bool:
    names = ALLOWED_LONG_FUNCTIONS.get(path, frozenset())
    return "*" in names or name in names


def test_no_module_over_600_lines() -> None:
    over = sorted(_long_modules() - ALLOWED_LONG_MODULES)
    assert not over, f"modules over {MAX_MODULE_LINES} lines (split them by concern): {over}"


def test_no_function_over_80_lines_without_a_reason() -> None:
    over = sorted(f"{p}:{n} ({k} lines)" for p, n, k in _long_functions() if not _allowed(p, n))
    assert not over, (
        f"functions over {MAX_FUNCTION_LINES} lines whose docstring gives no 'Long because ...' sentence: {over}"
    )


def test_allow_list_is_not_stale() -> None:
    long_fns = _long_functions()
    stale = [m for m in sorted(ALLOWED_LONG_MODULES) if m not in _long_modules()]
    for path, names in sorted(ALLOWED_LONG_FUNCTIONS.items()):
        in_file = {n for p, n, _ in long_fns if p == path}
        stale += [f"{path} {n}" for n in sorted(names) if (n == "*" and not in_file) or (n != "*" and n not in in_file)]
    assert not stale, f"allow-list entries no longer needed (remove them from tests/unit/test_layout.py): {stale}"


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _top_level_imports(tree: ast.Module, name: str, is_package: bool, modules: set[str]) -> set[str]:
    """The meshsim modules ``tree`` imports when it is imported: top-level statements (and ``try``
    bodies), not under ``if TYPE_CHECKING:``, not inside functions."""
    package = name if is_package else name.rpartition(".")[0]
    stmts: list[ast.stmt] = []
    for node in tree.body:
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            continue
        if isinstance(node, ast.Try):
            stmts += node.body + [s for h in node.handlers for s in h.body]
        else:
            stmts.append(node)
    out: set[str] = set()
    for node in stmts:
        if isinstance(node, ast.Import):
            out.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                mod = ".".join([*base, *([node.module] if node.module else [])])
            else:
                mod = node.module or ""
            out.add(mod)
            out.update(f"{mod}.{a.name}" for a in node.names)
    return {m for m in out if m in modules and m != name}


def test_no_import_circle_between_modules() -> None:
    files = {_module_name(p): p for p in PACKAGE.rglob("*.py")}
    g: nx.DiGraph = nx.DiGraph()
    for name, p in files.items():
        tree = ast.parse(p.read_text())
        for dep in _top_level_imports(tree, name, p.name == "__init__.py", set(files)):
            g.add_edge(name, dep)
    cycles = sorted(nx.simple_cycles(g), key=len)
    assert not cycles, f"import circles (top-level imports): {cycles[:5]}"


def test_a_reason_in_the_docstring_admits_a_long_function() -> None:
    body = "".join(f"    x{i} = {i}\n" for i in range(MAX_FUNCTION_LINES))
    plain = f"def f():\n{body}"
    reasoned = f'def g():\n    """Long because it is a flat table."""\n{body}'
    short = "def h():\n    return 1\n"
    found = _long_functions([("m.py", plain + reasoned + short)])
    assert found == {("m.py", "f", MAX_FUNCTION_LINES + 1)}
