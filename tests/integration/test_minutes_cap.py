"""A tenant's outbound minutes per rolling 24 h on the real stack (Kamailio, rtpengine, Redis): a live call
is ended with BYE both ways when the tenant's minutes run out (the minutes already spent, held in Redis,
plus the live call's age), its seconds land in Redis, and the next call is refused with 403 and a record,
the carrier receiving nothing.

voxket (demo data) calls from its dedicated gateway address 127.0.3.24 with its own DID as caller ID; the
test gives it a cap of one minute and 52 s already spent (as earlier calls, or the other node's, would
have), so its call has 8 s left.
"""

from __future__ import annotations

import socket
import time

import pytest

from testkit.harness import cdr_rows, delta, last_cdr_id, scrape, wait_for
from testkit.sipua import parse, wait_until
from tests.integration.conftest import db, new_routing_generation
from tests.integration.outbound_call import OutboundCall

SPENT = 52  # s voxket already spent in the window
CHECK_INTERVAL = 1  # MEDIA_CHECK_INTERVAL of the test settings
REASON = 'Q.850;cause=102;text="minutes cap"'


def redis(sbc, *command: str) -> bytes:
    """One command to the SBC's Redis after AUTH; its raw answer (RESP)."""
    s = sbc.settings

    def resp(*parts: str) -> bytes:
        return f"*{len(parts)}\r\n".encode() + b"".join(f"${len(p)}\r\n{p}\r\n".encode() for p in parts)
    with socket.create_connection((s.redis_ip, s.redis_port), timeout=5) as conn:
        conn.sendall(resp("AUTH", s.redis_password) + resp(*command))
        data = b""
        while data.count(b"\r\n") < 2 or not data.endswith(b"\r\n"):
            data += conn.recv(65536)
        time.sleep(0.05)  # a multi-line answer (TIME) may come in two reads
        conn.setblocking(False)
        try:
            data += conn.recv(65536)
        except BlockingIOError:
            pass
    assert data.startswith(b"+OK\r\n"), data
    return data[5:]


def redis_hour(sbc) -> int:
    return int(redis(sbc, "TIME").split(b"\r\n")[2]) // 3600


@pytest.fixture
def one_minute_cap(quiet_sbc):
    hour = redis_hour(quiet_sbc)
    redis(quiet_sbc, "DEL", "sbc:live:voxket", *(f"sbc:minutes:voxket:{h}" for h in range(hour - 24, hour + 2)))
    redis(quiet_sbc, "SET", f"sbc:minutes:voxket:{hour}", str(SPENT))
    db(quiet_sbc, "UPDATE tenant SET max_minutes_24h = 1 WHERE name = 'voxket'")
    new_routing_generation(quiet_sbc)
    yield hour
    db(quiet_sbc, "UPDATE tenant SET max_minutes_24h = 0 WHERE name = 'voxket'")
    new_routing_generation(quiet_sbc)
    redis(quiet_sbc, "DEL", "sbc:live:voxket", *(f"sbc:minutes:voxket:{h}" for h in range(hour - 24, hour + 2)))


def test_a_tenant_out_of_minutes_has_its_call_ended_both_ways_and_the_next_one_refused(quiet_sbc, one_minute_cap):
    sbc, after, before = quiet_sbc, last_cdr_id(quiet_sbc), scrape(quiet_sbc)
    call = OutboundCall(quiet_sbc, "minutes")
    try:
        call.start_media(20)
        assert wait_until(lambda: all(call.byes()), 20), "the call was not ended"
        lasted = time.monotonic() - call.answered
        to_gateway, to_carrier = call.byes()
        left = 60 - SPENT
        print(f"\n{SPENT} s of 60 spent: the call was ended {lasted:.2f} s after its answer "
              f"(checked every {CHECK_INTERVAL} s); Redis bucket now "
              f"{redis(sbc, 'GET', f'sbc:minutes:voxket:{one_minute_cap}')!r}")
        assert left - 1 <= lasted <= left + 1 + CHECK_INTERVAL + 1
        assert to_gateway[0].header("reason") == REASON and to_carrier[0].header("reason") == REASON
        assert to_carrier[0].header("call-id") == call.carrier_call_id
        rows = wait_for(lambda: [r for r in cdr_rows(sbc, after) if r["direction"] == "outbound"], 10)
        assert [r["end_reason"] for r in rows] == ["minutes cap"], rows
        spent = int(redis(sbc, "GET", f"sbc:minutes:voxket:{one_minute_cap}").split(b"\r\n")[1])
        assert SPENT + left - 1 <= spent <= SPENT + left + CHECK_INTERVAL + 2
        assert redis(sbc, "HLEN", "sbc:live:voxket").startswith(b":0")

        call.place("minutes2")
        assert wait_until(lambda: call.caller.pump() or call.caller.codes[403], 5), call.caller.codes
        refusal = next(m for m in map(parse, call.caller.received) if m and m.status == 403)
        assert refusal.start == "SIP/2.0 403 Tenant Minutes Exhausted"
        time.sleep(0.5)
        assert len([m for m in call.carrier.requests if m.method == "INVITE"]) == 1
        rows = wait_for(lambda: [r for r in cdr_rows(sbc, after) if r["direction"] == "outbound"][1:], 10)
        assert rows[0]["end_reason"].startswith("refused minutes cap: 1 of 1 used"), rows
        now = scrape(sbc)
        assert delta(now, before, "kamailio_sbc_limited_total", scope="tenant", limit="minutes ended") == 1
        assert delta(now, before, "kamailio_sbc_limited_total", scope="tenant", limit="minutes") == 1
    finally:
        call.close()
