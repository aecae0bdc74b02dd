"""sbcctl status, calls, cdr: the SBC's state, its active calls and its call records."""

from __future__ import annotations

import json

import typer

from sbcctl import status, validate
from sbcctl.cli import app, checked, fail, kamailio_rpc, read_store, show, state
from sbcctl.store import DISABLED, Store
from sbclib import mediastats, rpc


def _rpc(method: str, *params):
    return kamailio_rpc(method, *params)


@app.command("status")
def status_cmd():
    """Gateways' and carriers' state (up, pending: not answering its probes yet, down, disabled, unresolved:
    its name gives no address), rtpengine, database, Redis, active calls, cache figures. Exit 1 when
    rtpengine, the database or Redis does not answer, or a gateway or carrier is down or unresolved."""
    s = state["settings"]
    report = {"peers": status.peers(_rpc("dispatcher.list"), s.carrier_group),
              "rtpengine": status.rtpengine(s), "redis": status.redis(s)}
    try:
        db = Store(s)
        report["database"] = {"reachable": True,
                              "dids": db.rows("SELECT COUNT(*) AS n FROM did_routing")[0]["n"]}
        report["peers"] = status.with_unloaded(report["peers"], db.gateways(), s.carrier_group, DISABLED)
    except Exception as exc:  # noqa: BLE001 - reported, not fatal: status is for bad days
        report["database"] = {"reachable": False, "error": str(exc)}
    report["peers"] = status.with_load(report["peers"], _profile_size, status.held(_optional("htable.dump", "gwload")))
    try:
        text = status.scrape(s)
        report["caches"] = status.cache_figures(text)
        report["active_calls"] = {labels["direction"]: int(value) for labels, value
                                  in status.metric_values(text, "kamailio_sbc_active_calls")}
    except OSError as exc:
        report["caches"], report["active_calls"] = [], {"error": str(exc)}
    healthy = all(report[part]["reachable"] for part in ("rtpengine", "database", "redis")) and not any(
        peer["state"] in status.TROUBLE for peer in report["peers"])
    if state["json"]:
        typer.echo(json.dumps(report, default=str))
    else:
        show(report["peers"], "gateways and carriers")
        show([_part(name, report[key]) for name, key in (("rtpengine", "rtpengine"), ("database", "database"),
                                                        ("redis (topology hiding)", "redis"))]
             + [{"part": "active calls", "state": "", "detail": _detail(report["active_calls"])}], "SBC")
        show(report["caches"], "DID and tenant caches (lookups since start, per result)")
    raise typer.Exit(0 if healthy else 1)


def _optional(method: str, *params):
    """An RPC answer for a detail of the report; None when Kamailio cannot give it."""
    try:
        return rpc.call(state["rpc"], method, *params)
    except (rpc.RpcError, ValueError):
        return None


def _profile_size(uri: str) -> int | None:
    answer = _optional("dlg.profile_get_size", "gateway_calls", uri)
    return answer if isinstance(answer, int) else None


def _part(name: str, facts: dict) -> dict:
    facts = dict(facts)
    up = facts.pop("reachable")
    return {"part": name, "state": "up" if up else "DOWN", "detail": _detail(facts)}


def _detail(facts: dict) -> str:
    return ", ".join(f"{k} {v}" for k, v in facts.items())


@app.command("calls")
def calls_cmd(media: bool = typer.Option(True, help="each leg's MOS, loss and jitter so far (asks rtpengine)")):
    """Active calls: direction, DID, tenant, gateway, carrier, talk time, media quality per leg."""
    dialogs = _rpc("dlg.list") or []
    quality = status.live_media(state["settings"], [d.get("call-id", "") for d in dialogs]) if media else None
    show(status.calls(dialogs, media=quality), "active calls")


def _pair(carrier, gateway) -> str:
    """One column for both legs: carrier/gateway, '-' where a leg had no figure."""
    return "/".join("-" if v is None else str(v) for v in (carrier, gateway))


@app.command("cdr")
def cdr_cmd(limit: int = typer.Option(20, help="newest N records"),
            did: str = typer.Option(None, help="only this DID / called number")):
    """Call records, newest first (one per routed call; duration = talk seconds)."""
    if not 1 <= limit <= 100_000:
        fail(2, "limit: must be 1..100000")
    sql = ("SELECT id, setup_time, IF(code BETWEEN 200 AND 299, answer_time, NULL) AS answer_time, end_time, "
           "duration, direction, did, tenant, gw_group, gateway, carrier, code, call_id, pdd_ms, answer_ms, "
           "end_reason, " + ", ".join(mediastats.COLUMNS) + ", agent_headers FROM sbc_cdr")
    args: list = []
    if did is not None:
        (did,) = checked(lambda: validate.did(did, state["settings"].default_region))
        sql += " WHERE did = %s"
        args.append(did)
    rows = read_store().rows(sql + " ORDER BY id DESC LIMIT %s", *args, limit)
    if not state["json"]:  # the columns that fit a terminal; --json has them all
        rows = [{"setup": f"{r['setup_time']:%m-%d %H:%M:%S}" if r["setup_time"] else "",
                 "dir": r["direction"], "did": r["did"], "tenant": r["tenant"],
                 "gateway": r["gateway"], "carrier": r["carrier"], "code": r["code"],
                 "pdd ms": r["pdd_ms"], "answer ms": r["answer_ms"],
                 "talk s": round(r["duration"], 1), "ended": r["end_reason"],
                 "mos c/g": _pair(r["carrier_mos"], r["gateway_mos"]),
                 "loss % c/g": _pair(r["carrier_loss_pct"], r["gateway_loss_pct"]),
                 "agent": r["agent_headers"] or ""} for r in rows]
    show(rows, "call records")
