"""The last checks before a message goes on: a reply topos could not carry hidden, a relayed message
naming a third party's address, a locally built request toward a call's callee. Whatever they find,
and any crash in them, drops the message (fail closed)."""

from __future__ import annotations

import traceback
from collections.abc import Callable

import KSR  # provided by app_python3 inside Kamailio (a fake in the unit tests)

from kemi import context
from kemi.access import peers
from kemi.gateways import gwprobe
from kemi.state import cluster, deadmedia
from kemi.telemetry import metrics
from kemi.topology import tlspeer
from kemi.topology.hiding import DOWNSTREAM, crashed, log


def _drop() -> int:
    """Drop the message being sent or relayed: 6.0 reads the drop flag, 5.6 needs the route to return 0 too."""
    KSR.set_drop()
    return 0


def _refused(where: str, found: Callable[[], bool]) -> bool:
    """Run a check on a message about to go on: what it finds, and any crash in it, refuses the message."""
    try:
        return bool(found())
    except Exception:  # noqa: BLE001 - fail closed: an unchecked message does not leave
        crashed(where, traceback.format_exc())
        return True


def _drop_when(where: str, found: Callable[[], bool]) -> int:
    return _drop() if _refused(where, found) else 1


def reply_route(svc) -> int:
    """Every reply, before tm: one topos cannot carry hidden is dropped (the transaction then
    times out and fails over, as if the peer had not answered). So is one without a transaction
    (a 2xx retransmitted after its transaction ended, or across a restart): the core would relay
    it statelessly, past uac's From/To restore, the rtpengine answer and the header filter.
    What it learnt of a reply it passes goes to tm's reply route (kemi.context)."""
    context.hand_reply(None)
    return _drop_when("reply check", lambda: reply_refused(svc))


def onsend_route(svc) -> int:
    """The last look at every relayed request and reply: nothing naming a third address leaves
    (Kamailio 6.0 honours the drop here; on 5.6 kamailio.cfg calls onsend_check instead)."""
    return _drop_when("egress check", lambda: egress_leaks(svc))


def onsend_check(svc) -> int:
    """The same check for Kamailio 5.6, called by kamailio.cfg's native onsend route, which drops on -1.
    No KSR.set_drop() here: outside a KEMI route it would mark the enclosing route's context."""
    return -1 if _refused("egress check", lambda: egress_leaks(svc)) else 1


def local_request(svc) -> int:
    """tm:local-request: a request built here (dialog BYEs from dlg.end_dlg, a timeout or dead media;
    probes). Toward a call's callee it gets the callee's Call-ID/From/To (topos leaves local requests
    alone), or is dropped and counted; a BYE the SBC ends a call with says why (Reason). Dispatcher's
    probe of a gateway whose name kemi/gateways/gwprobe.py probes target by target is dropped too."""
    return _drop_when("tm event handler", lambda: gwprobe.probe_dropped() or local_request_leaks(svc))


def reply_refused(svc) -> bool:
    settings, guard = svc.settings, svc.guard
    if settings.clustered and cluster.on_bus(settings, KSR.kx.get_rcvip(), str(KSR.kx.get_rcvport())):
        return False  # the other node's answer to our KDMQ: dmq's transaction (a dropped one is resent)
    side = peers.arrived_on(settings)
    reason, names = guard.problem(is_request=False)
    if reason is None and tlspeer.refusal(side) is not None:
        return True  # logged and counted there; the attempt times out and fails over
    if reason is None and KSR.tm.t_check_trans() < 0:
        reason = "no transaction"
    if reason is None:
        context.hand_reply(context.Reply(side, names))
        return False
    guard.refused("ingress", side, reason)
    return True


def egress_leaks(svc) -> bool:
    guard = svc.guard
    side = guard.egress_side()
    if side == cluster.BUS:
        return False  # KDMQ to the other node carries both sides' call state by design
    leaks = guard.egress_leaks()
    if not leaks:
        return False
    log(KSR.err, f"egress: dropped a message to the {side} side naming {', '.join(leaks[:5])}")
    metrics.topology_guard("egress", side, "foreign address")
    return True


def local_request_leaks(svc) -> bool:
    if KSR.siputils.has_totag() < 0 or KSR.is_ACK() or KSR.is_CANCEL():
        return False
    guard = svc.guard
    direction = guard.local_request_direction()
    refusal = "no dialog" if direction is None else (
        "toward callee" if direction == DOWNSTREAM and not guard.as_the_callee_knows_it() else None)
    if refusal is not None:
        side = guard.local_side()
        log(KSR.warn, f"local {KSR.kx.get_method()} to the {side} side dropped ({refusal}): "
                      "it would carry the caller's identifiers")
        metrics.topology_guard("local", side, refusal)
        return True
    reason = deadmedia.bye_reason() if KSR.is_BYE() else None
    if reason is not None and KSR.hdr.is_present("Reason") < 0:
        KSR.hdr.append(f"Reason: {reason}\r\n")
    return False
