"""Property tests: hostile or random input never breaks the pure routing code."""

import re

import phonenumbers
from hypothesis import given, settings
from hypothesis import strategies as st

from sbclib import e164, policy
from sbclib import settings as config
from sbclib.didcache import DidCache, DidRoute, DidSourceError, DidUnavailable

E164 = re.compile(r"^\+[1-9][0-9]{1,14}$")
REGIONS = st.sampled_from(["US", "GB", "IN", "DE", "FR", "BR", "AU", "JP", "ZA", "NG"])
DIALABLE = st.text(alphabet="0123456789+#*-(). ", max_size=40)


@given(st.text(max_size=300), REGIONS)
@settings(max_examples=500)
def test_normalise_never_raises_and_returns_e164_or_none(number, region):
    result = e164.normalise(number, region, ("1010", "#31#"))
    assert result is None or E164.match(result)


@given(DIALABLE, REGIONS)
@settings(max_examples=500)
def test_normalise_of_dial_strings_is_e164_or_none(number, region):
    result = e164.normalise(number, region)
    assert result is None or E164.match(result)


@given(st.from_regex(r"\+[1-9][0-9]{6,14}", fullmatch=True), REGIONS)
def test_normalise_is_idempotent(number, region):
    once = e164.normalise(number, region)
    assert once is None or e164.normalise(once, region) == once


@given(st.text(max_size=200))
def test_uri_helpers_never_raise_anything_but_value_error(uri):
    assert isinstance(policy.is_sip_uri(uri), bool)
    try:
        out = policy.with_user(uri, "+14155550101")
    except ValueError:
        assert not policy.is_sip_uri(uri)
    else:
        assert out.startswith(("sip:+14155550101@", "sips:+14155550101@"))
        assert "?" not in out and "\r" not in out and "\n" not in out


@given(st.text(max_size=100))
def test_scanner_check_never_raises(ua):
    assert isinstance(policy.is_scanner(ua), bool)


@given(st.dictionaries(st.sampled_from(sorted(config.DEFAULTS)), st.text(max_size=30), max_size=6))
@settings(max_examples=300)
def test_settings_accept_or_refuse_with_a_named_field(env):
    try:
        config.load(env)
    except config.ConfigError as err:
        assert err.field in config.DEFAULTS


@given(st.lists(st.tuples(st.sampled_from(["+1", "+2", "+3"]), st.booleans(), st.floats(0, 100)), max_size=60))
def test_cache_never_serves_an_unknown_did_and_only_raises_unavailable(steps):
    rows = {"+1": DidRoute("+1", 1, None), "+2": DidRoute("+2", 2, None)}
    state = {"down": False, "now": 0.0}

    def source(did):
        if state["down"]:
            raise DidSourceError("down")
        return rows.get(did)

    cache = DidCache(source, ttl=10, negative_ttl=5, maxsize=2, clock=lambda: state["now"])
    for did, down, advance in steps:
        state["down"], state["now"] = down, state["now"] + advance
        try:
            route, how = cache.lookup(did)
        except DidUnavailable:
            continue
        assert route == rows.get(did)
        assert how in ("hit", "miss", "stale")


# Valid input, generated: what the properties above accept as "never raises" must also be right when the
# input is a real number or a real scanner (a function answering None or False everywhere fails here).
_TYPES = (phonenumbers.PhoneNumberType.FIXED_LINE, phonenumbers.PhoneNumberType.MOBILE,
          phonenumbers.PhoneNumberType.TOLL_FREE)
_FORMATS = (phonenumbers.PhoneNumberFormat.E164, phonenumbers.PhoneNumberFormat.INTERNATIONAL,
            phonenumbers.PhoneNumberFormat.NATIONAL)


@given(REGIONS, st.sampled_from(_TYPES), st.sampled_from(_FORMATS))
@settings(max_examples=200)
def test_a_valid_number_in_any_usual_format_normalises_to_its_e164(region, kind, fmt):
    example = phonenumbers.example_number_for_type(region, kind)
    if example is None:  # the region has no number of that type in phonenumbers' metadata
        return
    dialed = phonenumbers.format_number(example, fmt)
    assert e164.normalise(dialed, region) == phonenumbers.format_number(example, phonenumbers.PhoneNumberFormat.E164)


@given(st.sampled_from(policy.SCANNER_UA_MARKERS), st.text(max_size=20), st.text(max_size=20), st.booleans())
def test_a_scanner_is_recognised_whatever_surrounds_its_name(marker, before, after, upper):
    assert policy.is_scanner(before + (marker.upper() if upper else marker) + after)


@given(st.sampled_from(["baresip v3.20.0 (x86_64/Linux)", "Linphone Desktop/5.2.4 (Debian) LinphoneSDK",
                        "LiveKit", "Vapi/1.0", "Asterisk PBX 20.5.0", "FreeSWITCH-mod_sofia/1.10.11",
                        "Cisco-SIPGateway/IOS-15.x", "Kamailio (5.6.3 (x86_64/linux))"]))
def test_ordinary_user_agents_are_not_scanners(ua):
    assert not policy.is_scanner(ua)
