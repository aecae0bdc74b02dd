"""Gateways named by host name, as the deployment this SBC replaces names them (issue 14's seed table,
verbatim), resolved through the suite's own DNS server (tests/integration/dns.py): SRV and A records,
;transport= honoured, each probed and reached by its name, a DNS change seen by the next call after the
record's TTL, and their own calls recognised by the addresses DNS gives (outside every ACL row)."""

from __future__ import annotations

import time

import pytest

from testkit.harness import (
    DEMO_GATEWAYS,
    Sipp,
    dispatcher_states,
    gateways,
    host_of,
    remove_gateways_since,
    run_uac,
    scrape,
    send_request,
    start_peers,
    stop_peers,
    wait_for,
    wait_state,
)
from testkit.sipua import AnsweringPeer, Caller, Endpoint, parse, wait_until

VAPI = "66e592d6-d690-45bb-8996-18215af542d0.sip.vapi.ai"
LIVEKIT = ["3i5bvr312d9.sip.livekit.cloud", "61xh9s3ubwq.sip.livekit.cloud", "4gv2kcqpg2d.sip.livekit.cloud",
           "15j2dl095m2.sip.livekit.cloud"]
UNPOD = ["sip-up-tt.unpod.tv", "sip.unpod.tel"]
# The seed's table, each row as an operator adds it; one LiveKit trunk over TCP, as one of its examples.
SEED = [(1, f"sip:{VAPI}"), (2, f"sip:{LIVEKIT[0]}"), (2, f"sip:{LIVEKIT[1]};transport=tcp"),
        (2, f"sip:{LIVEKIT[2]}"), (2, f"sip:{LIVEKIT[3]}"), (3, f"sip:{UNPOD[0]}"), (3, f"sip:{UNPOD[1]}")]
# Where the suite's DNS sends each name: outside the demo ACL's 127.0.3.0/24, so only DNS can vouch for them.
# LIVEKIT[0] by SRV, to a target and port of its own; the others by their A records.
SRV_TARGET, SRV_PORT = f"edge-1.{LIVEKIT[0]}", 5070
ADDRESS = {VAPI: "127.0.7.11", LIVEKIT[0]: "127.0.7.21", LIVEKIT[1]: "127.0.7.22", LIVEKIT[2]: "127.0.7.23",
           LIVEKIT[3]: "127.0.7.24", UNPOD[0]: "127.0.7.31", UNPOD[1]: "127.0.7.32"}
TTL = 2
CHANGE_TTL = 4  # the VAPI name's TTL in the DNS change test


@pytest.fixture
def zone(dns_zone):
    for host, address in ADDRESS.items():
        dns_zone.a(host, address, ttl=TTL)
    dns_zone.srv(f"_sip._udp.{LIVEKIT[0]}", (SRV_TARGET, SRV_PORT), ttl=TTL)
    dns_zone.a(SRV_TARGET, ADDRESS[LIVEKIT[0]], ttl=TTL)
    yield dns_zone
    dns_zone.remove(*ADDRESS, SRV_TARGET, f"_sip._udp.{LIVEKIT[0]}")


@pytest.fixture
def seed(quiet_sbc, zone, sbcctl):
    """The seed's gateways added with sbcctl, removed afterwards."""
    wait_state(quiet_sbc, DEMO_GATEWAYS, active=False)
    before = {row["id"] for row in gateways(sbcctl)}
    try:
        for group, uri in SEED:
            done = sbcctl("gateway", "add", "--uri", uri, "--group", str(group))
            assert done.returncode == 0, done.stderr
        added = [row for row in gateways(sbcctl) if row["id"] not in before]
        assert sorted((row["group"], row["uri"]) for row in added) == sorted(SEED)
        # dispatcher's reload took the demo's dead gateways as up again: until probing sees them down, a
        # call could try one first (and keep its To).
        wait_state(quiet_sbc, DEMO_GATEWAYS, active=False)
        yield quiet_sbc
    finally:
        remove_gateways_since(sbcctl, before)


