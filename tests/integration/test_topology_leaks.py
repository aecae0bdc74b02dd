"""Records everything the gateways and the carrier receive (health probes included) during inbound,
outbound, re-INVITE and BYE flows, and fails on any address or internal detail of the other side."""

import re

import pytest

from testkit.harness import OUTBOUND_CALLER, run_uac, start_peers, stop_peers
from tests.integration.conftest import kamailio_major

PRIVATE_SIDE = re.compile(r"127\.0\.(1|4)\.\d+")  # the SBC's private socket and the carriers
PUBLIC_SIDE = re.compile(r"127\.0\.(2|3)\.\d+")  # the SBC's public socket and the gateways
INTERNALS = re.compile(r"carrier-internal|gateway-internal|P-Charging-Vector", re.I)


def leaks(messages, forbidden):
    """Lines naming the other side's addresses (any message, except the Call-ID: a known gap) or its
    internals (requests; replies are checked by test_replies_carry_no_software_details_of_the_far_side)."""
    found = []
    for msg in messages:
        for line in msg.text.splitlines():
            if line.lower().startswith(("call-id:", "i:")):
                continue
            if forbidden.search(line) or (msg.status is None and INTERNALS.search(line)):
                found.append(f"{msg.first_line} | {line}")
    return found


@pytest.fixture
def flows(quiet_sbc, work):
    """An inbound call re-INVITEd by the gateway and hung up by the carrier, and an outbound call."""
    peers = start_peers(work, quiet_sbc, ["127.0.3.1", "127.0.4.1"], scenario="uas_answer_reinvite.xml",
                        args=("-d", "300"))
    try:
        inbound = run_uac(work, "inbound", "127.0.1.1:5060", "4155550101", "127.0.4.2",
                          scenario="uac_call_reinvited.xml")
        assert inbound.wait(30) == 0, inbound.log()
        outbound = run_uac(work, "outbound", "127.0.2.1:5060", "+12125550100", OUTBOUND_CALLER,
                           scenario="uac_call_reinvited.xml")
        assert outbound.wait(30) == 0, outbound.log()
    finally:
        stop_peers(peers)
    return {"gateway": peers["127.0.3.1"].received(probes=True), "carrier": peers["127.0.4.1"].received(probes=True),
            "inbound caller": inbound.received(), "outbound caller": outbound.received()}


def test_nothing_of_the_private_side_reaches_the_public_side(flows):
    gateway = flows["gateway"] + flows["outbound caller"]
    methods = [m.method for m in flows["gateway"] if m.method != "OPTIONS"]
    assert methods[:2] == ["INVITE", "ACK"] and "BYE" in methods and len(gateway) > 6
    assert leaks(gateway, PRIVATE_SIDE) == []


def test_nothing_of_the_public_side_reaches_the_carrier(flows):
    carrier = flows["carrier"] + flows["inbound caller"]
    methods = [m.method for m in flows["inbound caller"] if not m.method.startswith("SIP/")]
    assert methods == ["INVITE", "ACK"]  # the gateway's re-INVITE and its ACK arrived, hidden
    assert leaks(carrier, PUBLIC_SIDE) == []


def test_the_call_id_does_not_cross(flows, quiet_sbc):
    """Kamailio 6.0 masks it: no message the gateway receives in the inbound call (100 Trying to its
    re-INVITE included) and none the carrier receives in the outbound call names the caller's Call-ID,
    and each caller gets its own back. Kamailio 5.6 cannot: the documented gap (docs)."""
    if kamailio_major(quiet_sbc) < 6:
        pytest.xfail("known gap: Kamailio 5.6's topos cannot mask the Call-ID (docs)")
    carrier_call_id = next(m.call_id for m in flows["inbound caller"] if m.method == "INVITE")
    gateway_call_id = next(m.call_id for m in flows["outbound caller"] if m.method == "INVITE")
    at_gateway = [m for m in flows["gateway"] if m.cseq_method != "OPTIONS"]
    at_carrier = [m for m in flows["carrier"] if m.cseq_method != "OPTIONS"]
    assert at_gateway and at_carrier
    assert [m.first_line for m in at_gateway if carrier_call_id in m.text] == []
    assert [m.first_line for m in at_carrier if gateway_call_id in m.text] == []
    assert all(m.call_id.startswith("!!:") for m in at_gateway + at_carrier if m.call_id != gateway_call_id
               and m.call_id != carrier_call_id)
    assert {m.call_id for m in flows["inbound caller"]} == {carrier_call_id}


def test_replies_carry_no_software_details_of_the_far_side(flows):
    replies = [m for m in flows["inbound caller"] + flows["outbound caller"] if m.status]
    assert not any(INTERNALS.search(m.text) for m in replies)
