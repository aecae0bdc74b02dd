"""sbcctl export/import's document: rows -> document -> YAML -> rows again, and every bad field named by its
place in the document, before anything is written."""

import copy

import pytest
import yaml

from sbcctl import configdoc
from sbclib import settings

SETTINGS = settings.load({"CARRIER_GROUP": "10", "STIR_CA_FILE": "/etc/sbc/stir-ca.pem"})
HA1 = "0123456789abcdef0123456789abcdef"

TABLES = {
    "gateways": [
        {"id": 1, "setid": 1, "destination": "sip:127.0.3.1:5060", "priority": 10, "attrs": "weight=100",
         "flags": 0, "description": "VAPI"},
        {"id": 5, "setid": 10, "destination": "sip:127.0.4.1:5060", "priority": 10,
         "attrs": "weight=100;sockname=private", "flags": 4, "description": "Carrier A"},
        {"id": 30, "setid": 25, "destination": "sip:127.0.3.30:5060;transport=tcp", "priority": 5,
         "attrs": "weight=50;media=srtp", "flags": 0, "description": ""},
    ],
    "tenants": [
        {"name": "acme", "enabled": 1, "gateway_group": 25, "allow_backup": 0, "max_calls": 50, "max_cps": 50,
         "max_duration": 0, "max_minutes_24h": 600, "callerid_policy": "replace", "default_did": "+12125550199",
         "media_timeout": None, "media_keepalive": 0, "transfer": "relay", "allowed_countries": "GB,FR",
         "allowed_prefixes": "+4420", "denied_prefixes": "+1900", "number_types": "mobile,fixed_line",
         "context_headers": "diversion,x-carrier-ref", "early_ringing": 1, "stir_required": 1, "ringback": 1},
        {"name": "fabriq", "enabled": 0, "gateway_group": 24, "allow_backup": 1, "max_calls": 0, "max_cps": 0,
         "max_duration": 3600, "max_minutes_24h": 0, "callerid_policy": "reject", "default_did": None,
         "media_timeout": 20, "media_keepalive": 1, "transfer": "refuse", "allowed_countries": "",
         "allowed_prefixes": "", "denied_prefixes": "", "number_types": "", "context_headers": "",
         "early_ringing": 0, "stir_required": 0, "ringback": 0},
    ],
    "dids": [
        {"did": "+12125550199", "gateway_group": None, "gateway_uri": None, "tenant": "acme", "enabled": 1,
         "description": "Acme main line"},
        {"did": "+14155550101", "gateway_group": 1, "gateway_uri": None, "tenant": "", "enabled": 1,
         "description": ""},
        {"did": "+14155550103", "gateway_group": None, "gateway_uri": "sip:127.0.3.5:5060", "tenant": "",
         "enabled": 0, "description": "one gateway"},
    ],
    "acl": [
        {"id": 1, "grp": 1, "ip_addr": "127.0.4.0", "mask": 24, "port": 0, "tag": "carriers", "dedicated": 0},
        {"id": 30, "grp": 2, "ip_addr": "127.0.3.30", "mask": 32, "port": 5060, "tag": "acme", "dedicated": 1},
    ],
    "accounts": [{"username": "vapi-acme", "tenant": "acme", "enabled": 1, "ha1": HA1}],
    "credentials": [
        {"host": "lk.example.test", "username": "sbc-lk", "realm": "lk", "ha1": HA1, "password": ""},
        {"host": "127.0.3.3", "username": "sbc-user", "realm": "", "ha1": "", "password": "s3cret pass"},
    ],
    # the SBC's own: a carrier's from the private side with its HA1, a provider's from the public side
    "registrations": [
        {"l_uuid": "carrier-trunk", "l_username": "carrier-trunk", "l_domain": "private", "r_username": "4420",
         "r_domain": "127.0.4.9:5070", "realm": "carrier.example", "auth_username": "4420", "auth_password": "",
         "auth_ha1": HA1, "auth_proxy": "sip:127.0.4.9:5070", "expires": 300, "flags": 0, "reg_delay": 0,
         "contact_addr": "127.0.1.1:5060", "socket": "udp:127.0.1.1:5060"},
        {"l_uuid": "lk-acme", "l_username": "lk-acme", "l_domain": "public", "r_username": "sbc-acme",
         "r_domain": "lk.example.test", "realm": "", "auth_username": "sbc-auth", "auth_password": "p@ss word",
         "auth_ha1": "", "auth_proxy": "sip:lk.example.test;transport=tcp", "expires": 600, "flags": 1,
         "reg_delay": 0, "contact_addr": "127.0.2.1:5060;transport=tcp", "socket": "tcp:127.0.2.1:5060"},
    ],
}
# The acme set (25) needs an enabled gateway for its DID; fabriq's DIDs are none.


