"""Toll fraud, end to end: every kind of source that can reach the public side, against every class of
destination, on the real SBC. Each cell asserts what the caller was answered and what the carrier received
(exactly one INVITE for the number, or nothing).

The destination numbers are generated per cell (the class's range, the cell's index in the last digits) and
checked with phonenumbers to be of the class they stand for, so a change of the library's metadata shows
here as a wrong test input, not as a pass."""

from __future__ import annotations

import hashlib
import os
import re
import time
from dataclasses import dataclass

import phonenumbers
import pytest

from sbclib import destinations
from testkit.harness import (
    OUTBOUND_CALLER,
    cdr_rows,
    last_cdr_id,
    run_uac,
    send_request,
    start_peers,
    stop_peers,
    wait_for,
)
from testkit.sipua import Caller, wait_until
from tests.integration.conftest import db, new_routing_generation

CARRIER = "127.0.4.1"
SBC_PUBLIC = "127.0.2.1:5060"
REALM = "voice-ai-sbc"
SHARED = "127.0.3.50"  # inside the demo's untagged 127.0.3.0/24 row: a platform's shared address
MEMBER = "127.0.3.1"  # dispatcher member of set 1 (VAPI)
TAGGED = "127.0.3.32"  # a row tagged acme, never declared dedicated (a pre-dedication row)
DISABLED = "127.0.3.25"  # dedicated to fabriq, a disabled tenant
STRANGER = "127.0.9.77"
ACCOUNTS = {"acme-gw": ("acme", "acme-password-0123456789"), "digi-gw": ("digipanda", "digi-password-0123456789")}


@dataclass(frozen=True)
class Destination:
    name: str
    pattern: str  # the number, "NN" replaced by the cell's index
    region: str
    kind: str  # a destinations.NUMBER_TYPES name, or "network"
    allowed: bool  # for acme with allowed_countries GB,BE (set by the fixture) and default types
    reason: str  # the 403's phrase when refused


DESTINATIONS = [
    Destination("own country", "+121255501NN", "US", "fixed_line_or_mobile", True, ""),
    Destination("own DID", "+12125550199", "US", "fixed_line_or_mobile", True, ""),
    Destination("premium rate", "+190055501NN", "US", "premium_rate", False, "Premium Rate Not Allowed"),
    Destination("shared cost", "+32787912NN", "BE", "shared_cost", False, "Shared Cost Not Allowed"),
    Destination("personal", "+4470111111NN", "GB", "personal_number", False, "Personal Number Not Allowed"),
    Destination("satellite", "+8816123456NN", "001", "network", False, "International Network Not Allowed"),
    Destination("international allowed", "+4420718387NN", "GB", "fixed_line", True, ""),
    Destination("international not allowed", "+336123456NN", "FR", "mobile", False,
                "Destination Country Not Allowed"),
]


@dataclass(frozen=True)
class Source:
    name: str
    ip: str
    account: tuple[str, str] | None  # (username, password) answering the 407
    outcome: str  # "call": admitted as `tenant`; or the answer to any destination: 407, 403 phrase, None (silence)
    tenant: str = "acme"


SOURCES = [
    Source("dedicated address", OUTBOUND_CALLER, None, "call"),
    Source("shared platform address", SHARED, None, "407"),
    Source("dispatcher member", MEMBER, None, "407"),
    Source("tagged, not dedicated", TAGGED, None, "407"),
    Source("stranger", STRANGER, None, "silence"),
    Source("account, right password", SHARED, ("acme-gw", ACCOUNTS["acme-gw"][1]), "call"),
    Source("account, wrong password", SHARED, ("acme-gw", "guessed-password-0000000"), "407"),
    Source("account, another tenant's password", SHARED, ("acme-gw", ACCOUNTS["digi-gw"][1]), "407"),
    Source("another tenant's account", MEMBER, ("digi-gw", ACCOUNTS["digi-gw"][1]), "call", "digipanda"),
    Source("disabled tenant's address", DISABLED, None, "403 Tenant Disabled"),
]


