"""The SBC's own registrations (sbcctl registration, Kamailio's uac module) against a registrar in the suite:
a carrier's from the private side (HA1 for a known realm) and a provider's from the public side (password):
challenged, answered, bound, refreshed on the same Call-ID before expiry, shown by sbcctl and the metrics,
never naming the other side. A wrong password stays unregistered without hammering the registrar; a call sent
to the registered Contact is routed by its To."""

from __future__ import annotations

import json
import re
import time

import pytest
import yaml

from testkit.harness import dispatcher_states, scrape, wait_for
from testkit.registrar import Registrar, digest_fields
from testkit.sipua import AnsweringPeer, Caller, wait_until

CARRIER_REGISTRAR = ("127.0.4.9", 5070)  # in the carriers' ACL network
PROVIDER_REGISTRAR = ("127.0.3.41", 5070)
GATEWAY = ("127.0.3.30", 5060)  # demo data: tenant acme's own set (25), which has DID +12125550199
PRIVATE_SIDE = re.compile(r"127\.0\.(1|4)\.\d+")
PUBLIC_SIDE = re.compile(r"127\.0\.(2|3)\.\d+")
GRANT = 12  # s the registrars bind for: the SBC refreshes before that


def listed(sbcctl) -> dict[str, dict]:
    done = sbcctl("--json", "registration", "list")
    assert done.returncode == 0, done.stderr
    return {row["name"]: row for row in json.loads(done.stdout)}


def gauge(sbc, name: str) -> float | None:
    return scrape(sbc).get(("kamailio_sbc_registration_up", (("registration", name),)))


@pytest.fixture
def registrations(quiet_sbc, sbcctl):
    """The two registrars; every registration a test adds is removed afterwards."""
    carrier = Registrar(*CARRIER_REGISTRAR, "carrier.example", {"4420": "carrier-secret-1"}, GRANT).start()
    provider = Registrar(*PROVIDER_REGISTRAR, "provider.example", {"sbc-acme": "provider-secret-2"}, GRANT).start()
    try:
        yield carrier, provider
    finally:
        for name in listed(sbcctl):
            assert sbcctl("registration", "remove", name).returncode == 0
        carrier.stop()
        provider.stop()


def add(sbcctl, name: str, registrar: tuple[str, int], *options: str) -> None:
    done = sbcctl("registration", "add", name, "--registrar", f"sip:{registrar[0]}:{registrar[1]}", *options)
    assert done.returncode == 0, done.stderr


def test_each_side_registers_from_its_own_address_is_refreshed_and_shown(quiet_sbc, sbcctl, registrations):
    carrier, provider = registrations
    add(sbcctl, "carrier-trunk", CARRIER_REGISTRAR, "--username", "4420", "--password", "carrier-secret-1",
        "--realm", "carrier.example", "--expires", "300", "--carrier")
    add(sbcctl, "lk-acme", PROVIDER_REGISTRAR, "--username", "sbc-acme", "--password", "provider-secret-2")
    started = time.monotonic()
    assert wait_until(lambda: carrier.registers("bound") and provider.registers("bound"), 15), (
        [s.outcome for s in carrier.seen], [s.outcome for s in provider.seen])
    print(f"\nbound after {time.monotonic() - started:.1f} s: carrier {[s.outcome for s in carrier.seen]}, "
          f"provider {[s.outcome for s in provider.seen]}")
    for registrar, side, other, user, name, expires in (
            (carrier, "127.0.1.1", PUBLIC_SIDE, "4420", "carrier-trunk", "300"),
            (provider, "127.0.2.1", PRIVATE_SIDE, "sbc-acme", "lk-acme", "600")):
        first, *_ = registrar.registers("challenged")
        bound = registrar.registers("bound")[0]
        host = f"{registrar.ip}:{registrar.port}"
        assert first.start == f"REGISTER sip:{host} SIP/2.0"
        assert re.search(rf"<sip:{user}@{re.escape(host)}>", first.header("to"))
        assert first.header("contact") == f"<sip:{name}@{side}:5060>" and first.header("expires") == expires
        assert re.match(rf"SIP/2\.0/UDP {re.escape(side)}(:5060)?;", first.header("via")), first.header("via")
        credentials = digest_fields(bound.header("authorization"))
        assert credentials["username"] == user and credentials["realm"] == registrar.realm
        assert bound.header("call-id") == first.header("call-id")
        for msg in registrar.registers():  # nothing of the other side, nor the SBC's other address
            assert not other.findall(msg.render().decode()), msg.render().decode()
    # With a realm only the HA1 is kept; sbcctl shows neither.
    rows = quiet_sbc.db.query("SELECT l_uuid, auth_password, auth_ha1 <> '' FROM uacreg ORDER BY l_uuid",
                              quiet_sbc.settings.db_name, header=False).splitlines()
    assert rows == ["carrier-trunk\t\t1", "lk-acme\tprovider-secret-2\t0"], rows
    shown = listed(sbcctl)
    assert {n: r["state"] for n, r in shown.items()} == {"carrier-trunk": "registered", "lk-acme": "registered"}
    assert shown["carrier-trunk"]["socket"] == "udp:127.0.1.1:5060" and "-secret-" not in json.dumps(shown)
    assert (shown["carrier-trunk"]["side"], shown["lk-acme"]["side"]) == ("private", "public")
    assert 0 < int(shown["carrier-trunk"]["expires_in"]) <= GRANT
    assert gauge(quiet_sbc, "carrier-trunk") == 1 and gauge(quiet_sbc, "lk-acme") == 1
    # In the configuration document, without their secrets unless asked; imported back, nothing changes.
    exported = sbcctl("export")
    assert exported.returncode == 0 and "-secret-" not in exported.stdout, exported.stderr
    assert [r["name"] for r in yaml.safe_load(exported.stdout)["registrations"]] == ["carrier-trunk", "lk-acme"]
    checked = sbcctl("--json", "import", "-", "--dry-run", stdin=exported.stdout)
    assert checked.returncode == 0, checked.stderr
    assert json.loads(checked.stdout)["changes"]["registrations"] == {"added": 0, "removed": 0, "changed": 0,
                                                                      "unchanged": 2}
    # Refreshed before the binding lapses, on the same Call-ID with a higher CSeq (RFC 3261 10.2.4).
    before = len(carrier.registers("bound"))
    assert wait_until(lambda: len(carrier.registers("bound")) > before, GRANT + 2), [s.outcome for s in carrier.seen]
    first, refresh = carrier.registers("bound")[0], carrier.registers("bound")[-1]
    assert refresh.header("call-id") == first.header("call-id")
    assert int(refresh.header("cseq").split()[0]) > int(first.header("cseq").split()[0])
    assert listed(sbcctl)["carrier-trunk"]["state"] == "registered"


