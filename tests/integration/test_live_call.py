"""On an established call (tenant voxket: DID +14155550401, gateway 127.0.3.24): a gateway's transfer
(REFER) refused with 403 or relayed to the carrier per the tenant's setting; SIP INFO relayed both ways;
RFC 4733 telephone-events both ways through rtpengine. Each side receives nothing of the other's."""

from __future__ import annotations

import time

import pytest

from testkit.harness import delta, scrape
from testkit.sipua import Endpoint, Msg, parse, sdp, wait_until
from tests.integration.conftest import db, new_routing_generation
from tests.integration.inbound_call import CARRIER, GATEWAY
from tests.integration.inbound_call import InboundCall as Call
from tests.integration.outbound_call import OutboundCall
from tests.integration.test_topology_leaks import PRIVATE_SIDE, PUBLIC_SIDE

SBC_PUBLIC, SBC_PRIVATE = ("127.0.2.1", 5060), ("127.0.1.1", 5060)
TARGET = "+14155550199"  # the human the AI hands the caller to
DTMF = "Signal=5\r\nDuration=160\r\n"


@pytest.fixture
def relaying(quiet_sbc):
    db(quiet_sbc, "UPDATE tenant SET transfer = 'relay' WHERE name = 'voxket'")
    new_routing_generation(quiet_sbc)
    yield
    db(quiet_sbc, "UPDATE tenant SET transfer = 'refuse' WHERE name = 'voxket'")
    new_routing_generation(quiet_sbc)


def established(name: str, **media) -> Call:
    """An answered call whose ACK has reached the gateway (before it, requests in the call get 491)."""
    call = Call(name, **media)
    assert wait_until(lambda: [m for m in call.gateway.requests if m.method == "ACK"], 5)
    return call


def end(call: Call) -> None:
    """The carrier hangs up (whatever the test found), then the endpoints close."""
    try:
        call.hang_up()
    finally:
        call.close()


def from_gateway(call: Call, method: str, headers: dict[str, str], body: str = "") -> Msg:
    """An in-dialog request the gateway sends (its dialog is keyed by the Call-ID it was given)."""
    msg = call.gateway.dialogs[call.invite.header("call-id")].request(method, *GATEWAY, body)
    for name, value in headers.items():
        msg.set(name, value)
    call.gateway.send(msg.render(), SBC_PUBLIC)
    return msg


def from_carrier(call: Call, method: str, headers: dict[str, str], body: str = "") -> Msg:
    msg = call.caller.dialogs[call.call_id].request(method, *CARRIER, body)
    for name, value in headers.items():
        msg.set(name, value)
    call.caller.send(msg.render(), SBC_PRIVATE)
    return msg


def final_replies(endpoint, sent: Msg) -> list[Msg]:
    """Final answers `endpoint` received to the request `sent` (by Call-ID and CSeq: calls up at once may
    use the same CSeq numbers)."""
    if hasattr(endpoint, "pump"):  # the carrier's UA reads its socket only when asked
        endpoint.pump(keep_dialogs=True)
    return [m for m in map(parse, list(endpoint.received))
            if m is not None and m.is_reply and m.status >= 200 and m.header("cseq") == sent.header("cseq")
            and m.header("call-id") == sent.header("call-id")]


def answers(endpoint, sent: Msg) -> list[int]:
    return [m.status for m in final_replies(endpoint, sent)]


def refused(call: Call, sent: Msg) -> None:
    """403 at the gateway, naming the call as the gateway knows it (its masked Call-ID on Kamailio 6.0,
    where sl and tm would have put the decoded one in a reply: built by Guard.reply_masked)."""
    assert wait_until(lambda: answers(call.gateway, sent), 5)
    assert answers(call.gateway, sent) == [403]
    [reply] = final_replies(call.gateway, sent)
    assert reply.header("call-id") == call.invite.header("call-id")  # on 5.6 the carrier's: the known gap
    assert lines_naming(reply, PRIVATE_SIDE) == []


