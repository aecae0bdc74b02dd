"""Requests inside a call: only those of a dialog this SBC set up, whose From/To the dialog module has
restored for the side they go to, leaving by the other side's socket; their SDP through rtpengine."""

from __future__ import annotations

from collections.abc import Callable

import KSR  # provided by app_python3 inside Kamailio (a fake in the unit tests)

from kemi.access import peers
from kemi.access.challenges import peer_host
from kemi.gateways import attempts, hostnames
from kemi.state import deadmedia, dlgvar
from kemi.telemetry import metrics, quality, records
from kemi.topology import hiding, rewriting, transcoding
from kemi.topology.hiding import log
from sbclib import benchswitch, codecs, media, policy, tenancy
from sbclib.mediastats import LEGS


def _across(side: str | None) -> str:
    """The side a request arriving on `side` leaves by."""
    return "public" if side == "private" else "private"


PEER_ON = {"private": records.SOURCE_OF["inbound"], "public": records.SOURCE_OF["outbound"]}  # its dialog variable


def is_dialog_peer(src: str, recorded: str, names_of: Callable[[str], list[str]]) -> bool:
    """Is `src` the peer a dialog recorded for a side: its address (the call's source), or the host of the URI
    the call was sent to (an address, or a gateway's name that DNS now gives `src` for)?"""
    host = peer_host(recorded) or (recorded or "").lower()
    return bool(host) and (src == host or host in names_of(src))


def end_media(side: str | None) -> None:
    """A BYE from `side` ends the call: who hung up and its media figures into the record, then the
    rtpengine session goes."""
    if side in LEGS:
        deadmedia.ended_by(LEGS[side])
    if "quality" not in benchswitch.OFF:
        quality.record()
    attempts.delete_media()


def in_dialog(svc, req) -> None:
    side, guard = req.side, svc.guard
    # Only requests of a dialog this SBC set up go anywhere: no relaying through forged Routes.
    known = KSR.dialog.is_known_dlg() > 0
    if known and not from_dialog_peer(svc, req):
        return
    # The SDP's edits are applied before loose_route: uac restores From/To there (lumps), which applying
    # would write into the request tm answers from (its 100 Trying named the other side).
    if known and not rewriting.scrub_sdp(svc, req):
        return
    if not known or KSR.rr.loose_route() < 0:
        if req.is_ack:
            # tm absorbs the ACK to a negative reply; an ACK to a 2xx of a dialog that is gone (a
            # BYE overtook it) is dropped: without its dialog uac cannot restore From/To (fuzzing).
            KSR.tm.t_check_trans()
            return
        if req.peer is None:
            peers.refuse(svc.settings, req, "in-dialog request for no known dialog")
        else:
            guard.reply(481, "Call/Transaction Does Not Exist", side)
        return
    if not hiding.store_up(svc.topos_in_redis, req.method):
        # Without its store topos would send this unhidden: keep it here; the sender retries (ndb_redis
        # keeps a failed server off in each process until the next second, hence Retry-After: 1).
        if not req.is_ack:
            KSR.hdr.append_to_reply("Retry-After: 1\r\n")
            guard.reply(503, "Service Unavailable", side)
        return
    refusal = next_hop_refusal(svc, req)
    if refusal is not None:
        if req.is_bye:
            # The dialog module has ended the call already: free its media, and answer statefully so
            # that the dialog goes when the transaction does (its deletion waits for that).
            end_media(side)
            guard.reply(*refusal, side, stateful=True)
        elif not req.is_ack:
            guard.reply(*refusal, side)
        return
    if req.method == "REFER" and not transfer(svc, req):
        return
    if guard.arrived_masked():
        # From the side that only knows the masked Call-ID: tm's own 100 Trying and its 408/503
        # would carry the decoded one (topos leaves them alone). The answer comes from the far end.
        KSR.tm.t_set_auto_inv_100(0)
        KSR.tm.t_set_disable_internal_reply(1)
    rewriting.remove_headers(svc, policy.side_headers(req.names))
    if req.is_bye:
        if side == "public":
            records.agent_headers(req.names)  # its disposition, summary id: into the record
        end_media(side)
    elif KSR.textops.has_body_type("application/sdp") > 0:
        if not in_dialog_media(svc, req):
            # rtpengine could not rewrite the SDP: as it came, it would name the sender's side.
            guard.refused("media", side, "sdp rtpengine refused")
            if not req.is_ack:
                guard.reply(488, "Not Acceptable Here", side)
            return
    elif req.method == "INVITE":
        KSR.pv.seti(attempts.LATE_OFFER_AVP, 1)  # a re-INVITE without SDP: the answer's SDP is the offer
    if not req.is_ack:
        KSR.tm.t_on_reply("reply_media")
    attempts.relay(svc, req)


