"""Codec policy on the real stack: a gateway row that takes Opus or G.722 only, with transcoding, behind a
G.711-only carrier. What the gateway is offered, what the carrier is answered, and the audio itself: baresip
(Debian's, decoding Opus/G.722 with its own codecs) and the suite's PCMU endpoint each hear the other's tone,
measured by its energy at that frequency; RFC 4733 digits cross the transcoded call both ways. A strict row
(no transcoding) is offered only what it takes, and an offer with nothing it takes goes to the next peer."""

from __future__ import annotations

import re
import time

import pytest

from testkit.harness import (
    DEMO_GATEWAYS,
    delta,
    dispatcher_states,
    gateways,
    remove_gateways_since,
    scrape,
    wait_for,
    wait_state,
)
from testkit.rtp import RtpPeer, media_address
from testkit.sipua import AnsweringPeer, Caller, Msg, parse, reply, tag, wait_until
from tests.integration.baresip import Baresip, rate, samples, tone_share
from tests.integration.test_srtp import answered_call, hang_up

NAME, ADDRESS = "codecs.tls.test", "127.0.7.81"  # baresip, in the suite's DNS only; outside the demo ACL
URI = f"sip:{NAME};transport=tls"
PLAIN = ("127.0.7.71", 5060)  # the suite's own answering gateway (offers only)
CARRIER = ("127.0.4.2", 5081)
VAPI_DID = "4155550101"  # demo data: set 1
SECONDS = 3
CARRIER_HZ, GATEWAY_HZ = 1000, 440
DIGITS = {60: 5, 100: 9}  # packet number -> RFC 4733 event the carrier sends there instead of audio


def codecs_of(sdp: str) -> list[str]:
    """The audio line's codecs by name, in its order (static payload types named as RFC 3551 does)."""
    names = dict(re.findall(r"^a=rtpmap:(\d+) ([^/\s]+)/", sdp, re.M))
    line = next(line for line in sdp.splitlines() if line.startswith("m=audio"))
    return [names.get(pt, {"0": "PCMU", "8": "PCMA", "9": "G722", "13": "CN"}.get(pt, pt)) for pt in line.split()[3:]]


class OpusGateway(AnsweringPeer):
    """Answers with Opus (and telephone-event) whatever it is offered: what an Opus-only platform does."""

    def __init__(self, ip: str, port: int):
        super().__init__(ip, port, self._answer)
        self.offers: list[Msg] = []

    def _answer(self, invite: Msg):
        """With the payload types the offer gave those codecs (RFC 3264 6.1), as a UA answers."""
        self.offers.append(invite)
        types = {f"{name}/{clock}": pt for pt, name, clock in re.findall(r"^a=rtpmap:(\d+) ([^/\s]+)/(\d+)",
                                                                          invite.body, re.M)}
        opus, event = types.get("opus/48000", "96"), types.get("telephone-event/48000")
        body = (f"v=0\r\no=- 1 1 IN IP4 {self.ip}\r\ns=-\r\nc=IN IP4 {self.ip}\r\nt=0 0\r\n"
                f"m=audio 40700 RTP/AVP {opus}{f' {event}' if event else ''}\r\na=rtpmap:{opus} opus/48000/2\r\n"
                + (f"a=rtpmap:{event} telephone-event/48000\r\n" if event else "") + "a=sendrecv\r\n")
        return [reply(invite, 200, "OK", tag(), f"sip:ua@{self.ip}:{self.port}", body)]


class PcmaGateway(OpusGateway):
    """Answers PCMA with comfort noise (RFC 3389) and telephone-event, with the offer's payload types."""

    def _answer(self, invite: Msg):
        self.offers.append(invite)
        types = {f"{name}/{clock}": pt for pt, name, clock in re.findall(r"^a=rtpmap:(\d+) ([^/\s]+)/(\d+)",
                                                                          invite.body, re.M)}
        event = types.get("telephone-event/8000", "101")
        body = (f"v=0\r\no=- 1 1 IN IP4 {self.ip}\r\ns=-\r\nc=IN IP4 {self.ip}\r\nt=0 0\r\n"
                f"m=audio 40700 RTP/AVP 8 13 {event}\r\na=rtpmap:{event} telephone-event/8000\r\na=sendrecv\r\n")
        return [reply(invite, 200, "OK", tag(), f"sip:ua@{self.ip}:{self.port}", body)]


