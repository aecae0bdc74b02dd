"""Ringback on the real stack (tenant `ringback`): a carrier calls tenant acme, whose agent's platform takes
2 s to answer. The carrier must get a 180 at once whose SDP names rtpengine's port on the private side, hear
RINGBACK_TONE from there (decoded: the energy at 440 and 480 Hz, for the 2 s its cadence is on), then the
agent's own audio from the same port once it answers, and no more ringback. A refusal ends the ringback with
the call's media."""

from __future__ import annotations

import itertools
import math
import threading
import time

import pytest

from testkit.harness import delta, dispatcher_states, gateways, remove_gateways_since, scrape, wait_for
from testkit.rtp import RtpPeer, media_address
from testkit.sipua import AnsweringPeer, Caller, Msg, parse, reply, tag
from tests.integration.baresip import tone_share

GATEWAY = ("127.0.3.30", 5060)  # demo data: tenant acme's own set (25), no backup
SECOND = "127.0.3.34"  # added to that set for a failover
GATEWAY_RTP = 40000
CARRIER = ("127.0.4.2", 5084)
CARRIER_RTP = 40000  # the port the suite's carrier offers (testkit.sipua.sdp)
SBC = ("127.0.1.1", 5060)
ACME_DID = "+12125550199"
STARTING = 2.3  # s the agent's platform takes to answer: past the tone's first 2 s on (RINGBACK_TONE's default)
AGENT_HZ = 1000
BLOCK = 160  # 20 ms at 8 kHz


class SlowGateway(AnsweringPeer):
    """Answers each INVITE after a pause, with the next of `answers` (shared by the gateways of one call, so the
    first INVITE gets the first whichever gateway it reaches): (s, 200) a 200 with its SDP, (s, 503) a refusal
    with Retry-After (held off, not marked down), (s, other) that refusal; nothing before but 100. A CANCEL
    before then gets its 200 and the INVITE 487, as a UA does."""

    def __init__(self, ip: str, answers: list[tuple[float, int]]):
        super().__init__(ip, GATEWAY[1], self._answer)
        self.answers = answers
        self.pending: dict[str, tuple[threading.Timer, Msg]] = {}  # Call-ID -> its answer to come

    def _handle(self, msg: Msg, addr) -> None:
        call_id = msg.header("call-id") or ""
        if msg.method == "INVITE" and ";tag=" not in (msg.header("to") or ""):
            self.send(reply(msg, 100, "Trying", "unused").set("To", msg.header("to") or "").render(), addr)
            pause, code = self.answers.pop(0)
            timer = threading.Timer(pause, self._answer_now, (msg, addr, code))
            self.pending[call_id] = timer, msg
            timer.start()
            return
        if msg.method == "CANCEL" and call_id in self.pending:
            self.requests.append(msg)
            timer, invite = self.pending.pop(call_id)
            timer.cancel()
            self.send(reply(msg, 200, "OK", tag()).render(), addr)
            self.send(reply(invite, 487, "Request Terminated", tag()).render(), addr)
            return
        super()._handle(msg, addr)

    def _answer_now(self, invite: Msg, addr, code: int) -> None:
        if self.pending.pop(invite.header("call-id") or "", None) is not None:
            self._code = code
            super()._handle(invite, addr)

    def _answer(self, invite: Msg):
        if self._code == 503:
            return [reply(invite, 503, "Service Unavailable", tag()).set("Retry-After", "2")]
        return self._code  # a 200 with its SDP (testkit.sipua.sdp: port GATEWAY_RTP)

    def stop(self) -> None:
        for timer, _ in self.pending.values():
            timer.cancel()
        super().stop()


def loud_ms(pcm: list[int]) -> int:
    """How long the signal is not silence, in 20 ms blocks (RMS above -30 dBFS)."""
    blocks = [pcm[i:i + BLOCK] for i in range(0, len(pcm) - BLOCK + 1, BLOCK)]
    return 20 * sum(math.sqrt(sum(x * x for x in b) / BLOCK) > 1000 for b in blocks)


@pytest.fixture
def acme_ringback(quiet_sbc, sbcctl):
    done = sbcctl("tenant", "set", "acme", "--ringback")
    assert done.returncode == 0, done.stderr
    try:
        yield
    finally:
        assert sbcctl("tenant", "set", "acme", "--no-ringback").returncode == 0


def cancel(invite: Msg) -> Msg:
    """The CANCEL of an INVITE (RFC 3261 9.1): its Request-URI, top Via, From, To, Call-ID, CSeq number."""
    return Msg(invite.start.replace("INVITE", "CANCEL", 1), [
        ["Via", invite.header("via")], ["Max-Forwards", "70"], ["From", invite.header("from")],
        ["To", invite.header("to")], ["Call-ID", invite.header("call-id")], ["CSeq", "1 CANCEL"]])


