"""Prometheus metrics, counted in Kamailio's shared memory by xhttp_prom (declared in kamailio.cfg).

Scraped at http://METRICS_IP:METRICS_PORT/metrics; every name below gets xhttp_prom's "kamailio_"
prefix, which is how they appear in grafana/sbc-dashboard.json.
"""

from __future__ import annotations

import KSR

from sbclib import benchswitch

_COUNTING = "metrics" not in benchswitch.OFF  # per-call counters (the bench measures their cost)

CALLS = "sbc_calls_total"  # {direction, tenant, class}: each call once, by its final answer
GROUP_CALLS = "sbc_group_calls_total"  # {direction, group, class}: the same calls by dispatcher set
FAILOVERS = "sbc_failovers_total"  # {direction, code}: a next peer tried after this answer
CACHE_LOOKUPS = "sbc_cache_lookups_total"  # {cache, result}: did|tenant, hit|miss|stale|unavailable
DB_ERRORS = "sbc_db_errors_total"  # {source}: connect|query
PEER_AUTH = "sbc_peer_auth_total"  # {direction, result}: a peer's 401/407 answer|refused|no credential|...
GATEWAY_AUTH = "sbc_gateway_auth_total"  # {result}: ok|missing|unknown account|rejected <auth code>
GUARD = "sbc_topology_guard_total"  # {stage, side, reason}: messages topology hiding refused or dropped
POST_DIAL_DELAY = "sbc_post_dial_delay_seconds"  # histogram {direction, tenant, group}: INVITE to first 18x
ANSWER_DELAY = "sbc_answer_delay_seconds"  # histogram {direction, tenant, group}: INVITE to 2xx
AGENT_FIRST_RTP = "sbc_agent_first_rtp_seconds"  # histogram {tenant}: the gateway's answer to its first RTP
AGENT_RTP_MISSING = "sbc_agent_rtp_missing_total"  # {tenant}: answered calls without the gateway's RTP in 10 s
MEDIA_MOS = "sbc_media_mos"  # histogram {leg, tenant, group}: per call and leg (carrier|gateway), rtpengine's MOS
MEDIA_JITTER = "sbc_media_jitter_ms"  # histogram {leg, tenant, group}
MEDIA_LOSS = "sbc_media_loss_percent"  # histogram {leg, tenant, group}
MEDIA_RTT = "sbc_media_rtt_ms"  # histogram {leg, tenant, group}: only where both legs' RTCP gave one
MEDIA_REPORTS = "sbc_media_reports_total"  # {leg, result}: rtcp | no rtcp (a peer sending none has no MOS)
MEDIA_TIMEOUTS = "sbc_media_timeouts_total"  # {leg, tenant}: calls ended for dead media; leg carrier|gateway|both
MEDIA_CHECKS = "sbc_media_checks_total"  # {result}: ok|silent|unknown call|no answer, per answered call and sweep
SNAPSHOT = "sbc_snapshot_total"  # {event}: written|failed|db down (timer checks), read (a lookup served from it)
REGISTRATIONS = "sbc_registrations_total"  # {result}: saved|refused, gateways' REGISTERs past their authentication
TLS_REFUSED = "sbc_tls_refused_total"  # {side, reason}: messages dropped for what their TLS peer presented
GATEWAY_DNS = "sbc_gateway_dns_total"  # {result}: changed|failed|unresolved, per host-named gateway and change
GATEWAY_TARGET = "sbc_gateway_target_total"  # {event}: down|up, per target of a host-named gateway and change
# {tenant, result}: in-dialog REFERs relayed | not allowed | from carrier | attended | bad target
TRANSFERS = "sbc_transfers_total"
# {tenant, reason}: outbound calls and transfers refused by the tenant's destination policy (destinations.py)
POLICY_REFUSED = "sbc_policy_refused_total"
# {how}: dedicated (an address declared the tenant's) | account (digest) | challenged (neither, 407 sent)
ADMISSION = "sbc_outbound_admission_total"
# {scope, limit}: calls refused by a limit: tenant|outbound x cps|calls|duration (duration: ended calls)
LIMITED = "sbc_limited_total"
ACTIVE_CALLS = "sbc_active_calls"  # gauge {direction}: dialogs in the direction's profile
GATEWAY_SKIPPED = "sbc_gateway_skipped_total"  # {gateway, reason}: held|calls|cps (kemi/gateways/capacity.py)
GATEWAY_CALLS = "sbc_gateway_calls"  # gauge {gateway}: a capped row's calls now, at scrape time
GATEWAY_MAX_CALLS = "sbc_gateway_max_calls"  # gauge {gateway}: its max_calls
REGISTRATION_UP = "sbc_registration_up"  # gauge {registration}: the SBC's own registration holds (1) or not
STIR = "sbc_stir_total"  # {verstat, reason}: carriers' Identity headers verified (reason: why one failed, else none)
RINGBACK = "sbc_ringback_total"  # {tenant, result}: played, or why the carrier got a bare 180 instead
CODEC_MISMATCH = "sbc_codec_mismatch_total"  # {side}: offers not sent to a peer that takes none of their codecs
DIRECTION_PROFILE = "direction_calls"  # dialog profile with value = direction
DIRECTIONS = ("inbound", "outbound")
NONE = "none"  # label value when a call has no tenant or never reached a group


def reply_class(code: int) -> str:
    """"2xx" ... "6xx" for a SIP final answer."""
    return f"{code // 100}xx" if 200 <= code < 700 else "other"


