"""One call attempt toward a peer, once routing has chosen where: dispatcher selection, relay with this
leg's timers, the per-branch media offer (each failover re-offers), media on replies, and the failure
route's failover to the next peer or group."""

from __future__ import annotations

import traceback
from dataclasses import dataclass

import KSR  # provided by app_python3 inside Kamailio (a fake in the unit tests)

from kemi.access import challenges
from kemi.context import Reply
from kemi.gateways import capacity, ringback
from kemi.state import dlgvar
from kemi.telemetry import metrics, records, timing
from kemi.topology import rewriting, sdpscrub, tlspeer, transcoding
from kemi.topology.hiding import crashed, log, safe
from sbclib import codecs, media, policy
from sbclib.ringback import token

# Per-transaction state read back in the failure route (AVPs travel with the transaction).
NUMBER_AVP = "$avp(sbc_number)"
GROUPS_AVP = "$avp(sbc_groups)"
GROUP_AVP = "$avp(sbc_group)"  # dispatcher set of the current attempt ("uri" for a direct URI)
KEEPALIVE_AVP = "$avp(sbc_keepalive)"  # 1: the tenant's media_keepalive; every branch's offer and answer ask
LATE_OFFER_AVP = "$avp(sbc_late_offer)"  # 1: the INVITE carried no SDP; the answerer's SDP is the offer
OFFERER_TAG_VAR = "offerer_tag"  # dialog variable: the tag rtpengine keyed a late offer's session by
MAX_UNSENT = 16  # peers one attempt may pass over for branches that could not be sent
GIVE_UP_REASON = 'Reason: Q.850;cause=34;text="no peer answered"\r\n'


def keep_alive(wanted: bool) -> None:
    """At routing: whether this call's legs are kept streaming by rtpengine (sbclib.media)."""
    if wanted:
        KSR.pv.seti(KEEPALIVE_AVP, 1)


def destination() -> str:
    """Where the current attempt goes: the selected peer ($du), or the Request-URI's host without one."""
    return KSR.kx.get_duri() or KSR.kx.get_ruri()


def kept_alive() -> bool:
    """In the INVITE's branch and reply routes: whether its routing asked for keepalive."""
    return KSR.pv.get(KEEPALIVE_AVP) == 1


@dataclass(frozen=True)
class Leg:
    """One direction of travel: where the call leaves, how peers are picked and how long they get."""

    peer: str  # "gateway" or "carrier", for logs
    direction: str  # "inbound" (to a gateway) or "outbound" (to a carrier): metrics and records
    side: str  # socket the call leaves from
    branch: str  # branch route: per-attempt media offer
    failure: str  # failure route: failover
    algorithm: int  # dispatcher algorithm
    no_reply_ms: int  # no provisional reply from this attempt: next peer
    no_answer_ms: int  # provisional but no final answer: next peer


def pick_peer(groups: list[int], leg: Leg) -> bool:
    """Select a peer with room from the first group that has one; the groups left over are kept
    for the failure route."""
    while groups:
        group, groups = groups[0], groups[1:]
        if KSR.dispatcher.ds_select_dst(group, leg.algorithm) > 0 and (with_room() or next_with_room()):
            KSR.pv.sets(GROUPS_AVP, policy.encode_groups(groups))
            KSR.pv.sets(GROUP_AVP, str(group))
            point_ruri_at_peer()
            return True
        log(KSR.warn, f"no active {leg.peer} with room in group {group}")
    return False


def with_room() -> bool:
    """Does the selected peer take this attempt (kemi/gateways/capacity.py)?"""
    return capacity.room(KSR.kx.get_duri(), KSR.pv.get("$xavp(_dsdst_=>attrs)"))


def next_with_room() -> bool:
    """The group's next peer (in the algorithm's order) that takes this attempt; False when none is left."""
    while KSR.dispatcher.ds_next_dst() > 0:
        if with_room():
            return True
    return False


def point_ruri_at_peer() -> None:
    """Request-URI = our number at the selected destination: built whole here, so no host,
    parameter or ?header of the received Request-URI survives."""
    KSR.seturi(policy.with_user(KSR.kx.get_duri(), KSR.pv.get(NUMBER_AVP)))


