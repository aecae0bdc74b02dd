"""Every route decision against the fake KSR: the calls made, the replies sent, the destinations."""

import importlib
import json

import pytest

from kemi import context, indialog
from kemi.access.accounts import PEER_TAG_AVP
from kemi.access.challenges import (
    ANSWERED_AVP,
    DESTINATION_AVP,
    PASSWORD_AVP,
    REALM_AVP,
    USERNAME_AVP,
    Credential,
    peer_host,
)
from kemi.gateways import capacity, hostnames
from kemi.gateways.attempts import GIVE_UP_REASON, GROUP_AVP, GROUPS_AVP, KEEPALIVE_AVP, MAX_UNSENT, NUMBER_AVP
from kemi.sbc import Sbc
from kemi.services import Services
from kemi.telemetry import timing
from kemi.topology.hiding import CALLEE_TO
from sbclib import benchswitch, media, settings
from sbclib.didcache import DidCache, DidRoute, DidSourceError
from sbclib.diddb import Account
from sbclib.tenancy import Tenant
from tests.unit.fake_ksr import WELL_FORMED

S = settings.load({})


class ANY_SECOND:  # reads as a value in the expected calls
    """An htable key "<name>:<unix second>", whatever the second."""

    def __init__(self, name: str):
        self.name = name

    def __eq__(self, other) -> bool:
        return isinstance(other, str) and other.rpartition(":")[0] == self.name and other.rpartition(":")[2].isdigit()

    def __repr__(self) -> str:
        return f"<{self.name}:second>"
PRIVATE, PUBLIC = S.private_ip, S.public_ip
CARRIER_IP, GATEWAY_IP = "127.0.4.1", "127.0.3.1"

DIDS = {
    "+14155550101": DidRoute("+14155550101", 1, None),
    "+14155550103": DidRoute("+14155550103", None, "sip:agent@127.0.3.5:5080;transport=tcp"),
    "+14155550104": DidRoute("+14155550104", 2, "sip:127.0.3.6"),
    "+14155550105": DidRoute("+14155550105", 3, None),
    "+14155550201": DidRoute("+14155550201", None, None, "acme"),
    "+14155550202": DidRoute("+14155550202", None, "sip:127.0.3.29", "acme"),
    "+14155550301": DidRoute("+14155550301", None, None, "beta"),
    "+14155550501": DidRoute("+14155550501", None, None, "off"),
    "+14155550601": DidRoute("+14155550601", None, None, "ghost"),
}
TENANTS = {
    "acme": Tenant("acme", True, 21, allow_backup=True, max_calls=2, max_cps=5, callerid_policy="reject",
                   default_did="+14155550201"),
    "beta": Tenant("beta", True, 22, callerid_policy="replace", default_did="+14155550301", media_keepalive=True,
                   transfer="relay"),
    "off": Tenant("off", False, 23),
}

CREDENTIALS = {
    "127.0.3.3": Credential("127.0.3.3", "sbc-user", password="s3cret"),
    "lk.example.test": Credential("lk.example.test", "sbc-lk", realm="lk", ha1="0" * 32),
}

ACCOUNTS = {"vapi-acme": Account("vapi-acme", "a" * 32, "acme"), "vapi-none": Account("vapi-none", "b" * 32)}


def make_routes(dids=DIDS, **overrides):
    s = settings.load({k.upper(): str(v) for k, v in overrides.items()})

    def loader(did):
        if dids is None:
            raise DidSourceError("down")
        return dids.get(did)

    return Sbc(Services(s, DidCache(loader, ttl=60, negative_ttl=10, maxsize=100),
                     DidCache(TENANTS.get, ttl=60, negative_ttl=10, maxsize=100),
                     DidCache(CREDENTIALS.get, ttl=60, negative_ttl=10, maxsize=100),
                     DidCache(ACCOUNTS.get, ttl=60, negative_ttl=10, maxsize=100)))


def request(ksr, method="INVITE", side="private", src=CARRIER_IP, ruser="4155550101", totag=False,
            sdp=True, ua="Carrier SBC", rhost=None, ruri_myself=True, acl=(1,), ds_gateway=False,
            duri="sip:127.0.3.1:5060"):
    """Set up the fake message: what the kx getters and checks answer."""
    rcv_ip = {"private": PRIVATE, "public": PUBLIC}.get(side, "127.0.9.9")
    ksr.returns.update({
        "kx.get_method": method, "kx.get_rcvip": rcv_ip, "kx.get_rcvport": "5060",
        "kx.get_srcip": src, "kx.get_ruser": ruser, "kx.get_ua": ua, "kx.get_callid": "call-1",
        "kx.get_ruri": f"sip:{ruser}@x", "kx.get_rhost": rhost or rcv_ip, "kx.get_fuser": "+12125550199",
        "siputils.has_totag": 1 if totag else -1,
        "textops.has_body_type": 1 if sdp else -1,
        "is_myself_ruri": ruri_myself,
        "tmx.t_precheck_trans": -1, "tmx.t_is_failure_route": -1, "tm.t_check_trans": -1,
        "htable.sht_get": None, "pike.pike_check_req": 1, "dialog.is_known_dlg": 1, "hdr.is_present": -1,
        "ndb_redis.redis_cmd": 0, "kx.get_duri": duri, "pv.geti": 0, "htable.sht_inc": 1,
        "uac.uac_reg_status": -1, "kx.get_tuser": "4155550101",
        "permissions.allow_source_address": lambda grp: 1 if grp in acl else -1,
        # A member without ;transport= matches only when port and protocol are ignored (mode 3).
        "dispatcher.ds_is_from_list_mode": lambda grp, mode: 1 if ds_gateway and mode == 3 else -1,
    })
    for m in ("INVITE", "ACK", "BYE", "CANCEL", "OPTIONS", "UPDATE", "REGISTER"):
        ksr.returns[f"is_{m}"] = method == m
    if totag:  # what loose_route leaves for a request of a confirmed dialog: the other side's socket, its peer
        other_ip, peer = (PUBLIC, GATEWAY_IP) if side == "private" else (PRIVATE, CARRIER_IP)
        ksr.pvs.update({"$fs": f"udp:{other_ip}:5060", "$nh(d)": peer})
        ksr.returns["pv.geti"] = lambda name: {"$dlg(state)": 5 if method == "BYE" else 4}.get(name, 0)


# ---- reqinit ----------------------------------------------------------------------------------

@pytest.mark.parametrize("side,src,acl", [("private", "127.0.0.1", (3,)), ("public", "127.0.0.1", (3,)),
                                          ("private", CARRIER_IP, (1,)), ("public", GATEWAY_IP, (2,))])
def test_options_to_the_sbc_from_a_known_source_is_answered_200_on_either_interface(ksr, side, src, acl):
    request(ksr, method="OPTIONS", side=side, src=src, acl=acl)
    make_routes().ksr_request_route(None)
    assert ksr.replies() == [(200, "OK")]
    assert ksr.called("tm.t_relay") == []


@pytest.mark.parametrize("side,reply", [("private", [(403, "Forbidden")]), ("public", [])])
def test_options_from_a_stranger_gets_the_strangers_answer(ksr, side, reply):
    request(ksr, method="OPTIONS", side=side, src="127.0.9.9", acl=())
    make_routes().ksr_request_route(None)
    assert ksr.replies() == reply


def test_flooding_stranger_is_banned_silently(ksr):
    request(ksr, src="127.0.9.9", acl=())
    ksr.returns["pike.pike_check_req"] = -1
    make_routes(ban_seconds=60).ksr_request_route(None)
    assert ksr.actions() == [("htable.sht_seti", ("ipban", "127.0.9.9", 1))]


def test_banned_source_gets_nothing(ksr):
    request(ksr, src="127.0.9.9", acl=())
    ksr.returns["htable.sht_get"] = 1
    make_routes().ksr_request_route(None)
    assert ksr.actions() == [] and ksr.called("pike.pike_check_req") == []


def test_known_peers_are_never_rate_banned(ksr):
    request(ksr)
    ksr.returns["pike.pike_check_req"] = -1
    make_routes().ksr_request_route(None)
    assert ksr.called("pike.pike_check_req") == [] and ksr.called("tm.t_relay") == [()]


@pytest.mark.parametrize("ua", ["friendly-scanner", "sipvicious 0.3", "VaxSIPUserAgent/3.1", "sipcli/v1.8", "pplsip"])
def test_scanner_user_agents_are_dropped_silently(ksr, ua):
    request(ksr, ua=ua)
    make_routes().ksr_request_route(None)
    assert ksr.replies() == []
    assert ksr.actions() == []
    assert "dropped scanner" in ksr.logged()


def test_too_many_hops_gets_483(ksr):
    request(ksr)
    ksr.returns["maxfwd.process_maxfwd"] = -1
    make_routes().ksr_request_route(None)
    assert ksr.replies() == [(483, "Too Many Hops")]


