"""What RFC 3261 allows and carriers send is relayed, hidden: a carrier's INVITE to voxket's DID written in
each of the forms below, and in generated forms (testkit/validsip.py, from the RFC's grammar), reaches
voxket's gateway as +14155550401, is answered, and names nothing of the private side (the generated
counterparts of the byte checks are in tests/unit/test_hiding.py and test_e164.py)."""

from __future__ import annotations

import os
import random
import time

import pytest

from testkit.harness import wait_state
from testkit.sipua import AnsweringPeer, Caller, Dialog, Msg, parse, sdp, uri_of, wait_until
from testkit.validsip import ValidInvite
from tests.integration.inbound_call import GATEWAY
from tests.integration.test_topology_leaks import PRIVATE_SIDE

CARRIER = ("127.0.4.2", 5081)
SBC_PRIVATE = ("127.0.1.1", 5060)
DID = "+14155550401"  # voxket's (demo data)


def _user(user: str):
    def change(msg: Msg) -> None:
        msg.start = msg.start.replace("sip:4155550401@", f"sip:{user}@")
    return change


def _header(name: str, value: str):
    def change(msg: Msg) -> None:
        msg.headers.insert(2, [name, value])
    return change


def _lower_via(via: str):
    def change(msg: Msg) -> None:
        msg.headers[0][1] += f", {via}"
    return change


def _top_via(old: str, new: str):
    def change(msg: Msg) -> None:
        msg.headers[0][1] = msg.headers[0][1].replace(old, new)
    return change


FORMS = {
    "number portability parameters in the user part": _user("4155550401;npdi;rn=+14155550000"),
    "escaped digits in the user part": _user("%2B1%34155550401"),
    "a lower Via on a transport Kamailio does not speak": _lower_via("SIP/2.0/TLS-SCTP 127.0.4.77;branch=z9hG4bKl"),
    "lower Vias on several transports": _lower_via(
        "SIP/2.0/TCP 127.0.4.78;branch=z9hG4bKt, SIP/2.0/WS w.test;branch=z9hG4bKw"),
    "an RFC 2543 branch (no magic cookie)": _top_via(";branch=z9hG4bK", ";branch=2543-"),
    "a 3,000-byte header value": _header("X-Carrier-Note", "n" * 3000),
    "a 120-header section": lambda msg: [_header(f"X-H{i}", f"v{i}")(msg) for i in range(120)],
}


@pytest.fixture
def gateway(quiet_sbc):
    peer = AnsweringPeer(*GATEWAY, lambda invite: 200, tcp=True).start()
    try:
        wait_state(quiet_sbc, [GATEWAY[0]], active=True, timeout=20)
        yield peer
    finally:
        peer.stop()


@pytest.mark.parametrize("form", FORMS)
def test_a_valid_form_is_relayed_answered_and_hidden(quiet_sbc, gateway, form):
    caller = Caller(CARRIER, SBC_PRIVATE, "4155550401", [])
    before = len(gateway.requests)
    try:
        time.sleep(1.02 - time.time() % 1)  # one call a second: voxket may place 5 (demo data)
        msg = caller.invite(f"valid-{time.monotonic_ns()}@{CARRIER[0]}")
        FORMS[form](msg)
        caller.send(msg.render(), caller.sbc)
        assert wait_until(lambda: caller.pump() or caller.codes, 5), f"{form}: no answer"
        assert wait_until(lambda: [m for m in gateway.requests[before:] if m.method == "BYE"], 5), form
    finally:
        caller.close()
    answers = caller.invite_answers()
    assert [m.status for m in answers] == [200], (form, [m.start for m in answers])
    [invite] = [m for m in gateway.requests[before:] if m.method == "INVITE"]
    assert invite.start.split()[1].startswith(f"sip:{DID}@"), invite.start
    naming = [line for m in gateway.requests[before:] for line in m.render().decode().splitlines()
              if PRIVATE_SIDE.search(line) and not line.lower().startswith(("call-id:", "i:"))]
    assert naming == [], (form, naming)


