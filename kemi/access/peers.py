"""Who sent a request: the socket it arrived on, and which kind of peer its source is (carrier, gateway,
digest account, health checker), or a stranger, who gets one answer whatever it probes."""

from __future__ import annotations

import KSR  # provided by app_python3 inside Kamailio (a fake in the unit tests)

from kemi.gateways import hostnames
from kemi.topology.hiding import log
from sbclib import policy

CARRIERS = 1  # permissions address group of telecom carriers (private socket only)
GATEWAYS = 2  # permissions address group of public AI gateways (public socket only)
MONITORS = 3  # permissions address group of health checkers: OPTIONS only, either socket
ACCOUNTS = 4  # permissions address group of sources that must authenticate by digest (public socket)
BAN_TABLE = "ipban"  # htable of flooding sources
# dispatcher's match modes: any port (1) and any protocol (2). A member written without ;transport= has
# no protocol, which its UDP or TCP source never equals: matched on protocol, the gateway was a stranger.
DS_MATCH_ADDRESS = 1 | 2


def arrived_on(settings) -> str | None:
    """The socket a message arrived on: "private", "public", or None (the cluster bus, or no SIP socket of ours)."""
    ip, port = KSR.kx.get_rcvip(), str(KSR.kx.get_rcvport())
    s = settings
    if ip == s.private_ip and port == str(s.private_port):
        return "private"
    if ip == s.public_ip and (port == str(s.public_port) or (s.tls and port == str(s.tls_port))):
        return "public"
    return None


def identify(settings, req) -> str | None:
    """Who sent this: a carrier (private socket), a gateway (public socket), a source whose calls
    must authenticate by digest ("account", public socket), a health checker (either socket), or
    None for anyone else."""
    side = req.side
    if side == "private" and KSR.permissions.allow_source_address(CARRIERS) > 0:
        return "carrier"
    if side == "public" and is_public_gateway(settings, req.src):
        return "gateway"
    if side == "public" and KSR.permissions.allow_source_address(ACCOUNTS) > 0:
        return "account"
    if side is not None and (KSR.permissions.allow_source_address(MONITORS) > 0
                             or req.src == policy.LOCAL_MONITOR):
        return "monitor"
    return None


def is_public_gateway(settings, src: str) -> bool:
    if KSR.permissions.allow_source_address(GATEWAYS) > 0:
        return True
    return any(KSR.dispatcher.ds_is_from_list_mode(g, DS_MATCH_ADDRESS) > 0
               for g in settings.gateway_groups) or hostnames.is_gateway_address(src)


def refuse(settings, req, why: str) -> None:
    """The one answer strangers get, whatever they probe: 403 on the private side, silence on
    the public side (configurable), so scanners learn nothing and nothing is amplified."""
    log(KSR.notice, f"refused {req.method} from {req.src} on {req.side}: {why}")
    action = settings.unknown_private_action if req.side == "private" else settings.unknown_public_action
    if action == "reject":
        KSR.sl.send_reply(403, "Forbidden")


def ban(settings, src: str) -> None:
    KSR.htable.sht_seti(BAN_TABLE, src, 1)  # the table's autoexpire is BAN_SECONDS
    log(KSR.warn, f"flood from {src}: banned for {settings.ban_seconds} s")
