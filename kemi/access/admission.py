"""Who may place a call and how many: a tenant's identity (for calls toward the carrier), its limits and the
carrier side's, where it may call (sbclib/destinations.py), and what a routed tenant call carries into its
dialog. The decisions themselves are tenancy's and destinations'."""

from __future__ import annotations

import time

import KSR  # provided by app_python3 inside Kamailio (a fake in the unit tests)

from kemi.access import accounts, minutes
from kemi.access.accounts import PEER_TAG_AVP
from kemi.gateways.attempts import keep_alive
from kemi.state import cluster, deadmedia
from kemi.telemetry import metrics, records
from kemi.topology.hiding import log
from sbclib import destinations, tenancy
from sbclib.didcache import DidUnavailable

RATE_TABLE = "tenantcps"  # htable of per-tenant call attempts per second
OUTBOUND_KEY = "*"  # its key for all outbound calls together (a tenant named "*" would only be limited sooner)
REFUSED_PREFIX = "refused"  # CDR end_reason of a call refused by its tenant's destination policy
CALLS_PROFILE = "tenant_calls"  # dialog profile (with value = tenant) counting active calls


def reject(direction: str, code: int, reason: str, tenant: str = "") -> None:
    """A call refused before it reached any peer: answered statelessly, counted, no call record."""
    KSR.sl.send_reply(code, reason)
    metrics.call_finished(direction, tenant, "", code)


def identified_caller(svc, req) -> bool:
    """A call toward the carrier rests on an identity, never on a shared address (a platform sends every
    customer's calls from the same ones): a source the operator declared dedicated to one tenant
    (permissions' tag, schema.sql), else a digest account, challenged for with 407."""
    if KSR.pv.get(PEER_TAG_AVP):
        metrics.admission("dedicated")
        return True
    if accounts.authenticated_gateway(svc, req, bannable=req.peer == "account"):
        metrics.admission("account")
        return True
    metrics.admission("challenged")
    return False


def admit_tenant(svc, name: str, direction: str, busy: tuple[int, str]) -> tenancy.Tenant | None:
    """The tenant if its call may proceed; otherwise answers (disabled, unknown, over a limit)."""
    try:
        tenant, _ = svc.lookup("tenant", svc.tenants, name)
    except DidUnavailable:
        tenant = None
    if tenant is None:
        log(KSR.err, f"{direction}: tenant {name!r} not configured")
        reject(direction, 503, "Tenant Not Configured", name)
        return None
    if not tenant.enabled:
        log(KSR.notice, f"{direction}: tenant {name} is disabled")
        reject(direction, 403, "Tenant Disabled", name)
        return None
    max_cps, max_calls = tenancy.max_cps(tenant, svc.limits), tenancy.max_calls(tenant, svc.limits)
    attempts = KSR.htable.sht_inc(RATE_TABLE, f"{name}:{int(time.time())}")
    if tenancy.over_rate_limit(attempts, max_cps):
        log(KSR.warn, f"limit: {direction} tenant {name} over {max_cps} calls/s")
        metrics.limited("tenant", "cps")
        KSR.hdr.append_to_reply("Retry-After: 1\r\n")
        reject(direction, 503, "Tenant Call Rate Exceeded", name)
        return None
    KSR.dialog.get_profile_size(CALLS_PROFILE, name, "$var(tenant_calls)")
    if tenancy.over_call_limit(KSR.pv.geti("$var(tenant_calls)"), max_calls):
        log(KSR.warn, f"limit: {direction} tenant {name} at its {max_calls} concurrent calls")
        metrics.limited("tenant", "calls")
        reject(direction, *busy, name)
        return None
    return tenant


def tenant_call(svc, tenant: tenancy.Tenant, direction: str) -> None:
    """A routed call of `tenant` (its dialog exists): counted in its profile, its timers set, and an
    outbound one of a capped tenant counted against its minutes once answered."""
    KSR.dialog.set_dlg_profile(CALLS_PROFILE, tenant.name)
    capped = direction == "outbound" and tenant.max_minutes_24h > 0
    deadmedia.tenant_limits(tenant.media_timeout, tenancy.max_duration(tenant, svc.limits),
                            tenant.max_minutes_24h if capped else 0)
    keep_alive(tenant.media_keepalive)


def minutes_left(svc, number: str, tenant: tenancy.Tenant) -> bool:
    """A capped tenant's outbound call needs a minute left in its rolling 24 h (both nodes' calls, ended
    and live). Without an answer from Redis nothing is decided: 503, as for the topology store."""
    if tenant.max_minutes_24h <= 0:
        return True
    used = minutes.used(tenant.name, tenancy.max_duration(tenant, svc.limits))
    if used is None:
        log(KSR.err, f"outbound for tenant {tenant.name}: its minutes cannot be read (Redis)")
        reject("outbound", 503, "Service Unavailable", tenant.name)
        return False
    if not minutes.exhausted(used, tenant.max_minutes_24h):
        return True
    metrics.limited("tenant", "minutes")
    refuse_outbound(svc, number, tenant.name, f"minutes cap: {used // 60} of {tenant.max_minutes_24h} used",
                "Tenant Minutes Exhausted")
    return False


def outbound_capacity(svc, tenant: str) -> bool:
    """The carrier's side as a whole: calls per second (both nodes of a pair count the same second) and
    concurrent calls, whatever the tenants' own limits add up to."""
    s = svc.settings
    if tenancy.over_rate_limit(KSR.htable.sht_inc(RATE_TABLE, f"{OUTBOUND_KEY}:{int(time.time())}"),
                               s.outbound_max_cps):
        log(KSR.warn, f"limit: outbound over {s.outbound_max_cps} calls/s (tenant {tenant})")
        metrics.limited("outbound", "cps")
        KSR.hdr.append_to_reply("Retry-After: 1\r\n")
        reject("outbound", 503, "Outbound Call Rate Exceeded", tenant)
        return False
    KSR.dialog.get_profile_size(metrics.DIRECTION_PROFILE, "outbound", "$var(outbound_calls)")
    if tenancy.over_call_limit(KSR.pv.geti("$var(outbound_calls)"), s.outbound_max_calls):
        log(KSR.warn, f"limit: outbound at its {s.outbound_max_calls} concurrent calls (tenant {tenant})")
        metrics.limited("outbound", "calls")
        reject("outbound", 503, "Outbound Capacity Reached", tenant)
        return False
    return True


def refuse_destination(svc, number: str, tenant: str, reason: str) -> None:
    """403 for a number the tenant may not call: counted by reason, and refused (below)."""
    metrics.policy_refused(tenant, reason)
    refuse_outbound(svc, number, tenant, reason, destinations.REFUSALS[reason])


def refuse_outbound(svc, number: str, tenant: str, reason: str, phrase: str) -> None:
    """403 for an outbound call of a tenant: logged and recorded (a CDR row: fraud attempts are what the
    operator reviews), though nothing left the SBC."""
    log(KSR.notice, f"outbound {number} refused for tenant {tenant}: {reason}")
    KSR.dialog.dlg_manage()
    records.call_routed("outbound", number, tenant, cluster.identity(svc.settings))
    records.refused(403, f"{REFUSED_PREFIX} {reason}")
    if KSR.tm.t_newtran() > 0:  # the dialog attaches to the transaction; its failure writes the record
        KSR.tm.t_reply(403, phrase)
