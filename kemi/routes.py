"""The SBC's SIP routes, top to bottom as a call flows through them.

request -> reqinit -> in_dialog (indialog.py) | from_telecom -> to_public_gateway | from_public_gateway ->
to_telecom; then, per attempt, attempts.py (peer selection, relay, per-branch media, replies, failover).
What leaves is checked in egress.py, what the far side sees of a request is rewriting.py's, who may call
admission.py's. Every function takes what the process keeps (`svc`, kemi.services) and the message's own
facts (`req`, kemi.context), and nothing else: these modules read the message, ask the pure decisions
(policy, e164, tenancy, didcache), and tell Kamailio what to do.
"""

from __future__ import annotations

import KSR  # provided by app_python3 inside Kamailio (a fake in the unit tests)

from kemi import indialog
from kemi.access import admission, peers, stir
from kemi.access.accounts import PEER_TAG_AVP, registration
from kemi.access.admission import reject
from kemi.access.peers import BAN_TABLE
from kemi.context import Request
from kemi.gateways import attempts, ringback
from kemi.gateways.attempts import GROUP_AVP, GROUPS_AVP, NUMBER_AVP
from kemi.state import cluster
from kemi.telemetry import records
from kemi.topology import hiding, rewriting, tlspeer
from kemi.topology.hiding import log
from sbclib import callcontext, e164, policy, tenancy
from sbclib.didcache import DidUnavailable

MAX_FORWARDS = 10


def request(svc, req: Request) -> None:
    req.peer = peers.identify(svc.settings, req)
    if not reqinit(svc, req):
        return
    if req.in_dialog:
        indialog.in_dialog(svc, req)
        return
    method, peer = req.method, req.peer
    if method == "CANCEL":
        if KSR.tm.t_check_trans() > 0:
            KSR.tm.t_relay()
        elif peer is not None:
            KSR.sl.send_reply(481, "Call/Transaction Does Not Exist")
        return
    if method == "ACK":
        # ACK for a locally generated negative reply is absorbed by tm; anything else is stray.
        KSR.tm.t_check_trans()
        return
    if method == "REGISTER" and peer == "account":
        registration(svc, req)
        return
    if peer in ("gateway", "account"):
        if method == "INVITE" and not admission.identified_caller(svc, req):
            return
        req.peer = peer = "gateway"
    if peer == "carrier":
        from_telecom(svc, req)
    elif peer == "gateway":
        from_public_gateway(svc, req)
    else:
        peers.refuse(svc.settings, req, "a health checker may not place calls")


def reqinit(svc, req: Request) -> bool:
    """Cheap checks before any routing; False means answered or dropped."""
    KSR.force_rport()
    side, peer, src, guard = req.side, req.peer, req.src, svc.guard
    if peer in (None, "account") and KSR.htable.sht_get(BAN_TABLE, src) is not None:
        return False  # banned flooder: silence until the ban expires
    if peer is None and KSR.pike.pike_check_req() < 0:
        peers.ban(svc.settings, src)
        return False
    reason, req.names = guard.problem(is_request=True)
    if reason is not None:
        # Before any state, and before any KSR getter meets bytes Python cannot take: a peer gets
        # 400, a stranger silence.
        guard.refused("ingress", side, reason)
        if peer is not None and not KSR.is_ACK():
            guard.reply(400, "Bad Request", side)
        return False
    if tlspeer.refusal(side) is not None:
        return False  # over a connection we opened to someone the certificate does not name: silence
    user_agent = KSR.kx.get_ua()
    if policy.is_scanner(user_agent):
        log(KSR.notice, f"dropped scanner {user_agent!r} from {src}")
        return False
    if peer is None and not req.in_dialog:
        # A stranger's new request gets the strangers' answer before any other check, so that
        # no parser or policy detail (400, 420, 483, 200 to OPTIONS) tells it what is here.
        peers.refuse(svc.settings, req, f"{req.method} from a stranger")
        return False
    if KSR.maxfwd.process_maxfwd(MAX_FORWARDS) < 0:
        guard.reply(483, "Too Many Hops", side)
        return False
    if KSR.sanity.sanity_check(17895, 7) < 0:
        log(KSR.notice, f"malformed request from {src}")
        if not req.is_ack:
            guard.reply(400, "Bad Request", side)  # sanity answers nothing itself (noreply)
        return False
    if req.in_dialog:
        return True
    if req.method == "OPTIONS" and KSR.is_myself_ruri():
        KSR.sl.send_reply(200, "OK")
        return False
    if KSR.tmx.t_precheck_trans() > 0:
        KSR.tm.t_check_trans()  # retransmission of a request being handled: tm re-answers
        return False
    return True


