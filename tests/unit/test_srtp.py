"""SRTP toward gateways (sbclib/media.py, attempts, indialog, sbcctl): which protocol each leg's offer asks
rtpengine for, where it comes from, and what sbcctl refuses."""

import re

import pytest

from sbcctl import validate
from sbclib import media
from tests.unit.test_routes import make_routes, request

SAVP_BODY = ("v=0\r\no=- 1 1 IN IP4 127.0.3.62\r\ns=-\r\nc=IN IP4 127.0.3.62\r\nt=0 0\r\n"
             "m=audio 40400 RTP/SAVP 0 8 101\r\na=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:x\r\n")


@pytest.mark.parametrize("attrs,protocol", [
    (None, "RTP/AVP"),
    ("weight=50", "RTP/AVP"),
    ("weight=50;media=rtp", "RTP/AVP"),
    ("weight=50;media=srtp", "RTP/SAVP"),
    ("weight=50;sockname=public_tls;media=DTLS", "UDP/TLS/RTP/SAVP"),
    ("media=srtpp", "RTP/AVP"),  # not a setting sbcctl writes: clear, and the gateway refuses if it must
    (17, "RTP/AVP"),
])
def test_a_gateways_protocol_comes_from_its_dispatcher_attributes(attrs, protocol):
    assert media.gateway_protocol(attrs) == protocol


@pytest.mark.parametrize("flags", [
    *(media.offer_flags(a, b, keepalive=k, protocol=p) for a, b in (("private", "public"), ("public", "private"))
      for k in (False, True) for p in media.PROTOCOLS.values()),
    *(media.answer_flags(side, keepalive=k, gateway_protocol=p) for side in ("private", "public")
      for k in (False, True) for p in media.PROTOCOLS.values()),
])
def test_every_offer_and_answer_asks_rtpengine_to_drop_media_from_anyone_but_the_leg(flags):
    assert "strict-source" in flags.split() and "media-handover" not in flags


def search_body(body):
    """textops.search_body over `body` (POSIX ERE with REG_NEWLINE, case-insensitive), as the fake KSR's."""
    return lambda regex: 1 if isinstance(body, str) and re.search(regex, body, re.M | re.I) else -1


@pytest.mark.parametrize("body,protocol", [(SAVP_BODY, "RTP/SAVP"),
                                           (SAVP_BODY.replace("RTP/SAVP", "UDP/TLS/RTP/SAVP"), "UDP/TLS/RTP/SAVP"),
                                           (SAVP_BODY.replace("RTP/SAVP", "RTP/SAVPF"), "RTP/SAVPF"),
                                           (SAVP_BODY.replace("RTP/SAVP", "RTP/AVP"), "RTP/AVP"),
                                           (SAVP_BODY.replace("RTP/SAVP", "XYZ"), "RTP/AVP"),
                                           (SAVP_BODY.replace("m=audio", "m=video"), "RTP/AVP"), ("", "RTP/AVP")])
def test_a_gateway_calling_in_keeps_the_secure_protocol_it_offered(body, protocol):
    assert media.offered_protocol(search_body(body)) == protocol


def test_an_attempt_to_an_srtp_gateway_offers_it_rtp_savp_and_remembers_it(ksr):
    request(ksr)
    ksr.pvs["$xavp(_dsdst_=>attrs)"] = "weight=50;media=srtp"
    make_routes().branch_to_gateway(None)
    assert ksr.actions()[1:] == [("rtpengine.rtpengine_manage", (media.offer_flags("private", "public",
                                                                                   protocol="RTP/SAVP"),))]
    flags = media.offer_flags("private", "public", protocol="RTP/SAVP").split()
    assert "transport-protocol=RTP/SAVP" in flags
    # Only the AES_CM_128 suites: no NULL cipher, and an INVITE small enough for UDP
    assert {"SDES-no-NULL_HMAC_SHA1_80", "SDES-no-NULL_HMAC_SHA1_32"} <= set(flags)
    assert not any("AES_CM_128" in flag for flag in flags) and "DTLS=off" in flags
    assert "SDES-off" in media.offer_flags("private", "public", protocol="UDP/TLS/RTP/SAVP").split()
    assert ksr.dlg_vars[media.GATEWAY_PROTOCOL_VAR] == "RTP/SAVP"


def test_a_gateway_offering_srtp_reaches_the_carrier_in_rtp_avp(ksr):
    request(ksr, side="public", acl=(2,))
    ksr.returns["textops.search_body"] = search_body(SAVP_BODY)
    make_routes().branch_to_telecom(None)
    assert ksr.actions() == [("rtpengine.rtpengine_manage", (media.offer_flags("public", "private"),))]
    assert "transport-protocol=RTP/AVP" in media.offer_flags("public", "private")
    assert ksr.dlg_vars[media.GATEWAY_PROTOCOL_VAR] == "RTP/SAVP"


@pytest.mark.parametrize("side,acl,protocol", [("private", (1,), "RTP/SAVP"), ("public", (2,), "RTP/AVP")])
def test_a_reinvite_keeps_each_legs_protocol(ksr, side, acl, protocol):
    request(ksr, method="INVITE", side=side, acl=acl, totag=True, sdp=True)
    ksr.dlg_vars[media.GATEWAY_PROTOCOL_VAR] = "RTP/SAVP"
    make_routes().ksr_request_route(None)
    across = "public" if side == "private" else "private"
    assert ("rtpengine.rtpengine_manage", (media.offer_flags(side, across, protocol=protocol),)) in ksr.actions()


@pytest.mark.parametrize("value,uri,carrier,tls,field", [
    ("sdes", "sip:127.0.3.1", False, True, "media"),
    ("srtp", "sip:127.0.4.1", True, True, "media"),
    ("rtp", "sip:gw.example.test;transport=tls", False, False, "uri"),
    ("rtp", "sip:carrier.example.test;transport=tls", True, True, "uri"),
])
def test_sbcctl_refuses_a_media_setting_or_tls_uri_that_cannot_work(value, uri, carrier, tls, field):
    with pytest.raises(validate.InputError) as err:
        validate.gateway_media(value, uri, carrier, tls)
    assert err.value.field == field


@pytest.mark.parametrize("value,uri", [("srtp", "sip:127.0.3.1"), ("dtls", "sip:gw.example.test;transport=tls"),
                                       ("rtp", "sip:gw.example.test;transport=tls")])
def test_sbcctl_takes_srtp_and_dtls_for_gateways(value, uri):
    assert validate.gateway_media(value, uri, False, True) == value


@pytest.mark.parametrize("side,protocol,passive", [("private", "UDP/TLS/RTP/SAVP", True),
                                                   ("private", "UDP/TLS/RTP/SAVPF", True),
                                                   ("private", "RTP/SAVP", False), ("private", "", False),
                                                   ("public", "UDP/TLS/RTP/SAVP", False)])
def test_the_answer_to_a_gateway_that_offered_dtls_takes_the_passive_role(ksr, side, protocol, passive):
    request(ksr, side=side)  # the answer arrives from the carrier (private) toward the gateway, or back
    ksr.returns["kx.get_status"] = 200
    ksr.dlg_vars[media.GATEWAY_PROTOCOL_VAR] = protocol
    make_routes().reply_media(None)
    flags = ksr.called("rtpengine.rtpengine_manage")[0][0].split()
    assert ("DTLS=passive" in flags) is passive
    assert ksr.called("rtpengine.rtpengine_manage") == [(media.answer_flags(side, gateway_protocol=protocol),)]
