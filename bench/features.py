"""SBC features the bench can switch off, to put a figure on each one's cost (sbclib/benchswitch.py):
the routes read SBC_BENCH_OFF, kamailio.cfg reads -A BENCH_NO_TOPOS / BENCH_NO_CDR."""

from __future__ import annotations

from sbclib.benchswitch import FEATURES

_DEFINES = {"topos": "BENCH_NO_TOPOS", "cdr": "BENCH_NO_CDR", "shmstore": "BENCH_TOPOS_REDIS"}


def variants(spec: str) -> list[tuple[str, tuple[str, ...]]]:
    names = [n.strip() for n in spec.split(",") if n.strip()]
    unknown = [n for n in names if n not in (*FEATURES, "all")]
    if unknown:
        raise SystemExit(f"--off: unknown feature {', '.join(unknown)} (known: {', '.join(FEATURES)}, all)")
    return [("sbc", FEATURES if n == "all" else (n,)) for n in names]


def switches(off: tuple[str, ...]) -> dict[str, str]:
    return {"SBC_BENCH_OFF": ",".join(off)} if off else {}


def defines(off: tuple[str, ...]) -> tuple[str, ...]:
    return tuple(_DEFINES[n] for n in off if n in _DEFINES)
