"""Ringback toward the carrier while the agent's platform starts (tenant `ringback`; sbclib/ringback.py).

Once the INVITE has left with its offer, rtpengine knows the carrier's port: it plays RINGBACK_TONE from
there and the carrier gets a 180 whose SDP names it. The gateway's first SDP (its early media or its answer)
stops the player, before rtpengine's answer joins the two legs; a chain that ends without an answer deletes
the call's media, and the player with it. Anything missing on the way (no query, an offer this cannot
answer, no player) leaves the carrier with a bare 180, as `early_ringing` gives."""

from __future__ import annotations

import json
import os
import secrets

import KSR  # provided by app_python3 inside Kamailio (a fake in the unit tests)

from kemi.telemetry import metrics
from kemi.topology.hiding import log
from sbclib import ringback

PLAYING_AVP = "$avp(sbc_ringback)"  # travels with the transaction: the reply route stops what this started
QUERY_VAR = "$var(sbc_ringback)"
FILE = os.environ.get("RINGBACK_FILE", "")  # the launcher's (stack/services.py): where rtpengine finds the tone


def ring(svc, tenant: str) -> None:
    """Request route, after the INVITE was relayed: the carrier hears ringing now."""
    result = _play(svc)
    metrics.ringback(tenant, result)
    if result != "played":
        log(KSR.warn, f"ringback not played ({result}): a bare 180")
        KSR.tm.t_reply(180, "Ringing")


def _play(svc) -> str:
    s = svc.settings
    tag = KSR.pv.get("$ft")
    if not FILE or not ringback.token(tag):  # the tag goes into rtpengine's flags: a token, nothing more
        return "no file" if not FILE else "offer"
    try:
        offer = KSR.kx.get_body()
    except (UnicodeDecodeError, ValueError):
        offer = None
    if not isinstance(offer, str) or not offer:
        return "offer"  # a late offer (no SDP): rtpengine has no session to play from yet, nothing to ask
    leg = carrier_leg(tag)
    if leg is None:
        return "no query"
    address, port = leg
    if address != s.private_ip:  # rtpengine's interface for the carrier is the private socket's address
        return "no query"
    sdp = ringback.answer(offer, address, port, secrets.randbits(31))
    if sdp is None:
        return "offer"
    if KSR.rtpengine.play_media(f"from-tag={tag} file={FILE} repeat-times={ringback.repeats(s.ringback_tone)}") < 0:
        return "player"
    KSR.pv.seti(PLAYING_AVP, 1)
    KSR.textops.set_reply_body(sdp, "application/sdp")
    # The early dialog's remote target (RFC 3261 12.1.1): the SBC's private socket, as for the answer.
    KSR.hdr.append_to_reply(f"Contact: <sip:{s.private_ip}:{s.private_port}>\r\n")
    KSR.tm.t_reply(180, "Ringing")
    return "played"


def carrier_leg(tag: str) -> tuple[str, int] | None:
    """rtpengine's address and port for the carrier's audio (its From tag's), from its query of this call."""
    if KSR.rtpengine.rtpengine_query_v("j", QUERY_VAR) < 0:
        return None
    try:
        query = json.loads(KSR.pv.get(QUERY_VAR) or "")
    except (TypeError, ValueError):
        return None
    return ringback.carrier_leg(query, tag)


def stop(status: int, has_sdp: bool) -> None:
    """Reply route of the INVITE's branch: the gateway's first SDP (or its answer) ends the ringback; a refusal
    does not (the next gateway is tried while the caller still hears it)."""
    if not (has_sdp or 200 <= status < 300) or KSR.pv.get(PLAYING_AVP) != 1:  # most replies: no read
        return
    KSR.pv.unset(PLAYING_AVP)
    if KSR.rtpengine.stop_media(f"from-tag={KSR.pv.get('$ft')}") < 0:
        log(KSR.warn, f"ringback not stopped on {status}: rtpengine refused")
