"""Bench only: every crossing from Python into Kamailio (a KSR function called) counted, per entry point.

With SBC_BENCH_COUNT_KSR=1 (bench/cps.py sets it; a deployment, DROP_PRIVILEGES=1, refuses it) entry.py puts
a counting stand-in for KSR in place before the routes' modules are loaded, and kemi.sbc wraps each entry
point: after each run, this process's totals for it go to the htable COUNT_TABLE as "ksr:<entry>:<pid>"
(crossings) and "runs:<entry>:<pid>" (runs), and each KSR function's own total as "fn:<entry>/<function>:<pid>",
through the real KSR, uncounted. The bench sums them per call.
Off (the default), nothing is wrapped: the routes call KSR directly.
"""

from __future__ import annotations

import os
import sys
import types
from collections.abc import Callable

COUNT_TABLE = "sbcstate"


def _enabled(environ=os.environ) -> bool:
    on = environ.get("SBC_BENCH_COUNT_KSR", "").strip() == "1"
    if on and environ.get("DROP_PRIVILEGES", "0").strip() == "1":
        raise ValueError("SBC_BENCH_COUNT_KSR: bench only, refused in a deployment (DROP_PRIVILEGES=1)")
    return on


ENABLED = _enabled()
_crossings = [0]
_by_function: dict[str, int] = {}  # "ksr_request_route/pv.get" -> calls in this process
_entry = [""]  # the entry point running
_written: dict[str, int] = {}


class Counting(types.ModuleType):
    """KSR (or one of its submodules) whose functions count each call before making it."""

    def __init__(self, real, path: str = ""):
        super().__init__(getattr(real, "__name__", "KSR"))
        self._real = real
        self._path = path

    def __getattr__(self, name: str):
        attr = getattr(self._real, name)
        if isinstance(attr, types.ModuleType):
            wrapped = Counting(attr, f"{self._path}{name}.")
        elif callable(attr):
            def wrapped(*args, _call=attr, _name=f"{self._path}{name}"):
                _crossings[0] += 1
                key = f"{_entry[0]}/{_name}"
                _by_function[key] = _by_function.get(key, 0) + 1
                return _call(*args)
        else:
            return attr
        setattr(self, name, wrapped)  # found in the instance from now on: no second __getattr__
        return wrapped


def install() -> None:
    """Put the counting KSR in sys.modules (once), so that `import KSR` in the routes' modules finds it."""
    real = sys.modules.get("KSR")
    if ENABLED and real is not None and "_real" not in vars(real):  # (a reload's new class: still counting)
        sys.modules["KSR"] = Counting(real)


def counted(name: str, handler: Callable) -> Callable:
    if not ENABLED:
        return handler
    totals = {"ksr": 0, "runs": 0}  # this process's (a copy made before the fork starts from zero)

    def run(*args, **kwargs):
        before, outer = _crossings[0], _entry[0]
        _entry[0] = name
        try:
            return handler(*args, **kwargs)
        finally:
            _entry[0] = outer
            totals["ksr"] += _crossings[0] - before
            totals["runs"] += 1
            real, pid = sys.modules["KSR"]._real, os.getpid()
            for what, value in totals.items():
                real.htable.sht_seti(COUNT_TABLE, f"{what}:{name}:{pid}", value)
            for function, value in _by_function.items():
                if _written.get(function) != value:
                    real.htable.sht_seti(COUNT_TABLE, f"fn:{function}:{pid}", value)
                    _written[function] = value

    return run


def per_entry(items: dict[str, int]) -> dict[str, tuple[int, int]]:
    """The htable's "ksr:<entry>:<pid>" and "runs:<entry>:<pid>" summed over processes: entry -> (crossings, runs)."""
    found: dict[str, list[int]] = {}
    for key, value in items.items():
        what, _, rest = key.partition(":")
        entry = rest.rpartition(":")[0]
        if what in ("ksr", "runs") and entry:
            found.setdefault(entry, [0, 0])[what == "runs"] += int(value)
    return {entry: (ksr, runs) for entry, (ksr, runs) in found.items()}


def per_function(items: dict[str, int]) -> dict[str, int]:
    """The htable's "fn:<entry>/<function>:<pid>" summed over processes: entry/KSR function -> calls."""
    found: dict[str, int] = {}
    for key, value in items.items():
        what, _, rest = key.partition(":")
        function = rest.rpartition(":")[0]
        if what == "fn" and function:
            found[function] = found.get(function, 0) + int(value)
    return found