def test_malformed_request_stops_after_sanity(ksr):
    request(ksr)
    ksr.returns["sanity.sanity_check"] = -1
    make_routes().ksr_request_route(None)
    assert ksr.replies() == [(400, "Bad Request")]  # sanity answers nothing itself (noreply)
    assert ksr.actions() == [("sl.send_reply", (400, "Bad Request"))]


def test_retransmission_is_left_to_tm(ksr):
    request(ksr)
    ksr.returns["tmx.t_precheck_trans"] = 1
    make_routes().ksr_request_route(None)
    assert ksr.actions() == [("tm.t_check_trans", ())]


# ---- ACL --------------------------------------------------------------------------------------

def test_unknown_source_on_the_private_side_gets_403_and_is_relayed_nowhere(ksr):
    request(ksr, src="127.0.9.9", acl=())
    make_routes().ksr_request_route(None)
    assert ksr.actions() == [("sl.send_reply", (403, "Forbidden"))]


def test_unknown_source_on_the_public_side_gets_silence(ksr):
    request(ksr, side="public", src="127.0.9.9", acl=())
    make_routes().ksr_request_route(None)
    assert ksr.actions() == []
    make_routes(unknown_public_action="reject").ksr_request_route(None)
    assert ksr.replies() == [(403, "Forbidden")]


def test_a_monitor_may_not_place_calls(ksr):
    request(ksr, src="127.0.0.1", acl=(3,))
    make_routes().ksr_request_route(None)
    assert ksr.replies() == [(403, "Forbidden")] and ksr.called("tm.t_relay") == []


@pytest.mark.parametrize("side", ["private", "public"])
def test_the_hosts_own_health_check_is_answered_without_an_acl_row(ksr, side):
    """An empty database (no ACL at all) must still let the container healthcheck see 200."""
    request(ksr, side=side, method="OPTIONS", src="127.0.0.1", acl=())
    make_routes().ksr_request_route(None)
    assert ksr.replies() == [(200, "OK")]


@pytest.mark.parametrize("src", ["127.0.0.2", "127.0.9.9"])
def test_other_loopback_sources_without_an_acl_row_stay_strangers(ksr, src):
    request(ksr, method="OPTIONS", src=src, acl=())
    make_routes().ksr_request_route(None)
    assert ksr.replies() == [(403, "Forbidden")]


def test_carrier_address_on_the_public_socket_is_refused(ksr):
    request(ksr, side="public", src=CARRIER_IP, acl=(1,))
    make_routes(unknown_public_action="reject").ksr_request_route(None)
    assert ksr.replies() == [(403, "Forbidden")]


def test_gateway_address_on_the_private_socket_is_refused(ksr):
    request(ksr, side="private", src=GATEWAY_IP, acl=(2,))
    make_routes().ksr_request_route(None)
    assert ksr.replies() == [(403, "Forbidden")]


def test_carrier_non_invite_gets_405(ksr):
    request(ksr, method="REGISTER")
    make_routes().ksr_request_route(None)
    assert ksr.replies() == [(405, "Method Not Allowed")]


# ---- inbound: from_telecom -> to_public_gateway ------------------------------------------------

class AttemptStart:
    """The attempt's start (kemi.telemetry.timing): a clock reading, so matched by shape and direction; the exact
    value is asserted in test_timing.py."""

    def __init__(self, direction):
        self.direction = direction

    def __eq__(self, call):
        name, args = call
        attempt = timing.decode(args[1]) if name == "pv.sets" and args[0] == timing.ATTEMPT_AVP else None
        return attempt is not None and attempt.direction == self.direction

    def __repr__(self):
        return f"<attempt start, {self.direction}>"


def attempt_calls(side, no_answer, no_reply, branch, failure, destination="sip:127.0.3.1:5060", row=True):
    """An attempt's calls; `row`: to a dispatcher row, which the call is counted against (gateway_calls)."""
    socket = f"udp:{PUBLIC if side == 'public' else PRIVATE}:5060"
    counted = [("dialog.set_dlg_profile", (capacity.PROFILE, destination)),
               ("pv.sets", (capacity.COUNTED_AVP, destination))] if row else []
    return [
        ("pv.sets", (DESTINATION_AVP, destination)),
        *counted,
        AttemptStart("inbound" if side == "public" else "outbound"),
        ("pv.unset", (timing.RINGING_AVP,)),
        ("pv.sets", ("$fs", socket)),
        ("tm.t_set_fr", (no_answer, no_reply)),
        ("tm.t_on_branch", (branch,)),
        ("tm.t_on_reply", ("reply_media",)),
        ("tm.t_on_failure", (failure,)),
        ("tm.t_relay", ()),
    ]


GATEWAY_ATTEMPT = attempt_calls("public", 30000, 2000, "branch_to_gateway", "failure_from_gateway")
CARRIER_ATTEMPT = attempt_calls("private", 120000, 3000, "branch_to_telecom", "failure_from_telecom",
                                "sip:127.0.4.1:5060")
FAILOVER_DESTINATION = "sip:127.0.3.3:5060"  # failure(): the peer selected next
GATEWAY_FAILOVER = attempt_calls("public", 30000, 2000, "branch_to_gateway", "failure_from_gateway",
                                 FAILOVER_DESTINATION)


def test_inbound_did_of_a_group_goes_to_that_group_from_the_public_socket(ksr):
    request(ksr, ruser="4155550101", rhost="127.0.3.1")
    make_routes().ksr_request_route(None)
    assert ksr.actions() == [
        ("dialog.dlg_manage", ()),
        ("pv.sets", (NUMBER_AVP, "+14155550101")),
        ("dispatcher.ds_select_dst", (1, 9)),
        ("pv.sets", (GROUPS_AVP, "3")),  # the backup group, for the failure route
        ("pv.sets", (GROUP_AVP, "1")),  # the group tried now, for metrics and the call record
        ("seturi", ("sip:+14155550101@127.0.3.1:5060",)),
        ("dialog.set_dlg_profile", ("direction_calls", "inbound")),
        ("uac.uac_replace_from_uri", (f"sip:+12125550199@{PUBLIC}",)),  # the To: per attempt, in its branch
        ("rr.record_route", ()),
        *GATEWAY_ATTEMPT,
    ]


def test_a_gateway_named_by_host_name_finds_its_name_in_the_to_as_in_the_request_uri(ksr):
    """VAPI picks the trunk's credential by the host it is called at; an address stays ours. Per attempt:
    a failover to another named gateway gives that one its own name."""
    vapi = "66e592d6-d690-45bb-8996-18215af542d0.sip.vapi.ai"
    request(ksr, ruser="4155550101", duri=f"sip:{vapi}")
    make_routes().ksr_request_route(None)
    assert ("seturi", (f"sip:+14155550101@{vapi}",)) in ksr.actions()
    assert not ksr.called("uac.uac_replace_to_uri")  # not in the request route: in each attempt's branch
    for duri, host in ((f"sip:{vapi}", vapi), ("sip:3i5bvr312d9.sip.livekit.cloud;transport=tcp",
                                               "3i5bvr312d9.sip.livekit.cloud"), ("sip:127.0.3.2:5060", PUBLIC)):
        ksr.calls.clear()
        ksr.returns["kx.get_duri"] = duri
        ksr.pvs[NUMBER_AVP] = "+14155550101"
        make_routes().branch_to_gateway(None)
        assert ksr.actions()[0] == ("uac.uac_replace_to_uri", (f"sip:+14155550101@{host}",))
        assert ksr.dlg_vars[CALLEE_TO] == f"sip:+14155550101@{host}"  # the dialog's own requests: the last


def test_an_attempt_whose_to_cannot_be_replaced_does_not_leave(ksr):
    """The caller's To names our private side: without the replacement the branch is dropped, no offer."""
    request(ksr)
    ksr.returns["uac.uac_replace_to_uri"] = -1
    make_routes().branch_to_gateway(None)
    assert ksr.called("set_drop") == [()] and not ksr.called("rtpengine.rtpengine_manage")
    assert "branch dropped" in ksr.logged()


def test_preloaded_route_headers_are_removed(ksr):
    request(ksr)
    ksr.returns["hdr.is_present"] = lambda name: 1 if name == "Route" else -1
    make_routes().ksr_request_route(None)
    assert ksr.called("hdr.remove") == [("Route",)]
    assert ksr.called("tm.t_relay") == [()]


def test_request_uri_is_rebuilt_from_the_destination_not_the_received_uri(ksr):
    request(ksr, duri="sip:127.0.3.2:5080;transport=tcp")
    make_routes().ksr_request_route(None)
    assert ksr.called("seturi") == [("sip:+14155550101@127.0.3.2:5080;transport=tcp",)]