def call(quiet_sbc, answers: list[tuple[float, int]], name: str, ips=(GATEWAY[0],), cancel_at: float = 0):
    """One call to acme's DID, its gateways (`ips`) answering in turn as `answers` say: (the carrier's replies,
    each with its arrival in s after the INVITE and the samples the carrier had heard then; its RTP endpoint;
    the INVITE the answering gateway got)."""
    peers = [SlowGateway(ip, answers).start() for ip in ips]
    caller = Caller(CARRIER, SBC, ACME_DID, [])
    carrier_rtp = RtpPeer(CARRIER[0], CARRIER_RTP, rtcp=False)
    agents = {ip: RtpPeer(ip, GATEWAY_RTP, rtcp=False, tone_hz=AGENT_HZ) for ip in ips}
    replies: list[tuple[float, Msg, int]] = []  # (s after the INVITE, reply, samples the carrier had heard)
    try:
        uris = [f"sip:{ip}:{GATEWAY[1]}" for ip in ips]
        assert wait_for(lambda: all(dispatcher_states(quiet_sbc).get(u, "").startswith("A") for u in uris), 15)
        call_id = f"{name}-{time.monotonic_ns()}@{CARRIER[0]}"
        started = time.monotonic()
        caller.send(caller.invite(call_id).render(), caller.sbc)
        final = None
        # The carrier's stream lasts the call: its ringing, then 1.6 s of talk or 1 s after a refusal or CANCEL.
        sending = (cancel_at or sum(p for p, _ in answers)) + (1.8 if answers[-1][1] == 200 and not cancel_at else 1.1)
        while final is None and time.monotonic() - started < sum(p for p, _ in answers) + 5:
            if cancel_at and time.monotonic() - started >= cancel_at:
                caller.send(cancel(caller.sent[-1]).render(), caller.sbc)  # the caller gives up while it rings
                cancel_at = 0
            for data, _ in caller.drain():
                msg = parse(data)
                if (msg is None or not msg.is_reply or msg.header("call-id") != call_id or msg.status == 100
                        or not (msg.header("cseq") or "").endswith("INVITE")):
                    continue
                replies.append((time.monotonic() - started, msg, len(carrier_rtp.audio)))
                if msg.status == 180 and msg.body and not carrier_rtp._threads:
                    carrier_rtp.start(media_address(msg.body), sending)  # silence, as a caller waiting
                if msg.status >= 200:
                    final = msg
            time.sleep(0.002)
        assert final is not None, [m.status for _, m, _ in replies]
        invite = next((i for p in peers for i in p.invites.values()), None)
        if final.status == 200:
            agents[next(p.ip for p in peers if p.invites)].start(media_address(invite.body), 1.5)
            caller.ack_and_maybe_bye(final, keep_dialog=True)
            time.sleep(1.6)
            caller.send(caller.dialogs[call_id].request("BYE", *CARRIER).render(), SBC)
        else:
            caller.ack_and_maybe_bye(final, keep_dialog=False)
            time.sleep(1.0)  # anything rtpengine still played after the refusal
        return replies, carrier_rtp, invite
    finally:
        for peer in (carrier_rtp, *agents.values()):
            if peer._threads:
                peer.wait()
            else:
                peer.rtp.close()
                peer.rtcp_sock.close()
        caller.close()
        for peer in peers:
            peer.stop()


def test_the_carrier_hears_ringback_at_once_then_the_agent_from_the_same_port(quiet_sbc, acme_ringback):
    before = scrape(quiet_sbc)
    replies, carrier_rtp, invite = call(quiet_sbc, [(STARTING, 200)], "ringback")
    ringing_at, ringing, _ = next(r for r in replies if r[1].status == 180)
    answered_at, answer, heard_before = next(r for r in replies if r[1].status == 200)
    ringback_pcm, agent_pcm = carrier_rtp.audio[:heard_before], carrier_rtp.audio[heard_before:]
    shares = {hz: tone_share(ringback_pcm, hz) for hz in (440, 480, AGENT_HZ)}
    after = {hz: tone_share(agent_pcm, hz) for hz in (440, 480, AGENT_HZ)}
    print(f"\n180 with SDP after {ringing_at * 1000:.0f} ms, 200 after {answered_at * 1000:.0f} ms; before the answer "
          f"the carrier heard {len(ringback_pcm) / 8000:.2f} s, {loud_ms(ringback_pcm)} ms of it tone, energy at "
          f"440/480/1000 Hz {shares[440]:.2f}/{shares[480]:.2f}/{shares[AGENT_HZ]:.2f}; after it "
          f"{len(agent_pcm) / 8000:.2f} s, {after[440]:.2f}/{after[480]:.2f}/{after[AGENT_HZ]:.2f}")
    assert ringing_at < 0.5  # the SBC's own 180: no wait for the platform
    assert media_address(ringing.body) == media_address(answer.body)  # the port the agent's audio comes from
    assert media_address(ringing.body)[0] == SBC[0]
    assert "m=audio" in ringing.body and " RTP/AVP 0 8 101" in ringing.body  # its own offer's formats
    assert "127.0.3." not in ringing.body and "127.0.2." not in ringing.body
    assert ringing.header("contact") and SBC[0] in ringing.header("contact")
    assert shares[440] + shares[480] > 0.9 and shares[AGENT_HZ] < 0.05
    assert 1900 <= loud_ms(ringback_pcm) <= 2100  # the cadence's 2 s on, then its silence until the answer
    assert after[AGENT_HZ] > 0.9 and after[440] + after[480] < 0.05  # the agent only: the ringback stopped
    assert delta(scrape(quiet_sbc), before, "kamailio_sbc_ringback_total", tenant="acme", result="played") == 1
    assert "127.0.4." not in invite.body


