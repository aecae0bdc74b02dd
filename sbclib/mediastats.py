"""Media quality per leg, as rtpengine reports it in its answer to a query: pure, so that sbcctl reads
live calls with the same code the routes use when a call ends (kemi.telemetry.quality).

rtpengine's figures are its own: packets and bytes it received from each leg, and for each leg the MOS,
jitter, loss and round-trip time it derived from the RTCP receiver reports that leg's endpoint sent about
the media it heard (rtpengine runs with mos=LQ: listening quality, so a MOS needs only jitter and loss).
A peer that sends no RTCP has packets and bytes but no MOS. Each leg is known by the label its SDP got
(sbclib.media): "private" is the carrier's leg, "public" the gateway's.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, fields, replace

LEGS = {"private": "carrier", "public": "gateway"}  # rtpengine label -> leg name in CDRs and metrics


@dataclass(frozen=True)
class Leg:
    packets: int = 0  # received by rtpengine from this leg's endpoint
    bytes: int = 0
    mos: float | None = None  # average over the leg's RTCP reports, 1.0 .. 5.0
    mos_min: float | None = None
    jitter_ms: int | None = None  # as the endpoint reported it
    loss_pct: int | None = None  # fraction lost per report, averaged, in percent
    rtt_ms: float | None = None  # end to end through the SBC, when both legs' RTCP allowed it

    def fields(self) -> dict[str, str]:
        """The leg's dialog variables (CDR columns <leg>_<name>); absent figures are left NULL."""
        return {name: str(value) for name, value in asdict(self).items() if value is not None}


FIGURES = tuple(f.name for f in fields(Leg))
COLUMNS = tuple(f"{leg}_{name}" for leg in LEGS.values() for name in FIGURES)  # the CDR's media columns


def _int(value) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _list(value) -> list:
    return value if isinstance(value, list) else []


def _labelled(answer) -> list[tuple[str, dict]]:
    """(leg name, monologue) for each tag of a query answer whose label names a leg."""
    tags = answer.get("tags") if isinstance(answer, dict) else None
    found = []
    for monologue in (tags.values() if isinstance(tags, dict) else ()):
        label = monologue.get("label") if isinstance(monologue, dict) else None
        if isinstance(label, str) and label in LEGS:
            found.append((LEGS[label], monologue))
    return found


def _medias(monologue: dict) -> list[dict]:
    return [media for media in _list(monologue.get("medias")) if isinstance(media, dict)]


def _rtp_streams(media: dict) -> list[dict]:
    """A media's RTP streams (its RTCP ones left out)."""
    return [s for s in _list(media.get("streams")) if isinstance(s, dict) and "RTP" in _list(s.get("flags"))]


def _ingress_ssrcs(stream: dict) -> list[str]:
    """The SSRCs this leg's endpoint sent: "SSRC" in rtpengine 10.5, "ingress SSRCs" from 11 on."""
    found = [stream.get("SSRC")] + [s.get("SSRC") for s in _list(stream.get("ingress SSRCs")) if isinstance(s, dict)]
    return [str(ssrc) for ssrc in found if _int(ssrc) is not None]


def _ssrc_figures(blocks: list[dict]) -> dict:
    """MOS and its companions over the SSRCs a leg sent (a leg changes SSRC on a re-INVITE or a
    transfer): averages of rtpengine's per-SSRC averages, the lowest of their lowest MOS."""
    averages = [b["average MOS"] for b in blocks if isinstance(b.get("average MOS"), dict)
                and (_int(b["average MOS"].get("MOS")) or 0) > 0]
    if not averages:
        return {}
    lowest = [_int((b.get("lowest MOS") or {}).get("MOS")) for b in blocks if isinstance(b.get("lowest MOS"), dict)]
    lowest = [m for m in lowest if m]

    def mean(key: str, measured_only: bool = False) -> float | None:
        values = [_int(a.get(key)) for a in averages]
        values = [v for v in values if v is not None and (v > 0 or not measured_only)]
        return sum(values) / len(values) if values else None

    rtt_us = mean("round-trip time", measured_only=True)  # 0: that SSRC's round trip was not measured
    jitter, loss = mean("jitter"), mean("packet loss")
    return {
        "mos": round(mean("MOS") / 10, 1),  # rtpengine keeps MOS x 10
        "mos_min": round(min(lowest) / 10, 1) if lowest else None,
        "jitter_ms": round(jitter) if jitter is not None else None,
        "loss_pct": round(loss) if loss is not None else None,
        "rtt_ms": round(rtt_us / 1000, 1) if rtt_us else None,
    }


def legs(answer: dict) -> dict[str, Leg]:
    """Leg name -> figures, from rtpengine's answer to a query. Legs without a known label are left out;
    anything malformed yields fewer figures, never an exception."""
    found: dict[str, Leg] = {}
    ssrc_table = answer.get("SSRC") if isinstance(answer, dict) else None
    for leg, monologue in _labelled(answer):
        packets = octets = 0
        ssrcs = []
        for stream in (stream for media in _medias(monologue) for stream in _rtp_streams(media)):
            stats = stream.get("stats") if isinstance(stream.get("stats"), dict) else {}
            packets += _int(stats.get("packets")) or 0
            octets += _int(stats.get("bytes")) or 0
            ssrcs += _ingress_ssrcs(stream)
        blocks = [ssrc_table[s] for s in ssrcs if isinstance(ssrc_table, dict) and isinstance(ssrc_table.get(s), dict)]
        previous = found.get(leg, Leg())  # a leg re-labelled on a new tag (a transfer) adds up
        found[leg] = replace(previous, packets=previous.packets + packets, bytes=previous.bytes + octets,
                             **_ssrc_figures(blocks))
    return found


def parse(text) -> dict[str, Leg]:
    """rtpengine_query_v's JSON text -> legs; {} when there is none or it does not parse."""
    if not isinstance(text, str) or not text:
        return {}
    try:
        return legs(json.loads(text))
    except ValueError:
        return {}


def silent_legs(answer: dict, now: int, since: int, timeout: int) -> tuple[str, ...]:
    """Legs whose endpoint is due to send media and sent none for over `timeout` seconds, by the "last packet"
    rtpengine keeps per stream (seconds). `since`: when the call was answered, so a leg that never sent
    counts from then. A leg whose SDP says it does not send (on hold: recvonly, inactive) is not due; a
    leg re-labelled on a new tag counts by its newest packet. Anything malformed counts as not silent."""
    last: dict[str, int] = {}
    for leg, monologue in _labelled(answer):
        for media in _medias(monologue):
            if "send" not in _list(media.get("flags")):
                continue
            last.setdefault(leg, since)
            for stream in _rtp_streams(media):
                last[leg] = max(last[leg], _int(stream.get("last packet")) or 0)
    # rtpengine keeps whole seconds: more than `timeout` of them means at least `timeout` real seconds.
    return tuple(leg for leg in LEGS.values() if leg in last and now - last[leg] > timeout)
