"""Time from the agent's answer to its first RTP packet: what a caller waits, after the answer, before the agent
can be heard (an AI platform answers, then starts its pipeline). The call record's agent_rtp_ms, and a histogram.

rtpengine counts packets per stream but keeps no first packet's time, and its module's query needs a SIP
message. So dialog:start puts the call in an htable, and a timer process of its own (every RTP_POLL_MS) asks
rtpengine over ng about those calls only, until the gateway's leg has sent a packet (then it is recorded and
forgotten) or WATCHED_S passed (counted as none). Resolution: one poll; a call whose agent streamed before the
answer (early media) shows at most one poll.
"""

from __future__ import annotations

import time

import KSR

from kemi.state import dlgvar, htables
from kemi.telemetry import metrics, records
from kemi.topology.hiding import printable
from sbclib import ng
from sbclib.mediastats import legs

TABLE = ITERATOR = "firstrtp"
RECORD = "agent_rtp_ms"  # the call record's field
WATCHED_S = 10.0  # past this without the agent's RTP: counted as none
QUERY_TIMEOUT = 0.2


def watch() -> None:
    """dialog:start: the agent answered; from now on its leg is asked about."""
    callid, from_tag, to_tag = KSR.pv.get("$dlg(callid)"), KSR.pv.get("$ft"), KSR.pv.get("$tt")
    if callid and from_tag and to_tag:
        KSR.htable.sht_sets(TABLE, callid, f"{time.monotonic():.3f} {from_tag} {to_tag}")


def forget() -> None:
    """dialog:end before the agent sent anything."""
    callid = KSR.pv.get("$dlg(callid)")
    if callid:
        KSR.htable.sht_rm(TABLE, callid)


def poll(ng_at: tuple[str, int]) -> None:
    """rtimer: each call waiting for its agent's first packet asked about once."""
    for callid, value in htables.items(TABLE, ITERATOR):
        answered, from_tag, to_tag = [*value.split(" "), "", ""][:3]
        try:
            answer = ng.text(ng.query(*ng_at, callid, timeout=QUERY_TIMEOUT))
        except (OSError, RuntimeError, ValueError, IndexError):
            return  # rtpengine busy or away: asked again next round
        waited = time.monotonic() - float(answered) if answered.replace(".", "", 1).isdigit() else WATCHED_S
        agent = legs(answer).get("gateway") if answer.get("result") == "ok" else None
        if agent is not None and agent.packets > 0:
            KSR.htable.sht_rm(TABLE, callid)
            _record(callid, from_tag, to_tag, waited)
        elif answer.get("result") != "ok" or waited >= WATCHED_S:
            KSR.htable.sht_rm(TABLE, callid)
            _record(callid, from_tag, to_tag, None)


def _record(callid: str, from_tag: str, to_tag: str, waited: float | None) -> None:
    if KSR.dialog.dlg_get(callid, from_tag, to_tag) < 0:
        return  # ended meanwhile
    tenant = records.tenant()
    if waited is None:
        metrics.agent_rtp_missing(tenant)
        KSR.notice(printable(f"sbc: no RTP from the agent {WATCHED_S:.0f} s after its answer [ci={callid}]") + "\n")
        return
    dlgvar.put(RECORD, str(round(waited * 1000)))
    metrics.agent_first_rtp(tenant, waited)
