"""Codec policy: the decisions (sbclib/codecs.py) and what the routes ask rtpengine for (attempts' branch
route, in-dialog re-offers), against the fake KSR."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kemi.gateways import attempts
from kemi.topology import transcoding
from sbclib import codecs, media, settings
from sbclib.codecs import Policy
from tests.unit.test_routes import NUMBER_AVP, make_routes, request

CARRIER_OFFER = ("v=0\r\no=- 1 1 IN IP4 127.0.4.2\r\ns=-\r\nc=IN IP4 127.0.4.2\r\nt=0 0\r\n"
                 "m=audio 40000 RTP/AVP 0 8 101\r\na=rtpmap:101 telephone-event/8000\r\na=sendrecv\r\n")
OPUS_OFFER = ("v=0\r\no=- 1 1 IN IP4 127.0.3.1\r\ns=-\r\nc=IN IP4 127.0.3.1\r\nt=0 0\r\n"
              "m=audio 41000 RTP/AVP 111 9 0 101\r\na=rtpmap:111 opus/48000/2\r\na=rtpmap:9 G722/8000\r\n"
              "a=rtpmap:101 telephone-event/8000\r\n")


# ---- the decisions -----------------------------------------------------------------------------

def test_a_list_is_read_in_the_operators_order_and_bad_ones_are_refused_by_field():
    assert codecs.parse_list("opus, G722,pcmu") == ("opus", "G722", "PCMU")
    assert codecs.parse_list("") == ()
    for bad, problem in (("opus,amr", "amr not one of"), ("pcmu,PCMU", "twice")):
        with pytest.raises(codecs.CodecError, match=f"^codecs: .*{problem}"):
            codecs.parse_list(bad)


@pytest.mark.parametrize("attrs,policy", [
    ("weight=50;codecs=opus,pcmu;transcode=1", Policy(("opus", "PCMU"), True)),
    ("weight=50;codecs=pcma", Policy(("PCMA",), False)),
    ("weight=50", codecs.NONE), (None, codecs.NONE), ("codecs=amr;transcode=1", codecs.NONE),
])
def test_a_rows_policy_comes_from_its_attrs(attrs, policy):
    assert codecs.policy_of(attrs) == policy
    assert codecs.decode(policy.encode()) == policy


def test_a_transcoding_policy_offers_exactly_its_codecs_with_dtmf_and_comfort_noise():
    assert codecs.offer_flags(Policy(("opus", "G722"), True)) == (
        "codec-mask=all codec-transcode=opus codec-transcode=G722 codec-transcode=telephone-event "
        "codec-transcode=CN")


def test_a_strict_policy_keeps_only_its_codecs_of_the_offer():
    assert codecs.offer_flags(Policy(("PCMA",), False)) == (
        "codec-strip=all codec-offer=PCMA codec-offer=telephone-event codec-offer=CN")
    assert codecs.offer_flags(codecs.NONE) == ""


@pytest.mark.parametrize("body,found", [
    (CARRIER_OFFER, ("PCMU", "PCMA")),
    (OPUS_OFFER, ("opus", "G722", "PCMU")),
    ("m=audio 1 RTP/AVP 18\r\n", ("G729",)),
    ("m=audio 1 RTP/AVP 0\r\na=rtpmap:0 PCMA/8000\r\n", ("PCMA",)),  # its rtpmap wins
    ("m=audio 1 RTP/AVP 96\r\na=rtpmap:96 AMR/8000\r\n", ()),
    ("m=video 1 RTP/AVP 96\r\n", ()), ("", ()),
])
def test_the_offered_codecs_are_read_from_the_audio_line(body, found):
    assert codecs.offered(body) == found


@given(st.text(max_size=300))
def test_any_body_gives_known_codecs_or_none(body):
    assert set(codecs.offered(body)) <= set(codecs.NAMES.values())


@given(st.lists(st.sampled_from(sorted(codecs.NAMES)), unique=True, min_size=1),
       st.lists(st.sampled_from(sorted(codecs.NAMES.values())), unique=True), st.booleans())
def test_an_offer_reaches_a_peer_that_transcodes_or_shares_a_codec(names, offer, transcode):
    policy = Policy(codecs.parse_list(",".join(names)), transcode)
    assert codecs.reaches(policy, tuple(offer)) == (transcode or bool(set(policy.codecs) & set(offer)))


def test_the_carriers_policy_comes_from_the_environment_and_transcoding_needs_a_list():
    s = settings.load({"CARRIER_CODECS": "pcmu,pcma", "CARRIER_TRANSCODE": "1"})
    assert s.carrier_codec_policy == Policy(("PCMU", "PCMA"), True)
    with pytest.raises(settings.ConfigError, match="CARRIER_TRANSCODE"):
        settings.load({"CARRIER_TRANSCODE": "1"})
    with pytest.raises(settings.ConfigError, match="CARRIER_CODECS"):
        settings.load({"CARRIER_CODECS": "pcmu,silk"})


# ---- in the routes -----------------------------------------------------------------------------

def branch(ksr, attrs, body=CARRIER_OFFER):
    request(ksr)
    ksr.pvs[NUMBER_AVP] = "+14155550101"
    ksr.pvs["$xavp(_dsdst_=>attrs)"] = attrs
    ksr.returns["kx.get_body"] = body


def test_the_attempt_to_a_transcoding_gateway_offers_its_codecs_and_remembers_them(ksr):
    branch(ksr, "weight=50;codecs=opus;transcode=1")
    make_routes().branch_to_gateway(None)
    policy = Policy(("opus",), True)
    assert ksr.called("rtpengine.rtpengine_manage") == [
        (media.offer_flags("private", "public", codecs=codecs.offer_flags(policy)),)]
    assert ksr.dlg_vars[transcoding.GATEWAY_CODECS_VAR] == "opus;t"
    assert ksr.called("kx.get_body") == []  # transcoding: the offer's codecs do not matter


def test_an_offer_a_strict_gateway_cannot_take_drops_the_attempt_for_the_next_peer(ksr):
    branch(ksr, "codecs=g722")
    make_routes().branch_to_gateway(None)
    assert ksr.called("set_drop") == [()] and ksr.called("rtpengine.rtpengine_manage") == []
    assert ksr.counted(transcoding.MISMATCH) == [("public",)]
    assert "offer of PCMU,PCMA not sent to the public side, which takes G722" in ksr.logged()


def test_an_offer_sharing_a_codec_with_a_strict_gateway_keeps_only_that_one(ksr):
    branch(ksr, "codecs=pcma,g722")
    make_routes().branch_to_gateway(None)
    assert ksr.called("rtpengine.rtpengine_manage") == [
        (media.offer_flags("private", "public", codecs=codecs.offer_flags(Policy(("PCMA", "G722"))),),)]


def test_a_failover_to_a_row_without_a_policy_clears_the_previous_ones(ksr):
    branch(ksr, "weight=50")
    ksr.dlg_vars[transcoding.GATEWAY_CODECS_VAR] = "opus;t"
    make_routes().branch_to_gateway(None)
    assert ksr.dlg_vars[transcoding.GATEWAY_CODECS_VAR] == ""
    assert ksr.called("rtpengine.rtpengine_manage") == [(media.offer_flags("private", "public"),)]


def test_the_attempt_to_a_carrier_takes_the_carriers_policy(ksr):
    request(ksr, side="public", src="127.0.3.30")
    ksr.returns["kx.get_body"] = OPUS_OFFER
    make_routes(carrier_codecs="pcmu,pcma", carrier_transcode=1).branch_to_telecom(None)
    assert ksr.called("rtpengine.rtpengine_manage")[0][0].endswith(
        " " + codecs.offer_flags(Policy(("PCMU", "PCMA"), True)))


def test_a_gateways_reoffer_toward_the_carrier_keeps_to_the_carriers_codecs(ksr):
    request(ksr, method="INVITE", side="public", acl=(2,), totag=True, sdp=True)
    ksr.returns["kx.get_body"] = OPUS_OFFER
    make_routes(carrier_codecs="pcmu", carrier_transcode=1).ksr_request_route(None)
    assert ksr.called("rtpengine.rtpengine_manage") == [
        (media.offer_flags("public", "private", codecs=codecs.offer_flags(Policy(("PCMU",), True))),)]


def test_a_carriers_reoffer_toward_the_gateway_keeps_to_the_gateways_codecs(ksr):
    request(ksr, method="INVITE", side="private", acl=(1,), totag=True, sdp=True)
    ksr.dlg_vars[transcoding.GATEWAY_CODECS_VAR] = "opus;t"
    make_routes().ksr_request_route(None)
    assert ksr.called("rtpengine.rtpengine_manage") == [
        (media.offer_flags("private", "public", codecs=codecs.offer_flags(Policy(("opus",), True))),)]


def test_a_reoffer_a_strict_peer_cannot_take_is_answered_488(ksr):
    request(ksr, method="INVITE", side="public", acl=(2,), totag=True, sdp=True)
    ksr.returns["kx.get_body"] = OPUS_OFFER.replace("111 9 0 101", "111 101")
    make_routes(carrier_codecs="pcma").ksr_request_route(None)
    assert ksr.called("rtpengine.rtpengine_manage") == [] and ksr.called("tm.t_relay") == []
    assert (488, "Not Acceptable Here") in ksr.replies()
    assert ksr.counted(transcoding.MISMATCH) == [("private",)]



# ---- a late offer (an INVITE without SDP): the answerer's SDP is the offer ----------------------

def test_a_late_offer_is_relayed_without_an_offer_of_ours_whatever_the_gateways_policy(ksr):
    """Nothing to offer, nothing to check: a strict row takes it; the reply route offers its SDP instead."""
    branch(ksr, "codecs=g722", body="")
    ksr.returns["textops.has_body_type"] = -1
    make_routes().branch_to_gateway(None)
    assert ksr.called("set_drop") == [] and ksr.called("rtpengine.rtpengine_manage") == []
    assert ksr.pvs[attempts.LATE_OFFER_AVP] == 1
    assert ksr.dlg_vars[transcoding.GATEWAY_CODECS_VAR] == "G722"  # for the call's later offers


def test_the_gateways_sdp_to_a_late_offer_is_offered_to_the_carrier_under_the_carriers_policy(ksr):
    request(ksr, side="public", sdp=True)
    ksr.returns.update({"kx.get_status": 200, "kx.get_body": OPUS_OFFER})
    ksr.pvs[attempts.LATE_OFFER_AVP] = 1
    make_routes(carrier_codecs="pcmu", carrier_transcode=1).reply_media(None)
    assert ksr.called("rtpengine.rtpengine_manage") == [
        (media.offer_flags("public", "private", codecs=codecs.offer_flags(Policy(("PCMU",), True))),)]


def test_the_carriers_sdp_to_a_gateways_late_offer_keeps_the_gateways_protocol(ksr):
    """An outbound call whose gateway sent no SDP, or the gateway's re-INVITE without one."""
    request(ksr, side="private", sdp=True)
    ksr.returns.update({"kx.get_status": 200, "kx.get_body": CARRIER_OFFER})
    ksr.pvs[attempts.LATE_OFFER_AVP] = 1
    ksr.dlg_vars.update({media.GATEWAY_PROTOCOL_VAR: "RTP/SAVP", transcoding.GATEWAY_CODECS_VAR: "opus;t"})
    make_routes().reply_media(None)
    assert ksr.called("rtpengine.rtpengine_manage") == [
        (media.offer_flags("private", "public", protocol="RTP/SAVP",
                           codecs=codecs.offer_flags(Policy(("opus",), True))),)]


