"""Each target of a host-named gateway probed on its own (kemi/gateways/gwprobe.py): rounds, states, Kamailio calls."""

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kemi.gateways import gwprobe
from kemi.gateways.hostnames import Target
from tests.unit.test_hostnames import World
from tests.unit.test_routes import make_routes

CODES = "class=2;code=403;code=404;code=405;code=501"
A = Target("lk.test", "udp", "127.0.7.21", 5060)
B = Target("lk.test", "udp", "127.0.7.22", 5060)


@pytest.mark.parametrize("code,alive", [(200, True), (202, True), (403, True), (501, True), (408, False),
                                        (503, False), (500, False), (180, False), (404, True), (604, False)])
def test_an_answer_means_alive_as_ds_ping_reply_codes_says(code, alive):
    assert gwprobe.accepts(CODES, code) is alive


@given(st.text(max_size=40), st.integers(100, 699))
def test_any_reply_codes_setting_is_read_without_a_crash(spec, code):
    assert gwprobe.accepts(spec, code) in (True, False)


def test_down_after_the_threshold_of_misses_in_a_row_up_after_the_threshold_of_answers():
    h = gwprobe.Health(down_after=2, up_after=2)
    assert [h.update("k", False), h.update("k", True), h.update("k", False)] == [None, None, None]
    assert h.update("k", False) == "down" and h.down == {"k"}
    assert h.update("k", False) is None  # told once
    assert [h.update("k", True), h.update("k", True), h.update("k", True)] == [None, "up", None]
    assert h.down == set()


class Probes:
    """The timer's world: targets DNS gives, what each answers, the blocklist, dispatcher's rows."""

    def __init__(self, targets, down_after=2, up_after=1, rows=()):
        self.current = list(targets)
        self.rows = list(rows)
        self.states: list[tuple[str, int, str]] = []
        self.row_events: list[tuple[str, int, str]] = []
        self.answers: dict[str, int | None] = {}
        self.sent: list[str] = []
        self.blocked: set[str] = set()
        self.events: list[tuple[str, str, int | None]] = []
        self.covered: list[str] = []
        self.prober = gwprobe.Prober(lambda: self.current, gwprobe.Health(down_after, up_after),
                                     lambda code: gwprobe.accepts(CODES, code), lambda t: self.sent.append(t.key),
                                     self.answers.get, lambda t: self.blocked.add(t.key), self.blocked.clear,
                                     lambda change, t, code: self.events.append((change, t.key, code)),
                                     lambda: self.rows, lambda *a: self.states.append(a),
                                     lambda *a: self.row_events.append(a), self.covered.append)

    def rounds(self, n=1):
        for _ in range(n):
            self.prober()


def test_every_target_is_probed_each_round_and_a_silent_one_is_blocklisted_after_the_threshold():
    p = Probes([A, B])
    p.answers[A.key] = 200
    p.rounds()
    assert p.sent == [A.key, B.key] and p.events == []  # the first round only sends
    p.rounds()
    assert p.events == [] and p.blocked == set()  # B missed once
    p.rounds()
    assert p.events == [("down", B.key, None)] and p.blocked == {B.key}
    p.rounds(3)
    assert p.events == [("down", B.key, None)] and p.blocked == {B.key}  # renewed, told once
    assert p.sent.count(B.key) == 6  # a down target is still probed: that is how it comes back


def test_a_target_answering_again_is_unblocked_and_the_others_down_stay_blocked():
    c = Target("lk.test", "udp", "127.0.7.23", 5060)
    p = Probes([A, B, c])
    p.answers[A.key] = 200
    p.rounds(3)
    assert p.blocked == {B.key, c.key}
    p.answers[B.key] = 200
    p.rounds()
    assert p.events[-1] == ("up", B.key, 200) and p.blocked == {c.key}


def test_a_wrong_answer_counts_as_none_and_is_told_with_its_code():
    p = Probes([A])
    p.answers[A.key] = 503
    p.rounds(3)
    assert p.events == [("down", A.key, 503)]


def test_a_name_whose_targets_are_all_down_is_left_to_dispatcher_not_blocklisted():
    p = Probes([A, B])
    p.rounds(3)
    assert {e[1] for e in p.events} == {A.key, B.key} and p.blocked == set()  # tm would refuse the relay


def test_when_the_last_answering_target_goes_down_the_others_come_off_the_blocklist():
    p = Probes([A, B])
    p.answers[A.key] = 200
    p.rounds(3)
    assert p.blocked == {B.key}
    p.answers[A.key] = None
    p.blocked.add("stale")  # what unblock_all empties
    p.rounds(2)
    assert p.events[-1] == ("down", A.key, None) and p.blocked == set()


