"""Ringback toward the carrier (sbclib/ringback.py, kemi/gateways/ringback.py): the cadence setting, the tone
rendered, the 180's SDP from the carrier's offer, rtpengine's carrier port from its query, and the route's
calls: play then 180 with SDP; a bare 180 whenever a step is missing; stopped by the gateway's first SDP."""

from __future__ import annotations

import dataclasses
import io
import ipaddress
import json
import re
import struct
import wave

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kemi.context import Reply
from kemi.gateways import attempts
from kemi.gateways import ringback as kemi_ringback
from kemi.telemetry import metrics
from sbclib import ringback, settings
from sbclib.fields import ConfigError
from tests.integration.baresip import tone_share
from tests.unit import test_routes
from tests.unit.test_routes import make_routes, request

US = "440+480/2000,0/4000"
OFFER = ("v=0\r\no=- 1 1 IN IP4 127.0.4.2\r\ns=-\r\nc=IN IP4 127.0.4.2\r\nt=0 0\r\n"
         "m=audio 40000 RTP/AVP 0 8 101\r\na=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-16\r\na=sendrecv\r\n")
# What rtpengine 10.5 answers a query after the offer only (the gateway's leg untagged yet), as JSON.
QUERY = {"created": 1, "tags": {
    "from-1": {"tag": "from-1", "label": "private", "medias": [{"index": 1, "type": "audio", "protocol": "RTP/AVP",
               "streams": [{"local port": 30000, "local address": "127.0.1.1", "family": "IP4"},
                           {"local port": 30001, "local address": "127.0.1.1", "family": "IP4"}]}]},
    "": {"tag": "", "medias": [{"index": 1, "type": "audio",
                                "streams": [{"local port": 30002, "local address": "127.0.2.1"}]}]}}}


# ---- the cadence -------------------------------------------------------------------------------------

@pytest.mark.parametrize("spec,segments", [
    (US, (((440, 480), 2000), ((), 4000))),
    ("425/1000,0/4000", (((425,), 1000), ((), 4000))),
    (" 400+450/400, 0/200 ,400+450/400,0/2000", (((400, 450), 400), ((), 200), ((400, 450), 400), ((), 2000))),
    ("350+440+480/1000", (((350, 440, 480), 1000),)),
])
def test_a_cadence_is_read_as_its_segments(spec, segments):
    assert ringback.cadence("RINGBACK_TONE", spec) == segments


@pytest.mark.parametrize("spec,problem", [
    ("", "segments"), ("0/4000", "silence only"), ("440/0", "10..10000 ms"), ("440/20000", "10..10000 ms"),
    ("10/1000", "20..3900 Hz"), ("4000/1000", "20..3900 Hz"), ("440", "Hz[+Hz[+Hz]]/ms"), ("440+/100", "Hz[+Hz"),
    ("1+2+3+4/100", "Hz[+Hz"), ("440/1000,", "Hz[+Hz"), (",".join(["440/100"] * 17), "segments"),
    ("440/10000,0/10000,440/10000,0/1000", "at most 30000 ms"), ("440Hz/1000", "Hz[+Hz"), ("-440/100", "Hz[+Hz"),
])
def test_a_cadence_that_is_no_tone_is_refused_naming_the_setting(spec, problem):
    with pytest.raises(ConfigError) as refused:
        ringback.cadence("RINGBACK_TONE", spec)
    assert refused.value.field == "RINGBACK_TONE" and problem in str(refused.value)


@given(st.text(max_size=60))
def test_any_text_is_a_cadence_or_a_refusal_naming_the_setting(spec):
    try:
        segments = ringback.cadence("RINGBACK_TONE", spec)
    except ConfigError as refused:
        assert refused.field == "RINGBACK_TONE"
    else:
        assert segments and any(tones for tones, _ in segments) and sum(ms for _, ms in segments) <= 30000


