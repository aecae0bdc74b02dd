"""Outages of the SBC's own dependencies while calls flow: MariaDB, rtpengine, Redis."""

import time

from .conftest import db
from .harness import run_uac, send_request, start_peers, stop_peers, wait_for
from .test_topology_leaks import PRIVATE_SIDE, leaks


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


def test_db_outage_keeps_cached_dids_routing_refuses_unknown_ones_and_recovers(quiet_sbc, work):
    peers = start_peers(work, quiet_sbc, ["127.0.3.1", "127.0.3.2", "127.0.3.3"], args=())
    db(quiet_sbc, "INSERT INTO did_routing (did, gateway_group, tenant) VALUES ('+14155550777', 2, '')")
    try:
        assert calls(work, "warm-up", "4155550101", n=16, rate=20)[0] == 0  # every worker caches the DID
        quiet_sbc.db.stop()
        rc, during = calls(work, "during", "4155550101", n=30, rate=10)
        assert rc == 0, during.log()
        assert send_request("127.0.4.2", ("127.0.1.1", 5060), ruser="+14155550777") == 503
        quiet_sbc.db.start()
        recovered = call_succeeds_within(work, "recovered", "+14155550777", 15)
    finally:
        if not quiet_sbc.db.alive():
            quiet_sbc.db.start()
        db(quiet_sbc, "DELETE FROM did_routing WHERE did='+14155550777'")
        stop_peers(peers)
    print(f"\nMariaDB down: 30/30 calls to a cached DID answered, unknown DID 503, "
          f"recovered {recovered:.1f} s after the DB returned")
    assert recovered is not None
    assert leaks(peers["127.0.3.1"].received(), PRIVATE_SIDE) == []  # topos state is not in the DB


def test_rtpengine_outage_refuses_calls_and_sends_no_unanchored_sdp(quiet_sbc, work):
    peers = start_peers(work, quiet_sbc, ["127.0.3.1"], args=())
    try:
        quiet_sbc.rtpengine.stop()
        started = time.monotonic()
        answer = send_request("127.0.4.2", ("127.0.1.1", 5060), ruser="4155550101", timeout=5)
        refused_in = time.monotonic() - started
        assert answer == 503
        assert peers["127.0.3.1"].received("INVITE") == []
        quiet_sbc.rtpengine.start()
        recovered = call_succeeds_within(work, "recovered", "4155550101", 30)
    finally:
        if not quiet_sbc.rtpengine.alive():
            quiet_sbc.rtpengine.start()
        stop_peers(peers)
    print(f"\nrtpengine down: 503 in {refused_in * 1000:.0f} ms, nothing sent to the gateway; "
          f"calls again {recovered:.1f} s after restart (rtpengine_disable_tout 10 s)")
    assert recovered is not None
    assert all("127.0.2.1" in line for m in peers["127.0.3.1"].received("INVITE")
               for line in m.body.splitlines() if line.startswith("c="))


def test_redis_outage_refuses_new_calls_rather_than_unhidden_ones_and_recovers(quiet_sbc, work):
    peers = start_peers(work, quiet_sbc, ["127.0.3.1"], args=())
    try:
        quiet_sbc.redis.stop()
        assert send_request("127.0.4.2", ("127.0.1.1", 5060), ruser="4155550101") == 503
        assert peers["127.0.3.1"].received("INVITE") == []
        quiet_sbc.redis.start()
        recovered = call_succeeds_within(work, "recovered", "4155550101", 15)
    finally:
        if not quiet_sbc.redis.alive():
            quiet_sbc.redis.start()
        stop_peers(peers)
    print(f"\nRedis down: new calls 503, nothing sent; calls again {recovered:.1f} s after restart")
    assert recovered is not None
    assert leaks(peers["127.0.3.1"].received(), PRIVATE_SIDE) == []
    assert wait_for(lambda: quiet_sbc.dead() == [], 5)
