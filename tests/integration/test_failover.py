"""Gateway and carrier failover on the real stack: dispatcher probing, per-attempt timers, backup group.

The test stack probes every second (2 misses = down) and gives an INVITE attempt 1 s to answer.
"""

import contextlib
import time

from testkit.harness import (
    OUTBOUND_CALLER,
    Sipp,
    delta,
    delta_sum,
    rtpengine_calls,
    run_uac,
    scrape,
    send_request,
    start_peers,
    stop_peers,
    wait_for,
    wait_state,
)
from testkit.suite import TEST_SETTINGS
from tests.integration.conftest import active_dialogs, db, new_routing_generation
from tests.integration.inbound_call import InboundCall, assert_heard, talk_both_ways

SBC_PRIVATE = "127.0.1.1:5060"
SBC_PRIVATE_ADDR = ("127.0.1.1", 5060)
MEDIA_SECONDS = 3
NO_REPLY = int(TEST_SETTINGS["GATEWAY_NO_REPLY_MS"]) / 1000  # an attempt's timer, seconds
TM_TICK = 1 / 16  # tm's timer resolution
TOLERANCE = 1.0  # stated: past the timers, a loaded 2-core machine's scheduling and the peers' answers
PING_INTERVAL, PROBING_THRESHOLD = int(TEST_SETTINGS["DS_PING_INTERVAL"]), int(TEST_SETTINGS["DS_PROBING_THRESHOLD"])
PROMPT = 0.5  # a final answer with no timer to wait for


@contextlib.contextmanager
def did(sbc, number, group=None, uri=None):
    """A DID row for one test, visible to the next call (a new routing generation empties the caches)."""
    group_sql = "NULL" if group is None else str(group)
    uri_sql = "NULL" if uri is None else f"'{uri}'"
    db(sbc, f"INSERT INTO did_routing (did, gateway_group, gateway_uri, tenant) "
            f"VALUES ('{number}', {group_sql}, {uri_sql}, '')")
    new_routing_generation(sbc)
    try:
        yield number
    finally:
        db(sbc, f"DELETE FROM did_routing WHERE did='{number}'")
        new_routing_generation(sbc)


def setup_times(uac: Sipp) -> dict[str, float]:
    """Call-ID -> seconds from the caller's first INVITE to the 200 it received, for answered calls."""
    sent: dict[str, float] = {}
    for m in uac.sent():
        if m.method == "INVITE":
            sent.setdefault(m.call_id, m.at)
    answered = {m.call_id: m.at for m in uac.received() if m.status == 200 and m.cseq_method == "INVITE"}
    return {c: answered[c] - sent[c] for c in sent if c in answered}


def test_503_from_the_first_gateway_fails_over_and_the_call_has_media(quiet_sbc, work):
    """Media on the answered attempt, judged at the far ends: each decodes the other's tone."""
    before = scrape(quiet_sbc)
    failing = start_peers(work, quiet_sbc, ["127.0.3.6"], scenario="uas_503.xml", args=())["127.0.3.6"]
    try:
        with did(quiet_sbc, "+14155550901", group=1, uri="sip:127.0.3.6:5060"):
            call = InboundCall("failover", number="+14155550901", gateway=("127.0.3.1", 5060), sbc=quiet_sbc)
            try:
                heard = talk_both_ways(call, MEDIA_SECONDS)
                call.hang_up()
            finally:
                call.close()
    finally:
        failing.stop()
    assert len(failing.received("INVITE")) == 1
    assert [m.start.split()[1] for m in call.gateway.requests if m.method == "INVITE"] == [
        "sip:+14155550901@127.0.3.1:5060"]
    print(f"\nafter the 503, {MEDIA_SECONDS} s each way: heard (packets, tone share) {heard}")
    assert_heard(heard, MEDIA_SECONDS)
    # Counted: one failover after a 503, then one call answered in group 1 (the call, not the attempts).
    after = scrape(quiet_sbc)
    assert delta(after, before, "kamailio_sbc_failovers_total", direction="inbound", code="503") == 1
    assert delta(after, before, "kamailio_sbc_group_calls_total", direction="inbound", group="1",
                 **{"class": "2xx"}) == 1
    assert delta_sum(after, before, "kamailio_sbc_calls_total") == 1


