"""A peer row's capacity: the caps an operator gives it (dispatcher attrs `max_calls=10;max_cps=2`), whether
an attempt finds room there, and how long a peer's own "too busy" (429/503 with Retry-After) keeps it out.
Plain decisions; kemi/gateways/capacity.py counts in Kamailio (a dialog profile, a shared htable)."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

from sbclib import dsattrs

CAP_ATTRS = ("max_calls", "max_cps")
MAX_CAP = 100_000
# Answers that say the peer is too busy, not that the call is wrong. SIP's 429 is RFC 3892's "Provide
# Referrer Identity", which only a REFER gets; to an INVITE, platforms built on HTTP send it as "too many".
BUSY_PEER = (429, 503)
_DELTA = re.compile(r"\s*(\d{1,10})\s*(?:\(.*\))?\s*(?:;.*)?$")  # RFC 3261 20.33: delta-seconds [comment] *(;param)


@dataclass(frozen=True)
class Caps:
    max_calls: int = 0  # concurrent calls (ringing included) this row may carry; 0: no cap
    max_cps: int = 0  # new attempts per second; 0: no cap

    @property
    def capped(self) -> bool:
        return bool(self.max_calls or self.max_cps)


def cap_error(name: str, value: str) -> str | None:
    """Why `value` is no cap for attr `name` (the operator's error); None when it is one."""
    if not value.isdigit() or not 0 <= int(value) <= MAX_CAP:
        return f"{name}={value} is not a whole number in 0..{MAX_CAP}"
    return None


def caps_of(text) -> Caps:
    """The caps in a row's attrs. A value sbcctl would have refused (the table written by hand) caps nothing:
    the row still takes calls, and `sbcctl check` names it."""
    found = dsattrs.parse(text)
    values = {name: int(found[name]) for name in CAP_ATTRS if name in found and cap_error(name, found[name]) is None}
    return Caps(**values)


def full(caps: Caps, held: bool, calls_now: int, attempts_this_second: int) -> str | None:
    """Why this row takes no new attempt now ("held", "calls", "cps"); None when it has room. The attempt
    being decided is counted in `attempts_this_second`, not in `calls_now`."""
    if held:
        return "held"
    if caps.max_calls and calls_now >= caps.max_calls:
        return "calls"
    if caps.max_cps and attempts_this_second > caps.max_cps:
        return "cps"
    return None


def hold_seconds(status: int, retry_after: str | None, longest: int) -> int:
    """How long a peer that answered `status` with this Retry-After value stays out of its set: 0 for none
    (another answer, no or an unreadable Retry-After, or GATEWAY_RETRY_AFTER_MAX 0); else at least 1 s and at
    most `longest`, so a peer asking for a day does not lose its calls for a day."""
    if status not in BUSY_PEER or not retry_after or longest <= 0:
        return 0
    match = _DELTA.match(retry_after)
    if match is None:
        return 0
    return max(1, min(int(match.group(1)), longest))


def capped_rows(dispatcher_list: str) -> list[tuple[str, Caps]]:
    """(uri, caps) of every row with a concurrent-call cap, from Kamailio's `dispatcher.list` reply (JSON-RPC
    result or its whole reply); the metrics' gauges. An unreadable reply has none."""
    try:
        doc = json.loads(dispatcher_list)
    except (TypeError, ValueError):
        return []
    doc = doc.get("result", doc) if isinstance(doc, dict) else {}
    records = doc.get("RECORDS") if isinstance(doc, dict) else None
    rows = []
    for record in records if isinstance(records, list) else []:
        found = record.get("SET") if isinstance(record, dict) else None
        targets = found.get("TARGETS") if isinstance(found, dict) else None
        for target in targets if isinstance(targets, list) else []:
            dest = target.get("DEST") if isinstance(target, dict) else None
            if not isinstance(dest, dict) or not isinstance(dest.get("URI"), str):
                continue
            caps = caps_of(_attrs_body(dest.get("ATTRS")))
            if caps.max_calls:
                rows.append((dest["URI"], caps))
    return rows


def _attrs_body(value) -> str:
    """dispatcher.list gives ATTRS as {"BODY": "...", ...} (and a plain string in some versions)."""
    if isinstance(value, dict):
        value = value.get("BODY")
    return value if isinstance(value, str) else ""
