"""RTPEngine flags. Interface names match rtpengine's --interface=private/IP --interface=public/IP."""

from __future__ import annotations

# Rewrite every address in the SDP (c= and o=) and drop ICE candidates that would name the far side.
_HIDE = "replace-origin replace-session-connection ICE=remove"


def offer_flags(from_side: str, to_side: str) -> str:
    """Flags for an SDP offer travelling from one side to the other ("private"/"public")."""
    return f"direction={from_side} direction={to_side} {_HIDE}"


ANSWER_FLAGS = _HIDE
