"""Per peer row caps on the real stack: a row at its concurrent calls or over its calls per second is passed
over for the next one of the chain (the backup group last), never answered busy; a peer's 503/429 with
Retry-After keeps its row out that long, and it is tried again after. Rows are added with sbcctl, as an
operator would; the gauges and `sbcctl status` show each capped row's calls against its cap."""

import json
import time

import pytest

from testkit.harness import (
    delta,
    dispatcher_states,
    gateways,
    remove_gateways_since,
    run_uac,
    scrape,
    start_peers,
    stop_peers,
    wait_for,
)

SBC_PRIVATE = "127.0.1.1:5060"
GROUP = "8"
A, B, BACKUP = "127.0.3.51", "127.0.3.52", "127.0.3.9"


@pytest.fixture
def group_8(quiet_sbc, sbcctl):
    """`add(ip, *options)` adds a row to set 8 with sbcctl; DID +14155550808 routes there (then the backup
    group). Everything is removed afterwards."""
    before = {row["id"] for row in gateways(sbcctl)}

    def add(ip: str, *options: str) -> None:
        done = sbcctl("gateway", "add", "--uri", f"sip:{ip}:5060", "--group", GROUP, *options)
        assert done.returncode == 0, done.stderr
        if len(gateways(sbcctl)) == len(before) + 1:  # the set has a gateway now: the DID may name it
            assert sbcctl("did", "add", "+14155550808", "--group", GROUP).returncode == 0
    try:
        yield add
    finally:
        sbcctl("did", "remove", "+14155550808")
        remove_gateways_since(sbcctl, before)


def skipped(after, before, ip: str, reason: str) -> float:
    return delta(after, before, "kamailio_sbc_gateway_skipped_total", gateway=f"sip:{ip}:5060", reason=reason)


def test_full_rows_are_passed_over_and_the_call_past_them_lands_on_the_backup(quiet_sbc, sbcctl, group_8, work):
    group_8(A, "--max-calls", "2")
    group_8(B, "--max-calls", "2")
    peers = start_peers(work, quiet_sbc, [A, B, BACKUP])
    before = scrape(quiet_sbc)
    try:
        uac = run_uac(work, "capped", SBC_PRIVATE, "+14155550808", "127.0.4.2", calls=5, rate=10,
                      duration_ms=6000)
        # While the 5 calls are up: each capped row carries its 2, seen by the gauges and sbcctl status.
        assert wait_for(lambda: sum(len(p.received("INVITE")) for p in peers.values()) == 5, 10)
        during = scrape(quiet_sbc)
        shown = json.loads(sbcctl("--json", "status").stdout)["peers"]
        assert uac.wait(60) == 0, uac.log()
    finally:
        stop_peers(peers)
    counts = {ip: len(p.received("INVITE")) for ip, p in peers.items()}
    print(f"\n5 calls of 6 s to two rows capped at 2 calls: INVITEs per peer {counts}")
    assert counts == {A: 2, B: 2, BACKUP: 1}  # the fifth answered by the backup, not refused
    assert uac.failed_calls() == set()
    for ip in (A, B):
        labels = {"gateway": f"sip:{ip}:5060"}
        assert during[("kamailio_sbc_gateway_calls", tuple(labels.items()))] == 2
        assert during[("kamailio_sbc_gateway_max_calls", tuple(labels.items()))] == 2
        assert {(p["calls"], p["max_calls"]) for p in shown if p["uri"] == f"sip:{ip}:5060"} == {("2/2", 2)}
    after = scrape(quiet_sbc)
    assert skipped(after, before, A, "calls") >= 1 and skipped(after, before, B, "calls") >= 1
    assert after[("kamailio_sbc_gateway_calls", (("gateway", f"sip:{A}:5060"),))] == 0  # released at the end


def test_a_row_over_its_rate_is_passed_over_within_the_second(quiet_sbc, group_8, work):
    group_8(A, "--max-cps", "1")
    peers = start_peers(work, quiet_sbc, [A, BACKUP])
    before = scrape(quiet_sbc)
    try:
        uac = run_uac(work, "rated", SBC_PRIVATE, "+14155550808", "127.0.4.2", calls=6, rate=12,
                      duration_ms=200)
        assert uac.wait(60) == 0, uac.log()
    finally:
        stop_peers(peers)
    counts = {ip: len(p.received("INVITE")) for ip, p in peers.items()}
    print(f"\n6 calls in 0.5 s to a row capped at 1 call/s: INVITEs per peer {counts}")
    # One per wall-clock second the burst touched (it may straddle a second's boundary), the rest past it.
    assert 1 <= counts[A] <= 2 and counts[A] + counts[BACKUP] == 6, counts
    assert skipped(scrape(quiet_sbc), before, A, "cps") == 6 - counts[A]


@pytest.mark.parametrize("code", [503, 429])
def test_a_busy_peers_retry_after_keeps_its_row_out_that_long_then_it_is_tried_again(
        quiet_sbc, group_8, work, code):
    hold = 3
    group_8(A)
    busy = start_peers(work, quiet_sbc, [A], scenario=f"uas_{code}_retry_after.xml", args=("-key", "retry", str(hold)))
    backup = start_peers(work, quiet_sbc, [BACKUP])
    before = scrape(quiet_sbc)
    try:
        first = run_uac(work, f"busy-{code}-1", SBC_PRIVATE, "+14155550808", "127.0.4.2", duration_ms=100)
        assert first.wait(30) == 0, first.log()
        held_at = time.monotonic()
        assert dispatcher_states(quiet_sbc)[f"sip:{A}:5060"].startswith("A")  # held, not marked down
        during = run_uac(work, f"busy-{code}-2", SBC_PRIVATE, "+14155550808", "127.0.4.2", calls=4, rate=10,
                         duration_ms=100)
        assert during.wait(30) == 0, during.log()
        assert time.monotonic() - held_at < hold, "the calls meant for the hold came after it"
        assert len(busy[A].received("INVITE")) == 1  # held off: the four went straight to the backup
        time.sleep(max(0.0, hold + 1.5 - (time.monotonic() - held_at)))  # htable's timer: 1 s
        again = run_uac(work, f"busy-{code}-3", SBC_PRIVATE, "+14155550808", "127.0.4.2", duration_ms=100)
        assert again.wait(30) == 0, again.log()
    finally:
        stop_peers({**busy, **backup})
    assert len(busy[A].received("INVITE")) == 2  # tried again once the hold expired
    assert len(backup[BACKUP].received("INVITE")) == 6  # every call answered, none refused
    after = scrape(quiet_sbc)
    assert skipped(after, before, A, "held") == 4
    assert delta(after, before, "kamailio_sbc_failovers_total", direction="inbound", code=str(code)) == 2
