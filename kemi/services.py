"""What the routes share for the life of a worker process: the settings, the guard, the caches of rows and the
two legs of travel. Nothing of one message lives here (kemi.context carries that)."""

from __future__ import annotations

import KSR  # provided by app_python3 inside Kamailio (a fake in the unit tests)

from kemi.gateways.attempts import Leg
from kemi.state import cluster
from kemi.telemetry import metrics
from kemi.topology.hiding import Guard, log
from sbclib import benchswitch, tenancy
from sbclib.didcache import DidCache, DidUnavailable
from sbclib.settings import Settings

STATE_TABLE = "sbcstate"  # htable: "generation" is bumped by sbcctl when DIDs or tenants change


class Services:
    def __init__(self, settings: Settings, dids: DidCache, tenants: DidCache, credentials: DidCache,
                 accounts: DidCache, snapshots=None, gateway_dns=None):
        self.settings = settings
        self.snapshots = snapshots  # sbclib.snapshot.Keeper, for the snapshot timer
        self.gateway_dns = gateway_dns  # the gateway DNS timer's work (kemi.gateways.hostnames.Resolver)
        self.dids = dids
        self.tenants = tenants
        self.credentials = credentials  # peer host -> Credential, for a peer's 401/407
        self.accounts = accounts  # username -> Account, for gateways that authenticate by digest
        self.generation = None  # last routing generation seen in STATE_TABLE
        self.filter_headers = "headers" not in benchswitch.OFF
        self._topos_in_redis: bool | None = None
        self.shm_floor = settings.shm_mb * 1048576 // 10  # bytes: below, new calls get 503 (kemi.topology.hiding)
        self.tenant_checks = "tenant" not in benchswitch.OFF
        self.limits = tenancy.Limits(settings.tenant_max_calls, settings.tenant_max_cps, settings.tenant_max_duration)
        self.guard = Guard({"private": settings.private_ip, "public": settings.public_ip,
                            **({cluster.BUS: settings.node_ip} if settings.clustered else {})})
        self.to_gateway = Leg("gateway", "inbound", "public", "branch_to_gateway", "failure_from_gateway",
                              settings.ds_algorithm, settings.gateway_no_reply_ms, settings.gateway_no_answer_ms)
        self.to_carrier = Leg("carrier", "outbound", "private", "branch_to_telecom", "failure_from_telecom",
                              settings.carrier_ds_algorithm, settings.carrier_no_reply_ms,
                              settings.carrier_no_answer_ms)

    @property
    def topos_in_redis(self) -> bool:
        """Whether topos keeps its state in Redis (Kamailio 5.6, or the bench's Redis runs on 6.0), which can
        fail; on 6.0 it is in shared memory (kamailio.cfg defines TOPOS_HTABLE). Asked once per process."""
        if self._topos_in_redis is None:
            self._topos_in_redis = "topos" not in benchswitch.OFF and not KSR.kx.ifdef("TOPOS_HTABLE")
        return self._topos_in_redis

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
