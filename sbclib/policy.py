"""Pure routing decisions: where an inbound call goes, how the SIP URIs look. No Kamailio here."""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass

from sbclib.didcache import DidRoute

# sip:[user@]host[:port][;params] with a host that is an IPv4 address or a DNS name.
_SIP_URI = re.compile(
    r"^sips?:(?:(?P<user>[^@;?\s]+)@)?(?P<host>[A-Za-z0-9.-]+)(?::(?P<port>\d{1,5}))?"
    r"(?P<params>(?:;[A-Za-z0-9_.!~*'()%-]+(?:=[A-Za-z0-9_.!~*'()%-]+)?)*)$"
)

# The SBC host's own health check (container healthcheck, launcher readiness) sends OPTIONS from here.
# Only this host can send from a loopback source (the kernel drops it from any other interface), so
# it counts as a health checker without an ACL row: an empty database still starts healthy.
LOCAL_MONITOR = "127.0.0.1"

SCANNER_UA_MARKERS = (
    "friendly-scanner",
    "sipvicious",
    "sipcli",
    "vaxsipuseragent",
    "pplsip",
    "sip-scan",
    "sipsak-scan",
    "iwar",
    "sundayddr",
    "vaxasip",
    "smap",
)


# Headers of a new call that may cross from one side to the other, besides those always kept (_KEPT).
# Everything else (User-Agent, X-*, P-Charging-Vector, carrier or platform internals) stays on its side.
# Applied to initial requests only (side_headers() for the rest). Names as wire.header_fields gives
# them: lowercase, with the compact forms it does not expand.
_KEPT = frozenset(("via", "from", "to", "call-id", "cseq", "contact", "content-length", "content-type",
                   "route", "record-route", "max-forwards"))
_COMMON = ("allow|supported|k|require|session-expires|x|min-se|accept|p-asserted-identity|privacy|reason"
           "|content-disposition|content-encoding|e|rseq|rack|timestamp")
_REQUEST_HEADERS = re.compile(
    f"^({_COMMON}|proxy-require|event|o|allow-events|u|refer-to|r|referred-by|b|replaces"
    "|expires|subscription-state)$")
# Not kept: Authorization and Proxy-Authorization. Credentials are for the SBC (kemi/access/accounts.py) or for
# nobody; a caller's credentials crossing to the other side would hand its secrets to a third party.

# Headers that describe one side's equipment, network or platform: removed from replies and in-dialog
# requests, which cannot be whitelisted (removing what topos needs there sends the message out unhidden,
# seen in tests; removing these by name keeps topos working, tested in test_topology_leaks).
_SIDE_HEADERS = re.compile("^(user-agent|server|organization|warning|x-.*|p-charging-vector"
                           "|p-charging-function-addresses|p-access-network-info|p-visited-network-id"
                           "|p-preferred-identity|authorization|proxy-authorization)$")


def outside_whitelist(names: tuple[str, ...]) -> list[str]:
    """The header names of a new call that stay on the side they came from."""
    return [n for n in dict.fromkeys(names) if n not in _KEPT and not _REQUEST_HEADERS.match(n)]


def side_headers(names: tuple[str, ...]) -> list[str]:
    """The header names of a reply or in-dialog request that describe the sender's side."""
    return [n for n in dict.fromkeys(names) if _SIDE_HEADERS.match(n)]


@dataclass(frozen=True)
class Target:
    """A direct gateway URI, or a dispatcher group to pick a gateway from."""

    uri: str | None = None
    group: int | None = None


def choose_target(route: DidRoute | None, default_group: int | None) -> Target | None:
    """The DID's direct URI first, else its group, else the default group; None means 404."""
    if route is not None:
        if route.gateway_uri:
            return Target(uri=route.gateway_uri)
        if route.gateway_group is not None:
            return Target(group=route.gateway_group)
    if default_group is not None:
        return Target(group=default_group)
    return None


def failover_groups(target: Target, route: DidRoute | None, backup: int | None) -> list[int]:
    """Groups to try, in order, once the first choice is exhausted: a direct URI falls back to its
    DID's group, and everything falls back to the backup group (never twice, never to itself)."""
    chain = []
    if target.uri and route is not None and route.gateway_group is not None:
        chain.append(route.gateway_group)
    if backup is not None and backup != target.group and backup not in chain:
        chain.append(backup)
    return chain


def encode_groups(groups: list[int]) -> str:
    return ",".join(str(g) for g in groups)


def decode_groups(text: str | None) -> list[int]:
    return [int(g) for g in (text or "").split(",") if g.strip().isdigit()]


