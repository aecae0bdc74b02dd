"""Time from the agent's answer to its first RTP packet: what a caller waits, after the answer, before the agent
can be heard (an AI platform answers, then starts its pipeline). The call record's agent_rtp_ms, and a histogram.

rtpengine counts packets per stream but keeps no first packet's time, and its module's query needs a SIP
message. So dialog:start puts the call in an htable, and a timer process of its own (every 100 ms) asks
rtpengine over ng about those calls only, until the gateway's leg has sent a packet (then it is recorded and
forgotten) or WATCHED_S passed (counted as none). A call is asked every 100 ms for its first 2 s, then every
500 ms (a platform streams from its answer: one query, typically; one that never does, 36), and at most
MAX_ASKS calls a round (500 queries/s): under load the resolution degrades, not the CPU. Resolution: one
poll; a call whose agent streamed before the answer (early media) shows at most one poll.
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
MAX_ASKS = 50  # queries per round (every 100 ms)


def next_ask(now: float, waited: float) -> float:
    """When a call that has not streamed yet is asked again: 100 ms apart for its first 2 s, then 500 ms."""
    return now + (0.1 if waited < 2.0 else 0.5)


def watch() -> None:
    """dialog:start: the agent answered; from now on its leg is asked about."""
    callid, from_tag, to_tag = KSR.pv.get("$dlg(callid)"), KSR.pv.get("$ft"), KSR.pv.get("$tt")
    if callid and from_tag and to_tag:
        now = time.monotonic()
        KSR.htable.sht_sets(TABLE, callid, f"{now:.3f} {from_tag} {to_tag} {now:.3f}")


def forget() -> None:
    """dialog:end before the agent sent anything."""
    callid = KSR.pv.get("$dlg(callid)")
    if callid:
        KSR.htable.sht_rm(TABLE, callid)


def poll(ng_at: tuple[str, int]) -> None:
    """rtimer: each call waiting for its agent's first packet and due asked about once, MAX_ASKS at most."""
    asked = 0
    for callid, value in htables.items(TABLE, ITERATOR):
        answered, from_tag, to_tag, due = [*value.split(" "), "", "", ""][:4]
        now = time.monotonic()
        if _seconds(due) > now:
            continue
        if asked == MAX_ASKS:
            return  # the rest next round
        asked += 1
        try:
            answer = ng.text(ng.query(*ng_at, callid, timeout=QUERY_TIMEOUT))
        except (OSError, RuntimeError, ValueError, IndexError):
            return  # rtpengine busy or away: asked again next round
        waited = now - _seconds(answered) if _seconds(answered) else WATCHED_S
        agent = legs(answer).get("gateway") if answer.get("result") == "ok" else None
        if agent is not None and agent.packets > 0:
            KSR.htable.sht_rm(TABLE, callid)
            _record(callid, from_tag, to_tag, waited)
        elif answer.get("result") != "ok" or waited >= WATCHED_S:
            KSR.htable.sht_rm(TABLE, callid)
            _record(callid, from_tag, to_tag, None)
        else:
            KSR.htable.sht_sets(TABLE, callid, f"{answered} {from_tag} {to_tag} {next_ask(now, waited):.3f}")


def _seconds(text: str) -> float:
    """A monotonic time as the table keeps it; 0 for anything else."""
    try:
        return float(text)
    except ValueError:
        return 0.0


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
