"""The SBC's SIP routes, top to bottom as a call flows through them.

reqinit -> in_dialog (indialog.py) | from_telecom -> to_public_gateway | from_public_gateway -> to_telecom; then, per
attempt, attempts.py (peer selection, relay, per-branch media, replies, failover). What leaves is checked
in egress.py, module events are in events.py, what the far side sees of a request in rewriting.py.
Decisions live in policy/e164/didcache/tenancy; these modules read the message, ask them, and tell
Kamailio what to do.
"""

from __future__ import annotations

import traceback

import KSR  # provided by app_python3 inside Kamailio (a fake in the unit tests)

from . import benchswitch, cluster, e164, metrics, policy, records, tenancy, tlspeer
from .accounts import PEER_TAG_AVP, GatewayAccounts
from .admission import Admission
from .attempts import GROUP_AVP, GROUPS_AVP, NUMBER_AVP, Attempts, Leg
from .challenges import Challenges
from .didcache import DidCache, DidUnavailable
from .egress import EgressChecks
from .events import EventRoutes
from .hiding import Guard, crashed, log
from .indialog import InDialog
from .peers import BAN_TABLE, Peers
from .rewriting import Rewriting
from .settings import Settings

MAX_FORWARDS = 10
STATE_TABLE = "sbcstate"  # htable: "generation" is bumped by sbcctl when DIDs or tenants change
TOPOLOGY_STORE = "tps"  # ndb_redis server holding topos state


