"""The SBC's own registrations (sbcctl registration) as a gauge, read from the uac module at scrape time:
1 while the registrar's binding holds, 0 otherwise (refused, unanswered, waiting for its retry, disabled)."""

from __future__ import annotations

import json

import KSR

from kemi.telemetry import metrics
from sbclib import registrations


def refresh_gauges() -> None:
    if KSR.jsonrpcs.exec(json.dumps({"jsonrpc": "2.0", "method": "uac.reg_dump", "id": 1})) < 0:
        return
    for name, state in registrations.states_of_reply(KSR.pv.get("$jsonrpl(body)")).items():
        KSR.xhttp_prom.gauge_set_l1(metrics.REGISTRATION_UP, "1" if state == "registered" else "0", name)
