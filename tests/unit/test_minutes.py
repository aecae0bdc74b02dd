"""A tenant's outbound minutes per rolling 24 h (kemi/access/minutes.py): refused at admission once spent, counted
from answer to end in Redis, and live calls ended by the media-check round when the minutes run out."""

import pytest

from kemi.access import minutes
from kemi.state import deadmedia
from sbclib.tenancy import Tenant
from tests.unit import test_routes
from tests.unit.test_deadmedia import LAST, Routes, answer, ng, watching  # noqa: F401 (ng: a fixture)
from tests.unit.test_routes import make_routes, outbound

CAPPED = Tenant("acme", True, 21, max_calls=2, max_cps=5, default_did="+14155550201", max_minutes_24h=10)


def redis(ksr, answers):
    """ndb_redis as Redis would answer each script: `answers` maps a script to an integer, or to a function of
    the tenant giving one (None: the server did not answer, "error": an error reply). The scripts run are in
    the list returned."""
    ran = []
    reply = {}

    def cmd(server, fmt, script, tenant, arg, result):
        ran.append((server, fmt, script, tenant, arg, result))
        value = answers[script](tenant) if callable(answers[script]) else answers[script]
        if value is None:
            return -1
        reply.update(type=6 if value == "error" else 3, value=0 if value == "error" else value)
        return 1

    ksr.returns["ndb_redis.redis_cmd_p3"] = cmd
    ksr.returns["pv.geti"] = lambda name: {"$redis(sbc_minutes=>type)": reply.get("type"),
                                           "$redis(sbc_minutes=>value)": reply.get("value")}.get(name, 0)
    return ran


@pytest.mark.parametrize("used,cap,out", [(0, 0, False), (10**9, 0, False), (599, 10, False), (600, 10, True),
                                          (601, 10, True), (0, 1, False), (60, 1, True)])
def test_a_tenant_is_out_of_minutes_only_when_capped_and_spent(used, cap, out):
    assert minutes.exhausted(used, cap) is out


def test_a_capped_tenant_with_minutes_left_calls_and_its_call_counts_against_them(ksr, monkeypatch):
    monkeypatch.setitem(test_routes.TENANTS, "acme", CAPPED)
    outbound(ksr)
    ran = redis(ksr, {minutes.USED: 599})
    make_routes().ksr_request_route(None)
    assert ran == [("tps", "EVAL %s 1 %s %s", minutes.USED, "acme", "14400", "sbc_minutes")]  # live calls younger
    assert ksr.called("tm.t_relay") == [()]                                                # than the longest call
    assert ksr.dlg_vars["minutes_cap"] == "10"
    assert ksr.called("ndb_redis.redis_free") == [("sbc_minutes",), ("sbc_ping",)]  # then the topology store's


def test_a_capped_tenant_out_of_minutes_gets_403_a_record_and_a_count(ksr, monkeypatch):
    monkeypatch.setitem(test_routes.TENANTS, "acme", CAPPED)
    outbound(ksr)
    redis(ksr, {minutes.USED: 600})
    make_routes().ksr_request_route(None)
    assert ksr.called("tm.t_reply") == [(403, "Tenant Minutes Exhausted")]
    assert ksr.called("tm.t_relay") == [] and ksr.called("dispatcher.ds_select_dst") == []
    assert ksr.counted("sbc_limited_total") == [("tenant", "minutes")]
    assert ksr.dlg_vars["end_reason"] == "refused minutes cap: 10 of 10 used"
    assert "minutes_cap" not in ksr.dlg_vars


@pytest.mark.parametrize("failure", [None, "error"])
def test_without_an_answer_from_redis_a_capped_tenants_call_gets_503_never_a_free_pass(ksr, monkeypatch, failure):
    monkeypatch.setitem(test_routes.TENANTS, "acme", CAPPED)
    outbound(ksr)
    redis(ksr, {minutes.USED: failure})
    make_routes().ksr_request_route(None)
    assert ksr.replies() == [(503, "Service Unavailable")] and ksr.called("tm.t_relay") == []
    assert "minutes cannot be read" in ksr.logged()


