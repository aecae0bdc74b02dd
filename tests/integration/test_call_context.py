"""Caller context on the real stack: a tenant allowing Diversion, History-Info and one X- header; a carrier's
call carrying those and others. The agent's side receives the numbers and the allowed value, nothing of the
carrier's network and no header the tenant did not allow; the agent's X- headers on its 200 and its BYE
land in the call record (and never reach the carrier)."""

from __future__ import annotations

import json
import time

import pytest

from testkit.harness import cdr_rows, dispatcher_states, wait_for
from testkit.sipua import AnsweringPeer, Caller, Dialog, Msg, parse, reply, sdp, tag, uri_of, wait_until

GATEWAY = ("127.0.3.30", 5060)  # demo data: tenant acme's own set (25)
CARRIER = ("127.0.4.2", 5083)
ACME_DID = "+12125550199"
SENT = {  # what the carrier's INVITE carries besides the usual
    "Diversion": '"Front desk" <sip:+14155550100@127.0.4.2;user=phone>;reason=unconditional;counter=1',
    "History-Info": "<sip:+14155550100@127.0.4.2;cause=302>;index=1,<sip:+14155550199@127.0.4.3>;index=1.1",
    "X-Carrier-Ref": "ref-88123",
    "X-Carrier-Internal": "trunk-group-7",  # not allowed: stays on the carrier's side
}


class AgentGateway(AnsweringPeer):
    """Answers with what an agent platform says of the call (X-Summary-Id); `starting` s after the INVITE,
    with a 180 just before its 200 (a platform whose agent takes that long to start)."""

    def __init__(self, starting: float = 0.0):
        super().__init__(*GATEWAY, self._answer)
        self.starting = starting

    def _handle(self, msg: Msg, addr) -> None:
        if msg.method == "INVITE" and ";tag=" not in (msg.header("to") or ""):
            trying = reply(msg, 100, "Trying", "unused").set("To", msg.header("to") or "")  # no tag: RFC 3261 8.2.6.2
            self.send(trying.render(), addr)  # at once, as platforms do
            self.caller_addr = addr
        super()._handle(msg, addr)

    def _answer(self, invite: Msg):
        to_tag = tag()
        ringing = reply(invite, 180, "Ringing", to_tag, f"sip:agent@{GATEWAY[0]}:{GATEWAY[1]}")
        answer = reply(invite, 200, "OK", to_tag, f"sip:agent@{GATEWAY[0]}:{GATEWAY[1]}", sdp(GATEWAY[0], 40900))
        if self.starting:  # it rings once started, and answers a moment later (a 180 and a 200 sent together
            time.sleep(self.starting)  # may be relayed in either order: two SBC processes)
            self.send(ringing.render(), self.caller_addr)
            time.sleep(0.3)
            ringing = None
        call_id = invite.header("call-id")
        routes = list(reversed(invite.all("record-route")))
        self.dialogs[call_id] = Dialog(call_id, answer.header("to"), invite.header("from"),
                                       uri_of(invite.header("contact") or ""), routes)
        return [m for m in (ringing, answer.set("X-Summary-Id", "sum-42").set("Server", "agent-platform/1.0")) if m]


@pytest.fixture
def acme_context(quiet_sbc, sbcctl):
    done = sbcctl("tenant", "set", "acme", "--context-headers", "diversion,history-info,x-carrier-ref")
    assert done.returncode == 0, done.stderr
    gateway = AgentGateway().start()
    uri = f"sip:{GATEWAY[0]}:{GATEWAY[1]}"
    assert wait_for(lambda: dispatcher_states(quiet_sbc).get(uri, "").startswith("A"), 15), dispatcher_states(quiet_sbc)
    try:
        yield gateway
    finally:
        gateway.stop()
        assert sbcctl("tenant", "set", "acme", "--context-headers", "").returncode == 0