def call_finished(direction: str, tenant: str, group: str, code: int) -> None:
    if not _COUNTING:
        return
    cls = reply_class(code)
    KSR.xhttp_prom.counter_inc_l3(CALLS, 1, direction, tenant or NONE, cls)
    KSR.xhttp_prom.counter_inc_l3(GROUP_CALLS, 1, direction, group or NONE, cls)


def post_dial_delay(direction: str, tenant: str, group: str, seconds: float) -> None:
    if not _COUNTING:
        return
    KSR.xhttp_prom.histogram_observe_l3(POST_DIAL_DELAY, f"{seconds:.6f}", direction, tenant or NONE, group or NONE)


def answer_delay(direction: str, tenant: str, group: str, seconds: float) -> None:
    if not _COUNTING:
        return
    KSR.xhttp_prom.histogram_observe_l3(ANSWER_DELAY, f"{seconds:.6f}", direction, tenant or NONE, group or NONE)


def agent_first_rtp(tenant: str, seconds: float) -> None:
    KSR.xhttp_prom.histogram_observe_l1(AGENT_FIRST_RTP, f"{seconds:.3f}", tenant or NONE)


def agent_rtp_missing(tenant: str) -> None:
    KSR.xhttp_prom.counter_inc_l1(AGENT_RTP_MISSING, 1, tenant or NONE)


def media_quality(leg: str, tenant: str, group: str, mos: float | None, jitter_ms: int | None,
                  loss_pct: int | None, rtt_ms: float | None) -> None:
    """One ended call's figures for one leg (kemi.telemetry.quality)."""
    labels = (leg, tenant or NONE, group or NONE)
    KSR.xhttp_prom.counter_inc_l2(MEDIA_REPORTS, 1, leg, "rtcp" if mos is not None else "no rtcp")
    for name, value in ((MEDIA_MOS, mos), (MEDIA_JITTER, jitter_ms), (MEDIA_LOSS, loss_pct), (MEDIA_RTT, rtt_ms)):
        if value is not None:
            KSR.xhttp_prom.histogram_observe_l3(name, str(value), *labels)


def media_timeout(leg: str, tenant: str) -> None:
    KSR.xhttp_prom.counter_inc_l2(MEDIA_TIMEOUTS, 1, leg, tenant or NONE)


def policy_refused(tenant: str, reason: str) -> None:
    KSR.xhttp_prom.counter_inc_l2(POLICY_REFUSED, 1, tenant or NONE, reason)


def admission(how: str) -> None:
    KSR.xhttp_prom.counter_inc_l1(ADMISSION, 1, how)


def limited(scope: str, limit: str) -> None:
    KSR.xhttp_prom.counter_inc_l2(LIMITED, 1, scope, limit)


def media_check(result: str) -> None:
    KSR.xhttp_prom.counter_inc_l1(MEDIA_CHECKS, 1, result)


def failover(direction: str, code: int) -> None:
    KSR.xhttp_prom.counter_inc_l2(FAILOVERS, 1, direction, str(code))


def peer_auth(direction: str, result: str) -> None:
    KSR.xhttp_prom.counter_inc_l2(PEER_AUTH, 1, direction, result)


def gateway_auth(result: str) -> None:
    KSR.xhttp_prom.counter_inc_l1(GATEWAY_AUTH, 1, result)


def cache_lookup(cache: str, result: str) -> None:
    if not _COUNTING:
        return
    KSR.xhttp_prom.counter_inc_l2(CACHE_LOOKUPS, 1, cache, result)


def db_error(source: str) -> None:
    KSR.xhttp_prom.counter_inc_l1(DB_ERRORS, 1, source)


def snapshot(event: str) -> None:
    KSR.xhttp_prom.counter_inc_l1(SNAPSHOT, 1, event)


def registration(result: str) -> None:
    KSR.xhttp_prom.counter_inc_l1(REGISTRATIONS, 1, result)


def stir(verstat: str, reason: str) -> None:
    KSR.xhttp_prom.counter_inc_l2(STIR, 1, verstat, reason or NONE)


def ringback(tenant: str, result: str) -> None:
    KSR.xhttp_prom.counter_inc_l2(RINGBACK, 1, tenant or NONE, result)


def gateway_dns(result: str) -> None:
    KSR.xhttp_prom.counter_inc_l1(GATEWAY_DNS, 1, result)


def gateway_target(event: str) -> None:
    KSR.xhttp_prom.counter_inc_l1(GATEWAY_TARGET, 1, event)


def tls_refused(side: str, reason: str) -> None:
    KSR.xhttp_prom.counter_inc_l2(TLS_REFUSED, 1, side, reason)


def transfer(tenant: str, result: str) -> None:
    KSR.xhttp_prom.counter_inc_l2(TRANSFERS, 1, tenant or NONE, result)


def topology_guard(stage: str, side: str, reason: str) -> None:
    """stage: ingress (refused on arrival) | withheld (no reply to a masked request) | egress (dropped
    at send) | local (dialog-generated request dropped); reason: a fixed phrase from kemi.topology.wire/hiding."""
    KSR.xhttp_prom.counter_inc_l3(GUARD, 1, stage, side, reason)


def refresh_gauges() -> None:
    """Gauges are read from the dialog profiles at scrape time, so they can never drift."""
    for direction in DIRECTIONS:
        KSR.dialog.get_profile_size(DIRECTION_PROFILE, direction, "$var(sbc_active)")
        KSR.xhttp_prom.gauge_set_l1(ACTIVE_CALLS, str(KSR.pv.geti("$var(sbc_active)")), direction)
