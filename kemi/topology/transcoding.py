"""Which codecs an offer may carry toward a peer (sbclib/codecs.py decides): a gateway's row policy for the
attempt to it (kept on the dialog for the call's later offers), the carriers' from .env. An offer that
cannot reach the peer (no codec in common, no transcoding) does not go: the attempt's branch is dropped
(the next peer is tried), a re-offer answered 488."""

from __future__ import annotations

import KSR

from kemi.state import dlgvar
from kemi.telemetry import metrics
from kemi.topology.hiding import log
from sbclib import codecs

GATEWAY_CODECS_VAR = "gateway_codecs"  # dialog variable: the gateway row's policy (Policy.encode)
MISMATCH = metrics.CODEC_MISMATCH


def for_attempt(svc, dst: str, attrs: object) -> codecs.Policy:
    """The policy toward the peer of this attempt: the selected gateway row's, or the carriers'."""
    if dst != "public":
        return svc.settings.carrier_codec_policy
    policy = codecs.policy_of(attrs)
    if policy.any or dlgvar.get(GATEWAY_CODECS_VAR):  # a failover from a row with one clears it
        dlgvar.put(GATEWAY_CODECS_VAR, policy.encode())
    return policy


def toward(svc, side: str) -> codecs.Policy:
    """In the dialog: the policy of the peer on `side` (the gateway's as its attempt had it)."""
    if side == "private":
        return svc.settings.carrier_codec_policy
    return codecs.decode(dlgvar.get(GATEWAY_CODECS_VAR))


def reaches(policy: codecs.Policy, side: str) -> bool:
    """Can this message's offer go to a peer with this policy? Its body is read only when the answer
    depends on it; a body that is no text offers nothing known."""
    if codecs.reaches(policy, ()):
        return True
    try:
        body = KSR.kx.get_body()
    except (UnicodeDecodeError, ValueError):
        body = ""
    offer = codecs.offered(body if isinstance(body, str) else "")
    if codecs.reaches(policy, offer):
        return True
    log(KSR.notice, f"offer of {','.join(offer) or 'no known codec'} not sent to the {side} side, which takes "
                    f"{','.join(policy.codecs)} without transcoding")
    KSR.xhttp_prom.counter_inc_l1(MISMATCH, 1, side)
    return False
