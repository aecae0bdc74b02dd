"""sbcctl against the real MariaDB and the running SBC: changes take effect at once, bad input is
refused with the field named, exit code 2 and nothing written."""

import json
import re

import pytest
import yaml

from testkit.harness import run_uac, send_request, start_peers, stop_peers


def counts(sbc) -> str:
    return sbc.db.query("SELECT (SELECT COUNT(*) FROM dispatcher), (SELECT COUNT(*) FROM did_routing), "
                        "(SELECT COUNT(*) FROM address), (SELECT COUNT(*) FROM gateway_account), "
                        "(SELECT GROUP_CONCAT(CONCAT_WS('/', name, max_calls, max_cps, max_duration, "
                        "allowed_countries, allowed_prefixes, denied_prefixes, number_types)) FROM tenant)",
                        sbc.settings.db_name, header=False).strip()


def gateway_id(sbcctl, uri: str) -> int:
    rows = json.loads(sbcctl("--json", "gateway", "list", "--group", "7").stdout)
    return next(row["id"] for row in rows if row["uri"] == uri)


def test_added_gateway_takes_the_next_call_and_a_disabled_one_is_skipped(quiet_sbc, sbcctl, work):
    first, second = "sip:127.0.3.40:5060", "sip:127.0.3.41:5060"
    try:
        assert sbcctl("gateway", "add", "--uri", first, "--group", "7", "--description", "cli test").returncode == 0
        assert sbcctl("did", "add", "+14155550707", "--group", "7").returncode == 0
        peers = start_peers(work, quiet_sbc, ["127.0.3.40", "127.0.3.41"], args=())
        uac = run_uac(work, "first", "127.0.1.1:5060", "+14155550707", "127.0.4.2")
        assert uac.wait(30) == 0, uac.log()
        assert len(peers["127.0.3.40"].received("INVITE")) == 1
        assert sbcctl("gateway", "add", "--uri", second, "--group", "7").returncode == 0
        changed = sbcctl("gateway", "set", str(gateway_id(sbcctl, second)), "--weight", "80", "--description", "set",
                         "--json")
        assert changed.returncode == 0, changed.stderr
        assert [(r["attrs"], r["description"]) for r in json.loads(changed.stdout)] == [("weight=80", "set")]
        done = sbcctl("gateway", "disable", str(gateway_id(sbcctl, first)))
        assert done.returncode == 0, done.stderr
        uac = run_uac(work, "after", "127.0.1.1:5060", "+14155550707", "127.0.4.2", calls=4, rate=10)
        assert uac.wait(30) == 0, uac.log()
        stop_peers(peers)
        assert len(peers["127.0.3.40"].received("INVITE")) == 1  # disabled: skipped
        assert len(peers["127.0.3.41"].received("INVITE")) == 4
    finally:
        for uri in (first, second):
            rows = json.loads(sbcctl("--json", "gateway", "list", "--group", "7").stdout or "[]")
            for row in rows:
                if row["uri"] == uri:
                    sbcctl("gateway", "remove", str(row["id"]))
        sbcctl("did", "remove", "+14155550707")


