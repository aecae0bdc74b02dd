"""Ringback the carrier hears from rtpengine while an agent's platform starts (tenant `ringback`).

The tone is RINGBACK_TONE's cadence (segments "F1+F2/ms", "0/ms" for silence, as telephone exchanges list
them), rendered once into a WAV that rtpengine's player repeats. rtpengine allocates the carrier's port at
the offer, before any gateway answers, and keeps it for every failover and the final answer: the 180's SDP
names that port, answering the carrier's own offer with its own codecs, so the answer that comes with the
agent's 200 changes nothing the carrier has to follow."""

from __future__ import annotations

import io
import math
import re
import struct
import wave

from sbclib.fields import ConfigError

RATE = 8000  # Hz: G.711's; rtpengine resamples for the carrier's codec
PEAK = 12000  # of 32767: the tone's summed amplitude, about -9 dBFS, below any codec's clipping
MAX_SEGMENTS = 16
MAX_CYCLE_MS = 30000
PLAY_FOR_MS = 600000  # repeats of the cadence asked for: longer than any failover chain rings

Segment = tuple[tuple[int, ...], int]  # (frequencies in Hz, none for silence; milliseconds)

_SEGMENT = re.compile(r"(\d{1,4}(?:\+\d{1,4}){0,2})/(\d{1,5})")


def cadence(field: str, value: str) -> tuple[Segment, ...]:
    """RINGBACK_TONE: "440+480/2000,0/4000" (North America, ITU-T E.180); "425/1000,0/4000" (most of Europe);
    "400+450/400,0/200,400+450/400,0/2000" (UK). Frequencies 0 (silence) or 20..3900 Hz, up to three mixed."""
    items = [item.strip() for item in value.split(",")]
    if not value.strip() or len(items) > MAX_SEGMENTS:
        raise ConfigError(field, f"needs 1..{MAX_SEGMENTS} segments 'Hz[+Hz]/ms' separated by commas: {value!r}")
    segments = []
    for item in items:
        match = _SEGMENT.fullmatch(item)
        if match is None:
            raise ConfigError(field, f"{item!r} is not 'Hz[+Hz[+Hz]]/ms' (e.g. 440+480/2000 or 0/4000)")
        tones = tuple(int(hz) for hz in match.group(1).split("+") if int(hz) != 0)
        ms = int(match.group(2))
        if any(not 20 <= hz <= 3900 for hz in tones):
            raise ConfigError(field, f"{item!r}: a frequency is 0 (silence) or 20..3900 Hz")
        if not 10 <= ms <= 10000:
            raise ConfigError(field, f"{item!r}: a segment lasts 10..10000 ms")
        segments.append((tones, ms))
    if not any(tones for tones, _ in segments):
        raise ConfigError(field, f"silence only: {value!r}")
    if sum(ms for _, ms in segments) > MAX_CYCLE_MS:
        raise ConfigError(field, f"one cycle lasts at most {MAX_CYCLE_MS} ms: {value!r}")
    return tuple(segments)


def repeats(segments: tuple[Segment, ...]) -> int:
    """How many cycles rtpengine is asked to play: the call's end or the answer stops it sooner."""
    return math.ceil(PLAY_FOR_MS / sum(ms for _, ms in segments))


def wav(segments: tuple[Segment, ...]) -> bytes:
    """One cycle of the cadence: 16-bit mono PCM at 8 kHz."""
    samples = bytearray()
    for tones, ms in segments:
        count = RATE * ms // 1000
        if not tones:
            samples += bytes(2 * count)
            continue
        step = [2 * math.pi * hz / RATE for hz in tones]
        amplitude = PEAK / len(tones)
        samples += struct.pack(f"<{count}h", *(
            round(amplitude * sum(math.sin(s * n) for s in step)) for n in range(count)))
    out = io.BytesIO()
    with wave.open(out, "wb") as file:
        file.setnchannels(1)
        file.setsampwidth(2)
        file.setframerate(RATE)
        file.writeframes(bytes(samples))
    return out.getvalue()


# ---- the 180's SDP --------------------------------------------------------------------------------------

