"""What may enter and leave the SBC, checked on the message's own bytes. Pure functions, no Kamailio.

Inbound: `problem()` says why a message cannot be carried safely: bytes KSR cannot hand to Python (NUL,
non-UTF-8), control characters, headers topos must rewrite (Via, Record-Route, Route, Contact) in a shape
or size its parsers refuse (topos sends such a message on unhidden), and addresses nothing on the way
rewrites (From/To outside the URI, a body outside the SDP lines rtpengine rewrites). The routes answer
400 or drop such a message before any state exists.

Outbound: `foreign_addresses()` is the last look at what is about to be sent: no IPv4 address other
than our own socket's and (in headers) the next hop's, outside the headers topos rewrites after this check.
"""

from __future__ import annotations

import re

# topos packs Vias and Record-Routes into one 8 KB buffer per message (TPS_DATA_SIZE): these limits keep
# a message (plus the Via and Record-Route the SBC adds) well inside it. Real carriers send 2-5 Vias.
MAX_VIAS = 16
MAX_VIA_BYTES = 2048
MAX_ROUTES = 16  # Record-Route + Route entries
MAX_ROUTE_BYTES = 2048
MAX_URI_BYTES = 512
MAX_CALL_ID_BYTES = 256

COMPACT = {"v": "via", "m": "contact", "f": "from", "t": "to", "i": "call-id", "l": "content-length",
           "c": "content-type"}
# Headers topos removes or rebuilds on every crossing (and the Call-ID it masks on Kamailio 6.0; on 5.6
# it crosses, the documented gap): their content is not what leaves, so the egress check skips them.
TOPOS_HEADERS = frozenset({"via", "record-route", "route", "contact", "call-id", "p-sr-xuid", "p-sr-xbranch"})
# In replies and in-dialog requests these carry the recipient's own view (uac restores From/To per side).
PARTY_HEADERS = frozenset({"from", "to", "cseq"})

_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]|\r(?!\n)")
_URI_CHARS = rf"[^\s<>\"]{{1,{MAX_URI_BYTES}}}"
_REQUEST_LINE = re.compile(rf"^[A-Za-z]{{1,32}} (?:sips?|tel):{_URI_CHARS} SIP/2\.0$")
_STATUS_LINE = re.compile(r"^SIP/2\.0 [1-6][0-9]{2}(?: [^\r\n]*)?$")
# A name of at most 64 characters: the routes remove headers by name, which KSR.hdr.remove refuses
# beyond 124 (SR_KEMI_HNAME_SIZE); a longer one would cross unfiltered.
_HEADER = re.compile(r"^([!%'*+\-.0-9A-Z^_`a-z|~]{1,64})[ \t]*:[ \t]*(.*)$", re.S)
# The same, for every line of a header section at once: a line it does not take (folded, no header, a
# stray CR) makes the count differ, and the line-by-line reading decides.
_HEADER_LINE = re.compile(r"^([!%'*+\-.0-9A-Z^_`a-z|~]{1,64})[ \t]*:[ \t]*([^\r\n]*)\r?$", re.M)

_TOKEN = r"[A-Za-z0-9\-.!%*_+`'~]+"
_QUOTED = r'"(?:[^"\\]|\\.)*"'
_VALUE = r"[A-Za-z0-9!#$%&'*+\-./:=?@\[\]^_`{|}~]+"  # token/host/word: printable ASCII (Kamailio's parsers)
_PARAMS = rf"(?:[ \t]*;[ \t]*{_TOKEN}(?:[ \t]*=[ \t]*(?:{_VALUE}|{_QUOTED}|\[[0-9A-Fa-f:.]+\]))?)*"
_URI = rf"(?:sips?|tel):{_URI_CHARS}"
_BARE_URI = rf"(?:sips?|tel):[^\s<>\";,]{{1,{MAX_URI_BYTES}}}"
_DISPLAY = rf"(?:{_QUOTED}|{_TOKEN}(?:[ \t]+{_TOKEN})*)?"
_NAME_ADDR = re.compile(rf"^(?:{_DISPLAY}[ \t]*<{_URI}>|{_BARE_URI}){_PARAMS}$")
# A SIP URI as Kamailio's parse_uri takes it (host, numeric port): Route, Record-Route and Contact, which
# topos parses and rebuilds ("sip:sip:host" passes the loose form above and fails there).
_HOST = r"(?:[A-Za-z0-9](?:[A-Za-z0-9\-.]*[A-Za-z0-9])?|\[[0-9A-Fa-f:.]+\])"
_SIP_URI = rf"sips?:(?:[^\s<>\"@]{{1,256}}@)?{_HOST}(?::[0-9]{{1,5}})?(?:[;?][^\s<>\"]{{0,{MAX_URI_BYTES}}})?"
_CONTACT = re.compile(rf"^(?:{_DISPLAY}[ \t]*<{_SIP_URI}>|sips?:(?:[^\s<>\";,@]{{1,256}}@)?{_HOST}(?::[0-9]{{1,5}})?)"
                      rf"{_PARAMS}$")
