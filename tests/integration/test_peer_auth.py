"""Peers that authenticate the SBC by digest: a gateway's 407 and a carrier's 401 are answered with the
credential sbcctl stored for that peer, once per attempt; refused credentials fail over."""

import contextlib
import hashlib
import json
import re
import time
from pathlib import Path

from testkit.harness import (
    OUTBOUND_CALLER,
    SCENARIOS,
    delta,
    run_uac,
    scrape,
    send_request,
    start_peers,
    stop_peers,
)
from tests.integration.test_failover import did

SBC_PRIVATE, SBC_PUBLIC = "127.0.1.1:5060", "127.0.2.1:5060"
PRIVATE_SIDE = re.compile(r"127\.0\.(1|4)\.\d+")
PUBLIC_SIDE = re.compile(r"127\.0\.(2|3)\.\d+")
GATEWAY, CARRIER = "127.0.3.6", "127.0.4.1"


def md5(text: str) -> str:
    return hashlib.md5(text.encode()).hexdigest()


def digest_fields(header: str) -> dict[str, str]:
    return dict(re.findall(r'(\w+)="?([^",]*)"?', header.split(" ", 1)[1]))


def proxy_challenge_variant(work: Path) -> str:
    """uas_challenge.xml as a proxy challenges (407); it answers any credentials (SIPp cannot check
    Proxy-Authorization), so the test checks the digest itself."""
    text = (SCENARIOS / "uas_challenge.xml").read_text()
    text = text.replace("401 Unauthorized", "407 Proxy Authentication Required")
    text = text.replace("WWW-Authenticate:", "Proxy-Authenticate:")
    text = re.sub(r"<action>\s*<verifyauth[^>]*/>\s*</action>", "", text)
    text = text.replace('<nop hide="true" test="authvalid" next="answer"/>', '<nop hide="true" next="answer"/>')
    text = text.replace('<Global variables="realm,user,pass"/>', '<Global variables="realm"/>')
    path = work / "uas_challenge_407.xml"
    path.write_text(text)
    return str(path)


def challenger(work, sbc, ip, scenario, realm, user=None, password=None):
    args = ("-rtp_echo", "-set", "realm", realm)
    if user is not None:
        args += ("-set", "user", user, "-set", "pass", password)
    return start_peers(work, sbc, [ip], scenario=scenario, args=args)


def call_past_a_challenger(sbc, work, number, password):
    """An inbound call to a DID whose URI is a challenging gateway (accepting `password`), with 127.0.3.1 of
    group 1 to fail over to; the call must be answered. Returns the peers, stopped."""
    peers = challenger(work, sbc, GATEWAY, "uas_challenge.xml", "lk.test", "sbc-lk", password)
    peers.update(start_peers(work, sbc, ["127.0.3.1"]))
    try:
        with did(sbc, number, group=1, uri=f"sip:{GATEWAY}:5060"):
            uac = run_uac(work, "carrier", SBC_PRIVATE, number, "127.0.4.2", duration_ms=500)
            assert uac.wait(30) == 0, uac.log()
    finally:
        stop_peers(peers)
    return peers


@contextlib.contextmanager
def credential(sbcctl, host, *args):
    done = sbcctl("credential", "set", host, *args)
    assert done.returncode == 0, done.stderr
    try:
        yield
    finally:
        sbcctl("credential", "remove", host)


