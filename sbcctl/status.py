"""What `sbcctl status` and `sbcctl calls` show, built from Kamailio's RPC answers, rtpengine's ng
statistics and the metrics endpoint. Parsing is plain functions, testable on recorded answers."""

from __future__ import annotations

import time
import urllib.request

from prometheus_client.parser import text_string_to_metric_families

from sbclib import capacity, mediastats, ng
from sbclib.probes import redis_ping
from sbclib.settings import Settings

# dispatcher.list FLAGS: first letter = state, second = probing. T (trying): not answering its probes yet (a row
# sbcctl adds starts so, until its first answered probe) or any more (below DS_PROBING_THRESHOLD misses); calls
# still go to it.
DS_STATE = {"A": "up", "I": "down", "D": "disabled", "T": "pending"}
TROUBLE = ("down", "unresolved")  # a peer in these makes `sbcctl status` exit 1
DLG_STATE = {1: "unconfirmed", 2: "early", 3: "answered", 4: "confirmed", 5: "ended"}


def peers(dispatcher_list: dict, carrier_group: int) -> list[dict]:
    """One row per gateway/carrier: group, URI, kind, probing state, weight, priority."""
    rows = []
    for record in dispatcher_list.get("RECORDS", []):
        group = record["SET"]["ID"]
        for target in record["SET"].get("TARGETS", []):
            dest = target["DEST"]
            flags = dest.get("FLAGS", "")
            rows.append({
                "group": group,
                "uri": dest["URI"],
                "kind": "carrier" if group == carrier_group else "gateway",
                "state": DS_STATE.get(flags[:1], flags),
                "probed": "P" in flags[1:],
                "priority": dest.get("PRIORITY"),
                "weight": (dest.get("ATTRS") or {}).get("WEIGHT"),
                **_caps(dest.get("ATTRS")),
            })
    return sorted(rows, key=lambda r: (r["group"], -(r["priority"] or 0), r["uri"]))


_SET_STATE = {"up": "ap", "down": "ip", "pending": "tp"}  # dispatcher.set_state's codes (probing kept on)


def states_before_reload(dispatcher_list: dict, carrier_group: int) -> list[tuple[str, int, str]]:
    """(state code, set, URI) of every peer whose state a dispatcher.reload would lose: it loads each row in
    the state its DB flags give (active, or trying for a row sbcctl wrote), whatever the probes had found."""
    return [(_SET_STATE[p["state"]], p["group"], p["uri"]) for p in peers(dispatcher_list, carrier_group)
            if p["state"] in _SET_STATE]


def restore_states(call, states: list[tuple[str, int, str]], carrier_group: int) -> None:
    """After the reload: each peer back in the state its probes had found (`call(method, *params)`: RPC),
    except one the change disabled (dispatcher loaded it disabled: that is the change)."""
    disabled = {(p["group"], p["uri"]) for p in peers(call("dispatcher.list"), carrier_group)
                if p["state"] == "disabled"}
    for code, group, uri in states:
        if (group, uri) in disabled:
            continue
        try:
            call("dispatcher.set_state", code, group, uri)
        except Exception:  # noqa: BLE001 - this change removed it
            continue


def _caps(attrs) -> dict:
    caps = capacity.caps_of((attrs or {}).get("BODY") if isinstance(attrs, dict) else attrs)
    return {"max_calls": caps.max_calls or None, "max_cps": caps.max_cps or None}


HOLD_PREFIX = "hold "  # gwload's keys of rows a 429/503 Retry-After holds off (kemi/gateways/capacity.py)


def held(htable_dump) -> set[str]:
    """URIs of the rows on hold, from `htable.dump gwload` (a list of slots, each with its items)."""
    found = set()
    for slot in htable_dump if isinstance(htable_dump, list) else []:
        items = slot.get("slot") if isinstance(slot, dict) else None
        for item in items if isinstance(items, list) else []:
            name = item.get("name") if isinstance(item, dict) else None
            if isinstance(name, str) and name.startswith(HOLD_PREFIX) and item.get("value") not in (0, "0"):
                found.add(name[len(HOLD_PREFIX):])
    return found


def with_load(listed: list[dict], calls_of, on_hold: set[str]) -> list[dict]:
    """Each peer's calls now (`calls_of(uri)`: its gateway_calls profile size, None unknown) against its cap
    ("3/10"), and whether a Retry-After holds it off."""
    rows = []
    for row in listed:
        now = calls_of(row["uri"]) if row["state"] != "unresolved" else None
        cap = row.get("max_calls")
        rows.append({**row, "calls": None if now is None else (f"{now}/{cap}" if cap else str(now)),
                     "held": row["uri"] in on_hold})
    return rows