class SbcRoutes(InDialog, EgressChecks, EventRoutes, Rewriting, Attempts, Challenges, Admission, GatewayAccounts,
                Peers):
    def __init__(self, settings: Settings, dids: DidCache, tenants: DidCache, credentials: DidCache,
                 accounts: DidCache, snapshots=None, gateway_dns=None):
        self.settings = settings
        self.snapshots = snapshots  # kemi.snapshot.Keeper, for the snapshot timer
        self.gateway_dns = gateway_dns  # the gateway DNS timer's work (kemi.hostnames.Resolver)
        self.dids = dids
        self.tenants = tenants
        self.credentials = credentials  # peer host -> Credential, for a peer's 401/407
        self.accounts = accounts  # username -> Account, for gateways that authenticate by digest
        self.generation = None  # last routing generation seen in STATE_TABLE
        self.filter_headers = "headers" not in benchswitch.OFF
        self.without_topos = "topos" in benchswitch.OFF  # the bench's topos-off runs: no store to ask
        self.tenant_checks = "tenant" not in benchswitch.OFF
        self.limits = tenancy.Limits(settings.tenant_max_calls, settings.tenant_max_cps, settings.tenant_max_duration)
        self.guard = Guard({"private": settings.private_ip, "public": settings.public_ip,
                            **({cluster.BUS: settings.node_ip} if settings.clustered else {})})
        self.to_gateway = Leg("gateway", "inbound", "public", "branch_to_gateway", "failure_from_gateway",
                              settings.ds_algorithm, settings.gateway_no_reply_ms, settings.gateway_no_answer_ms)
        self.to_carrier = Leg("carrier", "outbound", "private", "branch_to_telecom", "failure_from_telecom",
                              settings.carrier_ds_algorithm, settings.carrier_no_reply_ms,
                              settings.carrier_no_answer_ms)

    # ---- Kamailio entry points ----------------------------------------------------------------

    def child_init(self, rank: int) -> int:
        return 0

    def ksr_request_route(self, msg) -> int:
        try:
            self.request_route()
        except Exception:  # noqa: BLE001 - nothing may escape into Kamailio unanswered
            crashed("request route", traceback.format_exc())
            if not KSR.is_ACK():
                self.guard.reply(500, "Server Internal Error", self.arrived_on())
        return 1

    # ---- request routing ----------------------------------------------------------------------

    def request_route(self) -> None:
        side = self.arrived_on()
        if side is None and cluster.on_bus(self.settings, KSR.kx.get_rcvip(), str(KSR.kx.get_rcvport())):
            cluster.bus_message(self.settings)
            return
        peer = self.identify(side)
        if not self.reqinit(side, peer):
            return
        if KSR.siputils.has_totag() > 0:
            self.in_dialog(side, peer)
            return
        if KSR.is_CANCEL():
            if KSR.tm.t_check_trans() > 0:
                KSR.tm.t_relay()
            elif peer is not None:
                KSR.sl.send_reply(481, "Call/Transaction Does Not Exist")
            return
        if KSR.is_ACK():
            # ACK for a locally generated negative reply is absorbed by tm; anything else is stray.
            KSR.tm.t_check_trans()
            return
        if KSR.is_REGISTER() and peer == "account":
            self.registration(side)
            return
        if peer in ("gateway", "account"):
            if KSR.is_INVITE() and not self.identified_caller(side, peer):
                return
            peer = "gateway"
        if peer == "carrier":
            self.from_telecom()
        elif peer == "gateway":
            self.from_public_gateway()
        else:
            self.refuse(side, "a health checker may not place calls")

    def reqinit(self, side: str | None, peer: str | None) -> bool:
        """Cheap checks before any routing; False means answered or dropped."""
        KSR.force_rport()
        src = KSR.kx.get_srcip()
        if peer in (None, "account") and KSR.htable.sht_get(BAN_TABLE, src) is not None:
            return False  # banned flooder: silence until the ban expires
        if peer is None and KSR.pike.pike_check_req() < 0:
            self.ban(src)
            return False
        reason = self.guard.problem(is_request=True)
        if reason is not None:
            # Before any state, and before any KSR getter meets bytes Python cannot take: a peer gets
            # 400, a stranger silence.
            self.guard.refused("ingress", side, reason)
            if peer is not None and not KSR.is_ACK():
                self.guard.reply(400, "Bad Request", side)
            return False
        if tlspeer.refusal(side) is not None:
            return False  # over a connection we opened to someone the certificate does not name: silence
        if policy.is_scanner(KSR.kx.get_ua()):
            log(KSR.notice, f"dropped scanner {KSR.kx.get_ua()!r} from {src}")
            return False
        if peer is None and KSR.siputils.has_totag() < 0:
            # A stranger's new request gets the strangers' answer before any other check, so that
            # no parser or policy detail (400, 420, 483, 200 to OPTIONS) tells it what is here.
            self.refuse(side, f"{KSR.kx.get_method()} from a stranger")
            return False
        if KSR.maxfwd.process_maxfwd(MAX_FORWARDS) < 0:
            self.guard.reply(483, "Too Many Hops", side)
            return False
        if KSR.sanity.sanity_check(17895, 7) < 0:
            log(KSR.notice, f"malformed request from {src}")
            if not KSR.is_ACK():
                self.guard.reply(400, "Bad Request", side)  # sanity answers nothing itself (noreply)
            return False
        if KSR.is_OPTIONS() and KSR.is_myself_ruri() and KSR.siputils.has_totag() < 0:
            KSR.sl.send_reply(200, "OK")
            return False
        if KSR.siputils.has_totag() < 0 and KSR.tmx.t_precheck_trans() > 0:
            KSR.tm.t_check_trans()  # retransmission of a request being handled: tm re-answers
            return False
        return True

    def from_telecom(self) -> None:
        if not KSR.is_INVITE():
            KSR.sl.send_reply(405, "Method Not Allowed")
            return
        if not self.sanitize_initial("private"):
            return
        self.sync_caches()
        self.to_public_gateway()

    def to_public_gateway(self) -> None:
        dialed = KSR.kx.get_ruser()
        did = e164.normalise(e164.subscriber(dialed), self.settings.default_region, self.settings.tech_prefixes)
        if did is None:
            log(KSR.notice, f"inbound to unusable number {dialed!r}")
            self.reject("inbound", 484, "Address Incomplete")
            return
        try:
            route, how = self.lookup("did", self.dids, did)
        except DidUnavailable:
            log(KSR.err, f"inbound {did}: DID source down and DID not cached")
            self.reject("inbound", 503, "DID Routing Unavailable")
            return
        if how == "stale":
            log(KSR.warn, f"inbound {did}: DB down, routing from stale cache")
        tenant = None
        if route is not None and route.tenant and self.tenant_checks:
            tenant = self.admit_tenant(route.tenant, "inbound", busy=(486, "Busy Here"))
            if tenant is None:
                return
            target = tenancy.inbound_target(route, tenant)
            chain = tenancy.inbound_failover(target, tenant, self.settings.backup_gateway_group)
        else:
            target = policy.choose_target(route, self.settings.default_gateway_group)
            if target is None:
                log(KSR.notice, f"inbound {did}: no route for DID")
                self.reject("inbound", 404, "Not Found")
                return
            chain = policy.failover_groups(target, route, self.settings.backup_gateway_group)
        tenant_name = tenant.name if tenant else ""
        if not self.topology_store_up():
            self.reject("inbound", 503, "Service Unavailable", tenant_name)
            return
        KSR.dialog.dlg_manage()
        KSR.pv.sets(NUMBER_AVP, did)
        if target.uri:
            KSR.seturi(policy.with_user(target.uri, did))
            KSR.pv.sets(GROUPS_AVP, policy.encode_groups(chain))
            KSR.pv.sets(GROUP_AVP, "uri")
        elif not self.pick_peer([target.group, *chain], self.to_gateway):
            log(KSR.err, f"inbound {did}: no active gateway in groups {[target.group, *chain]}")
            self.reject("inbound", 503, "No Gateway Available", tenant_name)
            return
        records.call_routed("inbound", did, tenant_name, cluster.identity(self.settings))
        if tenant is not None:
            self.tenant_call(tenant, "inbound")
            for header in tenancy.context_headers(dialed, did, tenant.name):
                KSR.hdr.append(f"{header}\r\n")
        self.rewrite_parties(did, "public", KSR.kx.get_fuser() or "anonymous")
        if KSR.hdr.is_present("P-Asserted-Identity") > 0:
            # The carrier's asserted caller, at our public address: its host is the carrier's network.
            self.assert_identity(policy.uri_user(KSR.hdr.get("P-Asserted-Identity")) or "anonymous", "public")
        log(KSR.info, f"inbound {dialed} -> {did} -> {KSR.kx.get_ruri()}"
                       + (f" tenant={tenant.name}" if tenant else ""))
        KSR.rr.record_route()
        self.attempt(self.to_gateway)

    def from_public_gateway(self) -> None:
        if not KSR.is_INVITE():
            KSR.sl.send_reply(405, "Method Not Allowed")
            return
        if not self.sanitize_initial("public"):
            return
        self.sync_caches()
        self.to_telecom()

    def to_telecom(self) -> None:
        dialed = KSR.kx.get_ruser()
        tag = KSR.pv.get(PEER_TAG_AVP)
        if not tag:  # an account bound to no tenant: identified, but nobody's calls
            log(KSR.notice, f"outbound from {KSR.kx.get_srcip()}: caller bound to no tenant")
            self.reject("outbound", 403, "No Tenant For Caller")
            return
        number = e164.normalise(e164.subscriber(dialed), self.settings.default_region, ())
        if number is None:
            log(KSR.notice, f"outbound to unusable number {dialed!r}")
            self.reject("outbound", 484, "Address Incomplete", tag)
            return
        tenant = self.admit_tenant(tag, "outbound", busy=(403, "Tenant Call Limit Reached"))
        if tenant is None or not self.outbound_capacity(tenant.name):
            return
        refused = tenancy.destination_refusal(number, tenant, self.settings.default_region)
        if refused is not None:
            self.refuse_destination(number, tenant.name, refused)
            return
        if not self.minutes_left(number, tenant):
            return
        caller = self.calling_number()
        presented = tenancy.presented_caller(caller, self.did_owner(caller), tenant)
        if presented is None:
            log(KSR.notice, f"outbound from tenant {tenant.name}: caller ID {caller!r} is not its DID")
            self.reject("outbound", 403, "Caller ID Not Allowed", tenant.name)
            return
        if not self.topology_store_up():
            self.reject("outbound", 503, "Service Unavailable", tenant.name)
            return
        KSR.dialog.dlg_manage()
        KSR.pv.sets(NUMBER_AVP, number)
        if not self.pick_peer([self.settings.carrier_group], self.to_carrier):
            log(KSR.err, f"outbound {number}: no active carrier in group {self.settings.carrier_group}")
            self.reject("outbound", 503, "No Carrier Available", tenant.name)
            return
        records.call_routed("outbound", number, tenant.name, cluster.identity(self.settings))
        self.tenant_call(tenant, "outbound")
        self.rewrite_parties(number, "private", presented)
        self.assert_identity(presented, "private")
        log(KSR.info, f"outbound {dialed} -> {KSR.kx.get_ruri()} from {presented} tenant={tenant.name}")
        KSR.rr.record_route()
        self.attempt(self.to_carrier)

    def calling_number(self) -> str | None:
        """The caller's number in E.164: the P-Asserted-Identity user if present, else the From user."""
        pai = KSR.hdr.get("P-Asserted-Identity") if KSR.hdr.is_present("P-Asserted-Identity") > 0 else None
        user = policy.uri_user(pai) if pai else None
        return e164.normalise(e164.subscriber(user or KSR.kx.get_fuser()), self.settings.default_region, ())

    def did_owner(self, number: str | None) -> str | None:
        if number is None:
            return None
        try:
            route, _ = self.lookup("did", self.dids, number)
        except DidUnavailable:
            return None
        return route.tenant if route is not None else None

    # ---- caches, refusals and records shared by both directions --------------------------------

    def sync_caches(self) -> None:
        """A DID, tenant, credential or account change (sbcctl bumps the generation) empties this process's
        caches, so the very next call reads the new rows: one shared-memory read per call, no DB query."""
        generation = KSR.htable.sht_get(STATE_TABLE, "generation")
        if generation != self.generation:
            if self.generation is not None or generation is not None:
                self.dids.invalidate()
                self.tenants.invalidate()
                self.credentials.invalidate()
                self.accounts.invalidate()
            self.generation = generation

    def lookup(self, name: str, cache: DidCache, key: str):
        """cache.lookup, counted in the metrics by how it was answered."""
        try:
            found = cache.lookup(key)
        except DidUnavailable:
            metrics.cache_lookup(name, "unavailable")
            raise
        metrics.cache_lookup(name, found[1])
        return found

    def current(self, name: str, cache: DidCache, key: str):
        """A row sbcctl may have changed since this process last looked (outside the initial-request path
        that syncs the caches), or None when it is unknown, or the DB is down and it is not cached."""
        self.sync_caches()
        try:
            found, _ = self.lookup(name, cache, key)
        except DidUnavailable:
            log(KSR.err, f"{name} {key}: DB down and not cached")
            return None
        return found

    def reject(self, direction: str, code: int, reason: str, tenant: str = "") -> None:
        """A call refused before it reached any peer: answered statelessly, counted, no call record."""
        KSR.sl.send_reply(code, reason)
        metrics.call_finished(direction, tenant, "", code)

    # ---- where a message came from, and whether new calls can be hidden ---------------------

    def topology_store_up(self) -> bool:
        """topos passes messages through unhidden when its Redis store fails: refuse new calls then."""
        # Asked before every request (3 of a call's ~30 Redis round trips): a PING cached for even a
        # second would let requests through to a store that just failed. redis_cmd answers 0 on success,
        # -1 when the server cannot be reached (or is still switched off in this process after a
        # failure: until the next second, see kamailio.cfg).
        if self.without_topos:
            return True
        if KSR.ndb_redis.redis_cmd(TOPOLOGY_STORE, "PING", "sbc_ping") >= 0:
            KSR.ndb_redis.redis_free("sbc_ping")
            return True
        log(KSR.err, f"topology-hiding store (Redis) not answering: {KSR.kx.get_method()} refused")
        return False