def new_call(svc, req: Request) -> bool:
    """What a new call from either side must be before it is routed: an INVITE (else 405), cleaned of what the
    sender wrote (kemi.topology.rewriting), routed with this process's caches current."""
    if not req.is_invite:
        KSR.sl.send_reply(405, "Method Not Allowed")
        return False
    if not rewriting.sanitize_initial(svc, req):
        return False
    svc.sync_caches()
    return True


# ---- inbound: carrier -> private socket -> public socket -> AI gateway --------------------------


def from_telecom(svc, req: Request) -> None:
    if new_call(svc, req):
        to_public_gateway(svc, req)


def to_public_gateway(svc, req: Request) -> None:
    s = svc.settings
    dialed = dialed_user()
    did = e164.normalise(e164.subscriber(dialed), s.default_region, s.tech_prefixes)
    if did is None:
        log(KSR.notice, f"inbound to unusable number {dialed!r}")
        reject("inbound", 484, "Address Incomplete")
        return
    try:
        route, how = svc.lookup("did", svc.dids, did)
    except DidUnavailable:
        log(KSR.err, f"inbound {did}: DID source down and DID not cached")
        reject("inbound", 503, "DID Routing Unavailable")
        return
    if how == "stale":
        log(KSR.warn, f"inbound {did}: DB down, routing from stale cache")
    tenant = None
    if route is not None and route.tenant and svc.tenant_checks:
        tenant = admission.admit_tenant(svc, route.tenant, "inbound", busy=(486, "Busy Here"))
        if tenant is None:
            return
        target = tenancy.inbound_target(route, tenant)
        chain = tenancy.inbound_failover(target, tenant, s.backup_gateway_group)
    else:
        target = policy.choose_target(route, s.default_gateway_group)
        if target is None:
            log(KSR.notice, f"inbound {did}: no route for DID")
            reject("inbound", 404, "Not Found")
            return
        chain = policy.failover_groups(target, route, s.backup_gateway_group)
    tenant_name = tenant.name if tenant else ""
    verdict = stir.verify(s, calling_number(s), did)
    refused = stir.refusal(verdict, tenant is not None and tenant.stir_required)
    if refused is not None:
        reject("inbound", *refused, tenant_name)
        return
    if not hiding.store_up(svc.topos_in_redis, req.method, svc.shm_floor):
        reject("inbound", 503, "Service Unavailable", tenant_name)
        return
    KSR.dialog.dlg_manage()
    stir.recorded(verdict)
    KSR.pv.sets(NUMBER_AVP, did)
    if target.uri:
        KSR.seturi(policy.with_user(target.uri, did))
        KSR.pv.sets(GROUPS_AVP, policy.encode_groups(chain))
        KSR.pv.sets(GROUP_AVP, "uri")
    elif not attempts.pick_peer([target.group, *chain], svc.to_gateway):
        log(KSR.err, f"inbound {did}: no active gateway in groups {[target.group, *chain]}")
        reject("inbound", 503, "No Gateway Available", tenant_name)
        return
    records.call_routed("inbound", did, tenant_name, cluster.identity(s))
    for header in verdict.headers() if verdict is not None else ():
        KSR.hdr.append(f"{header}\r\n")
    if tenant is not None:
        admission.tenant_call(svc, tenant, "inbound")
        for header in tenancy.context_headers(dialed, did, tenant.name) + callcontext.toward_agent(
                tenant.context_headers, records.header_value):
            KSR.hdr.append(f"{header}\r\n")
    # To is set per attempt (the branch route): a gateway's name belongs in it.
    rewriting.replace_from(s, KSR.kx.get_fuser() or "anonymous", "public")
    if KSR.hdr.is_present("P-Asserted-Identity") > 0:
        # The carrier's asserted caller, at our public address: its host is the carrier's network.
        rewriting.assert_identity(s, policy.uri_user(KSR.hdr.get("P-Asserted-Identity")) or "anonymous", "public")
    log(KSR.info, f"inbound {dialed} -> {did} -> {KSR.kx.get_ruri()}" + (f" tenant={tenant.name}" if tenant else ""))
    KSR.rr.record_route()
    if not attempts.attempt(svc, svc.to_gateway, req) or tenant is None:
        return
    # The caller hears ringing while the agent's platform starts: callers hang up on silence.
    if tenant.ringback:
        ringback.ring(svc, tenant.name)
    elif tenant.early_ringing:
        KSR.tm.t_reply(180, "Ringing")


