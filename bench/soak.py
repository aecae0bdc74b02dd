"""Memory over a long run of the SBC as shipped: does anything grow with the number of calls?

    python -m bench.soak --calls 20000 --rate 100              # make soak
    python -m bench.soak --runtime image --calls 20000 --drain 200

The bench's call flow (bench/load.py) at one rate. Every `--every` seconds it reads: shared memory used
(core.shmmem) and dialogs active and processed (stats), over Kamailio's RPC; each Kamailio process's
private memory from /proc (Private_Dirty: its pkg pool's touched pages and the Python heap, which
pkg.stats does not see; pkg.stats is never updated under `-x tlsf` anyway); Redis's keys and memory.
After the last call it goes on for `--drain` seconds: topos keeps a finished call's records for its
branch_expire (180 s by default), so Redis releases them then, not at the BYE. Prints the samples and
the growth from the sample after `--settle` of the calls to the last one under load; the figures are
for the closing notes, no verdict.
"""

from __future__ import annotations

import argparse
import json
import re
import socket
import sys
import tempfile
import threading
import time
from pathlib import Path

from bench import probe
from bench.cps import BENCH, backing, media, start_kamailio


def _rpc_numbers(kamailio, *command: str) -> dict[str, int]:
    """name -> number from kamcmd's text answer (binrpc over the ctl socket: the image's Kamailio cannot
    answer a JSON-RPC datagram into the host's /tmp)."""
    return {m.group(1).rsplit(":", 1)[-1]: int(m.group(2))
            for m in re.finditer(r"([\w:]+)\s*[:=]\s*(\d+)", kamailio.rpc(*command))}


def private_memory() -> dict[int, int]:
    """Private_Dirty bytes of every Kamailio process, by PID (the image's processes are the host's too)."""
    found = {}
    for proc, _ in probe.processes(probe.KAMAILIO):
        try:
            rollup = (proc / "smaps_rollup").read_text()
        except OSError:
            continue  # exited meanwhile
        found[int(proc.name)] = 1024 * sum(int(line.split()[1]) for line in rollup.splitlines()
                                           if line.startswith("Private_Dirty:"))
    return found


def sample(kamailio, settings, started: float, ours: set[int]) -> dict:
    private = {pid: used for pid, used in private_memory().items() if pid in ours}
    shm = _rpc_numbers(kamailio, "core.shmmem")
    dialogs = _rpc_numbers(kamailio, "stats.get_statistics", "processed_dialogs", "active_dialogs")
    redis = probe.redis_counters(settings.redis_ip, settings.redis_port, password=settings.redis_password)
    return {"t_s": round(time.monotonic() - started, 1),
            "dialogs_processed": dialogs["processed_dialogs"], "dialogs_active": dialogs["active_dialogs"],
            "private_by_pid": private, "private_max": max(private.values()), "private_sum": sum(private.values()),
            "shm_used": shm["used"], "shm_real_used": shm["real_used"],
            "redis_keys": redis["keys"], "redis_used_memory": redis["used_memory"]}


def growth(first: dict, last: dict) -> dict:
    """What grew between two samples: private memory per process (largest, sum), shm, Redis."""
    per_pid = {pid: last["private_by_pid"].get(pid, 0) - used for pid, used in first["private_by_pid"].items()}
    calls = max(last["dialogs_processed"] - first["dialogs_processed"], 1)
    return {"calls": calls, "private_growth_max_bytes": max(per_pid.values()),
            "private_growth_sum_bytes": sum(per_pid.values()),
            "shm_growth_bytes": last["shm_used"] - first["shm_used"],
            "shm_growth_bytes_per_1000_calls": round((last["shm_used"] - first["shm_used"]) * 1000 / calls),
            "redis_keys_growth": last["redis_keys"] - first["redis_keys"]}


def line(s: dict) -> str:
    return (f"{s['t_s']:7.1f} s  calls {s['dialogs_processed']:6d}  active {s['dialogs_active']:5d}  "
            f"private max {s['private_max'] / 1024:8.1f} KiB sum {s['private_sum'] / 1024:9.1f} KiB  "
            f"shm {s['shm_used'] / 1024:9.1f} KiB  redis keys {s['redis_keys']:7d} "
            f"mem {s['redis_used_memory'] / 1024:8.1f} KiB")


def soak(work: Path, args) -> dict:
    samples: list[dict] = []
    with backing(work, [args.runtime], args.workers, args.duration_ms) as (stack, load), \
            media(stack, args.runtime):
        others = set(private_memory())  # any other Kamailio on this machine is not counted
        kamailio = start_kamailio(stack, args.runtime, dict(stack.env), work / f"{args.runtime}-soak")
        ours = set(private_memory()) - others  # its processes are all forked at start
        try:
            load.calls("soak-warm", 40, 20)
            result: dict = {}
            runner = threading.Thread(target=lambda: result.update(load.calls("soak", args.calls, args.rate)))
            started = time.monotonic()
            runner.start()
            while runner.is_alive():
                samples.append(sample(kamailio, stack.settings, started, ours))
                print(line(samples[-1]), flush=True)
                runner.join(args.every)
            under_load = len(samples)
            drain_until = time.monotonic() + args.drain
            while time.monotonic() < drain_until:
                time.sleep(min(args.every, max(drain_until - time.monotonic(), 0)))
                samples.append(sample(kamailio, stack.settings, started, ours))
                print(line(samples[-1]) + "  (drain)", flush=True)
        finally:
            kamailio.stop()
    settled = next((s for s in samples if s["dialogs_processed"] >= args.settle * args.calls), samples[0])
    last_loaded = samples[under_load - 1]
    return {"load": result, "samples": samples, "growth_under_load": growth(settled, last_loaded),
            "redis_keys_peak": max(s["redis_keys"] for s in samples), "redis_keys_end": samples[-1]["redis_keys"],
            "dialogs_active_end": samples[-1]["dialogs_active"]}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--calls", type=int, default=20000)
    parser.add_argument("--rate", type=float, default=100)
    parser.add_argument("--duration-ms", type=int, default=1000, help="answered call length")
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--runtime", default="host", choices=("host", "image"))
    parser.add_argument("--every", type=float, default=10, help="seconds between samples")
    parser.add_argument("--settle", type=float, default=0.25,
                        help="growth is counted from the sample after this share of the calls")
    parser.add_argument("--drain", type=float, default=200, help="seconds of samples after the last call")
    parser.add_argument("--out", type=Path, default=BENCH / "results")
    args = parser.parse_args()
    if {n for _, n in socket.if_nameindex()} != {"lo"}:
        print("run in a private network namespace: make soak", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory(prefix="sbc-soak-") as tmp:
        report = soak(Path(tmp), args)
    print(f"\n{report['load']}")
    print(f"growth under load: {report['growth_under_load']}")
    print(f"redis keys: peak {report['redis_keys_peak']}, after {args.drain:g} s drain {report['redis_keys_end']}; "
          f"dialogs active at the end {report['dialogs_active_end']}")
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / f"soak-{int(time.time())}.json").write_text(
        json.dumps({"args": vars(args) | {"out": str(args.out)}, **report}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