_ROUTE = re.compile(rf"^{_DISPLAY}[ \t]*<{_SIP_URI}>{_PARAMS}$")
_PARTY = re.compile(rf"^({_DISPLAY})[ \t]*<{_URI}>(.*)$|^{_BARE_URI}(.*)$")  # display, URI, params
# The top Via (where our replies go) names a transport Kamailio speaks; a Via below it may name any
# (RFC 3261 other-transport: a hop behind the peer is its business, and topos removes them all).
_VIA_TAIL = rf"[ \t]+(?:[A-Za-z0-9.\-]+|\[[0-9A-Fa-f:.]+\])(?::[0-9]{{1,5}})?{_PARAMS}$"
_TOP_VIA = re.compile(rf"^SIP[ \t]*/[ \t]*2\.0[ \t]*/[ \t]*(?:UDP|TCP|TLS|SCTP|WSS?){_VIA_TAIL}", re.I)
_VIA = re.compile(rf"^SIP[ \t]*/[ \t]*2\.0[ \t]*/[ \t]*{_TOKEN}{_VIA_TAIL}", re.I)
_WORD = r"[A-Za-z0-9\-.!%*_+`'~()<>:\\\"/\[\]?{}]+"
_CALL_ID = re.compile(rf"^{_WORD}(?:@{_WORD})?$")
_CSEQ = re.compile(r"^([0-9]{1,10})[ \t]+([A-Za-z]{1,32})$")
_NUMBER = re.compile(r"^[0-9]{1,7}$")
_IP4 = r"(?:[0-9]{1,3}\.){3}[0-9]{1,3}"
_IPV4 = re.compile(rf"(?<![0-9.]){_IP4}(?![0-9])")
_ANY_ADDRESS = "0.0.0.0"  # SDP hold: not an address of anyone
# Methods whose dialogs topos keys on the Contact (tps_storage_link_msg refuses them without one and the
# message then leaves unhidden): the request, and a 2xx/3xx answer, must carry exactly one.
_CONTACT_METHODS = frozenset({"INVITE", "SUBSCRIBE"})
# Where an SDP passes through rtpengine (requests, and replies by their CSeq method), and the SDP lines
# rtpengine rewrites or removes (replace-origin, replace-session-connection, ICE=remove). An address
# anywhere else in a body would cross as the sender wrote it.
_MEDIA_METHODS = frozenset({"INVITE", "UPDATE", "ACK"})
# Each as RFC 4566/8839 writes it (single spaces, nothing trailing): rtpengine rewrites what it parses, and
# a line it cannot parse (`o=- 1 1 IN IP4  10.1.2.3`) would leave with the sender's address in it.
_REWRITTEN_SDP_LINE = (
    rf"^(?:c=IN IP4 {_IP4}(?:/[0-9]+){{0,2}}"
    rf"|o=[!-~]+ [0-9]+ [0-9]+ IN IP4 {_IP4}"
    rf"|a=rtcp:[0-9]+ IN IP4 {_IP4}"
    rf"|a=candidate:[!-~]+ [0-9]+ [!-~]+ [0-9]+ {_IP4} [0-9]+ typ [a-z]+(?: [!-~]+ [!-~]+)*"
    rf"|a=remote-candidates:[0-9]+ {_IP4} [0-9]+(?: [0-9]+ {_IP4} [0-9]+)*)")
_REWRITTEN_SDP_LINES = re.compile(_REWRITTEN_SDP_LINE + r"\r*$", re.M)  # each such line, whole


def split(raw: bytes) -> tuple[bytes, bytes]:
    """(start line + headers, body)."""
    for sep in (b"\r\n\r\n", b"\n\n"):
        at = raw.find(sep)
        if at >= 0:
            return raw[:at], raw[at + len(sep):]
    return raw, b""


def header_fields(head: str) -> list[tuple[str, str]]:
    """(lowercase full name, value) per header field line; the start line is not a field. A line that
    is no header, or a header folded over several lines, is returned with name "" (a problem)."""
    at = head.find("\n")
    found = _HEADER_LINE.findall(head, at + 1) if at >= 0 else []
    if len(found) == head.count("\n"):  # every line one header (nearly every message): one pass in C
        return [(COMPACT.get(lower, lower), value.strip()) for name, value in found if (lower := name.lower())]
    return _header_fields_by_line(head)


