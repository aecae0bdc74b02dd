"""The last known configuration on local disk, for a start while the DB does not answer.

A timer process (rtimer, every SNAPSHOT_INTERVAL s) asks MariaDB whether the configuration tables changed
(one CHECKSUM TABLE) and, when they did, writes them into SNAPSHOT_DIR as db_text tables, each file
replaced whole. Kamailio's modules read their tables through db_cluster (kamailio.cfg): MariaDB first,
this directory when MariaDB does not answer; the Python routing reads DIDs, tenants, accounts and
credentials from it on the same condition (sbclib.diddb). Dialog tables are written empty: a start from
the snapshot knows the configuration, never calls that ended since.

db_text's format: a header `name(type[,null|auto]) ...`, then one line per row, fields separated by ':',
with ':', '\\', newline, carriage return, tab and NUL escaped by a backslash; an empty field is NULL.
"""

from __future__ import annotations

import datetime
import decimal
import os
from collections.abc import Iterable
from pathlib import Path

CONFIG_TABLES = ("version", "dispatcher", "address", "did_routing", "tenant", "gateway_account",
                 "peer_credential", "uacreg")
EMPTY_TABLES = ("dialog", "dialog_vars", "topos_dialog")  # the dialog module and (6.0) htable read them at start
CHECKSUM_FILE = ".checksum"
_ESCAPES = {"\\": "\\\\", ":": "\\:", "\n": "\\n", "\r": "\\r", "\t": "\\t", "\0": "\\0"}
_UNESCAPES = {"n": "\n", "r": "\r", "t": "\t", "0": "\0"}


class SnapshotError(ValueError):
    """A snapshot file that cannot be read as written (truncated, edited by hand)."""


# ---- the format (pure) --------------------------------------------------------------------------

def column_type(value_kind: str) -> str:
    """db_text's type for a MariaDB column kind: int, double, time or str."""
    return {"int": "int", "double": "double", "time": "time"}.get(value_kind, "str")


def _field(value) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return str(int(value))
    if isinstance(value, datetime.datetime):
        return str(int(value.timestamp()))
    if isinstance(value, int | float | decimal.Decimal):
        return str(value)
    if isinstance(value, bytes):
        value = value.decode("utf-8", "replace")
    return "".join(_ESCAPES.get(c, c) for c in str(value))


def encode(columns: list[tuple[str, str]], rows: Iterable[tuple]) -> str:
    """A db_text table: columns as (name, db_text type); every column accepts NULL."""
    lines = [" ".join(f"{name}({kind},null)" for name, kind in columns)]
    lines += [":".join(_field(v) for v in row) for row in rows]
    return "\n".join(lines) + "\n"


def _split(line: str) -> list[str | None]:
    fields, current, escaped, empty = [], [], False, True
    for c in line:
        if escaped:
            current.append(_UNESCAPES.get(c, c))
            escaped, empty = False, False
        elif c == "\\":
            escaped = True
        elif c == ":":
            fields.append(None if empty else "".join(current))
            current, empty = [], True
        else:
            current.append(c)
            empty = False
    if escaped:
        raise SnapshotError("a row ends in an escape")
    fields.append(None if empty else "".join(current))
    return fields


def decode(text: str) -> tuple[list[str], list[dict[str, str | None]]]:
    """Column names and rows (values as text, None for NULL) of a db_text table."""
    header, *lines = text.split("\n")
    names = [part.split("(", 1)[0] for part in header.split()]
    if not names or any(not part.endswith(")") or "(" not in part for part in header.split()):
        raise SnapshotError(f"not a db_text header: {header[:80]!r}")
    rows = []
    for number, line in enumerate(lines, 2):
        if not line:
            continue
        fields = _split(line)
        if len(fields) != len(names):
            raise SnapshotError(f"line {number}: {len(fields)} fields for {len(names)} columns")
        rows.append(dict(zip(names, fields, strict=True)))
    return names, rows


# ---- writing (the timer) --------------------------------------------------------------------------

def _kind(type_code: int) -> str:
    from pymysql.constants import FIELD_TYPE as T
    if type_code in (T.TINY, T.SHORT, T.LONG, T.LONGLONG, T.INT24, T.YEAR):
        return "int"
    if type_code in (T.FLOAT, T.DOUBLE, T.DECIMAL, T.NEWDECIMAL):
        return "double"
    if type_code in (T.DATETIME, T.TIMESTAMP, T.DATE):
        return "time"
    return "str"


