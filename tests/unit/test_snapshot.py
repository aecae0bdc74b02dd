"""The snapshot of the last known configuration: db_text encoding both ways (generated hostile values),
the timer's outcomes, and the DID/tenant/account/credential lookups it answers when MariaDB does not."""

import datetime
import decimal
import os

import pymysql
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sbclib import snapshot
from sbclib.didcache import DidRoute, DidSourceError
from sbclib.diddb import Account, Credential, DidDatabase
from sbclib.settings import load
from sbclib.snapshot import Keeper, Snapshot, SnapshotError, decode, encode
from sbclib.tenancy import Tenant

S = load({"DB_RETRY_AFTER": "5"})


# ---- the format ------------------------------------------------------------------------------------

def test_values_are_escaped_as_db_text_reads_them_and_null_is_an_empty_field():
    noon = datetime.datetime(2026, 1, 1, 12)
    text = encode([("id", "int"), ("destination", "str"), ("attrs", "str"), ("at", "time"), ("q", "double")],
                  [(1, "sip:127.0.3.1:5060;transport=tcp", None, noon, decimal.Decimal("1.5")),
                   (2, "a\\b\nc\td\re\0f", "", None, 0.25)])
    header, first, second, end = text.split("\n")
    assert header == "id(int,null) destination(str,null) attrs(str,null) at(time,null) q(double,null)"
    assert first == f"1:sip\\:127.0.3.1\\:5060;transport=tcp::{int(noon.timestamp())}:1.5"
    assert second == "2:a\\\\b\\nc\\td\\re\\0f:::0.25" and end == ""


text_values = st.one_of(st.none(), st.text(min_size=1, max_size=40), st.integers(-2**63, 2**63 - 1))


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(text_values, text_values, text_values), max_size=8))
def test_what_is_written_reads_back_the_same(rows):
    _, back = decode(encode([("a", "str"), ("b", "str"), ("c", "str")], rows))
    assert [tuple(r.values()) for r in back] == [tuple(None if v is None else str(v) for v in row) for row in rows]


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=200))
def test_a_damaged_file_is_a_snapshot_error_or_rows_never_a_crash(text):
    try:
        names, rows = decode(text)
    except SnapshotError:
        return
    assert all(set(row) == set(names) for row in rows)


@pytest.mark.parametrize("text", ["", "did(str)\n+1:extra:fields\n", "no header here\n1\n", "a(str)\nends in \\"])
def test_damaged_files_named_as_such(text):
    with pytest.raises(SnapshotError):
        decode(text)


# ---- the timer -------------------------------------------------------------------------------------

class FakeCursor:
    def __init__(self, conn):
        self.conn, self.description, self._rows = conn, None, []

    def __enter__(self):
        return self

    def __exit__(self, *a):
        return False

    def execute(self, sql, args=None):
        self.conn.executed.append(sql)
        if self.conn.fail_on and self.conn.fail_on in sql:
            raise pymysql.err.OperationalError(2013, "Lost connection")
        if sql.startswith("CHECKSUM"):
            self._rows = [(f"kamailio.{t}", self.conn.sums.get(t, 1)) for t in snapshot.CONFIG_TABLES]
            return
        table = sql.split("`")[1]
        long_, string = pymysql.constants.FIELD_TYPE.LONG, pymysql.constants.FIELD_TYPE.VAR_STRING
        self.description = [("id", long_), ("name", string)]
        self._rows = [] if "LIMIT 0" in sql else [(1, f"{table}:row")]

    def fetchall(self):
        return self._rows


class FakeConn:
    def __init__(self):
        self.executed, self.closed, self.fail_on, self.sums = [], 0, None, {}

    def cursor(self):
        return FakeCursor(self)

    def close(self):
        self.closed += 1


def keeper(tmp_path, conn=None, refuse=False):
    told = []

    def connect():
        if refuse:
            raise pymysql.err.OperationalError(2003, "Can't connect")
        return conn
    return Keeper(tmp_path / "snap", connect, lambda outcome, detail="": told.append(outcome)), told


def test_a_change_is_written_once_every_table_whole_then_nothing_until_the_next_change(tmp_path):
    conn = FakeConn()
    keep, told = keeper(tmp_path, conn)
    assert keep.check() == "written"
    files = sorted(p.name for p in (tmp_path / "snap").iterdir())
    assert files == sorted([*snapshot.CONFIG_TABLES, *snapshot.EMPTY_TABLES, snapshot.CHECKSUM_FILE])
    assert decode((tmp_path / "snap" / "tenant").read_text())[1] == [{"id": "1", "name": "tenant:row"}]
    assert decode((tmp_path / "snap" / "dialog").read_text())[1] == []  # never a stale call
    assert oct((tmp_path / "snap" / "peer_credential").stat().st_mode & 0o777) == "0o600"
    assert keep.check() == "unchanged" and len(conn.executed) == 1 + len(files) - 1 + 1  # one CHECKSUM more
    conn.sums["did_routing"] = 2
    assert keep.check() == "written"
    assert told == ["written", "unchanged", "written"] and conn.closed == 3


