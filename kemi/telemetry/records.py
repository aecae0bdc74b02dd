"""What the SBC remembers about each routed call: dialog variables, read by acc's CDR writer (the
sbc_cdr columns of the same names, see kamailio.cfg) and by `sbcctl calls` (dlg.list)."""

from __future__ import annotations

import time

import KSR

from kemi.state import dlgvar
from kemi.telemetry import metrics, timing
from sbclib import callcontext

DIRECTION, DID, TENANT, GROUP, CODE = "direction", "did", "tenant", "group", "code"
END_REASON = "end_reason"  # CDR column: bye carrier|gateway, media timeout <leg>, max duration, refused <why>
OWNER = "node"  # in a pair: which node (address/start) made the call's dialog (kemi.state.cluster)
# The peer that is not the call's source: the gateway for an inbound call, the carrier for outbound.
PEER_OF = {"inbound": "gateway", "outbound": "carrier"}
SOURCE_OF = {"inbound": "carrier", "outbound": "gateway"}


def db_time(seconds: float) -> str:
    """Local time with milliseconds, as MariaDB's DATETIME(3) reads it (acc writes local time too)."""
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(seconds)) + f".{int(seconds * 1000) % 1000:03d}"


def call_routed(direction: str, did: str, tenant: str, owner: str = "") -> None:
    """The call passed every check and is about to be relayed (after dlg_manage); `owner`: the node making
    its dialog, in a pair (kemi.state.cluster)."""
    if owner:
        dlgvar.put(OWNER, owner)
    for name, value in (
        ("setup_time", db_time(time.time())),
        (DIRECTION, direction),
        (DID, did),
        (TENANT, tenant),
        (SOURCE_OF[direction], KSR.kx.get_srcip()),
        ("call_id", KSR.kx.get_callid()),
    ):
        dlgvar.put(name, value)
    KSR.dialog.set_dlg_profile(metrics.DIRECTION_PROFILE, direction)


def attempt(direction: str, group: str, peer: str) -> None:
    """Each attempt overwrites the last: the record names the peer that answered or failed last."""
    dlgvar.put(GROUP, group)
    dlgvar.put(PEER_OF[direction], peer)


def tenant() -> str:
    return dlgvar.get(TENANT)


def group() -> str:
    return dlgvar.get(GROUP)


def carrier() -> str:
    """The carrier's address (an inbound call's source) or URI (an outbound call's peer)."""
    return dlgvar.get("carrier")


def answered(code: int) -> None:
    """The dialog was confirmed (dialog:start). Guarded by the code: a call records one final answer.
    (Not dialog.var_is_null: in 5.6.3 it answers 1 when the variable IS set.) The code is written before
    the ringing time is read, and late_ringing() reads the code after that time was written: of a 18x
    and a 200 read by two workers at once, one of the two always records the post-dial delay."""
    if not dlgvar.get(CODE) and dlgvar.get(DIRECTION):
        dlgvar.put(CODE, str(code))
        pdd, to_answer = timing.answered()
        _delays(_no_later(pdd, to_answer), to_answer)
        metrics.call_finished(dlgvar.get(DIRECTION), dlgvar.get(TENANT), dlgvar.get(GROUP), code)


def late_ringing(pdd: float) -> None:
    """A 18x read after its call's answer was recorded (workers read back-to-back replies in any order)."""
    if dlgvar.get(CODE):
        answer_ms = dlgvar.get("answer_ms")
        _delays(_no_later(pdd, int(answer_ms) / 1000 if answer_ms.isdigit() else None), None)


def _no_later(pdd: float | None, to_answer: float | None) -> float | None:
    """A 18x is stamped when a worker reads it off the socket: one preempted between its read and its stamp
    (seen: 10 ms after its 200, on a loaded 2-core host) would ring after the answer, which the wire never
    does: such a call rang as it answered."""
    return min(pdd, to_answer) if pdd is not None and to_answer is not None else pdd


def failed(code: int) -> None:
    _delays(timing.ringing(), None)
    _finish(code)


def refused(code: int, why: str) -> None:
    """A call refused by policy once its record had begun (it reached no peer): the record says why."""
    dlgvar.put(END_REASON, why)
    _finish(code)


def _delays(pdd: float | None, to_answer: float | None) -> None:
    """The last attempt's post-dial delay and time to answer, in ms (NULL in the record when absent)."""
    for name, seconds in (("pdd_ms", pdd), ("answer_ms", to_answer)):
        if seconds is not None:
            dlgvar.put(name, str(round(seconds * 1000)))


def _finish(code: int) -> None:
    dlgvar.put(CODE, str(code))
    metrics.call_finished(dlgvar.get(DIRECTION), dlgvar.get(TENANT), dlgvar.get(GROUP), code)


AGENT_HEADERS = "agent_headers"  # CDR column: the gateway's X- headers on its 2xx and BYE (sbclib.callcontext)


def agent_headers(names: tuple[str, ...]) -> None:
    """The agent's X- headers of this message (its 2xx, its BYE) into the call's record, a later value of a
    name over the earlier one. Read before they are removed: they stay on the gateway's side."""
    found = [(name, header_value(name)) for name in dict.fromkeys(names) if name.startswith("x-")]
    if found:
        dlgvar.put(AGENT_HEADERS, callcontext.agent_record(dlgvar.get(AGENT_HEADERS), found))


def header_value(name: str) -> str | None:
    """A header's first value as text; None without one, or for bytes Python cannot read."""
    try:
        value = KSR.hdr.get(name)
    except (UnicodeDecodeError, ValueError):  # bytes Python cannot read: not kept
        return None
    return value if isinstance(value, str) else None
