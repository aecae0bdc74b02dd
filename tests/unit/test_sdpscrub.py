"""kemi/topology/sdpscrub.py: its expressions under libc's POSIX regex as textops runs them (posix_re), on real
user agents' SDPs and on generated ones, and the calls it makes; the routes' answer when it fails."""

import random

import pytest

from kemi.topology import sdpscrub
from sbclib import media
from tests.unit import posix_re
from tests.unit.test_routes import make_routes, request

BARESIP = ("v=0\r\no=- 3172937204 1582248286 IN IP4 127.0.3.63\r\ns=-\r\nc=IN IP4 127.0.3.63\r\nt=0 0\r\n"
           "a=tool:baresip 1.0.0\r\nm=audio 30000 RTP/AVP 0 101\r\na=label:1\r\na=rtcp-rsize\r\n"
           "a=ssrc:765916833 cname:sip:vapi-agent@sbc.tls.test\r\na=rtpmap:0 PCMU/8000\r\na=sendrecv\r\n")
FREESWITCH = ("v=0\r\no=FreeSWITCH 1732000000 1732000001 IN IP4 127.0.4.1\r\ns=FreeSWITCH\r\n"
              "c=IN IP4 127.0.4.1\r\nt=0 0\r\nm=audio 16000 RTP/AVP 8 101\r\na=rtpmap:8 PCMA/8000\r\n")
DESCRIBED = ("v=0\r\no=root 1 1 IN IP4 127.0.4.1\r\ns=Asterisk PBX 18.10\r\ni=night shift trunk\r\n"
             "u=http://pbx.carrier.example/\r\ne=noc@carrier.example\r\np=+1 617 555 0100\r\n"
             "c=IN IP4 127.0.4.1\r\nt=0 0\r\nm=audio 16000 RTP/AVP 0\r\na=ssrc-group:FID 1 2\r\n")
CLEAN = "v=0\r\no=- 1 1 IN IP4 127.0.4.1\r\ns=-\r\nc=IN IP4 127.0.4.1\r\nt=0 0\r\nm=audio 16000 RTP/AVP 0\r\n"


def scrubbed(body: str) -> str:
    data = body.encode()
    for pattern, replacement in sdpscrub.EDITS:
        data = posix_re.replace_body_all(pattern, replacement, data)
    return data.decode()


def telling(body: str) -> bool:
    return posix_re.search_body(sdpscrub.TELLING, body.encode()) > 0


@pytest.mark.parametrize("body", [BARESIP, FREESWITCH, DESCRIBED])
def test_what_an_sdp_says_of_its_sender_goes_and_its_media_stays(body):
    assert telling(body)
    after = scrubbed(body)
    assert not telling(after)
    lines = after.split("\r\n")
    assert [line for line in lines if line[:2] in ("o=", "s=")] == [
        next(line for line in body.split("\r\n") if line.startswith("o=")).replace(
            body.split("o=", 1)[1].split(" ", 1)[0], "-", 1), "s=-"]
    for gone in ("baresip", "FreeSWITCH", "Asterisk", "carrier.example", "cname", "ssrc", "night shift", "617"):
        assert gone not in after
    kept = [line for line in body.split("\r\n") if line[:2] in ("v=", "c=", "t=", "m=") or
            line.startswith(("a=rtpmap", "a=label", "a=rtcp-rsize", "a=sendrecv"))]
    assert [line for line in lines if line in kept] == kept


def test_an_sdp_that_tells_nothing_is_left_alone():
    assert not telling(CLEAN) and scrubbed(CLEAN) == CLEAN


_NAMES = "tool ssrc ssrc-group rtpmap fmtp ptime sendrecv label mid crypto fingerprint setup rtcp".split()


def generated_sdp(rng: random.Random) -> str:
    """A session of random lines: known ones, attributes by the name list, odd user and session names."""
    user = rng.choice(["-", "root", "-x", "FreeSWITCH", "a-b", "--"])
    name = rng.choice(["-", " ", "-x", "Sess", "- x", "S=-"])
    lines = ["v=0", f"o={user} {rng.randint(0, 9)} 1 IN IP4 127.0.4.1", f"s={name}"]
    for _ in range(rng.randint(0, 12)):
        kind = rng.choice(["a", "a", "a", "i", "u", "e", "p", "b", "c", "m", "x"])
        value = f"{rng.choice(_NAMES)}{rng.choice([':', '-', '', ' '])}{rng.randint(0, 99)}" if kind == "a" else \
            f"v{rng.randint(0, 99)}"
        lines.append(f"{kind}={value}")
    return "\r\n".join(lines) + rng.choice(["\r\n", "\r\n", ""])  # a last line without CRLF too


def test_generated_sdps_come_out_telling_nothing_and_losing_nothing_else():
    rng = random.Random(20261128)
    for _ in range(500):
        body = generated_sdp(rng)
        after = scrubbed(body)
        assert not telling(after), (body, after)
        before_lines = body.split("\r\n")
        kept = [line for line in before_lines if line and line[:2] not in ("o=", "s=", "i=", "u=", "e=", "p=")
                and not line.startswith(("a=tool", "a=ssrc"))]
        assert [line for line in after.split("\r\n") if line and line[:2] not in ("o=", "s=")] == kept, (body, after)
        assert after.count("\r\no=-") == 1 and "\r\ns=-\r\n" in after + "\r\n", (body, after)


