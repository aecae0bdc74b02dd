"""Bearer tokens: random, shown once, kept as SHA-256; each with a scope, `operator` (everything) or
`tenant:<name>` (that tenant's DIDs, calls and call records only)."""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass

from sbcctl.validate import InputError, tenant_name

OPERATOR = "operator"
_TENANT = re.compile(r"tenant:(.+)")


def new_token() -> str:
    return "sbc_" + secrets.token_urlsafe(32)  # 256 bits; the prefix makes a leaked one easy to grep for


def digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def scope(text: str) -> str:
    """`operator` or `tenant:<a tenant name>`, or InputError naming `scope`."""
    if text == OPERATOR:
        return text
    m = _TENANT.fullmatch(text or "")
    if not m:
        raise InputError("scope", f"{text!r}: operator, or tenant:<name>")
    try:
        tenant_name(m.group(1))
    except InputError as exc:
        raise InputError("scope", str(exc).split(": ", 1)[1]) from None
    return text


@dataclass(frozen=True)
class Caller:
    name: str
    scope: str

    @property
    def tenant(self) -> str | None:
        """The tenant this caller is limited to; None for an operator."""
        m = _TENANT.fullmatch(self.scope)
        return m.group(1) if m else None


def matches(presented: str, stored_digest: str) -> bool:
    return hmac.compare_digest(digest(presented), stored_digest)
