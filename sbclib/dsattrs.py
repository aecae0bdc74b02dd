"""dispatcher's per-row attributes (`weight=50;sockname=private;media=srtp;max_calls=10;codecs=opus,pcmu`): one
parser for every reader (capacity, codecs, media, sbcctl), which each take from it what is theirs."""

from __future__ import annotations


def parse(text: object) -> dict[str, str]:
    """The attributes as a dict, in their order; anything but text has none."""
    if not isinstance(text, str):
        return {}
    return dict(part.partition("=")[::2] for part in text.split(";") if part)
