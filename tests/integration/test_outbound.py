"""AI gateway -> SBC public socket -> carrier on the private side."""

import json
import re

from testkit.harness import OUTBOUND_CALLER, run_uac, send_request, start_peers
from tests.integration.conftest import db

PUBLIC_SIDE = re.compile(r"127\.0\.(2|3)\.\d+")  # the SBC's public socket and the gateways


def test_call_from_a_gateway_reaches_the_carrier_with_only_private_addresses(quiet_sbc, work):
    carrier = start_peers(work, quiet_sbc, ["127.0.4.1"])["127.0.4.1"]
    try:
        gw = run_uac(work, "gateway", "127.0.2.1:5060", "+12125550100", OUTBOUND_CALLER, duration_ms=1000)
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
        gw = run_uac(work, "gateway", "127.0.2.1:5060", "2125550100", OUTBOUND_CALLER)
        assert gw.wait(30) == 0, gw.log()
    finally:
        carrier.stop()
    assert [i.request_uri for i in carrier.received("INVITE")] == ["sip:+12125550100@127.0.4.1:5060"]


def test_a_gateway_known_only_as_a_dispatcher_member_is_challenged_never_called_out(quiet_sbc, work, sbcctl):
    """A dispatcher member `sip:127.0.3.1:5060` (no ;transport=) with no ACL row is recognised as a gateway
    (dispatcher matched its UDP source against the member's unset protocol once: stop 19), so it hears a 407,
    where a stranger hears nothing; but membership says which platform, never which customer: no call."""
    carrier = start_peers(work, quiet_sbc, ["127.0.4.1"])["127.0.4.1"]
    db(quiet_sbc, "UPDATE address SET grp=9 WHERE id=2")  # the demo's 127.0.3.0/24 gateway row, parked
    try:
        assert sbcctl("reload").returncode == 0
        assert send_request("127.0.3.77", ("127.0.2.1", 5060), ruser="+12125550100", timeout=1.5) is None
        member = [send_request("127.0.3.1", ("127.0.2.1", 5060), ruser="+12125550100") for _ in range(5)]
    finally:
        db(quiet_sbc, "UPDATE address SET grp=2 WHERE id=2")
        sbcctl("reload")
        carrier.stop()
    assert member == [407] * 5
    assert carrier.received("INVITE") == []


def test_a_shared_platform_address_is_challenged_and_its_tag_alone_names_no_tenant(quiet_sbc, work, sbcctl):
    """A gateway ACL row tagged with a tenant but not declared dedicated (rows from before dedication existed,
    or a platform's shared address): 407, nothing at the carrier; `sbcctl acl dedicate` makes it the tenant's."""
    carrier = start_peers(work, quiet_sbc, ["127.0.4.1"])["127.0.4.1"]
    added = sbcctl("acl", "add", "127.0.3.31", "--group", "2", "--tag", "acme")
    try:
        assert added.returncode == 0, added.stderr
        row = re.search(r"ACL entry (\d+)", added.stdout).group(1)
        listed = {str(r["id"]): r for r in json.loads(sbcctl("--json", "acl", "list").stdout)}[row]
        assert send_request("127.0.3.31", ("127.0.2.1", 5060), ruser="+12125550100", caller="+12125550199") == 407
        assert sbcctl("acl", "dedicate", row).returncode == 0
        gw = run_uac(work, "dedicated", "127.0.2.1:5060", "+12125550100", "127.0.3.31", duration_ms=200)
        assert gw.wait(30) == 0, gw.log()
    finally:
        sbcctl("acl", "remove", row)
        carrier.stop()
    assert len(carrier.received("INVITE")) == 1
    assert (listed["ip_addr"], listed["tag"], listed["dedicated"], listed["outbound"]) == (
        "127.0.3.31", "acme", 0, "digest (407)"), listed
