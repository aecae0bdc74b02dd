"""Per peer row caps (sbclib/capacity.py decides): each attempt counted in the dialog profile gateway_calls
(value: the row's URI; DMQ carries profiles, so a pair counts both nodes' calls) and in gwload's calls per
second (replicated); a row a peer's 429/503 Retry-After put on hold is skipped until it expires (gwload,
replicated). A full row is passed over for the next one of the chain, never answered busy."""

from __future__ import annotations

import json
import time

import KSR

from kemi.telemetry import metrics
from kemi.topology.hiding import log
from sbclib import capacity

PROFILE = "gateway_calls"
TABLE = "gwload"
SKIPPED, CALLS_GAUGE, CAP_GAUGE = metrics.GATEWAY_SKIPPED, metrics.GATEWAY_CALLS, metrics.GATEWAY_MAX_CALLS
COUNTED_AVP = "$avp(sbc_gw_counted)"  # the row this transaction's current attempt counts against


def _hold_key(uri: str) -> str:
    return f"hold {uri}"  # a space: in no URI, so no row's key is another's


def room(uri: str, attrs_text) -> bool:
    """Does the selected row take this attempt? Counts the attempt in its second when it has a cps cap."""
    caps = capacity.caps_of(attrs_text)
    held = KSR.htable.sht_get(TABLE, _hold_key(uri)) == 1  # gwload's initval answers 0 for no item
    if not held and not caps.capped:
        return True
    calls = attempts = 0
    if not held and caps.max_calls:
        KSR.dialog.get_profile_size(PROFILE, uri, "$var(sbc_gw_calls)")
        calls = KSR.pv.geti("$var(sbc_gw_calls)")
    if not held and caps.max_cps and not (caps.max_calls and calls >= caps.max_calls):
        attempts = KSR.htable.sht_inc(TABLE, f"cps {uri} {int(time.time())}")
    reason = capacity.full(caps, held, calls, attempts)
    if reason is None:
        return True
    log(KSR.notice, f"gateway {uri} skipped: " + (
        "on hold (its Retry-After)" if reason == "held" else
        f"at its {caps.max_calls} calls" if reason == "calls" else f"over its {caps.max_cps} calls/s"))
    KSR.xhttp_prom.counter_inc_l2(SKIPPED, 1, uri, reason)
    return False


def counted(uri: str) -> None:
    """The attempt leaves for `uri`: the call counts there (until it ends, or fails over: released)."""
    KSR.dialog.set_dlg_profile(PROFILE, uri)
    KSR.pv.sets(COUNTED_AVP, uri)


def current() -> str:
    """The row the attempt that just ended was counted against ("" for a direct URI)."""
    uri = KSR.pv.get(COUNTED_AVP)
    return uri if isinstance(uri, str) else ""


def released() -> None:
    """The attempt ended without an answer: its row no longer carries the call."""
    uri = current()
    if uri:
        KSR.dialog.unset_dlg_profile(PROFILE, uri)
        KSR.pv.sets(COUNTED_AVP, "")


def held_off(status: int, longest: int) -> bool:
    """Failure route: a 429/503 whose Retry-After the peer gave puts its row on hold for that long (at most
    `longest` s; sbclib.capacity.hold_seconds). True when it did: no need to mark it down as well."""
    uri = current()
    seconds = capacity.hold_seconds(status, KSR.pv.get("$T_rpl($hdr(Retry-After))"), longest) if uri else 0
    if not seconds:
        return False
    log(KSR.notice, f"gateway {uri} answered {status} with Retry-After: held off for {seconds} s")
    hold(uri, seconds)
    return True


def hold(uri: str, seconds: int) -> None:
    """The peer said when to come back: no attempt goes to its row before (on both nodes of a pair)."""
    key = _hold_key(uri)
    KSR.htable.sht_seti(TABLE, key, 1)
    KSR.htable.sht_setex(TABLE, key, seconds)


def refresh_gauges() -> None:
    """Scrape time: each capped row's calls and cap, from dispatcher's list (so a row added is there at once)."""
    if KSR.jsonrpcs.exec(json.dumps({"jsonrpc": "2.0", "method": "dispatcher.list", "id": 1})) < 0:
        return
    for uri, caps in capacity.capped_rows(KSR.pv.get("$jsonrpl(body)")):
        KSR.dialog.get_profile_size(PROFILE, uri, "$var(sbc_gw_calls)")
        KSR.xhttp_prom.gauge_set_l1(CALLS_GAUGE, str(KSR.pv.geti("$var(sbc_gw_calls)")), uri)
        KSR.xhttp_prom.gauge_set_l1(CAP_GAUGE, str(caps.max_calls), uri)
