"""The hot reload (`kamcmd app_python.reload`): every module of the package, subpackages included, re-imported
after the modules it imports from; the order is computed (kemi/reloading.py), not kept by hand."""

import importlib
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
from tests.unit.fake_ksr import FakeKSR
sys.modules["KSR"] = FakeKSR()
import kemi
import sbclib
from kemi import entry, reloading
names = [n for n in reloading.order({"sbclib": sbclib.__path__, "kemi": kemi.__path__}) if n != "kemi.entry"]
before = {n: vars(importlib.import_module(n)).copy() for n in names}
old_reject, old_load = sys.modules["kemi.access.admission"].reject, sys.modules["sbclib.settings"].load
entry._reload_all()
assert sys.modules["kemi.routes"].reject is sys.modules["kemi.access.admission"].reject is not old_reject
assert sys.modules["sbclib.settings"].load is not old_load
for n, old in before.items():
    functions = [k for k, v in old.items() if callable(v) and getattr(v, "__module__", "") == n]
    stale = [k for k in functions if vars(sys.modules[n])[k] is old[k]]
    assert not stale, (n, stale)
print(len(names), "modules reloaded")
"""


def test_a_reload_rebinds_every_module_and_what_modules_took_from_each_other():
    """In a process of its own: a reload here would leave the other tests holding the old classes."""
    done = subprocess.run([sys.executable, "-c", RELOAD_CHECK], cwd=KEMI.parent, capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == f"{len(reloading.order(PACKAGES)) - 1} modules reloaded"
