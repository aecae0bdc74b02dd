"""What an SDP says of its sender besides its media, taken out before rtpengine reads it. The origin's user
name and the session name often name the software (o=FreeSWITCH, s=Asterisk PBX 18), a=tool names it
outright, an a=ssrc cname is a user@host of the far side (baresip: cname:sip:agent@its.domain), and
i=/u=/e=/p= describe the sender (RFC 8866). rtpengine rewrites addresses only: it keeps each party's first
o= user and s= to keep them stable, not to hide them, and rtpengine 10 cannot remove attributes.

The body is read once and edited here, by Python's compiled expressions (textops compiles its expression
on every call: four to six regcomps per SDP). The new body is a lump, which rtpengine does not see (it
reads the body as received): it is applied to the message first (textopsx), which Kamailio allows in a
request route before record_route, and for replies. A body Python cannot decode (not UTF-8) is edited by
textops with the same expressions in POSIX form.
"""

from __future__ import annotations

import re

import KSR  # provided by app_python3 inside Kamailio (a fake in the unit tests)

from sbclib import benchswitch

# POSIX extended expressions, compiled by textops with REG_ICASE|REG_NEWLINE (^ at every line): CR and LF
# are the characters themselves, a backslash inside brackets would be a backslash.
_EOL = "\r\n"
# a=tool and a=ssrc* by prefix: a malformed "a=tool x" would cross as it came.
TELLING = f"^(o=([^-]|-[^ ])|s=([^-]|-[^{_EOL}])|[iuep]=|a=(tool|ssrc))"
EDITS = (
    (f"^([iuep]=|a=(tool|ssrc))[^{_EOL}]*(\r?\n|$)", ""),  # the lines go (the last may lack its CRLF)
    (f"^o=[^ {_EOL}]*", "o=-"),  # the origin's user name
    (f"^s=[^{_EOL}]*", "s=-"),  # the session name
)
# The same in Python's re: ^ at every line, ASCII case folding, a class never takes a newline (REG_NEWLINE).
_FLAGS = re.ASCII | re.IGNORECASE | re.MULTILINE
_TELLING = re.compile(r"^(?:o=(?:[^-\n]|-[^ \n])|s=(?:[^-\n]|-[^\r\n])|[iuep]=|a=(?:tool|ssrc))", _FLAGS)
_EDITS = (
    (re.compile(r"^(?:[iuep]=|a=(?:tool|ssrc))[^\r\n]*(?:\r?\n|$)", _FLAGS), ""),
    (re.compile(r"^o=[^ \r\n]*", _FLAGS), "o=-"),
    (re.compile(r"^s=[^\r\n]*", _FLAGS), "s=-"),
)


def scrubbed(body: str) -> str | None:
    """The body telling nothing of its sender, or None when it told nothing already."""
    if not _TELLING.search(body):
        return None
    for pattern, replacement in _EDITS:
        body = pattern.sub(replacement, body)
    return body


def scrub() -> bool:
    """Whether the message's SDP now tells nothing of its sender (read once; real carriers' o= user names
    usually do tell). False: an edit could not be made, and the message must not go on as it is."""
    if "sdpscrub" in benchswitch.OFF:
        return True
    try:
        body = KSR.kx.get_body()
    except (UnicodeDecodeError, ValueError):
        return _scrub_undecodable()
    clean = scrubbed(body if isinstance(body, str) else "")
    if clean is None:
        return True
    if not clean or _TELLING.search(clean):
        return False
    # Its own Content-Type again: set_body keeps the header where it is when it is unchanged (and adds one
    # to a body that had none: has_body_type took it for SDP).
    content_type = KSR.hdr.get("Content-Type") or "application/sdp"
    return KSR.textops.set_body(clean, content_type) > 0 and KSR.textopsx.msg_apply_changes() > 0


def _scrub_undecodable() -> bool:
    if KSR.textops.search_body(TELLING) <= 0:
        return True
    for pattern, replacement in EDITS:
        KSR.textops.replace_body_all(pattern, replacement)  # -1 also when nothing matched: not a failure
    return KSR.textopsx.msg_apply_changes() > 0 and KSR.textops.search_body(TELLING) <= 0
