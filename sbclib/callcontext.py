"""Caller context for the agent, per tenant (its `context_headers`): which of the carrier's Diversion,
History-Info, User-to-User and named X- headers reach the gateway, as headers the platforms read (VAPI and
LiveKit take X- headers as call variables; User-to-User by its own name). Only numbers and opaque values
cross: never a host, an address or a parameter of the carrier's network. And back: the agent's X- headers
(on its 2xx and its BYE) for the call record. Plain decisions; kemi/routes.py and kemi/indialog.py apply them.
"""

from __future__ import annotations

import re
from collections.abc import Callable

FIXED = ("diversion", "history-info", "user-to-user")
_X_NAME = re.compile(r"x-[a-z0-9][a-z0-9-]{0,39}")
MAX_NAMES = 20
_NUMBER = re.compile(r'^\s*(?:"[^"]*"\s*)?<?\s*(?:sips?|tel):(\+?[0-9*#]{1,32})(?:[@;>]|$)', re.IGNORECASE)
_REASON = re.compile(r";\s*reason\s*=\s*\"?([a-z0-9-]{1,32})\"?", re.IGNORECASE)
_OPAQUE = re.compile(r"[\x21-\x7e]{1,256}")  # printable ASCII, no space: one token-ish value
_IPV4 = re.compile(r"\b\d{1,3}(?:\.\d{1,3}){3}\b")
MAX_AGENT = 1024  # bytes of the agent's headers kept in the record


class ContextError(ValueError):
    def __init__(self, field: str, problem: str):
        super().__init__(f"{field}: {problem}")
        self.field = field


def parse_list(text: str, field: str = "context_headers") -> tuple[str, ...]:
    """"diversion, X-Carrier-Ref" -> ("diversion", "x-carrier-ref"); unknown names are refused by field."""
    names = [n.strip().lower() for n in (text or "").split(",") if n.strip()]
    bad = [n for n in names if n not in FIXED and not _X_NAME.fullmatch(n)]
    if bad:
        raise ContextError(field, f"{', '.join(bad)}: not one of {', '.join(FIXED)} or an X- header name")
    if len(set(names)) != len(names) or len(names) > MAX_NAMES:
        raise ContextError(field, f"names must be distinct, at most {MAX_NAMES}")
    return tuple(names)


def allowed(text) -> tuple[str, ...]:
    """A tenant row's list as the routes use it; one sbcctl would have refused (written by hand) lets nothing
    cross, and `sbcctl check` names it."""
    try:
        return parse_list(text if isinstance(text, str) else "")
    except ContextError:
        return ()


def number_of(value: str | None) -> str | None:
    """The number of a name-addr or URI (`<sip:+14155550100@10.1.1.1>;reason=...` -> "+14155550100")."""
    found = _NUMBER.match(value or "")
    return found.group(1) if found else None


def _canonical(name: str) -> str:
    return "-".join(part.capitalize() for part in name.split("-"))


def toward_agent(allowed: tuple[str, ...], get: Callable[[str], str | None]) -> list[str]:
    """The header lines (without CRLF) the gateway gets for the carrier's headers the tenant allows; `get(name)`
    answers a header's first value, None without one."""
    lines = []
    for name in allowed:
        value = get(name)
        if not value:
            continue
        if name == "diversion":
            number = number_of(value)
            if number:
                lines.append(f"X-Diverted-From: {number}")
                reason = _REASON.search(value)
                if reason:
                    lines.append(f"X-Diversion-Reason: {reason.group(1).lower()}")
        elif name == "history-info":
            numbers = [n for n in (number_of(entry) for entry in _entries(value)) if n]
            if numbers:
                lines.append(f"X-Original-Called: {numbers[0]}")
                lines.append(f"X-History-Info: {','.join(numbers[:10])}")
        else:
            clean = opaque(value)
            if clean is not None:
                lines.append(f"{'User-to-User' if name == 'user-to-user' else _canonical(name)}: {clean}")
    return lines


def _entries(value: str) -> list[str]:
    """History-Info's comma-separated entries (commas inside <...> kept)."""
    entries, depth, start = [], 0, 0
    for i, char in enumerate(value):
        if char == "<":
            depth += 1
        elif char == ">":
            depth = max(0, depth - 1)
        elif char == "," and depth == 0:
            entries.append(value[start:i])
            start = i + 1
    entries.append(value[start:])
    return entries


def opaque(value: str | None) -> str | None:
    """A value that may cross as it is: printable, one token, and naming no host or address (an @ or an IPv4
    literal would be the carrier's network); None otherwise."""
    value = (value or "").strip()
    if not _OPAQUE.fullmatch(value) or "@" in value or _IPV4.search(value):
        return None
    return value


def agent_record(previous: str, headers: list[tuple[str, str | None]]) -> str:
    """The call record's `agent_headers`: "name=value" pairs separated by "; ", the later value of a name
    replacing the earlier (a BYE's disposition over the 2xx's), at most MAX_AGENT bytes (whole pairs)."""
    pairs = dict(p.split("=", 1) for p in previous.split("; ") if "=" in p) if previous else {}
    for name, value in headers:
        clean = re.sub(r"[^\x20-\x7e]", "", value or "").replace(";", ",").strip()[:256]
        if clean and _X_NAME.fullmatch(name.lower()):
            pairs[name.lower()] = clean
    kept, size = [], 0
    for name, value in pairs.items():
        pair = f"{name}={value}"
        if size + len(pair) + 2 > MAX_AGENT:
            break
        kept.append(pair)
        size += len(pair) + 2
    return "; ".join(kept)
