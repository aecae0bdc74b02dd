"""Gateways named by host name (`sip:<id>.sip.vapi.ai`): the addresses their requests come from.

Routing needs nothing here: tm sends to such a row as RFC 3263 says (SRV, then A), through Kamailio's DNS
cache, which keeps each record for its TTL; use_dns_failover moves to the name's next target. Recognising a
request *from* such a gateway needs its addresses: a timer process of its own resolves every host-named
gateway every GATEWAY_DNS_INTERVAL seconds and keeps the addresses in shared memory (htable gwdns: address ->
host), so no SIP worker waits on DNS; each target's address and port are kept too, for kemi/gateways/gwprobe.py to
probe one by one. A name that stops resolving keeps its last known addresses and targets: a DNS outage must
not turn a provider into a stranger.

Dispatcher resolves each row when it loads (ds_dns_mode) and leaves out a row whose name does not resolve
then (6.0 would not probe a row flagged to skip that). So when a name resolves again after failing, the
timer empties the DNS cache (which kept the failure) and reloads dispatcher: the gateway is back in its set.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import KSR

from kemi.state import htables
from sbclib.policy import Named, named

TABLE = "gwdns"  # kamailio.cfg htable: address -> the host names it was resolved from (space-separated)
SRV_PREFIX = {"udp": "_sip._udp.", "tcp": "_sip._tcp.", "tls": "_sips._tcp."}
DEFAULT_PORT = {"tls": 5061}  # else 5060 (RFC 3263 4.2, a name without SRV records or a port)
MAX_ADDRESSES = 32  # per name: more is not a gateway's DNS


@dataclass(frozen=True, order=True)
class Target:
    """One place a host-named gateway is reached at: an address and port its SRV/A records give."""

    host: str
    transport: str
    ip: str
    port: int

    @property
    def key(self) -> str:
        return f"{self.transport}:{self.ip}:{self.port}"


def lookups(target: Named) -> tuple[str | None, str]:
    """What RFC 3263 asks for a target: the SRV name (only without a port), and the name for A records."""
    return (None if target.port else SRV_PREFIX.get(target.transport, SRV_PREFIX["udp"]) + target.host), target.host


class Resolver:
    """The timer's work, without Kamailio: `srv(name)` answers [(target, port)], [] when there is none
    (or None when the lookup failed, where the resolver can tell); `a(name)` answers addresses, None when
    the lookup failed; `put` and `remove` keep the htable in step; `told` hears each name's outcome."""

    def __init__(self, srv: Callable[[str], list[tuple[str, int]] | None], a: Callable[[str], list[str] | None],
                 put: Callable[[str, str], None], remove: Callable[[str], None], listed: Callable[[], dict[str, str]],
                 told: Callable[[str, str], None] = lambda outcome, host: None,
                 recovered: Callable[[], None] = lambda: None):
        self.srv, self.a, self.put, self.remove, self.told = srv, a, put, remove, told
        self.listed = listed  # what the htable holds now: what this resolver wrote, or anything else
        self.recovered = recovered  # a name that had failed resolves: dispatcher may have left its row out
        # each gateway (its name, port and transport: one name over UDP and TLS is two) -> (address, port)s
        self.reached: dict[Named, set[tuple[str, int]]] = {}
        self.failing: set[Named] = set()

    def refresh(self, uris: Iterable[str]) -> dict[str, str]:
        """Resolve every host-named URI; the htable then holds each one's addresses (or its last known)."""
        targets = {t for t in (named(u) for u in uris) if t is not None}
        back = False
        for target in sorted(targets, key=str):
            reached = self._resolve(target)
            if reached is None:
                if target not in self.failing:  # told once per outage, not every interval
                    self.failing.add(target)
                    self.told("failed" if target in self.reached else "unresolved", target.host)
                continue
            if target in self.failing:
                self.failing.discard(target)
                back = True
            found = addresses(reached)
            if target not in self.reached or found != addresses(self.reached[target]):
                self.told("changed", f"{target.host}: {', '.join(sorted(found)) or 'no address'}")
            self.reached[target] = reached
        self.reached = {t: r for t, r in self.reached.items() if t in targets}  # a removed gateway is forgotten
        self.failing &= targets
        hosts: dict[str, set[str]] = {}
        for target, reached in self.reached.items():
            for address in addresses(reached):
                hosts.setdefault(address, set()).add(target.host)
        wanted = {address: " ".join(sorted(names)) for address, names in hosts.items()}  # names sharing one
        # The table as it is, not as this resolver left it: an entry it did not write (a forged bus message, a
        # hand-made one) goes at the next round.
        actual = self.listed()
        for address in actual.keys() - wanted.keys():
            self.remove(address)
        for address, host in wanted.items():
            if actual.get(address) != host:
                self.put(address, host)
        if back:
            self.recovered()
        return wanted

    def _resolve(self, target: Named) -> set[tuple[str, int]] | None:
        """(address, port) of every target, as tm would reach them; None when a lookup failed."""
        srv_name, a_name = lookups(target)
        names = [(a_name, target.port or DEFAULT_PORT.get(target.transport, 5060))]
        if srv_name is not None:
            records = self.srv(srv_name)
            if records is None:
                return None
            names = records or names  # no SRV record: the name's own A records
        found: set[tuple[str, int]] = set()
        for name, port in names:
            addresses = self.a(name)
            if addresses is None:
                return None
            found.update((address, port) for address in addresses)
        return set(sorted(found)[:MAX_ADDRESSES])

    def targets(self) -> list[Target]:
        """Every (last known) target of every host-named gateway, for probing each one."""
        return sorted({Target(t.host, t.transport, ip, port)
                       for t, found in self.reached.items() for ip, port in found})


