"""What the SBC remembers about each routed call: dialog variables, read by acc's CDR writer (the
sbc_cdr columns of the same names, see kamailio.cfg) and by `sbcctl calls` (dlg.list)."""

from __future__ import annotations

import time

import KSR

from . import metrics, timing

DIRECTION, DID, TENANT, GROUP, CODE = "direction", "did", "tenant", "group", "code"
# The peer that is not the call's source: the gateway for an inbound call, the carrier for outbound.
PEER_OF = {"inbound": "gateway", "outbound": "carrier"}
SOURCE_OF = {"inbound": "carrier", "outbound": "gateway"}


def db_time(seconds: float) -> str:
    """Local time with milliseconds, as MariaDB's DATETIME(3) reads it (acc writes local time too)."""
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(seconds)) + f".{int(seconds * 1000) % 1000:03d}"


def call_routed(direction: str, did: str, tenant: str) -> None:
    """The call passed every check and is about to be relayed (after dlg_manage)."""
    for name, value in (
        ("setup_time", db_time(time.time())),
        (DIRECTION, direction),
        (DID, did),
        (TENANT, tenant),
        (SOURCE_OF[direction], KSR.kx.get_srcip()),
        ("call_id", KSR.kx.get_callid()),
    ):
        KSR.dialog.var_sets(name, value)
    KSR.dialog.set_dlg_profile(metrics.DIRECTION_PROFILE, direction)


def attempt(direction: str, group: str, peer: str) -> None:
    """Each attempt overwrites the last: the record names the peer that answered or failed last."""
    KSR.dialog.var_sets(GROUP, group)
    KSR.dialog.var_sets(PEER_OF[direction], peer)


def tenant() -> str:
    return _var(TENANT)


def group() -> str:
    return _var(GROUP)


def carrier() -> str:
    """The carrier's address (an inbound call's source) or URI (an outbound call's peer)."""
    return _var("carrier")


def answered(code: int) -> None:
    """The dialog was confirmed (dialog:start). Guarded by the code: a call records one final answer.
    (Not dialog.var_is_null: in 5.6.3 it answers 1 when the variable IS set.)"""
    if not _var(CODE) and _var(DIRECTION):
        pdd, to_answer = timing.answered()
        _delays(pdd, to_answer)
        _finish(code)


def failed(code: int) -> None:
    _delays(timing.ringing(), None)
    _finish(code)


def _delays(pdd: float | None, to_answer: float | None) -> None:
    """The last attempt's post-dial delay and time to answer, in ms (NULL in the record when absent)."""
    for name, seconds in (("pdd_ms", pdd), ("answer_ms", to_answer)):
        if seconds is not None:
            KSR.dialog.var_sets(name, str(round(seconds * 1000)))


def _finish(code: int) -> None:
    KSR.dialog.var_sets(CODE, str(code))
    metrics.call_finished(_var(DIRECTION), _var(TENANT), _var(GROUP), code)


def _var(name: str) -> str:
    value = KSR.dialog.var_get(name)
    return value if isinstance(value, str) else ""
