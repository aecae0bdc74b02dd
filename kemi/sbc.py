"""The object app_python3 calls: every name Kamailio knows (kamailio.cfg's callbacks, the routes tm arms) in one
table, each a handler of (svc, event). A handler never lets an exception reach Kamailio: it answers or drops."""

from __future__ import annotations

import traceback
from collections.abc import Callable

import KSR  # provided by app_python3 inside Kamailio (a fake in the unit tests)

from kemi import events, ksrcount, routes
from kemi.access import peers
from kemi.context import Reply, Request, take_reply
from kemi.gateways import attempts
from kemi.services import Services
from kemi.state import cluster
from kemi.topology import egress
from kemi.topology.hiding import crashed


def request(svc: Services, event: str) -> int:
    try:
        side = peers.arrived_on(svc.settings)
        if side is None and cluster.on_bus(svc.settings, KSR.kx.get_rcvip(), str(KSR.kx.get_rcvport())):
            cluster.bus_message(svc.settings)
            return 1
        routes.request(svc, Request(side))
    except Exception:  # noqa: BLE001 - nothing may escape into Kamailio unanswered
        crashed("request route", traceback.format_exc())
        if not KSR.is_ACK():
            svc.guard.reply(500, "Server Internal Error", peers.arrived_on(svc.settings))
    return 1


def reply_media(svc: Services, event: str) -> int:
    reply = take_reply()
    if reply is None:  # the core reply route did not hand it over: read it here
        reply = Reply(peers.arrived_on(svc.settings), svc.guard.problem(is_request=False)[1])
    return attempts.reply_media(svc, reply)


def topos_event(svc: Services, event: str) -> int:
    """topos:msg-receiving (Kamailio 6.0, Call-ID masking on): remember whether the Call-ID arrived
    masked, before topos decodes it for the routes."""
    try:
        svc.guard.note_arrival()
    except Exception:  # noqa: BLE001
        crashed("topos event handler", traceback.format_exc())
    return 1


ENTRY_POINTS: dict[str, Callable[[Services, str], int]] = {
    # SIP messages, in the order a call meets them
    "ksr_request_route": request,  # every request
    "branch_to_gateway": lambda svc, _: attempts.branch_media(svc, "private", "public"),  # each attempt
    "branch_to_telecom": lambda svc, _: attempts.branch_media(svc, "public", "private"),
    "ksr_reply_route": lambda svc, _: egress.reply_route(svc),  # every reply, before tm
    "reply_media": reply_media,  # an INVITE's replies, after tm
    "failure_from_gateway": lambda svc, _: attempts.failure(svc, svc.to_gateway),  # an attempt without 2xx
    "failure_from_telecom": lambda svc, _: attempts.failure(svc, svc.to_carrier),
    "ksr_onsend_route": lambda svc, _: egress.onsend_route(svc),  # everything sent (6.0)
    "ksr_onsend_check": lambda svc, _: egress.onsend_check(svc),  # everything sent (5.6's native onsend)
    # module events
    "ksr_topos_event": topos_event,
    "ksr_tm_event": lambda svc, _: egress.local_request(svc),  # tm:local-request
    "ksr_dialog_event": events.dialog_event,
    "ksr_dispatcher_event": events.dispatcher_event,
    "ksr_uac_reply": events.uac_reply,
    "ksr_xhttp_event": events.xhttp_event,
    # timers (rtimer, each its own process)
    "ksr_media_watch": events.media_watch,
    "ksr_first_rtp": events.first_rtp,
    "ksr_snapshot": events.snapshot,
    "ksr_gateway_dns": events.gateway_dns,
}


def _bound(handler: Callable[[Services, str], int], svc: Services) -> Callable[..., int]:
    """What app_python3 calls: (msg) for routes, (msg, event) for events and timers."""
    def call(msg=None, event: str = "") -> int:
        return handler(svc, event)
    return call


class Sbc:
    """mod_init's object: app_python3 looks each route up by name on it (one attribute per ENTRY_POINTS entry,
    set once here, so a lookup is a plain attribute read)."""

    def __init__(self, svc: Services):
        self.svc = svc
        for name, handler in ENTRY_POINTS.items():
            setattr(self, name, ksrcount.counted(name, _bound(handler, svc)))

    def child_init(self, rank: int) -> int:
        return 0
