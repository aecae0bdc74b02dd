"""SRTP keyed in the SDP (SDES, RFC 4568) for the suite's RTP endpoints, with libsrtp (pylibsrtp, PyPI):
a gateway that answers an offer's a=crypto with its own key, or offers one."""

from __future__ import annotations

import base64
import os
import re

import pylibsrtp

SUITE = "AES_CM_128_HMAC_SHA1_80"
_CRYPTO = re.compile(r"^a=crypto:(\d+) (\S+) inline:([A-Za-z0-9+/=]+)", re.M)


def crypto_lines(sdp: str) -> list[tuple[int, str, bytes]]:
    """(tag, suite, key and salt) of each a=crypto line."""
    return [(int(t), suite, base64.b64decode(key)) for t, suite, key in _CRYPTO.findall(sdp)]


def savp_sdp(ip: str, port: int, tag: int, key: bytes) -> str:
    """An audio SDP on RTP/SAVP keyed with `key` (PCMU, PCMA, RFC 4733)."""
    return (f"v=0\r\no=- 1 1 IN IP4 {ip}\r\ns=-\r\nc=IN IP4 {ip}\r\nt=0 0\r\n"
            f"m=audio {port} RTP/SAVP 0 8 101\r\na=rtpmap:101 telephone-event/8000\r\n"
            f"a=crypto:{tag} {SUITE} inline:{base64.b64encode(key).decode()}\r\na=sendrecv\r\n")


def new_key() -> bytes:
    return os.urandom(30)  # 128-bit master key + 112-bit salt


class Srtp:
    """One end's two SRTP contexts: ours (what we send) and theirs (what we receive)."""

    def __init__(self, ours: bytes, theirs: bytes):
        profile = pylibsrtp.Policy.SRTP_PROFILE_AES128_CM_SHA1_80
        self._out = pylibsrtp.Session(policy=pylibsrtp.Policy(
            key=ours, ssrc_type=pylibsrtp.Policy.SSRC_ANY_OUTBOUND, srtp_profile=profile))
        self._in = pylibsrtp.Session(policy=pylibsrtp.Policy(
            key=theirs, ssrc_type=pylibsrtp.Policy.SSRC_ANY_INBOUND, srtp_profile=profile))

    def protect(self, packet: bytes) -> bytes:
        return self._out.protect(packet)

    def unprotect(self, packet: bytes) -> bytes | None:
        """The RTP packet, or None when it was not SRTP of the far end's key (authentication failed)."""
        try:
            return self._in.unprotect(packet)
        except pylibsrtp.Error:
            return None
