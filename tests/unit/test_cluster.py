"""A pair of nodes (kemi/state/cluster.py, settings): the bus admits KDMQ from the other node only, a call adopted
from a lost node gets its record written where it ends, and what the settings refuse."""

import pytest

from kemi.state import cluster
from kemi.topology import egress
from sbclib import settings
from stack import services
from tests.unit.test_routes import make_routes

PAIR = {"NODE_IP": "127.0.8.11", "PEER_NODE_IP": "127.0.8.12"}
NODE, PEER = PAIR["NODE_IP"], PAIR["PEER_NODE_IP"]


def bus_request(ksr, method="KDMQ", src=PEER, known=-1, rcv_ip=NODE, rcv_port="5090", peer="dialog", body="{}"):
    ksr.returns.update({"kx.get_method": method, "kx.get_srcip": src, "kx.get_rcvip": rcv_ip,
                        "kx.get_rcvport": rcv_port, "dmq.is_from_node": known, "kx.get_ruser": peer,
                        "kx.get_body": body})


@pytest.mark.parametrize("peer,body", [
    ("htable", '{"action":1,"htname":"tenantcps","cname":"acme:1","type":0,"intval":1,"mode":0}'),
    ("htable", '{"action":1,"htname":"ipban","cname":"127.0.9.9","type":0,"intval":1,"mode":0}'),
    ("htable", '{"action":5,"cells":[{"htname":"sbcstate","cname":"generation","type":0,"intval":7,"expire":0}]}'),
    ("htable", '{"action":5}'),  # a node asking for the shared tables at start
    ("dialog", '{"action":1,"h_entry":1,"h_id":2}'),
    ("notification_peer", ""),
])
def test_what_the_pair_replicates_goes_to_dmq(ksr, peer, body):
    bus_request(ksr, peer=peer, body=body)
    make_routes(**PAIR).ksr_request_route(None)
    assert ksr.actions() == [("dmq.handle_message", ())]


@pytest.mark.parametrize("peer,body,reason", [
    ("htable", '{"action":1,"htname":"gwdns","cname":"127.0.9.9","type":1,"strval":"gw.test","mode":0}',
     "htable: not a shared table"),
    ("htable", '{"action":5,"cells":[{"htname":"sbcstate","cname":"g","type":0,"intval":1},'
               '{"htname":"gwprobe","cname":"k","type":0,"intval":1}]}', "htable: not a shared table"),
    ("htable", '{"action":1,"htname":"mediawatch","cname":"call","type":1,"strval":"x"}', "htable: not a shared table"),
    ("htable", "not json", "htable: unreadable"),
    ("htable", '["ipban"]', "htable: unreadable"),
    ("htable", '{"cells":["ipban"]}', "htable: unreadable"),
    ("usrloc", '{"action":1}', "not a replicated peer"),
])
def test_a_write_the_pair_does_not_replicate_is_dropped_even_from_the_other_node(ksr, peer, body, reason):
    """htable's DMQ handler writes whatever table a message names: a forged one from the peer's address would
    make any address a gateway's (gwdns) or end calls (mediawatch)."""
    bus_request(ksr, peer=peer, body=body)
    make_routes(**PAIR).ksr_request_route(None)
    assert ksr.actions() == []
    assert ksr.counted("sbc_topology_guard_total") == [("ingress", "bus", reason)]


def test_the_shared_tables_are_those_defined_with_dmqreplicate():
    assert settings.load(PAIR).replicated_tables() == ("ipban", "tenantcps", "sbcstate", "gwload", "topos_dialog")
    assert settings.load({}).replicated_tables() == ()


def test_topos_dialogs_are_kept_by_the_other_node_in_a_pair_and_through_the_db_alone():
    """Kamailio 6.0's topos state (topos_htable): what survives a graceful restart, in each setting."""
    alone, pair = settings.load({}).kamailio_env(), settings.load(PAIR).kamailio_env()
    assert alone["TOPOS_DIALOG_HTABLE"] == "topos_dialog=>size=14;autoexpire=87000;dbtable=topos_dialog;dbmode=1;"
    assert pair["TOPOS_DIALOG_HTABLE"] == "topos_dialog=>size=14;autoexpire=87000;dmqreplicate=1;"
    assert alone["TOPOS_BRANCH_HTABLE"] == pair["TOPOS_BRANCH_HTABLE"] == "topos_branch=>size=14;autoexpire=180;"


def test_kdmq_from_the_other_node_goes_to_dmq(ksr):
    bus_request(ksr)
    make_routes(**PAIR).ksr_request_route(None)
    assert ksr.actions() == [("dmq.handle_message", ())]
    assert ksr.called("dmq.is_from_node") == []  # the configured peer needs no lookup