def test_a_gateways_407_is_answered_from_the_ha1_sbcctl_stored_and_the_call_goes_through(quiet_sbc, sbcctl, work):
    before = scrape(quiet_sbc)
    with credential(sbcctl, GATEWAY, "--username", "sbc-lk", "--password", "Lk-s3cret!", "--realm", "lk.test"):
        listed = json.loads(sbcctl("--json", "credential", "list").stdout)
        peers = challenger(work, quiet_sbc, GATEWAY, proxy_challenge_variant(work), "lk.test")
        try:
            with did(quiet_sbc, "+14155550911", uri=f"sip:{GATEWAY}:5060"):
                uac = run_uac(work, "carrier", SBC_PRIVATE, "+14155550911", "127.0.4.2", duration_ms=1000)
                assert uac.wait(30) == 0, uac.log()
        finally:
            stop_peers(peers)
    assert [(row["host"], row["username"], row["realm"], row["secret"]) for row in listed] == [
        (GATEWAY, "sbc-lk", "lk.test", "ha1 ********")]
    assert "Lk-s3cret" not in json.dumps(listed)
    gateway = peers[GATEWAY]
    first, second = gateway.received("INVITE")
    assert not first.headers("Proxy-Authorization")
    fields = digest_fields(second.headers("Proxy-Authorization")[0])
    assert (fields["username"], fields["realm"], fields["uri"]) == ("sbc-lk", "lk.test", second.request_uri)
    expected = md5(f"{md5('sbc-lk:lk.test:Lk-s3cret!')}:{fields['nonce']}:{md5('INVITE:' + second.request_uri)}")
    assert fields["response"] == expected
    # The re-sent INVITE is a new branch of the SBC's transaction: same CSeq (kamailio.cfg says why not + 1).
    assert first.headers("CSeq") == second.headers("CSeq") == ["1 INVITE"]
    # The caller saw none of it: no challenge, its own CSeqs in the answers, nothing of the public side.
    carrier_got = uac.received()
    assert {m.status for m in carrier_got if m.status} <= {100, 180, 200}
    assert [m.headers("CSeq")[0] for m in carrier_got if m.status == 200] == ["1 INVITE", "2 BYE"]
    for msg in gateway.received():
        for line in msg.text.splitlines():
            assert line.lower().startswith(("call-id:", "i:")) or not PRIVATE_SIDE.search(line), line
    after = scrape(quiet_sbc)
    assert delta(after, before, "kamailio_sbc_peer_auth_total", direction="inbound", result="answer") == 1
    assert delta(after, before, "kamailio_sbc_calls_total", direction="inbound", tenant="none",
                 **{"class": "2xx"}) == 1


def test_refused_credentials_are_sent_once_then_the_call_fails_over(quiet_sbc, sbcctl, work):
    before = scrape(quiet_sbc)
    with credential(sbcctl, GATEWAY, "--username", "sbc-lk", "--password", "stale-password"):
        peers = call_past_a_challenger(quiet_sbc, work, "+14155550912", "rotated-password")
    invites = peers[GATEWAY].received("INVITE")
    assert len(invites) == 2 and digest_fields(invites[1].headers("Authorization")[0])["username"] == "sbc-lk"
    assert len(peers["127.0.3.1"].received("INVITE")) == 1
    after = scrape(quiet_sbc)
    assert delta(after, before, "kamailio_sbc_peer_auth_total", direction="inbound", result="answer") == 1
    assert delta(after, before, "kamailio_sbc_peer_auth_total", direction="inbound", result="refused") == 1
    assert delta(after, before, "kamailio_sbc_failovers_total", direction="inbound", code="401") == 1


def test_a_peer_without_a_credential_is_failed_over_at_once(quiet_sbc, work):
    before = scrape(quiet_sbc)
    peers = call_past_a_challenger(quiet_sbc, work, "+14155550913", "unknown")
    assert len(peers[GATEWAY].received("INVITE")) == 1
    assert delta(scrape(quiet_sbc), before, "kamailio_sbc_peer_auth_total", direction="inbound",
                 result="no credential") == 1


def test_a_carriers_401_is_answered_with_its_password_checked_by_the_carrier(quiet_sbc, sbcctl, work):
    with credential(sbcctl, CARRIER, "--username", "trunk-7", "--password", "c4rrier pass"):
        peers = challenger(work, quiet_sbc, CARRIER, "uas_challenge.xml", "carrier.test", "trunk-7", "c4rrier pass")
        try:
            gw = run_uac(work, "gateway", SBC_PUBLIC, "+12125550100", OUTBOUND_CALLER, duration_ms=1000)
            assert gw.wait(30) == 0, gw.log()
        finally:
            stop_peers(peers)
    carrier = peers[CARRIER]
    assert [m.method for m in carrier.received()] == ["INVITE", "ACK", "INVITE", "ACK", "BYE"]
    for msg in carrier.received():  # the answer too names nothing of the public side
        for line in msg.text.splitlines():
            assert line.lower().startswith(("call-id:", "i:")) or not PUBLIC_SIDE.search(line), line
    assert {m.status for m in gw.received() if m.status} <= {100, 180, 200}