@pytest.mark.parametrize("ruser,side,acl", [("4155550101", "private", (1,)), ("+12125550100", "public", (2,))])
def test_new_calls_are_refused_while_the_topology_store_is_down(ksr, ruser, side, acl):
    request(ksr, ruser=ruser, side=side, acl=acl)
    ksr.pvs[PEER_TAG_AVP] = "acme" if side == "public" else None  # a dedicated address of acme's
    ksr.returns["kx.get_fuser"] = "+14155550201"
    ksr.returns["ndb_redis.redis_cmd"] = -1
    make_routes().ksr_request_route(None)
    assert ksr.replies() == [(503, "Service Unavailable")]
    assert ksr.called("tm.t_relay") == [] and ksr.called("dialog.dlg_manage") == []


def test_on_kamailio_6_topos_keeps_its_state_in_shared_memory_and_redis_is_not_asked(ksr):
    request(ksr, ruser="4155550101")
    ksr.returns["kx.ifdef"] = lambda name: name == "TOPOS_HTABLE"
    ksr.returns["ndb_redis.redis_cmd"] = -1  # Redis down: topos does not use it there
    ksr.pvs["$stat(free_size)"] = 200 * 1048576
    routes = make_routes()
    routes.ksr_request_route(None)
    routes.ksr_request_route(None)
    assert ksr.called("ndb_redis.redis_cmd") == [] and ksr.called("tm.t_relay") == [(), ()]
    assert ksr.called("kx.ifdef") == [("TOPOS_HTABLE",)]  # asked once per process


@pytest.mark.parametrize("free_mb,relayed", [(25, False), (26, True), (None, False)])
def test_on_kamailio_6_new_calls_get_503_while_a_tenth_of_shared_memory_is_not_free(ksr, free_mb, relayed):
    """topos' store there is shared memory (SHM_MB, default 256): full, topos would send messages unhidden."""
    request(ksr, ruser="4155550101")
    ksr.returns["kx.ifdef"] = lambda name: name == "TOPOS_HTABLE"
    ksr.pvs["$stat(free_size)"] = free_mb and free_mb * 1048576  # None: the statistic cannot be read
    make_routes().ksr_request_route(None)
    assert bool(ksr.called("tm.t_relay")) is relayed
    assert ksr.replies() == ([] if relayed else [(503, "Service Unavailable")])
    assert ("shared memory low" in ksr.logged()) is not relayed


def test_inbound_group_with_no_active_gateway_goes_straight_to_the_backup_group(ksr):
    request(ksr, ruser="4155550101")
    ksr.returns["dispatcher.ds_select_dst"] = lambda group, alg: 1 if group == 3 else -1
    make_routes().ksr_request_route(None)
    assert ksr.called("dispatcher.ds_select_dst") == [(1, 9), (3, 9)]
    assert ksr.pvs[GROUPS_AVP] == ""
    assert ksr.called("tm.t_relay") == [()]


def test_did_of_the_backup_group_has_no_further_failover(ksr):
    request(ksr, ruser="4155550105")
    make_routes().ksr_request_route(None)
    assert ksr.pvs[GROUPS_AVP] == ""


def test_direct_uri_keeps_its_did_group_then_backup_for_failover(ksr):
    request(ksr, ruser="4155550104")
    make_routes().ksr_request_route(None)
    assert ksr.called("seturi") == [("sip:+14155550104@127.0.3.6",)]
    assert ksr.pvs[GROUPS_AVP] == "2,3"


def test_inbound_did_with_direct_uri_goes_to_that_uri_with_the_e164_user(ksr):
    request(ksr, ruser="+14155550103", rhost="127.0.3.5")
    make_routes().ksr_request_route(None)
    assert ksr.called("seturi") == [("sip:+14155550103@127.0.3.5:5080;transport=tcp",)]
    assert ksr.called("dispatcher.ds_select_dst") == []
    assert ksr.called("tm.t_relay") == [()]


def test_inbound_tech_prefix_is_stripped_before_the_lookup(ksr):
    request(ksr, ruser="99914155550101")
    make_routes(tech_prefixes="999").ksr_request_route(None)
    assert ksr.called("seturi") == [("sip:+14155550101@127.0.3.1:5060",)]


def test_unknown_did_without_default_group_gets_404(ksr):
    request(ksr, ruser="4155550999")
    make_routes().ksr_request_route(None)
    assert ksr.replies() == [(404, "Not Found")]
    assert ksr.called("tm.t_relay") == []


def test_unknown_did_goes_to_the_default_group_when_set(ksr):
    request(ksr, ruser="4155550999")
    make_routes(default_gateway_group=3).ksr_request_route(None)
    assert ksr.called("dispatcher.ds_select_dst") == [(3, 9)]
    assert ksr.called("tm.t_relay") == [()]


@pytest.mark.parametrize("ruser", ["abc", "", "41555501011234567890", "'; DROP TABLE did_routing;--", "+"])
def test_unusable_called_number_gets_484(ksr, ruser):
    request(ksr, ruser=ruser)
    make_routes().ksr_request_route(None)
    assert ksr.replies() == [(484, "Address Incomplete")]
    assert ksr.called("tm.t_relay") == []


def test_db_down_and_did_unknown_gets_503(ksr):
    request(ksr)
    make_routes(dids=None).ksr_request_route(None)
    assert ksr.replies() == [(503, "DID Routing Unavailable")]


def test_no_active_gateway_in_group_or_backup_gets_503(ksr):
    request(ksr)
    ksr.returns["dispatcher.ds_select_dst"] = -1
    make_routes().ksr_request_route(None)
    assert ksr.called("dispatcher.ds_select_dst") == [(1, 9), (3, 9)]
    assert ksr.replies() == [(503, "No Gateway Available")]
    assert ksr.called("tm.t_relay") == []


def test_relay_failure_answers_with_the_relay_error(ksr):
    request(ksr)
    ksr.returns["tm.t_relay"] = -1
    ksr.returns["dispatcher.ds_select_dst"] = lambda group, alg: 1 if group == 1 else -1
    ksr.returns["dispatcher.ds_next_dst"] = iter([1, -1]).__next__  # one more peer in group 1, then none
    make_routes().ksr_request_route(None)
    # Statefully, so that the dialog sees the call's final answer (an egress drop fails every branch).
    assert ksr.called("tm.t_send_reply") == [(503, "Service Unavailable")] and ksr.replies() == []
    assert ksr.called("tm.t_relay") == [(), ()]  # each peer of the chain had its branch tried
    assert ksr.called("dispatcher.ds_select_dst") == [(1, 9), (3, 9)]


def test_a_list_that_never_ends_is_passed_over_a_bounded_number_of_times(ksr):
    request(ksr)
    ksr.returns["tm.t_relay"] = -1  # every branch dropped; ds_next_dst answers 1 for ever
    make_routes().ksr_request_route(None)
    assert len(ksr.called("tm.t_relay")) == MAX_UNSENT
    assert ksr.called("tm.t_send_reply") == [(503, "Service Unavailable")]


def test_exception_in_a_route_answers_500(ksr):
    request(ksr)

    def boom(*a):
        raise RuntimeError("bug")

    ksr.returns["dispatcher.ds_select_dst"] = boom
    make_routes().ksr_request_route(None)
    assert ksr.replies() == [(500, "Server Internal Error")]
    assert "request route crashed" in "".join(a[0] for f, a in ksr.calls if f == "err")


# ---- outbound: from_public_gateway -> to_telecom ----------------------------------------------

@pytest.mark.parametrize("acl,ds_gateway,named", [((2,), False, False), ((), True, False), ((), False, True),
                                                   ((4,), False, False)])
def test_an_invite_from_a_shared_gateway_address_is_challenged_never_relayed(ksr, monkeypatch, acl, ds_gateway,
                                                                              named):
    """An ACL row without a dedicated tenant, a dispatcher member, an address a gateway's name resolves to,
    an ACL group 4 source: each tells which platform sent the call, never which customer. 407, nothing else."""
    monkeypatch.setattr(hostnames, "is_gateway_address", lambda ip: named)
    request(ksr, side="public", src=GATEWAY_IP, ruser="+12125550100", acl=acl, ds_gateway=ds_gateway)
    make_routes().ksr_request_route(None)
    assert ksr.actions()[1:] == [("auth.auth_challenge", ("voice-ai-sbc", 1))]
    assert ksr.actions()[0][0] == "htable.sht_inc"  # counted toward CHALLENGE_MAX_PER_SOURCE
    assert ksr.counted("sbc_outbound_admission_total") == [("challenged",)]


