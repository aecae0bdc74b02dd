"""What media keepalive (tenant.media_keepalive: rtpengine's audio player) costs rtpengine per call.

    python -m bench.keepalive --calls 50 --seconds 10        # make bench-keepalive

The image's rtpengine (the host's rtpengine 10 has no audio player) holds `--calls` calls, set up over ng
with the flags the SBC sends (sbclib.media). Four runs of `--seconds` each, one after the other:
  forward         no keepalive, the gateway leg sends 50 packets/s per call, the carrier is silent
  keepalive       the same with the audio player (one leg decoded, both legs encoded and paced)
  forward-quiet   no keepalive, nobody sends (rtpengine idles)
  keepalive-quiet the audio player with nobody sending: rtpengine generates both legs' silence
rtpengine's on-CPU time per call-second and the packets the far ends received are printed. Must run in
its own network namespace (the make target does that): all traffic stays on loopback.
"""

from __future__ import annotations

import argparse
import os
import socket
import sys
import tempfile
import threading
import time
from pathlib import Path

from bench import probe, runtime
from sbclib import media, ng, settings
from testkit.rtp import media_address
from testkit.sipua import sdp

CARRIER_IP, GATEWAY_IP = "127.0.4.30", "127.0.3.30"
FIRST_PORT = 46000  # each call: carrier and gateway on FIRST_PORT + 4 * call (RTCP one above: never read)
PCMU_20MS = b"\xff" * 160


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


class Calls:
    """`count` calls carrier (offer) -> gateway (answer) in rtpengine, and each leg's far end."""

    def __init__(self, ng_at: tuple[str, int], count: int, keepalive: bool, tag: str):
        self.ng_at, self.ids = ng_at, [f"ka-{tag}-{i}" for i in range(count)]
        self.carrier, self.gateway, self.to_gateway_leg = [], [], []  # sockets; where the gateway sends
        for i, call_id in enumerate(self.ids):
            carrier, gateway = self._bind(CARRIER_IP, FIRST_PORT + 4 * i), self._bind(GATEWAY_IP, FIRST_PORT + 4 * i)
            self.carrier.append(carrier)
            self.gateway.append(gateway)
            base = {"call-id": call_id, "from-tag": "carrier"}
            offer = ng.command(*ng_at, {**base, "command": "offer", "sdp": sdp(CARRIER_IP, FIRST_PORT + 4 * i),
                                        **ng_flags(media.offer_flags("private", "public", keepalive))})
            answer = ng.command(*ng_at, {**base, "command": "answer", "to-tag": "gateway",
                                         "sdp": sdp(GATEWAY_IP, FIRST_PORT + 4 * i),
                                         **ng_flags(media.answer_flags("public", keepalive))})
            if offer.get("result") != b"ok" or answer.get("result") != b"ok":
                raise RuntimeError(f"rtpengine refused call {call_id}: {offer} {answer}")
            self.to_gateway_leg.append(media_address(offer["sdp"].decode()))

    @staticmethod
    def _bind(ip: str, port: int) -> socket.socket:
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        sock.bind((ip, port))
        sock.setblocking(False)
        return sock

    def received(self) -> tuple[int, int]:
        """Packets waiting at (the carriers, the gateways); drained."""
        return tuple(sum(drain(s) for s in socks) for socks in (self.carrier, self.gateway))

    def close(self) -> None:
        for call_id in self.ids:
            ng.command(*self.ng_at, {"command": "delete", "call-id": call_id})
        for sock in self.carrier + self.gateway:
            sock.close()


def drain(sock: socket.socket) -> int:
    count = 0
    while True:
        try:
            sock.recv(2048)
        except BlockingIOError:
            return count
        count += 1


def _gateways_talk(calls: Calls, stop: threading.Event) -> None:
    """Every 20 ms one PCMU packet from each call's gateway."""
    seq, start = 0, time.monotonic()
    while not stop.is_set():
        header = bytes([0x80, 0]) + (seq & 0xFFFF).to_bytes(2, "big") + (seq * 160 & 0xFFFFFFFF).to_bytes(4, "big")
        for i, sock in enumerate(calls.gateway):
            sock.sendto(header + (1000 + i).to_bytes(4, "big") + PCMU_20MS, calls.to_gateway_leg[i])
        seq += 1
        time.sleep(max(0.0, start + seq * 0.02 - time.monotonic()))


def run(ng_at: tuple[str, int], name: str, count: int, seconds: float) -> dict:
    keepalive, talking = name.startswith("keepalive"), not name.endswith("quiet")
    calls = Calls(ng_at, count, keepalive, name)
    stop = threading.Event()
    sender = threading.Thread(target=_gateways_talk, args=(calls, stop), daemon=True)
    try:
        if talking:
            sender.start()
        time.sleep(1)  # the audio players' buffers filled, the first packets through
        calls.received()
        before = probe.cpu_ns(("rtpengine",))["rtpengine"]
        start, got = time.monotonic(), [0, 0]
        while time.monotonic() - start < seconds:
            time.sleep(0.2)
            carrier, gateway = calls.received()
            got[0], got[1] = got[0] + carrier, got[1] + gateway
        cpu_ms = (probe.cpu_ns(("rtpengine",))["rtpengine"] - before) / 1e6
        elapsed = time.monotonic() - start
    finally:
        stop.set()
        if talking:
            sender.join()
        calls.close()
    return {"run": name, "calls": count, "rtpengine_cpu_pct": round(cpu_ms / elapsed / 10, 1),
            "cpu_ms_per_call_s": round(cpu_ms / elapsed / count, 3),
            "carrier_pps_per_call": round(got[0] / elapsed / count, 1),
            "gateway_pps_per_call": round(got[1] / elapsed / count, 1)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--calls", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=10)
    args = parser.parse_args()
    if not 1 <= args.calls <= 500:
        parser.error("--calls: 1..500")
    work = Path(tempfile.mkdtemp(prefix="sbc-bench-keepalive-"))
    s = settings.load({**os.environ, "RTPENGINE_NG_PORT": "22240", "RTP_PORT_MIN": "44000", "RTP_PORT_MAX": "45999"})
    engine = runtime.start_engine()
    try:
        rtpengine = runtime.ImageRtpEngine(s, work / "rtpengine", True)
        rtpengine.run_dir.mkdir(parents=True)
        rtpengine.start()
        try:
            rows = [run((s.rtpengine_ng_ip, s.rtpengine_ng_port), name, args.calls, args.seconds)
                    for name in ("forward", "keepalive", "forward-quiet", "keepalive-quiet")]
        finally:
            rtpengine.stop()
    finally:
        engine.stop()
    print(f"image rtpengine, {args.calls} calls, {args.seconds:g} s per run, 2 cores")
    print(f"{'run':<16} {'rtpengine CPU %':>16} {'CPU ms/call-s':>14} {'to carrier pps':>15} {'to gateway pps':>15}")
    for r in rows:
        print(f"{r['run']:<16} {r['rtpengine_cpu_pct']:>16} {r['cpu_ms_per_call_s']:>14} "
              f"{r['carrier_pps_per_call']:>15} {r['gateway_pps_per_call']:>15}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