def with_unloaded(listed: list[dict], db_rows: list[dict], carrier_group: int, disabled: int) -> list[dict]:
    """`listed` (peers()) plus each enabled DB row dispatcher has not loaded: a gateway named by a host name
    that does not resolve (it joins its set when it does), shown `unresolved`."""
    loaded = {(row["group"], row["uri"]) for row in listed}
    extra = [{"group": row["group"], "uri": row["uri"], "kind": "carrier" if row["group"] == carrier_group
              else "gateway", "state": "unresolved", "probed": False, "priority": row["priority"], "weight": None,
              **_caps(row.get("attrs"))}
             for row in db_rows if (row["group"], row["uri"]) not in loaded and not int(row["flags"] or 0) & disabled]
    return sorted(listed + extra, key=lambda r: (r["group"], -(r["priority"] or 0), r["uri"]))


QUALITY = ("mos", "loss_pct", "jitter_ms")  # per leg, in `calls` rows


def calls(dialogs: list[dict], now: float | None = None,
          media: dict[str, dict[str, mediastats.Leg]] | None = None) -> list[dict]:
    """Active dialogs with what the routes stored in their variables, and each leg's media quality so
    far (`media`: Call-ID -> legs, from live_media; None where rtpengine has no figure yet)."""
    now = time.time() if now is None else now
    rows = []
    for dlg in dialogs:
        state = dlg.get("state")
        if state == 5:
            continue  # ended, kept only until tm frees it
        variables = {}
        for item in dlg.get("variables") or []:
            variables.update(item)
        answered = dlg.get("start_ts") or 0
        rows.append({
            "call_id": dlg.get("call-id", ""),
            "state": DLG_STATE.get(state, str(state)),
            "direction": variables.get("direction", ""),
            "did": variables.get("did", ""),
            "tenant": variables.get("tenant", ""),
            "gateway": variables.get("gateway", ""),
            "carrier": variables.get("carrier", ""),
            "talk_seconds": int(now - answered) if answered else 0,
            "age_seconds": int(now - (dlg.get("init_ts") or now)),
        })
        legs = (media or {}).get(rows[-1]["call_id"], {})
        for leg in mediastats.LEGS.values():
            for name in QUALITY:
                rows[-1][f"{leg}_{name}"] = getattr(legs.get(leg), name, None)
    return rows


def live_media(settings: Settings, call_ids: list[str]) -> dict[str, dict[str, mediastats.Leg]]:
    """Each call's legs as rtpengine sees them now (one ng query per call); calls it does not answer
    for are left out."""
    found = {}
    for call_id in call_ids:
        try:
            answer = ng.text(ng.query(settings.rtpengine_ng_ip, settings.rtpengine_ng_port, call_id))
        except (OSError, RuntimeError, ValueError):
            continue
        found[call_id] = mediastats.legs(answer)
    return found


def metric_values(text: str, name: str) -> list[tuple[dict, float]]:
    """(labels, value) of every sample of one metric in Prometheus text."""
    return [(s.labels, s.value) for family in text_string_to_metric_families(text)
            for s in family.samples if s.name == name]


def scrape(settings: Settings, timeout: float = 3.0) -> str:
    url = f"http://{settings.metrics_ip}:{settings.metrics_port}/metrics"
    with urllib.request.urlopen(url, timeout=timeout) as answer:
        return answer.read().decode()


def cache_figures(metrics_text: str) -> list[dict]:
    rows: dict[str, dict] = {}
    for labels, value in metric_values(metrics_text, "kamailio_sbc_cache_lookups_total"):
        rows.setdefault(labels["cache"], {"cache": labels["cache"]})[labels["result"]] = int(value)
    for labels, value in metric_values(metrics_text, "kamailio_sbc_db_errors_total"):
        rows.setdefault("db errors", {"cache": "db errors"})[labels["source"]] = int(value)
    return list(rows.values())


def rtpengine(settings: Settings) -> dict:
    """Reachability and session count straight from rtpengine's control socket."""
    try:
        stats = ng.command(settings.rtpengine_ng_ip, settings.rtpengine_ng_port, {"command": "statistics"})
    except OSError as exc:
        return {"reachable": False, "error": str(exc) or type(exc).__name__}
    current = stats.get("statistics", {}).get("currentstatistics", {})
    return {"reachable": True, "sessions": current.get("sessionstotal", 0)}


def redis(settings: Settings) -> dict:
    """The topology-hiding store: new calls are refused while it does not answer."""
    try:
        return {"reachable": redis_ping(settings.redis_ip, settings.redis_port, timeout=1,
                                        password=settings.redis_password)}
    except OSError as exc:
        return {"reachable": False, "error": str(exc) or type(exc).__name__}
