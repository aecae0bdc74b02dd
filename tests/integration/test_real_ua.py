"""A real user agent as the AI gateway: baresip (Debian's) answering by its host name over TLS, on mandatory
SDES-SRTP or DTLS-SRTP, with certificates from the suite's CA. The carrier (RTP/AVP, the suite's RTP
endpoint) sends a 1 kHz tone, baresip a 440 Hz one: each side must hear the other's tone, so media was
encrypted and decrypted on the gateway leg by rtpengine and baresip, and never on the carrier's."""

from __future__ import annotations

import time

import pytest

from testkit.harness import (
    DEMO_GATEWAYS,
    OUTBOUND_CALLER,
    dispatcher_states,
    gateways,
    remove_gateways_since,
    start_peers,
    wait_for,
    wait_state,
)
from testkit.rtp import RtpPeer, media_address
from testkit.sipua import Caller
from tests.integration.baresip import Baresip, connecting_from, samples, tone_share
from tests.integration.test_srtp import answered_call, hang_up
from tests.integration.tlsca import SBC_NAME

NAME, ADDRESS = "ua.tls.test", "127.0.7.80"  # in the suite's DNS only; outside the demo ACL
URI = f"sip:{NAME};transport=tls"
CARRIER = ("127.0.4.2", 5079)
CALLER = OUTBOUND_CALLER  # a gateway calling in from the demo data's address dedicated to acme
VAPI_DID = "4155550101"  # demo data: set 1, sent to the gateway as +14155550101
SECONDS = 3
CARRIER_HZ, GATEWAY_HZ = 1000, 440
# baresip's log line when the gateway leg's RTP is keyed: SDES at the answer, DTLS after its handshake
SECURE = {"srtp-mand": "SRTP is Enabled", "dtls_srtp": "DTLS-SRTP complete (audio/RTP)"}


def seconds_until_secure(ua: Baresip, mediaenc: str) -> float:
    """From now (the answer) until baresip's RTP is keyed: media sent before it is lost."""
    started = time.monotonic()
    assert wait_for(lambda: SECURE[mediaenc] in ua.log(), 5, interval=0.01), ua.log()[-3000:]
    return time.monotonic() - started


def assert_sdp_tells_nothing(sdp: str) -> None:
    """baresip's SDP names its software (a=tool) and its account (a=ssrc cname): none of it may cross."""
    lines = sdp.splitlines()
    assert "baresip" not in sdp.lower() and NAME not in sdp and SBC_NAME not in sdp, sdp
    assert not [line for line in lines if line.startswith(("a=tool", "a=ssrc", "i=", "u=", "e=", "p="))], sdp
    assert [line.split()[0] for line in lines if line.startswith("o=")] == ["o=-"], sdp
    assert [line for line in lines if line.startswith("s=")] == ["s=-"], sdp


@pytest.fixture
def baresip_gateway(quiet_sbc, dns_zone, sbcctl, work, tls_ca):
    """start(media, mediaenc): baresip at ua.tls.test in set 1 with that media setting, up; removed after."""
    dns_zone.a(NAME, ADDRESS, ttl=2)
    wait_state(quiet_sbc, DEMO_GATEWAYS, active=False)
    before, started = {row["id"] for row in gateways(sbcctl)}, []

    def start(media: str, mediaenc: str) -> Baresip:
        certificate = tls_ca[1].write(work, "ua", [NAME])
        ua = Baresip(work / "baresip", ADDRESS, 5061, f"+1{VAPI_DID}", NAME, certificate=certificate,
                     ca=tls_ca[0] / "ca.pem", mediaenc=mediaenc, tone_hz=GATEWAY_HZ)
        started.append(ua.start())
        done = sbcctl("gateway", "add", "--uri", URI, "--group", "1", "--media", media)
        assert done.returncode == 0, done.stderr
        assert wait_for(lambda: dispatcher_states(quiet_sbc).get(URI, "").startswith("A"), 15), \
            (dispatcher_states(quiet_sbc), ua.log()[-2000:])
        wait_state(quiet_sbc, DEMO_GATEWAYS, active=False)  # the reload took them as up until probed
        return ua
    try:
        yield start
    finally:
        for ua in started:
            ua.stop()
        remove_gateways_since(sbcctl, before)
        dns_zone.remove(NAME)


