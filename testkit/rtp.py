"""An RTP endpoint for media tests: sends G.711 (PCMU) every 20 ms with a known impairment (packets left
out, packets held back), receives the other end's stream, and reports on it in RTCP every second as
RFC 3550 receivers do (sender report with one reception block: fraction and cumulative loss, highest
sequence, interarrival jitter, LSR/DLSR). rtpengine derives its MOS, jitter and loss from these reports.
The impairment is at the sender, so what the far end hears is known in advance; the receiver's own
figures are kept to compare against what rtpengine reported."""

from __future__ import annotations

import math
import os
import re
import socket
import struct
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass

from testkit.srtp import Srtp

PCMU, CLOCK, FRAME = 0, 8000, 160  # payload type, Hz, samples per 20 ms
TELEPHONE_EVENT = 101  # the test SDPs' RFC 4733 payload type (sipua.sdp)
COMFORT_NOISE, CN_LEVEL = 13, 40  # RFC 3389's static type; -40 dBov
EVENT_PACKETS = 5  # one key press: 100 ms; RFC 4733 sends its end packet three times
NTP_EPOCH = 2208988800


def media_address(sdp: str) -> tuple[str, int]:
    """Where an SDP's audio is to be sent: its c= address and m=audio port."""
    ip = re.search(r"^c=IN IP4 (\S+)", sdp, re.M).group(1)
    return ip, int(re.search(r"^m=audio (\d+) ", sdp, re.M).group(1))


def ulaw(sample: int) -> int:
    """G.711 mu-law byte of a 16-bit sample."""
    sign = 0x80 if sample < 0 else 0
    magnitude = min(abs(sample), 32635) + 0x84
    exponent = max(magnitude.bit_length() - 8, 0)
    return ~(sign | exponent << 4 | (magnitude >> (exponent + 3)) & 0x0F) & 0xFF


def linear(byte: int) -> int:
    """The 16-bit sample of a G.711 mu-law byte."""
    byte = ~byte & 0xFF
    magnitude = (((byte & 0x0F) << 3) + 0x84 << (byte >> 4 & 0x07)) - 0x84
    return -magnitude if byte & 0x80 else magnitude


def tone(hz: float, seq: int) -> bytes:
    """Packet `seq`'s 20 ms of a sine at `hz`, half scale, in PCMU."""
    return bytes(ulaw(int(16000 * math.sin(2 * math.pi * hz * (seq * FRAME + n) / CLOCK))) for n in range(FRAME))


def _ntp(now: float) -> tuple[int, int]:
    seconds = now + NTP_EPOCH
    return int(seconds) & 0xFFFFFFFF, int((seconds % 1) * 2**32) & 0xFFFFFFFF


@dataclass
class Reception:
    """RFC 3550 A.1/A.3/A.8 receiver state for the one stream this endpoint hears."""

    ssrc: int = 0
    base_seq: int = -1
    max_seq: int = 0
    cycles: int = 0
    received: int = 0
    expected_prior: int = 0
    received_prior: int = 0
    transit: float | None = None
    jitter: float = 0.0  # in timestamp units
    last_sr: int = 0  # middle 32 bits of the last sender report's NTP time
    last_sr_at: float = 0.0

    def packet(self, seq: int, timestamp: int, arrival: float) -> None:
        if self.base_seq < 0:
            self.base_seq, self.max_seq = seq, seq
        elif seq < self.max_seq and self.max_seq - seq > 30000:
            self.cycles += 1 << 16
            self.max_seq = seq
        elif seq > self.max_seq:
            self.max_seq = seq
        self.received += 1
        transit = arrival * CLOCK - timestamp
        if self.transit is not None:
            self.jitter += (abs(transit - self.transit) - self.jitter) / 16
        self.transit = transit

    @property
    def expected(self) -> int:
        return self.cycles + self.max_seq - self.base_seq + 1 if self.base_seq >= 0 else 0

    def block(self, now: float) -> bytes:
        """One reception report block, and the interval's counters moved on."""
        expected, interval_expected = self.expected, self.expected - self.expected_prior
        interval_lost = interval_expected - (self.received - self.received_prior)
        self.expected_prior, self.received_prior = expected, self.received
        fraction = (interval_lost << 8) // interval_expected if interval_expected > 0 and interval_lost > 0 else 0
        lost = max(0, expected - self.received) & 0xFFFFFF
        dlsr = int((now - self.last_sr_at) * 65536) if self.last_sr else 0
        return struct.pack("!IB3sIIII", self.ssrc, min(fraction, 255), lost.to_bytes(3, "big"),
                           (self.cycles + self.max_seq) & 0xFFFFFFFF, int(self.jitter), self.last_sr, dlsr)


