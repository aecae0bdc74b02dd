"""STIR/SHAKEN verification of a carrier's Identity header (RFC 8224, RFC 8588, ATIS-1000074): what the header
claims, whether its certificate may be fetched, and the verdict told to the agent. Pure functions; the
signature, the certificate chain and the PASSporT's age are checked by Kamailio's secsipid module.

The agent is told the verification status in ATIS-1000074's words (`verstat`): TN-Validation-Passed,
TN-Validation-Failed, or No-TN-Validation (no Identity header); the attestation (A, B, C) only when it passed,
since an unverified claim is no attestation.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from dataclasses import dataclass

PASSED, FAILED, ABSENT = "TN-Validation-Passed", "TN-Validation-Failed", "No-TN-Validation"
ATTESTATIONS = ("A", "B", "C")
_TOKEN = re.compile(r"[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+")
_INFO = re.compile(r";\s*info\s*=\s*<([^<>\s]+)>", re.IGNORECASE)


@dataclass(frozen=True)
class Claims:
    attest: str
    orig: str  # the caller's number as signed (digits)
    dest: tuple[str, ...]  # the called numbers as signed (digits)
    x5u: str  # where the signer's certificate is, as the header's info parameter says


@dataclass(frozen=True)
class Verdict:
    verstat: str
    attest: str = ""  # only when passed
    reason: str = ""  # why not passed: for the log and the metric, never for the far side

    def headers(self) -> list[str]:
        """What the agent's INVITE carries."""
        return [f"X-STIR-Verstat: {self.verstat}"] + ([f"X-STIR-Attestation: {self.attest}"] if self.attest else [])

    @property
    def record(self) -> str:
        """The call record's `stir` field."""
        return f"{self.verstat} {self.attest}".strip()


def _b64json(part: str) -> dict | None:
    try:
        value = json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))
    except (binascii.Error, ValueError):
        return None
    return value if isinstance(value, dict) else None


def _digits(value) -> str | None:
    """A telephone number as SHAKEN signs it (digits; RFC 8225 5.2.1 drops the '+'), or None."""
    if not isinstance(value, str):
        return None
    digits = value.lstrip("+")
    return digits if digits.isdigit() and 1 <= len(digits) <= 15 else None


def claims(header: str | None) -> Claims | None:
    """What an Identity header claims; None when it is not a SHAKEN PASSporT one could verify."""
    if not header:
        return None
    token = _TOKEN.match(header.strip())
    info = _INFO.search(header)
    if token is None or info is None:
        return None
    head, payload = (_b64json(p) for p in token.group(0).split(".")[:2])
    if head is None or payload is None or head.get("ppt") != "shaken" or head.get("alg") != "ES256":
        return None
    orig, dest = payload.get("orig"), payload.get("dest")
    caller = _digits(orig.get("tn")) if isinstance(orig, dict) else None
    called = dest.get("tn") if isinstance(dest, dict) else None
    called = tuple(_digits(n) for n in called) if isinstance(called, list) else ()
    if payload.get("attest") not in ATTESTATIONS or caller is None or not called or None in called:
        return None
    return Claims(payload["attest"], caller, called, info.group(1))


def x5u_allowed(url: str, prefixes: tuple[str, ...]) -> bool:
    """Whether the SBC may fetch this certificate: the operator's prefixes (default https:// only), so that a
    caller's header cannot make the SBC request a URL of the operator's own networks."""
    return any(url.startswith(prefix) for prefix in prefixes) and not re.search(r"[\s@\\]", url)


def verdict(found: Claims | None, present: bool, signature_ok: bool | None, caller: str | None,
            called: str | None) -> Verdict:
    """The verdict on one INVITE. `signature_ok`: secsipid's answer (None: not asked, the x5u being refused);
    `caller` / `called`: the call's numbers in E.164, which the PASSporT must name."""
    if not present:
        return Verdict(ABSENT)
    if found is None:
        return Verdict(FAILED, reason="malformed")
    if signature_ok is None:
        return Verdict(FAILED, reason="x5u refused")
    if not signature_ok:
        return Verdict(FAILED, reason="signature")
    if _digits(caller) != found.orig:
        return Verdict(FAILED, reason="caller mismatch")
    if _digits(called) not in found.dest:
        return Verdict(FAILED, reason="called mismatch")
    return Verdict(PASSED, found.attest)
