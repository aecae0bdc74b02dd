"""Operator input checks: each failure names the field, before anything is written."""

from __future__ import annotations

import ipaddress

from kemi import e164, policy


class InputError(ValueError):
    def __init__(self, field: str, problem: str):
        super().__init__(f"{field}: {problem}")
        self.field = field


def group(value: int, field: str = "group") -> int:
    if not 1 <= value <= 9999:
        raise InputError(field, f"{value} is outside 1..9999")
    return value


def sip_uri(value: str, field: str = "uri") -> str:
    if not policy.is_sip_uri(value):
        raise InputError(field, f"not a SIP URI without headers: {value!r}")
    return value


def weight(value: int) -> int:
    if not 0 <= value <= 100:
        raise InputError("weight", f"{value} is outside 0..100")
    return value


def priority(value: int) -> int:
    if not 0 <= value <= 1000:
        raise InputError("priority", f"{value} is outside 0..1000")
    return value


def did(value: str, region: str) -> str:
    normalised = e164.normalise(value, region)
    if normalised is None or normalised != value:
        hint = f" (did you mean {normalised}?)" if normalised else ""
        raise InputError("did", f"{value!r} is not a number in E.164 form{hint}")
    return value


def network(value: str) -> tuple[str, int]:
    try:
        net = ipaddress.IPv4Network(value, strict=True)
    except ValueError as exc:
        raise InputError("ip", f"{value!r} is not an IPv4 address or network ({exc})") from None
    return str(net.network_address), net.prefixlen


def acl_group(value: int) -> int:
    if value not in (1, 2, 3):
        raise InputError("group", f"{value}: use 1 (carriers), 2 (gateways) or 3 (health checkers)")
    return value


def text(value: str, field: str, limit: int = 64) -> str:
    if len(value) > limit or any(ord(c) < 32 for c in value):
        raise InputError(field, f"at most {limit} printable characters")
    return value