def test_a_refusal_ends_the_ringback_with_the_calls_media(quiet_sbc, acme_ringback):
    replies, carrier_rtp, _ = call(quiet_sbc, [(STARTING, 486)], "ringback-busy")
    refused_at, refusal, heard_before = next(r for r in replies if r[1].status >= 200)
    print(f"\nbusy after {refused_at * 1000:.0f} ms: the carrier heard {heard_before / 8000:.2f} s of ringback before "
          f"it, {len(carrier_rtp.audio) - heard_before} samples in the 1 s after")
    assert refusal.status == 486
    assert heard_before / 8000 >= STARTING - 0.5
    assert len(carrier_rtp.audio) - heard_before <= 8 * BLOCK  # at most what was on its way


@pytest.fixture
def second_gateway(quiet_sbc, sbcctl):
    """Another gateway in acme's set, for a failover; removed afterwards."""
    before = {row["id"] for row in gateways(sbcctl)}
    done = sbcctl("gateway", "add", "--uri", f"sip:{SECOND}:{GATEWAY[1]}", "--group", "25")
    assert done.returncode == 0, done.stderr
    try:
        yield SECOND
    finally:
        remove_gateways_since(sbcctl, before)


def test_the_ringback_goes_on_through_a_failover_until_the_next_gateway_answers(quiet_sbc, acme_ringback,
                                                                               second_gateway):
    replies, carrier_rtp, _ = call(quiet_sbc, [(1.0, 503), (1.3, 200)], "ringback-failover",
                                   (GATEWAY[0], second_gateway))
    answered_at, answer, heard_before = next(r for r in replies if r[1].status == 200)
    ringing = next(r[1] for r in replies if r[1].status == 180)
    arrivals = [t for t, _ in carrier_rtp.arrivals]
    ringback_arrivals = arrivals[:heard_before // BLOCK]
    gap = max(b - a for a, b in itertools.pairwise(ringback_arrivals))
    pcm = carrier_rtp.audio[:heard_before]
    print(f"\n503 from the first gateway after 1.0 s, 200 from the next after {answered_at * 1000:.0f} ms: the carrier "
          f"heard {len(pcm) / 8000:.2f} s before it, {loud_ms(pcm)} ms of it tone, longest gap between packets "
          f"{gap * 1000:.0f} ms, energy at 440+480 Hz {tone_share(pcm, 440) + tone_share(pcm, 480):.2f}")
    assert [r[1].status for r in replies].count(180) == 1  # one early dialog for the carrier, not one per attempt
    assert media_address(ringing.body) == media_address(answer.body)
    # The re-offer to the next gateway neither paused the player (a pause leaves less audio than time passed;
    # packet gaps alone are this process's reading as much as rtpengine's sending) nor restarted its cadence
    # (a restart at 1 s would have had 2.3 s of tone).
    assert len(pcm) / 8000 >= answered_at - 0.15
    assert 1900 <= loud_ms(pcm) <= 2100 and tone_share(pcm, 440) + tone_share(pcm, 480) > 0.9


def test_a_caller_hanging_up_while_it_rings_ends_the_ringback(quiet_sbc, acme_ringback):
    replies, carrier_rtp, _ = call(quiet_sbc, [(STARTING, 200)], "ringback-cancel", cancel_at=1.0)
    ended_at, final, heard_before = next(r for r in replies if r[1].status >= 200)
    print(f"\nCANCEL after 1.0 s: {final.status} after {ended_at * 1000:.0f} ms; the carrier heard "
          f"{heard_before / 8000:.2f} s of ringback before it, {len(carrier_rtp.audio) - heard_before} samples in the "
          f"1 s after")
    assert final.status == 487 and ended_at < 1.5
    assert heard_before / 8000 >= 0.8
    assert len(carrier_rtp.audio) - heard_before <= 8 * BLOCK
