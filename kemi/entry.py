"""app_python3 entry point: modparam("app_python3", "load", ".../kemi/entry.py").

Kamailio imports this file by name and, on `kamcmd app_python.reload`, re-imports only this
module; mod_init therefore reloads the package's modules itself (leaves first) so that new
routing code and a fresh DID cache take effect without a restart.
"""

import importlib
import os
import sys

_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if _ROOT not in sys.path:
    sys.path.insert(0, _ROOT)

import kemi.benchswitch  # noqa: E402
import kemi.didcache  # noqa: E402
import kemi.diddb  # noqa: E402
import kemi.e164  # noqa: E402
import kemi.media  # noqa: E402
import kemi.metrics  # noqa: E402
import kemi.policy  # noqa: E402
import kemi.records  # noqa: E402
import kemi.routes  # noqa: E402
import kemi.settings  # noqa: E402
import kemi.tenancy  # noqa: E402

_MODULES = (kemi.benchswitch, kemi.settings, kemi.e164, kemi.didcache, kemi.policy, kemi.tenancy, kemi.diddb,
            kemi.media, kemi.metrics, kemi.records, kemi.routes)


def mod_init():
    for module in _MODULES:
        importlib.reload(module)
    settings = kemi.settings.load()
    loader = kemi.diddb.DidDatabase(settings, on_error=kemi.metrics.db_error)
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
    return kemi.routes.SbcRoutes(settings, dids, tenants)
