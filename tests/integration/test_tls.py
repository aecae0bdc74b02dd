"""TLS on the public side, with the suite's TLS gateway and caller (tlspeer.py) and its own CA (tlsca.py):
calls both ways over TLS, the SBC's listener TLS 1.2 or newer only, and a gateway refused when its
certificate comes from another CA (the handshake fails) or names another host (its messages are dropped)."""

from __future__ import annotations

import socket
import ssl

import pytest

from testkit.harness import (
    DEMO_GATEWAYS,
    OUTBOUND_CALLER,
    delta_sum,
    dispatcher_states,
    gateways,
    remove_gateways_since,
    run_uac,
    scrape,
    start_peers,
    wait_for,
    wait_state,
)
from tests.integration.conftest import kamailio_major
from tests.integration.test_hostnames import target_events
from tests.integration.tlsca import SBC_NAME, Authority
from tests.integration.tlspeer import TlsCaller, TlsGateway

NAME = "gw.tls.test"  # the gateway's host name, in the suite's DNS only
ADDRESS = "127.0.7.60"  # outside the demo ACL: only its name makes it a gateway
URI = f"sip:{NAME};transport=tls"
VAPI_DID = "4155550101"  # demo data: set 1
REFUSED = "kamailio_sbc_tls_refused_total"


@pytest.fixture
def tls_gateway(quiet_sbc, dns_zone, sbcctl):
    """gw.tls.test in set 1 (whose demo gateways nobody answers), by name over TLS; removed afterwards."""
    dns_zone.a(NAME, ADDRESS, ttl=2)
    wait_state(quiet_sbc, DEMO_GATEWAYS, active=False)
    before = {row["id"] for row in gateways(sbcctl)}
    try:
        done = sbcctl("gateway", "add", "--uri", URI, "--group", "1")
        assert done.returncode == 0, done.stderr
        wait_state(quiet_sbc, DEMO_GATEWAYS, active=False)
        # a reload takes a new row as up until probed: nobody answers there yet
        assert wait_for(lambda: state(quiet_sbc).startswith("I"), 10), dispatcher_states(quiet_sbc)
        yield quiet_sbc
    finally:
        remove_gateways_since(sbcctl, before)
        dns_zone.remove(NAME)


def gateway(work, tls_ca, stem: str, names: list[str], ca: Authority | None = None) -> TlsGateway:
    return TlsGateway(ADDRESS, (ca or tls_ca[1]).write(work, stem, names)).start()


def state(sbc) -> str:
    return dispatcher_states(sbc).get(URI, "")


def test_a_call_reaches_a_gateway_over_tls_by_its_name(tls_gateway, work, tls_ca):
    gw = gateway(work, tls_ca, "right", [NAME])
    try:
        assert wait_for(lambda: state(tls_gateway).startswith("A"), 15), dispatcher_states(tls_gateway)
        uac = run_uac(work, "carrier", "127.0.1.1:5060", VAPI_DID, "127.0.4.2", duration_ms=500)
        assert uac.wait(30) == 0, uac.log()
    finally:
        gw.stop()
    print(f"\nSNI asked: {sorted(set(gw.server_names), key=str)}; requests: {[m.method for m in gw.received()]}")
    assert [m.method for m in gw.received()] == ["INVITE", "ACK", "BYE"]
    invite = gw.received("INVITE")[0]
    assert invite.start == f"INVITE sip:+1{VAPI_DID}@{NAME};transport=tls SIP/2.0"
    assert all(NAME in (m.header("to") or "") for m in gw.received())
    assert invite.header("via").startswith("SIP/2.0/TLS 127.0.2.1:5061")
    # One connection, opened by the SBC's own probe asking for the name, reused by the call.
    assert gw.server_names == [NAME]


@pytest.mark.parametrize("why", ["another CA", "another name"])
def test_a_gateway_whose_certificate_does_not_vouch_for_its_name_gets_no_call(tls_gateway, work, tls_ca, why):
    before = scrape(tls_gateway)
    if why == "another CA":
        gw = gateway(work, tls_ca, "impostor", [NAME], ca=Authority("someone else's CA"))
    else:
        gw = gateway(work, tls_ca, "impostor", ["other.tls.test"])
    try:
        # Probes go over TLS too: never answered as far as the SBC is concerned, the gateway stays down.
        assert not wait_for(lambda: state(tls_gateway).startswith("A"), 6), dispatcher_states(tls_gateway)
        uac = run_uac(work, "carrier", "127.0.1.1:5060", VAPI_DID, "127.0.4.2", duration_ms=500)
        assert uac.wait(30) != 0, uac.log()  # no gateway of set 1 or its backup set: 503
        assert [m.status for m in uac.received() if m.status and m.status >= 200
                and m.cseq_method == "INVITE"] == [503], uac.log()
        assert gw.received("INVITE") == []
    finally:
        gw.stop()
    # The last probe's answer may still be on its way when the gateway stops: wait until the counts settle.
    answered = lambda: len(gw.received("OPTIONS", probes=True))  # noqa: E731
    wait_for(lambda: delta_sum(scrape(tls_gateway), before, REFUSED) == answered(), 3)
    refused = delta_sum(scrape(tls_gateway), before, REFUSED)
    print(f"\n{why}: gateway state {state(tls_gateway)!r}, messages dropped for the name: {refused}, "
          f"handshakes failed at the gateway: {len(gw.handshake_errors)}, probes it answered: "
          f"{len(gw.received('OPTIONS', probes=True))}")
    if why == "another name":
        assert refused >= 1 and refused == answered()
    else:
        assert refused == 0 and gw.handshake_errors and gw.received(probes=True) == []


