import pytest

from sbcctl import validate
from sbcctl.validate import InputError


def test_valid_values_pass_through():
    assert validate.sip_uri("sip:abc123.sip.vapi.ai;transport=tls") == "sip:abc123.sip.vapi.ai;transport=tls"
    assert validate.did("+14155550101", "US") == "+14155550101"
    assert validate.network("127.0.9.0/24") == ("127.0.9.0", 24)
    assert validate.network("127.0.9.7") == ("127.0.9.7", 32)
    assert (validate.group(21), validate.weight(0), validate.priority(1000), validate.acl_group(3)) == (21, 0, 1000, 3)
    assert validate.host("3I5BVR312D9.sip.livekit.cloud") == "3i5bvr312d9.sip.livekit.cloud"
    assert validate.host("127.0.3.1") == "127.0.3.1"
    assert validate.digest_token("", "realm", empty=True) == ""
    assert validate.secret("p@ss word!", "password") == "p@ss word!"


def test_ha1_is_rfc_2617s():
    # RFC 2617 3.5's example: Mufasa, testrealm@host.com, "Circle Of Life".
    assert validate.ha1("Mufasa", "testrealm@host.com", "Circle Of Life") == "939e7578ed9e3c518a452acee763bce9"


@pytest.mark.parametrize("check,field", [
    (lambda: validate.sip_uri("sip:x@y?Route=z"), "uri"), (lambda: validate.did("4155550101", "US"), "did"),
    (lambda: validate.did("+1 415 555 0101", "US"), "did"), (lambda: validate.network("127.0.9.1/24"), "ip"),
    (lambda: validate.group(10000), "group"), (lambda: validate.weight(-1), "weight"),
    (lambda: validate.acl_group(5), "group"), (lambda: validate.text("a\nb", "tag"), "tag"),
    (lambda: validate.host("gw_1.example"), "host"), (lambda: validate.host("127.0.3"), "host"),
    (lambda: validate.host("-gw.example"), "host"), (lambda: validate.host("sip:gw.example"), "host"),
    (lambda: validate.digest_token("", "username"), "username"),
    (lambda: validate.digest_token('a"b', "username"), "username"),
    (lambda: validate.digest_token("a b", "realm", empty=True), "realm"),
    (lambda: validate.secret("", "password"), "password"), (lambda: validate.secret("a\rb", "password"), "password"),
])
def test_each_bad_value_names_its_field(check, field):
    with pytest.raises(InputError) as err:
        check()
    assert err.value.field == field and str(err.value).startswith(f"{field}: ")