def test_a_target_two_names_share_is_probed_once_and_blocklisted_only_if_both_names_have_another():
    other = Target("other.test", "udp", B.ip, B.port)
    p = Probes([A, B, other])
    p.answers[A.key] = 200
    p.rounds(3)
    assert p.sent.count(B.key) == 3 and p.blocked == set()  # other.test has no target answering
    assert gwprobe.blockable([A, B, other, Target("other.test", "udp", "127.0.7.99", 5060)], {B.key}) == {B.key}


def test_a_target_dns_no_longer_gives_is_forgotten():
    p = Probes([A, B])
    p.answers[A.key] = 200
    p.rounds(3)
    assert p.blocked == {B.key}
    p.current = [A]
    p.rounds()
    assert p.prober.health.down == set() and p.sent[-1] == A.key


def test_the_resolver_gives_each_target_with_the_port_tm_would_use():
    w = World()
    w.srv_records["_sip._udp.lk.test"] = [("edge-1.lk.test", 5070), ("edge-2.lk.test", 5071)]
    w.a_records.update({"edge-1.lk.test": ["127.0.7.21"], "edge-2.lk.test": ["127.0.7.22", "127.0.7.23"],
                        "tls.test": ["127.0.7.80"], "tcp.test": ["127.0.7.90"]})
    r = w.resolver()
    r.refresh(["sip:lk.test", "sip:tls.test;transport=tls", "sip:tcp.test:5080;transport=tcp"])
    assert r.targets() == [Target("lk.test", "udp", "127.0.7.21", 5070), Target("lk.test", "udp", "127.0.7.22", 5071),
                           Target("lk.test", "udp", "127.0.7.23", 5071), Target("tcp.test", "tcp", "127.0.7.90", 5080),
                           Target("tls.test", "tls", "127.0.7.80", 5061)]
    w.a_records["tls.test"] = None  # stops resolving: its last targets are still probed
    r.refresh(["sip:tls.test;transport=tls"])
    assert r.targets() == [Target("tls.test", "tls", "127.0.7.80", 5061)]


def test_one_name_in_two_rows_over_two_transports_is_resolved_and_probed_for_each():
    """A provider over TLS first and UDP as its backup, by the same name: each row's own SRV and targets."""
    w = World()
    w.srv_records["_sips._tcp.lk.test"] = [("tls-edge.lk.test", 5061)]
    w.a_records.update({"tls-edge.lk.test": ["127.0.7.81"], "lk.test": ["127.0.7.21"]})
    r = w.resolver()
    r.refresh(["sip:lk.test;transport=tls", "sip:lk.test"])
    assert r.targets() == [Target("lk.test", "tls", "127.0.7.81", 5061), Target("lk.test", "udp", "127.0.7.21", 5060)]
    assert w.table == {"127.0.7.81": "lk.test", "127.0.7.21": "lk.test"}
    rows = [(1, "sip:lk.test;transport=tls", 0), (3, "sip:lk.test", 0)]
    p = Probes(r.targets(), rows=rows)
    p.answers[Target("lk.test", "udp", "127.0.7.21", 5060).key] = 200  # the TLS target answers nothing
    p.rounds(3)
    assert p.covered[:2] == ["tls:lk.test", "udp:lk.test"]
    assert p.states[-2:] == [("ip", 1, "sip:lk.test;transport=tls"), ("ap", 3, "sip:lk.test")]
    r.refresh(["sip:lk.test"])  # the TLS row removed: its targets are forgotten, the UDP row's kept
    assert r.targets() == [Target("lk.test", "udp", "127.0.7.21", 5060)] and w.table == {"127.0.7.21": "lk.test"}