def test_outbound_from_a_dedicated_address_goes_to_the_carrier_group_from_the_private_socket(ksr):
    outbound(ksr)
    make_routes().ksr_request_route(None)
    assert ksr.actions() == [
        ("htable.sht_inc", ("tenantcps", ANY_SECOND("acme"))),  # the tenant's rate, then the carrier side's
        ("dialog.get_profile_size", ("tenant_calls", "acme", "$var(tenant_calls)")),
        ("htable.sht_inc", ("tenantcps", ANY_SECOND("*"))),
        ("dialog.get_profile_size", ("direction_calls", "outbound", "$var(outbound_calls)")),
        ("dialog.dlg_manage", ()),
        ("pv.sets", (NUMBER_AVP, "+12125550100")),
        ("dispatcher.ds_select_dst", (10, 8)),  # carriers by priority
        ("pv.sets", (GROUPS_AVP, "")),
        ("pv.sets", (GROUP_AVP, "10")),
        ("seturi", ("sip:+12125550100@127.0.4.1:5060",)),
        ("dialog.set_dlg_profile", ("direction_calls", "outbound")),
        ("dialog.set_dlg_profile", ("tenant_calls", "acme")),
        ("uac.uac_replace_to_uri", ("sip:+12125550100@127.0.1.1",)),
        ("uac.uac_replace_from_uri", (f"sip:+14155550201@{PRIVATE}",)),
        ("hdr.append", (f"P-Asserted-Identity: <sip:+14155550201@{PRIVATE}>\r\n",)),
        ("rr.record_route", ()),
        *CARRIER_ATTEMPT,
    ]
    assert ksr.dlg_vars["max_duration"] == "14400"  # TENANT_MAX_DURATION: acme has no limit of its own
    assert ksr.counted("sbc_outbound_admission_total") == [("dedicated",)]


def test_outbound_without_active_carrier_gets_503(ksr):
    outbound(ksr)
    ksr.returns["dispatcher.ds_select_dst"] = -1
    make_routes().ksr_request_route(None)
    assert ksr.replies() == [(503, "No Carrier Available")]


# ---- in-dialog ---------------------------------------------------------------------------------

def test_bye_records_the_media_figures_then_deletes_the_session_and_is_relayed(ksr):
    request(ksr, method="BYE", totag=True, sdp=False)
    ksr.pvs["$var(sbc_media)"] = json.dumps({"tags": {"t1": {"label": "private", "medias": [{"streams": [
        {"flags": ["RTP"], "SSRC": 7, "stats": {"packets": 250, "bytes": 43000}}]}]}},
        "SSRC": {"7": {"average MOS": {"MOS": 43, "jitter": 3, "packet loss": 1, "round-trip time": 0},
                       "lowest MOS": {"MOS": 41}}}})
    make_routes().ksr_request_route(None)
    assert ksr.actions() == [
        ("rr.loose_route", ()), ("rtpengine.rtpengine_query_v", ("j", "$var(sbc_media)")),
        ("rtpengine.rtpengine_delete0", ()), ("tm.t_on_reply", ("reply_media",)), ("tm.t_relay", ())]
    # No RTT: rtpengine reports 0 when a leg's round trip was never measured.
    assert {k: v for k, v in ksr.dlg_vars.items() if k.startswith("carrier_")} == {
        "carrier_packets": "250", "carrier_bytes": "43000", "carrier_mos": "4.3", "carrier_mos_min": "4.1",
        "carrier_jitter_ms": "3", "carrier_loss_pct": "1"}
    assert ksr.counted("sbc_media_reports_total") == [("carrier", "rtcp")]
    assert ksr.dlg_vars["end_reason"] == "bye carrier"  # request() sends it from the carrier's side


def test_a_bye_during_which_the_script_is_reloaded_is_still_relayed(ksr):
    """app_python3 reloads the script at its next Python call, also one nested in a KSR call of this message
    (loose_route runs the dialog's end event in Python): the BYE's context, read before, must still read
    right after. CI found a BYE answered 481 there (its method read as the old module's sentinel)."""
    request(ksr, method="BYE", totag=True, sdp=False)

    def loose_route_reloading():
        importlib.reload(context)
        return 1

    ksr.returns["rr.loose_route"] = loose_route_reloading
    make_routes().ksr_request_route(None)
    assert ksr.replies() == [] and ksr.called("tm.t_relay") == [()]
    assert ksr.called("rtpengine.rtpengine_delete0") == [()]


@pytest.mark.parametrize("side,acl,flags", [("public", (2,), media.offer_flags("public", "private")),
                                            ("private", (1,), media.offer_flags("private", "public"))])
def test_reinvite_reoffers_media_in_its_direction(ksr, side, acl, flags):
    request(ksr, method="INVITE", side=side, acl=acl, totag=True, sdp=True)
    make_routes().ksr_request_route(None)
    assert ksr.actions() == [
        ("rr.loose_route", ()),
        ("rtpengine.rtpengine_manage", (flags,)),
        ("tm.t_on_reply", ("reply_media",)),
        ("tm.t_relay", ()),
    ]


@pytest.mark.parametrize("side", ["private", "public"])
def test_ack_with_sdp_completes_a_late_offer_labelled_with_its_side(ksr, side):
    request(ksr, method="ACK", side=side, acl=(1, 2), totag=True, sdp=True)
    make_routes().ksr_request_route(None)
    flags = f"replace-origin replace-session-connection ICE=remove strict-source label={side}"
    assert ("rtpengine.rtpengine_manage", (flags,)) in ksr.actions()
    assert ksr.called("tm.t_relay") == [()]


def test_ack_without_its_dialog_is_left_to_tm_and_never_relayed(ksr):
    """tm absorbs an ACK to a negative reply; an ACK to a 2xx whose dialog a BYE already ended would go
    out with the other side's From/To (uac restores them from the dialog): found by the fuzzer."""
    request(ksr, method="ACK", totag=True, sdp=False)
    ksr.returns.update({"tm.t_check_trans": 1, "dialog.is_known_dlg": -1})
    make_routes().ksr_request_route(None)
    assert ksr.actions() == [("tm.t_check_trans", ())]


@pytest.mark.parametrize("known_dialog,loose_route", [(-1, 1), (1, -1)])
def test_in_dialog_request_of_no_known_dialog_gets_481_from_a_peer(ksr, known_dialog, loose_route):
    request(ksr, method="BYE", totag=True)
    ksr.returns.update({"dialog.is_known_dlg": known_dialog, "rr.loose_route": loose_route})
    make_routes().ksr_request_route(None)
    assert ksr.replies() == [(481, "Call/Transaction Does Not Exist")]
    assert ksr.called("tm.t_relay") == []


@pytest.mark.parametrize("method,reply", [("BYE", [(503, "Service Unavailable")]),
                                          ("INVITE", [(503, "Service Unavailable")]), ("ACK", [])])
def test_in_dialog_requests_wait_while_the_topology_store_is_down(ksr, method, reply):
    request(ksr, method=method, totag=True)
    ksr.returns["ndb_redis.redis_cmd"] = -1
    make_routes().ksr_request_route(None)
    assert ksr.replies() == reply
    assert ksr.called("hdr.append_to_reply") == ([("Retry-After: 1\r\n",)] if reply else [])
    assert ksr.called("tm.t_relay") == [] and ksr.called("rtpengine.rtpengine_delete0") == []


@pytest.mark.parametrize("method,state,fs,next_hop,reply", [
    ("INFO", 5, f"udp:{PUBLIC}:5060", GATEWAY_IP, (481, "Call/Transaction Does Not Exist")),  # after the BYE
    ("INVITE", 3, f"udp:{PUBLIC}:5060", GATEWAY_IP, (491, "Request Pending")),  # before the ACK
    ("INVITE", 4, None, CARRIER_IP, (403, "Forbidden")),  # a Route the carrier added: back to its own side
    ("INVITE", 4, f"udp:{PRIVATE}:5060", GATEWAY_IP, (403, "Forbidden")),  # out by the arrival side's socket
    ("MESSAGE", 4, f"udp:{PUBLIC}:5060", PRIVATE, (403, "Forbidden")),  # to this SBC itself: a loop
])
def test_in_dialog_requests_uac_did_not_restore_or_routed_anywhere_but_across_are_refused(
        ksr, method, state, fs, next_hop, reply):
    """Fuzzer findings: each of these went out with the other side's From/To, Route, Contact or SDP."""
    request(ksr, method=method, totag=True, sdp=False)
    ksr.pvs.update({"$fs": fs, "$nh(d)": next_hop})
    ksr.returns["pv.geti"] = lambda name: state if name == "$dlg(state)" else 0
    make_routes().ksr_request_route(None)
    assert ksr.replies() == [reply]
    assert ksr.called("tm.t_relay") == [] and ksr.called("rtpengine.rtpengine_manage") == []
    assert ksr.counted("sbc_topology_guard_total") == [("in-dialog", "private", f"{reply[0]} {reply[1]} "
                                                        f"(next hop {fs and fs.split(':')[1]})")]


def test_a_bye_routed_back_to_its_own_side_ends_the_media_and_is_answered_statefully(ksr):
    """The dialog module ended the call on the BYE: the session goes, and the dialog with the transaction."""
    request(ksr, method="BYE", totag=True, sdp=False)
    ksr.pvs["$fs"] = None
    make_routes().ksr_request_route(None)
    assert ksr.actions() == [("rr.loose_route", ()), ("rtpengine.rtpengine_query_v", ("j", "$var(sbc_media)")),
                             ("rtpengine.rtpengine_delete0", ()), ("tm.t_send_reply", (403, "Forbidden"))]