def peers_at_dns_addresses(work) -> dict[str, Sipp]:
    """One SIPp gateway per name, where DNS sends it (LIVEKIT[0] at its SRV port, LIVEKIT[1] on TCP)."""
    peers = {}
    for n, (host, address) in enumerate(ADDRESS.items()):
        port = SRV_PORT if host == LIVEKIT[0] else 5060
        args = ("-rtp_echo", "-t", "t1") if host == LIVEKIT[1] else ("-rtp_echo",)
        peers[host] = Sipp(work, f"gw-{host.split('.')[0]}", "uas_answer.xml", address, port=port,
                           media_port=16000 + 100 * n, args=args).start()
    return peers


def all_up(sbc, uris=tuple(uri for _, uri in SEED)) -> bool:
    states = dispatcher_states(sbc)
    return all(states.get(uri, "").startswith("A") for uri in uris)


def test_the_seeds_gateways_are_probed_and_reached_by_their_names(seed, zone, work, sbcctl):
    peers = peers_at_dns_addresses(work)
    # One DID straight to each of the two names that DNS sends elsewhere: SRV (port 5070) and TCP.
    direct = {"+14155550171": (f"sip:{LIVEKIT[0]}", LIVEKIT[0]),
              "+14155550172": (f"sip:{LIVEKIT[1]};transport=tcp", LIVEKIT[1])}
    try:
        for did, (uri, _) in direct.items():
            assert sbcctl("did", "add", did, "--uri", uri).returncode == 0
        assert wait_for(lambda: all_up(seed), 15), f"dispatcher states: {dispatcher_states(seed)}"
        vapi = run_uac(work, "to-vapi", "127.0.1.1:5060", "4155550101", "127.0.4.2", calls=2, rate=5,
                       duration_ms=100)
        assert vapi.wait(30) == 0, vapi.log()
        livekit = run_uac(work, "to-livekit", "127.0.1.1:5060", "4155550102", "127.0.4.2", calls=8, rate=5,
                          duration_ms=100, media_port=17500)
        assert livekit.wait(60) == 0, livekit.log()
        callers = [vapi, livekit]
        for n, did in enumerate(direct):
            callers.append(run_uac(work, f"direct-{n}", "127.0.1.1:5060", did[2:], "127.0.4.2", duration_ms=100,
                                   media_port=17700 + 100 * n))
            assert callers[-1].wait(30) == 0, callers[-1].log()
    finally:
        stop_peers(peers)
        for did in direct:
            sbcctl("did", "remove", did)
    # Every name probed where its DNS sends it, by its name (LIVEKIT[0] via SRV at port 5070, LIVEKIT[1] on TCP).
    for host, peer in peers.items():
        probes = peer.received("OPTIONS", probes=True)
        assert probes and {host_of(p.request_uri) for p in probes} == {host}, (host, probes[:1])
    assert peers[LIVEKIT[1]].received("OPTIONS", probes=True)[0].headers("Via")[0].startswith("SIP/2.0/TCP")
    assert zone.asked(f"_sip._udp.{LIVEKIT[0]}") >= 1
    # Calls: the Request-URI and the To keep the name (VAPI picks the trunk's credential by it) ...
    vapi_invites = peers[VAPI].received("INVITE")
    assert len(vapi_invites) == 2 and {host_of(i.request_uri) for i in vapi_invites} == {VAPI}
    assert all(f"@{VAPI}>" in i.headers("To")[0] for i in vapi_invites), vapi_invites[0].headers("To")
    # ... and nothing the carrier side received names any of them (uac restores the To in replies).
    for caller in callers:
        for msg in caller.received():
            assert not any(host in msg.text for host in ADDRESS), msg.text
    spread = {host: len(peers[host].received("INVITE")) for host in LIVEKIT}
    print(f"\n8 calls to set 2 (weight 50 each, DS_ALGORITHM 9) and one per direct DID: {spread}")
    assert sum(spread.values()) == 8 + len(direct)
    for host in LIVEKIT:
        assert all(host_of(i.request_uri) == host for i in peers[host].received("INVITE"))
    for did, (_, host) in direct.items():
        invites = [i for i in peers[host].received("INVITE") if i.request_uri.startswith(f"sip:{did}@")]
        assert len(invites) == 1, (did, host)
        if host == LIVEKIT[1]:
            assert invites[0].headers("Via")[0].startswith("SIP/2.0/TCP")


