"""Carrier -> SBC private socket -> AI gateway on the public side, on the real stack."""

import re

import pytest

from testkit.harness import Sipp, rtpengine_calls, run_uac, send_request, start_peers, stop_peers, wait_for
from testkit.rtp import media_address
from tests.integration.conftest import active_dialogs, db
from tests.integration.inbound_call import InboundCall, assert_heard, talk_both_ways

SBC_PRIVATE = "127.0.1.1:5060"
SBC_PRIVATE_ADDR = ("127.0.1.1", 5060)
GATEWAY_1 = ("127.0.3.1", 5060)  # DID +14155550101's group 1 (demo data)
MEDIA_SECONDS = 3
PRIVATE_SIDE = re.compile(r"127\.0\.(1|4)\.\d+")  # the SBC's private socket and the carriers




def assert_only_public_addresses(msg):
    for name in ("Via", "Contact", "Record-Route", "From", "To", "Route"):
        for value in msg.headers(name):
            assert not PRIVATE_SIDE.search(value), f"{name}: {value} leaks the private side"
    for line in msg.body.splitlines():
        if line.startswith(("c=", "o=")):
            assert not PRIVATE_SIDE.search(line), f"SDP {line} leaks the private side"
            assert "127.0.2.1" in line, f"SDP {line} is not anchored on the public interface"


def test_did_of_group_1_reaches_the_group_1_gateway_with_e164_and_public_addresses(quiet_sbc, work):
    gws = start_peers(work, quiet_sbc, ["127.0.3.1", "127.0.3.2", "127.0.3.3", "127.0.3.9"])
    try:
        uac = run_uac(work, "carrier", SBC_PRIVATE, "4155550101", "127.0.4.2")
        assert uac.wait(30) == 0, uac.log()
    finally:
        stop_peers(gws)
    invites = gws["127.0.3.1"].received("INVITE")
    assert len(invites) == 1
    assert sum(len(g.received("INVITE")) for g in gws.values()) == 1
    invite = invites[0]
    assert invite.request_uri == "sip:+14155550101@127.0.3.1:5060"
    assert invite.headers("To")[0].startswith("<sip:+14155550101@")
    for msg in gws["127.0.3.1"].received():
        assert_only_public_addresses(msg)


def test_did_of_group_2_spreads_by_weight(quiet_sbc, work):
    db(quiet_sbc, "UPDATE dispatcher SET attrs='weight=75' WHERE destination='sip:127.0.3.2:5060';"
                  "UPDATE dispatcher SET attrs='weight=25' WHERE destination='sip:127.0.3.3:5060';")
    quiet_sbc.kamailio.rpc("dispatcher.reload")
    gws = start_peers(work, quiet_sbc, ["127.0.3.2", "127.0.3.3"])
    try:
        uac = run_uac(work, "carrier", SBC_PRIVATE, "+14155550102", "127.0.4.2", calls=40, rate=20,
                      limit=20, duration_ms=100)
        assert uac.wait(60) == 0, uac.log()
    finally:
        stop_peers(gws)
        db(quiet_sbc, "UPDATE dispatcher SET attrs='weight=50' WHERE setid=2;")
        quiet_sbc.kamailio.rpc("dispatcher.reload")
    counts = {ip: len(g.received("INVITE")) for ip, g in gws.items()}
    assert sum(counts.values()) == 40
    # 40 draws from dispatcher's shuffled 100-slot weight table: mean 30/10, sd about 2.1.
    assert 24 <= counts["127.0.3.2"] <= 36, counts


def test_did_with_a_direct_uri_reaches_that_uri(quiet_sbc, work):
    gws = start_peers(work, quiet_sbc, ["127.0.3.5", "127.0.3.1"])
    try:
        uac = run_uac(work, "carrier", SBC_PRIVATE, "4155550103", "127.0.4.2")
        assert uac.wait(30) == 0, uac.log()
    finally:
        stop_peers(gws)
    invites = gws["127.0.3.5"].received("INVITE")
    assert [i.request_uri for i in invites] == ["sip:+14155550103@127.0.3.5:5060"]
    assert gws["127.0.3.1"].received("INVITE") == []


