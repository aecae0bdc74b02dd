import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sbclib.e164 import normalise, subscriber


@pytest.mark.parametrize("dialed,region,prefixes,expected", [
    ("4155550101", "US", (), "+14155550101"),           # national
    ("14155550101", "US", (), "+14155550101"),          # national with trunk prefix
    ("+14155550101", "US", (), "+14155550101"),         # international with +
    ("0014155550101", "US", (), "+14155550101"),        # ITU 00 exit code
    ("01114155550101", "US", (), "+14155550101"),       # the region's own exit code
    ("+442071838750", "US", (), "+442071838750"),       # foreign number from a US carrier
    ("02071838750", "GB", (), "+442071838750"),         # national with 0 trunk prefix
    ("00442071838750", "GB", (), "+442071838750"),
    ("9876543210", "IN", (), "+919876543210"),
    ("(415) 555-0101", "US", (), "+14155550101"),       # visual separators
    ("1010+14155550101", "US", ("1010",), "+14155550101"),  # tech prefix before +
    ("10104155550101", "US", ("1010",), "+14155550101"),    # tech prefix before national
    ("#31#4155550101", "US", ("#31#",), "+14155550101"),
    ("99124155550101", "US", ("9912", "99"), "+14155550101"),  # longest prefix wins (as loaded)
    ("+31 (0)20 123 4567", "NL", (), "+31201234567"),  # the (0) people write after +31
])
def test_normalises_to_e164(dialed, region, prefixes, expected):
    assert normalise(dialed, region, prefixes) == expected


@pytest.mark.parametrize("garbage", [
    "", "abc", "+", "++14155550101", "4155550101abc", "1234", "+1234567890123456",
    "00", "'; DROP TABLE did_routing;--", "4155550101\x00", "४१५५५५०१०१", "sip:4155550101",
    "+1 415 555 0101 ext 2", "9" * 200, None, "+310000000",
])
def test_garbage_is_not_a_number(garbage):
    assert normalise(garbage, "US") is None


def test_a_prefix_alone_is_not_a_number():
    assert normalise("1010", "US", ("1010",)) is None


@pytest.mark.parametrize("user,number", [
    ("4155550101;npdi;rn=+14155550000", "4155550101"),  # number portability (RFC 4694): the dialled number
    ("+14155550101;isub=12", "+14155550101"),
    ("%2B14155550101", "+14155550101"),  # escaped characters are the characters (RFC 3261 19.1.2)
    ("%34155550101", "4155550101"),
    ("4155550101%3Bnpdi", "4155550101;npdi"),  # an escaped ';' is part of the number: no number then
    ("%ZZ4155550101", "%ZZ4155550101"),
    (None, ""),
])
def test_the_number_a_user_part_carries(user, number):
    assert subscriber(user) == number


def test_an_escaped_separator_makes_no_number():
    assert normalise(subscriber("4155550101%3Bnpdi"), "US") is None


@settings(max_examples=200, deadline=None)
@given(st.sampled_from(["4155550101", "+14155550101", "14155550101", "+442071838750"]),
       st.lists(st.sampled_from(["npdi", "rn=+14155550000", "isub=9", "x-y=%41"]), max_size=3),
       st.sets(st.integers(0, 11)))
def test_params_and_escapes_never_change_the_number(number, params, escaped):
    user = "".join(f"%{ord(c):02X}" if i in escaped else c for i, c in enumerate(number))
    user += "".join(f";{p}" for p in params)
    assert normalise(number, "US") is not None
    assert normalise(subscriber(user), "US") == normalise(number, "US")
