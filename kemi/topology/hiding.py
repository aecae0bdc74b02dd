"""Topology hiding that fails closed: what the routes ask before a message is handled, and the last
look at what leaves. topos does the hiding; this module makes sure nothing reaches topos that it would
pass on unhidden, and that nothing it cannot hide leaves at all.

- ingress: every request and reply is checked on its bytes (kemi.topology.wire) before a route reads it;
- masked arrivals: on Kamailio 6.0 topos decodes a masked Call-ID before the routes run; a reply the
  SBC generates to such a request would carry the decoded (the other side's) Call-ID, so it is withheld;
- egress (onsend): an outgoing message naming an address of neither our socket nor the next hop is
  dropped;
- local requests (tm:local-request): BYEs the dialog module generates (dlg.end_dlg, timeouts, dead media)
  toward a call's callee carry the caller's Call-ID, From and To: they are given what the callee knows
  (uac's From/To, the Call-ID the callee answered with), or dropped when that is not known.
"""

from __future__ import annotations

import re

import KSR

from kemi.state import dlgvar
from kemi.telemetry import metrics
from kemi.topology import wire
from sbclib import benchswitch

MASK_PREFIX = "!!:"  # topoh's Call-ID prefix (its callid_prefix default), as the masked side sends it
DOWNSTREAM = 1  # $dlg_ctx(dir) after dlg_get: the request travels caller -> callee
CALLEE_CALLID = "callee_callid"  # dialog variable: the Call-ID as the callee uses it (masked on 6.0)
# dialog variables: the From/To URIs the callee was given (kemi.topology.rewriting); uac's own copies (restore_dlg)
# on dialogs from before these were kept
CALLEE_FROM, CALLEE_TO = "callee_from", "callee_to"
UAC_FROM, UAC_TO = "_uac_funew", "_uac_tonew"


def raw_bytes(getter) -> bytes:
    """What a KSR buffer getter returns, as bytes, those KSR cannot decode included: app_python3 raises
    UnicodeDecodeError for them, which carries the bytes."""
    try:
        value = getter()
    except UnicodeDecodeError as undecodable:
        return bytes(undecodable.object)
    return value.encode("utf-8", "surrogateescape") if isinstance(value, str) else b""


_UNPRINTABLE = re.compile(r"[\x00-\x1f\x7f]")


def printable(text: str) -> str:
    """Text KSR can take back (a NUL makes it raise) and a log reader can trust (no escape sequences)."""
    return _UNPRINTABLE.sub(lambda m: f"\\x{ord(m.group()):02x}", text)


def safe(getter) -> str:
    """A KSR string getter for log lines: never raises on bytes Python cannot take."""
    try:
        value = getter()
    except (UnicodeDecodeError, ValueError):
        return "<undecodable>"
    return printable(value) if isinstance(value, str) else ""


def _first_via() -> str:
    """The message's first Via (topos leaves it alone on arrival): what ties a topos event to the route
    run that follows it for the same message."""
    return safe(lambda: KSR.pv.get("$hdr(Via)"))


def log(level, text: str) -> None:
    level(printable(f"sbc: {text} [ci={safe(KSR.kx.get_callid)}]") + "\n")


def crashed(where: str, trace: str) -> None:
    KSR.err(printable(f"sbc: {where} crashed: {trace}") + "\n")


TOPOLOGY_STORE = "tps"  # ndb_redis server holding topos state


def store_up(in_redis: bool, method: str, shm_floor: int = 0) -> bool:
    """topos passes messages through unhidden when its store fails: in Redis (5.6), when Redis does not
    answer; in shared memory (6.0), when it is full. Refuse then; a new call (`shm_floor` > 0) already
    while less than that many bytes of shared memory are free."""
    if not in_redis:
        if not shm_floor:
            return True
        free = KSR.pv.get("$stat(free_size)")  # kex's statistic; unreadable counts as none free
        if isinstance(free, int) and free >= shm_floor:
            return True
        mb = free // 1048576 if isinstance(free, int) else "?"
        log(KSR.err, f"shared memory low ({mb} MB free): {method} refused")
        return False
    # Asked before every request (3 of a call's ~30 Redis round trips): a PING cached for even a
    # second would let requests through to a store that just failed. redis_cmd answers 0 on success,
    # -1 when the server cannot be reached (or is still switched off in this process after a
    # failure: until the next second, see kamailio.cfg).
    if KSR.ndb_redis.redis_cmd(TOPOLOGY_STORE, "PING", "sbc_ping") >= 0:
        KSR.ndb_redis.redis_free("sbc_ping")
        return True
    log(KSR.err, f"topology-hiding store (Redis) not answering: {method} refused")
    return False


