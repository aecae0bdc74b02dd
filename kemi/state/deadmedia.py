"""Dead media: an answered call whose RTP stopped in one or both directions for MEDIA_TIMEOUT seconds is
ended. Both sides get a BYE with a Reason header (added in tm:local-request, kemi.topology.egress), the record
says which leg went silent (end_reason) and so does a metric.

rtpengine's own timeout ends a call only when every stream of it is silent, and tells the SIP side
nothing: a gateway that stopped streaming, or a carrier leg lost behind a firewall, would keep the call
(and the tenant's slot) until the dialog timeout. So a timer process (rtimer, every MEDIA_CHECK_INTERVAL
seconds) asks rtpengine about each answered call. The answered calls are kept in an htable (dialog:start
adds, dialog:end removes, the sweep drops what rtpengine or the dialog module no longer know). The
rtpengine module's query needs a SIP message, which a timer has not: the sweep asks over rtpengine's ng
protocol (sbclib.ng), one UDP round trip per call. The decision is sbclib.mediastats.silent_legs.
"""

from __future__ import annotations

import time

import KSR

from kemi.access import minutes
from kemi.state import dlgvar, htables
from kemi.telemetry import metrics, quality, records
from kemi.topology.hiding import printable
from sbclib import ng
from sbclib.mediastats import legs, silent_legs

WATCH_TABLE = "mediawatch"
ITERATOR = "mediawatch"
TIMEOUT_VAR = "media_timeout"  # dialog variable: the call's tenant has its own
DURATION_VAR = "max_duration"  # dialog variable: s the call may last (its tenant's or TENANT_MAX_DURATION)
MINUTES_VAR = "minutes_cap"  # dialog variable: the tenant's outbound minutes per 24 h, on its capped calls only
END_REASON = records.END_REASON
TIMEOUT_PREFIX = "media timeout"
MAX_DURATION = "max duration"  # the end_reason of a call ended at its tenant's maximum duration
MINUTES_CAP = "minutes cap"  # ... of a call ended when its tenant's minutes per 24 h ran out
# RFC 3326 with ITU-T Q.850 cause 102, "recovery on timer expiry": what both sides' BYEs carry.
REASONS = {reason: f'Q.850;cause=102;text="{reason}"' for reason in (TIMEOUT_PREFIX, MAX_DURATION, MINUTES_CAP)}
QUERY_TIMEOUT = 0.5  # seconds; rtpengine answers a query in well under a millisecond on loopback


def tenant_limits(media_timeout: int | None, max_duration: int, minutes_cap: int = 0) -> None:
    """A call routed for a tenant: its media timeout when it has its own (0: never ended for dead media),
    how long it may last, and the minutes cap it counts against (kemi/access/minutes.py) if any."""
    if media_timeout is not None:
        dlgvar.put(TIMEOUT_VAR, str(media_timeout))
    dlgvar.put(DURATION_VAR, str(max_duration))
    if minutes_cap > 0:
        dlgvar.put(MINUTES_VAR, str(minutes_cap))


def watch(default_timeout: int) -> None:
    """dialog:start: from now on both legs are due to send media, for the tenant's timeout or .env's, and
    the call's clock runs toward its maximum duration."""
    callid, own, limit = KSR.pv.get("$dlg(callid)"), dlgvar.get(TIMEOUT_VAR), dlgvar.get(DURATION_VAR)
    timeout = int(own) if own.isdigit() else default_timeout
    max_duration = int(limit) if limit.isdigit() else 0
    from_tag, to_tag = KSR.pv.get("$ft"), KSR.pv.get("$tt")  # of the 2xx: $dlg has no to_tag in 5.6
    cap, tenant = _capped()
    if callid and cap and not minutes.answered(tenant, callid):
        _unrecorded(tenant, "start", callid)
    if callid and from_tag and to_tag and (timeout > 0 or max_duration > 0 or cap):
        watched = f"{int(time.time())} {timeout} {from_tag} {to_tag} {max_duration}"
        KSR.htable.sht_sets(WATCH_TABLE, callid, f"{watched} {cap} {tenant}" if cap else watched)


def forget() -> None:
    """dialog:end: the call is over, however it ended; a capped call's seconds are counted."""
    callid = KSR.pv.get("$dlg(callid)")
    if callid:
        KSR.htable.sht_rm(WATCH_TABLE, callid)
        cap, tenant = _capped()
        if cap and minutes.ended(tenant, callid) is None:
            _unrecorded(tenant, "end", callid)


