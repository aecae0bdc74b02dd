"""RTPEngine flags. Interface names match rtpengine's --interface=private/IP --interface=public/IP.

Each party's SDP labels its leg with the side it came from ("private" = carrier, "public" = gateway), so
rtpengine's statistics (kemi.quality) say which leg a figure belongs to."""

from __future__ import annotations

# Rewrite every address in the SDP (c= and o=) and drop ICE candidates that would name the far side.
_HIDE = "replace-origin replace-session-connection ICE=remove"


def offer_flags(from_side: str, to_side: str) -> str:
    """Flags for an SDP offer travelling from one side to the other ("private"/"public")."""
    return f"direction={from_side} direction={to_side} {_HIDE} label={from_side}"


def answer_flags(from_side: str) -> str:
    """Flags for an SDP answer that arrived from `from_side`."""
    return f"{_HIDE} label={from_side}"