_MEDIA = re.compile(r"m=([a-z]{1,16}) (\d{1,5})(?:/\d{1,2})? ([A-Za-z0-9/._-]{1,32})((?: [\x21-\x7e]{1,32}){1,32})")
_RTPMAP = re.compile(r"a=rtpmap:(\d{1,3}) ([A-Za-z0-9_.-]{1,32}/\d{1,6}(?:/\d{1,2})?)")
_FMTP = re.compile(r"a=fmtp:(\d{1,3}) ([\x21-\x7e][\x20-\x7e]{0,200})")
_STATIC = {str(pt) for pt in range(35)}  # RFC 3551's static payload types need no rtpmap


def answer(offer: str, address: str, port: int, session: int) -> str | None:
    """The SDP answer of a 180 that lets the carrier hear rtpengine at `address`:`port`: its first RTP/AVP
    audio stream with the formats it offered (rtpengine plays the first it can encode), every other stream
    refused (port 0, RFC 3264 6). None for an offer that has no such stream or that this cannot read."""
    sections: list[list[str]] = []
    for line in offer.replace("\r\n", "\n").split("\n"):
        if line.startswith("m="):
            sections.append([line])
        elif sections:
            sections[-1].append(line)
    lines = ["v=0", f"o=- {session} {session} IN IP4 {address}", "s=-", f"c=IN IP4 {address}", "t=0 0"]
    chosen = False
    for section in sections:
        media = _MEDIA.fullmatch(section[0])
        if media is None:
            return None
        kind, offered_port, proto, formats = media.group(1), media.group(2), media.group(3), media.group(4).split()
        if chosen or kind != "audio" or offered_port == "0" or proto != "RTP/AVP":
            lines.append(f"m={kind} 0 {proto} {formats[0]}")
            continue
        attributes = _attributes(section[1:], formats)
        if attributes is None:
            return None
        kept, described = attributes
        if not kept:
            return None
        lines += [f"m=audio {port} RTP/AVP {' '.join(kept)}", *described, "a=sendrecv"]
        chosen = True
    return "\r\n".join(lines) + "\r\n" if chosen else None


def _attributes(lines: list[str], formats: list[str]) -> tuple[list[str], list[str]] | None:
    """The audio stream's formats that are payload types it describes (or static ones), and their rtpmap and
    fmtp lines; None when a format is not a payload type."""
    if any(not f.isdigit() or int(f) > 127 for f in formats):
        return None
    rtpmap, fmtp = {}, {}
    for line in lines:
        for pattern, found in ((_RTPMAP, rtpmap), (_FMTP, fmtp)):
            match = pattern.fullmatch(line.strip())
            if match is not None:
                found.setdefault(match.group(1), match.group(2))
    kept = [f for f in dict.fromkeys(formats) if f in rtpmap or f in _STATIC]
    described = [f"a=rtpmap:{f} {rtpmap[f]}" for f in kept if f in rtpmap]
    described += [f"a=fmtp:{f} {fmtp[f]}" for f in kept if f in fmtp]
    return kept, described


_TOKEN = re.compile(r"[A-Za-z0-9.!%*_+`'~-]{1,128}")


def token(value: object) -> bool:
    """A SIP token (RFC 3261 25.1), as a tag must be: safe inside rtpengine's space-separated flags."""
    return isinstance(value, str) and _TOKEN.fullmatch(value) is not None


def carrier_leg(query: object, from_tag: str) -> tuple[str, int] | None:
    """Where rtpengine takes the carrier's audio, from its query of the call (JSON as the module returns it):
    the local address and port of the first audio stream of the monologue `from_tag` (the carrier's)."""
    try:
        medias = query["tags"][from_tag]["medias"]
        stream = next(m for m in medias if m.get("type") == "audio")["streams"][0]
        address, port = stream["local address"], stream["local port"]
    except (KeyError, IndexError, TypeError, StopIteration, AttributeError):
        return None
    if not isinstance(address, str) or not isinstance(port, int) or not 1 <= port <= 65535:
        return None
    return address, port