def test_media_flows_both_ways_and_caller_bye_ends_dialog_and_media(quiet_sbc):
    """The far ends are the witnesses: each decodes the other's tone from packets carrying the other's
    SSRC, having been told only the SBC's anchored addresses."""
    call = InboundCall("media", number="4155550101", gateway=GATEWAY_1, sbc=quiet_sbc)
    try:
        assert media_address(call.answer.body)[0] == "127.0.1.1", call.answer.body  # the carrier's view
        assert media_address(call.invite.body)[0] == "127.0.2.1", call.invite.body  # the gateway's
        assert len(rtpengine_calls(quiet_sbc.settings)) == 1
        heard = talk_both_ways(call, MEDIA_SECONDS)
        call.hang_up()
    finally:
        call.close()
    print(f"\n{MEDIA_SECONDS} s each way ({MEDIA_SECONDS * 50} packets): heard (packets, tone share) {heard}")
    assert_heard(heard, MEDIA_SECONDS)
    # The caller's BYE ended both the dialog and the media session.
    assert wait_for(lambda: not active_dialogs(quiet_sbc), 5)
    assert wait_for(lambda: rtpengine_calls(quiet_sbc.settings) == [], 5)


def test_gateway_bye_ends_dialog_and_media(quiet_sbc, work):
    gws = start_peers(work, quiet_sbc, ["127.0.3.1"], scenario="uas_answer_then_hang_up.xml", args=("-d", "1000"))
    try:
        uac = run_uac(work, "carrier", SBC_PRIVATE, "4155550101", "127.0.4.2",
                      scenario="uac_call_callee_hangs_up.xml")
        assert uac.wait(30) == 0, uac.log()
        assert [m.method for m in uac.received() if not m.method.startswith("SIP/")] == ["BYE"]
    finally:
        stop_peers(gws)
    assert wait_for(lambda: not active_dialogs(quiet_sbc), 5)
    assert wait_for(lambda: rtpengine_calls(quiet_sbc.settings) == [], 5)


@pytest.mark.parametrize("number,code", [("4155550999", 404), ("abc", 484), ("+", 484)])
def test_unroutable_numbers_get_a_clear_answer(quiet_sbc, work, number, code):
    gws = start_peers(work, quiet_sbc, ["127.0.3.1", "127.0.3.2", "127.0.3.3", "127.0.3.9"])
    try:
        assert send_request("127.0.4.2", ("127.0.1.1", 5060), ruser=number) == code
    finally:
        stop_peers(gws)
    assert all(g.received() == [] for g in gws.values())


def test_an_invite_too_big_for_udp_reaches_a_udp_gateway_over_tcp(quiet_sbc, work):
    """udp_mtu: an INVITE of more than 1,300 bytes toward a gateway written without ;transport= leaves by
    TCP instead of being fragmented; the call's later requests follow the gateway's TCP Contact."""
    udp = start_peers(work, quiet_sbc, ["127.0.3.1"])  # answers the probes
    tcp = Sipp(work, "gateway-tcp", "uas_answer.xml", "127.0.3.1", media_port=16500, args=("-t", "t1")).start()
    try:
        uac = run_uac(work, "many-codecs", "127.0.1.1:5060", "4155550101", "127.0.4.2",
                      scenario="uac_call_many_codecs.xml", duration_ms=200)
        assert uac.wait(30) == 0, uac.log()
    finally:
        tcp.stop()
        stop_peers(udp)
    invites = tcp.received("INVITE")
    assert len(invites) == 1 and udp["127.0.3.1"].received("INVITE") == []
    size = len(invites[0].text.encode())
    print(f"\nINVITE of {size} bytes reached the gateway over TCP")
    assert size > 1300 and invites[0].headers("Via")[0].startswith("SIP/2.0/TCP 127.0.2.1")
    assert [m.method for m in tcp.received()] == ["INVITE", "ACK", "BYE"]
