"""Operator input checks: each failure names the field, before anything is written."""

from __future__ import annotations

import hashlib
import ipaddress
import re
import secrets

from sbclib import callcontext, capacity, codecs, destinations, e164, media, policy, registrations
from sbclib.tenancy import TRANSFERS


class InputError(ValueError):
    def __init__(self, field: str, problem: str):
        super().__init__(f"{field}: {problem}")
        self.field = field


def group(value: int, field: str = "group") -> int:
    if not 1 <= value <= 9999:
        raise InputError(field, f"{value} is outside 1..9999")
    return value


TRANSPORTS = ("udp", "tcp", "tls")  # the SBC's sockets (kamailio.cfg)


def sip_uri(value: str, field: str = "uri") -> str:
    if not policy.is_sip_uri(value):
        raise InputError(field, f"not a SIP URI without headers: {value!r}")
    if policy.transport(value) not in TRANSPORTS:
        raise InputError(field, f"transport {policy.transport(value)!r} is not one of {', '.join(TRANSPORTS)}")
    port = policy.named_port(value)
    if port is not None and not 1 <= port <= 65535:
        raise InputError(field, f"port {port} is outside 1..65535")
    return value


def gateway_media(value: str, uri: str, carrier: bool, tls: bool) -> str:
    """rtp, srtp (SDES) or dtls (DTLS-SRTP) toward a gateway; a carrier's leg is RTP. A TLS URI needs TLS on."""
    if value not in media.PROTOCOLS:
        raise InputError("media", f"must be one of {', '.join(media.PROTOCOLS)} (got {value!r})")
    if carrier and value != "rtp":
        raise InputError("media", "a carrier's leg is RTP/AVP: SRTP is for gateways")
    if policy.transport(uri) == "tls" and (carrier or not tls):
        raise InputError("uri", "TLS is for gateways, with TLS_CERT/TLS_KEY set in .env" if not carrier
                         else "a carrier is reached over UDP or TCP")
    return value


def weight(value: int) -> int:
    if not 0 <= value <= 100:
        raise InputError("weight", f"{value} is outside 0..100")
    return value


def codec_policy(names: str | None, transcode: bool | None, carrier: bool) -> tuple[str, ...] | None:
    """A gateway's --codecs (None: not given) with --transcode; the carriers' policy is .env's."""
    if carrier and (names is not None or transcode):
        raise InputError("codecs", "the carriers' codecs are CARRIER_CODECS and CARRIER_TRANSCODE in .env")
    try:
        listed = codecs.parse_list(names or "") if names is not None else None
    except codecs.CodecError as exc:
        raise InputError("codecs", str(exc).split(": ", 1)[1]) from None
    if transcode and not listed:
        raise InputError("transcode", "needs --codecs: what the gateway takes, transcoded to")
    return listed


def cap(value: int, field: str) -> int:
    """A peer row's max_calls / max_cps (0: no cap)."""
    if not 0 <= value <= capacity.MAX_CAP:
        raise InputError(field, f"{value} is outside 0..{capacity.MAX_CAP} (0: no cap)")
    return value


def priority(value: int) -> int:
    if not 0 <= value <= 1000:
        raise InputError("priority", f"{value} is outside 0..1000")
    return value


def did(value: str, region: str, field: str = "did") -> str:
    normalised = e164.normalise(value, region)
    if normalised is None or normalised != value:
        hint = f" (did you mean {normalised}?)" if normalised else ""
        raise InputError(field, f"{value!r} is not a number in E.164 form{hint}")
    return value


def network(value: str) -> tuple[str, int]:
    try:
        net = ipaddress.IPv4Network(value, strict=True)
    except ValueError as exc:
        raise InputError("ip", f"{value!r} is not an IPv4 address or network ({exc})") from None
    return str(net.network_address), net.prefixlen


def acl_group(value: int) -> int:
    if value not in (1, 2, 3, 4):
        raise InputError("group", f"{value}: use 1 (carriers), 2 (gateways), 3 (health checkers) or 4 (gateways "
                                  "that authenticate by digest)")
    return value


def text(value: str, field: str, limit: int = 64) -> str:
    if len(value) > limit or any(ord(c) < 32 for c in value):
        raise InputError(field, f"at most {limit} printable characters")
    return value


