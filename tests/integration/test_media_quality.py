"""Media quality per leg from rtpengine into the CDR and the metrics: a call whose carrier side sends
impaired media by a known schedule, and a call whose ends send no RTCP at all.

The test's RTP endpoints (testkit/rtp.py) report what they hear in RTCP, as real user agents
do; rtpengine turns those reports into MOS, jitter and loss per leg. The impairment is applied at the
carrier's sender: 1 packet in 10 left out (10 % loss) and every other packet held back 10 ms (RFC 3550
interarrival jitter converges to 10 ms), so the gateway's leg must show them and the carrier's must not.
"""

from __future__ import annotations

import json
import socket
import struct
import time

from testkit.harness import cdr_rows, delta, last_cdr_id, scrape, wait_for, wait_state
from testkit.rtp import RtpPeer, media_address
from testkit.sipua import AnsweringPeer, Caller, parse, wait_until

SBC_PRIVATE = ("127.0.1.1", 5060)
GATEWAY = ("127.0.3.1", 5060)  # dispatcher set 1, DID +14155550101
CARRIER = ("127.0.4.2", 5073)  # in the carriers' ACL network
SECONDS = 8
LOSS_EVERY = 10  # one packet in ten left out
HOLD_MS = 10  # every other packet


def _call(sbc, carrier_rtp: dict, gateway_rtp: dict, during=lambda: None, alongside=lambda private, public: None):
    """One inbound call carrying media between two RtpPeers for SECONDS, ended by the carrier's BYE;
    `alongside(private, public)` runs as the media starts, with rtpengine's two media addresses (where the
    carrier and the gateway send); `during()` runs once the media is over, while the call is still up."""
    gateway_ua = AnsweringPeer(*GATEWAY, lambda invite: 200).start()
    # Earlier tests may have left the gateway unanswered long enough for probing to set it inactive.
    wait_state(sbc, [GATEWAY[0]], active=True)
    caller = Caller(CARRIER, SBC_PRIVATE, "4155550101", [])
    carrier_media = RtpPeer(CARRIER[0], 40000, **carrier_rtp)
    gateway_media = RtpPeer(GATEWAY[0], 40000, **gateway_rtp)
    try:
        call_id = f"media-{carrier_media.ssrc}@{CARRIER[0]}"
        caller.send(caller.invite(call_id).render(), caller.sbc)
        assert wait_until(lambda: caller.pump(keep_dialogs=True) or call_id in caller.dialogs, 10), caller.codes
        answer = next(m for m in map(parse, caller.received) if m is not None and m.status == 200)
        offered = next(iter(gateway_ua.invites.values()))
        carrier_media.start(media_address(answer.body), SECONDS)  # toward rtpengine's private side
        gateway_media.start(media_address(offered.body), SECONDS)  # toward its public side
        alongside(media_address(answer.body), media_address(offered.body))
        carrier_media.wait()
        gateway_media.wait()
        during()
        caller.send(caller.dialogs[call_id].request("BYE", caller.ip, caller.port).render(), caller.sbc)
        assert wait_until(lambda: caller.pump(keep_dialogs=True) or caller.codes[200] >= 2, 5), caller.codes
        return carrier_media, gateway_media
    finally:
        gateway_ua.stop()
        caller.close()


def _row(sbc, after: int) -> dict:
    rows = wait_for(lambda: [r for r in cdr_rows(sbc, after) if r["duration"] not in ("0",)], 10)
    assert len(rows) == 1, rows
    return rows[0]