def checksum(conn) -> str:
    """One query: has any configuration table changed since the last snapshot?"""
    with conn.cursor() as cur:
        cur.execute("CHECKSUM TABLE " + ", ".join(f"`{t}`" for t in CONFIG_TABLES))
        return " ".join(f"{name}={value}" for name, value in cur.fetchall())


def _table(conn, table: str, empty: bool) -> str:
    with conn.cursor() as cur:
        cur.execute(f"SELECT * FROM `{table}`" + (" LIMIT 0" if empty else ""))
        columns = [(d[0], column_type(_kind(d[1]))) for d in cur.description]
        return encode(columns, cur.fetchall())


def write(conn, directory: Path, stamp: str) -> int:
    """Every table read first, then each file replaced whole (a reader sees the old or the new one);
    the checksum last, so that a write cut short is done again. Returns the number of files written."""
    tables = {t: _table(conn, t, empty=False) for t in CONFIG_TABLES}
    tables |= {t: _table(conn, t, empty=True) for t in EMPTY_TABLES}
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    for name, text in [*tables.items(), (CHECKSUM_FILE, stamp + "\n")]:
        tmp = directory / f".{name}.tmp"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)  # peer passwords are in it
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            out.write(text)
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, directory / name)
    return len(tables) + 1


def written_checksum(directory: Path) -> str | None:
    try:
        return (directory / CHECKSUM_FILE).read_text().strip() or None
    except OSError:
        return None


# ---- reading (the Python routing, when MariaDB does not answer) ----------------------------------

class Snapshot:
    """Rows of the snapshot's tables, reread when a file changes, indexed by the column looked up (a DID
    table of 100,000 rows is read once per change, not scanned per call)."""

    def __init__(self, directory: Path):
        self.directory = directory
        self._tables: dict[str, tuple[float, list[dict]]] = {}
        self._indexes: dict[tuple[str, str], tuple[float, dict[str | None, list[dict]]]] = {}

    def _load(self, table: str) -> tuple[float, list[dict[str, str | None]]]:
        path = self.directory / table
        try:
            mtime = path.stat().st_mtime
            cached = self._tables.get(table)
            if cached is None or cached[0] != mtime:
                cached = (mtime, decode(path.read_text(encoding="utf-8"))[1])
                self._tables[table] = cached
        except OSError as exc:
            raise SnapshotError(f"{table}: {exc.strerror or exc}") from exc
        return cached

    def rows(self, table: str) -> list[dict[str, str | None]]:
        return self._load(table)[1]

    def find(self, table: str, column: str, value: str, **equal: str) -> dict[str, str | None] | None:
        """The first row whose `column` is `value` and whose other columns are as given."""
        mtime, rows = self._load(table)
        index = self._indexes.get((table, column))
        if index is None or index[0] != mtime:
            by_value: dict[str | None, list[dict]] = {}
            for row in rows:
                by_value.setdefault(row.get(column), []).append(row)
            index = (mtime, by_value)
            self._indexes[(table, column)] = index
        return next((row for row in index[1].get(value, ()) if all(row.get(k) == v for k, v in equal.items())), None)


class Keeper:
    """The timer's work: the snapshot rewritten when MariaDB's tables changed. `connect` opens a fresh
    connection (one per check: a check every few seconds needs no pool); `told` hears each outcome:
    written, unchanged, db down, failed."""

    def __init__(self, directory: Path, connect, told=lambda outcome, detail="": None):
        self.directory, self.connect, self.told = directory, connect, told

    def check(self) -> str:
        try:
            conn = self.connect()
        except Exception as exc:  # noqa: BLE001 - any driver error: the DB does not answer
            return self._outcome("db down", f"{type(exc).__name__}: {exc}")
        try:
            stamp = checksum(conn)
            if stamp == written_checksum(self.directory):
                return self._outcome("unchanged")
            files = write(conn, self.directory, stamp)
            return self._outcome("written", f"{files} files in {self.directory}")
        except Exception as exc:  # noqa: BLE001 - a failed query or a full disk: the old snapshot stays
            return self._outcome("failed", f"{type(exc).__name__}: {exc}")
        finally:
            conn.close()

    def _outcome(self, outcome: str, detail: str = "") -> str:
        self.told(outcome, detail)
        return outcome