_HOSTNAME = re.compile(r"^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*$")


def host(value: str, field: str = "host") -> str:
    """A peer host as its gateway URI names it: an IPv4 address or a DNS name (kept lowercase)."""
    value = value.lower()
    try:
        return str(ipaddress.IPv4Address(value))
    except ValueError:
        pass
    if not _HOSTNAME.match(value) or value.replace(".", "").isdigit():
        raise InputError(field, f"{value!r} is neither an IPv4 address nor a host name")
    return value


def digest_token(value: str, field: str, limit: int = 64, empty: bool = False) -> str:
    """A username or realm, which go between quotes in the Authorization header."""
    if (not value and not empty) or len(value) > limit or any(c in value for c in '"\\') \
            or any(ord(c) < 33 or ord(c) > 126 for c in value):
        raise InputError(field, f"1 to {limit} printable characters without spaces, quotes or backslashes")
    return value


def secret(value: str, field: str) -> str:
    if not 1 <= len(value) <= 128 or any(ord(c) < 32 or ord(c) == 127 for c in value):
        raise InputError(field, "1 to 128 printable characters")
    return value


MIN_PASSWORD = 16  # a digest account's password: svcrack at the flood limit never gets through 16 characters


def strong_password() -> str:
    """24 URL-safe characters (144 bits) for a gateway account."""
    return secrets.token_urlsafe(18)


def password(value: str, field: str, weak_ok: bool = False) -> str:
    """A gateway account's password: printable, and long unless the operator says a short one is meant."""
    secret(value, field)
    if len(value) < MIN_PASSWORD and not weak_ok:
        raise InputError(field, f"at least {MIN_PASSWORD} characters (omit --password to have one generated; "
                                "--weak-password accepts a short one)")
    return value


def ha1(username: str, realm: str, password: str) -> str:
    """RFC 2617's HA1: what the peer's challenge is answered from, without the password."""
    return hashlib.md5(f"{username}:{realm}:{password}".encode()).hexdigest()


# ---- tenants -----------------------------------------------------------------------------------

CALLERID_POLICIES = ("reject", "replace")
_TENANT_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")

def tenant_name(value: str) -> str:
    if not _TENANT_NAME.fullmatch(value):
        raise InputError("name", f"{value!r}: 1 to 64 letters, digits, '_', '.' or '-', beginning with a letter or "
                                 "digit")
    return value


def callerid_policy(policy: str, default_did: str | None) -> str:
    """reject (a caller ID the tenant does not own is refused) or replace (by its default DID, which it then
    needs)."""
    if policy not in CALLERID_POLICIES:
        raise InputError("callerid_policy", f"{policy!r} is not one of {', '.join(CALLERID_POLICIES)}")
    if policy == "replace" and not default_did:
        raise InputError("default_did", "callerid_policy replace needs --default-did (the caller ID presented)")
    return policy


def media_timeout(value: int) -> int:
    if not 0 <= value <= 86400:
        raise InputError("media_timeout", f"{value} is outside 0..86400 (0 = never)")
    return value


def transfer(value: str) -> str:
    if value not in TRANSFERS:
        raise InputError("transfer", f"{value!r} is not one of {', '.join(TRANSFERS)}")
    return value


def limit(value: int, field: str, high: int) -> int:
    if not 0 <= value <= high:
        raise InputError(field, f"{value} is outside 0..{high} (0 = the .env default; there is no unlimited)")
    return value


def minutes_cap(value: int) -> int:
    if not 0 <= value <= 1440 * 100_000:
        raise InputError("max_minutes_24h", f"{value} is outside 0..{1440 * 100_000} (0 = no cap)")
    return value


def context_list(value: str | None) -> str | None:
    """A tenant's context_headers as its row keeps them (None: not given), or InputError naming the field."""
    if value is None:
        return None
    try:
        return ",".join(callcontext.parse_list(value))
    except callcontext.ContextError as exc:
        raise InputError(exc.field, str(exc).split(": ", 1)[1]) from None


def destination_list(parse, value: str, field: str) -> str:
    """A comma-separated list as the tenant row keeps it, or InputError naming the field."""
    try:
        return ",".join(parse(value, field))
    except destinations.PolicyError as exc:
        raise InputError(exc.field, str(exc).split(": ", 1)[1]) from None