@pytest.fixture
def plain_gateway(quiet_sbc, sbcctl):
    """add(*options): the suite's answering gateway in set 1 with these sbcctl options; removed afterwards."""
    wait_state(quiet_sbc, DEMO_GATEWAYS, active=False)
    before, peers = {row["id"] for row in gateways(sbcctl)}, []
    uri = f"sip:{PLAIN[0]}:{PLAIN[1]}"

    def add(*options: str, peer=None) -> OpusGateway:
        done = sbcctl("gateway", "add", "--uri", uri, "--group", "1", *options)
        assert done.returncode == 0, done.stderr
        peers.append((peer or OpusGateway)(*PLAIN).start())
        assert wait_for(lambda: dispatcher_states(quiet_sbc).get(uri, "").startswith("A"), 15)
        wait_state(quiet_sbc, DEMO_GATEWAYS, active=False)
        return peers[-1]
    try:
        yield add
    finally:
        for peer in peers:
            peer.stop()
        remove_gateways_since(sbcctl, before)


def test_a_transcoding_gateway_is_offered_its_codecs_and_the_carrier_is_answered_in_its_own(plain_gateway):
    gateway = plain_gateway("--codecs", "opus,g722", "--transcode")
    caller = Caller(CARRIER, ("127.0.1.1", 5060), VAPI_DID, [])
    try:
        _, answer = answered_call(caller, "codecs-offer")
    finally:
        hang_up(caller)
        caller.close()
    offered = codecs_of(gateway.offers[-1].body)
    print(f"\ncarrier offered PCMU, PCMA, telephone-event; the gateway was offered {offered}; "
          f"the carrier was answered {codecs_of(answer.body)}")
    assert offered[:2] == ["opus", "G722"] and set(offered) == {"opus", "G722", "CN", "telephone-event"}
    assert codecs_of(answer.body) == ["PCMU", "telephone-event"]  # its own codec: rtpengine transcodes


def test_digits_reach_an_opus_gateway_at_opus_clock(plain_gateway):
    """RFC 7587: toward an Opus-only row rtpengine offers telephone-event at Opus's 48 kHz; a gateway that takes
    it (the suite's answers with the offered type) gets the carrier's 8 kHz digits at its own clock."""
    gateway = plain_gateway("--codecs", "opus", "--transcode")
    caller = Caller(CARRIER, ("127.0.1.1", 5060), VAPI_DID, [])
    agent = carrier = None
    try:
        _, answer = answered_call(caller, "codecs-opus-digits")
        offer = gateway.offers[-1].body
        event_pt = int(re.search(r"^a=rtpmap:(\d+) telephone-event/48000", offer, re.M).group(1))
        agent = RtpPeer(PLAIN[0], 40700, rtcp=False, event_pt=event_pt).start(media_address(offer), 0)
        carrier = RtpPeer(CARRIER[0], 40800, rtcp=False, digits=DIGITS).start(media_address(answer.body), SECONDS)
        carrier.wait()
        agent.wait()
    finally:
        hang_up(caller)
        caller.close()
    print(f"\ndigits PCMU -> Opus: the carrier answered {codecs_of(answer.body)}, the gateway got events "
          f"{sorted(set(agent.events))} ending at durations {sorted(set(agent.event_durations))} (48 kHz units), "
          f"and {sum(agent.ssrcs.values())} other packets")
    assert codecs_of(answer.body) == ["PCMU", "telephone-event"]
    assert sorted(set(agent.events)) == sorted(DIGITS.values())
    # The carrier's end packets say 480, 640, 800 (its last three, at 8 kHz: testkit/rtp.py): six times that.
    assert set(agent.event_durations) == {6 * 480, 6 * 640, 6 * 800}


