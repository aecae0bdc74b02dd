"""Each address a gateway's name resolves to, probed on its own.

Dispatcher keeps one state per row and probes the name, which reaches the target DNS gives first: a dead
target among several would cost every call that reaches it one reply timeout and never show as down. So
the gateway DNS timer process also sends an OPTIONS to every target of every host-named gateway (the
address and port its SRV/A records give) each DS_PING_INTERVAL s, with the name in the Request-URI and, over
TLS, as the SNI (the connection a call then reuses was opened asking for the name). The answers land in
shared memory (htable gwprobe, written by the uac:reply event in whichever process got the reply); the next
round reads them. A target unanswered DS_PROBING_THRESHOLD rounds in a row is down, up again after
DS_INACTIVE_THRESHOLD answered rounds; each change is logged and counted. While another target of its name
answers, a down target is on Kamailio's destination blocklist, which tm consults for INVITEs only: a call's
DNS failover skips it at once instead of waiting for its reply timeout.

For these names they are the only probes: dispatcher's probe of the name reaches the first target only,
waits out its reply timer (with retransmissions) whenever that one is dead, and over TLS would open a
connection without SNI, which calls then reuse. So dispatcher's probe of a row whose name (and transport)
we probe is dropped before it leaves (probe_dropped), and the row's state is set from its targets' (up while
one answers, down once all are down). Over UDP/TCP, rows of other sets and names that never resolved keep
dispatcher's probes; over TLS a row named by host name gets none of dispatcher's, from the start (sbcctl
refuses one outside the gateway sets).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable

import KSR

from kemi.gateways.hostnames import Target
from kemi.telemetry import metrics
from kemi.topology import tlspeer
from kemi.topology.hiding import printable
from sbclib.policy import named
from sbclib.settings import PROBE_FROM

TABLE = "gwprobe"  # kamailio.cfg htable: target key -> the code its last probe was answered with
NAMES = "gwnames"  # kamailio.cfg htable: "transport:host" of every name probed here -> 1 (expires unrenewed)
PROTO = {"udp": 1, "tcp": 2, "tls": 3}  # Kamailio's PROTO_* numbers (dst_blocklist.add)
ADMIN = 64  # BLST_ADM_PROHIBITED: the only reason the blocklist keeps (kamailio.cfg ignores the others)
DISABLED = 4  # dispatcher flags: administratively disabled (sbcctl gateway disable)


def accepts(spec: str, code: int) -> bool:
    """Whether a probe's answer means alive, as DS_PING_REPLY_CODES says ("class=2;code=403;...")."""
    for item in spec.split(";"):
        kind, _, value = item.strip().partition("=")
        if value.isdigit() and ((kind == "class" and code // 100 == int(value))
                                or (kind == "code" and code == int(value))):
            return True
    return False


class Health:
    """Down after `down_after` unanswered rounds in a row, up again after `up_after` answered ones."""

    def __init__(self, down_after: int, up_after: int):
        self.down_after, self.up_after = max(1, down_after), max(1, up_after)
        self.misses: dict[str, int] = {}
        self.hits: dict[str, int] = {}
        self.down: set[str] = set()
        self.up: set[str] = set()  # answered since it was last down (or ever): known to be there

    def update(self, key: str, answered: bool) -> str | None:
        """"down" or "up" when this round changes the target's state, else None."""
        if answered:
            self.misses.pop(key, None)
            self.hits[key] = self.hits.get(key, 0) + 1
            if key in self.down and self.hits[key] >= self.up_after:
                self.down.discard(key)
                self.up.add(key)
                return "up"
            if key not in self.down:
                self.up.add(key)
            return None
        self.hits.pop(key, None)
        self.misses[key] = self.misses.get(key, 0) + 1
        if key not in self.down and self.misses[key] >= self.down_after:
            self.down.add(key)
            self.up.discard(key)
            return "down"
        return None

    def keep_only(self, keys: Iterable[str]) -> None:
        """A target DNS no longer gives is forgotten (its blocklist entry expires)."""
        keys = set(keys)
        self.misses = {k: v for k, v in self.misses.items() if k in keys}
        self.hits = {k: v for k, v in self.hits.items() if k in keys}
        self.down &= keys
        self.up &= keys


class Prober:
    """One round: read the last round's answers, tell and apply the changes, probe every target again.
    Kamailio's side comes in as functions, so that the rounds are tested without it."""

    def __init__(self, targets: Callable[[], Iterable[Target]], health: Health, accepted: Callable[[int], bool],
                 send: Callable[[Target], None], answer: Callable[[str], int | None],
                 block: Callable[[Target], None], unblock_all: Callable[[], None],
                 told: Callable[[str, Target, int | None], None], rows: Callable[[], Iterable[tuple[int, str, int]]],
                 set_state: Callable[[str, int, str], None], told_row: Callable[[str, int, str], None],
                 cover: Callable[[str], None]):
        self.targets, self.health, self.accepted = targets, health, accepted
        self.send, self.answer, self.block, self.unblock_all, self.told = send, answer, block, unblock_all, told
        self.rows, self.set_state, self.told_row, self.cover = rows, set_state, told_row, cover
        self.verdicts: dict[tuple[int, str], str] = {}
        self.probed: set[str] = set()  # the targets whose answers the next round reads
        self.blocked: set[str] = set()

    def __call__(self) -> None:
        every = list(self.targets())
        current = {t.key: t for t in every}  # a target two names share is probed once
        for key in self.probed:
            if key not in current:
                continue
            code = self.answer(key)
            change = self.health.update(key, code is not None and self.accepted(code))
            if change is not None:
                self.told(change, current[key], code)
        self.health.keep_only(current)
        wanted = blockable(every, self.health.down)
        if self.blocked - wanted:
            self.unblock_all()  # the blocklist deletes all or nothing: the others go back on below
        for key in sorted(wanted):
            self.block(current[key])  # again every round: the entry's expiry is a few rounds
        self.blocked = wanted
        for name in sorted({name_key(t.transport, t.host) for t in every}):
            self.cover(name)  # before its row's state is first set; again every round, or it expires
        self._rows(every)
        for target in current.values():
            self.send(target)
        self.probed = set(current)

    def _rows(self, every: list[Target]) -> None:
        """The state of a row whose name is probed here is its targets' (dispatcher's own probes of it are
        dropped: see probe_dropped): up while one answers, down once all are down; set again every round,
        since a dispatcher reload resets it. A row with no target of its name and transport is not ours, and
        one the operator disabled is left alone."""
        verdicts = {}
        for group, uri, flags in self.rows():
            target = named(uri)
            if target is None or flags & DISABLED:
                continue
            keys = {t.key for t in every if t.host == target.host and t.transport == target.transport}
            state = row_state(keys, self.health)
            if state is None:
                continue
            verdicts[(group, uri)] = state
            self.set_state(state, group, uri)
            if self.verdicts.get((group, uri), "ap") != state:  # dispatcher takes a new row as up
                self.told_row("up" if state == "ap" else "down", group, uri)
        self.verdicts = verdicts


def name_key(transport: str, host: str) -> str:
    return f"{transport}:{host}"


def row_state(keys: set[str], health: Health) -> str | None:
    """dispatcher.set_state's "ap" (active, probing) while a target answers, "ip" once all are down."""
    if keys & health.up:
        return "ap"
    if keys and keys <= health.down:
        return "ip"
    return None  # not known yet: dispatcher keeps what it has


def blockable(targets: list[Target], down: set[str]) -> set[str]:
    """The down targets calls should skip: only where each name using one still has a target answering.
    A name whose targets are all down leaves its set instead (row_state): blocklisting them all would make
    tm refuse the call's relay, not fail over to the next gateway."""
    answering = {t.host for t in targets if t.key not in down}
    names: dict[str, set[str]] = {}
    for t in targets:
        names.setdefault(t.key, set()).add(t.host)
    return {key for key in down if names.get(key, set()) <= answering}


def told(change: str, target: Target, code: int | None) -> None:
    """A target's state changed: a log line and a metric."""
    answer = "no answer" if code is None else f"answered {code}"
    line = f"sbc: gateway target {change}: {target.host} {target.key} ({answer})"
    (KSR.warn if change == "down" else KSR.notice)(printable(line) + "\n")
    metrics.gateway_target(change)


# ---- Kamailio's side -------------------------------------------------------------------------------

def ksr_send(socket: Callable[[str], str]) -> Callable[[Target], None]:
    """An OPTIONS to the target itself, naming the gateway; its answer (or tm's 408) comes to ksr_record."""

    def send(target: Target) -> None:
        KSR.htable.sht_rm(TABLE, target.key)
        uri = f"sip:{target.host}" + ("" if target.transport == "udp" else f";transport={target.transport}")
        tlspeer.ask_for_name(uri)
        KSR.pv.unset("$uac_req(all)")  # nothing of the last probe carries over
        for field, value in (("method", "OPTIONS"), ("ruri", uri), ("furi", PROBE_FROM), ("turi", uri),
                             ("ouri", f"sip:{target.ip}:{target.port};transport={target.transport}"),
                             ("sock", socket(target.transport)), ("evparam", target.key)):
            KSR.pv.sets(f"$uac_req({field})", value)
        KSR.pv.seti("$uac_req(evroute)", 1)
        if KSR.uac.uac_req_send() < 0:
            KSR.warn(printable(f"sbc: gateway target probe to {target.key} not sent") + "\n")
        KSR.pv.unset("$uac_req(all)")  # set only while ours is built (probe_dropped tells them apart)

    return send


def ksr_record() -> None:
    """uac:reply: the answer to one of our probes (a reply, or tm's 408 when none came)."""
    key, code = KSR.pv.get("$uac_req(evparam)"), KSR.pv.get("$uac_req(evcode)")
    KSR.pv.unset("$uac_req(all)")  # uac copied the probe here: left set, it would pass for one of ours
    if isinstance(key, str) and key.count(":") == 2 and isinstance(code, int):
        KSR.htable.sht_seti(TABLE, key, code)


def ksr_answer(key: str) -> int | None:
    code = KSR.htable.sht_get(TABLE, key)
    return code if isinstance(code, int) else None


def _rpc(method: str, params: list) -> None:
    KSR.jsonrpcs.exec(json.dumps({"jsonrpc": "2.0", "method": method, "params": params, "id": 1}))


def ksr_block(target: Target) -> None:
    _rpc("dst_blocklist.add", [target.ip, target.port, PROTO[target.transport], ADMIN])


def ksr_unblock_all() -> None:
    _rpc("dst_blocklist.delete_all", [])


def ksr_cover(name: str) -> None:
    """probe_dropped's list, in shared memory; an entry not renewed expires (GWNAMES_HTABLE)."""
    KSR.htable.sht_seti(NAMES, name, 1)


def ksr_set_state(state: str, group: int, uri: str) -> None:
    _rpc("dispatcher.set_state", [state, group, uri])


def told_row(change: str, group: int, uri: str) -> None:
    line = f"sbc: gateway {uri} (set {group}) {change}: " + (
        "a target of its name answers its probes" if change == "up" else "no target of its name answers")
    (KSR.warn if change == "down" else KSR.notice)(printable(line) + "\n")


def probe_dropped() -> bool:
    """tm:local-request: dispatcher's OPTIONS to a gateway whose name we probe target by target is not sent
    (its row's state is set from ours). Over TLS never, not even before the name's first round (just added):
    it would open a connection asking no SNI (tm sends a local request with the process's xavps, not the
    ones its event route sets), which calls would then reuse. A dropped probe changes no dispatcher state."""
    if KSR.kx.get_method() != "OPTIONS" or isinstance(KSR.pv.get("$uac_req(evparam)"), str):
        return False  # not a probe, or ours: uac_req_send runs this route in the sending process
    target = named(KSR.kx.get_ruri())
    if target is None:
        return False
    if target.transport == tlspeer.TLS:
        return True
    return KSR.htable.sht_get(NAMES, name_key(target.transport, target.host)) is not None
