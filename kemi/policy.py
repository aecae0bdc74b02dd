"""Pure routing decisions: where an inbound call goes, how the SIP URIs look. No Kamailio here."""

from __future__ import annotations

import re
from dataclasses import dataclass

from .didcache import DidRoute

# sip:[user@]host[:port][;params] with a host that is an IPv4 address or a DNS name.
_SIP_URI = re.compile(
    r"^sips?:(?:(?P<user>[^@;?\s]+)@)?(?P<host>[A-Za-z0-9.-]+)(?::(?P<port>\d{1,5}))?"
    r"(?P<params>(?:;[A-Za-z0-9_.!~*'()%-]+(?:=[A-Za-z0-9_.!~*'()%-]+)?)*)$"
)

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


def is_scanner(user_agent: str) -> bool:
    ua = (user_agent or "").lower()
    return any(marker in ua for marker in SCANNER_UA_MARKERS)