class Guard:
    def __init__(self, own_ips: dict[str, str]):
        self.own_ips = own_ips  # socket name -> IP ("private", "public")
        self.masked_via = None  # first Via of the last message that arrived with a masked Call-ID
        self.masked_callid = None  # and that Call-ID, as it arrived

    # ---- ingress ------------------------------------------------------------------------------

    def problem(self, is_request: bool) -> tuple[str | None, tuple[str, ...]]:
        """Why the message being handled cannot be carried (or None), and its header names: the header
        filters later in the same route use them (one parse of the bytes per message)."""
        if "guard" in benchswitch.OFF or "ingress" in benchswitch.OFF:
            return None, wire.header_names(raw_bytes(KSR.kx.get_msgbuf))
        return wire.check(raw_bytes(KSR.kx.get_msgbuf), is_request=is_request)

    def refused(self, stage: str, side: str | None, reason: str) -> None:
        log(KSR.notice, f"{stage}: {reason} ({safe(KSR.kx.get_method)} from {safe(KSR.kx.get_srcip)} on {side})")
        metrics.topology_guard(stage, side or "none", reason)

    # ---- masked arrivals (topos:msg-receiving runs just before the routes, in the same process) ----

    def note_arrival(self) -> None:
        try:
            callid = KSR.kx.get_callid()
            masked = callid.startswith(MASK_PREFIX)
        except (UnicodeDecodeError, ValueError, AttributeError):
            callid, masked = None, True  # unreadable: treat as the other side's, reply nothing
        self.masked_via = _first_via() if masked else None
        self.masked_callid = callid if masked else None

    def arrival_callid(self) -> str | None:
        """The Call-ID the message being handled arrived with, before topos decoded it."""
        return self.masked_callid if self.arrived_masked() else KSR.kx.get_callid()

    def arrived_masked(self) -> bool:
        """Did the message being routed carry a masked Call-ID (so that topos decoded it)?"""
        return self.masked_via is not None and _first_via() == self.masked_via

    def reply_masked(self, code: int, reason: str, side: str | None) -> None:
        """A stateless reply that also reaches the masked side: built here with the Call-ID the sender
        used (sl and tm would put the decoded one in it) and sent by the socket the request came in on.
        Over TCP, or when the request lacks what a reply needs, withheld as reply() does."""
        raw = raw_bytes(KSR.kx.get_msgbuf) if self.arrived_masked() else b""
        data = wire.reply_to(raw, code, reason, self.masked_callid or "") if raw else None
        if not self.arrived_masked() or KSR.kx.get_proto() != "udp" or data is None:
            self.reply(code, reason, side)
            return
        peer = f"sip:{KSR.kx.get_srcip()}:{KSR.kx.get_srcport()}"
        KSR.corex.sendx(peer, f"udp:{KSR.kx.get_rcvip()}:{KSR.kx.get_rcvport()}", data.decode())

    def reply(self, code: int, reason: str, side: str | None, stateful: bool = False) -> None:
        """A reply generated here, unless it would carry a decoded Call-ID back to the masked side."""
        if self.arrived_masked():
            self.refused("withheld", side, f"{code} to a masked request")
            if stateful:
                KSR.tm.t_release()  # else tm answers a failed relay itself (477), decoded Call-ID and all
            return
        if stateful:
            KSR.tm.t_send_reply(code, reason)
        else:
            KSR.sl.send_reply(code, reason)

    # ---- egress -------------------------------------------------------------------------------

    def egress_leaks(self) -> list[str]:
        """Addresses the message about to be sent names that belong to neither our sending socket nor
        the next hop (onsend route: $snd is the outgoing buffer and its destination)."""
        if "guard" in benchswitch.OFF:
            return []
        raw = raw_bytes(lambda: KSR.pv.get("$snd(buf)"))
        is_request = not raw.startswith(b"SIP/2.0 ")
        initial = is_request and KSR.siputils.has_totag() < 0
        return wire.foreign_addresses(raw, KSR.pv.get("$sndfrom(ip)"), KSR.pv.get("$snd(ip)"), initial=initial)

    def egress_side(self) -> str:
        return self.side_of(KSR.pv.get("$sndfrom(ip)"))

    def side_of(self, ip: str | None) -> str:
        return next((name for name, own in self.own_ips.items() if own == ip), "none")

    def local_side(self) -> str:
        """The socket a locally built request leaves from: the host of its own (first) Via."""
        return self.side_of(wire.sent_by_host(KSR.pv.get("$hdr(Via)") or ""))

    # ---- requests generated by the dialog module ----------------------------------------------

    def local_request_direction(self) -> int | None:
        """DOWNSTREAM when this locally built in-dialog request goes to the call's callee, None when its
        dialog cannot be found (otherwise the dialog is the current one from here on)."""
        callid, ftag, ttag = KSR.kx.get_callid(), KSR.pv.get("$ft"), KSR.pv.get("$tt")
        if not (callid and ftag and ttag) or KSR.dialog.dlg_get(callid, ftag, ttag) < 0:
            return None
        return KSR.pv.geti("$dlg_ctx(dir)")

    def as_the_callee_knows_it(self) -> bool:
        """A request the dialog module built toward the callee names the call as the caller does (Call-ID,
        From, To: uac and topos change them in relayed messages only). Here they become what the callee
        was given; False when that is not known (a dialog from before this was recorded): not sent."""
        callid = dlgvar.get(CALLEE_CALLID)
        from_uri = dlgvar.get(CALLEE_FROM) or dlgvar.get(UAC_FROM)
        to_uri = dlgvar.get(CALLEE_TO) or dlgvar.get(UAC_TO)
        if not all((callid, from_uri, to_uri)):
            return False
        for name, value in (("From", f"<{from_uri}>;tag={KSR.pv.get('$ft')}"),
                            ("To", f"<{to_uri}>;tag={KSR.pv.get('$tt')}"), ("Call-ID", callid)):
            KSR.hdr.remove(name)
            KSR.hdr.append(f"{name}: {value}\r\n")
        return True
