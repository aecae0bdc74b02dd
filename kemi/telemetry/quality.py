"""Media quality recorded when a call ends: rtpengine is queried on the BYE, before its session is
deleted, and each leg's figures (sbclib.mediastats) go into the call's record and the quality metrics. The
CDR is written when the BYE's reply passes (acc on DLGCB_TERMINATED_CONFIRMED), so the dialog variables
set here reach it."""

from __future__ import annotations

import KSR

from kemi.state import dlgvar
from kemi.telemetry import metrics, records
from sbclib.mediastats import Leg, parse

QUERY_VAR = "$var(sbc_media)"


def record() -> dict[str, Leg]:
    """BYE of a call, before rtpengine_delete: the call's figures into its record and the quality
    metrics. Returns what was recorded (nothing when rtpengine does not answer)."""
    if KSR.rtpengine.rtpengine_query_v("j", QUERY_VAR) < 0:
        return {}
    return note(parse(KSR.pv.get(QUERY_VAR)))


def note(found: dict[str, Leg]) -> dict[str, Leg]:
    """Each leg's figures into the current dialog's record and the quality metrics."""
    tenant, group = records.tenant(), records.group()
    for leg, figures in found.items():
        for name, value in figures.fields().items():
            dlgvar.put(f"{leg}_{name}", value)
        metrics.media_quality(leg, tenant, group, figures.mos, figures.jitter_ms, figures.loss_pct, figures.rtt_ms)
    return found
