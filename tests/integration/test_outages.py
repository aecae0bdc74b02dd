"""Outages of the SBC's own dependencies while calls flow: MariaDB, rtpengine, Redis."""

import contextlib
import os
import re
import time

from sbclib import ng
from testkit.harness import (
    cdr_rows,
    delta,
    delta_sum,
    in_snapshot,
    rtpengine_calls,
    run_uac,
    scrape,
    send_request,
    snapshot_events,
    start_peers,
    stop_peers,
    wait_for,
)
from tests.integration.conftest import active_dialogs, db
from tests.integration.test_topology_leaks import PRIVATE_SIDE, leaks

# Kamailio 6.0 (the image) keeps topos' state in its shared memory (kamailio.cfg): Redis holds only tenants'
# minutes there, and its outage must not touch calls; on 5.6 topos' state is in Redis.
TOPOS_IN_REDIS = os.environ.get("SBC_BACKEND") != "compose"


def calls(work, name, number, n=1, rate=10):
    uac = run_uac(work, name, "127.0.1.1:5060", number, "127.0.4.2", calls=n, rate=rate, limit=20, duration_ms=100)
    return uac.wait(60), uac


def call_succeeds_within(work, name, number, seconds):
    deadline, attempt = time.monotonic() + seconds, 0
    while time.monotonic() < deadline:
        attempt += 1
        if calls(work, f"{name}-{attempt}", number)[0] == 0:
            return time.monotonic() - (deadline - seconds)
        time.sleep(0.5)
    return None


def test_db_outage_keeps_dids_routing_from_the_cache_and_the_snapshot_and_recovers(quiet_sbc, work):
    peers = start_peers(work, quiet_sbc, ["127.0.3.1", "127.0.3.2", "127.0.3.3"], args=())
    written = snapshot_events(quiet_sbc, "written")
    db(quiet_sbc, "INSERT INTO did_routing (did, gateway_group, tenant) VALUES ('+14155550777', 2, '')")
    try:
        assert calls(work, "warm-up", "4155550101", n=16, rate=20)[0] == 0  # every worker caches the DID
        assert wait_for(lambda: in_snapshot(quiet_sbc, "did_routing", "+14155550777"), 10)
        assert snapshot_events(quiet_sbc, "written") > written
        before = scrape(quiet_sbc)
        quiet_sbc.db.stop()
        rc, during = calls(work, "during", "4155550101", n=30, rate=10)
        assert rc == 0, during.log()
        # Never looked up before: the snapshot knows the one and not the other.
        rc, known = calls(work, "snapshot-did", "+14155550777")
        assert rc == 0, known.log()
        assert send_request("127.0.4.2", ("127.0.1.1", 5060), ruser="+14155550779") == 404
        after = scrape(quiet_sbc)
        errors = delta_sum(after, before, "kamailio_sbc_db_errors_total")
        from_snapshot = delta(after, before, "kamailio_sbc_snapshot_total", event="read")
        quiet_sbc.db.start()
        recovered = call_succeeds_within(work, "recovered", "+14155550777", 15)
    finally:
        if not quiet_sbc.db.alive():
            quiet_sbc.db.start()
        db(quiet_sbc, "DELETE FROM did_routing WHERE did='+14155550777'")
        stop_peers(peers)
    during_ids = {m.call_id for m in during.sent() if m.method == "INVITE"}
    recorded = [r for r in cdr_rows(quiet_sbc, 0) if r["call_id"] in during_ids]
    # Every record's line names its call_id (a record of a call that never had one would not).
    logged = {found.group(1) for line in quiet_sbc.kamailio.log_path.read_text(errors="replace").splitlines()
              if "log_write_cdr()" in line and (found := re.search(r"\bcall_id=([^;\s]+)", line))}
    print(f"\nMariaDB down: 30/30 calls to a cached DID answered, a DID only the snapshot knew routed, "
          f"one it did not know 404, "
          f"recovered {recovered:.1f} s after the DB returned; call records of those 30: {len(recorded)}")
    assert recovered is not None
    assert errors >= 1  # the DID lookup's failed connection shows in the metrics
    assert from_snapshot == 2  # the two DIDs nobody had looked up
    assert during_ids and during_ids <= logged  # records the DB could not take are in the log, whole
    assert leaks(peers["127.0.3.1"].received(), PRIVATE_SIDE) == []  # topos state is not in the DB


def outage(sbc, work, service):
    """Stop `service`, place a call (must be refused with 503 and send nothing to the gateway), start
    it again; returns (ms to the 503, s until calls succeed again, what the gateway received)."""
    peers = start_peers(work, sbc, ["127.0.3.1"], args=())
    try:
        service.stop()
        started = time.monotonic()
        assert send_request("127.0.4.2", ("127.0.1.1", 5060), ruser="4155550101", timeout=5) == 503
        refused_ms = (time.monotonic() - started) * 1000
        assert peers["127.0.3.1"].received("INVITE") == []
        service.start()
        # Each process keeps a failed Redis switched off until the next second (ndb_redis): a BYE in
        # that second gets 503 + Retry-After, which SIPp does not honour. Counted in the figure.
        pause = 1.1 if service is sbc.redis else 0.0
        time.sleep(pause)
        recovered = call_succeeds_within(work, "recovered", "4155550101", 30)
        recovered = None if recovered is None else recovered + pause
    finally:
        if not service.alive():
            service.start()
        stop_peers(peers)
    assert recovered is not None
    assert wait_for(lambda: sbc.dead() == [], 5)
    return refused_ms, recovered, peers["127.0.3.1"].received()


