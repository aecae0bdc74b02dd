"""Gateways in ACL group 4 authenticate by digest: every INVITE is challenged until its credentials are
a gateway account's; the answer never depends on the username; failures count toward the flood ban."""

import pytest

from kemi.access.accounts import ACCOUNTS, PEER_TAG_AVP, credential_username
from sbclib.didcache import DidCache
from sbclib.diddb import Account
from tests.unit.test_routes import make_routes, request

SOURCE = "127.0.3.50"
REALM = "voice-ai-sbc"
CREDENTIALS = ('Digest username="{user}", realm="voice-ai-sbc", nonce="abc", uri="sip:+12125550100@127.0.2.1", '
               'response="0123456789abcdef0123456789abcdef", algorithm=MD5')


def credentials(ksr, header_name, user, **returns):
    """The request carries `user`'s digest credentials in `header_name` (none without a user)."""
    header = CREDENTIALS.format(user=user) if user else None
    ksr.returns.update({
        "hdr.is_present": lambda name: 1 if header and name == header_name else -1,
        "hdr.get": lambda name: header if name == header_name else None,
        **returns,
    })


def account_invite(ksr, user=None, check=1, pike=1, method="INVITE"):
    request(ksr, method=method, side="public", src=SOURCE, ruser="+12125550100", acl=(ACCOUNTS,),
            rhost="127.0.4.1", duri="sip:127.0.4.1:5060")
    credentials(ksr, "Proxy-Authorization", user, **{"auth.pv_auth_check": check, "pike.pike_check_req": pike})


def auth_counted(ksr):
    return [a[2] for a in ksr.called("xhttp_prom.counter_inc_l1") if a[0] == "sbc_gateway_auth_total"]


def test_an_invite_without_credentials_is_challenged_and_goes_nowhere(ksr):
    account_invite(ksr)
    make_routes().ksr_request_route(None)
    assert ksr.called("auth.auth_challenge") == [(REALM, 1)]
    assert ksr.called("auth.pv_auth_check") == [] and ksr.called("tm.t_relay") == []
    assert ksr.called("pike.pike_check_req") == []  # a first INVITE is how every call starts
    assert auth_counted(ksr) == ["missing"]


def test_valid_credentials_of_an_account_bound_to_no_tenant_place_no_call(ksr):
    account_invite(ksr, user="vapi-none")
    make_routes().ksr_request_route(None)
    assert ksr.called("auth.pv_auth_check") == [(REALM, "b" * 32, 1, 0)]  # the HA1, flagged as HA1
    assert ksr.called("auth.consume_credentials") == [()]  # not forwarded to the carrier
    assert ksr.called("auth.auth_challenge") == [] and ksr.called("tm.t_relay") == []
    assert ksr.replies() == [(403, "No Tenant For Caller")]
    assert ksr.called("dispatcher.ds_select_dst") == [] and ksr.called("dialog.dlg_manage") == []
    assert auth_counted(ksr) == ["ok"]


def test_valid_credentials_of_a_tenants_account_place_its_call(ksr):
    account_invite(ksr, user="vapi-acme")
    ksr.returns["kx.get_fuser"] = "+14155550201"  # acme's own DID
    make_routes().ksr_request_route(None)
    assert ksr.called("tm.t_relay") == [()] and ksr.called("dispatcher.ds_select_dst") == [(10, 8)]
    assert ksr.counted("sbc_outbound_admission_total") == [("account",)]


def test_an_accounts_call_is_its_tenants_under_the_tenants_policy(ksr):
    account_invite(ksr, user="vapi-acme")
    make_routes().ksr_request_route(None)
    assert ("pv.sets", (PEER_TAG_AVP, "acme")) in ksr.calls
    # acme presents only its own DIDs as caller ID (policy "reject"): the caller here is not one.
    assert ksr.replies() == [(403, "Caller ID Not Allowed")]