# ---- the SBC's own registrations (uacreg) -----------------------------------------------------------

def registration(settings, name: str, registrar: str, username: str, *, domain: str = "", auth_username: str = "",
                 realm: str = "", password: str | None = None, given_ha1: str | None = None, expires: int = 600,
                 carrier: bool = False, enabled: bool = True) -> dict:
    """A uacreg row from what the operator gives (InputError naming the field): the socket and Contact of its
    side from .env, l_domain naming that side; with a realm only the HA1 is kept (given, or from the password)."""
    if not registrations.NAME.fullmatch(name):
        raise InputError("name", "a letter, then up to 63 letters, digits, '_', '.' or '-' (the Contact's user)")
    sip_uri(registrar, "registrar")
    digest_token(username, "username")
    auth_username = digest_token(auth_username or username, "auth_username")
    digest_token(realm, "realm", 64, empty=True)
    low, high = registrations.EXPIRES
    if not low <= expires <= high:
        raise InputError("expires", f"{expires} is outside {low}..{high}")
    if domain:
        host_part, _, port = domain.partition(":")
        if port and not (port.isdigit() and 1 <= int(port) <= 65535):
            raise InputError("domain", f"port {port!r} is not 1..65535")
        domain = host(host_part, "domain") + (f":{port}" if port else "")
    else:
        domain = registrations.request_domain(policy.uri_host(registrar) or "", policy.named_port(registrar))
    if given_ha1 is not None:
        if not realm or not re.fullmatch(r"[0-9a-f]{32}", given_ha1):
            raise InputError("ha1", "32 lowercase hex digits, with its realm")
        digest, password = given_ha1, ""
    elif password is None:
        raise InputError("password", "missing")
    else:
        secret(password, "password")
        digest = ha1(auth_username, realm, password) if realm else ""
        password = "" if realm else password
    side = registration_side(settings, registrar, carrier)
    return {"l_uuid": name, "l_username": name, "l_domain": "private" if carrier else "public",
            "r_username": username, "r_domain": domain, "realm": realm, "auth_username": auth_username,
            "auth_password": password, "auth_ha1": digest, "auth_proxy": registrar, "expires": expires,
            "flags": 0 if enabled else registrations.DISABLED, "reg_delay": 0, "contact_addr": side.contact,
            "socket": side.socket}


def registration_side(settings, registrar: str, carrier: bool) -> registrations.Side:
    """A carrier registers from the private side, a provider from the public side (over TLS if its URI says)."""
    transport = policy.transport(registrar)
    if carrier:
        if transport == "tls":
            raise InputError("registrar", "a carrier is reached over UDP or TCP")
        return registrations.side(transport, settings.private_ip, settings.private_port)
    if transport == "tls":
        if not settings.tls:
            raise InputError("registrar", "TLS needs TLS_CERT/TLS_KEY set in .env")
        return registrations.side("tls", settings.public_ip, settings.tls_port)
    return registrations.side(transport, settings.public_ip, settings.public_port)


# ---- the provisioning API's tokens (sbcapi) -----------------------------------------------------------

API_OPERATOR = "operator"
_TENANT_SCOPE = re.compile(r"tenant:(.+)")


def new_api_token() -> str:
    return "sbc_" + secrets.token_urlsafe(32)  # 256 bits; the prefix makes a leaked one easy to grep for


def api_token_digest(token: str) -> str:
    """What is kept of a token: its SHA-256."""
    return hashlib.sha256(token.encode()).hexdigest()


def api_scope(text: str) -> str:
    """`operator` or `tenant:<a tenant name>`, or InputError naming `scope`."""
    if text == API_OPERATOR:
        return text
    m = _TENANT_SCOPE.fullmatch(text or "")
    if not m:
        raise InputError("scope", f"{text!r}: operator, or tenant:<name>")
    try:
        tenant_name(m.group(1))
    except InputError as exc:
        raise InputError("scope", str(exc).split(": ", 1)[1]) from None
    return text


def scope_tenant(scope: str) -> str | None:
    """The tenant a scope is limited to; None for the operator's."""
    m = _TENANT_SCOPE.fullmatch(scope)
    return m.group(1) if m else None
