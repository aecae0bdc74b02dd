"""Parsers for settings: each returns the value as the settings keep it or raises ConfigError naming the field."""

from __future__ import annotations

import ipaddress
import re

import phonenumbers

from sbclib import codecs


class ConfigError(ValueError):
    """A configuration value is missing or malformed; `field` names the variable."""

    def __init__(self, field: str, problem: str):
        super().__init__(f"{field}: {problem}")
        self.field = field


def ip(field: str, value: str) -> str:
    try:
        return str(ipaddress.IPv4Address(value))
    except ValueError:
        raise ConfigError(field, f"not an IPv4 address: {value!r}") from None


def whole(field: str, value: str, low: int, high: int) -> int:
    try:
        number = int(value)
    except ValueError:
        raise ConfigError(field, f"not a whole number: {value!r}") from None
    if not low <= number <= high:
        raise ConfigError(field, f"{number} is outside {low}..{high}")
    return number


def port(field: str, value: str) -> int:
    return whole(field, value, 1, 65535)


def group(field: str, value: str) -> int:
    return whole(field, value, 1, 9999)


def groups(field: str, value: str) -> tuple[int, ...]:
    items = [v.strip() for v in value.split(",") if v.strip()]
    if not items:
        raise ConfigError(field, "needs at least one dispatcher set id")
    return tuple(group(field, v) for v in items)


TECH_PREFIX_RE = re.compile(r"^[0-9#*]{1,10}$")
NAME_RE = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")


def directory(field: str, value: str) -> str:
    """An absolute path without characters that Kamailio's db URLs or db_text would read otherwise."""
    if value and (not value.startswith("/") or re.search(r"[\s;:=>]", value)):
        raise ConfigError(field, f"not an absolute path without spaces, ';', ':', '=' or '>': {value!r}")
    return value.rstrip("/") if len(value) > 1 else value


def pem_file(field: str, value: str) -> str:
    """A path as Kamailio's tls.cfg takes it (one token); whether it is readable is the launcher's check."""
    if value and (not value.startswith("/") or re.search(r"[\s#=\[\]\"']", value)):
        raise ConfigError(field, f"not an absolute path without spaces, '#', '=', brackets or quotes: {value!r}")
    return value


def url_prefixes(field: str, value: str) -> tuple[str, ...]:
    """Comma-separated http(s) URL prefixes (what the SBC may fetch), each with at least a scheme."""
    items = tuple(v.strip() for v in value.split(",") if v.strip())
    for item in items:
        if not re.fullmatch(r"https?://[^\s,@\\]*", item):
            raise ConfigError(field, f"{item!r} is not an http:// or https:// URL prefix")
    return items


def realm(field: str, value: str) -> str:
    """The digest realm gateways' credentials are for: quoted in challenges, part of every stored HA1."""
    if not re.fullmatch(r"[A-Za-z0-9._@-]{1,64}", value):
        raise ConfigError(field, "1 to 64 letters, digits, '.', '_', '@' or '-'")
    return value


def tech_prefixes(field: str, value: str) -> tuple[str, ...]:
    items = [v.strip() for v in value.split(",") if v.strip()]
    for item in items:
        if not TECH_PREFIX_RE.match(item):
            raise ConfigError(field, f"tech prefix {item!r} must be 1-10 of 0-9 # *")
    # Longest first, so that "99" never shadows "9912".
    return tuple(sorted(items, key=len, reverse=True))


def region(field: str, value: str) -> str:
    code = value.strip().upper()
    if code not in phonenumbers.SUPPORTED_REGIONS:
        raise ConfigError(field, f"unknown ISO 3166 region {value!r}")
    return code


def name(field: str, value: str) -> str:
    if not NAME_RE.match(value):
        raise ConfigError(field, f"must be 1-64 of A-Z a-z 0-9 _ . - (got {value!r})")
    return value


REPLY_CODES_RE = re.compile(r"^(?:(?:class=[1-6]|code=[1-6][0-9]{2})(?:;|$))+$")


def reply_codes(field: str, value: str) -> str:
    if not REPLY_CODES_RE.match(value):
        raise ConfigError(field, f"expected e.g. 'class=2;code=404' (got {value!r})")
    return value.rstrip(";")


def optional_number(field: str, value: str, low: int, high: int) -> int | None:
    return whole(field, value, low, high) if value else None


def optional_group(field: str, value: str) -> int | None:
    return group(field, value) if value else None


def choice(field: str, value: str, allowed: tuple[str, ...]) -> str:
    if value not in allowed:
        raise ConfigError(field, f"must be one of {', '.join(allowed)} (got {value!r})")
    return value


def secret(field: str, value: str) -> str:
    if not value or any(c in value for c in "@/:'\"\\ "):
        raise ConfigError(field, "must be non-empty without @ / : quotes, backslash or spaces")
    return value


def redis_secret(field: str, value: str) -> str:
    """A password that also goes into ndb_redis' server spec (;-separated name=value pairs)."""
    if any(c in value for c in ";=#"):
        raise ConfigError(field, "must not contain ';', '=' or '#'")
    return secret(field, value)


def mask_key(field: str, value: str) -> str:
    # Goes into kamailio.cfg as a string: printable ASCII without quotes or backslash.
    if len(value) < 16 or not re.fullmatch(r"[!#-\[\]-~]+", value):
        raise ConfigError(field, "needs 16 or more printable characters, no spaces, quotes or backslash")
    return value


def codec_list(field: str, value: str) -> tuple[str, ...]:
    """"pcmu,pcma" -> the SDP encoding names (sbclib.codecs)."""
    try:
        return codecs.parse_list(value, field)
    except codecs.CodecError as exc:
        raise ConfigError(field, str(exc).split(": ", 1)[1]) from None
