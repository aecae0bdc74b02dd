"""AI gateway -> SBC public socket -> carrier on the private side."""

import re

from .conftest import db
from .harness import run_uac, send_request, start_peers

PUBLIC_SIDE = re.compile(r"127\.0\.(2|3)\.\d+")  # the SBC's public socket and the gateways


def test_call_from_a_gateway_reaches_the_carrier_with_only_private_addresses(quiet_sbc, work):
    carrier = start_peers(work, quiet_sbc, ["127.0.4.1"])["127.0.4.1"]
    try:
        gw = run_uac(work, "gateway", "127.0.2.1:5060", "+12125550100", "127.0.3.1", duration_ms=1000)
        assert gw.wait(30) == 0, gw.log()
    finally:
        carrier.stop()
    invites = carrier.received("INVITE")
    assert len(invites) == 1
    assert invites[0].request_uri == "sip:+12125550100@127.0.4.1:5060"
    received = carrier.received()
    assert [m.method for m in received] == ["INVITE", "ACK", "BYE"]
    for msg in received:
        for name in ("Via", "Contact", "Record-Route", "From", "To", "Route"):
            for value in msg.headers(name):
                assert not PUBLIC_SIDE.search(value), f"{msg.method} {name}: {value} leaks the public side"
        for line in msg.body.splitlines():
            if line.startswith(("c=", "o=")):
                assert "127.0.1.1" in line and not PUBLIC_SIDE.search(line), line


def test_national_number_from_a_gateway_is_sent_to_the_carrier_as_e164(quiet_sbc, work):
    carrier = start_peers(work, quiet_sbc, ["127.0.4.1"])["127.0.4.1"]
    try:
        gw = run_uac(work, "gateway", "127.0.2.1:5060", "2125550100", "127.0.3.2")
        assert gw.wait(30) == 0, gw.log()
    finally:
        carrier.stop()
    assert [i.request_uri for i in carrier.received("INVITE")] == ["sip:+12125550100@127.0.4.1:5060"]


def test_a_gateway_known_only_as_a_dispatcher_member_without_transport_places_calls(quiet_sbc, work, sbcctl):
    """Found as an operator: with no ACL row, a gateway `sip:127.0.3.1:5060` (no ;transport=) was refused as
    a stranger (0/5 calls): dispatcher matched its UDP source against the member's unset protocol."""
    carrier = start_peers(work, quiet_sbc, ["127.0.4.1"])["127.0.4.1"]
    db(quiet_sbc, "UPDATE address SET grp=9 WHERE id=2")  # the demo's 127.0.3.0/24 gateway row, parked
    try:
        assert sbcctl("reload").returncode == 0
        assert send_request("127.0.3.77", ("127.0.2.1", 5060), ruser="+12125550100", timeout=1.5) is None
        gw = run_uac(work, "member", "127.0.2.1:5060", "+12125550100", "127.0.3.1", calls=5, rate=10,
                     duration_ms=100)
        assert gw.wait(30) == 0, gw.log()
    finally:
        db(quiet_sbc, "UPDATE address SET grp=2 WHERE id=2")
        sbcctl("reload")
        carrier.stop()
    assert len(carrier.received("INVITE")) == 5
