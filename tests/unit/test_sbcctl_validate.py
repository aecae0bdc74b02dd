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
    assert validate.codec_policy("opus,pcmu", True, False) == ("opus", "PCMU")
    assert validate.codec_policy(None, None, True) is None and validate.codec_policy("", False, False) == ()


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
    (lambda: validate.cap(100_001, "max_calls"), "max_calls"), (lambda: validate.cap(-1, "max_cps"), "max_cps"),
    (lambda: validate.codec_policy("opus,silk", None, False), "codecs"),
    (lambda: validate.codec_policy(None, True, False), "transcode"),
    (lambda: validate.codec_policy("", True, False), "transcode"),
    (lambda: validate.codec_policy("pcmu", None, True), "codecs"),  # the carriers' are .env's
])
def test_each_bad_value_names_its_field(check, field):
    with pytest.raises(InputError) as err:
        check()
    assert err.value.field == field and str(err.value).startswith(f"{field}: ")


@pytest.fixture
def carrier_group_10(monkeypatch):
    from sbcctl import cli
    from sbclib import settings

    monkeypatch.setitem(cli.state, "settings", settings.load({"CARRIER_GROUP": "10"}))


@pytest.mark.parametrize("check,field", [
    (lambda t: t.tenant_name(""), "name"), (lambda t: t.tenant_name("-acme"), "name"),
    (lambda t: t.tenant_name("acme corp"), "name"), (lambda t: t.tenant_name("a" * 65), "name"),
    (lambda t: t.tenant_group(10), "group"), (lambda t: t.tenant_group(0), "group"),
    (lambda t: t.callerid_policy("replce", None), "callerid_policy"),
    (lambda t: t.callerid_policy("replace", None), "default_did"),
    (lambda t: t.callerid_policy("replace", ""), "default_did"),
])
def test_tenant_values_name_their_field(carrier_group_10, check, field):
    from sbcctl import tenants

    with pytest.raises(InputError) as err:
        check(tenants)
    assert err.value.field == field and str(err.value).startswith(f"{field}: ")


def test_tenant_values_that_pass(carrier_group_10):
    from sbcctl import tenants

    assert [tenants.tenant_name("acme"), tenants.tenant_name("a" * 64), tenants.tenant_name("acme-2.eu_x")] == [
        "acme", "a" * 64, "acme-2.eu_x"]
    assert (tenants.tenant_group(1), tenants.tenant_group(9999)) == (1, 9999)
    assert tenants.callerid_policy("replace", "+14155550201") == "replace"
    assert tenants.callerid_policy("reject", None) == "reject"
    assert validate.did("+14155550101", "US", "default_did") == "+14155550101"
    with pytest.raises(InputError, match="^default_did: "):
        validate.did("4155550101", "US", "default_did")


@pytest.mark.parametrize("args,expected", [
    (["did", "list", "--json"], ["--json", "did", "list"]),
    (["--json", "did", "list"], ["--json", "did", "list"]),
    (["--env-file", "x", "tenant", "list", "--json"], ["--json", "--env-file", "x", "tenant", "list"]),
    (["did", "list"], ["did", "list"]),
    (["did", "add", "+1", "--description", "a", "--", "--json"], ["did", "add", "+1", "--description", "a", "--",
                                                                  "--json"]),
])
def test_json_is_taken_after_the_command_too(args, expected):
    from sbcctl.cli import json_anywhere

    assert json_anywhere(args) == expected
