"""STIR/SHAKEN verification on the real stack: a carrier's calls to tenant acme carry Identity headers signed
as a carrier's signer does (ES256 PASSporT, its certificate published over HTTP on loopback and issued by the
suite's CA, which STIR_CA_FILE names). The agent is told the verdict (X-STIR-Verstat, and X-STIR-Attestation
when it passed), never the Identity header itself; the call record keeps it; a tenant that requires a
verified caller ID refuses the rest (428, 438)."""

from __future__ import annotations

import http.server
import threading
import time

import pytest

from testkit import passport
from testkit.harness import cdr_rows, dispatcher_states, scrape, wait_for
from testkit.sipua import AnsweringPeer, Caller, wait_until
from tests.integration.tlsca import Authority

GATEWAY = ("127.0.3.30", 5060)  # demo data: tenant acme's own set (25)
CARRIER = ("127.0.4.2", 5086)
ACME_DID = "+12125550199"
CALLER = "+12125550177"  # what the suite's carrier puts in From for a "clean-" call
CERTS = ("127.0.0.1", 8099)  # in the suite's STIR_X5U_PREFIXES
PASSED, FAILED, ABSENT = "TN-Validation-Passed", "TN-Validation-Failed", "No-TN-Validation"


class CertificateRepository(http.server.ThreadingHTTPServer):
    """The carrier's certificate repository: path -> PEM, and every path asked for."""

    def __init__(self, files: dict[str, bytes]):
        self.files, self.asked = files, []
        repository = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                repository.asked.append(self.path)
                body = repository.files.get(self.path)
                self.send_response(200 if body else 404)
                self.send_header("Content-Type", "application/x-pem-file")
                self.end_headers()
                self.wfile.write(body or b"")

            def log_message(self, *args):
                pass

        super().__init__(CERTS, Handler)


@pytest.fixture
def signer(quiet_sbc, tls_ca):
    """Keys and certificates: the carrier's signer (from the trusted CA) and an impostor's (from another)."""
    trusted_cert, trusted_key = tls_ca[1].issue(["sti.carrier.test"])
    rogue_cert, rogue_key = Authority("Rogue STI-CA").issue(["sti.carrier.test"])
    # paths of their own: the SBC keeps a fetched certificate an hour, by its URL
    stamp = time.monotonic_ns()
    paths = {"trusted": f"/sti-{stamp}.pem", "rogue": f"/rogue-{stamp}.pem"}
    repo = CertificateRepository({paths["trusted"]: trusted_cert, paths["rogue"]: rogue_cert})
    thread = threading.Thread(target=repo.serve_forever, daemon=True)
    thread.start()
    gateway = AnsweringPeer(*GATEWAY, lambda _invite: 200).start()
    uri = f"sip:{GATEWAY[0]}:{GATEWAY[1]}"
    try:
        assert wait_for(lambda: dispatcher_states(quiet_sbc).get(uri, "").startswith("A"), 15)
        yield {"trusted": trusted_key, "rogue": rogue_key}, {k: url(v) for k, v in paths.items()}, repo, gateway
    finally:
        gateway.stop()
        repo.shutdown()
        repo.server_close()


def call(gateway: AnsweringPeer, identity: str | None) -> tuple[int, dict | None, str]:
    """A call from the carrier to acme's DID: its final code, the agent's INVITE headers (None: none), its Call-ID."""
    caller = Caller(CARRIER, ("127.0.1.1", 5060), ACME_DID, [])
    call_id = f"clean-stir-{time.monotonic_ns()}@{CARRIER[0]}"
    before = len(gateway.requests)
    try:
        invite = caller.invite(call_id)
        if identity is not None:
            invite.set("Identity", identity)
        caller.send(invite.render(), caller.sbc)
        assert wait_until(lambda: caller.pump() or caller.codes, 8), caller.codes
        time.sleep(0.3)  # its BYE
    finally:
        caller.close()
    code = next(iter(caller.codes))
    invites = [m for m in gateway.requests[before:] if m.method == "INVITE"]
    return code, ({n.lower(): v for n, v in invites[0].headers} if invites else None), call_id