@pytest.mark.parametrize("method,reply", [("INVITE", [(488, "Not Acceptable Here")]), ("ACK", [])])
def test_an_in_dialog_sdp_rtpengine_refuses_never_crosses(ksr, method, reply):
    request(ksr, method=method, totag=True, sdp=True)
    ksr.returns["rtpengine.rtpengine_manage"] = -1
    make_routes().ksr_request_route(None)
    assert ksr.replies() == reply
    assert ksr.called("tm.t_relay") == []
    assert ksr.counted("sbc_topology_guard_total") == [("media", "private", "sdp rtpengine refused")]


def test_forged_in_dialog_request_from_a_stranger_on_the_public_side_gets_silence(ksr):
    request(ksr, method="BYE", totag=True, side="public", src="127.0.9.9", acl=())
    ksr.returns["dialog.is_known_dlg"] = -1
    make_routes().ksr_request_route(None)
    assert ksr.actions() == []


def test_cancel_is_relayed_within_its_transaction(ksr):
    request(ksr, method="CANCEL")
    ksr.returns["tm.t_check_trans"] = 1
    make_routes().ksr_request_route(None)
    assert ksr.actions() == [("tm.t_check_trans", ()), ("tm.t_relay", ())]


def test_cancel_without_transaction_gets_481_from_a_peer_and_nothing_from_a_stranger(ksr):
    request(ksr, method="CANCEL")
    make_routes().ksr_request_route(None)
    assert ksr.replies() == [(481, "Call/Transaction Does Not Exist")]
    request(ksr, method="CANCEL", side="public", src="127.0.9.9", acl=())
    ksr.calls.clear()
    make_routes().ksr_request_route(None)
    assert ksr.replies() == [] and ksr.called("tm.t_relay") == []


# ---- branches, replies, failures ---------------------------------------------------------------

def test_branch_to_gateway_offers_media_private_to_public(ksr):
    request(ksr)
    ksr.pvs[NUMBER_AVP] = "+14155550101"
    make_routes().branch_to_gateway(None)
    assert ksr.actions() == [("uac.uac_replace_to_uri", (f"sip:+14155550101@{PUBLIC}",)),
                             ("rtpengine.rtpengine_manage", (media.offer_flags("private", "public"),))]


def test_branch_of_a_kept_alive_call_asks_for_rtpengines_audio_player(ksr):
    request(ksr)
    ksr.pvs[KEEPALIVE_AVP] = 1
    make_routes().branch_to_gateway(None)
    assert ksr.actions()[1:] == [("rtpengine.rtpengine_manage", (media.offer_flags("private", "public") +
                                                                 " audio-player=force",))]


def test_answer_of_a_kept_alive_call_asks_for_rtpengines_audio_player_too(ksr):
    request(ksr, side="public")
    ksr.returns["kx.get_status"] = 200
    ksr.pvs[KEEPALIVE_AVP] = 1
    make_routes().reply_media(None)
    assert ksr.called("rtpengine.rtpengine_manage") == [(media.answer_flags("public") + " audio-player=force",)]


def test_branch_is_dropped_when_rtpengine_fails(ksr):
    request(ksr)
    ksr.returns["rtpengine.rtpengine_manage"] = -1
    make_routes().branch_to_telecom(None)
    assert ksr.called("set_drop") == [()]


@pytest.mark.parametrize("status,sdp,answered", [(200, True, True), (183, True, True), (180, False, False),
                                                 (100, False, False), (486, False, False)])
def test_reply_media_answers_sdp_of_18x_and_2xx(ksr, status, sdp, answered):
    request(ksr, side="public", sdp=sdp)  # the gateway's answer arrives on the public socket
    ksr.returns["kx.get_status"] = status
    make_routes().reply_media(None)
    assert ksr.called("rtpengine.rtpengine_manage") == ([(media.answer_flags("public"),)] if answered else [])
    if answered:
        assert media.answer_flags("public").endswith(" label=public")


def failure(ksr, status, canceled=False, groups="3", next_domain=-1, select=lambda g, a: 1):
    request(ksr)
    ksr.pvs.update({NUMBER_AVP: "+14155550101", GROUPS_AVP: groups})
    ksr.returns.update({"tm.t_get_status_code": status, "tm.t_is_canceled": 1 if canceled else -1,
                        "tmx.t_is_failure_route": 1, "dispatcher.ds_next_dst": next_domain,
                        "dispatcher.ds_select_dst": select, "kx.get_duri": FAILOVER_DESTINATION})


@pytest.mark.parametrize("status", [486, 603, 404, 488, 480])
def test_answers_about_the_call_end_the_search(ksr, status):
    failure(ksr, status)
    make_routes().failure_from_gateway(None)
    assert ksr.actions() == [("rtpengine.rtpengine_delete0", ())]
    assert f"answered {status}: final" in ksr.logged()


def test_canceled_call_is_not_failed_over(ksr):
    failure(ksr, 487, canceled=True)
    make_routes().failure_from_gateway(None)
    assert ksr.actions() == [("rtpengine.rtpengine_delete0", ())]


@pytest.mark.parametrize("status,marked", [(503, True), (408, True), (500, False), (502, False), (401, False),
                                           (302, False)])
def test_peer_failure_goes_to_the_next_gateway_of_the_group(ksr, status, marked):
    failure(ksr, status, next_domain=1)
    make_routes().failure_from_gateway(None)
    expected = [("dispatcher.ds_mark_dst_state", ("ip",))] if marked else []
    expected += [("dispatcher.ds_next_dst", ()), ("seturi", ("sip:+14155550101@127.0.3.3:5060",)),
                 *GATEWAY_FAILOVER]
    assert ksr.actions() == expected
    assert ksr.called("rtpengine.rtpengine_delete0") == []  # media stays for the next branch


def test_exhausted_group_goes_to_the_backup_group(ksr):
    failure(ksr, 503, groups="3")
    make_routes().failure_from_gateway(None)
    assert ksr.actions() == [
        ("dispatcher.ds_mark_dst_state", ("ip",)),
        ("dispatcher.ds_next_dst", ()),
        ("dispatcher.ds_select_dst", (3, 9)),
        ("pv.sets", (GROUPS_AVP, "")),
        ("pv.sets", (GROUP_AVP, "3")),
        ("seturi", ("sip:+14155550101@127.0.3.3:5060",)),
        *GATEWAY_FAILOVER,
    ]


def test_nothing_left_answers_503_with_a_reason_and_deletes_media(ksr):
    failure(ksr, 500, groups="")
    make_routes().failure_from_gateway(None)
    assert ksr.actions()[-3:] == [
        ("rtpengine.rtpengine_delete0", ()),
        ("hdr.append_to_reply", (GIVE_UP_REASON,)),
        ("tm.t_reply", (503, "No Gateway Available")),
    ]
    assert "no gateway left" in ksr.logged()


def test_backup_group_without_active_member_answers_503(ksr):
    failure(ksr, 408, groups="3", select=lambda g, a: -1)
    make_routes().failure_from_gateway(None)
    assert ksr.called("tm.t_reply") == [(503, "No Gateway Available")]


def test_failed_relay_of_the_next_attempt_tries_the_one_after(ksr):
    failure(ksr, 503, groups="3", next_domain=1)
    relays = iter([-1, 1])
    ksr.returns["tm.t_relay"] = lambda: next(relays)
    ksr.returns["dispatcher.ds_next_dst"] = iter([1, -1]).__next__
    make_routes().failure_from_gateway(None)
    assert ksr.called("tm.t_relay") == [(), ()]
    assert ksr.called("dispatcher.ds_select_dst") == [(3, 9)]
    assert ksr.called("tm.t_reply") == [] and ksr.called("sl.send_reply") == []


def test_carrier_failover_uses_the_carrier_leg_and_never_the_gateway_backup(ksr):
    failure(ksr, 503, groups="", next_domain=1)
    make_routes().failure_from_telecom(None)
    carrier_failover = attempt_calls("private", 120000, 3000, "branch_to_telecom", "failure_from_telecom",
                                     FAILOVER_DESTINATION)
    assert ksr.actions()[-len(carrier_failover):] == carrier_failover
    failure(ksr, 503, groups="", next_domain=-1)
    make_routes().failure_from_telecom(None)
    assert ksr.called("tm.t_reply")[-1] == (503, "No Carrier Available")


def test_dispatcher_state_changes_are_logged(ksr):
    request(ksr)
    ksr.returns["pv.get"] = "sip:127.0.3.2:5060"
    make_routes().ksr_dispatcher_event(None, "dispatcher:dst-down")
    assert "dispatcher:dst-down sip:127.0.3.2:5060" in "".join(a[0] for f, a in ksr.calls if f == "notice")


def test_handlers_exported_to_kamailio_exist():
    routes = make_routes()
    for name in ("ksr_request_route", "ksr_reply_route", "ksr_onsend_route", "ksr_onsend_check", "child_init",
                 "branch_to_gateway", "branch_to_telecom", "reply_media",
                 "failure_from_gateway", "failure_from_telecom", "ksr_dispatcher_event"):
        assert callable(getattr(routes, name))