def test_the_settings_default_is_north_americas_ringback_and_a_bad_one_stops_the_start():
    assert settings.load({}).ringback_tone == (((440, 480), 2000), ((), 4000))
    with pytest.raises(ConfigError) as refused:
        settings.load({"RINGBACK_TONE": "ring"})
    assert refused.value.field == "RINGBACK_TONE"


def _pcm(data: bytes) -> tuple[int, list[int]]:
    with wave.open(io.BytesIO(data)) as file:
        assert (file.getnchannels(), file.getsampwidth()) == (1, 2)
        frames = file.readframes(file.getnframes())
        return file.getframerate(), list(struct.unpack(f"<{len(frames) // 2}h", frames))


def test_the_rendered_tone_is_the_cadence_at_its_frequencies_and_silent_between():
    rate, pcm = _pcm(ringback.wav(ringback.cadence("RINGBACK_TONE", "1000/500,0/250,2000/250")))
    assert rate == 8000 and len(pcm) == 8000  # 1 s: 500 + 250 + 250 ms
    on, off, second = pcm[:4000], pcm[4000:6000], pcm[6000:]
    assert tone_share(on, 1000) > 0.99 and tone_share(second, 2000) > 0.99
    assert not any(off) and max(map(abs, pcm)) <= ringback.PEAK


def test_a_mixed_tone_shares_its_amplitude():
    _, pcm = _pcm(ringback.wav(ringback.cadence("RINGBACK_TONE", US)))
    assert len(pcm) == 6 * 8000 and not any(pcm[16000:])
    assert tone_share(pcm[:16000], 440) > 0.3 and tone_share(pcm[:16000], 480) > 0.3
    assert max(map(abs, pcm)) <= ringback.PEAK


def test_the_player_repeats_the_cycle_for_ten_minutes():
    assert ringback.repeats(ringback.cadence("RINGBACK_TONE", US)) == 100
    assert ringback.repeats(ringback.cadence("RINGBACK_TONE", "425/1000,0/4000")) == 120


# ---- the 180's SDP -------------------------------------------------------------------------------------

def test_the_answer_names_rtpengines_port_with_the_carriers_own_formats():
    assert ringback.answer(OFFER, "127.0.1.1", 30000, 77) == (
        "v=0\r\no=- 77 77 IN IP4 127.0.1.1\r\ns=-\r\nc=IN IP4 127.0.1.1\r\nt=0 0\r\n"
        "m=audio 30000 RTP/AVP 0 8 101\r\na=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-16\r\na=sendrecv\r\n")


def test_every_other_stream_is_refused_in_the_offers_order():
    offer = ("v=0\r\nc=IN IP4 127.0.4.2\r\nm=video 40002 RTP/AVP 96\r\na=rtpmap:96 H264/90000\r\n"
             "m=audio 0 RTP/AVP 0\r\nm=audio 40000 RTP/AVP 18 0\r\na=rtpmap:18 G729/8000\r\n"
             "m=audio 40004 RTP/AVP 8\r\n")
    sdp = ringback.answer(offer, "127.0.1.1", 30000, 1)
    assert re.findall(r"^m=.*$", sdp, re.M) == [
        "m=video 0 RTP/AVP 96\r", "m=audio 0 RTP/AVP 0\r", "m=audio 30000 RTP/AVP 18 0\r", "m=audio 0 RTP/AVP 8\r"]


@pytest.mark.parametrize("offer", [
    "", "v=0\r\n", "v=0\r\nm=audio 40000 RTP/SAVP 0\r\n", "v=0\r\nm=audio 0 RTP/AVP 0\r\n",
    "v=0\r\nm=audio 40000 RTP/AVP 96\r\n",  # a dynamic type it does not describe: nothing to play in
    "v=0\r\nm=audio 40000 RTP/AVP 0 x\r\n", "v=0\r\nm=audio 40000 RTP/AVP 0 300\r\n", "v=0\r\nm=audio RTP/AVP 0\r\n",
    "v=0\r\nm=video 40000 RTP/AVP 96\r\n",
])
def test_an_offer_without_a_plain_audio_stream_it_can_name_gets_no_answer(offer):
    assert ringback.answer(offer, "127.0.1.1", 30000, 1) is None


