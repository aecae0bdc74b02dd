import pymysql
import pytest

from sbclib import settings
from sbclib.destinations import CORRUPT, Policy
from sbclib.didcache import DidRoute, DidSourceError
from sbclib.diddb import DidDatabase
from sbclib.tenancy import Tenant

S = settings.load({"DB_RETRY_AFTER": "5"})


class Cursor:
    def __init__(self, conn):
        self.conn = conn

    def __enter__(self):
        return self

    def __exit__(self, *a):
        return False

    def execute(self, sql, args):
        if self.conn.fail:
            raise pymysql.err.OperationalError(2013, "Lost connection")
        self.conn.executed.append((sql, args))

    def fetchone(self):
        return self.conn.row


class Conn:
    def __init__(self, row=None):
        self.row, self.fail, self.closed, self.executed = row, False, False, []

    def cursor(self):
        return Cursor(self)

    def close(self):
        self.closed = True


class Connector:
    def __init__(self, row=("+14155550101", 2, None, "acme")):
        self.made, self.refuse, self.row = [], False, row

    def __call__(self, **kw):
        if self.refuse:
            raise pymysql.err.OperationalError(2003, "Can't connect")
        conn = Conn(self.row)
        self.made.append((kw, conn))
        return conn


class Clock:
    now = 0.0

    def __call__(self):
        return self.now


def test_query_is_parameterised_and_row_mapped():
    connect = Connector()
    db = DidDatabase(S, connect=connect)
    hostile = "+1'; DROP TABLE did_routing;--"
    assert db("+14155550101") == DidRoute("+14155550101", 2, None, "acme")
    db(hostile)
    conn = connect.made[0][1]
    assert [args for _, args in conn.executed] == [("+14155550101",), (hostile,)]
    assert all("%s" in sql for sql, _ in conn.executed)
    assert len(connect.made) == 1  # one connection per process, reused


@pytest.mark.parametrize("row,tenant", [
    (("acme", 1, 21, 0, 5, 2, "reject", None, None, 0, "refuse", "", "", "", "", 0, None, None, None, None, None, None),
     Tenant("acme", True, 21, False, 5, 2, "reject", home=frozenset({"US"}))),
    (("beta", 0, 22, 1, 0, 0, "replace", "+14155550301", 15, 1, "relay", "gb,FR", "+881", "+1900", "mobile,voip",
      600, 900, "diversion,X-Carrier-Ref", 1, 1, 1, "+442071838750,+14155550301"),
     Tenant("beta", False, 22, True, 0, 0, "replace", "+14155550301", 15, True, "relay",
            Policy(("GB", "FR"), ("+881",), ("+1900",), ("mobile", "voip")), 600, frozenset({"GB", "US"}), 900,
            ("diversion", "x-carrier-ref"), True, True, True)),
    # lists edited by hand into something sbcctl refuses: the tenant may call nothing until it is mended, and
    # none of the carrier's headers cross
    (("gamma", 1, 23, 0, 0, 0, "reject", None, None, 0, "refuse", "", "", "", "cheap", 0, 0, "via,contact", 0, 0, 0,
      "+33612345678"),
     Tenant("gamma", True, 23, destination_policy=CORRUPT, home=frozenset({"FR"}))),
])
def test_tenant_row_is_mapped_with_its_settings_and_home(row, tenant):
    db = DidDatabase(S, connect=Connector(row))
    assert db.tenant(tenant.name) == tenant


def test_connection_uses_the_settings_and_short_timeouts():
    connect = Connector()
    DidDatabase(S, connect=connect)("+1")
    kw = connect.made[0][0]
    assert (kw["host"], kw["port"], kw["user"], kw["database"]) == (S.db_host, S.db_port, S.db_user, S.db_name)
    assert kw["connect_timeout"] <= 2 and kw["read_timeout"] <= 2


def test_stale_connection_is_replaced_at_once_and_the_query_retried():
    connect = Connector()
    db = DidDatabase(S, connect=connect)
    db("+1")
    connect.made[0][1].fail = True  # e.g. the DB restarted since
    assert db("+1") is not None
    assert connect.made[0][1].closed and len(connect.made) == 2


def test_db_down_raises_source_error_then_reconnects_after_backoff():
    connect, clock = Connector(), Clock()
    db = DidDatabase(S, connect=connect, clock=clock)
    db("+1")
    connect.made[0][1].fail = True
    connect.refuse = True
    with pytest.raises(DidSourceError):
        db("+1")
    assert connect.made[0][1].closed
    connect.refuse = False
    with pytest.raises(DidSourceError):  # within the back-off: no new connection attempt
        db("+1")
    assert len(connect.made) == 1
    clock.now += 6
    assert db("+1") is not None
    assert len(connect.made) == 2


def test_refused_connection_is_a_source_error():
    connect = Connector()
    connect.refuse = True
    with pytest.raises(DidSourceError):
        DidDatabase(S, connect=connect)("+1")


def test_connection_from_before_a_fork_is_not_reused(monkeypatch):
    connect = Connector()
    db = DidDatabase(S, connect=connect)
    db("+1")
    monkeypatch.setattr("os.getpid", lambda: 999999)
    db("+1")
    assert len(connect.made) == 2


def test_the_gateway_rows_are_read_with_their_set_and_flags():
    connect = Connector()
    db = DidDatabase(S, connect=connect)
    Cursor.fetchall = lambda self: [(1, "sip:a.test;transport=tls", 4), (2, "sip:b.test", None)]
    try:
        assert db.gateway_rows((1, 2)) == [(1, "sip:a.test;transport=tls", 4), (2, "sip:b.test", 0)]
    finally:
        del Cursor.fetchall
    sql, args = connect.made[-1][1].executed[-1]
    assert "FROM dispatcher WHERE setid IN" in sql and args == ((1, 2),)
    assert connect.made[-1][1].closed