class RtpPeer:
    """One end of a call's media: RTP on `port`, RTCP on `port + 1` (no rtcp-mux in the test SDP)."""

    def __init__(self, ip: str, port: int, drop: Callable[[int], bool] = lambda seq: False,
                 hold_ms: Callable[[int], float] = lambda seq: 0.0, rtcp: bool = True,
                 digits: dict[int, int] | None = None, srtp: Srtp | None = None, tone_hz: float = 0,
                 event_pt: int = TELEPHONE_EVENT, quiet: range = range(0)):
        self.drop, self.hold_ms, self.rtcp = drop, hold_ms, rtcp
        self.srtp = srtp  # SRTP (srtp.py): packets protected on the way out, checked and opened on the way in
        self.undecryptable = 0
        self.tone_hz = tone_hz  # what it sends: a sine at this frequency, or silence (0)
        self.audio: list[int] = []  # the PCMU it heard, as 16-bit samples in arrival order
        self.digits = digits or {}  # packet number -> RFC 4733 event code sent from there instead of audio
        self.event_pt = event_pt  # the RFC 4733 payload type it sends and takes (its SDP's)
        # Packet numbers where it is silent, as a sender with silence suppression is: a comfort noise packet
        # (RFC 3389, PT 13, level CN_LEVEL) at the first and every tenth, nothing else.
        self.quiet = quiet
        self.comfort_noise: list[int] = []  # the noise level of each CN packet received
        self.payload_types: Counter[int] = Counter()  # every RTP packet received, by payload type
        self.events: list[int] = []  # event codes of the RFC 4733 packets received
        self.event_durations: list[int] = []  # the duration field of each end packet received (its clock's units)
        self.ssrcs: Counter[int] = Counter()  # RTP packets received, by SSRC (whose stream reached this end)
        self.arrivals: list[tuple[float, int]] = []  # (time.monotonic(), SSRC) of each RTP packet received
        self.ssrc = int.from_bytes(os.urandom(4), "big") or 1
        self.rtp = self._socket(ip, port)
        self.rtcp_sock = self._socket(ip, port + 1)
        self.remote: tuple[str, int] | None = None
        self.heard = Reception()
        self.sent = self.sent_bytes = self.rtcp_sent = self.rtcp_received = 0
        self._last_timestamp = 0  # RTP timestamp of the last packet sent, for the sender report
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []

    @staticmethod
    def _socket(ip: str, port: int) -> socket.socket:
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((ip, port))
        sock.settimeout(0.05)
        return sock

    def start(self, remote: tuple[str, int], seconds: float) -> RtpPeer:
        self.remote = remote
        for target in (lambda: self._send(seconds), self._receive_rtp, self._receive_rtcp, self._report):
            thread = threading.Thread(target=target, daemon=True)
            thread.start()
            self._threads.append(thread)
        return self

    def heard_between(self, start: float, end: float, ssrc: int) -> int:
        """RTP packets of the stream `ssrc` that arrived from `start` to `end` (time.monotonic())."""
        with self._lock:
            return sum(start <= t < end and s == ssrc for t, s in self.arrivals)

    def wait(self) -> None:
        self._threads[0].join()  # the sender ends after `seconds`
        # A last report from each end about the final packets; without RTCP only what is still on its way.
        time.sleep(1.2 if self.rtcp else 0.3)
        self._stop.set()
        for thread in self._threads[1:]:
            thread.join(2)
        self.rtp.close()
        self.rtcp_sock.close()

    def _send(self, seconds: float) -> None:
        start, payload = time.monotonic(), b"\xff" * FRAME
        timestamp0 = int.from_bytes(os.urandom(2), "big")
        for seq in range(int(seconds * 50)):
            due = start + seq * 0.02 + self.hold_ms(seq) / 1000
            time.sleep(max(0.0, due - time.monotonic()))
            if self.drop(seq):
                continue
            if seq in self.quiet:
                if (seq - self.quiet.start) % 10 == 0:
                    self.rtp.sendto(struct.pack("!BBHII", 0x80, COMFORT_NOISE, seq & 0xFFFF,
                                                (timestamp0 + seq * FRAME) & 0xFFFFFFFF, self.ssrc)
                                    + bytes([CN_LEVEL]), self.remote)
                continue
            event = self._event(seq)
            if event is not None:
                self.rtp.sendto(self._event_packet(seq, timestamp0, *event), self.remote)
                continue
            header = struct.pack("!BBHII", 0x80, PCMU, seq & 0xFFFF, (timestamp0 + seq * FRAME) & 0xFFFFFFFF,
                                 self.ssrc)
            packet = header + (tone(self.tone_hz, seq) if self.tone_hz else payload)
            self.rtp.sendto(self.srtp.protect(packet) if self.srtp else packet, self.remote)
            with self._lock:
                self.sent += 1
                self.sent_bytes += len(payload)  # the SR's octet count: payload only (RFC 3550 6.4.1)
                self._last_timestamp = (timestamp0 + seq * FRAME) & 0xFFFFFFFF

    def _event(self, seq: int) -> tuple[int, int] | None:
        """(event code, packet index within the event) when packet `seq` belongs to a key press."""
        for start, code in self.digits.items():
            if start <= seq < start + EVENT_PACKETS:
                return code, seq - start
        return None

    def _event_packet(self, seq: int, timestamp0: int, code: int, index: int) -> bytes:
        start = seq - index  # every packet of one event carries the timestamp of its start
        marker = 0x80 if index == 0 else 0
        end = 0x80 if index >= EVENT_PACKETS - 3 else 0
        header = struct.pack("!BBHII", 0x80, marker | self.event_pt, seq & 0xFFFF,
                             (timestamp0 + start * FRAME) & 0xFFFFFFFF, self.ssrc)
        return header + struct.pack("!BBH", code, end | 10, (index + 1) * FRAME)

    def _datagrams(self, sock: socket.socket):
        """What arrives on `sock` until the endpoint stops."""
        while not self._stop.is_set():
            try:
                yield sock.recv(2048)
            except (TimeoutError, OSError):
                continue

    def _receive_rtp(self) -> None:
        for data in self._datagrams(self.rtp):
            if self.srtp is not None:
                data = self.srtp.unprotect(data)
                if data is None:
                    with self._lock:
                        self.undecryptable += 1
                    continue
            if len(data) < 12 or data[0] >> 6 != 2:
                continue
            seq, timestamp, ssrc = struct.unpack("!HII", data[2:12])
            payload_type = data[1] & 0x7F
            with self._lock:
                self.payload_types[payload_type] += 1
                if payload_type == COMFORT_NOISE and len(data) > 12:
                    self.comfort_noise.append(data[12])
                if payload_type == self.event_pt and len(data) >= 16:
                    self.events.append(data[12])
                    if data[13] & 0x80:
                        self.event_durations.append(struct.unpack("!H", data[14:16])[0])
                    continue
                if payload_type == PCMU:
                    self.audio.extend(linear(b) for b in data[12:])
                self.ssrcs[ssrc] += 1
                self.arrivals.append((time.monotonic(), ssrc))
                self.heard.ssrc = ssrc
                self.heard.packet(seq, timestamp, time.monotonic())

    def _receive_rtcp(self) -> None:
        for data in self._datagrams(self.rtcp_sock):
            offset = 0
            while offset + 8 <= len(data):  # a compound packet: SR/RR/SDES ...
                packet_type, words = data[offset + 1], struct.unpack("!H", data[offset + 2:offset + 4])[0]
                if packet_type == 200 and offset + 28 <= len(data):  # SR: keep its NTP time's middle bits
                    ntp_hi, ntp_lo = struct.unpack("!II", data[offset + 8:offset + 16])
                    with self._lock:
                        self.heard.last_sr = ((ntp_hi & 0xFFFF) << 16) | (ntp_lo >> 16)
                        self.heard.last_sr_at = time.monotonic()
                        self.rtcp_received += 1
                offset += (words + 1) * 4

    def _report(self) -> None:
        """Every second: SR (we send) + one reception block about what we heard, + SDES CNAME."""
        while not self._stop.wait(1.0):
            if not self.rtcp or self.remote is None:
                continue
            with self._lock:
                if self.heard.received == self.heard.received_prior:
                    continue  # RFC 3550 6.4: a report block only about a source heard since the last report
                now = time.monotonic()
                ntp_hi, ntp_lo = _ntp(time.time())
                block = self.heard.block(now)
                sr = struct.pack("!BBHIIIIII", 0x81, 200, 12, self.ssrc, ntp_hi, ntp_lo,
                                 self._last_timestamp, self.sent, self.sent_bytes) + block
                cname = b"rtp-test"
                item = bytes([1, len(cname)]) + cname + b"\x00"
                item += b"\x00" * (-(len(item) + 4) % 4)
                sdes = struct.pack("!BBHI", 0x81, 202, (len(item) + 4) // 4, self.ssrc) + item
                self.rtcp_sock.sendto(sr + sdes, (self.remote[0], self.remote[1] + 1))
                self.rtcp_sent += 1
