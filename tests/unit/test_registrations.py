"""The SBC's own registrations: the side a row registers from, and what uac's state of one means."""

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kemi.telemetry import registrations as gauges
from sbclib import registrations
from sbclib.registrations import AUTHSENT, DISABLED, ONGOING, ONLINE

STATES = {"registered", "registering", "not registered", "disabled"}


@pytest.mark.parametrize("transport,contact", [("udp", "127.0.1.1:5060"), ("tcp", "127.0.1.1:5060;transport=tcp"),
                                               ("tls", "127.0.1.1:5060;transport=tls")])
def test_a_side_is_one_socket_and_the_same_address_in_the_contact(transport, contact):
    side = registrations.side(transport, "127.0.1.1", 5060)
    assert side == registrations.Side(f"{transport}:127.0.1.1:5060", contact)


@pytest.mark.parametrize("flags,left,expected", [
    (ONLINE, 300, "registered"), (ONLINE, 0, "not registered"), (ONLINE | ONGOING, 300, "registered"),
    (ONGOING, 0, "registering"), (ONGOING | AUTHSENT, 0, "registering"), (0, 0, "not registered"),
    (DISABLED | ONLINE, 300, "disabled"), (DISABLED, 0, "disabled")])
def test_the_state_of_a_record(flags, left, expected):
    assert registrations.state({"l_uuid": "a", "flags": flags, "diff_expires": left}) == expected


def test_states_of_a_reply_and_of_anything_else():
    reply = {"jsonrpc": "2.0", "result": [{"l_uuid": "a", "flags": ONLINE, "diff_expires": 10},
                                          {"l_uuid": "b", "flags": 0, "diff_expires": -5}, "junk", {"flags": 4}]}
    assert registrations.states_of_reply(json.dumps(reply)) == {"a": "registered", "b": "not registered"}
    for junk in (None, "", "{", "[]", '{"error": {"code": 500}}', '"x"', "3"):
        assert registrations.states_of_reply(junk) == {}


@pytest.mark.parametrize("name,ok", [("trunk-1", True), ("a", True), ("lk.trunk_2", True), ("1trunk", False),
                                     ("+1415", False), ("", False), ("a b", False), ("a" * 65, False),
                                     ("tr@nk", False)])
def test_a_name_is_a_contact_user_that_is_never_a_number(name, ok):
    assert bool(registrations.NAME.fullmatch(name)) is ok


def test_the_domain_defaults_to_the_registrars_host_and_port():
    assert registrations.request_domain("sip.example.net", None) == "sip.example.net"
    assert registrations.request_domain("127.0.4.9", 5070) == "127.0.4.9:5070"


# ---- the gauge, at scrape time ------------------------------------------------------------------


def test_the_gauge_says_1_for_a_binding_that_holds_and_0_for_any_other_state(ksr):
    dump = [{"l_uuid": "carrier-trunk", "flags": ONLINE, "diff_expires": 40},
            {"l_uuid": "wrong", "flags": 0, "diff_expires": -3}, {"l_uuid": "off", "flags": DISABLED | ONLINE,
                                                                   "diff_expires": 40}]
    ksr.returns.update({"jsonrpcs.exec": 1,
                        "pv.get": lambda name: json.dumps({"result": dump}) if name == "$jsonrpl(body)" else None})
    gauges.refresh_gauges()
    assert json.loads(ksr.called("jsonrpcs.exec")[0][0])["method"] == "uac.reg_dump"
    assert ksr.called("xhttp_prom.gauge_set_l1") == [("sbc_registration_up", "1", "carrier-trunk"),
                                                     ("sbc_registration_up", "0", "wrong"),
                                                     ("sbc_registration_up", "0", "off")]


def test_no_gauge_when_uac_does_not_answer(ksr):
    ksr.returns["jsonrpcs.exec"] = -1
    gauges.refresh_gauges()
    assert ksr.called("xhttp_prom.gauge_set_l1") == []


_JSON = st.recursive(st.none() | st.booleans() | st.integers() | st.text(max_size=8),
                     lambda inner: st.lists(inner, max_size=4) | st.dictionaries(
                         st.sampled_from(["result", "l_uuid", "flags", "diff_expires"]), inner, max_size=4),
                     max_leaves=20)


@given(_JSON)
def test_any_json_from_reg_dump_gives_states_or_none_never_an_exception(doc):
    found = registrations.states_of_reply(json.dumps(doc))
    assert all(isinstance(k, str) and v in STATES for k, v in found.items())