def test_a_dns_change_is_seen_by_the_next_call_once_the_records_ttl_has_passed(seed, zone, work):
    old, new = ADDRESS[VAPI], "127.0.7.12"
    zone.a(VAPI, old, ttl=CHANGE_TTL)  # what Kamailio caches from now on is kept this long
    peers = {address: Sipp(work, f"vapi-{address}", "uas_answer.xml", address, media_port=16000 + 100 * n,
                           args=("-rtp_echo",)).start() for n, address in enumerate((old, new))}
    calls = 0

    def call() -> str:
        nonlocal calls
        calls += 1
        uac = run_uac(work, f"call-{calls}", "127.0.1.1:5060", "4155550101", "127.0.4.2", duration_ms=50,
                      media_port=17000 + 10 * calls)
        assert uac.wait(30) == 0, uac.log()
        return next(a for a, p in peers.items() if len(p.received("INVITE")) > reached[a])

    try:
        assert wait_for(lambda: all_up(seed, [f"sip:{VAPI}"]), 15), f"dispatcher states: {dispatcher_states(seed)}"
        reached = {a: 0 for a in peers}
        assert call() == old
        reached = {a: len(p.received("INVITE")) for a, p in peers.items()}
        zone.a(VAPI, new, ttl=CHANGE_TTL)
        changed = time.monotonic()
        landed = []  # (s after the change when the call started, where it went)
        while time.monotonic() - changed < CHANGE_TTL + 8:
            landed.append((round(time.monotonic() - changed, 2), call()))
            reached = {a: len(p.received("INVITE")) for a, p in peers.items()}
            if landed[-1][1] == new:
                break
        after = [call() for _ in range(3)]
    finally:
        stop_peers(peers)
    print(f"\nDNS changed at 0 s (TTL {CHANGE_TTL} s); calls (s after the change, where they went): {landed}")
    assert landed[-1][1] == new, landed
    # Kamailio may have cached the old answer up to the change itself: no call later than its TTL goes there.
    assert all(address == new for started, address in landed if started > CHANGE_TTL + 0.5), landed
    assert after == [new] * 3


def test_a_host_named_gateways_own_calls_are_recognised_by_the_addresses_dns_gives(seed, zone, work, sbcctl):
    """127.0.7.x is in no ACL row: only the gateway DNS timer's htable can vouch for these sources. They are a
    platform's (LiveKit Cloud's, shared by its customers): their INVITEs are challenged, not ignored, and go
    through with a tenant's account."""
    carrier = start_peers(work, seed, ["127.0.4.1"])["127.0.4.1"]
    account = sbcctl("account", "set", "lk-acme", "--tenant", "acme", "--password", "lk-acme-password-0123")
    assert account.returncode == 0, account.stderr
    try:
        assert wait_for(lambda: send_request(ADDRESS[LIVEKIT[2]], ("127.0.2.1", 5060), "OPTIONS", timeout=0.5)
                        == 200, 10)
        assert send_request(ADDRESS[LIVEKIT[2]], ("127.0.2.1", 5060), ruser="+12125550100") == 407
        gw = run_uac(work, "from-livekit", "127.0.2.1:5060", "+12125550100", ADDRESS[LIVEKIT[2]], calls=3,
                     rate=5, duration_ms=100, scenario="uac_call_auth.xml",
                     extra=("-au", "lk-acme", "-ap", "lk-acme-password-0123"))
        assert gw.wait(30) == 0, gw.log()
        assert send_request("127.0.7.99", ("127.0.2.1", 5060), ruser="+12125550100", timeout=1) is None
        # The name moves: the new address is a gateway's within the timer's interval, the old one no longer
        # once the old record's TTL has passed (dispatcher's own match reads through the DNS cache).
        zone.a(UNPOD[1], "127.0.7.33", ttl=1)
        moved = time.monotonic()
        assert wait_for(lambda: send_request("127.0.7.33", ("127.0.2.1", 5060), "OPTIONS", timeout=0.5) == 200, 10)
        new_in = time.monotonic() - moved
        assert wait_for(lambda: send_request(ADDRESS[UNPOD[1]], ("127.0.2.1", 5060), "OPTIONS", timeout=0.5)
                        is None, 10)
        old_out = time.monotonic() - moved
        print(f"\nname moved: new address a gateway's after {new_in:.1f} s, old one a stranger after {old_out:.1f} s "
              f"(old record's TTL {TTL} s, GATEWAY_DNS_INTERVAL 1 s)")
        assert old_out <= TTL + 4
        # The DNS stops knowing a name: its last known address stays a gateway's, and it is counted once.
        failed = scrape(seed).get(("kamailio_sbc_gateway_dns_total", (("result", "failed"),)), 0)
        zone.remove(UNPOD[0])
        assert wait_for(lambda: scrape(seed).get(("kamailio_sbc_gateway_dns_total", (("result", "failed"),)), 0)
                        == failed + 1, 10)
        time.sleep(2)
        assert send_request(ADDRESS[UNPOD[0]], ("127.0.2.1", 5060), "OPTIONS", timeout=1) == 200
    finally:
        carrier.stop()
        sbcctl("account", "remove", "lk-acme")
    assert len(carrier.received("INVITE")) == 3