@pytest.mark.parametrize("args,field", [
    (["gateway", "add", "--uri", "http://127.0.3.40", "--group", "7"], "uri"),
    (["gateway", "add", "--uri", "sip:127.0.3.40?Route=x", "--group", "7"], "uri"),
    (["gateway", "add", "--uri", "sip:127.0.3.40", "--group", "0"], "group"),
    (["gateway", "add", "--uri", "sip:127.0.3.40", "--group", "7", "--weight", "101"], "weight"),
    (["gateway", "add", "--uri", "sip:127.0.3.40", "--group", "7", "--priority", "-1"], "priority"),
    (["gateway", "add", "--uri", "sip:127.0.3.40", "--group", "7", "--carrier"], "group"),
    (["gateway", "add", "--uri", "sip:gw.tls.test;transport=tls", "--group", "7"], "group"),
    (["gateway", "disable", "99999"], "id"),
    (["gateway", "add", "--uri", "sip:127.0.3.1:5060", "--group", "1"], "uri"),  # the demo's VAPI row, again
    (["gateway", "add", "--uri", "sip:127.0.3.40;transport=tpc", "--group", "7"], "uri"),
    (["gateway", "add", "--uri", "sip:127.0.3.40:65536", "--group", "7"], "uri"),
    (["gateway", "set", "1", "--weight", "101"], "weight"),
    (["gateway", "set", "99999", "--weight", "1"], "id"),
    (["gateway", "set", "1"], "set"),
    (["gateway", "remove", "1"], "id"),  # set 1's only gateway: GATEWAY_GROUPS and DIDs send calls there
    (["gateway", "disable", "4"], "id"),  # the backup set's only one
    (["account", "disable", "nobody"], "username"),
    (["did", "add", "4155550707", "--group", "7"], "did"),
    (["did", "add", "+14155550101", "--group", "7"], "did"),  # exists
    (["did", "add", "+14155550708"], "group"),
    (["did", "add", "+14155550708", "--uri", "sip:a b"], "uri"),
    (["did", "remove", "+19995550000"], "did"),
    (["acl", "add", "127.0.0.300", "--group", "1"], "ip"),
    (["acl", "add", "127.0.9.0/33", "--group", "1"], "ip"),
    (["acl", "add", "127.0.9.1", "--group", "5"], "group"),
    (["acl", "remove", "99999"], "id"),
    (["acl", "add", "127.0.4.0/24", "--group", "1"], "ip"),  # the demo's carrier row, again
    (["acl", "remove", "1"], "id"),  # the only carrier row: the carriers' calls need it
    (["acl", "add", "127.0.9.1", "--group", "2", "--dedicated"], "dedicated"),  # dedicated to nobody
    (["acl", "add", "127.0.9.1", "--group", "2", "--tag", "nobody", "--dedicated"], "tag"),
    (["acl", "dedicate", "99999"], "id"),
    (["acl", "dedicate", "1"], "id"),  # the demo's carrier row: not a gateway's
    (["account", "set", "vapi-x", "--tenant", "acme", "--password", "short-pass"], "password"),
    (["account", "set", "vapi-x", "--tenant", "nobody"], "tenant"),
    (["tenant", "set", "acme", "--countries", "GB,XX"], "allowed_countries"),
    (["tenant", "set", "acme", "--allow-prefixes", "4420"], "allowed_prefixes"),
    (["tenant", "set", "acme", "--deny-prefixes", "+1900x"], "denied_prefixes"),
    (["tenant", "set", "acme", "--types", "mobile,cheap"], "number_types"),
    (["tenant", "set", "acme", "--max-cps", "-1"], "max_cps"),
    (["tenant", "set", "acme", "--max-calls", "5", "--types", "cheap"], "number_types"),  # nothing half-applied
    (["did", "add", "+14155550708", "--tenant", "acmee"], "tenant"),  # no such tenant
    (["did", "add", "+14155550708", "--tenant", "fabriq"], "tenant"),  # disabled
    (["did", "add", "+14155550708", "--group", "77"], "group"),  # no gateway in that set
    (["did", "set", "+14155550101", "--group", "0"], "group"),  # no target left
    (["did", "set", "+14155550101", "--tenant", "acmee"], "tenant"),
    (["did", "set", "+19995550000", "--group", "1"], "did"),
    (["tenant", "add", "acme", "--group", "26"], "name"),  # exists
    (["tenant", "add", "bad name", "--group", "26"], "name"),
    (["tenant", "add", "new-tenant", "--group", "21"], "group"),  # livekit-primary's
    (["tenant", "add", "new-tenant", "--group", "10"], "group"),  # the carriers'
    (["tenant", "add", "new-tenant", "--group", "26", "--callerid-policy", "replace"], "default_did"),
    (["tenant", "add", "new-tenant", "--group", "26", "--default-did", "2125550199"], "default_did"),
    (["tenant", "add", "new-tenant", "--group", "26", "--max-cps", "-1"], "max_cps"),
    (["tenant", "set", "acme", "--default-did", ""], "default_did"),  # acme replaces caller IDs
    (["tenant", "set", "acme", "--callerid-policy", "maybe"], "callerid_policy"),
    (["tenant", "set", "nobody", "--max-calls", "0"], "name"),
    (["tenant", "remove", "acme"], "name"),  # its DID and its ACL row name it
    (["tenant", "disable", "nobody"], "name"),
    (["cdr", "--limit", "0"], "limit"),
    (["cdr", "--did", "4155550101"], "did"),
])
def test_bad_input_names_the_field_exits_2_and_writes_nothing(quiet_sbc, sbcctl, args, field):
    before = counts(quiet_sbc)
    done = sbcctl(*args)
    assert done.returncode == 2, done.stdout + done.stderr
    assert f"sbcctl: {field}:" in done.stderr
    assert counts(quiet_sbc) == before