def test_undescribed_dynamic_types_and_foreign_attributes_are_left_out():
    offer = ("v=0\r\nc=IN IP4 127.0.4.2\r\nm=audio 40000 RTP/AVP 0 97 101\r\na=rtpmap:101 telephone-event/8000\r\n"
             "a=fmtp:0 x=1\r\na=candidate:1 1 UDP 1 127.0.9.9 4000 typ host\r\na=crypto:1 AES_CM_128 inline:x\r\n"
             "a=rtpmap:102 opus/48000/2\r\n")
    sdp = ringback.answer(offer, "127.0.1.1", 30000, 1)
    assert "m=audio 30000 RTP/AVP 0 101\r\n" in sdp and "127.0.9.9" not in sdp and "crypto" not in sdp
    assert "opus" not in sdp and "a=fmtp:0 x=1" in sdp


_ADDRESS = st.ip_addresses(v=4).map(str)
_PT = st.integers(0, 127).map(str)
_LINE = st.text(st.characters(min_codepoint=32, max_codepoint=0x2FF), max_size=40)


@st.composite
def offers(draw):
    """Offers as carriers send them (streams of any kind, attributes of all sorts), and noise among them."""
    lines = ["v=0", f"o={draw(_LINE)}", f"c=IN IP4 {draw(_ADDRESS)}"]
    for _ in range(draw(st.integers(0, 4))):
        kind = draw(st.sampled_from(["audio", "video", "image", "application", "Audio"]))
        proto = draw(st.sampled_from(["RTP/AVP", "RTP/SAVP", "UDP/TLS/RTP/SAVPF", "udptl"]))
        formats = draw(st.lists(_PT, min_size=1, max_size=6))
        lines.append(f"m={kind} {draw(st.integers(0, 65535))} {proto} {' '.join(formats)}")
        lines += [f"c=IN IP4 {draw(_ADDRESS)}", *draw(st.lists(st.one_of(
            st.builds(lambda pt, name: f"a=rtpmap:{pt} {name}/8000", _PT, st.sampled_from(["PCMU", "opus", "x y"])),
            st.builds(lambda pt, value: f"a=fmtp:{pt} {value}", _PT, _LINE),
            _LINE.map(lambda text: f"a={text}"), _LINE), max_size=5))]
    return draw(st.sampled_from(["\r\n", "\n"])).join(lines)


@given(offers(), st.integers(1, 65535))
def test_any_offer_is_answered_with_our_address_only_and_one_line_per_stream_or_not_at_all(offer, port):
    sdp = ringback.answer(offer, "127.0.1.1", port, 5)
    if sdp is None:
        return
    lines = sdp.split("\r\n")
    assert lines[-1] == "" and all(re.fullmatch(r"[a-z]=[\x20-\x7e]*", line) for line in lines[:-1])
    addresses = set(re.findall(r"\b\d{1,3}(?:\.\d{1,3}){3}\b", sdp))
    assert addresses == {"127.0.1.1"} or all(a in offer for a in addresses - {"127.0.1.1"}), addresses
    assert not re.search(r"^(c|a=candidate|a=crypto|a=fingerprint)", "\n".join(
        line for line in lines if not line.startswith(("c=IN IP4 127.0.1.1",))), re.M)
    assert [line[2:].split()[0] for line in lines if line.startswith("m=")] == [
        line[2:].split()[0] for line in re.split(r"\r?\n", offer) if line.startswith("m=")]
    assert sum(line.startswith(f"m=audio {port} RTP/AVP ") for line in lines) == 1


@given(st.text(max_size=300))
def test_any_body_is_answered_or_not_without_an_error(body):
    sdp = ringback.answer(body, "127.0.1.1", 30000, 5)
    assert sdp is None or sdp.startswith("v=0\r\no=- 5 5 IN IP4 127.0.1.1\r\n")