def test_503_inside_a_group_goes_to_the_other_gateway_and_probing_brings_it_back(quiet_sbc, work):
    good = start_peers(work, quiet_sbc, ["127.0.3.3"])
    bad = start_peers(work, quiet_sbc, ["127.0.3.2"], scenario="uas_503.xml", args=())
    try:
        uac = run_uac(work, "carrier", SBC_PRIVATE, "+14155550102", "127.0.4.2", calls=10, rate=5,
                      duration_ms=100)
        assert uac.wait(60) == 0, uac.log()
        wait_state(quiet_sbc, ["127.0.3.2"], active=True)  # it answers probes: back in rotation
    finally:
        stop_peers({**good, **bad})
    assert len(good["127.0.3.3"].received("INVITE")) == 10
    assert len(bad["127.0.3.2"].received("INVITE")) >= 1


def test_silent_first_gateway_fails_over_after_the_no_reply_timer(quiet_sbc, work):
    peers = start_peers(work, quiet_sbc, ["127.0.3.1"])
    silent = start_peers(work, quiet_sbc, ["127.0.3.7"], scenario="uas_silent.xml", args=())["127.0.3.7"]
    try:
        with did(quiet_sbc, "+14155550902", group=1, uri="sip:127.0.3.7:5060"):
            uac = run_uac(work, "carrier", SBC_PRIVATE, "+14155550902", "127.0.4.2")
            assert uac.wait(30) == 0, uac.log()
    finally:
        silent.stop()
        stop_peers(peers)
    assert silent.received("INVITE"), "the first attempt went to the silent gateway"
    assert len(peers["127.0.3.1"].received("INVITE")) == 1
    [seconds] = setup_times(uac).values()
    print(f"\nINVITE -> 200 with a silent first gateway (GATEWAY_NO_REPLY_MS={NO_REPLY * 1000:.0f}): "
          f"{seconds * 1000:.0f} ms")
    # tm's timers run on 1/16 s ticks, so the timer may fire up to one tick early (and SIPp's stamps lag by
    # up to 20 ms); past it, the second attempt's answer within the stated tolerance.
    assert NO_REPLY - TM_TICK - 0.02 <= seconds < NO_REPLY + TOLERANCE


def test_every_group_1_gateway_down_lands_on_the_backup_group(quiet_sbc, work):
    wait_state(quiet_sbc, ["127.0.3.1"], active=False)  # nothing runs there
    peers = start_peers(work, quiet_sbc, ["127.0.3.9"])
    try:
        uac = run_uac(work, "carrier", SBC_PRIVATE, "4155550101", "127.0.4.2")
        assert uac.wait(30) == 0, uac.log()
    finally:
        stop_peers(peers)
    assert [i.request_uri for i in peers["127.0.3.9"].received("INVITE")] == ["sip:+14155550101@127.0.3.9:5060"]


def test_every_gateway_down_answers_503_promptly_and_holds_nothing(quiet_sbc, work):
    wait_state(quiet_sbc, ["127.0.3.1", "127.0.3.9"], active=False)
    started = time.monotonic()
    assert send_request("127.0.4.2", ("127.0.1.1", 5060), ruser="4155550101") == 503
    marked_down = time.monotonic() - started
    # Not yet known to be down: a dead direct URI costs one no-reply timer, then the (down) backup group.
    with did(quiet_sbc, "+14155550903", uri="sip:127.0.3.8:5060"):
        started = time.monotonic()
        assert send_request("127.0.4.2", ("127.0.1.1", 5060), ruser="+14155550903", timeout=5) == 503
        unknown_dead = time.monotonic() - started
    print(f"\n503 when all gateways are marked down: {marked_down * 1000:.0f} ms; "
          f"when the first is dead but not yet marked: {unknown_dead * 1000:.0f} ms")
    # Nothing to wait for when all are marked down; one no-reply timer (then a group marked down) otherwise.
    assert marked_down < PROMPT and NO_REPLY - TM_TICK <= unknown_dead < NO_REPLY + TOLERANCE
    assert wait_for(lambda: not active_dialogs(quiet_sbc), 5)
    assert rtpengine_calls(quiet_sbc.settings) == []


