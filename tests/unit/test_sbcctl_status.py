"""sbcctl status/calls: parsing Kamailio's RPC answers and the metrics text (answers as recorded from
Kamailio 5.6.3 and xhttp_prom)."""

import json
from pathlib import Path

from sbcctl import status
from sbclib import mediastats

DATA = Path(__file__).resolve().parents[1] / "data"

DISPATCHER_LIST = {"NRSETS": 2, "RECORDS": [
    {"SET": {"ID": 10, "TARGETS": [
        {"DEST": {"URI": "sip:127.0.4.3:5060", "FLAGS": "IP", "PRIORITY": 5, "ATTRS": {"WEIGHT": 100}}},
        {"DEST": {"URI": "sip:127.0.4.1:5060", "FLAGS": "AP", "PRIORITY": 10, "ATTRS": {"WEIGHT": 100}}}]}},
    {"SET": {"ID": 1, "TARGETS": [
        {"DEST": {"URI": "sip:127.0.3.1:5060", "FLAGS": "DX", "PRIORITY": 10, "ATTRS": {"WEIGHT": 50}}}]}},
]}


def test_peers_are_listed_by_group_then_priority_with_their_probing_state():
    rows = status.peers(DISPATCHER_LIST, carrier_group=10)
    assert [(r["group"], r["uri"], r["kind"], r["state"], r["probed"]) for r in rows] == [
        (1, "sip:127.0.3.1:5060", "gateway", "disabled", False),
        (10, "sip:127.0.4.1:5060", "carrier", "up", True),
        (10, "sip:127.0.4.3:5060", "carrier", "down", True),
    ]


DLG_LIST = [
    {"h_entry": 1, "call-id": "a@127.0.4.2", "state": 4, "start_ts": 1000, "init_ts": 995,
     "variables": [{"direction": "inbound"}, {"did": "+14155550101"}, {"tenant": "acme"},
                   {"gateway": "sip:127.0.3.1:5060"}, {"carrier": "127.0.4.2"}]},
    {"h_entry": 2, "call-id": "b@127.0.3.50", "state": 2, "start_ts": 0, "init_ts": 1008, "variables": []},
    {"h_entry": 3, "call-id": "c@127.0.4.2", "state": 5, "start_ts": 990, "init_ts": 980, "variables": []},
]


def test_calls_show_the_routes_variables_and_skip_ended_dialogs():
    media = {"a@127.0.4.2": mediastats.legs(json.loads((DATA / "rtpengine-query-10.5.json").read_text()))}
    rows = status.calls(DLG_LIST, now=1010, media=media)
    no_media = {f"{leg}_{name}": None for leg in ("carrier", "gateway") for name in ("mos", "loss_pct", "jitter_ms")}
    assert rows == [
        {"call_id": "a@127.0.4.2", "state": "confirmed", "direction": "inbound", "did": "+14155550101",
         "tenant": "acme", "gateway": "sip:127.0.3.1:5060", "carrier": "127.0.4.2", "talk_seconds": 10,
         "age_seconds": 15, "carrier_mos": 4.4, "carrier_loss_pct": 0, "carrier_jitter_ms": 0,
         "gateway_mos": 3.4, "gateway_loss_pct": 9, "gateway_jitter_ms": 8},
        {"call_id": "b@127.0.3.50", "state": "early", "direction": "", "did": "", "tenant": "",
         "gateway": "", "carrier": "", "talk_seconds": 0, "age_seconds": 2, **no_media},
    ]


METRICS = """# User defined metrics
kamailio_sbc_cache_lookups_total{cache="did", result="miss"} 9 1795675698431
kamailio_sbc_cache_lookups_total{cache="did", result="hit"} 6 1795675698431
kamailio_sbc_cache_lookups_total{cache="tenant", result="stale"} 1 1795675698431
kamailio_sbc_db_errors_total{source="connect"} 2 1795675698431
kamailio_sbc_active_calls{direction="inbound"} 3.000000 1795675698431
"""


def test_cache_figures_come_from_the_metrics_text():
    assert status.cache_figures(METRICS) == [
        {"cache": "did", "miss": 9, "hit": 6}, {"cache": "tenant", "stale": 1},
        {"cache": "db errors", "connect": 2}]
    assert status.metric_values(METRICS, "kamailio_sbc_active_calls") == [({"direction": "inbound"}, 3.0)]


def test_a_trying_row_is_pending_and_a_row_dispatcher_left_out_is_unresolved():
    listed = status.peers({"RECORDS": [{"SET": {"ID": 2, "TARGETS": [
        {"DEST": {"URI": "sip:127.0.3.2:5060", "FLAGS": "TP", "PRIORITY": 10, "ATTRS": {"WEIGHT": 50}}}]}}]}, 10)
    db_rows = [
        {"group": 2, "uri": "sip:127.0.3.2:5060", "priority": 10, "flags": 2},
        {"group": 2, "uri": "sip:gw.example.test;transport=tls", "priority": 5, "flags": 2},  # no address yet
        {"group": 2, "uri": "sip:off.example.test", "priority": 5, "flags": 4 | 2},  # disabled: not expected
        {"group": 10, "uri": "sip:carrier.example.test", "priority": 5, "flags": 0},
    ]
    rows = status.with_unloaded(listed, db_rows, carrier_group=10, disabled=4)
    assert [(r["group"], r["uri"], r["kind"], r["state"]) for r in rows] == [
        (2, "sip:127.0.3.2:5060", "gateway", "pending"),
        (2, "sip:gw.example.test;transport=tls", "gateway", "unresolved"),
        (10, "sip:carrier.example.test", "carrier", "unresolved"),
    ]
    assert [r["state"] in status.TROUBLE for r in rows] == [False, True, True]


def test_each_peer_shows_its_calls_against_its_cap_and_whether_it_is_held():
    listed = status.peers({"RECORDS": [{"SET": {"ID": 1, "TARGETS": [
        {"DEST": {"URI": "sip:127.0.3.1:5060", "FLAGS": "AP", "ATTRS": {"BODY": "weight=50;max_calls=10;max_cps=2"}}},
        {"DEST": {"URI": "sip:127.0.3.2:5060", "FLAGS": "AP", "ATTRS": {"BODY": "weight=50"}}}]}}]}, 10)
    assert [(r["max_calls"], r["max_cps"]) for r in listed] == [(10, 2), (None, None)]
    dump = [{"entry": 3, "size": 2, "slot": [{"name": "hold sip:127.0.3.2:5060", "value": 1, "type": "int"},
                                            {"name": "cps sip:127.0.3.1:5060 1795675698", "value": 2, "type": "int"}]}]
    rows = status.with_load(listed, {"sip:127.0.3.1:5060": 3}.get, status.held(dump))
    assert [(r["calls"], r["held"]) for r in rows] == [("3/10", False), (None, True)]


def test_an_unreadable_htable_dump_holds_nothing():
    for dump in (None, 5, [5], [{"slot": 5}], [{"slot": [{"name": 5}]}], [{"slot": [{"name": "hold x", "value": 0}]}]):
        assert status.held(dump) == set()
