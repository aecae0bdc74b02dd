"""A pair of nodes: the bus (KDMQ between them, for dialogs and shared htables, on NODE_IP:DMQ_PORT only),
and the calls a node adopts from a lost one.

Kamailio's dmq module does the replication; this admits its messages from the other node and nothing else
there. A dialog DMQ brought from the other node has no acc or uac callbacks here (they are armed where the
dialog was made), so when an adopted call ends, its record is written here.
"""

from __future__ import annotations

import json
import os
import time

import KSR

from kemi.state import dlgvar
from kemi.telemetry import metrics, records
from kemi.topology.hiding import log
from sbclib.settings import Settings

CDR_CONNECTION = "cdr"  # sqlops connection (kamailio.cfg, pairs only): written by an async worker
# sbc_cdr columns written for an adopted call: the dialog variables of the same names (those set before
# the INVITE left; DMQ does not carry the ones set later: pdd_ms, answer_ms, media)
ADOPTED_COLUMNS = ("setup_time", "direction", "did", "tenant", "gateway", "carrier", "call_id", "end_reason")

BUS = "bus"  # the side label of messages refused on the DMQ socket (sbc_topology_guard_total)
METHOD = "KDMQ"
# What the pair replicates (kamailio.cfg): dialogs, DMQ's own node list, and the htables defined with
# dmqreplicate (Settings.replicated_tables). A KDMQ for anything else is dropped, whoever sends it.
DMQ_PEERS = ("dialog", "htable", "notification_peer")


def on_bus(settings: Settings, rcv_ip: str, rcv_port: str) -> bool:
    """Did the message arrive on this node's DMQ socket (never a SIP side)?"""
    return settings.clustered and rcv_ip == settings.node_ip and rcv_port == str(settings.dmq_port)


def refusal(settings: Settings, method: str, src: str, known_node: bool) -> str | None:
    """Why a message on the bus is not the pair's; None when DMQ should have it. The configured peer is
    admitted before DMQ knows it (it announces itself with its first KDMQ)."""
    if method != METHOD:
        return "not KDMQ"
    if src != settings.peer_node_ip and not known_node:
        return "not a node"
    return None


def content_refusal(peer: str, body: str, shared_tables: tuple[str, ...]) -> str | None:
    """Why a KDMQ from a node carries what the pair does not replicate; None when it may be applied. htable's
    DMQ handler writes whatever table a message names (ht_dmq.c does not check dmqreplicate): a forged write
    to gwdns would make any address a gateway's, one to a DID cache would route calls."""
    if peer not in DMQ_PEERS:
        return "not a replicated peer"
    if peer != "htable":
        return None
    try:
        doc = json.loads(body)
    except ValueError:
        return "htable: unreadable"
    cells = doc.get("cells", []) if isinstance(doc, dict) else None
    if not isinstance(cells, list) or not all(isinstance(c, dict) for c in cells):
        return "htable: unreadable"
    named = [doc["htname"]] if "htname" in doc else []
    if any(t not in shared_tables for t in named + [c.get("htname") for c in cells]):
        return "htable: not a shared table"
    return None


def bus_message(settings: Settings) -> None:
    method, src = KSR.kx.get_method(), KSR.kx.get_srcip()
    known = src != settings.peer_node_ip and method == METHOD and KSR.dmq.is_from_node() > 0
    reason = refusal(settings, method, src, known) or content_refusal(
        KSR.kx.get_ruser(), KSR.kx.get_body(), settings.replicated_tables())
    if reason is None:
        KSR.dmq.handle_message()
        return
    log(KSR.notice, f"bus: dropped {method} from {src}: {reason}")
    metrics.topology_guard("ingress", BUS, reason)  # silence: the bus tells a stranger nothing


def identity(settings: Settings) -> str:
    """This node in this start ("" on a single SBC): SERVER_ID is new at every start (the launcher), so a
    node restarted is not the one that made its dialogs before."""
    return f"{settings.node_ip}/{os.environ.get('SERVER_ID', '')}" if settings.clustered else ""


def adopted(owner: str, me: str) -> bool:
    return bool(me) and bool(owner) and owner != me


def call_ended(settings: Settings) -> None:
    """dialog:end of a call adopted from another node: its record, as acc would have written it there."""
    if not adopted(dlgvar.get(records.OWNER), identity(settings)):
        return
    start = KSR.pv.geti("$dlg(start_ts)")
    now = time.time()
    values = {name: KSR.pv.get(f"$(dlg_var({name}){{sql.val}})") for name in ADOPTED_COLUMNS}
    values |= {"gw_group": KSR.pv.get("$(dlg_var(group){sql.val})"),
               "code": KSR.pv.get("$(dlg_var(code){sql.val})") if dlgvar.get(records.CODE) else "'200'",
               "answer_time": f"'{records.db_time(start)}'", "end_time": f"'{records.db_time(now)}'",
               "duration": f"{max(0.0, now - start):.3f}"}
    KSR.sqlops.sql_query_async(CDR_CONNECTION,
                               f"INSERT INTO sbc_cdr ({', '.join(values)}) VALUES ({', '.join(values.values())})")
    log(KSR.notice, f"adopted call ended: its record written here ({dlgvar.get('call_id')})")