def attempt(svc, leg: Leg, req=None) -> bool:
    """Send the INVITE to the selected peer, with this leg's socket, timers and routes armed; a peer it cannot
    be sent to (its branch dropped: no codec the peer takes, the egress check) gives way to the next one.
    `req`: the request route's message, answered 503 when no peer is left; None in the failure route."""
    for _ in range(MAX_UNSENT):  # dispatcher's lists are finite; this bounds a list that is not
        if _attempt_once(svc, leg):
            return True
        if not next_peer(leg):
            break
    if req is not None and not req.is_ack:
        # Statefully: the transaction exists, and the dialog ends only when it sees its final answer.
        svc.guard.reply(503, "Service Unavailable", req.side, stateful=True)
    return False


def _attempt_once(svc, leg: Leg) -> bool:
    group = KSR.pv.get(GROUP_AVP) or ""
    peer = destination()
    KSR.pv.sets(challenges.DESTINATION_AVP, peer)
    records.attempt(leg.direction, group, peer)
    if group != "uri":
        capacity.counted(peer)
    timing.started(leg.direction, records.tenant(), group)
    return resend(svc, leg, peer)


def resend(svc, leg: Leg, peer: str, req=None) -> bool:
    """(Re-)send the INVITE of this attempt to `peer`: a new branch, with the leg's timers and routes."""
    KSR.pv.sets("$fs", svc.settings.socket(leg.side, policy.transport(peer)))
    tlspeer.ask_for_name(peer)
    KSR.tm.t_set_fr(leg.no_answer_ms, leg.no_reply_ms)
    KSR.tm.t_on_branch(leg.branch)
    KSR.tm.t_on_reply("reply_media")
    KSR.tm.t_on_failure(leg.failure)
    return relay(svc, req)


def relay(svc, req=None) -> bool:
    """t_relay; a request route's failed relay is answered 503 (in the failure route tm answers)."""
    if KSR.tm.t_relay() < 0:
        log(KSR.err, f"relay of {safe(KSR.kx.get_method)} to {safe(KSR.kx.get_ruri)} failed")
        if req is not None and not req.is_ack:
            # Statefully: the transaction exists (the egress check may have dropped every branch),
            # and the dialog ends only when it sees the transaction's final answer.
            svc.guard.reply(503, "Service Unavailable", req.side, stateful=True)
        return False
    return True


# ---- per-branch media (runs for each attempt, so a failover re-offers) ---------------------------


def branch_media(svc, src: str, dst: str) -> int:
    try:
        # The gateway leg's protocol: this attempt's gateway's setting, or what a gateway calling in offered.
        attrs = KSR.pv.get("$xavp(_dsdst_=>attrs)") if dst == "public" else None
        if dst == "public":
            protocol = media.gateway_protocol(attrs)
        else:
            protocol = media.offered_protocol(KSR.textops.search_body)
        dlgvar.put(media.GATEWAY_PROTOCOL_VAR, protocol)
        accepts = transcoding.for_attempt(svc, dst, attrs)
        late = KSR.textops.has_body_type("application/sdp") <= 0
        if not late and not transcoding.reaches(accepts, dst):
            KSR.set_drop()  # the next peer may take it
            return 1
        if dst == "public" and not rewriting.replace_to(svc.settings, KSR.pv.get(NUMBER_AVP) or "", dst,
                                                        destination()):
            # The caller's own To would name our private side: the branch does not leave.
            log(KSR.err, "To of the attempt not replaced, branch dropped")
            KSR.set_drop()
            return 1
        if late:
            # A late offer (RFC 3261 13.2.1): nothing to offer yet; the answer's SDP is offered to us instead.
            KSR.pv.seti(LATE_OFFER_AVP, 1)
            return 1
        flags = media.offer_flags(src, dst, kept_alive(), protocol if dst == "public" else media.RTP_AVP,
                                  codecs.offer_flags(accepts))
        if KSR.rtpengine.rtpengine_manage(flags) < 0:
            # Never let an SDP with the other side's addresses through: drop the branch.
            log(KSR.err, "rtpengine offer failed, branch dropped")
            KSR.set_drop()
    except Exception:  # noqa: BLE001
        crashed("branch route", traceback.format_exc())
        KSR.set_drop()
    return 1


# ---- replies and failures ----------------------------------------------------------------------


