"""The SBC's own registrations: the side a row registers from, and what uac's state of one means."""

import json

import pytest

from sbclib import registrations
from sbclib.registrations import AUTHSENT, DISABLED, ONGOING, ONLINE


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
