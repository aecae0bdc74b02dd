"""What an SDP says of its sender besides its media, taken out before rtpengine reads it. The origin's user
name and the session name often name the software (o=FreeSWITCH, s=Asterisk PBX 18), a=tool names it
outright, an a=ssrc cname is a user@host of the far side (baresip: cname:sip:agent@its.domain), and
i=/u=/e=/p= describe the sender (RFC 8866). rtpengine rewrites addresses only: it keeps each party's first
o= user and s= to keep them stable, not to hide them, and rtpengine 10 cannot remove attributes.

textops' edits are lumps, which rtpengine does not see (it reads the body as received): they are applied to
the message first (textopsx), which Kamailio allows in a request route before record_route, and for replies.
"""

from __future__ import annotations

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


def scrub() -> bool:
    """Whether the message's SDP now tells nothing of its sender (one search when it told nothing already;
    real carriers' o= user names usually do tell). False: an edit could not be made, and the message must
    not go on as it is."""
    if "sdpscrub" in benchswitch.OFF or KSR.textops.search_body(TELLING) <= 0:
        return True
    for pattern, replacement in EDITS:
        KSR.textops.replace_body_all(pattern, replacement)  # -1 also when nothing matched: not a failure
    return KSR.textopsx.msg_apply_changes() > 0 and KSR.textops.search_body(TELLING) <= 0