def test_a_call_from_a_gateway_over_tls_reaches_the_carrier(quiet_sbc, work, tls_ca):
    masked = kamailio_major(quiet_sbc) >= 6  # 5.6's topos cannot mask the Call-ID (docs)
    carrier = start_peers(work, quiet_sbc, ["127.0.4.1"])["127.0.4.1"]
    caller = TlsCaller(OUTBOUND_CALLER, tls_ca[0] / "ca.pem", SBC_NAME)  # dedicated to acme in the demo data
    try:
        version = caller.connect(("127.0.2.1", 5061))  # the SBC's certificate and name checked
        assert caller.call("+12125550100", ("127.0.2.1", 5061)) == [200, 200]
    finally:
        carrier.stop()
    print(f"\ngateway -> SBC over {version}; the carrier received {[m.method for m in carrier.received()]}")
    assert [m.method for m in carrier.received()] == ["INVITE", "ACK", "BYE"]
    assert carrier.received("INVITE")[0].request_uri == "sip:+12125550100@127.0.4.1:5060"
    for msg in carrier.received():
        text = msg.text if masked else msg.text.replace(msg.call_id, "")
        assert "127.0.3.61" not in text and "tls" not in text.lower(), msg.text


def handshake(version: ssl.TLSVersion, ca: str) -> str:
    """The version a client limited to `version` agrees with the SBC's TLS socket, checking its name."""
    context = ssl.create_default_context(cafile=ca)
    context.set_ciphers("DEFAULT:@SECLEVEL=0")  # so that only the server can refuse an old version
    context.minimum_version = context.maximum_version = version
    with socket.create_connection(("127.0.2.1", 5061), timeout=3) as raw:
        with context.wrap_socket(raw, server_hostname=SBC_NAME) as tls:
            return tls.version()


def test_the_sbc_speaks_tls_1_2_or_newer_only(quiet_sbc, tls_ca):
    ca = str(tls_ca[0] / "ca.pem")
    assert handshake(ssl.TLSVersion.TLSv1_2, ca) == "TLSv1.2"
    assert handshake(ssl.TLSVersion.TLSv1_3, ca) == "TLSv1.3"
    for old in (ssl.TLSVersion.TLSv1, ssl.TLSVersion.TLSv1_1):
        with pytest.raises(ssl.SSLError):
            handshake(old, ca)


def test_each_target_of_a_tls_name_is_probed_asking_for_the_name(quiet_sbc, dns_zone, add_named, work, tls_ca):
    """A name with two addresses: the SBC's own probes (kemi/gateways/gwprobe.py) reach each of them, over a
    connection that asks for the name (SNI); dispatcher's would reach the first one only, without SNI."""
    name, addresses = "pool.tls.test", ["127.0.7.61", "127.0.7.62"]
    dns_zone.a(name, *addresses, ttl=60)
    down = target_events(quiet_sbc, "down")
    pool = [TlsGateway(ip, tls_ca[1].write(work, f"pool-{n}", [name])).start() for n, ip in enumerate(addresses)]
    try:
        add_named(f"sip:{name};transport=tls")
        assert wait_for(lambda: all(len(gw.received("OPTIONS", probes=True)) >= 3 for gw in pool), 15), \
            [len(gw.received("OPTIONS", probes=True)) for gw in pool]
    finally:
        for gw in pool:
            gw.stop()
    print(f"\n{name}: SNI asked by the connections to {addresses}: {[gw.server_names for gw in pool]}; "
          f"probes answered: {[len(gw.received('OPTIONS', probes=True)) for gw in pool]}")
    for gw in pool:
        assert gw.server_names == [name]  # one connection each, kept open, opened asking for the name
        assert {m.start for m in gw.received("OPTIONS", probes=True)} == {f"OPTIONS sip:{name};transport=tls SIP/2.0"}
    assert all(gw.handshake_errors == [] for gw in pool)
    assert target_events(quiet_sbc, "down") == down
