"""What a bench run reads from the machine and the services: CPU per process, database statements,
Redis commands and keys. Counters are read before and after a run; the difference is the run's."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

# Processes by name (comm), so that the image's containers are counted the same way as the host's
# children: the bench owns the machine while it runs.
KAMAILIO = ("kamailio",)
STACK = ("kamailio", "rtpengine", "mariadbd", "redis-server")
DB_KINDS = ("Com_select", "Com_insert", "Com_update", "Com_delete", "Com_replace")


def processes(names: tuple[str, ...]) -> Iterator[tuple[Path, str]]:
    """Live processes with one of these names (comm): their /proc directory and name."""
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            comm = (proc / "comm").read_text().strip()
        except OSError:
            continue  # exited meanwhile
        if comm in names:
            yield proc, comm


def cpu_ns(names: tuple[str, ...]) -> dict[str, int]:
    """On-CPU nanoseconds so far of every live process with one of these names, by name."""
    total = dict.fromkeys(names, 0)
    for proc, comm in processes(names):
        try:  # every thread: rtpengine, MariaDB and Redis are threaded
            total[comm] += sum(int((task / "schedstat").read_text().split()[0]) for task in (proc / "task").iterdir())
        except (OSError, ValueError, IndexError):
            continue  # exited meanwhile
    return total


def _redis(conn: socket.socket, command: bytes) -> str:
    """One command's reply: a bulk string or an integer (all this bench asks for)."""
    conn.sendall(command + b"\r\n")
    data = b""
    while b"\r\n" not in data:
        data += conn.recv(65536) or b"\r\n"
    head, rest = data.split(b"\r\n", 1)
    if head.startswith(b"$"):
        size = int(head[1:])
        while len(rest) < size + 2:
            chunk = conn.recv(65536)
            if not chunk:
                break
            rest += chunk
        return rest[:size].decode(errors="replace")
    return head[1:].decode(errors="replace")


def redis_counters(ip: str, port: int, password: str = "") -> dict[str, int]:
    """Commands served so far (INFO commandstats, summed), keys held and memory used now."""
    with socket.create_connection((ip, port), timeout=2) as conn:
        if password:
            _redis(conn, f"AUTH {password}".encode())
        stats = _redis(conn, b"INFO commandstats")
        keys = int(_redis(conn, b"DBSIZE"))
        memory = _redis(conn, b"INFO memory")
    by_command = {line.split(":", 1)[0].removeprefix("cmdstat_"): int(part.split("=", 1)[1])
                  for line in stats.splitlines() if line.startswith("cmdstat_")
                  for part in line.split(":", 1)[1].split(",") if part.startswith("calls=")}
    used = next(int(line.split(":")[1]) for line in memory.splitlines() if line.startswith("used_memory:"))
    return {"commands": sum(by_command.values()), "keys": keys, "used_memory": used, "by_command": by_command}


def db_counters(db) -> dict[str, int]:
    """MariaDB's global statement counters by kind (SHOW GLOBAL STATUS is not among them)."""
    names = ",".join(f"'{k}'" for k in DB_KINDS)
    out = db.query(f"SHOW GLOBAL STATUS WHERE Variable_name IN ({names})", "mysql", header=False)
    return {k: int(v) for k, v in (line.split("\t") for line in out.splitlines() if "\t" in line)}


@dataclass
class Snapshot:
    cpu: dict[str, int]
    db: dict[str, int]
    redis: dict[str, int]

    @classmethod
    def take(cls, db, redis_addr: tuple[str, int], redis_password: str = "") -> Snapshot:
        return cls(cpu_ns(STACK), db_counters(db), redis_counters(*redis_addr, password=redis_password))


def per_call(before: Snapshot, after: Snapshot, calls: int) -> dict:
    """CPU in µs, statements and Redis commands per call between two snapshots."""
    cpu = {k: (after.cpu[k] - before.cpu[k]) / 1000 / calls for k in STACK}
    db = {k.removeprefix("Com_"): (after.db.get(k, 0) - before.db.get(k, 0)) / calls for k in DB_KINDS}
    own = 3 + ("auth" in after.redis["by_command"])  # this probe's own 2 INFO + DBSIZE (+ AUTH)
    redis_cmds = after.redis["commands"] - before.redis["commands"] - own
    return {
        "kamailio_cpu_us": round(cpu["kamailio"]),
        "stack_cpu_us": round(sum(cpu.values())),
        "cpu_us_by_process": {k: round(v) for k, v in cpu.items()},
        "db_statements": round(sum(db.values()), 3),
        "db_by_kind": {k: round(v, 3) for k, v in db.items() if v},
        "redis_commands": round(redis_cmds / calls, 2),
        "redis_by_command": {k: round((n - before.redis["by_command"].get(k, 0)) / calls, 2)
                             for k, n in after.redis["by_command"].items()
                             if n - before.redis["by_command"].get(k, 0) > 3},
        "redis_keys_after": after.redis["keys"],
    }
