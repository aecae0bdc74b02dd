"""Where a tenant's calls toward the carrier (and its transfers) may go: decided from the E.164 number's
country and type (phonenumbers) and the tenant's own prefix lists. Pure decisions, no Kamailio.

Order, first match wins: a denied prefix refuses; an allowed prefix admits (the operator named that
range); then the number's country must be the tenant's home (the regions of its DIDs, else DEFAULT_REGION)
or one it allows, and its type one it allows. International networks (+881 satellite, +882/+883, region
"001") belong to no country: only an allowed prefix reaches them.
"""

from __future__ import annotations

from dataclasses import dataclass

import phonenumbers
from phonenumbers import PhoneNumberType as T

# The names operators write (sbcctl, the tenant table), as phonenumbers classifies a number.
NUMBER_TYPES = {
    "fixed_line": T.FIXED_LINE, "mobile": T.MOBILE, "fixed_line_or_mobile": T.FIXED_LINE_OR_MOBILE,
    "toll_free": T.TOLL_FREE, "premium_rate": T.PREMIUM_RATE, "shared_cost": T.SHARED_COST, "voip": T.VOIP,
    "personal_number": T.PERSONAL_NUMBER, "pager": T.PAGER, "uan": T.UAN, "voicemail": T.VOICEMAIL,
    "unknown": T.UNKNOWN,
}
# What a tenant may call unless it says otherwise. Left out: premium rate, shared cost, personal numbers
# (the classic revenue-share fraud ranges), pagers, voicemail access, and numbers phonenumbers does not know.
DEFAULT_TYPES = ("fixed_line", "mobile", "fixed_line_or_mobile", "toll_free", "voip", "uan")
INTERNATIONAL_NETWORKS = "001"  # phonenumbers' region of +800/+808/+870/+878/+881/+882/+883/+888/+979

# reason label (metrics, CDR, logs) -> the 403's reason phrase
REFUSALS = {
    "denied_prefix": "Destination Prefix Not Allowed",
    "international_network": "International Network Not Allowed",
    "country": "Destination Country Not Allowed",
    "premium_rate": "Premium Rate Not Allowed",
    "shared_cost": "Shared Cost Not Allowed",
    "personal_number": "Personal Number Not Allowed",
    "number_type": "Number Type Not Allowed",
    "not_a_number": "Not A Phone Number",
}


@dataclass(frozen=True)
class Policy:
    """A tenant's destination rules; empty fields mean the defaults."""

    countries: tuple[str, ...] = ()  # ISO regions allowed besides home
    allowed_prefixes: tuple[str, ...] = ()  # E.164 prefixes ("+4420") admitted whatever their country or type
    denied_prefixes: tuple[str, ...] = ()  # refused whatever else allows them
    types: tuple[str, ...] = ()  # number types allowed; () = DEFAULT_TYPES


DEFAULT = Policy()


def home_regions(dids: tuple[str, ...], default_region: str) -> frozenset[str]:
    """The countries of a tenant's DIDs, or the SBC's default region for a tenant without any."""
    regions = set()
    for did in dids:
        try:
            region = phonenumbers.region_code_for_number(phonenumbers.parse(did))
        except phonenumbers.NumberParseException:
            continue
        if region and region != INTERNATIONAL_NETWORKS:
            regions.add(region)
    return frozenset(regions or {default_region})


def _longest(number: str, prefixes: tuple[str, ...]) -> int:
    return max((len(p) for p in prefixes if number.startswith(p)), default=-1)


def refusal(number: str, policy: Policy, home: frozenset[str]) -> str | None:
    """None when the tenant may call `number` (E.164 with +), else the reason label (a key of REFUSALS)."""
    denied, allowed = _longest(number, policy.denied_prefixes), _longest(number, policy.allowed_prefixes)
    if denied >= 0 and denied >= allowed:
        return "denied_prefix"  # the more specific rule wins; a tie refuses
    if allowed >= 0:
        return None
    try:
        parsed = phonenumbers.parse(number)
    except phonenumbers.NumberParseException:
        return "not_a_number"
    region = phonenumbers.region_code_for_number(parsed) or phonenumbers.region_code_for_country_code(
        parsed.country_code)
    if region == INTERNATIONAL_NETWORKS:
        return "international_network"
    if region not in home and region not in policy.countries:
        return "country"
    kind = phonenumbers.number_type(parsed)
    if kind not in {NUMBER_TYPES[t] for t in (policy.types or DEFAULT_TYPES)}:
        return {T.PREMIUM_RATE: "premium_rate", T.SHARED_COST: "shared_cost",
                T.PERSONAL_NUMBER: "personal_number"}.get(kind, "number_type")
    return None


# ---- operator input (sbcctl, the tenant row): one function per field, each naming it ------------------

class PolicyError(ValueError):
    def __init__(self, field: str, problem: str):
        super().__init__(f"{field}: {problem}")
        self.field = field


def _items(text: str | None) -> list[str]:
    return [item.strip() for item in (text or "").split(",") if item.strip()]


def parse_countries(text: str | None, field: str = "allowed_countries") -> tuple[str, ...]:
    found = []
    for item in _items(text):
        code = item.upper()
        if code not in phonenumbers.SUPPORTED_REGIONS:
            raise PolicyError(field, f"{item!r} is not an ISO 3166 region phonenumbers knows (e.g. US, GB)")
        found.append(code)
    return tuple(dict.fromkeys(found))


def parse_prefixes(text: str | None, field: str) -> tuple[str, ...]:
    found = []
    for item in _items(text):
        if not (item.startswith("+") and item[1:].isdigit() and 1 <= len(item) - 1 <= 15):
            raise PolicyError(field, f"{item!r} is not an E.164 prefix (+ then 1 to 15 digits)")
        found.append(item)
    return tuple(dict.fromkeys(found))


def parse_types(text: str | None, field: str = "number_types") -> tuple[str, ...]:
    found = []
    for item in _items(text):
        if item.lower() not in NUMBER_TYPES:
            raise PolicyError(field, f"{item!r} is not one of {', '.join(NUMBER_TYPES)}")
        found.append(item.lower())
    return tuple(dict.fromkeys(found))


def from_row(countries: str | None, allowed: str | None, denied: str | None, types: str | None) -> Policy:
    """A tenant row's policy columns. A value sbcctl would refuse (a row edited by hand) fails closed: the
    tenant may then call nothing (CORRUPT) until the row is mended."""
    try:
        return Policy(parse_countries(countries), parse_prefixes(allowed, "allowed_prefixes"),
                      parse_prefixes(denied, "denied_prefixes"), parse_types(types))
    except PolicyError:
        return CORRUPT


CORRUPT = Policy(denied_prefixes=("+",))  # every E.164 number starts with it


def describe(policy: Policy, home: frozenset[str]) -> dict[str, str]:
    """What a tenant may call, as sbcctl shows it."""
    return {"home": ",".join(sorted(home)), "countries": ",".join(policy.countries) or "-",
            "allowed_prefixes": ",".join(policy.allowed_prefixes) or "-",
            "denied_prefixes": ",".join(policy.denied_prefixes) or "-",
            "types": ",".join(policy.types or DEFAULT_TYPES)}
