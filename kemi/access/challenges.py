"""A peer's 401/407 challenge to the SBC's INVITE, answered with that peer's credentials (uac_auth): once
per attempt, so a peer that refuses them fails over like any other failed peer instead of looping."""

from __future__ import annotations

import re

import KSR  # provided by app_python3 inside Kamailio (a fake in the unit tests)

from kemi.telemetry import metrics
from kemi.topology.hiding import log
from sbclib.diddb import Credential

DESTINATION_AVP = "$avp(sbc_dst)"  # where the current attempt goes ($du, or the R-URI of a direct URI)
ANSWERED_AVP = "$avp(sbc_auth_dst)"  # the attempt whose challenge was answered already
# uac's auth AVPs (kamailio.cfg: auth_realm_avp, auth_username_avp, auth_password_avp).
REALM_AVP, USERNAME_AVP, PASSWORD_AVP = "$avp(sbc_auth_realm)", "$avp(sbc_auth_user)", "$avp(sbc_auth_pass)"
UAC_MODE_HA1 = 1  # uac_auth_mode: the password AVP holds HA1
CHALLENGES = (401, 407)

_HOST = re.compile(r"^sips?:(?:[^@;?]*@)?(\[[^\]]+\]|[^:;?>]+)")


def peer_host(uri: str) -> str | None:
    """The host of a SIP URI, lowercase: the key of a peer's credential."""
    m = _HOST.match(uri or "")
    return m.group(1).lower() if m else None


def outcome(destination: str, answered_for: str | None, credential: Credential | None) -> str:
    """What to do with a challenge: "answer", or why not ("refused": the peer challenged the answer
    itself, i.e. it did not accept our credentials; "no credential" for this peer)."""
    if answered_for == destination:
        return "refused"
    if credential is None:
        return "no credential"
    return "answer"


def answer(svc, leg) -> bool:
    """A peer's challenge to the current attempt, from the failure route: True when its credentials are set
    for the same peer (the caller re-sends the INVITE); False means the caller fails over (the challenge
    counts as the peer's failure)."""
    destination = KSR.pv.get(DESTINATION_AVP) or ""
    answered_for = KSR.pv.get(ANSWERED_AVP)
    host = peer_host(destination) if answered_for != destination else None
    credential = svc.current("credential", svc.credentials, host) if host else None
    decision = outcome(destination, answered_for, credential)
    if decision == "answer":
        KSR.pv.sets(REALM_AVP, credential.realm)
        KSR.pv.sets(USERNAME_AVP, credential.username)
        KSR.pv.sets(PASSWORD_AVP, credential.ha1 or credential.password)
        if KSR.uac.uac_auth_mode(UAC_MODE_HA1 if credential.ha1 else 0) < 0:
            decision = "not answerable"  # uac logged why: realm mismatch, unparsable challenge
    metrics.peer_auth(leg.direction, decision)
    if decision != "answer":
        log(KSR.notice, f"{leg.peer} {destination} challenged the call: {decision}")
        return False
    KSR.pv.sets(ANSWERED_AVP, destination)
    if destination != KSR.kx.get_ruri():
        KSR.setdsturi(destination)  # uac_auth set the R-URI; the packet still goes where it went
    log(KSR.info, f"{leg.peer} {destination} challenged the call: answered as {credential.username}")
    return True