def carrier_got(call: Call, method: str) -> list[Msg]:
    call.caller.pump(keep_dialogs=True)
    return [m for m in map(parse, call.caller.received) if m is not None and not m.is_reply and m.method == method]


def lines_naming(msg: Msg, side) -> list[str]:
    return [line for line in msg.render().decode().splitlines()
            if side.search(line) and not line.lower().startswith("call-id:")]


def test_a_gateways_transfer_is_refused_with_403_by_default(quiet_sbc):
    before = scrape(quiet_sbc)
    call = established("refer-refused")
    try:
        refer = from_gateway(call, "REFER", {"Refer-To": f"<sip:{TARGET}@gw.example.test>",
                                             "Referred-By": "<sip:agent@gw.example.test>"})
        refused(call, refer)
        time.sleep(0.3)
        assert carrier_got(call, "REFER") == []
    finally:
        end(call)
    assert delta(scrape(quiet_sbc), before, "kamailio_sbc_transfers_total", tenant="voxket", result="not allowed") == 1


def test_a_relayed_transfer_reaches_the_carrier_as_the_number_at_the_carrier(quiet_sbc, relaying):
    before = scrape(quiet_sbc)
    call = established("refer-relayed")
    try:
        refer = from_gateway(call, "REFER", {"Refer-To": f"<sip:{TARGET}@gw.example.test;user=phone>",
                                             "Referred-By": "<sip:agent@gw.example.test>"})
        assert wait_until(lambda: carrier_got(call, "REFER"), 5)
        [relayed] = carrier_got(call, "REFER")
        assert wait_until(lambda: answers(call.gateway, refer), 5)
        assert answers(call.gateway, refer) == [200]  # the carrier's answer, back to the gateway
        # An attended transfer names a dialog the carrier never saw: refused.
        attended = from_gateway(call, "REFER", {"Refer-To": f"<sip:{TARGET}@gw?Replaces=x%3Bto-tag%3Dy>"})
        refused(call, attended)
        assert len(carrier_got(call, "REFER")) == 1
    finally:
        end(call)
    print(f"\ncarrier received: Refer-To: {relayed.header('refer-to')}")
    assert relayed.header("refer-to") == f"<sip:{TARGET}@{CARRIER[0]}>"
    assert relayed.header("referred-by") is None
    assert lines_naming(relayed, PUBLIC_SIDE) == [] and "gw.example.test" not in relayed.render().decode()
    after = scrape(quiet_sbc)
    assert delta(after, before, "kamailio_sbc_transfers_total", tenant="voxket", result="relayed") == 1
    assert delta(after, before, "kamailio_sbc_transfers_total", tenant="voxket", result="attended") == 1


def test_info_crosses_both_ways_with_its_body_and_nothing_of_the_other_side(quiet_sbc):
    call = established("info")
    try:
        to_carrier = from_gateway(call, "INFO", {"Content-Type": "application/dtmf-relay"}, DTMF)
        assert wait_until(lambda: carrier_got(call, "INFO"), 5)
        to_gateway = from_carrier(call, "INFO", {"Content-Type": "application/dtmf-relay"}, DTMF)
        assert wait_until(lambda: [m for m in call.gateway.requests if m.method == "INFO"], 5)
        assert wait_until(lambda: answers(call.gateway, to_carrier) and answers(call.caller, to_gateway), 5)
        assert answers(call.gateway, to_carrier) == [200] and answers(call.caller, to_gateway) == [200]
        [at_carrier] = carrier_got(call, "INFO")
        [at_gateway] = [m for m in call.gateway.requests if m.method == "INFO"]
    finally:
        end(call)
    for msg, other_side in ((at_carrier, PUBLIC_SIDE), (at_gateway, PRIVATE_SIDE)):
        assert (msg.body, msg.header("content-type")) == (DTMF, "application/dtmf-relay")
        assert lines_naming(msg, other_side) == []


