"""The SBC's tables, as the CLI reads and writes them (parameterised queries only)."""

from __future__ import annotations

import pymysql

from sbclib.settings import Settings

DISABLED = 4  # dispatcher flags bit: administratively disabled
# dispatcher flags bit: "trying", what a row is loaded with until its first answered probe makes it active (calls
# still go to it); `sbcctl status` shows it as pending. Each reload loads it again (so: until the next probe).
TRYING = 2


class Reads:
    """Queries shared by the DB and the snapshot (sbcctl.snapshotstore)."""

    def rows(self, sql: str, *args) -> list[dict]:
        raise NotImplementedError

    def gateways(self, group: int | None = None) -> list[dict]:
        sql = "SELECT id, setid AS `group`, destination AS uri, priority, attrs, flags, description FROM dispatcher"
        if group is None:
            return self.rows(sql + " ORDER BY setid, priority DESC, id")
        return self.rows(sql + " WHERE setid = %s ORDER BY priority DESC, id", group)


class Store(Reads):
    def __init__(self, settings: Settings):
        self.conn = pymysql.connect(host=settings.db_host, port=settings.db_port, user=settings.sbcctl_db_user,
                                    password=settings.sbcctl_db_password, database=settings.db_name,
                                    connect_timeout=5, autocommit=True, cursorclass=pymysql.cursors.DictCursor)

    def rows(self, sql: str, *args) -> list[dict]:
        with self.conn.cursor() as cur:
            cur.execute(sql, args)
            return list(cur.fetchall())

    def write(self, sql: str, *args) -> int:
        with self.conn.cursor() as cur:
            return cur.execute(sql, args)

    def insert(self, sql: str, *args) -> int:
        """The new row's id."""
        with self.conn.cursor() as cur:
            cur.execute(sql, args)
            return cur.lastrowid
