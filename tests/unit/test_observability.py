"""What the routes count (xhttp_prom), what they remember per call (dialog variables for the CDR),
how a DID change reaches the caches, and who may read the metrics."""

import re

import pytest

from kemi.telemetry import metrics
from sbclib.didcache import DidRoute
from tests.unit.test_routes import CARRIER_IP, GATEWAY_IP, PEER_TAG_AVP, failure, make_routes, request

CALLS, GROUPS = metrics.CALLS, metrics.GROUP_CALLS


@pytest.mark.parametrize("code,cls", [(200, "2xx"), (302, "3xx"), (404, "4xx"), (503, "5xx"), (603, "6xx"),
                                      (100, "other"), (700, "other")])
def test_reply_class(code, cls):
    assert metrics.reply_class(code) == cls


def test_a_routed_call_records_who_what_and_where_in_dialog_variables(ksr):
    request(ksr, ruser="4155550101", src=CARRIER_IP)
    make_routes().ksr_request_route(None)
    v = ksr.dlg_vars
    assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3}", v["setup_time"])
    assert {k: v[k] for k in ("direction", "did", "tenant", "carrier", "call_id", "group", "gateway")} == {
        "direction": "inbound", "did": "+14155550101", "tenant": "", "carrier": CARRIER_IP,
        "call_id": "call-1", "group": "1", "gateway": "sip:127.0.3.1:5060"}
    assert ("direction_calls", "inbound") in ksr.called("dialog.set_dlg_profile")
    assert ksr.counted(CALLS) == []  # counted when it ends, not when it starts


def test_an_outbound_call_names_the_source_gateway_and_the_carrier_tried(ksr):
    request(ksr, side="public", src=GATEWAY_IP, ruser="+12125550100", acl=(2,), duri="sip:127.0.4.1:5060")
    ksr.pvs[PEER_TAG_AVP] = "acme"  # an address dedicated to acme
    ksr.returns["kx.get_fuser"] = "+14155550201"
    make_routes().ksr_request_route(None)
    assert {k: ksr.dlg_vars[k] for k in ("direction", "did", "gateway", "carrier", "group")} == {
        "direction": "outbound", "did": "+12125550100", "gateway": GATEWAY_IP,
        "carrier": "sip:127.0.4.1:5060", "group": "10"}


@pytest.mark.parametrize("ruser,code", [("4155550999", 404), ("12", 484)])
def test_a_call_refused_before_routing_is_counted_by_class_without_a_group(ksr, ruser, code):
    request(ksr, ruser=ruser)
    make_routes().ksr_request_route(None)
    assert ksr.replies()[0][0] == code
    assert ksr.counted(CALLS) == [("inbound", "none", "4xx")]
    assert ksr.counted(GROUPS) == [("inbound", "none", "4xx")]
    assert ksr.dlg_vars == {}  # no dialog, no call record


def test_tenant_refusals_are_counted_under_the_tenant(ksr):
    request(ksr, ruser="4155550501")  # tenant "off" is disabled
    make_routes().ksr_request_route(None)
    assert ksr.replies() == [(403, "Tenant Disabled")]
    assert ksr.counted(CALLS) == [("inbound", "off", "4xx")]


def answered_call(ksr, status=200):
    request(ksr)
    ksr.dlg_vars.update({"direction": "inbound", "tenant": "acme", "group": "21"})
    ksr.returns["kx.get_status"] = status


@pytest.mark.parametrize("status,code", [(200, "200"), (202, "202"), (0, "200")])  # 0: no reply (faked)
def test_an_answered_dialog_ends_the_setup_with_its_code(ksr, status, code):
    answered_call(ksr, status)
    routes = make_routes()
    routes.ksr_dialog_event(None, "dialog:start")
    routes.ksr_dialog_event(None, "dialog:start")  # a call is counted once, whatever repeats
    assert ksr.dlg_vars["code"] == code
    assert ksr.counted(CALLS) == [("inbound", "acme", "2xx")]
    assert ksr.counted(GROUPS) == [("inbound", "21", "2xx")]


@pytest.mark.parametrize("event", ["dialog:end", "dialog:failed"])
def test_other_dialog_events_record_nothing(ksr, event):
    answered_call(ksr)
    make_routes().ksr_dialog_event(None, event)
    assert "code" not in ksr.dlg_vars and ksr.counted(CALLS) == []


def test_replies_record_nothing(ksr):
    answered_call(ksr)
    make_routes().reply_media(None)
    assert "code" not in ksr.dlg_vars and ksr.counted(CALLS) == []


@pytest.mark.parametrize("status,canceled,code", [(486, False, 486), (603, False, 603), (408, True, 487)])
def test_a_final_failure_is_recorded_and_counted_once(ksr, status, canceled, code):
    failure(ksr, status, canceled=canceled)
    ksr.dlg_vars.update({"direction": "inbound", "tenant": "", "group": "1"})
    make_routes().failure_from_gateway(None)
    assert ksr.dlg_vars["code"] == str(code)
    assert ksr.counted(CALLS) == [("inbound", "none", metrics.reply_class(code))]
    assert ksr.counted(metrics.FAILOVERS) == []