def test_gateway_killed_under_steady_traffic_is_skipped_then_used_again(quiet_sbc, work):
    peers = start_peers(work, quiet_sbc, ["127.0.3.2", "127.0.3.3"], args=())
    uac = run_uac(work, "carrier", SBC_PRIVATE, "+14155550102", "127.0.4.2", calls=200, rate=10,
                  limit=50, duration_ms=200, timeout=90)
    restarted = None
    try:
        time.sleep(4)
        killed_pid = peers["127.0.3.2"].proc.pid
        peers["127.0.3.2"].kill()
        killed_at = time.time()
        wait_state(quiet_sbc, ["127.0.3.2"], active=False, timeout=10)
        marked_at = time.time()
        time.sleep(5)
        restarted = Sipp(work, "restarted", "uas_answer.xml", "127.0.3.2").start()
        wait_state(quiet_sbc, ["127.0.3.2"], active=True, timeout=10)
        rc = uac.wait(90)
    finally:
        uac.stop()
        stop_peers(peers)
        if restarted:
            restarted.stop()
    invites = {m.call_id: m.at for m in uac.sent() if m.method == "INVITE"}
    setups = setup_times(uac)
    # Calls placed once probing had marked the gateway down never waited for it.
    slow_after_mark = {c: t for c, t in setups.items() if invites[c] > marked_at + 0.2 and t > 0.5}
    failed_byes = {m.call_id for m in uac.received() if m.cseq_method == "BYE" and m.status and m.status >= 300}
    # SIPp's To-tag starts with the answering process's pid: which calls the killed gateway held.
    held_by_killed = {m.call_id for m in uac.received() if m.status == 200 and m.cseq_method == "INVITE"
                      and f"tag={killed_pid}SIPpTag" in m.headers("To")[0]}
    failovers = [t for t in setups.values() if t > 0.9]
    print(f"\nkilled one of two gateways at 10 cps: {len(invites)} calls, {len(setups)} answered, "
          f"{len(failovers)} answered after a failover, detected down after {marked_at - killed_at:.1f} s, "
          f"BYEs lost with the dead gateway: {len(failed_byes)}, SIPp exit {rc}")
    assert len(invites) == 200
    assert len(setups) == 200, "every call was answered, by the survivor or after failover"
    # A dead gateway misses DS_PROBING_THRESHOLD probes, one per DS_PING_INTERVAL, the first up to an interval late.
    assert marked_at - killed_at < PING_INTERVAL * (PROBING_THRESHOLD + 1) + TOLERANCE
    assert not slow_after_mark, f"calls after detection waited for the dead gateway: {slow_after_mark}"
    assert len(restarted.received("INVITE")) > 0, "the restarted gateway is used again"
    assert failed_byes <= held_by_killed, "only calls established on the killed gateway lose their BYE"


def test_cancel_during_a_failover_attempt_leaves_no_branch_and_no_media(quiet_sbc, work):
    ringing = start_peers(work, quiet_sbc, ["127.0.3.1"], scenario="uas_ring_until_cancel.xml", args=())
    silent = start_peers(work, quiet_sbc, ["127.0.3.7"], scenario="uas_silent.xml", args=())
    try:
        with did(quiet_sbc, "+14155550904", group=1, uri="sip:127.0.3.7:5060"):
            uac = run_uac(work, "carrier", SBC_PRIVATE, "+14155550904", "127.0.4.2", scenario="uac_cancel.xml")
            assert uac.wait(30) == 0, uac.log()  # 180 from the second attempt, CANCEL, 200, 487, ACK
            assert wait_for(lambda: not active_dialogs(quiet_sbc), 5)
            assert wait_for(lambda: rtpengine_calls(quiet_sbc.settings) == [], 5)
    finally:
        stop_peers({**ringing, **silent})
    assert [m.method for m in ringing["127.0.3.1"].received()] == ["INVITE", "CANCEL", "ACK"]
    assert silent["127.0.3.7"].received("INVITE")


def test_outbound_first_carrier_down_goes_to_the_second(quiet_sbc, work):
    wait_state(quiet_sbc, ["127.0.4.1"], active=False)  # carrier A: nothing runs there
    carrier_b = start_peers(work, quiet_sbc, ["127.0.4.3"])
    try:
        gw = run_uac(work, "gateway", "127.0.2.1:5060", "+12125550100", OUTBOUND_CALLER)
        assert gw.wait(30) == 0, gw.log()
    finally:
        stop_peers(carrier_b)
    assert [i.request_uri for i in carrier_b["127.0.4.3"].received("INVITE")] == ["sip:+12125550100@127.0.4.3:5060"]


def test_outbound_503_from_the_first_carrier_goes_to_the_second(quiet_sbc, work):
    carriers = {**start_peers(work, quiet_sbc, ["127.0.4.1"], scenario="uas_503.xml", args=()),
                **start_peers(work, quiet_sbc, ["127.0.4.3"])}
    try:
        gw = run_uac(work, "gateway", "127.0.2.1:5060", "+12125550100", OUTBOUND_CALLER)
        assert gw.wait(30) == 0, gw.log()
    finally:
        stop_peers(carriers)
    assert len(carriers["127.0.4.1"].received("INVITE")) == 1  # priority 10: tried first
    assert len(carriers["127.0.4.3"].received("INVITE")) == 1
