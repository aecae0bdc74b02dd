"""Tenants: who owns a DID or a gateway, where its calls may go, what caller ID it may present, and
its limits. Plain Python decisions; the data comes from the `tenant` table through a cache."""

from __future__ import annotations

import re
from dataclasses import dataclass

from sbclib import destinations, e164
from sbclib.didcache import DidRoute
from sbclib.policy import Target

TRANSFERS = ("refuse", "relay")
# A Refer-To value: optional display name, the URI (sip, sips or tel), optional header parameters.
_REFER_TO = re.compile(r'\s*(?:"[^"]*"\s*)?<?((?:sips?|tel):[^<>\s]+?)>?\s*(?:;[^<>]*)?\s*')


@dataclass(frozen=True)
class Tenant:
    name: str
    enabled: bool
    gateway_group: int
    allow_backup: bool = False
    max_calls: int = 0  # 0 = TENANT_MAX_CALLS of .env: there is no "unlimited"
    max_cps: int = 0  # 0 = TENANT_MAX_CPS
    callerid_policy: str = "reject"  # or "replace"
    default_did: str | None = None
    media_timeout: int | None = None  # s; None: MEDIA_TIMEOUT of .env; 0: its calls are never ended for it
    media_keepalive: bool = False  # rtpengine's audio player feeds both legs, silence where nothing came
    transfer: str = "refuse"  # a gateway's REFER: "refuse" (403) or "relay" (to the carrier, blind)
    destination_policy: destinations.Policy = destinations.DEFAULT  # where its outbound calls and transfers go
    max_duration: int = 0  # s a call may last before both sides get a BYE; 0 = TENANT_MAX_DURATION
    home: frozenset[str] = frozenset()  # its DIDs' countries (destinations.home_regions); empty: DEFAULT_REGION
    max_minutes_24h: int = 0  # outbound minutes per rolling 24 h, both nodes of a pair together; 0: no cap
    context_headers: tuple[str, ...] = ()  # carrier headers its agent gets (sbclib.callcontext)
    early_ringing: bool = False  # inbound: the carrier gets 180 as soon as the call is relayed
    stir_required: bool = False  # inbound: a caller ID that did not verify (STIR/SHAKEN) is refused
    ringback: bool = False  # inbound: 180 with SDP at once, and rtpengine plays RINGBACK_TONE until the agent's SDP


@dataclass(frozen=True)
class Limits:
    """The .env defaults a tenant's 0 stands for."""

    max_calls: int
    max_cps: int
    max_duration: int


def inbound_target(route: DidRoute, tenant: Tenant) -> Target:
    """A tenant's DID goes to its direct URI or to the tenant's own gateway set, never elsewhere."""
    if route.gateway_uri:
        return Target(uri=route.gateway_uri)
    return Target(group=tenant.gateway_group)


def inbound_failover(target: Target, tenant: Tenant, backup: int | None) -> list[int]:
    """Failover stays inside the tenant's gateways, then the backup group only if the tenant allows it."""
    chain = [tenant.gateway_group] if target.uri else []
    if tenant.allow_backup and backup is not None and backup != tenant.gateway_group:
        chain.append(backup)
    return chain


def presented_caller(caller: str | None, owner: str | None, tenant: Tenant) -> str | None:
    """The caller ID a tenant's outbound call shows the carrier, or None to refuse the call.

    `caller` is the normalised From/P-Asserted-Identity number, `owner` the tenant owning that
    number as a DID. Own DIDs pass; anything else is refused or replaced per the tenant's policy."""
    if caller is not None and owner == tenant.name:
        return caller
    if tenant.callerid_policy == "replace" and tenant.default_did:
        return tenant.default_did
    return None


def destination_refusal(number: str, tenant: Tenant, region: str) -> str | None:
    """None when the tenant may call `number`, else why not (a key of destinations.REFUSALS)."""
    return destinations.refusal(number, tenant.destination_policy, tenant.home or frozenset((region,)))


def transfer_target(tenant: Tenant | None, side: str, refer_to: str | None, carrier: str,
                    region: str) -> tuple[str | None, str]:
    """A REFER inside a call: (the Refer-To the carrier gets, "relayed") or (None, why it is refused).

    Only a gateway transfers (the AI handing its caller to a human), only for a tenant that relays
    transfers, and only to a phone number: the carrier then places that call on its own network (a blind
    transfer), so the Refer-To names the number at the carrier, never the gateway's host. An attended
    transfer (Replaces, or any header in the URI) names a dialog the carrier has never seen: refused. The
    number must be one the tenant may call (a prompt-injected agent asked to "transfer me to ..." is a
    call the tenant places)."""
    if side != "public":
        return None, "from carrier"
    if tenant is None or tenant.transfer != "relay":
        return None, "not allowed"
    found = _REFER_TO.fullmatch(refer_to or "")
    if found is None:
        return None, "bad target"
    uri = found.group(1)
    if "?" in uri:
        return None, "attended"
    number = e164.normalise(e164.subscriber(uri.split(":", 1)[1].split("@", 1)[0]), region)
    host = carrier.removeprefix("sip:").split(";", 1)[0]
    if number is None or not host:
        return None, "bad target"
    refused = destination_refusal(number, tenant, region)
    if refused is not None:
        return None, refused
    return f"sip:{number}@{host}", "relayed"


def max_calls(tenant: Tenant, limits: Limits) -> int:
    return tenant.max_calls or limits.max_calls


def max_cps(tenant: Tenant, limits: Limits) -> int:
    return tenant.max_cps or limits.max_cps


def max_duration(tenant: Tenant, limits: Limits) -> int:
    return tenant.max_duration or limits.max_duration


def over_call_limit(active_calls: int, limit: int) -> bool:
    return active_calls >= limit


def over_rate_limit(attempts_this_second: int, limit: int) -> bool:
    return attempts_this_second > limit


_UNSAFE = re.compile(r"[^\x21-\x7e]")  # header values: printable ASCII, no spaces/CR/LF


def context_headers(dialed: str, did: str, tenant: str) -> list[str]:
    """X- headers Voice AI platforms map to call variables (VAPI x-*, LiveKit participant attributes).
    Never the carrier's Call-ID: the gateway sees a masked one, the CDR keeps the original."""
    values = {"X-Original-Dialed": dialed, "X-DID": did, "X-Tenant": tenant}
    return [f"{name}: {_UNSAFE.sub('', value)[:128]}" for name, value in values.items()]