def _unrecorded(tenant: str, what: str, callid: str) -> None:
    KSR.warn(printable(f"sbc: minutes of tenant {tenant}: Redis did not take the call's {what} [ci={callid}]") + "\n")
    metrics.limited("tenant", "minutes unrecorded")


def _capped() -> tuple[int, str]:
    """(minutes cap, tenant) of the current dialog's call, (0, "") when it counts against none."""
    cap = dlgvar.get(MINUTES_VAR)
    tenant = records.tenant()
    return (int(cap), tenant) if cap.isdigit() and int(cap) > 0 and tenant else (0, "")


def bye_reason() -> str | None:
    """The Reason of a BYE the dialog module builds for the current dialog, when the SBC is ending it."""
    value = dlgvar.get(END_REASON)
    return next((reason for prefix, reason in REASONS.items() if value.startswith(prefix)), None)


def ended_by(leg: str) -> None:
    """A BYE from `leg` (carrier|gateway) ends the call: the record says who hung up."""
    dlgvar.put(END_REASON, f"bye {leg}")


def sweep(ng_at: tuple[str, int]) -> None:
    """rtimer: every answered call asked about once; the calls silent too long are ended. When rtpengine
    does not answer, nothing is decided this round (the SBC never ends a call for its own trouble)."""
    now = int(time.time())
    spent: dict[str, int | None] = {}  # seconds per capped tenant, read once a round
    for callid, value in _watched():
        try:
            answer = ng.text(ng.query(*ng_at, callid, timeout=QUERY_TIMEOUT))
        except (OSError, RuntimeError, ValueError, IndexError):
            metrics.media_check("no answer")
            KSR.warn(printable(f"sbc: media watch: rtpengine did not answer a query [ci={callid}]") + "\n")
            return
        since, timeout, from_tag, to_tag, limit, cap, tenant = [*value.split(" ", 6), *[""] * 7][:7]
        if answer.get("result") != "ok" or not (since.isdigit() and timeout.isdigit()):
            metrics.media_check("unknown call")
            KSR.htable.sht_rm(WATCH_TABLE, callid)
            continue
        if limit.isdigit() and 0 < int(limit) <= now - int(since):
            _end(callid, from_tag, to_tag, MAX_DURATION, answer, ng_at)
            continue
        if cap.isdigit() and int(cap) > 0 and tenant:
            if tenant not in spent:
                spent[tenant] = minutes.used(tenant, int(limit) if limit.isdigit() and int(limit) else 86400)
            if spent[tenant] is not None and minutes.exhausted(spent[tenant], int(cap)):
                _end(callid, from_tag, to_tag, MINUTES_CAP, answer, ng_at)
                continue
        silent = silent_legs(answer, now, int(since), int(timeout)) if int(timeout) > 0 else []
        metrics.media_check("silent" if silent else "ok")
        if silent:
            _end(callid, from_tag, to_tag, f"{TIMEOUT_PREFIX} {'both' if len(silent) > 1 else silent[0]}", answer,
                 ng_at)


def _watched() -> list[tuple[str, str]]:
    """(Call-ID, "answered-at timeout from-tag to-tag max-duration") of every watched call, read before any is
    asked about."""
    return htables.items(WATCH_TABLE, ITERATOR)


def _end(callid: str, from_tag: str, to_tag: str, why: str, answer: dict, ng_at: tuple[str, int]) -> None:
    """BYE both ways (the dialog module's), with the figures rtpengine had and why; then its session goes."""
    KSR.htable.sht_rm(WATCH_TABLE, callid)
    if KSR.dialog.dlg_get(callid, from_tag, to_tag) < 0:
        return  # ended meanwhile
    quality.note(legs(answer))
    dlgvar.put(END_REASON, why)
    if why in (MAX_DURATION, MINUTES_CAP):  # counted once the dialog is this one: its tenant is known
        metrics.limited("tenant", "duration" if why == MAX_DURATION else "minutes ended")
    else:
        metrics.media_timeout(why.removeprefix(TIMEOUT_PREFIX).strip(), records.tenant())
    KSR.notice(printable(f"sbc: {why}: ending the call [ci={callid}]") + "\n")
    KSR.dialog.dlg_bye("all")
    try:
        ng.command(*ng_at, {"command": "delete", "call-id": callid, "from-tag": from_tag}, timeout=QUERY_TIMEOUT)
    except (OSError, RuntimeError, ValueError, IndexError):
        pass  # rtpengine's own timeout removes the session
