"""STIR/SHAKEN: what an Identity header claims, where its certificate may come from, the verdict, and the route
that asks for it (a fake secsipid)."""

import dataclasses

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from hypothesis import given
from hypothesis import strategies as st

from kemi.access import stir as kemi_stir
from sbclib import stir
from sbclib.stir import ABSENT, FAILED, PASSED, Claims, Verdict
from testkit import passport
from tests.unit import test_routes
from tests.unit.test_routes import make_routes, request

KEY = ec.generate_private_key(ec.SECP256R1()).private_bytes(
    serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
X5U = "https://cert.carrier.example/sti.pem"


def test_a_shaken_identity_header_is_read_for_its_claims():
    header = passport.identity(KEY, X5U, "+12125550177", "+14155550101", "B")
    assert stir.claims(header) == Claims("B", "12125550177", ("14155550101",), X5U)
    assert stir.claims(header.replace(";info=", " ; info = ")) == Claims("B", "12125550177", ("14155550101",), X5U)


@pytest.mark.parametrize("header", [None, "", "garbage", "a.b.c", "a.b.c;info=<https://x/>",
                                    passport.identity(KEY, X5U, "+1", "+2").split(";")[0],  # no info
                                    passport.identity(KEY, X5U, "x", "+14155550101"),
                                    passport.identity(KEY, X5U, "+12125550177", "+14155550101", "D")])
def test_what_is_no_shaken_passport_has_no_claims(header):
    assert stir.claims(header) is None


@given(st.text(max_size=300))
def test_any_header_gives_claims_or_none(header):
    found = stir.claims(header)
    assert found is None or (found.attest in stir.ATTESTATIONS and found.orig.isdigit())


@pytest.mark.parametrize("url,allowed", [("https://cert.carrier.example/a.pem", True), ("http://cert.example/a", False),
                                         ("https://user@host/a", False), ("file:///etc/passwd", False),
                                         ("https://h/a b", False)])
def test_only_the_operators_prefixes_are_fetched(url, allowed):
    assert stir.x5u_allowed(url, ("https://",)) is allowed
    assert stir.x5u_allowed("http://127.0.0.1:8099/sti.pem", ("http://127.0.0.1:8099/",))


CLAIMS = Claims("A", "12125550177", ("14155550101",), X5U)


@pytest.mark.parametrize("found,present,ok,caller,called,expected", [
    (None, False, None, "+12125550177", "+14155550101", Verdict(ABSENT)),
    (None, True, None, "+12125550177", "+14155550101", Verdict(FAILED, reason="malformed")),
    (CLAIMS, True, None, "+12125550177", "+14155550101", Verdict(FAILED, reason="x5u refused")),
    (CLAIMS, True, False, "+12125550177", "+14155550101", Verdict(FAILED, reason="signature")),
    (CLAIMS, True, True, "+12125550100", "+14155550101", Verdict(FAILED, reason="caller mismatch")),
    (CLAIMS, True, True, None, "+14155550101", Verdict(FAILED, reason="caller mismatch")),
    (CLAIMS, True, True, "+12125550177", "+14155550199", Verdict(FAILED, reason="called mismatch")),
    (CLAIMS, True, True, "+12125550177", "+14155550101", Verdict(PASSED, "A"))])
def test_the_verdict(found, present, ok, caller, called, expected):
    assert stir.verdict(found, present, ok, caller, called) == expected


def test_what_the_agent_and_the_record_get():
    assert Verdict(PASSED, "A").headers() == ["X-STIR-Verstat: TN-Validation-Passed", "X-STIR-Attestation: A"]
    assert Verdict(FAILED, reason="signature").headers() == ["X-STIR-Verstat: TN-Validation-Failed"]
    assert (Verdict(PASSED, "B").record, Verdict(ABSENT).record) == ("TN-Validation-Passed B", "No-TN-Validation")


@pytest.mark.parametrize("verdict,required,expected", [
    (Verdict(PASSED, "A"), True, None), (Verdict(FAILED), False, None), (None, False, None),
    (Verdict(ABSENT), True, (428, "Use Identity Header")), (Verdict(FAILED), True, (438, "Invalid Identity Header")),
    (None, True, (438, "Invalid Identity Header"))])  # required where nothing verifies: closed
def test_a_tenant_that_requires_a_verified_caller_refuses_the_rest(ksr, verdict, required, expected):
    assert kemi_stir.refusal(verdict, required) == expected


# ---- the route -------------------------------------------------------------------------------------

def _inbound(ksr, header: str | None, signature: int = 1):
    request(ksr, ruser="4155550101", rhost="127.0.3.1")
    ksr.returns.update({"hdr.is_present": lambda name: 1 if name == "Identity" and header else -1,
                        "hdr.get": lambda name: header if name == "Identity" else None,
                        "secsipid.secsipid_check_identity": signature})


def _routes(**tenant):
    return make_routes(stir_ca_file="/etc/sbc/stir-ca.pem", **tenant)


def test_a_verified_caller_reaches_the_agent_with_its_attestation(ksr):
    _inbound(ksr, passport.identity(KEY, X5U, "+12125550199", "+14155550101", "A"))
    _routes().ksr_request_route(None)
    assert ksr.called("secsipid.secsipid_check_identity") == [("",)]
    assert ("hdr.append", ("X-STIR-Verstat: TN-Validation-Passed\r\n",)) in ksr.actions()
    assert ("hdr.append", ("X-STIR-Attestation: A\r\n",)) in ksr.actions()
    assert ksr.dlg_vars["stir"] == "TN-Validation-Passed A"
    assert ksr.counted("sbc_stir_total") == [("TN-Validation-Passed", "none")]
    assert ksr.called("tm.t_relay") == [()]


def test_a_bad_signature_is_marked_not_refused(ksr):
    _inbound(ksr, passport.identity(KEY, X5U, "+12125550199", "+14155550101", "A"), signature=-1)
    _routes().ksr_request_route(None)
    assert ("hdr.append", ("X-STIR-Verstat: TN-Validation-Failed\r\n",)) in ksr.actions()
    assert not [a for a in ksr.actions() if a[0] == "hdr.append" and "Attestation" in a[1][0]]
    assert ksr.counted("sbc_stir_total") == [("TN-Validation-Failed", "signature")]
    assert ksr.called("tm.t_relay") == [()]


def test_a_certificate_url_outside_the_prefixes_is_never_fetched(ksr):
    _inbound(ksr, passport.identity(KEY, "http://intranet.example/admin", "+12125550199", "+14155550101", "A"))
    _routes().ksr_request_route(None)
    assert ksr.called("secsipid.secsipid_check_identity") == []
    assert ksr.counted("sbc_stir_total") == [("TN-Validation-Failed", "x5u refused")]


def test_without_stir_ca_file_nothing_is_verified_nor_said(ksr):
    _inbound(ksr, passport.identity(KEY, X5U, "+12125550199", "+14155550101", "A"))
    make_routes().ksr_request_route(None)
    assert ksr.called("secsipid.secsipid_check_identity") == []
    assert not [a for a in ksr.actions() if a[0] == "hdr.append" and "STIR" in a[1][0]]


@pytest.mark.parametrize("header,code", [(None, 428), ("bogus;info=<https://x/>", 438)])
def test_a_tenant_requiring_verification_refuses_an_unverified_call(ksr, monkeypatch, header, code):
    acme = dataclasses.replace(test_routes.TENANTS["acme"], stir_required=True)
    monkeypatch.setitem(test_routes.TENANTS, "acme", acme)
    _inbound(ksr, header)
    ksr.returns["kx.get_ruser"] = "4155550201"  # acme's DID
    _routes().ksr_request_route(None)
    assert [r[0] for r in ksr.replies()] == [code]
    assert ksr.called("tm.t_relay") == []
