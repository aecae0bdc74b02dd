"""SRTP toward a gateway whose setting asks for it (sbcctl gateway add --media srtp|dtls), the carrier leg
staying RTP/AVP: rtpengine keys the gateway leg (SDES: a=crypto in the SDP; DTLS-SRTP: a fingerprint) and
encrypts and decrypts between the legs. The suite's gateway speaks SRTP with libsrtp (srtp.py); media is
checked both ways by what each end could decrypt or heard."""

from __future__ import annotations

import time

import pytest

from testkit.harness import (
    DEMO_GATEWAYS,
    OUTBOUND_CALLER,
    dispatcher_states,
    gateways,
    remove_gateways_since,
    start_peers,
    wait_for,
    wait_state,
)
from testkit.rtp import RtpPeer, media_address
from testkit.sipua import AnsweringPeer, Caller, Msg, parse, reply, tag, wait_until
from testkit.srtp import SUITE, Srtp, crypto_lines, new_key, savp_sdp

GATEWAY = ("127.0.7.70", 5060)  # outside the demo ACL; in set 1 (whose demo gateways nobody answers)
CARRIER = ("127.0.4.2", 5078)
VAPI_DID = "4155550101"
SECONDS = 3  # of media each way


class SrtpGateway(AnsweringPeer):
    """Answers an SDES offer with its own key on RTP/SAVP (an offer without one: 488)."""

    def __init__(self, ip: str, port: int, media_port: int = 40300):
        super().__init__(ip, port, self._answer)
        self.media_port, self.key = media_port, new_key()
        self.offers: list[Msg] = []
        self.theirs: bytes | None = None

    def _answer(self, invite: Msg):
        self.offers.append(invite)
        usable = [c for c in crypto_lines(invite.body) if c[1] == SUITE]
        if not usable:
            return 488
        crypto_tag, _, self.theirs = usable[0]
        return [reply(invite, 200, "OK", tag(), f"sip:ua@{self.ip}:{self.port}",
                      savp_sdp(self.ip, self.media_port, crypto_tag, self.key))]


@pytest.fixture
def gateway_with(quiet_sbc, sbcctl):
    """add(media): a gateway at GATEWAY in set 1 with that media setting, answering; removed afterwards."""
    wait_state(quiet_sbc, DEMO_GATEWAYS, active=False)
    before, peers = {row["id"] for row in gateways(sbcctl)}, []
    uri = f"sip:{GATEWAY[0]}:{GATEWAY[1]}"

    def add(media: str) -> SrtpGateway:
        done = sbcctl("gateway", "add", "--uri", uri, "--group", "1", "--media", media)
        assert done.returncode == 0, done.stderr
        peers.append(SrtpGateway(*GATEWAY).start())
        assert wait_for(lambda: dispatcher_states(quiet_sbc).get(uri, "").startswith("A"), 15), \
            dispatcher_states(quiet_sbc)
        wait_state(quiet_sbc, DEMO_GATEWAYS, active=False)  # the reload took them as up until probed
        return peers[-1]
    try:
        yield add
    finally:
        for peer in peers:
            peer.stop()
        remove_gateways_since(sbcctl, before)


def answered_call(caller: Caller, name: str) -> tuple[str, Msg]:
    call_id = f"{name}-{time.monotonic_ns()}@{CARRIER[0]}"
    caller.send(caller.invite(call_id).render(), caller.sbc)
    assert wait_until(lambda: caller.pump(keep_dialogs=True) or call_id in caller.dialogs, 5), caller.codes
    answer = next(m for m in map(parse, caller.received) if m is not None and m.status == 200
                  and m.header("call-id") == call_id)
    return call_id, answer


def hang_up(caller: Caller) -> None:
    """BYE for every call the caller has up (also after a failed assertion: no call left to the next test)."""
    for dialog in caller.dialogs.values():
        caller.send(dialog.request("BYE", caller.ip, caller.port).render(), caller.sbc)
    caller.dialogs.clear()
    time.sleep(0.3)


