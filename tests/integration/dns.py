"""The suite's own DNS: a server on loopback inside the test namespace, answering only the names a test
gave it (anything else NXDOMAIN, nothing forwarded), and a resolver configuration naming it, bind-mounted
over /etc/resolv.conf in a mount namespace the suite makes for itself (private: nothing propagates to the
host's). The SBC's processes, started after it, inherit it."""

from __future__ import annotations

import ctypes
import subprocess
import threading
from contextlib import contextmanager
from pathlib import Path

from dnslib import QTYPE, RCODE, RR, SRV, A
from dnslib.server import BaseResolver, DNSLogger, DNSServer

ADDRESS = "127.0.5.53"
CLONE_NEWNS = 0x00020000


class Zone(BaseResolver):
    """Records a test sets, changed while the SBC runs; the queries asked, in order."""

    def __init__(self):
        self._lock = threading.Lock()
        self._records: dict[str, list[RR]] = {}
        self.queries: list[tuple[str, str]] = []

    def a(self, name: str, *addresses: str, ttl: int = 60) -> None:
        self._set(name, [RR(name, QTYPE.A, ttl=ttl, rdata=A(a)) for a in addresses])

    def srv(self, name: str, *targets: tuple[str, int], ttl: int = 60) -> None:
        """(target, port) records, priority 10 and equal weights."""
        self._set(name, [RR(name, QTYPE.SRV, ttl=ttl, rdata=SRV(10, 10, port, target)) for target, port in targets])

    def remove(self, *names: str) -> None:
        with self._lock:
            for name in names:
                self._records.pop(name.lower().rstrip("."), None)

    def asked(self, name: str) -> int:
        with self._lock:
            return sum(1 for qname, _ in self.queries if qname == name.lower())

    def _set(self, name: str, records: list[RR]) -> None:
        with self._lock:
            self._records[name.lower().rstrip(".")] = records

    def resolve(self, request, handler):
        reply = request.reply()
        qname = str(request.q.qname).lower().rstrip(".")
        with self._lock:
            self.queries.append((qname, QTYPE[request.q.qtype]))
            records = self._records.get(qname)
        if records is None:
            reply.header.rcode = RCODE.NXDOMAIN
        else:
            for record in records:
                if record.rtype == request.q.qtype:
                    reply.add_answer(record)
        return reply


def private_mount_namespace() -> None:
    """This process (and every process it starts from now on) in a mount namespace of its own, none of whose
    mounts propagate anywhere: what is mounted next is seen by the suite only, never by the host."""
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.unshare(CLONE_NEWNS) != 0:
        raise OSError(ctypes.get_errno(), "unshare(CLONE_NEWNS) for the test resolver configuration")
    subprocess.run(["mount", "--make-rprivate", "/"], check=True)


@contextmanager
def serving(work: Path):
    """The server, and /etc/resolv.conf naming it, for as long as the block runs."""
    private_mount_namespace()
    if not Path("/etc/resolv.conf").is_file():
        raise RuntimeError("no /etc/resolv.conf to bind the test resolver configuration over")
    zone = Zone()
    server = DNSServer(zone, port=53, address=ADDRESS, logger=DNSLogger("-recv,-send,-request,-reply,-truncated,-data"))
    server.start_thread()
    conf = work / "resolv.conf"
    conf.write_text(f"nameserver {ADDRESS}\noptions timeout:1 attempts:1\n")
    subprocess.run(["mount", "--bind", str(conf), "/etc/resolv.conf"], check=True)
    try:
        yield zone
    finally:
        subprocess.run(["umount", "/etc/resolv.conf"], check=False)
        server.stop()