def test_impaired_media_is_reported_on_the_leg_that_heard_it(quiet_sbc, sbcctl):
    sbc, after, before = quiet_sbc, last_cdr_id(quiet_sbc), scrape(quiet_sbc)
    live = []
    carrier, gateway = _call(
        sbc, {"drop": lambda seq: seq % LOSS_EVERY == LOSS_EVERY // 2, "hold_ms": lambda seq: HOLD_MS * (seq % 2)}, {},
        during=lambda: live.append(sbcctl("--json", "calls")))
    row, after_metrics = _row(sbc, after), scrape(sbc)
    heard = gateway.heard
    print(f"injected loss 10 %, jitter {HOLD_MS} ms; the gateway's receiver measured "
          f"{100 * (heard.expected - heard.received) / heard.expected:.1f} % lost, jitter {heard.jitter / 8:.1f} ms; "
          f"rtpengine reported: {row}")
    # What rtpengine received from each leg: every packet each sender sent (loopback loses none).
    assert int(row["carrier_packets"]) == carrier.sent and int(row["gateway_packets"]) == gateway.sent
    assert int(row["carrier_bytes"]) == 172 * carrier.sent  # RTP header + 160 bytes of PCMU each
    # The gateway heard the impairment: fraction lost 25/256 per report (9 % as rtpengine rounds down).
    assert 8 <= int(row["gateway_loss_pct"]) <= 11
    assert HOLD_MS - 3 <= int(row["gateway_jitter_ms"]) <= HOLD_MS + 4
    assert 3.2 <= float(row["gateway_mos"]) <= 3.9
    # The carrier heard a clean stream.
    assert int(row["carrier_loss_pct"]) == 0 and int(row["carrier_jitter_ms"]) <= 3
    assert float(row["carrier_mos"]) >= 4.2 and float(row["carrier_mos_min"]) >= 4.1
    assert float(row["gateway_mos_min"]) <= float(row["gateway_mos"])
    for leg in ("carrier", "gateway"):
        assert delta(after_metrics, before, "kamailio_sbc_media_reports_total", leg=leg, result="rtcp") == 1
        assert delta(after_metrics, before, "kamailio_sbc_media_mos_count", leg=leg, tenant="none", group="1") == 1
    assert delta(after_metrics, before, "kamailio_sbc_media_loss_percent_sum", leg="gateway", tenant="none",
                 group="1") == int(row["gateway_loss_pct"])
    # While the call was up, sbcctl read the same figures from rtpengine.
    assert live[0].returncode == 0, live[0].stderr
    (call,) = json.loads(live[0].stdout)
    assert (call["gateway_loss_pct"], call["gateway_mos"], call["carrier_mos"]) == \
        (int(row["gateway_loss_pct"]), float(row["gateway_mos"]), float(row["carrier_mos"]))
    cdr = sbcctl("--json", "cdr", "--limit", "1")
    assert json.loads(cdr.stdout)[0]["gateway_mos"] == float(row["gateway_mos"]), cdr.stderr


def test_a_call_without_rtcp_has_packets_but_no_mos(quiet_sbc):
    sbc, after, before = quiet_sbc, last_cdr_id(quiet_sbc), scrape(quiet_sbc)
    carrier, gateway = _call(sbc, {"rtcp": False}, {"rtcp": False})
    row, after_metrics = _row(sbc, after), scrape(sbc)
    assert int(row["carrier_packets"]) == carrier.sent and int(row["gateway_packets"]) == gateway.sent
    assert [row[f"{leg}_{name}"] for leg in ("carrier", "gateway") for name in ("mos", "jitter_ms", "loss_pct")] \
        == ["NULL"] * 6
    for leg in ("carrier", "gateway"):
        assert delta(after_metrics, before, "kamailio_sbc_media_reports_total", leg=leg, result="no rtcp") == 1


class Stranger:
    """Someone who found a call's media port and speaks into it (PCMU every 20 ms from its own address),
    listening for anything rtpengine sends back to it."""

    def __init__(self, source: tuple[str, int]):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(source)
        self.sock.setblocking(False)
        self.heard = 0

    def speak(self, toward: tuple[str, int], ssrc: int, packets: int = 25) -> None:
        for seq in range(packets):
            self.sock.sendto(struct.pack("!BBHII", 0x80, 0, seq, seq * 160, ssrc) + b"\x55" * 160, toward)
            time.sleep(0.02)
            self.listen()

    def listen(self) -> None:
        try:
            while self.sock.recv(2048):
                self.heard += 1
        except BlockingIOError:
            pass


def test_media_from_anyone_but_the_legs_own_endpoint_reaches_neither_side(quiet_sbc):
    """rtpengine's strict-source (rtpengine.conf, sbclib/media.py). Strangers speak into both media ports of a
    live call twice: in its first seconds, while rtpengine learns each leg's endpoint, and after those 3 s.
    The second round reaches neither side and takes nothing of the call's audio. The first is measured and
    printed, not asserted: rtpengine before 13.4 (10.5 on Debian 12, 12.5 in the image) forwards what
    strangers send while it learns, and on 12.5 a stranger then also receives some of the call's audio."""
    late = {0x5A5A0011, 0x5A5A0012, 0x5A5A0013}
    heard_early: dict[str, int] = {}
    strangers = {"internet": Stranger(("127.0.9.9", 40000)), "carrier net": Stranger(("127.0.4.99", 40000)),
                 "gateway, other port": Stranger(("127.0.3.1", 40010))}

    def speak(private, public, first_ssrc):
        strangers["internet"].speak(public, first_ssrc)  # toward the carrier
        strangers["carrier net"].speak(private, first_ssrc + 1)  # toward the AI
        strangers["gateway, other port"].speak(public, first_ssrc + 2)

    def inject(private, public):
        time.sleep(0.3)
        started = time.monotonic()
        speak(private, public, 0x5A5A0001)  # 0.3-1.8 s into the media
        heard_early["seconds"] = time.monotonic() - started
        time.sleep(2.5)
        heard_early.update({name: s.heard for name, s in strangers.items()})
        speak(private, public, 0x5A5A0011)  # 4.3-5.8 s
    try:
        carrier, gateway = _call(quiet_sbc, {}, {}, alongside=inject)
        for stranger in strangers.values():
            stranger.listen()
    finally:
        for stranger in strangers.values():
            stranger.sock.close()
    print(f"the carrier heard {dict(carrier.ssrcs)}, the gateway {dict(gateway.ssrcs)}; the strangers heard "
          f"{heard_early} in the learning window, {({n: s.heard for n, s in strangers.items()})} in all")
    assert {name: s.heard - heard_early[name] for name, s in strangers.items()} == dict.fromkeys(strangers, 0)
    diverted = int(heard_early["seconds"] / 0.02) + 5  # at most the call's packets of the first round
    assert not late & (set(carrier.ssrcs) | set(gateway.ssrcs))
    # The call's own streams: whole but for what the first round could divert.
    assert carrier.ssrcs[gateway.ssrc] >= gateway.sent - diverted
    assert gateway.ssrcs[carrier.ssrc] >= carrier.sent - diverted
