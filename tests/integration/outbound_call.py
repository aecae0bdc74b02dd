"""An answered outbound call on the real stack: tenant voxket's gateway (its dedicated address 127.0.3.24,
demo data) calls a US number with its own DID as caller ID; a Python carrier at 127.0.4.1:5060 (the
carrier group's member) answers. Media is started by the test."""

from __future__ import annotations

import time

from testkit.harness import wait_state
from testkit.rtp import RtpPeer, media_address
from testkit.sipua import AnsweringPeer, Caller, Msg, invite, parse, wait_until

GATEWAY = ("127.0.3.24", 5094)  # voxket's dedicated address (any port)
SBC_PUBLIC, SBC_PRIVATE = ("127.0.2.1", 5060), ("127.0.1.1", 5060)
CARRIER = ("127.0.4.1", 5060)
DIALED = "+12125550142"
VOXKET_DID = "+14155550401"


class OutboundCall:
    def __init__(self, sbc, name: str):
        self.carrier = AnsweringPeer(*CARRIER, lambda invite: 200).start()
        self.caller = Caller(GATEWAY, SBC_PUBLIC, DIALED, [])
        self.media: list[RtpPeer] = []
        try:
            # an earlier test may have left the carrier probed down: wait until it answers probes again
            wait_state(sbc, [CARRIER[0]], active=True, timeout=20)
            self.call_id = self.place(name)
            assert wait_until(lambda: self.caller.pump(keep_dialogs=True) or self.call_id in self.caller.dialogs, 5), (
                [m.start for m in map(parse, self.caller.received) if m is not None])
        except BaseException:
            self.carrier.stop()
            self.caller.close()
            raise
        self.answered = time.monotonic()
        self.answer = next(m for m in map(parse, self.caller.received)
                           if m and m.status == 200 and m.header("call-id") == self.call_id)
        [(self.carrier_call_id, self.invite)] = self.carrier.invites.items()
        assert wait_until(lambda: [m for m in self.carrier.requests if m.method == "ACK"], 5)

    def place(self, name: str) -> str:
        """Sends one INVITE of voxket's; its Call-ID."""
        call_id = f"{name}-{time.monotonic_ns()}@{GATEWAY[0]}"
        msg = invite(GATEWAY, DIALED, SBC_PUBLIC, call_id)
        msg.set("From", f'"Voxket" <sip:{VOXKET_DID}@{GATEWAY[0]}>;tag=vx{time.monotonic_ns()}')
        self.caller.call_ids.add(call_id)
        self.caller.sent.append(msg)
        self.caller.send(msg.render(), SBC_PUBLIC)
        return call_id

    def start_media(self, seconds: float) -> tuple[RtpPeer, RtpPeer]:
        """(the gateway's, the carrier's) RTP, both ways for `seconds`."""
        self.media = [RtpPeer(GATEWAY[0], 40300).start(media_address(self.answer.body), seconds),
                      RtpPeer(CARRIER[0], 40300).start(media_address(self.invite.body), seconds)]
        return self.media[0], self.media[1]

    def byes(self) -> tuple[list[Msg], list[Msg]]:
        """(BYEs the gateway received, BYEs the carrier received) so far."""
        self.caller.pump(keep_dialogs=True)
        return ([m for m in map(parse, self.caller.received) if m and not m.is_reply and m.method == "BYE"],
                [m for m in self.carrier.requests if m.method == "BYE"])

    def hang_up(self) -> None:
        """The gateway ends the call, if it is still up."""
        dialog = self.caller.dialogs.get(self.call_id)
        if dialog is not None and not any(self.byes()):
            self.caller.send(dialog.request("BYE", *GATEWAY).render(), SBC_PUBLIC)
            wait_until(lambda: self.byes()[1], 5)

    def close(self) -> None:
        try:
            self.hang_up()
        finally:
            for peer in self.media:
                peer.wait()
            self.carrier.stop()
            self.caller.close()