def _header_fields_by_line(head: str) -> list[tuple[str, str]]:
    lines: list[str] = []
    folded: set[int] = set()
    for line in head.split("\n")[1:]:
        line = line[:-1] if line.endswith("\r") else line
        if line[:1] in (" ", "\t") and lines:
            lines[-1] += " " + line.strip()
            folded.add(len(lines) - 1)
        else:
            lines.append(line)
    fields = []
    for at, line in enumerate(lines):
        m = _HEADER.match(line)
        if not m or at in folded:  # folded lines: Kamailio relays them as they came, topos chokes on some
            fields.append(("", line))
            continue
        name = m.group(1).lower()
        fields.append((COMPACT.get(name, name), m.group(2).strip()))
    return fields


def reply_to(raw: bytes, code: int, reason: str, callid: str) -> bytes | None:
    """A minimal reply to a request, carrying `callid` instead of the request's (the masked Call-ID its
    sender knows): every Via, From, To, CSeq as they came, no body. None when any of them is missing,
    folded, or `callid`/`reason` would need escaping."""
    if not callid or not re.fullmatch(r"[\x21-\x7e]+", callid) or not re.fullmatch(r"[\x20-\x7e]+", reason):
        return None
    head, _ = split(raw)
    fields = header_fields(head.decode("utf-8", "replace"))
    kept = {name: [value for field, value in fields if field == name] for name in ("via", "from", "to", "cseq")}
    if any(field == "" for field, _ in fields) or not all(kept.values()) or len(kept["cseq"]) > 1:
        return None
    lines = [f"SIP/2.0 {code} {reason}", *(f"Via: {v}" for v in kept["via"]), f"From: {kept['from'][0]}",
             f"To: {kept['to'][0]}", f"Call-ID: {callid}", f"CSeq: {kept['cseq'][0]}", "Content-Length: 0"]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def entries(value: str) -> list[str]:
    """A header value's comma-separated entries; commas inside quotes or <...> do not split."""
    if "," not in value:  # nearly every value: the character walk below is most of a check's time
        return [value.strip()]
    out, current, quoted, angle, escaped = [], [], False, 0, False
    for ch in value:
        if escaped:
            escaped = False
        elif ch == "\\" and quoted:
            escaped = True
        elif ch == '"':
            quoted = not quoted
        elif not quoted and ch == "<":
            angle += 1
        elif not quoted and ch == ">":
            angle -= 1
        elif ch == "," and not quoted and angle == 0:
            out.append("".join(current).strip())
            current = []
            continue
        current.append(ch)
    out.append("".join(current).strip())
    return out


def problem(raw: bytes, *, is_request: bool) -> str | None:
    """None if the message can be carried; otherwise a short reason (for the log, the metric label
    and the 400's reason phrase)."""
    return check(raw, is_request=is_request)[0]


def check(raw: bytes, *, is_request: bool) -> tuple[str | None, tuple[str, ...]]:
    """problem() and, for a message without one, its header names in order (lowercase): the routes
    filter headers by these names, so no regular expression is compiled per message in Kamailio."""
    head_bytes, body = split(raw)
    try:
        head = head_bytes.decode("utf-8")
    except UnicodeDecodeError:
        return "not UTF-8", ()
    if _CONTROL.search(head):
        return "control character", ()
    first = head.split("\n", 1)[0].rstrip("\r")
    if not (_REQUEST_LINE if is_request else _STATUS_LINE).match(first):
        return "bad start line", ()
    status = 0 if is_request else int(first[8:11])
    seen: dict[str, list[str]] = {}
    for name, value in header_fields(head):
        if not name:
            return "bad header line", ()
        seen.setdefault(name, []).append(value)
    reason = _headers_problem(seen, status) or _body_problem(body, seen, status)
    return reason, (() if reason else tuple(seen))


def header_names(raw: bytes) -> tuple[str, ...]:
    """The header names of a message, without checking it (the bench's guard-off runs)."""
    head = split(raw)[0].decode("utf-8", "replace")
    return tuple(dict.fromkeys(name for name, _ in header_fields(head) if name))