def test_a_late_offers_sdp_the_caller_cannot_take_still_goes_unchanged_and_is_counted(ksr):
    """A 2xx cannot be refused: the caller refuses the offer in its ACK, as without the SBC."""
    request(ksr, side="public", sdp=True)
    ksr.returns.update({"kx.get_status": 200, "kx.get_body": OPUS_OFFER.replace("111 9 0 101", "111 101")})
    ksr.pvs[attempts.LATE_OFFER_AVP] = 1
    make_routes(carrier_codecs="pcma").reply_media(None)
    assert ksr.called("rtpengine.rtpengine_manage") == [(media.offer_flags("public", "private"),)]
    assert ksr.counted(transcoding.MISMATCH) == [("private",)]


def test_a_re_invite_without_sdp_marks_its_transaction_a_late_offer(ksr):
    request(ksr, method="INVITE", side="public", acl=(2,), totag=True, sdp=False)
    make_routes().ksr_request_route(None)
    assert ksr.pvs[attempts.LATE_OFFER_AVP] == 1
    assert ksr.called("rtpengine.rtpengine_manage") == [] and ksr.called("tm.t_relay") == [()]


def test_an_answer_to_our_offer_is_an_answer(ksr):
    request(ksr, side="public", sdp=True)
    ksr.returns["kx.get_status"] = 200
    make_routes(carrier_codecs="pcmu", carrier_transcode=1).reply_media(None)
    assert ksr.called("rtpengine.rtpengine_manage") == [(media.answer_flags("public"),)]