GENERATED = 40  # valid INVITEs per run, 4 a second (voxket may place 5)


def _complete(caller: Caller, invite: Msg, answer: Msg) -> None:
    """ACK the answer (to a late offer, with the caller's answer to the 2xx's SDP); after a 2xx, hang up (the
    call's own CSeq, whatever number the generator drew)."""
    number = int(invite.header("cseq").split()[0])
    if answer.status >= 300:
        ack = Msg(invite.start.replace("INVITE", "ACK", 1), [
            ["Via", invite.all("via")[0].split(",")[0]], ["Max-Forwards", "70"], ["From", invite.header("from")],
            ["To", answer.header("to")], ["Call-ID", invite.header("call-id")], ["CSeq", f"{number} ACK"]])
        caller.send(ack.render(), caller.sbc)
        return
    dialog = Dialog(invite.header("call-id"), invite.header("from"), answer.header("to"),
                    uri_of(answer.header("contact") or f"sip:{caller.sbc[0]}"),
                    list(reversed(answer.all("record-route"))), cseq=number - 1)
    ack = dialog.request("ACK", caller.ip, caller.port, "" if invite.body else sdp(caller.ip))
    caller.send(ack.render(), caller.sbc)
    caller.send(dialog.request("BYE", caller.ip, caller.port).render(), caller.sbc)


def test_generated_valid_invites_are_all_relayed_answered_and_hidden(quiet_sbc, gateway):
    """Every generated INVITE (seeded: SBC_VALID_SEED replays or explores) is relayed to the gateway once, as
    the DID, answered 200 to the carrier and hung up; none is refused and none names the private side."""
    seed = int(os.environ.get("SBC_VALID_SEED", "20261205"))
    rng = random.Random(seed)
    caller = Caller(CARRIER, SBC_PRIVATE, "4155550401", [])
    before = len(gateway.requests)
    sent: dict[str, Msg] = {}
    answered: dict[str, Msg] = {}

    def collect() -> None:
        for data, _ in caller.drain():
            msg = parse(data)
            if msg is None or not msg.is_reply or msg.status < 200 or msg.method != "INVITE":
                continue
            call_id = msg.header("call-id")
            if call_id in sent and call_id not in answered:
                answered[call_id] = msg
                _complete(caller, sent[call_id], msg)

    try:
        for i in range(GENERATED):
            if i % 4 == 0:
                time.sleep(1.02 - time.time() % 1)
            data, call_id = ValidInvite(rng, [CARRIER[0], "127.0.4.77"]).invite("4155550401", SBC_PRIVATE,
                                                                                 CARRIER[1])
            sent[call_id] = parse(data)
            caller.send(data, caller.sbc)
            collect()
            time.sleep(0.05)
        assert wait_until(lambda: collect() or len(answered) == GENERATED, 10), \
            f"seed {seed}: {GENERATED - len(answered)} INVITEs unanswered"
        refused = {call_id: (answer.start, sent[call_id].render(content_length=False)[:700])
                   for call_id, answer in answered.items() if answer.status != 200}
        assert refused == {}, f"seed {seed}"
        assert wait_until(lambda: collect() or len([m for m in gateway.requests[before:] if m.method == "BYE"])
                          >= GENERATED, 5), f"seed {seed}: calls not hung up"
    finally:
        caller.close()
    invites = [m for m in gateway.requests[before:] if m.method == "INVITE"]
    assert len(invites) == GENERATED
    assert all(m.start.split()[1].startswith(f"sip:{DID}@") for m in invites), [m.start for m in invites]
    naming = [line for m in gateway.requests[before:] for line in m.render().decode().splitlines()
              if PRIVATE_SIDE.search(line) and not line.lower().startswith(("call-id:", "i:"))]
    assert naming == [], f"seed {seed}: {naming[:5]}"
    late = sum(not m.body for m in sent.values())
    print(f"generated valid INVITEs (seed {seed}): {len(invites)} relayed ({late} late offers), {len(refused)} "
          f"refused, {len(naming)} lines naming the private side")