@pytest.mark.parametrize("media, mediaenc", [("srtp", "srtp-mand"), ("dtls", "dtls_srtp")])
def test_baresip_as_the_gateway_over_tls_and_srtp_hears_the_carrier_and_is_heard(baresip_gateway, media,
                                                                                  mediaenc):
    ua = baresip_gateway(media, mediaenc)
    caller = Caller(CARRIER, ("127.0.1.1", 5060), VAPI_DID, [])
    carrier = None
    try:
        _, answer = answered_call(caller, f"ua-{media}")
        assert " RTP/AVP " in answer.body and "a=crypto" not in answer.body and "fingerprint" not in answer.body
        assert_sdp_tells_nothing(answer.body)
        secure = seconds_until_secure(ua, mediaenc)
        carrier = RtpPeer(CARRIER[0], 40600, rtcp=False, tone_hz=CARRIER_HZ)
        carrier.start(media_address(answer.body), SECONDS).wait()
    finally:
        hang_up(caller)
        caller.close()
    assert wait_for(lambda: ua.decoded() and "terminated" in ua.log(), 5), ua.log()[-3000:]
    time.sleep(0.5)  # sndfile closes its file when the call is gone
    log = ua.log()
    heard = samples(ua.decoded()[-1])
    print(f"\n{media}: secure {secure:.2f} s after the answer; then the carrier sent {carrier.sent} packets of "
          f"{CARRIER_HZ} Hz; baresip decoded "
          f"{len(heard) / 8000:.2f} s, {tone_share(heard, CARRIER_HZ):.2f} of it at {CARRIER_HZ} Hz; "
          f"the carrier heard {len(carrier.audio) / 8000:.2f} s, {tone_share(carrier.audio, GATEWAY_HZ):.2f} "
          f"at {GATEWAY_HZ} Hz")
    if media == "dtls":
        assert "fingerprint OK" in log, log[-3000:]
    assert "failed to decrypt" not in log, log[-3000:]
    assert len(heard) >= 0.8 * SECONDS * 8000 and tone_share(heard, CARRIER_HZ) > 0.8
    assert len(carrier.audio) >= 0.8 * SECONDS * 8000 and tone_share(carrier.audio, GATEWAY_HZ) > 0.8


@pytest.mark.parametrize("mediaenc", ["srtp-mand", "dtls_srtp"])
def test_baresip_calling_in_over_tls_and_srtp_reaches_the_carrier_in_rtp_and_hears_it(quiet_sbc, work, tls_ca,
                                                                                      mediaenc):
    carrier = start_peers(work, quiet_sbc, ["127.0.4.1"])["127.0.4.1"]  # answers, echoes the RTP it receives
    ua = Baresip(work / "caller", CALLER, 5061, "vapi-agent", SBC_NAME, certificate=tls_ca[1].write(
        work, "caller", [CALLER]), ca=tls_ca[0] / "ca.pem", mediaenc=mediaenc, tone_hz=GATEWAY_HZ).start()
    try:
        with connecting_from(CALLER, "127.0.2.1"):
            assert ua.command("dial", "sip:+12125550100@127.0.2.1:5061")["ok"], ua.log()[-3000:]
            assert wait_for(lambda: "Call established" in ua.log(), 10), ua.log()[-3000:]
        secure = seconds_until_secure(ua, mediaenc)
        time.sleep(SECONDS)
        assert ua.command("hangup")["ok"]
        assert wait_for(lambda: "terminated" in ua.log(), 5), ua.log()[-3000:]
        assert wait_for(lambda: carrier.received("BYE"), 5), [m.method for m in carrier.received()]
    finally:
        ua.stop()
        carrier.stop()
    time.sleep(0.5)
    log, invite = ua.log(), carrier.received("INVITE")[0]
    heard = samples(ua.decoded()[-1])
    print(f"\n{mediaenc}: secure {secure:.2f} s after the answer; the carrier received "
          f"{[m.method for m in carrier.received()]}, its offer "
          f"{[line for line in invite.body.splitlines() if line.startswith('m=')]}; baresip heard its own "
          f"{GATEWAY_HZ} Hz back for {len(heard) / 8000:.2f} s, {tone_share(heard, GATEWAY_HZ):.2f} of it at that tone")
    assert [m.method for m in carrier.received()] == ["INVITE", "ACK", "BYE"]
    assert " RTP/AVP " in invite.body and "a=crypto" not in invite.body and "fingerprint" not in invite.body
    assert CALLER not in invite.text and "tls" not in invite.text.lower(), invite.text
    assert_sdp_tells_nothing(invite.body)
    assert "failed to decrypt" not in log, log[-3000:]
    assert len(heard) >= 0.8 * SECONDS * 8000 and tone_share(heard, GATEWAY_HZ) > 0.8
