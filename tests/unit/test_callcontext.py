"""Caller context for the agent (sbclib/callcontext.py) and what the routes do with it: the tenant's allowed
carrier headers reach the gateway as numbers and opaque values only; the agent's X- headers on its 2xx and
BYE go into the call record."""

import dataclasses
import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kemi.telemetry import records
from sbclib import callcontext
from tests.unit import test_routes
from tests.unit.test_routes import make_routes, request

CARRIER_HEADERS = {
    "diversion": '"Front desk" <sip:+14155550100@127.0.4.9;user=phone>;reason=unconditional;counter=1',
    "history-info": ("<sip:+14155550100@127.0.4.9?Reason=SIP%3Bcause%3D302>;index=1,"
                     "<sip:+14155550199@127.0.4.8>;index=1.1"),
    "user-to-user": "3031323334;encoding=hex;purpose=isdn-uui",
    "x-carrier-ref": "ref-88123",
    "x-leaky": "trunk 127.0.4.9",
    "x-mail": "ops@carrier.example",
}


def test_a_list_names_only_what_may_cross():
    assert callcontext.parse_list(" Diversion, X-Carrier-Ref ") == ("diversion", "x-carrier-ref")
    for bad in ("via", "diversion,diversion", "x-", "x-" + "a" * 41, "contact,x-a"):
        with pytest.raises(callcontext.ContextError, match="^context_headers: "):
            callcontext.parse_list(bad)


def test_each_allowed_header_reaches_the_agent_as_the_platforms_read_it_without_the_carriers_network():
    allowed = ("diversion", "history-info", "user-to-user", "x-carrier-ref", "x-leaky", "x-mail", "x-absent")
    assert callcontext.toward_agent(allowed, CARRIER_HEADERS.get) == [
        "X-Diverted-From: +14155550100", "X-Diversion-Reason: unconditional",
        "X-Original-Called: +14155550100", "X-History-Info: +14155550100,+14155550199",
        "User-to-User: 3031323334;encoding=hex;purpose=isdn-uui", "X-Carrier-Ref: ref-88123"]


def test_nothing_crosses_that_the_tenant_did_not_allow():
    assert callcontext.toward_agent((), CARRIER_HEADERS.get) == []
    assert callcontext.toward_agent(("x-carrier-ref",), CARRIER_HEADERS.get) == ["X-Carrier-Ref: ref-88123"]


@given(st.dictionaries(st.sampled_from(["diversion", "history-info", "user-to-user", "x-a"]),
                       st.text(max_size=120), max_size=4))
def test_whatever_the_carrier_sends_the_agent_gets_no_host_address_or_line_break(headers):
    for line in callcontext.toward_agent(("diversion", "history-info", "user-to-user", "x-a"), headers.get):
        name, _, value = line.partition(": ")
        assert re.fullmatch(r"[A-Za-z-]+", name) and value
        assert "@" not in value and not re.search(r"\d+\.\d+\.\d+\.\d+", value)
        assert all(0x21 <= ord(c) <= 0x7e for c in value.replace(",", "!")), line


def test_the_agents_headers_make_the_record_a_later_value_replacing_an_earlier():
    first = callcontext.agent_record("", [("x-summary-id", "s-1"), ("x-disposition", "transferred")])
    assert first == "x-summary-id=s-1; x-disposition=transferred"
    assert callcontext.agent_record(first, [("x-disposition", "completed; ok"), ("via", "no")]) == (
        "x-summary-id=s-1; x-disposition=completed, ok")
    long = callcontext.agent_record("", [(f"x-h{i}", "v" * 200) for i in range(10)])
    assert len(long) <= callcontext.MAX_AGENT and long.count("=") == 4  # whole pairs only


def tenant_with_context(monkeypatch, allowed):
    acme = dataclasses.replace(test_routes.TENANTS["acme"], context_headers=allowed)
    monkeypatch.setitem(test_routes.TENANTS, "acme", acme)


def test_a_tenants_call_carries_the_context_it_allows(ksr, monkeypatch):
    tenant_with_context(monkeypatch, ("diversion", "x-carrier-ref"))
    request(ksr, ruser="4155550201", duri="sip:127.0.3.21:5060")
    ksr.returns["hdr.get"] = CARRIER_HEADERS.get
    make_routes().ksr_request_route(None)
    assert ksr.called("hdr.append")[3:] == [("X-Diverted-From: +14155550100\r\n",),
                                            ("X-Diversion-Reason: unconditional\r\n",),
                                            ("X-Carrier-Ref: ref-88123\r\n",)]


def message(start: str, *extra: str) -> str:
    return (f"{start}\r\nVia: SIP/2.0/UDP 127.0.2.1:5060;branch=z9hG4bK-1\r\nFrom: <sip:a@127.0.2.1>;tag=1\r\n"
            "To: <sip:b@127.0.3.1>;tag=2\r\nCall-ID: c-1\r\nCSeq: 1 BYE\r\n" + "".join(f"{h}\r\n" for h in extra)
            + "Content-Length: 0\r\n\r\n")


def test_the_agents_answer_headers_go_into_the_record(ksr):
    request(ksr, side="public")
    ksr.returns.update({"kx.get_status": 200, "textops.has_body_type": -1,
                        "kx.get_msgbuf": message("SIP/2.0 200 OK", "X-Summary-Id: s-1", "Server: agent"),
                        "hdr.get": {"x-summary-id": "s-1"}.get})
    make_routes().ksr_reply_route(None)
    make_routes().reply_media(None)
    assert ksr.dlg_vars[records.AGENT_HEADERS] == "x-summary-id=s-1"


def test_a_gateways_bye_adds_its_disposition(ksr):
    request(ksr, method="BYE", side="public", acl=(2,), totag=True)
    ksr.dlg_vars[records.AGENT_HEADERS] = "x-summary-id=s-1"
    ksr.returns["kx.get_msgbuf"] = message("BYE sip:b@127.0.2.1 SIP/2.0", "X-Disposition: booked",
                                           "X-Summary-Id: s-2")
    ksr.returns["hdr.get"] = {"x-disposition": "booked", "x-summary-id": "s-2"}.get
    make_routes().ksr_request_route(None)
    assert ksr.dlg_vars[records.AGENT_HEADERS] == "x-summary-id=s-2; x-disposition=booked"


@pytest.mark.parametrize("early,relayed,rings", [(True, 1, True), (False, 1, False), (True, -1, False)])
def test_a_tenant_with_early_ringing_has_the_carrier_hear_180_once_the_call_is_relayed(ksr, monkeypatch, early,
                                                                                      relayed, rings):
    acme = dataclasses.replace(test_routes.TENANTS["acme"], early_ringing=early)
    monkeypatch.setitem(test_routes.TENANTS, "acme", acme)
    request(ksr, ruser="4155550201", duri="sip:127.0.3.21:5060")
    ksr.returns["tm.t_relay"] = relayed
    ksr.returns["dispatcher.ds_next_dst"] = -1
    ksr.returns["dispatcher.ds_select_dst"] = lambda group, alg: 1 if group == 21 else -1
    make_routes().ksr_request_route(None)
    replies = ksr.called("tm.t_reply")
    assert replies == ([(180, "Ringing")] if rings else [])
    if rings:
        assert ksr.actions().index(("tm.t_reply", (180, "Ringing"))) > ksr.actions().index(("tm.t_relay", ()))