def test_a_tenant_is_onboarded_changed_and_removed_with_sbcctl_alone(quiet_sbc, sbcctl, work):
    """No SQL: the tenant, its gateway and its DID from sbcctl; each change reaches the next call."""
    did, uri, name = "+14155550727", "sip:127.0.3.43:5060", "cli-tenant"
    try:
        added = sbcctl("gateway", "add", "--uri", uri, "--group", "27")
        assert added.returncode == 0, added.stderr
        added = sbcctl("tenant", "add", name, "--group", "27", "--max-calls", "3", "--max-cps", "5",
                       "--callerid-policy", "replace", "--default-did", "+14155550727")
        assert added.returncode == 0 and re.fullmatch(rf"added tenant {name} \(id \d+\)\n", added.stdout), added
        added = sbcctl("did", "add", did, "--tenant", name, "--json")
        assert added.returncode == 0 and json.loads(added.stdout)[0]["did"] == did, added
        [row] = [t for t in json.loads(sbcctl("tenant", "list", "--json").stdout) if t["name"] == name]
        assert (row["gateway_group"], row["max_calls"], row["max_cps"], row["callerid_policy"], row["enabled"]) == (
            27, 3, 5, "replace", 1)

        peers = start_peers(work, quiet_sbc, ["127.0.3.43", "127.0.3.1"])
        try:
            uac = run_uac(work, "tenant-call", "127.0.1.1:5060", did, "127.0.4.2")
            assert uac.wait(30) == 0, uac.log()
            removed = sbcctl("tenant", "remove", name)
            assert removed.returncode == 2 and f"DID {did}" in removed.stderr, removed
            assert sbcctl("tenant", "disable", name).returncode == 0
            disabled = send_request("127.0.4.2", ("127.0.1.1", 5060), ruser=did[1:])
            assert sbcctl("tenant", "enable", name).returncode == 0
            changed = sbcctl("did", "set", did, "--group", "1", "--tenant", "")
            assert changed.returncode == 0, changed.stderr
            moved = run_uac(work, "moved", "127.0.1.1:5060", did, "127.0.4.2")
            assert moved.wait(30) == 0, moved.log()
        finally:
            stop_peers(peers)
        assert disabled == 403
        assert [m.request_uri for m in peers["127.0.3.43"].received("INVITE")] == [f"sip:{did}@127.0.3.43:5060"]
        assert len(peers["127.0.3.1"].received("INVITE")) == 1
        removed = sbcctl("tenant", "remove", name)
        assert removed.returncode == 0 and removed.stdout == f"removed tenant {name}\n", removed
        assert name not in sbcctl("tenant", "list").stdout
    finally:
        sbcctl("did", "remove", did)
        sbcctl("tenant", "remove", name, "--force")
        for row in json.loads(sbcctl("--json", "gateway", "list", "--group", "27").stdout or "[]"):
            sbcctl("gateway", "remove", str(row["id"]))


def test_acl_round_trip_and_json_listing(quiet_sbc, sbcctl):
    assert sbcctl("acl", "add", "127.0.8.0/24", "--group", "1", "--tag", "carrier C").returncode == 0
    rows = json.loads(sbcctl("--json", "acl", "list").stdout)
    [added] = [r for r in rows if r["ip_addr"] == "127.0.8.0"]
    assert (added["group"], added["mask"], added["tag"]) == (1, 24, "carrier C")
    assert "127.0.8.0" in quiet_sbc.kamailio.rpc("permissions.subnetDump")
    assert sbcctl("acl", "remove", str(added["id"])).returncode == 0
    assert "127.0.8.0" not in quiet_sbc.kamailio.rpc("permissions.subnetDump")
    assert sbcctl("reload").returncode == 0


def test_a_generated_account_password_is_printed_once_and_authenticates(quiet_sbc, sbcctl, work):
    done = sbcctl("account", "set", "vapi-generated", "--tenant", "acme")
    try:
        assert done.returncode == 0, done.stderr
        password = re.search(r"password: (\S+)", done.stdout).group(1)
        assert len(password) >= 24
        assert password not in sbcctl("--json", "account", "list").stdout
        peers = start_peers(work, quiet_sbc, ["127.0.4.1"])
        try:
            gw = run_uac(work, "generated", "127.0.2.1:5060", "+12125550100", "127.0.3.50", duration_ms=200,
                         scenario="uac_call_auth.xml", extra=("-au", "vapi-generated", "-ap", password))
            assert gw.wait(30) == 0, gw.log()
            assert sbcctl("account", "disable", "vapi-generated").returncode == 0
            refused = run_uac(work, "disabled", "127.0.2.1:5060", "+12125550100", "127.0.3.50", duration_ms=200,
                              scenario="uac_call_auth.xml", extra=("-au", "vapi-generated", "-ap", password))
            assert refused.wait(30) != 0, refused.log()
        finally:
            stop_peers(peers)
    finally:
        sbcctl("account", "remove", "vapi-generated")
    assert len(peers["127.0.4.1"].received("INVITE")) == 1