def test_a_gateway_whose_name_did_not_resolve_when_added_joins_its_set_once_dns_knows_it(quiet_sbc, zone, sbcctl,
                                                                                        work):
    """Dispatcher leaves out a row whose name does not resolve when it loads; the gateway DNS timer
    reloads it once the name resolves, and the gateway is probed and called without an operator."""
    host, address = "late.sip.vapi.ai", "127.0.7.13"
    wait_state(quiet_sbc, DEMO_GATEWAYS, active=False)
    before = {row["id"] for row in gateways(sbcctl)}
    peer = Sipp(work, "late", "uas_answer.xml", address, args=("-rtp_echo",)).start()
    try:
        added = sbcctl("gateway", "add", "--uri", f"sip:{host}", "--group", "1")
        assert added.returncode == 0 and "not in use until their names resolve" in added.stderr, added.stderr
        time.sleep(2)
        assert f"sip:{host}" not in dispatcher_states(quiet_sbc)  # left out: the name did not resolve
        zone.a(host, address, ttl=TTL)
        assert wait_for(lambda: all_up(quiet_sbc, [f"sip:{host}"]), 15), dispatcher_states(quiet_sbc)
        wait_state(quiet_sbc, DEMO_GATEWAYS, active=False)  # taken as up again by the reload
        uac = run_uac(work, "to-late", "127.0.1.1:5060", "4155550101", "127.0.4.2", duration_ms=100)
        assert uac.wait(30) == 0, uac.log()
    finally:
        peer.stop()
        zone.remove(host)
        remove_gateways_since(sbcctl, before)
    assert [host_of(i.request_uri) for i in peer.received("INVITE")] == [host]


MULTI = "multi.gw.test"  # one name, two addresses: the first DNS gives is dead
DEAD, LIVE = "127.0.7.42", "127.0.7.41"
TARGET_TOTAL = "kamailio_sbc_gateway_target_total"


def target_events(sbc, event: str) -> float:
    return scrape(sbc).get((TARGET_TOTAL, (("event", event),)), 0)