def refusal(source: Source, destination: Destination) -> str | None:
    """The 403 phrase an identified caller gets for this destination (None: the call goes through). acme may
    call GB and BE (the fixture); digipanda has the defaults: its home (US) only."""
    if source.tenant == "digipanda" and destination.region not in ("US", "001"):
        return "Destination Country Not Allowed"
    return None if destination.allowed else destination.reason


def number(destination: Destination, index: int) -> str:
    found = destination.pattern.replace("NN", f"{index:02d}")
    parsed = phonenumbers.parse(found)
    assert phonenumbers.region_code_for_number(parsed) == destination.region, found
    if destination.kind != "network":
        assert phonenumbers.number_type(parsed) == destinations.NUMBER_TYPES[destination.kind], found
    return found


@pytest.fixture(scope="module")
def fraud_setup(sbc):
    """Two accounts (acme's, digipanda's), a tagged but not dedicated row, and acme allowed to call GB and BE
    (so that their shared-cost and personal numbers meet the type check, not the country check)."""
    ha1 = {user: hashlib.md5(f"{user}:{REALM}:{password}".encode()).hexdigest()
           for user, (_, password) in ACCOUNTS.items()}
    db(sbc, "INSERT INTO gateway_account (username, ha1, tenant) VALUES "
            + ", ".join(f"('{u}', '{ha1[u]}', '{t}')" for u, (t, _) in ACCOUNTS.items()))
    db(sbc, f"INSERT INTO address (id, grp, ip_addr, mask, port, tag) VALUES (932, 2, '{TAGGED}', 32, 0, 'acme')")
    db(sbc, "UPDATE tenant SET allowed_countries = 'GB,BE' WHERE name = 'acme'")
    sbc.kamailio.rpc("permissions.addressReload")
    new_routing_generation(sbc)
    yield
    db(sbc, "DELETE FROM gateway_account WHERE username IN ('acme-gw', 'digi-gw')")
    db(sbc, "DELETE FROM address WHERE id = 932")
    db(sbc, "UPDATE tenant SET allowed_countries = '' WHERE name = 'acme'")
    sbc.kamailio.rpc("permissions.addressReload")
    new_routing_generation(sbc)


def place(work, source: Source, cells: list[tuple[Destination, str]]) -> list[list[tuple[int, str]]]:
    """For each cell, (status, status line) of each final answer to its INVITEs, in order; silence = []. A
    source that cannot be admitted whatever it calls is asked with one request per cell; the others with SIPp,
    all cells at once (each on its own ports, SIPp's audio and video media ports among them: a 403 that a SIPp
    never acknowledged would still be retransmitted to the next one on the same port)."""
    if source.account is None and source.outcome in ("407", "silence"):
        codes = [send_request(source.ip, ("127.0.2.1", 5060), ruser=dialed, caller="+12125550199", timeout=1.0)
                 for _, dialed in cells]
        return [[] if code is None else [(code, "")] for code in codes]
    scenario, extra = "uac_call.xml", ("-recv_timeout", "3000")
    if source.account is not None:
        scenario, extra = "uac_call_auth.xml", (*extra, "-au", source.account[0], "-ap", source.account[1])
    base = 5100 + 10 * SOURCES.index(source)
    uacs = [run_uac(work, f"cell{index}", SBC_PUBLIC, dialed, source.ip, scenario=scenario, duration_ms=100,
                    media_port=17000 + 4 * (base + index - 5100), timeout=20, extra=extra, port=base + index)
            for index, (_, dialed) in enumerate(cells)]
    for uac in uacs:
        uac.wait(30)
    # the INVITEs' answers (SIPp answers an unexpected one with a CANCEL or BYE of its own, and hears 481)
    return [[(m.status, m.first_line) for m in uac.received()
             if m.status and m.status >= 200 and m.cseq_method == "INVITE"] for uac in uacs]


