"""The hot reload (`kamcmd app_python.reload`) reloads every module of the package, dependencies first."""

import ast
from pathlib import Path

KEMI = Path(__file__).resolve().parents[2] / "kemi"


def reload_order() -> list[str]:
    tree = ast.parse((KEMI / "entry.py").read_text())
    for node in tree.body:
        if isinstance(node, ast.Assign) and node.targets[0].id == "_MODULES":
            return [element.attr for element in node.value.elts]
    raise AssertionError("no _MODULES in kemi/entry.py")


def package_imports(name: str) -> set[str]:
    """The package's modules that kemi/<name>.py imports from (`from . import x`, `from .x import y`)."""
    found = set()
    for node in ast.walk(ast.parse((KEMI / f"{name}.py").read_text())):
        if isinstance(node, ast.ImportFrom) and node.level == 1:
            found.update([node.module] if node.module else [alias.name for alias in node.names])
    return found


def test_every_module_is_reloaded_once():
    modules = sorted(p.stem for p in KEMI.glob("*.py") if p.stem not in ("__init__", "entry"))
    assert sorted(reload_order()) == modules


def test_each_module_is_reloaded_after_the_modules_it_imports():
    order = reload_order()
    for position, name in enumerate(order):
        late = [dep for dep in package_imports(name) if order.index(dep) > position]
        assert not late, f"{name} is reloaded before {late}: it would keep their old code"
