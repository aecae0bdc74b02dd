"""Codec policy of a call leg: the codecs a peer accepts, in its order of preference, and whether rtpengine may
transcode toward it. A gateway's is in its dispatcher row (`codecs=opus,pcmu;transcode=1`, sbcctl gateway
--codecs/--transcode), the carriers' in .env (CARRIER_CODECS, CARRIER_TRANSCODE). Plain decisions: what
rtpengine is asked for an offer toward that peer, and whether an offer can reach it at all.

Measured on rtpengine 10.5 (docs/gateways.md, Codecs): `codec-mask=all` with `codec-transcode=` per codec offers exactly
those (telephone-event and CN too, at the codec's clock) and transcodes whatever the other side sends; a
codec both sides have is relayed as it is. `codec-strip=all` with `codec-offer=` keeps those of the offer, but
an offer left with none is sent unchanged: without transcoding such an offer must not go."""

from __future__ import annotations

import re
from dataclasses import dataclass

from sbclib import dsattrs

# Operator's name -> the encoding name of SDP and rtpengine; what rtpengine here transcodes both ways
# (`rtpengine --codecs`: fully supported).
NAMES = {"pcmu": "PCMU", "pcma": "PCMA", "g722": "G722", "g729": "G729", "opus": "opus"}
STATIC = {"0": "PCMU", "8": "PCMA", "9": "G722", "18": "G729"}  # RFC 3551 payload types (no a=rtpmap needed)
# DTMF (RFC 4733) and comfort noise (RFC 3389) go with every policy: rtpengine translates them between clocks.
EVENTS = ("telephone-event", "CN")


class CodecError(ValueError):
    """A codec list the SBC cannot apply: `field` names it."""

    def __init__(self, field: str, problem: str):
        super().__init__(f"{field}: {problem}")
        self.field = field


@dataclass(frozen=True)
class Policy:
    codecs: tuple[str, ...] = ()  # SDP encoding names, preferred first; empty: whatever the offer has
    transcode: bool = False

    @property
    def any(self) -> bool:
        return bool(self.codecs)

    def encode(self) -> str:
        """For a dialog variable (the call's later offers): "opus,PCMU;t", "" without a policy."""
        return ",".join(self.codecs) + (";t" if self.transcode else "") if self.codecs else ""


NONE = Policy()


def parse_list(text: str, field: str = "codecs") -> tuple[str, ...]:
    """"opus,g722,pcmu" -> ("opus", "G722", "PCMU"); "" -> (). Unknown or repeated names are refused."""
    names = [part.strip().lower() for part in (text or "").split(",") if part.strip()]
    unknown = [n for n in names if n not in NAMES]
    if unknown:
        raise CodecError(field, f"{', '.join(unknown)} not one of {', '.join(NAMES)}")
    if len(set(names)) != len(names):
        raise CodecError(field, "a codec named twice")
    return tuple(NAMES[n] for n in names)


def operator_names(codecs: tuple[str, ...]) -> str:
    """("opus", "PCMU") -> "opus,pcmu": how sbcctl writes them."""
    return ",".join(c.lower() for c in codecs)


def policy_of(attrs: object) -> Policy:
    """A dispatcher row's policy ("weight=50;codecs=opus,pcmu;transcode=1"). A list sbcctl would have refused
    (the table written by hand) is no policy: the row's calls keep their codecs, `sbcctl check` names it."""
    fields = dsattrs.parse(attrs)
    if "codecs" not in fields:
        return NONE
    try:
        codecs = parse_list(fields.get("codecs", ""))
    except CodecError:
        return NONE
    return Policy(codecs, fields.get("transcode") == "1")


def decode(value: object) -> Policy:
    """Policy.encode's text back (a dialog variable); anything else is no policy."""
    if not isinstance(value, str) or not value:
        return NONE
    names, _, mode = value.partition(";")
    codecs = tuple(c for c in names.split(",") if c in NAMES.values())
    return Policy(codecs, mode == "t") if codecs else NONE


def offer_flags(policy: Policy) -> str:
    """rtpengine flags for an offer toward a peer with this policy ("" for none)."""
    if not policy.codecs:
        return ""
    if policy.transcode:
        return " ".join(["codec-mask=all"] + [f"codec-transcode={c}" for c in (*policy.codecs, *EVENTS)])
    return " ".join(["codec-strip=all"] + [f"codec-offer={c}" for c in (*policy.codecs, *EVENTS)])


_MEDIA = re.compile(r"^m=audio +\d+ +\S+((?: +\S+)*)", re.MULTILINE)
_RTPMAP = re.compile(r"^a=rtpmap: *(\d+) +([^/\s]+)/", re.MULTILINE)


def offered(body: str) -> tuple[str, ...]:
    """The known codecs an SDP's audio offers, by payload type order (static ones without an a=rtpmap
    too; an a=rtpmap naming another codec for a static number wins)."""
    media = _MEDIA.search(body or "")
    if media is None:
        return ()
    names = {pt: name for pt, name in _RTPMAP.findall(body)}
    found = []
    for pt in media.group(1).split():
        name = names.get(pt, STATIC.get(pt, ""))
        known = next((c for c in NAMES.values() if c.lower() == name.lower()), None)
        if known and known not in found:
            found.append(known)
    return tuple(found)


def reaches(policy: Policy, offer: tuple[str, ...]) -> bool:
    """Can an offer of these codecs go to a peer with this policy? Always when rtpengine may transcode or the
    peer has no list; else only with a codec in common (rtpengine would send the offer unchanged)."""
    return policy.transcode or not policy.codecs or bool(set(policy.codecs) & set(offer))