def document(secrets=True):
    return yaml.safe_load(yaml.safe_dump(configdoc.to_document(TABLES, secrets)))


def test_rows_to_a_document_and_back_are_the_same_rows():
    plan = configdoc.plan(document(), SETTINGS, {}, {})
    for section, rows in TABLES.items():
        if section == "gateways":  # written pending (trying) until their first answered probe
            rows = [{**row, "flags": 2 | (row["flags"] & 4)} for row in rows]
        assert plan.rows[section] == rows, section
    assert plan.missing_secrets == []
    assert configdoc.changes(TABLES, plan) == {s: {"added": 0, "removed": 0, "changed": 0, "unchanged": len(r)}
                                               for s, r in TABLES.items()}


def test_a_did_is_written_quoted_so_that_yaml_keeps_it_text():
    text = yaml.safe_dump(configdoc.to_document(TABLES, False))
    assert "did: '+14155550101'" in text


def test_without_secrets_the_dbs_are_kept_and_said():
    doc = document(secrets=False)
    assert "ha1" not in doc["accounts"][0] and set(doc["credentials"][1]) == {"host", "username", "realm"}
    kept_accounts = {"vapi-acme": {"ha1": HA1}}
    kept_credentials = {r["host"]: r for r in TABLES["credentials"]}
    kept_registrations = {r["l_uuid"]: r for r in TABLES["registrations"]}
    assert not {"ha1", "password"} & {*doc["registrations"][0], *doc["registrations"][1]}
    plan = configdoc.plan(doc, SETTINGS, kept_accounts, kept_credentials, kept_registrations=kept_registrations)
    assert plan.rows["accounts"] == TABLES["accounts"] and plan.rows["credentials"] == TABLES["credentials"]
    assert plan.rows["registrations"] == TABLES["registrations"]
    assert plan.missing_secrets == ["accounts[0]", "credentials[0]", "credentials[1]", "registrations[0]",
                                    "registrations[1]"]
    with pytest.raises(configdoc.DocumentError) as refused:  # nothing kept: the secret is named missing
        configdoc.plan(doc, SETTINGS, kept_accounts, kept_credentials)
    assert refused.value.field == "registrations[0].ha1"


def test_a_registration_is_exported_by_what_the_operator_said_and_its_side():
    doc = document(secrets=True)
    assert doc["registrations"] == [
        {"name": "carrier-trunk", "registrar": "sip:127.0.4.9:5070", "username": "4420", "domain": "127.0.4.9:5070",
         "auth_username": "4420", "realm": "carrier.example", "expires": 300, "carrier": True, "enabled": True,
         "ha1": HA1},
        {"name": "lk-acme", "registrar": "sip:lk.example.test;transport=tcp", "username": "sbc-acme",
         "domain": "lk.example.test", "auth_username": "sbc-auth", "realm": "", "expires": 600, "carrier": False,
         "enabled": False, "password": "p@ss word"}]


def test_a_registration_moved_to_an_sbc_with_other_addresses_takes_that_sbcs_sockets():
    other = settings.load({"CARRIER_GROUP": "10", "STIR_CA_FILE": "/etc/sbc/stir-ca.pem", "PRIVATE_IP": "127.0.7.1",
                           "PUBLIC_IP": "127.0.8.1"})
    plan = configdoc.plan(document(), other, {}, {})
    assert [(r["socket"], r["contact_addr"]) for r in plan.rows["registrations"]] == [
        ("udp:127.0.7.1:5060", "127.0.7.1:5060"), ("tcp:127.0.8.1:5060", "127.0.8.1:5060;transport=tcp")]
    assert configdoc.changes(TABLES, plan)["registrations"]["changed"] == 2


def test_changes_count_added_removed_and_changed_rows_by_their_keys():
    doc = document()
    doc["dids"].append({"did": "+14155550999", "group": 1})
    doc["tenants"][0]["max_calls"] = 60
    del doc["acl"][0]
    counts = configdoc.changes(TABLES, configdoc.plan(doc, SETTINGS, {}, {}))
    assert counts["dids"] == {"added": 1, "removed": 0, "changed": 0, "unchanged": 3}
    assert counts["tenants"] == {"added": 0, "removed": 0, "changed": 1, "unchanged": 1}
    assert counts["acl"] == {"added": 0, "removed": 1, "changed": 0, "unchanged": 1}


def edit(path, value):
    """A document with one field replaced (value ... deletes it)."""
    def apply(doc):
        target = doc
        for step in path[:-1]:
            target = target[step]
        if value is ...:
            del target[path[-1]]
        else:
            target[path[-1]] = value
    return apply