def test_db_down_or_a_failed_read_leaves_the_last_snapshot_as_it_was(tmp_path):
    conn = FakeConn()
    keep, told = keeper(tmp_path, conn)
    keep.check()
    before = {p.name: p.read_text() for p in (tmp_path / "snap").iterdir()}
    conn.sums["address"], conn.fail_on = 5, "`tenant`"
    assert keep.check() == "failed"
    down, told_down = keeper(tmp_path, refuse=True)
    assert down.check() == "db down" and told_down == ["db down"]
    assert {p.name: p.read_text() for p in (tmp_path / "snap").iterdir()} == before
    conn.fail_on = None
    assert keep.check() == "written"  # the checksum was not advanced by the failed write


# ---- lookups while MariaDB does not answer ------------------------------------------------------------

def write_tables(directory, **tables):
    directory.mkdir(exist_ok=True)
    for name, (columns, rows) in tables.items():
        (directory / name).write_text(encode([(c, "str") for c in columns], rows))


@pytest.fixture
def snap(tmp_path):
    write_tables(
        tmp_path,
        did_routing=(("id", "did", "gateway_group", "gateway_uri", "tenant", "enabled"),
                     [(1, "+14155550101", 1, None, None, 1), (2, "+14155550102", 2, None, "acme", 0),
                      (3, "+14155550103", None, "sip:gw.example:5061;transport=tls", "acme", 1)]),
        tenant=(("id", "name", "enabled", "gateway_group", "allow_backup", "max_calls", "max_cps", "callerid_policy",
                 "default_did", "media_timeout", "media_keepalive", "transfer"),
                [(1, "acme", 1, 21, 1, 5, 2, "replace", "+14155550103", None, 1, "relay"),
                 (2, "off", 0, 22, 0, 0, 0, "reject", None, 0, 0, "refuse")]),
        gateway_account=(("username", "ha1", "tenant", "enabled"), [("vapi-acme", "a" * 32, "acme", 1),
                                                                    ("old", "b" * 32, "", 0)]),
        peer_credential=(("host", "username", "realm", "ha1", "password"), [("lk.example", "sbc", None, None, "p:w")]),
    )
    return tmp_path


def down_db(snapshot_dir, told):
    def refuse(**kw):
        raise pymysql.err.OperationalError(2003, "Can't connect")
    return DidDatabase(S, connect=refuse, snapshot=Snapshot(snapshot_dir) if snapshot_dir else None,
                       on_snapshot=lambda: told.append("read"))


def test_lookups_are_answered_from_the_snapshot_as_the_queries_would(snap):
    told = []
    db = down_db(snap, told)
    assert db("+14155550101") == DidRoute("+14155550101", 1, None, "")
    assert db("+14155550102") is None  # disabled
    assert db("+14155550103") == DidRoute("+14155550103", None, "sip:gw.example:5061;transport=tls", "acme")
    # a snapshot written before the destination columns existed: the defaults; home from its enabled DIDs
    assert db.tenant("acme") == Tenant("acme", True, 21, True, 5, 2, "replace", "+14155550103", None, True, "relay",
                                       home=frozenset({"US"}))
    assert db.tenant("off") == Tenant("off", False, 22, False, 0, 0, "reject", None, 0, False, "refuse",
                                      home=frozenset({"US"}))
    assert db.account("vapi-acme") == Account("vapi-acme", "a" * 32, "acme") and db.account("old") is None
    assert db.credential("lk.example") == Credential("lk.example", "sbc", None, None, "p:w")
    assert db("+19995550000") is None and db.tenant("ghost") is None
    assert told == ["read"] * 10


def test_without_a_readable_snapshot_the_db_failure_stands(snap):
    with pytest.raises(DidSourceError):
        down_db(None, [])("+14155550101")
    (snap / "did_routing").write_text("not a table\n")
    with pytest.raises(DidSourceError):
        down_db(snap, [])("+14155550101")
    os.remove(snap / "tenant")
    with pytest.raises(DidSourceError):
        down_db(snap, []).tenant("acme")


def test_a_rewritten_file_is_read_again(snap):
    found = Snapshot(snap)
    assert found.find("tenant", "name", "acme")["max_calls"] == "5"
    write_tables(snap, tenant=(("name", "max_calls"), [("acme", 9)]))
    stat = (snap / "tenant").stat()
    os.utime(snap / "tenant", (stat.st_atime, stat.st_mtime + 1))
    assert found.find("tenant", "name", "acme")["max_calls"] == "9"


def test_a_table_is_decoded_once_per_change_however_many_lookups(snap, monkeypatch):
    decoded = []
    real = snapshot.decode
    monkeypatch.setattr(snapshot, "decode", lambda text: decoded.append(1) or real(text))
    found = Snapshot(snap)
    assert [found.find("did_routing", "did", f"+1415555010{i}") is not None for i in range(1, 5)] == \
        [True, True, True, False]
    assert found.find("did_routing", "did", "+14155550102", enabled="1") is None  # there, but disabled
    assert len(decoded) == 1


def test_the_gateway_rows_come_from_the_snapshot_when_mariadb_is_down(tmp_path):
    write_tables(tmp_path, dispatcher=(("id", "setid", "destination", "flags"),
                                       [(1, 1, "sip:a.test;transport=tls", 4), (2, 2, "sip:b.test", 0),
                                        (3, 9, "sip:127.0.4.1:5060", 0)]))
    assert down_db(tmp_path, []).gateway_rows((1, 2)) == [(1, "sip:a.test;transport=tls", 4), (2, "sip:b.test", 0)]
    with pytest.raises(DidSourceError):
        down_db(None, []).gateway_rows((1, 2))
