"""Post-dial delay and time to answer per attempt, measured against a gateway that rings after a known
delay: the histograms, the call records and `sbcctl cdr` must all show it."""

import json

from .harness import cdr_rows, delta, delta_sum, last_cdr_id, run_uac, scrape, start_peers, stop_peers

RING_MS = 300  # the gateway's 180 comes this long after the INVITE; its 200 50 ms after the 180
CALLS = 5
# SIPp counts its pause in whole milliseconds of its own clock, so a "300 ms" pause can end a
# little early (CI: a CDR with pdd_ms 299); the records also truncate to whole ms.
EARLY_MS = 5
LABELS = {"direction": "inbound", "tenant": "none", "group": "1"}
PDD = "kamailio_sbc_post_dial_delay_seconds"
ANSWER = "kamailio_sbc_answer_delay_seconds"


def test_a_gateway_ringing_after_300_ms_shows_as_its_post_dial_delay(quiet_sbc, work, sbcctl):
    gws = start_peers(work, quiet_sbc, ["127.0.3.1"], args=("-rtp_echo", "-d", str(RING_MS)))
    before, first = scrape(quiet_sbc), last_cdr_id(quiet_sbc)
    try:
        uac = run_uac(work, "timed", "127.0.1.1:5060", "4155550101", "127.0.4.2", calls=CALLS, rate=10,
                      duration_ms=100)
        assert uac.wait(30) == 0, uac.log()
    finally:
        stop_peers(gws)
    after = scrape(quiet_sbc)
    pdd, answer = (delta(after, before, f"{m}_sum", **LABELS) / CALLS for m in (PDD, ANSWER))
    print(f"\nmean post-dial delay {pdd * 1000:.0f} ms, time to answer {answer * 1000:.0f} ms "
          f"(gateway: 180 after {RING_MS} ms, 200 50 ms later)")
    assert delta(after, before, f"{PDD}_count", **LABELS) == CALLS
    assert delta(after, before, f"{ANSWER}_count", **LABELS) == CALLS
    # xhttp_prom prints the bounds with %f
    assert delta_sum(after, before, f"{PDD}_bucket", le="0.250000") == 0
    assert delta(after, before, f"{PDD}_bucket", le="0.500000", **LABELS) == CALLS
    assert (RING_MS - EARLY_MS) / 1000 <= pdd < RING_MS / 1000 + 0.15
    # The 200 follows the 180 by 50 ms at the gateway; each is seen a few ms late (a worker's queue).
    assert pdd + 0.025 <= answer < pdd + 0.15

    rows = cdr_rows(quiet_sbc, first)
    assert len(rows) == CALLS
    for row in rows:
        assert RING_MS - EARLY_MS <= int(row["pdd_ms"]) < RING_MS + 150, row
        # One call's 180 may be stamped late by a busy worker and its 200 not (seen: 376 ms and 394 ms under
        # a parallel run; 369 ms and 359 ms in CI, recorded as 359 and 359: kemi/records.py): per call only
        # the order; the 50 ms gap is asserted on the mean above.
        assert 0 <= int(row["answer_ms"]) - int(row["pdd_ms"]) < 150, row
    shown = json.loads(sbcctl("--json", "cdr", "--limit", str(CALLS)).stdout)
    assert sorted(r["pdd_ms"] for r in shown) == sorted(int(r["pdd_ms"]) for r in rows)
