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

import socket
import sys
import threading
import time

from bench import probe, rtpbench
from sbclib import media, ng
from testkit.rtp import media_address
from testkit.sipua import sdp

CARRIER_IP, GATEWAY_IP = "127.0.4.30", "127.0.3.30"
FIRST_PORT = 46000  # each call: carrier and gateway on FIRST_PORT + 4 * call (RTCP one above: never read)
PCMU_20MS = b"\xff" * 160


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
                                        **rtpbench.ng_flags(media.offer_flags("private", "public", keepalive))})
            answer = ng.command(*ng_at, {**base, "command": "answer", "to-tag": "gateway",
                                         "sdp": sdp(GATEWAY_IP, FIRST_PORT + 4 * i),
                                         **rtpbench.ng_flags(media.answer_flags("public", keepalive))})
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
        return tuple(sum(rtpbench.drain(s) for s in socks) for socks in (self.carrier, self.gateway))

    def close(self) -> None:
        for call_id in self.ids:
            ng.command(*self.ng_at, {"command": "delete", "call-id": call_id})
        for sock in self.carrier + self.gateway:
            sock.close()


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
    return rtpbench.row(name, count, cpu_ms, elapsed, *got)


def main() -> int:
    return rtpbench.on_image_rtpengine(__doc__, 22240, 50, ("forward", "keepalive", "forward-quiet", "keepalive-quiet"),
                                       run)


if __name__ == "__main__":
    sys.exit(main())