def test_a_rows_state_is_set_from_its_targets_every_round_and_told_on_change():
    tls = [Target("pool.test", "tls", "127.0.7.61", 5061), Target("pool.test", "tls", "127.0.7.62", 5061)]
    rows = [(1, "sip:pool.test;transport=tls", 0), (2, "sip:lk.test", 0), (3, "sip:off.test;transport=tls", 4),
            (2, "sip:lk.test;transport=tcp", 0), (3, "sip:127.0.7.9", 0), (1, "sip:gone.test", 0)]
    p = Probes([*tls, A, Target("off.test", "tls", "127.0.7.70", 5061)], rows=rows)
    p.rounds()
    assert p.states == []  # nothing known yet: dispatcher keeps what it has
    p.answers[tls[1].key] = 200
    p.answers[A.key] = 200
    p.rounds()
    assert p.states == [("ap", 1, "sip:pool.test;transport=tls"), ("ap", 2, "sip:lk.test")]
    assert p.row_events == []  # dispatcher took the new rows as up
    p.rounds(2)
    assert p.states[-2:] == [("ap", 1, "sip:pool.test;transport=tls"), ("ap", 2, "sip:lk.test")]
    assert len(p.states) == 6  # again each round
    p.answers[tls[1].key] = None
    p.rounds(2)
    assert p.states[-2] == ("ip", 1, "sip:pool.test;transport=tls")
    assert p.row_events == [("down", 1, "sip:pool.test;transport=tls")]
    p.answers[tls[0].key] = 200
    p.rounds()
    assert p.row_events[-1] == ("up", 1, "sip:pool.test;transport=tls")
    # dispatcher's: a name probed over another transport, an address, a name that never resolved;
    # a disabled row is never touched
    assert {uri for _, _, uri in p.states} == {"sip:pool.test;transport=tls", "sip:lk.test"}


def test_the_names_probed_here_are_marked_every_round_so_that_dispatchers_probes_of_them_are_dropped():
    tcp = Target("lk.test", "tcp", "127.0.7.21", 5060)
    p = Probes([A, B, tcp])
    p.rounds(2)
    assert p.covered == ["tcp:lk.test", "udp:lk.test"] * 2  # renewed: an entry not renewed expires
    p.current = [tcp]  # the UDP gateway removed from its set: its mark expires, dispatcher probes it again
    p.rounds()
    assert p.covered[4:] == ["tcp:lk.test"]


def test_a_row_state_follows_its_targets():
    h = gwprobe.Health(1, 1)
    assert gwprobe.row_state({"a", "b"}, h) is None and gwprobe.row_state(set(), h) is None
    h.update("a", False)
    assert gwprobe.row_state({"a", "b"}, h) is None  # b unknown
    h.update("b", False)
    assert gwprobe.row_state({"a", "b"}, h) == "ip"
    h.update("b", True)
    assert gwprobe.row_state({"a", "b"}, h) == "ap"
    h.update("a", True)
    h.update("a", False)
    assert "a" not in h.up and "a" in h.down


# ---- Kamailio's side ------------------------------------------------------------------------------

def test_a_probe_is_an_options_to_the_target_naming_the_gateway_with_its_answer_routed_back(ksr):
    send = gwprobe.ksr_send(lambda transport: f"{transport}:127.0.2.1:5061")
    send(Target("ua.tls.test", "tls", "127.0.7.80", 5061))
    assert ksr.calls == [
        ("htable.sht_rm", ("gwprobe", "tls:127.0.7.80:5061")),
        ("pv.unset", ("$xavp(tls)",)),
        ("pv.sets", ("$xavp(tls=>server_name)", "ua.tls.test")),  # the SNI of the connection it opens
        ("pv.unset", ("$uac_req(all)",)),
        ("pv.sets", ("$uac_req(method)", "OPTIONS")),
        ("pv.sets", ("$uac_req(ruri)", "sip:ua.tls.test;transport=tls")),
        ("pv.sets", ("$uac_req(furi)", "sip:keepalive@sbc.invalid")),
        ("pv.sets", ("$uac_req(turi)", "sip:ua.tls.test;transport=tls")),
        ("pv.sets", ("$uac_req(ouri)", "sip:127.0.7.80:5061;transport=tls")),
        ("pv.sets", ("$uac_req(sock)", "tls:127.0.2.1:5061")),
        ("pv.sets", ("$uac_req(evparam)", "tls:127.0.7.80:5061")),
        ("pv.seti", ("$uac_req(evroute)", 1)),
        ("uac.uac_req_send", ()),
        ("pv.unset", ("$uac_req(all)",)),
    ]


def test_a_udp_probe_asks_no_sni_and_a_failed_send_is_logged(ksr):
    ksr.returns["uac.uac_req_send"] = -1
    gwprobe.ksr_send(lambda transport: "udp:127.0.2.1:5060")(A)
    assert not any(name == "pv.sets" and args[0].startswith("$xavp") for name, args in ksr.calls)
    assert ("pv.sets", ("$uac_req(ruri)", "sip:lk.test")) in ksr.calls
    assert "probe to udp:127.0.7.21:5060 not sent" in ksr.logged()


def test_the_answer_is_kept_for_the_next_round_by_whichever_process_got_it(ksr):
    ksr.pvs.update({"$uac_req(evparam)": "udp:127.0.7.21:5060", "$uac_req(evcode)": 200})
    assert make_routes().ksr_uac_reply(None, "uac:reply") == 1
    assert ksr.calls[-2:] == [("pv.unset", ("$uac_req(all)",)),  # nothing of it stays in this process
                              ("htable.sht_seti", ("gwprobe", "udp:127.0.7.21:5060", 200))]


