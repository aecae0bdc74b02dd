import pytest

from kemi.e164 import normalise


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