def test_each_target_of_a_name_is_probed_and_calls_skip_the_dead_one(quiet_sbc, dns_zone, add_named, work):
    """Each target gets our probe, once per round, and no other (dispatcher's probe of the name is dropped);
    calls skip the dead one; the row goes down once no target answers and up when one does again."""
    dns_zone.a(MULTI, DEAD, LIVE, ttl=60)  # in this order: tm tries the dead one first
    silent = Endpoint(DEAD, 5060)  # a gateway that died without closing anything: datagrams arrive, no answer
    live = Sipp(work, "multi-live", "uas_answer.xml", LIVE, args=("-rtp_echo",)).start()
    uri, back = f"sip:{MULTI}", None
    try:
        down, up = target_events(quiet_sbc, "down"), target_events(quiet_sbc, "up")
        added = time.monotonic()
        add_named(uri)
        wait_state(quiet_sbc, DEMO_GATEWAYS, active=False)
        assert wait_for(lambda: target_events(quiet_sbc, "down") == down + 1, 15)
        detected = time.monotonic() - added
        blocklist = quiet_sbc.kamailio.rpc("dst_blocklist.view")
        assert DEAD in blocklist and LIVE not in blocklist, blocklist
        assert wait_for(lambda: all_up(quiet_sbc, [uri]), 15), dispatcher_states(quiet_sbc)
        started = time.monotonic()
        uac = run_uac(work, "to-multi", "127.0.1.1:5060", "4155550101", "127.0.4.2", calls=5, rate=5,
                      duration_ms=100)
        assert uac.wait(30) == 0, uac.log()
        took = time.monotonic() - started
        at_dead = silent.drain()
        probing = time.monotonic() - added
        first_lines = [data.split(b"\r\n", 1)[0].decode(errors="replace") for data, _ in at_dead]
        invites_dead = [line for line in first_lines if line.startswith("INVITE")]
        probes_dead = [line for line in first_lines if line.startswith("OPTIONS")]
        transactions = {m.header("call-id") for m in (parse(data) for data, _ in at_dead)
                        if m is not None and m.method == "OPTIONS"}
        # No target answers: the row leaves its set (our probes set it; dispatcher's would not reach here).
        live.stop()
        assert wait_for(lambda: dispatcher_states(quiet_sbc).get(uri, "").startswith("I"), 15), \
            dispatcher_states(quiet_sbc)
        assert DEAD not in quiet_sbc.kamailio.rpc("dst_blocklist.view")  # all down: nothing to skip to
        # It comes back: answering there, it is up again and the first target DNS gives gets the next call.
        silent.close()
        back = Sipp(work, "multi-back", "uas_answer.xml", DEAD, args=("-rtp_echo",)).start()
        assert wait_for(lambda: target_events(quiet_sbc, "up") == up + 1, 15)
        assert wait_for(lambda: all_up(quiet_sbc, [uri]), 15), dispatcher_states(quiet_sbc)
        again = run_uac(work, "to-multi-again", "127.0.1.1:5060", "4155550101", "127.0.4.2", duration_ms=100,
                        media_port=17800)
        assert again.wait(30) == 0, again.log()
    finally:
        silent.close()
        live.stop()
        if back is not None:
            back.stop()
    print(f"\n{MULTI} -> {DEAD} (silent), {LIVE}: the dead target blocklisted {detected:.1f} s after the gateway "
          f"was added (probing 1 s, threshold 2); 5 calls then took {took:.2f} s in all, "
          f"{len(invites_dead)} INVITE reached the dead target; {len(probes_dead)} OPTIONS datagrams did, "
          f"{len(transactions)} probes in {probing:.1f} s")
    assert invites_dead == [] and len(probes_dead) >= 2
    assert all(f"sip:{MULTI}" in line for line in probes_dead), probes_dead[:2]
    assert len(transactions) <= probing + 1  # one per 1 s round: ours only
    assert len(live.received("INVITE")) == 5
    assert {host_of(m.request_uri) for m in live.received("OPTIONS", probes=True)} == {MULTI}
    assert len(back.received("INVITE")) == 1


def test_a_failover_to_another_named_gateway_gives_it_its_own_name_in_the_to(quiet_sbc, dns_zone, add_named, work):
    """The To host is each attempt's gateway's name, as the Request-URI's: VAPI picks the trunk's
    credential by it, and one provider must not see another's name."""
    busy, spare = ("busy.gw.test", "127.0.7.51"), ("spare.gw.test", "127.0.7.52")
    for host, address in (busy, spare):
        dns_zone.a(host, address, ttl=60)
    peers = [Sipp(work, "busy", "uas_503.xml", busy[1]).start(),
             Sipp(work, "spare", "uas_answer.xml", spare[1], args=("-rtp_echo",)).start()]
    try:
        # first in the set (priority) with weight 100: every first attempt goes to the busy one (DS_ALGORITHM 9)
        for (host, _), priority, weight in ((busy, "20", "100"), (spare, "10", "50")):
            add_named(f"sip:{host}", "--priority", priority, "--weight", weight)
        wait_state(quiet_sbc, DEMO_GATEWAYS, active=False)
        assert wait_for(lambda: all_up(quiet_sbc, [f"sip:{busy[0]}", f"sip:{spare[0]}"]), 15), \
            dispatcher_states(quiet_sbc)
        uac = run_uac(work, "to-busy-then-spare", "127.0.1.1:5060", "4155550101", "127.0.4.2", duration_ms=100)
        assert uac.wait(30) == 0, uac.log()
    finally:
        for peer in peers:
            peer.stop()
    first, second = peers[0].received("INVITE"), peers[1].received("INVITE")
    print(f"\nINVITE To: {busy[0]}: {[m.headers('To')[0] for m in first]}; "
          f"{spare[0]}: {[m.headers('To')[0] for m in second]}; its BYE: "
          f"{[m.headers('To')[0] for m in peers[1].received('BYE')]}")
    assert len(first) == 1 and f"@{busy[0]}>" in first[0].headers("To")[0]
    assert len(second) == 1 and f"@{spare[0]}>" in second[0].headers("To")[0]
    assert host_of(second[0].request_uri) == spare[0]
    assert [f"@{spare[0]}>" in m.headers("To")[0] for m in peers[1].received("BYE")] == [True]
    for msg in uac.received():  # the carrier sees neither name (uac restores its To in the replies)
        assert busy[0] not in msg.text and spare[0] not in msg.text, msg.text


