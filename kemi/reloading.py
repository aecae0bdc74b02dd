"""The order in which `kamcmd app_python.reload` re-imports the routes' packages (kemi and the sbclib it uses):
computed from the modules' own imports, each module after every module it imports from, so that a
`from x import name` binds the new `name`."""

from __future__ import annotations

import ast
import importlib.util
import pkgutil
from graphlib import TopologicalSorter
from pathlib import Path


def modules_of(package: str, path: list[str]) -> list[str]:
    """Every module of the package and its subpackages, by name (subpackages included, as modules)."""
    return sorted(m.name for m in pkgutil.walk_packages(path, prefix=f"{package}."))


def imports_of(name: str, source: str, is_package: bool, within: tuple[str, ...]) -> set[str]:
    """The modules of the packages `within` that module `name` imports (relative or absolute)."""
    anchor = name if is_package else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.ImportFrom):
            base = importlib.util.resolve_name("." * node.level + (node.module or ""), anchor) if node.level \
                else node.module or ""
            found.add(base)
            found.update(f"{base}.{alias.name}" for alias in node.names)  # `from . import x`: module x
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
    return {m for m in found if m.split(".")[0] in within}


def order(packages: dict[str, list[str]]) -> list[str]:
    """The packages' modules (package name -> its __path__), leaves first. Raises graphlib.CycleError on an
    import cycle."""
    names = [name for package, path in packages.items() for name in modules_of(package, path)]
    graph = {}
    for name in names:
        spec = importlib.util.find_spec(name)
        is_package = spec.submodule_search_locations is not None
        source = Path(spec.origin).read_text()
        graph[name] = {m for m in imports_of(name, source, is_package, tuple(packages)) if m in names and m != name}
    return list(TopologicalSorter(graph).static_order())
