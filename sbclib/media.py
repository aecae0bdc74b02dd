"""RTPEngine flags. Interface names match rtpengine's --interface=private/IP --interface=public/IP.

Each party's SDP labels its leg with the side it came from ("private" = carrier, "public" = gateway), so
rtpengine's statistics (kemi.telemetry.quality) say which leg a figure belongs to."""

from __future__ import annotations

from sbclib import dsattrs

# Rewrite every address in the SDP (c= and o=) and drop ICE candidates that would name the far side.
_HIDE = "replace-origin replace-session-connection ICE=remove"
# Once rtpengine has learnt where a leg's RTP comes from, packets from anywhere else are dropped: without it
# anyone who finds a media port (they are sequential) can speak into a call, toward the carrier or the AI.
_STRICT = "strict-source"
# rtpengine's audio player (rtpengine >= 11): each leg gets a stream rtpengine paces itself, from what the
# other leg sent, silence where it sent nothing. A carrier's silence suppression then no longer starves a
# gateway that hangs up after some seconds without RTP (LiveKit: 15 s). Costs a decode and an encode per
# packet. It holds for the call's later offers (re-INVITEs) without being asked again; rtpengine 10
# ignores the key (with a warning in its log). rtpengine 12.5 streams toward the offerer for the offer's
# flag and toward the answerer for the answer's (and relays RFC 4733 events only with both): both carry it.
_KEEPALIVE = "audio-player=force"


# What a gateway's media is (dispatcher attrs media=...): RTP in clear, SRTP keyed in the SDP (SDES, RFC 4568),
# or SRTP keyed by a DTLS handshake on the media path (RFC 5763). The carrier leg is always RTP/AVP.
RTP_AVP = "RTP/AVP"
GATEWAY_PROTOCOL_VAR = "gateway_media"  # dialog variable: the gateway leg's protocol, for in-dialog offers
PROTOCOLS = {"rtp": RTP_AVP, "srtp": "RTP/SAVP", "dtls": "UDP/TLS/RTP/SAVP"}
SECURE_OFFERS = ("UDP/TLS/RTP/SAVPF", "UDP/TLS/RTP/SAVP", "RTP/SAVPF", "RTP/SAVP")
# SDES offers the two suites of RFC 4568 every SRTP gateway takes; rtpengine would also offer ten others,
# two of them NULL (authentication only: media in clear), and twelve a=crypto lines push an INVITE past
# udp_mtu onto TCP.
_SDES_ONLY_AES_CM_128 = " ".join(f"SDES-no-{suite}" for suite in (
    "AEAD_AES_256_GCM", "AEAD_AES_128_GCM", "AES_256_CM_HMAC_SHA1_80", "AES_256_CM_HMAC_SHA1_32",
    "AES_192_CM_HMAC_SHA1_80", "AES_192_CM_HMAC_SHA1_32", "F8_128_HMAC_SHA1_80", "F8_128_HMAC_SHA1_32",
    "NULL_HMAC_SHA1_80", "NULL_HMAC_SHA1_32"))


def gateway_protocol(attrs: object) -> str:
    """The protocol a gateway's SDP must carry, from its dispatcher attributes ("weight=50;media=srtp")."""
    fields = dsattrs.parse(attrs)
    return PROTOCOLS.get(fields.get("media", "rtp").strip().lower(), RTP_AVP)


def offered_protocol(search_body) -> str:
    """The secure protocol a gateway calling in offered for its audio (kept for the call's re-INVITEs), else
    RTP/AVP. `search_body(regex)` is textops' (> 0: found): it reads the body's bytes, which need not be
    UTF-8 (a body Python cannot decode crashed the branch route: the fuzzer)."""
    if search_body("^m=audio [0-9]+ (UDP/TLS/)?RTP/SAVPF? ") <= 0:  # most calls: one search, not four
        return RTP_AVP
    return next((p for p in SECURE_OFFERS if search_body(f"^m=audio [0-9]+ {p} ") > 0), RTP_AVP)


def offer_flags(from_side: str, to_side: str, keepalive: bool = False, protocol: str = RTP_AVP,
                codecs: str = "") -> str:
    """Flags for an SDP offer travelling from one side to the other ("private"/"public"): `protocol` is what
    the receiving side's leg speaks (rtpengine keys SRTP with SDES or DTLS itself, and strips it toward RTP);
    `codecs`, the receiving peer's codec policy (sbclib.codecs.offer_flags)."""
    flags = (f"direction={from_side} direction={to_side} {_HIDE} {_STRICT} label={from_side} "
             f"transport-protocol={protocol}")
    if codecs:
        flags += f" {codecs}"
    if protocol == PROTOCOLS["srtp"]:  # keys in the SDP only: no DTLS fingerprint beside them
        flags += f" DTLS=off {_SDES_ONLY_AES_CM_128}"
    elif protocol == PROTOCOLS["dtls"]:  # keys by the DTLS handshake only: no a=crypto (RFC 5763)
        flags += " SDES-off"
    return f"{flags} {_KEEPALIVE}" if keepalive else flags


def answer_flags(from_side: str, keepalive: bool = False, gateway_protocol: str = RTP_AVP) -> str:
    """Flags for an SDP answer that arrived from `from_side`. Toward a gateway that offered DTLS-SRTP the
    answer takes the passive role (a=setup:passive): the gateway starts the handshake at once, where
    rtpengine, active, began it 1 s after the answer (measured with baresip): the call's first second silent."""
    flags = f"{_HIDE} {_STRICT} label={from_side}"
    if from_side == "private" and gateway_protocol.startswith("UDP/TLS/"):
        flags += " DTLS=passive"
    return f"{flags} {_KEEPALIVE}" if keepalive else flags