def fails_over(status: int) -> bool:
    """Does this final answer from a gateway/carrier send the call to the next one?

    Yes for answers about the peer: no answer or timeout (408), server errors (5xx), a redirect
    (3xx: the SBC does not follow them), an auth challenge (401/407: the peer does not trust us) and
    429 (too many calls: platforms send it so; RFC 3892's meaning is for REFERs).
    No for answers about the call: busy (486), decline (603), unknown number (404), other 4xx and 6xx.
    """
    return status in (401, 407, 408, 429) or 300 <= status < 400 or 500 <= status < 600


def marks_down(status: int) -> bool:
    """Take the peer out of rotation until probing brings it back: it timed out or is unavailable."""
    return status in (408, 503)


def is_sip_uri(uri: str) -> bool:
    return bool(_SIP_URI.match(uri or ""))


def with_user(uri: str, user: str) -> str:
    """`uri` with its user part set to `user` (params kept), e.g. the gateway URI for one call."""
    m = _SIP_URI.match(uri)
    if not m:
        raise ValueError(f"not a SIP URI: {uri!r}")
    scheme = uri.split(":", 1)[0]
    port = f":{m['port']}" if m["port"] else ""
    return f"{scheme}:{user}@{m['host']}{port}{m['params']}"


def uri_user(header_value: str) -> str | None:
    """The user part of the first SIP URI in a header value ('"Bob" <sip:+1415@host>;tag=x')."""
    m = re.search(r"sips?:([^@;>\s]+)@", header_value or "")
    return m.group(1) if m else None


def is_scanner(user_agent: str) -> bool:
    ua = (user_agent or "").lower()
    return any(marker in ua for marker in SCANNER_UA_MARKERS)


# $dlg(state) once loose_route has run the dialog module on an in-dialog request: 2 early, 3 answered and
# not yet acknowledged, 4 confirmed, 5 ended. uac restores each side's From/To only on the transitions
# below (dlg_onroute runs its callbacks nowhere else): elsewhere the request would carry the other side's.
_RESTORED_IN = {"ACK": (4,), "BYE": (5,)}
_RESTORED_OTHERWISE = (2, 4)


def in_dialog_refusal(method: str, state: int, out_ip: str | None, other_ip: str, next_hop: str | None,
                      own_ips: set[str]) -> tuple[int, str] | None:
    """(code, reason) when an in-dialog request matched to its dialog must not be relayed, else None:
    uac did not restore its From/To, or it would leave by any socket but the other side's, or loop
    back to this SBC (a Route the sender added after ours)."""
    if state not in _RESTORED_IN.get(method, _RESTORED_OTHERWISE):
        return (491, "Request Pending") if state == 3 else (481, "Call/Transaction Does Not Exist")
    if out_ip != other_ip or next_hop in own_ips:
        return 403, "Forbidden"
    return None


@dataclass(frozen=True)
class Named:
    """A dispatcher destination whose host is a name."""

    host: str
    port: int | None
    transport: str


def named(uri: str) -> Named | None:
    """The host name, port and transport of a gateway URI; None for an address or a URI we cannot read."""
    m = _SIP_URI.match(uri) if isinstance(uri, str) else None
    if not m:
        return None
    host = m["host"].lower()
    try:
        ipaddress.ip_address(host)
        return None
    except ValueError:
        pass
    return Named(host, int(m["port"]) if m["port"] else None, _transport(uri, m["params"]))


def address_of(uri: str) -> str | None:
    """The IPv4 address a gateway URI names; None for a host name or a URI we cannot read."""
    m = _SIP_URI.match(uri) if isinstance(uri, str) else None
    try:
        return str(ipaddress.IPv4Address(m["host"])) if m else None
    except ValueError:
        return None


def _transport(uri: str, params: str) -> str:
    found = dict(p.partition("=")[::2] for p in params.lower().split(";") if p).get("transport")
    return found or ("tls" if uri.lower().startswith("sips:") else "udp")


def uri_host(uri: str) -> str | None:
    """The host a SIP URI names (lowercase), if it is one."""
    m = _SIP_URI.match(uri) if isinstance(uri, str) else None
    return m["host"].lower() if m else None


def named_port(uri: str) -> int | None:
    """The port a SIP URI names, if it names one."""
    m = _SIP_URI.match(uri) if isinstance(uri, str) else None
    return int(m["port"]) if m and m["port"] else None


def transport(uri: str) -> str:
    """The transport a request to this URI goes by: its transport parameter, TLS for sips:, else UDP."""
    m = _SIP_URI.match(uri) if isinstance(uri, str) else None
    return _transport(uri, m["params"]) if m else "udp"
