"""Per peer row caps: the pure decisions (sbclib/capacity.py) and what the routes do with them
(kemi/gateways/capacity.py through kemi/gateways/attempts.py), against the fake KSR."""

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kemi.gateways import capacity as gwcap
from sbclib import capacity
from sbclib.capacity import Caps
from tests.unit.test_routes import (
    FAILOVER_DESTINATION,
    GATEWAY_FAILOVER,
    failure,
    make_routes,
    request,
)

A, B = "sip:127.0.3.1:5060", "sip:127.0.3.2:5060"


# ---- the decisions -----------------------------------------------------------------------------

@pytest.mark.parametrize("attrs,caps", [
    ("weight=50;max_calls=10;max_cps=2", Caps(10, 2)),
    ("weight=50", Caps()),
    ("max_calls=0", Caps()),
    ("max_calls=ten;max_cps=-1", Caps()),  # written by hand past sbcctl: caps nothing (sbcctl check names it)
    ("max_calls=100001", Caps()),
    ("", Caps()), (None, Caps()), (7, Caps()),
])
def test_caps_are_read_from_the_rows_attrs(attrs, caps):
    assert capacity.caps_of(attrs) == caps


@pytest.mark.parametrize("caps,held,calls,attempts,reason", [
    (Caps(), True, 0, 0, "held"),
    (Caps(), False, 99, 99, None),
    (Caps(max_calls=2), False, 1, 0, None),
    (Caps(max_calls=2), False, 2, 0, "calls"),
    (Caps(max_cps=2), False, 0, 2, None),  # this attempt is the second of its second
    (Caps(max_cps=2), False, 0, 3, "cps"),
    (Caps(2, 2), False, 2, 3, "calls"),
])
def test_a_row_is_full_when_held_at_its_calls_or_over_its_rate(caps, held, calls, attempts, reason):
    assert capacity.full(caps, held, calls, attempts) == reason


@pytest.mark.parametrize("status,value,seconds", [
    (503, "30", 30), (429, "30", 30), (503, " 5 (maintenance) ;duration=60", 5), (503, "0", 1),
    (503, "86400", 300), (486, "30", 0), (500, "30", 0), (503, None, 0), (503, "", 0), (503, "soon", 0),
    (503, "-5", 0), (503, "Fri, 04 Dec 2026 10:00:00 GMT", 0),  # an HTTP date is not SIP's delta-seconds
])
def test_a_busy_peer_is_held_for_its_retry_after_within_the_operators_limit(status, value, seconds):
    assert capacity.hold_seconds(status, value, 300) == seconds


def test_no_hold_when_the_operator_says_0():
    assert capacity.hold_seconds(503, "30", 0) == 0


@given(st.text(max_size=40), st.integers(0, 999), st.integers(0, 86400))
def test_any_retry_after_value_holds_within_bounds_or_not_at_all(value, status, longest):
    seconds = capacity.hold_seconds(status, value, longest)
    assert seconds == 0 or (status in capacity.BUSY_PEER and 1 <= seconds <= longest)


@given(st.integers(0, 10**9), st.integers(1, 86400))
def test_any_delta_seconds_is_honoured_up_to_the_limit(delta, longest):
    assert capacity.hold_seconds(503, str(delta), longest) == max(1, min(delta, longest))


DS_LIST = {"RECORDS": [{"SET": {"ID": 1, "TARGETS": [
    {"DEST": {"URI": A, "FLAGS": "AP", "ATTRS": {"BODY": "weight=50;max_calls=10", "WEIGHT": 50}}},
    {"DEST": {"URI": B, "FLAGS": "AP", "ATTRS": {"BODY": "weight=50;max_cps=3", "WEIGHT": 50}}}]}},
    {"SET": {"ID": 3, "TARGETS": [{"DEST": {"URI": "sip:127.0.3.3:5060", "ATTRS": "max_calls=4"}}]}}]}


@pytest.mark.parametrize("text", [json.dumps(DS_LIST), json.dumps({"jsonrpc": "2.0", "result": DS_LIST, "id": 1})])
def test_the_gauges_cover_the_rows_with_a_call_cap(text):
    assert capacity.capped_rows(text) == [(A, Caps(10, 0)), ("sip:127.0.3.3:5060", Caps(4, 0))]


@pytest.mark.parametrize("text", [None, "", "not json", "[]", '{"RECORDS": 5}', '{"RECORDS": [{"SET": 1}]}',
                                  '{"RECORDS": [{"SET": {"TARGETS": [{"DEST": {"URI": 5}}]}}]}'])
