"""Dead media: which legs are silent (sbclib.mediastats.silent_legs, on answers recorded from rtpengine and
variations of them), and the timer's sweep against the fake KSR with rtpengine's ng answers faked."""

import copy
import json
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kemi import events
from kemi.state import deadmedia
from kemi.telemetry import firstrtp
from sbclib import mediastats

DATA = Path(__file__).resolve().parents[1] / "data"
RECORDED = json.loads((DATA / "rtpengine-query-12.5.json").read_text())
LAST = 1795780279  # every stream's "last packet" in the recording


def answer(**last_packet_by_label):
    """The recording with the RTP streams of a label (private|public) last heard at the given time."""
    changed = copy.deepcopy(RECORDED)
    for monologue in changed["tags"].values():
        if monologue["label"] in last_packet_by_label:
            for media in monologue["medias"]:
                for stream in media["streams"]:
                    stream["last packet"] = last_packet_by_label[monologue["label"]]
    return changed


def on_hold(found, label):
    for monologue in found["tags"].values():
        if monologue["label"] == label:
            for media in monologue["medias"]:
                media["flags"] = [f for f in media["flags"] if f != "send"]
    return found


@pytest.mark.parametrize("now,expected", [(LAST + 10, ()), (LAST + 11, ("carrier", "gateway"))])
def test_a_call_is_silent_on_both_legs_once_neither_sent_for_the_timeout(now, expected):
    assert mediastats.silent_legs(RECORDED, now, since=LAST - 30, timeout=10) == expected


def test_one_way_silence_names_the_leg_that_stopped_sending():
    found = answer(public=LAST - 25)
    assert mediastats.silent_legs(found, LAST + 1, since=LAST - 60, timeout=20) == ("gateway",)
    assert mediastats.silent_legs(answer(private=LAST - 25), LAST + 1, LAST - 60, 20) == ("carrier",)


def test_a_leg_that_never_sent_counts_from_the_answer():
    never = answer(public=0)
    assert mediastats.silent_legs(never, LAST, since=LAST - 20, timeout=20) == ()
    assert mediastats.silent_legs(never, LAST, since=LAST - 21, timeout=20) == ("gateway",)


def test_a_leg_on_hold_is_not_due_to_send():
    assert mediastats.silent_legs(on_hold(answer(private=LAST - 100), "private"), LAST, LAST - 200, 20) == ()


def test_a_leg_relabelled_on_a_new_tag_counts_by_its_newest_packet():
    found = answer(public=LAST - 100)
    newer = copy.deepcopy(next(m for m in found["tags"].values() if m["label"] == "public"))
    for media in newer["medias"]:
        for stream in media["streams"]:
            stream["last packet"] = LAST
    found["tags"]["transferred"] = newer
    assert mediastats.silent_legs(found, LAST + 1, LAST - 200, 20) == ()


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=8)
    | st.sampled_from(["private", "public", "send", "RTP"]),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(
        st.sampled_from(["tags", "label", "medias", "streams", "flags", "last packet", "x"]), inner, max_size=5),
    max_leaves=30)


@settings(max_examples=400, deadline=None)
@given(json_values, st.integers(), st.integers(), st.integers(min_value=1))
def test_hostile_answers_give_legs_or_nothing_never_an_exception(found, now, since, timeout):
    assert set(mediastats.silent_legs(found, now, since, timeout)) <= {"carrier", "gateway"}


# ---- the sweep --------------------------------------------------------------------------------

NG_AT = ("127.0.0.1", 2223)


class Routes:
    """The media watch timer's entry point, with only the settings it reads."""

    def __init__(self, timeout=60):
        self.settings = type("S", (), {"rtpengine_ng_ip": NG_AT[0], "rtpengine_ng_port": NG_AT[1],
                                       "media_timeout": timeout})()

    def ksr_media_watch(self, msg, event):
        return events.media_watch(self, event)

    def ksr_first_rtp(self, msg, event):
        return events.first_rtp(self, event)


