"""sbcctl's reads while the DB does not answer: the SBC's snapshot of its last known configuration
(sbclib/snapshot.py), loaded into an in-memory SQLite so that the listing commands run their own queries."""

from __future__ import annotations

import datetime
import re
import sqlite3
from pathlib import Path

from sbcctl.store import Reads
from sbclib import snapshot

_SQL_TYPES = {"int": "INTEGER", "double": "REAL", "time": "INTEGER", "str": "TEXT"}


class SnapshotStore(Reads):
    def __init__(self, directory: Path):
        if snapshot.written_checksum(directory) is None:
            raise snapshot.SnapshotError(f"no snapshot in {directory}")
        self.taken = datetime.datetime.fromtimestamp((directory / snapshot.CHECKSUM_FILE).stat().st_mtime)
        self.conn = sqlite3.connect(":memory:")
        self.conn.row_factory = sqlite3.Row
        for table in snapshot.CONFIG_TABLES:
            text = (directory / table).read_text(encoding="utf-8")
            types = dict(re.findall(r"(\w+)\((\w+)", text.split("\n", 1)[0]))
            names, rows = snapshot.decode(text)
            self.conn.execute(f'CREATE TABLE "{table}" ({", ".join(f"{n} {_SQL_TYPES[types[n]]}" for n in names)})')
            self.conn.executemany(f'INSERT INTO "{table}" VALUES ({", ".join("?" * len(names))})',
                                  [tuple(row.values()) for row in rows])

    def rows(self, sql: str, *args) -> list[dict]:
        try:
            cursor = self.conn.execute(sql.replace("%s", "?"), args)
        except sqlite3.OperationalError as exc:
            raise snapshot.SnapshotError(f"not in the snapshot ({exc})") from None
        return [dict(row) for row in cursor.fetchall()]