def test_check_names_what_leaves_a_path_to_the_carrier_open(quiet_sbc, sbcctl):
    """The demo data is closed (exit 0); a platform gateway's address dedicated to a tenant opens one."""
    assert sbcctl("check").returncode == 0, sbcctl("check").stdout
    added = sbcctl("acl", "add", "127.0.3.1", "--group", "2", "--tag", "acme", "--dedicated")
    row = re.search(r"ACL entry (\d+)", added.stdout).group(1)
    try:
        done = sbcctl("--json", "check")
    finally:
        sbcctl("acl", "remove", row)
    assert done.returncode == 1
    found = [f for f in json.loads(done.stdout) if f["open"] == "OPEN"]
    assert len(found) == 1 and "127.0.3.1, a shared platform gateway" in found[0]["what"], found
    assert found[0]["fix"].startswith(f"sbcctl acl share {row}")


@pytest.mark.parametrize("args", [
    ["did", "add", "+14155550709", "--group", "1"],
    ["gateway", "add", "--uri", "sip:127.0.3.42:5060", "--group", "7"],
    ["acl", "add", "127.0.8.0/24", "--group", "1"],
])
def test_a_change_kamailio_cannot_take_is_not_written(quiet_sbc, sbcctl, args):
    """A control socket that does not answer (wrong run directory, Kamailio down, no permission): exit 1
    before the DB is touched, rather than a row that no running SBC knows about."""
    before = counts(quiet_sbc)
    done = sbcctl("--run-dir", "/nonexistent", *args)
    assert done.returncode == 1, done.stdout + done.stderr
    assert "nothing written" in done.stderr
    assert counts(quiet_sbc) == before


def test_the_whole_configuration_exported_reviewed_and_imported_back(quiet_sbc, sbcctl, work):
    """export -> edit -> import: checked whole (a bad field: exit 2, nothing written), written in one
    transaction and reloaded: the next call takes the new DID; the original is imported back unchanged."""
    assert sbcctl("account", "set", "vapi-export", "--tenant", "acme").returncode == 0
    exported = sbcctl("export")
    assert exported.returncode == 0, exported.stderr
    original = yaml.safe_load(exported.stdout)
    assert {len(original[s]) > 0 for s in ("gateways", "tenants", "dids", "acl", "accounts")} == {True}, original
    assert all("ha1" not in a for a in original["accounts"])  # secrets only with --secrets
    same = sbcctl("import", "-", "--dry-run", "--json", stdin=exported.stdout)
    assert same.returncode == 0, same.stderr
    assert {k: v["added"] + v["removed"] + v["changed"] for k, v in json.loads(same.stdout)["changes"].items()} == {
        s: 0 for s in ("gateways", "tenants", "dids", "acl", "accounts", "credentials", "registrations")}

    edited = json.loads(json.dumps(original))
    edited["dids"] = sorted([*edited["dids"], {"did": "+14155550747", "group": 1, "uri": None, "tenant": "",
                                                "enabled": True, "description": "imported"}], key=lambda d: d["did"])
    next(t for t in edited["tenants"] if t["name"] == "voxket")["max_calls"] = 7
    bad = json.loads(json.dumps(edited))
    added = next(i for i, d in enumerate(bad["dids"]) if d["did"] == "+14155550747")
    bad["dids"][added]["tenant"] = "acmee"
    before = counts(quiet_sbc)
    refused = sbcctl("import", "-", stdin=yaml.safe_dump(bad))
    assert refused.returncode == 2 and f"dids[{added}].tenant:" in refused.stderr, refused
    assert counts(quiet_sbc) == before
    try:
        done = sbcctl("import", "-", stdin=yaml.safe_dump(edited))
        assert done.returncode == 0, done.stdout + done.stderr
        assert "dids: 1 added, 0 removed, 0 changed" in done.stdout and "tenants: 0 added, 0 removed, 1 changed" \
            in done.stdout, done.stdout
        assert "secrets kept from the DB: accounts[0]" in done.stdout
        peers = start_peers(work, quiet_sbc, ["127.0.3.1"])
        try:
            uac = run_uac(work, "imported", "127.0.1.1:5060", "+14155550747", "127.0.4.2")
            assert uac.wait(30) == 0, uac.log()
        finally:
            stop_peers(peers)
        assert [m.request_uri for m in peers["127.0.3.1"].received("INVITE")] == ["sip:+14155550747@127.0.3.1:5060"]
        again = yaml.safe_load(sbcctl("export").stdout)
        assert again == edited
    finally:
        back = sbcctl("import", "-", stdin=exported.stdout)
        sbcctl("account", "remove", "vapi-export")
        assert back.returncode == 0, back.stdout + back.stderr
    assert yaml.safe_load(sbcctl("export").stdout) == {**original, "accounts": [
        a for a in original["accounts"] if a["username"] != "vapi-export"]}
