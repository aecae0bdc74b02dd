"""Dead media: an answered call whose RTP stopped in one or both directions for MEDIA_TIMEOUT seconds is
ended. Both sides get a BYE with a Reason header (added in tm:local-request, kemi.egress), the record
says which leg went silent (end_reason) and so does a metric.

rtpengine's own timeout ends a call only when every stream of it is silent, and tells the SIP side
nothing: a gateway that stopped streaming, or a carrier leg lost behind a firewall, would keep the call
(and the tenant's slot) until the dialog timeout. So a timer process (rtimer, every MEDIA_CHECK_INTERVAL
seconds) asks rtpengine about each answered call. The answered calls are kept in an htable (dialog:start
adds, dialog:end removes, the sweep drops what rtpengine or the dialog module no longer know). The
rtpengine module's query needs a SIP message, which a timer has not: the sweep asks over rtpengine's ng
protocol (kemi.ng), one UDP round trip per call. The decision is kemi.mediastats.silent_legs.
"""

from __future__ import annotations

import time

import KSR

from . import dlgvar, metrics, ng, quality, records
from .hiding import printable
from .mediastats import legs, silent_legs

WATCH_TABLE = "mediawatch"
ITERATOR = "mediawatch"
TIMEOUT_VAR = "media_timeout"  # dialog variable: the call's tenant has its own
END_REASON = "end_reason"  # dialog variable and CDR column: bye carrier|gateway, media timeout carrier|gateway|both
TIMEOUT_PREFIX = "media timeout"
# RFC 3326 with ITU-T Q.850 cause 102, "recovery on timer expiry": what both sides' BYEs carry.
REASON = 'Q.850;cause=102;text="media timeout"'
QUERY_TIMEOUT = 0.5  # seconds; rtpengine answers a query in well under a millisecond on loopback


def tenant_timeout(seconds: int | None) -> None:
    """A call routed for a tenant with a media timeout of its own (0: never ended for dead media)."""
    if seconds is not None:
        dlgvar.put(TIMEOUT_VAR, str(seconds))


def watch(default_timeout: int) -> None:
    """dialog:start: from now on both legs are due to send media, for the tenant's timeout or .env's."""
    callid, own = KSR.pv.get("$dlg(callid)"), dlgvar.get(TIMEOUT_VAR)
    timeout = int(own) if own.isdigit() else default_timeout
    from_tag, to_tag = KSR.pv.get("$ft"), KSR.pv.get("$tt")  # of the 2xx: $dlg has no to_tag in 5.6
    if callid and from_tag and to_tag and timeout > 0:
        KSR.htable.sht_sets(WATCH_TABLE, callid, f"{int(time.time())} {timeout} {from_tag} {to_tag}")


def forget() -> None:
    """dialog:end: the call is over, however it ended."""
    callid = KSR.pv.get("$dlg(callid)")
    if callid:
        KSR.htable.sht_rm(WATCH_TABLE, callid)


def bye_reason() -> str | None:
    """The Reason of a BYE the dialog module builds for the current dialog, when the SBC is ending it."""
    value = dlgvar.get(END_REASON)
    return REASON if value.startswith(TIMEOUT_PREFIX) else None


def ended_by(leg: str) -> None:
    """A BYE from `leg` (carrier|gateway) ends the call: the record says who hung up."""
    dlgvar.put(END_REASON, f"bye {leg}")


def sweep(ng_at: tuple[str, int]) -> None:
    """rtimer: every answered call asked about once; the calls silent too long are ended. When rtpengine
    does not answer, nothing is decided this round (the SBC never ends a call for its own trouble)."""
    now = int(time.time())
    for callid, value in _watched():
        try:
            answer = ng.text(ng.query(*ng_at, callid, timeout=QUERY_TIMEOUT))
        except (OSError, RuntimeError, ValueError, IndexError):
            metrics.media_check("no answer")
            KSR.warn(printable(f"sbc: media watch: rtpengine did not answer a query [ci={callid}]") + "\n")
            return
        since, timeout, from_tag, to_tag = [*value.split(" "), "", "", "", ""][:4]
        if answer.get("result") != "ok" or not (since.isdigit() and timeout.isdigit()):
            metrics.media_check("unknown call")
            KSR.htable.sht_rm(WATCH_TABLE, callid)
            continue
        silent = silent_legs(answer, now, int(since), int(timeout))
        metrics.media_check("silent" if silent else "ok")
        if silent:
            _end(callid, from_tag, to_tag, "both" if len(silent) > 1 else silent[0], answer, ng_at)


def _watched() -> list[tuple[str, str]]:
    """(Call-ID, "answered-at timeout from-tag to-tag") of every watched call, read before any is asked about:
    the iterator holds the table's slot locks, and the dialog:start of a new call waits on them."""
    found = []
    if KSR.htable.sht_iterator_start(ITERATOR, WATCH_TABLE) < 0:
        return found
    try:
        while KSR.htable.sht_iterator_next(ITERATOR) > 0:
            key, value = KSR.pv.get(f"$shtitkey({ITERATOR})"), KSR.pv.get(f"$shtitval({ITERATOR})")
            if isinstance(key, str) and isinstance(value, str):
                found.append((key, value))
    finally:
        KSR.htable.sht_iterator_end(ITERATOR)
    return found


def _end(callid: str, from_tag: str, to_tag: str, leg: str, answer: dict, ng_at: tuple[str, int]) -> None:
    """BYE both ways (the dialog module's), with the figures rtpengine had and why; then its session goes."""
    KSR.htable.sht_rm(WATCH_TABLE, callid)
    if KSR.dialog.dlg_get(callid, from_tag, to_tag) < 0:
        return  # ended meanwhile
    quality.note(legs(answer))
    dlgvar.put(END_REASON, f"{TIMEOUT_PREFIX} {leg}")
    metrics.media_timeout(leg, records.tenant())
    KSR.notice(printable(f"sbc: media timeout ({leg} silent): ending the call [ci={callid}]") + "\n")
    KSR.dialog.dlg_bye("all")
    try:
        ng.command(*ng_at, {"command": "delete", "call-id": callid, "from-tag": from_tag}, timeout=QUERY_TIMEOUT)
    except (OSError, RuntimeError, ValueError, IndexError):
        pass  # rtpengine's own timeout removes the session