def test_an_unreadable_dispatcher_list_has_no_gauges(text):
    assert capacity.capped_rows(text) == []


# ---- in the routes -----------------------------------------------------------------------------

def rows(ksr, attrs: dict[str, str], calls: dict[str, int] = (), attempts: int = 1, held=()):
    """The group's members in the algorithm's order, each with its attrs; ds_next_dst walks them, as
    dispatcher's xavp list does."""
    order = list(attrs)
    at = {"i": 0}
    calls = dict(calls)

    def next_dst():
        at["i"] += 1
        if at["i"] >= len(order):
            return -1
        return 1

    ksr.returns.update({
        "dispatcher.ds_select_dst": lambda group, alg: (at.update(i=0), 1)[1],
        "dispatcher.ds_next_dst": next_dst,
        "kx.get_duri": lambda: order[min(at["i"], len(order) - 1)],
        "pv.get": lambda name: (attrs[order[min(at["i"], len(order) - 1)]] if name == "$xavp(_dsdst_=>attrs)"
                                else ksr.pvs.get(name)),
        "pv.geti": lambda name: ksr.pvs.get(name, 0),
        "dialog.get_profile_size": lambda prof, uri, var: ksr.pvs.update({var: calls.get(uri, 0)}) or 1,
        "htable.sht_inc": lambda table, key: attempts,
        "htable.sht_get": lambda table, key: 1 if table == gwcap.TABLE and key.split(" ", 1)[1] in held else 0,
    })


def test_a_gateway_at_its_call_cap_is_passed_over_for_the_next_one_of_the_group(ksr):
    request(ksr)
    rows(ksr, {A: "weight=50;max_calls=2", B: "weight=50"}, calls={A: 2})
    make_routes().ksr_request_route(None)
    assert ksr.called("dispatcher.ds_next_dst") == [()]
    assert ksr.called("seturi") == [("sip:+14155550101@127.0.3.2:5060",)]
    assert (gwcap.PROFILE, B) in ksr.called("dialog.set_dlg_profile")
    assert (gwcap.PROFILE, A) not in ksr.called("dialog.set_dlg_profile")
    assert ksr.counted(gwcap.SKIPPED) == [(A, "calls")]
    assert f"gateway {A} skipped: at its 2 calls" in ksr.logged()
    assert ksr.replies() == [] and ksr.called("tm.t_relay") == [()]


def test_a_gateway_with_room_takes_the_call_and_counts_it(ksr):
    request(ksr)
    rows(ksr, {A: "max_calls=2;max_cps=5", B: ""}, calls={A: 1}, attempts=5)
    make_routes().ksr_request_route(None)
    assert ksr.called("dispatcher.ds_next_dst") == [] and ksr.counted(gwcap.SKIPPED) == []
    assert ksr.called("htable.sht_inc")[0][1].startswith(f"cps {A} ")
    assert ksr.pvs[gwcap.COUNTED_AVP] == A and (gwcap.PROFILE, A) in ksr.called("dialog.set_dlg_profile")


def test_a_gateway_over_its_rate_is_passed_over(ksr):
    request(ksr)
    rows(ksr, {A: "max_cps=2", B: ""}, attempts=3)
    make_routes().ksr_request_route(None)
    assert ksr.counted(gwcap.SKIPPED) == [(A, "cps")]
    assert ksr.called("seturi") == [("sip:+14155550101@127.0.3.2:5060",)]


def test_an_uncapped_gateway_costs_one_lookup_and_no_count(ksr):
    request(ksr)
    rows(ksr, {A: "weight=50"})
    make_routes().ksr_request_route(None)
    assert [c for c in ksr.called("htable.sht_get") if c[0] == gwcap.TABLE] == [(gwcap.TABLE, f"hold {A}")]
    assert ksr.called("dialog.get_profile_size") == [] and ksr.called("htable.sht_inc") == []


def test_a_held_gateway_is_skipped_without_counting(ksr):
    request(ksr)
    rows(ksr, {A: "max_calls=5", B: ""}, held={A})
    make_routes().ksr_request_route(None)
    assert ksr.counted(gwcap.SKIPPED) == [(A, "held")]
    assert ksr.called("dialog.get_profile_size") == []
    assert ksr.called("seturi") == [("sip:+14155550101@127.0.3.2:5060",)]


