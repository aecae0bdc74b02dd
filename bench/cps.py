"""The SBC's cost per call next to a native kamailio.cfg of the same call flow, in one run.

    make bench                                   # both runtimes, default ladder
    python -m bench.cps --ladder 100,200,300 --calls 2000 --off topos,cdr

Carrier (SIPp) -> private socket -> Kamailio -> public socket -> two gateways (SIPp), through the same
MariaDB, Redis and rtpengine. The sides (bench/native.cfg, the seed's flow; bench/native-full.cfg, the SBC's
work in native cfg; kamailio/kamailio.cfg, the SBC as shipped) run one after the other at each rate of the
ladder, the order turning, on the same sockets. For each run: Kamailio's CPU per call and the whole
stack's (on-CPU time of the processes, /proc/PID/schedstat), INVITE->200 p50/p99 (SIPp -trace_rtt), failed
calls, MariaDB statements and Redis commands per call; then one SBC run with its KSR crossings counted.
`--off` adds SBC runs with features switched off (bench only: see bench/features.py).
Must run in its own network namespace (make bench does that): all traffic stays on loopback.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import sys
import tempfile
import time
from pathlib import Path

from bench import features, probe, report, runtime
from bench.load import TENANT_SQL, Load
from kemi import ksrcount
from stack.services import KAMAILIO_DIR
from stack.stack import Stack

BENCH = Path(__file__).resolve().parent
# The references: the seed's call flow (no hiding, no state), and the SBC's own work in native cfg.
REFERENCES = {"native": BENCH / "native.cfg", "native-full": BENCH / "native-full.cfg"}
SHIPPED = KAMAILIO_DIR / "kamailio.cfg"


def run_side(stack: Stack, load: Load, where: str, name: str, off: tuple[str, ...], rate: float, calls: int,
             work: Path) -> dict:
    """Start this side's Kamailio, warm it up, measure `calls` at `rate`, stop it."""
    cfg = REFERENCES.get(name, SHIPPED)
    env = {**stack.env, **features.switches(off)}
    if name in REFERENCES:
        env["NATIVE_SQLCON"] = "cb=>" + stack.settings.kamailio_env()["DB_URL"]
    # (all of them: a short name, the run directory holds unix sockets, whose paths may not pass 107 bytes)
    label = name if not off else "sbc-no-all" if set(off) == set(features.FEATURES) else f"sbc-no-{'-'.join(off)}"
    kamailio = start_kamailio(stack, where, env, work / f"{where}-{label}-{rate:g}", cfg, features.defines(off))
    try:
        load.calls(f"{label}-{rate:g}-warm", 40, 20)  # caches, connections, first dispatcher choice
        before = probe.Snapshot.take(stack.db, (stack.settings.redis_ip, stack.settings.redis_port),
                                     stack.settings.redis_password)
        result = load.calls(f"{label}-{rate:g}", calls, rate)
        time.sleep(1.5)  # the last CDR inserts (async workers)
        after = probe.Snapshot.take(stack.db, (stack.settings.redis_ip, stack.settings.redis_port),
                                     stack.settings.redis_password)
    finally:
        kamailio.stop()
    return {"runtime": where, "side": label, "rate": rate, **result, **probe.per_call(before, after, calls)}


# Entry points that run per message; the others are timers and HTTP, counted apart (not per call).
PER_MESSAGE = ("ksr_request_route", "branch_to_gateway", "branch_to_telecom", "ksr_reply_route", "reply_media",
               "failure_from_gateway", "failure_from_telecom", "ksr_onsend_route", "ksr_onsend_check",
               "ksr_topos_event", "ksr_tm_event", "ksr_dialog_event", "ksr_dispatcher_event", "ksr_uac_reply")


def htable_items(kamailio, table: str) -> dict[str, int]:
    """name -> value of an htable's integer items (kamcmd htable.dump: the ctl socket, which the image's
    Kamailio answers too; its JSON-RPC socket cannot reach a client outside the container)."""
    text = kamailio.rpc("htable.dump", table)
    return {name: int(value) for name, value in re.findall(r"name: (\S+)\s+value: (-?\d+)", text)}


def count_crossings(stack: Stack, load: Load, where: str, calls: int, rate: float, work: Path) -> dict:
    """One extra SBC run with every KSR call counted (kemi/ksrcount.py): crossings per call, per entry point.
    Apart from the timed runs, whose CPU the counting would change."""
    env = {**stack.env, "SBC_BENCH_COUNT_KSR": "1"}
    kamailio = start_kamailio(stack, where, env, work / f"{where}-sbc-counted")
    try:
        load.calls(f"counted-{where}-warm", 40, 20)
        items = htable_items(kamailio, ksrcount.COUNT_TABLE)
        before, functions_before = ksrcount.per_entry(items), ksrcount.per_function(items)
        result = load.calls(f"counted-{where}", calls, rate)
        time.sleep(1.5)
        items = htable_items(kamailio, ksrcount.COUNT_TABLE)
        after, functions_after = ksrcount.per_entry(items), ksrcount.per_function(items)
    finally:
        kamailio.stop()
    placed = max(result["ok"], 1)
    entries = {}
    for entry, (crossings, runs) in sorted(after.items()):
        was = before.get(entry, (0, 0))
        entries[entry] = {"crossings_per_call": round((crossings - was[0]) / placed, 1),
                          "runs_per_call": round((runs - was[1]) / placed, 2)}
    per_call = round(sum(e["crossings_per_call"] for name, e in entries.items() if name in PER_MESSAGE), 1)
    functions = {name: round((count - functions_before.get(name, 0)) / placed, 1)
                 for name, count in functions_after.items()}
    return {"runtime": where, "calls": result["ok"], "failed": result["failed"], "ksr_crossings_per_call": per_call,
            "entries": entries, "functions": {k: v for k, v in sorted(functions.items(), key=lambda i: -i[1]) if v}}