def test_a_refused_password_stays_unregistered_and_is_not_retried_at_once(quiet_sbc, sbcctl, registrations):
    carrier, _ = registrations
    refused = sbcctl("registration", "add", "4420", "--registrar", "sip:127.0.4.9:5070", "--username", "4420",
                     "--password", "x", "--carrier")  # a number would be taken for a DID
    assert refused.returncode == 2 and "name:" in refused.stderr and listed(sbcctl) == {}, refused.stderr
    add(sbcctl, "wrong", CARRIER_REGISTRAR, "--username", "4420", "--password", "not-the-secret", "--carrier")
    assert wait_until(lambda: carrier.registers("refused"), 15), [s.outcome for s in carrier.seen]
    time.sleep(3)
    assert [s.outcome for s in carrier.seen] == ["challenged", "refused"]  # one try, then REGISTRATION_RETRY
    assert listed(sbcctl)["wrong"]["state"] == "not registered"
    assert gauge(quiet_sbc, "wrong") == 0


def test_a_call_to_the_registered_contact_goes_where_its_to_number_goes(quiet_sbc, sbcctl, registrations):
    carrier, _ = registrations
    add(sbcctl, "carrier-trunk", CARRIER_REGISTRAR, "--username", "4420", "--password", "carrier-secret-1",
        "--carrier")
    assert wait_until(lambda: carrier.registers("bound"), 15), [s.outcome for s in carrier.seen]
    carrier.stop()  # the carrier's port now places the call (its registrar is done)
    gateway = AnsweringPeer(*GATEWAY, lambda _invite: 200).start()
    caller = Caller(CARRIER_REGISTRAR, ("127.0.1.1", 5060), "+12125550199", [])
    call_id = f"to-contact-{time.monotonic_ns()}@{CARRIER_REGISTRAR[0]}"
    try:
        uri = f"sip:{GATEWAY[0]}:{GATEWAY[1]}"
        assert wait_for(lambda: dispatcher_states(quiet_sbc).get(uri, "").startswith("A"), 15)
        invite = caller.invite(call_id)
        invite.start = "INVITE sip:carrier-trunk@127.0.1.1:5060 SIP/2.0"  # the Contact the SBC registered
        caller.send(invite.render(), caller.sbc)
        assert wait_until(lambda: caller.pump() or caller.codes, 5), caller.codes
        answered = caller.codes.copy()  # the INVITE's answer (the BYE's is counted there too)
        # The caller hangs up at once: the gateway answers the BYE before it goes (unanswered, the BYE's
        # transaction would end the call, and write its record, seconds into the next test).
        wait_until(lambda: caller.pump() or [m for m in gateway.requests if m.method == "BYE"], 5)
    finally:
        caller.close()
        gateway.stop()
    assert answered[200] == 1, answered
    [at_gateway] = [m for m in gateway.requests if m.method == "INVITE"]
    assert at_gateway.start.startswith("INVITE sip:+12125550199@127.0.3.30:5060"), at_gateway.start
    # Disabled: no REGISTER any more; removed: gone.
    assert sbcctl("registration", "disable", "carrier-trunk").returncode == 0
    assert listed(sbcctl)["carrier-trunk"]["state"] == "disabled"
    assert sbcctl("registration", "remove", "carrier-trunk").returncode == 0
    assert "carrier-trunk" not in listed(sbcctl)