@pytest.mark.parametrize("change,where", [
    (edit(["version"], 2), "version"),
    (edit(["gatways"], []), "gatways"),
    (edit(["gateways"], {"uri": "x"}), "gateways"),
    (edit(["gateways", 0, "gruop"], 1), "gateways[0].gruop"),
    (edit(["gateways", 0, "uri"], "sip:127.0.3.1;transport=tpc"), "gateways[0].uri"),
    (edit(["gateways", 0, "uri"], "sip:127.0.3.1:70000"), "gateways[0].uri"),
    (edit(["gateways", 0, "uri"], ...), "gateways[0].uri"),
    (edit(["gateways", 0, "group"], "1"), "gateways[0].group"),
    (edit(["gateways", 0, "group"], 0), "gateways[0].group"),
    (edit(["gateways", 0, "priority"], 1001), "gateways[0].priority"),
    (edit(["gateways", 0, "attrs"], "weight=101"), "gateways[0].attrs.weight"),
    (edit(["gateways", 0, "attrs"], "weight=x"), "gateways[0].attrs"),
    (edit(["gateways", 0, "attrs"], "weight=1;sockname=private"), "gateways[0].attrs"),  # not the carriers' set
    (edit(["gateways", 1, "attrs"], "weight=1"), "gateways[1].attrs"),  # a carrier row without its socket
    (edit(["gateways", 0, "attrs"], "media=zrtp"), "gateways[0].media"),
    (edit(["gateways", 0, "attrs"], "weight=1;max_calls=-1"), "gateways[0].attrs"),
    (edit(["gateways", 0, "attrs"], "max_cps=1.5"), "gateways[0].attrs"),
    (edit(["gateways", 0, "attrs"], "max_calls=100001"), "gateways[0].attrs"),
    (edit(["tenants", 0, "context_headers"], "diversion,via"), "tenants[0].context_headers"),
    (edit(["tenants", 0, "context_headers"], 5), "tenants[0].context_headers"),
    (edit(["gateways", 0, "attrs"], "codecs=opus,silk"), "gateways[0].attrs"),
    (edit(["gateways", 0, "attrs"], "transcode=1"), "gateways[0].attrs"),  # transcoding to nothing
    (edit(["gateways", 0, "attrs"], "codecs=opus;transcode=yes"), "gateways[0].attrs"),
    (edit(["gateways", 1, "attrs"], "weight=1;sockname=private;codecs=pcmu"), "gateways[1].attrs"),  # .env's
    (edit(["gateways", 0, "enabled"], "yes"), "gateways[0].enabled"),
    (edit(["gateways", 2, "uri"], "sip:127.0.3.1:5060"), "gateways[2]"),  # hmm: another set: allowed? see below
    (edit(["tenants", 0, "name"], "acme corp"), "tenants[0].name"),
    (edit(["tenants", 1, "name"], "acme"), "tenants[1]"),
    (edit(["tenants", 1, "group"], 25), "tenants[1]"),
    (edit(["tenants", 0, "group"], 10), "tenants[0].group"),
    (edit(["tenants", 0, "default_did"], None), "tenants[0].default_did"),  # replace needs one
    (edit(["tenants", 0, "default_did"], "2125550199"), "tenants[0].default_did"),
    (edit(["tenants", 0, "callerid_policy"], "maybe"), "tenants[0].callerid_policy"),
    (edit(["tenants", 0, "transfer"], "blind"), "tenants[0].transfer"),
    (edit(["tenants", 0, "max_cps"], -1), "tenants[0].max_cps"),
    (edit(["tenants", 0, "max_minutes_24h"], 10**12), "tenants[0].max_minutes_24h"),
    (edit(["tenants", 0, "media_timeout"], 90000), "tenants[0].media_timeout"),
    (edit(["tenants", 0, "allowed_countries"], "GB,XX"), "tenants[0].allowed_countries"),
    (edit(["tenants", 0, "denied_prefixes"], "1900"), "tenants[0].denied_prefixes"),
    (edit(["tenants", 0, "number_types"], "cheap"), "tenants[0].number_types"),
    (edit(["dids", 0, "did"], 12125550199), "dids[0].did"),  # unquoted in YAML: a number
    (edit(["dids", 0, "did"], "2125550199"), "dids[0].did"),
    (edit(["dids", 0, "tenant"], "acmee"), "dids[0].tenant"),
    (edit(["dids", 1, "group"], None), "dids[1].group"),  # no target left
    (edit(["dids", 1, "group"], 77), "dids"),  # a set with no gateway
    (edit(["dids", 2, "uri"], "http://x"), "dids[2].uri"),
    (edit(["dids", 2, "did"], "+14155550101"), "dids[2]"),  # twice
    (edit(["acl", 0, "ip"], "127.0.4.1"), "acl[0].ip"),  # host bits set for a /24
    (edit(["acl", 0, "group"], 5), "acl[0].group"),
    (edit(["acl", 0, "port"], 70000), "acl[0].port"),
    (edit(["acl", 1, "tag"], "nobody"), "acl[1].dedicated"),
    (edit(["acl", 0, "dedicated"], True), "acl[0].dedicated"),
    (edit(["accounts", 0, "tenant"], "nobody"), "accounts[0].tenant"),
    (edit(["accounts", 0, "ha1"], "secret"), "accounts[0].ha1"),
    (edit(["accounts", 0, "ha1"], ...), "accounts[0].ha1"),  # none kept either
    (edit(["accounts", 0, "username"], 'a"b'), "accounts[0].username"),
    (edit(["credentials", 0, "ha1"], ...), "credentials[0].ha1"),
    (edit(["credentials", 1, "password"], ""), "credentials[1].password"),
    (edit(["credentials", 1, "host"], "gw_1.example"), "credentials[1].host"),
    (edit(["registrations", 0, "name"], "4420"), "registrations[0].name"),  # a number: taken for a DID
    (edit(["registrations", 0, "name"], 7), "registrations[0].name"),
    (edit(["registrations", 1, "name"], "carrier-trunk"), "registrations[1]"),  # twice
    (edit(["registrations", 0, "registrar"], "127.0.4.9"), "registrations[0].registrar"),
    (edit(["registrations", 0, "registrar"], "sip:127.0.4.9;transport=tls"), "registrations[0].registrar"),
    (edit(["registrations", 0, "expires"], 30), "registrations[0].expires"),
    (edit(["registrations", 0, "ha1"], "xyz"), "registrations[0].ha1"),
    (edit(["registrations", 0, "ha1"], ...), "registrations[0].ha1"),  # none kept either
    (edit(["registrations", 1, "password"], ...), "registrations[1].password"),
    (edit(["registrations", 1, "domain"], "a b"), "registrations[1].domain"),
    (edit(["registrations", 1, "carrier"], "no"), "registrations[1].carrier"),
    (edit(["registrations", 1, "socket"], "udp:127.0.9.9:5060"), "registrations[1].socket"),  # not the operator's
])
def test_each_bad_field_is_named_by_its_place(change, where):
    doc = document()
    change(doc)
    if where == "gateways[2]":  # the same URI in another set is allowed: two sets may share a gateway
        configdoc.plan(doc, SETTINGS, {}, {})
        return
    with pytest.raises(configdoc.DocumentError) as err:
        configdoc.plan(doc, SETTINGS, {}, {})
    assert err.value.field == where and str(err.value).startswith(f"{where}: "), str(err.value)