# ---- gateways that authenticate to the SBC by digest (ACL group 4, sbcctl account) ----------------

ACCOUNT_SOURCE = "127.0.5.50"  # outside the demo ACL (127.0.3.0/24 is group 2): an address nobody published


@contextlib.contextmanager
def account_source(sbcctl, ip, username, password):
    """`ip` in ACL group 4 and an account of tenant acme, as an operator sets them up; both removed afterwards.
    (The tests' passwords are short on purpose: sbcctl takes them with --weak-password only.)"""
    assert sbcctl("acl", "add", ip, "--group", "4").returncode == 0
    done = sbcctl("account", "set", username, "--password", password, "--tenant", "acme", "--weak-password")
    assert done.returncode == 0, done.stderr
    try:
        yield
    finally:
        sbcctl("account", "remove", username)
        for row in json.loads(sbcctl("--json", "acl", "list").stdout):
            if row["ip_addr"] == ip and row["group"] == 4:
                sbcctl("acl", "remove", str(row["id"]))


def test_a_gateway_with_account_credentials_places_a_call_its_credentials_stay_on_its_side(
        quiet_sbc, sbcctl, work):
    before = scrape(quiet_sbc)
    with account_source(sbcctl, ACCOUNT_SOURCE, "vapi-test", "V4pi-passw0rd"):
        listed = sbcctl("--json", "account", "list").stdout
        peers = start_peers(work, quiet_sbc, [CARRIER])
        try:
            gw = run_uac(work, "gateway", SBC_PUBLIC, "+12125550100", ACCOUNT_SOURCE, scenario="uac_call_auth.xml",
                         duration_ms=1000, extra=("-au", "vapi-test", "-ap", "V4pi-passw0rd"))
            assert gw.wait(30) == 0, gw.log()
            wrong = run_uac(work, "wrong", SBC_PUBLIC, "+12125550100", ACCOUNT_SOURCE, scenario="uac_call_auth.xml",
                            media_port=17100, extra=("-au", "vapi-test", "-ap", "guessed"))
            assert wrong.wait(30) != 0  # challenged again instead of answered
            # what its INVITEs were answered: challenges only, never a 2xx or another refusal (SIPp's trace
            # records the first 407; the SBC's side, rejected -2 then challenged, is counted below)
            assert {m.status for m in wrong.received() if m.status and m.status >= 200
                    and m.cseq_method == "INVITE"} == {407}, wrong.log()
            mid = scrape(quiet_sbc)
            # The credentials of the call that went through, replayed in a new INVITE: the nonce was used.
            authorization = next(m for m in gw.sent() if m.headers("Proxy-Authorization"))
            used = authorization.headers("Proxy-Authorization")[0]
            replay = send_request(ACCOUNT_SOURCE, ("127.0.2.1", 5060), ruser="+12125550100",
                                  headers=f"Proxy-Authorization: {used}\r\n")
            # An account that does not exist is told exactly what a wrong password is told.
            unknown = send_request(ACCOUNT_SOURCE, ("127.0.2.1", 5060), ruser="+12125550100",
                                   headers=f"Proxy-Authorization: {used.replace('vapi-test', 'nobody')}\r\n")
        finally:
            stop_peers(peers)
    assert "V4pi" not in listed and "vapi-test" in listed
    assert replay == unknown == 407
    carrier = peers[CARRIER]
    assert [m.method for m in carrier.received()] == ["INVITE", "ACK", "BYE"]  # one call: the right password's
    for msg in carrier.received():
        assert not msg.headers("Proxy-Authorization") and "vapi-test" not in msg.text
    after = scrape(quiet_sbc)
    results = {r: delta(mid, before, "kamailio_sbc_gateway_auth_total", result=r)
               for r in ("ok", "missing", "rejected -2")}
    assert results == {"ok": 1, "missing": 2, "rejected -2": 1}, results
    # (The wrong password's INVITE, retransmitted by SIPp, meets its used nonce too: counted as -6 before `mid`.)
    assert delta(after, mid, "kamailio_sbc_gateway_auth_total", result="rejected -6") == 1
    assert delta(after, mid, "kamailio_sbc_gateway_auth_total", result="unknown account") == 1


