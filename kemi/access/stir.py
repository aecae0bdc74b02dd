"""STIR/SHAKEN verification of a carrier's Identity header on an inbound call (decisions in sbclib/stir.py):
the header's claims read, its certificate's URL checked against STIR_X5U_PREFIXES, then Kamailio's secsipid
verifies the signature, the certificate (in date, chaining to STIR_CA_FILE) and the PASSporT's age. The agent
is told the verdict; a tenant that requires a verified caller ID refuses the rest."""

from __future__ import annotations

import KSR

from kemi.state import dlgvar
from kemi.telemetry import metrics
from kemi.topology.hiding import log
from sbclib import stir

RECORD = "stir"  # the call record's field


def verify(settings, caller: str | None, called: str) -> stir.Verdict | None:
    """The verdict on this INVITE's Identity; None when verification is off (no STIR_CA_FILE)."""
    if not settings.stir:
        return None
    present = KSR.hdr.is_present("Identity") > 0
    found = stir.claims(KSR.hdr.get("Identity")) if present else None
    signature_ok = None
    if found is not None and stir.x5u_allowed(found.x5u, settings.stir_x5u_prefixes):
        # fetches the certificate (at most 2 s, then cached an hour) and checks it and the signature
        signature_ok = KSR.secsipid.secsipid_check_identity("") > 0
    verdict = stir.verdict(found, present, signature_ok, caller, called)
    metrics.stir(verdict.verstat, verdict.reason)
    if verdict.reason:
        log(KSR.notice, f"inbound {called}: Identity not verified ({verdict.reason})"
                        + (f", x5u {found.x5u!r}" if found is not None else ""))
    return verdict


def refusal(verdict: stir.Verdict | None, required: bool) -> tuple[int, str] | None:
    """What a tenant requiring a verified caller ID answers (RFC 8224 6.2.2); None: the call goes on."""
    if not required or (verdict is not None and verdict.verstat == stir.PASSED):
        return None
    if verdict is None:  # required, but this SBC verifies nothing (STIR_CA_FILE unset): fail closed
        log(KSR.err, "a tenant requires a verified caller ID and STIR_CA_FILE is not set: refused")
        return 438, "Invalid Identity Header"
    return (428, "Use Identity Header") if verdict.verstat == stir.ABSENT else (438, "Invalid Identity Header")


def recorded(verdict: stir.Verdict | None) -> None:
    """Into the call record (after dlg_manage)."""
    if verdict is not None:
        dlgvar.put(RECORD, verdict.record)
