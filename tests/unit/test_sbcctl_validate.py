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


# ---- the SBC's own registrations ---------------------------------------------------------------

def _settings(**env):
    from sbclib import settings
    return settings.load({"PRIVATE_IP": "127.0.1.1", "PUBLIC_IP": "127.0.2.1", **env})


def test_a_carriers_registration_leaves_the_private_side_and_keeps_only_the_ha1_with_a_realm():
    row = validate.registration(_settings(), "trunk-1", "sip:127.0.4.9:5070;transport=tcp", "4420",
                                realm="carrier.example", password="s3cret", carrier=True)
    assert row == {"l_uuid": "trunk-1", "l_username": "trunk-1", "l_domain": "private", "r_username": "4420",
                   "r_domain": "127.0.4.9:5070", "realm": "carrier.example", "auth_username": "4420",
                   "auth_password": "", "auth_ha1": validate.ha1("4420", "carrier.example", "s3cret"),
                   "auth_proxy": "sip:127.0.4.9:5070;transport=tcp", "expires": 600, "flags": 0, "reg_delay": 0,
                   "contact_addr": "127.0.1.1:5060;transport=tcp", "socket": "tcp:127.0.1.1:5060"}


def test_a_providers_registration_leaves_the_public_side_with_its_password_or_over_tls():
    row = validate.registration(_settings(), "lk", "sip:abc.sip.example.net", "sbc", password="pw",
                                auth_username="sbc-auth", domain="Example.NET:5080", expires=3600, enabled=False)
    assert (row["socket"], row["contact_addr"], row["l_domain"]) == ("udp:127.0.2.1:5060", "127.0.2.1:5060", "public")
    assert (row["auth_password"], row["auth_ha1"], row["r_domain"], row["flags"]) == ("pw", "", "example.net:5080", 1)
    tls = validate.registration(_settings(TLS_CERT="/c.pem", TLS_KEY="/k.pem"), "lk", "sip:h.example;transport=tls",
                                "sbc", password="pw")
    assert (tls["socket"], tls["contact_addr"]) == ("tls:127.0.2.1:5061", "127.0.2.1:5061;transport=tls")


@pytest.mark.parametrize("change,field", [
    ({"name": "4420"}, "name"), ({"name": "a b"}, "name"), ({"registrar": "127.0.4.9"}, "registrar"),
    ({"username": 'a"b'}, "username"), ({"auth_username": "a b"}, "auth_username"), ({"realm": "a b"}, "realm"),
    ({"expires": 59}, "expires"), ({"expires": 86401}, "expires"), ({"domain": "a_b"}, "domain"),
    ({"domain": "a.example:0"}, "domain"), ({"password": None}, "password"), ({"password": "a\nb"}, "password"),
    ({"given_ha1": "00" * 16, "password": None}, "ha1"), ({"given_ha1": "xyz", "realm": "r"}, "ha1"),
    ({"registrar": "sip:h.example;transport=tls", "carrier": True}, "registrar"),
    ({"registrar": "sip:h.example;transport=tls"}, "registrar")])  # TLS with no certificate in .env
def test_a_bad_registration_is_refused_naming_its_field(change, field):
    given = {"name": "trunk-1", "registrar": "sip:127.0.4.9", "username": "4420", "password": "pw", **change}
    with pytest.raises(InputError) as refused:
        validate.registration(_settings(), given.pop("name"), given.pop("registrar"), given.pop("username"), **given)
    assert refused.value.field == field
