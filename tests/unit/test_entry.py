"""The hot reload (`kamcmd app_python.reload`): every module of the package, subpackages included, re-imported
after the modules it imports from; the order is computed (kemi/reloading.py), not kept by hand."""

import importlib
import os
import shutil
import subprocess
import sys
import textwrap
from graphlib import CycleError
from pathlib import Path

import pytest

import kemi
import sbclib
from kemi import reloading

KEMI = Path(kemi.__file__).resolve().parent
PACKAGES = {"sbclib": sbclib.__path__, "kemi": kemi.__path__}


def write_package(root: Path, files: dict[str, str]) -> None:
    for name, source in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(source))


def test_every_module_of_the_packages_is_in_the_order_once():
    order = reloading.order(PACKAGES)
    on_disk = sorted(".".join(p.relative_to(root.parent).with_suffix("").parts).removesuffix(".__init__")
                     for root in (KEMI, KEMI.parent / "sbclib") for p in root.rglob("*.py")
                     if p.name != "__init__.py" or p.parent != root)
    assert sorted(order) == on_disk
    assert len(order) == len(set(order))


def test_each_module_comes_after_the_modules_it_imports():
    order = reloading.order(PACKAGES)
    for position, name in enumerate(order):
        spec = importlib.util.find_spec(name)
        deps = reloading.imports_of(name, Path(spec.origin).read_text(), spec.submodule_search_locations is not None,
                                    tuple(PACKAGES))
        late = [dep for dep in deps if dep in order and order.index(dep) > position]
        assert not late, f"{name} is reloaded before {late}: it would keep their old code"


def test_subpackages_are_ordered_by_their_relative_and_absolute_imports(tmp_path):
    write_package(tmp_path, {
        "pkg/__init__.py": "",
        "pkg/lib/__init__.py": "",
        "pkg/lib/base.py": "X = 1\n",
        "pkg/hiding/__init__.py": "from . import guard\n",
        "pkg/hiding/guard.py": "from ..lib.base import X\n",
        "pkg/routes.py": "from .hiding import guard\nimport pkg.lib.base\n",
    })
    sys.path.insert(0, str(tmp_path))
    try:
        import pkg
        order = reloading.order({"pkg": pkg.__path__})
    finally:
        sys.path.remove(str(tmp_path))
        for name in [m for m in sys.modules if m == "pkg" or m.startswith("pkg.")]:
            del sys.modules[name]
    assert sorted(order) == ["pkg.hiding", "pkg.hiding.guard", "pkg.lib", "pkg.lib.base", "pkg.routes"]
    assert order.index("pkg.lib.base") < order.index("pkg.hiding.guard") < order.index("pkg.hiding")
    assert order.index("pkg.hiding") < order.index("pkg.routes")


def test_an_import_cycle_is_refused_not_reloaded_in_a_wrong_order(tmp_path):
    write_package(tmp_path, {"cyc/__init__.py": "", "cyc/a.py": "from .b import Y\n", "cyc/b.py": "from .a import X\n"})
    sys.path.insert(0, str(tmp_path))
    try:
        import cyc
        with pytest.raises(CycleError):
            reloading.order({"cyc": cyc.__path__})
    finally:
        sys.path.remove(str(tmp_path))
        for name in [m for m in sys.modules if m == "cyc" or m.startswith("cyc.")]:
            del sys.modules[name]


RELOAD_CHECK = """
import importlib
import sys
from pathlib import Path
from tests.unit.fake_ksr import FakeKSR
sys.modules["KSR"] = FakeKSR()
import kemi
import sbclib
from kemi import entry, reloading
names = [n for n in reloading.order(entry.PACKAGES) if n != "kemi.entry"]
for n in names:
    importlib.import_module(n)
assert entry._reload_changed() == []  # at start: every module was just imported
assert entry._reload_changed() == []  # a reload with nothing changed re-imports nothing


def functions(name):
    return {k: v for k, v in vars(sys.modules[name]).items() if callable(v) and getattr(v, "__module__", "") == name}


def reload_after_editing(path):
    before = {n: functions(n) for n in names}
    Path(path).write_text(Path(path).read_text() + "\\n# edited\\n")
    done = entry._reload_changed()
    rebound = {n for n in names if any(vars(sys.modules[n])[k] is not v for k, v in before[n].items())}
    return done, rebound


done, rebound = reload_after_editing("kemi/access/admission.py")
assert "kemi.access.admission" in done and "kemi.routes" in done, done
assert "sbclib.settings" not in done and "kemi.telemetry.metrics" not in done, done
assert set(done) - {"kemi.entry"} == rebound, (done, rebound)
assert sys.modules["kemi.routes"].reject is sys.modules["kemi.access.admission"].reject
assert done.index("kemi.access.admission") < done.index("kemi.routes")
print(len(done), "after an edit of admission")
done, rebound = reload_after_editing("sbclib/settings.py")
assert "sbclib.settings" in done and set(done) - {"kemi.entry"} == rebound, (done, rebound)
assert sys.modules["kemi.entry"].sbclib.settings.load is sys.modules["sbclib.settings"].load
Path("kemi/telemetry/added.py").write_text("X = 1\\n")
assert entry._reload_changed() == ["kemi.telemetry.added"] and sys.modules["kemi.telemetry.added"].X == 1
print(len(names), "modules")
"""


def test_a_reload_reimports_what_changed_and_every_module_importing_it(tmp_path):
    """In a process of its own, on a copy of the packages: a reload re-imports the modules whose source changed
    and all that import them (rebinding what they took from each other), nothing else; a new module is
    imported."""
    for package in ("kemi", "sbclib"):
        shutil.copytree(KEMI.parent / package, tmp_path / package, ignore=shutil.ignore_patterns("__pycache__"))
    done = subprocess.run([sys.executable, "-c", RELOAD_CHECK], cwd=tmp_path, capture_output=True, text=True,
                          timeout=60, env={**os.environ, "PYTHONPATH": str(KEMI.parent)})
    assert done.returncode == 0, done.stderr
    lines = done.stdout.split("\n")
    assert lines[1] == f"{len(reloading.order(PACKAGES)) - 1} modules", done.stdout
    assert int(lines[0].split()[0]) < len(reloading.order(PACKAGES)) / 2, done.stdout
