"""Where Kamailio spends its CPU while the bench's calls run: `perf` over every Kamailio process (C frames,
self time by symbol) and the SIP workers' embedded Python. On the host (Python 3.11, no perf trampoline)
Python's frames come from `py-spy` (wall time by innermost line); in the image (Python 3.13) from perf itself:
the image's Kamailio runs in the host's PID namespace with PYTHONPERFSUPPORT=1, so its Python functions are
perf symbols (py::function:file) beside the C ones, in the same CPU samples.

    python -m bench.profile --rate 200 --calls 3000             # the SBC, host
    python -m bench.profile --runtime image                      # the SBC in the shipped image
    python -m bench.profile --side native-full                  # the native reference, for its C profile

Must run in its own network namespace (make bench-profile does that). Profilers take CPU of their own: the
figures are shares within Kamailio, not the bench's CPU per call.
"""

from __future__ import annotations

import argparse
import collections
import re
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

from bench import cps, runtime
from stack.services import REPO


def kamailio_pids(main_pid: int) -> list[int]:
    pids = [main_pid]
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == main_pid:
            pids.append(int(stat.parent.name))
    return pids


def sip_workers(kamailio) -> list[int]:
    """The SIP workers of the private and public UDP sockets (core.psx: "udp receiver child=N sock=...")."""
    listing = kamailio.jsonrpc("core.psx")
    return [int(p["PID"]) for p in listing if "udp receiver" in p.get("DSC", "")
            and any(ip in p["DSC"] for ip in ("127.0.1.1", "127.0.2.1"))]


def perf_top(data: Path, count: int, sort: str = "dso,symbol") -> list[tuple[float, str]]:
    out = subprocess.run(["perf", "report", "--no-inline", "-i", str(data), "--stdio", "--no-children", "--sort", sort,
                          "--percent-limit", "0.3"], capture_output=True, text=True, timeout=300).stdout
    rows = []
    for line in out.splitlines():
        parts = line.split()
        if len(parts) >= 2 and parts[0].endswith("%") and not line.startswith("#"):
            name = parts[1] if sort == "dso" else f"{parts[1]} {' '.join(parts[3:])}"
            rows.append((float(parts[0].rstrip("%")), name.removesuffix(" - -")))
    return rows[:count]


def perf_python_top(data: Path, count: int) -> tuple[int, list[tuple[float, str]]]:
    """CPU samples by the innermost Python function on their stack (the C it called included: a KSR call's
    time is its caller's), as shares of the samples that have one; and how many do. `--no-inline`: perf's
    addr2line cannot read the image's DWARF 5 and would stop the listing."""
    out = subprocess.run(["perf", "script", "--no-inline", "-i", str(data)], capture_output=True, text=True,
                         errors="replace", timeout=600).stdout
    found: collections.Counter = collections.Counter()
    for sample in out.split("\n\n"):
        innermost = re.search(r" py::(\S+?)\+0x", sample)
        if innermost:
            found[innermost.group(1).replace(f"{REPO}/", "")] += 1
    total = sum(found.values())
    return total, [(round(100 * n / max(total, 1), 1), name) for name, n in found.most_common(count)]