def reply_media(svc, reply: Reply) -> int:
    """tm's reply route of an INVITE's branch: the answering side's software headers go, its SDP is scrubbed
    and handed to rtpengine (an answer it cannot carry hidden waits for the next one)."""
    try:
        status = KSR.kx.get_status()
        pdd = timing.provisional(status)
        if pdd is not None:
            records.late_ringing(pdd)
        if 200 <= status < 300 and reply.side == "public":
            records.agent_headers(reply.names)  # the agent's answer: what it said of the call, for the record
        rewriting.remove_headers(svc, policy.side_headers(reply.names))
        has_sdp = 180 <= status < 300 and KSR.textops.has_body_type("application/sdp") > 0
        ringback.stop(status, has_sdp)
        if has_sdp:
            if not sdpscrub.scrub():
                # It would name the answering side's software: the far side waits for the next answer.
                svc.guard.refused("media", reply.side, "sdp not scrubbed")
                KSR.set_drop()
            elif KSR.rtpengine.rtpengine_manage(reply_flags(svc, reply.side)) < 0:
                log(KSR.err, f"rtpengine answer failed on {status}")
    except Exception:  # noqa: BLE001
        crashed("reply route", traceback.format_exc())
    return 1


def reply_flags(svc, side: str) -> str:
    """rtpengine's flags for the SDP of a reply from `side`: the answer to our offer, or, to an INVITE that
    had none, the offer toward the caller (rtpengine_manage offers then), under the caller side's codec
    policy. An offer that policy cannot take still goes, unchanged in its codecs (counted and logged by
    transcoding.reaches): the caller refuses it in its ACK and hangs up, as it would without us."""
    keepalive, protocol = kept_alive(), dlgvar.get(media.GATEWAY_PROTOCOL_VAR)
    if KSR.pv.get(LATE_OFFER_AVP) != 1:
        return media.answer_flags(side, keepalive, protocol)
    tag = KSR.pv.get("$tt")
    if token(tag):  # it goes into rtpengine's flags at the call's end
        dlgvar.put(OFFERER_TAG_VAR, tag)  # rtpengine keys this session by the answerer's tag (delete_media)
    to = "public" if side == "private" else "private"
    accepts = transcoding.toward(svc, to)
    return media.offer_flags(side, to, keepalive, protocol if to == "public" else media.RTP_AVP,
                             codecs.offer_flags(accepts) if transcoding.reaches(accepts, to) else "")


def delete_media() -> None:
    """The call's rtpengine session goes (its end, or its last attempt's failure). A late offer's session was
    keyed by the answerer's tag: deleted by that one, as rtpengine 12.5 deletes a session whose answer never
    came (the caller's BYE overtook its ACK) only by its offerer's tag; by the caller's, it stayed."""
    tag = dlgvar.get(OFFERER_TAG_VAR)
    if tag:
        KSR.rtpengine.rtpengine_delete(f"from-tag={tag}")
    else:
        KSR.rtpengine.rtpengine_delete0()


def failure(svc, leg: Leg) -> int:
    """An attempt ended without a 2xx: fail over, or let the answer through, or give up with 503."""
    try:
        status = KSR.tm.t_get_status_code()
        if KSR.tm.t_is_canceled() > 0:
            log(KSR.info, f"call canceled while a {leg.peer} was trying")
            status = 487
        elif status in challenges.CHALLENGES and challenges.answer(svc, leg):
            resend(svc, leg, destination())  # the same peer again, with our credentials
            return 1
        elif not policy.fails_over(status):
            log(KSR.notice, f"{leg.peer} answered {status}: final")
        else:
            if not capacity.held_off(status, svc.settings.gateway_retry_after_max) and policy.marks_down(status):
                KSR.dispatcher.ds_mark_dst_state("ip")  # skipped until probing sees it again
            while next_peer(leg):
                log(KSR.notice, f"{leg.peer} answered {status}: failover to {KSR.kx.get_ruri()}")
                metrics.failover(leg.direction, status)
                if attempt(svc, leg):
                    return 1
            log(KSR.err, f"{leg.peer} answered {status}: no {leg.peer} left")
            delete_media()
            records.failed(503)
            KSR.hdr.append_to_reply(GIVE_UP_REASON)
            KSR.tm.t_reply(503, f"No {leg.peer.capitalize()} Available")
            return 1
        records.failed(status)
        delete_media()
    except Exception:  # noqa: BLE001
        crashed("failure route", traceback.format_exc())
    return 1


def next_peer(leg: Leg) -> bool:
    capacity.released()
    if next_with_room():
        point_ruri_at_peer()
        return True
    return pick_peer(policy.decode_groups(KSR.pv.get(GROUPS_AVP)), leg)
