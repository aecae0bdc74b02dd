"""Kamailio restarted under the same rtpengine: the calls after it are anchored like any other.

Found by `make bench` on the image: the rtpengine module's ng cookie is server_id, PID and a per-process
counter from 0, and rtpengine answers a cookie it saw in the last ~30 s with its cached reply. A container's
PIDs repeat from one start to the next, so with a fixed server_id the first rtpengine commands after a
restart got the replies of the calls before it (half the bench's calls failed; the others kept another
call's SDP). On the host backend the PIDs differ anyway; the compose run is the one that catches it.
"""

import threading

from .harness import rtpengine_calls, run_uac, start_peers, stop_peers, wait_state

SBC_PRIVATE = "127.0.1.1:5060"
CALLS = 8


def _calls_seen_by_rtpengine(sbc, stop: threading.Event, seen: set[str]) -> None:
    while not stop.wait(0.05):
        seen.update(rtpengine_calls(sbc.settings))


def test_calls_after_a_kamailio_restart_each_get_their_own_rtpengine_session(quiet_sbc, work):
    gws = start_peers(work, quiet_sbc, ["127.0.3.1"])
    try:
        before = run_uac(work, "before", SBC_PRIVATE, "4155550101", "127.0.4.2", calls=CALLS, rate=20,
                         duration_ms=100)
        assert before.wait(30) == 0, before.log()
        quiet_sbc.kamailio.stop()
        quiet_sbc.kamailio.start()
        wait_state(quiet_sbc, ["127.0.3.1"], active=True)

        seen: set[str] = set()
        stop = threading.Event()
        watcher = threading.Thread(target=_calls_seen_by_rtpengine, args=(quiet_sbc, stop, seen))
        watcher.start()
        try:
            after = run_uac(work, "after", SBC_PRIVATE, "4155550101", "127.0.4.2", calls=CALLS, rate=4,
                            limit=CALLS, duration_ms=1000)
            assert after.wait(60) == 0, after.log()
        finally:
            stop.set()
            watcher.join()
    finally:
        stop_peers(gws)
    placed = {m.call_id for m in after.sent() if m.method == "INVITE"}
    assert len(placed) == CALLS
    print(f"\nafter the restart: {len(placed & seen)}/{CALLS} calls had an rtpengine session while up")
    assert placed <= seen, f"no rtpengine session for {sorted(placed - seen)}"
    assert len(gws["127.0.3.1"].received("INVITE")) == 2 * CALLS