def test_each_failover_is_counted_with_the_answer_that_caused_it_and_the_call_once_at_the_end(ksr):
    failure(ksr, 503, groups="", next_domain=1)
    ksr.dlg_vars.update({"direction": "inbound", "tenant": "", "group": "1"})
    make_routes().failure_from_gateway(None)
    assert ksr.counted(metrics.FAILOVERS) == [("inbound", "503")]
    assert ksr.counted(CALLS) == []  # the next attempt is under way
    assert ksr.dlg_vars["gateway"] == "sip:127.0.3.3:5060"


def test_giving_up_records_the_503_sent(ksr):
    failure(ksr, 408, groups="")
    ksr.dlg_vars.update({"direction": "outbound", "tenant": "", "group": "10"})
    make_routes().failure_from_telecom(None)
    assert ksr.called("tm.t_reply") == [(503, "No Carrier Available")]
    assert ksr.dlg_vars["code"] == "503"
    assert ksr.counted(CALLS) == [("outbound", "none", "5xx")]


def test_cache_lookups_are_counted_by_result(ksr):
    routes = make_routes()
    for _ in range(2):
        request(ksr, ruser="4155550101")
        routes.ksr_request_route(None)
    request(ksr, ruser="4155550201")  # tenant DID: the DID and then the tenant
    routes.ksr_request_route(None)
    assert ksr.counted(metrics.CACHE_LOOKUPS) == [("did", "miss"), ("did", "hit"), ("did", "miss"),
                                                  ("tenant", "miss")]


def test_a_db_outage_is_counted_as_unavailable(ksr):
    request(ksr, ruser="4155550101")
    make_routes(dids=None).ksr_request_route(None)
    assert ksr.replies() == [(503, "DID Routing Unavailable")]
    assert ksr.counted(metrics.CACHE_LOOKUPS) == [("did", "unavailable")]


def test_a_new_routing_generation_empties_the_caches_before_the_next_lookup(ksr):
    dids = {"+14155550101": DidRoute("+14155550101", 1, None)}
    routes = make_routes(dids=dids)
    request(ksr, ruser="4155550101")
    routes.ksr_request_route(None)
    dids["+14155550101"] = DidRoute("+14155550101", 2, None)
    ksr.calls.clear()
    routes.ksr_request_route(None)  # same generation: the cached group 1
    assert ksr.called("dispatcher.ds_select_dst")[0] == (1, 9)
    ksr.calls.clear()
    ksr.returns["htable.sht_get"] = lambda table, key: 7 if (table, key) == ("sbcstate", "generation") else None
    routes.ksr_request_route(None)
    assert ksr.called("dispatcher.ds_select_dst")[0] == (2, 9)
    assert ksr.counted(metrics.CACHE_LOOKUPS) == [("did", "miss")]


def http_request(ksr, ip, port, uri_is_metrics=True):
    ksr.returns.update({"kx.get_rcvip": ip, "kx.get_rcvport": port, "kx.get_srcip": "127.0.0.1",
                        "xhttp_prom.check_uri": 1 if uri_is_metrics else -1, "pv.geti": 3})


def test_metrics_are_served_on_the_management_socket_with_fresh_gauges(ksr):
    http_request(ksr, "127.0.0.1", 9494)
    make_routes().ksr_xhttp_event(None, "xhttp:request")
    assert ksr.called("dialog.get_profile_size") == [("direction_calls", "inbound", "$var(sbc_active)"),
                                                     ("direction_calls", "outbound", "$var(sbc_active)")]
    assert ksr.called("xhttp_prom.gauge_set_l1") == [(metrics.ACTIVE_CALLS, "3", "inbound"),
                                                    (metrics.ACTIVE_CALLS, "3", "outbound")]
    assert ksr.called("xhttp_prom.dispatch") == [()]


def test_other_paths_get_404(ksr):
    http_request(ksr, "127.0.0.1", 9494, uri_is_metrics=False)
    make_routes().ksr_xhttp_event(None, "xhttp:request")
    assert ksr.called("xhttp.xhttp_reply")[0][0] == 404
    assert ksr.called("xhttp_prom.dispatch") == []


@pytest.mark.parametrize("ip,port", [("127.0.2.1", 5060), ("127.0.1.1", 5060), ("127.0.0.1", 9495)])
def test_http_on_a_sip_socket_gets_no_answer_at_all(ksr, ip, port):
    http_request(ksr, ip, port)
    make_routes().ksr_xhttp_event(None, "xhttp:request")
    assert ksr.called("xhttp_prom.dispatch") == [] and ksr.called("xhttp.xhttp_reply") == []

