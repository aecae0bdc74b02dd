"""Post-dial delay and time to answer per attempt, measured against a gateway that rings after a known
delay: the histograms, the call records and `sbcctl cdr` must all show it."""

import json
import time

from testkit.harness import (
    cdr_rows,
    delta,
    delta_sum,
    last_cdr_id,
    run_uac,
    scrape,
    start_peers,
    stop_peers,
    wait_for,
)
from testkit.rtp import media_address
from tests.integration.inbound_call import InboundCall

RING_MS = 300  # the gateway's 180 comes this long after the INVITE; its 200 50 ms after the 180
CALLS = 5
LABELS = {"direction": "inbound", "tenant": "none", "group": "1"}
PDD = "kamailio_sbc_post_dial_delay_seconds"
ANSWER = "kamailio_sbc_answer_delay_seconds"
ROUNDED = 0.0005  # the records keep whole milliseconds, rounded (kemi/telemetry/records.py)
# SIPp stamps a message in its log when its loop handles it, not when it crosses the wire: a descheduled
# SIPp stamps late. Allowed that much either side (measured on this machine: see the printed figures).
STAMP = 0.005


def intervals(sipp, started_by: str, request_at, reply_at) -> list[tuple[float, float]]:
    """Per call, in the order calls began: (INVITE -> first 18x, INVITE -> 200) as `sipp` saw them."""
    calls: dict[str, dict[str, float]] = {}
    for m in sorted(sipp.sent() + sipp.received(), key=lambda m: m.at):
        if m.direction == request_at and m.method == "INVITE":
            calls.setdefault(m.call_id, {}).setdefault("invite", m.at)
        elif m.direction == reply_at and m.cseq_method == "INVITE" and m.status and m.status >= 180:
            times = calls.setdefault(m.call_id, {})
            times.setdefault("18x" if m.status < 200 else "200", m.at)
    assert all("invite" in t and "200" in t for t in calls.values()), (started_by, calls)
    if started_by == "gateway":
        assert all("18x" in t for t in calls.values()), calls
    # The carrier may see no 18x: a worker that reads the 180 after another relayed the 200 (the two 50 ms
    # apart) finds the transaction answered and tm drops the late provisional (seen on the image, once in
    # 5 calls, on the first call). The SBC then records the call as ringing when it answered.
    ordered = sorted(calls.values(), key=lambda t: t["invite"])
    return [(t.get("18x", t["200"]) - t["invite"], t["200"] - t["invite"]) for t in ordered]


def test_a_gateway_ringing_after_300_ms_shows_as_its_post_dial_delay(quiet_sbc, work, sbcctl):
    """The far ends are the oracle, whatever the load: one call at a time, each delay the SBC records must
    lie between what the gateway took (INVITE in, 18x/200 out) and what the carrier waited (INVITE out,
    18x/200 in), which contain it by construction (the SBC starts its clock when it relays the INVITE and
    stops it when the reply is read from the socket)."""
    gws = start_peers(work, quiet_sbc, ["127.0.3.1"], args=("-rtp_echo", "-d", str(RING_MS)))
    before, first = scrape(quiet_sbc), last_cdr_id(quiet_sbc)
    try:
        uac = run_uac(work, "timed", "127.0.1.1:5060", "4155550101", "127.0.4.2", calls=CALLS, rate=10, limit=1,
                      duration_ms=100)
        assert uac.wait(30) == 0, uac.log()
    finally:
        stop_peers(gws)
    after = scrape(quiet_sbc)
    at_gateway = intervals(gws["127.0.3.1"], "gateway", "received", "sent")
    at_carrier = intervals(uac, "carrier", "sent", "received")
    rows = cdr_rows(quiet_sbc, first)
    recorded = [(int(r["pdd_ms"]) / 1000, int(r["answer_ms"]) / 1000) for r in rows]  # rows in id order
    assert len(rows) == len(at_gateway) == len(at_carrier) == CALLS
    print("\nper call, ms: gateway took / SBC recorded / carrier waited (18x; 200): " + "; ".join(
        f"{g[0] * 1000:.1f}/{r[0] * 1000:.0f}/{c[0] * 1000:.1f}; {g[1] * 1000:.1f}/{r[1] * 1000:.0f}/{c[1] * 1000:.1f}"
        for g, r, c in zip(at_gateway, recorded, at_carrier, strict=True)))
    for gateway, record, carrier in zip(at_gateway, recorded, at_carrier, strict=True):
        for took, kept, waited in zip(gateway, record, carrier, strict=True):
            assert took - ROUNDED - STAMP <= kept <= waited + ROUNDED + STAMP, (gateway, record, carrier)
    # The histograms hold the same calls, unrounded: counts per bucket and the sums agree with the records.
    assert delta(after, before, f"{PDD}_count", **LABELS) == CALLS
    assert delta(after, before, f"{ANSWER}_count", **LABELS) == CALLS
    # xhttp_prom prints the bounds with %f
    assert delta_sum(after, before, f"{PDD}_bucket", le="0.500000") == sum(r[0] < 0.5 for r in recorded)
    assert delta_sum(after, before, f"{PDD}_bucket", le="0.250000") == sum(r[0] < 0.25 for r in recorded)
    # A record's post-dial delay is never after its answer (kemi/telemetry/records.py: a 18x a busy worker stamped late
    # rang as it answered), so it may be below the histogram's; the time to answer is the same value.
    pdd_total, answer_total = (delta(after, before, f"{m}_sum", **LABELS) for m in (PDD, ANSWER))
    assert pdd_total >= sum(r[0] for r in recorded) - CALLS * ROUNDED, (pdd_total, recorded)
    assert abs(answer_total - sum(r[1] for r in recorded)) <= CALLS * ROUNDED, (answer_total, recorded)
    shown = json.loads(sbcctl("--json", "cdr", "--limit", str(CALLS)).stdout)
    assert sorted(r["pdd_ms"] for r in shown) == sorted(int(r["pdd_ms"]) for r in rows)


def test_the_agents_first_rtp_is_timed_from_its_answer(quiet_sbc):
    """A gateway that answers and speaks 1.2 s later, and one that streams at once: the call records'
    agent_rtp_ms and the histogram say so, to within one 100 ms poll."""
    last = last_cdr_id(quiet_sbc)
    before = scrape(quiet_sbc)
    measured = {}
    for name, silence in (("late-agent", 1.2), ("prompt-agent", 0.0)):
        call = InboundCall(name, sbc=quiet_sbc)
        try:
            call.carrier_media.start(media_address(call.answer.body), 2.5)
            time.sleep(silence)  # the agent's pipeline starting
            call.gateway_media.start(media_address(call.invite.body), 1.0)
            call.carrier_media.wait()
            call.hang_up()
        finally:
            call.close()
        rows = wait_for(lambda c=call.call_id: [r for r in cdr_rows(quiet_sbc, last) if r["call_id"] == c], 10)
        measured[name] = int(rows[0]["agent_rtp_ms"]) if rows and rows[0]["agent_rtp_ms"] != "NULL" else None
    print(f"\nagent_rtp_ms: {measured}")
    assert measured["late-agent"] is not None and 1200 <= measured["late-agent"] <= 1500, measured
    assert measured["prompt-agent"] is not None and measured["prompt-agent"] <= 250, measured
    assert delta(scrape(quiet_sbc), before, "kamailio_sbc_agent_first_rtp_seconds_count", tenant="voxket") == 2
