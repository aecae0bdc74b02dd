"""The destination policy (sbclib/destinations.py): listed cases, then generated numbers of every country and type."""

import phonenumbers
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sbclib import destinations
from sbclib.destinations import CORRUPT, DEFAULT, Policy, PolicyError, refusal

US = frozenset({"US"})


@pytest.mark.parametrize("number,why", [
    ("+12125550100", None),  # home, fixed line or mobile
    ("+18005550100", None),  # home, toll free
    ("+19005550100", "premium_rate"),
    ("+447011111111", "country"),  # a UK personal number: the country refuses first
    ("+442071838750", "country"),
    ("+33612345678", "country"),
    ("+18762345678", "country"),  # Jamaica shares +1: the classic one-ring fraud range is another country
    ("+881612345678", "international_network"),  # satellite
    ("+883123456789", "international_network"),
    ("+12005550100", "number_type"),  # +1 200 is no valid range: UNKNOWN
])
def test_by_default_a_tenant_calls_only_ordinary_numbers_of_its_home_country(number, why):
    assert refusal(number, DEFAULT, US) == why


@pytest.mark.parametrize("policy,number,why", [
    (Policy(countries=("GB",)), "+442071838750", None),
    (Policy(countries=("GB",)), "+447011111111", "personal_number"),
    (Policy(countries=("GB",), types=("personal_number", "fixed_line")), "+447011111111", None),
    (Policy(types=("premium_rate",)), "+19005550100", None),
    (Policy(allowed_prefixes=("+881",)), "+881612345678", None),  # an operator's explicit range wins
    (Policy(allowed_prefixes=("+1900",)), "+19005550100", None),
    (Policy(denied_prefixes=("+1212",)), "+12125550100", "denied_prefix"),
    (Policy(allowed_prefixes=("+1212555",), denied_prefixes=("+1212",)), "+12125550100", None),  # longer wins
    (Policy(allowed_prefixes=("+1212",), denied_prefixes=("+1212555",)), "+12125550100", "denied_prefix"),
    (Policy(allowed_prefixes=("+1212",), denied_prefixes=("+1212",)), "+12125550100", "denied_prefix"),  # tie
    (CORRUPT, "+12125550100", "denied_prefix"),
])
def test_a_tenants_own_rules(policy, number, why):
    assert refusal(number, policy, US) == why


def test_home_is_where_the_tenants_dids_are_else_the_default_region():
    assert destinations.home_regions(("+442071838750", "+14155550100"), "US") == {"GB", "US"}
    assert destinations.home_regions((), "FR") == {"FR"}
    assert destinations.home_regions(("", "garbage", "+881612345678"), "DE") == {"DE"}
    assert refusal("+442071838750", DEFAULT, frozenset({"GB"})) is None


@pytest.mark.parametrize("parse,text,field", [
    (destinations.parse_countries, "US,XX", "allowed_countries"),
    (lambda t: destinations.parse_prefixes(t, "denied_prefixes"), "+1900,1800", "denied_prefixes"),
    (lambda t: destinations.parse_prefixes(t, "allowed_prefixes"), "+", "allowed_prefixes"),
    (destinations.parse_types, "mobile,cheap", "number_types"),
])
def test_operator_input_is_refused_naming_the_field(parse, text, field):
    with pytest.raises(PolicyError) as refused:
        parse(text)
    assert refused.value.field == field and str(refused.value).startswith(f"{field}: ")


def test_operator_input_is_normalised():
    assert destinations.parse_countries(" gb, US ,gb") == ("GB", "US")
    assert destinations.parse_types("Mobile,voip") == ("mobile", "voip")
    assert destinations.parse_prefixes("", "allowed_prefixes") == ()


REGIONS = sorted(phonenumbers.SUPPORTED_REGIONS)
TYPES = sorted(destinations.NUMBER_TYPES)


def _example(region: str, kind: str) -> str | None:
    found = phonenumbers.example_number_for_type(region, destinations.NUMBER_TYPES[kind])
    return phonenumbers.format_number(found, phonenumbers.PhoneNumberFormat.E164) if found else None


@settings(max_examples=400, deadline=None)
@given(st.sampled_from(REGIONS), st.sampled_from(TYPES), st.sampled_from(REGIONS))
def test_generated_numbers_pass_only_where_country_and_type_are_allowed(region, kind, home):
    """phonenumbers' own example number of every region and type: a call goes through exactly when its
    country is home and its type a default one, and a refusal always names a reason the 403 can say."""
    number = _example(region, kind)
    if number is None:
        return
    parsed = phonenumbers.parse(number)
    actual_region = phonenumbers.region_code_for_number(parsed)
    actual_type = phonenumbers.number_type(parsed)
    why = refusal(number, DEFAULT, frozenset({home}))
    ordinary = actual_type in {destinations.NUMBER_TYPES[t] for t in destinations.DEFAULT_TYPES}
    assert (why is None) == (actual_region == home and ordinary), (number, why)
    assert why is None or why in destinations.REFUSALS
    # an explicit prefix of the number always admits it, an explicit deny always refuses it
    assert refusal(number, Policy(allowed_prefixes=(number[:3],)), frozenset({home})) is None
    assert refusal(number, Policy(denied_prefixes=(number[:2],)), frozenset({home})) == "denied_prefix"


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet="+0123456789", max_size=20), st.sampled_from(REGIONS))
def test_any_digit_string_gets_a_decision_never_an_exception(number, home):
    assert refusal(number, DEFAULT, frozenset({home})) in (None, *destinations.REFUSALS)
