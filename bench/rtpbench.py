"""What the rtpengine benches share (bench/keepalive.py, bench/media.py): the SBC's flag strings as ng
dictionaries, draining the far ends' sockets, one figure row per run, and the image's rtpengine to run on."""

from __future__ import annotations

import argparse
import os
import socket
import tempfile
from collections.abc import Callable
from pathlib import Path

from bench import runtime
from sbclib import settings


def ng_flags(kemi_flags: str) -> dict:
    """sbclib.media's flag string as the rtpengine module sends it over ng (codec-X=Y as codec: {X: [Y, ...]})."""
    out: dict = {"flags": []}
    for item in kemi_flags.split():
        key, _, value = item.partition("=")
        if key == "direction":
            out.setdefault("direction", []).append(value)
        elif key.startswith("codec-"):
            out.setdefault("codec", {}).setdefault(key.removeprefix("codec-"), []).append(value)
        elif key.startswith("replace-"):
            out.setdefault("replace", []).append(key.removeprefix("replace-"))
        elif value:
            out[key] = value
        else:
            out["flags"].append(key)
    return out


def drain(sock: socket.socket) -> int:
    """Packets waiting on a non-blocking socket, read and counted."""
    count = 0
    while True:
        try:
            sock.recv(2048)
        except BlockingIOError:
            return count
        count += 1


def row(name: str, count: int, cpu_ms: float, elapsed: float, carrier: int, gateway: int) -> dict:
    """One run's figures: rtpengine's CPU, per call-second, and the packets each far end got per call and s."""
    return {"run": name, "calls": count, "rtpengine_cpu_pct": round(cpu_ms / elapsed / 10, 1),
            "cpu_ms_per_call_s": round(cpu_ms / elapsed / count, 3),
            "carrier_pps_per_call": round(carrier / elapsed / count, 1),
            "gateway_pps_per_call": round(gateway / elapsed / count, 1)}


def on_image_rtpengine(doc: str, ng_port: int, default_calls: int, names: tuple[str, ...],
                       run: Callable[[tuple[str, int], str, int, float], dict]) -> int:
    """Parse --calls/--seconds, start the image's rtpengine, `run` each named run on it, print the table."""
    parser = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--calls", type=int, default=default_calls)
    parser.add_argument("--seconds", type=float, default=10)
    args = parser.parse_args()
    if not 1 <= args.calls <= 500:
        parser.error("--calls: 1..500")
    work = Path(tempfile.mkdtemp(prefix="sbc-bench-rtpengine-"))
    s = settings.load({**os.environ, "RTPENGINE_NG_PORT": str(ng_port), "RTP_PORT_MIN": "44000",
                       "RTP_PORT_MAX": "45999"})
    engine = runtime.start_engine()
    try:
        rtpengine = runtime.ImageRtpEngine(s, work / "rtpengine", True)
        rtpengine.run_dir.mkdir(parents=True)
        rtpengine.start()
        try:
            rows = [run((s.rtpengine_ng_ip, s.rtpengine_ng_port), name, args.calls, args.seconds) for name in names]
        finally:
            rtpengine.stop()
    finally:
        engine.stop()
    width = max(len(name) for name in names) + 2
    print(f"image rtpengine, {args.calls} calls, {args.seconds:g} s per run, 2 cores")
    print(f"{'run':<{width}} {'rtpengine CPU %':>16} {'CPU ms/call-s':>14} {'to carrier pps':>15} "
          f"{'to gateway pps':>15}")
    for r in rows:
        print(f"{r['run']:<{width}} {r['rtpengine_cpu_pct']:>16} {r['cpu_ms_per_call_s']:>14} "
              f"{r['carrier_pps_per_call']:>15} {r['gateway_pps_per_call']:>15}")
    return 0