@pytest.mark.parametrize("user,check,result", [
    ("nobody", 1, "unknown account"),  # unknown user: the very same challenge as a wrong password
    ("vapi-acme", -2, "rejected -2"),  # wrong password
    ("vapi-acme", -6, "rejected -6"),  # nonce used before: a replay
    ("vapi-acme", -4, "rejected -4"),  # nonce expired
])
def test_refused_credentials_get_the_same_challenge_and_count_toward_the_flood_ban(ksr, user, check, result):
    account_invite(ksr, user=user, check=check)
    make_routes().ksr_request_route(None)
    assert ksr.called("auth.auth_challenge") == [(REALM, 1)]
    assert ksr.called("pike.pike_check_req") == [()]
    assert ksr.called("auth.consume_credentials") == [] and ksr.called("tm.t_relay") == []
    assert auth_counted(ksr) == [result]


def test_a_source_guessing_passwords_too_fast_is_banned_and_hears_nothing_more(ksr):
    account_invite(ksr, user="vapi-acme", check=-2, pike=-1)
    make_routes().ksr_request_route(None)
    assert ksr.called("htable.sht_seti") == [("ipban", SOURCE, 1)]
    assert ksr.called("auth.auth_challenge") == []
    account_invite(ksr, user="vapi-acme")
    ksr.calls.clear()
    ksr.returns["htable.sht_get"] = lambda table, key: 1 if table == "ipban" else None
    make_routes().ksr_request_route(None)
    assert ksr.called("auth.pv_auth_check") == [] and ksr.called("auth.auth_challenge") == []


def test_other_methods_of_an_account_source_are_not_challenged(ksr):
    account_invite(ksr, method="MESSAGE")
    make_routes().ksr_request_route(None)
    assert ksr.called("auth.auth_challenge") == []
    assert ksr.replies() == [(405, "Method Not Allowed")]


def test_an_account_source_on_the_private_side_is_a_stranger(ksr):
    account_invite(ksr, user="vapi-acme")
    ksr.returns["kx.get_rcvip"] = "127.0.1.1"
    make_routes().ksr_request_route(None)
    assert ksr.called("auth.pv_auth_check") == [] and ksr.replies() == [(403, "Forbidden")]


def test_an_account_source_hears_481_for_a_request_of_no_known_dialog(ksr):
    account_invite(ksr, method="BYE")
    ksr.returns.update({"siputils.has_totag": 1, "dialog.is_known_dlg": -1})
    make_routes().ksr_request_route(None)
    assert ksr.called("auth.auth_challenge") == []
    assert ksr.replies() == [(481, "Call/Transaction Does Not Exist")]


@pytest.mark.parametrize("header,user", [
    (CREDENTIALS.format(user="vapi-acme"), "vapi-acme"),
    ('digest  realm="r",  username = "u-1" , nonce="n"', "u-1"),
    ('Digest realm="r", nonce="n"', None), ('Basic dXNlcjpwdw==', None), ('Digest username=u', None),
    ('Digest username=""', None), (None, None),
])
def test_the_username_is_read_from_digest_credentials_only(header, user):
    assert credential_username(header) == user


def test_an_account_set_after_a_failed_attempt_is_read_again_at_once(ksr):
    routes = make_routes()
    reads = []
    accounts = {}
    routes.svc.accounts = DidCache(lambda name: reads.append(name) or accounts.get(name), ttl=60, negative_ttl=30,
                               maxsize=10)
    account_invite(ksr, user="vapi-new")
    routes.ksr_request_route(None)  # unknown: challenged, and the miss is cached
    accounts["vapi-new"] = Account("vapi-new", "c" * 32)  # sbcctl account set, which bumps the generation
    account_invite(ksr, user="vapi-new")
    ksr.returns["htable.sht_get"] = lambda table, key: "8" if key == "generation" else None
    routes.ksr_request_route(None)
    assert reads == ["vapi-new", "vapi-new"]
    assert ksr.called("auth.pv_auth_check")[-1] == (REALM, "c" * 32, 1, 0)


# ---- REGISTER (VAPI's outbound authentication plan can register its trunk) ---------------------------

