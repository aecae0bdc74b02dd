"""Called/calling number normalisation to E.164, with `phonenumbers` doing the numbering plan."""

from __future__ import annotations

import re
import urllib.parse

import phonenumbers

# A SIP user part that could be a telephone number: optional '+', then digits and visual separators.
_DIALABLE = re.compile(r"^\+?[0-9().\- ]{1,40}$")
_SEPARATORS = re.compile(r"[().\- ]")
MAX_DIGITS = 15  # ITU-T E.164 limit


def subscriber(user: str | None) -> str:
    """The number a SIP URI's user part carries: telephone-subscriber parameters cut off (`;npdi`,
    `;rn=+1...` of number portability, RFC 4694; `;isub=`), then %-escapes decoded (RFC 3261 19.1.2; an
    escaped ';' is a character of the number, which then is no number)."""
    return urllib.parse.unquote((user or "").split(";", 1)[0], errors="replace")


def normalise(number: str, region: str, tech_prefixes: tuple[str, ...] = ()) -> str | None:
    """E.164 form of a dialed number, or None; see _normalise_once. A result that would change again
    when normalised (phonenumbers drops a national-prefix 0 after some country codes: "+310000000")
    is ambiguous, not a number to route on."""
    result = _normalise_once(number, region, tech_prefixes)
    if result is not None and _normalise_once(result, region, ()) != result:
        return None
    return result


def _normalise_once(number: str, region: str, tech_prefixes: tuple[str, ...] = ()) -> str | None:
    """E.164 form ("+14155550100") of a dialed number, or None when it is not a phone number.

    Accepts national ("4155550100"), national with trunk prefix ("14155550100", "020..."),
    international with '+' or with the region's or the ITU "00" exit code, each optionally
    behind one of the carrier's tech prefixes (longest match first).
    """
    if not isinstance(number, str) or not number:
        return None
    for prefix in tech_prefixes:
        if number.startswith(prefix) and len(number) > len(prefix):
            number = number[len(prefix):]
            break
    if not _DIALABLE.match(number):
        return None
    number = _SEPARATORS.sub("", number)
    if number.startswith("00"):
        number = "+" + number[2:]
    digits = number.lstrip("+")
    if not digits.isdigit() or len(digits) > MAX_DIGITS:
        return None
    try:
        parsed = phonenumbers.parse(number, region)
    except phonenumbers.NumberParseException:
        return None
    # "Possible" (right length for the country) rather than "valid": new number ranges reach
    # carriers before they reach the library's metadata, and a DID must never be refused for that.
    if not phonenumbers.is_possible_number(parsed):
        return None
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)