def test_a_late_offers_session_is_remembered_by_the_answerers_tag(ksr):
    request(ksr, side="public", sdp=True)
    ksr.returns.update({"kx.get_status": 183})
    ksr.pvs.update({attempts.LATE_OFFER_AVP: 1, "$tt": "gw-tag.1"})
    make_routes().reply_media(None)
    assert ksr.dlg_vars[attempts.OFFERER_TAG_VAR] == "gw-tag.1"


def test_a_to_tag_that_is_no_token_is_not_put_into_rtpengines_flags(ksr):
    request(ksr, side="public", sdp=True)
    ksr.returns.update({"kx.get_status": 200})
    ksr.pvs.update({attempts.LATE_OFFER_AVP: 1, "$tt": "gw tag=x"})
    make_routes().reply_media(None)
    assert attempts.OFFERER_TAG_VAR not in ksr.dlg_vars


def test_a_late_offer_calls_bye_deletes_its_session_by_the_answerers_tag(ksr):
    """rtpengine 12.5 keeps a late offer's session a BYE overtaking the ACK (its answer) names by the
    caller's tag: measured over ng (tests/integration/test_valid_input.py found it)."""
    request(ksr, method="BYE", totag=True, sdp=False)
    ksr.dlg_vars[attempts.OFFERER_TAG_VAR] = "gw-tag.1"
    make_routes().ksr_request_route(None)
    assert ksr.called("rtpengine.rtpengine_delete") == [("from-tag=gw-tag.1",)]
    assert ksr.called("rtpengine.rtpengine_delete0") == []


def test_a_late_offer_whose_attempt_failed_deletes_its_session_by_the_answerers_tag(ksr):
    request(ksr)
    ksr.returns.update({"tm.t_get_status_code": 486, "tm.t_is_canceled": -1, "tmx.t_is_failure_route": 1})
    ksr.dlg_vars[attempts.OFFERER_TAG_VAR] = "gw-tag.1"
    make_routes().failure_from_gateway(None)
    assert ksr.actions() == [("rtpengine.rtpengine_delete", ("from-tag=gw-tag.1",))]
