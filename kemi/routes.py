"""The SBC's SIP routes, top to bottom as a call flows through them.

reqinit -> in_dialog | from_telecom -> to_public_gateway | from_public_gateway -> to_telecom,
then per-branch media, replies, failure. Decisions live in policy/e164/didcache; this module
only reads the message, asks them, and tells Kamailio what to do.
"""

from __future__ import annotations

import traceback

import KSR  # provided by app_python3 inside Kamailio (a fake in the unit tests)

from . import e164, media, policy
from .didcache import DidCache, DidUnavailable
from .settings import Settings

CARRIERS = 1  # permissions address group of telecom carriers
GATEWAYS = 2  # permissions address group of public AI gateways
MAX_FORWARDS = 10


def _log(level, text: str) -> None:
    level(f"sbc: {text} [ci={KSR.kx.get_callid()}]\n")


class SbcRoutes:
    def __init__(self, settings: Settings, dids: DidCache):
        self.settings = settings
        self.dids = dids

    # ---- Kamailio entry points ----------------------------------------------------------------

    def child_init(self, rank: int) -> int:
        return 0

    def ksr_request_route(self, msg) -> int:
        try:
            self.request_route()
        except Exception:  # noqa: BLE001 - nothing may escape into Kamailio unanswered
            KSR.err(f"sbc: request route crashed: {traceback.format_exc()}\n")
            if not KSR.is_ACK():
                KSR.sl.send_reply(500, "Server Internal Error")
        return 1

    def ksr_reply_route(self, msg) -> int:
        return 1

    def ksr_onsend_route(self, msg) -> int:
        return 1

    # ---- request routing ----------------------------------------------------------------------

    def request_route(self) -> None:
        if not self.reqinit():
            return
        if KSR.siputils.has_totag() > 0:
            self.in_dialog()
            return
        if KSR.is_CANCEL():
            if KSR.tm.t_check_trans() > 0:
                KSR.tm.t_relay()
            return
        if KSR.is_ACK():
            # ACK for a locally generated negative reply is absorbed by tm; anything else is stray.
            KSR.tm.t_check_trans()
            return
        side = self.arrived_on()
        if side == "private" and KSR.permissions.allow_source_address(CARRIERS) > 0:
            self.from_telecom()
        elif side == "public" and self.is_public_gateway():
            self.from_public_gateway()
        else:
            _log(KSR.notice, f"refused {KSR.kx.get_method()} from {KSR.kx.get_srcip()} on {side}")
            KSR.sl.send_reply(403, "Forbidden")

    def reqinit(self) -> bool:
        """Cheap checks before any routing; False means answered or dropped."""
        KSR.force_rport()
        if policy.is_scanner(KSR.kx.get_ua()):
            _log(KSR.notice, f"dropped scanner {KSR.kx.get_ua()!r} from {KSR.kx.get_srcip()}")
            return False
        if KSR.maxfwd.process_maxfwd(MAX_FORWARDS) < 0:
            KSR.sl.send_reply(483, "Too Many Hops")
            return False
        if KSR.sanity.sanity_check(17895, 7) < 0:
            _log(KSR.notice, f"malformed request from {KSR.kx.get_srcip()}")
            return False  # sanity has already answered
        if KSR.is_OPTIONS() and KSR.is_myself_ruri() and KSR.siputils.has_totag() < 0:
            KSR.sl.send_reply(200, "OK")
            return False
        if KSR.siputils.has_totag() < 0 and KSR.tmx.t_precheck_trans() > 0:
            KSR.tm.t_check_trans()  # retransmission of a request being handled: tm re-answers
            return False
        return True

    def in_dialog(self) -> None:
        if KSR.rr.loose_route() < 0:
            if KSR.is_ACK() and KSR.tm.t_check_trans() > 0:
                KSR.tm.t_relay()  # ACK to a negative reply of ours, hop by hop
                return
            KSR.sl.send_reply(404, "Not Here")
            return
        if KSR.is_BYE():
            KSR.rtpengine.rtpengine_delete0()
        elif KSR.textops.has_body_type("application/sdp") > 0:
            if KSR.is_INVITE() or KSR.is_UPDATE():
                src = self.arrived_on()
                dst = "public" if src == "private" else "private"
                KSR.rtpengine.rtpengine_manage(media.offer_flags(src, dst))
            elif KSR.is_ACK():
                KSR.rtpengine.rtpengine_manage(media.ANSWER_FLAGS)
        if KSR.is_INVITE():
            KSR.tm.t_on_reply("reply_media")
        self.relay()

    def from_telecom(self) -> None:
        if not KSR.is_INVITE():
            KSR.sl.send_reply(405, "Method Not Allowed")
            return
        self.to_public_gateway()

    def to_public_gateway(self) -> None:
        dialed = KSR.kx.get_ruser()
        did = e164.normalise(dialed, self.settings.default_region, self.settings.tech_prefixes)
        if did is None:
            _log(KSR.notice, f"inbound to unusable number {dialed!r}")
            KSR.sl.send_reply(484, "Address Incomplete")
            return
        try:
            route, how = self.dids.lookup(did)
        except DidUnavailable:
            _log(KSR.err, f"inbound {did}: DID source down and DID not cached")
            KSR.sl.send_reply(503, "DID Routing Unavailable")
            return
        if how == "stale":
            _log(KSR.warn, f"inbound {did}: DB down, routing from stale cache")
        target = policy.choose_target(route, self.settings.default_gateway_group)
        if target is None:
            _log(KSR.notice, f"inbound {did}: no route for DID")
            KSR.sl.send_reply(404, "Not Found")
            return
        KSR.dialog.dlg_manage()
        if target.uri:
            KSR.seturi(policy.with_user(target.uri, did))
        elif KSR.dispatcher.ds_select_domain(target.group, self.settings.ds_algorithm) < 0:
            _log(KSR.err, f"inbound {did}: no active gateway in group {target.group}")
            KSR.sl.send_reply(503, "No Gateway Available")
            return
        else:
            KSR.setuser(did)
        self.rewrite_parties(did, "public")
        _log(KSR.info, f"inbound {dialed} -> {did} -> {KSR.kx.get_ruri()}")
        self.send_to("public", branch="branch_to_gateway", failure="failure_from_gateway")

    def from_public_gateway(self) -> None:
        if not KSR.is_INVITE():
            KSR.sl.send_reply(405, "Method Not Allowed")
            return
        self.to_telecom()

    def to_telecom(self) -> None:
        dialed = KSR.kx.get_ruser()
        number = e164.normalise(dialed, self.settings.default_region, ())
        if number is None:
            _log(KSR.notice, f"outbound to unusable number {dialed!r}")
            KSR.sl.send_reply(484, "Address Incomplete")
            return
        KSR.dialog.dlg_manage()
        if KSR.dispatcher.ds_select_domain(self.settings.carrier_group, self.settings.ds_algorithm) < 0:
            _log(KSR.err, f"outbound {number}: no active carrier in group {self.settings.carrier_group}")
            KSR.sl.send_reply(503, "No Carrier Available")
            return
        KSR.setuser(number)
        self.rewrite_parties(number, "private")
        _log(KSR.info, f"outbound {dialed} -> {KSR.kx.get_ruri()}")
        self.send_to("private", branch="branch_to_telecom", failure="failure_from_telecom")

    # ---- helpers shared by both directions ----------------------------------------------------

    def arrived_on(self) -> str | None:
        ip, port = KSR.kx.get_rcvip(), str(KSR.kx.get_rcvport())
        s = self.settings
        if ip == s.private_ip and port == str(s.private_port):
            return "private"
        if ip == s.public_ip and port == str(s.public_port):
            return "public"
        return None

    def is_public_gateway(self) -> bool:
        if KSR.permissions.allow_source_address(GATEWAYS) > 0:
            return True
        return any(KSR.dispatcher.ds_is_from_list_mode(g, 1) > 0 for g in self.settings.gateway_groups)

    def rewrite_parties(self, number: str, side: str) -> None:
        """To = the number at the next hop; From host = our own socket on the outgoing side, so
        that neither header carries the other side's addresses (uac restores them in replies)."""
        KSR.uac.uac_replace_to_uri(f"sip:{number}@{KSR.kx.get_rhost()}")
        own_ip = self.settings.private_ip if side == "private" else self.settings.public_ip
        caller = KSR.kx.get_fuser() or "anonymous"
        KSR.uac.uac_replace_from_uri(f"sip:{caller}@{own_ip}")

    def send_to(self, side: str, branch: str, failure: str) -> None:
        KSR.pv.sets("$fs", self.settings.socket(side))
        KSR.rr.record_route()
        KSR.tm.t_on_branch(branch)
        KSR.tm.t_on_reply("reply_media")
        KSR.tm.t_on_failure(failure)
        self.relay()

    def relay(self) -> None:
        if KSR.tm.t_relay() < 0:
            _log(KSR.err, f"relay of {KSR.kx.get_method()} to {KSR.kx.get_ruri()} failed")
            KSR.sl.sl_reply_error()

    # ---- per-branch media (runs for each attempt, so a failover re-offers) ---------------------

    def branch_to_gateway(self, msg) -> int:
        return self._branch_media("private", "public")

    def branch_to_telecom(self, msg) -> int:
        return self._branch_media("public", "private")

    def _branch_media(self, src: str, dst: str) -> int:
        try:
            if KSR.rtpengine.rtpengine_manage(media.offer_flags(src, dst)) < 0:
                # Never let an SDP with the other side's addresses through: drop the branch.
                _log(KSR.err, "rtpengine offer failed, branch dropped")
                KSR.set_drop()
        except Exception:  # noqa: BLE001
            KSR.err(f"sbc: branch route crashed: {traceback.format_exc()}\n")
            KSR.set_drop()
        return 1

    # ---- replies and failures ------------------------------------------------------------------

    def reply_media(self, msg) -> int:
        try:
            status = KSR.kx.get_status()
            if (180 <= status < 300) and KSR.textops.has_body_type("application/sdp") > 0:
                if KSR.rtpengine.rtpengine_manage(media.ANSWER_FLAGS) < 0:
                    _log(KSR.err, f"rtpengine answer failed on {status}")
        except Exception:  # noqa: BLE001
            KSR.err(f"sbc: reply route crashed: {traceback.format_exc()}\n")
        return 1

    def failure_from_gateway(self, msg) -> int:
        return self._failure("gateway")

    def failure_from_telecom(self, msg) -> int:
        return self._failure("carrier")

    def _failure(self, peer: str) -> int:
        try:
            status = KSR.tm.t_get_status_code()
            if KSR.tm.t_is_canceled() > 0:
                _log(KSR.info, f"call canceled while {peer} was ringing")
            else:
                _log(KSR.notice, f"{peer} answered {status}")
            KSR.rtpengine.rtpengine_delete0()
        except Exception:  # noqa: BLE001
            KSR.err(f"sbc: failure route crashed: {traceback.format_exc()}\n")
        return 1