def watching(ksr, entries, table="mediawatch"):
    """The htable iterator yields `entries` ((Call-ID, value) pairs)."""
    pending = list(entries)
    current = {}

    def next_entry(_name):
        if not pending:
            return -1
        current["key"], current["value"] = pending.pop(0)
        return 1
    ksr.returns["htable.sht_iterator_next"] = next_entry
    ksr.returns["pv.get"] = lambda name: {f"$shtitkey({table})": current.get("key"),
                                          f"$shtitval({table})": current.get("value")}.get(name)


@pytest.fixture
def ng(monkeypatch):
    asked = {"query": [], "command": []}
    answers = {}

    def query(host, port, call_id, timeout=1.0):
        asked["query"].append(call_id)
        found = answers[call_id]
        if isinstance(found, Exception):
            raise found
        return found

    monkeypatch.setattr(deadmedia.ng, "query", query)
    monkeypatch.setattr(deadmedia.ng, "command", lambda host, port, payload, timeout=1.0:
                        asked["command"].append(payload) or {"result": "ok"})
    monkeypatch.setattr(deadmedia.time, "time", lambda: LAST + 30)
    return asked, answers


def test_the_sweep_ends_a_call_whose_gateway_went_silent_with_its_figures_and_why(ksr, ng):
    asked, answers = ng
    answers["call-1"] = answer(private=LAST + 29, public=LAST - 25)
    answers["call-2"] = answer(private=LAST + 29, public=LAST + 29)
    watching(ksr, [("call-1", f"{LAST - 60} 20 ft1 tt1"), ("call-2", f"{LAST - 60} 20 ft2 tt2")])
    Routes(timeout=20).ksr_media_watch(None, "timer")
    assert asked["query"] == ["call-1", "call-2"]
    assert ksr.actions() == [
        ("htable.sht_iterator_start", ("mediawatch", "mediawatch")),
        ("htable.sht_iterator_next", ("mediawatch",)), ("htable.sht_iterator_next", ("mediawatch",)),
        ("htable.sht_iterator_next", ("mediawatch",)), ("htable.sht_iterator_end", ("mediawatch",)),
        ("htable.sht_rm", ("mediawatch", "call-1")), ("dialog.dlg_get", ("call-1", "ft1", "tt1")),
        ("dialog.dlg_bye", ("all",))]
    assert ksr.dlg_vars["end_reason"] == "media timeout gateway"
    assert ksr.dlg_vars["gateway_packets"] == "400" and "carrier_mos" in ksr.dlg_vars
    assert ksr.counted("sbc_media_timeouts_total") == [("gateway", "none")]
    assert ksr.counted("sbc_media_checks_total") == [("silent",), ("ok",)]
    assert asked["command"] == [{"command": "delete", "call-id": "call-1", "from-tag": "ft1"}]


@pytest.mark.parametrize("timeout", ["20", "0"])
def test_the_sweep_ends_a_call_at_its_maximum_duration_whatever_its_media(ksr, ng, timeout):
    asked, answers = ng
    answers["long"] = answers["short"] = answer(private=LAST + 29, public=LAST + 29)  # both legs talking
    watching(ksr, [("long", f"{LAST} {timeout} ft1 tt1 30"), ("short", f"{LAST + 1} {timeout} ft2 tt2 30")])
    Routes(timeout=20).ksr_media_watch(None, "timer")
    assert ksr.called("dialog.dlg_get") == [("long", "ft1", "tt1")] and ksr.called("dialog.dlg_bye") == [("all",)]
    assert ksr.dlg_vars["end_reason"] == "max duration"
    assert ksr.counted("sbc_limited_total") == [("tenant", "duration")]
    assert ksr.counted("sbc_media_checks_total") == [("ok",)]  # the other call, 29 s in
    assert asked["command"] == [{"command": "delete", "call-id": "long", "from-tag": "ft1"}]


def test_the_bye_of_a_call_the_sbc_ends_says_why():
    assert deadmedia.REASONS["max duration"] == 'Q.850;cause=102;text="max duration"'