def test_a_source_outside_acl_group_4_is_still_not_challenged(quiet_sbc):
    # The same INVITE from a stranger: silence, as before accounts existed.
    assert send_request("127.0.5.51", ("127.0.2.1", 5060), ruser="+12125550100") is None


def test_a_gateway_account_registers_with_its_digest_and_a_wrong_password_is_challenged_again(
        quiet_sbc, sbcctl, work):
    """VAPI's outbound authentication plan can REGISTER its trunk: 401, then 200 with the binding."""
    source = "127.0.5.52"
    before = scrape(quiet_sbc)
    with account_source(sbcctl, source, "vapi-reg", "V4pi-reg1ster"):
        reg = run_uac(work, "register", SBC_PUBLIC, "vapi-reg", source, scenario="uac_register_auth.xml",
                      extra=("-au", "vapi-reg", "-ap", "V4pi-reg1ster"))
        assert reg.wait(30) == 0, reg.log()
        bindings = quiet_sbc.kamailio.rpc("ul.dump")
        wrong = run_uac(work, "register-wrong", SBC_PUBLIC, "vapi-reg", source, scenario="uac_register_auth.xml",
                        media_port=17100, extra=("-au", "vapi-reg", "-ap", "guessed"))
        assert wrong.wait(30) != 0  # challenged again instead of registered
        assert [m.status for m in wrong.received() if m.status] == [401, 401]
    # A stranger's REGISTER: silence, as for any of its requests.
    assert send_request("127.0.5.54", ("127.0.2.1", 5060), method="REGISTER", ruser="vapi-reg") is None
    assert f"sip:vapi-reg@{source}" in bindings
    assert [m.status for m in reg.received() if m.status] == [401, 200]
    after = scrape(quiet_sbc)
    assert delta(after, before, "kamailio_sbc_registrations_total", result="saved") == 1


def test_failed_credentials_flooding_from_a_gateways_address_silence_it_but_never_ban_it(quiet_sbc):
    """UDP sources are easily spoofed: a flood of bad credentials "from" a platform's address must not lock the
    platform out for BAN_SECONDS. Over the flood limit it is silenced, counted, and answered again at once
    after. (An ACL group 4 source is banned like a stranger: test_scanners' svcrack.)"""
    before = scrape(quiet_sbc)
    bogus = ('Proxy-Authorization: Digest username="acme-gw", realm="voice-ai-sbc", nonce="abc", '
             'uri="sip:+12125550100@127.0.2.1", response="00000000000000000000000000000000"\r\n')
    shared = "127.0.3.50"  # inside the demo's gateway row: a platform's shared address
    answers = [send_request(shared, ("127.0.2.1", 5060), ruser="+12125550100", headers=bogus, timeout=0.05)
               for _ in range(80)]
    try:
        banned = quiet_sbc.kamailio.rpc("htable.get", "ipban", shared)
    except RuntimeError as missing:  # kamcmd's answer for a key the table does not hold
        banned = str(missing)
    time.sleep(2.5)  # one pike window
    after_flood = send_request(shared, ("127.0.2.1", 5060), ruser="+12125550100")
    silenced = delta(scrape(quiet_sbc), before, "kamailio_sbc_gateway_auth_total", result="flood from a gateway")
    print(f"\n80 bad credentials from a gateway's address: {answers.count(407)} challenged, "
          f"{answers.count(None)} silenced; next request {after_flood}")
    assert "value" not in banned.lower()
    assert answers.count(407) >= 20 and answers.count(None) >= 20 and silenced >= 20
    assert after_flood == 407