def test_comfort_noise_crosses_a_transcoded_call_as_comfort_noise(plain_gateway):
    """A carrier offering PCMU with CN, silent for 1 s in the middle of its tone (a CN packet every 200 ms, as
    with silence suppression), to a row transcoding to PCMA whose gateway takes CN: rtpengine transcodes the
    voice and passes the comfort noise on as comfort noise, at its level."""
    gateway = plain_gateway("--codecs", "pcma", "--transcode", peer=PcmaGateway)
    caller = Caller(CARRIER, ("127.0.1.1", 5060), VAPI_DID, [])
    invite = caller.invite(f"codecs-cn-{time.monotonic_ns()}@{CARRIER[0]}")
    invite.body = invite.body.replace("RTP/AVP 0 8 101", "RTP/AVP 0 13 101")  # PCMU and CN only
    agent = carrier = None
    try:
        caller.send(invite.render(), caller.sbc)
        call_id = invite.header("call-id")
        assert wait_until(lambda: caller.pump(keep_dialogs=True) or call_id in caller.dialogs, 5), caller.codes
        answer = next(m for m in map(parse, caller.received)
                      if m is not None and m.status == 200 and m.header("call-id") == call_id)
        offer = gateway.offers[-1].body
        agent = RtpPeer(PLAIN[0], 40700, rtcp=False).start(media_address(offer), 0)
        carrier = RtpPeer(CARRIER[0], 40800, rtcp=False, tone_hz=CARRIER_HZ, quiet=range(50, 100))
        carrier.start(media_address(answer.body), SECONDS)
        carrier.wait()
        agent.wait()
    finally:
        hang_up(caller)
        caller.close()
    print(f"\nPCMU + CN -> PCMA + CN: offered {codecs_of(offer)}, the carrier answered {codecs_of(answer.body)}; the "
          f"gateway got {dict(agent.payload_types)} by payload type, comfort noise at levels "
          f"{sorted(set(agent.comfort_noise))}")
    assert codecs_of(offer) == ["PCMA", "CN", "telephone-event"] and "CN" in codecs_of(answer.body)
    assert agent.payload_types[13] == 5 and set(agent.comfort_noise) == {40}  # each CN packet, at its level
    assert agent.payload_types[8] >= 90 and agent.payload_types[0] == 0  # the voice transcoded, none as PCMU


def test_a_strict_gateway_is_offered_only_what_it_takes(plain_gateway):
    gateway = plain_gateway("--codecs", "pcma")
    caller = Caller(CARRIER, ("127.0.1.1", 5060), VAPI_DID, [])
    try:
        answered_call(caller, "codecs-strict")
    finally:
        hang_up(caller)
        caller.close()
    assert codecs_of(gateway.offers[-1].body) == ["PCMA", "telephone-event"]


def test_an_offer_a_strict_gateway_cannot_take_goes_to_the_next_peer(quiet_sbc, plain_gateway, work):
    gateway = plain_gateway("--codecs", "g722")
    before = scrape(quiet_sbc)
    caller = Caller(CARRIER, ("127.0.1.1", 5060), VAPI_DID, [])
    try:
        call_id = f"codecs-none-{time.monotonic_ns()}@{CARRIER[0]}"
        caller.send(caller.invite(call_id).render(), caller.sbc)
        assert wait_for(lambda: caller.pump() or caller.codes, 10), "no answer"
    finally:
        caller.close()
    after = scrape(quiet_sbc)
    print(f"\nPCMU/PCMA offer, the set's only gateway takes G.722 only: the carrier got {dict(caller.codes)}")
    assert gateway.offers == []  # never sent: the backup group's gateway is down too, so 503
    assert caller.codes[503] == 1
    assert delta(after, before, "kamailio_sbc_codec_mismatch_total", side="public") == 1


@pytest.fixture
def baresip_gateway(quiet_sbc, dns_zone, sbcctl, work, tls_ca):
    """start(codec): baresip at codecs.tls.test in set 1 taking only that codec, the row transcoding to it."""
    dns_zone.a(NAME, ADDRESS, ttl=2)
    wait_state(quiet_sbc, DEMO_GATEWAYS, active=False)
    before, started = {row["id"] for row in gateways(sbcctl)}, []

    def start(codec: str) -> Baresip:
        certificate = tls_ca[1].write(work, "ua", [NAME])
        ua = Baresip(work / f"baresip-{codec}", ADDRESS, 5061, f"+1{VAPI_DID}", NAME, certificate=certificate,
                     ca=tls_ca[0] / "ca.pem", mediaenc=None, tone_hz=GATEWAY_HZ, codecs=codec)
        started.append(ua.start())
        done = sbcctl("gateway", "add", "--uri", URI, "--group", "1", "--codecs", codec.lower(), "--transcode")
        assert done.returncode == 0, done.stderr
        assert wait_for(lambda: dispatcher_states(quiet_sbc).get(URI, "").startswith("A"), 15), \
            (dispatcher_states(quiet_sbc), ua.log()[-2000:])
        wait_state(quiet_sbc, DEMO_GATEWAYS, active=False)
        return ua
    try:
        yield start
    finally:
        for ua in started:
            ua.stop()
        remove_gateways_since(sbcctl, before)
        dns_zone.remove(NAME)