def url(path: str) -> str:
    return f"http://{CERTS[0]}:{CERTS[1]}{path}"


def test_the_agent_is_told_whether_the_caller_id_verified(quiet_sbc, signer):
    keys, urls, repo, gateway = signer
    now = int(time.time())
    cases = {  # name: (Identity header, verstat the agent gets, attestation)
        "valid A": (passport.identity(keys["trusted"], urls["trusted"], CALLER, ACME_DID, "A"), PASSED, "A"),
        "valid B, cached": (passport.identity(keys["trusted"], urls["trusted"], CALLER, ACME_DID, "B"), PASSED, "B"),
        "untrusted CA": (passport.identity(keys["rogue"], urls["rogue"], CALLER, ACME_DID), FAILED, None),
        "key not the certificate's": (passport.identity(keys["rogue"], urls["trusted"], CALLER, ACME_DID), FAILED,
                                      None),
        "other caller": (passport.identity(keys["trusted"], urls["trusted"], "+12125550100", ACME_DID), FAILED, None),
        "other DID": (passport.identity(keys["trusted"], urls["trusted"], CALLER, "+12125550100"), FAILED, None),
        "stale (iat 5 min ago)": (passport.identity(keys["trusted"], urls["trusted"], CALLER, ACME_DID, iat=now - 300),
                                  FAILED, None),
        "x5u outside the prefixes": (passport.identity(keys["trusted"], "http://127.0.0.2:8099/sti.pem", CALLER,
                                                       ACME_DID), FAILED, None),
        "malformed": (f"not-a-passport;info=<{urls['trusted']}>", FAILED, None),
        "absent": (None, ABSENT, None),
    }
    last = max([int(r["id"]) for r in cdr_rows(quiet_sbc, 0)] or [0])
    before = scrape(quiet_sbc)
    seen = {}
    for name, (identity, verstat, attest) in cases.items():
        code, headers, call_id = call(gateway, identity)
        seen[name] = (code, headers and headers.get("x-stir-verstat"), headers and headers.get("x-stir-attestation"))
        assert seen[name] == (200, verstat, attest), (name, seen[name])
        assert "identity" not in headers, name  # the carrier's PASSporT (its certificate's URL) stays its own
        rows = wait_for(lambda call_id=call_id: [r for r in cdr_rows(quiet_sbc, last) if r["call_id"] == call_id], 10)
        assert rows and rows[0]["stir"] == f"{verstat} {attest or ''}".strip(), (name, rows)
    print(f"\nverdicts: {seen}\ncertificate fetches: {repo.asked}")
    trusted, rogue = (urls[k].split(str(CERTS[1]), 1)[1] for k in ("trusted", "rogue"))
    assert repo.asked.count(trusted) == 1 and repo.asked.count(rogue) == 1  # then from secsipid's cache
    after = scrape(quiet_sbc)

    def counted(verstat, reason):
        key = ("kamailio_sbc_stir_total", (("reason", reason), ("verstat", verstat)))
        return after.get(key, 0) - before.get(key, 0)
    assert counted(PASSED, "none") == 2 and counted(ABSENT, "none") == 1
    assert (counted(FAILED, "signature"), counted(FAILED, "caller mismatch"), counted(FAILED, "called mismatch"),
            counted(FAILED, "x5u refused"), counted(FAILED, "malformed")) == (3, 1, 1, 1, 1)


def test_a_tenant_requiring_a_verified_caller_id_refuses_the_rest(quiet_sbc, sbcctl, signer):
    keys, urls, _, gateway = signer
    assert sbcctl("tenant", "set", "acme", "--stir-required").returncode == 0
    try:
        codes = {name: call(gateway, identity)[0] for name, identity in (
            ("absent", None),
            ("untrusted", passport.identity(keys["rogue"], urls["rogue"], CALLER, ACME_DID)),
            ("verified", passport.identity(keys["trusted"], urls["trusted"], CALLER, ACME_DID, "C")))}
    finally:
        assert sbcctl("tenant", "set", "acme", "--no-stir-required").returncode == 0
    assert codes == {"absent": 428, "untrusted": 438, "verified": 200}, codes
