"""Host-named gateways (kemi/gateways/hostnames.py): which names are asked, what the htable holds, outages."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kemi.access import peers
from kemi.gateways import hostnames
from sbclib import policy
from sbclib.policy import Named
from tests.unit.test_routes import make_routes

VAPI = "sip:66e592d6-d690-45bb-8996-18215af542d0.sip.vapi.ai"
LIVEKIT = "sip:3i5bvr312d9.sip.livekit.cloud;transport=tcp"


@pytest.mark.parametrize("uri,expected", [
    (VAPI, Named("66e592d6-d690-45bb-8996-18215af542d0.sip.vapi.ai", None, "udp")),
    (LIVEKIT, Named("3i5bvr312d9.sip.livekit.cloud", None, "tcp")),
    ("sip:SIP.Unpod.TEL:5080", Named("sip.unpod.tel", 5080, "udp")),
    ("sips:gw.example.net", Named("gw.example.net", None, "tls")),
    ("sip:127.0.3.1:5060", None),
    ("sip:127.0.3.1", None),
    ("not a uri", None),
    ("", None),
])
def test_a_gateway_uri_names_a_host_or_not(uri, expected):
    assert policy.named(uri) == expected


@pytest.mark.parametrize("uri,srv", [
    (VAPI, "_sip._udp.66e592d6-d690-45bb-8996-18215af542d0.sip.vapi.ai"),
    (LIVEKIT, "_sip._tcp.3i5bvr312d9.sip.livekit.cloud"),
    ("sips:gw.example.net", "_sips._tcp.gw.example.net"),
    ("sip:sip.unpod.tel:5080", None),  # a port: A records only (RFC 3263)
])
def test_the_srv_name_asked_follows_the_transport_and_only_without_a_port(uri, srv):
    target = policy.named(uri)
    assert hostnames.lookups(target) == (srv, target.host)


@given(st.text(max_size=80))
def test_any_text_in_the_destination_column_is_a_name_or_none_never_a_crash(text):
    for uri in (text, f"sip:{text}", f"sip:{text};transport=tcp"):
        found = policy.named(uri)
        assert found is None or (found.host and found.transport)


class World:
    """DNS answers and the htable, as the resolver sees them."""

    def __init__(self):
        self.srv_records: dict[str, list[tuple[str, int]] | None] = {}
        self.a_records: dict[str, list[str] | None] = {}
        self.table: dict[str, str] = {}
        self.asked: list[str] = []
        self.told: list[tuple[str, str]] = []

    def srv(self, name):
        self.asked.append(name)
        return self.srv_records.get(name, [])

    def a(self, name):
        self.asked.append(name)
        return self.a_records.get(name)

    def resolver(self):
        def remove(address):
            del self.table[address]
        return hostnames.Resolver(self.srv, self.a, self.table.__setitem__, remove, lambda: dict(self.table),
                                  lambda outcome, detail: self.told.append((outcome, detail)),
                                  lambda: self.told.append(("reload", "")))


def test_addresses_come_from_srv_targets_or_the_names_own_a_records():
    w = World()
    w.srv_records["_sip._tcp.3i5bvr312d9.sip.livekit.cloud"] = [("edge-1.lk.test", 5070), ("edge-2.lk.test", 5070)]
    w.a_records.update({"edge-1.lk.test": ["127.0.7.21"], "edge-2.lk.test": ["127.0.7.22", "127.0.7.23"],
                        "66e592d6-d690-45bb-8996-18215af542d0.sip.vapi.ai": ["127.0.7.11"]})
    r = w.resolver()
    r.refresh([VAPI, LIVEKIT, "sip:127.0.3.1:5060"])
    assert w.table == {"127.0.7.11": "66e592d6-d690-45bb-8996-18215af542d0.sip.vapi.ai",
                       "127.0.7.21": "3i5bvr312d9.sip.livekit.cloud", "127.0.7.22": "3i5bvr312d9.sip.livekit.cloud",
                       "127.0.7.23": "3i5bvr312d9.sip.livekit.cloud"}
    assert "127.0.3.1" not in w.asked  # an address is not looked up
    assert [o for o, _ in w.told] == ["changed", "changed"]


def test_a_dns_change_replaces_the_address_and_a_removed_gateway_is_forgotten():
    w = World()
    w.a_records[policy.named(VAPI).host] = ["127.0.7.11"]
    w.a_records["sip.unpod.tel"] = ["127.0.7.31"]
    r = w.resolver()
    r.refresh([VAPI, "sip:sip.unpod.tel:5060"])
    w.a_records[policy.named(VAPI).host] = ["127.0.7.12"]
    w.told.clear()
    r.refresh([VAPI])
    assert w.table == {"127.0.7.12": policy.named(VAPI).host}
    assert w.told == [("changed", f"{policy.named(VAPI).host}: 127.0.7.12")]
    w.told.clear()
    r.refresh([VAPI])
    assert w.told == []  # unchanged: nothing said


def test_a_name_that_stops_resolving_keeps_its_last_addresses_and_is_reported_once():
    w = World()
    host = policy.named(VAPI).host
    w.a_records[host] = ["127.0.7.11"]
    r = w.resolver()
    r.refresh([VAPI])
    w.told.clear()
    w.a_records[host] = None  # the DNS server stopped answering
    for _ in range(3):
        r.refresh([VAPI])
    assert w.table == {"127.0.7.11": host}
    assert w.told == [("failed", host)]
    w.a_records[host] = ["127.0.7.11"]
    r.refresh([VAPI])
    assert w.told == [("failed", host), ("reload", "")]  # back, unchanged (a reload meanwhile left it out)


def test_a_name_never_resolved_is_reported_unresolved_and_admits_nobody():
    w = World()
    w.resolver().refresh([VAPI])
    assert w.table == {} and w.told == [("unresolved", policy.named(VAPI).host)]


def test_a_name_resolving_after_failing_reloads_dispatcher_once_which_had_left_its_row_out():
    w = World()
    host = policy.named(VAPI).host
    r = w.resolver()
    r.refresh([VAPI, "sip:b.test:5060"])  # neither resolves (as when dispatcher loaded)
    w.a_records.update({host: ["127.0.7.11"], "b.test": ["127.0.7.2"]})
    w.told.clear()
    r.refresh([VAPI, "sip:b.test:5060"])
    assert [o for o, _ in w.told] == ["changed", "changed", "reload"]
    w.told.clear()
    r.refresh([VAPI, "sip:b.test:5060"])
    assert w.told == []  # resolved all along: no reload


def test_one_name_failing_does_not_touch_the_others():
    w = World()
    w.a_records.update({"a.test": ["127.0.7.1"], "b.test": ["127.0.7.2"]})
    r = w.resolver()
    r.refresh(["sip:a.test:5060", "sip:b.test:5060"])
    w.a_records["a.test"] = None
    w.a_records["b.test"] = ["127.0.7.3"]
    r.refresh(["sip:a.test:5060", "sip:b.test:5060"])
    assert w.table == {"127.0.7.1": "a.test", "127.0.7.3": "b.test"}


def test_a_name_with_many_addresses_is_capped():
    w = World()
    w.a_records["many.test"] = [f"127.0.8.{i}" for i in range(100)]
    w.resolver().refresh(["sip:many.test:5060"])
    assert len(w.table) == hostnames.MAX_ADDRESSES


# ---- the SIP workers' side ------------------------------------------------------------------------

def test_a_public_request_from_a_resolved_address_is_a_gateways(ksr):
    ksr.returns["permissions.allow_source_address"] = -1
    ksr.returns["dispatcher.ds_is_from_list_mode"] = -1
    ksr.returns["htable.sht_get"] = lambda table, key: "sip.unpod.tel" if (table, key) == ("gwdns", "127.0.7.31") \
        else None
    assert peers.is_public_gateway(make_routes().svc.settings, "127.0.7.31") is True
    assert peers.is_public_gateway(make_routes().svc.settings, "127.0.7.32") is False


def test_the_timer_hands_its_work_to_the_resolver_and_survives_a_crash(ksr):
    calls = []
    routes = make_routes()
    routes.svc.gateway_dns = lambda: calls.append(1)
    assert routes.ksr_gateway_dns(None) == 1 and calls == [1]
    routes.svc.gateway_dns = lambda: 1 / 0
    assert routes.ksr_gateway_dns(None) == 1
    assert "gateway dns" in ksr.logged()


def test_ksr_lookups_read_ipops_results(ksr):
    ksr.pvs.update({"$srvquery(gw=>count)": 2, "$srvquery(gw=>target[0])": "edge-1.lk.test",
                    "$srvquery(gw=>port[0])": 5070, "$srvquery(gw=>target[1])": "edge-2.lk.test",
                    "$srvquery(gw=>port[1])": 5071, "$dns(gw=>count)": 1, "$dns(gw=>addr[0])": "127.0.7.21"})
    assert hostnames.ksr_srv("_sip._tcp.x") == [("edge-1.lk.test", 5070), ("edge-2.lk.test", 5071)]
    assert hostnames.ksr_a("edge-1.lk.test") == ["127.0.7.21"]
    ksr.returns["ipops.dns_query"] = -4
    assert hostnames.ksr_a("gone.test") is None
    assert ("ipops.srv_query", ("_sip._tcp.x", "gw")) in ksr.calls



def test_the_timer_resolves_at_once_after_a_start_then_once_per_interval():
    now, runs = [100.0], []
    paced = hostnames.Paced(lambda: runs.append(now[0]), 10, clock=lambda: now[0])
    for t in (100.0, 101.0, 109.9, 110.0, 111.0, 120.5):
        now[0] = t
        paced()
    assert runs == [100.0, 110.0, 120.5]


def test_an_entry_the_resolver_did_not_write_is_removed_at_its_next_round():
    """A forged bus message (or a hand-made entry) naming an address as a gateway's does not outlive a round."""
    w = World()
    w.a_records[policy.named(VAPI).host] = ["127.0.7.11"]
    r = w.resolver()
    r.refresh([VAPI])
    w.table["127.0.9.99"] = "evil.example"  # written behind the resolver's back
    w.table["127.0.7.11"] = "other.example"
    r.refresh([VAPI])
    assert w.table == {"127.0.7.11": policy.named(VAPI).host}