def account_register(ksr, user=None, check=1, saved=1, acl=(ACCOUNTS,)):
    request(ksr, method="REGISTER", side="public", src=SOURCE, ruser="vapi-none", acl=acl)
    credentials(ksr, "Authorization", user, **{"auth.pv_auth_check": check, "registrar.save": saved})


def registrations(ksr):
    return [labels[0] for labels in ksr.counted("sbc_registrations_total")]


def test_an_accounts_register_without_credentials_is_challenged_and_not_saved(ksr):
    account_register(ksr)
    make_routes().ksr_request_route(None)
    assert ksr.called("auth.auth_challenge") == [(REALM, 1)]  # 401 for a REGISTER (auth picks it)
    assert ksr.called("registrar.save") == [] and ksr.replies() == []
    assert registrations(ksr) == []


def test_an_accounts_register_with_its_digest_in_authorization_is_saved_by_the_registrar(ksr):
    account_register(ksr, user="vapi-none")
    make_routes().ksr_request_route(None)
    assert ksr.called("auth.pv_auth_check") == [(REALM, "b" * 32, 1, 0)]
    assert ksr.called("registrar.save") == [("location", 2)]
    assert ksr.called("registrar.reg_send_reply") == [()]  # the registrar's answer, exactly one
    assert ksr.replies() == [] and ksr.called("tm.t_relay") == []
    assert registrations(ksr) == ["saved"] and auth_counted(ksr) == ["ok"]


def test_a_register_with_a_wrong_password_is_challenged_again(ksr):
    account_register(ksr, user="vapi-none", check=-2)
    make_routes().ksr_request_route(None)
    assert ksr.called("registrar.save") == [] and ksr.called("auth.auth_challenge") == [(REALM, 1)]


def test_a_registrar_refusal_is_answered_once_and_counted(ksr):
    account_register(ksr, user="vapi-none", saved=-1)
    make_routes().ksr_request_route(None)
    assert ksr.called("registrar.save") == [("location", 2)]
    assert ksr.called("registrar.reg_send_reply") == [()]  # its error answer, sent even so
    assert registrations(ksr) == ["refused"]


def test_a_gateway_trusted_by_address_has_nothing_to_register(ksr):
    account_register(ksr, acl=(2,))
    make_routes().ksr_request_route(None)
    assert ksr.called("registrar.save") == [] and ksr.replies() == [(405, "Method Not Allowed")]


def test_a_strangers_register_gets_silence(ksr):
    account_register(ksr, acl=())
    make_routes().ksr_request_route(None)
    assert ksr.called("registrar.save") == [] and ksr.replies() == [] and ksr.called("auth.auth_challenge") == []


@pytest.mark.parametrize("acl,banned", [((2,), False), ((ACCOUNTS,), True)])
def test_challenges_past_the_per_source_rate_get_silence_and_a_gateway_is_not_banned(ksr, acl, banned):
    """CHALLENGE_MAX_PER_SOURCE (20) challenges a second per address; the 21st request without credentials in
    the same second is answered with nothing and counted. A shared platform address (ACL group 2) is never
    banned for it (spoofed UDP would lock the platform out); a group 4 source is, as for failed credentials."""
    routes = make_routes()
    for sent in (20, 21):
        request(ksr, side="public", src=SOURCE, ruser="+12125550100", acl=acl)
        ksr.returns["htable.sht_inc"] = sent
        routes.ksr_request_route(None)
    assert ksr.called("auth.auth_challenge") == [(REALM, 1)]
    assert [k[0] for k in ksr.called("htable.sht_inc")] == ["challenges", "challenges"]
    assert ksr.called("htable.sht_inc")[-1][1].startswith(f"{SOURCE}:")
    assert ksr.called("htable.sht_seti") == ([("ipban", SOURCE, 1)] if banned else [])
    assert ksr.called("pike.pike_check_req") == []
    assert auth_counted(ksr) == ["missing", "missing", "challenge flood"]