def test_an_answer_without_our_key_is_ignored_and_a_crash_is_contained(ksr):
    ksr.pvs.update({"$uac_req(evparam)": "something else", "$uac_req(evcode)": 200})
    make_routes().ksr_uac_reply(None, "uac:reply")
    assert not any(name == "htable.sht_seti" for name, _ in ksr.calls)
    ksr.returns["pv.get"] = lambda name: 1 / 0
    assert make_routes().ksr_uac_reply(None, "uac:reply") == 1
    assert "gateway probe answer" in ksr.logged()


def test_the_last_answer_is_read_as_a_code_or_none(ksr):
    ksr.returns["htable.sht_get"] = lambda table, key: 200 if key == A.key else None
    assert gwprobe.ksr_answer(A.key) == 200 and gwprobe.ksr_answer(B.key) is None


def test_down_goes_on_the_blocklist_as_administratively_prohibited_and_up_empties_it(ksr):
    gwprobe.ksr_block(Target("t.test", "tcp", "127.0.7.90", 5080))
    gwprobe.ksr_unblock_all()
    sent = [json.loads(args[0]) for name, args in ksr.calls if name == "jsonrpcs.exec"]
    assert [(r["method"], r["params"]) for r in sent] == [("dst_blocklist.add", ["127.0.7.90", 5080, 2, 64]),
                                                          ("dst_blocklist.delete_all", [])]


def test_a_change_is_logged_and_counted(ksr):
    gwprobe.told("down", B, None)
    gwprobe.told("up", B, 200)
    assert "gateway target down: lk.test udp:127.0.7.22:5060 (no answer)" in ksr.logged()
    assert "gateway target up: lk.test udp:127.0.7.22:5060 (answered 200)" in ksr.logged()
    assert [args for name, args in ksr.calls if name == "xhttp_prom.counter_inc_l1"] == [
        ("sbc_gateway_target_total", 1, "down"), ("sbc_gateway_target_total", 1, "up")]


def test_a_row_state_goes_to_dispatcher_by_rpc_and_a_change_is_logged(ksr):
    gwprobe.ksr_set_state("ip", 1, "sip:pool.test;transport=tls")
    sent = [json.loads(args[0]) for name, args in ksr.calls if name == "jsonrpcs.exec"]
    assert [(r["method"], r["params"]) for r in sent] == [
        ("dispatcher.set_state", ["ip", 1, "sip:pool.test;transport=tls"])]
    gwprobe.told_row("down", 1, "sip:pool.test;transport=tls")
    assert "gateway sip:pool.test;transport=tls (set 1) down: no target of its name answers" in ksr.logged()


@pytest.mark.parametrize("method,evparam,ruri,dropped", [
    ("OPTIONS", None, "sip:pool.test;transport=tls", True),  # dispatcher's probe of a name we probe
    ("OPTIONS", None, "sip:lk.test", True),
    ("OPTIONS", None, "sip:new.test;transport=tls", True),  # not probed yet: its connection would ask no SNI
    ("OPTIONS", "tls:127.0.7.61:5061", "sip:pool.test;transport=tls", False),  # ours, being sent
    ("OPTIONS", None, "sip:lk.test;transport=tcp", False),  # the name, over a transport we do not probe
    ("OPTIONS", None, "sip:carrier.test", False),  # a name outside the gateway sets
    ("OPTIONS", None, "sip:127.0.7.60:5061;transport=tls", False),  # an address: dispatcher's
    ("BYE", None, "sip:gw@pool.test;transport=tls", False),
])
def test_dispatchers_probe_of_a_name_probed_target_by_target_is_dropped_before_it_leaves(
        ksr, method, evparam, ruri, dropped):
    probed = {"tls:pool.test", "udp:lk.test"}
    ksr.returns.update({"kx.get_method": method, "kx.get_ruri": ruri, "siputils.has_totag": -1,
                        "htable.sht_get": lambda table, key: 1 if table == "gwnames" and key in probed else None})
    ksr.pvs["$uac_req(evparam)"] = evparam
    assert gwprobe.probe_dropped() is dropped
    result = make_routes().ksr_tm_event(None, "tm:local-request")
    assert (result == 0 and ("set_drop", ()) in ksr.calls) is dropped


def test_a_name_probed_here_is_marked_for_every_process(ksr):
    gwprobe.ksr_cover("udp:lk.test")
    assert ksr.calls == [("htable.sht_seti", ("gwnames", "udp:lk.test", 1))]