# ---- tenants ---------------------------------------------------------------------------------

def test_tenant_did_goes_only_to_the_tenants_set_with_context_headers(ksr):
    request(ksr, ruser="4155550201", duri="sip:127.0.3.21:5060")
    make_routes().ksr_request_route(None)
    assert ksr.called("dispatcher.ds_select_dst") == [(21, 9)]
    assert ksr.pvs[GROUPS_AVP] == "3"  # acme allows the backup group
    assert ksr.called("dialog.set_dlg_profile")[-2] == ("tenant_calls", "acme")  # then the gateway row
    assert ksr.called("hdr.append") == [("X-Original-Dialed: 4155550201\r\n",), ("X-DID: +14155550201\r\n",),
                                        ("X-Tenant: acme\r\n",)]
    assert ksr.called("tm.t_relay") == [()]


def test_tenant_without_backup_fails_over_nowhere_else(ksr):
    request(ksr, ruser="4155550301")
    make_routes().ksr_request_route(None)
    assert ksr.called("dispatcher.ds_select_dst") == [(22, 9)] and ksr.pvs[GROUPS_AVP] == ""


@pytest.mark.parametrize("ruser,kept", [("4155550301", [(KEEPALIVE_AVP, 1)]), ("4155550201", [])])
def test_inbound_call_of_a_tenant_with_media_keepalive_is_marked_for_its_branches(ksr, ruser, kept):
    request(ksr, ruser=ruser)
    make_routes().ksr_request_route(None)
    assert ksr.called("pv.seti") == kept and ksr.called("tm.t_relay") == [()]


@pytest.mark.parametrize("tenant,kept", [("beta", [(KEEPALIVE_AVP, 1)]), ("acme", [])])
def test_outbound_call_of_a_tenant_with_media_keepalive_is_marked_for_its_branches(ksr, tenant, kept):
    outbound(ksr, tenant=tenant, from_user={"beta": "+14155550301", "acme": "+14155550201"}[tenant])
    make_routes().ksr_request_route(None)
    assert ksr.called("pv.seti") == kept and ksr.called("tm.t_relay") == [()]


def test_tenant_direct_uri_fails_over_to_the_tenants_set_then_backup(ksr):
    request(ksr, ruser="4155550202")
    make_routes().ksr_request_route(None)
    assert ksr.called("seturi") == [("sip:+14155550202@127.0.3.29",)] and ksr.pvs[GROUPS_AVP] == "21,3"


def test_the_bench_tenant_switch_routes_a_tenant_did_by_its_own_group_without_tenant_checks(ksr, monkeypatch):
    """SBC_BENCH_OFF=tenant (make bench only): the bench's tenant DID also names group 2, as the native
    reference routes it; with tenants off neither the tenant lookup, its limits nor its headers run."""
    monkeypatch.setattr(benchswitch, "OFF", frozenset({"tenant"}))
    dids = {**DIDS, "+14155550199": DidRoute("+14155550199", 2, None, "acme")}
    request(ksr, ruser="4155550199", duri="sip:127.0.3.2:5060")
    make_routes(dids).ksr_request_route(None)
    assert ksr.called("dispatcher.ds_select_dst") == [(2, 9)]
    assert ksr.called("htable.sht_inc") == [] and ksr.called("dialog.get_profile_size") == []
    assert ksr.called("dialog.set_dlg_profile") == [("direction_calls", "inbound"),
                                                   (capacity.PROFILE, "sip:127.0.3.2:5060")]
    assert ksr.called("hdr.append") == [] and ksr.called("tm.t_relay") == [()]


@pytest.mark.parametrize("ruser,reply", [("4155550501", (403, "Tenant Disabled")),
                                         ("4155550601", (503, "Tenant Not Configured"))])
def test_did_of_a_disabled_or_missing_tenant_gets_a_clear_answer(ksr, ruser, reply):
    request(ksr, ruser=ruser)
    make_routes().ksr_request_route(None)
    assert ksr.replies() == [reply] and ksr.called("tm.t_relay") == []


def test_inbound_over_the_concurrent_call_limit_gets_486(ksr):
    request(ksr, ruser="4155550201")
    ksr.returns["pv.geti"] = 2  # acme: max_calls 2
    make_routes().ksr_request_route(None)
    assert ksr.called("dialog.get_profile_size") == [("tenant_calls", "acme", "$var(tenant_calls)")]
    assert ksr.replies() == [(486, "Busy Here")] and ksr.called("tm.t_relay") == []
    assert "limit: inbound tenant acme at its 2 concurrent calls" in ksr.logged()


def test_over_the_call_rate_gets_503_with_retry_after(ksr):
    request(ksr, ruser="4155550201")
    ksr.returns["htable.sht_inc"] = 6  # acme: max_cps 5
    make_routes().ksr_request_route(None)
    assert ksr.replies() == [(503, "Tenant Call Rate Exceeded")]
    assert ksr.called("hdr.append_to_reply") == [("Retry-After: 1\r\n",)]


def outbound(ksr, tenant="acme", from_user="+14155550201", pai=None):
    request(ksr, side="public", src="127.0.3.21", ruser="+12125550100", acl=(2,), duri="sip:127.0.4.1:5060")
    ksr.pvs[PEER_TAG_AVP] = tenant
    ksr.returns["kx.get_fuser"] = from_user
    if pai:
        ksr.returns["hdr.is_present"] = lambda name: 1 if name == "P-Asserted-Identity" else -1
        ksr.returns["hdr.get"] = pai


def test_outbound_with_an_own_did_is_sent_with_that_caller_id(ksr):
    outbound(ksr, from_user="4155550201")
    make_routes().ksr_request_route(None)
    assert ksr.called("uac.uac_replace_from_uri") == [(f"sip:+14155550201@{PRIVATE}",)]
    assert ksr.called("hdr.append") == [(f"P-Asserted-Identity: <sip:+14155550201@{PRIVATE}>\r\n",)]
    assert ksr.called("dialog.set_dlg_profile")[-2] == ("tenant_calls", "acme")  # then the carrier row
    assert ksr.called("tm.t_relay") == [()]


@pytest.mark.parametrize("caller", ["+14155550301", "+19995550100", "anonymous"])
def test_outbound_with_another_tenants_or_unknown_caller_id_is_refused(ksr, caller):
    outbound(ksr, from_user=caller)
    make_routes().ksr_request_route(None)
    assert ksr.replies() == [(403, "Caller ID Not Allowed")] and ksr.called("tm.t_relay") == []


def test_outbound_caller_id_is_replaced_by_the_tenants_default_under_replace_policy(ksr):
    outbound(ksr, tenant="beta", from_user="+19995550100")
    make_routes().ksr_request_route(None)
    assert ksr.called("uac.uac_replace_from_uri") == [(f"sip:+14155550301@{PRIVATE}",)]


def test_outbound_p_asserted_identity_is_the_caller_id_checked_and_replaced(ksr):
    outbound(ksr, from_user="+19995550100", pai='"Agent" <sip:4155550202@gw.example;user=phone>')
    make_routes().ksr_request_route(None)
    assert ksr.called("hdr.remove") == [("P-Asserted-Identity",)]
    assert ksr.called("hdr.append") == [(f"P-Asserted-Identity: <sip:+14155550202@{PRIVATE}>\r\n",)]


def test_outbound_over_the_tenants_call_limit_gets_403(ksr):
    outbound(ksr)
    ksr.returns["pv.geti"] = 2
    make_routes().ksr_request_route(None)
    assert ksr.replies() == [(403, "Tenant Call Limit Reached")]


def test_outbound_from_a_disabled_tenant_is_refused(ksr):
    outbound(ksr, tenant="off")
    make_routes().ksr_request_route(None)
    assert ksr.replies() == [(403, "Tenant Disabled")]


# ---- header filters: by name, from the ingress check's parse -----------------------------------

def _with_headers(extra: str, start: str = "INVITE sip:4155550101@127.0.1.1:5060 SIP/2.0") -> str:
    return WELL_FORMED.replace(WELL_FORMED.split("\r\n", 1)[0], start, 1).replace(
        "Content-Length: 0\r\n", extra + "Content-Length: 0\r\n")


def test_a_new_call_keeps_only_whitelisted_headers_each_removed_once_by_name(ksr):
    request(ksr, ruser="4155550101", rhost="127.0.3.1")
    ksr.returns["kx.get_msgbuf"] = _with_headers(
        "User-Agent: Carrier SBC 1.0\r\nX-Carrier-Trunk: 7\r\nAllow: INVITE, BYE\r\nk: timer\r\n"
        "P-Charging-Vector: icid-value=1\r\nx-carrier-trunk: 8\r\n")
    make_routes().ksr_request_route(None)
    assert ksr.called("hdr.remove") == [("user-agent",), ("x-carrier-trunk",), ("p-charging-vector",)]
    assert ksr.called("textopsx.keep_hf_re") == ksr.called("textops.remove_hf_re") == []  # no per-message regex


