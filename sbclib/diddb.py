"""Reads of did_routing, tenant, peer_credential and gateway_account (and dispatcher's URIs, for the
gateway DNS timer): one pymysql connection per process; the last known configuration (sbclib.snapshot)
answers when MariaDB does not."""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pymysql

from sbclib import callcontext, destinations
from sbclib.didcache import DidRoute, DidSourceError
from sbclib.settings import Settings
from sbclib.snapshot import Snapshot, SnapshotError
from sbclib.tenancy import Tenant


@dataclass(frozen=True)
class Account:
    """A gateway account (kemi/access/accounts.py): its digest HA1, and the tenant its calls are."""

    username: str
    ha1: str
    tenant: str = ""


@dataclass(frozen=True)
class Credential:
    """What to answer a peer's challenge with (kemi/access/challenges.py): HA1 for a known realm, else the
    password."""

    host: str
    username: str
    realm: str = ""
    ha1: str = ""
    password: str = ""

_DID_QUERY = (
    "SELECT did, gateway_group, gateway_uri, tenant FROM did_routing "
    "WHERE did = %s AND enabled = 1 LIMIT 1"
)
_TENANT_COLUMNS = ("name", "enabled", "gateway_group", "allow_backup", "max_calls", "max_cps", "callerid_policy",
                   "default_did", "media_timeout", "media_keepalive", "transfer", "allowed_countries",
                   "allowed_prefixes", "denied_prefixes", "number_types", "max_duration", "max_minutes_24h",
                   "context_headers", "early_ringing", "stir_required", "ringback")
# Its DIDs come along: their countries are the tenant's home (what it may call by default).
_TENANT_QUERY = (
    f"SELECT {', '.join(_TENANT_COLUMNS)}, (SELECT GROUP_CONCAT(did) FROM did_routing d "
    "WHERE d.tenant = t.name AND d.enabled = 1) FROM tenant t WHERE name = %s LIMIT 1"
)
_ACCOUNT_QUERY = "SELECT username, ha1, tenant FROM gateway_account WHERE username = %s AND enabled = 1 LIMIT 1"
_CREDENTIAL_QUERY = "SELECT host, username, realm, ha1, password FROM peer_credential WHERE host = %s LIMIT 1"
# Each query as (table, key column, columns, only enabled rows), for the snapshot.
_FROM_SNAPSHOT = {
    _DID_QUERY: ("did_routing", "did", ("did", "gateway_group", "gateway_uri", "tenant"), True),
    _TENANT_QUERY: ("tenant", "name", _TENANT_COLUMNS, False),
    _ACCOUNT_QUERY: ("gateway_account", "username", ("username", "ha1", "tenant"), True),
    _CREDENTIAL_QUERY: ("peer_credential", "host", ("host", "username", "realm", "ha1", "password"), False),
}
_INT_COLUMNS = {"gateway_group", "enabled", "allow_backup", "max_calls", "max_cps", "media_timeout",
                "media_keepalive", "max_duration", "max_minutes_24h", "early_ringing",
                "stir_required", "ringback"}