def test_kdmq_from_a_node_the_bus_already_knows_goes_to_dmq(ksr):
    bus_request(ksr, src="127.0.8.13", known=1)
    make_routes(**PAIR).ksr_request_route(None)
    assert ksr.actions() == [("dmq.handle_message", ())]


@pytest.mark.parametrize("method,src,reason", [
    ("KDMQ", "127.0.8.66", "not a node"),
    ("INVITE", PEER, "not KDMQ"),
    ("OPTIONS", "127.0.8.66", "not KDMQ"),
])
def test_anything_else_on_the_bus_is_dropped_in_silence_and_counted(ksr, method, src, reason):
    bus_request(ksr, method=method, src=src)
    make_routes(**PAIR).ksr_request_route(None)
    assert ksr.actions() == []  # no reply, no relay, no DMQ
    assert ksr.counted("sbc_topology_guard_total") == [("ingress", "bus", reason)]


def test_a_single_sbc_has_no_bus(ksr):
    bus_request(ksr, rcv_ip="127.0.0.1", rcv_port="9494")
    make_routes().ksr_request_route(None)
    assert ksr.called("dmq.handle_message") == []
    assert not cluster.on_bus(settings.load({}), NODE, "5090")


def test_a_node_names_itself_by_address_and_start(monkeypatch):
    monkeypatch.setenv("SERVER_ID", "4711")
    assert cluster.identity(settings.load(PAIR)) == f"{NODE}/4711"
    assert cluster.identity(settings.load({})) == ""
    assert cluster.adopted(f"{PEER}/1", f"{NODE}/4711")
    assert not cluster.adopted(f"{NODE}/4711", f"{NODE}/4711")
    assert not cluster.adopted(f"{NODE}/4710", "")  # a single SBC adopts nothing
    assert not cluster.adopted("", f"{NODE}/4711")  # a call from before the pair: acc has it


def adopted_call(ksr, owner, code="200"):
    ksr.dlg_vars.update({"node": owner, "call_id": "c-1", **({"code": code} if code else {})})
    ksr.returns["pv.geti"] = lambda name: 1795800000 if name == "$dlg(start_ts)" else 0
    ksr.returns["pv.get"] = lambda name: (f"'{name[10:name.index(')')]}'" if name.startswith("$(dlg_var(")
                                          else ksr.dlg_vars.get(name[9:-1]))


def test_an_adopted_call_gets_its_record_where_it_ends(ksr, monkeypatch):
    monkeypatch.setenv("SERVER_ID", "2")
    monkeypatch.setattr(cluster.time, "time", lambda: 1795800090.5)
    adopted_call(ksr, f"{PEER}/1")
    cluster.call_ended(settings.load(PAIR))
    [(connection, query)] = ksr.called("sqlops.sql_query_async")
    assert connection == "cdr"
    assert query == (
        "INSERT INTO sbc_cdr (setup_time, direction, did, tenant, gateway, carrier, call_id, end_reason, gw_group, "
        "code, answer_time, end_time, duration) VALUES ('setup_time', 'direction', 'did', 'tenant', 'gateway', "
        "'carrier', 'call_id', 'end_reason', 'group', 'code', "
        f"'{cluster.records.db_time(1795800000)}', '{cluster.records.db_time(1795800090.5)}', 90.500)")


def test_an_adopted_call_whose_answer_was_not_replicated_is_recorded_as_answered(ksr, monkeypatch):
    monkeypatch.setenv("SERVER_ID", "2")
    adopted_call(ksr, f"{PEER}/1", code=None)
    cluster.call_ended(settings.load(PAIR))
    [(_, query)] = ksr.called("sqlops.sql_query_async")
    assert "'group', '200', '" in query  # only confirmed dialogs end with dialog:end


@pytest.mark.parametrize("owner", [f"{NODE}/2", ""])
def test_a_call_made_here_is_left_to_acc(ksr, monkeypatch, owner):
    monkeypatch.setenv("SERVER_ID", "2")
    adopted_call(ksr, owner)
    cluster.call_ended(settings.load(PAIR))
    assert ksr.called("sqlops.sql_query_async") == []


