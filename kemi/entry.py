"""app_python3 entry point: modparam("app_python3", "load", ".../kemi/entry.py").

Kamailio imports this file by name and, on `kamcmd app_python.reload`, re-imports only this
module; mod_init therefore re-imports the package modules that changed (and their importers, leaves
first) so that new routing code and a fresh DID cache take effect without a restart.
"""

import importlib
import os
import sys
from pathlib import Path

_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if _ROOT not in sys.path:
    sys.path.insert(0, _ROOT)

import kemi  # noqa: E402
import kemi.ksrcount  # noqa: E402
import kemi.reloading  # noqa: E402
import sbclib  # noqa: E402

kemi.ksrcount.install()  # bench only (SBC_BENCH_COUNT_KSR): before any routing module binds KSR

import kemi.events  # noqa: E402
import kemi.gateways.gwprobe  # noqa: E402
import kemi.gateways.hostnames  # noqa: E402
import kemi.sbc  # noqa: E402
import kemi.services  # noqa: E402
import kemi.telemetry.metrics  # noqa: E402
import sbclib.didcache  # noqa: E402
import sbclib.diddb  # noqa: E402
import sbclib.settings  # noqa: E402
import sbclib.snapshot  # noqa: E402

PACKAGES = {"sbclib": sbclib.__path__, "kemi": kemi.__path__}
_KNOWN = "_sbc_reload_known"  # kept on the kemi package, which no reload re-executes


def _reload_changed() -> list[str]:
    """The modules of kemi (subpackages too) and of sbclib whose source changed since the last load, and those
    importing them, re-imported after what they import from (kemi/reloading.py); returns their names. At
    start (nothing known yet) every module was just imported: their sources are only fingerprinted."""
    known = getattr(kemi, _KNOWN, None)
    todo, now = kemi.reloading.plan(PACKAGES, known or {})
    if known is not None:
        for name in todo:
            if name == "kemi.entry":
                continue  # Kamailio re-imports this file itself
            if name in sys.modules:
                importlib.reload(sys.modules[name])
            else:
                importlib.import_module(name)
    setattr(kemi, _KNOWN, now)
    kemi.ksrcount.install()
    return todo if known is not None else []


def mod_init():
    _reload_changed()
    settings = sbclib.settings.load()
    directory = Path(settings.snapshot_dir) if settings.snapshot_dir else None
    loader = sbclib.diddb.DidDatabase(settings, on_error=kemi.telemetry.metrics.db_error,
                                    snapshot=sbclib.snapshot.Snapshot(directory) if directory else None,
                                    on_snapshot=lambda: kemi.telemetry.metrics.snapshot("read"))
    dids = sbclib.didcache.DidCache(
        loader,
        ttl=settings.did_cache_ttl,
        negative_ttl=settings.did_cache_negative_ttl,
        maxsize=settings.did_cache_size,
    )
    # Tenants change rarely and are few: the same cache, keyed by tenant name.
    tenants = sbclib.didcache.DidCache(
        loader.tenant,
        ttl=settings.did_cache_ttl,
        negative_ttl=settings.did_cache_negative_ttl,
        maxsize=10_000,
    )
    # Peer credentials: read when a peer first challenges, then from memory.
    credentials = sbclib.didcache.DidCache(
        loader.credential,
        ttl=settings.did_cache_ttl,
        negative_ttl=settings.did_cache_negative_ttl,
        maxsize=10_000,
    )
    accounts = sbclib.didcache.DidCache(
        loader.account,
        ttl=settings.did_cache_ttl,
        negative_ttl=settings.did_cache_negative_ttl,
        maxsize=10_000,
    )
    keeper = sbclib.snapshot.Keeper(directory, loader.connect, kemi.events.snapshot_outcome) if directory else None
    h = kemi.gateways.hostnames
    resolver = h.Resolver(h.ksr_srv, h.ksr_a, h.ksr_put, h.ksr_remove, h.ksr_listed, kemi.events.gateway_dns_outcome,
                          h.ksr_reload_dispatcher)
    rows: list[tuple[int, str, int]] = []  # the gateway sets' rows, as the last resolution read them

    def resolve_all() -> None:
        rows[:] = loader.gateway_rows(settings.gateway_groups)
        resolver.refresh([uri for _, uri, _ in rows])

    resolve = h.Paced(resolve_all, settings.gateway_dns_interval)
    p = kemi.gateways.gwprobe
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

    return kemi.sbc.Sbc(kemi.services.Services(settings, dids, tenants, credentials, accounts, keeper, gateway_dns))

