"""What `kamcmd app_python.reload` re-imports of the routes' packages (kemi and the sbclib it uses), and in which
order: the modules whose source changed and those importing them, each after every module it imports from
(computed from the modules' own imports), so that a `from x import name` binds the new `name`. Re-importing
only what changed keeps a reload cheap: `sbcctl reload` asks for one with every configuration change, and
each process performs it at its next Python call, in the middle of live traffic."""

from __future__ import annotations

import ast
import hashlib
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


def fingerprint(source: bytes) -> str:
    return hashlib.blake2b(source, digest_size=16).hexdigest()


Known = dict[str, tuple[str, frozenset[str]]]  # module -> (its source's fingerprint, the modules it imports)


def plan(packages: dict[str, list[str]], known: Known) -> tuple[list[str], Known]:
    """What a reload re-imports, leaves first: each module whose source changed since `known` was taken (a new
    one too), and every module that imports one of them, directly or not (a `from x import name` must bind
    the new `name`); and the new `known`. With `known` empty: every module. Only changed sources are parsed.
    Raises graphlib.CycleError on an import cycle."""
    names = [name for package, path in packages.items() for name in modules_of(package, path)]
    present, within = set(names), tuple(packages)
    graph: dict[str, set[str]] = {}
    now: Known = {}
    changed = set()
    for name in names:
        spec = importlib.util.find_spec(name)
        source = Path(spec.origin).read_bytes()
        mark = fingerprint(source)
        if name in known and known[name][0] == mark:
            deps = known[name][1]
        else:
            changed.add(name)
            deps = frozenset(imports_of(name, source.decode(), spec.submodule_search_locations is not None, within))
        graph[name] = {m for m in deps if m in present and m != name}
        now[name] = (mark, deps)
    importers: dict[str, set[str]] = {name: set() for name in names}
    for name, deps in graph.items():
        for dep in deps:
            importers[dep].add(name)
    todo, stack = set(changed), list(changed)
    while stack:
        for importer in importers[stack.pop()] - todo:
            todo.add(importer)
            stack.append(importer)
    return [name for name in TopologicalSorter(graph).static_order() if name in todo], now


def order(packages: dict[str, list[str]]) -> list[str]:
    """Every module of the packages (package name -> its __path__), leaves first. Raises graphlib.CycleError on
    an import cycle."""
    return plan(packages, {})[0]
