"""Kamailio (re)started while MariaDB does not answer routes from the snapshot of the last known
configuration (sbclib/snapshot.py: gateways, ACL, DIDs, tenants), and restarts itself once MariaDB answers
again, so that its modules reconnect and call records are written again.

Host: the launcher's Kamailio service object does it (stack/services.py). Image: the kamailio container is
restarted by its engine with the db container stopped, as `restart: unless-stopped` would after a crash;
its launcher does the rest inside.
"""

from __future__ import annotations

import json
import os
import time

from testkit.harness import (
    cdr_rows,
    in_snapshot,
    last_cdr_id,
    snapshot_events,
    start_peers,
    stop_peers,
    wait_for,
)
from tests.integration.conftest import db
from tests.integration.test_outages import call_succeeds_within, calls

COMPOSE = os.environ.get("SBC_BACKEND") == "compose"
NEW_DID = "+14155550888"  # added just before the outage: only the snapshot knows it afterwards


def uptime(sbc) -> int | None:
    """Seconds since Kamailio started (its restarts reset it); None while it does not answer."""
    try:
        answer = sbc.kamailio.rpc("core.uptime")
    except RuntimeError:
        return None
    return next(int(line.split(":", 1)[1]) for line in answer.splitlines() if line.strip().startswith("uptime:"))


def restart_kamailio(sbc) -> None:
    """As after a crash: the process (host) or the container (image) starts again, the DB still down."""
    if COMPOSE:
        sbc.engine_docker("restart", "sbc-test-kamailio-1")
        assert wait_for(lambda: sbc.states()["kamailio"].get("Health") == "healthy", 90), sbc.logs("kamailio")[-3000:]
    else:
        sbc.kamailio.stop()
        sbc.kamailio.start()


def test_started_without_the_db_it_routes_from_the_snapshot_and_restarts_once_the_db_answers(quiet_sbc, work,
                                                                                              sbcctl):
    sbc = quiet_sbc
    peers = start_peers(work, sbc, ["127.0.3.1", "127.0.3.24"], args=())
    written = snapshot_events(sbc, "written")
    db(sbc, f"INSERT INTO did_routing (did, gateway_group, tenant) VALUES ('{NEW_DID}', 1, '')")
    try:
        # The change is in the snapshot within SNAPSHOT_INTERVAL (1 s in the tests).
        assert wait_for(lambda: in_snapshot(sbc, "did_routing", NEW_DID), 10)
        # counted just after the file is in place: the count may lag the file by a moment
        assert wait_for(lambda: snapshot_events(sbc, "written") > written, 5)
        sbc.db.stop()
        started = time.monotonic()
        restart_kamailio(sbc)
        up = time.monotonic() - started
        first = call_succeeds_within(work, "snapshot", NEW_DID, 30)  # DID, ACL, gateway: all from the snapshot
        assert first is not None
        routed = time.monotonic() - started
        assert calls(work, "tenant", "+14155550401")[0] == 0  # a tenant's DID to its own gateway
        assert peers["127.0.3.24"].received("INVITE")
        assert "127.0.3.1" in sbc.kamailio.rpc("dispatcher.list")
        # Counted since this start: lookups answered from the snapshot, the timer's checks finding no DB.
        assert wait_for(lambda: snapshot_events(sbc, "read") >= 2 and snapshot_events(sbc, "db down") >= 1, 5)
        # The operator's reads: from the snapshot, said so; what it does not hold is an error, not empty.
        listed = sbcctl("--json", "did", "list")
        assert listed.returncode == 0 and "showing the snapshot of" in listed.stderr, listed.stderr
        assert NEW_DID in [row["did"] for row in json.loads(listed.stdout)]
        assert "sip:127.0.3.24:5060" in [row["uri"] for row in json.loads(sbcctl("--json", "gateway", "list").stdout)]
        records = sbcctl("cdr")
        assert records.returncode == 1 and "not in the snapshot" in records.stderr, records.stderr
        before_return = uptime(sbc)
        sbc.db.start()
        returned = time.monotonic()
        assert wait_for(lambda: (now := uptime(sbc)) is not None and now < before_return, 30), \
            "Kamailio did not restart once MariaDB answered"
        after = last_cdr_id(sbc)
        recovered = call_succeeds_within(work, "after", NEW_DID, 30)
        assert recovered is not None
        restarted = time.monotonic() - returned
        # Call records are written again: the modules connected afresh.
        assert wait_for(lambda: [r for r in cdr_rows(sbc, after) if r["did"] == NEW_DID], 10)
    finally:
        if not sbc.db.alive():
            sbc.db.start()
        if not sbc.kamailio.alive():
            restart_kamailio(sbc)
        db(sbc, f"DELETE FROM did_routing WHERE did = '{NEW_DID}'")
        stop_peers(peers)
    print(f"\nMariaDB down: Kamailio up in {up:.1f} s, first call routed {routed:.1f} s after the restart began; "
          f"MariaDB back: calls and records again {restarted:.1f} s later")