def test_an_in_dialog_request_loses_the_senders_software_headers_only(ksr):
    request(ksr, method="BYE", totag=True, sdp=False)
    ksr.returns["kx.get_msgbuf"] = _with_headers(
        "User-Agent: Carrier SBC 1.0\r\nReason: Q.850;cause=16\r\nX-Trace: 1\r\n",
        start="BYE sip:agent@127.0.1.1:5060 SIP/2.0").replace("1 INVITE", "2 BYE")
    make_routes().ksr_request_route(None)
    assert ksr.called("hdr.remove") == [("user-agent",), ("x-trace",)]
    assert ksr.called("tm.t_relay") == [()]


def refer(ksr, side: str, tenant: str) -> None:
    """A REFER inside an inbound call of `tenant`, from the gateway (public) or the carrier (private)."""
    request(ksr, method="REFER", side=side, src=GATEWAY_IP if side == "public" else CARRIER_IP, totag=True,
            sdp=False, acl=(2,) if side == "public" else (1,))
    ksr.dlg_vars.update({"tenant": tenant, "carrier": CARRIER_IP})
    ksr.returns["hdr.get"] = lambda name: "<sip:+14155550199@gw.example.test>" if name == "Refer-To" else None


def test_a_gateways_transfer_of_a_relaying_tenant_reaches_the_carrier_naming_the_number_there(ksr):
    refer(ksr, "public", "beta")
    make_routes().ksr_request_route(None)
    assert ksr.called("hdr.remove")[-2:] == [("Referred-By",), ("Refer-To",)]
    assert ksr.called("hdr.append") == [(f"Refer-To: <sip:+14155550199@{CARRIER_IP}>\r\n",)]
    assert ksr.called("tm.t_relay") == [()] and ksr.replies() == []
    assert ksr.counted("sbc_transfers_total") == [("beta", "relayed")]


@pytest.mark.parametrize("side,tenant,why", [("public", "acme", "not allowed"), ("public", "", "not allowed"),
                                             ("private", "beta", "from carrier")])
def test_other_transfers_get_403_and_go_nowhere(ksr, side, tenant, why):
    refer(ksr, side, tenant)
    make_routes().ksr_request_route(None)
    assert ksr.replies() == [(403, "Transfer Not Allowed")]
    assert ksr.called("tm.t_relay") == [] and ksr.called("hdr.append") == []
    assert ksr.counted("sbc_transfers_total") == [(tenant or "none", why)]


def test_a_reply_loses_the_answering_sides_software_headers(ksr):
    request(ksr)
    ksr.returns["kx.get_status"] = 200
    ksr.returns["kx.get_msgbuf"] = _with_headers("Server: LiveKit\r\nSupported: timer\r\n",
                                                 start="SIP/2.0 200 OK")
    ksr.returns["tm.t_check_trans"] = 1  # the reply of a transaction
    routes = make_routes()
    assert routes.ksr_reply_route(None) == 1
    routes.reply_media(None)
    assert ksr.called("hdr.remove") == [("server",)]


# ---- a peer's 401/407: answered once per attempt with its credential ------------------------------

def challenged(ksr, status=407, destination=FAILOVER_DESTINATION, answered_for=None, next_domain=-1):
    failure(ksr, status, groups="", next_domain=next_domain)
    ksr.pvs[DESTINATION_AVP] = destination
    if answered_for is not None:
        ksr.pvs[ANSWERED_AVP] = answered_for
    ksr.returns["kx.get_ruri"] = "sip:+14155550101@127.0.3.3:5060"  # what uac_auth leaves: the branch URI


def peer_auth_counted(ksr):
    return [a for a in ksr.called("xhttp_prom.counter_inc_l2") if a[0] == "sbc_peer_auth_total"]


RESEND = [("pv.sets", ("$fs", f"udp:{PUBLIC}:5060")), ("tm.t_set_fr", (30000, 2000)),
          ("tm.t_on_branch", ("branch_to_gateway",)), ("tm.t_on_reply", ("reply_media",)),
          ("tm.t_on_failure", ("failure_from_gateway",)), ("tm.t_relay", ())]


@pytest.mark.parametrize("status", [401, 407])
def test_a_challenge_is_answered_with_the_peers_password_and_resent_to_that_peer(ksr, status):
    challenged(ksr, status)
    make_routes().failure_from_gateway(None)
    assert ksr.actions() == [
        ("pv.sets", (REALM_AVP, "")),  # any realm the peer names
        ("pv.sets", (USERNAME_AVP, "sbc-user")),
        ("pv.sets", (PASSWORD_AVP, "s3cret")),
        ("uac.uac_auth_mode", (0,)),
        ("pv.sets", (ANSWERED_AVP, FAILOVER_DESTINATION)),
        ("setdsturi", (FAILOVER_DESTINATION,)),
        *RESEND,
    ]
    assert peer_auth_counted(ksr) == [("sbc_peer_auth_total", 1, "inbound", "answer")]
    assert ksr.called("tm.t_reply") == [] and ksr.called("dispatcher.ds_next_dst") == []


def test_a_credential_with_a_realm_is_answered_from_its_ha1_for_that_realm_only(ksr):
    challenged(ksr, destination="sip:lk.example.test;transport=tcp")
    make_routes().failure_from_gateway(None)
    assert ksr.actions()[:4] == [("pv.sets", (REALM_AVP, "lk")), ("pv.sets", (USERNAME_AVP, "sbc-lk")),
                                 ("pv.sets", (PASSWORD_AVP, "0" * 32)), ("uac.uac_auth_mode", (1,))]


def test_a_direct_uri_attempt_is_resent_without_a_destination_uri(ksr):
    challenged(ksr, destination="sip:+14155550101@127.0.3.3:5060")
    make_routes().failure_from_gateway(None)
    assert ksr.called("setdsturi") == [] and ksr.called("tm.t_relay") == [()]


def test_a_second_challenge_of_the_same_attempt_fails_over_instead_of_looping(ksr):
    challenged(ksr, answered_for=FAILOVER_DESTINATION, next_domain=1)
    make_routes().failure_from_gateway(None)
    assert ksr.called("uac.uac_auth_mode") == []
    assert ksr.actions()[:2] == [("dispatcher.ds_next_dst", ()), ("seturi", ("sip:+14155550101@127.0.3.3:5060",))]
    assert peer_auth_counted(ksr) == [("sbc_peer_auth_total", 1, "inbound", "refused")]
    assert ksr.called("xhttp_prom.counter_inc_l2")[-1] == ("sbc_failovers_total", 1, "inbound", "407")


def test_the_next_peer_of_a_failover_gets_its_own_answer(ksr):
    challenged(ksr, answered_for="sip:127.0.3.9:5060")
    make_routes().failure_from_gateway(None)
    assert ksr.called("uac.uac_auth_mode") == [(0,)]


@pytest.mark.parametrize("destination,uac,result", [
    ("sip:127.0.3.77:5060", 1, "no credential"),
    ("", 1, "no credential"),
    (FAILOVER_DESTINATION, -1, "not answerable"),  # e.g. the peer's realm is not the credential's
])
def test_a_challenge_that_cannot_be_answered_ends_the_attempt_like_a_failure(ksr, destination, uac, result):
    challenged(ksr, destination=destination)
    ksr.returns["uac.uac_auth_mode"] = uac
    make_routes().failure_from_gateway(None)
    assert ksr.called("tm.t_relay") == [] and ANSWERED_AVP not in ksr.pvs
    assert ksr.called("tm.t_reply") == [(503, "No Gateway Available")]
    assert peer_auth_counted(ksr) == [("sbc_peer_auth_total", 1, "inbound", result)]


def test_a_carrier_challenge_is_answered_on_the_carrier_leg(ksr):
    challenged(ksr, 401)
    make_routes().failure_from_telecom(None)
    assert ksr.actions()[-2:] == [("tm.t_on_failure", ("failure_from_telecom",)), ("tm.t_relay", ())]
    assert peer_auth_counted(ksr) == [("sbc_peer_auth_total", 1, "outbound", "answer")]


def test_a_credential_is_not_answered_from_an_unreachable_db(ksr):
    challenged(ksr)
    routes = make_routes()

    def down(host):
        raise DidSourceError("down")
    routes.svc.credentials = DidCache(down, ttl=60, negative_ttl=10, maxsize=10)
    routes.failure_from_gateway(None)
    assert ksr.called("uac.uac_auth_mode") == [] and ksr.called("tm.t_reply") == [(503, "No Gateway Available")]


