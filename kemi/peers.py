"""Who sent a request: the socket it arrived on, and which kind of peer its source is (carrier, gateway,
digest account, health checker), or a stranger, who gets one answer whatever it probes."""

from __future__ import annotations

import KSR  # provided by app_python3 inside Kamailio (a fake in the unit tests)

from . import hostnames, policy
from .accounts import ACCOUNTS
from .hiding import log

CARRIERS = 1  # permissions address group of telecom carriers (private socket only)
GATEWAYS = 2  # permissions address group of public AI gateways (public socket only)
MONITORS = 3  # permissions address group of health checkers: OPTIONS only, either socket
BAN_TABLE = "ipban"  # htable of flooding sources
# dispatcher's match modes: any port (1) and any protocol (2). A member written without ;transport= has
# no protocol, which its UDP or TCP source never equals: matched on protocol, the gateway was a stranger.
DS_MATCH_ADDRESS = 1 | 2


class Peers:
    """SbcRoutes' identification of senders."""

    def identify(self, side: str | None) -> str | None:
        """Who sent this: a carrier (private socket), a gateway (public socket), a source whose calls
        must authenticate by digest ("account", public socket), a health checker (either socket), or
        None for anyone else."""
        if side == "private" and KSR.permissions.allow_source_address(CARRIERS) > 0:
            return "carrier"
        if side == "public" and self.is_public_gateway():
            return "gateway"
        if side == "public" and KSR.permissions.allow_source_address(ACCOUNTS) > 0:
            return "account"
        if side is not None and (KSR.permissions.allow_source_address(MONITORS) > 0
                                 or KSR.kx.get_srcip() == policy.LOCAL_MONITOR):
            return "monitor"
        return None

    def refuse(self, side: str | None, why: str) -> None:
        """The one answer strangers get, whatever they probe: 403 on the private side, silence on
        the public side (configurable), so scanners learn nothing and nothing is amplified."""
        log(KSR.notice, f"refused {KSR.kx.get_method()} from {KSR.kx.get_srcip()} on {side}: {why}")
        action = self.settings.unknown_private_action if side == "private" else self.settings.unknown_public_action
        if action == "reject":
            KSR.sl.send_reply(403, "Forbidden")

    def ban(self, src: str) -> None:
        KSR.htable.sht_seti(BAN_TABLE, src, 1)  # the table's autoexpire is BAN_SECONDS
        log(KSR.warn, f"flood from {src}: banned for {self.settings.ban_seconds} s")

    def arrived_on(self) -> str | None:
        ip, port = KSR.kx.get_rcvip(), str(KSR.kx.get_rcvport())
        s = self.settings
        if ip == s.private_ip and port == str(s.private_port):
            return "private"
        if ip == s.public_ip and (port == str(s.public_port) or (s.tls and port == str(s.tls_port))):
            return "public"
        return None

    def is_public_gateway(self) -> bool:
        if KSR.permissions.allow_source_address(GATEWAYS) > 0:
            return True
        return any(KSR.dispatcher.ds_is_from_list_mode(g, DS_MATCH_ADDRESS) > 0
                   for g in self.settings.gateway_groups) or hostnames.is_gateway_address(KSR.kx.get_srcip())
