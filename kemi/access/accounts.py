"""Gateways that authenticate by digest instead of by source address (VAPI's outbound authentication plan,
platforms whose sending addresses are not published): sources in ACL group ACCOUNTS may place calls
once their INVITE carries the credentials of a gateway account (HA1 in the DB, per tenant).

Every failure gets the same fresh challenge, whatever the username, so nothing can be enumerated; nonces
are single-use (auth one_time_nonce), so captured credentials cannot be replayed; failed attempts count
toward the flood ban like strangers' requests.
"""

from __future__ import annotations

import re
import time

import KSR  # provided by app_python3 inside Kamailio (a fake in the unit tests)

from kemi.access.peers import ACCOUNTS, ban  # noqa: F401 - ACCOUNTS: the ACL group this module serves
from kemi.telemetry import metrics
from kemi.topology.hiding import log
from sbclib import tenancy

PEER_TAG_AVP = "$avp(sbc_peer_tag)"  # the calling gateway's tenant: permissions' address tag, or the account's
AUTH_CHECK_HA1 = 1  # pv_auth_check flags: the password given is HA1
REGISTRATIONS = "location"  # usrloc domain (memory only, preloaded: kamailio.cfg)
SAVE_NO_REPLY = 0x02  # registrar save() flag: the answer is sent by reg_send_reply(), even after a failure
CHALLENGE_FLAGS = 1  # auth_challenge: qop=auth (RFC 3261 22.4's SHOULD; VAPI, LiveKit, SIPp answer it); one-time nonces

CHALLENGE_TABLE = "challenges"  # htable: 407/401 sent per source and second

_USERNAME = re.compile(r'^\s*digest\s.*?\busername\s*=\s*"([^"]{1,64})"', re.I | re.S)


def credential_username(header: str | None) -> str | None:
    """The username of a Proxy-Authorization header's digest credentials."""
    m = _USERNAME.match(header or "")
    return m.group(1) if m else None


def registration(svc, req) -> None:
    """A digest account's REGISTER (VAPI's outbound authentication plan can register its trunk), once its
    digest is good (401 first). Kamailio's registrar answers with the bindings and their expiry; it keeps
    them in memory only, since calls to a platform go to its gateway URI, never to where it registered
    from. (A gateway trusted by its address has nothing to register: 405, as for any other method.)"""
    if not authenticated_gateway(svc, req):
        return
    saved = KSR.registrar.save(REGISTRATIONS, SAVE_NO_REPLY) > 0
    KSR.registrar.reg_send_reply()  # exactly one answer: 200 with the bindings, or the registrar's error
    if not saved:
        log(KSR.notice, f"REGISTER from {req.src} refused by the registrar")
    metrics.registration("saved" if saved else "refused")


def authenticated_gateway(svc, req, bannable: bool = True) -> bool:
    """True: the request's credentials are a gateway account's (its tenant is now the peer tag).
    False: answered with a challenge, or silence for a flooding source. A source that is a configured
    gateway (`bannable` False) is never banned for failed credentials, only silenced while it floods:
    spoofed UDP would otherwise lock the real platform out."""
    realm = svc.settings.auth_realm
    name = "Authorization" if req.method == "REGISTER" else "Proxy-Authorization"  # what auth_challenge asked for
    header = KSR.hdr.get(name) if KSR.hdr.is_present(name) > 0 else None
    username = credential_username(header)
    account = svc.current("account", svc.accounts, username) if username else None
    result = "missing" if header is None else "unknown account" if account is None else None
    if result is None:
        code = KSR.auth.pv_auth_check(realm, account.ha1, AUTH_CHECK_HA1, 0)
        result = "ok" if code > 0 else f"rejected {code}"
    metrics.gateway_auth(result)
    if result == "ok":
        KSR.auth.consume_credentials()  # the gateway's credentials stay on its side
        KSR.pv.sets(PEER_TAG_AVP, account.tenant)
        log(KSR.info, f"gateway account {username} from {req.src} authenticated")
        return True
    if header is not None and KSR.pike.pike_check_req() < 0:
        if bannable:
            ban(svc.settings, req.src)
        else:
            metrics.gateway_auth("flood from a gateway")
            log(KSR.warn, f"failed credentials flooding from gateway {req.src}: not challenged")
        return False
    if header is not None:
        log(KSR.notice, f"gateway credentials from {req.src} refused: {result}")
    elif over_challenge_rate(svc.settings, req.src, bannable):
        return False
    KSR.auth.auth_challenge(realm, CHALLENGE_FLAGS)
    return False


def over_challenge_rate(settings, src: str, bannable: bool) -> bool:
    """A source asking for more than CHALLENGE_MAX_PER_SOURCE challenges a second gets silence (a first
    INVITE is how every call starts, so these are not counted toward the flood ban; a source that is no
    configured gateway is banned all the same)."""
    sent = KSR.htable.sht_inc(CHALLENGE_TABLE, f"{src}:{int(time.time())}")
    if not tenancy.over_rate_limit(sent, settings.challenge_max_per_source):
        return False
    metrics.gateway_auth("challenge flood")
    if bannable:
        ban(settings, src)
    elif sent == settings.challenge_max_per_source + 1:  # one line per source and second
        log(KSR.warn, f"challenges to {src} over {settings.challenge_max_per_source}/s: not answered")
    return True