def start_kamailio(stack: Stack, where: str, env: dict[str, str], run_dir: Path, cfg: Path = SHIPPED,
                   defines: tuple[str, ...] = ()):
    run_dir.mkdir(parents=True, exist_ok=True)
    kamailio = runtime.kamailio_class(where)(stack.settings, env, run_dir, log_to_files=True, cfg=cfg,
                                             defines=defines)
    try:
        kamailio.start()
    except Exception:
        kamailio.stop()  # one that started but never became ready would run on (seen: a whole session)
        raise
    return kamailio


@contextlib.contextmanager
def backing(work: Path, runtimes: list[str], workers: int, duration_ms: int):
    """MariaDB, Redis and the SIPp gateways for every run (and the bench's Docker engine for the image)."""
    engine = runtime.start_engine() if "image" in runtimes else None
    env = {"PATH": os.environ["PATH"], "LOG_LEVEL": "0", "SIP_WORKERS": str(workers)}
    stack = Stack(env, work / "sbc", demo_data=True)
    try:
        stack.db.start()
        stack.db.bootstrap(demo_data=True)
        stack.db.sql(TENANT_SQL, stack.settings.db_name)
        stack.redis.start()
        with Load(work, stack.settings, duration_ms) as load:
            yield stack, load
    finally:
        stack.stop()
        if engine:
            engine.stop()


@contextlib.contextmanager
def media(stack: Stack, where: str):
    """This runtime's rtpengine (the image's Kamailio needs the image's)."""
    print(f"{where}: {runtime.version(where)}", flush=True)
    rtpengine = runtime.rtpengine(where, stack)
    rtpengine.run_dir.mkdir(parents=True, exist_ok=True)
    rtpengine.start()
    try:
        yield rtpengine
    finally:
        rtpengine.stop()


def _ladder(work: Path, args, ladder: list[float], variants: list) -> tuple[list[dict], list[dict]]:
    rows, counted = [], []
    runtimes = [r for r in args.runtime.split(",") if r]
    with backing(work, runtimes, args.workers, args.duration_ms) as (stack, load):
        for where in runtimes:
            with media(stack, where):
                _rates(stack, load, where, ladder, variants, args, work, rows)
                if args.count_calls and "sbc" in args.sides:
                    counted.append(count_crossings(stack, load, where, args.count_calls, min(ladder), work))
                    print(report.crossings(counted[-1]), flush=True)
    return rows, counted


def _rates(stack, load, where, ladder, variants, args, work, rows) -> None:
    for i, rate in enumerate(ladder):
        order = variants if i % 2 == 0 else variants[::-1]  # alternate who goes first
        for name, off in order:
            row = run_side(stack, load, where, name, off, rate, args.calls, work)
            rows.append(row)
            print(report.line(row), flush=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--ladder", default="100,200,400,600,800", help="call rates (calls/s), comma-separated")
    parser.add_argument("--calls", type=int, default=2000, help="calls per run")
    parser.add_argument("--duration-ms", type=int, default=1000, help="answered call length")
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--off", default="", help=f"extra SBC runs without these: {','.join(features.FEATURES)}"
                        " (one run per name, 'all' for all at once)")
    parser.add_argument("--runtime", default="host,image", help="host (this host's Kamailio), image (the "
                        "shipped image's) or both, comma-separated")
    parser.add_argument("--sides", default="native,native-full,sbc", help="which of native,native-full,sbc to run")
    parser.add_argument("--count-calls", type=int, default=500, help="calls of the extra run that counts KSR "
                        "crossings per call (0: none)")
    parser.add_argument("--keep", action="store_true", help="keep the run directory (logs) and print where")
    parser.add_argument("--out", type=Path, default=BENCH / "results")
    args = parser.parse_args()
    if {n for _, n in __import__("socket").if_nameindex()} != {"lo"}:
        print("run in a private network namespace: make bench", file=sys.stderr)
        return 2
    if not args.runtime or set(args.runtime.split(",")) - {"host", "image"}:
        parser.error("--runtime: host, image or host,image")
    ladder = [float(r) for r in args.ladder.split(",") if r]
    sides = [s for s in args.sides.split(",") if s]
    if not sides or set(sides) - {"native", "native-full", "sbc"}:
        parser.error("--sides: some of native, native-full, sbc")
    variants = [(s, ()) for s in sides] + features.variants(args.off)

    if args.keep:
        work = Path(tempfile.mkdtemp(prefix="sbc-bench-"))
        print(f"run directory (kept): {work}")
        rows, counted = _ladder(work, args, ladder, variants)
    else:
        with tempfile.TemporaryDirectory(prefix="sbc-bench-") as tmp:
            rows, counted = _ladder(Path(tmp), args, ladder, variants)
    summary = {where: report.summary([r for r in rows if r["runtime"] == where])
               for where in dict.fromkeys(r["runtime"] for r in rows)}
    for where, sides in summary.items():
        print(f"\n{where}\n{report.table(sides)}")
    for found in counted:
        print(f"\n{found['runtime']}: KSR crossings per call\n{report.crossings_table(found)}")
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / f"bench-{int(time.time())}.json").write_text(
        json.dumps({"args": vars(args) | {"out": str(args.out)}, "runs": rows, "summary": summary,
                    "ksr_crossings": counted}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