def _headers_problem(seen: dict[str, list[str]], status: int) -> str | None:
    for name in ("from", "to", "call-id", "cseq"):
        if len(seen.get(name, ())) != 1:
            return f"{name} count"
    for name in ("from", "to"):
        if not _NAME_ADDR.match(seen[name][0]):
            return f"bad {name}"
        if _IPV4.search("".join(_PARTY.match(seen[name][0]).groups(""))):  # uac rewrites the URI only
            return f"address in {name} name or parameters"
    if len(seen["call-id"][0]) > MAX_CALL_ID_BYTES or not _CALL_ID.match(seen["call-id"][0]):
        return "bad call-id"
    cseq = _CSEQ.match(seen["cseq"][0])
    if not cseq or int(cseq.group(1)) >= 2**31:
        return "bad cseq"
    for name in ("max-forwards", "content-length"):
        values = seen.get(name, [])
        if len(values) > 1 or (values and not _NUMBER.match(values[0])):
            return f"bad {name}"
    vias = [v for value in seen.get("via", []) for v in entries(value)]
    if not vias or len(vias) > MAX_VIAS or sum(map(len, vias)) > MAX_VIA_BYTES:
        return "via count or size"
    if not _TOP_VIA.match(vias[0]) or not all(_VIA.match(v) for v in vias[1:]):
        return "bad via"
    routes = [r for name in ("record-route", "route") for value in seen.get(name, []) for r in entries(value)]
    if len(routes) > MAX_ROUTES or sum(map(len, routes)) > MAX_ROUTE_BYTES:
        return "route count or size"
    if not all(_ROUTE.match(r) for r in routes):
        return "bad route"
    if status and "route" in seen:  # no reply carries Route; nothing would remove it on the way
        return "route in reply"
    contacts = [c for value in seen.get("contact", []) for c in entries(value)]
    if cseq.group(2).upper() == "REGISTER":  # bindings (several, or "*"): never relayed, the routes answer it
        return None if all(_CONTACT.match(c) or c == "*" for c in contacts) else "bad contact"
    if len(contacts) > 1 and not 300 <= status < 400:  # topos carries one Contact (redirects never cross)
        return "contact count"
    if not all(_CONTACT.match(c) for c in contacts):
        return "bad contact"
    if not contacts and cseq.group(2).upper() in _CONTACT_METHODS and (not status or 200 <= status < 400):
        return "missing contact"
    return None


def _body_problem(body: bytes, seen: dict[str, list[str]], status: int) -> str | None:
    """An IPv4 address in the body that rtpengine will not rewrite: only an SDP of a method whose SDP
    goes through rtpengine, and there only on the lines it rewrites, may name one."""
    text = body.decode("ascii", "replace")
    if not _IPV4.search(text):
        return None
    method = _CSEQ.match(seen["cseq"][0]).group(2).upper()  # checked by _headers_problem
    content_type = seen.get("content-type", [""])[0].split(";", 1)[0].strip().lower()
    if status >= 300 or method not in _MEDIA_METHODS or content_type != "application/sdp":
        return "address in body"
    # What is left once the lines rtpengine rewrites are gone may name no address but 0.0.0.0 (hold).
    rest = _REWRITTEN_SDP_LINES.sub("", text)
    return "address in body" if any(a != _ANY_ADDRESS for a in _IPV4.findall(rest)) else None


def sent_by_host(via: str) -> str | None:
    m = re.match(r"^SIP[ \t]*/[ \t]*2\.0[ \t]*/[ \t]*\w+[ \t]+([^:;,\s]+)", via, re.I)
    return m.group(1) if m else None


def foreign_addresses(raw: bytes, own: str | None, next_hop: str | None, *, initial: bool) -> list[str]:
    """Where the outgoing message names an IPv4 address other than our sending socket's (`own`) or, in
    its headers, the next hop's: "where address" items, [] if none. A body names only our own (rtpengine
    wrote it: the SDP's o=, c=, a=rtcp lines, whatever the sender's looked like). Skips what topos rewrites
    after this check; the Request-URI, From and To only count in an initial request (the SBC wrote them;
    later they are the recipient's)."""
    allowed = {own, next_hop}
    head, body = (part.decode("utf-8", "surrogateescape") for part in split(raw))
    start = head.split("\r\n", 1)[0]
    found = [f"request-uri {a}" for a in _IPV4.findall(start) if initial and a not in allowed]
    skip = TOPOS_HEADERS if initial else TOPOS_HEADERS | PARTY_HEADERS
    for name, value in header_fields(head):
        if name not in skip:
            found += [f"{name or 'line'} {a}" for a in _IPV4.findall(value) if a not in allowed]
    found += [f"body {a}" for a in _IPV4.findall(body) if a not in (own, _ANY_ADDRESS)]
    return found
