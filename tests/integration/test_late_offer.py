"""A late offer (RFC 3261 13.2.1: an INVITE without SDP, the offer in the 2xx, the answer in the ACK), as
carriers with delayed offer send it: the call reaches the gateway, rtpengine anchors the media from the
gateway's offer, each side's SDP names only the SBC, and audio crosses both ways (decoded). The gateway's
re-INVITE without SDP in the call is a late offer too: the carrier's SDP offered to it, its ACK's answered."""

from __future__ import annotations

import time

from testkit.harness import wait_state
from testkit.rtp import RtpPeer, media_address
from testkit.sipua import AnsweringPeer, Caller, Dialog, Msg, parse, sdp, uri_of, wait_until
from tests.integration.baresip import tone_share
from tests.integration.inbound_call import CARRIER, GATEWAY, SBC_PRIVATE, VOXKET_DID
from tests.integration.test_live_call import lines_naming
from tests.integration.test_topology_leaks import PRIVATE_SIDE, PUBLIC_SIDE

SBC_PUBLIC = ("127.0.2.1", 5060)
CARRIER_HZ, GATEWAY_HZ = 440, 1000
SECONDS = 1.5


def without_sdp(msg: Msg) -> Msg:
    msg.headers = [h for h in msg.headers if h[0].lower() not in ("content-type", "c")]
    msg.body = ""
    return msg


def received(endpoint, call_id: str, wanted) -> list[Msg]:
    return [m for m in map(parse, endpoint.received)
            if m is not None and m.header("call-id") == call_id and wanted(m)]


def arrived(caller: Caller, call_id: str, wanted) -> list[Msg]:
    """As received, once the caller's socket is read (no thread of its own reads it)."""
    caller.drain()
    return received(caller, call_id, wanted)


def talk(carrier_to: tuple[str, int], gateway_to: tuple[str, int]) -> dict[str, float]:
    """Each end sends its tone; the share of what each decoded that is the other's tone."""
    carrier = RtpPeer(CARRIER[0], 40000, rtcp=False, tone_hz=CARRIER_HZ).start(carrier_to, SECONDS)
    gateway = RtpPeer(GATEWAY[0], 40000, rtcp=False, tone_hz=GATEWAY_HZ).start(gateway_to, SECONDS)
    carrier.wait()
    gateway.wait()
    return {"carrier": tone_share(carrier.audio, GATEWAY_HZ), "gateway": tone_share(gateway.audio, CARRIER_HZ)}


def test_a_carriers_late_offer_is_answered_by_the_gateway_through_rtpengine(quiet_sbc):
    gateway = AnsweringPeer(*GATEWAY, lambda invite: 200).start()
    caller = Caller(CARRIER, SBC_PRIVATE, VOXKET_DID, [])
    dialog = None
    try:
        wait_state(quiet_sbc, [GATEWAY[0]], active=True, timeout=20)
        invite = without_sdp(caller.invite(f"late-{time.monotonic_ns()}@{CARRIER[0]}"))
        call_id = invite.header("call-id")
        caller.send(invite.render(), SBC_PRIVATE)
        assert wait_until(lambda: arrived(caller, call_id, lambda m: m.is_reply and m.status >= 200), 5), (
            caller.received)
        (ok,) = received(caller, call_id, lambda m: m.is_reply and m.status >= 200)
        assert ok.status == 200, ok.start
        (gw_invite,) = gateway.invites.values()
        assert "m=audio" not in gw_invite.body  # the gateway was sent no offer of ours

        # The gateway's offer, rewritten by rtpengine: the SBC's private address for the carrier.
        assert media_address(ok.body)[0] == SBC_PRIVATE[0] and lines_naming(ok, PUBLIC_SIDE) == []
        dialog = Dialog(call_id, invite.header("from"), ok.header("to"), uri_of(ok.header("contact")),
                        list(reversed(ok.all("record-route"))), cseq=1)
        ack = dialog.request("ACK", *CARRIER, sdp(CARRIER[0], 40000))
        ack.set("CSeq", "1 ACK")
        caller.send(ack.render(), SBC_PRIVATE)
        gw_call_id = gw_invite.header("call-id")
        assert wait_until(lambda: [m for m in gateway.requests if m.method == "ACK"], 5)
        (gw_ack,) = [m for m in gateway.requests if m.method == "ACK"]
        # The carrier's answer, rewritten: the SBC's public address for the gateway.
        assert media_address(gw_ack.body)[0] == SBC_PUBLIC[0] and lines_naming(gw_ack, PRIVATE_SIDE) == []
        first = talk(media_address(ok.body), media_address(gw_ack.body))

        # The gateway's re-INVITE without SDP: the carrier offers (the suite's caller answers any INVITE
        # with its SDP), the gateway answers in its ACK.
        gw_dialog = gateway.dialogs[gw_call_id]
        reinvite = gw_dialog.request("INVITE", *GATEWAY)
        gateway.send(reinvite.render(), SBC_PUBLIC)
        assert wait_until(lambda: caller.pump(keep_dialogs=True) or received(
            gateway, gw_call_id, lambda m: m.is_reply and m.status >= 200), 5), "no answer to the re-INVITE"
        (re_ok,) = received(gateway, gw_call_id, lambda m: m.is_reply and m.status >= 200)
        assert re_ok.status == 200 and media_address(re_ok.body)[0] == SBC_PUBLIC[0]
        assert lines_naming(re_ok, PRIVATE_SIDE) == []
        re_ack = gw_dialog.request("ACK", *GATEWAY, sdp(GATEWAY[0], 40000))
        re_ack.set("CSeq", f"{gw_dialog.cseq} ACK")
        gateway.send(re_ack.render(), SBC_PUBLIC)
        assert wait_until(lambda: arrived(
            caller, call_id, lambda m: not m.is_reply and m.method == "ACK" and "m=audio" in m.body), 5), (
            "the gateway's answer did not arrive")
        (carrier_ack,) = received(caller, call_id, lambda m: not m.is_reply and m.method == "ACK")
        assert media_address(carrier_ack.body)[0] == SBC_PRIVATE[0] and lines_naming(carrier_ack, PUBLIC_SIDE) == []
        second = talk(media_address(ok.body), media_address(re_ok.body))
    finally:
        if dialog is not None:
            caller.send(dialog.request("BYE", *CARRIER).render(), SBC_PRIVATE)
            wait_until(lambda: [m for m in gateway.requests if m.method == "BYE"], 5)
        gateway.stop()
        caller.close()
    print(f"\nlate offer: the carrier heard {first['carrier']:.0%} of its audio as the gateway's tone, the gateway "
          f"{first['gateway']:.0%} as the carrier's; after the gateway's re-INVITE without SDP "
          f"{second['carrier']:.0%} and {second['gateway']:.0%}")
    for heard in (first, second):
        assert heard["carrier"] > 0.8 and heard["gateway"] > 0.8, heard
