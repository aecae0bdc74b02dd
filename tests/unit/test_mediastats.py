"""Media figures per leg from rtpengine's query answer (sbclib.mediastats): answers recorded from rtpengine
10.5 (Debian 12) and 12.5 (Debian 13, the image) for a call whose carrier sent 10 % loss and
10 ms of jitter, made-up answers for what they did not show, and generated hostile answers."""

import copy
import json
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from sbclib import mediastats
from sbclib.mediastats import Leg

DATA = Path(__file__).resolve().parents[1] / "data"
RECORDED = json.loads((DATA / "rtpengine-query-10.5.json").read_text())
RECORDED_12 = json.loads((DATA / "rtpengine-query-12.5.json").read_text())


def test_each_leg_is_known_by_its_label_and_carries_what_its_endpoint_reported():
    assert mediastats.legs(RECORDED) == {
        "carrier": Leg(packets=360, bytes=61920, mos=4.4, mos_min=4.4, jitter_ms=0, loss_pct=0, rtt_ms=0.3),
        "gateway": Leg(packets=400, bytes=68800, mos=3.4, mos_min=3.4, jitter_ms=8, loss_pct=9, rtt_ms=0.2)}


def test_rtpengine_12_names_a_streams_ssrcs_as_ingress_ssrcs():
    legs = mediastats.legs(RECORDED_12)
    assert {leg: (f.packets, f.bytes, f.mos is not None) for leg, f in legs.items()} == {
        "carrier": (360, 61920, True), "gateway": (400, 68800, True)}
    assert legs["carrier"].loss_pct == 0 and 8 <= legs["gateway"].loss_pct <= 10 and legs["gateway"].mos < 4


def test_the_record_fields_leave_absent_figures_out():
    assert Leg(packets=5, bytes=860).fields() == {"packets": "5", "bytes": "860"}
    assert Leg(1, 2, 4.1, 3.9, 7, 2, 12.5).fields() == {
        "packets": "1", "bytes": "2", "mos": "4.1", "mos_min": "3.9", "jitter_ms": "7", "loss_pct": "2",
        "rtt_ms": "12.5"}


def test_a_leg_without_rtcp_has_packets_only():
    answer = copy.deepcopy(RECORDED)
    answer["SSRC"] = {}
    assert {leg: (f.packets, f.mos, f.loss_pct) for leg, f in mediastats.legs(answer).items()} == {
        "carrier": (360, None, None), "gateway": (400, None, None)}


def test_unlabelled_legs_are_left_out_and_a_second_ssrc_of_a_leg_is_averaged_in():
    answer = copy.deepcopy(RECORDED)
    tags = list(answer["tags"].values())
    tags[0]["label"] = "someone else"
    gateway = next(t for t in tags if t.get("label") == "public")
    stream = gateway["medias"][0]["streams"][0]
    first = str(stream["SSRC"])
    gateway["medias"].append({"streams": [{**stream, "SSRC": 99, "stats": {"packets": 10, "bytes": 1720}}]})
    answer["SSRC"]["99"] = {"average MOS": {"MOS": 20, "jitter": 40, "packet loss": 31, "round-trip time": 0},
                            "lowest MOS": {"MOS": 15}}
    legs = mediastats.legs(answer)
    assert set(legs) == {"gateway"}
    recorded = answer["SSRC"][first]["average MOS"]
    assert legs["gateway"] == Leg(packets=410, bytes=68800 + 1720, mos=round((recorded["MOS"] + 20) / 20, 1),
                                  mos_min=1.5, jitter_ms=round((recorded["jitter"] + 40) / 2),
                                  loss_pct=round((recorded["packet loss"] + 31) / 2),
                                  rtt_ms=round(recorded["round-trip time"] / 1000, 1))


def test_text_that_is_not_an_answer_gives_nothing():
    for text in (None, "", "{", "[]", "null", '"x"', '{"tags": []}', '{"tags": {"a": 1}}'):
        assert mediastats.parse(text) == {}


JSON = st.recursive(st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | st.text(max_size=8),
                    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(
                        st.sampled_from(["tags", "SSRC", "label", "medias", "streams", "flags", "stats", "packets",
                                         "bytes", "average MOS", "lowest MOS", "MOS", "jitter", "packet loss",
                                         "round-trip time", "private", "public", "RTP", "1", "ingress SSRCs"])
                        | st.text(max_size=4),
                        inner, max_size=5), max_leaves=30)


@settings(max_examples=400, deadline=None)
@given(JSON)
def test_a_hostile_answer_never_raises(answer):
    legs = mediastats.legs(answer)
    assert set(legs) <= {"carrier", "gateway"}
    mediastats.parse(json.dumps(answer))


@settings(max_examples=200, deadline=None)
@given(st.data())
def test_the_recorded_answer_with_any_value_replaced_never_raises(data):
    answer = copy.deepcopy(RECORDED)
    node = answer
    while isinstance(node, dict | list) and node:
        keys = list(node) if isinstance(node, dict) else list(range(len(node)))
        key = data.draw(st.sampled_from(keys))
        if data.draw(st.booleans()) or not isinstance(node[key], dict | list):
            node[key] = data.draw(JSON)
            break
        node = node[key]
    mediastats.legs(answer)
