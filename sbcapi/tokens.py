"""Who is calling the API: a token's name and scope (sbcctl token add makes them; only the SHA-256 is kept)."""

from __future__ import annotations

import hmac
from dataclasses import dataclass

from sbcctl.validate import api_token_digest, scope_tenant


@dataclass(frozen=True)
class Caller:
    name: str
    scope: str

    @property
    def tenant(self) -> str | None:
        """The tenant this caller is limited to; None for an operator."""
        return scope_tenant(self.scope)


def matches(presented: str, stored_digest: str) -> bool:
    return hmac.compare_digest(api_token_digest(presented), stored_digest)