def test_a_call_rtpengine_no_longer_knows_is_forgotten_not_ended(ksr, ng):
    asked, answers = ng
    answers["gone"] = {"result": "error", "error-reason": "Unknown call-id"}
    watching(ksr, [("gone", f"{LAST} 20 a b")])
    Routes(timeout=20).ksr_media_watch(None, "timer")
    assert ksr.called("htable.sht_rm") == [("mediawatch", "gone")]
    assert ksr.called("dialog.dlg_bye") == [] and asked["command"] == []
    assert ksr.counted("sbc_media_checks_total") == [("unknown call",)]


def test_when_rtpengine_does_not_answer_nothing_is_decided(ksr, ng):
    asked, answers = ng
    answers["call-1"] = TimeoutError("timed out")
    watching(ksr, [("call-1", f"{LAST - 600} 20 a b"), ("call-2", f"{LAST - 600} 20 c d")])
    Routes(timeout=20).ksr_media_watch(None, "timer")
    assert asked["query"] == ["call-1"]  # the round ends at the first silence of rtpengine itself
    assert ksr.called("dialog.dlg_bye") == [] and ksr.called("htable.sht_rm") == []
    assert ksr.counted("sbc_media_checks_total") == [("no answer",)]


def test_a_call_that_ended_meanwhile_is_left_alone(ksr, ng):
    asked, answers = ng
    answers["call-1"] = answer(public=LAST - 25)
    watching(ksr, [("call-1", f"{LAST - 60} 20 a b")])
    ksr.returns["dialog.dlg_get"] = -1
    Routes(timeout=20).ksr_media_watch(None, "timer")
    assert ksr.called("dialog.dlg_bye") == [] and asked["command"] == []


def test_a_call_is_judged_by_its_own_timeout(ksr, ng):
    asked, answers = ng
    answers["call-1"] = answer(private=LAST + 29, public=LAST - 25)  # gateway silent 55 s
    watching(ksr, [("call-1", f"{LAST - 60} 60 a b")])
    Routes(timeout=20).ksr_media_watch(None, "timer")
    assert ksr.called("dialog.dlg_bye") == []
    assert ksr.counted("sbc_media_checks_total") == [("ok",)]


@pytest.mark.parametrize("default,tenant,duration,watched", [
    (60, None, None, "1000 60 a b 0"), (60, "5", None, "1000 5 a b 0"), (60, "0", None, None), (0, None, None, None),
    (0, "30", None, "1000 30 a b 0"), (60, None, "14400", "1000 60 a b 14400"), (60, "0", "90", "1000 0 a b 90")])
def test_a_call_is_watched_for_its_tenants_timeout_or_the_default(ksr, monkeypatch, default, tenant, duration,
                                                                  watched):
    ksr.returns["pv.get"] = {"$dlg(callid)": "call-1", "$ft": "a", "$tt": "b"}.get
    if tenant is not None:
        ksr.dlg_vars["media_timeout"] = tenant
    if duration is not None:
        ksr.dlg_vars["max_duration"] = duration
    monkeypatch.setattr(deadmedia.time, "time", lambda: 1000.5)
    deadmedia.watch(default)
    assert ksr.called("htable.sht_sets") == ([("mediawatch", "call-1", watched)] if watched else [])


def test_a_crash_in_the_sweep_is_logged_not_raised(ksr, ng):
    ksr.returns["htable.sht_iterator_start"] = lambda *a: 1 / 0
    assert Routes(timeout=20).ksr_media_watch(None, "timer") == 1
    assert "media watch crashed" in ksr.logged()


def test_dialog_start_watches_the_call_and_keeps_the_callees_call_id(ksr, monkeypatch):
    from tests.unit.test_routes import make_routes, request
    request(ksr, method="INVITE", totag=True)
    ksr.returns["pv.get"] = {"$dlg(callid)": "call-1", "$ft": "a", "$tt": "b"}.get
    monkeypatch.setattr(deadmedia.time, "time", lambda: 1000.5)
    monkeypatch.setattr(firstrtp.time, "monotonic", lambda: 77.25)
    make_routes(MEDIA_TIMEOUT="60").ksr_dialog_event(None, "dialog:start")
    assert ksr.called("htable.sht_sets") == [("mediawatch", "call-1", "1000 60 a b 0"),
                                             ("firstrtp", "call-1", "77.250 a b 77.250")]  # until its first RTP
    assert ksr.dlg_vars["callee_callid"] == "call-1"
    make_routes().ksr_dialog_event(None, "dialog:end")
    assert ksr.called("htable.sht_rm") == [("mediawatch", "call-1"), ("firstrtp", "call-1")]


