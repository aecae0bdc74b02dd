"""RTPEngine flags. Interface names match rtpengine's --interface=private/IP --interface=public/IP.

Each party's SDP labels its leg with the side it came from ("private" = carrier, "public" = gateway), so
rtpengine's statistics (kemi.quality) say which leg a figure belongs to."""

from __future__ import annotations

# Rewrite every address in the SDP (c= and o=) and drop ICE candidates that would name the far side.
_HIDE = "replace-origin replace-session-connection ICE=remove"
# rtpengine's audio player (rtpengine >= 11): each leg gets a stream rtpengine paces itself, from what the
# other leg sent, silence where it sent nothing. A carrier's silence suppression then no longer starves a
# gateway that hangs up after some seconds without RTP (LiveKit: 15 s). Costs a decode and an encode per
# packet. It holds for the call's later offers (re-INVITEs) without being asked again; rtpengine 10
# ignores the key (with a warning in its log). rtpengine 12.5 streams toward the offerer for the offer's
# flag and toward the answerer for the answer's (and relays RFC 4733 events only with both): both carry it.
_KEEPALIVE = "audio-player=force"


def offer_flags(from_side: str, to_side: str, keepalive: bool = False) -> str:
    """Flags for an SDP offer travelling from one side to the other ("private"/"public")."""
    flags = f"direction={from_side} direction={to_side} {_HIDE} label={from_side}"
    return f"{flags} {_KEEPALIVE}" if keepalive else flags


def answer_flags(from_side: str, keepalive: bool = False) -> str:
    """Flags for an SDP answer that arrived from `from_side`."""
    flags = f"{_HIDE} label={from_side}"
    return f"{flags} {_KEEPALIVE}" if keepalive else flags
