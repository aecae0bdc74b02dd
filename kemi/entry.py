"""app_python3 entry point: modparam("app_python3", "load", ".../kemi/entry.py").

Kamailio imports this file by name and, on `kamcmd app_python.reload`, re-imports only this
module; mod_init therefore reloads the package's modules itself (leaves first) so that new
routing code and a fresh DID cache take effect without a restart.
"""

import importlib
import os
import sys
from pathlib import Path

_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if _ROOT not in sys.path:
    sys.path.insert(0, _ROOT)

import kemi.accounts  # noqa: E402
import kemi.admission  # noqa: E402
import kemi.attempts  # noqa: E402
import kemi.benchswitch  # noqa: E402
import kemi.challenges  # noqa: E402
import kemi.cluster  # noqa: E402
import kemi.deadmedia  # noqa: E402
import kemi.destinations  # noqa: E402
import kemi.didcache  # noqa: E402
import kemi.diddb  # noqa: E402
import kemi.dlgvar  # noqa: E402
import kemi.e164  # noqa: E402
import kemi.egress  # noqa: E402
import kemi.events  # noqa: E402
import kemi.fields  # noqa: E402
import kemi.gwprobe  # noqa: E402
import kemi.hiding  # noqa: E402
import kemi.hostnames  # noqa: E402
import kemi.htables  # noqa: E402
import kemi.indialog  # noqa: E402
import kemi.media  # noqa: E402
import kemi.mediastats  # noqa: E402
import kemi.metrics  # noqa: E402
import kemi.minutes  # noqa: E402
import kemi.ng  # noqa: E402
import kemi.peers  # noqa: E402
import kemi.policy  # noqa: E402
import kemi.quality  # noqa: E402
import kemi.records  # noqa: E402
import kemi.rewriting  # noqa: E402
import kemi.routes  # noqa: E402
import kemi.sdpscrub  # noqa: E402
import kemi.settings  # noqa: E402
import kemi.snapshot  # noqa: E402
import kemi.tenancy  # noqa: E402
import kemi.timing  # noqa: E402
import kemi.tlspeer  # noqa: E402
import kemi.wire  # noqa: E402

# Every module of the package, each after those it imports from (tests/unit/test_entry.py checks both):
# a module left out would keep its old code after a reload.
_MODULES = (kemi.benchswitch, kemi.htables, kemi.dlgvar, kemi.fields, kemi.settings, kemi.snapshot, kemi.ng,
            kemi.e164, kemi.destinations, kemi.wire, kemi.didcache, kemi.media, kemi.sdpscrub, kemi.mediastats,
            kemi.metrics, kemi.policy, kemi.hostnames, kemi.tenancy, kemi.timing, kemi.hiding, kemi.tlspeer,
            kemi.gwprobe, kemi.records, kemi.cluster, kemi.quality, kemi.minutes, kemi.deadmedia, kemi.accounts,
            kemi.challenges, kemi.diddb, kemi.attempts, kemi.admission, kemi.egress, kemi.events, kemi.indialog,
            kemi.peers, kemi.rewriting, kemi.routes)


def mod_init():
    for module in _MODULES:
        importlib.reload(module)
    settings = kemi.settings.load()
    directory = Path(settings.snapshot_dir) if settings.snapshot_dir else None
    loader = kemi.diddb.DidDatabase(settings, on_error=kemi.metrics.db_error,
                                    snapshot=kemi.snapshot.Snapshot(directory) if directory else None,
                                    on_snapshot=lambda: kemi.metrics.snapshot("read"))
    dids = kemi.didcache.DidCache(
        loader,
        ttl=settings.did_cache_ttl,
        negative_ttl=settings.did_cache_negative_ttl,
        maxsize=settings.did_cache_size,
    )
    # Tenants change rarely and are few: the same cache, keyed by tenant name.
    tenants = kemi.didcache.DidCache(
        loader.tenant,
        ttl=settings.did_cache_ttl,
        negative_ttl=settings.did_cache_negative_ttl,
        maxsize=10_000,
    )
    # Peer credentials: read when a peer first challenges, then from memory.
    credentials = kemi.didcache.DidCache(
        loader.credential,
        ttl=settings.did_cache_ttl,
        negative_ttl=settings.did_cache_negative_ttl,
        maxsize=10_000,
    )
    accounts = kemi.didcache.DidCache(
        loader.account,
        ttl=settings.did_cache_ttl,
        negative_ttl=settings.did_cache_negative_ttl,
        maxsize=10_000,
    )
    keeper = kemi.snapshot.Keeper(directory, loader.connect, kemi.events.snapshot_outcome) if directory else None
    h = kemi.hostnames
    resolver = h.Resolver(h.ksr_srv, h.ksr_a, h.ksr_put, h.ksr_remove, h.ksr_listed, kemi.events.gateway_dns_outcome,
                          h.ksr_reload_dispatcher)
    rows: list[tuple[int, str, int]] = []  # the gateway sets' rows, as the last resolution read them

    def resolve_all() -> None:
        rows[:] = loader.gateway_rows(settings.gateway_groups)
        resolver.refresh([uri for _, uri, _ in rows])

    resolve = h.Paced(resolve_all, settings.gateway_dns_interval)
    p = kemi.gwprobe
    probe = h.Paced(p.Prober(resolver.targets, p.Health(settings.ds_probing_threshold, settings.ds_inactive_threshold),
                             lambda code: p.accepts(settings.ds_ping_reply_codes, code),
                             p.ksr_send(lambda transport: settings.socket("public", transport)), p.ksr_answer,
                             p.ksr_block, p.ksr_unblock_all, p.told, lambda: rows, p.ksr_set_state, p.told_row,
                             p.ksr_cover),
                    settings.ds_ping_interval)

    def gateway_dns() -> None:
        try:
            resolve()
        finally:  # a DB outage (no gateway list) must not stop the probes of the targets already known
            probe()

    return kemi.routes.SbcRoutes(settings, dids, tenants, credentials, accounts, keeper, gateway_dns)