@pytest.mark.parametrize("source", SOURCES, ids=[s.name for s in SOURCES])
def test_fraud_matrix(quiet_sbc, fraud_setup, work, source):
    carrier = start_peers(work, quiet_sbc, [CARRIER])
    first_record = last_cdr_id(quiet_sbc)
    dialed = [(d, number(d, index + 10 * SOURCES.index(source))) for index, d in enumerate(DESTINATIONS)]
    try:
        cells = [(d, n, answers) for (d, n), answers in zip(dialed, place(work, source, dialed), strict=True)]
    finally:
        stop_peers(carrier)
    invites = carrier[CARRIER].received("INVITE")
    admitted, refused = 0, 0
    for destination, dialed, answers in cells:
        statuses = [status for status, _ in answers]
        reached = [i for i in invites if i.request_uri.startswith(f"sip:{dialed}@")]
        cell = f"{source.name} -> {destination.name} ({dialed}): answered {answers}, carrier got {len(reached)}"
        reason = refusal(source, destination)
        if source.outcome == "call" and reason is None:
            assert len(reached) == 1 and statuses[-1:] == [200], cell
            caller = re.search(r"^From:.*?sip:([^@]+)@", reached[0].text, re.M | re.I).group(1)
            assert caller == ("+12125550199" if source.tenant == "acme" else "+14155550301"), cell
            admitted += 1
            continue
        assert reached == [], cell
        refused += 1
        if source.outcome == "call":
            assert answers[-1:] == [(403, f"SIP/2.0 403 {reason}")], cell
        elif source.outcome == "silence":
            assert statuses == [], cell
        elif source.outcome == "407":
            assert statuses and set(statuses) == {407}, cell
        else:
            assert answers[-1:] == [(403, f"SIP/2.0 {source.outcome}")], cell
    print(f"\nfraud matrix, {source.name}: {len(cells)} cells, {admitted} admitted, {refused} refused")
    if source.outcome == "call":  # every call of an identified tenant has its record, refused ones too
        labels = {phrase: label for label, phrase in destinations.REFUSALS.items()}
        records = wait_for(lambda: (r := cdr_rows(quiet_sbc, first_record)) and len(r) >= len(cells) and r, 10)
        for destination, dialed, _ in cells:
            reason = refusal(source, destination)
            found = [(r["code"], r["end_reason"], r["tenant"]) for r in records or [] if r["did"] == dialed]
            expected = ("403", f"refused {labels[reason]}") if reason else ("200", "bye gateway")
            assert found == [(*expected, source.tenant)], (destination.name, found)


def test_all_outbound_calls_together_are_held_to_outbound_max_cps(quiet_sbc, work):
    """OUTBOUND_MAX_CPS (30 in the test settings) holds whatever the tenants allow (acme: 50/s): 40 INVITEs
    sent at the start of one second, 30 reach the carrier, 10 get 503 with Retry-After."""
    carrier = start_peers(work, quiet_sbc, [CARRIER])
    caller = Caller((OUTBOUND_CALLER, 5079), ("127.0.2.1", 5060), "+12125550100", [])
    try:
        time.sleep(1.02 - time.time() % 1)
        started = time.time()
        for n in range(40):
            caller.send(caller.invite(f"burst-{n}-{os.urandom(4).hex()}").render(), caller.sbc)
        sent_in = time.time() - started
        # 10 refused, 30 answered and hung up (each 200 counted twice: the INVITE's and the BYE's)
        assert wait_until(lambda: caller.pump() or (caller.codes[503] >= 10 and caller.codes[200] >= 60), 10), \
            caller.codes
    finally:
        caller.close()
        stop_peers(carrier)
    invites = len(carrier[CARRIER].received("INVITE"))
    print(f"\n40 INVITEs in {sent_in * 1000:.0f} ms: {invites} reached the carrier, {caller.codes[503]} got 503")
    assert (invites, caller.codes[503]) == (30, 10)
