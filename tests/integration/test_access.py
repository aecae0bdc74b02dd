"""OPTIONS keep-alives, the ACL, and routing changes taking effect without a restart."""

import subprocess

import pymysql
import pytest

from testkit.harness import run_uac, send_request, start_peers, stop_peers
from tests.integration.conftest import db


@pytest.mark.parametrize("interface", ["127.0.1.1", "127.0.2.1"])
def test_options_to_either_interface_gets_200_from_sipsak(quiet_sbc, interface):
    # From 127.0.0.1: the SBC host's own health checks are known sources, with or without an ACL row.
    done = subprocess.run(["sipsak", "-H", "127.0.0.1", "--local-ip", "127.0.0.1", "-s", f"sip:{interface}:5060"],
                          capture_output=True, text=True, timeout=20)
    assert done.returncode == 0, done.stdout + done.stderr


@pytest.mark.parametrize("interface,answer", [("127.0.1.1", 403), ("127.0.2.1", None)])
def test_options_from_a_stranger_get_403_privately_and_silence_publicly(quiet_sbc, interface, answer):
    assert send_request("127.0.9.7", (interface, 5060), method="OPTIONS", timeout=1.5) == answer


@pytest.mark.parametrize("src,dst,answer", [
    ("127.0.9.9", ("127.0.1.1", 5060), 403),   # stranger on the private side
    ("127.0.9.9", ("127.0.2.1", 5060), None),  # stranger on the public side: silence
    ("127.0.4.2", ("127.0.2.1", 5060), None),  # a carrier, but on the public socket
    ("127.0.3.1", ("127.0.1.1", 5060), 403),   # a gateway, but on the private socket
    ("127.0.0.1", ("127.0.1.1", 5060), 403),   # a health checker may not place calls
])
def test_requests_from_outside_the_acl_are_refused_and_reach_no_one(quiet_sbc, work, src, dst, answer):
    peers = start_peers(work, quiet_sbc, ["127.0.3.1", "127.0.3.2", "127.0.3.3", "127.0.3.9", "127.0.4.1"])
    try:
        assert send_request(src, dst, ruser="4155550101", timeout=1.5) == answer
        assert send_request(src, dst, ruser="+12125550100", timeout=1.5) == answer
    finally:
        stop_peers(peers)
    assert {ip: p.received() for ip, p in peers.items() if p.received()} == {}


def test_did_routing_change_and_reload_take_effect_without_restart(quiet_sbc, work, sbcctl):
    pid_before = quiet_sbc.kamailio.proc.pid
    gws = start_peers(work, quiet_sbc, ["127.0.3.1", "127.0.3.9"])

    def calls(name, n):
        uac = run_uac(work, name, "127.0.1.1:5060", "4155550101", "127.0.4.2", calls=n, rate=20,
                      limit=1, duration_ms=10)
        assert uac.wait(60) == 0, uac.log()
        return {ip: len(gw.received("INVITE")) for ip, gw in gws.items()}

    try:
        warm = calls("warm-up", 16)  # every SIP worker caches the DID's route
        db(quiet_sbc, "UPDATE did_routing SET gateway_group=3 WHERE did='+14155550101'")
        cached = calls("cached", 8)
        assert sbcctl("reload").returncode == 0
        reloaded = calls("reloaded", 8)
    finally:
        db(quiet_sbc, "UPDATE did_routing SET gateway_group=1 WHERE did='+14155550101'")
        sbcctl("reload")
        for gw in gws.values():
            gw.stop()
    assert warm == {"127.0.3.1": 16, "127.0.3.9": 0}
    # Without a reload the cache keeps serving the old route (no per-call DB query)...
    assert cached["127.0.3.1"] - warm["127.0.3.1"] >= 1, cached
    # ...`sbcctl reload` (new Python code and a new routing generation) puts the very next call on the
    # new row, whichever worker takes it.
    assert reloaded["127.0.3.9"] - cached["127.0.3.9"] == 8, reloaded
    assert quiet_sbc.kamailio.proc.pid == pid_before and quiet_sbc.dead() == []


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost"])
def test_mariadb_root_has_no_network_login(quiet_sbc, host):
    """Root logs in only through the local socket as the OS root user (unix_socket): with host networking
    any local process can reach TCP 3306, and root@127.0.0.1 once had an empty password there."""
    s = quiet_sbc.settings
    with pytest.raises(pymysql.err.OperationalError) as refused:
        pymysql.connect(host=host, port=s.db_port, user="root", password="", connect_timeout=3)
    assert refused.value.args[0] in (1045, 1698), refused.value.args  # access denied


def _as(settings, user: str, password: str):
    return pymysql.connect(host=settings.db_host, port=settings.db_port, user=user, password=password,
                           database=settings.db_name, connect_timeout=3, autocommit=True)


@pytest.mark.parametrize("statement", [
    "UPDATE address SET dedicated = 1",  # every source dedicated: the carrier opened to all
    "INSERT INTO gateway_account (username, ha1, tenant) VALUES ('x', 'y', 'acme')",
    "DELETE FROM tenant",
    "UPDATE sbc_cdr SET duration = 0",  # records are added, never rewritten
    "DELETE FROM sbc_cdr",
    "DROP TABLE did_routing",
])
def test_kamailios_db_user_cannot_change_who_may_call_or_what_was_recorded(quiet_sbc, statement):
    """Kamailio's DB user reads the configuration; a flaw in call handling cannot rewrite it (1142:
    command denied) while the calls of the suite go on writing their records with it."""
    s = quiet_sbc.settings
    with _as(s, s.db_user, s.db_password) as conn, conn.cursor() as cur:
        assert cur.execute("SELECT COUNT(*) FROM address") == 1
        with pytest.raises(pymysql.err.OperationalError) as denied:
            cur.execute(statement)
    assert denied.value.args[0] == 1142, denied.value.args


@pytest.mark.parametrize("statement", ["DROP TABLE sbc_cdr", "ALTER TABLE address ADD COLUMN x INT",
                                       "CREATE TABLE t (i INT)", "GRANT SELECT ON *.* TO 'kamailio'@'%'"])
def test_sbcctls_db_user_changes_rows_but_no_table(quiet_sbc, statement):
    s = quiet_sbc.settings
    with _as(s, s.sbcctl_db_user, s.sbcctl_db_password) as conn, conn.cursor() as cur:
        assert cur.execute("SELECT id FROM tenant") >= 1
        with pytest.raises((pymysql.err.OperationalError, pymysql.err.ProgrammingError)) as denied:
            cur.execute(statement)
    assert denied.value.args[0] in (1142, 1044, 1045), denied.value.args