class DidDatabase:
    """Loader for the DID and tenant caches. Reconnects after failures, but not more often than every
    `db_retry_after` seconds, so a dead DB costs a SIP worker one timeout, not one per call."""

    def __init__(
        self,
        settings: Settings,
        connect: Callable[..., Any] = pymysql.connect,
        clock: Callable[[], float] = time.monotonic,
        on_error: Callable[[str], None] = lambda source: None,
        snapshot: Snapshot | None = None,
        on_snapshot: Callable[[], None] = lambda: None,
    ):
        self._settings = settings
        self._snapshot = snapshot
        self._on_snapshot = on_snapshot  # told each time the snapshot answered instead (metrics)
        self._connect = connect
        self._clock = clock
        self._on_error = on_error  # told "connect" or "query" on each failure (metrics)
        self._conn: Any = None
        self._pid: int | None = None
        self._down_until = 0.0
        self.queries = 0

    def __call__(self, did: str) -> DidRoute | None:
        row = self._fetchone(_DID_QUERY, did)
        if row is None:
            return None
        did_, group, uri, tenant = row
        return DidRoute(did_, int(group) if group is not None else None, uri or None, tenant or "")

    def tenant(self, name: str) -> Tenant | None:
        """Loader for the tenant cache."""
        row = self._fetchone(_TENANT_QUERY, name)
        if row is None:
            return None
        (name_, enabled, group, backup, max_calls, max_cps, policy, default_did, media_timeout, keepalive, transfer,
         countries, allowed, denied, types, max_duration, max_minutes, context, early, stir, ringback, dids) = row
        return Tenant(name_, bool(enabled), int(group), bool(backup), int(max_calls), int(max_cps),
                      policy, default_did or None, int(media_timeout) if media_timeout is not None else None,
                      bool(keepalive), transfer or "refuse", destinations.from_row(countries, allowed, denied, types),
                      int(max_duration or 0),
                      destinations.home_regions(tuple((dids or "").split(",")), self._settings.default_region),
                      int(max_minutes or 0), callcontext.allowed(context), bool(early), bool(stir),
                      bool(ringback))

    def credential(self, host: str) -> Credential | None:
        """Loader for the peer credential cache (asked only when a peer challenges)."""
        row = self._fetchone(_CREDENTIAL_QUERY, host)
        return Credential(*row) if row is not None else None

    def account(self, username: str) -> Account | None:
        """Loader for the gateway account cache."""
        row = self._fetchone(_ACCOUNT_QUERY, username)
        return Account(*row) if row is not None else None

    def gateway_rows(self, groups: tuple[int, ...]) -> list[tuple[int, str, int]]:
        """(set, URI, flags) of every gateway of these dispatcher sets, for the gateway DNS timer (a
        connection of its own per check, like the snapshot's); from the snapshot when MariaDB does not answer."""
        try:
            conn = self.connect()
            try:
                with conn.cursor() as cur:
                    cur.execute("SELECT setid, destination, flags FROM dispatcher WHERE setid IN %s",
                                (tuple(groups),))
                    return [(int(row[0]), row[1], int(row[2] or 0)) for row in cur.fetchall()]
            finally:
                conn.close()
        except pymysql.MySQLError as exc:
            if self._snapshot is None:
                raise DidSourceError(f"{type(exc).__name__}: {exc}") from exc
        try:
            rows = self._snapshot.rows("dispatcher")
        except SnapshotError:
            raise DidSourceError("database down and no readable snapshot") from None
        wanted = {str(g) for g in groups}
        return [(int(row["setid"]), row["destination"], int(row.get("flags") or 0)) for row in rows
                if row.get("setid") in wanted and row.get("destination")]

    def _fetchone(self, query: str, key: str):
        try:
            return self._fetchone_live(query, key)
        except DidSourceError:
            if self._snapshot is None:
                raise
            try:
                row = self._from_snapshot(query, key)
            except SnapshotError:
                raise DidSourceError("database down and no readable snapshot") from None
            self._on_snapshot()
            return row

    def _from_snapshot(self, query: str, key: str) -> tuple | None:
        table, key_column, columns, enabled_only = _FROM_SNAPSHOT[query]
        found = self._snapshot.find(table, key_column, key, **({"enabled": "1"} if enabled_only else {}))
        if found is None:
            return None
        row = tuple(int(found[c]) if c in _INT_COLUMNS and found.get(c) is not None else found.get(c)
                    for c in columns)
        if query == _TENANT_QUERY:  # the subquery's DIDs, from the snapshot's did_routing
            row += (",".join(r["did"] for r in self._snapshot.rows("did_routing")
                             if r.get("tenant") == key and r.get("enabled") == "1" and r.get("did")),)
        return row

    def connect(self) -> Any:
        """A fresh connection (this process's, or the snapshot timer's own), short timeouts."""
        s = self._settings
        return self._connect(host=s.db_host, port=s.db_port, user=s.db_user, password=s.db_password,
                             database=s.db_name, connect_timeout=2, read_timeout=2, write_timeout=2,
                             autocommit=True, charset="utf8mb4")

    def _fetchone_live(self, query: str, key: str):
        reused = self._conn is not None and self._pid == os.getpid()
        try:
            return self._execute(self._connection(), query, key)
        except pymysql.MySQLError as exc:
            if not reused:
                self._drop(exc, "query")
            # A connection that served before may just be stale (DB restarted, idle timeout):
            # reconnect and retry once before calling the source down.
            self._close()
        try:
            return self._execute(self._connection(), query, key)
        except pymysql.MySQLError as exc:
            self._drop(exc, "query")

    def _execute(self, conn, query: str, key: str):
        with conn.cursor() as cur:
            self.queries += 1
            cur.execute(query, (key,))
            return cur.fetchone()

    def _close(self) -> None:
        if self._conn is not None:
            try:
                self._conn.close()
            except Exception:  # noqa: BLE001 - the connection is dead either way
                pass
        self._conn = None

    def _connection(self) -> Any:
        # A connection inherited through fork is shared with the parent: never use it.
        if self._conn is not None and self._pid == os.getpid():
            return self._conn
        if self._clock() < self._down_until:
            raise DidSourceError("database marked down, retry pending")
        try:
            self._conn = self.connect()
        except pymysql.MySQLError as exc:
            self._drop(exc, "connect")
        self._pid = os.getpid()
        return self._conn

    def _drop(self, exc: Exception, source: str) -> None:
        self._on_error(source)
        self._close()
        self._down_until = self._clock() + self._settings.db_retry_after
        raise DidSourceError(f"{type(exc).__name__}: {exc}") from exc