# ---- time to the agent's first RTP (kemi/telemetry/firstrtp.py) ------------------------------------

def silent_gateway():
    """The recording with no packet from the gateway's leg yet."""
    found = copy.deepcopy(RECORDED)
    for monologue in found["tags"].values():
        if monologue["label"] == "public":
            for media in monologue["medias"]:
                for stream in media["streams"]:
                    stream["stats"]["packets"] = 0
    return found


def test_the_agents_first_rtp_is_recorded_once_its_leg_has_sent_and_the_rest_wait(ksr, ng, monkeypatch):
    asked, answers = ng
    answers.update({"call-1": RECORDED, "call-2": silent_gateway(), "call-3": silent_gateway(),
                    "call-4": {"result": "error", "error-reason": "Unknown call-id"}})
    monkeypatch.setattr(firstrtp.time, "monotonic", lambda: 100.0)
    watching(ksr, [("call-1", "98.760 ft1 tt1"), ("call-2", "99.5 ft2 tt2"), ("call-3", "89.9 ft3 tt3"),
                   ("call-4", "99.0 ft4 tt4")], "firstrtp")
    ksr.returns["dialog.dlg_get"] = 1
    Routes().ksr_first_rtp(None, "timer")
    assert asked["query"] == ["call-1", "call-2", "call-3", "call-4"]
    assert ksr.called("htable.sht_rm") == [("firstrtp", "call-1"), ("firstrtp", "call-3"), ("firstrtp", "call-4")]
    assert ksr.dlg_vars["agent_rtp_ms"] == "1240"  # call-1; call-2 waits; call-3 past 10 s; call-4 gone
    assert ksr.called("xhttp_prom.histogram_observe_l1") == [("sbc_agent_first_rtp_seconds", "1.240", "none")]
    assert ksr.counted("sbc_agent_rtp_missing_total") == [("none",), ("none",)]
    assert ksr.called("htable.sht_sets") == [("firstrtp", "call-2", "99.5 ft2 tt2 100.100")]  # again in 100 ms


def test_a_call_is_asked_when_due_100_ms_apart_then_500_and_a_round_asks_at_most_max_asks(ksr, ng, monkeypatch):
    asked, answers = ng
    monkeypatch.setattr(firstrtp.time, "monotonic", lambda: 100.0)
    quiet = silent_gateway()
    entries = [("not-due", "99.0 a b 100.050"), ("late", "97.0 c d 99.9")]
    entries += [(f"call-{i}", f"99.9 t{i} u{i} 0") for i in range(firstrtp.MAX_ASKS + 5)]
    answers.update({callid: quiet for callid, _ in entries})
    watching(ksr, entries, "firstrtp")
    Routes().ksr_first_rtp(None, "timer")
    assert "not-due" not in asked["query"] and len(asked["query"]) == firstrtp.MAX_ASKS
    assert ("firstrtp", "late", "97.0 c d 100.500") in ksr.called("htable.sht_sets")  # 3 s in: every 500 ms
    assert firstrtp.next_ask(10.0, 1.9) == pytest.approx(10.1) and firstrtp.next_ask(10.0, 2.0) == 10.5


def test_the_first_rtp_watch_waits_for_rtpengine_and_never_crashes(ksr, ng):
    asked, answers = ng
    answers["call-1"] = OSError("timed out")
    watching(ksr, [("call-1", "98.7 ft1 tt1"), ("call-2", "98.7 ft2 tt2")], "firstrtp")
    Routes().ksr_first_rtp(None, "timer")
    assert asked["query"] == ["call-1"] and ksr.called("htable.sht_rm") == []
    ksr.returns["htable.sht_iterator_start"] = lambda *a: 1 / 0
    Routes().ksr_first_rtp(None, "timer")
    assert "first RTP watch crashed" in ksr.logged()
