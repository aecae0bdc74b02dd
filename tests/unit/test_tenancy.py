import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sbclib import tenancy
from sbclib.destinations import Policy
from sbclib.didcache import DidRoute
from sbclib.policy import Target
from sbclib.tenancy import Tenant

ACME = Tenant("acme", True, 21, allow_backup=True, max_calls=3, max_cps=10, default_did="+14155550201")
BETA = Tenant("beta", True, 22, callerid_policy="replace", default_did="+14155550301")


def test_tenant_dids_go_to_the_tenants_set_or_their_uri():
    assert tenancy.inbound_target(DidRoute("+1", 2, None, "acme"), ACME) == Target(group=21)  # never group 2
    assert tenancy.inbound_target(DidRoute("+1", None, "sip:127.0.3.9", "acme"), ACME) == Target(uri="sip:127.0.3.9")


@pytest.mark.parametrize("tenant,target,backup,chain", [
    (ACME, Target(group=21), 3, [3]), (ACME, Target(uri="sip:x"), 3, [21, 3]), (BETA, Target(group=22), 3, []),
    (BETA, Target(uri="sip:x"), 3, [22]), (ACME, Target(group=21), None, []),
])
def test_failover_stays_in_the_tenant_then_backup_only_if_allowed(tenant, target, backup, chain):
    assert tenancy.inbound_failover(target, tenant, backup) == chain


@pytest.mark.parametrize("tenant,caller,owner,shown", [
    (ACME, "+14155550201", "acme", "+14155550201"), (ACME, "+14155550301", "beta", None),
    (ACME, "+19995550100", None, None), (ACME, None, None, None),
    (BETA, "+14155550201", "acme", "+14155550301"), (BETA, None, None, "+14155550301"),
])
def test_caller_id_policy(tenant, caller, owner, shown):
    assert tenancy.presented_caller(caller, owner, tenant) == shown


LIMITS = tenancy.Limits(max_calls=10, max_cps=2, max_duration=14400)


def test_a_tenants_zero_limit_is_the_default_never_unlimited():
    unset = Tenant("x", True, 1)
    assert (tenancy.max_calls(unset, LIMITS), tenancy.max_cps(unset, LIMITS), tenancy.max_duration(unset, LIMITS)) \
        == (10, 2, 14400)
    assert tenancy.over_call_limit(10, tenancy.max_calls(unset, LIMITS))
    assert tenancy.over_rate_limit(3, tenancy.max_cps(unset, LIMITS))
    assert not tenancy.over_rate_limit(2, tenancy.max_cps(unset, LIMITS))
    assert tenancy.max_duration(Tenant("y", True, 1, max_duration=60), LIMITS) == 60


def test_a_tenants_own_limits_hold():
    assert tenancy.over_call_limit(3, tenancy.max_calls(ACME, LIMITS))
    assert not tenancy.over_call_limit(2, tenancy.max_calls(ACME, LIMITS))
    assert tenancy.over_rate_limit(11, tenancy.max_cps(ACME, LIMITS))
    assert not tenancy.over_rate_limit(10, tenancy.max_cps(ACME, LIMITS))


def test_context_headers_carry_only_safe_header_text():
    headers = tenancy.context_headers("41555\r\nRoute: <sip:x>", "+14155550201", "acme")
    assert headers[0] == "X-Original-Dialed: 41555Route:<sip:x>"
    assert not any("Call-ID" in h for h in headers)  # the carrier's Call-ID never crosses (issue 12)
    assert all("\r" not in h and "\n" not in h for h in headers)


RELAYING = Tenant("acme", True, 21, transfer="relay", destination_policy=Policy(countries=("GB",)))


@pytest.mark.parametrize("refer_to,carrier,expected", [
    ("<sip:+14155550199@gw.example.test>", "127.0.4.2", ("sip:+14155550199@127.0.4.2", "relayed")),
    ('"Agent" <sip:4155550199@127.0.3.9;user=phone>;x=1', "sip:127.0.4.1:5060",
     ("sip:+14155550199@127.0.4.1:5060", "relayed")),
    ("<tel:+442071838750>", "127.0.4.2", ("sip:+442071838750@127.0.4.2", "relayed")),
    ("sip:+14155550199@gw", "127.0.4.2", ("sip:+14155550199@127.0.4.2", "relayed")),
    ("<sip:+14155550199@gw?Replaces=abc%3Bto-tag%3D1>", "127.0.4.2", (None, "attended")),
    ("<sip:support@gw.example.test>", "127.0.4.2", (None, "bad target")),
    ("<http://evil/>", "127.0.4.2", (None, "bad target")),
    ("", "127.0.4.2", (None, "bad target")),
    (None, "127.0.4.2", (None, "bad target")),
    ("<sip:+14155550199@gw>", "", (None, "bad target")),
])
def test_a_gateways_transfer_goes_to_the_number_at_the_carrier(refer_to, carrier, expected):
    assert tenancy.transfer_target(RELAYING, "public", refer_to, carrier, "US") == expected


@pytest.mark.parametrize("refer_to,why", [
    ("<sip:+19005550100@gw>", "premium_rate"), ("<tel:+881612345678>", "international_network"),
    ("<sip:+33612345678@gw>", "country"), ("<sip:+447011111111@gw>", "personal_number"),
])
def test_a_transfer_goes_only_where_the_tenant_may_call(refer_to, why):
    """A prompt-injected agent ("transfer me to ...") places a call the tenant pays for: same policy."""
    assert tenancy.transfer_target(RELAYING, "public", refer_to, "127.0.4.2", "US") == (None, why)


@pytest.mark.parametrize("tenant,side,why", [(ACME, "public", "not allowed"), (None, "public", "not allowed"),
                                             (RELAYING, "private", "from carrier")])
def test_transfers_are_refused_unless_the_tenant_relays_and_the_gateway_asks(tenant, side, why):
    assert tenancy.transfer_target(tenant, side, "<sip:+14155550199@gw>", "127.0.4.2", "US") == (None, why)


@settings(max_examples=500, deadline=None)
@given(st.text(max_size=120))
def test_no_refer_to_makes_the_target_name_anything_but_a_number_at_the_carrier(refer_to):
    target, result = tenancy.transfer_target(RELAYING, "public", refer_to, "127.0.4.2", "US")
    assert (target is None) == (result != "relayed")
    if target is not None:
        assert re.fullmatch(r"sip:\+[1-9][0-9]{6,14}@127\.0\.4\.2", target), target