def test_rfc4733_key_presses_cross_both_ways_through_rtpengine(quiet_sbc):
    # The carrier's caller presses 5 one second in; the agent sends # (event 11) 1.5 s in.
    call = established("dtmf", carrier_rtp={"digits": {50: 5}}, gateway_rtp={"digits": {75: 11}})
    try:
        call.start_media(carrier_seconds=3, gateway_seconds=3)
        call.carrier_media.wait()
        call.gateway_media.wait()
    finally:
        end(call)
    print(f"\nevents: gateway heard {call.gateway_media.events}, carrier heard {call.carrier_media.events}")
    assert call.gateway_media.events == [5] * 5 and call.carrier_media.events == [11] * 5


def test_a_relayed_transfer_to_a_number_the_tenant_may_not_call_is_refused(quiet_sbc, relaying):
    """A prompt-injected agent ("transfer me to +1 900 ...") places a call its tenant pays for: same policy."""
    before = scrape(quiet_sbc)
    call = established("refer-premium")
    try:
        for target in ("+19005550100", "+881612345678", "+447011111111"):
            refused(call, from_gateway(call, "REFER", {"Refer-To": f"<sip:{target}@gw.example.test>"}))
        time.sleep(0.3)
        assert carrier_got(call, "REFER") == []
    finally:
        end(call)
    after = scrape(quiet_sbc)
    assert {r: delta(after, before, "kamailio_sbc_transfers_total", tenant="voxket", result=r)
            for r in ("premium_rate", "international_network", "country")} == {
        "premium_rate": 1, "international_network": 1, "country": 1}


FORGERS = {"stranger": "127.0.9.66", "another tenant's gateway": "127.0.3.23"}  # digipanda's dedicated address


def forged_from_the_public_side(dialog, ip: str, carrier_rtp, gateway_rtp) -> tuple[list, tuple[int, int]]:
    """A re-INVITE (its SDP pointing the media at the forger), a REFER and a BYE, each built exactly as the
    gateway's side of `dialog` would send it (Call-ID, tags, Route), from `ip`: what the forger was answered,
    and the RTP packets each end heard in the second after."""
    forging = Endpoint(ip, 5077)
    try:
        time.sleep(0.5)
        for method, body in (("INVITE", sdp(ip, 40300)), ("REFER", ""), ("BYE", "")):
            msg = dialog.request(method, ip, 5077, body)
            if method == "REFER":
                msg.set("Refer-To", "<sip:+19005550100@gw.example.test>")
            forging.send(msg.render(), SBC_PUBLIC)
        time.sleep(1.0)
        heard = (carrier_rtp.heard.received, gateway_rtp.heard.received)
        time.sleep(1.0)
        return forging.drain(), (carrier_rtp.heard.received - heard[0], gateway_rtp.heard.received - heard[1])
    finally:
        forging.close()


@pytest.mark.parametrize("forger", FORGERS)
def test_forged_requests_in_a_live_call_reach_nobody_and_the_call_goes_on(quiet_sbc, forger):
    """BYE, re-INVITE (its SDP pointing the media at the forger) and REFER, each built exactly as the gateway
    would send it (Call-ID, tags, Route) but from another address: the carrier receives none of them, the
    forger hears nothing (public side), and RTP keeps flowing both ways."""
    before, ip = scrape(quiet_sbc), FORGERS[forger]
    call = established(f"forged-{forger.split()[0]}")
    try:
        call.start_media(carrier_seconds=4, gateway_seconds=4)
        answered_forger, flowing = forged_from_the_public_side(
            call.gateway.dialogs[call.invite.header("call-id")], ip, call.carrier_media, call.gateway_media)
        call.caller.pump(keep_dialogs=True)
        to_carrier = [m for m in map(parse, call.caller.received) if m is not None and not m.is_reply]
    finally:
        end(call)
    print(f"\nforged by {forger}: carrier got {len(to_carrier)} requests; RTP in the next second: carrier heard "
          f"{flowing[0]}, gateway heard {flowing[1]} packets")
    assert to_carrier == [] and answered_forger == []
    assert flowing[0] >= 40 and flowing[1] >= 40  # 50 packets a second each way
    assert delta(scrape(quiet_sbc), before, "kamailio_sbc_topology_guard_total", stage="in-dialog", side="public",
                 reason="not the dialog's peer") == 3


