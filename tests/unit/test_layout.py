"""The packages depend one way only: what app_python3 loads (kemi) and the tools (sbcctl, sbcapi, stack, bench) on
the shared library (sbclib), never on each other's internals, and nothing in a cycle."""

import ast
from graphlib import TopologicalSorter
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
# package -> the project's packages it may import
ALLOWED = {
    "sbclib": set(),
    "kemi": {"sbclib"},
    "sbcctl": {"sbclib"},
    "sbcapi": {"sbclib", "sbcctl"},  # one implementation of every check: sbcctl's
    "stack": {"sbclib"},
    "testkit": {"sbclib", "stack"},
    "bench": {"sbclib", "stack", "testkit", "kemi"},
    "scripts": {"sbclib"},
}
PACKAGES = set(ALLOWED) | {"tests"}


def imported_packages(package: str) -> dict[str, set[str]]:
    """The project's packages each file of `package` imports (absolute or relative)."""
    found = {}
    for path in (REPO / package).rglob("*.py"):
        names = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom):
                names.add(package if node.level else (node.module or "").split(".")[0])
            elif isinstance(node, ast.Import):
                names.update(alias.name.split(".")[0] for alias in node.names)
        found[str(path.relative_to(REPO))] = (names & PACKAGES) - {package}
    return found


def test_each_package_imports_only_what_it_may():
    wrong = {file: sorted(deps - ALLOWED[package]) for package in ALLOWED
             for file, deps in imported_packages(package).items() if deps - ALLOWED[package]}
    assert wrong == {}


def test_no_cycle_between_packages():
    graph = {package: set().union(*imported_packages(package).values()) for package in ALLOWED}
    list(TopologicalSorter(graph).static_order())  # raises CycleError on a cycle


def test_kemi_holds_only_what_app_python3_loads():
    """Every module of kemi is reached from entry.py's imports (nothing of the tools' lives there)."""
    import importlib.util

    from kemi import reloading
    on_disk = {".".join(p.relative_to(REPO).with_suffix("").parts).removesuffix(".__init__")
               for p in (REPO / "kemi").rglob("*.py")}
    reached, todo = set(), ["kemi.entry"]
    while todo:
        name = todo.pop()
        if name in reached:
            continue
        reached.add(name)
        spec = importlib.util.find_spec(name)
        todo += reloading.imports_of(name, Path(spec.origin).read_text(), spec.submodule_search_locations is not None,
                                     ("kemi",)) & on_disk
    assert on_disk - reached - {"kemi"} == set()
