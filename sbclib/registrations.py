"""The SBC's own registrations with providers and carriers that want one: what a row of Kamailio's uacreg table
holds for an operator's registration, and what the uac module's state of one means. Pure functions.

A registration leaves from one side only: its socket and its Contact are that side's (a carrier's from the
private side, a provider's from the public side), so that neither names the other side. The registration's
name is its Contact's user; a call to that Contact is routed by its To (kemi/routes.py).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

NAME = re.compile(r"[A-Za-z][A-Za-z0-9_.-]{0,63}")  # a Contact user; never a number, which would be a DID
EXPIRES = (60, 86400)

# uac's flags (uac_reg.c)
DISABLED, ONGOING, ONLINE, AUTHSENT = 1, 2, 4, 8


@dataclass(frozen=True)
class Side:
    """Where a registration leaves from: the socket Kamailio sends it by, and the Contact address it gives."""
    socket: str
    contact: str


def side(transport: str, ip: str, port: int) -> Side:
    """udp/tcp/tls on one of the SBC's sockets (kamailio.cfg's listen lines)."""
    contact = f"{ip}:{port}" + ("" if transport == "udp" else f";transport={transport}")
    return Side(f"{transport}:{ip}:{port}", contact)


def request_domain(registrar_host: str, registrar_port: int | None) -> str:
    """The Request-URI's and the AoR's domain when the operator names none: the registrar's host[:port]."""
    return registrar_host + (f":{registrar_port}" if registrar_port else "")


def state(record: dict) -> str:
    """One uac.reg_dump record: registered (and not expired), registering, disabled, or not registered (refused,
    unanswered, or waiting for its retry)."""
    flags, left = _whole(record.get("flags")), _whole(record.get("diff_expires"))
    if flags & DISABLED:
        return "disabled"
    if flags & ONLINE and left > 0:
        return "registered"
    if flags & ONGOING:
        return "registering"
    return "not registered"


def _whole(value) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def states(records) -> dict[str, str]:
    """l_uuid -> state, from uac.reg_dump's answer (a list of records; anything else: none)."""
    if not isinstance(records, list):
        return {}
    return {r["l_uuid"]: state(r) for r in records if isinstance(r, dict) and isinstance(r.get("l_uuid"), str)
            and r["l_uuid"]}


def forgotten(error: str) -> bool:
    """uac's answer to removing a record it does not hold (never loaded): nothing left to do."""
    return "not found" in error.lower()


def states_of_reply(text) -> dict[str, str]:
    """The same from a JSON-RPC reply's text (its result, or the result alone); an unreadable one has none."""
    try:
        doc = json.loads(text)
    except (TypeError, ValueError):
        return {}
    return states(doc.get("result") if isinstance(doc, dict) else doc)
