"""Post-dial delay and time to answer, per attempt: from relaying the INVITE to a peer to its first 18x,
and to its 2xx. A slow AI platform shows up here before callers hang up.

The attempt's start travels with the transaction (an AVP), so the reply route, the failure route and
the dialog:start event (tm runs its callbacks with the transaction's AVPs) all read the same one; a
failover starts a new attempt. CLOCK_MONOTONIC is one clock for all of Kamailio's processes.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import KSR

from kemi.telemetry import metrics

ATTEMPT_AVP = "$avp(sbc_attempt)"  # "<monotonic start> <direction> <group> <tenant>"
RINGING_AVP = "$avp(sbc_pdd)"  # this attempt's post-dial delay in seconds, once its first 18x came
MAX_WAIT = 10.0  # seconds a reply can plausibly wait for a worker


@dataclass(frozen=True)
class Attempt:
    started: float
    direction: str
    tenant: str
    group: str


def encode(started: float, direction: str, tenant: str, group: str) -> str:
    """The tenant comes last: a tenant's name may contain spaces. "-" stands for none."""
    return f"{started:.6f} {direction} {group or '-'} {tenant or '-'}"


def decode(value) -> Attempt | None:
    """None when no attempt was started or the value is not ours."""
    if not isinstance(value, str):
        return None
    parts = value.split(" ", 3)
    if len(parts) != 4:
        return None
    try:
        started = float(parts[0])
    except ValueError:
        return None
    direction, group, tenant = (p if p != "-" else "" for p in parts[1:])
    return Attempt(started, direction, tenant, group)


def started(direction: str, tenant: str, group: str) -> None:
    """The INVITE is about to be relayed to a peer (each failover too)."""
    KSR.pv.sets(ATTEMPT_AVP, encode(time.monotonic(), direction, tenant, group))
    KSR.pv.unset(RINGING_AVP)


def provisional(status: int) -> float | None:
    """Reply route: the attempt's first 18x fixes its post-dial delay (100 Trying is the next hop's),
    returned (None for any other reply)."""
    if not 180 <= status < 190 or KSR.pv.get(RINGING_AVP) is not None:
        return None
    attempt = decode(KSR.pv.get(ATTEMPT_AVP))
    if attempt is None:
        return None
    pdd = arrival() - attempt.started
    KSR.pv.sets(RINGING_AVP, f"{pdd:.6f}")
    metrics.post_dial_delay(attempt.direction, attempt.tenant, attempt.group, pdd)
    return pdd


def answered() -> tuple[float | None, float | None]:
    """dialog:start: (post-dial delay, time to answer) of the attempt that answered, in seconds."""
    attempt = decode(KSR.pv.get(ATTEMPT_AVP))
    if attempt is None:
        return None, None
    to_answer = arrival() - attempt.started
    metrics.answer_delay(attempt.direction, attempt.tenant, attempt.group, to_answer)
    return ringing(), to_answer


def arrival() -> float:
    """When the current reply was read from its socket, on the monotonic clock. A worker may reach it much
    later than that, and after a reply read behind it (seen: a 200 handled before its 180 on a loaded host):
    Kamailio stamps each message as it is read ($TV(s), $TV(u); core msg_time, on by default)."""
    now, seconds, micros = time.monotonic(), KSR.pv.get("$TV(s)"), KSR.pv.get("$TV(u)")
    if not isinstance(seconds, int) or not isinstance(micros, int):
        return now
    waited = time.time() - (seconds + micros / 1e6)
    return now - waited if 0 <= waited < MAX_WAIT else now  # else the wall clock stepped meanwhile


def ringing() -> float | None:
    """The current attempt's post-dial delay, if it rang."""
    value = KSR.pv.get(RINGING_AVP)
    try:
        return float(value) if isinstance(value, str) else None
    except ValueError:
        return None