# ---- rtpengine's port for the carrier ------------------------------------------------------------------

def test_the_carriers_port_is_its_monologues_first_audio_stream():
    assert ringback.carrier_leg(QUERY, "from-1") == ("127.0.1.1", 30000)
    assert ringback.carrier_leg(QUERY, "other") is None


@pytest.mark.parametrize("query", [None, [], {}, {"tags": []}, {"tags": {"from-1": {}}},
                                   {"tags": {"from-1": {"medias": [{"type": "video", "streams": []}]}}},
                                   {"tags": {"from-1": {"medias": [{"type": "audio", "streams": []}]}}},
                                   {"tags": {"from-1": {"medias": [{"type": "audio", "streams": [
                                       {"local port": "30000", "local address": "127.0.1.1"}]}]}}},
                                   {"tags": {"from-1": {"medias": [{"type": "audio", "streams": [
                                       {"local port": 0, "local address": "127.0.1.1"}]}]}}}])
def test_a_query_without_the_carriers_stream_has_no_port(query):
    assert ringback.carrier_leg(query, "from-1") is None


@given(st.recursive(st.none() | st.integers() | st.text(max_size=8),
                    lambda inner: st.lists(inner, max_size=3)
                    | st.dictionaries(st.text(max_size=12), inner, max_size=3),
                    max_leaves=12))
def test_any_query_gives_a_port_or_none(query):
    leg = ringback.carrier_leg(query, "from-1")
    assert leg is None or (isinstance(leg[0], str) and 1 <= leg[1] <= 65535)


@pytest.mark.parametrize("tag,ok", [("from-1", True), ("a.b!c%d*e_f+g`h'i~j", True), ("", False),
                                    ("x file=/etc/passwd", False), ("x=1", False), (None, False), ("t" * 129, False)])
def test_only_a_token_goes_into_rtpengines_flags(tag, ok):
    assert ringback.token(tag) is ok


# ---- the routes ---------------------------------------------------------------------------------------

@pytest.fixture
def ringing_tenant(monkeypatch):
    acme = dataclasses.replace(test_routes.TENANTS["acme"], ringback=True)
    monkeypatch.setitem(test_routes.TENANTS, "acme", acme)
    monkeypatch.setattr(kemi_ringback, "FILE", "/var/lib/sbc/ringback.wav")


def _inbound(ksr, query=QUERY, body=OFFER):
    request(ksr, ruser="4155550201", duri="sip:127.0.3.21:5060")
    ksr.pvs["$ft"] = "from-1"
    ksr.returns["kx.get_body"] = body
    ksr.returns["pv.get"] = lambda name: (json.dumps(query) if name == kemi_ringback.QUERY_VAR
                                          else ksr.pvs.get(name))


def test_a_ringback_tenants_call_plays_then_answers_the_carrier_180_with_that_port(ksr, ringing_tenant, monkeypatch):
    monkeypatch.setattr(kemi_ringback.secrets, "randbits", lambda bits: 77)
    _inbound(ksr)
    make_routes().ksr_request_route(None)
    after_relay = [c for c in ksr.actions()[[f for f, _ in ksr.actions()].index("tm.t_relay") + 1:]]
    assert after_relay == [
        ("rtpengine.rtpengine_query_v", ("j", kemi_ringback.QUERY_VAR)),
        ("rtpengine.play_media", ("from-tag=from-1 file=/var/lib/sbc/ringback.wav repeat-times=100",)),
        ("pv.seti", (kemi_ringback.PLAYING_AVP, 1)),
        ("textops.set_reply_body", (ringback.answer(OFFER, "127.0.1.1", 30000, 77), "application/sdp")),
        ("hdr.append_to_reply", ("Contact: <sip:127.0.1.1:5060>\r\n",)),
        ("tm.t_reply", (180, "Ringing")),
    ]
    assert ksr.counted(metrics.RINGBACK) == [("acme", "played")]


