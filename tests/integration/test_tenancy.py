"""Tenants on the real stack, with the demo tenants of kamailio/demo-data.sql:
livekit-primary (set 21: 127.0.3.21 then .22, backup allowed), digipanda (set 22: .23, caller ID
replaced), voxket (set 23: .24, 2 concurrent calls), fabriq (disabled)."""

import collections
import time

from testkit.harness import SCENARIOS, run_uac, send_request, start_peers, stop_peers, wait_for, wait_state
from testkit.sipua import Caller, wait_until
from tests.integration.conftest import active_dialogs

PRIMARY, DIGIPANDA, VOXKET = ["127.0.3.21", "127.0.3.22"], ["127.0.3.23"], ["127.0.3.24"]


def caller_scenario(work, caller: str) -> str:
    """uac_call.xml presenting another calling number in From."""
    path = work / f"uac-from-{caller.strip('+')}.xml"
    path.write_text((SCENARIOS / "uac_call.xml").read_text().replace("+12125550199", caller))
    return str(path)


def test_a_tenants_calls_reach_only_its_gateways_even_with_its_first_gateway_down(quiet_sbc, work):
    peers = start_peers(work, quiet_sbc, PRIMARY + DIGIPANDA, args=())
    placed = 0
    try:
        for number in ("+14155550201", "4155550202"):
            uac = run_uac(work, f"a-{number}", "127.0.1.1:5060", number, "127.0.4.2", calls=50, rate=10,
                          duration_ms=100)
            assert uac.wait(60) == 0, uac.log()
            placed += 50
        peers["127.0.3.21"].stop()  # the tenant's first gateway goes down
        wait_state(quiet_sbc, ["127.0.3.21"], active=False)
        for number in ("+14155550201", "4155550202"):
            uac = run_uac(work, f"b-{number}", "127.0.1.1:5060", number, "127.0.4.2", calls=50, rate=10,
                          duration_ms=100)
            assert uac.wait(60) == 0, uac.log()
            placed += 50
    finally:
        stop_peers(peers)
    own = sum(len(peers[ip].received("INVITE")) for ip in PRIMARY)
    misrouted = len(peers["127.0.3.23"].received("INVITE"))
    print(f"\ntenant isolation: {placed} calls placed to livekit-primary, {own} reached its gateways, "
          f"{misrouted} misrouted")
    assert placed == 200 and own == 200 and misrouted == 0
    assert len(peers["127.0.3.22"].received("INVITE")) >= 100  # all calls after .21 went down


def test_context_headers_reach_the_gateway_and_never_the_carrier(quiet_sbc, work):
    peers = start_peers(work, quiet_sbc, PRIMARY, args=())
    try:
        uac = run_uac(work, "carrier", "127.0.1.1:5060", "4155550201", "127.0.4.2")
        assert uac.wait(30) == 0, uac.log()
    finally:
        stop_peers(peers)
    [invite] = [i for ip in PRIMARY for i in peers[ip].received("INVITE")]
    assert invite.headers("X-Original-Dialed") == ["4155550201"]
    assert invite.headers("X-DID") == ["+14155550201"]
    assert invite.headers("X-Tenant") == ["livekit-primary"]
    assert invite.headers("X-Carrier-Call-ID") == []  # the carrier's Call-ID never crosses
    assert not any("X-" in m.text for m in uac.received())