def test_a_gateway_whose_name_moves_mid_call_acts_in_it_from_its_new_address(seed, zone):
    """A call answered by VAPI's name at its address; the platform then moves the name (its failover): the
    gateway's BYE from the new address ends the call at the carrier. The same BYE from there before the move
    was a stranger's (silence, nothing relayed): only the name's DNS vouches for the new address."""
    old, new, sbc_public = ADDRESS[VAPI], "127.0.7.13", ("127.0.2.1", 5060)
    zone.a(VAPI, old, ttl=1)
    gateway = AnsweringPeer(old, 5060, lambda invite: 200).start()
    moved = Endpoint(new, 5060)
    carrier = Caller(("127.0.4.2", 5096), ("127.0.1.1", 5060), "4155550101", [])

    def carrier_byes() -> list:
        carrier.pump(keep_dialogs=True)
        return [m for m in map(parse, carrier.received) if m is not None and not m.is_reply and m.method == "BYE"]
    try:
        assert wait_for(lambda: all_up(seed, [f"sip:{VAPI}"]), 15), f"dispatcher states: {dispatcher_states(seed)}"
        call_id = f"moving-{time.monotonic_ns()}@127.0.4.2"
        carrier.send(carrier.invite(call_id).render(), carrier.sbc)
        assert wait_until(lambda: carrier.pump(keep_dialogs=True) or call_id in carrier.dialogs, 5), carrier.codes
        assert wait_until(lambda: [m for m in gateway.requests if m.method == "ACK"], 5)
        [dialog] = gateway.dialogs.values()
        moved.send(dialog.request("BYE", new, 5060).render(), sbc_public)
        time.sleep(1.0)
        assert carrier_byes() == [] and moved.drain() == [], "a BYE from an address DNS never gave crossed"
        zone.a(VAPI, new, ttl=1)
        changed = time.monotonic()
        assert wait_for(lambda: send_request(new, sbc_public, "OPTIONS", timeout=0.5) == 200, 10)
        vouched = time.monotonic() - changed
        # The name's new address answers probes once dispatcher's resolver sees it; the in-dialog check reads
        # the gateway DNS timer's table, up to GATEWAY_DNS_INTERVAL (1 s) later. A UA resends an unanswered
        # BYE (RFC 3261 timer E: 0.5 s, then doubling): so does this one, the same request each time.
        bye = dialog.request("BYE", new, 5060)
        sends = 0
        for wait in (0.5, 1.0, 2.0, 2.0):
            moved.send(bye.render(), sbc_public)
            sends += 1
            if wait_until(lambda: carrier_byes(), wait):
                break
        assert carrier_byes(), "the moved gateway's BYE did not reach the carrier"

        def answered() -> list:
            moved.drain()
            return [m for m in map(parse, moved.received) if m is not None and m.is_reply
                    and m.header("cseq") == bye.header("cseq")]
        assert wait_until(answered, 5)
        answer = answered()[0]  # (one per send that reached the SBC's transaction)
    finally:
        gateway.stop()
        moved.close()
        carrier.close()
    print(f"\nname moved mid-call: its new address vouched for after {vouched:.1f} s; the BYE from there "
          f"reached the carrier after {sends} send(s) and was answered {answer.status}")
    assert answer.status == 200 and answer.header("call-id") == dialog.call_id
