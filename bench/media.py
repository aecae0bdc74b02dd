"""What transcoding costs rtpengine per call-second, beside a plain relay (make bench-media).

    python -m bench.media --calls 30 --seconds 10

The image's rtpengine (the shipped runtime) holds `--calls` calls, set up over ng with the flags the SBC sends
for a gateway row of each policy (sbclib.media, sbclib.codecs). Per run, each call's carrier end sends a PCMU
tone at 50 packets/s and its gateway end sends back what it receives (in the gateway's codec), so a
transcoded call is decoded and encoded both ways:
  relay        no policy: PCMU end to end
  g722         --codecs g722 --transcode: PCMU <-> G.722
  opus         --codecs opus --transcode: PCMU <-> Opus
rtpengine's on-CPU time per call-second and the packets each end received per call and second are printed.
Runs in its own network namespace (the make target does that): all traffic stays on loopback.
"""

from __future__ import annotations

import socket
import sys
import threading
import time

from bench import probe, rtpbench
from sbclib import codecs, media, ng
from testkit.rtp import media_address, tone
from testkit.sipua import sdp

CARRIER_IP, GATEWAY_IP = "127.0.4.31", "127.0.3.31"
FIRST_PORT = 47000  # each call: carrier and gateway on FIRST_PORT + 4 * call
POLICIES = {"relay": codecs.NONE, "g722": codecs.Policy(("G722",), True), "opus": codecs.Policy(("opus",), True)}


def _answer_sdp(ip: str, port: int, offer: str) -> str:
    """The gateway's answer: the offer's first codec, with its payload type (as a UA answers)."""
    line = next(line for line in offer.splitlines() if line.startswith("m=audio"))
    pt = line.split()[3]
    rtpmap = next((line for line in offer.splitlines() if line.startswith(f"a=rtpmap:{pt} ")), "")
    return (f"v=0\r\no=- 1 1 IN IP4 {ip}\r\ns=-\r\nc=IN IP4 {ip}\r\nt=0 0\r\nm=audio {port} RTP/AVP {pt}\r\n"
            + (f"{rtpmap}\r\n" if rtpmap else "") + "a=sendrecv\r\n")


class Calls:
    def __init__(self, ng_at: tuple[str, int], count: int, name: str):
        self.ng_at, self.ids = ng_at, [f"media-{name}-{i}" for i in range(count)]
        self.carrier, self.gateway, self.carrier_leg = [], [], []
        flags = codecs.offer_flags(POLICIES[name])
        for i, call_id in enumerate(self.ids):
            port = FIRST_PORT + 4 * i
            self.carrier.append(_bind(CARRIER_IP, port))
            self.gateway.append(_bind(GATEWAY_IP, port))
            base = {"call-id": call_id, "from-tag": "carrier"}
            offer = ng.command(*ng_at, {**base, "command": "offer", "sdp": sdp(CARRIER_IP, port),
                                        **rtpbench.ng_flags(media.offer_flags("private", "public", codecs=flags))})
            offered = offer.get("sdp", b"").decode()
            answer = ng.command(*ng_at, {**base, "command": "answer", "to-tag": "gateway",
                                         "sdp": _answer_sdp(GATEWAY_IP, port, offered),
                                         **rtpbench.ng_flags(media.answer_flags("public"))})
            if offer.get("result") != b"ok" or answer.get("result") != b"ok":
                raise RuntimeError(f"rtpengine refused call {call_id}: {offer} {answer}")
            self.carrier_leg.append(media_address(answer["sdp"].decode()))

    def close(self) -> None:
        for call_id in self.ids:
            ng.command(*self.ng_at, {"command": "delete", "call-id": call_id})
        for sock in self.carrier + self.gateway:
            sock.close()


def _bind(ip: str, port: int) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind((ip, port))
    sock.setblocking(False)
    return sock


def _talk(calls: Calls, stop: threading.Event, counts: list[int]) -> None:
    """Every 20 ms: one PCMU packet from each carrier end; each gateway end echoes what it got."""
    seq, start = 0, time.monotonic()
    while not stop.is_set():
        header = bytes([0x80, 0]) + (seq & 0xFFFF).to_bytes(2, "big") + (seq * 160 & 0xFFFFFFFF).to_bytes(4, "big")
        for i, sock in enumerate(calls.carrier):
            sock.sendto(header + (2000 + i).to_bytes(4, "big") + tone(1000, seq), calls.carrier_leg[i])
        for sock in calls.gateway:
            while True:
                try:
                    data, source = sock.recvfrom(2048)
                except BlockingIOError:
                    break
                counts[1] += 1
                sock.sendto(data, source)  # back to rtpengine's gateway-leg port, in the gateway's codec
        counts[0] += sum(rtpbench.drain(s) for s in calls.carrier)
        seq += 1
        time.sleep(max(0.0, start + seq * 0.02 - time.monotonic()))


def run(ng_at: tuple[str, int], name: str, count: int, seconds: float) -> dict:
    calls = Calls(ng_at, count, name)
    stop, counts = threading.Event(), [0, 0]  # packets received by the carriers, by the gateways
    talker = threading.Thread(target=_talk, args=(calls, stop, counts), daemon=True)
    try:
        talker.start()
        time.sleep(1)  # codecs set up, the first packets through
        received = list(counts)
        before = probe.cpu_ns(("rtpengine",))["rtpengine"]
        start = time.monotonic()
        time.sleep(seconds)
        cpu_ms = (probe.cpu_ns(("rtpengine",))["rtpengine"] - before) / 1e6
        elapsed = time.monotonic() - start
        got = [counts[0] - received[0], counts[1] - received[1]]
    finally:
        stop.set()
        talker.join()
        calls.close()
    return rtpbench.row(name, count, cpu_ms, elapsed, *got)


def main() -> int:
    return rtpbench.on_image_rtpengine(__doc__, 22241, 30, tuple(POLICIES), run)


if __name__ == "__main__":
    sys.exit(main())