def addresses(reached: set[tuple[str, int]]) -> set[str]:
    return {address for address, _ in reached}


class Paced:
    """`work` at most every `interval` s, and at once the first time: the timer ticks every second, so that a
    Kamailio just started knows its gateways' addresses at once, not one interval later."""

    def __init__(self, work: Callable[[], object], interval: float, clock: Callable[[], float] = time.monotonic):
        self.work, self.interval, self.clock = work, interval, clock
        self.due = float("-inf")

    def __call__(self) -> None:
        now = self.clock()
        if now >= self.due:
            self.due = now + self.interval  # a failed pass waits its interval too: no retry storm
            self.work()


# ---- Kamailio's side: ipops lookups in the timer process, the htable for the SIP workers -------------

def is_gateway_address(ip: str) -> bool:
    """A SIP worker's question: did a host-named gateway's DNS name this address?"""
    return KSR.htable.sht_get(TABLE, ip) is not None


def hosts_of(ip: str) -> list[str]:
    """The host-named gateways whose DNS named this address."""
    value = KSR.htable.sht_get(TABLE, ip)
    return value.split() if isinstance(value, str) else []


def ksr_srv(name: str) -> list[tuple[str, int]]:
    """ipops answers no record and a failed lookup alike (count 0): both fall back to the A records."""
    KSR.ipops.srv_query(name, "gw")
    count = KSR.pv.get("$srvquery(gw=>count)")
    count = count if isinstance(count, int) else 0
    return [(str(KSR.pv.get(f"$srvquery(gw=>target[{i}])")), int(KSR.pv.get(f"$srvquery(gw=>port[{i}])") or 0))
            for i in range(min(count, MAX_ADDRESSES))]


def ksr_a(name: str) -> list[str] | None:
    if KSR.ipops.dns_query(name, "gw") < 0:
        return None
    count = KSR.pv.get("$dns(gw=>count)")
    count = count if isinstance(count, int) else 0
    found = (KSR.pv.get(f"$dns(gw=>addr[{i}])") for i in range(min(count, MAX_ADDRESSES)))
    return [a for a in found if isinstance(a, str) and a]


def ksr_put(address: str, host: str) -> None:
    KSR.htable.sht_sets(TABLE, address, host)


def ksr_remove(address: str) -> None:
    KSR.htable.sht_rm(TABLE, address)


def ksr_listed() -> dict[str, str]:
    return dict(htables.items(TABLE, TABLE))


def ksr_reload_dispatcher() -> None:
    """The DNS cache first: it would answer dispatcher's load with the failure it kept (negative TTL)."""
    KSR.jsonrpcs.exec('{"jsonrpc": "2.0", "method": "dns.delete_all", "id": 1}')
    KSR.dispatcher.ds_reload()
    KSR.info("sbc: gateway dns: a gateway's name resolves again: DNS cache emptied, dispatcher reloaded\n")
