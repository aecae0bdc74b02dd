"""A stand-in for Kamailio's KSR module that records every call.

Only functions that Kamailio 5.6.3 really exports with this SBC's modules (tests/data/
kemi-api.txt, from `kamcmd app_python.api_list`) can be called, with their arity, so a
misspelt or misused KSR call fails here rather than inside Kamailio.
"""

from __future__ import annotations

import re
import types
from pathlib import Path

_API_LINE = re.compile(r"^KSR\.(?P<name>[\w.]+)\((?P<args>[^)]*)\)")


def _load_api() -> dict[str, int]:
    api = {}
    text = (Path(__file__).resolve().parent.parent / "data" / "kemi-api.txt").read_text()
    for line in text.splitlines():
        m = _API_LINE.match(line)
        if m:
            args = m["args"].strip()
            api[m["name"]] = 0 if args in ("", "none") else len(args.split(","))
    return api


API = _load_api()
# What kx.get_msgbuf answers unless a test says otherwise: a well-formed INVITE from a carrier.
WELL_FORMED = (
    "INVITE sip:4155550101@127.0.1.1:5060 SIP/2.0\r\n"
    "Via: SIP/2.0/UDP 127.0.4.2:5060;branch=z9hG4bK-1;rport\r\n"
    "From: \"Caller\" <sip:+12125550199@127.0.4.2>;tag=from-1\r\n"
    "To: <sip:4155550101@127.0.1.1>\r\n"
    "Call-ID: call-1\r\n"
    "CSeq: 1 INVITE\r\n"
    "Max-Forwards: 70\r\n"
    "Contact: <sip:carrier@127.0.4.2:5060>\r\n"
    "Content-Length: 0\r\n\r\n"
)
SUBMODULES = {name.split(".")[0] for name in API if "." in name}


class _Namespace:
    def __init__(self, ksr: FakeKSR, prefix: str):
        self._ksr = ksr
        self._prefix = prefix

    def __getattr__(self, name: str):
        return self._ksr._function(f"{self._prefix}.{name}")


class FakeKSR(types.ModuleType):
    def __init__(self):
        super().__init__("KSR")
        self.calls: list[tuple[str, tuple]] = []
        self.returns: dict[str, object] = {}
        self.pvs: dict[str, object] = {}  # what pv.sets/seti stored, for pv.get (AVPs, $fs, ...)
        self.dlg_vars: dict[str, str] = {}  # what $dlg_var was set to (pv.sets), for pv.get

    def __getattr__(self, name: str):
        if name.startswith("_"):
            raise AttributeError(name)
        if name in SUBMODULES:
            return _Namespace(self, name)
        return self._function(name)

    def _function(self, full: str):
        if full not in API:
            raise AttributeError(f"KSR.{full} is not exported by Kamailio 5.6.3")
        arity = API[full]

        def call(*args):
            if len(args) != arity:
                raise TypeError(f"KSR.{full} takes {arity} arguments, got {len(args)}")
            if any(isinstance(a, str) and "\x00" in a for a in args):
                raise ValueError("embedded null character")  # as app_python3 does: C strings end at NUL
            self.calls.append((full, args))
            dlg_var = re.fullmatch(r"\$dlg_var\((.+)\)", args[0]) if full.startswith("pv.") and args else None
            if dlg_var and full == "pv.sets":
                self.dlg_vars[dlg_var[1]] = args[1]
            elif dlg_var and full == "pv.get":  # whatever pv.get answers otherwise
                return self.dlg_vars.get(dlg_var[1])
            elif full in ("pv.sets", "pv.seti") and full not in self.returns:
                self.pvs[args[0]] = args[1]
            if full == "pv.unset":
                self.pvs.pop(args[0], None)
            if full == "pv.get" and full not in self.returns:
                return self.pvs.get(args[0])
            if full == "kx.get_msgbuf" and full not in self.returns:
                return WELL_FORMED
            if full == "kx.ifdef" and full not in self.returns:
                return False  # Kamailio 5.6's cfg: topos in Redis (TOPOS_HTABLE is 6.0's)
            if full == "textops.search_body" and full not in self.returns:
                return -1  # no body of its own: a test that means one sets it (test_srtp.search_body)
            value = self.returns.get(full, 1)
            return value(*args) if callable(value) else value

        return call

    # ---- what the tests ask ------------------------------------------------------------------

    def called(self, name: str) -> list[tuple]:
        return [args for full, args in self.calls if full == name]

    def actions(self) -> list[tuple[str, tuple]]:
        """Calls that change the message or its fate (no getters, checks, logs, metrics or call-record
        variables: see counted() and dlg_vars for those)."""
        passive = re.compile(
            r"^(kx\.|pv\.get|xhttp_prom\.|dialog\.var_|is_|(dbg|err|info|warn|notice|crit|log)$|siputils\.has_totag|textops\.(has_body|search_body)"
            r"|permissions\.allow|dispatcher\.ds_is_from|maxfwd\.|sanity\.|tmx\.t_precheck"
            r"|tm\.t_get_status_code|tm\.t_is_canceled|tmx\.t_is_failure_route|force_rport|htable\.sht_get"
            r"|pike\.pike_check_req|dialog\.is_known_dlg|hdr\.is_present|hdr\.get$|ndb_redis\.|dmq\.is_from_node)"
        )
        return [(f, a) for f, a in self.calls
                if not passive.match(f) and not (f == "pv.sets" and a[0].startswith("$dlg_var("))]

    def counted(self, metric: str) -> list[tuple]:
        """Labels of each increment of an xhttp_prom counter."""
        return [a[2:] for f, a in self.calls if f.startswith("xhttp_prom.counter_inc") and a[0] == metric]

    def replies(self) -> list[tuple]:
        return self.called("sl.send_reply")

    def logged(self) -> str:
        return "".join(a[0] for f, a in self.calls if f in ("err", "warn", "notice", "info", "dbg"))