def transcoded_call(ua: Baresip, name: str, digits: dict[int, int] | None = None,
                    press: str | None = None) -> tuple[RtpPeer, list[int], int, str]:
    """A carrier call to baresip (its codec only, the row transcoding): the carrier's endpoint sends PCMU at
    CARRIER_HZ (and `digits`), baresip its tone (and presses `press` after 1 s). (carrier endpoint, what
    baresip decoded, its sample rate, baresip's log)."""
    caller = Caller(CARRIER, ("127.0.1.1", 5060), VAPI_DID, [])
    try:
        _, answer = answered_call(caller, name)
        assert codecs_of(answer.body)[0] == "PCMU", answer.body
        assert wait_for(lambda: "Call established" in ua.log(), 5), ua.log()[-2000:]
        carrier = RtpPeer(CARRIER[0], 40800, rtcp=False, tone_hz=CARRIER_HZ, digits=digits)
        carrier.start(media_address(answer.body), SECONDS)
        if press:
            time.sleep(1)
            assert ua.command("sndcode", press)["ok"]
        carrier.wait()
    finally:
        hang_up(caller)
        caller.close()
    assert wait_for(lambda: ua.decoded() and "terminated" in ua.log(), 5), ua.log()[-3000:]
    time.sleep(0.5)  # sndfile closes its file when the call is gone
    dump = ua.decoded()[-1]
    return carrier, samples(dump), rate(dump), ua.log()


@pytest.mark.parametrize("codec", ["opus", "G722"])
def test_audio_crosses_a_call_transcoded_between_pcmu_and_the_gateways_codec(baresip_gateway, codec):
    ua = baresip_gateway(codec)
    carrier, heard, hz, log = transcoded_call(ua, f"transcode-{codec}")
    print(f"\n{codec} <-> PCMU: the carrier sent {carrier.sent} packets of {CARRIER_HZ} Hz; baresip decoded "
          f"{len(heard) / hz:.2f} s at {hz} Hz, {tone_share(heard, CARRIER_HZ, hz):.2f} of it at {CARRIER_HZ} Hz; "
          f"the carrier heard {len(carrier.audio) / 8000:.2f} s, {tone_share(carrier.audio, GATEWAY_HZ):.2f} at "
          f"{GATEWAY_HZ} Hz")
    assert f"Set audio decoder: {codec}" in log, log[-3000:]  # baresip spoke its codec, not G.711
    assert len(heard) >= 0.7 * SECONDS * hz and tone_share(heard, CARRIER_HZ, hz) > 0.8
    assert len(carrier.audio) >= 0.7 * SECONDS * 8000 and tone_share(carrier.audio, GATEWAY_HZ) > 0.8


def test_digits_cross_a_transcoded_call_both_ways(baresip_gateway):
    """RFC 4733 events: the carrier's (telephone-event/8000 beside PCMU) reach baresip on G.722's, and
    baresip's reach the carrier. (Opus: rtpengine offers telephone-event at Opus's 48 kHz clock, RFC 7587's,
    which baresip 1.0 does not take: docs/gateways.md, Codecs.)"""
    ua = baresip_gateway("G722")
    carrier, _, _, log = transcoded_call(ua, "transcode-digits", digits=DIGITS, press="7")
    digits_heard = re.findall(r"received event: '(.)' \(end=1\)", log)  # each digit once, at its end
    print(f"\ndigits across G.722 <-> PCMU: baresip heard {digits_heard} of the carrier's 5, 9; the carrier "
          f"received events {sorted(set(carrier.events))} (baresip pressed 7)")
    assert digits_heard[:2] == ["5", "9"], log[-3000:]
    assert 7 in carrier.events
