"""Module events: dispatcher probing, dialog start, HTTP on the metrics socket, the timers."""

from __future__ import annotations

import traceback

import KSR  # provided by app_python3 inside Kamailio (a fake in the unit tests)

from kemi.gateways import capacity, gwprobe
from kemi.state import cluster, deadmedia, dlgvar
from kemi.telemetry import firstrtp, metrics, records, registrations
from kemi.topology.hiding import CALLEE_CALLID, crashed, log, printable
from sbclib.didcache import DidSourceError


def snapshot_outcome(outcome: str, detail: str) -> None:
    """The snapshot timer's log lines and metric: a change written, or why not (once per check)."""
    if outcome == "written":
        KSR.info(f"sbc: snapshot: configuration written ({detail})\n")
    elif outcome != "unchanged":
        KSR.warn(printable(f"sbc: snapshot: {outcome}, the last one stays: {detail}") + "\n")
    if outcome != "unchanged":
        metrics.snapshot(outcome)


def gateway_dns_outcome(outcome: str, detail: str) -> None:
    """The gateway DNS timer's log lines and metric: a name's addresses changed, or it stopped resolving."""
    if outcome == "changed":
        KSR.info(printable(f"sbc: gateway dns: {detail}") + "\n")
    else:
        KSR.warn(printable(f"sbc: gateway dns: {detail} does not resolve"
                           + (", its last known addresses stay" if outcome == "failed" else "")) + "\n")
    metrics.gateway_dns(outcome)


def dispatcher_event(svc, event: str) -> int:
    """Probing changed a gateway's or carrier's state (dispatcher:dst-down / dst-up)."""
    try:
        KSR.notice(f"sbc: {event or 'dispatcher event'} {KSR.pv.get('$ru')}\n")
    except Exception:  # noqa: BLE001
        crashed("dispatcher event handler", traceback.format_exc())
    return 1


def dialog_event(svc, event: str) -> int:
    """dialog:start = the call was answered (the reply route cannot see the dialog's variables yet:
    its To-tag is learnt after it): recorded, its media watched, and the Call-ID the callee answered
    with kept for the BYEs the SBC may have to send it. Failures are recorded by the failure route,
    which knows why. dialog:end: no longer watched."""
    try:
        if event == "dialog:start":
            status = KSR.kx.get_status()
            records.answered(status if 200 <= status < 300 else 200)
            dlgvar.put(CALLEE_CALLID, svc.guard.arrival_callid() or "")
            deadmedia.watch(svc.settings.media_timeout)
            firstrtp.watch()
        elif event == "dialog:end":
            deadmedia.forget()
            firstrtp.forget()
            cluster.call_ended(svc.settings)
    except Exception:  # noqa: BLE001
        crashed("dialog event handler", traceback.format_exc())
    return 1


def media_watch(svc, event: str) -> int:
    """rtimer (every MEDIA_CHECK_INTERVAL s, its own process): calls whose media stopped are ended."""
    try:
        deadmedia.sweep((svc.settings.rtpengine_ng_ip, svc.settings.rtpengine_ng_port))
    except Exception:  # noqa: BLE001
        crashed("media watch", traceback.format_exc())
    return 1


def first_rtp(svc, event: str) -> int:
    """rtimer (every 100 ms, its own process): calls just answered, until their agent's first RTP packet."""
    try:
        firstrtp.poll((svc.settings.rtpengine_ng_ip, svc.settings.rtpengine_ng_port))
    except Exception:  # noqa: BLE001
        crashed("first RTP watch", traceback.format_exc())
    return 1


def snapshot(svc, event: str) -> int:
    """rtimer (every SNAPSHOT_INTERVAL s, its own process): the last known configuration kept on disk."""
    try:
        if svc.snapshots is not None:
            svc.snapshots.check()
    except Exception:  # noqa: BLE001
        crashed("snapshot", traceback.format_exc())
    return 1


def gateway_dns(svc, event: str) -> int:
    """rtimer (every second, its own process, paced in Python): the addresses of host-named gateways
    (every GATEWAY_DNS_INTERVAL s) and the probes of each of their targets (every DS_PING_INTERVAL s)."""
    try:
        if svc.gateway_dns is not None:
            svc.gateway_dns()
    except DidSourceError as exc:
        KSR.warn(printable(f"sbc: gateway dns: no gateway list ({exc}), the last addresses stay") + "\n")
    except Exception:  # noqa: BLE001
        crashed("gateway dns", traceback.format_exc())
    return 1


def uac_reply(svc, event: str) -> int:
    """uac:reply: the answer to a gateway target's probe (kemi/gateways/gwprobe.py), kept for the timer's next round."""
    try:
        gwprobe.ksr_record()
    except Exception:  # noqa: BLE001
        crashed("gateway probe answer", traceback.format_exc())
    return 1


def xhttp_event(svc, event: str) -> int:
    """HTTP: Prometheus metrics on the management socket; nothing at all on the SIP sockets."""
    try:
        if (KSR.kx.get_rcvip(), str(KSR.kx.get_rcvport())) != (svc.settings.metrics_ip,
                                                                str(svc.settings.metrics_port)):
            log(KSR.notice, f"ignored HTTP request from {KSR.kx.get_srcip()} on a SIP socket")
            return 1
        if KSR.xhttp_prom.check_uri() > 0:
            metrics.refresh_gauges()
            capacity.refresh_gauges()
            registrations.refresh_gauges()
            KSR.xhttp_prom.dispatch()
        else:
            KSR.xhttp.xhttp_reply(404, "Not Found", "text/plain", "metrics are at /metrics\n")
    except Exception:  # noqa: BLE001
        crashed("metrics handler", traceback.format_exc())
    return 1