def from_dialog_peer(svc, req) -> bool:
    """Only the peer the call was set up with on that side acts in it: a forged BYE would end the call, a
    forged re-INVITE re-point its media. Asked before loose_route, where the dialog module acts on a BYE.
    A carrier may send from any address of the carrier ACL (an interconnect's SBCs share calls); a
    gateway only from the address the call went to or came from, or one its name resolves to now."""
    side = req.side
    if side == "private" and req.peer == "carrier":
        return True
    recorded = dlgvar.get(PEER_ON[side]) if side in PEER_ON else ""
    if is_dialog_peer(req.src, recorded, hostnames.hosts_of) or (not recorded and req.peer is not None):
        return True  # (the latter: a dialog from before peers were recorded)
    svc.guard.refused("in-dialog", side, "not the dialog's peer")
    if side == "private" and not req.is_ack:
        svc.guard.reply_masked(403, "Forbidden", side)  # an outbound call's: the carrier has the masked Call-ID
    return False  # the public side: silence, as for any stranger


def transfer(svc, req) -> bool:
    """A REFER: relayed to the carrier with a Refer-To of its own, or answered 403 (sbclib.tenancy)."""
    side = req.side
    name = records.tenant()
    tenant = svc.current("tenant", svc.tenants, name) if name else None  # None: refused, the default
    target, result = tenancy.transfer_target(tenant, side or "", KSR.hdr.get("Refer-To"), records.carrier(),
                                             svc.settings.default_region)
    metrics.transfer(name, result)
    if target is None:
        log(KSR.notice, f"transfer refused ({result}) from the {side} side")
        svc.guard.reply_masked(403, "Transfer Not Allowed", side)  # the platform falls back at once
        return False
    KSR.hdr.remove("Referred-By")  # names the gateway
    KSR.hdr.remove("Refer-To")
    KSR.hdr.append(f"Refer-To: <{target}>\r\n")
    log(KSR.info, f"transfer relayed to the carrier: {target}")
    return True


def next_hop_refusal(svc, req) -> tuple[int, str] | None:
    """After loose_route: was From/To restored, and does the request leave toward the other side?"""
    s = svc.settings
    forced = KSR.pv.get("$fs") or ""  # proto:ip:port ([ip] for IPv6), set by loose_route from our 2nd Route
    out_ip = forced.split(":", 1)[1].rsplit(":", 1)[0].strip("[]") if forced.count(":") >= 2 else None
    refusal = policy.in_dialog_refusal(req.method, KSR.pv.geti("$dlg(state)"), out_ip,
                                       s.socket_ip(_across(req.side)), KSR.pv.get("$nh(d)"),
                                       {s.private_ip, s.public_ip})
    if refusal is not None:
        svc.guard.refused("in-dialog", req.side, f"{refusal[0]} {refusal[1]} (next hop {out_ip})")
    return refusal


def in_dialog_media(svc, req) -> bool:
    side = req.side
    if req.method in ("INVITE", "UPDATE"):
        # The gateway leg keeps the protocol the call began with (SRTP stays SRTP), the carrier's RTP/AVP.
        protocol = (dlgvar.get(media.GATEWAY_PROTOCOL_VAR) or media.RTP_AVP) if side == "private" else media.RTP_AVP
        accepts = transcoding.toward(svc, _across(side))  # the codecs the far peer takes, as for the call's offer
        return transcoding.reaches(accepts, _across(side)) and KSR.rtpengine.rtpengine_manage(
            media.offer_flags(side, _across(side), protocol=protocol, codecs=codecs.offer_flags(accepts))) > 0
    if req.is_ack:
        return KSR.rtpengine.rtpengine_manage(media.answer_flags(
            side, gateway_protocol=dlgvar.get(media.GATEWAY_PROTOCOL_VAR))) > 0
    return True  # other methods' bodies were checked on ingress: no address in them
