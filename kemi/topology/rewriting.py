"""What the far side sees of an initial request: the parties, the asserted identity, the headers kept."""

from __future__ import annotations

import KSR  # provided by app_python3 inside Kamailio (a fake in the unit tests)

from kemi.state import dlgvar
from kemi.topology import sdpscrub
from kemi.topology.hiding import CALLEE_FROM, CALLEE_TO, log
from sbclib import policy


def replace_from(settings, caller: str, side: str) -> None:
    """From = the caller at our own socket on the outgoing side, as To is (replace_to): neither names the
    other side, and both stay true when a failover sends the call to another peer (the egress check would
    drop a To naming the previous one's address). uac restores both in replies."""
    from_uri = f"sip:{caller}@{settings.socket_ip(side)}"
    KSR.uac.uac_replace_from_uri(from_uri)
    # kept for the dialog's own requests toward the callee (hiding.as_the_callee_knows_it): uac keeps
    # them on the dialog only on a single SBC (a pair's uac keeps them in the Record-Route)
    dlgvar.put(CALLEE_FROM, from_uri)


def replace_to(settings, number: str, side: str, peer: str) -> bool:
    """To = the number at the attempt's peer when it is named by host name (VAPI picks the trunk's
    credential by it, as by the Request-URI's; a name is no address the egress check could object to),
    else at our own socket. Toward gateways it is set per attempt (from the branch route: uac keeps the
    dialog's last), since each gateway's name belongs in it."""
    named = policy.named(peer)
    to_uri = f"sip:{number}@{named.host if named else settings.socket_ip(side)}"
    if KSR.uac.uac_replace_to_uri(to_uri) < 0:
        return False
    dlgvar.put(CALLEE_TO, to_uri)
    return True


def assert_identity(settings, user: str, side: str) -> None:
    """P-Asserted-Identity = the user at our own socket on the outgoing side (one, ours)."""
    if KSR.hdr.is_present("P-Asserted-Identity") > 0:
        KSR.hdr.remove("P-Asserted-Identity")
    KSR.hdr.append(f"P-Asserted-Identity: <sip:{user}@{settings.socket_ip(side)}>\r\n")


def sanitize_initial(svc, req) -> bool:
    """Nothing the sender wrote decides where the call goes or what the far side learns:
    preloaded Route headers go (the next hop is chosen here), and so does every header outside
    the whitelist (User-Agent, Server, X-*, P-Charging-Vector, ...), and what the SDP says of its
    sender. False: answered (an SDP that could not be scrubbed)."""
    if KSR.hdr.is_present("Route") > 0:
        log(KSR.notice, f"removed preloaded Route from {req.src}")
        KSR.hdr.remove("Route")
    remove_headers(svc, policy.outside_whitelist(req.names))
    return scrub_sdp(svc, req)


def scrub_sdp(svc, req) -> bool:
    """A request's SDP tells nothing of its sender (kemi.topology.sdpscrub), or it is answered 488 (ACK: dropped).
    In a request route only, before record_route: the edits are applied to the message."""
    if KSR.textops.has_body_type("application/sdp") <= 0 or sdpscrub.scrub():
        return True
    svc.guard.refused("media", req.side, "sdp not scrubbed")
    if not req.is_ack:
        svc.guard.reply(488, "Not Acceptable Here", req.side)
    return False


def remove_headers(svc, names: list[str]) -> None:
    """By name (names from the ingress check of this message): no regular expression compiled per
    message, as textops' remove_hf_re/keep_hf_re do with a KEMI string."""
    if svc.filter_headers:
        for name in names:
            KSR.hdr.remove(name)