def test_rtpengine_outage_refuses_calls_and_sends_no_unanchored_sdp(quiet_sbc, work):
    refused_ms, recovered, received = outage(quiet_sbc, work, quiet_sbc.rtpengine)
    print(f"\nrtpengine down: 503 in {refused_ms:.0f} ms, nothing sent to the gateway; "
          f"calls again {recovered:.1f} s after restart (rtpengine_disable_tout 10 s)")
    assert all("127.0.2.1" in line for m in received if m.method == "INVITE"
               for line in m.body.splitlines() if line.startswith("c="))


def test_redis_outage_refuses_new_calls_rather_than_unhidden_ones_and_recovers(quiet_sbc, work):
    if not TOPOS_IN_REDIS:
        return redis_outage_leaves_new_calls_alone(quiet_sbc, work)
    refused_ms, recovered, received = outage(quiet_sbc, work, quiet_sbc.redis)
    print(f"\nRedis down: new calls 503 in {refused_ms:.0f} ms, nothing sent; "
          f"calls again {recovered:.1f} s after restart")
    assert leaks(received, PRIVATE_SIDE) == []


def redis_outage_leaves_new_calls_alone(sbc, work):
    """6.0: with Redis stopped, calls are answered as ever and hidden as ever."""
    peers = start_peers(work, sbc, ["127.0.3.1"], args=())
    try:
        sbc.redis.stop()
        status, _ = calls(work, "redis-down", "4155550101", n=5)
        received = peers["127.0.3.1"].received()
    finally:
        if not sbc.redis.alive():
            sbc.redis.start()
        stop_peers(peers)
    methods = [m.method for m in received]
    print(f"\nRedis down (Kamailio 6.0, topos in shared memory): 5 new calls, SIPp exit {status}; at the "
          f"gateway {methods.count('INVITE')} INVITEs, {methods.count('BYE')} BYEs")
    assert status == 0
    assert methods.count("INVITE") == 5 and methods.count("BYE") == 5
    assert leaks(received, PRIVATE_SIDE) == []


def test_redis_outage_during_a_call_holds_its_in_dialog_requests_rather_than_leaking_them(quiet_sbc, work):
    """topos cannot hide a message without its store: a BYE sent while Redis is down is answered at the
    SBC (481: topos cannot restore its route; 503: the routes' own check) and nothing reaches the
    gateway; once Redis is back the operator ends the dialog: both sides get a BYE, the gateway's naming
    the call as the gateway knows it (its Call-ID and From/To, not the carrier's). On 6.0 (topos' state in
    shared memory) the BYE goes through, hidden."""
    if not TOPOS_IN_REDIS:
        return redis_outage_leaves_a_call_alone(quiet_sbc, work)
    s = quiet_sbc.settings
    try:
        with redis_stopped_during_a_call(quiet_sbc, work) as (gateway, uac):
            uac.wait(40)  # its BYE is refused, so SIPp counts the call as failed
            answers = sorted({m.status for m in uac.received() if m.cseq_method == "BYE"})
            during = gateway.received()
            quiet_sbc.redis.start()
            # The call is still held at the SBC: end it from there (BYE both ways, through topos again).
            dialog = next(d for d in quiet_sbc.kamailio.jsonrpc("dlg.list")
                          if d["call-id"] in {m.call_id for m in uac.sent()})
            before = scrape(quiet_sbc)
            quiet_sbc.kamailio.rpc("dlg.end_dlg", str(dialog["h_entry"]), str(dialog["h_id"]))
            assert wait_for(lambda: not active_dialogs(quiet_sbc), 5), "dialog still up after dlg.end_dlg"
            assert wait_for(lambda: gateway.received("BYE"), 5), "no BYE reached the gateway"
            (bye,), (invite,) = gateway.received("BYE"), gateway.received("INVITE")
            assert delta_sum(scrape(quiet_sbc), before, "kamailio_sbc_topology_guard_total", stage="local") == 0
    finally:
        for call_id in rtpengine_calls(s):
            ng.command(s.rtpengine_ng_ip, s.rtpengine_ng_port, {"command": "delete", "call-id": call_id})
    assert answers and set(answers) <= {481, 503}, answers
    assert [m for m in during if m.method == "BYE"] == []
    assert leaks(during, PRIVATE_SIDE) == []
    assert bye.call_id == invite.call_id
    assert leaks([bye], PRIVATE_SIDE) == []


def redis_outage_leaves_a_call_alone(sbc, work):
    with redis_stopped_during_a_call(sbc, work) as (gateway, uac):
        status = uac.wait(40)  # 0: its BYE was answered 200, by the gateway
        received = gateway.received()
    assert status == 0
    (bye,), (invite,) = [m for m in received if m.method == "BYE"], [m for m in received if m.method == "INVITE"]
    assert bye.call_id == invite.call_id
    assert leaks(received, PRIVATE_SIDE) == []


@contextlib.contextmanager
def redis_stopped_during_a_call(sbc, work):
    """A call answered through the SBC (the caller hangs up 3 s after), then Redis stopped: (gateway, caller).
    Redis is started again and the peers stopped on the way out."""
    peers = start_peers(work, sbc, ["127.0.3.1"], args=())
    gateway = peers["127.0.3.1"]
    try:
        uac = run_uac(work, "held", "127.0.1.1:5060", "4155550101", "127.0.4.2", duration_ms=3000)
        assert wait_for(lambda: gateway.received("ACK"), 5), "call not set up"
        sbc.redis.stop()
        yield gateway, uac
    finally:
        if not sbc.redis.alive():
            sbc.redis.start()
        stop_peers(peers)