def forged_from_the_private_side(dialog) -> list[int]:
    """A BYE and a re-INVITE built exactly as the carrier's side of `dialog` would send them, from an address
    outside the carrier ACL: the statuses answered to them, sorted."""
    forging = Endpoint("127.0.9.67", 5077)
    try:
        for method in ("BYE", "INVITE"):
            forging.send(dialog.request(method, "127.0.9.67", 5077,
                                        sdp("127.0.9.67", 40300) if method == "INVITE" else "").render(),
                         SBC_PRIVATE)
        assert wait_until(lambda: len(forging.drain()) or len(forging.received) >= 2, 3)
        time.sleep(0.5)
        forging.drain()
        return sorted(m.status for m in map(parse, forging.received) if m is not None and m.is_reply)
    finally:
        forging.close()


def test_forged_requests_from_the_private_side_get_403_and_reach_nobody(quiet_sbc):
    call = established("forged-private")
    earlier = len(call.gateway.requests)  # the call's own INVITE and ACK
    try:
        statuses = forged_from_the_private_side(call.caller.dialogs[call.call_id])
        at_gateway = [m.method for m in call.gateway.requests[earlier:] if m.method != "OPTIONS"]  # not probes
    finally:
        end(call)
    assert statuses == [403, 403] and at_gateway == []


@pytest.mark.parametrize("forger", FORGERS)
def test_forged_requests_in_a_live_outbound_call_reach_nobody_and_the_call_goes_on(quiet_sbc, forger):
    """The other direction: a call voxket's gateway placed to the carrier. BYE, re-INVITE and REFER built as
    the gateway would send them, from another address on the public side: the carrier receives none, the
    forger hears nothing, RTP keeps flowing both ways."""
    before, ip = scrape(quiet_sbc), FORGERS[forger]
    call = OutboundCall(quiet_sbc, f"forged-out-{forger.split()[0]}")
    try:
        gateway_rtp, carrier_rtp = call.start_media(4)
        answered_forger, flowing = forged_from_the_public_side(call.caller.dialogs[call.call_id], ip, carrier_rtp,
                                                               gateway_rtp)
        at_carrier = [m.method for m in call.carrier.requests if m.method not in ("INVITE", "ACK", "OPTIONS")]
        reinvites = [m for m in call.carrier.requests if m.method == "INVITE"][1:]
    finally:
        call.close()
    print(f"\nforged by {forger} in an outbound call: carrier got {at_carrier + [m.method for m in reinvites]}; "
          f"RTP in the next second: carrier heard {flowing[0]}, gateway heard {flowing[1]} packets")
    assert at_carrier == [] and reinvites == [] and answered_forger == []
    assert flowing[0] >= 40 and flowing[1] >= 40
    assert delta(scrape(quiet_sbc), before, "kamailio_sbc_topology_guard_total", stage="in-dialog", side="public",
                 reason="not the dialog's peer") == 3


def test_forged_carrier_requests_in_a_live_outbound_call_get_403_and_reach_nobody(quiet_sbc):
    call = OutboundCall(quiet_sbc, "forged-out-private")
    try:
        statuses = forged_from_the_private_side(call.carrier.dialogs[call.carrier_call_id])
        call.caller.pump(keep_dialogs=True)
        at_gateway = [m.method for m in map(parse, call.caller.received) if m is not None and not m.is_reply]
    finally:
        call.close()
    assert statuses == [403, 403] and at_gateway == []