def test_a_did_without_a_gateway_is_imported_when_forced():
    doc = document()
    doc["dids"][1]["group"] = 77
    plan = configdoc.plan(doc, SETTINGS, {}, {}, force=True)
    assert plan.rows["dids"][1]["gateway_group"] == 77


@pytest.mark.parametrize("seed", range(200))
def test_generated_documents_either_pass_whole_or_fail_naming_a_field(seed):
    """Random edits of a valid document (types swapped, fields dropped, values from other fields): never
    any exception but DocumentError, whose field is a place in the document."""
    import random

    rnd = random.Random(seed)
    doc = document()
    values = [None, "", 0, -1, 10**9, True, "x" * 300, "+1", "sip:127.0.3.9", [1], {"a": 1}, "127.0.4.0", 24]
    for _ in range(rnd.randint(1, 4)):
        section = rnd.choice(configdoc.SECTIONS)
        if not doc[section]:
            continue
        item = rnd.choice(doc[section])
        name = rnd.choice(sorted(item))
        if rnd.random() < 0.2:
            del item[name]
        else:
            item[name] = rnd.choice(values)
    before = copy.deepcopy(doc)
    try:
        configdoc.plan(doc, SETTINGS, {}, {})
    except configdoc.DocumentError as exc:
        section = exc.field.split("[")[0].split(".")[0]
        assert section in (*configdoc.SECTIONS, "version", "document"), exc.field
    assert doc == before  # checking never edits the document


def test_a_tenant_requiring_a_verified_caller_id_needs_an_sbc_that_verifies():
    doc = configdoc.to_document(TABLES, secrets=True)
    with pytest.raises(configdoc.DocumentError) as refused:
        configdoc.plan(doc, settings.load({"CARRIER_GROUP": "10"}), {}, {})
    assert refused.value.field == "tenants[0].stir_required"