# ---- outbound: AI gateway -> public socket -> private socket -> carrier -------------------------


def from_public_gateway(svc, req: Request) -> None:
    if new_call(svc, req):
        to_telecom(svc, req)


def to_telecom(svc, req: Request) -> None:
    s = svc.settings
    dialed = dialed_user()
    tag = KSR.pv.get(PEER_TAG_AVP)
    if not tag:  # an account bound to no tenant: identified, but nobody's calls
        log(KSR.notice, f"outbound from {req.src}: caller bound to no tenant")
        reject("outbound", 403, "No Tenant For Caller")
        return
    number = e164.normalise(e164.subscriber(dialed), s.default_region, ())
    if number is None:
        log(KSR.notice, f"outbound to unusable number {dialed!r}")
        reject("outbound", 484, "Address Incomplete", tag)
        return
    tenant = admission.admit_tenant(svc, tag, "outbound", busy=(403, "Tenant Call Limit Reached"))
    if tenant is None or not admission.outbound_capacity(svc, tenant.name):
        return
    refused = tenancy.destination_refusal(number, tenant, s.default_region)
    if refused is not None:
        admission.refuse_destination(svc, number, tenant.name, refused)
        return
    if not admission.minutes_left(svc, number, tenant):
        return
    caller = calling_number(s)
    presented = tenancy.presented_caller(caller, did_owner(svc, caller), tenant)
    if presented is None:
        log(KSR.notice, f"outbound from tenant {tenant.name}: caller ID {caller!r} is not its DID")
        reject("outbound", 403, "Caller ID Not Allowed", tenant.name)
        return
    if not hiding.store_up(svc.topos_in_redis, req.method, svc.shm_floor):
        reject("outbound", 503, "Service Unavailable", tenant.name)
        return
    KSR.dialog.dlg_manage()
    KSR.pv.sets(NUMBER_AVP, number)
    if not attempts.pick_peer([s.carrier_group], svc.to_carrier):
        log(KSR.err, f"outbound {number}: no active carrier in group {s.carrier_group}")
        reject("outbound", 503, "No Carrier Available", tenant.name)
        return
    records.call_routed("outbound", number, tenant.name, cluster.identity(s))
    admission.tenant_call(svc, tenant, "outbound")
    rewriting.replace_to(s, number, "private", attempts.destination())
    rewriting.replace_from(s, presented, "private")
    rewriting.assert_identity(s, presented, "private")
    log(KSR.info, f"outbound {dialed} -> {KSR.kx.get_ruri()} from {presented} tenant={tenant.name}")
    KSR.rr.record_route()
    attempts.attempt(svc, svc.to_carrier, req)


def dialed_user() -> str:
    """Whom the call is for: its Request-URI's user; its To's when it was sent to one of the SBC's own registered
    Contacts, whose user is the registration's name (sbcctl registration: never a number)."""
    user = KSR.kx.get_ruser() or ""
    if user[:1].isalpha() and KSR.uac.uac_reg_status(user) != -1:
        return KSR.kx.get_tuser() or ""
    return user


def calling_number(settings) -> str | None:
    """The caller's number in E.164: the P-Asserted-Identity user if present, else the From user."""
    pai = KSR.hdr.get("P-Asserted-Identity") if KSR.hdr.is_present("P-Asserted-Identity") > 0 else None
    user = policy.uri_user(pai) if pai else None
    return e164.normalise(e164.subscriber(user or KSR.kx.get_fuser()), settings.default_region, ())


def did_owner(svc, number: str | None) -> str | None:
    if number is None:
        return None
    try:
        route, _ = svc.lookup("did", svc.dids, number)
    except DidUnavailable:
        return None
    return route.tenant if route is not None else None
