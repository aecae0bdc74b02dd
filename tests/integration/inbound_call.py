"""An answered inbound call on the real stack: a Python carrier at 127.0.4.2:5075 calls a DID (by default
tenant voxket's +14155550401, whose only gateway is 127.0.3.24, demo data); a Python gateway answers.
Media (the suite's RTP endpoints) is started by the test."""

from __future__ import annotations

import time

from testkit.harness import wait_state
from testkit.rtp import RtpPeer, media_address
from testkit.sipua import AnsweringPeer, Caller, parse, wait_until
from tests.integration.baresip import tone_share

SBC_PRIVATE = ("127.0.1.1", 5060)
GATEWAY = ("127.0.3.24", 5060)  # voxket's only gateway
CARRIER = ("127.0.4.2", 5075)
VOXKET_DID = "4155550401"


class InboundCall:
    """An answered call from the carrier to a DID's gateway (by default voxket's), media started by the test."""

    def __init__(self, name: str, carrier_rtp: dict | None = None, gateway_rtp: dict | None = None,
                 number: str = VOXKET_DID, gateway: tuple[str, int] = GATEWAY, sbc=None):
        self.gateway = AnsweringPeer(*gateway, lambda invite: 200).start()
        self.caller = Caller(CARRIER, SBC_PRIVATE, number, [])
        if sbc is not None:  # one INVITE only: the gateway answers probes first (another may be tried before it)
            try:
                wait_state(sbc, [gateway[0]], active=True, timeout=20)
            except BaseException:
                self.gateway.stop()
                self.caller.close()
                raise
        self.call_id = f"{name}-{time.monotonic_ns()}@{CARRIER[0]}"
        # The tenant's gateway may still be in probing after earlier tests: ask until it answers.
        for attempt in range(20):
            call_id = self.call_id if attempt == 0 else f"{attempt}-{self.call_id}"
            self.caller.send(self.caller.invite(call_id).render(), self.caller.sbc)
            if wait_until(lambda c=call_id: self.caller.pump(keep_dialogs=True) or c in self.caller.dialogs, 3):
                self.call_id = call_id
                break
            time.sleep(0.5)
        assert self.call_id in self.caller.dialogs, self.caller.codes
        self.answer = next(m for m in map(parse, self.caller.received)
                           if m is not None and m.status == 200 and m.header("call-id") == self.call_id)
        self.invite = next(iter(self.gateway.invites.values()))
        self.carrier_media = RtpPeer(CARRIER[0], 40100, **(carrier_rtp or {}))
        self.gateway_media = RtpPeer(gateway[0], 40100, **(gateway_rtp or {}))

    def start_media(self, carrier_seconds: float, gateway_seconds: float) -> None:
        self.carrier_media.start(media_address(self.answer.body), carrier_seconds)
        self.gateway_media.start(media_address(self.invite.body), gateway_seconds)

    def byes(self) -> tuple[list, list]:
        """(BYEs the carrier received, BYEs the gateway received) so far."""
        self.caller.pump(keep_dialogs=True)
        to_carrier = [m for m in map(parse, self.caller.received)
                      if m is not None and not m.is_reply and m.method == "BYE"]
        return to_carrier, [m for m in self.gateway.requests if m.method == "BYE"]

    def both_byes(self, within: float) -> float:
        """Wait until each side has its BYE; when the second arrived (time.monotonic)."""
        arrived = {}
        assert wait_until(lambda: all(self.byes()) and arrived.setdefault("both", time.monotonic()), within)
        return arrived["both"]

    def hang_up(self) -> None:
        """The carrier's BYE; returns once the gateway has its BYE."""
        self.caller.send(self.caller.dialogs[self.call_id].request("BYE", *CARRIER).render(), SBC_PRIVATE)
        assert wait_until(lambda: self.byes()[1], 5)

    def close(self) -> None:
        for media in (self.carrier_media, self.gateway_media):
            if media._stop.is_set():
                continue  # waited for already
            if media._threads:
                media.wait()
            else:
                media.rtp.close()
                media.rtcp_sock.close()
        self.gateway.stop()
        self.caller.close()


CARRIER_HZ, GATEWAY_HZ = 440, 1000  # what each end says, to tell the two streams apart when decoded


def talk_both_ways(call: InboundCall, seconds: float) -> dict[str, tuple[int, float]]:
    """Each end sends its tone for `seconds`; what each heard of the other: {listener: (RTP packets
    with the other's SSRC, share of the decoded audio at the other's tone)}."""
    call.carrier_media.tone_hz, call.gateway_media.tone_hz = CARRIER_HZ, GATEWAY_HZ
    call.start_media(seconds, seconds)
    for media in (call.carrier_media, call.gateway_media):
        media.wait()
    carrier, gateway = call.carrier_media, call.gateway_media
    return {"carrier": (carrier.ssrcs[gateway.ssrc], tone_share(carrier.audio, GATEWAY_HZ)),
            "gateway": (gateway.ssrcs[carrier.ssrc], tone_share(gateway.audio, CARRIER_HZ))}


def assert_heard(heard: dict[str, tuple[int, float]], seconds: float) -> None:
    """Each end got at least 95 % of the other's packets (50 a second) and decoded the other's tone."""
    for listener, (packets, share) in heard.items():
        assert packets >= 0.95 * seconds * 50 and share > 0.8, (listener, heard)