def test_pythons_expressions_edit_exactly_as_textops_posix_ones(ksr):
    """scrubbed() (Python's re) against textops' expressions under libc (the path of an undecodable body)."""
    rng = random.Random(20261205)
    for body in [BARESIP, FREESWITCH, DESCRIBED, CLEAN, *(generated_sdp(rng) for _ in range(2000))]:
        edited = sdpscrub.scrubbed(body)
        assert (edited is not None) == telling(body), body
        assert (edited if edited is not None else body) == scrubbed(body), body


def test_scrub_reads_the_body_once_when_nothing_is_told(ksr):
    ksr.returns["kx.get_body"] = CLEAN
    assert sdpscrub.scrub() is True
    assert ksr.calls == [("kx.get_body", ())]


def test_scrub_sets_the_edited_body_with_its_own_content_type_and_applies_it(ksr):
    ksr.returns["kx.get_body"] = FREESWITCH
    ksr.returns["hdr.get"] = "application/sdp"
    assert sdpscrub.scrub() is True
    assert ksr.actions() == [("textops.set_body", (scrubbed(FREESWITCH), "application/sdp")),
                             ("textopsx.msg_apply_changes", ())]
    assert ksr.called("hdr.get") == [("Content-Type",)] and not ksr.called("textops.search_body")


def test_a_body_without_content_type_is_set_back_as_sdp(ksr):
    ksr.returns["kx.get_body"] = FREESWITCH
    ksr.returns["hdr.get"] = None
    assert sdpscrub.scrub() is True
    assert ksr.called("textops.set_body") == [(scrubbed(FREESWITCH), "application/sdp")]


@pytest.mark.parametrize("body,set_body,applied", [(FREESWITCH, -1, 1), (FREESWITCH, 1, -1), ("a=tool:x\r\n", 1, 1)])
def test_scrub_fails_when_the_body_cannot_be_set_or_applied_or_nothing_is_left(ksr, body, set_body, applied):
    ksr.returns["kx.get_body"] = body
    ksr.returns["textops.set_body"] = set_body
    ksr.returns["textopsx.msg_apply_changes"] = applied
    assert sdpscrub.scrub() is False


def raises_undecodable():
    raise UnicodeDecodeError("utf-8", b"\xff", 0, 1, "invalid start byte")


def test_a_body_python_cannot_decode_is_edited_by_textops_and_checked_again(ksr):
    ksr.returns["kx.get_body"] = raises_undecodable
    answers = iter([1, -1])
    ksr.returns["textops.search_body"] = lambda pattern: next(answers)
    assert sdpscrub.scrub() is True
    assert ksr.actions() == [*(("textops.replace_body_all", edit) for edit in sdpscrub.EDITS),
                             ("textopsx.msg_apply_changes", ())]


@pytest.mark.parametrize("applied,after", [(-1, -1), (1, 1)])
def test_textops_editing_fails_when_the_edits_cannot_be_applied_or_did_not_take(ksr, applied, after):
    ksr.returns["kx.get_body"] = raises_undecodable
    answers = iter([1, after])
    ksr.returns["textops.search_body"] = lambda pattern: next(answers)
    ksr.returns["textopsx.msg_apply_changes"] = applied
    assert sdpscrub.scrub() is False


def test_an_initial_invite_whose_sdp_cannot_be_scrubbed_gets_488_and_goes_nowhere(ksr):
    request(ksr, sdp=True)
    ksr.returns["kx.get_body"] = FREESWITCH
    ksr.returns["textops.set_body"] = -1
    make_routes().ksr_request_route(None)
    assert ksr.replies() == [(488, "Not Acceptable Here")]
    assert ksr.counted("sbc_topology_guard_total") == [("media", "private", "sdp not scrubbed")]
    assert not ksr.called("tm.t_relay") and not ksr.called("rr.record_route")


def test_an_answer_that_cannot_be_scrubbed_is_not_relayed(ksr):
    request(ksr, side="public", acl=(2,), sdp=True)
    ksr.returns["kx.get_status"] = 200
    ksr.returns["kx.get_body"] = BARESIP
    ksr.returns["textops.set_body"] = -1
    make_routes().reply_media(None)
    assert ("set_drop", ()) in ksr.actions()
    assert not [args for args in ksr.called("rtpengine.rtpengine_manage") if args == (media.answer_flags("public"),)]
    assert ksr.counted("sbc_topology_guard_total") == [("media", "public", "sdp not scrubbed")]


@pytest.mark.parametrize("message,before", [
    ({}, "rr.record_route"),  # an initial INVITE: Kamailio refuses to apply edits after record_route
    ({"side": "public", "acl": (2,), "totag": True}, "rr.loose_route"),  # a re-INVITE: uac restores From/To there
])
def test_a_request_is_scrubbed_before_the_routing_that_applying_would_upset(ksr, message, before):
    request(ksr, sdp=True, **message)
    ksr.returns["kx.get_body"] = FREESWITCH
    make_routes().ksr_request_route(None)
    names = [name for name, _ in ksr.calls]
    assert names.index("textopsx.msg_apply_changes") < names.index(before)
    assert ksr.called("tm.t_relay")


def test_a_request_of_no_known_dialog_is_not_scrubbed(ksr):
    request(ksr, side="public", acl=(2,), totag=True, sdp=True)
    ksr.returns["dialog.is_known_dlg"] = -1
    ksr.returns["kx.get_body"] = FREESWITCH
    make_routes().ksr_request_route(None)
    assert not ksr.called("textopsx.msg_apply_changes") and not ksr.called("tm.t_relay")