def python_top(raw_files: list[Path], count: int) -> list[tuple[float, str]]:
    """Self time per Python function from py-spy's raw (collapsed) stacks: the innermost frame of each sample."""
    selfs: collections.Counter = collections.Counter()
    total = 0
    for path in raw_files:
        for line in path.read_text(errors="replace").splitlines():
            stack, _, samples = line.rpartition(" ")
            if not samples.isdigit():
                continue
            leaf = stack.split(";")[-1]
            if not leaf.strip():
                continue  # no Python frame: the worker waits in Kamailio's receive loop
            selfs[leaf] += int(samples)
            total += int(samples)
    return [(round(100 * n / max(total, 1), 1), name) for name, n in selfs.most_common(count)]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--side", default="sbc", choices=["sbc", "native-full", "native"])
    parser.add_argument("--rate", type=float, default=200)
    parser.add_argument("--calls", type=int, default=3000)
    parser.add_argument("--top", type=int, default=10)
    parser.add_argument("--runtime", default="host", choices=["host", "image"])
    args = parser.parse_args()
    if {n for _, n in __import__("socket").if_nameindex()} != {"lo"}:
        print("run in a private network namespace: make bench-profile", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory(prefix="sbc-profile-") as tmp:
        work = Path(tmp)
        where = args.runtime
        with cps.backing(work, [where], 4, 1000) as (stack, load), cps.media(stack, where):
            env = {**stack.env}
            if args.side in cps.REFERENCES:
                env["NATIVE_SQLCON"] = "cb=>" + stack.settings.kamailio_env()["DB_URL"]
            if where == "image":
                env["PYTHONPERFSUPPORT"] = "1"  # Python 3.13's trampolines: its functions in perf's samples
                # Its pids and its /tmp/perf-PID.map files as perf, outside, looks for them.
                runtime.ImageKamailio.docker_args = ("--pid", "host", "-v", "/tmp:/tmp")
            kamailio = cps.start_kamailio(stack, where, env, work / "kamailio", cps.REFERENCES.get(args.side,
                                                                                                 cps.SHIPPED))
            try:
                load.calls("warm", 200, 50)
                pids = kamailio_pids(int((work / "kamailio" / "kamailio.pid").read_text()))
                perf_data = work / "perf.data"
                # The image's libpython keeps no frame pointers: its stacks are unwound from DWARF, up to
                # the innermost Python function's trampoline (perf cannot unwind past it: no unwind data).
                graph = ["--call-graph", "dwarf,16384", "-F", "499"] if where == "image" else ["-g", "-F", "999"]
                perf = subprocess.Popen(["perf", "record", "-e", "cpu-clock", *graph, "-o", str(perf_data),
                                         "-p", ",".join(map(str, pids))], stdout=subprocess.DEVNULL,
                                        stderr=subprocess.DEVNULL)
                spies = []
                if args.side == "sbc" and where == "host":
                    duration = int(args.calls / args.rate) + 5
                    for pid in sip_workers(kamailio):
                        out = work / f"py-{pid}.txt"
                        spies.append((out, subprocess.Popen(
                            [str(Path(sys.executable).parent / "py-spy"), "record", "--pid", str(pid), "--rate", "250",
                             "--duration", str(duration), "--format", "raw", "--output", str(out), "--nonblocking"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)))
                result = load.calls("profiled", args.calls, args.rate)
                perf.send_signal(signal.SIGINT)
                perf.wait(60)
                for _, spy in spies:
                    spy.wait(120)
            finally:
                kamailio.stop()
            print(f"{args.side} ({where}) at {args.rate:g}/s: {result['ok']} ok, {result['failed']} failed")
            print(f"\nKamailio, CPU by object (perf, {len(pids)} processes):")
            for share, name in perf_top(perf_data, args.top, "dso"):
                print(f"  {share:5.1f}%  {name}")
            print(f"\nKamailio, self time by symbol (perf, {len(pids)} processes):")
            for share, name in perf_top(perf_data, args.top):
                print(f"  {share:5.1f}%  {name}")
            if where == "image" and args.side == "sbc":
                total, top = perf_python_top(perf_data, args.top)
                print(f"\nPython in the image's Kamailio, CPU by innermost Python function, C callees included "
                      f"(perf trampolines; shares of the {total} samples in Python):")
                for share, name in top:
                    print(f"  {share:5.1f}%  {name}")
            if spies:
                print(f"\nPython in the SIP workers, wall time by innermost Python line (a KSR call's time is "
                      f"its line's; py-spy, {len(spies)} workers):")
                for share, name in python_top([out for out, _ in spies if out.exists()], args.top):
                    print(f"  {share:5.1f}%  {name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