def test_a_gateway_set_to_srtp_gets_sdes_and_media_flows_both_ways(gateway_with):
    gateway = gateway_with("srtp")
    caller = Caller(CARRIER, ("127.0.1.1", 5060), VAPI_DID, [])
    carrier_media = gateway_media = None
    try:
        _, answer = answered_call(caller, "srtp-in")
        offer = gateway.offers[-1].body
        # The gateway leg: RTP/SAVP with rtpengine's keys; the carrier leg: RTP/AVP, no key.
        assert "RTP/SAVP" in offer.split("m=audio", 1)[1].splitlines()[0], offer
        assert {suite for _, suite, _ in crypto_lines(offer)} == {SUITE, SUITE.replace("80", "32")}, offer
        assert "a=fingerprint" not in offer, offer
        assert " RTP/AVP " in answer.body and "a=crypto" not in answer.body, answer.body
        carrier_media = RtpPeer(CARRIER[0], 40000, rtcp=False).start(media_address(answer.body), SECONDS)
        gateway_media = RtpPeer(GATEWAY[0], gateway.media_port, rtcp=False,
                                srtp=Srtp(gateway.key, gateway.theirs)).start(media_address(offer), SECONDS)
        carrier_media.wait()
        gateway_media.wait()
    finally:
        hang_up(caller)
        caller.close()
    heard_by_gateway, heard_by_carrier = gateway_media.heard.received, carrier_media.heard.received
    print(f"\ncarrier sent {carrier_media.sent} RTP, the gateway decrypted {heard_by_gateway} "
          f"({gateway_media.undecryptable} failed); the gateway sent {gateway_media.sent} SRTP, "
          f"the carrier heard {heard_by_carrier} in clear")
    assert gateway_media.undecryptable == 0
    assert heard_by_gateway >= 0.9 * carrier_media.sent
    assert heard_by_carrier >= 0.9 * gateway_media.sent


def test_a_gateway_set_to_dtls_is_offered_dtls_srtp(gateway_with):
    gateway = gateway_with("dtls")
    caller = Caller(CARRIER, ("127.0.1.1", 5060), VAPI_DID, [])
    try:
        call_id = f"dtls-{time.monotonic_ns()}@{CARRIER[0]}"
        caller.send(caller.invite(call_id).render(), caller.sbc)
        assert wait_until(lambda: caller.pump() or gateway.offers, 5)
        assert wait_until(lambda: caller.pump() or caller.codes, 10)  # the gateway's 488 (the suite has no DTLS)
    finally:
        caller.close()
    offer = gateway.offers[-1].body
    print(f"\noffer to a dtls gateway:\n{offer}")
    assert "UDP/TLS/RTP/SAVP" in offer.split("m=audio", 1)[1].splitlines()[0], offer
    assert "a=fingerprint:" in offer and "a=setup:" in offer and "a=crypto" not in offer, offer


def test_a_gateway_calling_in_with_srtp_reaches_the_carrier_in_rtp_and_hears_it_back(quiet_sbc, work):
    carrier = start_peers(work, quiet_sbc, ["127.0.4.1"])["127.0.4.1"]  # echoes the RTP it receives
    gateway = Caller((OUTBOUND_CALLER, 5090), ("127.0.2.1", 5060), "+12125550100", [])
    key, media = new_key(), None
    try:
        call_id = f"srtp-out-{time.monotonic_ns()}@127.0.3.62"
        invite = gateway.invite(call_id)
        invite.body = savp_sdp(gateway.ip, 40400, 1, key)
        gateway.send(invite.render(), gateway.sbc)
        assert wait_until(lambda: gateway.pump(keep_dialogs=True) or call_id in gateway.dialogs, 5), gateway.codes
        answer = next(m for m in map(parse, gateway.received) if m is not None and m.status == 200)
        usable = [c for c in crypto_lines(answer.body) if c[1] == SUITE]
        assert " RTP/SAVP " in answer.body and usable, answer.body
        media = RtpPeer(gateway.ip, 40400, rtcp=False, srtp=Srtp(key, usable[0][2]))
        media.start(media_address(answer.body), SECONDS).wait()
    finally:
        hang_up(gateway)
        gateway.close()
        carrier.stop()
    to_carrier = carrier.received("INVITE")[0].text
    print(f"\nthe gateway sent {media.sent} SRTP, heard back {media.heard.received} decrypted "
          f"({media.undecryptable} failed)")
    assert " RTP/AVP " in to_carrier and "a=crypto" not in to_carrier, to_carrier
    assert media.undecryptable == 0 and media.heard.received >= 0.8 * media.sent
