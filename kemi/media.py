"""RTPEngine flags. Interface names match rtpengine's --interface=private/IP --interface=public/IP.

Each party's SDP labels its leg with the side it came from ("private" = carrier, "public" = gateway), so
rtpengine's statistics (kemi.quality) say which leg a figure belongs to."""

from __future__ import annotations

import KSR

# Rewrite every address in the SDP (c= and o=) and drop ICE candidates that would name the far side.
_HIDE = "replace-origin replace-session-connection ICE=remove"
# rtpengine's audio player (rtpengine >= 11): each leg gets a stream rtpengine paces itself, from what the
# other leg sent, silence where it sent nothing. A carrier's silence suppression then no longer starves a
# gateway that hangs up after some seconds without RTP (LiveKit: 15 s). Costs a decode and an encode per
# packet. Set on the offer, it holds for both directions and for the call's later offers; rtpengine 10
# ignores the key (with a warning in its log).
_KEEPALIVE = "audio-player=force"
KEEPALIVE_AVP = "$avp(sbc_keepalive)"  # set at routing for a tenant with media_keepalive; read per branch


def keep_alive(wanted: bool) -> None:
    """At routing: whether this call's legs are kept streaming (the tenant's media_keepalive)."""
    if wanted:
        KSR.pv.seti(KEEPALIVE_AVP, 1)


def offer_flags(from_side: str, to_side: str, keepalive: bool = False) -> str:
    """Flags for an SDP offer travelling from one side to the other ("private"/"public")."""
    flags = f"direction={from_side} direction={to_side} {_HIDE} label={from_side}"
    return f"{flags} {_KEEPALIVE}" if keepalive else flags


def branch_offer_flags(from_side: str, to_side: str) -> str:
    """offer_flags for the INVITE being relayed, with the keepalive its routing asked for."""
    return offer_flags(from_side, to_side, KSR.pv.get(KEEPALIVE_AVP) == 1)


def answer_flags(from_side: str) -> str:
    """Flags for an SDP answer that arrived from `from_side`."""
    return f"{_HIDE} label={from_side}"