@pytest.mark.parametrize("case,result", [
    ("query refused", "no query"), ("query empty", "no query"), ("other address", "no query"),
    ("no body", "offer"), ("late offer", "offer"), ("secure offer", "offer"), ("odd tag", "offer"),
    ("player refused", "player"),
    ("no file", "no file"),
])
def test_any_step_missing_leaves_the_carrier_a_bare_180_and_nothing_played(ksr, ringing_tenant, monkeypatch, case,
                                                                            result):
    query = dict(QUERY)
    if case == "other address":
        query = json.loads(json.dumps(QUERY).replace("127.0.1.1", "127.0.9.9"))
    _inbound(ksr, query=query, body={"no body": None, "late offer": "",
                                     "secure offer": OFFER.replace("RTP/AVP", "RTP/SAVP")}.get(case, OFFER))
    if case == "query refused":
        ksr.returns["rtpengine.rtpengine_query_v"] = -1
    if case == "query empty":
        ksr.returns["pv.get"] = lambda name: "" if name == kemi_ringback.QUERY_VAR else ksr.pvs.get(name)
    if case == "odd tag":
        ksr.pvs["$ft"] = "x file=/etc/passwd"
    if case == "player refused":
        ksr.returns["rtpengine.play_media"] = -1
    if case == "no file":
        monkeypatch.setattr(kemi_ringback, "FILE", "")
    make_routes().ksr_request_route(None)
    assert ksr.called("tm.t_reply") == [(180, "Ringing")]
    assert ksr.called("textops.set_reply_body") == [] and ksr.called("hdr.append_to_reply") == []
    assert kemi_ringback.PLAYING_AVP not in ksr.pvs
    assert ksr.counted(metrics.RINGBACK) == [("acme", result)]
    assert len(ksr.called("rtpengine.play_media")) == (1 if case == "player refused" else 0)
    if case in ("no body", "late offer"):
        assert ksr.called("rtpengine.rtpengine_query_v") == []  # no session yet: nothing asked of rtpengine


def test_a_tenant_without_ringback_plays_nothing(ksr):
    _inbound(ksr)
    make_routes().ksr_request_route(None)
    assert ksr.called("rtpengine.play_media") == [] and ksr.called("tm.t_reply") == []


def _reply(ksr, status, sdp, playing=True):
    ksr.returns.update({"kx.get_status": status, "textops.has_body_type": 1 if sdp else -1})
    ksr.pvs["$ft"] = "from-1"
    if playing:
        ksr.pvs[kemi_ringback.PLAYING_AVP] = 1


@pytest.mark.parametrize("status,sdp,stops", [
    (180, False, False), (183, True, True), (180, True, True), (200, True, True), (503, False, False),
    (486, False, False),
])
def test_the_gateways_first_sdp_or_answer_stops_the_ringback_a_refusal_does_not(ksr, status, sdp, stops):
    _reply(ksr, status, sdp)
    attempts.reply_media(make_routes().svc, Reply("public", ()))
    assert ksr.called("rtpengine.stop_media") == ([("from-tag=from-1",)] if stops else [])
    assert (kemi_ringback.PLAYING_AVP in ksr.pvs) is not stops
    if stops and sdp:  # stopped before rtpengine joins the legs with the gateway's answer
        names = [f for f, _ in ksr.calls]
        assert names.index("rtpengine.stop_media") < names.index("rtpengine.rtpengine_manage")


def test_a_call_without_ringback_asks_rtpengine_nothing_more_on_its_replies(ksr):
    _reply(ksr, 200, True, playing=False)
    attempts.reply_media(make_routes().svc, Reply("public", ()))
    assert ksr.called("rtpengine.stop_media") == []


def test_the_answer_address_is_an_address():
    sdp = ringback.answer(OFFER, "127.0.1.1", 30000, 1)
    assert ipaddress.IPv4Address(re.search(r"^c=IN IP4 (\S+)", sdp, re.M).group(1))