def test_a_changed_credential_is_read_again_by_every_process(ksr):
    challenged(ksr)
    routes = make_routes()
    reads = []
    routes.svc.credentials = DidCache(lambda host: reads.append(host) or CREDENTIALS.get(host), ttl=60,
                                  negative_ttl=10, maxsize=10)
    for generation in (None, None, "7"):  # another call's attempt each time; then sbcctl changed a credential
        ksr.pvs.pop(ANSWERED_AVP, None)
        ksr.returns["htable.sht_get"] = lambda table, key, g=generation: g if key == "generation" else None
        routes.failure_from_gateway(None)
        if generation is None:
            assert reads == ["127.0.3.3"]  # then from memory
    assert reads == ["127.0.3.3", "127.0.3.3"]


@pytest.mark.parametrize("uri,host", [
    ("sip:127.0.3.3:5060", "127.0.3.3"), ("sip:+1415@GW.Example.test:5061;transport=tls", "gw.example.test"),
    ("sips:lk.example.test", "lk.example.test"), ("sip:agent@[2001:db8::1]:5060", "[2001:db8::1]"),
    ("", None), ("tel:+1415", None)])
def test_a_peer_is_known_by_the_host_of_its_uri(uri, host):
    assert peer_host(uri) == host


@pytest.mark.parametrize("ruser,why,phrase", [
    ("+19005550100", "premium_rate", "Premium Rate Not Allowed"),
    ("+881612345678", "international_network", "International Network Not Allowed"),
    ("+442071838750", "country", "Destination Country Not Allowed"),
    ("+18762345678", "country", "Destination Country Not Allowed"),
])
def test_outbound_to_a_number_the_tenant_may_not_call_gets_403_a_record_and_a_count(ksr, ruser, why, phrase):
    outbound(ksr)
    ksr.returns["kx.get_ruser"] = ruser
    make_routes().ksr_request_route(None)
    assert ksr.called("tm.t_newtran") == [()] and ksr.called("tm.t_reply") == [(403, phrase)]
    assert ksr.replies() == []  # stateful: its dialog records the call
    assert ksr.called("tm.t_relay") == [] and ksr.called("dispatcher.ds_select_dst") == []
    assert ksr.counted("sbc_policy_refused_total") == [("acme", why)]
    assert ksr.counted("sbc_calls_total") == [("outbound", "acme", "4xx")]
    assert {k: ksr.dlg_vars[k] for k in ("direction", "did", "tenant", "code", "end_reason")} == {
        "direction": "outbound", "did": ruser, "tenant": "acme", "code": "403", "end_reason": f"refused {why}"}


def test_outbound_over_the_carrier_sides_rate_gets_503_whatever_the_tenant_allows(ksr):
    outbound(ksr)
    ksr.returns["htable.sht_inc"] = lambda table, key: 11 if key.startswith("*:") else 1  # OUTBOUND_MAX_CPS 10
    make_routes().ksr_request_route(None)
    assert ksr.replies() == [(503, "Outbound Call Rate Exceeded")]
    assert ksr.counted("sbc_limited_total") == [("outbound", "cps")]


def test_outbound_at_the_carrier_sides_concurrent_calls_gets_503(ksr):
    outbound(ksr)
    ksr.returns["pv.geti"] = lambda name: 100 if name == "$var(outbound_calls)" else 0
    make_routes().ksr_request_route(None)
    assert ksr.replies() == [(503, "Outbound Capacity Reached")]
    assert ksr.counted("sbc_limited_total") == [("outbound", "calls")]


def test_a_tenant_without_limits_of_its_own_gets_the_defaults(ksr):
    outbound(ksr, tenant="beta")  # beta: max_calls and max_cps 0
    ksr.returns["pv.geti"] = lambda name: 10 if name == "$var(tenant_calls)" else 0  # TENANT_MAX_CALLS 10
    make_routes().ksr_request_route(None)
    assert ksr.replies() == [(403, "Tenant Call Limit Reached")]
    assert ksr.counted("sbc_limited_total") == [("tenant", "calls")]


# ---- in-dialog requests only from the dialog's own peer ------------------------------------------------

@pytest.mark.parametrize("src,recorded,names,ok", [
    ("127.0.3.24", "sip:127.0.3.24:5060", [], True),
    ("127.0.3.24", "sip:agent@127.0.3.24:5080;transport=tcp", [], True),
    ("127.0.3.23", "sip:127.0.3.24:5060", [], False),
    ("127.0.7.41", "sip:multi.gw.test:5060", ["multi.gw.test"], True),  # a target of the gateway's name
    ("127.0.7.41", "sip:multi.gw.test:5060", ["other.gw.test"], False),
    ("127.0.7.41", "sips:Multi.GW.test;transport=tls", ["multi.gw.test"], True),
    ("127.0.4.2", "127.0.4.2", [], True),  # an inbound call's source address
    ("127.0.4.3", "127.0.4.2", [], False),
    ("127.0.4.2", "", [], False),
])
def test_a_dialogs_peer_is_its_recorded_address_or_a_target_of_its_name(src, recorded, names, ok):
    assert indialog.is_dialog_peer(src, recorded, lambda ip: names) is ok


def test_an_in_dialog_request_from_another_gateway_is_dropped_before_the_dialog_sees_it(ksr):
    request(ksr, method="BYE", side="public", src="127.0.3.23", totag=True, sdp=False, acl=(2,))
    ksr.dlg_vars["gateway"] = "sip:127.0.3.24:5060"
    make_routes().ksr_request_route(None)
    assert ksr.actions() == []  # no loose_route (the dialog module would end the call), no reply
    assert ksr.counted("sbc_topology_guard_total") == [("in-dialog", "public", "not the dialog's peer")]


def test_an_in_dialog_request_from_a_stranger_on_the_private_side_gets_403(ksr):
    request(ksr, method="BYE", side="private", src="127.0.9.67", totag=True, sdp=False, acl=())
    ksr.dlg_vars["carrier"] = "127.0.4.2"
    make_routes().ksr_request_route(None)
    assert ksr.called("rr.loose_route") == [] and ksr.called("tm.t_relay") == []
    assert ksr.counted("sbc_topology_guard_total") == [("in-dialog", "private", "not the dialog's peer")]


@pytest.mark.parametrize("side,src,acl,var,recorded,gwdns", [
    ("private", "127.0.4.9", (1,), "carrier", "127.0.4.2", None),  # another address of the carrier ACL
    ("public", "127.0.7.41", (2,), "gateway", "sip:multi.gw.test:5060", "multi.gw.test"),
    ("public", "127.0.3.24", (2,), "gateway", "sip:127.0.3.24:5060", None),
])
def test_an_in_dialog_request_from_the_dialogs_peer_is_relayed(ksr, side, src, acl, var, recorded, gwdns):
    request(ksr, method="BYE", side=side, src=src, totag=True, sdp=False, acl=acl)
    ksr.dlg_vars[var] = recorded
    ksr.returns["htable.sht_get"] = lambda table, key: gwdns if table == "gwdns" else None
    make_routes().ksr_request_route(None)
    assert ksr.called("rr.loose_route") == [()] and ksr.called("tm.t_relay") == [()]


# ---- calls sent to one of the SBC's own registered Contacts (sbcctl registration) ---------------

def test_inbound_to_a_registered_contact_is_routed_by_its_to_number(ksr):
    request(ksr, ruser="trunk-1", rhost="127.0.3.1")
    ksr.returns.update({"uac.uac_reg_status": 1, "kx.get_tuser": "4155550101"})
    make_routes().ksr_request_route(None)
    assert ksr.called("uac.uac_reg_status") == [("trunk-1",)]
    assert ("seturi", ("sip:+14155550101@127.0.3.1:5060",)) in ksr.actions()
    assert ksr.called("tm.t_relay") == [()]


@pytest.mark.parametrize("status", [-2, -3, -99])  # registering, disabled, not registered: still its Contact
def test_a_registration_in_any_state_names_its_contact(ksr, status):
    request(ksr, ruser="trunk-1", rhost="127.0.3.1")
    ksr.returns.update({"uac.uac_reg_status": status, "kx.get_tuser": "4155550101"})
    make_routes().ksr_request_route(None)
    assert ksr.called("tm.t_relay") == [()]


@pytest.mark.parametrize("ruser", ["4155550101", "+14155550101"])
def test_a_number_is_never_looked_up_as_a_registration(ksr, ruser):
    request(ksr, ruser=ruser, rhost="127.0.3.1")
    make_routes().ksr_request_route(None)
    assert ksr.called("uac.uac_reg_status") == []


def test_a_name_that_is_no_registration_is_not_replaced_by_the_to(ksr):
    request(ksr, ruser="trunk-1")
    make_routes().ksr_request_route(None)
    assert ksr.replies() == [(484, "Address Incomplete")]


def test_outbound_to_a_registered_contact_is_routed_by_its_to_number(ksr):
    outbound(ksr)
    ksr.returns.update({"kx.get_ruser": "lk-trunk", "uac.uac_reg_status": 1, "kx.get_tuser": "+12125550100"})
    make_routes().ksr_request_route(None)
    assert ("seturi", ("sip:+12125550100@127.0.4.1:5060",)) in ksr.actions()