def test_the_agent_gets_the_context_its_tenant_allows_and_its_own_headers_are_recorded(quiet_sbc, sbcctl,
                                                                                      acme_context):
    gateway = acme_context
    last = max([int(r["id"]) for r in cdr_rows(quiet_sbc, 0)] or [0])
    caller = Caller(CARRIER, ("127.0.1.1", 5060), ACME_DID, [])
    call_id = f"context-{time.monotonic_ns()}@{CARRIER[0]}"
    try:
        invite = caller.invite(call_id)
        for name, value in SENT.items():
            invite.set(name, value)
        caller.send(invite.render(), caller.sbc)
        assert wait_until(lambda: caller.pump(keep_dialogs=True) or call_id in caller.dialogs, 5), caller.codes
        [at_gateway] = [m for m in gateway.requests if m.method == "INVITE"]
        gw_call_id = at_gateway.header("call-id")
        bye = gateway.dialogs[gw_call_id].request("BYE", *GATEWAY).set("X-Disposition", "booked")
        gateway.send(bye.render(), ("127.0.2.1", 5060))
        assert wait_until(lambda: caller.pump(keep_dialogs=True) or any(
            (m := parse(d)) is not None and not m.is_reply and m.method == "BYE" for d in caller.received), 5)
    finally:
        caller.close()
    carrier_bye = next(m for m in map(parse, caller.received) if m is not None and not m.is_reply
                       and m.method == "BYE")
    rows = wait_for(lambda: [r for r in cdr_rows(quiet_sbc, last) if r["call_id"] == call_id], 10)
    print(f"\nthe agent got: {[(n, v) for n, v in at_gateway.headers if n.lower().startswith(('x-', 'div', 'hist'))]}; "
          f"the record's agent_headers: {rows[0]['agent_headers'] if rows else None!r}")
    assert at_gateway.header("X-Diverted-From") == "+14155550100"
    assert at_gateway.header("X-Diversion-Reason") == "unconditional"
    assert at_gateway.header("X-Original-Called") == "+14155550100"
    assert at_gateway.header("X-History-Info") == "+14155550100,+14155550199"
    assert at_gateway.header("X-Carrier-Ref") == "ref-88123"
    for absent in ("Diversion", "History-Info", "X-Carrier-Internal"):
        assert at_gateway.header(absent) is None, absent
    # (the Call-ID aside: Kamailio 5.6 lets the carrier's cross, the known gap; 6.0 masks it)
    seen = [f"{n}: {v}" for n, v in at_gateway.headers if n.lower() not in ("call-id", "i")] + [at_gateway.body]
    assert not [line for line in seen if "127.0.4." in line or "127.0.1.1" in line], seen
    assert carrier_bye.header("X-Disposition") is None and "sum-42" not in str(carrier_bye.render())
    assert rows and rows[0]["agent_headers"] == "x-summary-id=sum-42; x-disposition=booked", rows
    shown = json.loads(sbcctl("--json", "cdr", "--limit", "5").stdout)
    assert any(r["call_id"] == call_id and r["agent_headers"] == rows[0]["agent_headers"] for r in shown)


STARTING = 1.5  # s the agent's platform takes to ring


@pytest.mark.parametrize("early", [False, True])
def test_early_ringing_has_the_carrier_hear_180_at_once_while_the_agent_starts(quiet_sbc, sbcctl, early):
    flag = "--early-ringing" if early else "--no-early-ringing"
    done = sbcctl("tenant", "set", "acme", flag)
    assert done.returncode == 0, done.stderr
    gateway = AgentGateway(starting=STARTING).start()
    caller = Caller(CARRIER, ("127.0.1.1", 5060), ACME_DID, [])
    call_id = f"ringing-{early}-{time.monotonic_ns()}@{CARRIER[0]}"
    try:
        uri = f"sip:{GATEWAY[0]}:{GATEWAY[1]}"
        assert wait_for(lambda: dispatcher_states(quiet_sbc).get(uri, "").startswith("A"), 15)
        started, ringing, final = time.monotonic(), None, None
        caller.send(caller.invite(call_id).render(), caller.sbc)
        while final is None and time.monotonic() - started < 2 * STARTING + 3:
            for data, _ in caller.drain():
                msg = parse(data)
                if msg is None or not msg.is_reply or msg.header("call-id") != call_id:
                    continue
                if 180 <= msg.status < 190 and ringing is None:
                    ringing = time.monotonic() - started
                elif msg.status >= 200 and (msg.header("cseq") or "").endswith("INVITE"):
                    final = msg
            time.sleep(0.002)
        assert final is not None and final.status == 200, final
        caller.ack_and_maybe_bye(final, keep_dialog=False)  # ACK, then BYE
        assert wait_until(lambda: caller.pump() or caller.codes[200] >= 1, 5)
    finally:
        caller.close()
        gateway.stop()
        sbcctl("tenant", "set", "acme", "--no-early-ringing")
    print(f"\nearly ringing {'on' if early else 'off'}, the agent's platform ringing after {STARTING} s: "
          f"the carrier's first 18x after {ringing * 1000:.0f} ms")
    if early:
        assert ringing < 0.5  # the SBC's own 180: no wait for the platform
    else:
        assert ringing >= STARTING - 0.05
