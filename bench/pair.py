"""What the second node costs: calls through node a of a pair while b follows them over DMQ (dialogs) and
Redis (rtpengine's calls), next to the same calls through a while b is stopped, in one run.

    make bench-pair                              # host Kamailio, default ladder
    python -m bench.pair --ladder 50,100,200 --seconds 20

The nodes run in namespaces on a LAN made inside this run's own network namespace (testkit/pair.py,
198.51.100.0/24 only). For each rate and both modes: on-CPU time per call of each node's Kamailio
and rtpengine (their process groups) and of Redis, failed calls, INVITE->200 p50/p99, Redis commands per
call. Signalling and SDP only (rtpengine anchors, no RTP), as `make bench`.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

from bench import probe
from bench.load import _scenarios, place
from testkit.harness import Sipp
from testkit.pair import CARRIER, DID, GATEWAY, NODES, SERVICE, Lan, Node, Shared

RESULTS = Path(__file__).resolve().parent / "results"


def group_cpu_ns(pgid: int) -> int:
    """On-CPU nanoseconds so far of every thread of every process in this process group."""
    total = 0
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            if int((proc / "stat").read_text().rsplit(")", 1)[1].split()[2]) != pgid:
                continue
            total += sum(int((t / "schedstat").read_text().split()[0]) for t in (proc / "task").iterdir())
        except (OSError, ValueError, IndexError):
            continue  # exited meanwhile
    return total


def groups(nodes: dict[str, Node], shared: Shared) -> dict[str, int]:
    found = {}
    for name, node in nodes.items():
        for service in (node.kamailio, node.rtpengine):
            if service.alive():
                found[f"{service.name}-{name}"] = service.proc.pid  # its own session: pgid == pid
    found["redis"] = shared.redis.proc.pid
    return found


def place_calls(work: Path, uac: str, rate: float, seconds: float, label: str) -> dict:
    """Calls for `seconds` at `rate` from the pair's carrier to the private service address."""
    run = work / label
    run.mkdir()
    calls = int(rate * seconds)
    return {"calls": calls, **place(run, uac, CARRIER[0], f"{SERVICE['private']}:5060", DID, calls, rate, 1000)}


def measure(work: Path, uac: str, nodes: dict[str, Node], shared: Shared, mode: str, rate: float,
            seconds: float) -> dict:
    place_calls(work, uac, 20, 2, f"{mode}-{rate:g}-warm")
    time.sleep(2)
    watched = groups(nodes, shared)
    redis = (shared.settings.redis_ip, shared.settings.redis_port, shared.settings.redis_password)
    before_cpu = {k: group_cpu_ns(v) for k, v in watched.items()}
    before_redis = probe.redis_counters(*redis[:2], password=redis[2])
    result = place_calls(work, uac, rate, seconds, f"{mode}-{rate:g}")
    time.sleep(2)  # the last BYEs' replication and rtpengine deletes
    after_cpu = {k: group_cpu_ns(v) for k, v in watched.items()}
    after_redis = probe.redis_counters(*redis[:2], password=redis[2])
    calls = result["calls"]
    return {"mode": mode, "rate": rate, **result,
            "cpu_us_per_call": {k: round((after_cpu[k] - before_cpu[k]) / 1000 / calls) for k in watched},
            "redis_commands_per_call": round((after_redis["commands"] - before_redis["commands"] - 4) / calls, 2)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--ladder", default="50,100,200", help="calls per second, comma-separated")
    parser.add_argument("--seconds", type=float, default=20, help="of calls at each rate and mode")
    args = parser.parse_args()
    ladder = [float(r) for r in args.ladder.split(",")]
    work = Path(tempfile.mkdtemp(prefix="bench-pair-"))
    lan, shared, nodes, gateway, rows = Lan(), None, {}, None, []
    try:
        lan.build()
        shared = Shared(work / "shared").start()
        nodes = {name: Node(name, work / f"node-{name}", lan) for name in NODES}
        for node in nodes.values():
            node.start()
        lan.give("a")
        uac, uas = _scenarios(work)
        gateway = Sipp(work, "gateway", uas, GATEWAY[0], GATEWAY[1], trace_messages=False).start()
        time.sleep(3)  # dispatcher's first probes see the gateway up
        for rate in ladder:
            for mode in ("pair", "alone"):
                if mode == "alone":
                    nodes["b"].stop()
                elif not nodes["b"].kamailio.alive():
                    nodes["b"].start()
                row = measure(work, uac, nodes, shared, mode, rate, args.seconds)
                rows.append(row)
                print(json.dumps(row), flush=True)
    finally:
        if gateway is not None:
            gateway.stop()
        for node in nodes.values():
            node.stop()
        if shared is not None:
            shared.stop()
        lan.close()
    RESULTS.mkdir(exist_ok=True)
    out = RESULTS / f"pair-{int(time.time())}.json"
    out.write_text(json.dumps(rows, indent=1))
    print(f"results: {out}")
    return 0 if all(r["failed"] == 0 for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