def test_a_full_group_goes_to_the_backup_group_and_a_full_chain_answers_503_never_busy(ksr):
    request(ksr)
    rows(ksr, {A: "max_calls=1", B: "max_calls=1"}, calls={A: 1, B: 1})
    make_routes().ksr_request_route(None)
    assert ksr.called("dispatcher.ds_select_dst") == [(1, 9), (3, 9)]  # the backup group's rows are full too
    assert ksr.counted(gwcap.SKIPPED) == [(A, "calls"), (B, "calls")] * 2
    assert ksr.called("tm.t_relay") == []
    assert [code for code, _ in ksr.replies()] == [503]


def test_failover_releases_the_row_the_failed_attempt_counted(ksr):
    failure(ksr, 500, next_domain=1)
    ksr.pvs[gwcap.COUNTED_AVP] = A
    make_routes().failure_from_gateway(None)
    assert ksr.called("dialog.unset_dlg_profile") == [(gwcap.PROFILE, A)]
    assert ksr.pvs[gwcap.COUNTED_AVP] == FAILOVER_DESTINATION  # then the next attempt's row


@pytest.mark.parametrize("status,retry_after,held,marked", [
    (503, "30", 30, False), (429, "30", 30, False), (503, "86400", 300, False),
    (503, None, None, True), (429, None, None, False), (408, "30", None, True),
])
def test_a_busy_peers_retry_after_holds_its_row_instead_of_marking_it_down(ksr, status, retry_after, held, marked):
    failure(ksr, status, next_domain=1)
    ksr.pvs[gwcap.COUNTED_AVP] = A
    ksr.pvs["$T_rpl($hdr(Retry-After))"] = retry_after
    make_routes().failure_from_gateway(None)
    hold = [(gwcap.TABLE, f"hold {A}", held)] if held else []
    assert ksr.called("htable.sht_setex") == hold
    assert ksr.called("htable.sht_seti") == ([(gwcap.TABLE, f"hold {A}", 1)] if held else [])
    assert ksr.called("dispatcher.ds_mark_dst_state") == ([("ip",)] if marked else [])
    assert ksr.actions()[-len(GATEWAY_FAILOVER):] == GATEWAY_FAILOVER  # and the call goes on to the next row
    assert ksr.called("tm.t_reply") == []


def test_a_direct_uri_attempt_is_never_held(ksr):
    failure(ksr, 503, next_domain=1)
    ksr.pvs["$T_rpl($hdr(Retry-After))"] = "30"
    make_routes().failure_from_gateway(None)  # no row counted: a DID's own URI
    assert ksr.called("htable.sht_setex") == [] and ksr.called("dispatcher.ds_mark_dst_state") == [("ip",)]


def test_the_gauges_are_set_from_dispatchers_list_at_scrape_time(ksr):
    sizes = {A: 7, "sip:127.0.3.3:5060": 0}
    ksr.returns.update({"pv.get": lambda name: json.dumps({"result": DS_LIST}) if name == "$jsonrpl(body)" else None,
                        "dialog.get_profile_size": lambda prof, uri, var: ksr.pvs.update({var: sizes[uri]}) or 1,
                        "pv.geti": lambda name: ksr.pvs.get(name, 0)})
    gwcap.refresh_gauges()
    assert json.loads(ksr.called("jsonrpcs.exec")[0][0])["method"] == "dispatcher.list"
    assert ksr.called("xhttp_prom.gauge_set_l1") == [
        (gwcap.CALLS_GAUGE, "7", A), (gwcap.CAP_GAUGE, "10", A),
        (gwcap.CALLS_GAUGE, "0", "sip:127.0.3.3:5060"), (gwcap.CAP_GAUGE, "4", "sip:127.0.3.3:5060")]


def test_no_gauge_when_dispatcher_does_not_answer(ksr):
    ksr.returns["jsonrpcs.exec"] = -1
    gwcap.refresh_gauges()
    assert ksr.called("xhttp_prom.gauge_set_l1") == []



_JSON = st.recursive(st.none() | st.booleans() | st.integers() | st.text(max_size=8),
                     lambda inner: st.lists(inner, max_size=4) | st.dictionaries(
                         st.sampled_from(["RECORDS", "SET", "TARGETS", "DEST", "URI", "ATTRS", "BODY", "result"]),
                         inner, max_size=4), max_leaves=20)


@given(_JSON)
def test_any_json_from_dispatcher_list_gives_rows_or_none_never_an_exception(doc):
    assert all(isinstance(uri, str) and caps.max_calls > 0 for uri, caps in capacity.capped_rows(json.dumps(doc)))