def test_outbound_caller_id_policy(quiet_sbc, work):
    carrier = start_peers(work, quiet_sbc, ["127.0.4.1"], args=())
    try:
        own = run_uac(work, "own-did", "127.0.2.1:5060", "+12125550100", "127.0.3.21",
                      scenario=caller_scenario(work, "+14155550202"))
        assert own.wait(30) == 0, own.log()
        for caller in ("+14155550301", "+19995550100"):  # digipanda's DID, a number nobody owns
            assert send_request("127.0.3.21", ("127.0.2.1", 5060), ruser="+12125550100", caller=caller) == 403
        replaced = run_uac(work, "replaced", "127.0.2.1:5060", "+12125550100", "127.0.3.23",
                           scenario=caller_scenario(work, "+19995550100"))
        assert replaced.wait(30) == 0, replaced.log()
    finally:
        stop_peers(carrier)
    froms = [m.headers("From")[0] for m in carrier["127.0.4.1"].received("INVITE")]
    pais = [m.headers("P-Asserted-Identity")[0] for m in carrier["127.0.4.1"].received("INVITE")]
    assert "sip:+14155550202@127.0.1.1" in froms[0]
    assert "sip:+14155550301@127.0.1.1" in froms[1]  # digipanda's policy: replace with its default DID
    assert pais == ["<sip:+14155550202@127.0.1.1>", "<sip:+14155550301@127.0.1.1>"]
    assert len(froms) == 2  # the refused calls reached no carrier


def test_concurrent_call_limit_refuses_the_next_call_until_one_ends(quiet_sbc, work):
    peers = start_peers(work, quiet_sbc, VOXKET, args=())
    try:
        held = run_uac(work, "held", "127.0.1.1:5060", "+14155550401", "127.0.4.2", calls=2, rate=10, limit=2,
                       duration_ms=4000)
        assert wait_for(lambda: len(active_dialogs(quiet_sbc)) == 2, 10)
        assert send_request("127.0.4.2", ("127.0.1.1", 5060), ruser="+14155550401") == 486
        assert held.wait(30) == 0, held.log()
        time.sleep(0.2)
        after = run_uac(work, "after", "127.0.1.1:5060", "+14155550401", "127.0.4.2")
        assert after.wait(30) == 0, after.log()
    finally:
        stop_peers(peers)
    assert len(peers["127.0.3.24"].received("INVITE")) == 3


def test_a_tenants_attempts_over_its_max_cps_in_one_second_get_503_with_retry_after(quiet_sbc, work):
    """digipanda: max_cps 10, counted per wall-clock second (kemi/access/admission.py). 14 INVITEs sent from
    Python right after a second begins (no process start between the clock and the burst): 10 reach its
    gateway, 4 are refused. The expected split is derived from the seconds the INVITEs were sent in."""
    peers = start_peers(work, quiet_sbc, DIGIPANDA, args=())
    caller = Caller(("127.0.4.2", 5078), ("127.0.1.1", 5060), "+14155550301", [])
    try:
        time.sleep(1.05 - time.time() % 1)
        sent = []
        for n in range(14):
            caller.send(caller.invite(f"burst{n}-{time.monotonic_ns()}@127.0.4.2").render(), caller.sbc)
            sent.append(time.time())
        assert wait_until(lambda: caller.pump() or len(caller.invite_answers()) >= 14, 10), caller.codes
        time.sleep(0.5)  # the BYEs of the answered calls
        caller.pump()
    finally:
        stop_peers(peers)
        caller.close()
    per_second = collections.Counter(int(t) for t in sent)
    over = sum(max(0, n - 10) for n in per_second.values())
    answers = caller.invite_answers()
    refused = [m for m in answers if m.status == 503]
    print(f"\nmax_cps 10: 14 INVITEs sent in {(sent[-1] - sent[0]) * 1000:.1f} ms from "
          f"{sent[0] % 1:.3f} s into a second; {len(peers['127.0.3.23'].received('INVITE'))} reached the "
          f"gateway, {len(refused)} refused")
    assert list(per_second.values()) == [14], per_second  # the burst stayed in its second (8 ms here)
    assert len(refused) == over == 4 and all(
        "Tenant Call Rate Exceeded" in m.start and m.all("retry-after") == ["1"] for m in refused), [
        m.start for m in refused]
    assert len(peers["127.0.3.23"].received("INVITE")) == 10
    assert collections.Counter(m.status for m in answers) == {200: 10, 503: 4}


def test_disabled_tenant_did_gets_403(quiet_sbc):
    assert send_request("127.0.4.2", ("127.0.1.1", 5060), ruser="+14155550501") == 403