def test_an_uncapped_tenant_and_inbound_calls_never_ask_redis_about_minutes(ksr, monkeypatch):
    outbound(ksr)
    ran = redis(ksr, {})
    make_routes().ksr_request_route(None)
    monkeypatch.setitem(test_routes.TENANTS, "acme", CAPPED)
    test_routes.request(ksr, ruser="4155550201")  # acme's DID, from the carrier
    redis(ksr, {})
    make_routes().ksr_request_route(None)
    assert ran == [] and ksr.called("tm.t_relay") == [(), ()]
    assert "minutes_cap" not in ksr.dlg_vars


def test_a_capped_call_is_live_from_its_answer_and_settled_at_its_end(ksr, monkeypatch):
    test_routes.request(ksr, method="INVITE", totag=True)
    ran = redis(ksr, {minutes.START: 1, minutes.SETTLE: 42})
    ksr.dlg_vars.update(minutes_cap="10", tenant="acme", max_duration="14400")
    ksr.returns["pv.get"] = {"$dlg(callid)": "call-1", "$ft": "a", "$tt": "b"}.get  # $dlg_var: the fake's
    monkeypatch.setattr(deadmedia.time, "time", lambda: 1000.5)
    make_routes(MEDIA_TIMEOUT="60").ksr_dialog_event(None, "dialog:start")
    assert ksr.called("htable.sht_sets")[0] == ("mediawatch", "call-1", "1000 60 a b 14400 10 acme")
    make_routes().ksr_dialog_event(None, "dialog:end")
    assert [(script, tenant, arg) for _, _, script, tenant, arg, _ in ran] == [
        (minutes.START, "acme", "call-1"), (minutes.SETTLE, "acme", "call-1")]
    assert ksr.called("warn") == [], ksr.called("warn")


def test_a_start_or_end_redis_did_not_take_is_logged_and_counted(ksr):
    redis(ksr, {minutes.START: None, minutes.SETTLE: "error"})
    ksr.dlg_vars.update(minutes_cap="10", tenant="acme")
    ksr.returns["pv.get"] = {"$dlg(callid)": "call-1", "$ft": "a", "$tt": "b"}.get  # $dlg_var: the fake's
    make_routes().ksr_dialog_event(None, "dialog:start")
    make_routes().ksr_dialog_event(None, "dialog:end")
    assert ksr.counted("sbc_limited_total") == [("tenant", "minutes unrecorded")] * 2
    assert "Redis did not take the call's start" in ksr.logged() and "call's end" in ksr.logged()


def test_the_round_ends_a_capped_tenants_calls_once_its_minutes_ran_out_asking_once_per_tenant(ksr, ng):  # noqa: F811
    asked, answers = ng
    for call in ("a1", "a2", "b1", "free"):
        answers[call] = answer(private=LAST + 29, public=LAST + 29)  # all talking
    ran = redis(ksr, {minutes.USED: {"acme": 600, "beta": 599}.get})
    watching(ksr, [("a1", f"{LAST} 20 f1 t1 14400 10 acme"), ("b1", f"{LAST} 20 f3 t3 14400 10 beta"),
                   ("a2", f"{LAST} 20 f2 t2 0 10 acme"), ("free", f"{LAST} 20 f4 t4 14400")])
    Routes(timeout=20).ksr_media_watch(None, "timer")
    assert [(r[3], r[4]) for r in ran] == [("acme", "14400"), ("beta", "14400")]  # once per tenant
    assert ksr.called("dialog.dlg_get") == [("a1", "f1", "t1"), ("a2", "f2", "t2")]
    assert ksr.dlg_vars["end_reason"] == "minutes cap"
    assert ksr.counted("sbc_limited_total") == [("tenant", "minutes ended")] * 2
    assert asked["query"] == ["a1", "b1", "a2", "free"]


def test_when_redis_does_not_answer_the_round_ends_nothing_for_minutes(ksr, ng):  # noqa: F811
    asked, answers = ng
    answers["a1"] = answer(private=LAST + 29, public=LAST + 29)
    redis(ksr, {minutes.USED: None})
    watching(ksr, [("a1", f"{LAST} 20 f1 t1 14400 10 acme")])
    Routes(timeout=20).ksr_media_watch(None, "timer")
    assert ksr.called("dialog.dlg_bye") == [] and ksr.counted("sbc_media_checks_total") == [("ok",)]


def test_the_bye_of_a_call_ended_for_minutes_says_so():
    assert deadmedia.REASONS[deadmedia.MINUTES_CAP] == 'Q.850;cause=102;text="minutes cap"'