@pytest.mark.parametrize("env,field", [
    ({"PEER_NODE_IP": PEER}, "PEER_NODE_IP"),
    ({"NODE_IP": "127.0.1.1"}, "NODE_IP"),  # a service address moves; the node's own does not
    ({"NODE_IP": NODE, "PEER_NODE_IP": NODE}, "PEER_NODE_IP"),
    ({"NODE_IP": "node-a"}, "NODE_IP"),
    ({**PAIR, "DMQ_PORT": "0"}, "DMQ_PORT"),
    ({**PAIR, "MEDIA_REDIS_DB": "1"}, "PEER_MEDIA_REDIS_DB"),
    ({**PAIR, "PEER_MEDIA_REDIS_DB": "2"}, "MEDIA_REDIS_DB"),
    ({**PAIR, "MEDIA_REDIS_DB": "1", "PEER_MEDIA_REDIS_DB": "1"}, "PEER_MEDIA_REDIS_DB"),
    ({**PAIR, "MEDIA_REDIS_DB": "16", "PEER_MEDIA_REDIS_DB": "2"}, "MEDIA_REDIS_DB"),
    ({"MEDIA_REDIS_DB": "1", "PEER_MEDIA_REDIS_DB": "2"}, "MEDIA_REDIS_DB"),
    ({"REDIS_PASSWORD": "a;b"}, "REDIS_PASSWORD"),
    ({"REDIS_PASSWORD": "a b"}, "REDIS_PASSWORD"),
])
def test_pair_settings_refused_name_their_field(env, field):
    with pytest.raises(settings.ConfigError) as refused:
        settings.load(env)
    assert refused.value.field == field


def test_a_node_tells_kamailio_its_bus_and_shares_its_htables():
    env = settings.load({**PAIR, "DMQ_PORT": "5091"}).kamailio_env()
    assert (env["DMQ_SERVER"], env["DMQ_NOTIFY"]) == (f"sip:{NODE}:5091", f"sip:{PEER}:5091")
    assert all(env[name].endswith(";dmqreplicate=1;")
               for name in ("IPBAN_HTABLE", "TENANTCPS_HTABLE", "SBCSTATE_HTABLE"))
    alone = settings.load({"NODE_IP": NODE}).kamailio_env()
    assert alone["DMQ_NOTIFY"] == f"sip:{NODE}:5090"  # the first node: the others announce themselves
    single = settings.load({}).kamailio_env()
    assert "DMQ_SERVER" not in single and "dmqreplicate" not in single["IPBAN_HTABLE"]
    # sht_inc creates a missing item only in a table with an initial value (the tenants' rate counters)
    assert ";initval=0" in single["TENANTCPS_HTABLE"] and ";initval=0" in env["TENANTCPS_HTABLE"]


def test_a_node_with_media_takeover_gives_rtpengine_the_redis_databases_in_a_file(tmp_path):
    s = settings.load({**PAIR, "MEDIA_REDIS_DB": "1", "PEER_MEDIA_REDIS_DB": "2", "REDIS_PASSWORD": "s3cret",
                       "REDIS_IP": "127.0.8.1"})
    argv = services.RtpEngine(s, tmp_path, True).argv()
    assert f"--config-file={tmp_path}/rtpengine.conf" in argv and not any("s3cret" in a for a in argv)
    conf = (tmp_path / "rtpengine.conf").read_text()
    assert conf.endswith("redis = s3cret@127.0.8.1:6379/1\nsubscribe-keyspace = 2\nno-redis-required = true\n")
    assert (tmp_path / "rtpengine.conf").stat().st_mode & 0o077 == 0
    assert settings.load({**PAIR, "REDIS_PASSWORD": "s3cret"}).kamailio_env()["REDIS_SERVER"].endswith(";pass=s3cret")


def test_the_other_nodes_answers_on_the_bus_go_to_dmqs_transactions_unchecked(ksr):
    """KDMQ answers carry both sides' call state in their bodies: the topology checks would drop them, and
    dmq would resend its request (an old dialog state arriving after a newer one)."""
    bus_request(ksr, method=None)
    ksr.returns["kx.get_msgbuf"] = "SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP 127.0.8.11:5090\r\n\r\n127.0.1.1 127.0.4.2"
    assert egress.reply_refused(make_routes(**PAIR).svc) is False
    assert ksr.called("kx.get_msgbuf") == [] and ksr.called("tm.t_check_trans") == []


LIST_NODES = """{
\thost: 198.51.100.12
\tport: 5090
\tproto: *
\tresolved_ip: 198.51.100.12
\tstatus: pending
\tlast_notification: 0
\tlocal: 0
}
{
\thost: 198.51.100.11
\tport: 5090
\tproto: *
\tresolved_ip: 198.51.100.11
\tstatus: active
\tlast_notification: 0
\tlocal: 1
}
"""  # kamcmd dmq.list_nodes on a node of the test pair (Kamailio 5.6.3)


def test_the_bus_listing_reads_as_one_entry_per_node():
    nodes = services.dmq_nodes(LIST_NODES)
    assert [(n["host"], n["port"], n["status"], n["local"]) for n in nodes] == [
        ("198.51.100.12", "5090", "pending", "0"), ("198.51.100.11", "5090", "active", "1")]
    assert services.dmq_nodes("") == []
