"""sbcctl against the real MariaDB and the running SBC: changes take effect at once, bad input is
refused with the field named, exit code 2 and nothing written."""

import json

import pytest

from .harness import run_uac, start_peers, stop_peers


def counts(sbc) -> str:
    return sbc.db.query("SELECT (SELECT COUNT(*) FROM dispatcher), (SELECT COUNT(*) FROM did_routing), "
                        "(SELECT COUNT(*) FROM address)", sbc.settings.db_name, header=False).strip()


def gateway_id(sbcctl, uri: str) -> int:
    rows = json.loads(sbcctl("--json", "gateway", "list", "--group", "7").stdout)
    return next(row["id"] for row in rows if row["uri"] == uri)


def test_added_gateway_takes_the_next_call_and_a_disabled_one_is_skipped(quiet_sbc, sbcctl, work):
    first, second = "sip:127.0.3.40:5060", "sip:127.0.3.41:5060"
    try:
        assert sbcctl("did", "add", "+14155550707", "--group", "7").returncode == 0
        assert sbcctl("gateway", "add", "--uri", first, "--group", "7", "--description", "cli test").returncode == 0
        peers = start_peers(work, quiet_sbc, ["127.0.3.40", "127.0.3.41"], args=())
        uac = run_uac(work, "first", "127.0.1.1:5060", "+14155550707", "127.0.4.2")
        assert uac.wait(30) == 0, uac.log()
        assert len(peers["127.0.3.40"].received("INVITE")) == 1
        assert sbcctl("gateway", "add", "--uri", second, "--group", "7").returncode == 0
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
    (["did", "add", "4155550707", "--group", "7"], "did"),
    (["did", "add", "+14155550101", "--group", "7"], "did"),  # exists
    (["did", "add", "+14155550708"], "group"),
    (["did", "add", "+14155550708", "--uri", "sip:a b"], "uri"),
    (["did", "remove", "+19995550000"], "did"),
    (["acl", "add", "127.0.0.300", "--group", "1"], "ip"),
    (["acl", "add", "127.0.9.0/33", "--group", "1"], "ip"),
    (["acl", "add", "127.0.9.1", "--group", "5"], "group"),
    (["acl", "remove", "99999"], "id"),
    (["cdr", "--limit", "0"], "limit"),
    (["cdr", "--did", "4155550101"], "did"),
])
def test_bad_input_names_the_field_exits_2_and_writes_nothing(quiet_sbc, sbcctl, args, field):
    before = counts(quiet_sbc)
    done = sbcctl(*args)
    assert done.returncode == 2, done.stdout + done.stderr
    assert f"sbcctl: {field}:" in done.stderr
    assert counts(quiet_sbc) == before


def test_acl_round_trip_and_json_listing(quiet_sbc, sbcctl):
    assert sbcctl("acl", "add", "127.0.8.0/24", "--group", "1", "--tag", "carrier C").returncode == 0
    rows = json.loads(sbcctl("--json", "acl", "list").stdout)
    [added] = [r for r in rows if r["ip_addr"] == "127.0.8.0"]
    assert (added["group"], added["mask"], added["tag"]) == (1, 24, "carrier C")
    assert "127.0.8.0" in quiet_sbc.kamailio.rpc("permissions.subnetDump")
    assert sbcctl("acl", "remove", str(added["id"])).returncode == 0
    assert "127.0.8.0" not in quiet_sbc.kamailio.rpc("permissions.subnetDump")
    assert sbcctl("reload").returncode == 0


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
